package verify

import (
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

// TestPerSampleLoss runs the loss output of every gradient graph that may
// compute one sample at a time (an If whose then branch is a Scan over the
// batch, Spec.PerSample) against the reference, over every case: the cases
// of one sample take the whole-batch branch, those of two and three samples
// the Scan. The input_grad of the same graphs is checked by TestGradients.
// Each such configuration's graph must hold the If and the Scan, and the
// defaults of the losses below must be among them, so that neither half can
// pass on the whole-batch graph alone.
func TestPerSampleLoss(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &Runner{Seed: 1}
	scanned := map[string]bool{}
	for _, s := range losses.All() {
		if s.PerSample == nil {
			continue
		}
		for _, c := range Configs(s, losses.Options{"grad": "true"}) {
			if c.Options["reduction"] == "none" {
				continue // no gradient output
			}
			cfg, err := losses.Resolve(s, c.Options)
			if err != nil {
				t.Fatalf("%s: %v", c.Label, err)
			}
			g, err := losses.Build(s, cfg)
			if err != nil {
				t.Fatalf("%s: %v", c.Label, err)
			}
			gp, err := g.Proto()
			if err != nil {
				t.Fatalf("%s: %v", c.Label, err)
			}
			// The If that picks the per-sample form, with the Scan in its
			// then branch.
			hasScan := false
			for _, n := range gp.GetNode() {
				if n.GetOpType() != "If" {
					continue
				}
				for _, a := range n.GetAttribute() {
					if a.GetName() != "then_branch" {
						continue
					}
					for _, b := range a.GetG().GetNode() {
						hasScan = hasScan || b.GetOpType() == "Scan"
					}
				}
			}
			if want := s.PerSample(cfg); hasScan != want {
				t.Errorf("%s: graph has a Scan: %v, want %v", c.Label, hasScan, want)
			}
			if !hasScan {
				continue
			}
			if c.Label == string(cfg.Mode) { // the mode's defaults
				scanned[s.Name+" "+c.Label] = true
			}
			for _, res := range r.Run(c) {
				if !res.OK() {
					t.Errorf("%s / %s: %s", c.Label, res.Case, describe(res))
				}
			}
		}
	}
	for _, want := range []string{"dice binary", "dice multilabel", "tversky binary", "jaccard multilabel", "log-cosh-dice binary",
		"bce binary", "weighted-bce binary", "focal binary", "weighted-ce binary",
		"exp-log binary", "dice-ce binary", "combo multilabel", "dice-focal binary"} {
		if !scanned[want] {
			t.Errorf("%s: default configuration not built one sample at a time (built: %v)", want, scanned)
		}
	}
}
