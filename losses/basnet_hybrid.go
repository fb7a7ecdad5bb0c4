package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// BASNetHybrid is the parameter set of the basnet-hybrid loss.
type BASNetHybrid = param.BASNetHybrid

var basnetHybrid = Define(Spec{
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
	Reductions: []string{"mean"},
	Notes: []string{
		"BASNet's code: nn.BCELoss (mean over entries) + 1 - pytorch_ssim.SSIM(window_size=11) (zero padding) + its IoU loss per image; it runs on sigmoid outputs, which is --from-logits=false here with probabilities, or logits with the default.",
		"SemSegLoss's basnet_hybrid_loss uses tf.image.ssim (valid windows: --padding valid) and an unsmoothed Jaccard term.",
	},
	Tolerance: ssimTolerance,
	Variants: []Options{
		{"padding": "valid", "term_weights": "0.5,1,2", "smooth": "0.01"},
		{"mode": "multiclass", "padding": "reflect", "win_size": "3", "spatial_dims": "3"},
		{"term_weights": "0,1,0"}, {"mode": "multiclass", "term_weights": "2,0,1"},
	},
}, Funcs[BASNetHybrid]{
	Build: func(c *Ctx, p *BASNetHybrid) *Value {
		w := p.TermWeightsOrOnes()
		var ce, s *Value
		if w[0] != 0 {
			if c.Mode == Multiclass {
				ce = ReduceMean(c.NLL(), false)
			} else {
				ce = ReduceMean(c.BCE(c.Target()), false)
			}
		}
		if w[1] != 0 {
			ssim, _ := c.ssimMaps(&p.SSIMTerm, c.Probs(), c.Target(), true)
			s = ReduceMean(OneMinus(c.spatialMean(ssim)), false)
		}
		l := addTerms(scaleTerm(ce, w[0]), scaleTerm(s, w[1]))
		if w[2] != 0 {
			l = addTerms(l, MulScalar(c.iouLoss(p.Smooth), w[2]))
		}
		return l
	},
	Reference: reference.BASNetHybrid,
	Validate: func(c *Config, p *BASNetHybrid) error {
		if err := validateWindow(&p.Window); err != nil {
			return err
		}
		return validateTermWeights(&p.HybridTerms)
	},
})
