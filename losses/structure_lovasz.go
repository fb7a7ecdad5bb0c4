package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
)

var lovaszPerImageParam = Param{Name: "per_image", Kind: KindBool, Default: false,
	Doc: "one problem per image, then the mean over images (Berman et al.'s per_image, kornia); false pools the batch (segmentation_models_pytorch's default)"}

var lovaszSoftmaxParams = []Param{
	{Name: "class_set", Kind: KindEnum, Default: "present", Choices: []string{"present", "all"},
		Doc: "average over the classes present in the target of each problem (Berman et al., segmentation_models_pytorch) or over all classes (kornia, SegLoss)"},
	lovaszPerImageParam,
}

const lovaszIgnoreNote = "Ignored pixels get error 0 and ground truth 0 instead of being removed (no dynamic shapes). That is exactly the loss without them: they sort after every entry with a positive error, so the sorted prefix that carries the loss and the total ground truth are unchanged, and an entry with error 0 adds 0 whatever its weight."

// lovaszGradNote states the gradient convention of the Lovász losses.
const lovaszGradNote = "Gradient (--grad): through the sorted errors with the permutation held fixed, as PyTorch's autograd gives for Berman et al.'s code (torch.sort's indices carry no gradient): each error gets the Lovász gradient at its sorted position, computed from the labels only. Where errors tie, the order of the sort decides which position each gets."

func init() {
	Register(&Spec{
		Name:    "lovasz-hinge",
		Family:  "structure",
		Summary: "Lovász hinge: a convex surrogate of the Jaccard loss on logits (binary, multilabel).",
		Description: "The Lovász hinge of Berman et al. sorts the hinge errors max(0, 1 - x·(2t-1)) of a binary problem " +
			"and weights them by the gradient of the Lovász extension of the Jaccard loss at the sorted ground " +
			"truth, which makes it a tight convex surrogate of 1 - IoU. The sort is a TopK over every pixel " +
			"(k computed in the graph), the running sums run on the sorted labels only, and the gradient reaches " +
			"the logits through the sorted errors. Problems are per image or the whole batch; in multilabel mode " +
			"the channels form one problem (segmentation_models_pytorch) or one each.",
		Citation: "Berman, Rannen Triki & Blaschko, The Lovász-Softmax Loss: A Tractable Surrogate for the Optimization of the Intersection-over-Union Measure in Neural Networks, CVPR 2018.",
		Formula:  "l = Σ_i relu(e)_(i)·(J_i - J_{i-1}), e = 1 - x(2t-1) sorted decreasing, J_i = 1 - (G - Σ_{j≤i} t_j)/(G + Σ_{j≤i}(1 - t_j))",
		Modes:    []Mode{Binary, Multilabel},
		Params: []Param{
			lovaszPerImageParam,
			{Name: "channels", Kind: KindEnum, Default: "joint", Choices: []string{"joint", "separate"},
				Doc: "multilabel: every channel in one binary problem (segmentation_models_pytorch) or one problem per channel, averaged"},
		},
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
		Build:     buildLovaszHinge,
		Reference: reference.LovaszHinge,
		Variants: []Options{
			{"per_image": "true", "ignore_index": "-1"},
			{"mode": "multilabel", "channels": "separate", "classes": "3"},
			{"mode": "multilabel", "channels": "separate", "per_image": "true", "ignore_index": "2", "reduction": "sum"},
		},
	})

	Register(&Spec{
		Name:    "lovasz-softmax",
		Family:  "structure",
		Summary: "Lovász-Softmax: the Lovász extension of the per-class Jaccard loss on softmax probabilities.",
		Description: "The Lovász-Softmax loss of Berman et al.: for every class, the errors |fg - p| of its softmax " +
			"probability are sorted and weighted by the gradient of the Lovász extension of the Jaccard loss at " +
			"the sorted foreground indicator, giving a piecewise-linear surrogate of 1 - IoU; classes are " +
			"averaged (only those present in the target by default) and images too when per_image is set. " +
			"The Lovász gradient uses each class's own foreground indicator; kornia's LovaszSoftmaxLoss uses " +
			"the class ids instead, so it gives a different (wrong) value, for example below 1 for a prediction " +
			"that is wrong everywhere.",
		Citation:    "Berman, Rannen Triki & Blaschko, The Lovász-Softmax Loss: A Tractable Surrogate for the Optimization of the Intersection-over-Union Measure in Neural Networks, CVPR 2018.",
		Formula:     "l_c = Σ_i e_c(i)·(J_i - J_{i-1}), e_c = |fg_c - p_c| sorted decreasing; l = Σ_c w_c l_c / Σ_c w_c over the classes counted",
		Modes:       []Mode{Multiclass},
		Params:      lovaszSoftmaxParams,
		IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
		Reductions: []string{"mean", "sum"},
		Notes: []string{
			"segmentation_models_pytorch LovaszLoss(mode='multiclass', per_image=b, ignore_index=k) and Berman et al.'s lovasz_softmax(classes='present', per_image=b, ignore=k): --per-image b --ignore-index k.",
			"kornia LovaszSoftmaxLoss (--class-set all --per-image true) builds the Lovász gradient from the sorted class ids instead of the class's foreground indicator; onnxloss does not reproduce that.",
			"Class weights: Σ w_c l_c / Σ w_c over the classes counted (kornia multiplies by w_c and divides by C). A problem with no class counted (every pixel ignored) gives 0 and, with --per-image, still counts in the mean over images, as in Berman et al.'s code.",
			"--reduction sum adds the weighted class losses of every problem instead of averaging.",
			lovaszIgnoreNote,
			lovaszGradNote,
		},
		Build:     func(c *Ctx) *Value { return c.lovaszSoftmax() },
		Reference: reference.LovaszSoftmax,
		Variants: []Options{
			{"class_set": "all", "per_image": "true"},
			{"per_image": "true", "ignore_index": "0", "class_weights": "1,2,0.5"},
			{"class_set": "all", "class_weights": "0.3,1,2,1", "reduction": "sum"},
			{"target": "onehot", "per_image": "true"},
		},
	})
}

// lovaszRows returns Σ_i e_(i)·(J_i - J_{i-1}) along the last axis of errs
// (non-negative errors) and gt (ground truth), one value per row: a TopK over
// the whole axis sorts the errors, the ground truth follows through the
// indices, and the running sums run on labels only, so the gradient reaches
// errs through the sorted values alone.
func lovaszRows(errs, gt *Value) *Value {
	last := errs.Rank() - 1
	sorted, idx := TopK(errs, DimOf(errs, last), last, true)
	gs := GatherElements(gt, idx, last)
	total := ReduceSum(gt, true, last)
	inter := Sub(total, CumSum(gs, last, false, false))
	union := Add(total, CumSum(OneMinus(gs), last, false, false))
	jac := OneMinus(Div(inter, union))
	pads := make([]int64, 2*errs.Rank())
	pads[last] = 1
	prev := Slice(Pad(jac, pads, "constant", 0), []int64{0}, []int64{-1}, []int64{int64(last)}, nil)
	return ReduceSum(Mul(sorted, Sub(jac, prev)), false, last)
}

func buildLovaszHinge(c *Ctx) *Value {
	x := c.X
	if !c.FromLogits {
		x = Sub(ClampedLog(x), ClampedLog(OneMinus(x)))
	}
	t := c.Target()
	errs := Relu(Sub(ConstAs(x, 1), Mul(x, AddScalar(MulScalar(t, 2), -1))))
	errs = MulMaybe(errs, c.Valid())
	perImage := c.Bool("per_image")
	separate := c.Mode == Multilabel && c.Enum("channels") == "separate"
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
	if c.Reduction == "sum" {
		return ReduceSum(l, false)
	}
	return ReduceMean(l, false)
}

// channelsOuter is the permutation that swaps the batch and channel axes.
func channelsOuter(rank int) []int {
	perm := []int{1, 0}
	for i := 2; i < rank; i++ {
		perm = append(perm, i)
	}
	return perm
}

// lovaszSoftmax returns the reduced Lovász-Softmax loss.
func (c *Ctx) lovaszSoftmax() *Value {
	p, fg := c.Probs(), c.Target()
	errs := MulMaybe(Abs(Sub(fg, p)), c.Valid())
	var e, y *Value
	if c.Bool("per_image") { // [N, C, S]
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
	if c.Enum("class_set") == "present" {
		present := Cast(Greater(ReduceSum(y, false, 2), ConstAs(y, 0)), c.ComputeType())
		w = Mul(present, w)
	}
	num := ReduceSum(Mul(w, l), false, 1)
	if c.Reduction == "sum" {
		return ReduceSum(num, false)
	}
	den := ReduceSum(ExpandAs(w, l), false, 1)
	return ReduceMean(SafeDiv(num, den), false)
}
