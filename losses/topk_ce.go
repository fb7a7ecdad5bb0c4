package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// TopKCE is the parameter set of the topk-ce loss.
type TopKCE = param.TopKCE

var topKCE = Define(Spec{
	Name:    "topk-ce",
	Family:  "cross-entropy",
	Summary: "Cross-entropy averaged over the hardest k% of pixels.",
	Description: "Per-pixel (class-weighted) cross-entropy of which only the largest k percent, counted over the " +
		"valid pixels of the whole batch (at least one), enter the loss; --reduction mean averages them, sum adds " +
		"them. The selection uses TopK, whose gradient flows to the selected pixels as in PyTorch's torch.topk.",
	Citation:    "Wu, Shen & van den Hengel, Bridging Category-level and Instance-level Semantic Image Segmentation, arXiv:1605.06885, 2016.",
	Formula:     "l = mean of the top ⌈k/100·#valid⌉ values of w_y·(-log p_y)",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true, ClassWeights: true,
	Reductions: []string{"mean", "sum"},
	Notes: []string{
		"Gradient (--grad): through the selected pixels only, the selection held fixed, as PyTorch's autograd gives for torch.topk of the pixel losses: each kept pixel's (weighted) cross-entropy has weight 1/k (mean) or 1 (sum), every other pixel gets 0; among pixels tied at the cut, those TopK returns are the kept ones.",
	},
	Variants: []Options{
		{"k": "30", "classes": "3", "class_weights": "1,2,0.5"}, {"k": "100", "ignore_index": "1"}, {"k": "0.1"},
	},
}, Funcs[TopKCE]{
	Build: func(c *Ctx, p *TopKCE) *Value {
		l := MulMaybe(MulMaybe(c.NLL(), c.ClassWeightMap()), c.PixelValid())
		flat := ReshapeDims(l, 1, -1)
		var nValid *Value
		if v := c.PixelValid(); v != nil {
			nValid = ReduceSum(v, false)
		} else {
			nValid = Cast(ScalarOf(ReduceProdDims(c, l)), c.ComputeType())
		}
		kept := Max(Ceil(MulScalar(nValid, p.K/100)), ConstAs(nValid, 1))
		k := Cast(Unsqueeze(kept, 0), tensor.Int64)
		top, _ := TopK(flat, k, 1, true)
		sum := ReduceSum(top, false)
		if c.Reduction == Sum {
			return sum
		}
		return Div(sum, kept)
	},
	Reference: reference.TopKCE,
})
