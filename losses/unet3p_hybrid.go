package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// UNet3PHybrid is the parameter set of the unet3p-hybrid loss.
type UNet3PHybrid = param.UNet3PHybrid

var unet3pHybrid = Define(Spec{
	Name:    "unet3p-hybrid",
	Family:  "structure",
	Summary: "UNet 3+'s hybrid loss: focal + MS-SSIM + IoU.",
	Description: "The hybrid segmentation loss of UNet 3+: focal loss for pixels, MS-SSIM loss for local " +
		"structure (which weighs boundary regions) and IoU loss for the whole map, summed. Each term is the " +
		"catalog's own: focal as the focal loss (sigmoid, or softmax in multiclass mode), 1 - MS-SSIM with " +
		"its window options, and 1 - (I + s)/(U + s) per image and channel.",
	Citation:   "Huang, Lin, Tong, Hu, Zhang, Iwamoto, Han, Chen & Wu, UNet 3+: A Full-Scale Connected UNet for Medical Image Segmentation, ICASSP 2020.",
	Formula:    "l = w1·focal + w2·(1 - MS-SSIM) + w3·(1 - (Σ p·t + s)/(Σ p + Σ t - Σ p·t + s))",
	Modes:      []Mode{Binary, Multilabel, Multiclass},
	Reductions: []string{"mean"},
	Notes: []string{
		"The MS-SSIM term uses ms-ssim's conventions; with --small-input clip (the default) it is defined for every size, as jorge-pessoa's pytorch-msssim (which the UNet 3+ code uses) is for valid windows.",
		"SemSegLoss's unet3p_hybrid_loss uses single-scale SSIM (tf.image.ssim) and an unsmoothed Jaccard term instead.",
	},
	Tolerance: ssimTolerance,
	Variants: []Options{
		{"alpha": "0.25", "gamma": "1", "weights": "0.4,0.6", "term_weights": "1,2,0.5"},
		{"mode": "multiclass", "classes": "3", "alpha": "0.2,0.3,0.5", "padding": "zeros", "weights": "0.5,0.5"},
		{"dtype": "float64", "spatial_dims": "3"},
		{"term_weights": "1,0,0.5", "alpha": "0.25"},
	},
}, Funcs[UNet3PHybrid]{
	Build: func(c *Ctx, p *UNet3PHybrid) *Value {
		w := p.TermWeightsOrOnes()
		var f, ms *Value
		if w[0] != 0 {
			f = buildFocal(c, &p.FocalTerm)
		}
		if w[1] != 0 {
			ms = ReduceMean(OneMinus(c.msssim(&p.MSSSIMTerm, c.Probs(), c.Target())), false)
		}
		l := addTerms(scaleTerm(f, w[0]), scaleTerm(ms, w[1]))
		if w[2] != 0 {
			l = addTerms(l, MulScalar(c.iouLoss(p.Smooth), w[2]))
		}
		return l
	},
	Reference: reference.UNet3PHybrid,
	Validate: func(c *Config, p *UNet3PHybrid) error {
		if err := validateFocal(c, &p.FocalTerm); err != nil {
			return err
		}
		if err := validateMSSSIM(&p.MSSSIMTerm); err != nil {
			return err
		}
		return validateTermWeights(&p.HybridTerms)
	},
})
