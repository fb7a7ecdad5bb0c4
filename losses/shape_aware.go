package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// ShapeAware is the parameter set of the shape-aware loss.
type ShapeAware = param.ShapeAware

var shapeAware = Define(Spec{
	Name:    "shape-aware",
	Family:  "distance",
	Summary: "Cross-entropy weighted by 1 + the distance from each predicted contour pixel to the target's contour.",
	Description: "The shape-aware loss of Jadon's survey: cross-entropy plus cross-entropy weighted by E, where " +
		"E at a pixel of the predicted contour is its Euclidean distance to the target's contour, and 0 off the " +
		"predicted contour; predicted contour points far from the true boundary cost most. Contours are the " +
		"inner boundary layers of the thresholded prediction (p > 0.5) and of the target: pixels of a mask with " +
		"a face neighbour outside it (the edge of the image is not a boundary). The distance to the target's " +
		"contour is an exact Euclidean distance transform computed in the graph; E is label-side (no gradient), " +
		"so the gradient is that of the weighted cross-entropy. A channel whose target has no contour (empty " +
		"or full) gives E = 0.",
	Citation:  "Jadon, A survey of loss functions for semantic segmentation, CIBCB 2020 (shape-aware loss); after Hayder, He & Salzmann, Boundary-aware Instance Segmentation, CVPR 2017.",
	Formula:   "l = CE(x) + E(x)·CE(x), E = 1[x ∈ Ĉ]·dist(x, C_GT) summed over kept channels",
	Modes:     []Mode{Multiclass, Binary, Multilabel},
	NoneShape: "multiclass: " + pixelNone + "; binary/multilabel: " + elementwiseNone,
	Notes: []string{
		"The survey's SemSegLoss code lists the loss but does not implement it; this is a definition from its formula: per pixel weights 1 + E on the cross-entropy.",
	},
	Variants: []Options{
		{"include_background": "true"}, {"mode": "multilabel", "include_background": "true"},
		{"spacing": "1.5,0.5", "mode": "binary"}, {"max_distance": "1", "mode": "binary"},
	},
}, Funcs[ShapeAware]{
	Build:     buildShapeAware,
	Reference: reference.ShapeAware,
	Validate: func(c *Config, p *ShapeAware) error {
		if err := validateChannels(c, &p.DistanceBackground); err != nil {
			return err
		}
		return validateSpacing(c, p.Spacing)
	},
})

func buildShapeAware(c *Ctx, p *ShapeAware) *Value {
	// Contours and distances of the kept channels only.
	pc := c.innerContour(labelMask(c.dropBackground(&p.DistanceBackground, c.Probs())))
	tc := c.innerContour(labelMask(c.dropBackground(&p.DistanceBackground, c.Target())))
	toContour := Name(EuclideanDistance(Not(tc), c.distanceOptions(&p.DistanceTransform)), "distance_to_target_contour")
	e := Name(Where(pc, toContour, ConstAs(toContour, 0)), "contour_distance")
	if c.Mode == Multiclass {
		w := AddScalar(ReduceSum(e, false, 1), 1)
		return c.ReduceLoss(Mul(c.NLL(), w), nil, false)
	}
	if !p.IncludeBackground && c.Mode == Multilabel {
		// Channel 0 keeps its cross-entropy, with E = 0.
		e = Pad(e, append([]int64{0, 1}, make([]int64, 2*c.SpatialDims+2)...), "constant", 0)
	}
	return c.ReduceLoss(Mul(c.BCE(c.Target()), AddScalar(e, 1)), nil, true)
}
