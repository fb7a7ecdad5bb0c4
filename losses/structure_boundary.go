package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
)

// Shared pieces of boundary-f1, cldice, dice-cldice and duo: boundary F1,
// soft skeletons, clDice and its Dice term.

// validateBoundary refuses even max-pool widths.
func validateBoundary(b *param.BoundaryF1Term) error {
	for _, v := range []struct {
		name  string
		width int
	}{{"theta0", b.Theta0}, {"theta", b.Theta}} {
		if v.width%2 == 0 {
			return fmt.Errorf("%s must be odd, got %d", v.name, v.width)
		}
	}
	return nil
}

var clDiceNotes = []string{
	"Soft erosion is the minimum of 3-long min-pools along each spatial axis (a min-pool written as -maxpool(-x)); soft dilation a 3×…×3 max-pool, as in the authors' code and MONAI; 2D and 3D.",
	"Sums run over the whole batch and the included channels. MONAI's SoftclDiceLoss and SoftDiceclDiceLoss always drop channel 0, so a one-channel (binary) input leaves nothing and their loss is 0; here binary and multilabel mode keep every channel.",
	"MONAI's SoftclDiceLoss.forward takes (y_true, y_pred), the reverse of its other losses; the value is symmetric in its two arguments once both are probabilities, and onnxloss takes input then target like every loss here. The reversed order is not reproduced.",
	"MONAI SoftclDiceLoss(iter_=k, smooth=s) on softmax outputs: --mode multiclass --iterations k --smooth s.",
}

// cubeWindow is a max-pool of width k along every spatial axis, keeping the size.
func (c *Ctx) cubeWindow(k int64) Window {
	kernel := make([]int64, c.SpatialDims)
	for i := range kernel {
		kernel[i] = k
	}
	return Window{Kernel: kernel, Pads: SamePads(kernel...)}
}

// boundaryF1 returns 1 - BF1 per (image, channel) [N,C].
func (c *Ctx) boundaryF1(b *param.BoundaryF1Term) *Value {
	p, t, valid := c.Probs(), c.Target(), c.Valid()
	w0, w := c.cubeWindow(int64(b.Theta0)), c.cubeWindow(int64(b.Theta))
	eps := b.Eps
	boundary := func(m *Value) *Value {
		u := MulMaybe(OneMinus(m), valid)
		return MulMaybe(Sub(MaxPool(u, w0), u), valid)
	}
	pb, tb := boundary(p), boundary(t)
	pe, te := MaxPool(pb, w), MaxPool(tb, w)
	axes := c.SpatialAxes()
	sum := func(x *Value) *Value { return ReduceSum(x, false, axes...) }
	prec := Div(sum(Mul(pb, te)), AddScalar(sum(pb), eps))
	rec := Div(sum(Mul(pe, tb)), AddScalar(sum(tb), eps))
	f1 := Div(MulScalar(Mul(prec, rec), 2), AddScalar(Add(prec, rec), eps))
	return OneMinus(f1)
}

// softErode is the minimum over the spatial axes of 3-long min-pools along
// each axis, written -maxpool(-x).
func (c *Ctx) softErode(x *Value) *Value {
	neg := Neg(x)
	var out *Value
	for a := 0; a < c.SpatialDims; a++ {
		kernel := make([]int64, c.SpatialDims)
		for i := range kernel {
			kernel[i] = 1
		}
		kernel[a] = 3
		e := Neg(MaxPool(neg, Window{Kernel: kernel, Pads: SamePads(kernel...)}))
		if out == nil {
			out = e
		} else {
			out = Min(out, e)
		}
	}
	return out
}

// softSkeleton is the iterated soft skeleton of Shit et al. Each step
// erodes x once: the eroded value is both the next x and the input of the
// dilation that opens the current one, open(x) = dilate(erode(x)).
func (c *Ctx) softSkeleton(x *Value, iterations int) *Value {
	dilate := c.cubeWindow(3)
	e := c.softErode(x)
	skel := Relu(Sub(x, MaxPool(e, dilate)))
	for j := 0; j < iterations; j++ {
		x, e = e, c.softErode(e)
		delta := Relu(Sub(x, MaxPool(e, dilate)))
		skel = Add(skel, Relu(Sub(delta, Mul(skel, delta))))
	}
	return skel
}

// clDice returns the soft clDice loss and, when wanted, the soft Dice loss,
// both over the batch and the included channels.
func (c *Ctx) clDice(o *param.ClDiceTerm, wantDice bool) (cl, dice *Value) {
	p, t := c.Probs(), c.Target()
	if c.Mode == Multiclass && !o.IncludeBackground {
		from := []int64{1}
		to := []int64{math.MaxInt64}
		ax := []int64{1}
		p, t = Slice(p, from, to, ax, nil), Slice(t, from, to, ax, nil)
	}
	s := o.Smooth
	sum := func(x *Value) *Value { return ReduceSum(x, false) }
	ratio := func(num, den *Value) *Value { return Div(AddScalar(num, s), AddScalar(den, s)) }
	sp := func() *Value { pop := c.G.Scope("skeleton_input"); defer pop(); return c.softSkeleton(p, o.Iterations) }()
	st := func() *Value {
		pop := c.G.Scope("skeleton_target")
		defer pop()
		return c.softSkeleton(t, o.Iterations)
	}()
	tprec := ratio(sum(Mul(sp, t)), sum(sp))
	tsens := ratio(sum(Mul(st, p)), sum(st))
	cl = OneMinus(Div(MulScalar(Mul(tprec, tsens), 2), Add(tprec, tsens)))
	if wantDice {
		dice = c.softDice(s, o.IncludeBackground)
	}
	return cl, dice
}

// softDice is the Dice loss over the batch and the channels of p and t
// together: 1 - (2Σ p·t + s)/(Σ p + Σ t + s).
func (c *Ctx) softDice(s float64, includeBackground bool) *Value {
	bg := c.Mode != Multiclass || includeBackground
	o := param.Overlap{SmoothNr: s, SmoothDr: s, Average: param.AverageMicro, Intersection: param.IntersectionProduct, IncludeBackground: bg, AbsentClasses: param.AbsentKeep, ClassWeighting: param.ClassWeightingMean}
	return c.overlapLossWith(&o, diceIndex, nil, true)
}
