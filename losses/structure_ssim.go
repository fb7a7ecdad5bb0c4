package losses

import (
	"fmt"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// Shared pieces of the SSIM-based losses: multi-scale SSIM (ms-ssim and
// unet3p-hybrid), the [N,C] output and the error budget.

const channelNone = "the per-(image, channel) loss [N,C]"

// ssimTolerance is the relative error budget of the SSIM-based losses. Their
// variances and covariance are differences of windowed moments, E[x²] - μ²,
// which float32 rounds to about 1e-7 of E[x²]; divided by σp² + σt² + C2
// with C2 = (0.03·L)² = 9e-4, that is up to about 1e-4 of the result (for
// example with nearly constant maps of values near 1).
const ssimTolerance = 2e-4

// msssim returns the multi-scale SSIM of every (image, channel) [N,C].
func (c *Ctx) msssim(m *param.MSSSIMTerm, p, t *Value) *Value {
	weights := m.Weights
	if m.SmallInput == param.SmallInputError {
		c.checkScales(p, &m.Window, len(weights))
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
		ssim, cs := c.ssimMaps(&m.SSIMTerm, p, t, last)
		term := cs
		if last {
			term = ssim
		}
		f := msTerm(c.spatialMean(term), wj, m.Normalize)
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
	return Name(ms, "ms_ssim")
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
func msTerm(v *Value, w float64, normalize param.MSSSIMNormalize) *Value {
	if normalize == param.NormalizeSimple {
		v = MulScalar(AddScalar(v, 1), 0.5)
	}
	pos := Cast(Greater(v, ConstAs(v, 0)), v.DType())
	return Mul(pos, Pow(ClipMin(v, reference.ProbFloor), w))
}

// checkScales fails the build when fixed spatial sizes cannot hold the
// window at every scale.
func (c *Ctx) checkScales(p *Value, w *param.Window, scales int) {
	for a := 0; a < c.SpatialDims; a++ {
		n := p.Dim(2 + a)
		if !n.Known() {
			continue
		}
		size := n.Size
		for j := 0; j < scales; j++ {
			if _, _, err := windowAlong(w, size); err != nil {
				c.G.Fail("%s: spatial axis %d of %d is too small for %d scales: at scale %d it is %d: %v",
					c.Loss, a, n.Size, scales, j, size, err)
				return
			}
			size = (size + 1) / 2
		}
	}
}
