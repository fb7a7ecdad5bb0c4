package verify

import (
	"testing"

	"github.com/onnxloss/onnxloss/bench"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

// TestGradientAtZeroLogits checks input_grad where every logit is exactly 0,
// as a head initialised to zero gives: the pixel and region losses are
// smooth there, and the graph's gradient must be the reference's, though
// relu(x) and |x| in their stable forms each have a kink at 0 (the random
// points of TestGradients are moved off kinks, so they never meet it).
func TestGradientAtZeroLogits(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &GradRunner{Seed: 1}
	for _, s := range losses.All() {
		if s.Family != "cross-entropy" && s.Family != "region" {
			continue
		}
		for _, mode := range []losses.Mode{losses.Binary, losses.Multilabel, losses.Multiclass} {
			if !s.SupportsMode(mode) {
				continue
			}
			opts := losses.Options{"mode": string(mode), "grad": "true"}
			shape := []int{2, 1, 3, 4}
			if mode != losses.Binary {
				opts["classes"] = "3"
				shape[1] = 3
			}
			t.Run(s.Name+"/"+string(mode), func(t *testing.T) {
				sess := testutil.OpenLoss(t, s.Name, opts)
				cfg := sess.Config()
				in := bench.Inputs(s, cfg, shape, 3)
				x := in["input"]
				for i, d := 0, x.Data.([]float32); i < len(d); i++ {
					d[i] = 0
				}
				out, err := sess.Run(in)
				if err != nil {
					t.Fatal(err)
				}
				res, err := r.CheckAt(s, cfg, in, out["input_grad"])
				if err != nil {
					t.Fatal(err)
				}
				if !res.OK() {
					t.Errorf("%s", gradFailure(res))
				}
			})
		}
	}
}
