package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
	"math"
)

// OHEMCE is the parameter set of the ohem-ce loss.
type OHEMCE = param.OHEMCE

var ohemCE = Define(Spec{
	Name:    "ohem-ce",
	Family:  "cross-entropy",
	Summary: "Online hard example mining: cross-entropy over pixels whose true-class probability is low.",
	Description: "Online hard example mining as in PSPNet/mmsegmentation and geo-deep-learning, entirely in the " +
		"graph: pixels whose softmax probability of the true class is at most the threshold are kept; when " +
		"min_kept > 0 the threshold is raised to the min_kept-th smallest such probability among valid pixels " +
		"if that is larger, so at least min_kept pixels are kept. The loss is the (class-weighted) " +
		"cross-entropy averaged over the kept pixels. The selection carries no gradient.",
	Citation:    "Shrivastava, Gupta & Girshick, Training Region-based Object Detectors with Online Hard Example Mining, CVPR 2016; pixel form in Wu et al. 2016 and mmsegmentation's OHEMPixelSampler.",
	Formula:     "keep = valid ∧ p_y ≤ max(θ, p_(min_kept)); l = Σ_keep w_y(-log p_y) / Σ_keep w_y",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true, ClassWeights: true,
	NoneShape: "the per-pixel loss [N,*spatial], 0 where a pixel is not kept",
	Notes: []string{
		"Gradient (--grad): through the kept pixels only, the threshold and the kept set held fixed (they come from the probabilities with their gradient stopped), as PyTorch's autograd gives for the same formula with the mask computed under no_grad, as mmsegmentation's OHEMPixelSampler does: Σ_keep w_y·∂(-log p_y) / Σ_keep w_y.",
	},
	Variants: []Options{
		{"min_kept": "0", "thresh": "0.6"}, {"min_kept": "5", "thresh": "0.2", "ignore_index": "2"},
		{"min_kept": "3", "thresh": "0.05", "classes": "3", "class_weights": "1,3,0.5"},
	},
}, Funcs[OHEMCE]{
	Build: func(c *Ctx, p *OHEMCE) *Value {
		nll := c.NLL()
		py := StopGradient(Exp(Neg(nll)))
		thr := ConstAs(py, p.Thresh)
		valid := c.PixelValid()
		if mk := p.MinKept; mk > 0 {
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
})
