package builder

import (
	"github.com/onnxloss/onnxloss/tensor"
)

// MatMul y = A·B: ct·Bᵀ for A and Aᵀ·ct for B, summed over broadcast batch
// axes. A 2-D B (a shared weight matrix, as in a per-pixel linear map) gets
// Aᵀ·ct with A's batch axes folded into its rows, one Gemm instead of a
// batch of products.
func vjpMatMul(ad *autodiff, n *Node, ct *Value, need []bool) []*Value {
	a, b, y := n.inputs[0], n.inputs[1], n.outputs[0]
	c := ad.full(ct, y)
	out := make([]*Value, 2)
	if b.Rank() == 2 {
		c2 := rows(c)
		if need[0] {
			ga := gemm(c2, b, false, true)
			if a.Rank() > 2 {
				ga = Reshape(ga, ad.shapeOf(a))
			}
			out[0] = ga
		}
		if need[1] {
			out[1] = gemm(rows(a), c2, true, false)
		}
		return out
	}
	if need[0] {
		ga := matMulT(c, b, false, true)
		out[0] = ad.sumTo(ga, a, ga)
	}
	if need[1] {
		gb := matMulT(a, c, true, false)
		out[1] = ad.sumTo(gb, b, gb)
	}
	return out
}

// gemm returns op(a)·op(b) for 2-D a and b, op transposing where asked,
// with Gemm's transA and transB attributes.
func gemm(a, b *Value, ta, tb bool) *Value {
	m, k := a.shape[0], a.shape[1]
	if ta {
		m = k
	}
	nd := b.shape[1]
	if tb {
		nd = b.shape[0]
	}
	attrs := map[string]any{}
	if ta {
		attrs["transA"] = int64(1)
	}
	if tb {
		attrs["transB"] = int64(1)
	}
	return a.g.addNode("Gemm", []*Value{a, b}, attrs, outSpec{a.dtype, Shape{m, nd}}).outputs[0]
}

// matMulT returns op(a)·op(b) with batch broadcasting, op transposing the
// last two axes where asked. In float32 it is Transpose and MatMul. ONNX
// Runtime's CPU provider fuses that pair into com.microsoft's FusedMatMul,
// which has only a float32 kernel, so other types get the product as a
// broadcast Mul and a ReduceSum over the inner axis instead.
func matMulT(a, b *Value, ta, tb bool) *Value {
	if ta {
		a = swapLast(a)
	}
	if tb {
		b = swapLast(b)
	}
	if a.dtype == tensor.Float32 {
		return MatMul(a, b)
	}
	return ReduceSum(Mul(Unsqueeze(a, -1), Unsqueeze(b, -3)), false, -2)
}

// rows folds every axis of v but the last into one: [..., K] to [M, K].
func rows(v *Value) *Value {
	if v.Rank() == 2 {
		return v
	}
	if d := v.shape[v.Rank()-1]; d.Known() {
		return ReshapeDims(v, -1, d.Size)
	}
	return Reshape(v, Concat(0, Ints(v.g, -1), DimOf(v, -1)))
}

func swapLast(v *Value) *Value {
	r := v.Rank()
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[r-2], perm[r-1] = r-1, r-2
	return Transpose(v, perm...)
}
