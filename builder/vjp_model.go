package builder

import (
	"github.com/onnxloss/onnxloss/tensor"
)

// Vector-Jacobian products of the ops that exported segmentation models use
// and the loss graphs do not: BatchNormalization in inference form, the hard
// activations, LeakyRelu, Gemm, GlobalAveragePool, Flatten, Dropout,
// ConvTranspose, Split and Resize. The models' nodes reach Gradient as
// external nodes (external.go), with ONNX's default attributes filled in.
// Where an op is not differentiable everywhere, the rule is PyTorch's.

func init() {
	for op, r := range map[string]vjpRule{
		"BatchNormalization": vjpBatchNorm, "HardSigmoid": vjpHardSigmoid, "HardSwish": vjpHardSwish,
		"LeakyRelu": vjpLeakyRelu, "Gemm": vjpGemm, "GlobalAveragePool": vjpGlobalAveragePool,
		"Flatten": vjpFlatten, "Dropout": vjpIdentity, "ConvTranspose": vjpConvTranspose,
		"Split": vjpSplit, "Resize": vjpResize,
	} {
		vjpRules[op] = r
	}
}

// attrInt returns the int64 attribute name of n, or def.
func attrInt(n *Node, name string, def int64) int64 {
	if v, ok := n.attrs[name].(int64); ok {
		return v
	}
	return def
}

// attrFloat returns the float attribute name of n, or def.
func attrFloat(n *Node, name string, def float64) float64 {
	if v, ok := n.attrs[name].(float32); ok {
		return float64(v)
	}
	return def
}

// attrString returns the string attribute name of n, or def.
func attrString(n *Node, name, def string) string {
	if v, ok := n.attrs[name].(string); ok && v != "" {
		return v
	}
	return def
}

// perChannel reshapes a [C] vector to [C, 1, ..., 1], which broadcasts
// along axis 1 of a value of rank r.
func perChannel(v *Value, r int) *Value {
	axes := make([]int, r-2)
	for i := range axes {
		axes[i] = i + 1
	}
	if len(axes) == 0 {
		return v
	}
	return Unsqueeze(v, axes...)
}

// nonChannelAxes lists the axes of a rank-r value but axis 1.
func nonChannelAxes(r int) []int {
	axes := []int{0}
	for a := 2; a < r; a++ {
		axes = append(axes, a)
	}
	return axes
}

// BatchNormalization in inference form, y = (x - mean)/√(var + ε)·scale + B
// along axis 1 with frozen statistics: x gets ct·scale/√(var + ε), scale
// the sum of ct·(x - mean)/√(var + ε) and B the sum of ct over every axis
// but the channels. The running statistics get no gradient.
func vjpBatchNorm(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	if attrInt(n, "training_mode", 0) != 0 || len(n.outputs) > 1 && n.outputs[1].extName != "" && !isUnused(n.outputs[1]) {
		return ad.fail(n, "only the inference form (training_mode 0, one output) has a gradient rule: export the model in eval mode")
	}
	x, scale, mean, variance, y := n.inputs[0], n.inputs[1], n.inputs[3], n.inputs[4], n.outputs[0]
	r := x.Rank()
	c := ad.full(ct, y)
	eps := attrFloat(n, "epsilon", 1e-5)
	inv := Reciprocal(Sqrt(AddScalar(Cast(variance, x.dtype), eps)))
	out := make([]*Value, len(n.inputs))
	if need[0] {
		out[0] = Mul(c, perChannel(Mul(Cast(scale, x.dtype), inv), r))
	}
	if need[1] {
		xhat := Mul(Sub(x, perChannel(Cast(mean, x.dtype), r)), perChannel(inv, r))
		out[1] = Cast(ReduceSum(Mul(c, xhat), false, nonChannelAxes(r)...), scale.dtype)
	}
	if need[2] {
		out[2] = Cast(ReduceSum(c, false, nonChannelAxes(r)...), n.inputs[2].dtype)
	}
	return out
}

// isUnused reports whether an external output stands for an omitted one.
func isUnused(v *Value) bool {
	for i := len(v.extName) - 1; i >= 0; i-- {
		if v.extName[i] == ':' {
			return len(v.extName) > i+7 && v.extName[i+1:i+7] == "unused"
		}
	}
	return false
}

// HardSigmoid y = max(0, min(1, αx + β)): α·ct where 0 < αx + β < 1.
func vjpHardSigmoid(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x := n.inputs[0]
	alpha := attrFloat(n, "alpha", 0.2)
	t := AddScalar(MulScalar(x, alpha), attrFloat(n, "beta", 0.5))
	inside := And(Greater(t, ConstAs(t, 0)), Less(t, ConstAs(t, 1)))
	return []*Value{Where(inside, MulScalar(ct, alpha), ConstAs(ct, 0))}
}

// HardSwish y = x·max(0, min(1, x/6 + 1/2)): 0 below -3, ct·(x/3 + 1/2) up
// to 3 (both ends included, as PyTorch's hardswish_backward), ct above.
func vjpHardSwish(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x := n.inputs[0]
	mid := Mul(ct, AddScalar(DivScalar(x, 3), 0.5))
	upper := Where(LessOrEqual(x, ConstAs(x, 3)), mid, ct)
	return []*Value{Where(Less(x, ConstAs(x, -3)), ConstAs(ct, 0), upper)}
}

// LeakyRelu: ct where x > 0, α·ct elsewhere.
func vjpLeakyRelu(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x := n.inputs[0]
	alpha := attrFloat(n, "alpha", 0.01)
	return []*Value{Where(Greater(x, ConstAs(x, 0)), ct, MulScalar(ct, alpha))}
}

// Gemm y = α·op(A)·op(B) + β·C: op(A) gets α·ct·op(B)ᵀ, op(B) gets
// α·op(A)ᵀ·ct, each transposed back where the op transposed it, and C gets
// β·ct summed over the axes it was broadcast along.
func vjpGemm(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	a, b, y := n.inputs[0], n.inputs[1], n.outputs[0]
	ta, tb := attrInt(n, "transA", 0) != 0, attrInt(n, "transB", 0) != 0
	alpha, beta := attrFloat(n, "alpha", 1), attrFloat(n, "beta", 1)
	c := ad.full(ct, y)
	scaled := c
	if alpha != 1 {
		scaled = MulScalar(c, alpha)
	}
	out := make([]*Value, len(n.inputs))
	if need[0] {
		if ta { // A is [K, M]: dA = op(B)·ctᵀ
			out[0] = gemm(b, scaled, tb, true)
		} else { // dA = ct·op(B)ᵀ
			out[0] = gemm(scaled, b, false, !tb)
		}
	}
	if need[1] {
		if tb { // B is [N, K]: dB = ctᵀ·op(A)
			out[1] = gemm(scaled, a, true, ta)
		} else { // dB = op(A)ᵀ·ct
			out[1] = gemm(a, scaled, !ta, false)
		}
	}
	if len(n.inputs) > 2 && n.inputs[2] != nil && need[2] {
		cb := c
		if beta != 1 {
			cb = MulScalar(c, beta)
		}
		out[2] = ad.sumTo(cb, n.inputs[2], y)
	}
	return out
}

// GlobalAveragePool: each entry gets its channel's cotangent over the
// number of spatial positions.
func vjpGlobalAveragePool(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x := n.inputs[0]
	axes := make([]int, x.Rank()-2)
	for i := range axes {
		axes[i] = i + 2
	}
	return []*Value{Div(rankUp(ct, x.Rank()), ad.dimProduct(x, axes, ct.dtype))}
}

// Flatten: the cotangent is reshaped back.
func vjpFlatten(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{Reshape(ad.full(ct, n.outputs[0]), ad.shapeOf(n.inputs[0]))}
}

// Split: the outputs' cotangents concatenated along the axis, zeros for an
// output that has none.
func vjpSplit(ad *autodiff, n *Node, _ *Value, _ []bool) []*Value {
	axis := int(attrInt(n, "axis", 0))
	x := n.inputs[0]
	if axis < 0 {
		axis += x.Rank()
	}
	parts := make([]*Value, len(n.outputs))
	for i, o := range n.outputs {
		if c := ad.cotangent(o); c != nil {
			parts[i] = ad.full(c, o)
		} else {
			parts[i] = ad.zerosLike(o)
		}
	}
	out := make([]*Value, len(n.inputs))
	out[0] = Concat(axis, parts...)
	return out
}

// ConvTranspose y = convᵀ(x, W) + B, the adjoint of Conv with the same
// strides, pads, dilations and groups: x gets the convolution of the
// cotangent with W, W the correlation of the cotangent with x (Conv's
// weight gradient with the roles of input and cotangent exchanged), and B
// the cotangent summed over the batch and spatial axes.
func vjpConvTranspose(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	x, w, y := n.inputs[0], n.inputs[1], n.outputs[0]
	sd := x.Rank() - 2
	if _, ok := n.attrs["output_shape"]; ok {
		return ad.fail(n, "output_shape has no gradient rule: give pads and output_padding instead")
	}
	if p := attrString(n, "auto_pad", "NOTSET"); p != "NOTSET" {
		return ad.fail(n, "auto_pad %s has no gradient rule: give pads instead", p)
	}
	k, s, p, d := windowAttrs(n, sd)
	group := attrInt(n, "group", 1)
	c := ad.full(ct, y)
	out := make([]*Value, len(n.inputs))
	if need[0] {
		out[0] = Conv(c, w, nil, Window{Kernel: k, Strides: s, Pads: p, Dilations: d}, int(group))
		refineShape(out[0], x)
	}
	if need[1] {
		out[1] = convWeightGrad(c, x, w, k, s, p, d, group)
	}
	if len(n.inputs) > 2 && n.inputs[2] != nil && need[2] {
		axes := []int{0}
		for i := 0; i < sd; i++ {
			axes = append(axes, 2+i)
		}
		out[2] = ReduceSum(c, false, axes...)
	}
	return out
}

// Resize in modes nearest and linear is linear in x and separable: along
// each resized axis y = A·x for an [out, in] matrix A whose rows hold the
// interpolation weights of each output position (one 1 for nearest, 1 - f
// and f on two neighbours for linear). x gets Aᵀ applied to the cotangent
// along each axis. A is built in the graph from the axis's input and output
// lengths, so it follows the sizes of every call. The source position of
// output i is the coordinate transformation's (half_pixel, pytorch_half_pixel,
// align_corners or asymmetric), clamped to the input as ONNX Runtime and
// PyTorch clamp it (tf_half_pixel_for_nn, TensorFlow's nearest neighbour,
// too).
func vjpResize(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	g := ad.g
	x, y := n.inputs[0], n.outputs[0]
	mode := attrString(n, "mode", "nearest")
	ctm := attrString(n, "coordinate_transformation_mode", "half_pixel")
	switch {
	case mode != "nearest" && mode != "linear":
		return ad.fail(n, "mode %q has no gradient rule (nearest and linear have)", mode)
	case ctm != "half_pixel" && ctm != "pytorch_half_pixel" && ctm != "align_corners" && ctm != "asymmetric" &&
		ctm != "tf_half_pixel_for_nn":
		return ad.fail(n, "coordinate_transformation_mode %q has no gradient rule", ctm)
	case attrInt(n, "antialias", 0) != 0:
		return ad.fail(n, "antialias has no gradient rule")
	case n.attrs["axes"] != nil:
		return ad.fail(n, "the axes attribute has no gradient rule")
	}
	var scales []float64
	if len(n.inputs) > 2 && n.inputs[2] != nil && (len(n.inputs) < 4 || n.inputs[3] == nil) {
		k := n.inputs[2].konst
		if k == nil {
			return ad.fail(n, "scales computed at run time have no gradient rule (sizes have)")
		}
		scales = k.Float64s()
		if len(scales) == 0 {
			scales = nil
		} else if len(scales) != x.Rank() || scales[0] != 1 || scales[1] != 1 {
			return ad.fail(n, "scales %v resize the batch or channel axis, which has no gradient rule", scales)
		}
	}
	c := ad.full(ct, y)
	r := x.Rank()
	dt := c.dtype
	for a := r - 1; a >= 2; a-- {
		if scales != nil && scales[a] == 1 {
			continue // the identity along this axis
		}
		if x.shape[a].Known() && y.shape[a].Known() && x.shape[a].Size == y.shape[a].Size && scales == nil {
			continue
		}
		in := Cast(ScalarOf(ad.dimOf(x, a)), tensor.Float32)
		outLen := Cast(ScalarOf(ad.dimOf(y, a)), tensor.Float32)
		var scale *Value
		if scales != nil {
			scale = Scalar(g, tensor.Float32, scales[a])
		} else {
			scale = Div(outLen, in)
		}
		i := Cast(Range(Int(g, 0), ScalarOf(ad.dimOf(y, a)), Int(g, 1)), tensor.Float32)
		var src *Value
		switch ctm {
		case "half_pixel":
			src = AddScalar(Div(AddScalar(i, 0.5), scale), -0.5)
		case "pytorch_half_pixel":
			src = Where(Greater(outLen, ConstAs(outLen, 1)), AddScalar(Div(AddScalar(i, 0.5), scale), -0.5), ConstAs(i, 0))
		case "align_corners":
			step := Div(AddScalar(in, -1), Max(AddScalar(outLen, -1), ConstAs(outLen, 1)))
			src = Mul(i, step)
		case "asymmetric":
			src = Div(i, scale)
		case "tf_half_pixel_for_nn": // TensorFlow's nearest upsampling
			src = Div(AddScalar(i, 0.5), scale)
		}
		last := AddScalar(in, -1)
		positions := Unsqueeze(Cast(Range(Int(g, 0), ScalarOf(ad.dimOf(x, a)), Int(g, 1)), tensor.Float32), 0)
		var m *Value // [out, in]
		if mode == "linear" {
			p := Min(Max(src, ConstAs(src, 0)), last)
			lo := Floor(p)
			f := Sub(p, lo)
			hi := Min(AddScalar(lo, 1), last)
			pick := func(idx *Value) *Value { return Cast(Equal(Unsqueeze(idx, 1), positions), dt) }
			m = Add(Mul(pick(lo), Unsqueeze(Cast(OneMinus(f), dt), 1)), Mul(pick(hi), Unsqueeze(Cast(f, dt), 1)))
		} else {
			idx := nearest(src, attrString(n, "nearest_mode", "round_prefer_floor"))
			if idx == nil {
				return ad.fail(n, "nearest_mode %q has no gradient rule", attrString(n, "nearest_mode", ""))
			}
			idx = Min(Max(idx, ConstAs(idx, 0)), last)
			m = Cast(Equal(Unsqueeze(idx, 1), positions), dt)
		}
		c = applyAlong(c, m, a)
	}
	out := make([]*Value, len(n.inputs))
	out[0] = c
	refineShape(c, x)
	return out
}

// nearest rounds source positions as Resize's nearest_mode says.
func nearest(src *Value, mode string) *Value {
	lo := Floor(src)
	f := Sub(src, lo)
	switch mode {
	case "round_prefer_floor":
		return Add(lo, Cast(Greater(f, ConstAs(f, 0.5)), src.dtype))
	case "round_prefer_ceil":
		return Add(lo, Cast(GreaterOrEqual(f, ConstAs(f, 0.5)), src.dtype))
	case "floor":
		return lo
	case "ceil":
		return Ceil(src)
	}
	return nil
}

// applyAlong returns Σ_o c[..., o, ...]·m[o, i] along axis a: the product of
// c's axis a with m, [..., out, ...] to [..., in, ...].
func applyAlong(c, m *Value, a int) *Value {
	r := c.Rank()
	switch a {
	case r - 1:
		return MatMul(c, m)
	case r - 2:
		return MatMul(Transpose(m, 1, 0), c)
	}
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[a], perm[r-1] = r-1, a
	return Transpose(MatMul(Transpose(c, perm...), m), perm...)
}
