package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Jaccard is the parameter set of the jaccard loss.
type Jaccard = param.Jaccard

var jaccard = Define(Spec{
	Name:    "jaccard",
	Family:  "region",
	Summary: "Soft Jaccard (IoU) loss with the Dice loss's conventions as parameters.",
	Description: "The soft Jaccard (intersection over union) loss 1 - (I + smooth_nr)/(Σp + Σt - I + smooth_dr), " +
		"with the same parameters as dice: smoothing and clamp, squared denominators, per-sample or batch " +
		"statistics, macro or micro averaging, absent classes, -log IoU, the L1 intersection for soft labels, " +
		"background and class weights. Presets reproduce segmentation_models_pytorch, MONAI and SemSegLoss " +
		"(kornia has no Jaccard loss). With the default smoothing an empty target with an empty prediction gives " +
		"loss 0.",
	Citation: "Rahman & Wang, Optimizing Intersection-Over-Union in Deep Neural Networks for Image Segmentation, ISVC 2016.",
	Formula:  "loss = 1 - (I + smooth_nr) / max(Σp + Σt - I + smooth_dr, eps), I = Σp·t or Σmin(p,t); squared: Σp², Σt²",
	Modes:    regionModes,
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch JaccardLoss(mode, smooth=0, eps=1e-7): (I + s)/clamp_min(I + fp + fn + s, eps) per class over batch and space with the L1 intersection, absent classes zeroed but counted in the class mean. Exact.",
			Values: map[string]string{"per_image": "false", "average": "macro", "smooth_nr": "0", "smooth_dr": "0", "eps": "1e-07",
				"absent_classes": "zero", "intersection": "l1", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "mean"}},
		{Name: "monai", Doc: "MONAI DiceLoss(jaccard=True): 1 - (2I + smooth_nr)/(2(Σp+Σt-I) + smooth_dr) per sample and class with 1e-5 smoothing, i.e. onnxloss's form with half of each smoothing term, 5e-6. " + monaiActNote,
			Values: map[string]string{"per_image": "true", "average": "macro", "smooth_nr": "5e-06", "smooth_dr": "5e-06", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
		{Name: "semsegloss", Doc: "SemSegLoss jacard_loss: 1 - Σpt/Σ(p + t - pt) over everything flattened, without smoothing. Where SemSegLoss divides 0 by 0 on an all-empty batch (NaN), the 1e-7 clamp gives loss 1 instead; elsewhere exact. SemSegLoss takes probabilities: --from-logits=false.",
			Values: map[string]string{"per_image": "false", "average": "micro", "smooth_nr": "0", "smooth_dr": "0", "eps": "1e-07",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0"}},
	},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		emptyValueNote,
		"Jaccard's smoothing convention differs between libraries: MONAI's jaccard=True adds its smoothing to 2I and 2(Σp+Σt-I), which is half the smoothing in this form (the monai preset sets 5e-6).",
		"segmentation_models_pytorch's Oct 2024 change to the L1 intersection leaves Jaccard numerically unchanged for hard labels.",
		"kornia has no Jaccard loss, so there is no kornia preset.",
		monaiActNote,
	},
	Variants: []Options{
		{"preset": "smp", "mode": "multiclass"}, {"preset": "monai", "mode": "multilabel"}, {"preset": "semsegloss"},
		{"mode": "multiclass", "squared": "true", "per_image": "false", "ignore_index": "0", "absent_classes": "skip"},
		{"mode": "multilabel", "intersection": "l1", "log_loss": "true", "class_weights": "1,2,3", "reduction": "sum"},
		{"mode": "multiclass", "average": "micro", "include_background": "false", "smooth_nr": "1", "smooth_dr": "1"},
	},
}, Funcs[Jaccard]{
	Build:     func(c *Ctx, p *Jaccard) *Value { return c.overlapLoss(&p.Overlap, jaccardIndex, nil) },
	PerSample: func(c *Config, p *Jaccard) bool { return overlapPerSample(c, &p.Overlap) },
	Reference: reference.Jaccard,
	Validate:  func(c *Config, p *Jaccard) error { return validateOverlap(c, &p.Overlap) },
})
