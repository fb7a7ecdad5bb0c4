package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

const (
	elementwiseNone = "the per-element loss, shaped like input ([N,C,*spatial] or [N,*spatial,C]); ignored entries are 0"
	pixelNone       = "the per-pixel loss [N,*spatial]; ignored pixels are 0"
)

var meanOverParam = Param{
	Name: "mean_over", Kind: KindEnum, Default: "valid", Choices: []string{"valid", "all"},
	Doc: "denominator of --reduction mean when entries are ignored: valid entries (PyTorch) or all entries (segmentation_models_pytorch's SoftBCEWithLogitsLoss)",
}

func init() {
	Register(&Spec{
		Name:    "bce",
		Family:  "cross-entropy",
		Summary: "Binary cross-entropy with logits, per channel.",
		Description: "Binary cross-entropy between each channel's prediction and a (possibly soft) target, " +
			"computed from logits in the form that never overflows. pos_weight scales the positive term per channel " +
			"as in PyTorch's BCEWithLogitsLoss; label_smoothing moves hard targets towards 0.5 as " +
			"segmentation_models_pytorch's SoftBCEWithLogitsLoss does; class_weights multiply each channel's loss " +
			"(PyTorch's weight argument: the mean still divides by the number of entries).",
		Citation: "Standard logistic loss; stable form as in PyTorch's BCEWithLogitsLoss.",
		Formula:  "l = pw·t·(relu(-x) + log(1+e^-|x|)) + (1-t)·(relu(x) + log(1+e^-|x|)), t' = t(1-s) + (1-t)s",
		Modes:    []Mode{Binary, Multilabel},
		Params: []Param{
			{Name: "pos_weight", Kind: KindFloats, Min: fptr(0), Doc: "weight of the positive term: one value, or one per channel (PyTorch's pos_weight)"},
			{Name: "label_smoothing", Kind: KindFloat, Default: 0.0, Min: fptr(0), Max: fptr(1), MaxExclusive: true, Doc: "targets become t(1-s) + (1-t)s (segmentation_models_pytorch's smooth_factor)"},
			meanOverParam,
		},
		IgnoreIndex: true, ClassWeights: true,
		NoneShape: elementwiseNone,
		Notes: []string{
			"segmentation_models_pytorch SoftBCEWithLogitsLoss(ignore_index=-100, smooth_factor=s): --ignore-index -100 --label-smoothing s --mean-over all.",
			"PyTorch BCEWithLogitsLoss(pos_weight=p, weight=w): --pos-weight p --class-weights w.",
		},
		Presets: []Preset{
			{Name: "smp", Doc: "segmentation_models_pytorch SoftBCEWithLogitsLoss() defaults: ignore_index -100, and a mean over every entry with ignored ones included (mean_over all); its smooth_factor s is --label-smoothing s and pos_weight --pos-weight. Exact.",
				Values: map[string]string{"ignore_index": "-100", "mean_over": "all", "label_smoothing": "0", "pos_weight": ""}},
		},
		Validate: validatePosWeight,
		Build: func(c *Ctx) *Value {
			t := smoothTarget(c)
			var l *Value
			if pw := c.Floats("pos_weight"); pw != nil {
				logP, log1mP := c.LogSigmoids()
				l = Neg(Add(Mul(Mul(channelConst(c, pw), t), logP), Mul(OneMinus(t), log1mP)))
			} else {
				l = c.BCE(t)
			}
			return reduceElementwise(c, MulMaybe(l, c.ClassWeightVec()))
		},
		Reference: reference.BCE,
		Variants: []Options{
			{"pos_weight": "2.5"}, {"label_smoothing": "0.1"}, {"ignore_index": "-100", "mean_over": "all"},
		},
	})

	Register(&Spec{
		Name:    "weighted-bce",
		Family:  "cross-entropy",
		Summary: "β-weighted binary cross-entropy: β scales the positive term.",
		Description: "The weighted cross-entropy of the segmentation-loss surveys: the positive (foreground) term is " +
			"multiplied by β, so β > 1 penalises false negatives more and β < 1 false positives. It is bce with a " +
			"single pos_weight, kept under its survey name.",
		Citation: "Pihur, Datta & Datta, Weighted rank aggregation of cluster validation measures, Bioinformatics 2007; survey form in Jadon, A survey of loss functions for semantic segmentation, CIBCB 2020.",
		Formula:  "l = -(β·t·log σ(x) + (1-t)·log(1-σ(x)))",
		Modes:    []Mode{Binary, Multilabel},
		Params: []Param{
			{Name: "beta", Kind: KindFloat, Default: 1.0, Min: fptr(0), Doc: "weight of the positive term (1: plain BCE)"},
			meanOverParam,
		},
		IgnoreIndex: true, ClassWeights: true,
		NoneShape: elementwiseNone,
		Notes:     []string{"SemSegLoss's weighted_cross_entropyloss uses pos_weight = β/(1-β) with β = 0.25, which down-weights positives (pos_weight 1/3); here β is the positive weight itself."},
		Build: func(c *Ctx) *Value {
			t := c.Target()
			logP, log1mP := c.LogSigmoids()
			l := Neg(Add(MulScalar(Mul(t, logP), c.Float("beta")), Mul(OneMinus(t), log1mP)))
			return reduceElementwise(c, MulMaybe(l, c.ClassWeightVec()))
		},
		Reference: reference.WeightedBCE,
		Variants:  []Options{{"beta": "3"}, {"beta": "0.2", "ignore_index": "2"}},
	})

	Register(&Spec{
		Name:    "balanced-bce",
		Family:  "cross-entropy",
		Summary: "Class-balanced BCE: β on positives, 1-β on negatives, β fixed or from the target's balance.",
		Description: "Balanced cross-entropy weights the positive term by β and the negative term by 1-β. With " +
			"beta_from=batch (default) β is the fraction of negative entries in the batch's target (Xie & Tu's HED " +
			"uses β = |Y-|/|Y|), computed in the graph from the target only; image computes it per image; fixed " +
			"uses the beta parameter. Ignored entries are left out of the balance.",
		Citation: "Xie & Tu, Holistically-Nested Edge Detection, ICCV 2015.",
		Formula:  "l = -(β·t·log σ(x) + (1-β)·(1-t)·log(1-σ(x))), β = Σ(1-t)/Σ1 over valid entries",
		Modes:    []Mode{Binary, Multilabel},
		Params: []Param{
			{Name: "beta_from", Kind: KindEnum, Default: "batch", Choices: []string{"batch", "image", "fixed"}, Doc: "where β comes from: the batch's or each image's fraction of negatives, or the beta parameter"},
			{Name: "beta", Kind: KindFloat, Default: 0.5, Min: fptr(0), Max: fptr(1), Doc: "β when beta_from=fixed"},
			meanOverParam,
		},
		IgnoreIndex: true, ClassWeights: true,
		NoneShape: elementwiseNone,
		Build: func(c *Ctx) *Value {
			t := c.Target()
			var beta *Value
			switch c.Enum("beta_from") {
			case "fixed":
				beta = ConstAs(c.X, c.Float("beta"))
			default:
				var axes []int
				if c.Enum("beta_from") == "image" {
					axes = append([]int{1}, c.SpatialAxes()...)
				}
				count := countValid(c, axes)
				positives := ReduceSum(t, true, axes...)
				beta = SafeDiv(Sub(count, positives), count)
			}
			logP, log1mP := c.LogSigmoids()
			l := Neg(Add(Mul(Mul(beta, t), logP), Mul(Mul(OneMinus(beta), OneMinus(t)), log1mP)))
			return reduceElementwise(c, MulMaybe(l, c.ClassWeightVec()))
		},
		Reference: reference.BalancedBCE,
		Variants:  []Options{{"beta_from": "image"}, {"beta_from": "fixed", "beta": "0.8"}, {"ignore_index": "-1"}},
	})

	Register(&Spec{
		Name:    "cross-entropy",
		Family:  "cross-entropy",
		Summary: "Softmax cross-entropy with class weights, ignore_index and label smoothing (PyTorch semantics).",
		Description: "Softmax cross-entropy over the class axis, with PyTorch's semantics throughout: class weights " +
			"scale each pixel by its label's weight and --reduction mean divides by the sum of the weights of the " +
			"valid pixels; label smoothing mixes (1-ε)·NLL with ε/C times the weighted sum of -log p over classes; " +
			"one-hot or soft targets (--target onehot) follow PyTorch's probability-target rules (mean over pixels). " +
			"A batch whose pixels are all ignored gives 0, where PyTorch gives NaN.",
		Citation: "Standard softmax cross-entropy; label smoothing from Szegedy et al., Rethinking the Inception Architecture, CVPR 2016.",
		Formula:  "l = (1-ε)·w_y·(-log p_y) + (ε/C)·Σ_c w_c·(-log p_c), mean = Σ l / Σ w_y",
		Modes:    []Mode{Multiclass},
		Params: []Param{
			{Name: "label_smoothing", Kind: KindFloat, Default: 0.0, Min: fptr(0), Max: fptr(1), Doc: "ε of label smoothing (PyTorch's label_smoothing)"},
		},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		NoneShape: pixelNone,
		Notes: []string{
			"PyTorch F.cross_entropy(weight=w, ignore_index=k, label_smoothing=e): --class-weights w --ignore-index k --label-smoothing e.",
			"segmentation_models_pytorch SoftCrossEntropyLoss divides by all pixels, ignored ones included; onnxloss follows PyTorch.",
		},
		Presets: []Preset{
			{Name: "smp", Doc: "segmentation_models_pytorch SoftCrossEntropyLoss(smooth_factor=s, ignore_index=-100): ignore_index -100 and label smoothing s (its default smooth_factor=None raises a TypeError, so give --label-smoothing). smp divides the mean by every pixel, ignored ones included, where onnxloss follows PyTorch and divides by the valid pixels: the values agree when no pixel is ignored and differ by the factor valid/all otherwise.",
				Values: map[string]string{"ignore_index": "-100", "label_smoothing": "0"}},
		},
		Build: func(c *Ctx) *Value {
			eps := c.Float("label_smoothing")
			lp := c.LogProbs()
			if c.TargetForm == "onehot" {
				t := c.Target()
				if eps > 0 {
					t = AddScalar(MulScalar(t, 1-eps), eps/float64(c.classesOrFail()))
				}
				l := Neg(ReduceSum(Mul(MulMaybe(t, c.ClassWeightVec()), lp), false, 1))
				return c.ReduceLoss(l, nil, false)
			}
			w := c.ClassWeightMap()
			valid := c.PixelValid()
			nll := MulMaybe(MulMaybe(c.NLL(), w), valid)
			den := MulMaybe(w, valid)
			if den == nil {
				den = valid
			}
			if eps == 0 {
				return c.ReduceLoss(nll, den, false)
			}
			smooth := MulMaybe(Neg(ReduceSum(MulMaybe(lp, c.ClassWeightVec()), false, 1)), valid)
			n := float64(c.classesOrFail())
			if c.Reduction == "none" {
				return Add(MulScalar(nll, 1-eps), MulScalar(smooth, eps/n))
			}
			// Both terms share the reduction's denominator, so they are summed first.
			return c.ReduceLoss(Add(MulScalar(nll, 1-eps), MulScalar(smooth, eps/n)), den, false)
		},
		Validate: func(c *Config) error {
			if c.Float("label_smoothing") > 0 && c.Classes == 0 {
				return fmt.Errorf("label smoothing needs the number of classes: give --classes")
			}
			return nil
		},
		Reference: reference.CrossEntropy,
		Variants: []Options{
			{"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "1"},
			{"classes": "4", "label_smoothing": "0.1", "ignore_index": "255"},
			{"classes": "3", "label_smoothing": "0.2", "class_weights": "1,0.5,2"},
			{"classes": "3", "target": "onehot", "label_smoothing": "0.1"},
			{"target": "onehot"},
		},
	})

	Register(&Spec{
		Name:    "focal",
		Family:  "cross-entropy",
		Summary: "Focal loss: sigmoid (binary, multilabel) or softmax (multiclass), modulation in log space.",
		Description: "Focal loss down-weights well-classified pixels by (1-p_t)^γ. Binary and multilabel modes use the " +
			"sigmoid form of torchvision's sigmoid_focal_loss; multiclass mode uses the softmax form " +
			"-α_y (1-p_y)^γ log p_y. The modulation is computed as exp(γ·log(1-p_t)) from stable log terms, so " +
			"γ < 1 and saturated logits give neither NaN values nor NaN gradients. alpha is one value (α for " +
			"positives and 1-α for negatives; in multiclass mode 1-α for class 0 and α for the others, as MONAI " +
			"and kornia do) or one value per class. normalized divides by the sum of the modulation factors, as " +
			"segmentation_models_pytorch's normalized focal loss does.",
		Citation: "Lin, Goyal, Girshick, He & Dollár, Focal Loss for Dense Object Detection, ICCV 2017.",
		Formula:  "l = -α_t·exp(γ·log(1-p_t))·log p_t; sigmoid: 1-p_t = σ(-x(2t-1))",
		Modes:    []Mode{Binary, Multilabel, Multiclass},
		Params: []Param{
			{Name: "gamma", Kind: KindFloat, Default: 2.0, Min: fptr(0), Doc: "focusing parameter γ (0: cross-entropy)"},
			{Name: "alpha", Kind: KindFloats, Min: fptr(0), Doc: "balance α: one value or one per class (unset: no balancing; torchvision uses 0.25)"},
			{Name: "normalized", Kind: KindBool, Default: false, Doc: "divide by the sum of the modulation factors (segmentation_models_pytorch's normalized=True)"},
			meanOverParam,
		},
		IgnoreIndex: true, ClassWeights: true,
		NoneShape: "binary/multilabel: " + elementwiseNone + "; multiclass: " + pixelNone,
		Notes: []string{
			"torchvision.ops.sigmoid_focal_loss(alpha=a, gamma=g, reduction=r): --mode binary --alpha a --gamma g --reduction r.",
			"For soft targets the sigmoid modulation is σ(-x(2t-1))^γ (MONAI's form); torchvision's (1-p_t)^γ agrees for hard targets.",
			"segmentation_models_pytorch applies sigmoid focal per channel even in multiclass mode; use --mode multilabel with one-hot targets for that.",
		},
		Presets: []Preset{
			{Name: "smp", Doc: "segmentation_models_pytorch FocalLoss(mode) defaults: γ 2, no α, not normalized, mean over the entries that are not ignored (smp drops ignored ones by indexing). smp's multiclass FocalLoss is the same sigmoid focal on each class channel against a one-hot target, i.e. --mode multilabel with one-hot targets here, not the softmax focal of --mode multiclass (smp before 2026 also summed the per-class losses). reduced_threshold is not offered.",
				Values: map[string]string{"gamma": "2", "alpha": "", "normalized": "false", "mean_over": "valid"}},
			{Name: "monai", Doc: "MONAI FocalLoss() defaults: the sigmoid form on every channel (use_softmax=False, in multiclass setups too: --mode multilabel with one-hot targets), γ 2, no α, mean over every entry of [N,C,*]. use_softmax=True is --mode multiclass, except that MONAI's mean divides by N·C·spatial, 1/C of onnxloss's per-pixel mean, and its sum first averages over space. MONAI drops α with a warning when include_background=False.",
				Values: map[string]string{"gamma": "2", "alpha": "", "normalized": "false"}},
			{Name: "kornia", Doc: "kornia FocalLoss(alpha, gamma=2, reduction='none', ignore_index=-100) (give --alpha; α for the other classes and 1-α for class 0, as here) and BinaryFocalLossWithLogits for --mode binary. kornia floors its one-hot target at 1e-6, so each other class adds 1e-6 times its own focal term: onnxloss leaves that out (a relative difference near 1e-6·C, larger only for saturated logits). kornia's multiclass none keeps the class axis, [N,C,*], nonzero only at the label; onnxloss's is the per-pixel map [N,*], the sum over that axis, and kornia's multiclass mean is 1/C of onnxloss's per-pixel mean. kornia's mean counts ignored entries too (mean_over all).",
				Values: map[string]string{"gamma": "2", "normalized": "false", "reduction": "none", "ignore_index": "-100", "mean_over": "all"}},
			{Name: "semsegloss", Doc: "SemSegLoss focal_loss: binary sigmoid focal on probabilities (--from-logits=false), α 0.25, γ 2, mean over entries. SemSegLoss clips probabilities to [1e-7, 1-1e-7] before its logs, capping each entry's cross-entropy near 16.1; onnxloss only clips at 2^-126, so values differ where p < 1e-7 or p > 1-1e-7.",
				Values: map[string]string{"alpha": "0.25", "gamma": "2", "normalized": "false"}},
		},
		Validate: func(c *Config) error {
			if a := c.Floats("alpha"); len(a) > 1 {
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
			if a := c.Floats("alpha"); len(a) == 1 && a[0] > 1 {
				return fmt.Errorf("a single alpha must lie in [0, 1], got %v", a[0])
			}
			return nil
		},
		Build:     buildFocal,
		Reference: reference.Focal,
		Variants: []Options{
			{"gamma": "0.5", "alpha": "0.25"}, {"gamma": "0"}, {"normalized": "true"},
			{"mode": "multiclass", "classes": "3", "alpha": "0.2,0.3,0.5", "ignore_index": "0"},
			{"mode": "multiclass", "alpha": "0.25", "gamma": "0.7", "class_weights": "1,2,3", "normalized": "true"},
		},
	})

	Register(&Spec{
		Name:    "topk-ce",
		Family:  "cross-entropy",
		Summary: "Cross-entropy averaged over the hardest k% of pixels.",
		Description: "Per-pixel (class-weighted) cross-entropy of which only the largest k percent, counted over the " +
			"valid pixels of the whole batch (at least one), enter the loss; --reduction mean averages them, sum adds " +
			"them. The selection uses TopK, whose gradient flows to the selected pixels as in PyTorch's torch.topk.",
		Citation: "Wu, Shen & van den Hengel, Bridging Category-level and Instance-level Semantic Image Segmentation, arXiv:1605.06885, 2016.",
		Formula:  "l = mean of the top ⌈k/100·#valid⌉ values of w_y·(-log p_y)",
		Modes:    []Mode{Multiclass},
		Params: []Param{
			{Name: "k", Kind: KindFloat, Default: 10.0, Min: fptr(0), Max: fptr(100), MinExclusive: true, Doc: "percentage of pixels kept (SegLoss's TopKLoss uses 10)"},
		},
		IgnoreIndex: true, ClassWeights: true,
		Reductions: []string{"mean", "sum"},
		Notes: []string{
			"Gradient (--grad): through the selected pixels only, the selection held fixed, as PyTorch's autograd gives for torch.topk of the pixel losses: each kept pixel's (weighted) cross-entropy has weight 1/k (mean) or 1 (sum), every other pixel gets 0; among pixels tied at the cut, those TopK returns are the kept ones.",
		},
		Build: func(c *Ctx) *Value {
			l := MulMaybe(MulMaybe(c.NLL(), c.ClassWeightMap()), c.PixelValid())
			flat := ReshapeDims(l, 1, -1)
			var nValid *Value
			if v := c.PixelValid(); v != nil {
				nValid = ReduceSum(v, false)
			} else {
				nValid = Cast(ScalarOf(ReduceProdDims(c, l)), c.ComputeType())
			}
			kept := Max(Ceil(MulScalar(nValid, c.Float("k")/100)), ConstAs(nValid, 1))
			k := Cast(Unsqueeze(kept, 0), tensor.Int64)
			top, _ := TopK(flat, k, 1, true)
			sum := ReduceSum(top, false)
			if c.Reduction == "sum" {
				return sum
			}
			return Div(sum, kept)
		},
		Reference: reference.TopKCE,
		Variants: []Options{
			{"k": "30", "classes": "3", "class_weights": "1,2,0.5"}, {"k": "100", "ignore_index": "1"}, {"k": "0.1"},
		},
	})

	Register(&Spec{
		Name:    "ohem-ce",
		Family:  "cross-entropy",
		Summary: "Online hard example mining: cross-entropy over pixels whose true-class probability is low.",
		Description: "Online hard example mining as in PSPNet/mmsegmentation and geo-deep-learning, entirely in the " +
			"graph: pixels whose softmax probability of the true class is at most the threshold are kept; when " +
			"min_kept > 0 the threshold is raised to the min_kept-th smallest such probability among valid pixels " +
			"if that is larger, so at least min_kept pixels are kept. The loss is the (class-weighted) " +
			"cross-entropy averaged over the kept pixels. The selection carries no gradient.",
		Citation: "Shrivastava, Gupta & Girshick, Training Region-based Object Detectors with Online Hard Example Mining, CVPR 2016; pixel form in Wu et al. 2016 and mmsegmentation's OHEMPixelSampler.",
		Formula:  "keep = valid ∧ p_y ≤ max(θ, p_(min_kept)); l = Σ_keep w_y(-log p_y) / Σ_keep w_y",
		Modes:    []Mode{Multiclass},
		Params: []Param{
			{Name: "thresh", Kind: KindFloat, Default: 0.7, Min: fptr(0), Max: fptr(1), Doc: "probability threshold θ (mmsegmentation 0.7; geo-deep-learning 0.6)"},
			{Name: "min_kept", Kind: KindInt, Default: 100000, Min: fptr(0), Doc: "keep at least this many pixels (mmsegmentation 100000; geo-deep-learning 0)"},
		},
		IgnoreIndex: true, ClassWeights: true,
		NoneShape: "the per-pixel loss [N,*spatial], 0 where a pixel is not kept",
		Notes: []string{
			"Gradient (--grad): through the kept pixels only, the threshold and the kept set held fixed (they come from the probabilities with their gradient stopped), as PyTorch's autograd gives for the same formula with the mask computed under no_grad, as mmsegmentation's OHEMPixelSampler does: Σ_keep w_y·∂(-log p_y) / Σ_keep w_y.",
		},
		Build: func(c *Ctx) *Value {
			nll := c.NLL()
			py := StopGradient(Exp(Neg(nll)))
			thr := ConstAs(py, c.Float("thresh"))
			valid := c.PixelValid()
			if mk := c.Int("min_kept"); mk > 0 {
				// Invalid pixels sort after every probability.
				score := py
				if valid != nil {
					score = Where(Equal(valid, ConstAs(valid, 0)), ConstAs(py, 2), py)
				}
				flat := ReshapeDims(score, 1, -1)
				var nValid *Value
				if valid != nil {
					nValid = Cast(ReduceSum(valid, false), tensor.Int64)
				} else {
					nValid = ScalarOf(ReduceProdDims(c, py))
				}
				k := Max(Min(nValid, Int(c.G, int64(mk))), Int(c.G, 1))
				low, _ := TopK(flat, Unsqueeze(k, 0), 1, false)
				kth := ReshapeDims(Slice(low, []int64{-1}, []int64{math.MaxInt64}, []int64{1}, nil), -1)
				thr = Max(thr, Squeeze(Min(kth, ConstAs(kth, 1)), 0))
			}
			keep := Cast(LessOrEqual(py, thr), c.ComputeType())
			keep = MulMaybe(keep, valid)
			w := MulMaybe(keep, c.ClassWeightMap())
			return c.ReduceLoss(Mul(nll, w), w, false)
		},
		Reference: reference.OHEMCE,
		Variants: []Options{
			{"min_kept": "0", "thresh": "0.6"}, {"min_kept": "5", "thresh": "0.2", "ignore_index": "2"},
			{"min_kept": "3", "thresh": "0.05", "classes": "3", "class_weights": "1,3,0.5"},
		},
	})

	Register(&Spec{
		Name:    "weighted-ce",
		Family:  "cross-entropy",
		Summary: "Cross-entropy weighted per pixel by a weight-map input (pixel_weight).",
		Description: "Cross-entropy (softmax in multiclass mode, binary per channel otherwise) multiplied per pixel " +
			"by the extra input pixel_weight [N,*spatial], for example a U-Net border weight map computed in the " +
			"data loader. normalize=pixels (default) averages over valid pixels, as (w·ce).mean() does; " +
			"normalize=weights divides by the sum of the weights.",
		Citation: "Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015 (weight-map cross-entropy).",
		Formula:  "l = w(x)·w_y·(-log p_y)",
		Modes:    []Mode{Multiclass, Binary, Multilabel},
		Params: []Param{
			{Name: "normalize", Kind: KindEnum, Default: "pixels", Choices: []string{"pixels", "weights"}, Doc: "denominator of --reduction mean: the number of valid entries, or the sum of the weights"},
		},
		Extra:       []ExtraInput{{Name: "pixel_weight", Kind: PixelWeights, Doc: "per-pixel weights [N,*spatial], non-negative"}},
		IgnoreIndex: true, ClassWeights: true,
		NoneShape: "multiclass: " + pixelNone + "; binary/multilabel: " + elementwiseNone,
		Build: func(c *Ctx) *Value {
			pw := c.Extra["pixel_weight"]
			if c.Mode == Multiclass {
				w := MulMaybe(MulMaybe(pw, c.ClassWeightMap()), c.PixelValid())
				l := Mul(c.NLL(), w)
				den := c.PixelValid()
				if c.Enum("normalize") == "weights" {
					den = w
				}
				return c.ReduceLoss(l, den, false)
			}
			w := MulMaybe(MulMaybe(Unsqueeze(pw, 1), c.ClassWeightVec()), c.Valid())
			l := Mul(c.BCE(c.Target()), w)
			den := c.Valid()
			if c.Enum("normalize") == "weights" {
				den = ExpandAs(w, l)
			}
			return c.ReduceLoss(l, den, true)
		},
		Reference: reference.WeightedCE,
		Variants: []Options{
			{"normalize": "weights"}, {"ignore_index": "0", "classes": "3", "class_weights": "1,2,3"},
			{"mode": "binary", "normalize": "weights", "ignore_index": "-1"}, {"mode": "multilabel"},
		},
	})
}

// classesOrFail returns C, recording an error when it is not fixed.
func (c *Ctx) classesOrFail() int {
	if c.Classes == 0 {
		c.G.Fail("%s needs --classes here", c.Loss)
		return 1
	}
	return c.Classes
}

func validatePosWeight(c *Config) error {
	pw := c.Floats("pos_weight")
	if len(pw) > 1 {
		if c.Mode == Binary {
			return fmt.Errorf("binary mode takes one pos_weight value")
		}
		if c.Classes != 0 && len(pw) != c.Classes {
			return fmt.Errorf("pos_weight has %d values but there are %d classes", len(pw), c.Classes)
		}
		if c.Classes == 0 {
			c.Classes = len(pw)
		}
	}
	return nil
}

// channelConst returns per-channel values as a constant broadcasting over
// [N,C,*]: one value becomes a scalar.
func channelConst(c *Ctx, vals []float64) *Value {
	if len(vals) == 1 {
		return Scalar(c.G, c.ComputeType(), vals[0])
	}
	return ReshapeDims(Floats(c.G, c.ComputeType(), vals...), append([]int64{1, -1}, ones(c.SpatialDims)...)...)
}

// smoothTarget applies bce's label smoothing: t(1-s) + (1-t)s.
func smoothTarget(c *Ctx) *Value {
	t := c.Target()
	s := c.Float("label_smoothing")
	if s == 0 {
		return t
	}
	t = AddScalar(MulScalar(t, 1-2*s), s)
	return MulMaybe(t, c.Valid())
}

// countValid counts the entries that are not ignored, over axes (all when
// none), keeping dimensions so it broadcasts.
func countValid(c *Ctx, axes []int) *Value {
	if v := c.Valid(); v != nil {
		return ReduceSum(v, true, axes...)
	}
	dims := ShapeOf(c.X)
	if len(axes) > 0 { // per image: every axis but the batch
		dims = Slice(dims, []int64{1}, []int64{math.MaxInt64}, []int64{0}, nil)
	}
	return Cast(ReduceProd(dims, false), c.ComputeType())
}

// reduceElementwise reduces a per-element [N,C,*] loss, honouring mean_over
// when entries are ignored.
func reduceElementwise(c *Ctx, l *Value) *Value {
	l = MulMaybe(l, c.Valid())
	var den *Value
	if c.Valid() != nil && c.Enum("mean_over") == "valid" {
		den = c.Valid()
	}
	return c.ReduceLoss(l, den, true)
}

// ReduceProdDims returns the number of elements of v as a 1-element int64
// value, computed from its shape at run time.
func ReduceProdDims(c *Ctx, v *Value) *Value {
	return ReshapeDims(ReduceProd(ShapeOf(v), false), 1)
}

func buildFocal(c *Ctx) *Value {
	gamma := c.Float("gamma")
	alpha := c.Floats("alpha")
	if c.Mode == Multiclass {
		lp := c.LogProbs()
		nll := c.NLL()
		// log(1 - p_y) from the other classes' probabilities: summing them
		// avoids the cancellation of 1 - p_y when p_y is close to 1.
		var log1mPy *Value
		if c.FromLogits {
			others := ReduceSum(Mul(Exp(lp), OneMinus(c.Target())), false, 1)
			log1mPy = ClampedLog(others)
		} else {
			log1mPy = ClampedLog(OneMinus(Exp(Neg(nll))))
		}
		mod := Exp(MulScalar(log1mPy, gamma))
		if gamma == 0 {
			mod = nil
		}
		w := MulMaybe(c.ClassWeightMap(), c.PixelValid())
		if alpha != nil {
			w = MulMaybe(Gather(Floats(c.G, c.ComputeType(), classAlpha(alpha, c.classesOrFail())...), c.Labels(), 0), w)
		}
		l := MulMaybe(MulMaybe(nll, mod), w)
		if c.Bool("normalized") && mod != nil {
			l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, c.PixelValid()), false), 1e-6))
		}
		var den *Value
		if c.PixelValid() != nil && c.Enum("mean_over") == "valid" {
			den = c.PixelValid()
		}
		return c.ReduceLoss(l, den, false)
	}
	t := c.Target()
	ce := c.BCE(t)
	var mod *Value
	if gamma != 0 {
		var log1mPt *Value
		if c.FromLogits {
			// log σ(z) for z = -x(2t-1): -(relu(-z) + log(1 + e^-|z|)).
			z := Neg(Mul(c.X, AddScalar(MulScalar(t, 2), -1)))
			log1mPt = Neg(Add(Relu(Neg(z)), Log(AddScalar(Exp(Neg(Abs(z))), 1))))
		} else {
			p := c.X
			log1mPt = ClampedLog(Sub(Add(p, t), MulScalar(Mul(p, t), 2)))
		}
		mod = Exp(MulScalar(log1mPt, gamma))
	}
	l := MulMaybe(ce, mod)
	if alpha != nil {
		a := channelConst(c, alpha)
		l = Mul(l, Add(Mul(a, t), Mul(OneMinus(a), OneMinus(t))))
	}
	l = MulMaybe(MulMaybe(l, c.ClassWeightVec()), c.Valid())
	if c.Bool("normalized") && mod != nil {
		l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, c.Valid()), false), 1e-6))
	}
	return reduceElementwise(c, l)
}

// classAlpha expands a focal alpha to one value per class: a single α gives
// 1-α to class 0 and α to the others.
func classAlpha(alpha []float64, classes int) []float64 {
	if len(alpha) > 1 {
		return alpha
	}
	out := make([]float64, classes)
	for i := range out {
		out[i] = alpha[0]
	}
	out[0] = 1 - alpha[0]
	return out
}
