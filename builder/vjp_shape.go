package builder

import (
	"math"

	"github.com/onnxloss/onnxloss/tensor"
)

// Vector-Jacobian products of the shape, selection and indexing ops. The
// backward of a selection writes the cotangent into zeros of the input's
// shape with ops every opset from 13 on has: Pad, ScatterElements without a
// reduction (the positions written are distinct), or an Equal mask against
// the positions along the axis.

// Reshape: the cotangent is reshaped back. A cotangent that is one value
// broadcast everywhere stays so, and so does one broadcast along every axis
// a reshape split an axis of x into (the blocks of a blocked sum): its
// split axes but the first are squeezed away.
func vjpReshape(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x, y := n.inputs[0], n.outputs[0]
	if sizes, ok := ct.shape.Sizes(); ok && product(sizes) == 1 {
		return []*Value{Reshape(ct, Ints(ad.g))}
	}
	if p, s, ok := mergedAxis(x.shape, y.shape); ok && y.Rank() > x.Rank() {
		c := rankUp(ct, y.Rank())
		ones := true
		var drop []int
		for i := p; i < y.Rank()-s; i++ {
			d := c.shape[i]
			ones = ones && d.Known() && d.Size == 1
			if i > p {
				drop = append(drop, i)
			}
		}
		if ones {
			return []*Value{Squeeze(c, drop...)}
		}
	}
	return []*Value{Reshape(ad.full(ct, y), ad.shapeOf(x))}
}

func vjpTranspose(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	perm := n.attrs["perm"].([]int64)
	inv := make([]int, len(perm))
	for i, p := range perm {
		inv[p] = i
	}
	return []*Value{Transpose(ct, inv...)}
}

func constAxes(v *Value) []int {
	vals := v.konst.Int64s()
	out := make([]int, len(vals))
	for i, a := range vals {
		out[i] = int(a)
	}
	return out
}

func vjpSqueeze(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{Unsqueeze(ct, constAxes(n.inputs[1])...), nil}
}

func vjpUnsqueeze(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{Squeeze(ct, constAxes(n.inputs[1])...), nil}
}

// Expand: summed back over the broadcast axes, as for the broadcasting ops.
func vjpExpand(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{ad.sumTo(ct, n.inputs[0], n.outputs[0]), nil}
}

// Slice: the cotangent is padded with zeros back to the input's extent,
// axis by axis: Pad for step 1, ScatterElements at the sliced positions for
// other steps. Bounds are clamped as ONNX does, at build time when the
// dimension is known and in the graph otherwise.
func vjpSlice(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x, y := n.inputs[0], n.outputs[0]
	if n.inputs[3] != nil && n.inputs[3].konst != nil && n.inputs[4] != nil && n.inputs[4].konst != nil &&
		(n.inputs[1].konst == nil || n.inputs[2].konst == nil) {
		return ad.dynamicUnslice(n, ct)
	}
	for i := 1; i <= 4; i++ {
		if n.inputs[i] == nil || n.inputs[i].konst == nil {
			return ad.fail(n, "bounds given at run time have no gradient rule")
		}
	}
	starts, ends := n.inputs[1].konst.Int64s(), n.inputs[2].konst.Int64s()
	axes, steps := n.inputs[3].konst.Int64s(), n.inputs[4].konst.Int64s()
	c := ad.full(ct, y)
	for k, a := range axes {
		c = ad.unslice(c, x, int(a), starts[k], ends[k], steps[k])
	}
	return []*Value{c, nil, nil, nil, nil}
}

// unslice places c, the cotangent of x[start:end:step] along axis a, into
// zeros of x's extent along a.
func (ad *autodiff) unslice(c, x *Value, a int, start, end, step int64) *Value {
	g := ad.g
	d := x.shape[a]
	if d.Known() {
		s, e := clampBound(start, d.Size, step), clampBound(end, d.Size, step)
		if step == 1 {
			count := max(e-s, 0)
			before, after := s, d.Size-s-count
			if before == 0 && after == 0 {
				return c
			}
			return padAxis(c, a, Ints(g, before), Ints(g, after), d)
		}
		var idx []int64
		for i := s; (step > 0 && i < e) || (step < 0 && i > e); i += step {
			idx = append(idx, i)
		}
		return ad.scatterAxis(c, x, a, Ints(g, idx...))
	}
	dv := ad.dimOf(x, a)
	s, e := clampDyn(start, dv, step), clampDyn(end, dv, step)
	if step == 1 {
		count := Max(Sub(e, s), Ints(g, 0))
		return padAxis(c, a, s, Sub(Sub(dv, s), count), d)
	}
	return ad.scatterAxis(c, x, a, Range(ScalarOf(s), ScalarOf(e), Int(g, step)))
}

// dynamicUnslice is Slice's rule for starts and ends computed at run time
// (constant axes, unit steps): along each axis the cotangent is padded with
// zeros back to the input's extent, the bounds clamped as ONNX does.
func (ad *autodiff) dynamicUnslice(n *Node, ct *Value) []*Value {
	g := ad.g
	x, y := n.inputs[0], n.outputs[0]
	axes, steps := n.inputs[3].konst.Int64s(), n.inputs[4].konst.Int64s()
	c := ad.full(ct, y)
	for k, a := range axes {
		if steps[k] != 1 {
			return ad.fail(n, "bounds given at run time with a step other than 1 have no gradient rule")
		}
		if a < 0 {
			a += int64(x.Rank())
		}
		dv := ad.dimOf(x, int(a))
		bound := func(v *Value) *Value {
			b := Gather(v, Ints(g, int64(k)), 0)
			b = Where(Less(b, Ints(g, 0)), Add(b, dv), b)
			return Min(Max(b, Ints(g, 0)), dv)
		}
		s, e := bound(n.inputs[1]), bound(n.inputs[2])
		count := Max(Sub(e, s), Ints(g, 0))
		c = padAxis(c, int(a), s, Sub(Sub(dv, s), count), x.shape[a])
	}
	return []*Value{c, nil, nil, nil, nil}
}

// clampDyn clamps a slice bound against the dimension held by dv (a 1-D
// int64 value of length 1) as ONNX's Slice does.
func clampDyn(b int64, dv *Value, step int64) *Value {
	g := dv.g
	hi := dv
	if step < 0 {
		hi = Sub(dv, Ints(g, 1))
	}
	if b >= 0 {
		return Min(Ints(g, b), hi)
	}
	lo := int64(0)
	if step < 0 {
		lo = -1
	}
	return Max(Add(Ints(g, b), dv), Ints(g, lo))
}

// padAxis pads c with zeros along axis a: before and after are 1-D int64
// values of length 1; d is the resulting dimension.
func padAxis(c *Value, a int, before, after *Value, d Dim) *Value {
	g := c.g
	r := c.Rank()
	var pads *Value
	if before.konst != nil && after.konst != nil {
		p := make([]int64, 2*r)
		p[a], p[r+a] = before.konst.Int64s()[0], after.konst.Int64s()[0]
		pads = Ints(g, p...)
	} else {
		var parts []*Value
		zeros := func(k int) {
			if k > 0 {
				parts = append(parts, Ints(g, make([]int64, k)...))
			}
		}
		zeros(a)
		parts = append(parts, before)
		zeros(r - 1)
		parts = append(parts, after)
		zeros(r - 1 - a)
		pads = Concat(0, parts...)
	}
	shape := c.shape.Clone()
	shape[a] = d
	return g.addNode("Pad", []*Value{c, pads}, nil, outSpec{c.dtype, shape}).outputs[0]
}

// scatterAxis writes c into zeros of x's extent along axis a (c's extent
// elsewhere), at the distinct positions idx (1-D int64) along a.
func (ad *autodiff) scatterAxis(c, x *Value, a int, idx *Value) *Value {
	g := c.g
	r := c.Rank()
	sc := ShapeOf(c)
	var parts []*Value
	if a > 0 {
		parts = append(parts, Slice(sc, []int64{0}, []int64{int64(a)}, []int64{0}, nil))
	}
	parts = append(parts, ad.dimOf(x, a))
	if a < r-1 {
		parts = append(parts, Slice(sc, []int64{int64(a + 1)}, []int64{math.MaxInt64}, []int64{0}, nil))
	}
	zeros := ConstantOfShape(Concat(0, parts...), c.dtype, 0)
	shape := make([]int64, r)
	for i := range shape {
		shape[i] = 1
	}
	shape[a] = -1
	ie := Expand(ReshapeDims(idx, shape...), sc)
	out := c.shape.Clone()
	out[a] = x.shape[a]
	return g.addNode("ScatterElements", []*Value{zeros, ie, c}, map[string]any{"axis": int64(a)}, outSpec{c.dtype, out}).outputs[0]
}

// Concat: each operand gets its slice of the cotangent.
func vjpConcat(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	g := ad.g
	y := n.outputs[0]
	a := int(n.attrs["axis"].(int64))
	c := ad.full(ct, y)
	out := make([]*Value, len(n.inputs))
	var off int64
	var offV *Value // the offset as a value, once a dimension is unknown
	for i, x := range n.inputs {
		d := x.shape[a]
		var end int64
		var endV *Value
		if offV == nil && d.Known() {
			end = off + d.Size
		} else {
			if offV == nil {
				offV = Ints(g, off)
			}
			endV = Add(offV, ad.dimOf(x, a))
		}
		if need[i] {
			if endV == nil {
				out[i] = Slice(c, []int64{off}, []int64{end}, []int64{int64(a)}, nil)
			} else {
				shape := c.shape.Clone()
				shape[a] = d
				out[i] = g.addNode("Slice", []*Value{c, offV, endV, Ints(g, int64(a)), Ints(g, 1)}, nil,
					outSpec{c.dtype, shape}).outputs[0]
			}
		}
		off, offV = end, endV
	}
	return out
}

// positions returns 0..K-1 for K = x's dimension at axis a, shaped to
// broadcast at position at of a value of rank r (size 1 elsewhere).
func (ad *autodiff) positions(x *Value, a, at, r int) *Value {
	g := x.g
	var ids *Value
	if d := x.shape[a]; d.Known() && d.Size <= 4096 {
		v := make([]int64, d.Size)
		for i := range v {
			v[i] = int64(i)
		}
		ids = Ints(g, v...)
	} else {
		ids = Range(Int(g, 0), ScalarOf(ad.dimOf(x, a)), Int(g, 1))
	}
	shape := make([]int64, r)
	for i := range shape {
		shape[i] = 1
	}
	shape[at] = -1
	return ReshapeDims(ids, shape...)
}

// normIndices returns int64 indices into x along axis a, negative ones
// counted from the end as ONNX's gathers do.
func (ad *autodiff) normIndices(idx, x *Value, a int) *Value {
	g := x.g
	idx = Cast(idx, tensor.Int64)
	var k *Value
	if d := x.shape[a]; d.Known() {
		k = Int(g, d.Size)
	} else {
		k = ScalarOf(ad.dimOf(x, a))
	}
	return Where(Less(idx, Int(g, 0)), Add(idx, k), idx)
}

// Gather y = x[..., idx, ...] along axis a: the cotangent of every index
// position is added to the entry it picked, through an Equal mask between
// the indices and the positions along a (indices may repeat).
func vjpGather(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x, idx, y := n.inputs[0], n.inputs[1], n.outputs[0]
	a := int(n.attrs["axis"].(int64))
	m := idx.Rank()
	post := x.Rank() - a - 1
	r := a + m + 1 + post // [pre, idx..., K, post]
	ct = rankUp(ct, y.Rank())
	var iaxes []int
	for i := 0; i < a; i++ {
		iaxes = append(iaxes, i)
	}
	for i := 0; i <= post; i++ {
		iaxes = append(iaxes, a+m+i)
	}
	mask := Equal(Unsqueeze(ad.normIndices(idx, x, a), iaxes...), ad.positions(x, a, a+m, r))
	w := Where(mask, Unsqueeze(ct, a+m), ConstAs(ct, 0))
	if m == 0 {
		return []*Value{w, nil}
	}
	sum := make([]int, m)
	for i := range sum {
		sum[i] = a + i
	}
	return []*Value{ReduceSum(w, false, sum...), nil}
}

// GatherElements along axis a. When the indices have size 1 along a and
// x's extent elsewhere (a per-pixel pick such as the true class's logit), an
// Equal mask against the positions along a places the cotangent. Otherwise
// ScatterElements with reduction "add" (opset 16 on) or, before it, a one-hot
// mask summed over the axis (indices may repeat).
func vjpGatherElements(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	g := ad.g
	x, idx, y := n.inputs[0], n.inputs[1], n.outputs[0]
	a := int(n.attrs["axis"].(int64))
	r := x.Rank()
	sameElsewhere := true
	for i := 0; i < r; i++ {
		if i != a && !idx.shape[i].sameAs(x.shape[i]) {
			sameElsewhere = false
		}
	}
	ni := ad.normIndices(idx, x, a)
	zero := ConstAs(ct, 0)
	if d := idx.shape[a]; d.Known() && d.Size == 1 && sameElsewhere {
		return []*Value{Where(Equal(ni, ad.positions(x, a, a, r)), ct, zero), nil}
	}
	c := ad.full(ct, y)
	if g.opset >= 16 {
		return []*Value{g.addNode("ScatterElements", []*Value{ad.zerosLike(x), ni, c},
			map[string]any{"axis": int64(a), "reduction": "add"}, outSpec{x.dtype, x.shape.Clone()}).outputs[0], nil}
	}
	if !sameElsewhere {
		return ad.fail(n, "indices %v smaller than the data %v off the axis need opset 16 or later for the gradient", idx, x)
	}
	mask := Equal(Unsqueeze(ni, r), ad.positions(x, a, r, r+1)) // [idx..., K]
	w := ReduceSum(Where(mask, Unsqueeze(c, r), zero), false, a)
	perm := make([]int, 0, r)
	for i := 0; i < r-1; i++ {
		if i == a {
			perm = append(perm, r-1)
		}
		perm = append(perm, i)
	}
	if a == r-1 {
		perm = append(perm, r-1)
	}
	return []*Value{Transpose(w, perm...), nil}
}

// TopK: the values' cotangent is written back at the selected positions,
// which are distinct, so a plain ScatterElements does it (PyTorch's topk
// backward). The indices output carries no gradient.
func vjpTopK(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x, vals, idx := n.inputs[0], n.outputs[0], n.outputs[1]
	a := int(n.attrs["axis"].(int64))
	c := ad.full(ct, vals)
	return []*Value{ad.g.addNode("ScatterElements", []*Value{ad.zerosLike(x), idx, c},
		map[string]any{"axis": int64(a)}, outSpec{x.dtype, x.shape.Clone()}).outputs[0], nil}
}
