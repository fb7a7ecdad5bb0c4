package losses

import (
	"fmt"
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Focal is the parameter set of the focal loss.
type Focal = param.Focal

var focal = Define(Spec{
	Name:    "focal",
	Family:  "cross-entropy",
	Summary: "Focal loss: sigmoid (binary, multilabel) or softmax (multiclass), modulation in log space.",
	Description: "Focal loss down-weights well-classified pixels by (1-p_t)^γ. Binary and multilabel modes use the " +
		"sigmoid form of torchvision's sigmoid_focal_loss; multiclass mode uses the softmax form " +
		"-α_y (1-p_y)^γ log p_y, and -Σ_c α_c t_c (1-p_c)^γ log p_c with one-hot or soft targets (--target onehot, MONAI's form). The modulation is computed as exp(γ·log(1-p_t)) from stable log terms, so " +
		"γ < 1 and saturated logits give neither NaN values nor NaN gradients. alpha is one value (α for " +
		"positives and 1-α for negatives; in multiclass mode 1-α for class 0 and α for the others, as MONAI " +
		"and kornia do) or one value per class. normalized divides by the sum of the modulation factors, as " +
		"segmentation_models_pytorch's normalized focal loss does.",
	Citation:    "Lin, Goyal, Girshick, He & Dollár, Focal Loss for Dense Object Detection, ICCV 2017.",
	Formula:     "l = -α_t·exp(γ·log(1-p_t))·log p_t; sigmoid: 1-p_t = σ(-x(2t-1))",
	Modes:       []Mode{Binary, Multilabel, Multiclass},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: "binary/multilabel: " + elementwiseNone + "; multiclass: " + pixelNone,
	Notes: []string{
		"torchvision.ops.sigmoid_focal_loss(alpha=a, gamma=g, reduction=r): --mode binary --alpha a --gamma g --reduction r.",
		"For soft targets the sigmoid modulation from logits is σ(-x(2t-1))^γ (MONAI's form) by default; --modulation prob gives torchvision's and Keras's (1-p_t)^γ with p_t = t·p + (1-t)(1-p). The two agree for hard targets.",
		"segmentation_models_pytorch applies sigmoid focal per channel even in multiclass mode; use --mode multilabel with one-hot targets for that.",
	},
	Presets: []Preset{
		{Name: "smp", Doc: "segmentation_models_pytorch FocalLoss(mode) defaults: γ 2, no α, not normalized, mean over the entries that are not ignored (smp drops ignored ones by indexing). smp's multiclass FocalLoss is the same sigmoid focal on each class channel against a one-hot target, i.e. --mode multilabel with one-hot targets here, not the softmax focal of --mode multiclass (smp before 2026 also summed the per-class losses). class_weights=w (smp 0.6) takes the weighted mean Σ w_c·l_c / Σ w_c of the per-class means, where onnxloss multiplies each entry by its class weight and divides by the count: the two agree for weights that sum to C (scale w by C/Σw), and onnxloss's value is Σw/C times smp's otherwise. reduced_threshold is not offered.",
			Values: map[string]string{"gamma": "2", "alpha": "", "normalized": "false", "mean_over": "valid"}},
		{Name: "monai", Doc: "MONAI FocalLoss() defaults: the sigmoid form on every channel (use_softmax=False, in multiclass setups too: --mode multilabel with one-hot targets), γ 2, no α, mean over every entry of [N,C,*]. use_softmax=True is --mode multiclass --mean-of entries (MONAI's mean divides by N·C·spatial, 1/C of the per-pixel mean); its sum first averages over space, which is not offered. include_background=False is --include-background=false in multilabel mode; MONAI drops α with a warning then.",
			Values: map[string]string{"gamma": "2", "alpha": "", "normalized": "false"}},
		{Name: "kornia", Doc: "kornia FocalLoss(alpha, gamma=2, reduction='none', ignore_index=-100) (give --alpha; α for the other classes and 1-α for class 0, as here) and BinaryFocalLossWithLogits for --mode binary. kornia 0.9 uses an exact one-hot target; earlier releases floored it at 1e-6 (t(1-1e-6)+1e-6: --target-eps 1e-6), so that each other class added 1e-6 times its own focal term. Its mean is over every entry of [N,C,*] (mean_of entries), ignored ones included (mean_over all). kornia's multiclass none keeps the class axis, [N,C,*]; onnxloss's is the per-pixel map [N,*], the sum over that axis. Exact.",
			Values: map[string]string{"gamma": "2", "normalized": "false", "reduction": "none", "ignore_index": "-100", "mean_over": "all", "mean_of": "entries"}},
		{Name: "semsegloss", Doc: "SemSegLoss focal_loss: binary sigmoid focal on probabilities (--from-logits=false), α 0.25, γ 2, mean over entries. SemSegLoss clips probabilities to [1e-7, 1-1e-7] before its logs, capping each entry's cross-entropy near 16.1; onnxloss only clips at 2^-126, so values differ where p < 1e-7 or p > 1-1e-7.",
			Values: map[string]string{"alpha": "0.25", "gamma": "2", "normalized": "false"}},
		{Name: "keras", Doc: "Keras 3 keras.losses.BinaryFocalCrossentropy() defaults (binary, multilabel) and CategoricalFocalCrossentropy (multiclass), on the TensorFlow backend: channels-last probabilities (from_logits=False; --from-logits=true for from_logits=True), γ 2, the mean over every entry (binary) or pixel (multiclass). Probabilities are clipped to [1e-7, 1-1e-7] before the logs (prob_clip), so an entry costs at most about 16.1. From logits, BinaryFocalCrossentropy's cross-entropy is TensorFlow's stable sigmoid cross-entropy of the logits (Keras hands them on from its sigmoid), unclipped, as here; CategoricalFocalCrossentropy clips its renormalised softmax, and so does this preset in multiclass mode (a saturated logit costs about 16.1, not its size). The modulation is (1-p_t)^γ with p_t = t·p + (1-t)(1-p) from the unclipped sigmoid (binary; --modulation prob) or the clipped probability (multiclass). label_smoothing=s (binary) is --label-smoothing s/2 (Keras moves targets to t(1-s) + s/2). apply_class_balancing=True with alpha=a is --alpha a (a on positives, 1-a on negatives). CategoricalFocalCrossentropy's alpha (0.25 by default) multiplies every pixel alike: give it as --class-weights a,...,a, one per class; its one-hot y_true is the label map here (the argmax). CategoricalFocalCrossentropy's label_smoothing s is --label-smoothing s with --classes C. Exact. Keras on the JAX or PyTorch backend clips the binary cross-entropy from logits too (only TensorFlow's sigmoid hands its logits on).",
			Values: map[string]string{"layout": "nhwc", "from_logits": "false", "prob_clip": "1e-07", "gamma": "2", "alpha": "", "normalized": "false", "modulation": "prob", "label_smoothing": "0"}},
	},
	Variants: []Options{
		{"gamma": "0.5", "alpha": "0.25"}, {"gamma": "0"}, {"normalized": "true"},
		{"mode": "multiclass", "classes": "3", "alpha": "0.2,0.3,0.5", "ignore_index": "0"},
		{"mode": "multiclass", "alpha": "0.25", "gamma": "0.7", "class_weights": "1,2,3", "normalized": "true"},
		{"preset": "keras"}, {"preset": "keras", "from_logits": "true", "alpha": "0.25", "mode": "multilabel"},
		{"preset": "keras", "mode": "multiclass", "classes": "3", "class_weights": "0.25,0.25,0.25"},
		{"preset": "keras", "mode": "multiclass", "from_logits": "true", "ignore_index": "1", "gamma": "0.5"},
		{"mode": "multilabel", "label_smoothing": "0.1", "modulation": "prob", "alpha": "0.25", "ignore_index": "2"},
		{"mode": "multiclass", "classes": "3", "label_smoothing": "0.1", "alpha": "0.25", "ignore_index": "2", "class_weights": "1,2,0.5"},
		{"preset": "keras", "mode": "multiclass", "from_logits": "true", "classes": "4", "label_smoothing": "0.2", "gamma": "1.5"},
		{"mode": "multilabel", "include_background": "false", "alpha": "0.25", "class_weights": "1,2,3", "ignore_index": "2"},
		{"mode": "multilabel", "include_background": "false", "normalized": "true", "reduction": "none"},
		{"mode": "multiclass", "mean_of": "entries", "ignore_index": "1"},
		{"mode": "multiclass", "mean_of": "entries", "alpha": "0.25", "classes": "3"},
		{"mode": "multiclass", "target": "onehot", "alpha": "0.25", "classes": "3"},
		{"mode": "multiclass", "target": "onehot", "gamma": "0.5", "mean_of": "entries", "class_weights": "1,2,0.5"},
		{"mode": "multiclass", "target_eps": "0.01", "alpha": "0.3", "classes": "3", "ignore_index": "1"},
		{"preset": "kornia", "mode": "multiclass", "alpha": "0.25", "classes": "4", "reduction": "mean"},
	},
}, Funcs[Focal]{
	Build: func(c *Ctx, p *Focal) *Value {
		return buildFocalScoped(c, &p.FocalTerm, focalScope{
			dropBackground: c.Mode == Multilabel && !p.IncludeBackground,
			meanOfEntries:  p.MeanOf == param.MeanOfEntries,
			targetEps:      p.TargetEps,
		})
	},
	Reference: reference.Focal,
	// Normalised by the batch's Σ modulation, the mean ties the samples together.
	PerSample: func(c *Config, p *Focal) bool { return !p.Normalized && elementwisePerSample(c) },
	Validate: func(c *Config, p *Focal) error {
		softTargets := c.Mode == Multiclass && (c.TargetForm == TargetOneHot || p.TargetEps > 0)
		if softTargets && p.Normalized {
			return fmt.Errorf("--normalized needs hard label targets in multiclass mode (--target labels, no --target-eps): it divides by the label's modulation factors")
		}
		if softTargets && (p.LabelSmoothing > 0 || p.ProbClip > 0) {
			hint := ""
			if c.Preset != "" && p.ProbClip > 0 {
				hint = fmt.Sprintf(" (--preset %s sets --prob-clip %g: give --prob-clip 0 to read one-hot targets without the clipping)", c.Preset, p.ProbClip)
			}
			return fmt.Errorf("--label-smoothing and --prob-clip take label targets in multiclass mode (--target labels, no --target-eps): smooth one-hot targets yourself, or drop --target onehot%s", hint)
		}
		if c.Mode == Multiclass && p.LabelSmoothing > 0 {
			if p.Normalized {
				return fmt.Errorf("--normalized with --label-smoothing in multiclass mode is not defined (the smoothed target has a modulation per class): drop one of them")
			}
			if err := validateLabelSmoothing(c, p.LabelSmoothing); err != nil {
				return err
			}
		}
		return validateFocal(c, &p.FocalTerm)
	},
})

// validateFocal checks alpha against the mode and classes, and takes C from
// it when C is not given.
func validateFocal(c *Config, f *param.FocalTerm) error {
	if a := f.Alpha; len(a) > 1 {
		if c.Mode == Binary {
			return fmt.Errorf("binary mode takes one alpha value")
		}
		if c.Classes != 0 && len(a) != c.Classes {
			return fmt.Errorf("alpha has %d values but there are %d classes", len(a), c.Classes)
		}
		if c.Classes == 0 {
			c.Classes = len(a)
		}
	}
	if a := f.Alpha; len(a) == 1 && a[0] > 1 {
		return fmt.Errorf("a single alpha must lie in [0, 1], got %v", a[0])
	}
	if len(f.Alpha) == 1 && c.Mode == Multiclass && c.Classes == 0 {
		return fmt.Errorf("a single alpha in multiclass mode (1-α for class 0, α for the others) needs the number of classes: give --classes, or one alpha per class")
	}
	return nil
}
