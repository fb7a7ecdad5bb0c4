package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// HausdorffDT is the parameter set of the hausdorff-dt loss.
type HausdorffDT = param.HausdorffDT

const hausdorffNone = "[N,C'] per image and kept channel (C' = C, or C-1 without the background channel); [C'] with batch=true"

var hausdorffDT = Define(Spec{
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
	Notes: []string{
		"MONAI HausdorffDTLoss(sigmoid=True) on a [B,C,...] target: --mode multilabel (include_background=false, as MONAI); softmax=True, to_onehot_y=True: --mode multiclass; batch=True: --batch true.",
		"MONAI thresholds each channel's probability at 0.5 for the prediction field (also after softmax), as here; LIVIAETS/boundary-loss's HausdorffLoss uses the argmax instead.",
	},
	Presets: []Preset{
		{Name: "monai", Doc: "MONAI HausdorffDTLoss() defaults: α 2, include_background false, per-image means (batch false), mean reduction; choose --mode multilabel for sigmoid=True and --mode multiclass for softmax=True, to_onehot_y=True. Exact.",
			Values: map[string]string{"alpha": "2", "include_background": "false", "batch": "false", "reduction": "mean"}},
	},
	NoneShape: hausdorffNone,
	Variants: []Options{
		{"alpha": "1"}, {"include_background": "true", "mode": "multilabel"}, {"batch": "true"}, {"batch": "true", "reduction": "none"},
		{"spacing": "2,0.5", "alpha": "1.5"}, {"max_distance": "2", "mode": "multiclass"},
	},
}, Funcs[HausdorffDT]{
	Build:     func(c *Ctx, p *HausdorffDT) *Value { return buildHausdorffDT(c, &p.HausdorffOptions, false) },
	Reference: reference.HausdorffDT,
	Validate: func(c *Config, p *HausdorffDT) error {
		if err := validateChannels(c, &p.DistanceBackground); err != nil {
			return err
		}
		return validateSpacing(c, p.Spacing)
	},
})

// buildHausdorffDT writes hausdorff-dt, or its log form.
func buildHausdorffDT(c *Ctx, h *param.HausdorffOptions, logForm bool) *Value {
	p, t := c.dropBackground(&h.DistanceBackground, c.Probs()), c.dropBackground(&h.DistanceBackground, c.Target())
	// Each mask and complement gets its own transform: the prediction's
	// short distances do not wait for the target's long ones.
	fgs, bgs := DistancePairs(c.distanceOptions(&h.DistanceTransform), labelMask(p), labelMask(t))
	fieldP, fieldT := Name(Add(fgs[0], bgs[0]), "distance_pred"), Name(Add(fgs[1], bgs[1]), "distance_target")
	w := Name(Add(Pow(fieldP, h.Alpha), Pow(fieldT, h.Alpha)), "distance_weight")
	e := Mul(Square(Sub(p, t)), w)
	axes := c.SpatialAxes()
	if h.Batch {
		axes = append([]int{0}, axes...)
	}
	per := ReduceMean(e, false, axes...)
	var l *Value
	switch c.Reduction {
	case Sum:
		l = ReduceSum(per, false)
	case None:
		l = per
	default:
		l = meanOf(per)
	}
	if logForm {
		l = Log(AddScalar(l, 1))
	}
	return l
}
