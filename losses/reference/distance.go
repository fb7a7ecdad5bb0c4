package reference

import (
	"math"
	"sort"
)

// EDT returns the exact Euclidean distance transform of one mask over a grid
// of the given spatial sizes (row-major), with pixel spacing per axis: for
// every true pixel the distance between its centre and the centre of the
// nearest false pixel, 0 on false pixels, and +Inf everywhere when the mask
// has no false pixel. It applies the one-dimensional lower-envelope algorithm
// of Felzenszwalb and Huttenlocher (Distance Transforms of Sampled Functions,
// Theory of Computing 2012) to the squared distances along each axis in turn.
func EDT(mask []bool, spatial []int, spacing []float64) []float64 {
	sq := make([]float64, len(mask))
	for i, m := range mask {
		if m {
			sq[i] = math.Inf(1)
		}
	}
	stride := 1
	for a := len(spatial) - 1; a >= 0; a-- {
		n := spatial[a]
		line := make([]float64, n)
		for start := 0; start < len(sq); start++ {
			// start runs over the first element of every line along axis a.
			if (start/stride)%n != 0 {
				continue
			}
			for k := 0; k < n; k++ {
				line[k] = sq[start+k*stride]
			}
			out := lowerEnvelope(line, spacing[a])
			for k := 0; k < n; k++ {
				sq[start+k*stride] = out[k]
			}
		}
		stride *= n
	}
	for i := range sq {
		sq[i] = math.Sqrt(sq[i])
	}
	return sq
}

// lowerEnvelope returns d[p] = min over q of f[q] + ((p-q)·s)², skipping
// samples where f is +Inf; all +Inf when every sample is.
func lowerEnvelope(f []float64, s float64) []float64 {
	n := len(f)
	d := make([]float64, n)
	v := make([]int, 0, n)     // parabolas of the envelope, left to right
	z := make([]float64, 0, n) // z[k]: where parabola v[k] starts to win
	x := func(q int) float64 { return float64(q) * s }
	cross := func(q, p int) float64 {
		return ((f[q] + x(q)*x(q)) - (f[p] + x(p)*x(p))) / (2 * (x(q) - x(p)))
	}
	for q := 0; q < n; q++ {
		if math.IsInf(f[q], 1) {
			continue
		}
		for len(v) > 0 {
			c := cross(q, v[len(v)-1])
			if c <= z[len(z)-1] {
				v = v[:len(v)-1]
				z = z[:len(z)-1]
				continue
			}
			v = append(v, q)
			z = append(z, c)
			break
		}
		if len(v) == 0 {
			v = append(v, q)
			z = append(z, math.Inf(-1))
		}
	}
	if len(v) == 0 {
		for p := range d {
			d[p] = math.Inf(1)
		}
		return d
	}
	k := 0
	for p := 0; p < n; p++ {
		for k+1 < len(v) && z[k+1] < x(p) {
			k++
		}
		dx := x(p) - x(v[k])
		d[p] = dx*dx + f[v[k]]
	}
	return d
}

// distanceConvention applies onnxloss's conventions to an EDT result: +Inf
// (no false pixel in the slice) becomes empty, and distances are truncated
// at maxDistance when it is positive.
func distanceConvention(d []float64, empty, maxDistance float64) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		switch {
		case math.IsInf(v, 1):
			v = empty
		case maxDistance > 0:
			v = math.Min(v, maxDistance)
		}
		out[i] = v
	}
	return out
}

// spacingFor expands a spacing parameter (nil, one value, or one per axis).
func spacingFor(p []float64, dims int) []float64 {
	out := make([]float64, dims)
	for i := range out {
		switch len(p) {
		case 0:
			out[i] = 1
		case 1:
			out[i] = p[0]
		default:
			out[i] = p[i]
		}
	}
	return out
}

// innerContour marks the pixels of a mask that have a face neighbour (inside
// the grid) outside the mask: skimage's find_boundaries(mode='inner') with
// connectivity 1.
func innerContour(mask []bool, spatial []int) []bool {
	out := make([]bool, len(mask))
	strides := make([]int, len(spatial))
	st := 1
	for a := len(spatial) - 1; a >= 0; a-- {
		strides[a] = st
		st *= spatial[a]
	}
	for i, m := range mask {
		if !m {
			continue
		}
		for a := range spatial {
			c := (i / strides[a]) % spatial[a]
			if (c > 0 && !mask[i-strides[a]]) || (c+1 < spatial[a] && !mask[i+strides[a]]) {
				out[i] = true
				break
			}
		}
	}
	return out
}

// twoSmallest returns the smallest and second smallest of vs (+Inf where
// there are not enough values).
func twoSmallest(vs []float64) (float64, float64) {
	s := append([]float64{}, vs...)
	sort.Float64s(s)
	a, b := math.Inf(1), math.Inf(1)
	if len(s) > 0 {
		a = s[0]
	}
	if len(s) > 1 {
		b = s[1]
	}
	return a, b
}
