package builder

import (
	"github.com/onnxloss/onnxloss/tensor"
)

// MatMul returns the matrix product of a [..., M, K] and b [..., K, N] with
// NumPy's batch broadcasting (ONNX MatMul). Both operands must have rank 2 or
// more and the same floating-point type. A per-pixel linear map (a 1×1
// convolution) is MatMul(features [N,H,W,F], weight [F,K]).
func MatMul(a, b *Value) *Value {
	g := a.g
	if !g.check("MatMul", a, b) {
		return g.placeholder(tensor.Float32, nil)
	}
	if !a.dtype.IsFloat() || a.dtype != b.dtype {
		return g.failf("MatMul", "needs floating-point operands of one type, got %v and %v", a, b)
	}
	if a.Rank() < 2 || b.Rank() < 2 {
		return g.failf("MatMul", "needs operands of rank 2 or more, got %v and %v", a, b)
	}
	ka, kb := a.shape[a.Rank()-1], b.shape[b.Rank()-2]
	if ka.Known() && kb.Known() && ka.Size != kb.Size {
		return g.failf("MatMul", "inner dimensions differ: %v and %v", a, b)
	}
	batch, err := broadcastShapes(a.shape[:a.Rank()-2], b.shape[:b.Rank()-2])
	if err != nil {
		return g.failf("MatMul", "batch dimensions: %v", err)
	}
	out := append(batch, a.shape[a.Rank()-2], b.shape[b.Rank()-1])
	return g.addNode("MatMul", []*Value{a, b}, nil, outSpec{a.dtype, out}).outputs[0]
}
