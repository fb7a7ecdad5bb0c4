package builder

import (
	"github.com/onnxloss/onnxloss/tensor"
)

func reduce(op string, x *Value, keepDims bool, axes []int) *Value {
	g := x.g
	if !g.check(op, x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if x.dtype == tensor.Bool {
		return g.failf(op, "cannot reduce a bool value %v; Cast it first", x)
	}
	norm, err := normAxes(axes, x.Rank())
	if err != nil {
		return g.failf(op, "%v (operand %v)", err, x)
	}
	if len(norm) == 0 { // every axis
		for i := range x.shape {
			norm = append(norm, i)
		}
	}
	reduced := make([]bool, x.Rank())
	for _, a := range norm {
		reduced[a] = true
	}
	var shape Shape
	for i, d := range x.shape {
		switch {
		case !reduced[i]:
			shape = append(shape, d)
		case keepDims:
			shape = append(shape, Fixed(1))
		}
	}
	keep := int64(0)
	if keepDims {
		keep = 1
	}
	n := g.addNode(op, []*Value{x}, map[string]any{"keepdims": keep}, outSpec{x.dtype, shape})
	n.hasAxes = true
	for _, a := range norm {
		n.reduceAxes = append(n.reduceAxes, int64(a))
	}
	return n.outputs[0]
}

// ReduceSum sums x over axes (every axis when none are given). keepDims
// keeps the reduced axes with size 1.
//
// Floating-point sums over many entries are blocked (see blockedReduce), so
// that their error does not grow with the number of entries.
func ReduceSum(x *Value, keepDims bool, axes ...int) *Value {
	return blockedReduce("ReduceSum", x, keepDims, axes)
}

// ReduceMean averages x over axes (every axis when none are given), blocked
// as ReduceSum is.
func ReduceMean(x *Value, keepDims bool, axes ...int) *Value {
	return blockedReduce("ReduceMean", x, keepDims, axes)
}

// ReduceMax takes the maximum over axes. ONNX Runtime has no gradient for
// it: use it on label-side values only.
func ReduceMax(x *Value, keepDims bool, axes ...int) *Value {
	return reduce("ReduceMax", x, keepDims, axes)
}

// ReduceMin takes the minimum over axes. ONNX Runtime has no gradient for
// it: use it on label-side values only.
func ReduceMin(x *Value, keepDims bool, axes ...int) *Value {
	return reduce("ReduceMin", x, keepDims, axes)
}

func softmaxLike(op string, x *Value, axis int) *Value {
	g := x.g
	if !g.check(op, x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if !x.dtype.IsFloat() {
		return g.failf(op, "needs a floating-point operand, got %v", x)
	}
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		return g.failf(op, "%v (operand %v)", err, x)
	}
	if a != x.Rank()-1 {
		// ONNX Runtime's CPU kernels transpose the class axis to the end and
		// back, which costs tens of times a pass over the data; the
		// decomposition below is a few passes.
		z := Sub(x, DetachedMax(x, a))
		e := Exp(z)
		s := ReduceSum(e, true, a)
		if op == "Softmax" {
			return Div(e, s)
		}
		return Sub(z, Log(s))
	}
	return g.addNode(op, []*Value{x}, map[string]any{"axis": int64(a)}, outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// Softmax normalises exp(x) along axis.
func Softmax(x *Value, axis int) *Value { return softmaxLike("Softmax", x, axis) }

// LogSoftmax returns log(softmax(x)) along axis, computed stably.
func LogSoftmax(x *Value, axis int) *Value { return softmaxLike("LogSoftmax", x, axis) }

// DetachedMax returns the maximum of x along axis (kept with size 1),
// truncated to an integer, as a value that carries no gradient, for every
// autodiff: the float-to-int64 Cast it goes through is a stop edge for
// ONNX Runtime's gradient builder as well as for Gradient. It is the shift
// that makes exp(x - m) safe: x - m < 1 everywhere and is at least 0 at the
// maximum. The truncation is exact up to ±2^62 (a float of that size is an
// integer); maxima beyond are clipped there, since int64 cannot hold them
// all, and the shift is then too small: keep |x| below 2^62 (the losses clamp
// their logits far below).
func DetachedMax(x *Value, axis int) *Value {
	m := Clip(ReduceMax(x, true, axis), -detachedMaxBound, detachedMaxBound)
	return Cast(Cast(m, tensor.Int64), x.dtype)
}

// detachedMaxBound is 2^62: exact in every float type and in int64.
const detachedMaxBound = 1 << 62

// LogSumExp returns log(sum(exp(x))) along axis, stably, keeping the axis
// with size 1 when keepDims is set.
func LogSumExp(x *Value, axis int, keepDims bool) *Value {
	m := DetachedMax(x, axis)
	lse := Add(Log(ReduceSum(Exp(Sub(x, m)), true, axis)), m)
	if !keepDims {
		return Squeeze(lse, axis)
	}
	return lse
}

// CumSum returns the running sum along axis. ONNX Runtime has no gradient for
// it: use it on label-side values only.
func CumSum(x *Value, axis int, exclusive, reverse bool) *Value {
	g := x.g
	if !g.check("CumSum", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		return g.failf("CumSum", "%v (operand %v)", err, x)
	}
	attrs := map[string]any{}
	if exclusive {
		attrs["exclusive"] = int64(1)
	}
	if reverse {
		attrs["reverse"] = int64(1)
	}
	return g.addNode("CumSum", []*Value{x, Int(g, int64(a))}, attrs, outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// ArgMax returns the int64 index of the maximum along axis.
func ArgMax(x *Value, axis int, keepDims bool) *Value {
	g := x.g
	if !g.check("ArgMax", x) {
		return g.placeholder(tensor.Int64, nil)
	}
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		return g.failf("ArgMax", "%v (operand %v)", err, x)
	}
	var shape Shape
	for i, d := range x.shape {
		if i != a {
			shape = append(shape, d)
		} else if keepDims {
			shape = append(shape, Fixed(1))
		}
	}
	keep := int64(0)
	if keepDims {
		keep = 1
	}
	return g.addNode("ArgMax", []*Value{x}, map[string]any{"axis": int64(a), "keepdims": keep}, outSpec{tensor.Int64, shape}).outputs[0]
}

// ReduceProd multiplies over axes. ONNX Runtime has no gradient for it: use
// it for shape arithmetic and label-side values only.
func ReduceProd(x *Value, keepDims bool, axes ...int) *Value {
	return reduce("ReduceProd", x, keepDims, axes)
}

// ReduceLogSumExp returns log(sum(exp(x))) over axes, computed stably by
// ONNX Runtime (it subtracts the maximum first).
func ReduceLogSumExp(x *Value, keepDims bool, axes ...int) *Value {
	return reduce("ReduceLogSumExp", x, keepDims, axes)
}
