package losses

import (
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// LogCoshDice is the parameter set of the log-cosh-dice loss.
type LogCoshDice = param.LogCoshDice

var logCoshDice = Define(Spec{
	Name:    "log-cosh-dice",
	Family:  "region",
	Summary: "Log-cosh Dice loss: log(cosh(Dice loss)), a smoothed Dice loss.",
	Description: "Jadon's log-cosh Dice loss applies log(cosh(x)) to the Dice loss of each entry (per sample and " +
		"class by default) before the average; log cosh behaves like x²/2 near 0 and like |x| - log 2 far from " +
		"it, which tames the Dice loss's gradient. It is computed as |x| + log(1 + e^(-2|x|)) - log 2, stable for " +
		"every x. The Dice part takes the dice loss's parameters; SemSegLoss applies it to one Dice over " +
		"everything flattened (--per-image=false --smooth-nr 1 --smooth-dr 1, and --average micro where there are several channels). With the default " +
		"smoothing an empty target with an empty prediction gives loss 0.",
	Citation:    "Jadon, A survey of loss functions for semantic segmentation, IEEE CIBCB 2020.",
	Formula:     "loss = mean log(cosh(1 - D)), log cosh x = |x| + log(1 + e^(-2|x|)) - log 2, D the Dice score",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		emptyValueNote,
		"SemSegLoss's log_cosh_dice_loss computes log((e^L + e^-L)/2) directly, which overflows for large L; here L ≤ 1 unless smooth_nr > smooth_dr, and the form used never overflows.",
	},
	Variants: []Options{
		{"mode": "multilabel", "per_image": "false", "average": "micro", "smooth_nr": "1", "smooth_dr": "1"},
		{"mode": "multiclass", "absent_classes": "skip", "ignore_index": "1", "include_background": "false"},
		{"mode": "multilabel", "squared": "true", "class_weights": "1,3,1", "reduction": "none"},
	},
}, Funcs[LogCoshDice]{
	Build:     func(c *Ctx, p *LogCoshDice) *Value { return c.overlapLoss(&p.Overlap, diceIndex, logCosh) },
	PerSample: func(c *Config, p *LogCoshDice) bool { return overlapPerSample(c, &p.Overlap) },
	Reference: reference.LogCoshDice,
	Validate:  func(c *Config, p *LogCoshDice) error { return validateOverlap(c, &p.Overlap) },
})

// logCosh is log(cosh(x)) written as |x| + log(1 + e^(-2|x|)) - log 2, which
// neither overflows nor loses precision for large |x|.
func logCosh(x *Value) *Value {
	a := Abs(x)
	return AddScalar(Add(a, Log(AddScalar(Exp(MulScalar(a, -2)), 1))), -math.Ln2)
}
