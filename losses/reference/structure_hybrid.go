package reference

import (
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// iouLoss is the mean over (image, channel) of 1 - (I + s)/(U + s) with
// I = Σ p·t and U = Σ p + Σ t - I over the pixels.
func iouLoss(p *Problem, probs [][][]float64, s float64) float64 {
	total := 0.0
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			var inter, sum float64
			for i := 0; i < p.S; i++ {
				inter += probs[n][ch][i] * p.T[n][ch][i]
				sum += probs[n][ch][i] + p.T[n][ch][i]
			}
			total += 1 - (inter+s)/(sum-inter+s)
		}
	}
	return total / float64(p.N*p.C)
}

func mean2(v [][]float64) float64 {
	s, n := 0.0, 0
	for i := range v {
		for _, x := range v[i] {
			s += x
			n++
		}
	}
	return s / float64(n)
}

// UNet3PHybrid is focal + (1 - MS-SSIM) + IoU loss, each weighted; a term
// weighted 0 is left out.
func UNet3PHybrid(in Inputs, c *Config, u *param.UNet3PHybrid) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	w := u.TermWeightsOrOnes()
	v := 0.0
	if w[0] != 0 {
		focal, err := FocalTerm(in, c, &u.FocalTerm)
		if err != nil {
			return nil, err
		}
		v += w[0] * focal.Float64s()[0]
	}
	if w[1] != 0 {
		ms, err := MSSSIMValues(in, c, &u.MSSSIMTerm)
		if err != nil {
			return nil, err
		}
		v += w[1] * (1 - mean2(ms))
	}
	if w[2] != 0 {
		v += w[2] * iouLoss(p, p.Probs(c), u.Smooth)
	}
	return Scalar(v), nil
}

// BASNetHybrid is cross-entropy (binary per channel, or softmax) + (1 -
// SSIM) + IoU loss, each weighted; a term weighted 0 is left out.
func BASNetHybrid(in Inputs, c *Config, b *param.BASNetHybrid) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	w := b.TermWeightsOrOnes()
	v := 0.0
	if w[0] != 0 {
		v += w[0] * basnetCE(p, c)
	}
	if w[1] != 0 {
		ssim, err := SSIMValues(in, c, &b.SSIMTerm)
		if err != nil {
			return nil, err
		}
		v += w[1] * (1 - mean2(ssim))
	}
	if w[2] != 0 {
		v += w[2] * iouLoss(p, p.Probs(c), b.Smooth)
	}
	return Scalar(v), nil
}

// basnetCE is the mean cross-entropy over pixels (softmax) or entries
// (binary per channel).
func basnetCE(p *Problem, c *Config) float64 {
	ce, count := 0.0, 0.0
	if c.Mode == param.Multiclass {
		lp := p.LogProbs(c)
		for n := 0; n < p.N; n++ {
			for s := 0; s < p.S; s++ {
				for ch := 0; ch < p.C; ch++ {
					ce -= p.T[n][ch][s] * lp[n][ch][s]
				}
				count++
			}
		}
	} else {
		for n := 0; n < p.N; n++ {
			for ch := 0; ch < p.C; ch++ {
				for s := 0; s < p.S; s++ {
					lp, l1p := logSigmoidPair(c, p.X[n][ch][s])
					t := p.T[n][ch][s]
					ce -= t*lp + (1-t)*l1p
					count++
				}
			}
		}
	}
	return ce / count
}

// Duo is (Lovász-Softmax + boundary F1)/2.
func Duo(in Inputs, c *Config, d *param.Duo) (*tensor.Tensor, error) {
	lov, err := LovaszSoftmaxTerm(in, c, &d.LovaszSoftmaxTerm)
	if err != nil {
		return nil, err
	}
	bf1, err := BoundaryF1Values(in, c, &d.BoundaryF1Term)
	if err != nil {
		return nil, err
	}
	return Scalar((lov.Float64s()[0] + mean2(bf1)) / 2), nil
}
