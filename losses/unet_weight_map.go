package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// UNetWeightMap is the parameter set of the unet-weight-map loss.
type UNetWeightMap = param.UNetWeightMap

var unetWeightMap = Define(Spec{
	Name:    "unet-weight-map",
	Family:  "distance",
	Summary: "U-Net weighted cross-entropy: class balance plus w0·exp(-(d1+d2)²/2σ²) between touching instances, computed in the graph.",
	Description: "The weight map of Ronneberger et al.'s U-Net, computed in the graph from an instance label map " +
		"(extra input instances, 0 for background, instances numbered 1..max_instances): on background pixels " +
		"w = w_c + w0·exp(-(d1 + d2)²/(2σ²)) with d1 and d2 the distances to the nearest and the second nearest " +
		"instance, which is large in the narrow gaps between touching objects, and w = w_c on instance pixels. " +
		"w_c balances classes: 1 (class_balance=none, default), the class weights, or S/(K·S_c) per image or " +
		"batch (S pixels, K classes present, S_c pixels of class c). Cross-entropy is weighted by w and averaged " +
		"over pixels. Distances come from exact Euclidean distance transforms of the instance masks, one instance at a time; " +
		"they are truncated at truncate·σ, which changes w by at most w0·exp(-truncate²/2) (about 1e-13·w0 at " +
		"the default 8).",
	Citation: "Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015.",
	Formula:  "w = w_c(x) + w0·exp(-(d1(x)+d2(x))²/(2σ²))·[x background]; l = w·CE",
	Modes:    []Mode{Multiclass, Binary},
	Extra: []ExtraInput{{Name: "instances", Kind: InstanceLabels,
		Doc: "instance label map [N,*spatial], int64: 0 for background, 1..max_instances for objects"}},
	ClassWeights: true,
	NoneShape:    "multiclass: " + pixelNone + "; binary: " + elementwiseNone,
	Notes: []string{
		"The common NumPy unet_weight_map(y, wc, w0=10, sigma=5) labels connected components itself; here the instance map is an input (connected-component labelling is not an ONNX operation), and its wc dictionary is --class-weights.",
		"Instances are compared by id: two touching objects must carry different ids for the border term to appear between them.",
	},
	Variants: []Options{
		{"class_balance": "image"}, {"class_balance": "batch", "mode": "binary"},
		{"classes": "3", "class_weights": "1,2,0.5", "w0": "5", "sigma": "1.5"},
		{"sigma": "0.5", "max_instances": "3"}, {"truncate": "0", "spacing": "1.5,0.5"},
		{"mode": "binary", "max_instances": "2"},
	},
}, Funcs[UNetWeightMap]{
	Build:     buildUNetWeightMap,
	Reference: reference.UNetWeightMap,
	Validate:  validateUNetWeightMap,
})

func validateUNetWeightMap(c *Config, p *UNetWeightMap) error {
	if err := validateSpacing(c, p.Spacing); err != nil {
		return err
	}
	if c.ClassWeights != nil && c.Mode == Binary {
		return fmt.Errorf("class weights need multiclass mode; binary mode balances with --class-balance")
	}
	// --class-balance with --class-weights is refused as a parameter that
	// cannot matter.
	return nil
}

func buildUNetWeightMap(c *Ctx, p *UNetWeightMap) *Value {
	dt := c.ComputeType()
	inst := c.Extra["instances"]
	K := p.MaxInstances
	// The instances are taken one at a time, in a Loop that keeps the
	// nearest and second nearest distance so far: the transforms of all
	// of them at once would hold max_instances copies of the batch, and
	// the transform's working copies of each.
	sigma := p.Sigma
	o := DistanceOptions{Spacing: p.Spacing, MaxDistance: p.Truncate * sigma, DType: dt, Empty: math.Inf(1)}
	labels := Unsqueeze(inst, 1)
	far := ConstantOfShape(ShapeOf(labels), dt, math.Inf(1))
	nearest := Loop(c.G, Int(c.G, int64(K)), nil, []*Value{far, far}, func(b *LoopBody) (*Value, []*Value) {
		members := Equal(b.Capture(labels), Add(b.Iter, Int(b.G, 1)))
		d := EuclideanDistance(Not(members), o)
		d1, d2 := b.Carried[0], b.Carried[1]
		return nil, []*Value{Min(d1, d), Min(d2, Max(d1, d))}
	})
	d1, d2 := Name(nearest[0], "distance_nearest"), Name(nearest[1], "distance_second_nearest")
	gap := Add(d1, d2)
	border := Name(MulScalar(Exp(DivScalar(Neg(Square(gap)), 2*sigma*sigma)), p.W0), "border_weight")
	background := Cast(Equal(inst, Int(c.G, 0)), dt)
	w := Add(c.classBalance(p.ClassBalance), Mul(Squeeze(border, 1), background))
	if c.Mode == Multiclass {
		return c.ReduceLoss(Mul(c.NLL(), w), nil, false)
	}
	return c.ReduceLoss(Mul(c.BCE(c.Target()), Unsqueeze(w, 1)), nil, true)
}

// classBalance is w_c per pixel [N,*spatial].
func (c *Ctx) classBalance(bal param.ClassBalance) *Value {
	dt := c.ComputeType()
	if w := c.ClassWeightMap(); w != nil {
		return w
	}
	var oh *Value // one channel per class [N,K,*]
	if c.Mode == Multiclass {
		oh = c.Target()
	} else {
		fg := Cast(labelMask(c.Target()), dt)
		oh = Concat(1, OneMinus(fg), fg)
	}
	if bal == param.ClassBalanceNone {
		return Scalar(c.G, dt, 1)
	}
	axes := c.SpatialAxes()
	if bal == param.ClassBalanceBatch {
		axes = append([]int{0}, axes...)
	}
	counts := ReduceSum(oh, true, axes...)
	total := ReduceSum(counts, true, 1)
	present := ReduceSum(Cast(Greater(counts, ConstAs(counts, 0)), dt), true, 1)
	perClass := SafeDiv(total, Mul(present, counts))
	return ReduceSum(Mul(oh, perClass), false, 1)
}
