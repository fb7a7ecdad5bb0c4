package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// SensitivitySpecificity is the parameter set of the sensitivity-specificity loss.
type SensitivitySpecificity = param.SensitivitySpecificity

var sensitivitySpecificity = Define(Spec{
	Name:    "sensitivity-specificity",
	Family:  "region",
	Summary: "Sensitivity-specificity loss (Brosch): squared errors on the foreground and on the background, each normalised by its size.",
	Description: "Brosch et al.'s sensitivity-specificity loss averages the squared error (t - p)² separately over " +
		"the target's foreground and background and mixes the two: r·Σ(t-p)²t/(Σt + smooth) + " +
		"(1-r)·Σ(t-p)²(1-t)/(Σ(1-t) + smooth). The first term is the sensitivity error (missed foreground), the " +
		"second the specificity error (false positives); a small r counters the foreground's small size. Per " +
		"sample and class by default. An empty target with an empty prediction gives 0; a smoothing of 0 " +
		"divides an empty part by 0 and gives 0 for it, never NaN.",
	Citation:    "Brosch, Yoo, Tang, Li, Traboulsee & Tam, Deep Convolutional Encoder Networks for Multiple Sclerosis Lesion Segmentation, MICCAI 2015.",
	Formula:     "loss = r·Σ(t-p)²t/(Σt + smooth) + (1-r)·Σ(t-p)²(1-t)/(Σ(1-t) + smooth)",
	Modes:       regionModes,
	IgnoreIndex: true, ClassWeights: true, OneHotTarget: true,
	NoneShape: regionNone,
	Notes: []string{
		"SegLoss's SSLoss names the foreground term specificity_part and the background term sensitivity_part; the formula is Brosch et al.'s and r weighs the foreground term in both.",
		"SemSegLoss lists this loss in its README but implements only thresholded sensitivity and specificity metrics.",
	},
	Variants: []Options{
		{"r": "0.5", "smooth": "0", "mode": "multiclass", "ignore_index": "1"},
		{"r": "0.05", "per_image": "false", "mode": "multilabel", "class_weights": "1,2,0", "include_background": "false"},
		{"smooth": "1", "mode": "binary", "reduction": "none"},
	},
}, Funcs[SensitivitySpecificity]{
	Build:     buildSensitivitySpecificity,
	Reference: reference.SensitivitySpecificity,
	Validate:  func(c *Config, p *SensitivitySpecificity) error { return validateBackground(c, &p.Overlap) },
})

// buildSensitivitySpecificity mixes the squared errors on the foreground and
// on the background, each divided by its size.
func buildSensitivitySpecificity(c *Ctx, pr *SensitivitySpecificity) *Value {
	o := &pr.Overlap
	r, s := pr.R, pr.Smooth
	p, t := c.regionP(), c.Target()
	d2 := Square(Sub(t, p))
	stN := c.spatialSum(t)
	fg := c.columns(o, c.spatialSum(Mul(d2, t)))
	// The background sum is its own reduction, not Σd² minus the
	// foreground's: with a small background part the two terms'
	// cotangents are ±(1-r)/(Σ(1-t) + smooth), up to 1e5, and their
	// difference would lose the foreground's gradient in float32.
	bg := c.columns(o, c.spatialSum(Mul(d2, OneMinus(t))))
	count := c.columns(o, c.spatialCount(stN))
	st := c.columns(o, stN)
	div := func(a, b *Value) *Value {
		if s > 0 {
			return Div(a, AddScalar(b, s))
		}
		return SafeDiv(a, b)
	}
	l := Add(MulScalar(div(fg, st), r), MulScalar(div(bg, Sub(count, st)), 1-r))
	return c.regionReduce(o, l, nil, false)
}
