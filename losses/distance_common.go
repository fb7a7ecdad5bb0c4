package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
)

// The distance family computes its distance maps inside the graph with
// builder's exact Euclidean distance transform, so the maps are made wherever
// the graph runs, for the whole batch at once, instead of with SciPy on the
// host one image at a time. Distance maps are functions of labels or of
// thresholded predictions and carry no gradient.

// validateSpacing checks the spacing parameter against the spatial rank.
// validateChannels refuses a configuration that leaves out the only
// channel: with one class, include_background=false keeps none.
func validateChannels(c *Config, b *param.DistanceBackground) error {
	if c.Mode != Binary && c.Classes == 1 && !b.IncludeBackground {
		return fmt.Errorf("with one class, include_background=false leaves no channel to compare: give --include-background or use --mode binary")
	}
	return nil
}

func validateSpacing(c *Config, spacing []float64) error {
	if s := spacing; s != nil && len(s) != 1 && len(s) != c.SpatialDims {
		return fmt.Errorf("spacing has %d values for %d spatial dimensions (give one value or one per axis)", len(s), c.SpatialDims)
	}
	return nil
}

// distanceOptions returns the transform's options from spacing and
// max_distance, in compute precision.
func (c *Ctx) distanceOptions(t *param.DistanceTransform) DistanceOptions {
	return DistanceOptions{Spacing: t.Spacing, MaxDistance: t.MaxDistance, DType: c.ComputeType()}
}

// labelMask thresholds a label-side value at 0.5: soft targets and
// probabilities become masks the way MONAI's distance losses make them.
func labelMask(v *Value) *Value {
	return Greater(StopGradient(v), ConstAs(v, 0.5))
}

// dropBackground removes channel 0 of a [N,C,*] value unless
// include_background is set or the mode is binary.
func (c *Ctx) dropBackground(b *param.DistanceBackground, v *Value) *Value {
	if b.IncludeBackground || c.Mode == Binary {
		return v
	}
	return Slice(v, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil)
}

// sliceHas returns, per [n,c] slice of a bool mask, whether it holds a true
// pixel (want true) or a false pixel (want false), kept [N,C,1,...].
func (c *Ctx) sliceHas(m *Value, want bool) *Value {
	f := Cast(m, c.ComputeType())
	if want {
		return Greater(ReduceMax(f, true, c.SpatialAxes()...), ConstAs(f, 0))
	}
	return Less(ReduceMin(f, true, c.SpatialAxes()...), ConstAs(f, 1))
}

// meanOf is the mean of every element of l, 0 when l has none (for example
// when include_background=false leaves no channel).
func meanOf(l *Value) *Value {
	n := Cast(ReduceProd(ShapeOf(l), false), l.DType())
	return SafeDiv(ReduceSum(l, false), n)
}

// reduceMap reduces a per-element loss [N,C',*] of the selected channels:
// mean over its elements, sum, or the map itself in the input's layout.
func (c *Ctx) reduceMap(l *Value) *Value {
	switch c.Reduction {
	case Sum:
		return ReduceSum(l, false)
	case None:
		return c.channelsLast(l)
	}
	return meanOf(l)
}

const selectedNone = "the per-element loss of the kept channels [N,C',*spatial] (C' = C, or C-1 without the background channel), in the input's layout"

// innerContour marks the pixels of a bool mask [N,C,*] that have a face
// neighbour outside the mask (skimage's find_boundaries(mode='inner'),
// connectivity 1). Pooling never lets padding win, so the edge of the image
// is not a boundary.
func (c *Ctx) innerContour(m *Value) *Value {
	out := Cast(Not(m), c.ComputeType())
	var near *Value
	for a := 0; a < c.SpatialDims; a++ {
		k := make([]int64, c.SpatialDims)
		for i := range k {
			k[i] = 1
		}
		k[a] = 3
		pads := make([]int64, 2*c.SpatialDims)
		pads[a], pads[c.SpatialDims+a] = 1, 1
		p := MaxPool(out, Window{Kernel: k, Pads: pads})
		if near == nil {
			near = p
		} else {
			near = Max(near, p)
		}
	}
	return And(m, Greater(near, ConstAs(near, 0)))
}
