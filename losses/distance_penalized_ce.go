package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// DistancePenalizedCE is the parameter set of the distance-penalized-ce loss.
type DistancePenalizedCE = param.DistancePenalizedCE

var distancePenalizedCE = Define(Spec{
	Name:    "distance-penalized-ce",
	Family:  "distance",
	Summary: "Cross-entropy weighted by 1 + Φ, Φ the target's normalised inverted distance map (largest at boundaries).",
	Description: "Caliva et al.'s distance map loss penalty term: cross-entropy multiplied per pixel by 1 + Φ, " +
		"where Φ is computed in the graph from the target. Within each region of an image (each class in " +
		"multiclass mode; the foreground and the background of each channel otherwise) Φ = (M - d)/max(M - d), " +
		"d the distance to the region's outside and M its largest value: 1 on the region's boundary layer, 0 at " +
		"its most interior pixels, so the network is pushed hardest where segmentations are hard, at the " +
		"boundaries. Regions without an outside (a class covering the image) or too thin to have an interior " +
		"get Φ = 0. The mean is over pixels (binary, multiclass) or entries (multilabel).",
	Citation:  "Caliva, Iriondo, Martinez, Majumdar & Pedoia, Distance Map Loss Penalty Term for Semantic Segmentation, MIDL 2019 (extended abstract).",
	Formula:   "l = (1 + Φ_y(x))·CE(x), Φ = (M - d)/max_region(M - d) per region",
	Modes:     []Mode{Multiclass, Binary, Multilabel},
	NoneShape: "multiclass: " + pixelNone + "; binary/multilabel: " + elementwiseNone,
	Notes: []string{
		"SegLoss's DisPenalizedCE (binary, 3-D) computes this weight map with SciPy and returns the unweighted cross-entropy mean (the weighted loss is computed and discarded); its map divides by zero for a region without interior or for an empty mask. onnxloss applies the weights and gives such regions Φ = 0.",
		"SegLoss's two-channel softmax form is --mode multiclass with two classes: the background class's Φ is the background region's.",
	},
	Presets: []Preset{
		{Name: "segloss", Doc: "SegLoss's DisPenalizedCE (two-class softmax) with its weight map applied: --classes 2. SegLoss itself returns the unweighted cross-entropy, so its number is onnxloss's cross-entropy, not this.",
			Values: map[string]string{"mode": "multiclass", "classes": "2"}},
	},
	Variants: []Options{
		{"spacing": "0.5,1.5"}, {"mode": "binary", "max_distance": "1.2"},
		{"mode": "multiclass", "classes": "2", "spacing": "2", "max_distance": "3"},
	},
}, Funcs[DistancePenalizedCE]{
	Build:     buildDistancePenalizedCE,
	Reference: reference.DistancePenalizedCE,
	Validate:  func(c *Config, p *DistancePenalizedCE) error { return validateSpacing(c, p.Spacing) },
})

func buildDistancePenalizedCE(c *Ctx, p *DistancePenalizedCE) *Value {
	t := c.Target()
	m := labelMask(t)
	o := c.distanceOptions(&p.DistanceTransform)
	if c.Mode == Multiclass {
		// One region per class: the pixel's weight is its own class's Φ.
		phi := Name(ReduceSum(c.regionPenalty(m, Name(EuclideanDistance(m, o), "distance")), false, 1), "distance_penalty")
		return c.ReduceLoss(Mul(c.NLL(), AddScalar(phi, 1)), nil, false)
	}
	fg, bg := DistancePair(m, o)
	phi := Name(Add(c.regionPenalty(m, Name(fg, "distance_inside")), c.regionPenalty(Not(m), Name(bg, "distance_outside"))), "distance_penalty")
	return c.ReduceLoss(Mul(c.BCE(t), AddScalar(phi, 1)), nil, true)
}

// regionPenalty is Φ of the regions given by a bool mask [N,C,*] and the
// distance d of their pixels to their outside: (M - d)/max(M - d) inside,
// with M the slice's largest d, 0 outside and where the maximum is 0.
func (c *Ctx) regionPenalty(m, d *Value) *Value {
	axes := c.SpatialAxes()
	in := Cast(m, d.DType())
	top := ReduceMax(d, true, axes...)
	inv := Mul(Sub(top, d), in)
	return SafeDiv(inv, ReduceMax(inv, true, axes...))
}
