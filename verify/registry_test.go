package verify

import (
	"fmt"
	"slices"
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
}

// catalogFamilies is the order of the families in listings (losses.All,
// onnxloss list and the README's table).
var catalogFamilies = []string{"cross-entropy", "region", "structure", "distance"}

// catalogOrderError reports the first place where specs are not ordered by
// family, in the order of families, and then by name.
func catalogOrderError(specs []*losses.Spec, families []string) error {
	rank := map[string]int{}
	for i, f := range families {
		rank[f] = i
	}
	for i, s := range specs {
		r, ok := rank[s.Family]
		if !ok {
			return fmt.Errorf("%s: family %q is not one of %v", s.Name, s.Family, families)
		}
		if i == 0 {
			continue
		}
		p := specs[i-1]
		if pr := rank[p.Family]; pr > r || pr == r && p.Name >= s.Name {
			return fmt.Errorf("%s (%s) is listed after %s (%s); want families in the order %v, then names",
				s.Name, s.Family, p.Name, p.Family, families)
		}
	}
	return nil
}

// TestCatalogOrder checks the order losses.All documents, family by family
// and then by name, and that Names follows it.
func TestCatalogOrder(t *testing.T) {
	all := losses.All()
	if err := catalogOrderError(all, catalogFamilies); err != nil {
		t.Error(err)
	}
	names := losses.Names()
	if len(names) != len(all) {
		t.Fatalf("Names has %d entries, All %d", len(names), len(all))
	}
	for i, s := range all {
		if names[i] != s.Name {
			t.Errorf("Names()[%d] = %s, All()[%d] is %s", i, names[i], i, s.Name)
		}
	}
	count := map[string]int{}
	for _, s := range all {
		count[s.Family]++
	}
	for _, f := range catalogFamilies {
		if count[f] < 2 {
			t.Errorf("family %s has %d losses; the order check needs two or more in each", f, count[f])
		}
	}
	if t.Failed() {
		return
	}
	// The check itself fails on a wrong order: neighbours swapped inside a
	// family, the families in another order, or the whole list reversed.
	swapped := slices.Clone(all)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	otherFamilies := slices.Clone(catalogFamilies)
	otherFamilies[1], otherFamilies[2] = otherFamilies[2], otherFamilies[1]
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	for label, err := range map[string]error{
		"two names swapped":    catalogOrderError(swapped, catalogFamilies),
		"two families swapped": catalogOrderError(all, otherFamilies),
		"reversed":             catalogOrderError(reversed, catalogFamilies),
		"a family missing":     catalogOrderError(all, catalogFamilies[:3]),
	} {
		if err == nil {
			t.Errorf("%s: the order check passes", label)
		}
	}
}
