package verify

import (
	"fmt"
	"sort"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

// TestRegistry runs every registered loss, in every mode and the option sets
// of Configs, on generated inputs through ONNX Runtime and compares each
// output with the loss's Go reference within the error budget.
func TestRegistry(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &Runner{Seed: 1}
	for _, s := range losses.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range Configs(s, nil) {
				results := r.Run(c)
				failed := 0
				for _, res := range results {
					if res.OK() {
						continue
					}
					failed++
					if failed <= 5 {
						t.Errorf("%s / %s: %s", c.Label, res.Case, describe(res))
					}
				}
				if failed > 5 {
					t.Errorf("%s: %d more failures", c.Label, failed-5)
				}
			}
		})
	}
}

func describe(r Result) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("graph %v, reference %v (error %.3g of budget)", r.Graph, r.Ref, r.MaxErr)
}

// TestConfigsCoverEveryMode guards the coverage promise: every loss has at
// least one configuration per mode, in 2D and 3D.
func TestConfigsCoverEveryMode(t *testing.T) {
	for _, s := range losses.All() {
		seen := map[string]bool{}
		for _, c := range Configs(s, nil) {
			seen[c.Options["mode"]+"/"+c.Options["spatial_dims"]] = true
		}
		for _, m := range s.Modes {
			for _, d := range []string{"", "3"} {
				if !seen[string(m)+"/"+d] {
					t.Errorf("%s: no configuration for mode %s spatial_dims %q", s.Name, m, d)
				}
			}
		}
	}
	names := losses.Names()
	if !sort.SliceIsSorted(names, func(i, j int) bool { return false }) || len(names) == 0 {
		t.Fatal("empty registry")
	}
}
