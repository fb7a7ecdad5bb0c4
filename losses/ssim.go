package losses

import (
	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// SSIM is the parameter set of the ssim loss.
type SSIM = param.SSIM

var ssim = Define(Spec{
	Name:    "ssim",
	Family:  "structure",
	Summary: "Structural similarity loss 1 - SSIM (or DSSIM) between probabilities and target, per channel.",
	Description: "The structural similarity index of Wang et al. compares local means, variances and the covariance " +
		"of two maps under a sliding window; here the maps are each channel's probabilities and its target, " +
		"so the loss rewards matching local structure rather than single pixels. The window is an 11-tap " +
		"Gaussian of σ 1.5 (or a box) in 2D and 3D, applied without padding as in MONAI and TensorFlow, or " +
		"over a map the size of the image with reflected borders as in kornia, or with zero padding as in " +
		"pytorch_ssim. The output is 1 - SSIM, or the DSSIM form (1 - SSIM)/2.",
	Citation:     "Wang, Bovik, Sheikh & Simoncelli, Image Quality Assessment: From Error Visibility to Structural Similarity, IEEE TIP 2004.",
	Formula:      "l = 1 - mean_windows (2μpμt + C1)(2σpt + C2) / ((μp² + μt² + C1)(σp² + σt² + C2)), C1 = (k1 L)², C2 = (k2 L)²; dssim: l/2",
	Modes:        []Mode{Binary, Multilabel, Multiclass},
	OneHotTarget: true,
	NoneShape:    channelNone,
	Notes:        ssimNotes,
	Tolerance:    ssimTolerance,
	Variants: []Options{
		{"padding": "reflect", "dssim": "true"},
		{"mode": "multilabel", "padding": "zeros", "kernel": "uniform", "win_size": "3", "classes": "3"},
		{"win_size": "4", "sigma": "0.8", "k1": "0.05", "k2": "0.1", "data_range": "2"},
		{"mode": "multiclass", "target": "onehot", "padding": "reflect", "spatial_dims": "3", "win_size": "5"},
		{"spatial_dims": "1", "padding": "reflect"},
	},
}, Funcs[SSIM]{
	Build: func(c *Ctx, p *SSIM) *Value {
		ssim, _ := c.ssimMaps(&p.SSIMTerm, c.Probs(), c.Target(), true)
		l := OneMinus(c.spatialMean(ssim))
		if p.DSSIM {
			l = MulScalar(l, 0.5)
		}
		return c.reduceChannels(l)
	},
	Reference: reference.SSIM,
	Validate:  func(c *Config, p *SSIM) error { return validateWindow(&p.Window) },
})

var ssimNotes = []string{
	"The SSIM of each (image, channel) is the mean of the SSIM map over the window positions; the loss averages 1 - SSIM over images and channels (MONAI averages over channels first, which is the same number).",
	"MONAI SSIMLoss(spatial_dims, data_range=L, kernel_type=t, win_size=w, kernel_sigma=s, k1, k2): --kernel t --win-size w --sigma s --data-range L; the input there is the prediction itself: use --from-logits=false.",
	"kornia SSIMLoss(window_size=w, max_val=L, padding='same'): --padding reflect --win-size w --data-range L --dssim; kornia clamps the per-pixel DSSIM to [0, 1] and adds 1e-12 to the denominator, which changes nothing measurable for maps in [0, 1].",
	"TensorFlow tf.image.ssim(max_val=L) with its defaults: --data-range L (valid 11-tap Gaussian of σ 1.5).",
	"Small inputs: with --small-input clip (the default) an axis shorter than the window gets a window as long as the axis (valid) or 2n-1 taps (reflect), a Gaussian of the same σ renormalised; other libraries reject such inputs, so their numbers agree wherever they are defined.",
	"skimage's structural_similarity uses the sample covariance (N/(N-1) correction) and a different default window; it is not reproduced.",
}
