package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// CMSSIM is the parameter set of the cmssim loss.
type CMSSIM = param.CMSSIM

var cmssim = Define(Spec{
	Name:    "cmssim",
	Family:  "structure",
	Summary: "Correlation-maximized structural similarity loss: cross-entropy on structurally dissimilar pixels.",
	Description: "The structural similarity loss of Zhao et al. measures, at every pixel and channel, how far the " +
		"prediction departs from a positive linear relation with the target inside a small window: " +
		"e = |(t - μt + C4)/(σt + C4) - (p - μp + C4)/(σp + C4)|. Entries whose e exceeds β times the " +
		"batch's largest e are kept, and the loss is their cross-entropy weighted by e, averaged over the " +
		"kept entries. e and the selection are weights: no gradient flows through them.",
	Citation:     "Zhao, Wu, Chu, Hu & Cai, Correlation Maximized Structural Similarity Loss for Semantic Segmentation, arXiv:1910.08711, 2019.",
	Formula:      "e = |(t - μt + C4)/(σt + C4) - (p - μp + C4)/(σp + C4)|, f = [e > β·max e], l = Σ e·f·CE / Σ f",
	Modes:        []Mode{Multiclass, Binary, Multilabel},
	IgnoreIndex:  true,
	OneHotTarget: true,
	NoneShape:    elementwiseNone + ", 0 where an entry is not kept",
	Notes: []string{
		"CE is -t·log p per class entry in multiclass mode (the softmax cross-entropy split over classes) and the binary cross-entropy per entry otherwise.",
		"The local statistics use the window options (3×3 Gaussian of σ 1.5 with reflected borders by default, the window the paper uses); --padding valid is not offered, since every entry needs an e, and win_size is at most 7: the statistics are sums over every window entry.",
		"max e is taken over the batch's valid entries; a batch whose e is 0 everywhere keeps nothing and gives 0.",
		"e and f are computed from a copy of the probabilities taken through an integer cast (exact to 6e-8), so no training tool differentiates through them (the square root of a zero local variance would make that gradient infinite).",
		"The local mean and variance are computed from the differences between each window entry and the window's centre, exact in float32 for nearby values; the textbook E[x²] - μ² loses about 1e-7 of E[x²], as much as the variance of a nearly uniform window, whose σ then moves e by per cents.",
	},
	Variants: []Options{
		{"beta": "0.5", "ignore_index": "1", "classes": "3"},
		{"mode": "binary", "padding": "zeros", "kernel": "uniform", "win_size": "5", "c4": "0.1"},
		{"mode": "multilabel", "beta": "0.01", "ignore_index": "-1"},
		{"target": "onehot", "spatial_dims": "3"},
	},
}, Funcs[CMSSIM]{
	Build:     buildCMSSIM,
	Reference: reference.CMSSIM,
	Validate: func(c *Config, p *CMSSIM) error {
		if p.Padding == param.PaddingValid {
			return fmt.Errorf("--padding valid leaves border pixels without a weight: use reflect or zeros")
		}
		return validateWindow(&p.Window)
	},
})

// detached returns a copy of x that every automatic differentiation (ONNX
// Runtime's too) treats as a constant: x truncated to a multiple of 2^-24
// through an int32 cast, exact to 6e-8 for values in [0, 1]; float64 values
// to a multiple of 2^-53 through an int64 cast, exact to 1e-16.
func detached(x *Value) *Value {
	if x.DType() == tensor.Float64 {
		const scale = 1 << 53
		return DivScalar(Cast(Cast(MulScalar(x, scale), tensor.Int64), x.DType()), scale)
	}
	const scale = 1 << 24
	return DivScalar(Cast(Cast(MulScalar(x, scale), tensor.Int32), x.DType()), scale)
}

// buildCMSSIM computes e and f from detached probabilities and the target.
// The local statistics come from the differences d = x_{o+t} - x_o between
// each window entry and the window's centre, which float32 computes exactly
// for nearby values: μ - x = E[d] and σ² = E[d²] - E[d]². The usual
// E[x²] - μ² loses about 1e-7 of E[x²] to rounding, which for a nearly
// uniform window (the inside of every object, a confident or an untrained
// prediction) is as large as σ² itself, and σ enters e next to C4 = 0.01.
func buildCMSSIM(c *Ctx, cp *CMSSIM) *Value {
	p, t := c.Probs(), c.Target()
	pd := detached(p)
	c4 := cp.C4
	norm := func(x *Value) *Value {
		dmean, variance := c.centredStats(x, &cp.Window)
		return Div(AddScalar(Neg(dmean), c4), AddScalar(Sqrt(Relu(variance)), c4))
	}
	e := MulMaybe(Abs(Sub(norm(t), norm(pd))), c.Valid())
	keep := Greater(e, MulScalar(ReduceMax(e, false), cp.Beta))
	dt := c.ComputeType()
	weight := Where(keep, e, ConstAs(e, 0))
	var ce *Value
	if c.Mode == Multiclass {
		ce = Neg(Mul(t, c.LogProbs()))
	} else {
		ce = c.BCE(t)
	}
	l := Mul(weight, ce)
	switch c.Reduction {
	case None:
		return c.channelsLast(l)
	case Sum:
		return ReduceSum(l, false)
	}
	return SafeDiv(ReduceSum(l, false), ReduceSum(Cast(keep, dt), false))
}
