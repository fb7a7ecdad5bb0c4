package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

const channelNone = "the per-(image, channel) loss [N,C]"

// ssimTolerance is the relative error budget of the SSIM-based losses. Their
// variances and covariance are differences of windowed moments, E[x²] - μ²,
// which float32 rounds to about 1e-7 of E[x²]; divided by σp² + σt² + C2
// with C2 = (0.03·L)² = 9e-4, that is up to about 1e-4 of the result (for
// example with nearly constant maps of values near 1).
const ssimTolerance = 2e-4

// ssimParams are the SSIM options: the window, k1, k2 and the data range.
func ssimParams(size int, padding string) []Param {
	return append(windowParams(size, padding),
		Param{Name: "k1", Kind: KindFloat, Default: 0.01, Min: fptr(0), Doc: "C1 = (k1·L)², the luminance term's stabiliser"},
		Param{Name: "k2", Kind: KindFloat, Default: 0.03, Min: fptr(0), Doc: "C2 = (k2·L)², the contrast-structure term's stabiliser"},
		Param{Name: "data_range", Kind: KindFloat, Default: 1.0, Min: fptr(0), MinExclusive: true,
			Doc: "dynamic range L of the compared maps (1 for probabilities)"},
	)
}

// msssimParams are the multi-scale options on top of ssimParams.
var msssimParams = []Param{
	{Name: "weights", Kind: KindFloats, Default: []float64{0.0448, 0.2856, 0.3001, 0.2363, 0.1333}, Min: fptr(0), MinExclusive: true,
		Doc: "exponent of each scale, finest first; their number is the number of scales (Wang et al.'s five by default)"},
	{Name: "normalize", Kind: KindEnum, Default: "relu", Choices: []string{"relu", "simple"},
		Doc: "what keeps a negative per-scale term from a fractional power: relu sets it to 0 (pytorch-msssim, TensorFlow, torchmetrics' default); simple maps [-1, 1] to [0, 1] with (x+1)/2 first (jorge-pessoa's pytorch-msssim normalize=True, torchmetrics' normalize=simple)"},
}

var ssimNotes = []string{
	"The SSIM of each (image, channel) is the mean of the SSIM map over the window positions; the loss averages 1 - SSIM over images and channels (MONAI averages over channels first, which is the same number).",
	"MONAI SSIMLoss(spatial_dims, data_range=L, kernel_type=t, win_size=w, kernel_sigma=s, k1, k2): --kernel t --win-size w --sigma s --data-range L; the input there is the prediction itself: use --from-logits=false.",
	"kornia SSIMLoss(window_size=w, max_val=L, padding='same'): --padding reflect --win-size w --data-range L --dssim; kornia clamps the per-pixel DSSIM to [0, 1] and adds 1e-12 to the denominator, which changes nothing measurable for maps in [0, 1].",
	"TensorFlow tf.image.ssim(max_val=L) with its defaults: --data-range L (valid 11-tap Gaussian of σ 1.5).",
	"Small inputs: with --small-input clip (the default) an axis shorter than the window gets a window as long as the axis (valid) or 2n-1 taps (reflect), a Gaussian of the same σ renormalised; other libraries reject such inputs, so their numbers agree wherever they are defined.",
	"skimage's structural_similarity uses the sample covariance (N/(N-1) correction) and a different default window; it is not reproduced.",
}

func init() {
	Register(&Spec{
		Name:    "ssim",
		Family:  "structure",
		Summary: "Structural similarity loss 1 - SSIM (or DSSIM) between probabilities and target, per channel.",
		Description: "The structural similarity index of Wang et al. compares local means, variances and the covariance " +
			"of two maps under a sliding window; here the maps are each channel's probabilities and its target, " +
			"so the loss rewards matching local structure rather than single pixels. The window is an 11-tap " +
			"Gaussian of σ 1.5 (or a box) in 2D and 3D, applied without padding as in MONAI and TensorFlow, or " +
			"over a map the size of the image with reflected borders as in kornia, or with zero padding as in " +
			"pytorch_ssim. The output is 1 - SSIM, or the DSSIM form (1 - SSIM)/2.",
		Citation: "Wang, Bovik, Sheikh & Simoncelli, Image Quality Assessment: From Error Visibility to Structural Similarity, IEEE TIP 2004.",
		Formula:  "l = 1 - mean_windows (2μpμt + C1)(2σpt + C2) / ((μp² + μt² + C1)(σp² + σt² + C2)), C1 = (k1 L)², C2 = (k2 L)²; dssim: l/2",
		Modes:    []Mode{Binary, Multilabel, Multiclass},
		Params: append(ssimParams(11, "valid"),
			Param{Name: "dssim", Kind: KindBool, Default: false, Doc: "output (1 - SSIM)/2 (kornia's SSIMLoss) instead of 1 - SSIM (MONAI's SSIMLoss)"}),
		OneHotTarget: true,
		NoneShape:    channelNone,
		Notes:        ssimNotes,
		Validate:     validateWindow,
		Build: func(c *Ctx) *Value {
			ssim, _ := c.ssimMaps(c.Probs(), c.Target(), true)
			l := OneMinus(c.spatialMean(ssim))
			if c.Bool("dssim") {
				l = MulScalar(l, 0.5)
			}
			return c.reduceChannels(l)
		},
		Reference: reference.SSIM,
		Tolerance: ssimTolerance,
		Variants: []Options{
			{"padding": "reflect", "dssim": "true"},
			{"mode": "multilabel", "padding": "zeros", "kernel": "uniform", "win_size": "3", "classes": "3"},
			{"win_size": "4", "sigma": "0.8", "k1": "0.05", "k2": "0.1", "data_range": "2"},
			{"mode": "multiclass", "target": "onehot", "padding": "reflect", "spatial_dims": "3", "win_size": "5"},
			{"spatial_dims": "1", "padding": "reflect"},
		},
	})

	Register(&Spec{
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
		Params:   append(ssimParams(11, "valid"), msssimParams...),
		Notes: []string{
			"Halving: a 2×2 average with stride 2; an odd length repeats its last row (column, slice), so n becomes ⌈n/2⌉, as in Wang et al.'s MATLAB code and TensorFlow's ssim_multiscale. pytorch-msssim pads odd lengths with zeros on both sides instead and jorge-pessoa's pytorch-msssim drops the last row: the numbers agree when every size is a multiple of 2^(M-1).",
			"Negative terms: relu(x)^w is computed as [x > 0]·max(x, 2^-126)^w, which equals relu(x)^w and keeps the power's derivative finite where x <= 0 (a plain relu followed by a fractional power gives 0·∞ = NaN gradients there).",
			"Minimum size: with --small-input clip every size works; with --small-input error each scale must hold the window: an axis needs at least (win_size-1)·2^(M-1)+1 pixels for valid windows (161 with the defaults), and (win_size-1)/2·2^(M-1)+1 for reflect padding (81).",
			"pytorch-msssim ms_ssim(data_range=L, win_size=w, weights=ws): --data-range L --win-size w --weights ws (it applies relu as here). jorge-pessoa's msssim (the UNet 3+ code) computes prod(cs_j^w_j · SSIM_M^w_M over j < M), which raises the coarsest SSIM factor to the power M-1: not reproduced.",
		},
		Validate: func(c *Config) error {
			if err := validateWindow(c); err != nil {
				return err
			}
			if len(c.Floats("weights")) == 0 {
				return fmt.Errorf("weights needs at least one scale")
			}
			return nil
		},
		OneHotTarget: true,
		NoneShape:    channelNone,
		Build: func(c *Ctx) *Value {
			return c.reduceChannels(OneMinus(c.msssim(c.Probs(), c.Target())))
		},
		Reference: reference.MSSSIM,
		Tolerance: ssimTolerance,
		Variants: []Options{
			{"weights": "0.3,0.7", "normalize": "simple"},
			{"padding": "reflect", "win_size": "3", "weights": "0.2,0.3,0.5"},
			{"mode": "multiclass", "padding": "zeros", "kernel": "uniform", "win_size": "5", "classes": "3", "weights": "0.5,0.5"},
			{"mode": "multiclass", "target": "onehot", "spatial_dims": "3", "weights": "0.6,0.4"},
			{"dtype": "float64", "weights": "0.2,0.3,0.5"},
		},
	})

	Register(&Spec{
		Name:    "cmssim",
		Family:  "structure",
		Summary: "Correlation-maximized structural similarity loss: cross-entropy on structurally dissimilar pixels.",
		Description: "The structural similarity loss of Zhao et al. measures, at every pixel and channel, how far the " +
			"prediction departs from a positive linear relation with the target inside a small window: " +
			"e = |(t - μt + C4)/(σt + C4) - (p - μp + C4)/(σp + C4)|. Entries whose e exceeds β times the " +
			"batch's largest e are kept, and the loss is their cross-entropy weighted by e, averaged over the " +
			"kept entries. e and the selection are weights: no gradient flows through them.",
		Citation: "Zhao, Wu, Chu, Hu & Cai, Correlation Maximized Structural Similarity Loss for Semantic Segmentation, arXiv:1910.08711, 2019.",
		Formula:  "e = |(t - μt + C4)/(σt + C4) - (p - μp + C4)/(σp + C4)|, f = [e > β·max e], l = Σ e·f·CE / Σ f",
		Modes:    []Mode{Multiclass, Binary, Multilabel},
		Params: append(cmssimWindowParams(),
			Param{Name: "c4", Kind: KindFloat, Default: 0.01, Min: fptr(0), MinExclusive: true, Doc: "stabiliser C4 of the normalised differences"},
			Param{Name: "beta", Kind: KindFloat, Default: 0.1, Min: fptr(0), Max: fptr(1), Doc: "entries with e > β·max e are kept"},
		),
		IgnoreIndex:  true,
		OneHotTarget: true,
		NoneShape:    elementwiseNone + ", 0 where an entry is not kept",
		Notes: []string{
			"CE is -t·log p per class entry in multiclass mode (the softmax cross-entropy split over classes) and the binary cross-entropy per entry otherwise.",
			"The local statistics use the window options (3×3 Gaussian of σ 1.5 with reflected borders by default, the window the paper uses); --padding valid is not offered, since every entry needs an e, and win_size is at most 7: the statistics are sums over every window entry.",
			"max e is taken over the batch's valid entries; a batch whose e is 0 everywhere keeps nothing and gives 0.",
			"e and f are computed from a copy of the probabilities taken through an integer cast (exact to 6e-8), so no training tool differentiates through them (the square root of a zero local variance would make that gradient infinite).",
			"The local mean and variance are computed from the differences between each window entry and the window's centre, exact in float32 for nearby values; the textbook E[x²] - μ² loses about 1e-7 of E[x²], as much as the variance of a nearly uniform window, whose σ then moves e by per cents.",
		},
		Validate: func(c *Config) error {
			if c.Enum("padding") == "valid" {
				return fmt.Errorf("--padding valid leaves border pixels without a weight: use reflect or zeros")
			}
			return validateWindow(c)
		},
		Build:     buildCMSSIM,
		Reference: reference.CMSSIM,
		Variants: []Options{
			{"beta": "0.5", "ignore_index": "1", "classes": "3"},
			{"mode": "binary", "padding": "zeros", "kernel": "uniform", "win_size": "5", "c4": "0.1"},
			{"mode": "multilabel", "beta": "0.01", "ignore_index": "-1"},
			{"target": "onehot", "spatial_dims": "3"},
		},
	})
}

// msssim returns the multi-scale SSIM of every (image, channel) [N,C].
func (c *Ctx) msssim(p, t *Value) *Value {
	weights := c.Floats("weights")
	w := windowOf(c.Config)
	if w.small == "error" {
		c.checkScales(p, w, len(weights))
	}
	d := c.SpatialDims
	pool := Window{Kernel: make([]int64, d), Strides: make([]int64, d), Pads: make([]int64, 2*d)}
	for i := 0; i < d; i++ {
		pool.Kernel[i], pool.Strides[i], pool.Pads[d+i] = 2, 2, 1
	}
	var ms *Value
	for j, wj := range weights {
		pop := c.G.Scope(fmt.Sprintf("scale%d", j))
		last := j == len(weights)-1
		ssim, cs := c.ssimMaps(p, t, last)
		term := cs
		if last {
			term = ssim
		}
		f := c.msTerm(c.spatialMean(term), wj)
		if ms == nil {
			ms = f
		} else {
			ms = Mul(ms, f)
		}
		if !last {
			p, t = c.halve(p, pool), c.halve(t, pool)
		}
		pop()
	}
	return ms
}

// halve takes 2×…×2 means with the last row repeated on odd lengths: an
// AveragePool whose end padding is left out of the mean (count_include_pad
// = 0). ONNX Runtime has no float64 AveragePool, so float64 maps are halved
// with a product by a halving matrix along each axis instead.
func (c *Ctx) halve(x *Value, pool Window) *Value {
	if x.DType() != tensor.Float64 {
		return AveragePool(x, pool, false)
	}
	f := &filter{like: x}
	d := x.Rank() - 2
	for a := 0; a < d; a++ {
		f.outDim = append(f.outDim, -1)
		if n := x.Dim(2 + a); n.Known() {
			f.outDim[a] = (n.Size + 1) / 2
		}
		f.mats = append(f.mats, c.halvingMatrix(x, 2+a, a == d-1))
	}
	return f.apply(x)
}

// msTerm returns v^w with negative v set to 0 (normalize=relu) or after
// mapping [-1, 1] to [0, 1] (simple), as [v > 0]·max(v, 2^-126)^w so that
// the derivative of the power stays finite where the term is zero.
func (c *Ctx) msTerm(v *Value, w float64) *Value {
	if c.Enum("normalize") == "simple" {
		v = MulScalar(AddScalar(v, 1), 0.5)
	}
	pos := Cast(Greater(v, ConstAs(v, 0)), v.DType())
	return Mul(pos, Pow(ClipMin(v, reference.ProbFloor), w))
}

// checkScales fails the build when fixed spatial sizes cannot hold the
// window at every scale.
func (c *Ctx) checkScales(p *Value, w windowSpec, scales int) {
	for a := 0; a < c.SpatialDims; a++ {
		n := p.Dim(2 + a)
		if !n.Known() {
			continue
		}
		size := n.Size
		for j := 0; j < scales; j++ {
			if _, _, err := w.static(size); err != nil {
				c.G.Fail("%s: spatial axis %d of %d is too small for %d scales: at scale %d it is %d: %v",
					c.Loss, a, n.Size, scales, j, size, err)
				return
			}
			size = (size + 1) / 2
		}
	}
}

// detached returns a copy of x that every automatic differentiation (ONNX
// Runtime's too) treats as a constant: x truncated to a multiple of 2^-24
// through an int32 cast, exact to 6e-8 for values in [0, 1]; float64 values
// to a multiple of 2^-53 through an int64 cast, exact to 1e-16.
func detached(x *Value) *Value {
	if x.DType() == tensor.Float64 {
		const scale = 1 << 53
		return DivScalar(Cast(Cast(MulScalar(x, scale), tensor.Int64), x.DType()), scale)
	}
	const scale = 1 << 24
	return DivScalar(Cast(Cast(MulScalar(x, scale), tensor.Int32), x.DType()), scale)
}

// buildCMSSIM computes e and f from detached probabilities and the target.
// The local statistics come from the differences d = x_{o+t} - x_o between
// each window entry and the window's centre, which float32 computes exactly
// for nearby values: μ - x = E[d] and σ² = E[d²] - E[d]². The usual
// E[x²] - μ² loses about 1e-7 of E[x²] to rounding, which for a nearly
// uniform window (the inside of every object, a confident or an untrained
// prediction) is as large as σ² itself, and σ enters e next to C4 = 0.01.
func buildCMSSIM(c *Ctx) *Value {
	p, t := c.Probs(), c.Target()
	pd := detached(p)
	w := windowOf(c.Config)
	c4 := c.Float("c4")
	norm := func(x *Value) *Value {
		dmean, variance := c.centredStats(x, w)
		return Div(AddScalar(Neg(dmean), c4), AddScalar(Sqrt(Relu(variance)), c4))
	}
	e := MulMaybe(Abs(Sub(norm(t), norm(pd))), c.Valid())
	keep := Greater(e, MulScalar(ReduceMax(e, false), c.Float("beta")))
	dt := c.ComputeType()
	weight := Where(keep, e, ConstAs(e, 0))
	var ce *Value
	if c.Mode == Multiclass {
		ce = Neg(Mul(t, c.LogProbs()))
	} else {
		ce = c.BCE(t)
	}
	l := Mul(weight, ce)
	switch c.Reduction {
	case "none":
		return c.channelsLast(l)
	case "sum":
		return ReduceSum(l, false)
	}
	return SafeDiv(ReduceSum(l, false), ReduceSum(Cast(keep, dt), false))
}
