package builder

import (
	"math"

	"github.com/onnxloss/onnxloss/tensor"
)

// DistanceOptions configures the Euclidean distance transforms
// (EuclideanDistance, DistancePair, SignedDistance).
type DistanceOptions struct {
	// Spacing is the size of a pixel along each spatial axis, for anisotropic
	// voxels: one value per spatial axis, or one value for all of them. Nil
	// means 1 on every axis. Values must be positive.
	Spacing []float64
	// MaxDistance, when positive, truncates distances at this value: the
	// result is min(d, MaxDistance), exact wherever d <= MaxDistance, and the
	// work is bounded by MaxDistance instead of by the largest distance in the
	// batch. Zero means exact, unbounded distances.
	MaxDistance float64
	// Empty is the value of every pixel of an [n,c] slice that has no
	// background pixel at all, where no distance exists. The default, 0, is
	// what the loss libraries use for such slices (MONAI's HausdorffDTLoss
	// leaves them at 0); math.Inf(1) is the mathematical distance to an empty
	// set. SciPy's distance_transform_edt returns neither: it measures the
	// distance to a virtual background pixel just before the first pixel of
	// the first axis, at index (-1, 0, ..., 0).
	Empty float64
	// DType is the type of the result: Float32 (the default) or Float64.
	DType tensor.DType
}

// EuclideanDistance returns the exact Euclidean distance transform of a bool
// mask [N,C,*spatial], slice by slice: for every pixel where mask is true,
// the distance (in units of Spacing) between its centre and the centre of the
// nearest pixel of the same [n,c] slice where mask is false; 0 where mask is
// false. It equals scipy.ndimage.distance_transform_edt(mask[n,c],
// sampling=Spacing) on every slice that has a false pixel; see
// DistanceOptions.Empty for slices that have none.
//
// The spatial sizes may be symbolic: nothing is unrolled over them. The
// transform is separable. Along the first spatial axis the 1-D distance to
// the nearest false pixel is found by passes of min-plus with shifts of 1, 2,
// 4, ...: after the passes up to shift 2^k every distance below 2^(k+1) is
// exact, because it is a sum of distinct powers of two and every update is
// the length of a real path. That takes ceil(log2(size)) passes, in an ONNX
// Loop that stops when the shift reaches the size. Every later axis a turns
// the squared distances G of the axes before it into
//
//	D[i] = min over offsets δ of G[i±δ] + (δ·spacing_a)²
//
// with one offset per Loop iteration: iteration k lets every value move one
// pixel at cost (2k-1)·spacing_a², and since 1 + 3 + ... + (2δ-1) = δ², after
// k iterations D holds the minimum over |δ| <= k exactly (a move of δ pixels
// takes at least δ iterations and costs at least δ²·spacing_a²). The loop
// stops as soon as (δ·spacing_a)² exceeds the largest D still to be
// improved, since no farther offset can lower anything. Time is therefore O(pixels × (log size + largest distance in
// the batch / spacing)) and memory a few copies of the mask; MaxDistance
// bounds the time by MaxDistance/spacing iterations per axis.
//
// The result carries no gradient (the loops are stop nodes for autodiff):
// it is a function of a mask, so use it on label-side values (targets,
// thresholded predictions).
func EuclideanDistance(mask *Value, o DistanceOptions) *Value {
	g := mask.g
	if !checkDistance(g, "EuclideanDistance", mask, &o) {
		return g.placeholder(o.DType, mask.shape)
	}
	return distanceFromSquared(mask, edtSquared(mask, o), o)
}

// DistancePair returns EuclideanDistance(mask) and EuclideanDistance(Not(mask)):
// fg is, on true pixels, the
// distance to the nearest false pixel; bg is, on false pixels, the distance
// to the nearest true pixel. A slice that is all true or all false has no
// distance in one of the two; both results of such a slice take
// DistanceOptions.Empty where their own mask has no background (fg of an
// all-true slice, bg of an all-false slice) and 0 elsewhere.
func DistancePair(mask *Value, o DistanceOptions) (fg, bg *Value) {
	fgs, bgs := DistancePairs(o, mask)
	return fgs[0], bgs[0]
}

// DistancePairs is DistancePair of several masks of one shape. Each mask and
// each complement gets its own transform: the loops of a transform run until
// the largest distance of everything it holds, so a mask with short
// distances (the inside of small objects, a noisy prediction) stacked with
// one with long distances (the outside of small objects) would pay for the
// longest.
func DistancePairs(o DistanceOptions, masks ...*Value) (fg, bg []*Value) {
	if len(masks) == 0 {
		panic("builder.DistancePairs: no masks") // programming error, not a data error
	}
	g := masks[0].g
	for _, m := range masks {
		if !checkDistance(g, "DistancePairs", m, &o) {
			fg, bg = make([]*Value, len(masks)), make([]*Value, len(masks))
			for i := range masks {
				fg[i] = g.placeholder(o.DType, masks[0].shape)
				bg[i] = fg[i]
			}
			return fg, bg
		}
	}
	for _, m := range masks {
		fg = append(fg, distanceFromSquared(m, edtSquared(m, o), o))
	}
	for _, m := range masks {
		not := Not(m)
		bg = append(bg, distanceFromSquared(not, edtSquared(not, o), o))
	}
	return fg, bg
}

// SignedDistance returns the signed distance map of a bool mask
// [N,C,*spatial]: on false pixels (outside) the positive distance to the
// nearest true pixel, on true pixels (inside) minus the distance to the
// nearest false pixel, that is EuclideanDistance(Not(mask)) -
// EuclideanDistance(mask). No pixel is 0, since distances are measured
// between pixel centres; losses that want 0 on a boundary layer shift or
// zero it themselves. A slice that is all false gives Empty, an all-true
// slice -Empty.
func SignedDistance(mask *Value, o DistanceOptions) *Value {
	fg, bg := DistancePair(mask, o)
	return Sub(bg, fg)
}

// checkDistance validates the operand and fills in the defaults of o.
func checkDistance(g *Graph, op string, mask *Value, o *DistanceOptions) bool {
	if o.DType == tensor.Invalid {
		o.DType = tensor.Float32
	}
	if !g.check(op, mask) {
		return false
	}
	if mask.dtype != tensor.Bool {
		g.Fail("%s: needs a bool mask, got %v (compare or Cast first)", op, mask)
		return false
	}
	if mask.Rank() < 3 {
		g.Fail("%s: needs a mask [N,C,*spatial] with at least one spatial axis, got %v", op, mask)
		return false
	}
	if o.DType != tensor.Float32 && o.DType != tensor.Float64 {
		g.Fail("%s: result type must be float32 or float64, got %v", op, o.DType)
		return false
	}
	sd := mask.Rank() - 2
	switch len(o.Spacing) {
	case 0:
		o.Spacing = make([]float64, sd)
		for i := range o.Spacing {
			o.Spacing[i] = 1
		}
	case 1:
		s := o.Spacing[0]
		o.Spacing = make([]float64, sd)
		for i := range o.Spacing {
			o.Spacing[i] = s
		}
	case sd:
		o.Spacing = append([]float64{}, o.Spacing...)
	default:
		g.Fail("%s: spacing %v must have one value or one per spatial axis of %v", op, o.Spacing, mask)
		return false
	}
	for _, s := range o.Spacing {
		if !(s > 0) || math.IsInf(s, 0) {
			g.Fail("%s: spacing %v must be positive and finite", op, o.Spacing)
			return false
		}
	}
	if o.MaxDistance < 0 || math.IsNaN(o.MaxDistance) || math.IsInf(o.MaxDistance, 0) {
		g.Fail("%s: MaxDistance %v must be finite and non-negative (0: exact)", op, o.MaxDistance)
		return false
	}
	if math.IsNaN(o.Empty) {
		g.Fail("%s: Empty must not be NaN", op)
		return false
	}
	return true
}

// distanceFromSquared takes the square root, truncates at MaxDistance and
// applies the Empty convention to slices of mask without a false pixel.
func distanceFromSquared(mask, sq *Value, o DistanceOptions) *Value {
	d := Sqrt(sq)
	if o.MaxDistance > 0 {
		d = Min(d, ConstAs(d, o.MaxDistance))
	}
	axes := make([]int, mask.Rank()-2)
	for i := range axes {
		axes[i] = 2 + i
	}
	hasBackground := Greater(ReduceMax(Cast(Not(mask), tensor.Float32), true, axes...), Scalar(mask.g, tensor.Float32, 0))
	return StopGradient(Where(hasBackground, d, ConstAs(d, o.Empty)))
}

// edtSquared returns the squared distance of every true pixel to the nearest
// false pixel of its slice, +Inf where the slice has no false pixel (and,
// with MaxDistance, possibly where the distance exceeds it).
func edtSquared(mask *Value, o DistanceOptions) *Value {
	g := mask.g
	dt := o.DType
	inf := Scalar(g, dt, math.Inf(1))
	// Phase 1: 1-D distance in pixels along the first spatial axis.
	d := Where(mask, inf, Scalar(g, dt, 0))
	size := ScalarOf(DimOf(mask, 2))
	limit := size
	if o.MaxDistance > 0 {
		limit = Min(size, Int(g, int64(math.Floor(o.MaxDistance/o.Spacing[0]))+1))
	}
	one := Int(g, 1)
	out := Loop(g, size, Less(one, limit), []*Value{d, one}, func(b *LoopBody) (*Value, []*Value) {
		d, s := b.Carried[0], b.Carried[1]
		fill := b.Capture(inf)
		ds := Add(d, Cast(s, dt))
		s2 := Mul(s, Int(b.G, 2))
		return Less(s2, b.Capture(limit)), []*Value{minOf(d, shiftAxis(ds, 2, s, fill), shiftAxis(ds, 2, Neg(s), fill)), s2}
	})
	sq := Square(MulScalar(out[0], o.Spacing[0]))
	// Later axes: min-plus with (δ·spacing)² over offsets δ.
	for a := 3; a < mask.Rank(); a++ {
		sq = minPlusAxis(sq, a, o.Spacing[a-2], o.MaxDistance)
	}
	return sq
}

// minPlusAxis returns D[i] = min over δ >= 0 of G[i±δ] + (δ·spacing)² along
// axis, for G >= 0 holding +Inf where nothing is known yet. Iteration k
// (from 1) takes D to min(D[i], D[i±1] + (2k-1)·spacing²): the body reads
// only the carried D, not G, so nothing the size of the data is carried
// besides it.
func minPlusAxis(sq *Value, axis int, spacing, maxDistance float64) *Value {
	g := sq.g
	dt := sq.dtype
	inf := Scalar(g, dt, math.Inf(1))
	// A line along the axis that holds no finite value stays infinite. It is
	// zeroed during the loop, so that it does not keep the stopping test
	// (largest value still to improve) at infinity, and restored after.
	live := Less(ReduceMin(sq, true, axis), inf)
	base := Where(live, sq, Scalar(g, dt, 0))
	size := ScalarOf(DimOf(sq, axis))
	trips := Sub(size, Int(g, 1))
	if maxDistance > 0 {
		trips = Min(trips, Int(g, int64(math.Floor(maxDistance/spacing))))
	}
	s2 := spacing * spacing
	first := Less(Scalar(g, dt, s2), ReduceMax(base, false))
	out := Loop(g, trips, first, []*Value{base}, func(b *LoopBody) (*Value, []*Value) {
		cur := b.Carried[0]
		fill := b.Capture(inf)
		one := Int(b.G, 1)
		df := Cast(Add(b.Iter, one), dt)
		// Five passes over the data per offset: add, two shifts, min, max.
		step := Add(cur, MulScalar(AddScalar(MulScalar(df, 2), -1), s2))
		next := minOf(cur, shiftAxis(step, axis, one, fill), shiftAxis(step, axis, Int(b.G, -1), fill))
		reach := MulScalar(Square(AddScalar(df, 1)), s2)
		return Less(reach, ReduceMax(next, false)), []*Value{next}
	})
	return Where(live, out[0], inf)
}

// shiftAxis returns y with y[..., i, ...] = x[..., i-s, ...] along axis, fill
// where i-s falls outside; s is an int64 scalar and may be negative. It is a
// single Pad whose pads are s at the start of the axis and -s at its end (a
// negative pad crops).
func shiftAxis(x *Value, axis int, s, fill *Value) *Value {
	g := x.g
	r := x.Rank()
	pattern := make([]int64, 2*r)
	pattern[axis] = 1
	pattern[r+axis] = -1
	pads := Mul(Ints(g, pattern...), s)
	return g.addNode("Pad", []*Value{x, pads, fill}, map[string]any{"mode": "constant"}, outSpec{x.dtype, x.shape.Clone()}).outputs[0]
}

// minOf is the variadic ONNX Min: one node for several operands.
func minOf(xs ...*Value) *Value {
	g := xs[0].g
	if !g.check("Min", xs...) {
		return g.placeholder(xs[0].dtype, nil)
	}
	shapes := make([]Shape, len(xs))
	for i, x := range xs {
		if x.dtype != xs[0].dtype {
			return g.failf("Min", "operand types differ: %v and %v", xs[0], x)
		}
		shapes[i] = x.shape
	}
	shape, err := broadcastShapes(shapes...)
	if err != nil {
		return g.failf("Min", "%v", err)
	}
	return g.addNode("Min", xs, nil, outSpec{xs[0].dtype, shape}).outputs[0]
}
