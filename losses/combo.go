package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Combo is the parameter set of the combo loss.
type Combo = param.Combo

var combo = Define(Spec{
	Name:    "combo",
	Family:  "region",
	Summary: "Combo loss (Taghanaki): α·weighted cross-entropy + (1-α)·Dice loss, β weighing positives inside the cross-entropy.",
	Description: "The combo loss mixes a β-weighted binary cross-entropy, -(β·t·log p + (1-β)(1-t)·log(1-p)) averaged " +
		"over every entry (every channel, softmax probabilities in multiclass mode), with the Dice loss: " +
		"α·CE + (1-α)·(1 - Dice). β > 0.5 penalises false negatives more, β < 0.5 false positives. The paper " +
		"subtracts the Dice score itself; 1 - Dice differs by the constant 1-α and keeps the loss non-negative. " +
		"log p and log(1-p) are computed from logits without cancellation and clamped at log 2^-126. The Dice term " +
		"takes the dice loss's parameters; with the default smoothing an empty target with an empty prediction " +
		"gives a Dice term of 0 and a cross-entropy that goes to 0 as the prediction saturates.",
	Citation:    "Taghanaki, Zheng, Zhou, Georgescu, Sharma, Xu, Comaniciu & Hamarneh, Combo loss: Handling input and output imbalance in multi-organ segmentation, Computerized Medical Imaging and Graphics 2019.",
	Formula:     "loss = α·mean(-(β t log p + (1-β)(1-t) log(1-p))) + (1-α)·(1 - Dice)",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	Reductions: compoundReductions,
	Notes: []string{
		compoundReductionNote,
		"Class weights multiply each channel's cross-entropy and enter the Dice term's class mean.",
		"SemSegLoss lists the combo loss in its README without implementing it.",
	},
	Variants: []Options{
		{"alpha": "0.3", "beta": "0.8", "mode": "multiclass", "ignore_index": "1"},
		{"alpha": "0.9", "beta": "0.2", "mode": "multilabel", "class_weights": "1,2,0.5", "per_image": "false"},
		{"mode": "multiclass", "target": "onehot", "beta": "0.7"},
	},
}, Funcs[Combo]{
	Build: func(c *Ctx, p *Combo) *Value {
		dice := c.overlapLoss(&p.Overlap, diceIndex, nil)
		l, den := comboCE(c, p.Beta)
		return Add(MulScalar(c.ReduceLoss(l, den, true), p.Alpha), MulScalar(dice, 1-p.Alpha))
	},
	Reference: reference.Combo,
	Validate:  func(c *Config, p *Combo) error { return validateOverlap(c, &p.Overlap) },
	PerSample: func(c *Config, p *Combo) bool { return overlapPerSample(c, &p.Overlap) },
})

// comboCE is Taghanaki et al.'s β-weighted binary cross-entropy per entry,
// -(β·t·log p + (1-β)·(1-t)·log(1-p)), over every channel (softmax
// probabilities in multiclass mode), zero at ignored entries.
func comboCE(c *Ctx, beta float64) (l, den *Value) {
	t := c.Target()
	var logP, log1mP *Value
	// log(1-p) and its term come first: ONNX Runtime runs the inputs of a
	// node last created first, so the log-probabilities, made after, are
	// taken while the softmax's shifted logits are still at hand instead
	// of held through the complement (at 8×21×256×256, the peak goes from
	// 8.7 to 7.8 times the input bytes).
	switch {
	case c.Mode == Multiclass:
		log1mP = ClampedLog(c.complementProbs())
		logP = c.LogProbs()
	case c.FromLogits:
		l = c.weightedLogistic(MulScalar(t, beta), MulScalar(OneMinus(t), 1-beta))
	default:
		logP, log1mP = c.LogSigmoids()
	}
	if l == nil {
		neg := MulScalar(Mul(OneMinus(t), log1mP), 1-beta)
		l = Neg(Add(MulScalar(Mul(t, logP), beta), neg))
	}
	l = MulMaybe(MulMaybe(l, c.ClassWeightVec()), c.Valid())
	if v := c.Valid(); v != nil {
		den = ExpandAs(v, l)
	}
	return l, den
}
