package losses

import (
	"fmt"
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// CrossEntropy is the parameter set of the cross-entropy loss.
type CrossEntropy = param.CrossEntropy

var crossEntropy = Define(Spec{
	Name:    "cross-entropy",
	Family:  "cross-entropy",
	Summary: "Softmax cross-entropy with class weights, ignore_index and label smoothing (PyTorch semantics).",
	Description: "Softmax cross-entropy over the class axis, with PyTorch's semantics throughout: class weights " +
		"scale each pixel by its label's weight and --reduction mean divides by the sum of the weights of the " +
		"valid pixels (mean_over=all: by every pixel, ignored ones included, as segmentation_models_pytorch does); label smoothing mixes (1-ε)·NLL with ε/C times the weighted sum of -log p over classes; " +
		"one-hot or soft targets (--target onehot) follow PyTorch's probability-target rules (mean over pixels). " +
		"A batch whose pixels are all ignored gives 0, where PyTorch gives NaN.",
	Citation:    "Standard softmax cross-entropy; label smoothing from Szegedy et al., Rethinking the Inception Architecture, CVPR 2016.",
	Formula:     "l = (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_c w_c·(-log p_c), mean = Σ l / Σ w_y (mean_over all: Σ l / pixels)",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: pixelNone,
	Notes: []string{
		"PyTorch F.cross_entropy(weight=w, ignore_index=k, label_smoothing=e): --class-weights w --ignore-index k --label-smoothing e.",
		"segmentation_models_pytorch SoftCrossEntropyLoss divides by all pixels, ignored ones included: --mean-over all (its preset sets it); the default follows PyTorch.",
	},
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch SoftCrossEntropyLoss(smooth_factor=s, ignore_index=-100): ignore_index -100, label smoothing s (its default smooth_factor=None raises a TypeError, so give --label-smoothing) and a mean over every pixel, ignored ones included (mean_over all). Exact.",
			Values: map[string]string{"ignore_index": "-100", "label_smoothing": "0", "mean_over": "all"}},
		{Name: "keras", Doc: "Keras 3 keras.losses.SparseCategoricalCrossentropy() with label targets [N,*spatial] (Keras also takes [N,*spatial,1]: drop the last axis), and CategoricalCrossentropy() with --target onehot: channels-last probabilities (from_logits=False) clipped to [1e-7, 1-1e-7] before the log (prob_clip; SparseCategoricalCrossentropy renormalises the clipped probabilities, CategoricalCrossentropy clips p/Σp: prob_clip follows each), the mean over pixels. from_logits=True is --from-logits=true (TensorFlow's stable softmax cross-entropy). ignore_class=k is --ignore-index k: Keras masks those pixels and divides by the valid ones, 0 when every pixel is ignored, as here. CategoricalCrossentropy's label_smoothing s is --label-smoothing s with --classes C (t(1-s) + s/C). Keras has no class weights. Exact.",
			Values: map[string]string{"layout": "nhwc", "from_logits": "false", "prob_clip": "1e-07", "label_smoothing": "0"}},
	},
	Variants: []Options{
		{"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "1"},
		{"classes": "4", "label_smoothing": "0.1", "ignore_index": "255"},
		{"classes": "4", "label_smoothing": "0.1", "ignore_index": "2", "mean_over": "all"},
		{"classes": "3", "class_weights": "1,0.5,2", "ignore_index": "0", "mean_over": "all"},
		{"classes": "3", "label_smoothing": "0.2", "class_weights": "1,0.5,2"},
		{"classes": "3", "target": "onehot", "label_smoothing": "0.1"},
		{"target": "onehot"},
		{"preset": "keras", "ignore_index": "255"}, {"preset": "keras", "target": "onehot", "classes": "3", "label_smoothing": "0.1"},
	},
}, Funcs[CrossEntropy]{
	Build:     buildCrossEntropy,
	Reference: reference.CrossEntropy,
	Validate:  func(c *Config, p *CrossEntropy) error { return validateLabelSmoothing(c, p.LabelSmoothing) },
})

// buildCrossEntropy writes softmax cross-entropy with PyTorch's semantics.
func buildCrossEntropy(c *Ctx, p *CrossEntropy) *Value {
	eps := p.LabelSmoothing
	lp := c.LogProbs()
	nll := c.NLL
	if p.ProbClip > 0 && !c.FromLogits {
		lp = c.clippedLogProbs(p.ProbClip)
		nll = func() *Value { return Neg(Squeeze(GatherElements(lp, Unsqueeze(c.Labels(), 1), 1), 1)) }
	}
	if c.TargetForm == TargetOneHot {
		t := c.Target()
		if eps > 0 {
			t = Name(AddScalar(MulScalar(t, 1-eps), eps/float64(c.classesOrFail())), "target_smoothed")
		}
		l := Name(Neg(ReduceSum(Mul(MulMaybe(t, c.ClassWeightVec()), lp), false, 1)), "pixel_loss")
		return c.ReduceLoss(l, nil, false)
	}
	w := c.ClassWeightMap()
	valid := c.PixelValid()
	wnll := Name(MulMaybe(MulMaybe(nll(), w), valid), "weighted_nll")
	den := Name(MulMaybe(w, valid), "pixel_weight")
	if den == nil {
		den = valid
	}
	if p.MeanOver == param.MeanOverAll {
		den = nil // ReduceLoss's plain mean: every pixel counts
	}
	if eps == 0 {
		return c.ReduceLoss(wnll, den, false)
	}
	smooth := Name(MulMaybe(Neg(ReduceSum(MulMaybe(lp, c.ClassWeightVec()), false, 1)), valid), "smoothing_term")
	n := float64(c.classesOrFail())
	if c.Reduction == None {
		return Add(MulScalar(wnll, 1-eps), MulScalar(smooth, eps/n))
	}
	// Both terms share the reduction's denominator, so they are summed first.
	return c.ReduceLoss(Add(MulScalar(wnll, 1-eps), MulScalar(smooth, eps/n)), den, false)
}

// validateLabelSmoothing refuses label smoothing without a fixed class count.
func validateLabelSmoothing(c *Config, eps float64) error {
	if eps > 0 && c.Classes == 0 {
		return fmt.Errorf("label smoothing needs the number of classes: give --classes")
	}
	return nil
}
