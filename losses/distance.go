package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// The distance family computes its distance maps inside the graph with
// builder's exact Euclidean distance transform, so the maps are made wherever
// the graph runs, for the whole batch at once, instead of with SciPy on the
// host one image at a time. Distance maps are functions of labels or of
// thresholded predictions and carry no gradient.

var (
	spacingParam = Param{Name: "spacing", Kind: KindFloats, Min: fptr(0), MinExclusive: true,
		Doc: "pixel size along each spatial axis, one value or one per axis (unset: 1), for anisotropic voxels; distances are in these units (SciPy's sampling)"}
	maxDistanceParam = Param{Name: "max_distance", Kind: KindFloat, Default: 0.0, Min: fptr(0),
		Doc: "truncate distances at this value, in spacing units (0: exact); exact below it, and it bounds the distance transform's time"}
)

func includeBackgroundParam(def bool, who string) Param {
	return Param{Name: "include_background", Kind: KindBool, Default: def,
		Doc: "keep channel 0 in multiclass and multilabel mode (binary mode always uses its channel); " + who}
}

// validateDistance checks the spacing parameter against the spatial rank.
func validateDistance(c *Config) error {
	if s := c.Floats("spacing"); s != nil && len(s) != 1 && len(s) != c.SpatialDims {
		return fmt.Errorf("spacing has %d values for %d spatial dimensions (give one value or one per axis)", len(s), c.SpatialDims)
	}
	return nil
}

// distanceOptions returns the transform's options from spacing and
// max_distance, in compute precision.
func (c *Ctx) distanceOptions() DistanceOptions {
	return DistanceOptions{Spacing: c.Floats("spacing"), MaxDistance: c.Float("max_distance"), DType: c.ComputeType()}
}

// labelMask thresholds a label-side value at 0.5: soft targets and
// probabilities become masks the way MONAI's distance losses make them.
func labelMask(v *Value) *Value {
	return Greater(StopGradient(v), ConstAs(v, 0.5))
}

// dropBackground removes channel 0 of a [N,C,*] value unless
// include_background is set or the mode is binary.
func (c *Ctx) dropBackground(v *Value) *Value {
	if c.Bool("include_background") || c.Mode == Binary {
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
	case "sum":
		return ReduceSum(l, false)
	case "none":
		return c.channelsLast(l)
	}
	return meanOf(l)
}

const selectedNone = "the per-element loss of the kept channels [N,C',*spatial] (C' = C, or C-1 without the background channel), in the input's layout"

func init() {
	Register(&Spec{
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
		Params: []Param{
			{Name: "distance", Kind: KindEnum, Default: "target", Choices: []string{"target", "input"},
				Doc: "where φ comes from: computed in the graph from the target, or the extra input distance_map (the target input is then unused)"},
			{Name: "sdf", Kind: KindEnum, Default: "kervadec", Choices: []string{"kervadec", "signed", "segloss"},
				Doc: "signed distance convention: kervadec d_out / -(d_in - 1) (LIVIAETS/boundary-loss one_hot2dist), signed d_out / -d_in, segloss d_out / -d_in with the inner boundary layer 0"},
			includeBackgroundParam(false, "the authors train on classes >= 1 (idc=[1] for two classes)"),
			spacingParam, maxDistanceParam,
		},
		Presets: []Preset{
			{Name: "kervadec", Doc: "LIVIAETS/boundary-loss SurfaceLoss(idc=[1..C-1]) on softmax probabilities with one_hot2dist maps computed from the one-hot target. Exact, except for a class that fills the whole image: one_hot2dist gives SciPy's distances to a virtual pixel there, onnxloss 0.",
				Values: map[string]string{"mode": "multiclass", "sdf": "kervadec", "include_background": "false", "distance": "target"}},
			{Name: "segloss", Doc: "SegLoss's boundary loss with the map computed in the forward pass (edt(outside) - edt(inside), inner boundary set to 0) on classes >= 1. Exact for present classes; SegLoss builds every channel's map from the whole label map, which only agrees for two classes.",
				Values: map[string]string{"mode": "multiclass", "sdf": "segloss", "include_background": "false", "distance": "target"}},
		},
		Extra: []ExtraInput{{Name: "distance_map", Kind: ChannelMap,
			Doc:     "precomputed signed distance map φ, shaped like input (distance=input only)",
			Enabled: func(c *Config) bool { return c.Enum("distance") == "input" }}},
		NoneShape: selectedNone,
		Notes: []string{
			"LIVIAETS/boundary-loss SurfaceLoss(idc=[1..C-1]) on softmax probabilities with one_hot2dist maps: --mode multiclass (defaults). Its one_hot2dist subtracts 1 inside in pixels even with a resolution, so the inner layer is 1 - spacing, not 0, with anisotropic spacing; onnxloss reproduces that.",
			"one_hot2dist gives SciPy's distances to a virtual pixel for a class that fills the whole image; onnxloss gives 0 there, as for an absent class.",
			"The distance map of soft targets is that of target > 0.5; the probabilities themselves are not thresholded.",
		},
		Validate: validateDistance,
		Build: func(c *Ctx) *Value {
			// Channels are dropped first, so no map is made for them.
			var phi *Value
			if c.Enum("distance") == "input" {
				phi = c.dropBackground(c.Extra["distance_map"])
			} else {
				phi = c.boundaryMap(c.dropBackground(c.Target()))
			}
			return c.reduceMap(Mul(c.dropBackground(c.Probs()), phi))
		},
		Reference: reference.Boundary,
		Variants: []Options{
			{"sdf": "signed"}, {"sdf": "segloss"}, {"include_background": "true"},
			{"distance": "input"}, {"distance": "input", "mode": "binary"},
			{"spacing": "1.5,0.5"}, {"sdf": "segloss", "spacing": "0.5,2", "mode": "multilabel"},
			{"max_distance": "1.5", "mode": "binary"},
		},
	})

	hausdorffParams := []Param{
		{Name: "alpha", Kind: KindFloat, Default: 2.0, Min: fptr(0), Doc: "exponent α of the distances (MONAI, kornia and the paper use 2)"},
		includeBackgroundParam(false, "MONAI's HausdorffDTLoss default is false"),
		{Name: "batch", Kind: KindBool, Default: false, Doc: "average each class over the batch and space before the class mean (MONAI's batch=True) instead of per image"},
		spacingParam, maxDistanceParam,
	}
	hausdorffNone := "[N,C'] per image and kept channel (C' = C, or C-1 without the background channel); [C'] with batch=true"
	Register(&Spec{
		Name:    "hausdorff-dt",
		Family:  "distance",
		Summary: "Hausdorff distance loss from distance transforms of the prediction and the target, computed in the graph.",
		Description: "Karimi & Salcudean's distance-transform Hausdorff loss: the squared error (p - y)² weighted by " +
			"the α-th powers of the distance fields of the thresholded prediction and of the target, where the " +
			"field of a mask is its distance transform plus that of its complement (the distance of every pixel to " +
			"the mask's boundary). Both fields are computed in the graph with exact Euclidean distance " +
			"transforms over the whole batch (one per mask and complement); they are label-side (the prediction field is a function of p > 0.5) and " +
			"carry no gradient, as in MONAI, so the gradient flows through (p - y)² only. The field of a mask that " +
			"is all foreground or all background is 0. The mean is taken per image and channel (or per channel " +
			"over the batch), then over channels and images.",
		Citation: "Karimi & Salcudean, Reducing the Hausdorff Distance in Medical Image Segmentation with Convolutional Neural Networks, IEEE Transactions on Medical Imaging 2020.",
		Formula:  "l_nc = mean_x (p - y)²·(f_p^α + f_y^α), f_m = edt(m) + edt(¬m), m = mask > 0.5; loss = mean_nc l_nc",
		Modes:    []Mode{Binary, Multilabel, Multiclass},
		Params:   hausdorffParams,
		Notes: []string{
			"MONAI HausdorffDTLoss(sigmoid=True) on a [B,C,...] target: --mode multilabel (include_background=false, as MONAI); softmax=True, to_onehot_y=True: --mode multiclass; batch=True: --batch true.",
			"MONAI thresholds each channel's probability at 0.5 for the prediction field (also after softmax), as here; LIVIAETS/boundary-loss's HausdorffLoss uses the argmax instead.",
		},
		Presets: []Preset{
			{Name: "monai", Doc: "MONAI HausdorffDTLoss() defaults: α 2, include_background false, per-image means (batch false), mean reduction; choose --mode multilabel for sigmoid=True and --mode multiclass for softmax=True, to_onehot_y=True. Exact.",
				Values: map[string]string{"alpha": "2", "include_background": "false", "batch": "false", "reduction": "mean"}},
		},
		NoneShape: hausdorffNone,
		Validate:  validateDistance,
		Build:     func(c *Ctx) *Value { return buildHausdorffDT(c, false) },
		Reference: reference.HausdorffDT,
		Variants: []Options{
			{"alpha": "1"}, {"include_background": "true"}, {"batch": "true"}, {"batch": "true", "reduction": "none"},
			{"spacing": "2,0.5", "alpha": "1.5"}, {"max_distance": "2", "mode": "multiclass"},
		},
	})

	Register(&Spec{
		Name:    "log-hausdorff-dt",
		Family:  "distance",
		Summary: "log(1 + hausdorff-dt): the Hausdorff distance-transform loss on a log scale.",
		Description: "The logarithm of the distance-transform Hausdorff loss plus one, as MONAI's " +
			"LogHausdorffDTLoss computes it: the same fields and options as hausdorff-dt, with log(1 + l) applied " +
			"to the reduced loss (to each entry with --reduction none), which compresses the large values of early " +
			"training.",
		Citation: "Karimi & Salcudean, Reducing the Hausdorff Distance in Medical Image Segmentation with Convolutional Neural Networks, IEEE Transactions on Medical Imaging 2020; log form as in MONAI's LogHausdorffDTLoss.",
		Formula:  "log(1 + hausdorff-dt)",
		Modes:    []Mode{Binary, Multilabel, Multiclass},
		Params:   hausdorffParams,
		Notes: []string{
			"MONAI LogHausdorffDTLoss: the settings of hausdorff-dt. With --reduction sum the log is of the sum, as MONAI's log(super().forward() + 1).",
		},
		Presets: []Preset{
			{Name: "monai", Doc: "MONAI LogHausdorffDTLoss() defaults: α 2, include_background false, per-image means (batch false), mean reduction; choose --mode multilabel for sigmoid=True and --mode multiclass for softmax=True, to_onehot_y=True. Exact.",
				Values: map[string]string{"alpha": "2", "include_background": "false", "batch": "false", "reduction": "mean"}},
		},
		NoneShape: hausdorffNone,
		Validate:  validateDistance,
		Build:     func(c *Ctx) *Value { return buildHausdorffDT(c, true) },
		Reference: reference.LogHausdorffDT,
		Variants:  []Options{{"batch": "true", "include_background": "true"}},
	})
}

// boundaryMap is the signed distance map φ of a target [N,C,*] under the
// sdf convention, 0 on slices without foreground or without background.
func (c *Ctx) boundaryMap(t *Value) *Value {
	m := labelMask(t)
	fg, bg := DistancePair(m, c.distanceOptions())
	var inside *Value
	switch c.Enum("sdf") {
	case "kervadec":
		inside = AddScalar(fg, -1)
	case "signed":
		inside = fg
	case "segloss":
		inside = Where(c.innerContour(m), ConstAs(fg, 0), fg)
	}
	phi := Where(m, Neg(inside), bg)
	both := And(c.sliceHas(m, true), c.sliceHas(m, false))
	return Where(both, phi, ConstAs(phi, 0))
}

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

// buildHausdorffDT writes hausdorff-dt, or its log form.
func buildHausdorffDT(c *Ctx, logForm bool) *Value {
	p, t := c.dropBackground(c.Probs()), c.dropBackground(c.Target())
	// Each mask and complement gets its own transform: the prediction's
	// short distances do not wait for the target's long ones.
	fgs, bgs := DistancePairs(c.distanceOptions(), labelMask(p), labelMask(t))
	fieldP, fieldT := Add(fgs[0], bgs[0]), Add(fgs[1], bgs[1])
	alpha := c.Float("alpha")
	w := Add(Pow(fieldP, alpha), Pow(fieldT, alpha))
	e := Mul(Square(Sub(p, t)), w)
	axes := c.SpatialAxes()
	if c.Bool("batch") {
		axes = append([]int{0}, axes...)
	}
	per := ReduceMean(e, false, axes...)
	var l *Value
	switch c.Reduction {
	case "sum":
		l = ReduceSum(per, false)
	case "none":
		l = per
	default:
		l = meanOf(per)
	}
	if logForm {
		l = Log(AddScalar(l, 1))
	}
	return l
}
