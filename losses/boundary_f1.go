package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// BoundaryF1 is the parameter set of the boundary-f1 loss.
type BoundaryF1 = param.BoundaryF1

var boundaryF1 = Define(Spec{
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
	IgnoreIndex: true, OneHotTarget: true,
	NoneShape: channelNone,
	Notes: []string{
		"Defaults θ0 = 3 and θ = 5 follow the authors' reference code; geo-deep-learning's BoundaryLoss uses θ0 = θ = 19 (--theta0 19 --theta 19) and logs that ignore_index is not implemented.",
		"An (image, class) with no boundary in either map has precision and recall 0 and loss 1, as in the reference code.",
		"Ignored pixels: 1 - m is set to 0 there before both max-pools (so they never make a neighbour look like another class) and their boundary values are zeroed.",
		"Binary and multilabel mode use sigmoid probabilities per channel; the paper's multiclass form uses the softmax.",
	},
	Variants: []Options{
		{"theta0": "19", "theta": "19"},
		{"theta0": "5", "theta": "3", "ignore_index": "0", "classes": "3"},
		{"mode": "binary", "ignore_index": "-1", "eps": "1e-3"},
		{"target": "onehot", "spatial_dims": "3"},
	},
}, Funcs[BoundaryF1]{
	Build: func(c *Ctx, p *BoundaryF1) *Value {
		return c.reduceChannels(c.boundaryF1(&p.BoundaryF1Term))
	},
	Reference: reference.BoundaryF1,
	Validate:  func(c *Config, p *BoundaryF1) error { return validateBoundary(&p.BoundaryF1Term) },
})
