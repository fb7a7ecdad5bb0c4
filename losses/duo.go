package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Duo is the parameter set of the duo loss.
type Duo = param.Duo

var duo = Define(Spec{
	Name:    "duo",
	Family:  "structure",
	Summary: "(Lovász-Softmax + boundary F1) / 2, geo-deep-learning's DuoLoss.",
	Description: "The mean of the Lovász-Softmax loss (region overlap) and the boundary F1 loss (boundary " +
		"agreement), as geo-deep-learning's DuoLoss combines them for remote-sensing segmentation. Each term " +
		"keeps its own options and conventions, ignored pixels included.",
	Citation:    "Berman et al., CVPR 2018 (Lovász-Softmax) and Bokhovkin & Burnaev, ISNN 2019 (boundary F1), combined as in Natural Resources Canada's geo-deep-learning.",
	Formula:     "l = (Lovász-Softmax + mean_{n,c}(1 - BF1)) / 2",
	Modes:       []Mode{Multiclass},
	IgnoreIndex: true, OneHotTarget: true,
	Reductions: []string{"mean"},
	Notes: []string{
		"geo-deep-learning's DuoLoss uses its LovaszSoftmax (per image, present classes) and BoundaryLoss(theta0=19, theta=19): --per-image true --theta0 19 --theta 19.",
	},
	Variants: []Options{
		{"per_image": "true", "theta0": "19", "theta": "19"},
		{"class_set": "all", "ignore_index": "1", "theta0": "1"},
	},
}, Funcs[Duo]{
	Build: func(c *Ctx, p *Duo) *Value {
		return MulScalar(Add(c.lovaszSoftmax(&p.LovaszSoftmaxTerm), ReduceMean(c.boundaryF1(&p.BoundaryF1Term), false)), 0.5)
	},
	Reference: reference.Duo,
	Validate:  func(c *Config, p *Duo) error { return validateBoundary(&p.BoundaryF1Term) },
})
