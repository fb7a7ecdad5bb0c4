package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Dice is the parameter set of the dice loss.
type Dice = param.Dice

var dice = Define(Spec{
	Name:    "dice",
	Family:  "region",
	Summary: "Soft Dice loss with every convention as a parameter (smoothing, batch or per-sample, micro or macro, absent classes).",
	Description: "The soft Sørensen-Dice loss 1 - (2I + smooth_nr)/(Σp + Σt + smooth_dr) between the predicted " +
		"probabilities and the target, computed per sample and class by default and averaged. Every convention " +
		"that differs between libraries is a parameter: numerator and denominator smoothing and a denominator " +
		"clamp, squared (V-Net) denominators, per-sample or batch statistics, macro or micro averaging, what " +
		"happens to classes absent from the target, -log Dice, the soft-label-correct L1 intersection, the " +
		"background channel, class weights as a weighted mean or a multiplier. Presets reproduce " +
		"segmentation_models_pytorch, MONAI, kornia and SemSegLoss. With the default smoothing an empty target " +
		"with an empty prediction gives loss 0, and an empty target with false positives a loss near 1.",
	Citation: "Milletari, Navab & Ahmadi, V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image Segmentation, 3DV 2016; Sudre et al., Generalised Dice overlap as a deep learning loss function, DLMIA 2017.",
	Formula:  "loss = 1 - (2I + smooth_nr) / max(Σp + Σt + smooth_dr, eps), I = Σp·t or Σmin(p,t); squared: Σp², Σt²; log_loss: -log max(score, eps)",
	Modes:    regionModes,
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch DiceLoss(mode, smooth=0, eps=1e-7): batch Dice per class (sums over batch and space), L1 intersection, classes absent from the batch's target zeroed but counted in the class mean, class_weights as a weighted mean. smp clamps the halved denominator (Σp+Σt)/2 + smooth at 1e-7, hence eps 2e-7 here; the result is exact. log_loss=True is --log-loss; smp floors the score at 1e-7 and this preset at 2e-7, which matters only for scores below 2e-7.",
			Values: map[string]string{"per_image": "false", "average": "macro", "smooth_nr": "0", "smooth_dr": "0", "eps": "2e-07",
				"absent_classes": "zero", "intersection": "l1", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "mean"}},
		{Name: "monai", Doc: "MONAI DiceLoss() defaults: per sample and class, smooth_nr = smooth_dr = 1e-5, product intersection (soft_label=False), background included, mean over samples and classes, weight multiplying each class's loss. " + monaiActNote + " batch=True is --per-image=false, squared_pred=True --squared, soft_label=True --intersection l1, jaccard=True the jaccard loss's monai preset.",
			Values: map[string]string{"per_image": "true", "average": "macro", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
		{Name: "kornia", Doc: "kornia 0.9 DiceLoss() (multiclass only): micro average per sample, eps 1e-8 added to the denominator only, exact one-hot targets, ignore_index -100, mean over the batch; a sample whose pixels are all ignored counts as loss 1. average='macro' is --average macro: the (weighted) class mean of each sample over the classes present in its target, then the batch mean (absent_classes skip-row). With class weights the micro form scales each class's sums by w. kornia before 0.9 floored its one-hot target at 1e-6 (--target-eps 1e-6) and kept absent classes in the macro mean (--absent-classes keep). Exact.",
			Values: map[string]string{"per_image": "true", "average": "micro", "smooth_nr": "0", "smooth_dr": "1e-08", "eps": "0", "target_eps": "0",
				"ignore_index": "-100", "absent_classes": "skip-row", "intersection": "product", "squared": "false", "include_background": "true", "class_weighting": "mean"}},
		{Name: "semsegloss", Doc: "SemSegLoss dice_loss: everything flattened (batch, channels and space) into one score, smooth 1 in numerator and denominator. SemSegLoss takes probabilities (Keras y_pred): feed them with --from-logits=false, or logits and the graph applies the activation.",
			Values: map[string]string{"per_image": "false", "average": "micro", "smooth_nr": "1", "smooth_dr": "1", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0"}},
		{Name: "keras", Doc: "Keras 3 keras.losses.Dice() (axis=None): one score over the whole tensor, batch and channels flattened, 1 - 2I/(Σp + Σt + 1e-7) with Keras's epsilon in the denominator only; channels-last input holding probabilities (Keras applies no activation; --from-logits=true adds one). axis=(1,2) (or (1,2,3) for volumes) is --per-image=true --average macro, one score per sample and class; axis=(1,2,3) for images (1,2,3,4 for volumes) is --per-image=true, one score per sample. Keras has no ignore index or class weights. Exact.",
			Values: map[string]string{"layout": "nhwc", "from_logits": "false", "per_image": "false", "average": "micro", "smooth_nr": "0", "smooth_dr": "1e-07", "eps": "0",
				"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "log_loss": "false"}},
	},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		emptyValueNote,
		smpHistoryNote,
		"segmentation_models_pytorch zeroes the loss of classes absent from the batch but still divides by every class, so the loss scale depends on how many classes are present, and an empty-target binary batch gets loss 0 and no gradient from false positives (absent_classes=zero reproduces it; keep or skip avoid it).",
		"segmentation_models_pytorch classes=[...] selects classes; onnxloss offers include_background=false (drop class 0) and class_weights (0 drops a class from a weighted mean).",
		monaiActNote,
		"kornia's DiceLoss is multiclass only and its micro form mixes classes; SemSegLoss flattens batch and channels, so both are presets rather than defaults. kornia 0.9 leaves classes absent from a sample's target out of that sample's macro mean: --absent-classes skip-row, as the kornia preset does.",
		"Probabilities come from the softmax (multiclass) or sigmoid (binary, multilabel) of the logits; segmentation_models_pytorch's exp(log_softmax) and exp(logsigmoid) are the same numbers.",
	},
	Variants: []Options{
		{"preset": "smp"}, {"preset": "monai", "mode": "multiclass"}, {"preset": "kornia", "mode": "multiclass"}, {"preset": "semsegloss"},
		{"preset": "keras", "mode": "multilabel"},
		{"mode": "multiclass", "per_image": "false", "absent_classes": "zero", "classes": "4", "class_weights": "1,0,2,0.5"},
		{"mode": "multiclass", "absent_classes": "skip", "include_background": "false", "classes": "3", "class_weights": "1,2,0.5", "class_weighting": "scale", "ignore_index": "1"},
		{"mode": "multilabel", "squared": "true", "smooth_nr": "0", "eps": "1e-6", "log_loss": "true"},
		{"mode": "multilabel", "intersection": "l1", "average": "micro", "class_weights": "0.5,1,2", "target_eps": "0.01"},
		{"mode": "multiclass", "target": "onehot", "intersection": "l1", "per_image": "false"},
		{"mode": "binary", "log_loss": "true", "smooth_nr": "1", "smooth_dr": "1", "absent_classes": "skip", "reduction": "none"},
		{"mode": "multiclass", "absent_classes": "skip-row", "classes": "4", "class_weights": "1,0,2,0.5", "ignore_index": "1"},
		{"mode": "multilabel", "absent_classes": "skip-row", "per_image": "false", "reduction": "sum"},
	},
}, Funcs[Dice]{
	Build:     func(c *Ctx, p *Dice) *Value { return c.overlapLoss(&p.Overlap, diceIndex, nil) },
	Reference: reference.Dice,
	Validate:  func(c *Config, p *Dice) error { return validateOverlap(c, &p.Overlap) },
	PerSample: func(c *Config, p *Dice) bool { return overlapPerSample(c, &p.Overlap) },
})
