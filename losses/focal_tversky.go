package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// FocalTversky is the parameter set of the focal-tversky loss.
type FocalTversky = param.FocalTversky

var focalTversky = Define(Spec{
	Name:    "focal-tversky",
	Family:  "region",
	Summary: "Focal Tversky loss: the Tversky loss raised to γ per class (Abraham & Khan), or its class mean raised to γ.",
	Description: "The focal Tversky loss raises each class's Tversky loss (1 - TI_c) to the power γ before the class " +
		"mean, so with γ < 1 classes that are already well segmented still pull on the gradient and hard, small " +
		"structures are emphasised. Abraham & Khan write the exponent as 1/γ with γ = 4/3, i.e. 0.75 here. " +
		"gamma_on=mean instead raises the (reduced) mean loss to γ, as segmentation_models_pytorch's " +
		"TverskyLoss(gamma) and SegLoss's FocalTversky_loss do. The power is taken of max(loss, 2^-126), so a " +
		"perfect class gives 0 with a finite gradient. It shares the Tversky loss's conventions; with the default " +
		"smoothing an empty target with an empty prediction gives loss 0.",
	Citation:    "Abraham & Khan, A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion Segmentation, ISBI 2019.",
	Formula:     "class: mean_c (1 - TI_c)^γ; mean: (mean_c (1 - TI_c))^γ; TI = (I + smooth_nr) / max(I + α·FP + β·FN + smooth_dr, eps)",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone + "; with gamma_on=class each entry is already raised to γ",
	Notes: []string{
		emptyValueNote,
		"segmentation_models_pytorch TverskyLoss(alpha=a, beta=b, gamma=g) is --gamma-on mean --gamma g --alpha a --beta b --per-image=false --smooth-nr 0 --smooth-dr 0 --eps 1e-7 --absent-classes zero --intersection l1 (its tversky preset plus the exponent).",
		"SemSegLoss focal_tversky is (1 - TI)^0.75 with TI over everything flattened: --per-image=false --smooth-nr 1 --smooth-dr 1, and --average micro where there are several channels (α 0.3, β 0.7, γ 0.75 are the defaults).",
		"MONAI's AsymmetricFocalTverskyLoss is a different, binary-only loss (background 1 - d, foreground (1 - d)^(1-γ)); it is not this loss.",
	},
	Variants: []Options{
		{"gamma": "0.5", "mode": "multiclass", "ignore_index": "0"},
		{"gamma_on": "mean", "gamma": "2", "mode": "multilabel", "per_image": "false", "absent_classes": "zero"},
		{"gamma": "1.5", "average": "micro", "mode": "multiclass", "classes": "3", "class_weights": "1,2,3"},
		{"gamma": "0.3", "log_loss": "true", "mode": "binary", "reduction": "none"},
	},
}, Funcs[FocalTversky]{
	Build: buildFocalTversky,
	// γ on the mean raises the batch's mean: no per-sample form.
	PerSample: func(c *Config, p *FocalTversky) bool {
		return p.GammaOn != param.GammaOnMean && overlapPerSample(c, &p.Overlap)
	},
	Reference: reference.FocalTversky,
	Validate: func(c *Config, p *FocalTversky) error {
		if p.GammaOn == param.GammaOnMean && c.Reduction != Mean {
			return fmt.Errorf("gamma_on=mean raises the mean loss to gamma: it needs --reduction mean")
		}
		return validateTversky(c, &p.Overlap, &p.TverskyWeights)
	},
})

// buildFocalTversky raises each entry's Tversky loss to γ before the
// reduction, or the reduced mean after it.
func buildFocalTversky(c *Ctx, p *FocalTversky) *Value {
	ix := tverskyIndex(p.Alpha, p.Beta)
	if p.GammaOn == param.GammaOnMean {
		return powFloor(c.overlapLoss(&p.Overlap, ix, nil), p.Gamma)
	}
	return c.overlapLoss(&p.Overlap, ix, func(l *Value) *Value { return powFloor(l, p.Gamma) })
}
