package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// Shared pieces of the cross-entropy family, used by its losses and by the
// compound losses with a cross-entropy or focal term.

const (
	elementwiseNone = "the per-element loss, shaped like input ([N,C,*spatial] or [N,*spatial,C]); ignored entries are 0"
	pixelNone       = "the per-pixel loss [N,*spatial]; ignored pixels are 0"
)

// classesOrFail returns C, recording an error when it is not fixed.
func (c *Ctx) classesOrFail() int {
	if c.Classes == 0 {
		c.G.Fail("%s needs --classes here", c.Loss)
		return 1
	}
	return c.Classes
}

// validatePosWeight checks pos_weight against the mode and classes, and
// takes C from it when C is not given.
func validatePosWeight(c *Config, pw []float64) error {
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
func smoothTarget(c *Ctx, s float64) *Value {
	t := c.Target()
	if s == 0 {
		return t
	}
	t = AddScalar(MulScalar(t, 1-2*s), s)
	return Name(MulMaybe(t, c.Valid()), "target_smoothed")
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
func reduceElementwise(c *Ctx, l *Value, meanOver param.MeanOver) *Value {
	l = Name(MulMaybe(l, c.Valid()), "pixel_loss")
	var den *Value
	if c.Valid() != nil && meanOver == param.MeanOverValid {
		den = c.Valid()
	}
	return c.ReduceLoss(l, den, true)
}

// elementwisePerSample reports whether a per-entry loss reduced by
// reduceElementwise is computed one sample at a time with its gradient
// (Spec.PerSample): without ignored entries its mean is over every entry,
// the same number in each sample. Multiclass mode keeps the whole-batch
// graph (see overlapPerSample).
func elementwisePerSample(c *Config) bool {
	return c.Mode != Multiclass && c.IgnoreIndex == nil
}

// ReduceProdDims returns the number of elements of v as a 1-element int64
// value, computed from its shape at run time.
func ReduceProdDims(c *Ctx, v *Value) *Value {
	return ReshapeDims(ReduceProd(ShapeOf(v), false), 1)
}

// focalScope holds the focal loss's own options that compound losses with
// a focal term leave at their zero value.
type focalScope struct {
	// dropBackground leaves channel 0 out in multilabel mode.
	dropBackground bool
	// meanOfEntries divides multiclass mode's mean by C as well.
	meanOfEntries bool
	// targetEps moves multiclass targets to t(1-ε)+ε.
	targetEps float64
}

// buildFocal writes the focal loss with the options f: the softmax form in
// multiclass mode, the sigmoid form per entry otherwise.
func buildFocal(c *Ctx, f *param.FocalTerm) *Value { return buildFocalScoped(c, f, focalScope{}) }

// buildFocalScoped is buildFocal with the focal loss's own options.
func buildFocalScoped(c *Ctx, f *param.FocalTerm, scope focalScope) *Value {
	gamma, alpha := f.Gamma, f.Alpha
	if c.Mode == Multiclass && (c.TargetForm == TargetOneHot || scope.targetEps > 0) {
		return buildFocalOneHot(c, f, scope)
	}
	if c.Mode == Multiclass {
		lp := c.LogProbs()
		nll := c.NLL()
		// log(1 - p_y) from the other classes' probabilities: summing them
		// avoids the cancellation of 1 - p_y when p_y is close to 1.
		var log1mPy *Value
		switch {
		case f.ProbClip > 0 && c.FromLogits:
			// Keras: p = softmax(x) clipped to [lo, hi], in log space.
			lo, hi := c.probClipBounds(f.ProbClip)
			log1mPy = Clip(ClampedLog(ReduceSum(Mul(Exp(lp), OneMinus(c.Target())), false, 1)), math.Log(1-hi), math.Log(1-lo))
			nll = Neg(Clip(Neg(nll), math.Log(lo), math.Log(hi)))
		case f.ProbClip > 0:
			// Keras: p / Σp clipped to [lo, hi].
			lo, hi := c.probClipBounds(f.ProbClip)
			py := Squeeze(GatherElements(Div(c.X, ReduceSum(c.X, true, 1)), Unsqueeze(c.Labels(), 1), 1), 1)
			py = Clip(py, lo, hi)
			nll, log1mPy = Neg(Log(py)), Log(OneMinus(py))
		case c.FromLogits:
			others := ReduceSum(Mul(Exp(lp), OneMinus(c.Target())), false, 1)
			log1mPy = ClampedLog(others)
		default:
			log1mPy = ClampedLog(OneMinus(Exp(Neg(nll))))
		}
		mod := Name(Exp(MulScalar(Name(log1mPy, "log_complement_py"), gamma)), "modulating_factor")
		if gamma == 0 {
			mod = nil
		}
		w := MulMaybe(c.ClassWeightMap(), c.PixelValid())
		if alpha != nil {
			w = MulMaybe(Name(Gather(Floats(c.G, c.ComputeType(), classAlpha(alpha, c.classesOrFail())...), c.Labels(), 0), "alpha_weight"), w)
		}
		l := MulMaybe(MulMaybe(nll, mod), w)
		if e := f.LabelSmoothing; e > 0 {
			n := float64(c.classesOrFail())
			l = Add(MulScalar(l, 1-e), MulMaybe(MulScalar(c.focalClassTerms(f), e/n), c.PixelValid()))
		}
		l = Name(l, "pixel_loss")
		if f.Normalized && mod != nil {
			l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, c.PixelValid()), false), 1e-6))
		}
		return focalPixelReduce(c, f, scope, l)
	}
	t := smoothTarget(c, f.LabelSmoothing)
	var ce *Value
	if f.ProbClip > 0 && !c.FromLogits {
		logP, log1mP := c.clippedLogSigmoids(f.ProbClip)
		ce = Neg(Add(Mul(t, logP), Mul(OneMinus(t), log1mP)))
	} else {
		ce = c.BCE(t)
	}
	var mod *Value
	if gamma != 0 {
		var log1mPt *Value
		switch {
		case c.FromLogits && f.Modulation == param.ModulationProb:
			// 1 - p_t = t·σ(-x) + (1-t)·σ(x): a sum of two non-negative
			// terms, so no cancellation.
			log1mPt = ClampedLog(Add(Mul(t, Sigmoid(Neg(c.X))), Mul(OneMinus(t), Sigmoid(c.X))))
		case c.FromLogits:
			// log σ(z) for z = -x(2t-1): -(relu(-z) + log(1 + e^-|z|)).
			log1mPt = logSigmoid(Neg(Mul(c.X, AddScalar(MulScalar(t, 2), -1))))
		default:
			p := c.X
			log1mPt = ClampedLog(Sub(Add(p, t), MulScalar(Mul(p, t), 2)))
		}
		mod = Name(Exp(MulScalar(Name(log1mPt, "log_complement_pt"), gamma)), "modulating_factor")
	}
	l := MulMaybe(ce, mod)
	if alpha != nil {
		a := channelConst(c, alpha)
		l = Mul(l, Name(Add(Mul(a, t), Mul(OneMinus(a), OneMinus(t))), "alpha_weight"))
	}
	l = MulMaybe(l, c.ClassWeightVec())
	if scope.dropBackground {
		valid := dropChannel0(c.Valid())
		l, mod = MulMaybe(dropChannel0(l), valid), dropChannel0(mod)
		if f.Normalized && mod != nil {
			l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, valid), false), 1e-6))
		}
		var den *Value
		if valid != nil && f.MeanOver == param.MeanOverValid {
			den = valid
		}
		return c.ReduceLoss(l, den, true)
	}
	l = MulMaybe(l, c.Valid())
	if f.Normalized && mod != nil {
		l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, c.Valid()), false), 1e-6))
	}
	return reduceElementwise(c, l, f.MeanOver)
}

// focalClassTerms returns Σ_c α_c·w_c·(1-p_c)^γ·(-log p_c) per pixel
// [N,*spatial], the term that label smoothing spreads over every class in
// multiclass mode, with the probabilities clipped as prob_clip says. For the
// label's class, where p_c may be close to 1, 1 - p_c cancels; there -log p_c
// is close to 0, so the term's absolute error stays small.
func (c *Ctx) focalClassTerms(f *param.FocalTerm) *Value {
	var lpc, log1mc *Value
	switch {
	case f.ProbClip > 0 && c.FromLogits:
		lo, hi := c.probClipBounds(f.ProbClip)
		lpc = Clip(c.LogProbs(), math.Log(lo), math.Log(hi))
		log1mc = Log(OneMinus(Exp(lpc)))
	case f.ProbClip > 0:
		lo, hi := c.probClipBounds(f.ProbClip)
		q := Clip(Div(c.X, ReduceSum(c.X, true, 1)), lo, hi)
		lpc, log1mc = Log(q), Log(OneMinus(q))
	case c.FromLogits:
		lpc = c.LogProbs()
		log1mc = ClampedLog(OneMinus(Exp(lpc)))
	default:
		lpc, log1mc = c.LogProbs(), ClampedLog(OneMinus(c.X))
	}
	term := Neg(lpc)
	if f.Gamma != 0 {
		term = Mul(term, Exp(MulScalar(log1mc, f.Gamma)))
	}
	n := c.classesOrFail()
	wc := make([]float64, n)
	for i := range wc {
		wc[i] = 1
		if c.ClassWeights != nil {
			wc[i] = c.ClassWeights[i]
		}
		if f.Alpha != nil {
			wc[i] *= classAlpha(f.Alpha, n)[i]
		}
	}
	return ReduceSum(Mul(term, channelConst(c, wc)), false, 1)
}

// buildFocalOneHot writes the softmax focal loss against one-hot or soft
// targets [N,C,*] (label maps as their one-hot form, moved by target_eps):
// -Σ_c α_c·w_c·t_c·(1-p_c)^γ·log p_c per pixel, MONAI's and kornia's form,
// which is the label form for one-hot targets. (1-p_c)^γ is
// exp(γ·log(1-p_c)) with the log clamped, so saturated classes give 0 and
// no NaN.
func buildFocalOneHot(c *Ctx, f *param.FocalTerm, scope focalScope) *Value {
	lp := c.LogProbs()
	t := c.Target()
	if eps := scope.targetEps; eps > 0 {
		t = MulMaybe(AddScalar(MulScalar(t, 1-eps), eps), c.Valid())
	}
	t = MulMaybe(t, c.ClassWeightVec())
	if f.Alpha != nil {
		t = Mul(t, channelConst(c, classAlpha(f.Alpha, c.classesOrFail())))
	}
	l := Mul(t, lp)
	if f.Gamma != 0 {
		l = Mul(l, Exp(MulScalar(ClampedLog(OneMinus(Exp(lp))), f.Gamma)))
	}
	return focalPixelReduce(c, f, scope, Neg(ReduceSum(l, false, 1)))
}

// focalPixelReduce reduces multiclass mode's per-pixel focal loss l
// [N,*spatial]: over the valid pixels or every pixel (mean_over), and, with
// mean_of entries, over the C entries each pixel stands for as well.
func focalPixelReduce(c *Ctx, f *param.FocalTerm, scope focalScope, l *Value) *Value {
	var den *Value
	if c.PixelValid() != nil && f.MeanOver == param.MeanOverValid {
		den = c.PixelValid()
	}
	if scope.meanOfEntries && c.Reduction == Mean {
		classes := ReshapeDims(Cast(DimOf(c.X, 1), c.ComputeType()))
		if den == nil {
			return Div(ReduceMean(l, false), classes)
		}
		return SafeDiv(ReduceSum(l, false), Mul(ReduceSum(den, false), classes))
	}
	return c.ReduceLoss(l, den, false)
}

// dropChannel0 returns v[:, 1:], or nil for nil.
func dropChannel0(v *Value) *Value {
	if v == nil {
		return nil
	}
	return Slice(v, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil)
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

// probClipBounds returns prob_clip's bounds ε and 1-ε rounded to the compute
// precision, where Keras rounds them: in float32 1-1e-7 is 1-2^-23, so
// 1 - p is at least 2^-23 there.
func (c *Ctx) probClipBounds(eps float64) (lo, hi float64) {
	if c.ComputeType() == tensor.Float64 {
		return eps, 1 - eps
	}
	return float64(float32(eps)), float64(float32(1 - eps))
}

// clippedLogSigmoids returns log p and log(1-p) of probability inputs
// (binary and multilabel mode) clipped to prob_clip's [lo, hi].
func (c *Ctx) clippedLogSigmoids(eps float64) (logP, log1mP *Value) {
	lo, hi := c.probClipBounds(eps)
	p := Clip(c.X, lo, hi)
	return Log(p), Log(OneMinus(p))
}

// clippedLogProbs returns Keras's log-probabilities of the classes [N,C,*]
// from probabilities under prob_clip: for label targets
// (SparseCategoricalCrossentropy) log clip(p_c) - log Σ_k clip(p_k), for
// one-hot targets (CategoricalCrossentropy) log clip(p_c / Σ_k p_k).
func (c *Ctx) clippedLogProbs(eps float64) *Value {
	lo, hi := c.probClipBounds(eps)
	if c.TargetForm == TargetOneHot {
		return Log(Clip(Div(c.X, ReduceSum(c.X, true, 1)), lo, hi))
	}
	p := Clip(c.X, lo, hi)
	return Sub(Log(p), Log(ReduceSum(p, true, 1)))
}
