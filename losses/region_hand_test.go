package losses_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// Hand-computed values of the region losses. Each case is small enough to
// check on paper; the comment above it carries the arithmetic, and the
// expected value is written as that arithmetic. The graphs run in ONNX
// Runtime.

// The binary case used by most losses: four pixels (one image 2×2) with
// probabilities p and target t.
//
//	p = 0.9 0.2 0.6 0.1
//	t = 1   0   1   0
//
// I = Σp·t = 0.9 + 0.6 = 1.5, Σp = 1.8, Σt = 2, FP = Σp - I = 0.3,
// FN = Σt - I = 0.5, TN = Σ(1-p)(1-t) = 0.8 + 0.9 = 1.7.
var (
	binP = []float64{0.9, 0.2, 0.6, 0.1}
	binT = []float64{1, 0, 1, 0}
	// logit(p): log(p/(1-p)).
	binX = []float64{math.Log(9), math.Log(0.25), math.Log(1.5), math.Log(1.0 / 9)}
)

func binary(p, t []float64) map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 1, 2, 2}, p).Convert(tensor.Float32),
		"target": tensor.FromFloat64([]int{1, 1, 2, 2}, t).Convert(tensor.Float32),
	}
}

// The multiclass case: one image of 1×2 pixels, three classes, labels 0 and
// 1 (class 2 is absent from the target).
//
//	pixel 0: p = 0.8 0.1 0.1, label 0
//	pixel 1: p = 0.2 0.7 0.1, label 1
//
// Per class, I, Σp, Σt: class 0: 0.8, 1.0, 1; class 1: 0.7, 0.8, 1;
// class 2: 0, 0.2, 0. Dice without smoothing: class 0: 1.6/2.0 = 0.8
// (loss 0.2); class 1: 1.4/1.8 (loss 0.4/1.8 = 2/9); class 2: 0/0.2 = 0
// (loss 1).
func multiclass() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 3, 1, 2}, []float64{0.8, 0.2, 0.1, 0.7, 0.1, 0.1}).Convert(tensor.Float32),
		"target": tensor.FromInt64([]int{1, 1, 2}, []int64{0, 1}),
	}
}

func evalLoss(t *testing.T, name string, opts losses.Options, in map[string]*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	m, _, err := export.Loss(name, opts)
	if err != nil {
		t.Fatalf("%s %v: %v", name, opts, err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(in)
	if err != nil {
		t.Fatalf("%s %v: %v", name, opts, err)
	}
	return out["loss"]
}

type handCase struct {
	name string
	loss string
	opts losses.Options
	in   map[string]*tensor.Tensor
	want []float64
}

func probs(o losses.Options) losses.Options {
	o["from_logits"] = "false"
	return o
}

func TestRegionHandComputed(t *testing.T) {
	testutil.RequireRuntime(t)
	noSmooth := func(o losses.Options) losses.Options {
		o["smooth_nr"], o["smooth_dr"] = "0", "0"
		return probs(o)
	}
	cases := []handCase{
		// Dice with the default smoothing 1e-5: 1 - (2·1.5 + 1e-5)/(1.8 + 2 + 1e-5).
		{"dice default", "dice", probs(losses.Options{}), binary(binP, binT), []float64{1 - (3+1e-5)/(3.8+1e-5)}},
		// The same from logits: sigmoid(logit(p)) = p.
		{"dice logits", "dice", losses.Options{}, binary(binX, binT), []float64{1 - (3+1e-5)/(3.8+1e-5)}},
		// smp preset: no smoothing, 1 - 3/3.8.
		{"dice smp", "dice", probs(losses.Options{"preset": "smp"}), binary(binP, binT), []float64{1 - 3/3.8}},
		// -log Dice: -ln(3/3.8).
		{"dice log", "dice", noSmooth(losses.Options{"log_loss": "true"}), binary(binP, binT), []float64{-math.Log(3 / 3.8)}},
		// Squared denominators: Σp² = 0.81 + 0.04 + 0.36 + 0.01 = 1.22, Σt² = 2: 1 - 3/3.22.
		{"dice squared", "dice", noSmooth(losses.Options{"squared": "true"}), binary(binP, binT), []float64{1 - 3/3.22}},
		// Soft target t = 0.7 0.1 1 0.3 (Σt = 2.1). Product I = 0.63 + 0.02 + 0.6 + 0.03 = 1.28:
		// 1 - 2.56/3.9; L1 I = Σmin(p,t) = 0.7 + 0.1 + 0.6 + 0.1 = 1.5: 1 - 3/3.9.
		{"dice soft product", "dice", noSmooth(losses.Options{}), binary(binP, []float64{0.7, 0.1, 1, 0.3}), []float64{1 - 2.56/3.9}},
		{"dice soft l1", "dice", noSmooth(losses.Options{"intersection": "l1"}), binary(binP, []float64{0.7, 0.1, 1, 0.3}), []float64{1 - 3/3.9}},
		// Two images of two pixels, A: p = 0.9 0.2, t = 1 0; B: p = 0.6 0.1, t = 1 0.
		// Per image: A 1 - 1.8/2.1, B 1 - 1.2/1.7, mean of the two; batch: 1 - 3/3.8.
		{"dice per image", "dice", noSmooth(losses.Options{}), binaryN2(), []float64{((1 - 1.8/2.1) + (1 - 1.2/1.7)) / 2}},
		{"dice batch", "dice", noSmooth(losses.Options{"per_image": "false"}), binaryN2(), []float64{1 - 3/3.8}},
		// Multiclass, no smoothing (eps 1e-7 clamp): losses 0.2, 2/9, 1 (class 2 absent).
		{"dice absent keep", "dice", noSmooth(losses.Options{"mode": "multiclass"}), multiclass(), []float64{(0.2 + 2.0/9 + 1) / 3}},
		{"dice absent zero", "dice", noSmooth(losses.Options{"mode": "multiclass", "absent_classes": "zero"}), multiclass(), []float64{(0.2 + 2.0/9 + 0) / 3}},
		{"dice absent skip", "dice", noSmooth(losses.Options{"mode": "multiclass", "absent_classes": "skip"}), multiclass(), []float64{(0.2 + 2.0/9) / 2}},
		{"dice none", "dice", noSmooth(losses.Options{"mode": "multiclass", "reduction": "none"}), multiclass(), []float64{0.2, 2.0 / 9, 1}},
		// Without the background and class 2 skipped, only class 1 remains.
		{"dice no background", "dice", noSmooth(losses.Options{"mode": "multiclass", "include_background": "false", "absent_classes": "skip"}), multiclass(), []float64{2.0 / 9}},
		// Class weights 1, 2, 3: mean (0.2 + 2·2/9 + 3·1)/6; scale (0.2 + 2·2/9 + 3·1)/3.
		{"dice weights mean", "dice", noSmooth(losses.Options{"mode": "multiclass", "class_weights": "1,2,3"}), multiclass(), []float64{(0.2 + 4.0/9 + 3) / 6}},
		{"dice weights scale", "dice", noSmooth(losses.Options{"mode": "multiclass", "class_weights": "1,2,3", "class_weighting": "scale"}), multiclass(), []float64{(0.2 + 4.0/9 + 3) / 3}},
		// Micro: I = 0.8 + 0.7 = 1.5, Σp = 2, Σt = 2 over the classes: 1 - 3/4.
		{"dice micro", "dice", noSmooth(losses.Options{"mode": "multiclass", "average": "micro"}), multiclass(), []float64{1 - 3.0/4}},
		// Ignore label 1: only pixel 0 counts; class 0: I 0.8, Σp 0.8, Σt 1 (1 - 1.6/1.8);
		// class 1: I 0, Σp 0.1 (loss 1); class 2: I 0, Σp 0.1 (loss 1).
		{"dice ignore", "dice", noSmooth(losses.Options{"mode": "multiclass", "ignore_index": "1"}), multiclass(), []float64{((1 - 1.6/1.8) + 1 + 1) / 3}},

		// Jaccard: 1 - I/(Σp + Σt - I) = 1 - 1.5/2.3.
		{"jaccard", "jaccard", noSmooth(losses.Options{}), binary(binP, binT), []float64{1 - 1.5/2.3}},
		// MONAI's jaccard=True adds 1e-5 to 2I and 2(Σp+Σt-I): 1 - (3 + 1e-5)/(4.6 + 1e-5).
		{"jaccard monai", "jaccard", probs(losses.Options{"preset": "monai"}), binary(binP, binT), []float64{1 - (3+1e-5)/(4.6+1e-5)}},

		// Tversky α 0.3, β 0.7: 1 - 1.5/(1.5 + 0.3·0.3 + 0.7·0.5) = 1 - 1.5/1.94;
		// α 0.7, β 0.3: 1 - 1.5/(1.5 + 0.21 + 0.15) = 1 - 1.5/1.86.
		{"tversky", "tversky", noSmooth(losses.Options{}), binary(binP, binT), []float64{1 - 1.5/1.94}},
		{"tversky swapped", "tversky", noSmooth(losses.Options{"alpha": "0.7", "beta": "0.3"}), binary(binP, binT), []float64{1 - 1.5/1.86}},

		// Focal Tversky on two channels: channel 0 is the binary case (loss a = 1 - 1.5/1.94);
		// channel 1 has p = 0.5 everywhere and t = 1 everywhere: I 2, FP 0, FN 2,
		// loss b = 1 - 2/(2 + 0.7·2) = 1 - 2/3.4. class: (a^0.75 + b^0.75)/2; mean: ((a+b)/2)^0.75.
		{"focal-tversky class", "focal-tversky", noSmooth(losses.Options{"mode": "multilabel"}), twoChannels(), []float64{(math.Pow(1-1.5/1.94, 0.75) + math.Pow(1-2/3.4, 0.75)) / 2}},
		{"focal-tversky mean", "focal-tversky", noSmooth(losses.Options{"mode": "multilabel", "gamma_on": "mean"}), twoChannels(), []float64{math.Pow(((1-1.5/1.94)+(1-2/3.4))/2, 0.75)}},

		// log cosh of the Dice loss x = 1 - 3/3.8.
		{"log-cosh-dice", "log-cosh-dice", noSmooth(losses.Options{}), binary(binP, binT), []float64{math.Log(math.Cosh(1 - 3/3.8))}},

		// F_β with β = 1.5 (β² = 2.25): 1 - 1.5/(1.5 + 0.3/3.25 + 2.25·0.5/3.25).
		{"asymmetric-similarity", "asymmetric-similarity", noSmooth(losses.Options{}), binary(binP, binT), []float64{1 - 1.5/(1.5+0.3/3.25+2.25*0.5/3.25)}},

		// Generalized Dice on three pixels, labels 0 0 1, p = (0.8 0.1 0.1), (0.6 0.3 0.1), (0.2 0.7 0.1).
		// Per class I, Σp, Σt: 0: 1.4, 1.6, 2; 1: 0.7, 1.1, 1; 2: 0, 0.3, 0 (absent).
		// square: w = 1/4, 1, and the absent class gets the largest, 1:
		// 1 - 2(1.4/4 + 0.7)/((1.6+2)/4 + (1.1+1) + 0.3) = 1 - 2.1/3.3; with absent_weight zero 1 - 2.1/3.0;
		// simple: w = 1/2, 1, 1: 1 - 2(0.7 + 0.7)/(3.6/2 + 2.1 + 0.3) = 1 - 2.8/4.2.
		{"generalized-dice square", "generalized-dice", noSmooth(losses.Options{"mode": "multiclass"}), threePixels(), []float64{1 - 2.1/3.3}},
		{"generalized-dice zero", "generalized-dice", noSmooth(losses.Options{"mode": "multiclass", "absent_weight": "zero"}), threePixels(), []float64{1 - 2.1/3.0}},
		{"generalized-dice simple", "generalized-dice", noSmooth(losses.Options{"mode": "multiclass", "weight_type": "simple"}), threePixels(), []float64{1 - 2.8/4.2}},

		// Wasserstein Dice, M = [[0,1,2],[1,0,1.5],[2,1.5,0]] (divided by 2). Pixel A: label 1,
		// p = 0.2 0.7 0.1, wass = 0.5·0.2 + 0.75·0.1 = 0.175; pixel B: label 0, p = 0.6 0.3 0.1,
		// wass = 0.5·0.3 + 1·0.1 = 0.25. default: TP = 1 - 0.175 (foreground only), denominator
		// 2TP + 0.175 + 0.25 = 2.075: 1 - (1.65 + 1e-5)/(2.075 + 1e-5). gdl: α = 1/(1+1) for both
		// labels, TP = 0.5(0.825 + 0.75) = 0.7875, denominator 0.5(1.825 + 1.75) = 1.7875.
		{"gwdl default", "generalized-wasserstein-dice", probs(losses.Options{"dist_matrix": "0,1,2,1,0,1.5,2,1.5,0"}), gwdlPixels(), []float64{1 - (1.65+1e-5)/(2.075+1e-5)}},
		{"gwdl gdl", "generalized-wasserstein-dice", probs(losses.Options{"dist_matrix": "0,1,2,1,0,1.5,2,1.5,0", "weighting": "gdl"}), gwdlPixels(), []float64{1 - (1.575+1e-5)/(1.7875+1e-5)}},

		// Sensitivity-specificity, r 0.1, no smoothing: foreground errors (1-0.9)² + (1-0.6)² = 0.17
		// over Σt = 2, background errors 0.2² + 0.1² = 0.05 over Σ(1-t) = 2: 0.1·0.17/2 + 0.9·0.05/2.
		{"sensitivity-specificity", "sensitivity-specificity", probs(losses.Options{"smooth": "0"}), binary(binP, binT), []float64{0.1*0.17/2 + 0.9*0.05/2}},

		// MCC, eps 0: TP 1.5, FP 0.3, FN 0.5, TN 1.7: 1 - (1.5·1.7 - 0.3·0.5)/√(1.8·2·2.0·2.2).
		{"mcc", "mcc", probs(losses.Options{"eps": "0"}), binary(binP, binT), []float64{1 - (1.5*1.7-0.3*0.5)/math.Sqrt(1.8*2*2.0*2.2)}},
		// An empty target with an empty prediction: TP = FP = FN = eps, TN = 4 + eps:
		// MCC = (eps(4+eps) - eps²)/(2eps·(4+2eps)) = 4/(2(4+2eps)), nearly 1/2.
		{"mcc empty", "mcc", probs(losses.Options{"eps": "1e-5"}), binary([]float64{0, 0, 0, 0}, []float64{0, 0, 0, 0}), []float64{1 - 4/(2*(4+2e-5))}},

		// Combo α 0.5, β 0.5: the cross-entropy is the mean over the four pixels of
		// 0.5·(-ln 0.9), 0.5·(-ln 0.8), 0.5·(-ln 0.6), 0.5·(-ln 0.9); the Dice loss 1 - 3/3.8.
		{"combo", "combo", noSmooth(losses.Options{}), binary(binP, binT), []float64{0.5*0.5*(-math.Log(0.9)-math.Log(0.8)-math.Log(0.6)-math.Log(0.9))/4 + 0.5*(1-3/3.8)}},
		// Exponential logarithmic, γ 0.3 both, weights 0.8 and 0.2: (-ln(3/3.8))^0.3 and the mean
		// of the four BCEs to the power 0.3.
		{"exp-log", "exp-log", noSmooth(losses.Options{}), binary(binP, binT), []float64{0.8*math.Pow(-math.Log(3/3.8), 0.3) +
			0.2*(math.Pow(-math.Log(0.9), 0.3)+math.Pow(-math.Log(0.8), 0.3)+math.Pow(-math.Log(0.6), 0.3)+math.Pow(-math.Log(0.9), 0.3))/4}},
		// Dice + BCE: (1 - 3/3.8) + (-ln 0.9 - ln 0.8 - ln 0.6 - ln 0.9)/4.
		{"dice-ce binary", "dice-ce", noSmooth(losses.Options{}), binary(binP, binT), []float64{(1 - 3/3.8) + (-math.Log(0.9)-math.Log(0.8)-math.Log(0.6)-math.Log(0.9))/4}},
		// Multiclass: Dice as in "dice absent keep" plus the cross-entropy (-ln 0.8 - ln 0.7)/2.
		{"dice-ce multiclass", "dice-ce", noSmooth(losses.Options{"mode": "multiclass"}), multiclass(), []float64{(0.2+2.0/9+1)/3 + (-math.Log(0.8)-math.Log(0.7))/2}},
		// Dice + focal γ 2: (1-p_t)²·(-ln p_t) with p_t = 0.9, 0.8, 0.6, 0.9, averaged.
		{"dice-focal", "dice-focal", noSmooth(losses.Options{}), binary(binP, binT), []float64{(1 - 3/3.8) +
			(0.01*-math.Log(0.9)+0.04*-math.Log(0.8)+0.16*-math.Log(0.6)+0.01*-math.Log(0.9))/4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := evalLoss(t, tc.loss, tc.opts, tc.in).Float64s()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d values %v, want %v", len(got), got, tc.want)
			}
			for i := range got {
				if d := math.Abs(got[i] - tc.want[i]); d > 1e-6+2e-6*math.Abs(tc.want[i]) {
					t.Errorf("value %d: got %.8g, want %.8g (difference %.3g)", i, got[i], tc.want[i], d)
				}
			}
		})
	}
}

// binaryN2 is two images of 1×2 pixels: A p = 0.9 0.2, t = 1 0; B p = 0.6 0.1, t = 1 0.
func binaryN2() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{2, 1, 1, 2}, []float64{0.9, 0.2, 0.6, 0.1}).Convert(tensor.Float32),
		"target": tensor.FromFloat64([]int{2, 1, 1, 2}, []float64{1, 0, 1, 0}).Convert(tensor.Float32),
	}
}

// twoChannels is the binary case as channel 0 and p = 0.5, t = 1 as channel 1.
func twoChannels() map[string]*tensor.Tensor {
	p := append(append([]float64{}, binP...), 0.5, 0.5, 0.5, 0.5)
	t := append(append([]float64{}, binT...), 1, 1, 1, 1)
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 2, 2, 2}, p).Convert(tensor.Float32),
		"target": tensor.FromFloat64([]int{1, 2, 2, 2}, t).Convert(tensor.Float32),
	}
}

// threePixels: labels 0 0 1, p = (0.8 0.1 0.1), (0.6 0.3 0.1), (0.2 0.7 0.1), laid out [1,3,1,3].
func threePixels() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 3, 1, 3}, []float64{0.8, 0.6, 0.2, 0.1, 0.3, 0.7, 0.1, 0.1, 0.1}).Convert(tensor.Float32),
		"target": tensor.FromInt64([]int{1, 1, 3}, []int64{0, 0, 1}),
	}
}

// gwdlPixels: pixel A label 1, p = 0.2 0.7 0.1; pixel B label 0, p = 0.6 0.3 0.1.
func gwdlPixels() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64([]int{1, 3, 1, 2}, []float64{0.2, 0.6, 0.7, 0.3, 0.1, 0.1}).Convert(tensor.Float32),
		"target": tensor.FromInt64([]int{1, 1, 2}, []int64{1, 0}),
	}
}

// TestRegionPresetValues checks that every preset sets the conventions
// its documentation promises, by the values the loss then computes with.
func TestRegionPresetValues(t *testing.T) {
	for _, tc := range []struct {
		loss, preset string
		want         map[string]any
	}{
		{"dice", "smp", map[string]any{"per_image": false, "smooth_nr": 0.0, "smooth_dr": 0.0, "eps": 2e-7, "absent_classes": "zero", "intersection": "l1"}},
		{"dice", "monai", map[string]any{"per_image": true, "smooth_nr": 1e-5, "smooth_dr": 1e-5, "absent_classes": "keep", "intersection": "product", "class_weighting": "scale"}},
		{"dice", "kornia", map[string]any{"average": "micro", "smooth_nr": 0.0, "smooth_dr": 1e-8, "target_eps": 0.0, "absent_classes": "skip-row"}},
		{"tversky", "kornia", map[string]any{"average": "macro", "smooth_nr": 0.0, "smooth_dr": 1e-8, "target_eps": 0.0, "absent_classes": "skip-row"}},
		{"dice", "semsegloss", map[string]any{"average": "micro", "per_image": false, "smooth_nr": 1.0, "smooth_dr": 1.0}},
		{"jaccard", "monai", map[string]any{"smooth_nr": 5e-6, "smooth_dr": 5e-6}},
		{"tversky", "semsegloss", map[string]any{"alpha": 0.3, "beta": 0.7, "smooth_nr": 1.0}},
		{"tversky", "smp", map[string]any{"alpha": 0.5, "beta": 0.5, "absent_classes": "zero"}},
	} {
		s, err := losses.Lookup(tc.loss)
		if err != nil {
			t.Fatal(err)
		}
		c, err := losses.Resolve(s, losses.Options{"preset": tc.preset, "mode": "multiclass"})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.loss, tc.preset, err)
		}
		for k, v := range tc.want {
			if c.ParamValues()[k] != v {
				t.Errorf("%s --preset %s: %s = %v, want %v", tc.loss, tc.preset, k, c.ParamValues()[k], v)
			}
		}
	}
	// An explicit option overrides the preset.
	s, _ := losses.Lookup("dice")
	c, err := losses.Resolve(s, losses.Options{"preset": "smp", "smooth_nr": "2"})
	if err != nil || c.ParamValues()["smooth_nr"] != 2.0 || c.ParamValues()["smooth_dr"] != 0.0 {
		t.Errorf("explicit smooth_nr does not override the smp preset: %v %v", c.ParamValues(), err)
	}
}

// TestRegionValidation checks the combinations the region losses reject.
func TestRegionValidation(t *testing.T) {
	for _, tc := range []struct {
		loss string
		opts losses.Options
	}{
		{"dice", losses.Options{"smooth_dr": "0", "eps": "0"}},
		{"dice", losses.Options{"include_background": "false"}}, // binary mode
		{"dice", losses.Options{"mode": "multilabel", "classes": "1", "include_background": "false"}},
		{"tversky", losses.Options{"alpha": "0", "beta": "0"}},
		{"focal-tversky", losses.Options{"gamma_on": "mean", "reduction": "sum"}},
		{"generalized-wasserstein-dice", losses.Options{"dist_matrix": "0,1,1"}},
		{"generalized-wasserstein-dice", losses.Options{"dist_matrix": "1,1,1,0"}},
		{"generalized-wasserstein-dice", losses.Options{"dist_matrix": "0,0,0,0"}},
		{"generalized-wasserstein-dice", losses.Options{"dist_matrix": "0,1,1,0", "classes": "3"}},
		{"dice-ce", losses.Options{"mode": "multiclass", "pos_weight": "2"}},
		{"dice-ce", losses.Options{"mode": "multiclass", "label_smoothing": "0.1"}}, // needs --classes
		{"combo", losses.Options{"reduction": "none"}},
	} {
		s, err := losses.Lookup(tc.loss)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := losses.Resolve(s, tc.opts); err == nil {
			t.Errorf("%s %v: accepted", tc.loss, tc.opts)
		}
	}
	s, _ := losses.Lookup("generalized-wasserstein-dice")
	c, err := losses.Resolve(s, losses.Options{"dist_matrix": "0,1,2,1,0,1,2,1,0"})
	if err != nil || c.Classes != 3 {
		t.Errorf("dist_matrix should set classes to 3: %v %v", c, err)
	}
}

// TestRegionParametersThatCannotMatter checks the conditions under which a
// region loss's parameter has an effect: given elsewhere it is a usage
// error that says what would make it matter, and where the condition holds
// the same parameter is accepted.
func TestRegionParametersThatCannotMatter(t *testing.T) {
	for _, tc := range []struct {
		loss string
		opts losses.Options
		// needs is a part of the message; "" means the options are accepted.
		needs string
	}{
		{"dice", losses.Options{"class_weighting": "scale"}, "it needs --class-weights with --average macro and --reduction mean"},
		{"dice", losses.Options{"mode": "multiclass", "class_weights": "1,2,3", "class_weighting": "scale", "average": "micro"}, "--average macro"},
		{"dice", losses.Options{"mode": "multiclass", "class_weights": "1,2,3", "class_weighting": "scale", "reduction": "sum"}, "--reduction mean"},
		{"dice", losses.Options{"mode": "multiclass", "class_weights": "1,2,3", "class_weighting": "scale"}, ""},
		{"mcc", losses.Options{"class_weighting": "scale"}, "it needs --class-weights and --reduction mean"},
		{"mcc", losses.Options{"class_weighting": "scale", "class_weights": "2"}, ""},

		{"dice", losses.Options{"mode": "multiclass", "intersection": "l1"}, "soft targets (--mode binary or multilabel, --target onehot or --target-eps above 0) without --squared"},
		{"dice", losses.Options{"mode": "multilabel", "squared": "true", "intersection": "l1"}, "without --squared"},
		{"dice", losses.Options{"mode": "multiclass", "target": "onehot", "intersection": "l1"}, ""},
		{"dice", losses.Options{"mode": "multiclass", "target_eps": "0.01", "intersection": "l1"}, ""},
		{"generalized-dice", losses.Options{"mode": "multiclass", "intersection": "l1"}, "soft targets (--mode binary or multilabel, or --target onehot): for hard labels"},

		{"dice", losses.Options{"average": "micro"}, "two or more classes, or --class-weights"},
		{"dice", losses.Options{"mode": "multiclass", "classes": "2", "include_background": "false", "average": "micro"}, "two or more classes"},
		{"dice", losses.Options{"average": "micro", "class_weights": "2"}, ""},
		{"dice", losses.Options{"mode": "multilabel", "average": "micro"}, ""},
		{"dice", losses.Options{"include_background": "true"}, "binary mode and --classes 1 have no background channel"},
		{"sensitivity-specificity", losses.Options{"mode": "multilabel", "classes": "1", "include_background": "false"}, "two or more classes"},

		{"focal-tversky", losses.Options{"gamma": "1", "gamma_on": "mean"}, "--gamma other than 1"},
		{"focal-tversky", losses.Options{"gamma": "2", "gamma_on": "mean"}, ""},
		{"generalized-dice", losses.Options{"weight_type": "uniform", "absent_weight": "zero"}, "--weight-type square or simple"},

		{"dice-ce", losses.Options{"mode": "multiclass", "pos_weight": "2"}, "--mode binary or multilabel"},
		{"dice-ce", losses.Options{"mean_over": "all"}, "--ignore-index in binary or multilabel mode"},
		{"dice-ce", losses.Options{"mode": "multiclass", "ignore_index": "0", "mean_over": "all"}, "--ignore-index in binary or multilabel mode"},
		{"dice-ce", losses.Options{"ignore_index": "-1", "mean_over": "all"}, ""},
		{"dice-ce", losses.Options{"lambda_ce": "0", "label_smoothing": "0.1"}, "--lambda-ce above 0"},
		{"dice-ce", losses.Options{"lambda_dice": "0", "smooth_nr": "1"}, "--lambda-dice above 0"},
		{"dice-focal", losses.Options{"lambda_focal": "0", "gamma": "1"}, "--lambda-focal above 0"},
		{"dice-focal", losses.Options{"gamma": "0", "normalized": "true"}, "--gamma above 0"},
		{"combo", losses.Options{"alpha": "1", "squared": "true"}, "--alpha below 1"},
		{"combo", losses.Options{"alpha": "0", "beta": "0.7"}, "--alpha above 0"},
		{"combo", losses.Options{"alpha": "0", "squared": "true"}, ""},
		{"exp-log", losses.Options{"w_ce": "0", "gamma_ce": "1"}, "--w-ce above 0"},
		{"exp-log", losses.Options{"w_dice": "0", "per_image": "false"}, "--w-dice above 0"},
	} {
		s, err := losses.Lookup(tc.loss)
		if err != nil {
			t.Fatal(err)
		}
		_, err = losses.Resolve(s, tc.opts)
		switch {
		case tc.needs == "" && err != nil:
			t.Errorf("%s %v: refused: %v", tc.loss, tc.opts, err)
		case tc.needs != "" && (err == nil || !strings.Contains(err.Error(), "has no effect here") || !strings.Contains(err.Error(), tc.needs)):
			t.Errorf("%s %v: got %v, want a usage error naming %q", tc.loss, tc.opts, err, tc.needs)
		}
	}
}

// TestRegionUndeclaredConventionsOff checks that a region loss that takes
// only some overlap conventions has every other one at the value that
// switches it off, as the graph and the reference both read the whole
// param.Overlap.
func TestRegionUndeclaredConventionsOff(t *testing.T) {
	option := map[string]string{
		"SmoothNr": "smooth_nr", "SmoothDr": "smooth_dr", "Eps": "eps", "Squared": "squared", "PerImage": "per_image",
		"Average": "average", "AbsentClasses": "absent_classes", "LogLoss": "log_loss", "Intersection": "intersection",
		"IncludeBackground": "include_background", "TargetEps": "target_eps", "ClassWeighting": "class_weighting",
	}
	off := reflect.ValueOf(param.OverlapOff())
	if off.NumField() != len(option) {
		t.Fatalf("param.Overlap has %d fields, the test knows %d", off.NumField(), len(option))
	}
	checked := 0
	for _, s := range losses.All() {
		if s.Family != "region" {
			continue
		}
		o := reflect.ValueOf(s.NewParams()).Elem().FieldByName("Overlap")
		if !o.IsValid() {
			t.Errorf("%s: no Overlap", s.Name)
			continue
		}
		for i := 0; i < off.NumField(); i++ {
			f := off.Type().Field(i).Name
			if s.Param(option[f]) != nil {
				continue
			}
			checked++
			if got, want := o.Field(i).Interface(), off.Field(i).Interface(); got != want {
				t.Errorf("%s: undeclared %s is %v, want its off value %v", s.Name, f, got, want)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no undeclared convention was checked")
	}
}
