package builder_test

import (
	"math"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestScan builds a Scan over the rows of x and y that returns, per row,
// Σ x·y times an outer scale and the gradient of that with respect to the
// row of x (computed inside the body), and runs it: each output stacks the
// rows' results, and the outer value reaches the body as a state variable.
func TestScan(t *testing.T) {
	for _, opset := range []int{13, 17} {
		g := NewGraph("scan", opset)
		x := g.Input("x", tensor.Float32, Shape{Sym("N"), Sym("K")})
		y := g.Input("y", tensor.Float32, Shape{Sym("N"), Sym("K")})
		scale := g.Input("scale", tensor.Float32, Shape{})
		outs := Scan(g, []*Value{x, y}, func(b *ScanBody) []*Value {
			xr, yr := b.Slices[0], b.Slices[1]
			if xr.Rank() != 1 {
				t.Errorf("slice rank %d, want 1", xr.Rank())
			}
			v := Mul(ReduceSum(Mul(xr, yr), false), b.Capture(scale))
			return []*Value{v, Gradient(v, xr)[0]}
		})
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		g.Output("v", outs[0])
		g.Output("grad", outs[1])
		m := loopModel(t, g)
		xs := []float32{1, 2, 3, 4, 5, 6}
		ys := []float32{-1, 0.5, 2, 3, 0, 1}
		out := runModel(t, m, map[string]*tensor.Tensor{
			"x": tensor.FromFloat32([]int{2, 3}, xs), "y": tensor.FromFloat32([]int{2, 3}, ys),
			"scale": tensor.FromFloat32(nil, []float32{0.5}),
		})
		v, gr := out["v"], out["grad"]
		if len(v.Shape) != 1 || v.Shape[0] != 2 || len(gr.Shape) != 2 || gr.Shape[0] != 2 || gr.Shape[1] != 3 {
			t.Fatalf("opset %d: shapes %v and %v, want [2] and [2 3]", opset, v.Shape, gr.Shape)
		}
		for r := 0; r < 2; r++ {
			var want float64
			for k := 0; k < 3; k++ {
				want += float64(xs[r*3+k] * ys[r*3+k])
				if d := gr.Float64s()[r*3+k] - 0.5*float64(ys[r*3+k]); math.Abs(d) > 1e-6 {
					t.Errorf("opset %d: grad[%d,%d] = %v, want %v", opset, r, k, gr.Float64s()[r*3+k], 0.5*ys[r*3+k])
				}
			}
			if d := v.Float64s()[r] - 0.5*want; math.Abs(d) > 1e-5 {
				t.Errorf("opset %d: v[%d] = %v, want %v", opset, r, v.Float64s()[r], 0.5*want)
			}
		}
	}
}

// TestIf builds an If whose branches read outer values (one of them through
// a Scan nested in the branch) and runs both ways: the then branch gives
// Σ x·scale per row through the Scan, the else branch x·y summed per row.
func TestIf(t *testing.T) {
	for _, opset := range []int{13, 17} {
		g := NewGraph("if", opset)
		x := g.Input("x", tensor.Float32, Shape{Sym("N"), Sym("K")})
		y := g.Input("y", tensor.Float32, Shape{Sym("N"), Sym("K")})
		scale := g.Input("scale", tensor.Float32, Shape{})
		big := Greater(ScalarOf(DimOf(x, 0)), Int(g, 1))
		outs := If(g, big, func(b *Graph) []*Value {
			return Scan(b, []*Value{b.Capture(x)}, func(s *ScanBody) []*Value {
				return []*Value{Mul(ReduceSum(s.Slices[0], false), s.Capture(scale))}
			})
		}, func(b *Graph) []*Value {
			return []*Value{ReduceSum(Mul(b.Capture(x), b.Capture(y)), false, 1)}
		})
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		g.Output("v", outs[0])
		m := loopModel(t, g)
		for _, n := range []int{1, 2} {
			xs := []float32{1, 2, 3, 4, 5, 6}[:3*n]
			ys := []float32{-1, 0.5, 2, 3, 0, 1}[:3*n]
			out := runModel(t, m, map[string]*tensor.Tensor{
				"x": tensor.FromFloat32([]int{n, 3}, xs), "y": tensor.FromFloat32([]int{n, 3}, ys),
				"scale": tensor.FromFloat32(nil, []float32{0.5}),
			})
			v := out["v"].Float64s()
			for r := 0; r < n; r++ {
				var want float64
				for k := 0; k < 3; k++ {
					if n > 1 {
						want += 0.5 * float64(xs[r*3+k])
					} else {
						want += float64(xs[r*3+k] * ys[r*3+k])
					}
				}
				if math.Abs(v[r]-want) > 1e-5 {
					t.Errorf("opset %d, N=%d: v[%d] = %v, want %v", opset, n, r, v[r], want)
				}
			}
		}
	}
}
