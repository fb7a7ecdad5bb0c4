package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// AsymmetricSimilarity is the parameter set of the asymmetric-similarity loss.
type AsymmetricSimilarity = param.AsymmetricSimilarity

var asymmetricSimilarity = Define(Spec{
	Name:    "asymmetric-similarity",
	Family:  "region",
	Summary: "Asymmetric similarity loss: 1 - F_β score, β > 1 weighing recall over precision.",
	Description: "Hashemi et al.'s asymmetric similarity loss is one minus the soft F_β score " +
		"(1+β²)TP/((1+β²)TP + β²FN + FP): β > 1 penalises false negatives more than false positives, for highly " +
		"unbalanced data such as small lesions. It is the Tversky loss with α = 1/(1+β²) on false positives and " +
		"β²/(1+β²) on false negatives, and shares its conventions. With the default smoothing an empty target " +
		"with an empty prediction gives loss 0.",
	Citation:    "Hashemi, Salehi, Erdogmus, Prabhu, Warfield & Gholipour, Asymmetric Loss Functions and Deep Densely-Connected Networks for Highly-Imbalanced Medical Image Segmentation: Application to Multiple Sclerosis Lesion Detection, IEEE Access 2019.",
	Formula:     "loss = 1 - (I + smooth_nr) / max(I + FP/(1+β²) + β²FN/(1+β²) + smooth_dr, eps)",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		emptyValueNote,
		"SegLoss's AsymLoss computes the same ratio with weight w = β²/(1+β²) on false negatives and 1-w on false positives, with smooth 1 and per-sample statistics by default.",
		"segmentation_models_pytorch's deprecated utils.losses f_score has a beta too, with eps = 1 in numerator and denominator over all channels at once.",
	},
	Variants: []Options{
		{"beta": "2", "mode": "multiclass", "per_image": "false", "absent_classes": "zero"},
		{"beta": "0.5", "mode": "multilabel", "intersection": "l1", "smooth_nr": "1", "smooth_dr": "1"},
	},
}, Funcs[AsymmetricSimilarity]{
	Build: func(c *Ctx, p *AsymmetricSimilarity) *Value {
		b2 := p.Beta * p.Beta
		return c.overlapLoss(&p.Overlap, tverskyIndex(1/(1+b2), b2/(1+b2)), nil)
	},
	Reference: reference.AsymmetricSimilarity,
	Validate:  func(c *Config, p *AsymmetricSimilarity) error { return validateOverlap(c, &p.Overlap) },
	PerSample: func(c *Config, p *AsymmetricSimilarity) bool { return overlapPerSample(c, &p.Overlap) },
})
