package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

var termWeightsParam = Param{Name: "term_weights", Kind: KindFloats, Min: fptr(0),
	Doc: "weights of the three terms, in the order of the formula (unset: 1,1,1, the papers' plain sum)"}

var iouSmoothParam = Param{Name: "smooth", Kind: KindFloat, Default: 1.0, Min: fptr(0), MinExclusive: true,
	Doc: "added to the IoU's intersection and union; BASNet's and UNet 3+'s code add nothing (0/0 for an empty target and an empty prediction)"}

func validateTermWeights(c *Config) error {
	if w := c.Floats("term_weights"); w != nil && len(w) != 3 {
		return fmt.Errorf("term_weights needs 3 values, got %d", len(w))
	}
	return nil
}

func init() {
	Register(&Spec{
		Name:    "unet3p-hybrid",
		Family:  "structure",
		Summary: "UNet 3+'s hybrid loss: focal + MS-SSIM + IoU.",
		Description: "The hybrid segmentation loss of UNet 3+: focal loss for pixels, MS-SSIM loss for local " +
			"structure (which weighs boundary regions) and IoU loss for the whole map, summed. Each term is the " +
			"catalog's own: focal as the focal loss (sigmoid, or softmax in multiclass mode), 1 - MS-SSIM with " +
			"its window options, and 1 - (I + s)/(U + s) per image and channel.",
		Citation: "Huang, Lin, Tong, Hu, Zhang, Iwamoto, Han, Chen & Wu, UNet 3+: A Full-Scale Connected UNet for Medical Image Segmentation, ICASSP 2020.",
		Formula:  "l = w1·focal + w2·(1 - MS-SSIM) + w3·(1 - (Σ p·t + s)/(Σ p + Σ t - Σ p·t + s))",
		Modes:    []Mode{Binary, Multilabel, Multiclass},
		Params: append(append([]Param{
			{Name: "gamma", Kind: KindFloat, Default: 2.0, Min: fptr(0), Doc: "focal term: focusing parameter γ"},
			{Name: "alpha", Kind: KindFloats, Min: fptr(0), Doc: "focal term: balance α, one value or one per class (unset: none; SemSegLoss uses 0.25)"},
			{Name: "normalized", Kind: KindBool, Default: false, Doc: "focal term: divide by the sum of the modulation factors"},
			iouSmoothParam, termWeightsParam,
		}, ssimParams(11, "valid")...), msssimParams...),
		Reductions: []string{"mean"},
		Notes: []string{
			"The MS-SSIM term uses ms-ssim's conventions; with --small-input clip (the default) it is defined for every size, as jorge-pessoa's pytorch-msssim (which the UNet 3+ code uses) is for valid windows.",
			"SemSegLoss's unet3p_hybrid_loss uses single-scale SSIM (tf.image.ssim) and an unsmoothed Jaccard term instead.",
		},
		Validate: func(c *Config) error {
			for _, v := range []func(*Config) error{func(c *Config) error { return validateFocal(c, focalTermOf(c)) }, validateWindow, validateTermWeights} {
				if err := v(c); err != nil {
					return err
				}
			}
			return nil
		},
		Build: func(c *Ctx) *Value {
			w := termWeights(c)
			f := buildFocal(c, focalTermOf(c.Config))
			ms := ReduceMean(OneMinus(c.msssim(c.Probs(), c.Target())), false)
			return Add(Add(MulScalar(f, w[0]), MulScalar(ms, w[1])), MulScalar(c.iouLoss(), w[2]))
		},
		Reference: reference.UNet3PHybrid,
		Tolerance: ssimTolerance,
		Variants: []Options{
			{"alpha": "0.25", "gamma": "1", "weights": "0.4,0.6", "term_weights": "1,2,0.5"},
			{"mode": "multiclass", "classes": "3", "alpha": "0.2,0.3,0.5", "padding": "zeros", "weights": "0.5,0.5"},
			{"dtype": "float64", "spatial_dims": "3"},
		},
	})

	Register(&Spec{
		Name:    "basnet-hybrid",
		Family:  "structure",
		Summary: "BASNet's hybrid loss: BCE + SSIM + IoU.",
		Description: "The hybrid loss of BASNet for boundary-aware saliency and segmentation: binary cross-entropy " +
			"for pixels, SSIM loss for patches and IoU loss for the map, summed. The SSIM term uses an 11-tap " +
			"Gaussian with zero padding, as BASNet's pytorch_ssim does; in multiclass mode the first term is " +
			"the softmax cross-entropy.",
		Citation:   "Qin, Zhang, Huang, Gao, Dehghan & Jagersand, BASNet: Boundary-Aware Salient Object Detection, CVPR 2019.",
		Formula:    "l = w1·BCE + w2·(1 - SSIM) + w3·(1 - (Σ p·t + s)/(Σ p + Σ t - Σ p·t + s))",
		Modes:      []Mode{Binary, Multilabel, Multiclass},
		Params:     append([]Param{iouSmoothParam, termWeightsParam}, ssimParams(11, "zeros")...),
		Reductions: []string{"mean"},
		Notes: []string{
			"BASNet's code: nn.BCELoss (mean over entries) + 1 - pytorch_ssim.SSIM(window_size=11) (zero padding) + its IoU loss per image; it runs on sigmoid outputs, which is --from-logits=false here with probabilities, or logits with the default.",
			"SemSegLoss's basnet_hybrid_loss uses tf.image.ssim (valid windows: --padding valid) and an unsmoothed Jaccard term.",
		},
		Validate: func(c *Config) error {
			if err := validateWindow(c); err != nil {
				return err
			}
			return validateTermWeights(c)
		},
		Build: func(c *Ctx) *Value {
			w := termWeights(c)
			var ce *Value
			if c.Mode == Multiclass {
				ce = ReduceMean(c.NLL(), false)
			} else {
				ce = ReduceMean(c.BCE(c.Target()), false)
			}
			ssim, _ := c.ssimMaps(c.Probs(), c.Target(), true)
			s := ReduceMean(OneMinus(c.spatialMean(ssim)), false)
			return Add(Add(MulScalar(ce, w[0]), MulScalar(s, w[1])), MulScalar(c.iouLoss(), w[2]))
		},
		Reference: reference.BASNetHybrid,
		Tolerance: ssimTolerance,
		Variants: []Options{
			{"padding": "valid", "term_weights": "0.5,1,2", "smooth": "0.01"},
			{"mode": "multiclass", "padding": "reflect", "win_size": "3", "spatial_dims": "3"},
		},
	})

	Register(&Spec{
		Name:    "duo",
		Family:  "structure",
		Summary: "(Lovász-Softmax + boundary F1) / 2, geo-deep-learning's DuoLoss.",
		Description: "The mean of the Lovász-Softmax loss (region overlap) and the boundary F1 loss (boundary " +
			"agreement), as geo-deep-learning's DuoLoss combines them for remote-sensing segmentation. Each term " +
			"keeps its own options and conventions, ignored pixels included.",
		Citation:    "Berman et al., CVPR 2018 (Lovász-Softmax) and Bokhovkin & Burnaev, ISNN 2019 (boundary F1), combined as in Natural Resources Canada's geo-deep-learning.",
		Formula:     "l = (Lovász-Softmax + mean_{n,c}(1 - BF1)) / 2",
		Modes:       []Mode{Multiclass},
		Params:      append(append([]Param{}, lovaszSoftmaxParams...), boundaryParams...),
		IgnoreIndex: true, OneHotTarget: true,
		Reductions: []string{"mean"},
		Notes: []string{
			"geo-deep-learning's DuoLoss uses its LovaszSoftmax (per image, present classes) and BoundaryLoss(theta0=19, theta=19): --per-image true --theta0 19 --theta 19.",
		},
		Validate: validateBoundary,
		Build: func(c *Ctx) *Value {
			return MulScalar(Add(c.lovaszSoftmax(), ReduceMean(c.boundaryF1(), false)), 0.5)
		},
		Reference: reference.Duo,
		Variants: []Options{
			{"per_image": "true", "theta0": "19", "theta": "19"},
			{"class_set": "all", "ignore_index": "1", "theta0": "1"},
		},
	})
}

func termWeights(c *Ctx) []float64 {
	if w := c.Floats("term_weights"); w != nil {
		return w
	}
	return []float64{1, 1, 1}
}

// iouLoss is the jaccard loss per (image, channel), averaged: 1 - (I + s)/(U + s)
// with I = Σ p·t and U = Σ p + Σ t - I.
func (c *Ctx) iouLoss() *Value {
	s := c.Float("smooth")
	o := param.Overlap{SmoothNr: s, SmoothDr: s, PerImage: true, Average: param.AverageMacro, Intersection: param.IntersectionProduct, IncludeBackground: true, AbsentClasses: param.AbsentKeep, ClassWeighting: param.ClassWeightingMean}
	return c.overlapLossWith(&o, jaccardIndex, nil, true)
}
