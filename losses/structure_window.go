package losses

import (
	"fmt"
	"math"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/tensor"
)

// Sliding windows of the structure family. A windowed weighted mean along a
// spatial axis of length n is a product with a banded n×n' matrix built in
// the graph from n at run time: one mechanism covers valid windows, windows
// clipped to short axes, and reflect or zero padding, and ONNX Runtime's
// MatMul runs it about twice as fast as its single-channel Conv at 256×256.
// The cost per output is O(n) instead of O(window), which is what a GEMM
// makes cheap up to a few thousand pixels per axis.

// validateWindow refuses an even window where it must have a centre.
func validateWindow(w *param.Window) error {
	if w.Size%2 == 0 && w.Padding != param.PaddingValid {
		return fmt.Errorf("--padding %s needs an odd win_size, got %d", w.Padding, w.Size)
	}
	return nil
}

// windowAlong resolves the window on an axis of known length n: its taps
// and output length, or an error when it does not fit.
func windowAlong(w *param.Window, n int64) (k, out int64, err error) {
	k = int64(w.Size)
	switch w.Padding {
	case param.PaddingValid:
		if n < k {
			if w.SmallInput != param.SmallInputClip {
				return 0, 0, fmt.Errorf("a spatial size of %d is smaller than the window of %d (--small-input error; --small-input clip shortens the window)", n, k)
			}
			k = n
		}
		return k, n - k + 1, nil
	case param.PaddingReflect:
		if (k-1)/2 > n-1 {
			if w.SmallInput != param.SmallInputClip {
				return 0, 0, fmt.Errorf("a spatial size of %d is too small to reflect a window of %d (--small-input error; --small-input clip shortens the window)", n, k)
			}
			k = 2*n - 1
		}
	}
	return k, n, nil
}

// filter computes windowed means over the spatial axes of [N,C,*spatial]
// maps that share one spatial shape.
type filter struct {
	like   *Value
	mats   []*Value // per spatial axis: [n, n'] for the last axis, [n', n] before it
	outDim []int64  // known output lengths, -1 where unknown
}

// newFilter builds the banded matrices for the spatial shape of like, in
// like's element type.
func (c *Ctx) newFilter(like *Value, w *param.Window) *filter {
	d := like.Rank() - 2
	f := &filter{like: like}
	for a := 0; a < d; a++ {
		f.outDim = append(f.outDim, -1)
		if n := like.Dim(2 + a); n.Known() {
			_, out, err := windowAlong(w, n.Size)
			if err != nil {
				c.G.Fail("%s: spatial axis %d: %v", c.Loss, a, err)
				return f
			}
			f.outDim[a] = out
		}
		f.mats = append(f.mats, c.bandMatrix(like, 2+a, w, a == d-1))
	}
	return f
}

// bandMatrix returns the matrix of the windowed mean along axis of like:
// entry (i, o) is the weight input i gets in output o, as rows×columns
// [n, n'] when right is set (x·M along the last axis) and [n', n]
// otherwise (M·x along an earlier one).
func (c *Ctx) bandMatrix(like *Value, axis int, w *param.Window, right bool) *Value {
	g, dt := c.G, like.DType()
	defer g.Scope(fmt.Sprintf("window_axis%d", axis-2))()
	n := ScalarOf(DimOf(like, axis))
	win := Int(g, int64(w.Size))
	clip := w.SmallInput == param.SmallInputClip
	var check *Value
	k := win
	switch {
	case w.Padding == param.PaddingValid && clip:
		k = Min(n, win)
	case w.Padding == param.PaddingReflect && clip:
		k = Min(Sub(Add(n, n), Int(g, 1)), win)
	case w.Padding == param.PaddingValid:
		check = Sub(n, win) // n >= win
	case w.Padding == param.PaddingReflect:
		check = Sub(n, Int(g, int64((w.Size+1)/2))) // n - 1 >= (win-1)/2
	}
	out := n
	if w.Padding == param.PaddingValid {
		out = Add(Sub(n, k), Int(g, 1))
	}
	kf := Cast(k, dt)
	lastTap := AddScalar(kf, -1)
	half := MulScalar(lastTap, 0.5)
	in, outPos := positions(n, out, dt, right)
	var norm *Value
	if w.Kernel == param.KernelGaussian {
		norm = ReduceSum(gauss(w, Cast(Range(Int(g, 0), k, Int(g, 1)), dt), half), false)
	} else {
		norm = kf
	}
	// tap is the weight of tap t (0..k-1; outside that, 0).
	tap := func(t *Value) *Value {
		inside := Cast(And(GreaterOrEqual(t, ConstAs(t, 0)), LessOrEqual(t, lastTap)), dt)
		if w.Kernel == param.KernelGaussian {
			return Div(Mul(inside, gauss(w, t, half)), norm)
		}
		return Div(inside, norm)
	}
	var m *Value
	switch w.Padding {
	case param.PaddingValid:
		m = tap(Sub(in, outPos))
	case param.PaddingZeros:
		m = tap(Add(Sub(in, outPos), half))
	case param.PaddingReflect:
		// Output o reads j = o + t - half; j < 0 reads -j, j > n-1 reads
		// 2(n-1) - j. Input i gets the taps with j = i, j = -i (i > 0) and
		// j = 2(n-1) - i (i < n-1).
		last := AddScalar(Cast(n, dt), -1)
		direct := tap(Add(Sub(in, outPos), half))
		low := Mul(tap(Sub(Sub(half, outPos), in)), Cast(Greater(in, ConstAs(in, 0)), dt))
		high := Mul(tap(Add(Sub(Sub(MulScalar(last, 2), in), outPos), half)), Cast(Less(in, last), dt))
		m = Add(Add(direct, low), high)
	}
	if check != nil {
		pop := g.Scope("window_fits")
		m = Add(m, ReduceSum(ConstantOfShape(Unsqueeze(check, 0), dt, 0), false))
		pop()
	}
	return m
}

// halvingMatrix returns the matrix of the 2-means along axis of like, in
// bandMatrix's orientation: output o averages inputs 2o and min(2o+1, n-1).
func (c *Ctx) halvingMatrix(like *Value, axis int, right bool) *Value {
	g, dt := c.G, like.DType()
	defer g.Scope(fmt.Sprintf("halve_axis%d", axis-2))()
	n := ScalarOf(DimOf(like, axis))
	out := Div(Add(n, Int(g, 1)), Int(g, 2))
	in, o := positions(n, out, dt, right)
	last := AddScalar(Cast(n, dt), -1)
	first := MulScalar(o, 2)
	second := Min(AddScalar(first, 1), last)
	hit := func(j *Value) *Value { return Cast(Equal(in, j), dt) }
	return MulScalar(Add(hit(first), hit(second)), 0.5)
}

// positions returns the input positions 0..n-1 and the output positions
// 0..out-1 as float columns and rows that broadcast to the matrix: [n,1]
// and [1,out] when right is set, [1,n] and [out,1] otherwise.
func positions(n, out *Value, dt tensor.DType, right bool) (in, o *Value) {
	g := n.Graph()
	at := func(v *Value, axis int) *Value { return Unsqueeze(Cast(Range(Int(g, 0), v, Int(g, 1)), dt), axis) }
	if right {
		return at(n, 1), at(out, 0)
	}
	return at(n, 0), at(out, 1)
}

// gauss returns exp(-(t - half)²/2σ²).
func gauss(w *param.Window, t, half *Value) *Value {
	d := Sub(t, half)
	return Exp(MulScalar(Mul(d, d), -1/(2*w.Sigma*w.Sigma)))
}

// apply returns the windowed mean of x, which has like's shape.
func (f *filter) apply(x *Value) *Value {
	d := len(f.mats)
	for a := d - 1; a >= 0; a-- {
		switch {
		case a == d-1:
			x = MatMul(x, f.mats[a])
		case a == d-2:
			x = MatMul(f.mats[a], x)
		default:
			// Fold the later axes into one so the axis is second to last.
			dims := []*Value{Ints(x.Graph(), make([]int64, 2+a+1)...)}
			for b := a + 1; b < d; b++ {
				dims = append(dims, DimOf(x, 2+b))
			}
			keep := make([]int64, 2+a+2)
			keep[len(keep)-1] = -1
			y := MatMul(f.mats[a], ReshapeDims(x, keep...))
			x = Reshape(y, Concat(0, dims...))
		}
	}
	known := true
	dims := make([]int64, 2, 2+d)
	for _, n := range f.outDim {
		known = known && n >= 0
		dims = append(dims, n)
	}
	if known {
		x = ReshapeDims(x, dims...)
	}
	return x
}

// ssimMaps returns the SSIM map and its contrast-structure part between
// probabilities p and target t [N,C,*spatial]:
//
//	SSIM = (2μpμt + C1)(2σpt + C2) / ((μp² + μt² + C1)(σp² + σt² + C2)),
//	cs   = (2σpt + C2) / (σp² + σt² + C2),
//
// with windowed means μ, σ² = E[x²] - μ², σpt = E[pt] - μpμt,
// C1 = (k1·L)² and C2 = (k2·L)². The ssim map is nil unless wanted.
//
// The second moments are taken of p and t less their image means cp and
// ct (q = p - cp, u = t - ct), which changes nothing in exact arithmetic:
// with W = E[1] the window's weight sum (1 but with zero padding),
// σp² = E[q²] - μq² + 2cp(1-W)μq + cp²W(1-W) and
// σpt = E[qu] - μqμu + ct(1-W)μq + cp(1-W)μu + cp·ct·W(1-W), μq = μp - cp·W.
// In float32, E[p²] - μp² loses about 1e-7 of p², as much as the variance
// of a nearly uniform window, and its gradient, a difference of two terms
// of size p times the variance's cotangent (up to 1/C2 = 1111), lost a few
// 1e-4 of the gradient on a single-pixel image; centred, both are of the
// size of the deviations.
func (c *Ctx) ssimMaps(s *param.SSIMTerm, p, t *Value, wantSSIM bool) (ssim, cs *Value) {
	f := c.newFilter(p, &s.Window)
	L := s.DataRange
	c1 := ConstAs(p, (s.K1*L)*(s.K1*L))
	c2 := ConstAs(p, (s.K2*L)*(s.K2*L))
	mp, mt := f.apply(p), f.apply(t)
	cp := ReduceMean(p, true, c.SpatialAxes()...)
	ct := ReduceMean(t, true, c.SpatialAxes()...)
	q, u := Sub(p, cp), Sub(t, ct)
	var oneMinusW, wTimes *Value // 1 - W and W(1 - W), nil when W = 1
	mq, mu := Sub(mp, cp), Sub(mt, ct)
	if s.Padding == param.PaddingZeros {
		plane := Concat(0, Ints(c.G, 1, 1), Slice(ShapeOf(p), []int64{2}, []int64{math.MaxInt64}, []int64{0}, nil))
		weight := f.apply(ConstantOfShape(plane, p.DType(), 1))
		oneMinusW = OneMinus(weight)
		wTimes = Mul(weight, oneMinusW)
		mq, mu = Sub(mp, Mul(cp, weight)), Sub(mt, Mul(ct, weight))
	}
	vp := Sub(f.apply(Mul(q, q)), Mul(mq, mq))
	vt := Sub(f.apply(Mul(u, u)), Mul(mu, mu))
	cov := Sub(f.apply(Mul(q, u)), Mul(mq, mu))
	if oneMinusW != nil {
		vp = Add(vp, Add(Mul(MulScalar(Mul(cp, oneMinusW), 2), mq), Mul(Mul(cp, cp), wTimes)))
		vt = Add(vt, Add(Mul(MulScalar(Mul(ct, oneMinusW), 2), mu), Mul(Mul(ct, ct), wTimes)))
		cov = Add(cov, Add(Add(Mul(Mul(ct, oneMinusW), mq), Mul(Mul(cp, oneMinusW), mu)), Mul(Mul(cp, ct), wTimes)))
	}
	Name(mp, "mean_pred")
	Name(mt, "mean_target")
	Name(vp, "var_pred")
	Name(vt, "var_target")
	Name(cov, "covariance")
	cs = Name(Div(Add(MulScalar(cov, 2), c2), Add(Add(vp, vt), c2)), "cs_map")
	if wantSSIM {
		mpp, mtt, mpt := Mul(mp, mp), Mul(mt, mt), Mul(mp, mt)
		lum := Name(Div(Add(MulScalar(mpt, 2), c1), Add(Add(mpp, mtt), c1)), "luminance_map")
		ssim = Name(Mul(lum, cs), "ssim_map")
	}
	return ssim, cs
}

// spatialMean averages x [N,C,*] over the spatial axes: [N,C].
func (c *Ctx) spatialMean(x *Value) *Value { return ReduceMean(x, false, c.SpatialAxes()...) }

// reduceChannels reduces per-(image, channel) losses [N,C]: their mean or
// sum, or [N,C] itself.
func (c *Ctx) reduceChannels(l *Value) *Value {
	switch c.Reduction {
	case None:
		return l
	case Sum:
		return ReduceSum(l, false)
	}
	return ReduceMean(l, false)
}

// centredStats returns, for x [N,C,*spatial] and a same-size window (reflect
// or zero padding, odd size), the windowed mean of the differences
// d_t = x_{o+t} - x_o between each window entry and the window's centre,
// and the windowed variance E[d²] - E[d]². Each window offset is a slice
// of x padded once along every axis; reflected borders are gathered with
// indices clamped into the axis, so an axis too short for the reflection
// still runs, its out-of-reach taps weighted 0 (the clipped window).
func (c *Ctx) centredStats(x *Value, w *param.Window) (dmean, variance *Value) {
	g, dt := c.G, x.DType()
	d := c.SpatialDims
	r := int64((w.Size - 1) / 2)
	padded := x
	if w.Padding == param.PaddingZeros {
		pads := make([]int64, 2*(d+2))
		for a := 0; a < d; a++ {
			pads[2+a], pads[d+4+a] = r, r
		}
		padded = Pad(x, pads, "constant", 0)
	}
	offsets := make([]float64, 2*r+1)
	for i := range offsets {
		offsets[i] = float64(int64(i) - r)
	}
	taps := Floats(g, dt, offsets...)
	weights := make([]*Value, d) // per axis, [win]: the weight of each offset
	for a := 0; a < d; a++ {
		pop := g.Scope(fmt.Sprintf("window_axis%d", a))
		ax := 2 + a
		if n := x.Dim(ax); n.Known() {
			if _, _, err := windowAlong(w, n.Size); err != nil {
				g.Fail("%s: spatial axis %d: %v", c.Loss, a, err)
			}
		}
		n := ScalarOf(DimOf(x, ax))
		wt := Floats(g, dt, make([]float64, 2*r+1)...)
		if w.Kernel == param.KernelGaussian {
			wt = gauss(w, taps, ConstAs(taps, 0))
		} else {
			wt = AddScalar(wt, 1)
		}
		if w.Padding == param.PaddingReflect {
			// j in [-r, n-1+r] reads |j|, or 2(n-1) - j past the end:
			// min(|j|, 2(n-1) - |j|), clamped to 0 where n is too short.
			j := Sub(Range(Int(g, 0), Add(n, Int(g, 2*r)), Int(g, 1)), Int(g, r))
			aj := Abs(j)
			last := Sub(n, Int(g, 1))
			idx := Max(Min(aj, Sub(Add(last, last), aj)), Int(g, 0))
			padded = Gather(padded, idx, ax)
			reach := Int(g, r)
			if w.SmallInput == param.SmallInputClip {
				reach = Min(Sub(n, Int(g, 1)), reach)
			} else {
				wpop := g.Scope("window_fits")
				wt = Add(wt, ReduceSum(ConstantOfShape(Unsqueeze(Sub(Sub(n, Int(g, 1)), reach), 0), dt, 0), false))
				wpop()
			}
			wt = Mul(wt, Cast(LessOrEqual(Abs(taps), Cast(reach, dt)), dt))
		}
		weights[a] = Div(wt, ReduceSum(wt, false))
		pop()
	}
	var terms []*Value // per offset, [2,N,C,*spatial]: w·d and w·d²
	t := make([]int64, d)
	for i := range t {
		t[i] = -r
	}
	for {
		zero := true
		for _, v := range t {
			zero = zero && v == 0
		}
		if !zero {
			starts, ends, axes := make([]int64, d), make([]int64, d), make([]int64, d)
			var wt *Value
			for a, v := range t {
				starts[a], ends[a], axes[a] = r+v, -(r - v), int64(2+a)
				if r == v {
					ends[a] = math.MaxInt64
				}
				wa := Slice(weights[a], []int64{r + v}, []int64{r + v + 1}, []int64{0}, nil)
				if wt == nil {
					wt = wa
				} else {
					wt = Mul(wt, wa)
				}
			}
			diff := Sub(Slice(padded, starts, ends, axes, nil), x)
			wd := Mul(wt, diff)
			terms = append(terms, Concat(0, Unsqueeze(wd, 0), Unsqueeze(Mul(wd, diff), 0)))
		}
		i := d - 1
		for ; i >= 0; i-- {
			if t[i]++; t[i] <= r {
				break
			}
			t[i] = -r
		}
		if i < 0 {
			break
		}
	}
	if len(terms) == 0 { // a 1-tap window: every difference is 0
		zero := Mul(x, ConstAs(x, 0))
		return zero, zero
	}
	// The terms are made first and added after, each E[d] and E[d²] pair
	// stacked in one tensor: ONNX Runtime runs a node's inputs last created
	// first, so one sum per moment, each adding a term as it is made, would
	// hold every offset's difference at once (43 times the input bytes for
	// a 3×3×3 window); this way it holds one term besides the sum.
	sum := terms[0]
	for _, term := range terms[1:] {
		sum = Add(sum, term)
	}
	dmean, variance = Gather(sum, Int(g, 0), 0), Gather(sum, Int(g, 1), 0)
	return dmean, Sub(variance, Mul(dmean, dmean))
}
