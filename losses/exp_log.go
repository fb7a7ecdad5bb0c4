package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// ExpLog is the parameter set of the exp-log loss.
type ExpLog = param.ExpLog

var expLog = Define(Spec{
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
	Citation:    "Wong, Moradi, Tang & Syeda-Mahmood, 3D Segmentation with Exponential Logarithmic Loss for Highly Unbalanced Object Sizes, MICCAI 2018.",
	Formula:     "loss = w_dice·mean_c (-ln max(Dice_c, eps))^γ_dice + w_ce·mean_x w_y (-ln p_y)^γ_ce",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true,
	Reductions: compoundReductions,
	Notes: []string{
		compoundReductionNote,
		"The cross-entropy term is averaged over the valid pixels (entries in binary and multilabel mode), not divided by the sum of the weights.",
		"SegLoss's ExpLog_loss simplifies the loss: it raises -log of the class-mean Dice (clamped at 1e-6) to γ and adds a plain weighted cross-entropy, 0.8·(-log mean Dice)^0.3 + 0.2·WCE; that is not reproduced.",
		"SemSegLoss lists the loss in its README without implementing it.",
	},
	Variants: []Options{
		{"gamma_dice": "1", "gamma_ce": "1", "mode": "multiclass", "classes": "3", "class_weights": "0.5,1,2"},
		{"gamma_dice": "0.5", "gamma_ce": "2", "w_dice": "1", "w_ce": "1", "mode": "multiclass", "ignore_index": "0", "absent_classes": "skip"},
		{"mode": "multilabel", "per_image": "false", "class_weights": "1,2,3", "reduction": "sum"},
	},
}, Funcs[ExpLog]{
	Build:     buildExpLog,
	Reference: reference.ExpLog,
	Validate:  func(c *Config, p *ExpLog) error { return validateOverlap(c, &p.Overlap) },
	PerSample: func(c *Config, p *ExpLog) bool { return overlapPerSample(c, &p.Overlap) },
})

// buildExpLog writes w_dice times the exponential log Dice term plus w_ce
// times the exponential cross-entropy term.
func buildExpLog(c *Ctx, p *ExpLog) *Value {
	gc := p.GammaCE
	dice := c.expLogDice(&p.Overlap, p.GammaDice)
	var ce *Value
	if c.Mode == Multiclass {
		l := MulMaybe(MulMaybe(powFloorMap(c.accurateNLL(), gc), c.ClassWeightMap()), c.PixelValid())
		ce = c.ReduceLoss(l, c.PixelValid(), false)
	} else {
		l := MulMaybe(MulMaybe(powFloorMap(c.accurateBCE(c.Target()), gc), c.ClassWeightVec()), c.Valid())
		ce = c.ReduceLoss(l, c.Valid(), true)
	}
	return Add(MulScalar(dice, p.WDice), MulScalar(ce, p.WCE))
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
func (c *Ctx) expLogDice(o *param.Overlap, gamma float64) *Value {
	st := c.overlapStats(o)
	p, t := c.regionP(), c.regionT(o.TargetEps)
	var e *Value
	switch {
	case o.Squared:
		e = Square(Sub(p, t))
	case o.Intersection == param.IntersectionL1:
		e = Abs(Sub(p, t))
	default:
		q := MulMaybe(c.complementProbs(), c.Valid())
		e = Add(Mul(p, OneMinus(t)), Mul(q, t))
	}
	errSum := c.columns(o, c.spatialSum(e))
	den := AddScalar(st.S, o.SmoothDr)
	// With the clamp, 1 - num/max(den, eps) = (den - num + max(eps - den, 0))/max(den, eps).
	lift := AddScalar(errSum, o.SmoothDr-o.SmoothNr)
	if o.Eps > 0 {
		lift = Add(lift, Relu(Sub(ConstAs(den, o.Eps), den)))
		den = ClipMin(den, o.Eps)
	}
	// log1p needs w = 1 - L as well: the Dice score itself, num/den, which
	// keeps its precision where it is small (L near 1).
	num := AddScalar(MulScalar(st.I, 2), o.SmoothNr)
	logDice := log1p(Neg(Div(lift, den)), Div(num, den), logFloor(o.Eps))
	loss := powFloor(Neg(logDice), gamma)
	loss, counted := absentPolicy(o, loss, st.St)
	return c.regionReduce(o, loss, counted, true)
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
//
// From logits its gradient is given directly, (1-t)·σ(x) - t·σ(-x) in x
// and -x in t, with σ(±x) from logisticSigmoid: accurate
// relative to the value where it is tiny (a saturated right answer), as
// the power of the exponential logarithmic loss needs. σ(x) - t, as bce
// writes it, rounds to 0 there.
func (c *Ctx) accurateBCE(t *Value) *Value {
	if c.FromLogits {
		x, e, w := c.X, c.expNegAbs(), c.onePlusExpNegAbs()
		l := Add(Sub(reluPos(x, c.absX()), Mul(x, t)), log1p(e, w, reference.ProbFloor))
		return WithGradient(l, []*Value{x, t}, func(ct *Value, need []bool) []*Value {
			out := make([]*Value, 2)
			if need[0] {
				out[0] = Mul(ct, Sub(Mul(OneMinus(t), c.logisticSigmoid(false)), Mul(t, c.logisticSigmoid(true))))
			}
			if need[1] {
				out[1] = Mul(ct, Neg(x))
			}
			return out
		})
	}
	log1mP := log1p(Neg(c.X), OneMinus(c.X), reference.ProbFloor)
	return Neg(Add(Mul(t, ClampedLog(c.X)), Mul(OneMinus(t), log1mP)))
}
