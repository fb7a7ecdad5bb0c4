package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// WeightedCE is the parameter set of the weighted-ce loss.
type WeightedCE = param.WeightedCE

var weightedCE = Define(Spec{
	Name:    "weighted-ce",
	Family:  "cross-entropy",
	Summary: "Cross-entropy weighted per pixel by a weight-map input (pixel_weight).",
	Description: "Cross-entropy (softmax in multiclass mode, binary per channel otherwise) multiplied per pixel " +
		"by the extra input pixel_weight [N,*spatial], for example a U-Net border weight map computed in the " +
		"data loader. normalize=pixels (default) averages over valid pixels, as (w·ce).mean() does; " +
		"normalize=weights divides by the sum of the weights.",
	Citation:    "Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015 (weight-map cross-entropy).",
	Formula:     "l = w(x)·w_y·(-log p_y)",
	Modes:       []Mode{Multiclass, Binary, Multilabel},
	Extra:       []ExtraInput{{Name: "pixel_weight", Kind: PixelWeights, Doc: "per-pixel weights [N,*spatial], non-negative"}},
	IgnoreIndex: true, ClassWeights: true,
	NoneShape: "multiclass: " + pixelNone + "; binary/multilabel: " + elementwiseNone,
	Variants: []Options{
		{"normalize": "weights"}, {"ignore_index": "0", "classes": "3", "class_weights": "1,2,3"},
		{"mode": "binary", "normalize": "weights", "ignore_index": "-1"}, {"mode": "multilabel"},
	},
}, Funcs[WeightedCE]{
	Build: func(c *Ctx, p *WeightedCE) *Value {
		pw := c.Extra["pixel_weight"]
		if c.Mode == Multiclass {
			w := MulMaybe(MulMaybe(pw, c.ClassWeightMap()), c.PixelValid())
			l := Mul(c.NLL(), w)
			den := c.PixelValid()
			if p.Normalize == param.NormalizeWeights {
				den = w
			}
			return c.ReduceLoss(l, den, false)
		}
		w := MulMaybe(MulMaybe(Unsqueeze(pw, 1), c.ClassWeightVec()), c.Valid())
		l := Mul(c.BCE(c.Target()), w)
		den := c.Valid()
		if p.Normalize == param.NormalizeWeights {
			den = ExpandAs(w, l)
		}
		return c.ReduceLoss(l, den, true)
	},
	Reference: reference.WeightedCE,
	// Normalised by Σw, the mean ties the samples together.
	PerSample: func(c *Config, p *WeightedCE) bool {
		return p.Normalize != param.NormalizeWeights && elementwisePerSample(c)
	},
})
