package builder

import (
	"github.com/onnxloss/onnxloss/tensor"
)

// Run-time checks in standard ONNX. ONNX has no assertion op, so a check is
// a Reshape that cannot succeed when its condition is false: every ONNX
// runtime then stops with an error that names the node. Checks produce a
// token (an int64 [1] holding 1); tokens chain checks in a fixed order, and
// After makes a value depend on a token, so that everything computed from
// that value runs only once the checks have passed.

// Check returns a token that exists only when ok holds. ok is a bool
// value of a known number of elements (a scalar, or one flag per thing
// checked: every one must be true); prev is the token of the previous
// check, or nil for the first. The node is a Reshape called name (exactly,
// without the scope) of prev's single element to [1] when every flag of ok
// is true and to [2] otherwise, which no runtime can do: the run fails at
// this node, before anything that depends on the token. The name must be
// unique in the graph.
//
// Tokens stay [1], and no Reshape to a constant shape follows a check:
// ONNX Runtime fuses a chain of Reshapes that ends in a static shape into
// one node, which would drop the checks (it fails to load the model instead).
// For the same reason a token passes through an Abs before the next check
// reads it: where every shape is static (a model exported without dynamic
// axes) ONNX Runtime finds the check Reshapes' shapes at load time, and its
// fusion of contiguous Reshapes then refers to a node it removed and fails
// to load the model.
func Check(prev, ok *Value, name string) *Value {
	g := ok.g
	if prev == nil {
		prev = Ints(g, 1)
	} else if prev.node != nil && prev.node.op == "Reshape" {
		prev = Abs(prev)
	}
	if !g.check("Check", prev, ok) {
		return g.placeholder(tensor.Int64, Dims(1))
	}
	if name == "" {
		return g.failf("Check", "empty name")
	}
	if ok.dtype != tensor.Bool {
		return g.failf("Check", "%s: condition must be bool, got %v", name, ok)
	}
	if !isToken(prev) {
		return g.failf("Check", "%s: previous token must be int64 [1], got %v", name, prev)
	}
	if ok.Rank() == 0 {
		ok = Unsqueeze(ok, 0)
	}
	k, known := ok.shape.Sizes()
	if !known || ok.Rank() != 1 || k[0] == 0 {
		return g.failf("Check", "%s: condition must be a scalar or a vector of known, non-zero length, got %v", name, ok)
	}
	shape := Where(ok, Ints(g, 1), Ints(g, 2))
	if k[0] > 1 {
		shape = ReduceMax(shape, true)
	}
	return g.addNamedNode(name, "Reshape", []*Value{prev, shape}, nil, outSpec{tensor.Int64, Dims(1)}).outputs[0]
}

// After returns x, with its shape and values, as a value computed after
// token: a Reshape of x to its own shape times the token (which holds 1).
// It costs no pass over the data (ONNX Runtime's Reshape aliases its input),
// and its gradient is the cotangent itself, without a Reshape.
func After(x, token *Value) *Value {
	g := x.g
	if !g.check("After", x, token) {
		return g.placeholder(tensor.Float32, nil)
	}
	if !isToken(token) {
		return g.failf("After", "token must be int64 [1], got %v", token)
	}
	shape := Mul(ShapeOf(x), token)
	n := g.addNode("Reshape", []*Value{x, shape}, nil, outSpec{x.dtype, x.shape.Clone()})
	n.passGrad = true
	return n.outputs[0]
}

func isToken(v *Value) bool {
	return v.dtype == tensor.Int64 && v.Rank() == 1 && v.shape[0].Size == 1
}
