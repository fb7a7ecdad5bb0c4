package builder

import (
	"sort"

	"github.com/onnxloss/onnxloss/tensor"
)

// sumBlock is the largest number of entries that one ReduceSum or
// ReduceMean node of a blocked reduction adds up for each of its outputs,
// where the sizes are known.
//
// ONNX Runtime's CPU kernels add float32 entries into float32 accumulators
// one after the other: a reduction over the trailing axes keeps a few
// running sums a row (Eigen's vectorised sum), one over leading or middle
// axes a single running sum per output. The rounding error of a sum
// therefore grows with the number of entries each accumulator sees:
// measured on per-pixel binary cross-entropy values, one ReduceSum over 256³
// entries is off by 7.5e-4 (relative), over 8×21×256×256 by 3.7e-4. Rows
// of 1024 entries are within 3e-7 of the exact sum (6e-8 on average), rows
// of 256 within 2e-7.
const sumBlock = 1024

// blockedReduce emits op (ReduceSum or ReduceMean) over axes of x as a
// sequence of reductions, innermost axes first, each over at most sumBlock
// entries where the sizes are known and over one symbolic dimension (such
// as H or W) at most otherwise; a known dimension above sumBlock is split
// into blocks by a Reshape. A reduction over a dimension of unknown size
// (the product of several symbolic ones, after a Reshape) goes back through
// that Reshape to the dimensions it merged when it can, and accumulates in
// float64 otherwise. A mean of means over whole axes is the mean, so
// ReduceMean is blocked the same way.
//
// Reductions that fit one block or run over one symbolic dimension,
// reductions of float64 values (whose error is 1e-16 per entry) and of
// integers stay one node.
// The first reduction reads the data once; later ones read its output, a
// fraction of it, so a blocked sum reads the data once as a single node does.
func blockedReduce(op string, x *Value, keepDims bool, axes []int) *Value {
	g := x.g
	if !g.check(op, x) || !x.dtype.IsFloat() || x.dtype == tensor.Float64 {
		return reduce(op, x, keepDims, axes)
	}
	norm, err := normAxes(axes, x.Rank())
	if err != nil {
		return reduce(op, x, keepDims, axes) // reports the error
	}
	if len(norm) == 0 {
		for i := range x.shape {
			norm = append(norm, i)
		}
	}
	for _, a := range norm {
		if d := x.shape[a]; unknown(d) || d.Known() && d.Size > sumBlock {
			if v := reduceThroughReshape(op, x, keepDims, norm); v != nil {
				return v
			}
			break
		}
	}
	return reduceStages(op, x, keepDims, norm)
}

// unknown reports whether nothing is known of d's size: it may be the
// product of several dimensions.
func unknown(d Dim) bool { return !d.Known() && d.Param == "" }

// reduceStages reduces x over axes (normalised, sorted, of known or
// symbolic size) stage by stage from the innermost axis.
func reduceStages(op string, x *Value, keepDims bool, axes []int) *Value {
	var big []int // axes that are not known to have size 1
	for _, a := range axes {
		if d := x.shape[a]; !d.Known() || d.Size != 1 {
			big = append(big, a)
		}
	}
	if len(big) == 0 {
		return reduce(op, x, keepDims, axes)
	}
	inner := big[len(big)-1]
	d := x.shape[inner]
	if unknown(d) {
		// Of unknown size: what is left is summed in float64, after the
		// axes inside it were reduced in float32.
		return reduceWide(op, x, keepDims, axes)
	}
	if d.Known() && d.Size > sumBlock {
		f := blockSize(d.Size)
		if f == 1 {
			// No divisor to block by (a prime above sumBlock): the rest
			// accumulates in float64.
			return reduceWide(op, x, keepDims, axes)
		}
		// x[..., d, ...] → [..., d/f, f, ...]; reduce the blocks of f,
		// which leaves x's rank with d/f at the axis.
		y := reduce(op, splitAxis(x, inner, d.Size/f, f), false, []int{inner + 1})
		return reduceStages(op, y, keepDims, axes)
	}
	// The first stage: the innermost axis, with the axes right before it
	// while the known sizes multiply to sumBlock at most.
	stage := []int{inner}
	if d.Known() {
		n := d.Size
		for i := len(big) - 2; i >= 0; i-- {
			a, e := big[i], x.shape[big[i]]
			if !e.Known() || n*e.Size > sumBlock || a+1 != stage[len(stage)-1] {
				break
			}
			n *= e.Size
			stage = append(stage, a)
		}
	}
	if len(stage) == len(big) {
		return reduce(op, x, keepDims, axes)
	}
	// Every stage drops the axes it reduces, and the result gets them back
	// at the end: ONNX Runtime reduces rows followed by axes of size 1 with
	// a slower and less accurate kernel than rows at the end. Reduced axes
	// of size 1 go with the last stage, whose input is small: with the
	// first they would make its axes non-contiguous, for which ONNX
	// Runtime's kernel is tens of times slower.
	first := map[int]bool{}
	for _, a := range stage {
		first[a] = true
	}
	var rest []int
	for _, a := range axes {
		if first[a] {
			continue
		}
		shift := 0
		for _, b := range stage {
			if b < a {
				shift++
			}
		}
		rest = append(rest, a-shift)
	}
	sort.Ints(stage)
	r := reduceStages(op, reduce(op, x, false, stage), false, rest)
	if keepDims {
		r = Unsqueeze(r, axes...)
	}
	return r
}

// blockSize returns the largest divisor of n that is at most sumBlock.
func blockSize(n int64) int64 {
	for f := int64(sumBlock); f > 1; f-- {
		if n%f == 0 {
			return f
		}
	}
	return 1
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// splitAxis reshapes x so that axis a, of size outer·inner, becomes the two
// axes [outer, inner].
func splitAxis(x *Value, a int, outer, inner int64) *Value {
	g := x.g
	dims := make([]int64, 0, x.Rank()+1)
	for range a {
		dims = append(dims, 0) // copies the dimension: the axes before a keep their place
	}
	dims = append(dims, outer, inner)
	known := true
	for _, d := range x.shape[a+1:] {
		known = known && d.Known()
		dims = append(dims, d.Size)
	}
	if known {
		return ReshapeDims(x, dims...)
	}
	s := ShapeOf(x)
	parts := []*Value{Ints(g, outer, inner)}
	if a > 0 {
		parts = append([]*Value{Slice(s, []int64{0}, []int64{int64(a)}, []int64{0}, nil)}, parts...)
	}
	parts = append(parts, Slice(s, []int64{int64(a) + 1}, []int64{int64(x.Rank())}, []int64{0}, nil))
	return Reshape(x, Concat(0, parts...))
}

// reduceThroughReshape handles x = Reshape(y) where the Reshape merged
// consecutive axes of y into one axis of x (Flatten and the like) and that
// axis is reduced: the reduction runs over y's axes instead, where their
// sizes are known or symbolic. It returns nil when x is not such a value.
func reduceThroughReshape(op string, x *Value, keepDims bool, axes []int) *Value {
	if x.node == nil || x.node.op != "Reshape" {
		return nil
	}
	y := x.node.inputs[0]
	if y.g != x.g {
		return nil
	}
	xs, ys := x.shape, y.shape
	p, s, ok := mergedAxis(xs, ys)
	if !ok || !contains(axes, p) {
		return nil
	}
	var yAxes []int
	for _, a := range axes {
		switch {
		case a < p:
			yAxes = append(yAxes, a)
		case a == p:
			for i := p; i < len(ys)-s; i++ {
				yAxes = append(yAxes, i)
			}
		default:
			yAxes = append(yAxes, a-len(xs)+len(ys))
		}
	}
	r := blockedReduce(op, y, false, yAxes)
	if keepDims {
		r = Unsqueeze(r, axes...)
	}
	return r
}

// mergedAxis reports whether a reshape from shape from to shape to merged
// consecutive axes of from into one axis of to: to = [prefix, merged,
// suffix] and from = [prefix, group..., suffix] with the same prefix and
// suffix dimensions, so that the row-major order of the entries maps the
// merged axis onto the group. It returns the merged axis p and the length s
// of the suffix; the group is from[p : len(from)-s].
func mergedAxis(to, from Shape) (p, s int, ok bool) {
	for p < len(to)-1 && p < len(from) && to[p].sameAs(from[p]) {
		p++
	}
	for s < len(to)-1-p && s < len(from)-p && to[len(to)-1-s].sameAs(from[len(from)-1-s]) {
		s++
	}
	return p, s, p+s == len(to)-1 && len(from)-p-s >= 1
}

// reduceWide reduces x over axes in float64.
func reduceWide(op string, x *Value, keepDims bool, axes []int) *Value {
	return Cast(reduce(op, Cast(x, tensor.Float64), keepDims, axes), x.dtype)
}
