package builder

// Vector-Jacobian products of the reductions and of the native Softmax and
// LogSoftmax.

// reducedCt gives the cotangent of a Reduce* output the rank of its input
// (size 1 along the reduced axes), so it broadcasts back over them.
func reducedCt(ad *autodiff, n *Node, ct *Value) (*Value, []int, bool) {
	if !n.hasAxes {
		ad.fail(n, "reductions over axes given at run time have no gradient rule")
		return nil, nil, false
	}
	axes := make([]int, len(n.reduceAxes))
	for i, a := range n.reduceAxes {
		axes[i] = int(a)
	}
	if keep, _ := n.attrs["keepdims"].(int64); keep == 0 {
		// A cotangent may have a lower rank than its value (it broadcasts
		// against it): the axes to insert count from the output's rank.
		ct = Unsqueeze(rankUp(ct, n.outputs[0].Rank()), axes...)
	}
	return ct, axes, true
}

// ReduceSum: the cotangent broadcasts back over the reduced axes; it is
// kept with size 1 there instead of being copied out.
func vjpReduceSum(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	c, _, ok := reducedCt(ad, n, ct)
	if !ok {
		return nil
	}
	return []*Value{c}
}

// ReduceMean: as ReduceSum, divided by the number of entries averaged.
func vjpReduceMean(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	v, seed := constFill(ct)
	c, axes, ok := reducedCt(ad, n, ct)
	if !ok {
		return nil
	}
	count := ad.dimProduct(n.inputs[0], axes, c.dtype)
	if seed && count.konst == nil {
		// v/count, unsqueezed to c's rank, not a constant of ones times
		// 1/count: ONNX Runtime's optimizer removes a Mul (and fuses a
		// Div) by a constant of ones without keeping the rank that
		// constant broadcasts to, so the seed of a mean over everything
		// came out a scalar and a later Unsqueeze failed.
		r := Reciprocal(count)
		if v != 1 {
			r = MulScalar(r, v)
		}
		axes := make([]int, c.Rank())
		for i := range axes {
			axes[i] = i
		}
		return []*Value{Unsqueeze(r, axes...)}
	}
	return []*Value{Div(c, count)}
}

// ReduceLogSumExp y = log Σ e^x: ct·e^(x-y), the softmax over the axes.
func vjpReduceLogSumExp(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	c, axes, ok := reducedCt(ad, n, ct)
	if !ok {
		return nil
	}
	y := n.outputs[0]
	if keep, _ := n.attrs["keepdims"].(int64); keep == 0 {
		y = Unsqueeze(y, axes...)
	}
	return []*Value{mulCt(c, Exp(Sub(n.inputs[0], y)))}
}

// Softmax y along an axis: y·(ct - Σ ct·y).
func vjpSoftmax(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	axis := int(n.attrs["axis"].(int64))
	s := ReduceSum(Mul(ct, y), true, axis)
	return []*Value{Mul(y, Sub(ct, s))}
}

// LogSoftmax y along an axis: ct - e^y·Σ ct.
func vjpLogSoftmax(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	axis := int(n.attrs["axis"].(int64))
	if !ct.shape[axis].sameAs(y.shape[axis]) {
		ct = ad.full(ct, y) // the sum needs every entry along the axis
	}
	s := ReduceSum(ct, true, axis)
	return []*Value{Sub(ct, Mul(Exp(y), s))}
}

// constFill reports whether c is a constant with one entry (the seed of a
// scalar output), and its value.
func constFill(c *Value) (float64, bool) {
	k := c.konst
	if k == nil || k.Len() != 1 {
		return 0, false
	}
	return k.Float64s()[0], true
}
