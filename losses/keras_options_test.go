package losses_test

import (
	"math"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// Hand-computed values of prob_clip (Keras's clipping of probabilities to
// [ε, 1-ε]). In float32 the bounds of ε = 1e-7 are lo = float32(1e-7) and
// hi = float32(1 - 1e-7) = 1 - 2^-23 (the float32 neighbours of 1 - 1e-7 are
// 1 - 2^-23 and 1 - 2^-24; 1e-7 is nearer 2^-23 ≈ 1.19e-7), so 1 - hi = 2^-23:
// a probability of 1 against a target of 0 costs -log 2^-23 = 23·ln 2, and a
// probability of 0 against a target of 1 costs -log lo.
var (
	clipLo   = float64(float32(1e-7))
	costAt0  = -math.Log(clipLo)
	costAt1  = 23 * math.Ln2
	clip1e7  = "1e-7"
	clipEval = func(t *testing.T, loss string, opts losses.Options, in map[string]*tensor.Tensor) float64 {
		t.Helper()
		s := testutil.OpenLoss(t, loss, opts)
		out, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		return out["loss"].Float64s()[0]
	}
)

func nearRel(got, want float64) bool { return math.Abs(got-want) <= 2e-6*math.Abs(want) }

// TestProbClipBCE: four entries p = 0, 1, 0.5, 1 against t = 1, 0, 1, 1.
// Clipped: -log lo, -log(1 - hi) = 23 ln 2, ln 2, -log hi = -log(1 - 2^-23)
// ≈ 2^-23; the mean is their sum over 4.
func TestProbClipBCE(t *testing.T) {
	in := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat32([]int{1, 1, 2, 2}, []float32{0, 1, 0.5, 1}),
		"target": tensor.FromFloat32([]int{1, 1, 2, 2}, []float32{1, 0, 1, 1}),
	}
	want := (costAt0 + costAt1 + math.Ln2 - math.Log1p(-0x1p-23)) / 4
	got := clipEval(t, "bce", losses.Options{"from_logits": "false", "prob_clip": clip1e7}, in)
	if !nearRel(got, want) {
		t.Errorf("bce prob_clip 1e-7: %.9g, want %.9g", got, want)
	}
	// Without the clip, the floor 2^-126 gives 126·ln 2 for each of the
	// first two entries.
	want = (2*126*math.Ln2 + math.Ln2) / 4
	got = clipEval(t, "bce", losses.Options{"from_logits": "false"}, in)
	if !nearRel(got, want) {
		t.Errorf("bce without prob_clip: %.9g, want %.9g", got, want)
	}
}

// TestProbClipCrossEntropy: two pixels, three classes, probabilities
// (1, 0, 0) with label 1 and (0.5, 0.25, 0.25) with label 0. Label targets
// (Keras's SparseCategoricalCrossentropy) renormalise the clipped
// probabilities: pixel 0 costs -log(lo / (hi + 2·lo)), pixel 1 ln 2. One-hot
// targets (CategoricalCrossentropy) clip p/Σp: pixel 0 costs -log lo.
func TestProbClipCrossEntropy(t *testing.T) {
	hi := float64(float32(1 - 1e-7))
	x := tensor.FromFloat32([]int{1, 3, 1, 2}, []float32{1, 0.5, 0, 0.25, 0, 0.25})
	labels := map[string]*tensor.Tensor{"input": x, "target": tensor.FromInt64([]int{1, 1, 2}, []int64{1, 0})}
	want := (-math.Log(clipLo/(hi+2*clipLo)) + math.Ln2) / 2
	if got := clipEval(t, "cross-entropy", losses.Options{"from_logits": "false", "prob_clip": clip1e7}, labels); !nearRel(got, want) {
		t.Errorf("labels: %.9g, want %.9g", got, want)
	}
	onehot := map[string]*tensor.Tensor{"input": x, "target": tensor.FromFloat32([]int{1, 3, 1, 2}, []float32{0, 1, 1, 0, 0, 0})}
	want = (costAt0 + math.Ln2) / 2
	if got := clipEval(t, "cross-entropy", losses.Options{"from_logits": "false", "prob_clip": clip1e7, "target": "onehot"}, onehot); !nearRel(got, want) {
		t.Errorf("onehot: %.9g, want %.9g", got, want)
	}
}

// TestProbClipFocal: multiclass from logits, one pixel with logits (100, 0)
// and label 1. The label's softmax probability e^-100 is clipped up to lo,
// so with γ = 2 the pixel costs (1 - lo)^2 · (-log lo); without the clip it
// costs (1 - e^-100)^2 · (100 + log(1 + e^-100)), 100 in float64.
func TestProbClipFocal(t *testing.T) {
	in := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat32([]int{1, 2, 1, 1}, []float32{100, 0}),
		"target": tensor.FromInt64([]int{1, 1, 1}, []int64{1}),
	}
	want := (1 - clipLo) * (1 - clipLo) * costAt0
	if got := clipEval(t, "focal", losses.Options{"mode": "multiclass", "prob_clip": clip1e7}, in); !nearRel(got, want) {
		t.Errorf("clipped: %.9g, want %.9g", got, want)
	}
	if got := clipEval(t, "focal", losses.Options{"mode": "multiclass"}, in); !nearRel(got, 100) {
		t.Errorf("unclipped: %.9g, want 100", got)
	}
}

// TestProbClipRefused: prob_clip, and focal's label_smoothing and
// modulation, where they cannot matter, or out of range, are usage errors
// that say why.
func TestProbClipRefused(t *testing.T) {
	for _, c := range []struct {
		loss string
		opts losses.Options
		msg  string
	}{
		{"bce", losses.Options{"prob_clip": "1e-7"}, "--from-logits=false"},
		{"cross-entropy", losses.Options{"prob_clip": "1e-7"}, "--from-logits=false"},
		{"focal", losses.Options{"mode": "binary", "prob_clip": "1e-7"}, "--mode multiclass"},
		{"bce", losses.Options{"from_logits": "false", "prob_clip": "0.5"}, "prob_clip"},
		{"bce", losses.Options{"from_logits": "false", "prob_clip": "-1e-7"}, "prob_clip"},
		{"focal", losses.Options{"mode": "multiclass", "label_smoothing": "0.1"}, "--classes"},
		{"focal", losses.Options{"mode": "multiclass", "classes": "3", "label_smoothing": "0.1", "normalized": "true"}, "--normalized"},
		{"focal", losses.Options{"from_logits": "false", "modulation": "prob"}, "--from-logits=true"},
		{"focal", losses.Options{"gamma": "0", "modulation": "prob"}, "--gamma above 0"},
	} {
		s, err := losses.Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		_, err = losses.Resolve(s, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %v: error %v, want one naming %q", c.loss, c.opts, err, c.msg)
		}
	}
}

// TestFocalModulationAndSmoothing: one entry, logit x = ln 3 (p = 3/4),
// target 0 smoothed by 0.25 to t = 0.25, γ = 1. The cross-entropy is
// -(t·ln p + (1-t)·ln(1-p)) = 0.25·ln(4/3) + 0.75·ln 4. The prob modulation
// is 1 - p_t = p + t - 2pt = 0.75 + 0.25 - 0.375 = 0.625; the logit one is
// σ(-x(2t-1)) = σ(ln 3 / 2) = √3/(1+√3).
func TestFocalModulationAndSmoothing(t *testing.T) {
	in := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 1, 1, 1}, []float64{math.Log(3)}).Convert(tensor.Float32),
		"target": tensor.FromFloat32([]int{1, 1, 1, 1}, []float32{0}),
	}
	ce := 0.25*math.Log(4.0/3) + 0.75*math.Log(4)
	for _, c := range []struct {
		modulation string
		want       float64
	}{
		{"prob", 0.625 * ce},
		{"logit", math.Sqrt(3) / (1 + math.Sqrt(3)) * ce},
	} {
		opts := losses.Options{"mode": "binary", "gamma": "1", "label_smoothing": "0.25", "modulation": c.modulation}
		if got := clipEval(t, "focal", opts, in); !nearRel(got, c.want) {
			t.Errorf("modulation %s: %.9g, want %.9g", c.modulation, got, c.want)
		}
	}
}

// TestFocalMulticlassSmoothing: one pixel, logits (ln 3, 0), so p = (3/4,
// 1/4), label 1, γ = 1, label smoothing 0.4 over C = 2 classes: the target
// becomes (0.2, 0.8), and the loss Σ_c t_c·(1-p_c)·(-ln p_c) is
// 0.2·(1/4)·ln(4/3) + 0.8·(3/4)·ln 4.
func TestFocalMulticlassSmoothing(t *testing.T) {
	in := map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 2, 1, 1}, []float64{math.Log(3), 0}).Convert(tensor.Float32),
		"target": tensor.FromInt64([]int{1, 1, 1}, []int64{1}),
	}
	want := 0.2*0.25*math.Log(4.0/3) + 0.8*0.75*math.Log(4)
	opts := losses.Options{"mode": "multiclass", "classes": "2", "gamma": "1", "label_smoothing": "0.4"}
	if got := clipEval(t, "focal", opts, in); !nearRel(got, want) {
		t.Errorf("%.9g, want %.9g", got, want)
	}
}
