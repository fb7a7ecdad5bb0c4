package builder

import (
	"github.com/onnxloss/onnxloss/tensor"
)

// unary adds an op whose output has the input's type and shape.
func unary(op string, x *Value, floatOnly bool) *Value {
	g := x.g
	if !g.check(op, x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if floatOnly && !x.dtype.IsFloat() {
		return g.failf(op, "needs a floating-point operand, got %v", x)
	}
	return g.addNode(op, []*Value{x}, nil, outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// Neg returns -x.
func Neg(x *Value) *Value { return unary("Neg", x, false) }

// Abs returns |x|.
func Abs(x *Value) *Value { return unary("Abs", x, false) }

// Exp returns e^x.
func Exp(x *Value) *Value { return unary("Exp", x, true) }

// Log returns the natural logarithm of x.
func Log(x *Value) *Value { return unary("Log", x, true) }

// Sqrt returns the square root of x.
func Sqrt(x *Value) *Value { return unary("Sqrt", x, true) }

// Relu returns max(x, 0).
func Relu(x *Value) *Value { return unary("Relu", x, true) }

// Sigmoid returns 1 / (1 + e^-x).
func Sigmoid(x *Value) *Value { return unary("Sigmoid", x, true) }

// Tanh returns the hyperbolic tangent of x.
func Tanh(x *Value) *Value { return unary("Tanh", x, true) }

// Reciprocal returns 1/x.
func Reciprocal(x *Value) *Value { return unary("Reciprocal", x, true) }

// Floor rounds x down. It has no gradient: use it on label-side values only.
func Floor(x *Value) *Value { return unary("Floor", x, true) }

// Sign returns -1, 0 or 1. It has no gradient: use it on label-side values only.
func Sign(x *Value) *Value { return unary("Sign", x, false) }

// Identity returns x through an Identity node.
func Identity(x *Value) *Value { return unary("Identity", x, false) }

// StopGradient returns x unchanged for the forward computation, but automatic
// differentiation treats the result as a constant. It marks label-side values
// and selections (thresholded predictions, sort permutations).
func StopGradient(x *Value) *Value {
	y := unary("Identity", x, false)
	if y.node != nil {
		y.node.stopGrad = true
	}
	return y
}

// Not returns the logical negation of a boolean x.
func Not(x *Value) *Value {
	if x.g.check("Not", x) && x.dtype != tensor.Bool {
		return x.g.failf("Not", "needs a bool operand, got %v", x)
	}
	return unary("Not", x, false)
}

// binary adds a broadcasting op of two operands of the same type. out is the
// output type, or Invalid for the operands' type.
func binaryOp(op string, x, y *Value, out tensor.DType) *Value {
	g := x.g
	if !g.check(op, x, y) {
		return g.placeholder(tensor.Float32, nil)
	}
	if x.dtype != y.dtype {
		return g.failf(op, "operand types differ: %v and %v", x, y)
	}
	shape, err := broadcastShapes(x.shape, y.shape)
	if err != nil {
		return g.failf(op, "%v", err)
	}
	if out == tensor.Invalid {
		out = x.dtype
	}
	return g.addNode(op, []*Value{x, y}, nil, outSpec{out, shape}).outputs[0]
}

// Add returns x + y with NumPy broadcasting.
func Add(x, y *Value) *Value { return binaryOp("Add", x, y, tensor.Invalid) }

// Sub returns x - y with NumPy broadcasting.
func Sub(x, y *Value) *Value { return binaryOp("Sub", x, y, tensor.Invalid) }

// Mul returns x * y with NumPy broadcasting.
func Mul(x, y *Value) *Value { return binaryOp("Mul", x, y, tensor.Invalid) }

// Div returns x / y with NumPy broadcasting.
func Div(x, y *Value) *Value { return binaryOp("Div", x, y, tensor.Invalid) }

// Max returns the elementwise maximum of x and y.
func Max(x, y *Value) *Value { return binaryOp("Max", x, y, tensor.Invalid) }

// Min returns the elementwise minimum of x and y.
func Min(x, y *Value) *Value { return binaryOp("Min", x, y, tensor.Invalid) }

// Equal returns x == y as bool.
func Equal(x, y *Value) *Value { return binaryOp("Equal", x, y, tensor.Bool) }

// Less returns x < y as bool.
func Less(x, y *Value) *Value { return binaryOp("Less", x, y, tensor.Bool) }

// LessOrEqual returns x <= y as bool.
func LessOrEqual(x, y *Value) *Value { return binaryOp("LessOrEqual", x, y, tensor.Bool) }

// Greater returns x > y as bool.
func Greater(x, y *Value) *Value { return binaryOp("Greater", x, y, tensor.Bool) }

// GreaterOrEqual returns x >= y as bool.
func GreaterOrEqual(x, y *Value) *Value { return binaryOp("GreaterOrEqual", x, y, tensor.Bool) }

// And returns the logical and of two bool values.
func And(x, y *Value) *Value { return logical("And", x, y) }

// Or returns the logical or of two bool values.
func Or(x, y *Value) *Value { return logical("Or", x, y) }

func logical(op string, x, y *Value) *Value {
	if x.g.check(op, x, y) && (x.dtype != tensor.Bool || y.dtype != tensor.Bool) {
		return x.g.failf(op, "needs bool operands, got %v and %v", x, y)
	}
	return binaryOp(op, x, y, tensor.Bool)
}

// Pow returns x raised to a constant exponent. The exponent is a constant on
// purpose: ONNX Runtime's gradient builder only differentiates Pow with
// respect to its base.
func Pow(x *Value, exponent float64) *Value {
	g := x.g
	if !g.check("Pow", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if !x.dtype.IsFloat() {
		return g.failf("Pow", "needs a floating-point base, got %v", x)
	}
	e := Scalar(g, x.dtype, exponent)
	return g.addNode("Pow", []*Value{x, e}, nil, outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// Clip limits x to [lo, hi].
func Clip(x *Value, lo, hi float64) *Value {
	g := x.g
	if !g.check("Clip", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if lo > hi {
		return g.failf("Clip", "lower bound %g is above upper bound %g", lo, hi)
	}
	return g.addNode("Clip", []*Value{x, Scalar(g, x.dtype, lo), Scalar(g, x.dtype, hi)}, nil,
		outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// ClipStraightThrough is Clip(x, lo, hi) in value, with the identity as its
// gradient (a straight-through clamp): Gradient passes the cotangent to x
// unchanged, also where x lies outside [lo, hi]. It bounds values that only
// matter far beyond any plausible input, where the gradient at the bound is
// the useful one. (A runtime that differentiates the graph itself, such as
// ONNX Runtime's training, sees a plain Clip, whose gradient is 0 outside.)
func ClipStraightThrough(x *Value, lo, hi float64) *Value {
	y := Clip(x, lo, hi)
	if y.node != nil && !y.bad {
		y.node.passGrad = true
	}
	return y
}

// ClipMin limits x from below: max(x, lo), as a Clip without an upper bound.
func ClipMin(x *Value, lo float64) *Value {
	g := x.g
	if !g.check("Clip", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	return g.addNode("Clip", []*Value{x, Scalar(g, x.dtype, lo)}, nil,
		outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// Where selects x where cond is true and y elsewhere, with broadcasting.
func Where(cond, x, y *Value) *Value {
	g := cond.g
	if !g.check("Where", cond, x, y) {
		return g.placeholder(tensor.Float32, nil)
	}
	if cond.dtype != tensor.Bool {
		return g.failf("Where", "condition must be bool, got %v", cond)
	}
	if x.dtype != y.dtype {
		return g.failf("Where", "branch types differ: %v and %v", x, y)
	}
	shape, err := broadcastShapes(cond.shape, x.shape, y.shape)
	if err != nil {
		return g.failf("Where", "%v", err)
	}
	return g.addNode("Where", []*Value{cond, x, y}, nil, outSpec{x.dtype, shape}).outputs[0]
}

// Cast converts x to type dt. Casting to the type x already has returns x.
func Cast(x *Value, dt tensor.DType) *Value {
	g := x.g
	if !g.check("Cast", x) {
		return g.placeholder(dt, nil)
	}
	if x.dtype == dt {
		return x
	}
	if dt.Size() == 0 {
		return g.failf("Cast", "unsupported target type %v", dt)
	}
	return g.addNode("Cast", []*Value{x}, map[string]any{"to": int64(dt)}, outSpec{dt, x.shape.Clone()}).outputs[0]
}

// AddScalar returns x + c.
func AddScalar(x *Value, c float64) *Value { return Add(x, ConstAs(x, c)) }

// MulScalar returns x * c.
func MulScalar(x *Value, c float64) *Value { return Mul(x, ConstAs(x, c)) }

// DivScalar returns x / c.
func DivScalar(x *Value, c float64) *Value { return Div(x, ConstAs(x, c)) }

// OneMinus returns 1 - x.
func OneMinus(x *Value) *Value { return Sub(ConstAs(x, 1), x) }

// Square returns x * x.
func Square(x *Value) *Value { return Mul(x, x) }

// Ceil rounds x up. It has no gradient: use it on label-side values only.
func Ceil(x *Value) *Value { return unary("Ceil", x, true) }
