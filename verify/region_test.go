package verify

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestRegionConfidentBackground runs every region loss on confident
// predictions of mostly empty images: logits between -20 and -12 on the
// background and between 12 and 20 on a sparse foreground, with some images
// whose target is empty. There the sums are dominated by probabilities of
// 2e-9 to 6e-6 and, on empty images, decided by the smoothing, so an
// activation that is accurate only in absolute terms shows up as a wrong
// loss. The graph must match the float64 reference within the usual budget.
func TestRegionConfidentBackground(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &Runner{}
	for _, s := range losses.All() {
		if s.Family != "region" {
			continue
		}
		for _, m := range s.Modes {
			opts := losses.Options{"mode": string(m)}
			if m != losses.Binary {
				opts["classes"] = "3"
			}
			sess := testutil.OpenLoss(t, s.Name, opts)
			in := confidentInputs(sess.Config(), rand.New(rand.NewPCG(3, uint64(len(s.Name)))))
			got, err := sess.Run(in)
			if err != nil {
				t.Fatalf("%s %s: %v", s.Name, m, err)
			}
			want, err := sess.Reference(in)
			if err != nil {
				t.Fatalf("%s %s: %v", s.Name, m, err)
			}
			if budget, rel, err := r.Compare(got["loss"], want, s.Tolerance); err != nil || budget > 1 {
				t.Errorf("%s %s: graph %v, reference %v (relative %.3g, %.3g of budget) %v", s.Name, m, got["loss"], want, rel, budget, err)
			}
		}
	}
}

// confidentInputs makes 4 images of 4×4 pixels: images 0 and 1 have one
// foreground pixel per channel (multiclass: one pixel of each class but the
// background), images 2 and 3 an empty target; the prediction is confident
// and right, except for one confidently wrong pixel in images 0 and 1.
func confidentInputs(cfg *losses.Config, rng *rand.Rand) reference.Inputs {
	const n, side = 4, 4
	S := side * side
	C := cfg.Classes
	x := make([]float64, n*C*S)
	low := func() float64 { return -12 - 8*rng.Float64() }
	high := func() float64 { return 12 + 8*rng.Float64() }
	if cfg.Mode == losses.Multiclass {
		labels := make([]int64, n*S)
		for b := 0; b < n; b++ {
			wrong := -1
			if b < 2 {
				wrong = rng.IntN(S)
			}
			for s := 0; s < S; s++ {
				y := 0
				if b < 2 && s < C-1 {
					y = s + 1
				}
				labels[b*S+s] = int64(y)
				pred := y
				if s == wrong {
					pred = (y + 1) % C
				}
				for c := 0; c < C; c++ {
					v := low()
					if c == pred {
						v = high()
					}
					x[(b*C+c)*S+s] = v
				}
			}
		}
		return reference.Inputs{
			"input":  tensor.FromFloat64([]int{n, C, side, side}, x).Convert(cfg.DType),
			"target": tensor.FromInt64([]int{n, side, side}, labels),
		}
	}
	t := make([]float64, n*C*S)
	for b := 0; b < n; b++ {
		for c := 0; c < C; c++ {
			fg, wrong := -1, -1
			if b < 2 {
				fg, wrong = rng.IntN(S), rng.IntN(S)
			}
			for s := 0; s < S; s++ {
				k := (b*C+c)*S + s
				on := s == fg
				if on {
					t[k] = 1
				}
				if on != (s == wrong) {
					x[k] = high()
				} else {
					x[k] = low()
				}
			}
		}
	}
	return reference.Inputs{
		"input":  tensor.FromFloat64([]int{n, C, side, side}, x).Convert(cfg.DType),
		"target": tensor.FromFloat64([]int{n, C, side, side}, t).Convert(cfg.DType),
	}
}
