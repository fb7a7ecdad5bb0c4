package builder

import "github.com/onnxloss/onnxloss/tensor"

// Vector-Jacobian products of the elementwise ops. x is the (first) input,
// y the output and ct the cotangent of y.

func vjpIdentity(_ *autodiff, _ *Node, ct *Value, _ []bool) []*Value {
	return []*Value{ct}
}

func vjpNeg(_ *autodiff, _ *Node, ct *Value, _ []bool) []*Value {
	return []*Value{Neg(ct)}
}

// Abs: sign(x), which is 0 at 0 (PyTorch and ONNX Runtime agree).
func vjpAbs(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{mulCt(ct, Sign(n.inputs[0]))}
}

func vjpExp(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{mulCt(ct, n.outputs[0])}
}

func vjpLog(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{Div(ct, n.inputs[0])}
}

// Sqrt: 1/(2y), infinite at 0 as in PyTorch.
func vjpSqrt(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	return []*Value{Div(ct, Add(y, y))}
}

// Relu: the gradient passes where x > 0 (0 at 0, as in PyTorch).
func vjpRelu(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	zero := ConstAs(ct, 0)
	ya := ad.maskOperands(ct, y)[0]
	return []*Value{Where(Greater(ya, ConstAs(y, 0)), ct, zero)}
}

func vjpSigmoid(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	return []*Value{mulCt(ct, Mul(y, OneMinus(y)))}
}

func vjpTanh(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	return []*Value{mulCt(ct, OneMinus(Mul(y, y)))}
}

func vjpReciprocal(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	y := n.outputs[0]
	return []*Value{Neg(mulCt(ct, Mul(y, y)))}
}

// Cast between float types: the cotangent is cast back. (A cast to an
// integer or bool type has no float output, so it is never on a path.)
func vjpCast(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	return []*Value{Cast(ct, n.inputs[0].dtype)}
}

// Pow with a constant exponent e: e·x^(e-1), and 0 for e = 0 (PyTorch's
// pow_backward).
func vjpPow(ad *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x, ev := n.inputs[0], n.inputs[1]
	if ev.konst == nil || ev.konst.Len() != 1 {
		return ad.fail(n, "the exponent must be a scalar constant, got %v", ev)
	}
	e := ev.konst.Float64s()[0]
	switch e {
	case 0:
		return []*Value{nil, nil}
	case 1:
		return []*Value{ct, nil}
	case 2:
		return []*Value{mulCt(ct, Add(x, x)), nil}
	}
	return []*Value{mulCt(ct, MulScalar(Pow(x, e-1), e)), nil}
}

// Clip (with both bounds or only the lower one): the gradient passes where
// lo <= x <= hi, bounds included, as PyTorch's clamp does.
func vjpClip(_ *autodiff, n *Node, ct *Value, _ []bool) []*Value {
	x := n.inputs[0]
	var cond *Value
	if len(n.inputs) > 1 && n.inputs[1] != nil {
		cond = GreaterOrEqual(x, n.inputs[1])
	}
	if len(n.inputs) > 2 && n.inputs[2] != nil {
		le := LessOrEqual(x, n.inputs[2])
		if cond == nil {
			cond = le
		} else {
			cond = And(cond, le)
		}
	}
	if cond == nil {
		return []*Value{ct}
	}
	out := make([]*Value, len(n.inputs))
	out[0] = Where(cond, ct, ConstAs(ct, 0))
	return out
}

// Where: the cotangent goes to the branch each entry was taken from; the
// condition carries none.
func vjpWhere(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	cond, a, b, y := n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[0]
	zero := ConstAs(ct, 0)
	out := make([]*Value, 3)
	if need[1] {
		out[1] = ad.sumTo(Where(cond, ct, zero), a, y)
	}
	if need[2] {
		out[2] = ad.sumTo(Where(cond, zero, ct), b, y)
	}
	return out
}

func vjpAdd(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	x, z, y := n.inputs[0], n.inputs[1], n.outputs[0]
	out := make([]*Value, 2)
	if need[0] {
		out[0] = ad.sumTo(ct, x, y)
	}
	if need[1] {
		out[1] = ad.sumTo(ct, z, y)
	}
	return out
}

func vjpSub(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	x, z, y := n.inputs[0], n.inputs[1], n.outputs[0]
	out := make([]*Value, 2)
	if need[0] {
		out[0] = ad.sumTo(ct, x, y)
	}
	if need[1] {
		out[1] = Neg(ad.sumTo(ct, z, y))
	}
	return out
}

func vjpMul(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	x, z, y := n.inputs[0], n.inputs[1], n.outputs[0]
	out := make([]*Value, 2)
	if need[0] {
		out[0] = ad.sumTo(mulCt(ct, z), x, y)
	}
	if need[1] {
		out[1] = ad.sumTo(mulCt(ct, x), z, y)
	}
	return out
}

// Div y = x/z: ct/z for x, and -Σ(ct·y)/z for z. The sum runs over the axes
// z was broadcast along, where z is constant, so the division by z comes
// after it, on the smaller tensor.
func vjpDiv(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	x, z, y := n.inputs[0], n.inputs[1], n.outputs[0]
	out := make([]*Value, 2)
	if need[0] {
		out[0] = ad.sumTo(Div(ct, z), x, y)
	}
	if need[1] {
		out[1] = Neg(Div(ad.sumTo(mulCt(ct, y), z, y), z))
	}
	return out
}

// Max and Min: the cotangent goes to the operand equal to the result, split
// evenly when both are (ONNX Runtime's rule for ties). For float32 and
// float64 the winner is read from the operands (x ≥ z for Max), not from
// the result, so that the backward pass keeps only the operands alive.
func vjpMaxMin(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	x, z, y := n.inputs[0], n.inputs[1], n.outputs[0]
	zero := ConstAs(ct, 0)
	half := MulScalar(ct, 0.5)
	ops := ad.maskOperands(ct, x, z)
	xa, za := ops[0], ops[1]
	var ex, ez *Value
	switch {
	case x.dtype != tensor.Float32 && x.dtype != tensor.Float64:
		ex, ez = Equal(xa, y), Equal(za, y)
	case n.op == "Max":
		ex, ez = GreaterOrEqual(xa, za), GreaterOrEqual(za, xa)
	default:
		ex, ez = LessOrEqual(xa, za), LessOrEqual(za, xa)
	}
	out := make([]*Value, 2)
	if need[0] {
		out[0] = ad.sumTo(Where(ex, Where(ez, half, ct), zero), x, y)
	}
	if need[1] {
		out[1] = ad.sumTo(Where(ez, Where(ex, half, ct), zero), z, y)
	}
	return out
}
