package param

import (
	"fmt"
	"strings"
)

// when is a condition under which parameters have an effect, with what
// makes it hold (for the usage error).
type when struct {
	needs string
	holds func() bool
}

// matters declares that p has an effect only where every condition holds
// (nil ones always do).
func matters(p *Param, conds ...*when) *Param {
	var needs []string
	var holds []func() bool
	for _, c := range conds {
		if c != nil {
			needs = append(needs, c.needs)
			holds = append(holds, c.holds)
		}
	}
	if len(holds) == 0 {
		return p
	}
	return p.Matters(strings.Join(needs, ", and "), func() bool {
		for _, h := range holds {
			if !h() {
				return false
			}
		}
		return true
	})
}

// WindowKernel is the weighting of a sliding window.
type WindowKernel string

// The window weightings.
const (
	KernelGaussian WindowKernel = "gaussian"
	KernelUniform  WindowKernel = "uniform"
)

// WindowPadding says where a sliding window may sit.
type WindowPadding string

// The paddings.
const (
	// PaddingValid keeps only windows inside the image.
	PaddingValid WindowPadding = "valid"
	// PaddingReflect gives a map the size of the image, borders mirrored.
	PaddingReflect WindowPadding = "reflect"
	// PaddingZeros gives a map the size of the image, borders zero.
	PaddingZeros WindowPadding = "zeros"
)

// SmallInput says what happens to an axis shorter than the window.
type SmallInput string

// The small-input policies.
const (
	// SmallInputClip shortens the window to the axis.
	SmallInputClip SmallInput = "clip"
	// SmallInputError rejects the input.
	SmallInputError SmallInput = "error"
)

// Window holds the sliding-window options of the SSIM-based losses.
type Window struct {
	Kernel WindowKernel
	// Size is the number of taps along each spatial axis (win_size).
	Size int
	// Sigma is the standard deviation of the Gaussian, in pixels.
	Sigma      float64
	Padding    WindowPadding
	SmallInput SmallInput
}

// declare binds the window options: size taps and padding by default, at
// most maxSize taps. Every option matters only where term holds (nil:
// always).
//
// One or two taps weigh alike under either kernel (the taps of a window
// are symmetric about its middle), so kernel and sigma need three; zero
// padding and a one-tap window fit every size, so small_input needs
// another padding and two taps.
func (w *Window) declare(s *Set, size int, padding WindowPadding, maxSize int, term *when) {
	matters(Enum(s, &w.Kernel, "kernel", KernelGaussian, []WindowKernel{KernelGaussian, KernelUniform},
		"window weights: a Gaussian (Wang et al., MONAI, TensorFlow, kornia) or a box (MONAI's kernel_type=uniform)"),
		&when{"--win-size 3 or more (one or two taps weigh alike under either kernel)", func() bool { return w.Size >= 3 }}, term)
	matters(s.Int(&w.Size, "win_size", size, "taps of the window along each spatial axis (odd unless padding is valid)").AtLeast(1).AtMost(float64(maxSize)), term)
	matters(s.Float(&w.Sigma, "sigma", 1.5, "standard deviation of the Gaussian window, in pixels").Above(0),
		&when{"--kernel gaussian with --win-size 3 or more", func() bool { return w.Kernel == KernelGaussian && w.Size >= 3 }}, term)
	matters(Enum(s, &w.Padding, "padding", padding, []WindowPadding{PaddingValid, PaddingReflect, PaddingZeros},
		"valid: only windows inside the image (Wang et al., MONAI, TensorFlow, pytorch-msssim); reflect: a map the size of the image, borders mirrored (kornia's padding=same); zeros: the same with zero padding (Po-Hsun Su's pytorch_ssim, used by BASNet)"), term)
	matters(Enum(s, &w.SmallInput, "small_input", SmallInputClip, []SmallInput{SmallInputClip, SmallInputError},
		"an axis shorter than the window: clip shortens the window to the axis (valid: n taps; reflect: 2n-1 taps), as jorge-pessoa's pytorch-msssim (UNet 3+'s code) does for valid windows; error rejects it, at build time when the size is fixed and in ONNX Runtime (ConstantOfShape in a window_fits scope, 'shape.Size() must be >= 0') otherwise"),
		&when{"--padding valid or reflect with --win-size 2 or more (zero padding and one-tap windows fit every size)", func() bool {
			return w.Padding != PaddingZeros && w.Size >= 2
		}}, term)
}

// SSIMTerm holds the options of an SSIM term: the window, the stabilisers
// and the data range.
type SSIMTerm struct {
	Window
	// K1 and K2 give the stabilisers C1 = (k1·L)² and C2 = (k2·L)².
	K1, K2 float64
	// DataRange is the dynamic range L of the compared maps.
	DataRange float64
}

// declare binds the SSIM options with a window of size taps and padding by
// default; they matter only where term holds (nil: always).
func (p *SSIMTerm) declare(s *Set, size int, padding WindowPadding, term *when) {
	p.Window.declare(s, size, padding, 255, term)
	matters(s.Float(&p.K1, "k1", 0.01, "C1 = (k1·L)², the luminance term's stabiliser").AtLeast(0), term)
	matters(s.Float(&p.K2, "k2", 0.03, "C2 = (k2·L)², the contrast-structure term's stabiliser").AtLeast(0), term)
	matters(s.Float(&p.DataRange, "data_range", 1, "dynamic range L of the compared maps (1 for probabilities)").Above(0),
		&when{"--k1 or --k2 above 0 (L only scales C1 = (k1·L)² and C2 = (k2·L)²)", func() bool { return p.K1 != 0 || p.K2 != 0 }}, term)
}

// MSSSIMNormalize says what keeps a negative MS-SSIM term from a fractional
// power.
type MSSSIMNormalize string

// The conventions for negative terms.
const (
	// NormalizeRelu sets a negative term to 0.
	NormalizeRelu MSSSIMNormalize = "relu"
	// NormalizeSimple maps [-1, 1] to [0, 1] with (x+1)/2 first.
	NormalizeSimple MSSSIMNormalize = "simple"
)

// MSSSIMTerm holds the options of a multi-scale SSIM term.
type MSSSIMTerm struct {
	SSIMTerm
	// Weights are the exponents of the scales, finest first.
	Weights   []float64
	Normalize MSSSIMNormalize
}

// declare binds the MS-SSIM options: SSIM's with an 11-tap valid window,
// then the scales; they matter only where term holds (nil: always).
func (p *MSSSIMTerm) declare(s *Set, term *when) {
	p.SSIMTerm.declare(s, 11, PaddingValid, term)
	matters(s.Floats(&p.Weights, "weights", []float64{0.0448, 0.2856, 0.3001, 0.2363, 0.1333},
		"exponent of each scale, finest first; their number is the number of scales (Wang et al.'s five by default)").Above(0), term)
	matters(Enum(s, &p.Normalize, "normalize", NormalizeRelu, []MSSSIMNormalize{NormalizeRelu, NormalizeSimple},
		"what keeps a negative per-scale term from a fractional power: relu sets it to 0 (pytorch-msssim, TensorFlow, torchmetrics' default); simple maps [-1, 1] to [0, 1] with (x+1)/2 first (jorge-pessoa's pytorch-msssim normalize=True, torchmetrics' normalize=simple)"), term)
}

// SSIM is the parameter set of the ssim loss.
type SSIM struct {
	Common
	SSIMTerm
	// DSSIM outputs (1 - SSIM)/2 instead of 1 - SSIM.
	DSSIM bool
}

// Declare binds the parameters.
func (p *SSIM) Declare(s *Set) {
	p.SSIMTerm.declare(s, 11, PaddingValid, nil)
	s.Bool(&p.DSSIM, "dssim", false, "output (1 - SSIM)/2 (kornia's SSIMLoss) instead of 1 - SSIM (MONAI's SSIMLoss)")
}

// MSSSIM is the parameter set of the ms-ssim loss.
type MSSSIM struct {
	Common
	MSSSIMTerm
}

// Declare binds the parameters.
func (p *MSSSIM) Declare(s *Set) { p.MSSSIMTerm.declare(s, nil) }

// CMSSIM is the parameter set of the cmssim loss.
type CMSSIM struct {
	Common
	Window
	// C4 is the stabiliser of the normalised differences.
	C4 float64
	// Beta keeps the entries with e > β·max e.
	Beta float64
}

// Declare binds the parameters: a 3×3 window with reflected borders by
// default, at most 7 taps per axis.
func (p *CMSSIM) Declare(s *Set) {
	p.Window.declare(s, 3, PaddingReflect, 7, nil)
	s.Float(&p.C4, "c4", 0.01, "stabiliser C4 of the normalised differences").Above(0)
	s.Float(&p.Beta, "beta", 0.1, "entries with e > β·max e are kept").AtLeast(0).AtMost(1)
}

const lovaszPerImageDoc = "one problem per image, then the mean over images (Berman et al.'s per_image, kornia); false pools the batch (segmentation_models_pytorch's default)"

// LovaszChannels says how lovasz-hinge groups the channels in multilabel
// mode.
type LovaszChannels string

// The channel groupings.
const (
	// ChannelsJoint puts every channel in one binary problem.
	ChannelsJoint LovaszChannels = "joint"
	// ChannelsSeparate makes one problem per channel.
	ChannelsSeparate LovaszChannels = "separate"
)

// LovaszHinge is the parameter set of the lovasz-hinge loss.
type LovaszHinge struct {
	Common
	// PerImage makes one problem per image.
	PerImage bool
	Channels LovaszChannels
}

// Declare binds the parameters.
func (p *LovaszHinge) Declare(s *Set) {
	s.Bool(&p.PerImage, "per_image", false, lovaszPerImageDoc)
	c := s.Common()
	Enum(s, &p.Channels, "channels", ChannelsJoint, []LovaszChannels{ChannelsJoint, ChannelsSeparate},
		"multilabel: every channel in one binary problem (segmentation_models_pytorch) or one problem per channel, averaged").
		Matters("--mode multilabel with more than one channel (one channel is one problem either way)", func() bool {
			return c.Mode == Multilabel && c.Classes != 1
		})
}

// ClassSet says which classes the Lovász-Softmax loss averages over.
type ClassSet string

// The class sets.
const (
	// ClassSetPresent counts the classes present in the target of each problem.
	ClassSetPresent ClassSet = "present"
	// ClassSetAll counts every class.
	ClassSetAll ClassSet = "all"
)

// LovaszSoftmaxTerm holds the options of a Lovász-Softmax term.
type LovaszSoftmaxTerm struct {
	ClassSet ClassSet
	// PerImage makes one problem per image.
	PerImage bool
}

// Declare binds the term's options.
func (p *LovaszSoftmaxTerm) Declare(s *Set) {
	Enum(s, &p.ClassSet, "class_set", ClassSetPresent, []ClassSet{ClassSetPresent, ClassSetAll},
		"average over the classes present in the target of each problem (Berman et al., segmentation_models_pytorch) or over all classes (kornia, SegLoss)")
	s.Bool(&p.PerImage, "per_image", false, lovaszPerImageDoc)
}

// LovaszSoftmax is the parameter set of the lovasz-softmax loss.
type LovaszSoftmax struct {
	Common
	LovaszSoftmaxTerm
	ClassWeighting ClassWeighting
}

// Declare binds the parameters.
func (p *LovaszSoftmax) Declare(s *Set) {
	p.LovaszSoftmaxTerm.Declare(s)
	c := s.Common()
	Enum(s, &p.ClassWeighting, "class_weighting", ClassWeightingMean, []ClassWeighting{ClassWeightingMean, ClassWeightingScale},
		"how class_weights enter the class mean: mean gives Σw·l/Σw over the classes counted (Berman et al., segmentation_models_pytorch); "+
			"scale multiplies each class's loss and divides by the number of classes counted (kornia)").
		Matters("--class-weights and --reduction mean", func() bool { return c.ClassWeights != nil && c.Reduction == Mean })
}

// BoundaryF1Term holds the options of the boundary F1 loss.
type BoundaryF1Term struct {
	// Theta0 is the odd width of the max-pool that extracts boundaries.
	Theta0 int
	// Theta is the odd width of the max-pool that extends them.
	Theta int
	// Eps is added to the denominators of precision, recall and F1.
	Eps float64
}

// Declare binds the term's options. A max-pool of width θ0 = 1 finds no
// boundary (every boundary value is 0, so is F1 and the loss is 1), which
// leaves θ and ε without effect.
func (p *BoundaryF1Term) Declare(s *Set) {
	s.Int(&p.Theta0, "theta0", 3, "odd width of the max-pool that extracts boundaries (θ0; 3 in the authors' code, 19 in geo-deep-learning)").AtLeast(1).AtMost(255)
	found := &when{"--theta0 3 or more (a max-pool of width 1 finds no boundary: the loss is 1)", func() bool { return p.Theta0 > 1 }}
	matters(s.Int(&p.Theta, "theta", 5, "odd width of the max-pool that extends boundaries for matching (θ; 5 in the authors' code, 19 in geo-deep-learning)").AtLeast(1).AtMost(255), found)
	matters(s.Float(&p.Eps, "eps", 1e-7, "added to the denominators of precision, recall and F1 (1e-7 as in the authors' code)").Above(0), found)
}

// BoundaryF1 is the parameter set of the boundary-f1 loss.
type BoundaryF1 struct {
	Common
	BoundaryF1Term
}

// Declare binds the parameters.
func (p *BoundaryF1) Declare(s *Set) { p.BoundaryF1Term.Declare(s) }

// ClDiceTerm holds the options of soft clDice.
type ClDiceTerm struct {
	// Iterations is the number of erosions of the soft skeleton.
	Iterations int
	// Smooth is added to the numerators and denominators.
	Smooth float64
	// IncludeBackground sums over channel 0 too in multiclass mode.
	IncludeBackground bool
}

// declare binds the term's options; the skeletons' matter only where
// skeletons holds (nil: always).
func (p *ClDiceTerm) declare(s *Set, skeletons *when) {
	c := s.Common()
	matters(s.Int(&p.Iterations, "iterations", 3, "erosions of the soft skeleton (iter_ in the authors' code and MONAI, 3 by default)").AtLeast(0).AtMost(100), skeletons)
	s.Float(&p.Smooth, "smooth", 1, "added to the numerators and denominators of topology precision and sensitivity (and of the Dice term)").Above(0)
	s.Bool(&p.IncludeBackground, "include_background", false, "multiclass: sum over channel 0 too (binary and multilabel mode always use every channel)").
		Matters("--mode multiclass (binary and multilabel mode always use every channel)", func() bool { return c.Mode == Multiclass })
}

// ClDice is the parameter set of the cldice loss.
type ClDice struct {
	Common
	ClDiceTerm
}

// Declare binds the parameters.
func (p *ClDice) Declare(s *Set) { p.ClDiceTerm.declare(s, nil) }

// DiceClDice is the parameter set of the dice-cldice loss.
type DiceClDice struct {
	Common
	ClDiceTerm
	// Alpha is the weight α of the clDice term.
	Alpha float64
}

// Declare binds the parameters: with α = 0 the clDice term weighs 0, and
// its skeletons have no effect.
func (p *DiceClDice) Declare(s *Set) {
	p.ClDiceTerm.declare(s, &when{"--alpha above 0 (α = 0 weighs the clDice term 0)", func() bool { return p.Alpha != 0 }})
	s.Float(&p.Alpha, "alpha", 0.5, "weight α of the clDice term (0.5 in the authors' code and MONAI)").AtLeast(0).AtMost(1)
}

// HybridTerms holds the options the hybrid losses share: the IoU term's
// smoothing and the weights of the three terms.
type HybridTerms struct {
	// Smooth is added to the IoU's intersection and union.
	Smooth float64
	// TermWeights weigh the three terms; nil: 1, 1, 1.
	TermWeights []float64
}

// Declare binds the options; smooth matters only while the IoU term (the
// third) is weighted above 0.
func (p *HybridTerms) Declare(s *Set) {
	matters(s.Float(&p.Smooth, "smooth", 1, "added to the IoU's intersection and union; BASNet's and UNet 3+'s code add nothing (0/0 for an empty target and an empty prediction)").Above(0),
		p.term(2, "IoU"))
	s.Floats(&p.TermWeights, "term_weights", nil, "weights of the three terms, in the order of the formula (unset: 1,1,1, the papers' plain sum)").AtLeast(0)
}

// term is the condition that term i (0-based, called name) is weighted
// above 0: a term weighted 0 is left out of the loss, options and all.
// Term weights that are not three are refused later, not here.
func (p *HybridTerms) term(i int, name string) *when {
	return &when{fmt.Sprintf("the %s term weighted above 0 (term %d of --term-weights)", name, i+1), func() bool {
		w := p.TermWeights
		return len(w) != 3 || w[i] != 0
	}}
}

// TermWeightsOrOnes returns the three term weights, 1, 1, 1 when unset.
func (p *HybridTerms) TermWeightsOrOnes() []float64 {
	if p.TermWeights != nil {
		return p.TermWeights
	}
	return []float64{1, 1, 1}
}

// UNet3PHybrid is the parameter set of the unet3p-hybrid loss.
type UNet3PHybrid struct {
	Common
	FocalTerm
	HybridTerms
	MSSSIMTerm
}

// Declare binds the parameters: the focal term's (with their own
// documentation; mean_over is not offered, the loss has no ignore index),
// the hybrid options, then MS-SSIM's. A term's options matter only while
// it is weighted above 0.
func (p *UNet3PHybrid) Declare(s *Set) {
	focal := p.term(0, "focal")
	matters(s.Float(&p.Gamma, "gamma", 2, "focal term: focusing parameter γ").AtLeast(0), focal)
	matters(s.Floats(&p.Alpha, "alpha", nil, "focal term: balance α, one value or one per class (unset: none; SemSegLoss uses 0.25)").AtLeast(0), focal)
	matters(s.Bool(&p.Normalized, "normalized", false, "focal term: divide by the sum of the modulation factors"),
		&when{"--gamma above 0 (with γ = 0 every modulation factor is 1)", func() bool { return p.Gamma != 0 }}, focal)
	p.MeanOver = MeanOverValid
	p.HybridTerms.Declare(s)
	p.MSSSIMTerm.declare(s, p.term(1, "MS-SSIM"))
}

// BASNetHybrid is the parameter set of the basnet-hybrid loss.
type BASNetHybrid struct {
	Common
	HybridTerms
	SSIMTerm
}

// Declare binds the parameters: an 11-tap window with zero padding by
// default, as BASNet's pytorch_ssim.
func (p *BASNetHybrid) Declare(s *Set) {
	p.HybridTerms.Declare(s)
	p.SSIMTerm.declare(s, 11, PaddingZeros, p.term(1, "SSIM"))
}

// Duo is the parameter set of the duo loss.
type Duo struct {
	Common
	LovaszSoftmaxTerm
	BoundaryF1Term
}

// Declare binds the parameters.
func (p *Duo) Declare(s *Set) {
	p.LovaszSoftmaxTerm.Declare(s)
	p.BoundaryF1Term.Declare(s)
}
