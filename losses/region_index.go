package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
)

var (
	tverskyAlphaParam = Param{Name: "alpha", Kind: KindFloat, Default: 0.3, Min: fptr(0),
		Doc: "weight of false positives Σp(1-t) (Salehi et al.'s best 0.3; SegLoss and SemSegLoss 0.3; segmentation_models_pytorch and MONAI 0.5)"}
	tverskyBetaParam = Param{Name: "beta", Kind: KindFloat, Default: 0.7, Min: fptr(0),
		Doc: "weight of false negatives Σ(1-p)t (Salehi et al.'s best 0.7; SegLoss and SemSegLoss 0.7; segmentation_models_pytorch and MONAI 0.5)"}
)

// logCosh is log(cosh(x)) written as |x| + log(1 + e^(-2|x|)) - log 2, which
// neither overflows nor loses precision for large |x|.
func logCosh(x *Value) *Value {
	a := Abs(x)
	return AddScalar(Add(a, Log(AddScalar(Exp(MulScalar(a, -2)), 1))), -math.Ln2)
}

func init() {
	Register(&Spec{
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
		Params:   overlapParams(),
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
		Validate:  validateRegion,
		Build:     func(c *Ctx) *Value { return c.overlapLoss(jaccardIndex, nil) },
		Reference: reference.Jaccard,
		Variants: []Options{
			{"preset": "smp", "mode": "multiclass"}, {"preset": "monai", "mode": "multilabel"}, {"preset": "semsegloss"},
			{"mode": "multiclass", "squared": "true", "per_image": "false", "ignore_index": "0", "absent_classes": "skip"},
			{"mode": "multilabel", "intersection": "l1", "log_loss": "true", "class_weights": "1,2,3", "reduction": "sum"},
			{"mode": "multiclass", "average": "micro", "include_background": "false", "smooth_nr": "1", "smooth_dr": "1"},
		},
	})

	Register(&Spec{
		Name:    "tversky",
		Family:  "region",
		Summary: "Tversky loss: α weighs false positives, β false negatives.",
		Description: "The Tversky loss 1 - (I + smooth_nr)/(I + α·FP + β·FN + smooth_dr) with soft FP = Σp - I and " +
			"FN = Σt - I. α = β = 0.5 is Dice and α = β = 1 Jaccard; β > α penalises missed foreground more, which " +
			"favours recall on small structures. It shares the Dice loss's conventions (smoothing, per-sample or " +
			"batch, macro or micro, absent classes, L1 intersection, background, class weights), and presets " +
			"reproduce segmentation_models_pytorch, MONAI, kornia and SemSegLoss. With the default smoothing an " +
			"empty target with an empty prediction gives loss 0.",
		Citation: "Salehi, Erdogmus & Gholipour, Tversky loss function for image segmentation using 3D fully convolutional deep networks, MLMI 2017.",
		Formula:  "loss = 1 - (I + smooth_nr) / max(I + α(Σp - I) + β(Σt - I) + smooth_dr, eps)",
		Modes:    regionModes,
		Params:   overlapParams(tverskyAlphaParam, tverskyBetaParam),
		Presets: []Preset{
			{Name: "smp", Doc: "segmentation_models_pytorch TverskyLoss(mode, alpha=0.5, beta=0.5, gamma=1.0, smooth=0, eps=1e-7): batch statistics per class, L1 intersection, absent classes zeroed but counted. Its gamma raises the class mean to a power; with the default 1 it does nothing, other values are the focal-tversky loss with --gamma-on mean. Exact.",
				Values: map[string]string{"alpha": "0.5", "beta": "0.5", "per_image": "false", "average": "macro", "smooth_nr": "0", "smooth_dr": "0", "eps": "1e-07",
					"absent_classes": "zero", "intersection": "l1", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "mean"}},
			{Name: "monai", Doc: "MONAI TverskyLoss() defaults: alpha = beta = 0.5, smooth_nr = smooth_dr = 1e-5, per sample and class, product intersection, background included, mean. " + monaiActNote,
				Values: map[string]string{"alpha": "0.5", "beta": "0.5", "per_image": "true", "average": "macro", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
					"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
			{Name: "kornia", Doc: "kornia TverskyLoss(alpha, beta) (multiclass only; alpha and beta are required, give them): one micro-averaged score per sample, I/(I + α·FP + β·FN + 1e-8), ignore_index -100, mean over the batch. In the micro average the summed false positives equal the summed false negatives (every valid pixel has probability 1 and one label), so only α+β matters: this preset reproduces that property of kornia; use --average macro for an asymmetric weighting.",
				Values: map[string]string{"per_image": "true", "average": "micro", "smooth_nr": "0", "smooth_dr": "1e-08", "eps": "0", "target_eps": "0",
					"ignore_index": "-100", "absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true"}},
			{Name: "semsegloss", Doc: "SemSegLoss tversky_loss: (tp + 1)/(tp + 0.7·fn + 0.3·fp + 1) over everything flattened, loss 1 - TI. SemSegLoss takes probabilities: --from-logits=false.",
				Values: map[string]string{"alpha": "0.3", "beta": "0.7", "per_image": "false", "average": "micro", "smooth_nr": "1", "smooth_dr": "1", "eps": "0",
					"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0"}},
		},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone,
		Notes: []string{
			emptyValueNote,
			"The parameter names follow Salehi et al. and MONAI: alpha multiplies false positives, beta false negatives. Abraham & Khan write the opposite (their α multiplies false negatives).",
			"kornia's TverskyLoss is micro-averaged over classes, where Σ FP = Σ FN, so its α and β act only through α+β; the kornia preset reproduces this, and the default macro average keeps the asymmetry.",
			"segmentation_models_pytorch's TverskyLoss has a gamma that raises the class mean to a power: that is focal-tversky --gamma-on mean.",
			monaiActNote,
		},
		Validate:  validateTversky,
		Build:     func(c *Ctx) *Value { return c.overlapLoss(tverskyIndex(c.Float("alpha"), c.Float("beta")), nil) },
		Reference: reference.Tversky,
		Variants: []Options{
			{"preset": "smp", "mode": "multilabel"}, {"preset": "monai", "mode": "multiclass"}, {"preset": "kornia", "mode": "multiclass", "alpha": "0.2", "beta": "0.9"},
			{"preset": "semsegloss", "from_logits": "false"},
			{"mode": "multiclass", "alpha": "0.8", "beta": "0.1", "absent_classes": "zero", "per_image": "false", "ignore_index": "3", "classes": "4"},
			{"mode": "multilabel", "alpha": "0.6", "beta": "0.4", "squared": "true", "class_weights": "2,1,1", "class_weighting": "scale"},
			{"mode": "binary", "alpha": "1", "beta": "0", "intersection": "l1", "log_loss": "true", "eps": "1e-4"},
		},
	})

	Register(&Spec{
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
		Citation: "Abraham & Khan, A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion Segmentation, ISBI 2019.",
		Formula:  "class: mean_c (1 - TI_c)^γ; mean: (mean_c (1 - TI_c))^γ; TI = (I + smooth_nr) / max(I + α·FP + β·FN + smooth_dr, eps)",
		Modes:    regionModes,
		Params: overlapParams(tverskyAlphaParam, tverskyBetaParam,
			Param{Name: "gamma", Kind: KindFloat, Default: 0.75, Min: fptr(0), MinExclusive: true,
				Doc: "exponent γ (Abraham & Khan 0.75, their 1/γ with γ = 4/3; SegLoss and SemSegLoss 0.75; segmentation_models_pytorch 1)"},
			Param{Name: "gamma_on", Kind: KindEnum, Default: "class", Choices: []string{"class", "mean"},
				Doc: "class: (1 - TI_c)^γ for each class, then the mean (Abraham & Khan); mean: the reduced mean raised to γ (segmentation_models_pytorch TverskyLoss gamma, SegLoss FocalTversky_loss); mean needs --reduction mean"}),
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone + "; with gamma_on=class each entry is already raised to γ",
		Notes: []string{
			emptyValueNote,
			"segmentation_models_pytorch TverskyLoss(alpha=a, beta=b, gamma=g) is --gamma-on mean --gamma g --alpha a --beta b --per-image=false --smooth-nr 0 --smooth-dr 0 --eps 1e-7 --absent-classes zero --intersection l1 (its tversky preset plus the exponent).",
			"SemSegLoss focal_tversky is (1 - TI)^0.75 with TI over everything flattened: --per-image=false --average micro --smooth-nr 1 --smooth-dr 1 (α 0.3, β 0.7, γ 0.75 are the defaults).",
			"MONAI's AsymmetricFocalTverskyLoss is a different, binary-only loss (background 1 - d, foreground (1 - d)^(1-γ)); it is not this loss.",
		},
		Validate: func(c *Config) error {
			if c.Enum("gamma_on") == "mean" && c.Reduction != "mean" {
				return fmt.Errorf("gamma_on=mean raises the mean loss to gamma: it needs --reduction mean")
			}
			return validateTversky(c)
		},
		Build: func(c *Ctx) *Value {
			ix := tverskyIndex(c.Float("alpha"), c.Float("beta"))
			gamma := c.Float("gamma")
			if c.Enum("gamma_on") == "mean" {
				return powFloor(c.overlapLoss(ix, nil), gamma)
			}
			return c.overlapLoss(ix, func(l *Value) *Value { return powFloor(l, gamma) })
		},
		Reference: reference.FocalTversky,
		Variants: []Options{
			{"gamma": "0.5", "mode": "multiclass", "ignore_index": "0"},
			{"gamma_on": "mean", "gamma": "2", "mode": "multilabel", "per_image": "false", "absent_classes": "zero"},
			{"gamma": "1.5", "average": "micro", "mode": "multiclass", "classes": "3", "class_weights": "1,2,3"},
			{"gamma": "0.3", "log_loss": "true", "mode": "binary", "reduction": "none"},
		},
	})

	Register(&Spec{
		Name:    "log-cosh-dice",
		Family:  "region",
		Summary: "Log-cosh Dice loss: log(cosh(Dice loss)), a smoothed Dice loss.",
		Description: "Jadon's log-cosh Dice loss applies log(cosh(x)) to the Dice loss of each entry (per sample and " +
			"class by default) before the average; log cosh behaves like x²/2 near 0 and like |x| - log 2 far from " +
			"it, which tames the Dice loss's gradient. It is computed as |x| + log(1 + e^(-2|x|)) - log 2, stable for " +
			"every x. The Dice part takes the dice loss's parameters; SemSegLoss applies it to one Dice over " +
			"everything flattened (--per-image=false --average micro --smooth-nr 1 --smooth-dr 1). With the default " +
			"smoothing an empty target with an empty prediction gives loss 0.",
		Citation: "Jadon, A survey of loss functions for semantic segmentation, IEEE CIBCB 2020.",
		Formula:  "loss = mean log(cosh(1 - D)), log cosh x = |x| + log(1 + e^(-2|x|)) - log 2, D the Dice score",
		Modes:    regionModes,
		Params: []Param{smoothNrParam, smoothDrParam, epsParam, squaredParam, perImageParam, averageParam, absentParam,
			intersectionParam, backgroundParam, targetEpsParam, weightingParam},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone,
		Notes: []string{
			emptyValueNote,
			"SemSegLoss's log_cosh_dice_loss computes log((e^L + e^-L)/2) directly, which overflows for large L; here L ≤ 1 unless smooth_nr > smooth_dr, and the form used never overflows.",
		},
		Validate:  validateRegion,
		Build:     func(c *Ctx) *Value { return c.overlapLoss(diceIndex, logCosh) },
		Reference: reference.LogCoshDice,
		Variants: []Options{
			{"per_image": "false", "average": "micro", "smooth_nr": "1", "smooth_dr": "1"},
			{"mode": "multiclass", "absent_classes": "skip", "ignore_index": "1", "include_background": "false"},
			{"mode": "multilabel", "squared": "true", "class_weights": "1,3,1", "reduction": "none"},
		},
	})

	Register(&Spec{
		Name:    "asymmetric-similarity",
		Family:  "region",
		Summary: "Asymmetric similarity loss: 1 - F_β score, β > 1 weighing recall over precision.",
		Description: "Hashemi et al.'s asymmetric similarity loss is one minus the soft F_β score " +
			"(1+β²)TP/((1+β²)TP + β²FN + FP): β > 1 penalises false negatives more than false positives, for highly " +
			"unbalanced data such as small lesions. It is the Tversky loss with α = 1/(1+β²) on false positives and " +
			"β²/(1+β²) on false negatives, and shares its conventions. With the default smoothing an empty target " +
			"with an empty prediction gives loss 0.",
		Citation: "Hashemi, Salehi, Erdogmus, Prabhu, Warfield & Gholipour, Asymmetric Loss Functions and Deep Densely-Connected Networks for Highly-Imbalanced Medical Image Segmentation: Application to Multiple Sclerosis Lesion Detection, IEEE Access 2019.",
		Formula:  "loss = 1 - (I + smooth_nr) / max(I + FP/(1+β²) + β²FN/(1+β²) + smooth_dr, eps)",
		Modes:    regionModes,
		Params: overlapParams(Param{Name: "beta", Kind: KindFloat, Default: 1.5, Min: fptr(0),
			Doc: "β of F_β: weight of recall relative to precision (SegLoss's AsymLoss 1.5; 1 gives Dice)"}),
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: regionNone,
		Notes: []string{
			emptyValueNote,
			"SegLoss's AsymLoss computes the same ratio with weight w = β²/(1+β²) on false negatives and 1-w on false positives, with smooth 1 and per-sample statistics by default.",
			"segmentation_models_pytorch's deprecated utils.losses f_score has a beta too, with eps = 1 in numerator and denominator over all channels at once.",
		},
		Validate: validateRegion,
		Build: func(c *Ctx) *Value {
			b2 := c.Float("beta") * c.Float("beta")
			return c.overlapLoss(tverskyIndex(1/(1+b2), b2/(1+b2)), nil)
		},
		Reference: reference.AsymmetricSimilarity,
		Variants: []Options{
			{"beta": "2", "mode": "multiclass", "per_image": "false", "absent_classes": "zero"},
			{"beta": "0.5", "mode": "multilabel", "intersection": "l1", "smooth_nr": "1", "smooth_dr": "1"},
		},
	})
}
