package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// BCE is the parameter set of the bce loss.
type BCE = param.BCE

var bce = Define(Spec{
	Name:    "bce",
	Family:  "cross-entropy",
	Summary: "Binary cross-entropy with logits, per channel.",
	Description: "Binary cross-entropy between each channel's prediction and a (possibly soft) target, " +
		"computed from logits in the form that never overflows. pos_weight scales the positive term per channel " +
		"as in PyTorch's BCEWithLogitsLoss; label_smoothing moves hard targets towards 0.5 as " +
		"segmentation_models_pytorch's SoftBCEWithLogitsLoss does; class_weights multiply each channel's loss " +
		"(PyTorch's weight argument: the mean still divides by the number of entries).",
	Citation:    "Standard logistic loss; stable form as in PyTorch's BCEWithLogitsLoss.",
	Formula:     "l = pw·t·(relu(-x) + log(1+e^-|x|)) + (1-t)·(relu(x) + log(1+e^-|x|)), t' = t(1-s) + (1-t)s",
	Modes:       []Mode{Binary, Multilabel},
	IgnoreIndex: true, ClassWeights: true,
	NoneShape: elementwiseNone,
	Notes: []string{
		"segmentation_models_pytorch SoftBCEWithLogitsLoss(ignore_index=-100, smooth_factor=s): --ignore-index -100 --label-smoothing s --mean-over all.",
		"PyTorch BCEWithLogitsLoss(pos_weight=p, weight=w): --pos-weight p --class-weights w.",
	},
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch SoftBCEWithLogitsLoss() defaults: ignore_index -100, and a mean over every entry with ignored ones included (mean_over all); its smooth_factor s is --label-smoothing s and pos_weight --pos-weight. Exact.",
			Values: map[string]string{"ignore_index": "-100", "mean_over": "all", "label_smoothing": "0", "pos_weight": ""}},
		{Name: "keras", Doc: "Keras 3 keras.losses.BinaryCrossentropy() defaults: channels-last probabilities (from_logits=False), probabilities clipped to [1e-7, 1-1e-7] before the logs (prob_clip; in float32 the upper bound is 1-2^-23, so an entry costs at most 16.12 for p = 0 and 15.94 for p = 1), the mean over every entry (Keras's per-pixel mean over the last axis, then over the batch and space). from_logits=True is --from-logits=true, computed in the same stable logit form as TensorFlow's sigmoid_cross_entropy_with_logits. Keras's label_smoothing s moves targets to t(1-s) + s/2, which is --label-smoothing s/2 here. Keras has no ignore index, class weights or pos_weight. Exact.",
			Values: map[string]string{"layout": "nhwc", "from_logits": "false", "prob_clip": "1e-07", "label_smoothing": "0", "pos_weight": ""}},
	},
	Variants: []Options{
		{"pos_weight": "2.5"}, {"label_smoothing": "0.1"}, {"ignore_index": "-100", "mean_over": "all"},
		{"preset": "keras"}, {"from_logits": "false", "prob_clip": "0.01", "pos_weight": "2", "ignore_index": "2"},
	},
}, Funcs[BCE]{
	Build:     func(c *Ctx, p *BCE) *Value { return buildBCE(c, &p.BCETerm) },
	Reference: reference.BCE,
	Validate:  func(c *Config, p *BCE) error { return validatePosWeight(c, p.PosWeight) },
	PerSample: func(c *Config, p *BCE) bool { return elementwisePerSample(c) },
})

// buildBCE writes binary cross-entropy per entry with the term's options.
func buildBCE(c *Ctx, b *param.BCETerm) *Value {
	t := smoothTarget(c, b.LabelSmoothing)
	var l *Value
	pw := b.PosWeight
	switch clip := b.ProbClip > 0 && !c.FromLogits; {
	case pw != nil && c.FromLogits:
		l = c.weightedLogistic(Mul(channelConst(c, pw), t), OneMinus(t))
	case clip || pw != nil:
		logP, log1mP := c.LogSigmoids()
		if clip {
			logP, log1mP = c.clippedLogSigmoids(b.ProbClip)
		}
		pos := Mul(t, logP)
		if pw != nil {
			pos = Mul(channelConst(c, pw), pos)
		}
		l = Neg(Add(pos, Mul(OneMinus(t), log1mP)))
	default:
		l = c.BCE(t)
	}
	return reduceElementwise(c, MulMaybe(l, c.ClassWeightVec()), b.MeanOver)
}
