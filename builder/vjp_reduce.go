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
		ct = Unsqueeze(ct, axes...)
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
	c, axes, ok := reducedCt(ad, n, ct)
	if !ok {
		return nil
	}
	return []*Value{Div(c, ad.dimProduct(n.inputs[0], axes, c.dtype))}
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
