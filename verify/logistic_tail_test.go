package verify

import (
	"math"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestLogisticGradientTail checks that the gradients of the logistic
// losses keep their relative accuracy where σ(x) is tiny: with every target
// 0 and reduction sum, each entry of input_grad is w·σ(x) for one weight w,
// so input_grad / σ(x) (σ in float64) must be the same positive number for
// logits from -10 down to -80 within float32 rounding. A gradient made with
// an absolute-only sigmoid is off by a factor of two at x = -17 and 0 below
// -18.
func TestLogisticGradientTail(t *testing.T) {
	testutil.RequireRuntime(t)
	x := []float32{-10, -15, -16, -17, -18, -20, -25, -30, -40, -60, -80, -12.5}
	for _, c := range []struct {
		name string
		opts losses.Options
	}{
		{"bce", nil},
		{"bce", losses.Options{"pos_weight": "2"}},
		{"weighted-bce", nil},
		{"weighted-bce", losses.Options{"beta": "3"}},
		{"balanced-bce", losses.Options{"beta_from": "fixed", "beta": "0.3"}},
		{"combo", losses.Options{"alpha": "1"}},
		{"exp-log", losses.Options{"w_dice": "0", "gamma_ce": "1"}},
	} {
		opts := losses.Options{"mode": string(losses.Binary), "grad": "true", "reduction": "sum"}
		for k, v := range c.opts {
			opts[k] = v
		}
		name := c.name
		for _, k := range []string{"pos_weight", "beta", "beta_from", "alpha", "w_dice"} {
			if v, ok := c.opts[k]; ok {
				name += "/" + k + "=" + v
			}
		}
		t.Run(name, func(t *testing.T) {
			sess := testutil.OpenLoss(t, c.name, opts)
			shape := []int{1, 1, 1, len(x)}
			out, err := sess.Run(map[string]*tensor.Tensor{
				"input":  tensor.FromFloat32(shape, x),
				"target": tensor.FromFloat32(shape, make([]float32, len(x))),
			})
			if err != nil {
				t.Fatal(err)
			}
			g := out["input_grad"].Float64s()
			w := g[0] / sigmoid64(float64(x[0]))
			if !(w > 0) {
				t.Fatalf("input_grad[0] = %g at x = %g, want a positive multiple of σ(x)", g[0], x[0])
			}
			for i, xi := range x {
				got := g[i] / sigmoid64(float64(xi))
				if math.Abs(got/w-1) > 1e-6 {
					t.Errorf("x = %g: input_grad = %g, %.9g·σ(x), want %.9g·σ(x) as at x = %g", xi, g[i], got, w, x[0])
				}
			}
		})
	}
}

func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
