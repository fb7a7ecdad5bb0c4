package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// DiceClDice is the parameter set of the dice-cldice loss.
type DiceClDice = param.DiceClDice

var diceClDice = Define(Spec{
	Name:    "dice-cldice",
	Family:  "structure",
	Summary: "(1 - α)·soft Dice + α·soft clDice.",
	Description: "The combined loss Shit et al. train with: a soft Dice loss over the batch and the included " +
		"channels, mixed with the soft clDice loss by α. Dice keeps the masks' volume right while clDice " +
		"keeps thin structures connected.",
	Citation:     "Shit, Paetzold, Sekuboyina, Ezhov, Unger, Zhylka, Pluim, Bauer & Menze, clDice - a Novel Topology-Preserving Loss Function for Tubular Structure Segmentation, CVPR 2021.",
	Formula:      "l = (1-α)·(1 - (2Σ p·t + s)/(Σ p + Σ t + s)) + α·clDice",
	Modes:        []Mode{Binary, Multilabel, Multiclass},
	OneHotTarget: true,
	Reductions:   []string{"mean"},
	Notes: append([]string{
		"The Dice term is the authors' soft_dice: one ratio over the whole batch and the included channels, smoothing s in numerator and denominator.",
		"MONAI SoftDiceclDiceLoss(iter_=k, alpha=a, smooth=s) on softmax outputs: --mode multiclass --iterations k --alpha a --smooth s.",
	}, clDiceNotes[:3]...),
	Variants: []Options{
		{"alpha": "0.2", "iterations": "1"},
		{"mode": "multiclass", "alpha": "1", "classes": "3"},
		{"mode": "multilabel", "alpha": "0", "spatial_dims": "3", "smooth": "1e-3"},
	},
}, Funcs[DiceClDice]{
	Build: func(c *Ctx, p *DiceClDice) *Value {
		cl, dice := c.clDice(&p.ClDiceTerm, true)
		a := p.Alpha
		return Add(MulScalar(dice, 1-a), MulScalar(cl, a))
	},
	Reference: reference.DiceClDice,
})
