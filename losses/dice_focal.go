package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// DiceFocal is the parameter set of the dice-focal loss.
type DiceFocal = param.DiceFocal

var diceFocal = Define(Spec{
	Name:    "dice-focal",
	Family:  "region",
	Summary: "Dice + focal (MONAI DiceFocalLoss): λ_dice·Dice loss + λ_focal·focal loss.",
	Description: "λ_dice times the Dice loss plus λ_focal times onnxloss's focal loss: sigmoid focal in binary and " +
		"multilabel mode, softmax focal in multiclass mode, with the modulation computed in log space (no NaN for " +
		"γ < 1 or saturated logits). Both terms share the activations; class weights feed both. With the default " +
		"smoothing an empty target with an empty prediction gives a Dice term of 0 and a focal term that goes to " +
		"0 as the prediction saturates.",
	Citation:    "Zhu et al., AnatomyNet: Deep learning for fast and fully automated whole-volume segmentation of head and neck anatomy, Medical Physics 2019 (Dice + focal); Lin et al., Focal Loss for Dense Object Detection, ICCV 2017.",
	Formula:     "loss = λ_dice·(1 - Dice) + λ_focal·focal",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: false,
	Reductions: compoundReductions,
	Notes: []string{
		compoundReductionNote,
		"MONAI's DiceFocalLoss never passes use_softmax to its focal term, so the focal term is the sigmoid form even with softmax=True for the Dice term. onnxloss's multiclass focal term is the softmax form; MONAI's numbers with sigmoid=True come from --mode multilabel with one-hot targets, while its softmax=True combination (softmax Dice, sigmoid focal) has no equivalent here.",
		"MONAI's FocalLoss mean divides by every entry of [N,C,*] (mean_over all, per channel); in multiclass mode onnxloss's softmax focal term is per pixel.",
	},
	Variants: []Options{
		{"mode": "multiclass", "classes": "3", "gamma": "0.5", "alpha": "0.25", "ignore_index": "0", "per_image": "false"},
		{"mode": "multilabel", "gamma": "1", "alpha": "0.2,0.5,0.8", "class_weights": "1,2,1", "lambda_focal": "3"},
		{"mode": "binary", "normalized": "true", "reduction": "sum", "log_loss": "true"},
	},
}, Funcs[DiceFocal]{
	Build: func(c *Ctx, p *DiceFocal) *Value {
		dice := c.overlapLoss(&p.Overlap, diceIndex, nil)
		return Add(MulScalar(dice, p.LambdaDice), MulScalar(buildFocal(c, &p.FocalTerm), p.LambdaFocal))
	},
	Reference: reference.DiceFocal,
	Validate: func(c *Config, p *DiceFocal) error {
		if err := validateFocal(c, &p.FocalTerm); err != nil {
			return err
		}
		return validateOverlap(c, &p.Overlap)
	},
	// Normalised by the batch's Σ modulation, the focal term ties the samples together.
	PerSample: func(c *Config, p *DiceFocal) bool {
		return !p.FocalTerm.Normalized && overlapPerSample(c, &p.Overlap)
	},
})
