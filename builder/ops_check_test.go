package builder_test

import (
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// checkGraph sums the squares of x after three chained checks: x and y
// have the same length, x holds no negative value, and x is not empty
// (with a second flag that always holds).
func checkGraph(t *testing.T, opset int) *runtime.Session {
	t.Helper()
	g := NewGraph("checks", opset)
	x := g.Input("x", tensor.Float32, Shape{Sym("a")})
	y := g.Input("y", tensor.Float32, Shape{Sym("b")})
	tok := Check(nil, Equal(DimOf(x, 0), DimOf(y, 0)), "check/same_length")
	tok = Check(tok, Equal(ReduceSum(After(x, tok), false), ReduceSum(Abs(After(x, tok)), false)), "check/non_negative")
	tok = Check(tok, Greater(Concat(0, DimOf(x, 0), Ints(g, 5)), Ints(g, 0, 4)), "check/two_flags")
	gated := After(x, tok)
	if got := gated.Shape().String(); got != "[a]" {
		t.Errorf("After changed the shape to %s", got)
	}
	loss := ReduceSum(Mul(gated, gated), false)
	g.Output("loss", loss)
	g.Output("grad", Gradient(loss, x)[0])
	return testutil.OpenGraph(t, g)
}

func TestCheckFailsAtRunTimeNamingTheNode(t *testing.T) {
	for _, opset := range []int{MinOpset, DefaultOpset, MaxOpset} {
		s := checkGraph(t, opset)
		vec := func(v ...float32) *tensor.Tensor { return tensor.FromFloat32([]int{len(v)}, v) }
		tests := []struct {
			x, y *tensor.Tensor
			fail string // the check that must fail, "" for none
		}{
			{vec(1, 2), vec(0, 0), ""},
			{vec(0), vec(0), ""},
			{vec(1, 2), vec(0), "check/same_length"},
			{vec(), vec(0), "check/same_length"},
			{vec(1), vec(), "check/same_length"},
			{vec(1, -2), vec(0, 0), "check/non_negative"},
			// The first check runs first: the second would fail too.
			{vec(-1), vec(), "check/same_length"},
			// The second flag of the third check holds, the first does not.
			{vec(), vec(), "check/two_flags"},
		}
		for _, tc := range tests {
			out, err := s.Run(map[string]*tensor.Tensor{"x": tc.x, "y": tc.y})
			switch {
			case tc.fail == "" && err != nil:
				t.Errorf("opset %d: x %v y %v: %v", opset, tc.x.Shape, tc.y.Shape, err)
			case tc.fail == "":
				var want float64
				for i, v := range tc.x.Float64s() {
					want += v * v
					if g := out["grad"].Float64s()[i]; g != 2*v {
						t.Errorf("opset %d: gradient %v at %d, want %v", opset, g, i, 2*v)
					}
				}
				if got := out["loss"].Float64s()[0]; got != want {
					t.Errorf("opset %d: loss %v, want %v", opset, got, want)
				}
			case err == nil:
				t.Errorf("opset %d: x %v y %v: ran (loss %v), want %s to fail", opset, tc.x.Float64s(), tc.y.Float64s(), out["loss"].Float64s(), tc.fail)
			case !strings.Contains(err.Error(), tc.fail):
				t.Errorf("opset %d: x %v y %v: error does not name %s: %v", opset, tc.x.Float64s(), tc.y.Float64s(), tc.fail, err)
			}
		}
	}
}

func TestCheckRefusesBadArguments(t *testing.T) {
	g := NewGraph("t", DefaultOpset)
	x := g.Input("x", tensor.Float32, Shape{Sym("a")})
	Check(nil, Greater(x, ConstAs(x, 0)), "check/vector")
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "known") {
		t.Errorf("a condition of shape [a] gave %v", err)
	}
	g = NewGraph("t", DefaultOpset)
	x = g.Input("x", tensor.Float32, Shape{Sym("a")})
	After(x, x)
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("a float token gave %v", err)
	}
}
