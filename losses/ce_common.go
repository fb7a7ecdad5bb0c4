package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
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

// ReduceProdDims returns the number of elements of v as a 1-element int64
// value, computed from its shape at run time.
func ReduceProdDims(c *Ctx, v *Value) *Value {
	return ReshapeDims(ReduceProd(ShapeOf(v), false), 1)
}

// buildFocal writes the focal loss with the options f: the softmax form in
// multiclass mode, the sigmoid form per entry otherwise.
func buildFocal(c *Ctx, f *param.FocalTerm) *Value {
	gamma, alpha := f.Gamma, f.Alpha
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
		mod := Name(Exp(MulScalar(Name(log1mPy, "log_complement_py"), gamma)), "modulating_factor")
		if gamma == 0 {
			mod = nil
		}
		w := MulMaybe(c.ClassWeightMap(), c.PixelValid())
		if alpha != nil {
			w = MulMaybe(Name(Gather(Floats(c.G, c.ComputeType(), classAlpha(alpha, c.classesOrFail())...), c.Labels(), 0), "alpha_weight"), w)
		}
		l := Name(MulMaybe(MulMaybe(nll, mod), w), "pixel_loss")
		if f.Normalized && mod != nil {
			l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, c.PixelValid()), false), 1e-6))
		}
		var den *Value
		if c.PixelValid() != nil && f.MeanOver == param.MeanOverValid {
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
			az := Abs(z)
			log1mPt = Neg(Add(reluNeg(z, az), Log(AddScalar(Exp(Neg(az)), 1))))
		} else {
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
	l = MulMaybe(MulMaybe(l, c.ClassWeightVec()), c.Valid())
	if f.Normalized && mod != nil {
		l = Div(l, ClipMin(ReduceSum(MulMaybe(mod, c.Valid()), false), 1e-6))
	}
	return reduceElementwise(c, l, f.MeanOver)
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
