package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

func init() {
	Register(&Spec{
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
		Params:    []Param{spacingParam, maxDistanceParam},
		NoneShape: "multiclass: " + pixelNone + "; binary/multilabel: " + elementwiseNone,
		Notes: []string{
			"SegLoss's DisPenalizedCE (binary, 3-D) computes this weight map with SciPy and returns the unweighted cross-entropy mean (the weighted loss is computed and discarded); its map divides by zero for a region without interior or for an empty mask. onnxloss applies the weights and gives such regions Φ = 0.",
			"SegLoss's two-channel softmax form is --mode multiclass with two classes: the background class's Φ is the background region's.",
		},
		Presets: []Preset{
			{Name: "segloss", Doc: "SegLoss's DisPenalizedCE (two-class softmax) with its weight map applied: --classes 2. SegLoss itself returns the unweighted cross-entropy, so its number is onnxloss's cross-entropy, not this.",
				Values: map[string]string{"mode": "multiclass", "classes": "2"}},
		},
		Validate: validateDistance,
		Build: func(c *Ctx) *Value {
			t := c.Target()
			m := labelMask(t)
			o := c.distanceOptions()
			if c.Mode == Multiclass {
				// One region per class: the pixel's weight is its own class's Φ.
				phi := ReduceSum(c.regionPenalty(m, EuclideanDistance(m, o)), false, 1)
				return c.ReduceLoss(Mul(c.NLL(), AddScalar(phi, 1)), nil, false)
			}
			fg, bg := DistancePair(m, o)
			phi := Add(c.regionPenalty(m, fg), c.regionPenalty(Not(m), bg))
			return c.ReduceLoss(Mul(c.BCE(t), AddScalar(phi, 1)), nil, true)
		},
		Reference: reference.DistancePenalizedCE,
		Variants: []Options{
			{"spacing": "0.5,1.5"}, {"mode": "binary", "max_distance": "1.2"},
			{"mode": "multiclass", "classes": "2", "spacing": "2"},
		},
	})

	Register(&Spec{
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
		Citation: "Jadon, A survey of loss functions for semantic segmentation, CIBCB 2020 (shape-aware loss); after Hayder, He & Salzmann, Boundary-aware Instance Segmentation, CVPR 2017.",
		Formula:  "l = CE(x) + E(x)·CE(x), E = 1[x ∈ Ĉ]·dist(x, C_GT) summed over kept channels",
		Modes:    []Mode{Multiclass, Binary, Multilabel},
		Params: []Param{
			includeBackgroundParam(false, "the background's contour duplicates the other classes'"),
			spacingParam, maxDistanceParam,
		},
		NoneShape: "multiclass: " + pixelNone + "; binary/multilabel: " + elementwiseNone,
		Notes: []string{
			"The survey's SemSegLoss code lists the loss but does not implement it; this is a definition from its formula: per pixel weights 1 + E on the cross-entropy.",
		},
		Validate: validateDistance,
		Build: func(c *Ctx) *Value {
			// Contours and distances of the kept channels only.
			pc := c.innerContour(labelMask(c.dropBackground(c.Probs())))
			tc := c.innerContour(labelMask(c.dropBackground(c.Target())))
			toContour := EuclideanDistance(Not(tc), c.distanceOptions())
			e := Where(pc, toContour, ConstAs(toContour, 0))
			if c.Mode == Multiclass {
				w := AddScalar(ReduceSum(e, false, 1), 1)
				return c.ReduceLoss(Mul(c.NLL(), w), nil, false)
			}
			if !c.Bool("include_background") && c.Mode == Multilabel {
				// Channel 0 keeps its cross-entropy, with E = 0.
				e = Pad(e, append([]int64{0, 1}, make([]int64, 2*c.SpatialDims+2)...), "constant", 0)
			}
			return c.ReduceLoss(Mul(c.BCE(c.Target()), AddScalar(e, 1)), nil, true)
		},
		Reference: reference.ShapeAware,
		Variants: []Options{
			{"include_background": "true"}, {"mode": "multilabel", "include_background": "true"},
			{"spacing": "1.5,0.5", "mode": "binary"}, {"max_distance": "1", "mode": "binary"},
		},
	})

	Register(&Spec{
		Name:    "unet-weight-map",
		Family:  "distance",
		Summary: "U-Net weighted cross-entropy: class balance plus w0·exp(-(d1+d2)²/2σ²) between touching instances, computed in the graph.",
		Description: "The weight map of Ronneberger et al.'s U-Net, computed in the graph from an instance label map " +
			"(extra input instances, 0 for background, instances numbered 1..max_instances): on background pixels " +
			"w = w_c + w0·exp(-(d1 + d2)²/(2σ²)) with d1 and d2 the distances to the nearest and the second nearest " +
			"instance, which is large in the narrow gaps between touching objects, and w = w_c on instance pixels. " +
			"w_c balances classes: 1 (class_balance=none, default), the class weights, or S/(K·S_c) per image or " +
			"batch (S pixels, K classes present, S_c pixels of class c). Cross-entropy is weighted by w and averaged " +
			"over pixels. Distances come from one exact Euclidean distance transform of all instance masks at once; " +
			"they are truncated at truncate·σ, which changes w by at most w0·exp(-truncate²/2) (about 1e-13·w0 at " +
			"the default 8).",
		Citation: "Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015.",
		Formula:  "w = w_c(x) + w0·exp(-(d1(x)+d2(x))²/(2σ²))·[x background]; l = w·CE",
		Modes:    []Mode{Multiclass, Binary},
		Params: []Param{
			{Name: "w0", Kind: KindFloat, Default: 10.0, Min: fptr(0), Doc: "border weight w0 (the paper uses 10)"},
			{Name: "sigma", Kind: KindFloat, Default: 5.0, Min: fptr(0), MinExclusive: true, Doc: "border width σ in spacing units (the paper uses about 5 pixels)"},
			{Name: "max_instances", Kind: KindInt, Default: 16, Min: fptr(2), Max: fptr(1024), Doc: "instances per image the graph looks for (ids 1..max_instances; larger ids count as objects without a border term); time and memory grow with it"},
			{Name: "class_balance", Kind: KindEnum, Default: "none", Choices: []string{"none", "image", "batch"}, Doc: "w_c: 1, or S/(K·S_c) balanced per image or over the batch (binary mode: foreground and background); --class-weights sets w_c per class instead"},
			{Name: "truncate", Kind: KindFloat, Default: 8.0, Min: fptr(0), Doc: "distances are truncated at truncate·σ, bounding the transform's time (0: exact)"},
			spacingParam,
		},
		Extra: []ExtraInput{{Name: "instances", Kind: InstanceLabels,
			Doc: "instance label map [N,*spatial], int64: 0 for background, 1..max_instances for objects"}},
		ClassWeights: true,
		NoneShape:    "multiclass: " + pixelNone + "; binary: " + elementwiseNone,
		Notes: []string{
			"The common NumPy unet_weight_map(y, wc, w0=10, sigma=5) labels connected components itself; here the instance map is an input (connected-component labelling is not an ONNX operation), and its wc dictionary is --class-weights.",
			"Instances are compared by id: two touching objects must carry different ids for the border term to appear between them.",
		},
		Validate: func(c *Config) error {
			if err := validateDistance(c); err != nil {
				return err
			}
			if c.ClassWeights != nil && c.Mode == Binary {
				return fmt.Errorf("class weights need multiclass mode; binary mode balances with --class-balance")
			}
			if c.ClassWeights != nil && c.Enum("class_balance") != "none" {
				return fmt.Errorf("give --class-weights or --class-balance, not both")
			}
			return nil
		},
		Build:     buildUNetWeightMap,
		Reference: reference.UNetWeightMap,
		Variants: []Options{
			{"class_balance": "image"}, {"class_balance": "batch", "mode": "binary"},
			{"classes": "3", "class_weights": "1,2,0.5", "w0": "5", "sigma": "1.5"},
			{"sigma": "0.5", "max_instances": "3"}, {"truncate": "0", "spacing": "1.5,0.5"},
			{"mode": "binary", "max_instances": "2"},
		},
	})
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

func buildUNetWeightMap(c *Ctx) *Value {
	dt := c.ComputeType()
	inst := c.Extra["instances"]
	K := c.Int("max_instances")
	ids := make([]int64, K)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	idShape := []int{1, K}
	for i := 0; i < c.SpatialDims; i++ {
		idShape = append(idShape, 1)
	}
	members := Equal(Unsqueeze(inst, 1), ConstTensor(c.G, tensor.FromInt64(idShape, ids)))
	sigma := c.Float("sigma")
	o := DistanceOptions{Spacing: c.Floats("spacing"), MaxDistance: c.Float("truncate") * sigma, DType: dt, Empty: math.Inf(1)}
	// Distance of every pixel to every instance; +Inf for absent instances.
	d := EuclideanDistance(Not(members), o)
	nearest, _ := TopK(d, Ints(c.G, 2), 1, false)
	d1 := Slice(nearest, []int64{0}, []int64{1}, []int64{1}, nil)
	d2 := Slice(nearest, []int64{1}, []int64{2}, []int64{1}, nil)
	gap := Add(d1, d2)
	border := MulScalar(Exp(DivScalar(Neg(Square(gap)), 2*sigma*sigma)), c.Float("w0"))
	background := Cast(Equal(inst, Int(c.G, 0)), dt)
	w := Add(c.classBalance(), Mul(Squeeze(border, 1), background))
	if c.Mode == Multiclass {
		return c.ReduceLoss(Mul(c.NLL(), w), nil, false)
	}
	return c.ReduceLoss(Mul(c.BCE(c.Target()), Unsqueeze(w, 1)), nil, true)
}

// classBalance is w_c per pixel [N,*spatial].
func (c *Ctx) classBalance() *Value {
	dt := c.ComputeType()
	if w := c.ClassWeightMap(); w != nil {
		return w
	}
	bal := c.Enum("class_balance")
	var oh *Value // one channel per class [N,K,*]
	if c.Mode == Multiclass {
		oh = c.Target()
	} else {
		fg := Cast(labelMask(c.Target()), dt)
		oh = Concat(1, OneMinus(fg), fg)
	}
	if bal == "none" {
		return Scalar(c.G, dt, 1)
	}
	axes := c.SpatialAxes()
	if bal == "batch" {
		axes = append([]int{0}, axes...)
	}
	counts := ReduceSum(oh, true, axes...)
	total := ReduceSum(counts, true, 1)
	present := ReduceSum(Cast(Greater(counts, ConstAs(counts, 0)), dt), true, 1)
	perClass := SafeDiv(total, Mul(present, counts))
	return ReduceSum(Mul(oh, perClass), false, 1)
}
