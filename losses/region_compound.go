package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// The compound losses add a cross-entropy-family term to an overlap term.
// They reuse the cross-entropy family's Build functions and parameters, so
// both terms share the activations (one softmax or sigmoid per graph).

var compoundReductions = []string{"mean", "sum"}

const compoundReductionNote = "--reduction none is not offered: the two terms live on different shapes (per sample and class for the overlap term, per pixel for the cross-entropy term); MONAI's compound losses reject it too. sum adds the sum of each term."

// specParam returns a parameter declared by another loss, so compound
// losses take it with the same name, range and meaning.
func specParam(loss, name string) Param {
	s, err := Lookup(loss)
	if err != nil {
		panic("losses: " + err.Error())
	}
	p := s.Param(name)
	if p == nil {
		panic("losses: " + loss + " has no parameter " + name)
	}
	return *p
}

// diceParamsNoLog are the Dice term's parameters without log_loss.
func diceParamsNoLog() []Param {
	return []Param{smoothNrParam, smoothDrParam, epsParam, squaredParam, perImageParam, averageParam, absentParam,
		intersectionParam, backgroundParam, targetEpsParam, weightingParam}
}

func lambdaParam(name, term, who string) Param {
	return Param{Name: name, Kind: KindFloat, Default: 1.0, Min: fptr(0), Doc: "weight of the " + term + " term (" + who + ")"}
}

// comboCE is Taghanaki et al.'s β-weighted binary cross-entropy per entry,
// -(β·t·log p + (1-β)·(1-t)·log(1-p)), over every channel (softmax
// probabilities in multiclass mode), zero at ignored entries.
func comboCE(c *Ctx, beta float64) (l, den *Value) {
	t := c.Target()
	var logP, log1mP *Value
	if c.Mode == Multiclass {
		logP = c.LogProbs()
		log1mP = ClampedLog(c.complementProbs())
	} else {
		logP, log1mP = c.LogSigmoids()
	}
	l = Neg(Add(MulScalar(Mul(t, logP), beta), MulScalar(Mul(OneMinus(t), log1mP), 1-beta)))
	l = MulMaybe(MulMaybe(l, c.ClassWeightVec()), c.Valid())
	if v := c.Valid(); v != nil {
		den = ExpandAs(v, l)
	}
	return l, den
}

// The exponential logarithmic loss raises small quantities to powers below
// 1, where float32 cancellation is magnified: (6e-8)^0.3 is 0.007. Its
// terms are therefore computed from sums and logs that never subtract
// nearly equal numbers.

// expLogDice is the class mean of (-ln max(Dice, eps))^γ. -ln Dice is
// -log1p(-L) with L = 1 - Dice = (E + smooth_dr - smooth_nr)/den, where the
// error sum E = Σp + Σt - 2I is summed from non-negative terms: p(1-t) +
// (1-p)t (with 1-p from the complement probabilities), |p-t| (l1) or (p-t)²
// (squared).
func (c *Ctx) expLogDice(gamma float64) *Value {
	rc := regionConvOf(c.Config)
	st := c.overlapStats(rc)
	p, t := c.regionP(), c.regionT(rc.targetEps)
	var e *Value
	switch {
	case rc.squared:
		e = Square(Sub(p, t))
	case rc.l1:
		e = Abs(Sub(p, t))
	default:
		q := MulMaybe(c.complementProbs(), c.Valid())
		e = Add(Mul(p, OneMinus(t)), Mul(q, t))
	}
	errSum := c.columns(rc, c.spatialSum(e))
	den := AddScalar(st.S, rc.smoothDr)
	// With the clamp, 1 - num/max(den, eps) = (den - num + max(eps - den, 0))/max(den, eps).
	lift := AddScalar(errSum, rc.smoothDr-rc.smoothNr)
	if rc.eps > 0 {
		lift = Add(lift, Relu(Sub(ConstAs(den, rc.eps), den)))
		den = ClipMin(den, rc.eps)
	}
	// log1p needs w = 1 - L as well: the Dice score itself, num/den, which
	// keeps its precision where it is small (L near 1).
	num := AddScalar(MulScalar(st.I, 2), rc.smoothNr)
	logDice := log1p(Neg(Div(lift, den)), Div(num, den), logFloor(rc.eps))
	loss := powFloor(Neg(logDice), gamma)
	loss, counted := absentPolicy(rc, loss, st.St)
	return c.regionReduce(rc, loss, counted, true)
}

// accurateNLL is -log p_y per pixel [N,*]; where p_y > 1/2 it is
// -log1p(-(1-p_y)) with 1-p_y the sum of the other classes' probabilities,
// so a confident right pixel keeps its tiny loss.
func (c *Ctx) accurateNLL() *Value {
	if !c.FromLogits {
		return c.NLL()
	}
	q := Squeeze(GatherElements(c.complementProbs(), Unsqueeze(c.Labels(), 1), 1), 1)
	negQ := Neg(q)
	small := Less(q, ConstAs(q, 0.5))
	return Where(small, Neg(log1p(negQ, OneMinus(q), reference.ProbFloor)), c.NLL())
}

// accurateBCE is the binary cross-entropy of every entry with an accurate
// log(1 + e^-|x|) (from logits) or log(1 - p) (from probabilities).
func (c *Ctx) accurateBCE(t *Value) *Value {
	if c.FromLogits {
		return Add(Sub(Relu(c.X), Mul(c.X, t)), log1p(c.expNegAbs(), c.onePlusExpNegAbs(), reference.ProbFloor))
	}
	log1mP := log1p(Neg(c.X), OneMinus(c.X), reference.ProbFloor)
	return Neg(Add(Mul(t, ClampedLog(c.X)), Mul(OneMinus(t), log1mP)))
}

func validateCompoundCE(c *Config) error {
	if c.Mode == Multiclass {
		if c.Floats("pos_weight") != nil {
			return fmt.Errorf("pos_weight applies to the binary cross-entropy of binary and multilabel mode; multiclass mode uses class_weights")
		}
		if err := validateLabelSmoothing(c, c.Float("label_smoothing")); err != nil {
			return err
		}
	} else if err := validatePosWeight(c, c.Floats("pos_weight")); err != nil {
		return err
	}
	return validateRegion(c)
}

func init() {
	ls := specParam("bce", "label_smoothing")
	ls.Doc = "label smoothing of the cross-entropy term: PyTorch's label_smoothing ε in multiclass mode (needs --classes), targets t(1-s)+(1-t)s in binary and multilabel mode"
	posWeight := specParam("bce", "pos_weight")
	posWeight.Doc = "binary and multilabel mode: weight of the positive term of the cross-entropy, one value or one per channel (PyTorch's pos_weight; MONAI's DiceCELoss passes its weight here for one-channel input)"
	meanOver := specParam("bce", "mean_over")
	meanOver.Doc = "binary and multilabel mode: denominator of the cross-entropy term's mean when entries are ignored, valid or all entries"

	Register(&Spec{
		Name:    "combo",
		Family:  "region",
		Summary: "Combo loss (Taghanaki): α·weighted cross-entropy + (1-α)·Dice loss, β weighing positives inside the cross-entropy.",
		Description: "The combo loss mixes a β-weighted binary cross-entropy, -(β·t·log p + (1-β)(1-t)·log(1-p)) averaged " +
			"over every entry (every channel, softmax probabilities in multiclass mode), with the Dice loss: " +
			"α·CE + (1-α)·(1 - Dice). β > 0.5 penalises false negatives more, β < 0.5 false positives. The paper " +
			"subtracts the Dice score itself; 1 - Dice differs by the constant 1-α and keeps the loss non-negative. " +
			"log p and log(1-p) are computed from logits without cancellation and clamped at log 2^-126. The Dice term " +
			"takes the dice loss's parameters; with the default smoothing an empty target with an empty prediction " +
			"gives a Dice term of 0 and a cross-entropy that goes to 0 as the prediction saturates.",
		Citation: "Taghanaki, Zheng, Zhou, Georgescu, Sharma, Xu, Comaniciu & Hamarneh, Combo loss: Handling input and output imbalance in multi-organ segmentation, Computerized Medical Imaging and Graphics 2019.",
		Formula:  "loss = α·mean(-(β t log p + (1-β)(1-t) log(1-p))) + (1-α)·(1 - Dice)",
		Modes:    regionModes,
		Params: append([]Param{
			{Name: "alpha", Kind: KindFloat, Default: 0.5, Min: fptr(0), Max: fptr(1), Doc: "weight α of the cross-entropy term; 1-α weighs the Dice term"},
			{Name: "beta", Kind: KindFloat, Default: 0.5, Min: fptr(0), Max: fptr(1), Doc: "weight β of the positive term inside the cross-entropy; 1-β weighs the negative term (0.5: half the plain cross-entropy)"},
		}, diceParamsNoLog()...),
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		Reductions: compoundReductions,
		Notes: []string{
			compoundReductionNote,
			"Class weights multiply each channel's cross-entropy and enter the Dice term's class mean.",
			"SemSegLoss lists the combo loss in its README without implementing it.",
		},
		Validate: validateRegion,
		Build: func(c *Ctx) *Value {
			alpha := c.Float("alpha")
			dice := c.overlapLoss(diceIndex, nil)
			l, den := comboCE(c, c.Float("beta"))
			return Add(MulScalar(c.ReduceLoss(l, den, true), alpha), MulScalar(dice, 1-alpha))
		},
		Reference: reference.Combo,
		Variants: []Options{
			{"alpha": "0.3", "beta": "0.8", "mode": "multiclass", "ignore_index": "1"},
			{"alpha": "0.9", "beta": "0.2", "mode": "multilabel", "class_weights": "1,2,0.5", "per_image": "false"},
			{"mode": "multiclass", "target": "onehot", "beta": "0.7"},
		},
	})

	Register(&Spec{
		Name:    "exp-log",
		Family:  "region",
		Summary: "Exponential logarithmic loss (Wong): w_dice·mean (-ln Dice)^γ_dice + w_ce·mean w_y (-ln p_y)^γ_ce.",
		Description: "Wong et al.'s exponential logarithmic loss raises the negative log of each class's Dice score and " +
			"the cross-entropy of each pixel to small powers before averaging, which emphasises poorly segmented " +
			"classes and hard pixels without the instability of plain log Dice: " +
			"w_dice·E_c[(-ln Dice_c)^γ_dice] + w_ce·E_x[w_y·(-ln p_y(x))^γ_ce]. class_weights are the paper's label " +
			"weights w_y (it uses ((Σ_k f_k)/f_y)^0.5 from label frequencies f) and apply to the cross-entropy term " +
			"only. Powers are taken of max(x, 2^-126) and the Dice score is floored at eps, so perfect predictions " +
			"give 0 with finite gradients and an empty target with an empty prediction gives 0 with the default " +
			"smoothing.",
		Citation: "Wong, Moradi, Tang & Syeda-Mahmood, 3D Segmentation with Exponential Logarithmic Loss for Highly Unbalanced Object Sizes, MICCAI 2018.",
		Formula:  "loss = w_dice·mean_c (-ln max(Dice_c, eps))^γ_dice + w_ce·mean_x w_y (-ln p_y)^γ_ce",
		Modes:    regionModes,
		Params: append([]Param{
			{Name: "w_dice", Kind: KindFloat, Default: 0.8, Min: fptr(0), Doc: "weight of the Dice term (Wong et al. 0.8)"},
			{Name: "w_ce", Kind: KindFloat, Default: 0.2, Min: fptr(0), Doc: "weight of the cross-entropy term (Wong et al. 0.2)"},
			{Name: "gamma_dice", Kind: KindFloat, Default: 0.3, Min: fptr(0), MinExclusive: true, Doc: "exponent of -ln Dice (Wong et al. 0.3)"},
			{Name: "gamma_ce", Kind: KindFloat, Default: 0.3, Min: fptr(0), MinExclusive: true, Doc: "exponent of the cross-entropy (Wong et al. 0.3)"},
		}, smoothNrParam, smoothDrParam, epsParam, squaredParam, perImageParam, averageParam, absentParam, intersectionParam, backgroundParam, targetEpsParam),
		IgnoreIndex: true, ClassWeights: true,
		Reductions: compoundReductions,
		Notes: []string{
			compoundReductionNote,
			"The cross-entropy term is averaged over the valid pixels (entries in binary and multilabel mode), not divided by the sum of the weights.",
			"SegLoss's ExpLog_loss simplifies the loss: it raises -log of the class-mean Dice (clamped at 1e-6) to γ and adds a plain weighted cross-entropy, 0.8·(-log mean Dice)^0.3 + 0.2·WCE; that is not reproduced.",
			"SemSegLoss lists the loss in its README without implementing it.",
		},
		Validate: validateRegion,
		Build: func(c *Ctx) *Value {
			gd, gc := c.Float("gamma_dice"), c.Float("gamma_ce")
			dice := c.expLogDice(gd)
			var ce *Value
			if c.Mode == Multiclass {
				l := MulMaybe(MulMaybe(powFloor(c.accurateNLL(), gc), c.ClassWeightMap()), c.PixelValid())
				ce = c.ReduceLoss(l, c.PixelValid(), false)
			} else {
				l := MulMaybe(MulMaybe(powFloor(c.accurateBCE(c.Target()), gc), c.ClassWeightVec()), c.Valid())
				ce = c.ReduceLoss(l, c.Valid(), true)
			}
			return Add(MulScalar(dice, c.Float("w_dice")), MulScalar(ce, c.Float("w_ce")))
		},
		Reference: reference.ExpLog,
		Variants: []Options{
			{"gamma_dice": "1", "gamma_ce": "1", "mode": "multiclass", "classes": "3", "class_weights": "0.5,1,2"},
			{"gamma_dice": "0.5", "gamma_ce": "2", "w_dice": "1", "w_ce": "1", "mode": "multiclass", "ignore_index": "0", "absent_classes": "skip"},
			{"mode": "multilabel", "per_image": "false", "class_weights": "1,2,3", "reduction": "sum"},
		},
	})

	Register(&Spec{
		Name:    "dice-ce",
		Family:  "region",
		Summary: "Dice + cross-entropy (nnU-Net, MONAI DiceCELoss): λ_dice·Dice loss + λ_ce·cross-entropy.",
		Description: "The sum used by nnU-Net and MONAI's DiceCELoss: λ_dice times the Dice loss plus λ_ce times the " +
			"cross-entropy. The Dice term is the dice loss with all its parameters; the cross-entropy term is onnxloss's " +
			"cross-entropy (PyTorch semantics: class weights, ignore_index, label smoothing, one-hot or soft targets) in " +
			"multiclass mode and bce (pos_weight, label smoothing) in binary and multilabel mode, computed from the " +
			"same activations. Class weights feed both terms, as MONAI's weight does. With the default smoothing an " +
			"empty target with an empty prediction gives a Dice term of 0; a batch whose pixels are all ignored gives 0.",
		Citation: "Isensee, Jaeger, Kohl, Petersen & Maier-Hein, nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation, Nature Methods 2021; MONAI DiceCELoss.",
		Formula:  "loss = λ_dice·(1 - Dice) + λ_ce·CE",
		Modes:    regionModes,
		Params: append([]Param{lambdaParam("lambda_dice", "Dice", "MONAI lambda_dice 1"), lambdaParam("lambda_ce", "cross-entropy", "MONAI lambda_ce 1"),
			ls, posWeight, meanOver}, overlapParams()...),
		Presets: []Preset{
			{Name: "monai", Doc: "MONAI DiceCELoss() defaults: Dice as MONAI's DiceLoss (per sample and class, smooth 1e-5, background included, weight multiplying each class's loss) plus PyTorch's cross-entropy, λ 1 and 1. " + monaiActNote + " For one-channel input MONAI passes weight to BCEWithLogitsLoss as pos_weight: use --pos-weight there.",
				Values: map[string]string{"lambda_dice": "1", "lambda_ce": "1", "per_image": "true", "average": "macro", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
					"absent_classes": "keep", "intersection": "product", "squared": "false", "include_background": "true", "target_eps": "0", "class_weighting": "scale"}},
		},
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		Reductions: compoundReductions,
		Notes: []string{
			compoundReductionNote,
			"nnU-Net (and SegLoss's DC_and_CE_loss) adds CE and the negative Dice score, CE - Dice, with the background excluded from Dice (--include-background=false) and batch or per-sample Dice by configuration (--per-image): onnxloss's 1 - Dice makes the value larger by λ_dice with the same gradient.",
			"MONAI's DiceCELoss has no ignore_index in the version surveyed; onnxloss masks ignored pixels in both terms.",
		},
		Validate: validateCompoundCE,
		Build: func(c *Ctx) *Value {
			dice := c.overlapLoss(diceIndex, nil)
			var ce *Value
			if c.Mode == Multiclass {
				ce = buildCrossEntropy(c, &CrossEntropy{LabelSmoothing: c.Float("label_smoothing")})
			} else {
				ce = buildBCE(c, &param.BCETerm{PosWeight: c.Floats("pos_weight"), LabelSmoothing: c.Float("label_smoothing"), MeanOver: param.MeanOver(c.Enum("mean_over"))})
			}
			return Add(MulScalar(dice, c.Float("lambda_dice")), MulScalar(ce, c.Float("lambda_ce")))
		},
		Reference: reference.DiceCE,
		Variants: []Options{
			{"preset": "monai", "mode": "multiclass", "classes": "3", "class_weights": "1,2,0.5"},
			{"mode": "multiclass", "classes": "4", "label_smoothing": "0.1", "ignore_index": "255", "include_background": "false", "per_image": "false", "lambda_ce": "0.5"},
			{"mode": "binary", "pos_weight": "3", "label_smoothing": "0.05", "lambda_dice": "2"},
			{"mode": "multilabel", "ignore_index": "-1", "mean_over": "all", "reduction": "sum"},
			{"mode": "multiclass", "target": "onehot"},
		},
	})

	Register(&Spec{
		Name:    "dice-focal",
		Family:  "region",
		Summary: "Dice + focal (MONAI DiceFocalLoss): λ_dice·Dice loss + λ_focal·focal loss.",
		Description: "λ_dice times the Dice loss plus λ_focal times onnxloss's focal loss: sigmoid focal in binary and " +
			"multilabel mode, softmax focal in multiclass mode, with the modulation computed in log space (no NaN for " +
			"γ < 1 or saturated logits). Both terms share the activations; class weights feed both. With the default " +
			"smoothing an empty target with an empty prediction gives a Dice term of 0 and a focal term that goes to " +
			"0 as the prediction saturates.",
		Citation: "Zhu et al., AnatomyNet: Deep learning for fast and fully automated whole-volume segmentation of head and neck anatomy, Medical Physics 2019 (Dice + focal); Lin et al., Focal Loss for Dense Object Detection, ICCV 2017.",
		Formula:  "loss = λ_dice·(1 - Dice) + λ_focal·focal",
		Modes:    regionModes,
		Params: append([]Param{lambdaParam("lambda_dice", "Dice", "MONAI lambda_dice 1"), lambdaParam("lambda_focal", "focal", "MONAI lambda_focal 1"),
			specParam("focal", "gamma"), specParam("focal", "alpha"), specParam("focal", "normalized"), specParam("focal", "mean_over")}, overlapParams()...),
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: false,
		Reductions: compoundReductions,
		Notes: []string{
			compoundReductionNote,
			"MONAI's DiceFocalLoss never passes use_softmax to its focal term, so the focal term is the sigmoid form even with softmax=True for the Dice term. onnxloss's multiclass focal term is the softmax form; MONAI's numbers with sigmoid=True come from --mode multilabel with one-hot targets, while its softmax=True combination (softmax Dice, sigmoid focal) has no equivalent here.",
			"MONAI's FocalLoss mean divides by every entry of [N,C,*] (mean_over all, per channel); in multiclass mode onnxloss's softmax focal term is per pixel.",
		},
		Validate: func(c *Config) error {
			if err := validateFocal(c, focalTermOf(c)); err != nil {
				return err
			}
			return validateRegion(c)
		},
		Build: func(c *Ctx) *Value {
			dice := c.overlapLoss(diceIndex, nil)
			return Add(MulScalar(dice, c.Float("lambda_dice")), MulScalar(buildFocal(c, focalTermOf(c.Config)), c.Float("lambda_focal")))
		},
		Reference: reference.DiceFocal,
		Variants: []Options{
			{"mode": "multiclass", "classes": "3", "gamma": "0.5", "alpha": "0.25", "ignore_index": "0", "per_image": "false"},
			{"mode": "multilabel", "gamma": "1", "alpha": "0.2,0.5,0.8", "class_weights": "1,2,1", "lambda_focal": "3"},
			{"mode": "binary", "normalized": "true", "reduction": "sum", "log_loss": "true"},
		},
	})
}
