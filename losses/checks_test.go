package losses

import (
	"strings"
	"testing"
)

// TestChecksGuardEveryInput builds every loss in every mode (with the
// gradient output, and with an ignore index where the loss takes one) and
// checks the structure that makes the checks binding in any runtime: every
// check node is there, and nothing reads a graph input but Shape nodes and
// the check machinery's Reshape that passes it on after the checks, so
// every value of the loss and its gradient depends on the checks.
func TestChecksGuardEveryInput(t *testing.T) {
	for _, s := range All() {
		for _, m := range s.Modes {
			opts := Options{"mode": string(m), "grad": "true"}
			if m != Binary {
				opts["classes"] = "3"
			}
			if s.IgnoreIndex {
				opts["ignore_index"] = "255"
			}
			cfg, err := Resolve(s, opts)
			if err != nil {
				t.Fatalf("%s %v: %v", s.Name, opts, err)
			}
			g, err := Build(s, cfg)
			if err != nil {
				t.Fatalf("%s %v: %v", s.Name, opts, err)
			}
			gp, err := g.Proto()
			if err != nil {
				t.Fatal(err)
			}
			inputs := map[string]bool{}
			for _, in := range gp.GetInput() {
				inputs[in.GetName()] = true
			}
			want := []string{CheckInputClasses, CheckTargetBatch, CheckTargetSpatial, CheckNotEmpty}
			if m == Multiclass {
				want = append(want, CheckLabels)
			} else {
				want = append(want, CheckTargetClasses, CheckTargetFinite)
			}
			for _, e := range s.ExtraInputs(cfg) {
				want = append(want, e.Name+"_batch_matches_input", e.Name+"_spatial_matches_input")
			}
			found := map[string]bool{}
			for _, n := range gp.GetNode() {
				if strings.HasPrefix(n.GetName(), CheckPrefix) && n.GetOpType() == "Reshape" {
					found[strings.TrimPrefix(n.GetName(), CheckPrefix)] = true
				}
				for _, in := range n.GetInput() {
					if !inputs[in] {
						continue
					}
					// A Shape reads no values, and whatever uses it also
					// uses values that come after the checks.
					if n.GetOpType() != "Shape" && !(strings.HasPrefix(n.GetName(), CheckPrefix) && n.GetOpType() == "Reshape") {
						t.Errorf("%s %v: node %s (%s) reads graph input %s before the checks", s.Name, opts, n.GetName(), n.GetOpType(), in)
					}
				}
			}
			for _, name := range want {
				if !found[name] {
					t.Errorf("%s %v: no check %s (checks: %v)", s.Name, opts, name, found)
				}
			}
		}
	}
}

// TestTargetSummedOnce checks that losses which sum a float target over its
// spatial axes take those sums from the target-finite check instead of
// reading the target once more: one ReduceSum reads the checked target.
func TestTargetSummedOnce(t *testing.T) {
	for _, c := range []struct {
		loss string
		opts Options
	}{
		{"dice", Options{"mode": "binary"}},
		{"dice", Options{"mode": "multilabel", "layout": "nhwc"}},
		{"tversky", Options{"mode": "binary", "grad": "true"}},
		{"jaccard", Options{"mode": "binary", "spatial_dims": "3"}},
		{"balanced-bce", Options{"mode": "binary"}},
		{"balanced-bce", Options{"mode": "binary", "beta_from": "image", "grad": "true"}},
	} {
		s, err := Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Resolve(s, c.opts)
		if err != nil {
			t.Fatalf("%s %v: %v", c.loss, c.opts, err)
		}
		g, err := Build(s, cfg)
		if err != nil {
			t.Fatalf("%s %v: %v", c.loss, c.opts, err)
		}
		gp, err := g.Proto()
		if err != nil {
			t.Fatal(err)
		}
		// The target's values as they pass through the checks' Reshapes
		// and a change of layout (nodes come in topological order).
		target := map[string]bool{"target": true}
		for _, n := range gp.GetNode() {
			switch n.GetOpType() {
			case "Reshape", "Transpose", "Identity":
				if target[n.GetInput()[0]] {
					target[n.GetOutput()[0]] = true
				}
			}
		}
		sums := 0
		for _, n := range gp.GetNode() {
			if n.GetOpType() == "ReduceSum" && target[n.GetInput()[0]] {
				sums++
			}
		}
		if sums != 1 {
			t.Errorf("%s %v: %d ReduceSums read the target, want 1", c.loss, c.opts, sums)
		}
	}
}
