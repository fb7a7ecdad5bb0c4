package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

var boundaryParams = []Param{
	{Name: "theta0", Kind: KindInt, Default: 3, Min: fptr(1), Max: fptr(255),
		Doc: "odd width of the max-pool that extracts boundaries (θ0; 3 in the authors' code, 19 in geo-deep-learning)"},
	{Name: "theta", Kind: KindInt, Default: 5, Min: fptr(1), Max: fptr(255),
		Doc: "odd width of the max-pool that extends boundaries for matching (θ; 5 in the authors' code, 19 in geo-deep-learning)"},
	{Name: "eps", Kind: KindFloat, Default: 1e-7, Min: fptr(0), MinExclusive: true,
		Doc: "added to the denominators of precision, recall and F1 (1e-7 as in the authors' code)"},
}

func validateBoundary(c *Config) error {
	for _, name := range []string{"theta0", "theta"} {
		if v := c.Int(name); v%2 == 0 {
			return fmt.Errorf("%s must be odd, got %d", name, v)
		}
	}
	return nil
}

var clDiceParams = []Param{
	{Name: "iterations", Kind: KindInt, Default: 3, Min: fptr(0), Max: fptr(100),
		Doc: "erosions of the soft skeleton (iter_ in the authors' code and MONAI, 3 by default)"},
	{Name: "smooth", Kind: KindFloat, Default: 1.0, Min: fptr(0), MinExclusive: true,
		Doc: "added to the numerators and denominators of topology precision and sensitivity (and of the Dice term)"},
	{Name: "include_background", Kind: KindBool, Default: false,
		Doc: "multiclass: sum over channel 0 too (binary and multilabel mode always use every channel)"},
}

var clDiceNotes = []string{
	"Soft erosion is the minimum of 3-long min-pools along each spatial axis (a min-pool written as -maxpool(-x)); soft dilation a 3×…×3 max-pool, as in the authors' code and MONAI; 2D and 3D.",
	"Sums run over the whole batch and the included channels. MONAI's SoftclDiceLoss and SoftDiceclDiceLoss always drop channel 0, so a one-channel (binary) input leaves nothing and their loss is 0; here binary and multilabel mode keep every channel.",
	"MONAI's SoftclDiceLoss.forward takes (y_true, y_pred), the reverse of its other losses; the value is symmetric in its two arguments once both are probabilities, and onnxloss takes input then target like every loss here. The reversed order is not reproduced.",
	"MONAI SoftclDiceLoss(iter_=k, smooth=s) on softmax outputs: --mode multiclass --iterations k --smooth s.",
}

func init() {
	Register(&Spec{
		Name:    "boundary-f1",
		Family:  "structure",
		Summary: "Boundary F1 loss: 1 - F1 between soft boundaries extracted with max-pooling.",
		Description: "The boundary loss of Bokhovkin & Burnaev extracts soft boundaries of the prediction and of the " +
			"target with a max-pool (a pixel is on the boundary of a class when a neighbour within θ0 belongs to " +
			"another), widens them with a max-pool over θ, and computes per image and class a boundary precision " +
			"(predicted boundary inside the widened true one) and recall; the loss is 1 - their F1. Ignored " +
			"pixels neither form boundaries nor count, which the authors' code does not offer.",
		Citation:    "Bokhovkin & Burnaev, Boundary Loss for Remote Sensing Imagery Semantic Segmentation, ISNN 2019.",
		Formula:     "b = maxpool_θ0(1-m) - (1-m), b_ext = maxpool_θ(b); P = Σ b_p·b_ext,t / Σ b_p, R = Σ b_ext,p·b_t / Σ b_t; l = 1 - 2PR/(P+R)",
		Modes:       []Mode{Multiclass, Binary, Multilabel},
		Params:      boundaryParams,
		IgnoreIndex: true, OneHotTarget: true,
		NoneShape: channelNone,
		Notes: []string{
			"Defaults θ0 = 3 and θ = 5 follow the authors' reference code; geo-deep-learning's BoundaryLoss uses θ0 = θ = 19 (--theta0 19 --theta 19) and logs that ignore_index is not implemented.",
			"An (image, class) with no boundary in either map has precision and recall 0 and loss 1, as in the reference code.",
			"Ignored pixels: 1 - m is set to 0 there before both max-pools (so they never make a neighbour look like another class) and their boundary values are zeroed.",
			"Binary and multilabel mode use sigmoid probabilities per channel; the paper's multiclass form uses the softmax.",
		},
		Validate:  validateBoundary,
		Build:     func(c *Ctx) *Value { return c.reduceChannels(c.boundaryF1()) },
		Reference: reference.BoundaryF1,
		Variants: []Options{
			{"theta0": "19", "theta": "19"},
			{"theta0": "1", "theta": "3", "ignore_index": "0", "classes": "3"},
			{"mode": "binary", "ignore_index": "-1", "eps": "1e-3"},
			{"target": "onehot", "spatial_dims": "3"},
		},
	})

	Register(&Spec{
		Name:    "cldice",
		Family:  "structure",
		Summary: "Soft clDice: topology-aware F1 between soft skeletons and masks (tubular structures).",
		Description: "clDice (Shit et al.) compares skeletons with masks: topology precision is the fraction of the " +
			"predicted soft skeleton inside the target, topology sensitivity the fraction of the target's soft " +
			"skeleton inside the prediction, and the loss is 1 - their harmonic mean. Soft skeletons come from " +
			"iterated soft erosions and openings built from min- and max-pooling, so the loss is differentiable " +
			"and made of standard pooling ops, in 2D and 3D.",
		Citation:     "Shit, Paetzold, Sekuboyina, Ezhov, Unger, Zhylka, Pluim, Bauer & Menze, clDice - a Novel Topology-Preserving Loss Function for Tubular Structure Segmentation, CVPR 2021.",
		Formula:      "Tprec = (Σ S(p)·t + s)/(Σ S(p) + s), Tsens = (Σ S(t)·p + s)/(Σ S(t) + s), l = 1 - 2·Tprec·Tsens/(Tprec + Tsens)",
		Modes:        []Mode{Binary, Multilabel, Multiclass},
		Params:       clDiceParams,
		OneHotTarget: true,
		Reductions:   []string{"mean"},
		Notes:        clDiceNotes,
		Build: func(c *Ctx) *Value {
			cl, _ := c.clDice(false)
			return cl
		},
		Reference: reference.ClDice,
		Variants: []Options{
			{"iterations": "0", "smooth": "0.1"},
			{"mode": "multiclass", "include_background": "true", "iterations": "5"},
			{"mode": "multiclass", "target": "onehot", "spatial_dims": "3", "iterations": "2"},
		},
	})

	Register(&Spec{
		Name:    "dice-cldice",
		Family:  "structure",
		Summary: "(1 - α)·soft Dice + α·soft clDice.",
		Description: "The combined loss Shit et al. train with: a soft Dice loss over the batch and the included " +
			"channels, mixed with the soft clDice loss by α. Dice keeps the masks' volume right while clDice " +
			"keeps thin structures connected.",
		Citation: "Shit, Paetzold, Sekuboyina, Ezhov, Unger, Zhylka, Pluim, Bauer & Menze, clDice - a Novel Topology-Preserving Loss Function for Tubular Structure Segmentation, CVPR 2021.",
		Formula:  "l = (1-α)·(1 - (2Σ p·t + s)/(Σ p + Σ t + s)) + α·clDice",
		Modes:    []Mode{Binary, Multilabel, Multiclass},
		Params: append(append([]Param{}, clDiceParams...),
			Param{Name: "alpha", Kind: KindFloat, Default: 0.5, Min: fptr(0), Max: fptr(1), Doc: "weight α of the clDice term (0.5 in the authors' code and MONAI)"}),
		OneHotTarget: true,
		Reductions:   []string{"mean"},
		Notes: append([]string{
			"The Dice term is the authors' soft_dice: one ratio over the whole batch and the included channels, smoothing s in numerator and denominator.",
			"MONAI SoftDiceclDiceLoss(iter_=k, alpha=a, smooth=s) on softmax outputs: --mode multiclass --iterations k --alpha a --smooth s.",
		}, clDiceNotes[:3]...),
		Build: func(c *Ctx) *Value {
			cl, dice := c.clDice(true)
			a := c.Float("alpha")
			return Add(MulScalar(dice, 1-a), MulScalar(cl, a))
		},
		Reference: reference.DiceClDice,
		Variants: []Options{
			{"alpha": "0.2", "iterations": "1"},
			{"mode": "multiclass", "alpha": "1", "classes": "3"},
			{"mode": "multilabel", "alpha": "0", "spatial_dims": "3", "smooth": "1e-3"},
		},
	})
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
func (c *Ctx) boundaryF1() *Value {
	p, t, valid := c.Probs(), c.Target(), c.Valid()
	w0, w := c.cubeWindow(int64(c.Int("theta0"))), c.cubeWindow(int64(c.Int("theta")))
	eps := c.Float("eps")
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

// softSkeleton is the iterated soft skeleton of Shit et al.
func (c *Ctx) softSkeleton(x *Value) *Value {
	dilate := c.cubeWindow(3)
	open := func(v *Value) *Value { return MaxPool(c.softErode(v), dilate) }
	skel := Relu(Sub(x, open(x)))
	for j := 0; j < c.Int("iterations"); j++ {
		x = c.softErode(x)
		delta := Relu(Sub(x, open(x)))
		skel = Add(skel, Relu(Sub(delta, Mul(skel, delta))))
	}
	return skel
}

// clDice returns the soft clDice loss and, when wanted, the soft Dice loss,
// both over the batch and the included channels.
func (c *Ctx) clDice(wantDice bool) (cl, dice *Value) {
	p, t := c.Probs(), c.Target()
	if c.Mode == Multiclass && !c.Bool("include_background") {
		from := []int64{1}
		to := []int64{math.MaxInt64}
		ax := []int64{1}
		p, t = Slice(p, from, to, ax, nil), Slice(t, from, to, ax, nil)
	}
	s := c.Float("smooth")
	sum := func(x *Value) *Value { return ReduceSum(x, false) }
	ratio := func(num, den *Value) *Value { return Div(AddScalar(num, s), AddScalar(den, s)) }
	sp := func() *Value { pop := c.G.Scope("skeleton_input"); defer pop(); return c.softSkeleton(p) }()
	st := func() *Value { pop := c.G.Scope("skeleton_target"); defer pop(); return c.softSkeleton(t) }()
	tprec := ratio(sum(Mul(sp, t)), sum(sp))
	tsens := ratio(sum(Mul(st, p)), sum(st))
	cl = OneMinus(Div(MulScalar(Mul(tprec, tsens), 2), Add(tprec, tsens)))
	if wantDice {
		dice = c.softDice(s)
	}
	return cl, dice
}

// softDice is the Dice loss over the batch and the channels of p and t
// together: 1 - (2Σ p·t + s)/(Σ p + Σ t + s).
func (c *Ctx) softDice(s float64) *Value {
	bg := c.Mode != Multiclass || c.Bool("include_background")
	o := param.Overlap{SmoothNr: s, SmoothDr: s, Average: param.AverageMicro, Intersection: param.IntersectionProduct, IncludeBackground: bg, AbsentClasses: param.AbsentKeep, ClassWeighting: param.ClassWeightingMean}
	return c.overlapLossWith(&o, diceIndex, nil, true)
}
