package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// ClDice is the parameter set of the cldice loss.
type ClDice = param.ClDice

var clDice = Define(Spec{
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
	OneHotTarget: true,
	Reductions:   []string{"mean"},
	Notes:        clDiceNotes,
	Variants: []Options{
		{"iterations": "0", "smooth": "0.1"},
		{"mode": "multiclass", "include_background": "true", "iterations": "5"},
		{"mode": "multiclass", "target": "onehot", "spatial_dims": "3", "iterations": "2"},
	},
}, Funcs[ClDice]{
	Build: func(c *Ctx, p *ClDice) *Value {
		cl, _ := c.clDice(&p.ClDiceTerm, false)
		return cl
	},
	Reference: reference.ClDice,
})
