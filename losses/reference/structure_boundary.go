package reference

import (
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// maxPool returns, at every position, the maximum of m over the box of
// kernel[i] positions centred on it along each spatial axis i (odd
// kernels); positions outside the image are left out of the maximum.
func maxPool(m []float64, spatial, kernel []int) []float64 {
	d := len(spatial)
	out := make([]float64, len(m))
	pos := make([]int, d)
	off := make([]int, d)
	for p := range m {
		rem := p
		for i := d - 1; i >= 0; i-- {
			pos[i] = rem % spatial[i]
			rem /= spatial[i]
		}
		for i := range off {
			off[i] = -(kernel[i] - 1) / 2
		}
		best := math.Inf(-1)
		for {
			idx := 0
			for i := 0; i < d; i++ {
				j := pos[i] + off[i]
				if j < 0 || j >= spatial[i] {
					idx = -1
					break
				}
				idx = idx*spatial[i] + j
			}
			if idx >= 0 {
				best = math.Max(best, m[idx])
			}
			i := d - 1
			for ; i >= 0; i-- {
				off[i]++
				if off[i] <= (kernel[i]-1)/2 {
					break
				}
				off[i] = -(kernel[i] - 1) / 2
			}
			if i < 0 {
				break
			}
		}
		out[p] = best
	}
	return out
}

func cube(d, k int) []int {
	out := make([]int, d)
	for i := range out {
		out[i] = k
	}
	return out
}

// boundaryF1 is 1 - BF1 for one channel: boundaries are where a max-pool of
// 1 - m over θ0 exceeds 1 - m, extended by a max-pool over θ; precision and
// recall compare each boundary with the other's extension. Entries with
// valid false neither form a boundary nor count.
func boundaryF1(pr, gt []float64, valid []bool, spatial []int, theta0, theta int, eps float64) float64 {
	d := len(spatial)
	boundary := func(m []float64) []float64 {
		u := make([]float64, len(m))
		for i := range m {
			if valid[i] {
				u[i] = 1 - m[i]
			}
		}
		mp := maxPool(u, spatial, cube(d, theta0))
		for i := range mp {
			if valid[i] {
				mp[i] -= u[i]
			} else {
				mp[i] = 0
			}
		}
		return mp
	}
	pb, gb := boundary(pr), boundary(gt)
	pe, ge := maxPool(pb, spatial, cube(d, theta)), maxPool(gb, spatial, cube(d, theta))
	var tpP, sumP, tpR, sumG float64
	for i := range pb {
		tpP += pb[i] * ge[i]
		sumP += pb[i]
		tpR += pe[i] * gb[i]
		sumG += gb[i]
	}
	prec := tpP / (sumP + eps)
	rec := tpR / (sumG + eps)
	return 1 - 2*prec*rec/(prec+rec+eps)
}

// BoundaryF1Values returns 1 - BF1 per (image, channel).
func BoundaryF1Values(in Inputs, c *Config, b *param.BoundaryF1Term) ([][]float64, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	out := make([][]float64, p.N)
	for n := range out {
		out[n] = make([]float64, p.C)
		for ch := range out[n] {
			out[n][ch] = boundaryF1(probs[n][ch], p.T[n][ch], p.Valid[n][ch], p.Spatial,
				b.Theta0, b.Theta, b.Eps)
		}
	}
	return out, nil
}

// BoundaryF1 is the boundary F1 loss of Bokhovkin et al., 1 - BF1 per
// (image, channel), reduced.
func BoundaryF1(in Inputs, c *Config, b *param.BoundaryF1) (*tensor.Tensor, error) {
	l, err := BoundaryF1Values(in, c, &b.BoundaryF1Term)
	if err != nil {
		return nil, err
	}
	return channelLosses(c, l), nil
}

// softErode is the minimum over the spatial axes of a 3-long minimum along
// that axis; softDilate the maximum over the 3×…×3 box.
func softErode(m []float64, spatial []int) []float64 {
	d := len(spatial)
	out := make([]float64, len(m))
	for i := range out {
		out[i] = math.Inf(1)
	}
	neg := make([]float64, len(m))
	for i, v := range m {
		neg[i] = -v
	}
	for a := 0; a < d; a++ {
		k := cube(d, 1)
		k[a] = 3
		mp := maxPool(neg, spatial, k)
		for i := range out {
			out[i] = math.Min(out[i], -mp[i])
		}
	}
	return out
}

func softDilate(m []float64, spatial []int) []float64 {
	return maxPool(m, spatial, cube(len(spatial), 3))
}

// softSkeleton is the soft skeleton of Shit et al.: relu(x - open(x)), then
// for each iteration x = erode(x), δ = relu(x - open(x)) and
// skel += relu(δ - skel·δ).
func softSkeleton(m []float64, spatial []int, iters int) []float64 {
	open := func(x []float64) []float64 { return softDilate(softErode(x, spatial), spatial) }
	x := append([]float64{}, m...)
	o := open(x)
	skel := make([]float64, len(x))
	for i := range x {
		skel[i] = math.Max(x[i]-o[i], 0)
	}
	for j := 0; j < iters; j++ {
		x = softErode(x, spatial)
		o = open(x)
		for i := range x {
			delta := math.Max(x[i]-o[i], 0)
			skel[i] += math.Max(delta-skel[i]*delta, 0)
		}
	}
	return skel
}

// clDiceChannels lists the channels clDice and its Dice term sum over.
func clDiceChannels(c *Config, o *param.ClDiceTerm, channels int) []int {
	first := 0
	if c.Mode == param.Multiclass && !o.IncludeBackground {
		first = 1
	}
	var out []int
	for ch := first; ch < channels; ch++ {
		out = append(out, ch)
	}
	return out
}

// clDiceParts returns the soft clDice loss and the soft Dice loss, both
// summed over the batch and the included channels.
func clDiceParts(in Inputs, c *Config, o *param.ClDiceTerm) (cl, dice float64, err error) {
	p, err := Canon(in, c)
	if err != nil {
		return 0, 0, err
	}
	probs := p.Probs(c)
	s := o.Smooth
	iters := o.Iterations
	var skPY, skP, skYP, skY, inter, sumP, sumY float64
	for n := 0; n < p.N; n++ {
		for _, ch := range clDiceChannels(c, o, p.C) {
			x, y := probs[n][ch], p.T[n][ch]
			sp, sy := softSkeleton(x, p.Spatial, iters), softSkeleton(y, p.Spatial, iters)
			for i := range x {
				skPY += sp[i] * y[i]
				skP += sp[i]
				skYP += sy[i] * x[i]
				skY += sy[i]
				inter += x[i] * y[i]
				sumP += x[i]
				sumY += y[i]
			}
		}
	}
	tprec := (skPY + s) / (skP + s)
	tsens := (skYP + s) / (skY + s)
	cl = 1 - 2*tprec*tsens/(tprec+tsens)
	dice = 1 - (2*inter+s)/(sumP+sumY+s)
	return cl, dice, nil
}

// ClDice is the soft clDice loss of Shit et al.
func ClDice(in Inputs, c *Config, o *param.ClDice) (*tensor.Tensor, error) {
	cl, _, err := clDiceParts(in, c, &o.ClDiceTerm)
	if err != nil {
		return nil, err
	}
	return Scalar(cl), nil
}

// DiceClDice is (1 - α)·soft Dice + α·clDice.
func DiceClDice(in Inputs, c *Config, o *param.DiceClDice) (*tensor.Tensor, error) {
	cl, dice, err := clDiceParts(in, c, &o.ClDiceTerm)
	if err != nil {
		return nil, err
	}
	a := o.Alpha
	return Scalar((1-a)*dice + a*cl), nil
}
