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
		"valid pixels; label smoothing mixes (1-ε)·NLL with ε/C times the weighted sum of -log p over classes; " +
		"one-hot or soft targets (--target onehot) follow PyTorch's probability-target rules (mean over pixels). " +
		"A batch whose pixels are all ignored gives 0, where PyTorch gives NaN.",
	Citation:    "Standard softmax cross-entropy; label smoothing from Szegedy et al., Rethinking the Inception Architecture, CVPR 2016.",
	Formula:     "l = (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_c w_c·(-log p_c), mean = Σ l / Σ w_y",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: pixelNone,
	Notes: []string{
		"PyTorch F.cross_entropy(weight=w, ignore_index=k, label_smoothing=e): --class-weights w --ignore-index k --label-smoothing e.",
		"segmentation_models_pytorch SoftCrossEntropyLoss divides by all pixels, ignored ones included; onnxloss follows PyTorch.",
	},
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch SoftCrossEntropyLoss(smooth_factor=s, ignore_index=-100): ignore_index -100 and label smoothing s (its default smooth_factor=None raises a TypeError, so give --label-smoothing). smp divides the mean by every pixel, ignored ones included, where onnxloss follows PyTorch and divides by the valid pixels: the values agree when no pixel is ignored and differ by the factor valid/all otherwise.",
			Values: map[string]string{"ignore_index": "-100", "label_smoothing": "0"}},
	},
	Variants: []Options{
		{"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "1"},
		{"classes": "4", "label_smoothing": "0.1", "ignore_index": "255"},
		{"classes": "3", "label_smoothing": "0.2", "class_weights": "1,0.5,2"},
		{"classes": "3", "target": "onehot", "label_smoothing": "0.1"},
		{"target": "onehot"},
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
	nll := Name(MulMaybe(MulMaybe(c.NLL(), w), valid), "weighted_nll")
	den := Name(MulMaybe(w, valid), "pixel_weight")
	if den == nil {
		den = valid
	}
	if eps == 0 {
		return c.ReduceLoss(nll, den, false)
	}
	smooth := Name(MulMaybe(Neg(ReduceSum(MulMaybe(lp, c.ClassWeightVec()), false, 1)), valid), "smoothing_term")
	n := float64(c.classesOrFail())
	if c.Reduction == None {
		return Add(MulScalar(nll, 1-eps), MulScalar(smooth, eps/n))
	}
	// Both terms share the reduction's denominator, so they are summed first.
	return c.ReduceLoss(Add(MulScalar(nll, 1-eps), MulScalar(smooth, eps/n)), den, false)
}

// validateLabelSmoothing refuses label smoothing without a fixed class count.
func validateLabelSmoothing(c *Config, eps float64) error {
	if eps > 0 && c.Classes == 0 {
		return fmt.Errorf("label smoothing needs the number of classes: give --classes")
	}
	return nil
}
