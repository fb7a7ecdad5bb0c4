package reference

import (
	"fmt"
	"math"

	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// keptChannels lists the channels a distance loss uses: all of them, or all
// but channel 0 when include_background is false outside binary mode.
func keptChannels(p *Problem, c *Config, b *param.DistanceBackground) []int {
	var out []int
	for ch := 0; ch < p.C; ch++ {
		if ch == 0 && c.Mode != param.Binary && !b.IncludeBackground {
			continue
		}
		out = append(out, ch)
	}
	return out
}

// targetMask is target > 0.5 for one [n,c] slice.
func targetMask(v []float64) []bool {
	m := make([]bool, len(v))
	for i, x := range v {
		m[i] = x > 0.5
	}
	return m
}

func negate(m []bool) []bool {
	out := make([]bool, len(m))
	for i, v := range m {
		out[i] = !v
	}
	return out
}

func hasValue(m []bool, want bool) bool {
	for _, v := range m {
		if v == want {
			return true
		}
	}
	return false
}

// sliceDistance is the distance transform of one slice with onnxloss's
// conventions: 0 for a slice without false pixels, truncation at
// max_distance.
func sliceDistance(m []bool, p *Problem, t *param.DistanceTransform) []float64 {
	spacing := spacingFor(t.Spacing, len(p.Spatial))
	return distanceConvention(EDT(m, p.Spatial, spacing), 0, t.MaxDistance)
}

// keptMap lays out per-element values of the kept channels as [N,C',*] in
// the configuration's layout.
func keptMap(p *Problem, c *Config, v [][][]float64, kept []int) *tensor.Tensor {
	q := &Problem{N: p.N, C: len(kept), S: p.S, Spatial: p.Spatial}
	sel := make([][][]float64, p.N)
	for n := range sel {
		for _, ch := range kept {
			sel[n] = append(sel[n], v[n][ch])
		}
	}
	return q.ElementwiseMap(sel, c)
}

// reduceKept applies the reduction of the distance family to per-element
// losses of the kept channels: the mean over them (0 when there are none),
// the sum, or the map.
func reduceKept(p *Problem, c *Config, l [][][]float64, kept []int) *tensor.Tensor {
	sum := 0.0
	for n := 0; n < p.N; n++ {
		for _, ch := range kept {
			for _, v := range l[n][ch] {
				sum += v
			}
		}
	}
	return reduce(c, func() *tensor.Tensor { return keptMap(p, c, l, kept) }, sum, float64(p.N*len(kept)*p.S))
}

// Boundary is Kervadec et al.'s boundary loss: mean over images, kept
// classes and pixels of p·φ, φ the signed distance map of the class's target
// region (or the distance_map input).
func Boundary(in Inputs, c *Config, bp *param.Boundary) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	kept := keptChannels(p, c, &bp.DistanceBackground)
	var given [][][]float64
	if bp.Distance == param.DistanceFromInput {
		dm, ok := in["distance_map"]
		if !ok {
			return nil, fmt.Errorf("missing distance_map")
		}
		if dm.Len() != p.N*p.C*p.S {
			return nil, fmt.Errorf("distance_map has %d entries, want %d", dm.Len(), p.N*p.C*p.S)
		}
		given = channelMajor(dm.Float64s(), p.N, p.C, p.S, c.Layout)
	}
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for _, ch := range kept {
			var phi []float64
			if given != nil {
				phi = given[n][ch]
			} else {
				phi = signedMap(targetMask(p.T[n][ch]), p, bp)
			}
			for s := 0; s < p.S; s++ {
				l[n][ch][s] = probs[n][ch][s] * phi[s]
			}
		}
	}
	return reduceKept(p, c, l, kept), nil
}

// signedMap is the boundary loss's φ of one mask under the sdf convention.
func signedMap(m []bool, p *Problem, bp *param.Boundary) []float64 {
	phi := make([]float64, len(m))
	if !hasValue(m, true) || !hasValue(m, false) {
		return phi // no boundary in this image: no supervision
	}
	in := sliceDistance(m, p, &bp.DistanceTransform)          // inside: distance to the outside
	out := sliceDistance(negate(m), p, &bp.DistanceTransform) // outside: distance to the inside
	var contour []bool
	if bp.SDF == param.SDFSegLoss {
		contour = innerContour(m, p.Spatial)
	}
	for s := range m {
		switch {
		case !m[s]:
			phi[s] = out[s]
		case bp.SDF == param.SDFKervadec:
			phi[s] = -(in[s] - 1)
		case contour != nil && contour[s]:
			phi[s] = 0
		default:
			phi[s] = -in[s]
		}
	}
	return phi
}

// field is the Hausdorff loss's distance field of one mask: the distance of
// every pixel to the other set, 0 when the mask is all true or all false.
func field(m []bool, p *Problem, t *param.DistanceTransform) []float64 {
	f := make([]float64, len(m))
	if !hasValue(m, true) || !hasValue(m, false) {
		return f
	}
	a, b := sliceDistance(m, p, t), sliceDistance(negate(m), p, t)
	for s := range f {
		f[s] = a[s] + b[s]
	}
	return f
}

// HausdorffDT is Karimi & Salcudean's distance-transform Hausdorff loss in
// MONAI's form: per image (or per class over the batch) and kept class, the
// mean of (p - y)²·(f_p^α + f_y^α), then the mean over those.
func HausdorffDT(in Inputs, c *Config, h *param.HausdorffDT) (*tensor.Tensor, error) {
	return hausdorffDT(in, c, &h.HausdorffOptions)
}

// hausdorffDT is HausdorffDT with the options of either form.
func hausdorffDT(in Inputs, c *Config, h *param.HausdorffOptions) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	kept := keptChannels(p, c, &h.DistanceBackground)
	alpha := h.Alpha
	sums := make([][]float64, p.N) // [n][k]: Σ_x over the image
	for n := 0; n < p.N; n++ {
		sums[n] = make([]float64, len(kept))
		for k, ch := range kept {
			pm := make([]bool, p.S)
			for s := range pm {
				pm[s] = probs[n][ch][s] > 0.5
			}
			fp, ft := field(pm, p, &h.DistanceTransform), field(targetMask(p.T[n][ch]), p, &h.DistanceTransform)
			for s := 0; s < p.S; s++ {
				e := probs[n][ch][s] - p.T[n][ch][s]
				sums[n][k] += e * e * (math.Pow(fp[s], alpha) + math.Pow(ft[s], alpha))
			}
		}
	}
	var per []float64
	var shape []int
	if h.Batch {
		shape = []int{len(kept)}
		for k := range kept {
			t := 0.0
			for n := 0; n < p.N; n++ {
				t += sums[n][k]
			}
			per = append(per, t/float64(p.N*p.S))
		}
	} else {
		shape = []int{p.N, len(kept)}
		for n := 0; n < p.N; n++ {
			for k := range kept {
				per = append(per, sums[n][k]/float64(p.S))
			}
		}
	}
	t := 0.0
	for _, v := range per {
		t += v
	}
	return reduce(c, func() *tensor.Tensor { return tensor.FromFloat64(shape, per) }, t, float64(len(per))), nil
}

// LogHausdorffDT is log(1 + HausdorffDT), entry by entry.
func LogHausdorffDT(in Inputs, c *Config, h *param.LogHausdorffDT) (*tensor.Tensor, error) {
	t, err := hausdorffDT(in, c, &h.HausdorffOptions)
	if err != nil {
		return nil, err
	}
	v := t.Float64s()
	for i := range v {
		v[i] = math.Log1p(v[i])
	}
	return tensor.FromFloat64(t.Shape, v), nil
}

// ErosionFlat is the spread (max - min) of an erosion below which
// HausdorffER leaves a slice unnormalised: kornia tests max != min, which
// stretches rounding noise at the 0.5 threshold to [0, 1].
const ErosionFlat = 1e-6

// HausdorffER is the erosion-based Hausdorff loss as kornia computes it:
// bound = (p - y)², then k times: convolve with the normalised face-neighbour
// cross (zero padding), subtract 0.5 and clamp at 0, min-max normalise each
// [n,c] slice when max - min >= ErosionFlat, and add the result times (j+1)^α.
func HausdorffER(in Inputs, c *Config, h *param.HausdorffER) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	alpha := h.Alpha
	k := h.Erosions
	strides := make([]int, len(p.Spatial))
	st := 1
	for a := len(p.Spatial) - 1; a >= 0; a-- {
		strides[a] = st
		st *= p.Spatial[a]
	}
	weight := 1 / float64(2*len(p.Spatial)+1)
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			bound := make([]float64, p.S)
			for s := range bound {
				e := probs[n][ch][s] - p.T[n][ch][s]
				bound[s] = e * e
			}
			for j := 0; j < k; j++ {
				ero := make([]float64, p.S)
				for s := range ero {
					sum := bound[s]
					for a := range p.Spatial {
						cAt := (s / strides[a]) % p.Spatial[a]
						if cAt > 0 {
							sum += bound[s-strides[a]]
						}
						if cAt+1 < p.Spatial[a] {
							sum += bound[s+strides[a]]
						}
					}
					ero[s] = math.Max(sum*weight-0.5, 0)
				}
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, v := range ero {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
				if hi-lo >= ErosionFlat {
					for s := range ero {
						ero[s] = (ero[s] - lo) / (hi - lo)
					}
				}
				f := math.Pow(float64(j+1), alpha)
				for s := range ero {
					l[n][ch][s] += ero[s] * f
				}
				bound = ero
			}
		}
	}
	all := make([]int, p.C)
	for i := range all {
		all[i] = i
	}
	return reduceKept(p, c, l, all), nil
}

// penalty is the distance penalty Φ of one region: on the region's pixels
// (M - d)/max(M - d) with d the distance to the outside of the region and M
// its maximum, 0 elsewhere and where the maximum is 0.
func penalty(m []bool, p *Problem, t *param.DistanceTransform) []float64 {
	phi := make([]float64, len(m))
	if !hasValue(m, true) {
		return phi
	}
	d := sliceDistance(m, p, t)
	top := 0.0
	for _, v := range d {
		top = math.Max(top, v)
	}
	den := 0.0
	for s, in := range m {
		if in {
			den = math.Max(den, top-d[s])
		}
	}
	for s, in := range m {
		if in {
			phi[s] = SafeDiv(top-d[s], den)
		}
	}
	return phi
}

// DistancePenalizedCE is cross-entropy weighted by 1 + Φ, Φ the normalised
// inverted distance map of the region each pixel belongs to in the target.
func DistancePenalizedCE(in Inputs, c *Config, dp *param.DistancePenalizedCE) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	t := &dp.DistanceTransform
	if c.Mode == param.Multiclass {
		lp := p.LogProbs(c)
		w := make([][]float64, p.N)
		for n := 0; n < p.N; n++ {
			w[n] = make([]float64, p.S)
			for s := range w[n] {
				w[n][s] = 1
			}
			for ch := 0; ch < p.C; ch++ {
				for s, v := range penalty(targetMask(p.T[n][ch]), p, t) {
					w[n][s] += v
				}
			}
		}
		return reducePixels(p, c, func(n, s int) float64 {
			return -lp[n][p.Labels[n][s]][s] * w[n][s]
		}), nil
	}
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			m := targetMask(p.T[n][ch])
			inside, outside := penalty(m, p, t), penalty(negate(m), p, t)
			for s := 0; s < p.S; s++ {
				l[n][ch][s] = bceEntry(c, p.X[n][ch][s], p.T[n][ch][s]) * (1 + inside[s] + outside[s])
			}
		}
	}
	return reduceAll(p, c, l), nil
}

// bceEntry is the binary cross-entropy of one entry.
func bceEntry(c *Config, x, t float64) float64 {
	lp, l1p := logSigmoidPair(c, x)
	return -(t*lp + (1-t)*l1p)
}

func reduceAll(p *Problem, c *Config, l [][][]float64) *tensor.Tensor {
	all := make([]int, p.C)
	for i := range all {
		all[i] = i
	}
	return reduceKept(p, c, l, all)
}

// reducePixels reduces a per-pixel loss [N,*spatial].
func reducePixels(p *Problem, c *Config, f func(n, s int) float64) *tensor.Tensor {
	v := make([][]float64, p.N)
	sum := 0.0
	for n := range v {
		v[n] = make([]float64, p.S)
		for s := range v[n] {
			v[n][s] = f(n, s)
			sum += v[n][s]
		}
	}
	return reduce(c, func() *tensor.Tensor { return p.PixelMap(v) }, sum, float64(p.N*p.S))
}

// ShapeAware is cross-entropy weighted by 1 + E, E the distance from each
// pixel of the predicted contour to the target's contour (0 off the predicted
// contour), per kept channel.
func ShapeAware(in Inputs, c *Config, sp *param.ShapeAware) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	probs := p.Probs(c)
	kept := keptChannels(p, c, &sp.DistanceBackground)
	e := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for _, ch := range kept {
			pm := make([]bool, p.S)
			for s := range pm {
				pm[s] = probs[n][ch][s] > 0.5
			}
			pc := innerContour(pm, p.Spatial)
			tc := innerContour(targetMask(p.T[n][ch]), p.Spatial)
			toContour := sliceDistance(negate(tc), p, &sp.DistanceTransform)
			for s := range pc {
				if pc[s] {
					e[n][ch][s] = toContour[s]
				}
			}
		}
	}
	if c.Mode == param.Multiclass {
		lp := p.LogProbs(c)
		return reducePixels(p, c, func(n, s int) float64 {
			w := 1.0
			for ch := 0; ch < p.C; ch++ {
				w += e[n][ch][s]
			}
			return -lp[n][p.Labels[n][s]][s] * w
		}), nil
	}
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for ch := 0; ch < p.C; ch++ {
			for s := 0; s < p.S; s++ {
				l[n][ch][s] = bceEntry(c, p.X[n][ch][s], p.T[n][ch][s]) * (1 + e[n][ch][s])
			}
		}
	}
	return reduceAll(p, c, l), nil
}

// UNetWeightMap is cross-entropy weighted by the U-Net weight map
// w = w_c + w0·exp(-(d1 + d2)²/(2σ²)) on background pixels of the instance
// map, d1 and d2 the distances to the nearest and second nearest instance
// (ids 1..max_instances), computed exactly.
func UNetWeightMap(in Inputs, c *Config, up *param.UNetWeightMap) (*tensor.Tensor, error) {
	p, err := Canon(in, c)
	if err != nil {
		return nil, err
	}
	it, ok := in["instances"]
	if !ok {
		return nil, fmt.Errorf("missing instances")
	}
	ids := it.Int64s()
	if len(ids) != p.N*p.S {
		return nil, fmt.Errorf("instances has %d entries, want %d", len(ids), p.N*p.S)
	}
	K := up.MaxInstances
	w0, sigma := up.W0, up.Sigma
	spacing := spacingFor(up.Spacing, len(p.Spatial))
	// Class of every pixel: the label, or target > 0.5 in binary mode.
	class := make([][]int, p.N)
	classes := 2
	if c.Mode == param.Multiclass {
		classes = p.C
	}
	for n := range class {
		class[n] = make([]int, p.S)
		for s := range class[n] {
			if c.Mode == param.Multiclass {
				class[n][s] = int(p.Labels[n][s])
			} else if p.T[n][0][s] > 0.5 {
				class[n][s] = 1
			}
		}
	}
	wc := classWeights(c, up.ClassBalance, class, classes)
	w := make([][]float64, p.N)
	for n := 0; n < p.N; n++ {
		w[n] = make([]float64, p.S)
		var dist [][]float64
		for k := 1; k <= K; k++ {
			notK := make([]bool, p.S)
			for s := range notK {
				notK[s] = ids[n*p.S+s] != int64(k)
			}
			dist = append(dist, EDT(notK, p.Spatial, spacing)) // +Inf when instance k is absent
		}
		col := make([]float64, K)
		for s := 0; s < p.S; s++ {
			w[n][s] = wc[n][s]
			if ids[n*p.S+s] != 0 {
				continue
			}
			for k := range col {
				col[k] = dist[k][s]
			}
			d1, d2 := twoSmallest(col)
			w[n][s] += w0 * math.Exp(-(d1+d2)*(d1+d2)/(2*sigma*sigma))
		}
	}
	if c.Mode == param.Multiclass {
		lp := p.LogProbs(c)
		return reducePixels(p, c, func(n, s int) float64 { return -lp[n][p.Labels[n][s]][s] * w[n][s] }), nil
	}
	l := zeros3(p.N, p.C, p.S)
	for n := 0; n < p.N; n++ {
		for s := 0; s < p.S; s++ {
			l[n][0][s] = bceEntry(c, p.X[n][0][s], p.T[n][0][s]) * w[n][s]
		}
	}
	return reduceAll(p, c, l), nil
}

// classWeights returns w_c per pixel: the class weights, 1, or weights that
// balance the classes of each image (or of the batch): S/(K·S_c) with S the
// pixels, K the classes present and S_c the pixels of class c.
func classWeights(c *Config, bal param.ClassBalance, class [][]int, classes int) [][]float64 {
	out := make([][]float64, len(class))
	counts := func(ns []int) []float64 {
		cnt := make([]float64, classes)
		for _, n := range ns {
			for _, k := range class[n] {
				if k >= 0 && k < classes {
					cnt[k]++
				}
			}
		}
		return cnt
	}
	balanced := func(cnt []float64) []float64 {
		total, present := 0.0, 0.0
		for _, v := range cnt {
			total += v
			if v > 0 {
				present++
			}
		}
		w := make([]float64, classes)
		for k, v := range cnt {
			w[k] = SafeDiv(total, present*v)
		}
		return w
	}
	var batch []float64
	if bal == param.ClassBalanceBatch {
		all := make([]int, len(class))
		for i := range all {
			all[i] = i
		}
		batch = balanced(counts(all))
	}
	for n := range class {
		out[n] = make([]float64, len(class[n]))
		per := batch
		if bal == param.ClassBalanceImage {
			per = balanced(counts([]int{n}))
		}
		for s, k := range class[n] {
			switch {
			case c.ClassWeights != nil:
				out[n][s] = c.ClassWeights[k]
			case per != nil:
				out[n][s] = per[k]
			default:
				out[n][s] = 1
			}
		}
	}
	return out
}
