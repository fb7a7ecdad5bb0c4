package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
)

// MSSSIM is the parameter set of the ms-ssim loss.
type MSSSIM = param.MSSSIM

var msSSIM = Define(Spec{
	Name:    "ms-ssim",
	Family:  "structure",
	Summary: "Multi-scale structural similarity loss 1 - MS-SSIM, per channel.",
	Description: "Multi-scale SSIM (Wang, Simoncelli & Bovik) evaluates the contrast-structure term of SSIM at " +
		"several scales, halving the maps with a 2×2 average between scales, and the full SSIM at the " +
		"coarsest; the scale terms are raised to fixed exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333 " +
		"for five scales) and multiplied. Negative terms are set to 0 before the fractional power (or " +
		"mapped to [0, 1] with normalize=simple), so the value and its gradient stay finite. The window " +
		"options are SSIM's.",
	Citation: "Wang, Simoncelli & Bovik, Multiscale Structural Similarity for Image Quality Assessment, Asilomar 2003.",
	Formula:  "l = 1 - Π_{j<M} relu(cs_j)^{w_j} · relu(SSIM_M)^{w_M}, maps halved between scales",
	Modes:    []Mode{Binary, Multilabel, Multiclass},
	Notes: []string{
		"Halving: a 2×2 average with stride 2; an odd length repeats its last row (column, slice), so n becomes ⌈n/2⌉, as in Wang et al.'s MATLAB code and TensorFlow's ssim_multiscale. pytorch-msssim pads odd lengths with zeros on both sides instead and jorge-pessoa's pytorch-msssim drops the last row: the numbers agree when every size is a multiple of 2^(M-1).",
		"Negative terms: relu(x)^w is computed as [x > 0]·max(x, 2^-126)^w, which equals relu(x)^w and keeps the power's derivative finite where x <= 0 (a plain relu followed by a fractional power gives 0·∞ = NaN gradients there).",
		"Minimum size: with --small-input clip every size works; with --small-input error each scale must hold the window: an axis needs at least (win_size-1)·2^(M-1)+1 pixels for valid windows (161 with the defaults), and (win_size-1)/2·2^(M-1)+1 for reflect padding (81).",
		"pytorch-msssim ms_ssim(data_range=L, win_size=w, weights=ws): --data-range L --win-size w --weights ws (it applies relu as here). jorge-pessoa's msssim (the UNet 3+ code) computes prod(cs_j^w_j · SSIM_M^w_M over j < M), which raises the coarsest SSIM factor to the power M-1: not reproduced.",
	},
	OneHotTarget: true,
	NoneShape:    channelNone,
	Tolerance:    ssimTolerance,
	Variants: []Options{
		{"weights": "0.3,0.7", "normalize": "simple"},
		{"padding": "reflect", "win_size": "3", "weights": "0.2,0.3,0.5"},
		{"mode": "multiclass", "padding": "zeros", "kernel": "uniform", "win_size": "5", "classes": "3", "weights": "0.5,0.5"},
		{"mode": "multiclass", "target": "onehot", "spatial_dims": "3", "weights": "0.6,0.4"},
		{"dtype": "float64", "weights": "0.2,0.3,0.5"},
	},
}, Funcs[MSSSIM]{
	Build: func(c *Ctx, p *MSSSIM) *Value {
		return c.reduceChannels(OneMinus(c.msssim(&p.MSSSIMTerm, c.Probs(), c.Target())))
	},
	Reference: reference.MSSSIM,
	Validate:  func(c *Config, p *MSSSIM) error { return validateMSSSIM(&p.MSSSIMTerm) },
})

// validateMSSSIM checks the window and that there is at least one scale.
func validateMSSSIM(m *param.MSSSIMTerm) error {
	if err := validateWindow(&m.Window); err != nil {
		return err
	}
	if len(m.Weights) == 0 {
		return fmt.Errorf("weights needs at least one scale")
	}
	return nil
}
