package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// Boundary is the parameter set of the boundary loss.
type Boundary = param.Boundary

var boundary = Define(Spec{
	Name:    "boundary",
	Family:  "distance",
	Summary: "Boundary loss: probabilities weighted by the target's signed distance map, computed in the graph.",
	Description: "Kervadec et al.'s boundary loss integrates the predicted probability of each class over the " +
		"signed distance map φ of that class's target region: negative inside, positive outside, so mass " +
		"inside the region lowers the loss and mass outside raises it in proportion to its distance. φ is " +
		"computed in the graph from the target with an exact Euclidean distance transform (distance=target), or " +
		"read from the extra input distance_map when the data loader already makes it (distance=input). " +
		"sdf selects the map: kervadec (default) is the authors' one_hot2dist, d_out outside and -(d_in - 1) " +
		"inside, so the inner boundary layer is 0 at unit spacing; signed is d_out outside and -d_in inside; " +
		"segloss is signed with the inner boundary layer set to 0, as SegLoss's variant does. Classes absent " +
		"from an image, and classes covering all of it, get φ = 0 (no supervision). The loss is usually " +
		"combined with a region loss (Dice) under a weight schedule.",
	Citation: "Kervadec, Bouchtiba, Desrosiers, Granger, Dolz & Ben Ayed, Boundary loss for highly unbalanced segmentation, MIDL 2019 / Medical Image Analysis 2021.",
	Formula:  "l = mean over n, kept c, x of p_c(x)·φ_c(x); kervadec: φ = d_out (outside), -(d_in - 1) (inside)",
	Modes:    []Mode{Multiclass, Binary, Multilabel},
	Presets: []Preset{
		{Name: "kervadec", Doc: "LIVIAETS/boundary-loss SurfaceLoss(idc=[1..C-1]) on softmax probabilities with one_hot2dist maps computed from the one-hot target. Exact, except for a class that fills the whole image: one_hot2dist gives SciPy's distances to a virtual pixel there, onnxloss 0.",
			Values: map[string]string{"mode": "multiclass", "sdf": "kervadec", "include_background": "false", "distance": "target"}},
		{Name: "segloss", Doc: "SegLoss's boundary loss with the map computed in the forward pass (edt(outside) - edt(inside), inner boundary set to 0) on classes >= 1. Exact for present classes; SegLoss builds every channel's map from the whole label map, which only agrees for two classes.",
			Values: map[string]string{"mode": "multiclass", "sdf": "segloss", "include_background": "false", "distance": "target"}},
	},
	Extra: []ExtraInput{{Name: "distance_map", Kind: ChannelMap,
		Doc:     "precomputed signed distance map φ, shaped like input (distance=input only)",
		Enabled: func(c *Config) bool { return typed[Boundary](c.P).Distance == param.DistanceFromInput }}},
	NoneShape: selectedNone,
	Notes: []string{
		"LIVIAETS/boundary-loss SurfaceLoss(idc=[1..C-1]) on softmax probabilities with one_hot2dist maps: --mode multiclass (defaults). Its one_hot2dist subtracts 1 inside in pixels even with a resolution, so the inner layer is 1 - spacing, not 0, with anisotropic spacing; onnxloss reproduces that.",
		"one_hot2dist gives SciPy's distances to a virtual pixel for a class that fills the whole image; onnxloss gives 0 there, as for an absent class.",
		"The distance map of soft targets is that of target > 0.5; the probabilities themselves are not thresholded.",
	},
	Variants: []Options{
		{"sdf": "signed"}, {"sdf": "segloss"}, {"include_background": "true"},
		{"distance": "input"}, {"distance": "input", "mode": "binary"},
		{"spacing": "1.5,0.5"}, {"sdf": "segloss", "spacing": "0.5,2", "mode": "multilabel"},
		{"max_distance": "1.5", "mode": "binary"},
	},
}, Funcs[Boundary]{
	Build:     buildBoundary,
	Reference: reference.Boundary,
	Validate: func(c *Config, p *Boundary) error {
		if err := validateChannels(c, &p.DistanceBackground); err != nil {
			return err
		}
		return validateSpacing(c, p.Spacing)
	},
})

func buildBoundary(c *Ctx, p *Boundary) *Value {
	// Channels are dropped first, so no map is made for them.
	var phi *Value
	if p.Distance == param.DistanceFromInput {
		phi = c.dropBackground(&p.DistanceBackground, c.Extra["distance_map"])
	} else {
		phi = c.boundaryMap(p, c.dropBackground(&p.DistanceBackground, c.Target()))
	}
	return c.reduceMap(Mul(c.dropBackground(&p.DistanceBackground, c.Probs()), phi))
}

// boundaryMap is the signed distance map φ of a target [N,C,*] under the
// sdf convention, 0 on slices without foreground or without background.
func (c *Ctx) boundaryMap(p *Boundary, t *Value) *Value {
	m := labelMask(t)
	fg, bg := DistancePair(m, c.distanceOptions(&p.DistanceTransform))
	var inside *Value
	switch p.SDF {
	case param.SDFKervadec:
		inside = AddScalar(fg, -1)
	case param.SDFSigned:
		inside = fg
	case param.SDFSegLoss:
		inside = Where(c.innerContour(m), ConstAs(fg, 0), fg)
	}
	Name(fg, "distance_inside")
	Name(bg, "distance_outside")
	phi := Where(m, Neg(inside), bg)
	both := And(c.sliceHas(m, true), c.sliceHas(m, false))
	return Name(Where(both, phi, ConstAs(phi, 0)), "signed_distance")
}
