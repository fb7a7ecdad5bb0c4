package verify

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestGradients runs every registered loss, in every mode and option set of
// GradConfigs (2D and 3D, batch 1 and more, both layouts, probabilities,
// every reduction, the loss's variants, float64 and half-precision inputs),
// through ONNX Runtime with --grad, and compares input_grad with finite
// differences of the loss's Go reference on the cases of Cases: random
// points and the edge cases (logits of ±1e4 must give finite gradients,
// CompareGrad fails any other; all-ignored pixels an exactly zero one). The
// step, the budget and the treatment of kinks are explained at GradRelTol.
func TestGradients(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &GradRunner{Seed: 1}
	for _, s := range losses.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			worst, cases, kinks, moved, finiteOnly := 0.0, 0, 0, 0, 0
			where := ""
			for _, c := range GradConfigs(s) {
				results := r.Run(c)
				for _, res := range results {
					if res.FiniteOnly {
						finiteOnly++
					}
				}
				n, failed, k, mv, w, failures := SummarizeGrad(results)
				cases, kinks, moved = cases+n, kinks+k, moved+mv
				if w > worst {
					worst = w
					for _, res := range results {
						if res.MaxErr == w {
							where = c.Label + " / " + res.Case + ": " + res.Worst
						}
					}
				}
				for i, res := range failures {
					if i == 3 {
						t.Errorf("%s: %d more failures", c.Label, failed-3)
						break
					}
					t.Errorf("%s / %s: %s", c.Label, res.Case, gradFailure(res))
				}
				for _, res := range results {
					if strings.HasPrefix(res.Case, "all-ignored ") && res.Graph != nil {
						// Exactly zero, not merely within the budget (whose
						// scale is zero here anyway).
						for i, v := range res.Graph.Float64s() {
							if v != 0 {
								t.Errorf("%s / %s: input_grad[%d] = %v, want 0", c.Label, res.Case, i, v)
								break
							}
						}
					}
				}
			}
			t.Logf("%d cases (%d saturated ones with selections checked finite only), %d entries at kinks of edge cases, %d entries of random points moved off kinks, worst error %.3g of budget (%s)",
				cases, finiteOnly, kinks, moved, worst, where)
		})
	}
}

func gradFailure(r GradResult) string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return fmt.Sprintf("%.3g of budget at %s", r.MaxErr, r.Worst)
}

// TestCompareGradDetects checks that the comparison fails a wrong
// gradient: a scaled one, one with entries swapped, and one with a NaN; and
// that a kink at a random point is an error while an edge case is judged
// by its one-sided derivatives.
func TestCompareGradDetects(t *testing.T) {
	fd := &FDGradient{Index: []int{0, 1, 2}, Grad: []float64{0.5, -0.25, 0.125}, Lo: []float64{0.5, -0.25, 0.125},
		Hi: []float64{0.5, -0.25, 0.125}, Step: []float64{1e-3, 1e-3, 1e-3}, Noise: make([]float64, 3), Edge: make([]bool, 3),
		Scale: 0.5, MaxAbsX: 2}
	tol := GradToleranceFor(tensor.Float32)
	good := tensor.FromFloat64([]int{3}, []float64{0.5, -0.25, 0.125 + 1e-7})
	if res := CompareGrad(good, fd, tol, 0, false); !res.OK() {
		t.Fatalf("a gradient within rounding fails: %v %v", res.Err, res.Worst)
	}
	for name, bad := range map[string][]float64{
		"scaled":  {0.5 * 1.001, -0.25 * 1.001, 0.125 * 1.001},
		"swapped": {0.5, 0.125, -0.25},
		// A small entry off by 1e-4: below the scale, above its budget.
		"small": {0.5, -0.25, 0.125 + 1e-4},
		"nan":   {0.5, math.NaN(), 0.125},
	} {
		if res := CompareGrad(tensor.FromFloat64([]int{3}, bad), fd, tol, 0, false); res.OK() {
			t.Errorf("%s gradient passes", name)
		}
	}
	sampled := &FDGradient{Index: []int{1}, Grad: []float64{-0.25}, Lo: []float64{-0.25}, Hi: []float64{-0.25},
		Step: []float64{1e-3}, Noise: []float64{0}, Edge: []bool{false}, Scale: 0.25, MaxAbsX: 2}
	if res := CompareGrad(tensor.FromFloat64([]int{3}, []float64{9, -0.25, math.Inf(1)}), sampled, tol, 0, false); res.Err == nil {
		t.Error("an infinite entry outside the sample passes")
	}
	kinked := &FDGradient{Index: []int{0, 1}, Grad: []float64{0.25, 0}, Lo: []float64{0, 0}, Hi: []float64{0.5, 0},
		Step: []float64{1e-3, 1e-3}, Noise: make([]float64, 2), Edge: make([]bool, 2), Scale: 0.25, MaxAbsX: 2}
	g := tensor.FromFloat64([]int{2}, []float64{0.5, 0})
	if res := CompareGrad(g, kinked, tol, 0, false); res.Err == nil || len(res.kinked) != 1 {
		t.Error("a kink at a random point is not reported")
	}
	if res := CompareGrad(g, kinked, tol, 0, true); !res.OK() || res.Kinks != 1 || res.Checked != 1 {
		t.Errorf("a kink at an edge case is not checked finite only: %+v", res)
	}
	if res := CompareGrad(tensor.FromFloat64([]int{2}, []float64{math.Inf(-1), 0}), kinked, tol, 0, true); res.OK() {
		t.Error("an infinite value at a kink of an edge case passes")
	}
	if res := CompareGrad(tensor.FromFloat64([]int{2}, []float64{0.5, 1e-4}), kinked, tol, 0, true); res.OK() {
		t.Error("a wrong entry next to a kink of an edge case passes")
	}
}

// TestMoveOffKinks checks that a random point on a kink is moved off it
// and then compared normally: topk-ce keeping one of two pixels whose
// losses are tied has a kink in every entry.
func TestMoveOffKinks(t *testing.T) {
	sess := testutil.OpenLoss(t, "topk-ce", losses.Options{"k": "50", "classes": "2", "grad": "true"})
	s, cfg := sess.Spec(), sess.Config()
	cs := Case{Label: "random tied", Inputs: map[string]*tensor.Tensor{
		"input":  tensor.FromFloat32([]int{1, 2, 1, 2}, []float32{0.5, 0.5, -1, -1}),
		"target": tensor.FromInt64([]int{1, 1, 2}, []int64{0, 0}),
	}}
	r := &GradRunner{}
	c := Config{Spec: s, Label: "k=50"}
	tol := GradToleranceFor(tensor.Float32)
	res := r.check(c, cfg, sess, cs, tol, 0, true, nil)
	if !res.OK() || res.Kinks == 0 || res.Moved != 0 {
		t.Errorf("as an edge case: %+v", res)
	}
	res = r.check(c, cfg, sess, cs, tol, 0, false, nil)
	if !res.OK() || res.Kinks != 0 || res.Moved == 0 || res.Checked != 4 {
		t.Errorf("as a random point: %+v", res)
	}
}

// TestFiniteDifferencesExact checks the finite differences on a loss with a
// known gradient: mean binary cross-entropy from logits has gradient
// (σ(x) - t)/n.
func TestFiniteDifferencesExact(t *testing.T) {
	s, err := losses.Lookup("bce")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := losses.Resolve(s, losses.Options{"mode": "binary"})
	if err != nil {
		t.Fatal(err)
	}
	x := []float64{-3, -0.5, 0, 0.7, 2, 1e4, -1e4, 15}
	tt := []float64{1, 0, 1, 1, 0, 1, 1, 0.3}
	in := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 1, 2, 4}, x),
		"target": tensor.FromFloat64([]int{1, 1, 2, 4}, tt),
	}
	fd, err := FiniteDifferences(s, cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range fd.Index {
		want := (1/(1+math.Exp(-x[i])) - tt[i]) / 8
		// The logits of 1e4 make the loss about 1250, so rounding dominates:
		// the difference must be within the noise estimate, and that
		// estimate (4ε·1250/h, 1.1e-8) a tenth or less of the absolute part
		// of the float32 budget it is added to (GradAbsTol·scale, 1.25e-6).
		if d := math.Abs(fd.Grad[k] - want); d > fd.Noise[k] || fd.Noise[k] > GradAbsTol*fd.Scale/10 {
			t.Errorf("entry %d: finite differences %.15g, exact %.15g (noise estimate %.3g)", i, fd.Grad[k], want, fd.Noise[k])
		}
		if math.Abs(fd.Hi[k]-fd.Lo[k]) > 1e-6 {
			t.Errorf("entry %d: one-sided derivatives %.9g and %.9g disagree on a smooth loss", i, fd.Lo[k], fd.Hi[k])
		}
	}
	sub, err := FiniteDifferences(s, cfg, in, []int{2, 5})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sub.Index) != "[2 5]" || sub.Grad[0] != fd.Grad[2] || sub.Grad[1] != fd.Grad[5] {
		t.Errorf("a subset of entries gives %v %v", sub.Index, sub.Grad)
	}
}

// TestStructuralORTTrainable walks every loss and configuration and checks
// that no op without an ONNX Runtime gradient lies on a path from input to
// loss that ONNX Runtime's gradient builder would differentiate (it crosses
// StopGradient, an Identity there), and that every op on it has a gradient
// rule here. It also checks that the path Gradient differentiates, with the
// formulas of WithGradient rules in place of the rules (whose values
// TestGradients checks against finite differences), is that path: otherwise
// a graph trained with ONNX Runtime would get another gradient than
// input_grad.
func TestStructuralORTTrainable(t *testing.T) {
	for _, s := range losses.All() {
		for _, c := range Configs(s, nil) {
			cfg, err := losses.Resolve(s, c.Options)
			if err != nil {
				t.Fatalf("%s %s: %v", s.Name, c.Label, err)
			}
			g, err := losses.Build(s, cfg)
			if err != nil {
				t.Fatalf("%s %s: %v", s.Name, c.Label, err)
			}
			in, loss := g.InputByName("input"), g.OutputValue("loss")
			ort := builder.DifferentiablePath(loss, in)
			if len(ort) == 0 {
				t.Errorf("%s %s: the loss does not depend on the input", s.Name, c.Label)
			}
			for _, n := range ort {
				if builder.ORTGradientMissing(n) {
					t.Errorf("%s %s: %s (%s) has no ONNX Runtime gradient and lies on the path from input to loss", s.Name, c.Label, n.Op(), n.Name())
				}
				if !builder.HasGradientRule(n.Op()) {
					t.Errorf("%s %s: %s (%s) has no gradient rule", s.Name, c.Label, n.Op(), n.Name())
				}
			}
			ours := builder.FormulaPath(loss, in)
			if len(ours) != len(ort) {
				var extra []string
				seen := map[*builder.Node]bool{}
				for _, n := range ours {
					seen[n] = true
				}
				for _, n := range ort {
					if !seen[n] {
						extra = append(extra, n.Name())
					}
				}
				t.Errorf("%s %s: ONNX Runtime would also differentiate %v, which StopGradient detaches here", s.Name, c.Label, extra)
			}
		}
	}
}

// TestCheckAtSaturated checks eval's comparison at saturated logits, where
// every gradient entry of bce is of order e^-20/n: the exact gradient
// rounded to float32 as a graph computes it ((σ(x) - t) in float32 is 0
// there) passes, because the budget takes the scale of the same target at
// moderate logits; an entry off by 1e-3 of that scale still fails.
func TestCheckAtSaturated(t *testing.T) {
	s, err := losses.Lookup("bce")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := losses.Resolve(s, losses.Options{"mode": "binary", "grad": "true"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	x, tt := make([]float64, n), make([]float64, n)
	for i := range x {
		x[i] = -20 - float64(i%5)
		if i%3 == 0 {
			tt[i], x[i] = 1, -x[i]
		}
	}
	in := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 1, 8, 8}, x).Convert(tensor.Float32),
		"target": tensor.FromFloat64([]int{1, 1, 8, 8}, tt).Convert(tensor.Float32),
	}
	g := make([]float64, n)
	for i := range g {
		g[i] = float64(float32(1/(1+math.Exp(-float64(float32(x[i])))))-float32(tt[i])) / n
	}
	r := &GradRunner{Seed: 1, Sampled: n}
	res, err := r.CheckAt(s, cfg, in, tensor.FromFloat64([]int{1, 1, 8, 8}, g).Convert(tensor.Float32))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Checked != n {
		t.Fatalf("the float32 gradient at saturated logits fails: %v, %d checked, %.3g of the budget (%s)", res.Err, res.Checked, res.MaxErr, res.Worst)
	}
	if res.Scale < 1e-3 {
		t.Errorf("the budget's scale is %.3g, the saturated case's own rather than the geometry's", res.Scale)
	}
	g[7] += 1e-3 * res.Scale
	res, err = r.CheckAt(s, cfg, in, tensor.FromFloat64([]int{1, 1, 8, 8}, g).Convert(tensor.Float32))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Errorf("an entry off by 1e-3 of the scale passes (%.3g of the budget)", res.MaxErr)
	}
}
