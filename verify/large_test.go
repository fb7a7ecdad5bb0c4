package verify

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

// largeRelTol is the large tier's budget: the loss within 1e-6 (relative)
// of the float64 reference. Float32 rounding of each entry averages out in
// the sums; what remains is the rounding of the sums themselves, which the
// blocked reductions keep near 1e-7 at any size.
const largeRelTol = 1e-6

// largeAbsTol adds an absolute term to the budget of the losses that
// need one, with the reason.
var largeAbsTol = map[string]float64{
	// 1 - F1 of soft boundaries, with F1 about 0.99 on random volumes (the
	// loss is 0.013 at 1×4×32×64×64): float32 holds values near 1 to 6e-8,
	// which is 5e-6 of such a loss whatever the sums do. Two units at 1.
	"boundary-f1": 0x1p-23,
}

// largeGeometry is the batch, the classes and the 2D and 3D spatial sizes
// of a loss in the large tier.
type largeGeometry struct {
	n, c   int
	d2     []int
	n3, c3 int
	d3     []int
}

// largeTier gives each family's sizes. The cheap losses (cross-entropy and
// region families) run at 2×4×256×256 and 2×4×128×128×128 (16.7M entries, a
// realistic volume, where one ReduceSum node was off by up to 2e-3); the
// others at a smaller 3D size where their float64 reference would take
// minutes: windows of 11³ (ssim, ms-ssim and the hybrids that use them,
// cmssim) and chains of 3³ max-pooling (boundary-f1, cldice, dice-cldice,
// duo) at 1×4×32×64×64, the Lovász losses (a sort of every pixel) and the
// distance family (exact distance transforms) at 1×4×32×128×128.
func largeTier(s *losses.Spec) largeGeometry {
	g := largeGeometry{n: 2, c: 4, d2: []int{256, 256}, n3: 2, c3: 4, d3: []int{128, 128, 128}}
	switch {
	case s.Family == "distance", s.Name == "lovasz-hinge", s.Name == "lovasz-softmax":
		g.n3, g.d3 = 1, []int{32, 128, 128}
	case s.Family == "structure":
		g.n3, g.d3 = 1, []int{32, 64, 64}
	}
	return g
}

// TestRegistryLarge runs every registered loss at realistic sizes: in 2D in
// every mode, and in 3D in one mode (multiclass where the loss has it, then
// multilabel, then binary), on random inputs, and compares the loss with
// the float64 reference within largeRelTol (plus largeAbsTol where a loss
// has one).
func TestRegistryLarge(t *testing.T) {
	testutil.RequireRuntime(t)
	if testing.Short() && !testutil.InCI() {
		t.Skip("large inputs; runs without -short and in CI")
	}
	for _, s := range losses.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			r := &Runner{RelTol: largeRelTol, AbsTol: 1e-12}
			if a := largeAbsTol[s.Name]; a > 0 {
				r.AbsTol = a
			}
			geo := largeTier(s)
			for _, m := range s.Modes {
				r.runLarge(t, s, m, geo.n, geo.c, geo.d2)
			}
			r.runLarge(t, s, largeMode(s), geo.n3, geo.c3, geo.d3)
		})
	}
}

// largeMode is the mode of a loss's 3D run.
func largeMode(s *losses.Spec) losses.Mode {
	for _, want := range []losses.Mode{losses.Multiclass, losses.Multilabel} {
		for _, m := range s.Modes {
			if m == want {
				return m
			}
		}
	}
	return s.Modes[0]
}

// runLarge checks one loss in one mode at one geometry (binary mode has
// one channel whatever c is).
func (r *Runner) runLarge(t *testing.T, s *losses.Spec, m losses.Mode, n, c int, spatial []int) {
	t.Helper()
	o := losses.Options{"mode": string(m)}
	if m != losses.Binary {
		o["classes"] = fmt.Sprint(c)
	}
	if len(spatial) == 3 {
		o["spatial_dims"] = "3"
	}
	label := fmt.Sprintf("%s N=%d %s", m, n, dimsString(spatial))
	cfg, err := losses.Resolve(s, o)
	if err != nil {
		t.Errorf("%s: %v", label, err)
		return
	}
	h := fnv.New64a()
	h.Write([]byte(s.Name + label))
	in := generate(s, cfg, shapeCase{n, spatial}, cfg.Classes, "random", rand.New(rand.NewPCG(1, h.Sum64())))
	results := r.RunCases(Config{Spec: s, Options: o, Label: label}, []Case{{Label: "random", Inputs: in}})
	for _, res := range results {
		if !res.OK() {
			t.Errorf("%s: %s", label, describe(res))
		} else {
			t.Logf("%s: relative error %.2g", label, res.MaxRel)
		}
	}
}
