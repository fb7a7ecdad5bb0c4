package builder

import (
	"math"

	"github.com/onnxloss/onnxloss/tensor"
)

// Vector-Jacobian products of the sliding-window ops and of Pad.

// windowAttrs reads a window node's kernel, strides, pads and dilations
// with ONNX's defaults filled in.
func windowAttrs(n *Node, sd int) (k, s, p, d []int64) {
	get := func(name string, size int, def int64) []int64 {
		if v, ok := n.attrs[name].([]int64); ok {
			return v
		}
		out := make([]int64, size)
		for i := range out {
			out[i] = def
		}
		return out
	}
	return get("kernel_shape", sd, 1), get("strides", sd, 1), get("pads", 2*sd, 0), get("dilations", sd, 1)
}

// unpoolTo brings r, the output of a transposed convolution over x's
// spatial axes, to x's spatial size. With known sizes r already has them
// (see transposePads) but where a strided window leaves the last
// (H + pads - span) mod stride positions of an axis out of every window;
// their gradient is zero, and r is padded with zeros there. With unknown
// sizes the transposed convolution kept every position the windows reach,
// end padding included, and r is first cut to x's length. x's sizes are
// read from ad.shapeOf(x), which need not keep x itself in memory.
func (ad *autodiff) unpoolTo(r, x *Value, s []int64, trim bool) *Value {
	g := r.g
	xDim := func(a int) *Value { return Gather(ad.shapeOf(x), Ints(g, int64(a)), 0) }
	for i, st := range s {
		a := 2 + i
		if r.shape[a].sameAs(x.shape[a]) {
			continue
		}
		if trim {
			shape := r.shape.Clone()
			shape[a] = UnknownDim
			r = g.addNode("Slice", []*Value{r, Ints(g, 0), xDim(a), Ints(g, int64(a))}, nil, outSpec{r.dtype, shape}).outputs[0]
		}
		if st == 1 && !trim {
			continue
		}
		after := Sub(xDim(a), DimOf(r, a))
		r = padAxis(r, a, Ints(r.g, 0), after, x.shape[a])
	}
	return r
}

// transposePads returns the pads and output_padding of the transposed
// convolution that spreads a window op's cotangent back over x, and
// whether its output must be cut to x's size (see unpoolTo). With every
// spatial size known, the window op's own pads crop the result and
// output_padding gives back the positions the end padding would cut off.
// Otherwise output_padding cannot be computed: the end padding is left
// uncropped (zero) and the result cut to x's length at run time.
func transposePads(x, y *Value, k, s, p, d []int64) (pads, op []int64, trim bool) {
	sd := len(s)
	for i := 0; i < sd; i++ {
		if !x.shape[2+i].Known() || !y.shape[2+i].Known() {
			trim = true
		}
	}
	if !trim {
		op, ok := outputPadding(x, y, k, s, p, d)
		if !ok {
			op = nil
		}
		return p, op, false
	}
	pads = make([]int64, 2*sd)
	copy(pads, p[:sd])
	return pads, nil, true
}

// outputPadding returns ConvTranspose's output_padding that gives back x's
// known spatial sizes, and whether it was needed.
func outputPadding(x, y *Value, k, s, p, d []int64) ([]int64, bool) {
	sd := len(s)
	op := make([]int64, sd)
	any := false
	for i := 0; i < sd; i++ {
		h, o := x.shape[2+i], y.shape[2+i]
		if !h.Known() || !o.Known() || s[i] == 1 {
			continue
		}
		span := d[i]*(k[i]-1) + 1
		op[i] = h.Size - (s[i]*(o.Size-1) + span - p[i] - p[sd+i])
		any = any || op[i] != 0
	}
	return op, any
}

// Conv y = conv(x, W) + B: the input gets the transposed convolution of the
// cotangent with W (ConvTranspose with the same strides, pads, dilations and
// groups); W gets the correlation of x with the cotangent, computed as a
// Conv whose batch is x's channels and whose kernel is the cotangent
// (strides and dilations swapped); B gets the cotangent summed over the
// batch and spatial axes.
func vjpConv(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	g := ad.g
	x, w, y := n.inputs[0], n.inputs[1], n.outputs[0]
	sd := x.Rank() - 2
	k, s, p, d := windowAttrs(n, sd)
	group, _ := n.attrs["group"].(int64)
	if group == 0 {
		group = 1
	}
	c := ad.full(ct, y)
	out := make([]*Value, len(n.inputs))
	if need[0] {
		pads, op, trim := transposePads(x, y, k, s, p, d)
		attrs := map[string]any{"kernel_shape": k, "strides": s, "pads": pads, "dilations": d, "group": group}
		if op != nil {
			attrs["output_padding"] = op
		}
		shape := Shape{y.shape[0], x.shape[1]}
		for i := 0; i < sd; i++ {
			if s[i] == 1 && !trim {
				shape = append(shape, x.shape[2+i])
			} else {
				shape = append(shape, UnknownDim)
			}
		}
		if op != nil {
			shape = x.shape.Clone()
		}
		r := g.addNode("ConvTranspose", []*Value{c, w}, attrs, outSpec{c.dtype, shape}).outputs[0]
		out[0] = ad.unpoolTo(r, x, s, trim)
	}
	if need[1] {
		out[1] = convWeightGrad(x, c, w, k, s, p, d, group)
	}
	if len(n.inputs) > 2 && need[2] {
		axes := []int{0}
		for i := 0; i < sd; i++ {
			axes = append(axes, 2+i)
		}
		out[2] = ReduceSum(c, false, axes...)
	}
	return out
}

// convWeightGrad returns dW[m, c', k] = Σ_n Σ_o ct[n,m,o]·x_pad[n, j·C/g+c', o·s + k·d]
// for m in group j.
func convWeightGrad(x, c, w *Value, k, s, p, d []int64, group int64) *Value {
	g := x.g
	r := x.Rank()
	sd := r - 2
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[0], perm[1] = 1, 0
	// xt: [C/g, g·N, *spatial], channel j·N+n holding x[n, j·C/g+c'].
	xt := Transpose(x, perm...)
	if group > 1 {
		sx := ShapeOf(x)
		spatial := Slice(sx, []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)
		split := Reshape(xt, Concat(0, Ints(g, group, -1), Slice(sx, []int64{0}, []int64{1}, []int64{0}, nil), spatial))
		p5 := make([]int, r+1)
		for i := range p5 {
			p5[i] = i
		}
		p5[0], p5[1] = 1, 0
		xt = Reshape(Transpose(split, p5...), Concat(0, Ints(g, w.shape[1].Size, -1), spatial))
	}
	ctT := Transpose(c, perm...) // [M, N, *out]: a kernel over N channels per group
	var kshape []int64
	if sizes, ok := ctT.shape[2:].Sizes(); ok {
		kshape = sizes
	}
	attrs := map[string]any{"strides": d, "dilations": s, "pads": p}
	if group > 1 {
		attrs["group"] = group
	}
	if kshape != nil {
		attrs["kernel_shape"] = kshape
	}
	shape := Shape{xt.shape[0], c.shape[1]}
	for i := 0; i < sd; i++ {
		shape = append(shape, UnknownDim)
	}
	corr := g.addNode("Conv", []*Value{xt, ctT}, attrs, outSpec{x.dtype, shape}).outputs[0]
	axes := make([]int64, sd)
	zeros := make([]int64, sd)
	for i := range axes {
		axes[i] = int64(2 + i)
	}
	corr = Slice(corr, zeros, k, axes, nil)
	return Transpose(corr, perm...)
}

// AveragePool: each window's cotangent, divided by the number of entries it
// averaged, is spread back over the window by a transposed convolution with
// a kernel of ones (batch and channels folded together, so the channel count
// need not be known).
func vjpAveragePool(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	g := ad.g
	x, y := n.inputs[0], n.outputs[0]
	sd := x.Rank() - 2
	k, s, p, _ := windowAttrs(n, sd)
	c := ad.full(ct, y)
	kn := int64(1)
	for _, v := range k {
		kn *= v
	}
	padded := false
	for _, v := range p {
		padded = padded || v != 0
	}
	if cp, _ := n.attrs["count_include_pad"].(int64); cp == 1 || !padded {
		c = DivScalar(c, float64(kn))
	} else {
		// The entries each window averages: K times the average of ones
		// with padding counted, over a [1,1,*spatial] plane.
		plane := ConstantOfShape(Concat(0, Ints(g, 1, 1), Slice(ad.shapeOf(x), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)), c.dtype, 1)
		attrs := map[string]any{"kernel_shape": k, "strides": s, "pads": p, "count_include_pad": int64(1)}
		count := g.addNode("AveragePool", []*Value{plane}, attrs, outSpec{c.dtype, append(Shape{Fixed(1), Fixed(1)}, y.shape[2:]...)}).outputs[0]
		c = Div(c, MulScalar(count, float64(kn)))
	}
	// [N,C,*out] → [N·C, 1, *out]
	folded := Reshape(c, Concat(0, Ints(g, -1, 1), Slice(ShapeOf(c), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)))
	kshape := append([]int{1, 1}, make([]int, sd)...)
	for i, v := range k {
		kshape[2+i] = int(v)
	}
	ones := make([]float64, kn)
	for i := range ones {
		ones[i] = 1
	}
	kernel := ConstTensor(g, tensor.FromFloat64(kshape, ones).Convert(c.dtype))
	pads, op, trim := transposePads(x, y, k, s, p, ones64(sd))
	attrs := map[string]any{"kernel_shape": k, "strides": s, "pads": pads}
	if op != nil {
		attrs["output_padding"] = op
	}
	shape := Shape{UnknownDim, Fixed(1)}
	for i := 0; i < sd; i++ {
		shape = append(shape, UnknownDim)
	}
	spread := g.addNode("ConvTranspose", []*Value{folded, kernel}, attrs, outSpec{c.dtype, shape}).outputs[0]
	spread = Reshape(spread, Concat(0, Slice(ad.shapeOf(x), []int64{0}, []int64{2}, []int64{0}, nil),
		Slice(ShapeOf(spread), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)))
	return []*Value{ad.unpoolTo(spread, x, s, trim)}
}

func ones64(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// MaxPool: the cotangent of each window goes to the entry that won it, as
// the indices of a MaxPool recomputed with its indices output say (the
// choice among ties is ONNX Runtime's, the first in the window, as in
// PyTorch). Windows may overlap, so the cotangents are added: at unit
// strides and dilations and windows of at most 9 entries, one masked and
// shifted copy of the cotangent per kernel offset (see maxPoolUnitStride:
// 2 times faster than scattering for a 3×1 window); otherwise with
// ScatterElements' reduction "add", which needs opset 16 and runs one entry
// at a time in ONNX Runtime (about 60 times the forward MaxPool).
func vjpMaxPool(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	g := ad.g
	x, y := n.inputs[0], n.outputs[0]
	k, _ := n.attrs["kernel_shape"].([]int64)
	unit := len(k) == x.Rank()-2
	for _, name := range []string{"strides", "dilations"} {
		if v, ok := n.attrs[name].([]int64); ok {
			for _, e := range v {
				unit = unit && e == 1
			}
		}
	}
	offsets := int64(1)
	for _, e := range k {
		offsets *= e
	}
	// Each offset adds a few passes over the cotangent and a buffer of x's
	// size: past 9 (a 3×3 window) scattering costs less memory, and little
	// more time.
	unit = unit && offsets <= 9
	// Windows that do not overlap (each stride at least the window's span,
	// as in the common 2×2 pooling with stride 2) have distinct winners, so
	// a ScatterElements without reduction, which every opset has, places
	// the cotangents.
	_, strides, _, dil := windowAttrs(n, len(k))
	disjoint := len(k) == x.Rank()-2
	for i := range k {
		disjoint = disjoint && strides[i] >= dil[i]*(k[i]-1)+1
	}
	overlapping := !unit && !disjoint && g.opset < 16
	attrs := copyAttrs(n.attrs)
	attrs["storage_order"] = int64(0)
	c := ad.full(ct, y)
	// The winners are recomputed from x when the cotangent has come (see
	// after): made in the forward pass, int64 indices of y's size would
	// stay in memory until the backward pass reached this node.
	// Where x is the negation of a forward value w (an erosion written as
	// -maxpool(-w)), the winners are recomputed from w, which the backward
	// pass often keeps for other rules, so that x need not be kept too.
	src := ad.after(x, c)
	if p := x.node; p != nil && !p.external && p.op == "Neg" {
		src = Neg(ad.after(p.inputs[0], c))
	}
	idx := g.addNode("MaxPool", []*Value{src}, attrs, outSpec{y.dtype, y.shape.Clone()}, outSpec{tensor.Int64, y.shape.Clone()}).outputs[1]
	if unit {
		pads, _ := n.attrs["pads"].([]int64)
		if len(pads) == 0 {
			pads = make([]int64, 2*len(k))
		}
		return []*Value{ad.maxPoolUnitStride(x, y, idx, c, k, pads)}
	}
	if overlapping {
		return []*Value{ad.maxPoolSpread(n, x, y, idx, c)}
	}
	sx := ad.shapeOf(x)
	// The zeros are made when the cotangent has come, like the winners.
	size := Add(Unsqueeze(ReduceProd(sx, false), 0), ad.tie(c))
	zeros := ConstantOfShape(size, c.dtype, 0)
	sattrs := map[string]any{"axis": int64(0), "reduction": "add"}
	if disjoint {
		sattrs = map[string]any{"axis": int64(0)}
	}
	flat := g.addNode("ScatterElements", []*Value{zeros, ReshapeDims(idx, -1), ReshapeDims(c, -1)},
		sattrs, outSpec{c.dtype, Shape{UnknownDim}}).outputs[0]
	return []*Value{Reshape(flat, sx)}
}

// maxPoolUnitStride spreads the cotangent c of a MaxPool with unit strides
// and dilations back over x. Output position j's window starts at x
// position j - pads_begin, so its winner, idx, lies at offset
// o = idx - (j - pads_begin) in the window: in flat spatial terms
// Σ_a (o_a - pads_a)·stride_a = (idx mod spatial size) - flat(j). For each
// of the kernel's offsets, the cotangents of the windows won at that
// offset are selected and shifted by o - pads_begin onto x (a Pad, with
// negative pads where it crops); the copies are added.
func (ad *autodiff) maxPoolUnitStride(x, y, idx, c *Value, k, pads []int64) *Value {
	g := ad.g
	r := x.Rank()
	sd := r - 2
	sx, sy := ad.shapeOf(x), ad.shapeOf(y)
	dim := shapeDim
	st, plane := spatialStrides(sx, sd)
	// flat(j): output position j read with x's strides, [1,1,*spatial].
	var grid *Value
	for a := 0; a < sd; a++ {
		ra := Mul(Range(Scalar(g, tensor.Int64, 0), dim(sy, a+2), Scalar(g, tensor.Int64, 1)), st[a])
		var axes []int
		for b := 0; b < r; b++ {
			if b != a+2 {
				axes = append(axes, b)
			}
		}
		ra = Unsqueeze(ra, axes...)
		if grid == nil {
			grid = ra
		} else {
			grid = Add(grid, ra)
		}
	}
	delta := Cast(Sub(g.addNode("Mod", []*Value{idx, plane}, nil, outSpec{tensor.Int64, idx.shape.Clone()}).outputs[0], grid), tensor.Int32)
	zero := Scalar(g, c.dtype, 0)
	spatial := make([]int64, sd)
	for a := range spatial {
		spatial[a] = int64(a + 2)
	}
	room := Sub(Gather(sx, Ints(g, spatial...), 0), Gather(sy, Ints(g, spatial...), 0))
	// The shifted copies are made first and added after: ONNX Runtime
	// runs a node's inputs last created first, so adding each copy as it
	// is made would run every copy before the first addition and hold them
	// all at once; this way it runs the sums in order and holds one copy.
	var moved []*Value
	o := make([]int64, sd)
	for {
		shift := make([]int64, sd)
		var code *Value
		for a := range o {
			shift[a] = o[a] - pads[a]
			term := Mul(Scalar(g, tensor.Int64, float64(shift[a])), st[a])
			if code == nil {
				code = term
			} else {
				code = Add(code, term)
			}
		}
		won := Where(Equal(delta, Cast(code, tensor.Int32)), c, zero)
		padv := Concat(0, Ints(g, 0, 0), Ints(g, shift...), Ints(g, 0, 0), Sub(room, Ints(g, shift...)))
		moved = append(moved, g.addNode("Pad", []*Value{won, padv}, nil, outSpec{c.dtype, x.shape.Clone()}).outputs[0])
		// Next offset, the last axis fastest.
		a := sd - 1
		for a >= 0 {
			o[a]++
			if o[a] < k[a] {
				break
			}
			o[a] = 0
			a--
		}
		if a < 0 {
			break
		}
	}
	acc := moved[0]
	for _, m := range moved[1:] {
		acc = Add(acc, m)
	}
	return acc
}

// maxPoolSpread spreads the cotangent c of a MaxPool with overlapping
// windows back over x without ScatterElements' reduction (opsets before
// 16): the offset of each window's winner within the window is found from
// the indices, the cotangents are sorted by that offset into K channels
// (one per kernel offset, zero elsewhere), and a transposed convolution
// with the MaxPool's strides, dilations and pads whose kernel is the K
// one-hot offsets adds every window's cotangent at its winner.
func (ad *autodiff) maxPoolSpread(n *Node, x, y, idx, c *Value) *Value {
	g := ad.g
	r := x.Rank()
	sd := r - 2
	k, s, p, d := windowAttrs(n, sd)
	sx, sy := ad.shapeOf(x), ad.shapeOf(y)
	dim := shapeDim
	st, plane := spatialStrides(sx, sd)
	mod := func(a, b *Value) *Value {
		return g.addNode("Mod", []*Value{a, b}, nil, outSpec{tensor.Int64, a.shape.Clone()}).outputs[0]
	}
	rel := mod(idx, plane)
	var code *Value
	kk := int64(1)
	for a := sd - 1; a >= 0; a-- {
		h := mod(Div(rel, st[a]), dim(sx, a+2))
		j := Range(Scalar(g, tensor.Int64, 0), dim(sy, a+2), Scalar(g, tensor.Int64, 1))
		var axes []int
		for b := 0; b < r; b++ {
			if b != a+2 {
				axes = append(axes, b)
			}
		}
		start := Unsqueeze(Sub(Mul(j, Scalar(g, tensor.Int64, float64(s[a]))), Scalar(g, tensor.Int64, float64(p[a]))), axes...)
		o := Div(Sub(h, start), Scalar(g, tensor.Int64, float64(d[a])))
		term := Mul(o, Scalar(g, tensor.Int64, float64(kk)))
		if code == nil {
			code = term
		} else {
			code = Add(code, term)
		}
		kk *= k[a]
	}
	offsets := make([]int64, kk)
	for i := range offsets {
		offsets[i] = int64(i)
	}
	shape := make([]int, r+1)
	for i := range shape {
		shape[i] = 1
	}
	shape[2] = int(kk)
	sorted := Mul(Cast(Equal(Unsqueeze(code, 2), ConstTensor(g, tensor.FromInt64(shape, offsets))), c.dtype), Unsqueeze(c, 2))
	// [N,C,K,*out] → [N·C, K, *out]
	folded := Reshape(sorted, Concat(0, Ints(g, -1, kk), Slice(ShapeOf(c), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)))
	kshape := append([]int{int(kk), 1}, make([]int, sd)...)
	for i, v := range k {
		kshape[2+i] = int(v)
	}
	onehot := make([]float64, kk*kk)
	for i := int64(0); i < kk; i++ {
		onehot[i*kk+i] = 1
	}
	kernel := ConstTensor(g, tensor.FromFloat64(kshape, onehot).Convert(c.dtype))
	pads, op, trim := transposePads(x, y, k, s, p, d)
	attrs := map[string]any{"kernel_shape": k, "strides": s, "pads": pads, "dilations": d}
	if op != nil {
		attrs["output_padding"] = op
	}
	oshape := Shape{UnknownDim, Fixed(1)}
	for i := 0; i < sd; i++ {
		oshape = append(oshape, UnknownDim)
	}
	spread := g.addNode("ConvTranspose", []*Value{folded, kernel}, attrs, outSpec{c.dtype, oshape}).outputs[0]
	spread = Reshape(spread, Concat(0, Slice(sx, []int64{0}, []int64{2}, []int64{0}, nil),
		Slice(ShapeOf(spread), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil)))
	return ad.unpoolTo(spread, x, s, trim)
}

// Pad in constant mode: the cotangent is cropped back to the input. The
// reflect and edge modes fold cotangents back onto the border and have no
// rule (ONNX Runtime differentiates only constant padding too).
func vjpPad(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	if mode, _ := n.attrs["mode"].(string); mode != "" && mode != "constant" {
		return ad.fail(n, "padding in %s mode has no gradient rule (constant mode has)", mode)
	}
	pads := n.inputs[1]
	x, y := n.inputs[0], n.outputs[0]
	if pads.konst == nil {
		// Pads computed at run time: padding by their negation crops what
		// was added (and a negative pad, which cropped, adds zeros back).
		if len(n.inputs) > 3 && n.inputs[3] != nil {
			return ad.fail(n, "pads given at run time for some axes only have no gradient rule")
		}
		out := make([]*Value, len(n.inputs))
		out[0] = ad.g.addNode("Pad", []*Value{ad.full(ct, y), Neg(pads)}, nil, outSpec{ct.dtype, x.shape.Clone()}).outputs[0]
		return out
	}
	pv := pads.konst.Int64s()
	r := x.Rank()
	c := ad.full(ct, y)
	var starts, ends, axes []int64
	for i := 0; i < r; i++ {
		b, e := pv[i], pv[r+i]
		if b == 0 && e == 0 {
			continue
		}
		end := int64(math.MaxInt64)
		if e > 0 {
			end = -e
		}
		starts, ends, axes = append(starts, b), append(ends, end), append(axes, int64(i))
	}
	out := make([]*Value, len(n.inputs))
	out[0] = c
	if len(axes) > 0 {
		out[0] = Slice(c, starts, ends, axes, nil)
	}
	return out
}

// shapeDim returns dimension a of a 1-D int64 shape value, as a scalar.
func shapeDim(shape *Value, a int) *Value {
	return ScalarOf(Gather(shape, Ints(shape.g, int64(a)), 0))
}

// spatialStrides returns, for a value of shape sx with sd spatial axes, the
// strides of its spatial axes in entries (the last 1) and the number of
// entries of one spatial plane, as int64 scalars computed from sx.
func spatialStrides(sx *Value, sd int) (st []*Value, plane *Value) {
	st = make([]*Value, sd)
	st[sd-1] = Scalar(sx.g, tensor.Int64, 1)
	for a := sd - 2; a >= 0; a-- {
		st[a] = Mul(st[a+1], shapeDim(sx, a+3))
	}
	return st, Mul(st[0], shapeDim(sx, 2))
}
