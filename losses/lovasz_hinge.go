package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// LovaszHinge is the parameter set of the lovasz-hinge loss.
type LovaszHinge = param.LovaszHinge

var lovaszHinge = Define(Spec{
	Name:    "lovasz-hinge",
	Family:  "structure",
	Summary: "Lovász hinge: a convex surrogate of the Jaccard loss on logits (binary, multilabel).",
	Description: "The Lovász hinge of Berman et al. sorts the hinge errors max(0, 1 - x·(2t-1)) of a binary problem " +
		"and weights them by the gradient of the Lovász extension of the Jaccard loss at the sorted ground " +
		"truth, which makes it a tight convex surrogate of 1 - IoU. The sort is a TopK over every pixel " +
		"(k computed in the graph), the running sums run on the sorted labels only, and the gradient reaches " +
		"the logits through the sorted errors. Problems are per image or the whole batch; in multilabel mode " +
		"the channels form one problem (segmentation_models_pytorch) or one each.",
	Citation:    "Berman, Rannen Triki & Blaschko, The Lovász-Softmax Loss: A Tractable Surrogate for the Optimization of the Intersection-over-Union Measure in Neural Networks, CVPR 2018.",
	Formula:     "l = Σ_i relu(e)_(i)·(J_i - J_{i-1}), e = 1 - x(2t-1) sorted decreasing, J_i = 1 - (G - Σ_{j≤i} t_j)/(G + Σ_{j≤i}(1 - t_j))",
	Modes:       []Mode{Binary, Multilabel},
	IgnoreIndex: true,
	Reductions:  []string{"mean", "sum"},
	Notes: []string{
		"segmentation_models_pytorch LovaszLoss(mode='binary'|'multilabel', per_image=b, ignore_index=k): --per-image b --ignore-index k (it ignores its from_logits argument and always reads logits).",
		"kornia lovasz_hinge_loss: --per-image true.",
		"--reduction sum adds the losses of the problems (images × channel groups) instead of averaging them.",
		"With --from-logits=false the probabilities are turned into logits log p - log(1-p), clamped as ClampedLog does.",
		lovaszIgnoreNote,
		lovaszGradNote,
	},
	Variants: []Options{
		{"per_image": "true", "ignore_index": "-1"},
		{"mode": "multilabel", "channels": "separate", "classes": "3"},
		{"mode": "multilabel", "channels": "separate", "per_image": "true", "ignore_index": "2", "reduction": "sum"},
	},
}, Funcs[LovaszHinge]{
	Build:     buildLovaszHinge,
	Reference: reference.LovaszHinge,
})

// buildLovaszHinge arranges the hinge errors as one row per problem (the
// batch or an image, times every channel or one) and averages the rows.
func buildLovaszHinge(c *Ctx, p *LovaszHinge) *Value {
	x := c.X
	if !c.FromLogits {
		x = Sub(ClampedLog(x), ClampedLog(OneMinus(x)))
	}
	t := c.Target()
	errs := Relu(Sub(ConstAs(x, 1), Mul(x, AddScalar(MulScalar(t, 2), -1))))
	errs = Name(MulMaybe(Name(errs, "hinge_errors"), c.Valid()), "hinge_errors_valid")
	perImage := p.PerImage
	separate := c.Mode == Multilabel && p.Channels == param.ChannelsSeparate
	var e, y *Value
	switch {
	case perImage && separate: // [N, C, S]
		e, y = Flatten(errs, 2), Flatten(t, 2)
	case perImage: // [N, C·S]
		e, y = Flatten(errs, 1), Flatten(t, 1)
	case separate: // [C, N·S]
		perm := channelsOuter(errs.Rank())
		e, y = Flatten(Transpose(errs, perm...), 1), Flatten(Transpose(t, perm...), 1)
	default: // [1, N·C·S]
		e, y = ReshapeDims(errs, 1, -1), ReshapeDims(t, 1, -1)
	}
	l := lovaszRows(e, y)
	if c.Reduction == Sum {
		return ReduceSum(l, false)
	}
	return ReduceMean(l, false)
}
