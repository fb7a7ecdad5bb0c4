package reference

import (
	"fmt"
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// ssimMeans returns the means over the window positions of the SSIM map and
// of its contrast-structure part, for one channel x (prediction) and y
// (target) of the given spatial shape:
//
//	SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
//	cs   = (2σxy + C2) / (σx² + σy² + C2),
//
// with window-weighted means μ, variances σ² = E[x²] - μ² and covariance
// σxy = E[xy] - μxμy, C1 = (k1·L)², C2 = (k2·L)².
func ssimMeans(x, y []float64, spatial []int, st *param.SSIMTerm) (ssim, cs float64, err error) {
	xx := make([]float64, len(x))
	yy := make([]float64, len(x))
	xy := make([]float64, len(x))
	for i := range x {
		xx[i], yy[i], xy[i] = x[i]*x[i], y[i]*y[i], x[i]*y[i]
	}
	sums, _, err := windowSums([][]float64{x, y, xx, yy, xy}, spatial, &st.Window)
	if err != nil {
		return 0, 0, err
	}
	L := st.DataRange
	c1 := math.Pow(st.K1*L, 2)
	c2 := math.Pow(st.K2*L, 2)
	n := len(sums[0])
	for i := 0; i < n; i++ {
		mx, my := sums[0][i], sums[1][i]
		vx, vy, cov := sums[2][i]-mx*mx, sums[3][i]-my*my, sums[4][i]-mx*my
		csi := (2*cov + c2) / (vx + vy + c2)
		ssim += (2*mx*my + c1) / (mx*mx + my*my + c1) * csi
		cs += csi
	}
	return ssim / float64(n), cs / float64(n), nil
}

// channelLosses reduces per-(image, channel) losses l[n][c]: mean and sum
// over all of them, or the [N,C] tensor itself.
func channelLosses(c *Config, l [][]float64) *tensor.Tensor {
	var flat []float64
	sum := 0.0
	for n := range l {
		flat = append(flat, l[n]...)
		for _, v := range l[n] {
			sum += v
		}
	}
	return reduce(c, func() *tensor.Tensor { return tensor.FromFloat64([]int{len(l), len(l[0])}, flat) }, sum, float64(len(flat)))
}

// SSIMValues returns the mean SSIM of every (image, channel) between the
// probabilities and the target.
func SSIMValues(in Inputs, c *Config, st *param.SSIMTerm) ([][]float64, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	out := make([][]float64, p.N)
	for n := range out {
		out[n] = make([]float64, p.C)
		for ch := range out[n] {
			s, _, err := ssimMeans(probs[n][ch], p.T[n][ch], p.Spatial, st)
			if err != nil {
				return nil, err
			}
			out[n][ch] = s
		}
	}
	return out, nil
}

// SSIM is 1 - SSIM per (image, channel), or (1 - SSIM)/2 with dssim.
func SSIM(in Inputs, c *Config, sp *param.SSIM) (*tensor.Tensor, error) {
	s, err := SSIMValues(in, c, &sp.SSIMTerm)
	if err != nil {
		return nil, err
	}
	for n := range s {
		for ch := range s[n] {
			s[n][ch] = 1 - s[n][ch]
			if sp.DSSIM {
				s[n][ch] /= 2
			}
		}
	}
	return channelLosses(c, s), nil
}

// msTerm applies the convention for negative terms before the fractional
// power: relu keeps positive values, simple maps [-1, 1] to [0, 1] first.
func msTerm(v, w float64, normalize param.MSSSIMNormalize) float64 {
	if normalize == param.NormalizeSimple {
		v = (v + 1) / 2
	}
	if v <= 0 {
		return 0
	}
	return math.Pow(v, w)
}

// MSSSIMValues returns the multi-scale SSIM of every (image, channel):
// the product over scales j < M-1 of cs_j^w_j, times SSIM_{M-1}^w_{M-1},
// halving the images between scales.
func MSSSIMValues(in Inputs, c *Config, m *param.MSSSIMTerm) ([][]float64, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	weights := m.Weights
	norm := m.Normalize
	probs := p.Probs(c)
	out := make([][]float64, p.N)
	for n := range out {
		out[n] = make([]float64, p.C)
		for ch := range out[n] {
			x, y, spatial := probs[n][ch], p.T[n][ch], p.Spatial
			v := 1.0
			for j, w := range weights {
				ssim, cs, err := ssimMeans(x, y, spatial, &m.SSIMTerm)
				if err != nil {
					return nil, fmt.Errorf("scale %d: %w", j, err)
				}
				if j == len(weights)-1 {
					v *= msTerm(ssim, w, norm)
					break
				}
				v *= msTerm(cs, w, norm)
				x, _ = halve(x, spatial)
				y, spatial = halve(y, spatial)
			}
			out[n][ch] = v
		}
	}
	return out, nil
}

// MSSSIM is 1 - MS-SSIM per (image, channel).
func MSSSIM(in Inputs, c *Config, m *param.MSSSIM) (*tensor.Tensor, error) {
	s, err := MSSSIMValues(in, c, &m.MSSSIMTerm)
	if err != nil {
		return nil, err
	}
	for n := range s {
		for ch := range s[n] {
			s[n][ch] = 1 - s[n][ch]
		}
	}
	return channelLosses(c, s), nil
}

// CMSSIM is the structural similarity loss of Zhao et al.: per entry,
// e = |(y - μy + C4)/(σy + C4) - (p - μp + C4)/(σp + C4)| from local
// statistics, f = [e > β·max e] over the batch's valid entries, and the loss
// Σ e·f·CE / Σ f with the per-entry cross-entropy CE (-t log p in
// multiclass mode, binary cross-entropy otherwise).
func CMSSIM(in Inputs, c *Config, cp *param.CMSSIM) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	var lp [][][]float64
	if c.Mode == param.Multiclass {
		lp = p.LogProbs(c)
	}
	c4, beta := cp.C4, cp.Beta
	// e and the selection are weights without gradient: from the detached
	// input when given (see DetachedInput).
	if d := in[DetachedInput]; d != nil {
		at := Inputs{}
		for k, v := range in {
			at[k] = v
		}
		at["input"] = d
		pd, err := Canon(at, c)
		if err != nil {
			return nil, err
		}
		probs = pd.Probs(c)
	}
	e := zeros3(p.N, p.C, p.S)
	emax := 0.0
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			x, y := probs[n][ch], p.T[n][ch]
			xx := make([]float64, p.S)
			yy := make([]float64, p.S)
			for i := range x {
				xx[i], yy[i] = x[i]*x[i], y[i]*y[i]
			}
			s, _, err := windowSums([][]float64{x, y, xx, yy}, p.Spatial, &cp.Window)
			if err != nil {
				return nil, err
			}
			for i := range x {
				if !p.Valid[n][ch][i] {
					continue
				}
				sx := math.Sqrt(resolvedVariance(s[2][i], s[0][i]))
				sy := math.Sqrt(resolvedVariance(s[3][i], s[1][i]))
				v := math.Abs((y[i]-s[1][i]+c4)/(sy+c4) - (x[i]-s[0][i]+c4)/(sx+c4))
				e[n][ch][i] = v
				emax = math.Max(emax, v)
			}
		}
	}
	l := zeros3(p.N, p.C, p.S)
	num, count := 0.0, 0.0
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			for i := 0; i < p.S; i++ {
				if !p.Valid[n][ch][i] || !(e[n][ch][i] > beta*emax) {
					continue
				}
				t := p.T[n][ch][i]
				var ce float64
				if lp != nil {
					ce = -t * lp[n][ch][i]
				} else {
					lp1, l1p := logSigmoidPair(c, p.X[n][ch][i])
					ce = -(t*lp1 + (1-t)*l1p)
				}
				l[n][ch][i] = e[n][ch][i] * ce
				num += l[n][ch][i]
				count++
			}
		}
	}
	return reduce(c, func() *tensor.Tensor { return p.ElementwiseMap(l, c) }, num, count), nil
}

// resolvedVariance returns E[x²] - μ², or 0 where that is below the
// rounding of the subtraction (a few units in the last place of E[x²]):
// a uniform window, such as every window of a label map inside an object,
// has variance 0, and the square root would turn the rounding, some 1e-17,
// into a standard deviation of 3e-9.
func resolvedVariance(ex2, mu float64) float64 {
	v := ex2 - mu*mu
	if v <= 8*0x1p-52*ex2 {
		return 0
	}
	return v
}
