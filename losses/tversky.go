package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Tversky is the parameter set of the tversky loss.
type Tversky = param.Tversky

var tversky = Define(Spec{
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
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch TverskyLoss(mode, alpha=0.5, beta=0.5, gamma=1.0, smooth=0, eps=1e-7): batch statistics per class, L1 intersection, absent classes zeroed but counted. Its gamma raises the class mean to a power; with the default 1 it does nothing, other values are the focal-tversky loss with --gamma-on mean. Exact.",
			Values: map[string]string{"alpha": "0.5", "beta": "0.5", "per_image": "false", "average": "macro", "smooth_nr": "0", "smooth_dr": "0", "eps": "1e-07",
				"absent_classes": "zero", "intersection": "l1", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "mean"}},
		{Name: "monai", Doc: "MONAI TverskyLoss() defaults: alpha = beta = 0.5, smooth_nr = smooth_dr = 1e-5, per sample and class, product intersection, background included, mean. " + monaiActNote,
			Values: map[string]string{"alpha": "0.5", "beta": "0.5", "per_image": "true", "average": "macro", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
		{Name: "kornia", Doc: "kornia 0.9 TverskyLoss(alpha, beta) (multiclass only; alpha and beta are required, give them): I/(I + α·FP + β·FN + 1e-8) per sample and class with exact one-hot targets, averaged over the classes present in each sample's target, then over the batch (absent_classes skip-row); ignore_index -100, and a sample whose pixels are all ignored counts as loss 1. kornia before 0.9 computed one micro-averaged score per sample, where Σ FP = Σ FN so that only α+β mattered: --average micro --absent-classes keep gives that form. Exact.",
			Values: map[string]string{"per_image": "true", "average": "macro", "smooth_nr": "0", "smooth_dr": "1e-08", "eps": "0", "target_eps": "0",
				"ignore_index": "-100", "absent_classes": "skip-row", "intersection": "product", "squared": "false", "include_background": "true", "class_weighting": "mean"}},
		{Name: "semsegloss", Doc: "SemSegLoss tversky_loss: (tp + 1)/(tp + 0.7·fn + 0.3·fp + 1) over everything flattened, loss 1 - TI. SemSegLoss takes probabilities: --from-logits=false.",
			Values: map[string]string{"alpha": "0.3", "beta": "0.7", "per_image": "false", "average": "micro", "smooth_nr": "1", "smooth_dr": "1", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0"}},
		{Name: "keras", Doc: "Keras 3 keras.losses.Tversky() (alpha=0.5, beta=0.5, axis=None): one score over the whole tensor, batch and channels flattened, 1 - I/(I + α·Σ(1-p)t + β·Σp(1-t) + 1e-7); channels-last input holding probabilities (Keras applies no activation). Keras's alpha multiplies the false negatives and its beta the false positives, the opposite of onnxloss's names: Tversky(alpha=a, beta=b) is --alpha b --beta a. axis=(1,2) is --per-image=true --average macro, axis=(1,2,3) --per-image=true (images). Exact.",
			Values: map[string]string{"layout": "nhwc", "from_logits": "false", "alpha": "0.5", "beta": "0.5", "per_image": "false", "average": "micro", "smooth_nr": "0", "smooth_dr": "1e-07", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "log_loss": "false"}},
	},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		emptyValueNote,
		"The parameter names follow Salehi et al. and MONAI: alpha multiplies false positives, beta false negatives. Abraham & Khan write the opposite (their α multiplies false negatives).",
		"kornia's TverskyLoss before 0.9 was micro-averaged over classes, where Σ FP = Σ FN, so its α and β acted only through α+β; kornia 0.9 averages per class as the kornia preset does, so the asymmetry is kept.",
		"segmentation_models_pytorch's TverskyLoss has a gamma that raises the class mean to a power: that is focal-tversky --gamma-on mean.",
		monaiActNote,
	},
	Variants: []Options{
		{"preset": "smp", "mode": "multilabel"}, {"preset": "monai", "mode": "multiclass"}, {"preset": "kornia", "mode": "multiclass", "alpha": "0.2", "beta": "0.9"},
		{"preset": "semsegloss", "from_logits": "false"},
		{"preset": "keras", "mode": "multilabel", "alpha": "0.7", "beta": "0.3"},
		{"mode": "multiclass", "alpha": "0.8", "beta": "0.1", "absent_classes": "zero", "per_image": "false", "ignore_index": "3", "classes": "4"},
		{"mode": "multilabel", "alpha": "0.6", "beta": "0.4", "squared": "true", "class_weights": "2,1,1", "class_weighting": "scale"},
		{"mode": "binary", "alpha": "1", "beta": "0", "intersection": "l1", "log_loss": "true", "eps": "1e-4"},
	},
}, Funcs[Tversky]{
	Build: func(c *Ctx, p *Tversky) *Value {
		return c.overlapLoss(&p.Overlap, tverskyIndex(p.Alpha, p.Beta), nil)
	},
	Reference: reference.Tversky,
	Validate:  func(c *Config, p *Tversky) error { return validateTversky(c, &p.Overlap, &p.TverskyWeights) },
	PerSample: func(c *Config, p *Tversky) bool { return overlapPerSample(c, &p.Overlap) },
})

// validateTversky refuses weights that make the score constant, and checks
// the conventions.
func validateTversky(c *Config, o *param.Overlap, w *param.TverskyWeights) error {
	if w.Alpha+w.Beta == 0 {
		return fmt.Errorf("alpha + beta = 0 makes the score 1 whatever the prediction")
	}
	return validateOverlap(c, o)
}
