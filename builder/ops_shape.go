package builder

import (
	"math"

	"github.com/onnxloss/onnxloss/tensor"
)

// ShapeOf returns the shape of x as a 1-D int64 value (the ONNX Shape op).
// The builder remembers which dimensions it holds, so a Reshape or Expand fed
// from it keeps symbolic dimensions such as N and H.
func ShapeOf(x *Value) *Value {
	g := x.g
	if !g.check("Shape", x) {
		return g.placeholder(tensor.Int64, nil)
	}
	v := g.addNode("Shape", []*Value{x}, nil, outSpec{tensor.Int64, Dims(int64(x.Rank()))}).outputs[0]
	v.sym = x.shape.Clone()
	return v
}

// DimOf returns dimension axis of x as a 1-D int64 value of length 1.
func DimOf(x *Value, axis int) *Value {
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		return x.g.failf("DimOf", "%v (operand %v)", err, x)
	}
	return Gather(ShapeOf(x), Ints(x.g, int64(a)), 0)
}

// Reshape gives x the shape held by the 1-D int64 value shape, with ONNX's
// conventions: 0 copies the input dimension, -1 is inferred.
func Reshape(x, shape *Value) *Value {
	g := x.g
	if !g.check("Reshape", x, shape) {
		return g.placeholder(tensor.Float32, nil)
	}
	if shape.dtype != tensor.Int64 || shape.Rank() != 1 {
		return g.failf("Reshape", "shape must be a 1-D int64 value, got %v", shape)
	}
	var out Shape
	if shape.sym != nil {
		out = make(Shape, len(shape.sym))
		infer := -1
		for i, d := range shape.sym {
			switch {
			case d.Size == 0:
				if i >= x.Rank() {
					return g.failf("Reshape", "0 at position %d copies a dimension %v does not have", i, x)
				}
				out[i] = x.shape[i]
			case d.Size == -1 && d.Param == "" && shape.konst != nil:
				if infer >= 0 {
					return g.failf("Reshape", "more than one -1 in target shape")
				}
				infer = i
				out[i] = UnknownDim
			default:
				out[i] = d
			}
		}
		if infer >= 0 {
			out[infer] = inferDim(x.shape, out, infer)
		}
		if inSizes, ok := x.shape.Sizes(); ok {
			if outSizes, ok := out.Sizes(); ok && product(inSizes) != product(outSizes) {
				return g.failf("Reshape", "cannot reshape %v to %v", x, out)
			}
		}
	} else {
		n, ok := shape.shape[0].Size, shape.shape[0].Known()
		if !ok {
			return g.failf("Reshape", "target shape %v has unknown length", shape)
		}
		out = make(Shape, n)
		for i := range out {
			out[i] = UnknownDim
		}
	}
	return g.addNode("Reshape", []*Value{x, shape}, nil, outSpec{x.dtype, out}).outputs[0]
}

// inferDim works out the -1 entry of a reshape when it can: from known sizes,
// or by cancelling symbolic dimensions that appear on both sides.
func inferDim(in, out Shape, at int) Dim {
	var known int64 = 1
	var syms []string
	for _, d := range in {
		switch {
		case d.Known():
			known *= d.Size
		case d.Param != "":
			syms = append(syms, d.Param)
		default:
			return UnknownDim
		}
	}
	var divisor int64 = 1
	for i, d := range out {
		if i == at {
			continue
		}
		switch {
		case d.Known():
			divisor *= d.Size
		case d.Param != "":
			found := false
			for j, s := range syms {
				if s == d.Param {
					syms = append(syms[:j], syms[j+1:]...)
					found = true
					break
				}
			}
			if !found {
				return UnknownDim
			}
		default:
			return UnknownDim
		}
	}
	if divisor == 0 || known%divisor != 0 {
		return UnknownDim
	}
	rest := known / divisor
	switch {
	case len(syms) == 0:
		return Fixed(rest)
	case len(syms) == 1 && rest == 1:
		return Sym(syms[0])
	}
	return UnknownDim
}

func product(s []int64) int64 {
	p := int64(1)
	for _, n := range s {
		p *= n
	}
	return p
}

// ReshapeDims reshapes x to constant dimensions (0 copies, -1 infers).
func ReshapeDims(x *Value, dims ...int64) *Value {
	return Reshape(x, Ints(x.g, dims...))
}

// Flatten keeps the first keep axes of x and folds the rest into one:
// Flatten(x of [N,C,H,W], 2) is [N,C,H*W].
func Flatten(x *Value, keep int) *Value {
	if keep < 0 || keep > x.Rank() {
		return x.g.failf("Flatten", "cannot keep %d axes of %v", keep, x)
	}
	dims := make([]int64, keep+1)
	dims[keep] = -1
	return ReshapeDims(x, dims...)
}

// Transpose permutes the axes of x: output axis i is input axis perm[i].
func Transpose(x *Value, perm ...int) *Value {
	g := x.g
	if !g.check("Transpose", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if len(perm) != x.Rank() {
		return g.failf("Transpose", "permutation %v does not fit %v", perm, x)
	}
	seen := make([]bool, len(perm))
	out := make(Shape, len(perm))
	p64 := make([]int64, len(perm))
	for i, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return g.failf("Transpose", "%v is not a permutation", perm)
		}
		seen[p] = true
		out[i] = x.shape[p]
		p64[i] = int64(p)
	}
	return g.addNode("Transpose", []*Value{x}, map[string]any{"perm": p64}, outSpec{x.dtype, out}).outputs[0]
}

// Unsqueeze inserts size-1 axes at the given output positions.
func Unsqueeze(x *Value, axes ...int) *Value {
	g := x.g
	if !g.check("Unsqueeze", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	rank := x.Rank() + len(axes)
	norm, err := normAxes(axes, rank)
	if err != nil {
		return g.failf("Unsqueeze", "%v (operand %v)", err, x)
	}
	out := make(Shape, 0, rank)
	j, k := 0, 0
	for i := 0; i < rank; i++ {
		if k < len(norm) && norm[k] == i {
			out = append(out, Fixed(1))
			k++
		} else {
			out = append(out, x.shape[j])
			j++
		}
	}
	a64 := toInt64s(norm)
	return g.addNode("Unsqueeze", []*Value{x, Ints(g, a64...)}, nil, outSpec{x.dtype, out}).outputs[0]
}

// Squeeze removes the given axes, which must have size 1 (or be unknown).
func Squeeze(x *Value, axes ...int) *Value {
	g := x.g
	if !g.check("Squeeze", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if len(axes) == 0 {
		return g.failf("Squeeze", "give the axes to remove explicitly (operand %v)", x)
	}
	norm, err := normAxes(axes, x.Rank())
	if err != nil {
		return g.failf("Squeeze", "%v (operand %v)", err, x)
	}
	drop := make([]bool, x.Rank())
	for _, a := range norm {
		if d := x.shape[a]; d.Known() && d.Size != 1 {
			return g.failf("Squeeze", "axis %d of %v has size %d, not 1", a, x, d.Size)
		}
		drop[a] = true
	}
	var out Shape
	for i, d := range x.shape {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return g.addNode("Squeeze", []*Value{x, Ints(g, toInt64s(norm)...)}, nil, outSpec{x.dtype, out}).outputs[0]
}

func toInt64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// Expand broadcasts x to the shape held by the 1-D int64 value shape.
func Expand(x, shape *Value) *Value {
	g := x.g
	if !g.check("Expand", x, shape) {
		return g.placeholder(tensor.Float32, nil)
	}
	if shape.dtype != tensor.Int64 || shape.Rank() != 1 {
		return g.failf("Expand", "shape must be a 1-D int64 value, got %v", shape)
	}
	var target Shape
	if shape.sym != nil {
		target = Shape(shape.sym).Clone()
	} else if n := shape.shape[0]; n.Known() {
		target = make(Shape, n.Size)
		for i := range target {
			target[i] = UnknownDim
		}
	} else {
		return g.failf("Expand", "target shape %v has unknown length", shape)
	}
	out, err := broadcastShapes(x.shape, target)
	if err != nil {
		return g.failf("Expand", "%v", err)
	}
	return g.addNode("Expand", []*Value{x, shape}, nil, outSpec{x.dtype, out}).outputs[0]
}

// ExpandAs broadcasts x to the shape of like.
func ExpandAs(x, like *Value) *Value { return Expand(x, ShapeOf(like)) }

// Concat joins values along axis.
func Concat(axis int, xs ...*Value) *Value {
	if len(xs) == 0 || xs[0] == nil {
		panic("builder.Concat: no operands") // programming error, not a data error
	}
	g := xs[0].g
	if !g.check("Concat", xs...) {
		return g.placeholder(tensor.Float32, nil)
	}
	rank := xs[0].Rank()
	a, err := normAxis(axis, rank)
	if err != nil {
		return g.failf("Concat", "%v (operand %v)", err, xs[0])
	}
	out := xs[0].shape.Clone()
	for _, x := range xs[1:] {
		if x.dtype != xs[0].dtype || x.Rank() != rank {
			return g.failf("Concat", "operands differ: %v and %v", xs[0], x)
		}
		for i, d := range x.shape {
			if i == a {
				if out[i].Known() && d.Known() {
					out[i] = Fixed(out[i].Size + d.Size)
				} else {
					out[i] = UnknownDim
				}
				continue
			}
			if out[i].Known() && d.Known() && out[i].Size != d.Size {
				return g.failf("Concat", "dimension %d differs: %v and %v", i, xs[0], x)
			}
			if !out[i].Known() && d.Known() {
				out[i] = d
			}
		}
	}
	v := g.addNode("Concat", xs, map[string]any{"axis": int64(a)}, outSpec{xs[0].dtype, out}).outputs[0]
	if a == 0 && rank == 1 && xs[0].dtype == tensor.Int64 {
		var sym []Dim
		for _, x := range xs {
			if x.sym == nil {
				sym = nil
				break
			}
			sym = append(sym, x.sym...)
		}
		v.sym = sym
	}
	return v
}

// Slice takes x[starts:ends:steps] along axes, with constant bounds. Bounds
// beyond the dimension are clamped as in ONNX, so math.MaxInt64 means "to the
// end".
func Slice(x *Value, starts, ends, axes, steps []int64) *Value {
	g := x.g
	if !g.check("Slice", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if len(starts) != len(ends) || len(axes) != len(starts) || (steps != nil && len(steps) != len(starts)) {
		return g.failf("Slice", "starts, ends, axes and steps must have the same length")
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	out := x.shape.Clone()
	ax := make([]int, len(axes))
	for i, a := range axes {
		n, err := normAxis(int(a), x.Rank())
		if err != nil {
			return g.failf("Slice", "%v (operand %v)", err, x)
		}
		ax[i] = n
		if steps[i] == 0 {
			return g.failf("Slice", "step 0 on axis %d", a)
		}
		d := x.shape[n]
		if !d.Known() {
			if starts[i] == 0 && steps[i] == 1 && ends[i] >= 1<<62 {
				continue // the whole axis
			}
			out[n] = UnknownDim
			continue
		}
		out[n] = Fixed(sliceLen(d.Size, starts[i], ends[i], steps[i]))
	}
	inputs := []*Value{x, Ints(g, starts...), Ints(g, ends...), Ints(g, toInt64s(ax)...), Ints(g, steps...)}
	v := g.addNode("Slice", inputs, nil, outSpec{x.dtype, out}).outputs[0]
	if x.sym != nil && len(ax) == 1 && steps[0] == 1 {
		n := int64(len(x.sym))
		s, e := clampBound(starts[0], n, 1), clampBound(ends[0], n, 1)
		if s < e {
			v.sym = append([]Dim{}, x.sym[s:e]...)
		} else {
			v.sym = []Dim{}
		}
	}
	return v
}

func clampBound(b, n, step int64) int64 {
	if b < 0 {
		b += n
	}
	lo, hi := int64(0), n
	if step < 0 {
		lo, hi = -1, n-1
	}
	return min(max(b, lo), hi)
}

// sliceLen is the number of elements ONNX's Slice takes from a dimension of n.
func sliceLen(n, start, end, step int64) int64 {
	s, e := clampBound(start, n, step), clampBound(end, n, step)
	if step > 0 {
		if e <= s {
			return 0
		}
		return (e - s + step - 1) / step
	}
	if s <= e {
		return 0
	}
	return (s - e - step - 1) / -step
}

// Gather picks entries of x along axis at int64 indices.
func Gather(x, indices *Value, axis int) *Value {
	g := x.g
	if !g.check("Gather", x, indices) {
		return g.placeholder(tensor.Float32, nil)
	}
	if indices.dtype != tensor.Int64 && indices.dtype != tensor.Int32 {
		return g.failf("Gather", "indices must be int64 or int32, got %v", indices)
	}
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		return g.failf("Gather", "%v (operand %v)", err, x)
	}
	out := append(Shape{}, x.shape[:a]...)
	out = append(out, indices.shape...)
	out = append(out, x.shape[a+1:]...)
	v := g.addNode("Gather", []*Value{x, indices}, map[string]any{"axis": int64(a)}, outSpec{x.dtype, out}).outputs[0]
	if x.sym != nil && indices.konst != nil && indices.Rank() <= 1 {
		for _, i := range indices.konst.Int64s() {
			if i < 0 {
				i += int64(len(x.sym))
			}
			if i < 0 || i >= int64(len(x.sym)) {
				return g.failf("Gather", "index %d out of range for %d dimensions", i, len(x.sym))
			}
			v.sym = append(v.sym, x.sym[i])
		}
		if indices.Rank() == 0 {
			v.sym = nil // a scalar, not a list of dims
		}
	}
	return v
}

// GatherElements picks x[..., indices[...], ...] along axis; the output has
// the shape of indices.
func GatherElements(x, indices *Value, axis int) *Value {
	g := x.g
	if !g.check("GatherElements", x, indices) {
		return g.placeholder(tensor.Float32, nil)
	}
	if indices.dtype != tensor.Int64 && indices.dtype != tensor.Int32 {
		return g.failf("GatherElements", "indices must be int64 or int32, got %v", indices)
	}
	if indices.Rank() != x.Rank() {
		return g.failf("GatherElements", "indices %v and data %v must have the same rank", indices, x)
	}
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		return g.failf("GatherElements", "%v (operand %v)", err, x)
	}
	return g.addNode("GatherElements", []*Value{x, indices}, map[string]any{"axis": int64(a)}, outSpec{x.dtype, indices.shape.Clone()}).outputs[0]
}

// TopK returns the k largest (or smallest) entries of x along axis, sorted,
// and their int64 indices. k is a 1-D int64 value of length 1, so it may be
// computed in the graph (for a full sort, k = DimOf(x, axis)).
func TopK(x, k *Value, axis int, largest bool) (values, indices *Value) {
	g := x.g
	if !g.check("TopK", x, k) {
		return g.placeholder(tensor.Float32, nil), g.placeholder(tensor.Int64, nil)
	}
	if k.dtype != tensor.Int64 || k.Rank() != 1 {
		bad := g.failf("TopK", "k must be a 1-D int64 value of length 1, got %v", k)
		return bad, bad
	}
	a, err := normAxis(axis, x.Rank())
	if err != nil {
		bad := g.failf("TopK", "%v (operand %v)", err, x)
		return bad, bad
	}
	out := x.shape.Clone()
	out[a] = UnknownDim
	if len(k.sym) == 1 {
		out[a] = k.sym[0]
	}
	l := int64(0)
	if largest {
		l = 1
	}
	n := g.addNode("TopK", []*Value{x, k}, map[string]any{"axis": int64(a), "largest": l, "sorted": int64(1)},
		outSpec{x.dtype, out}, outSpec{tensor.Int64, out.Clone()})
	return n.outputs[0], n.outputs[1]
}

// OneHot compares int64 labels with 0..classes-1 and returns a bool tensor
// with a new axis of size classes inserted at axis. It is written with Equal
// rather than ONNX's OneHot, so out-of-range labels (such as an ignore index)
// simply give an all-false row.
func OneHot(labels *Value, classes int, axis int) *Value {
	g := labels.g
	if !g.check("OneHot", labels) {
		return g.placeholder(tensor.Bool, nil)
	}
	if labels.dtype != tensor.Int64 {
		return g.failf("OneHot", "labels must be int64, got %v", labels)
	}
	if classes < 1 {
		return g.failf("OneHot", "needs at least one class, got %d", classes)
	}
	rank := labels.Rank() + 1
	a, err := normAxis(axis, rank)
	if err != nil {
		return g.failf("OneHot", "%v (labels %v)", err, labels)
	}
	ids := make([]int64, classes)
	for i := range ids {
		ids[i] = int64(i)
	}
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = 1
	}
	shape[a] = classes
	classIDs := ConstTensor(g, tensor.FromInt64(shape, ids))
	return Equal(Unsqueeze(labels, a), classIDs)
}

// ConstantOfShape returns a tensor of the shape held by the 1-D int64 value
// shape, filled with v of type dt.
func ConstantOfShape(shape *Value, dt tensor.DType, v float64) *Value {
	g := shape.g
	if !g.check("ConstantOfShape", shape) {
		return g.placeholder(dt, nil)
	}
	if shape.dtype != tensor.Int64 || shape.Rank() != 1 {
		return g.failf("ConstantOfShape", "shape must be a 1-D int64 value, got %v", shape)
	}
	var out Shape
	if shape.sym != nil {
		out = Shape(shape.sym).Clone()
	} else if n := shape.shape[0]; n.Known() {
		out = make(Shape, n.Size)
		for i := range out {
			out[i] = UnknownDim
		}
	}
	val := tensor.FromFloat64([]int{1}, []float64{v}).Convert(dt)
	return g.addNode("ConstantOfShape", []*Value{shape}, map[string]any{"value": val}, outSpec{dt, out}).outputs[0]
}

// Range returns the 1-D sequence start, start+delta, ... below limit. The
// operands are rank-0 values of one numeric type.
func Range(start, limit, delta *Value) *Value {
	g := start.g
	if !g.check("Range", start, limit, delta) {
		return g.placeholder(tensor.Int64, nil)
	}
	for _, v := range []*Value{start, limit, delta} {
		if v.Rank() != 0 || v.dtype != start.dtype {
			return g.failf("Range", "operands must be rank-0 values of one type, got %v, %v, %v", start, limit, delta)
		}
	}
	n := UnknownDim
	if start.konst != nil && limit.konst != nil && delta.konst != nil {
		s, l, d := start.konst.Float64s()[0], limit.konst.Float64s()[0], delta.konst.Float64s()[0]
		if d != 0 {
			n = Fixed(max(0, int64(math.Ceil((l-s)/d))))
		}
	} else if start.konst != nil && delta.konst != nil && start.konst.Float64s()[0] == 0 && delta.konst.Float64s()[0] == 1 && len(limit.sym) == 1 {
		n = limit.sym[0]
	}
	return g.addNode("Range", []*Value{start, limit, delta}, nil, outSpec{start.dtype, Shape{n}}).outputs[0]
}

// ScalarOf turns a 1-element 1-D value (such as DimOf's result) into a rank-0
// value, keeping what the builder knows about it.
func ScalarOf(x *Value) *Value {
	if !x.g.check("ScalarOf", x) {
		return x.g.placeholder(tensor.Int64, nil)
	}
	if x.Rank() != 1 || (x.shape[0].Known() && x.shape[0].Size != 1) {
		return x.g.failf("ScalarOf", "needs a 1-D value of one element, got %v", x)
	}
	sym := x.sym
	// Squeeze rather than a Reshape to the empty shape: a zero-element shape
	// tensor trips some ONNX readers (onnx-go panics on it).
	v := Squeeze(x, 0)
	if len(sym) == 1 {
		v.sym = sym
	}
	return v
}
