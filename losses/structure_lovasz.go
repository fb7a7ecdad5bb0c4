package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
)

// Shared pieces of the Lovász losses: the notes, the Lovász extension of
// sorted rows, and the Lovász-Softmax loss (lovasz-softmax and duo).

const lovaszIgnoreNote = "Ignored pixels get error 0 and ground truth 0 instead of being removed (no dynamic shapes). That is exactly the loss without them: they sort after every entry with a positive error, so the sorted prefix that carries the loss and the total ground truth are unchanged, and an entry with error 0 adds 0 whatever its weight."

// lovaszGradNote states the gradient convention of the Lovász losses.
const lovaszGradNote = "Gradient (--grad): through the sorted errors with the permutation held fixed, as PyTorch's autograd gives for Berman et al.'s code (torch.sort's indices carry no gradient): each error gets the Lovász gradient at its sorted position, computed from the labels only. Where errors tie, the order of the sort decides which position each gets."

// lovaszRows returns Σ_i e_(i)·(J_i - J_{i-1}) along the last axis of errs
// (non-negative errors) and gt (ground truth), one value per row: a TopK over
// the whole axis sorts the errors, the ground truth follows through the
// indices, and the running sums run on labels only, so the gradient reaches
// errs through the sorted values alone.
func lovaszRows(errs, gt *Value) *Value {
	last := errs.Rank() - 1
	sorted, idx := TopK(errs, DimOf(errs, last), last, true)
	Name(sorted, "sorted_errors")
	gs := Name(GatherElements(gt, idx, last), "sorted_gt")
	total := ReduceSum(gt, true, last)
	inter := Sub(total, CumSum(gs, last, false, false))
	union := Add(total, CumSum(OneMinus(gs), last, false, false))
	jac := Name(OneMinus(Div(Name(inter, "running_intersection"), Name(union, "running_union"))), "jaccard")
	pads := make([]int64, 2*errs.Rank())
	pads[last] = 1
	prev := Slice(Pad(jac, pads, "constant", 0), []int64{0}, []int64{-1}, []int64{int64(last)}, nil)
	return Name(ReduceSum(Mul(sorted, Name(Sub(jac, prev), "lovasz_grad")), false, last), "lovasz_extension")
}

// channelsOuter is the permutation that swaps the batch and channel axes.
func channelsOuter(rank int) []int {
	perm := []int{1, 0}
	for i := 2; i < rank; i++ {
		perm = append(perm, i)
	}
	return perm
}

// lovaszSoftmax returns the reduced Lovász-Softmax loss, class weights
// entering as a weighted mean.
func (c *Ctx) lovaszSoftmax(p *param.LovaszSoftmaxTerm) *Value {
	return c.lovaszSoftmaxWeighted(p, param.ClassWeightingMean)
}

// lovaszSoftmaxWeighted is lovaszSoftmax with the class weighting: scale
// divides the weighted sum by the number of classes counted.
func (c *Ctx) lovaszSoftmaxWeighted(p *param.LovaszSoftmaxTerm, weighting param.ClassWeighting) *Value {
	probs, fg := c.Probs(), c.Target()
	errs := Name(MulMaybe(Abs(Sub(fg, probs)), c.Valid()), "errors")
	var e, y *Value
	if p.PerImage { // [N, C, S]
		e, y = Flatten(errs, 2), Flatten(fg, 2)
	} else { // [1, C, N·S]
		perm := channelsOuter(errs.Rank())
		e = Unsqueeze(Flatten(Transpose(errs, perm...), 1), 0)
		y = Unsqueeze(Flatten(Transpose(fg, perm...), 1), 0)
	}
	l := lovaszRows(e, y) // [sets, C]
	w := ConstAs(l, 1)
	if c.ClassWeights != nil {
		w = ReshapeDims(Floats(c.G, c.ComputeType(), c.ClassWeights...), 1, -1)
	}
	if p.ClassSet == param.ClassSetPresent {
		present := Cast(Greater(ReduceSum(y, false, 2), ConstAs(y, 0)), c.ComputeType())
		w = Mul(present, w)
	}
	num := ReduceSum(Mul(w, l), false, 1)
	if c.Reduction == Sum {
		return ReduceSum(num, false)
	}
	if weighting == param.ClassWeightingScale && c.ClassWeights != nil {
		counted := ConstAs(l, 1)
		if p.ClassSet == param.ClassSetPresent {
			counted = Cast(Greater(ReduceSum(y, false, 2), ConstAs(y, 0)), c.ComputeType())
		}
		return ReduceMean(SafeDiv(num, ReduceSum(ExpandAs(counted, l), false, 1)), false)
	}
	den := ReduceSum(ExpandAs(w, l), false, 1)
	return ReduceMean(SafeDiv(num, den), false)
}
