package reference

import (
	"fmt"
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
)

// Sliding windows of the structure family (SSIM, MS-SSIM, CMSSIM), written
// as direct loops over every output position and every window offset.

// axisWindow is the window along one spatial axis of length n: k taps with
// weights w, and out output positions.
type axisWindow struct {
	n, k, out int
	w         []float64
	padding   param.WindowPadding
}

// taps returns k weights summing to 1: exp(-d²/2σ²) at the distance d of
// each tap from the middle of the window (a half-integer when k is even),
// or 1/k.
func taps(kernel param.WindowKernel, k int, sigma float64) []float64 {
	w := make([]float64, k)
	sum := 0.0
	for i := range w {
		d := float64(i) - float64(k-1)/2
		w[i] = 1
		if kernel == param.KernelGaussian {
			w[i] = math.Exp(-d * d / (2 * sigma * sigma))
		}
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

// along resolves the window for an axis of length n. With small_input=clip
// a window longer than valid or reflect padding allows is shortened: to n
// taps for valid windows, to the longest odd length whose reflection fits
// (2n-1) for reflect padding.
func along(wo *param.Window, n int) (axisWindow, error) {
	k := wo.Size
	switch wo.Padding {
	case param.PaddingValid:
		if n < k {
			if wo.SmallInput != param.SmallInputClip {
				return axisWindow{}, fmt.Errorf("axis of %d is shorter than the window of %d", n, k)
			}
			k = n
		}
	case param.PaddingReflect:
		if (k-1)/2 > n-1 {
			if wo.SmallInput != param.SmallInputClip {
				return axisWindow{}, fmt.Errorf("axis of %d is too short to reflect a window of %d", n, k)
			}
			k = 2*n - 1
		}
	}
	a := axisWindow{n: n, k: k, out: n, w: taps(wo.Kernel, k, wo.Sigma), padding: wo.Padding}
	if wo.Padding == param.PaddingValid {
		a.out = n - k + 1
	}
	return a, nil
}

// source returns the input index that tap t of output o reads, or -1 for a
// zero-padded position.
func (a axisWindow) source(o, t int) int {
	if a.padding == param.PaddingValid {
		return o + t
	}
	j := o + t - (a.k-1)/2
	if j >= 0 && j < a.n {
		return j
	}
	if a.padding == param.PaddingZeros {
		return -1
	}
	if j < 0 {
		return -j
	}
	return 2*(a.n-1) - j
}

// windowSums returns, for each map (flattened over spatial, row-major), the
// window-weighted sums at every output position, and the output shape.
func windowSums(maps [][]float64, spatial []int, wo *param.Window) ([][]float64, []int, error) {
	axes := make([]axisWindow, len(spatial))
	outShape := make([]int, len(spatial))
	for i, n := range spatial {
		a, err := along(wo, n)
		if err != nil {
			return nil, nil, fmt.Errorf("spatial axis %d: %w", i, err)
		}
		axes[i], outShape[i] = a, a.out
	}
	nOut := 1
	for _, n := range outShape {
		nOut *= n
	}
	out := make([][]float64, len(maps))
	for m := range out {
		out[m] = make([]float64, nOut)
	}
	d := len(spatial)
	o := make([]int, d)
	t := make([]int, d)
	for pos := 0; pos < nOut; pos++ {
		rem := pos
		for i := d - 1; i >= 0; i-- {
			o[i] = rem % outShape[i]
			rem /= outShape[i]
		}
		for i := range t {
			t[i] = 0
		}
		for {
			weight, idx := 1.0, 0
			for i := 0; i < d && idx >= 0; i++ {
				src := axes[i].source(o[i], t[i])
				if src < 0 {
					idx = -1
					break
				}
				weight *= axes[i].w[t[i]]
				idx = idx*spatial[i] + src
			}
			if idx >= 0 {
				for m := range maps {
					out[m][pos] += weight * maps[m][idx]
				}
			}
			// Next window offset, last axis fastest.
			i := d - 1
			for ; i >= 0; i-- {
				t[i]++
				if t[i] < axes[i].k {
					break
				}
				t[i] = 0
			}
			if i < 0 {
				break
			}
		}
	}
	return out, outShape, nil
}

// halve downsamples a map by 2 along every spatial axis: each output is the
// mean of a 2×…×2 block, the last row (column, slice) repeated where a
// length is odd, so an axis of n becomes ⌈n/2⌉.
func halve(m []float64, spatial []int) ([]float64, []int) {
	d := len(spatial)
	outShape := make([]int, d)
	nOut := 1
	for i, n := range spatial {
		outShape[i] = (n + 1) / 2
		nOut *= outShape[i]
	}
	out := make([]float64, nOut)
	o := make([]int, d)
	corners := 1 << d
	for pos := range out {
		rem := pos
		for i := d - 1; i >= 0; i-- {
			o[i] = rem % outShape[i]
			rem /= outShape[i]
		}
		sum := 0.0
		for b := 0; b < corners; b++ {
			idx := 0
			for i := 0; i < d; i++ {
				j := min(2*o[i]+((b>>i)&1), spatial[i]-1)
				idx = idx*spatial[i] + j
			}
			sum += m[idx]
		}
		out[pos] = sum / float64(corners)
	}
	return out, outShape
}
