package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// WeightedBCE is the parameter set of the weighted-bce loss.
type WeightedBCE = param.WeightedBCE

var weightedBCE = Define(Spec{
	Name:    "weighted-bce",
	Family:  "cross-entropy",
	Summary: "β-weighted binary cross-entropy: β scales the positive term.",
	Description: "The weighted cross-entropy of the segmentation-loss surveys: the positive (foreground) term is " +
		"multiplied by β, so β > 1 penalises false negatives more and β < 1 false positives. It is bce with a " +
		"single pos_weight, kept under its survey name.",
	Citation:    "Pihur, Datta & Datta, Weighted rank aggregation of cluster validation measures, Bioinformatics 2007; survey form in Jadon, A survey of loss functions for semantic segmentation, CIBCB 2020.",
	Formula:     "l = -(β·t·log σ(x) + (1-t)·log(1-σ(x)))",
	Modes:       []Mode{Binary, Multilabel},
	IgnoreIndex: true, ClassWeights: true,
	NoneShape: elementwiseNone,
	Notes:     []string{"SemSegLoss's weighted_cross_entropyloss uses pos_weight = β/(1-β) with β = 0.25, which down-weights positives (pos_weight 1/3); here β is the positive weight itself."},
	Variants:  []Options{{"beta": "3"}, {"beta": "0.2", "ignore_index": "2"}},
}, Funcs[WeightedBCE]{
	Build: func(c *Ctx, p *WeightedBCE) *Value {
		t := c.Target()
		var l *Value
		switch {
		case c.FromLogits && p.Beta == 1:
			l = c.BCE(t)
		case c.FromLogits:
			l = c.weightedLogistic(MulScalar(t, p.Beta), OneMinus(t))
		default:
			logP, log1mP := c.LogSigmoids()
			l = Neg(Add(MulScalar(Mul(t, logP), p.Beta), Mul(OneMinus(t), log1mP)))
		}
		return reduceElementwise(c, MulMaybe(l, c.ClassWeightVec()), p.MeanOver)
	},
	Reference: reference.WeightedBCE,
	PerSample: func(c *Config, p *WeightedBCE) bool { return elementwisePerSample(c) },
})
