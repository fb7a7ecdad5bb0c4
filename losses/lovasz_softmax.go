package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// LovaszSoftmax is the parameter set of the lovasz-softmax loss.
type LovaszSoftmax = param.LovaszSoftmax

var lovaszSoftmax = Define(Spec{
	Name:    "lovasz-softmax",
	Family:  "structure",
	Summary: "Lovász-Softmax: the Lovász extension of the per-class Jaccard loss on softmax probabilities.",
	Description: "The Lovász-Softmax loss of Berman et al.: for every class, the errors |fg - p| of its softmax " +
		"probability are sorted and weighted by the gradient of the Lovász extension of the Jaccard loss at " +
		"the sorted foreground indicator, giving a piecewise-linear surrogate of 1 - IoU; classes are " +
		"averaged (only those present in the target by default) and images too when per_image is set. " +
		"The Lovász gradient uses each class's own foreground indicator; kornia's LovaszSoftmaxLoss before 0.9 " +
		"used the class ids instead, so it gave a different (wrong) value, for example below 1 for a prediction " +
		"that is wrong everywhere.",
	Citation:    "Berman, Rannen Triki & Blaschko, The Lovász-Softmax Loss: A Tractable Surrogate for the Optimization of the Intersection-over-Union Measure in Neural Networks, CVPR 2018.",
	Formula:     "l_c = Σ_i e_c(i)·(J_i - J_{i-1}), e_c = |fg_c - p_c| sorted decreasing; l = Σ_c w_c l_c / Σ_c w_c over the classes counted",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	Reductions: []string{"mean", "sum"},
	Notes: []string{
		"segmentation_models_pytorch LovaszLoss(mode='multiclass', per_image=b, ignore_index=k) and Berman et al.'s lovasz_softmax(classes='present', per_image=b, ignore=k): --per-image b --ignore-index k.",
		"kornia 0.9 LovaszSoftmaxLoss is --class-set all --per-image true, exactly. Before 0.9 kornia built the Lovász gradient from the sorted class ids instead of the class's foreground indicator; onnxloss does not reproduce that.",
		"Class weights: Σ w_c l_c / Σ w_c over the classes counted; kornia multiplies by w_c and divides by C: --class-weighting scale. A problem with no class counted (every pixel ignored) gives 0 and, with --per-image, still counts in the mean over images, as in Berman et al.'s code.",
		"--reduction sum adds the weighted class losses of every problem instead of averaging.",
		lovaszIgnoreNote,
		lovaszGradNote,
	},
	Variants: []Options{
		{"class_set": "all", "per_image": "true"},
		{"per_image": "true", "ignore_index": "0", "class_weights": "1,2,0.5"},
		{"class_set": "all", "class_weights": "0.3,1,2,1", "reduction": "sum"},
		{"target": "onehot", "per_image": "true"},
		{"class_set": "all", "per_image": "true", "class_weights": "1,0,2,0.5", "class_weighting": "scale"},
		{"class_weights": "0.2,1,3", "class_weighting": "scale", "ignore_index": "1"},
	},
}, Funcs[LovaszSoftmax]{
	Build: func(c *Ctx, p *LovaszSoftmax) *Value {
		return c.lovaszSoftmaxWeighted(&p.LovaszSoftmaxTerm, p.ClassWeighting)
	},
	Reference: reference.LovaszSoftmax,
})
