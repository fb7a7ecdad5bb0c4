package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// GeneralizedDice is the parameter set of the generalized-dice loss.
type GeneralizedDice = param.GeneralizedDice

var generalizedDice = Define(Spec{
	Name:    "generalized-dice",
	Family:  "region",
	Summary: "Generalized Dice loss (Sudre): one Dice over classes weighted by inverse target size.",
	Description: "Sudre et al.'s generalized Dice loss sums the intersections and sizes of all classes with class " +
		"weights before the ratio, 1 - (2Σ_c w_c I_c + smooth_nr)/(Σ_c w_c(Σp_c + Σt_c) + smooth_dr), so that " +
		"small structures weigh as much as large ones. weight_type picks w_c = 1/(Σt_c)² (square, the paper's), " +
		"1/Σt_c (simple) or 1 (uniform). A class absent from the target would get an infinite weight: " +
		"absent_weight=max gives it the largest finite weight of its row, as MONAI does, so false positives on " +
		"it are still penalised; zero drops it. An empty target with an empty prediction gives " +
		"1 - smooth_nr/max(smooth_dr, eps): 0 with the default smoothing; never NaN or Inf.",
	Citation:    "Sudre, Li, Vercauteren, Ourselin & Cardoso, Generalised Dice overlap as a deep learning loss function for highly unbalanced segmentations, DLMIA 2017.",
	Formula:     "loss = 1 - (2Σ_c w_c I_c + smooth_nr) / max(Σ_c w_c (Σp_c + Σt_c) + smooth_dr, eps), w_c = 1/(Σt_c)²",
	Modes:       regionModes,
	IgnoreIndex: true, OneHotTarget: true,
	NoneShape: "the per-row loss [R]: R = N samples, 1 with per_image=false",
	Notes: []string{
		"MONAI GeneralizedDiceLoss() defaults are onnxloss's defaults (square weights, infinite weights replaced by the row maximum, smooth 1e-5, per sample, background included) except for the eps floor of the denominator, which MONAI does not have: --preset monai sets eps 0. " + monaiActNote,
		"MONAI sets infinite weights to 0 and then adds the maximum; a row whose classes are all absent gets weights 0 and loss 1 - smooth_nr/smooth_dr. The debate about this choice is why absent_weight=zero exists.",
		"SegLoss's GDiceLoss adds 1e-10 to Σt before squaring (weights near 1e20 for absent classes) and GDiceLossV2 clamps Σt² at the smoothing; neither is reproduced. SemSegLoss's generalized_dice_coefficient is plain Dice.",
		"Weights are computed in the graph's float type as 1/(Σt)², as MONAI does; soft targets whose class sum is below about 1e-19 overflow them.",
	},
	Presets: []Preset{
		{Name: "monai", Doc: "MONAI GeneralizedDiceLoss() defaults: square weights, an absent class weighted by the row's largest finite weight, smooth_nr = smooth_dr = 1e-5, per sample, product intersection, background included, and no floor under the denominator (eps 0), so that a row whose classes are all absent gives 1 - smooth_nr/smooth_dr as in MONAI. " + monaiActNote + " w_type='simple' is --weight-type simple, batch=True --per-image=false, soft_label=True --intersection l1. Exact.",
			Values: map[string]string{"weight_type": "square", "absent_weight": "max", "smooth_nr": "1e-05", "smooth_dr": "1e-05", "eps": "0",
				"per_image": "true", "intersection": "product", "include_background": "true"}},
	},
	Variants: []Options{
		{"preset": "monai", "mode": "multiclass"},
		{"mode": "multiclass", "weight_type": "simple", "ignore_index": "0"},
		{"mode": "multiclass", "absent_weight": "zero", "per_image": "false", "include_background": "false", "classes": "4"},
		{"mode": "multilabel", "weight_type": "uniform", "intersection": "l1"},
		{"mode": "binary", "smooth_nr": "0", "eps": "1e-6", "reduction": "none"},
	},
}, Funcs[GeneralizedDice]{
	Build:     buildGeneralizedDice,
	Reference: reference.GeneralizedDice,
	Validate:  func(c *Config, p *GeneralizedDice) error { return validateOverlap(c, &p.Overlap) },
	// Per image, each row's weights and ratio are its sample's alone.
	PerSample: func(c *Config, p *GeneralizedDice) bool {
		return c.Mode != Multiclass && p.PerImage && c.IgnoreIndex == nil && c.ClassWeights == nil
	},
})

// buildGeneralizedDice sums the weighted intersections and sizes of every
// class of a row before one ratio per row.
func buildGeneralizedDice(c *Ctx, p *GeneralizedDice) *Value {
	o := &p.Overlap
	st := c.overlapStats(o)
	w := gdlWeights(c, p, st.St)
	num := MulScalar(ReduceSum(Mul(w, st.I), false, 1), 2)
	if o.SmoothNr != 0 {
		num = AddScalar(num, o.SmoothNr)
	}
	den := ReduceSum(Mul(w, st.S), false, 1)
	if o.SmoothDr != 0 {
		den = AddScalar(den, o.SmoothDr)
	}
	if o.Eps > 0 {
		den = ClipMin(den, o.Eps)
	}
	return c.reduceRows(OneMinus(Div(num, den)))
}

// gdlWeights returns the generalized Dice class weights [R,K] from the
// target sizes St: 1/St², 1/St or 1, with a class absent from the target
// (St = 0, an infinite weight) given 0 or the row's largest finite weight.
// They depend on the target only and carry no gradient.
func gdlWeights(c *Ctx, p *GeneralizedDice, st *Value) *Value {
	if p.WeightType == param.WeightUniform {
		return ExpandAs(ConstAs(st, 1), st)
	}
	absent := Equal(st, ConstAs(st, 0))
	safe := Where(absent, ConstAs(st, 1), st)
	if p.WeightType == param.WeightSquare {
		safe = Mul(safe, safe)
	}
	w := Where(absent, ConstAs(st, 0), Reciprocal(safe))
	if p.AbsentWeight == param.AbsentWeightMax {
		w = Where(absent, ReduceMax(w, true, 1), w)
	}
	return StopGradient(w)
}
