package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
)

// CheckPrefix starts the name of every check node of a loss graph. A check
// is a node that makes the run fail, in any ONNX runtime, when the inputs
// break the model's contract, so that bad input never yields a number: see
// builder.Check. The node's name says what is checked, and ONNX Runtime's
// error names the node.
const CheckPrefix = "onnxloss/check/"

// The checks every loss graph carries, in the order they run. Extra inputs
// get the target's shape checks under their own name
// (pixel_weight_batch_matches_input, ...).
const (
	// CheckInputClasses: with --classes C (or class weights, or binary
	// mode), the input's channel axis has C entries.
	CheckInputClasses = "input_classes_match_option"
	// CheckTwoClasses: in multiclass mode without a fixed C, the input has
	// at least two channels (one class has probability 1 everywhere).
	CheckTwoClasses = "input_classes_at_least_two"
	// CheckTargetBatch: the target's batch dimension is the input's.
	CheckTargetBatch = "target" + batchMatches
	// CheckTargetSpatial: the target's spatial dimensions are the input's.
	CheckTargetSpatial = "target" + spatialMatches
	// CheckTargetClasses: a float target has the input's channels.
	CheckTargetClasses = "target" + classesMatch
	// CheckNotEmpty: no dimension of the input is 0 (an empty batch, a
	// zero-sized spatial axis, no channels).
	CheckNotEmpty = "input_not_empty"
	// CheckLabels: every label is in [0, C) or is the ignore index.
	CheckLabels = "target_labels_in_range"
	// CheckTargetFinite: a float target holds no NaN or ±Inf.
	CheckTargetFinite = "target_finite"
)

// The shape checks of a tensor are named after it: "target" + batchMatches.
const (
	batchMatches   = "_batch_matches_input"
	spatialMatches = "_spatial_matches_input"
	classesMatch   = "_classes_match_input"
)

// guarded holds the graph inputs as the loss may use them: each computed
// after every check has passed.
type guarded struct {
	input, target *Value
	extra         map[string]*Value
	// labels is the label map with ignored pixels set to 0 (multiclass
	// label mode only), as the label check read it.
	labels *Value
	// targetSums is Σ of a float target over its spatial axes, [N,C], as
	// the finite check read it: a loss that needs exactly these sums takes
	// them from here instead of reading the target once more.
	targetSums *Value
}

// addChecks writes the checks on the raw graph inputs and returns the
// inputs to compute the loss from. Shape checks run first, on shapes only;
// the checks that read values run on inputs that passed them, so that no
// runtime ever computes on an empty or mismatched tensor, not even a
// reduction.
func (c *Ctx) addChecks(target *Value, extras []ExtraInput) guarded {
	g := c.G
	pop := g.Scope(CheckPrefix[:len(CheckPrefix)-1])
	defer pop()
	var tok *Value
	check := func(ok *Value, name string) { tok = Check(tok, ok, CheckPrefix+name) }

	// Axes of the input: channels, spatial; a label map [N,*spatial] holds
	// the input's axes pixelAxes.
	in := ShapeOf(c.Input)
	r := c.Input.Rank()
	chAxis, spatial := int64(1), make([]int64, c.SpatialDims)
	for i := range spatial {
		spatial[i] = int64(2 + i)
	}
	if c.Layout == NHWC {
		chAxis = int64(r - 1)
		for i := range spatial {
			spatial[i] = int64(1 + i)
		}
	}
	pixelAxes := append([]int64{0}, spatial...)
	pixelSpatial := make([]int64, c.SpatialDims)
	for i := range pixelSpatial {
		pixelSpatial[i] = int64(1 + i)
	}
	var inPixels *Value
	// matches checks a tensor shaped like the input (channels true) or like
	// a label map against the input, dimension by dimension.
	matches := func(v *Value, name string, channels bool) {
		var eq *Value
		sp := spatial
		if channels {
			eq = Equal(ShapeOf(v), in)
		} else {
			if inPixels == nil {
				inPixels = Gather(in, Ints(g, pixelAxes...), 0)
			}
			eq = Equal(ShapeOf(v), inPixels)
			sp = pixelSpatial
		}
		check(Gather(eq, Ints(g, 0), 0), name+batchMatches)
		check(Gather(eq, Ints(g, sp...), 0), name+spatialMatches)
		if channels {
			check(Gather(eq, Ints(g, chAxis), 0), name+classesMatch)
		}
	}

	if c.Classes > 0 {
		check(Equal(Gather(in, Ints(g, chAxis), 0), Ints(g, int64(c.Classes))), CheckInputClasses)
	} else if c.Mode == Multiclass {
		check(Greater(Gather(in, Ints(g, chAxis), 0), Ints(g, 1)), CheckTwoClasses)
	}
	labels := c.Mode == Multiclass && c.TargetForm == TargetLabels
	matches(target, "target", !labels)
	for _, e := range extras {
		matches(c.Extra[e.Name], e.Name, e.Kind == ChannelMap)
	}
	check(Greater(in, Int(g, 0)), CheckNotEmpty)

	out := guarded{extra: map[string]*Value{}}
	// Values are read only after the shapes passed.
	t := After(target, tok)
	if labels {
		y := t
		if c.IgnoreIndex != nil {
			y = Where(Equal(y, Int(g, *c.IgnoreIndex)), Int(g, 0), y)
		}
		var classes *Value
		if c.Classes > 0 {
			classes = Int(g, int64(c.Classes))
		} else {
			classes = Gather(in, Int(g, chAxis), 0)
		}
		lo, hi := ReduceMin(y, false), ReduceMax(y, false)
		check(And(GreaterOrEqual(lo, Int(g, 0)), Less(hi, classes)), CheckLabels)
		out.labels = After(y, tok)
	} else {
		// Σ over the spatial axes first, [N,C], then over the rest: the
		// per-sample, per-class sums are the region losses' Σt.
		sums := ReduceSum(t, false, intAxes(spatial)...)
		s := ReduceSum(sums, false)
		check(Equal(Sub(s, s), ConstAs(s, 0)), CheckTargetFinite)
		out.targetSums = After(sums, tok)
	}
	out.input = After(c.Input, tok)
	out.target = After(t, tok)
	for _, e := range extras {
		out.extra[e.Name] = After(c.Extra[e.Name], tok)
	}
	return out
}

func intAxes(axes []int64) []int {
	out := make([]int, len(axes))
	for i, a := range axes {
		out[i] = int(a)
	}
	return out
}
