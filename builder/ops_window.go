package builder

import (
	"slices"

	"github.com/onnxloss/onnxloss/tensor"
)

// Window describes a sliding window over the spatial axes of an
// [N,C,*spatial] value. Nil slices take ONNX's defaults: strides and
// dilations of 1, no padding.
type Window struct {
	Kernel []int64
	// Strides per spatial axis.
	Strides []int64
	// Pads lists the padding at the beginning of each spatial axis, then at
	// the end: [x1_begin, x2_begin, ..., x1_end, x2_end, ...].
	Pads []int64
	// Dilations per spatial axis.
	Dilations []int64
}

// SamePads returns the padding that keeps the spatial size at stride 1
// for the given odd kernel: (k-1)/2 on both sides of each axis.
func SamePads(kernel ...int64) []int64 {
	n := len(kernel)
	p := make([]int64, 2*n)
	for i, k := range kernel {
		p[i] = (k - 1) / 2
		p[n+i] = k - 1 - (k-1)/2
	}
	return p
}

// windowShape infers the output shape of a pooling or convolution over
// x's spatial axes, with out channels outC.
func (w Window) shape(op string, x *Value, outC Dim) (Shape, map[string]any, bool) {
	g := x.g
	sd := x.Rank() - 2
	if sd < 1 {
		g.Fail("%s: needs a value [N,C,*spatial], got %v", op, x)
		return nil, nil, false
	}
	fill := func(v []int64, n int, def int64) []int64 {
		if v != nil {
			return v
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = def
		}
		return out
	}
	k := w.Kernel
	s := fill(w.Strides, sd, 1)
	p := fill(w.Pads, 2*sd, 0)
	d := fill(w.Dilations, sd, 1)
	if len(k) != sd || len(s) != sd || len(p) != 2*sd || len(d) != sd {
		g.Fail("%s: kernel %v, strides %v, pads %v, dilations %v do not fit %d spatial axes of %v", op, k, s, p, d, sd, x)
		return nil, nil, false
	}
	out := Shape{x.shape[0], outC}
	for i := 0; i < sd; i++ {
		if k[i] < 1 || s[i] < 1 || d[i] < 1 || p[i] < 0 || p[sd+i] < 0 {
			g.Fail("%s: kernel %v, strides %v, pads %v and dilations %v must be positive (pads non-negative)", op, k, s, p, d)
			return nil, nil, false
		}
		in := x.shape[2+i]
		span := d[i]*(k[i]-1) + 1
		switch {
		case in.Known():
			n := (in.Size+p[i]+p[sd+i]-span)/s[i] + 1
			if in.Size+p[i]+p[sd+i] < span {
				g.Fail("%s: window of %d does not fit spatial axis %d of %v (padded to %d)", op, span, i, x, in.Size+p[i]+p[sd+i])
				return nil, nil, false
			}
			out = append(out, Fixed(n))
		case s[i] == 1 && p[i]+p[sd+i] == span-1:
			out = append(out, in)
		default:
			out = append(out, UnknownDim)
		}
	}
	attrs := map[string]any{"kernel_shape": append([]int64{}, k...), "strides": append([]int64{}, s...),
		"pads": append([]int64{}, p...)}
	return out, attrs, true
}

// MaxPool takes the maximum over windows of the spatial axes of x
// [N,C,*spatial]. Padded positions never win.
func MaxPool(x *Value, w Window) *Value {
	g := x.g
	if !g.check("MaxPool", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if !x.dtype.IsFloat() {
		return g.failf("MaxPool", "needs a floating-point operand, got %v", x)
	}
	shape, attrs, ok := w.shape("MaxPool", x, x.Dim(1))
	if !ok {
		return g.placeholder(x.dtype, nil)
	}
	if w.Dilations != nil {
		attrs["dilations"] = append([]int64{}, w.Dilations...)
	}
	return g.addNode("MaxPool", []*Value{x}, attrs, outSpec{x.dtype, shape}).outputs[0]
}

// AveragePool averages over windows of the spatial axes of x. With
// countPad, padded positions count as zeros in the average; without, only
// real positions are averaged.
func AveragePool(x *Value, w Window, countPad bool) *Value {
	g := x.g
	if !g.check("AveragePool", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	if !x.dtype.IsFloat() {
		return g.failf("AveragePool", "needs a floating-point operand, got %v", x)
	}
	if w.Dilations != nil {
		return g.failf("AveragePool", "dilations need opset 19; use Conv with a uniform kernel")
	}
	shape, attrs, ok := w.shape("AveragePool", x, x.Dim(1))
	if !ok {
		return g.placeholder(x.dtype, nil)
	}
	if countPad {
		attrs["count_include_pad"] = int64(1)
	}
	return g.addNode("AveragePool", []*Value{x}, attrs, outSpec{x.dtype, shape}).outputs[0]
}

// Conv convolves x [N,C,*spatial] with weights [M, C/group, *kernel]; bias
// [M] may be nil. The kernel shape comes from the weights.
func Conv(x, weights, bias *Value, w Window, group int) *Value {
	g := x.g
	ins := []*Value{x, weights}
	if bias != nil {
		ins = append(ins, bias)
	}
	if !g.check("Conv", ins...) {
		return g.placeholder(tensor.Float32, nil)
	}
	if x.dtype != weights.dtype || (bias != nil && bias.dtype != x.dtype) || !x.dtype.IsFloat() {
		return g.failf("Conv", "operands must share one floating-point type: %v, %v", x, weights)
	}
	if weights.Rank() != x.Rank() {
		return g.failf("Conv", "weights %v must have the rank of input %v", weights, x)
	}
	if group < 1 {
		return g.failf("Conv", "group must be at least 1, got %d", group)
	}
	if c, k := x.Dim(1), weights.Dim(1); c.Known() && k.Known() && c.Size != k.Size*int64(group) {
		return g.failf("Conv", "input %v has %d channels, weights %v expect %d×%d", x, c.Size, weights, k.Size, group)
	}
	kernel, ok := weights.shape[2:].Sizes()
	if !ok {
		return g.failf("Conv", "weights %v need a known kernel shape", weights)
	}
	if w.Kernel != nil && !slices.Equal(w.Kernel, kernel) {
		return g.failf("Conv", "window kernel %v differs from the weights' %v", w.Kernel, kernel)
	}
	w.Kernel = kernel
	shape, attrs, ok := w.shape("Conv", x, weights.Dim(0))
	if !ok {
		return g.placeholder(x.dtype, nil)
	}
	if w.Dilations != nil {
		attrs["dilations"] = append([]int64{}, w.Dilations...)
	}
	if group != 1 {
		attrs["group"] = int64(group)
	}
	return g.addNode("Conv", ins, attrs, outSpec{x.dtype, shape}).outputs[0]
}

// Pad pads x: pads lists the amounts at the beginning of every axis, then
// at the end (ONNX order). mode is "constant" (with value), "reflect" or
// "edge".
func Pad(x *Value, pads []int64, mode string, value float64) *Value {
	g := x.g
	if !g.check("Pad", x) {
		return g.placeholder(tensor.Float32, nil)
	}
	r := x.Rank()
	if len(pads) != 2*r {
		return g.failf("Pad", "pads %v must have two entries per axis of %v", pads, x)
	}
	switch mode {
	case "constant", "reflect", "edge":
	default:
		return g.failf("Pad", "mode %q is not constant, reflect or edge", mode)
	}
	out := x.shape.Clone()
	for i := 0; i < r; i++ {
		if pads[i] < 0 || pads[r+i] < 0 {
			return g.failf("Pad", "negative pads %v; use Slice to crop", pads)
		}
		if pads[i]+pads[r+i] == 0 {
			continue
		}
		d := x.shape[i]
		if mode == "reflect" && d.Known() && (pads[i] >= d.Size || pads[r+i] >= d.Size) {
			return g.failf("Pad", "reflect padding %v needs axis %d of %v to be longer than the pad", pads, i, x)
		}
		if d.Known() {
			out[i] = Fixed(d.Size + pads[i] + pads[r+i])
		} else {
			out[i] = UnknownDim
		}
	}
	ins := []*Value{x, Ints(g, pads...)}
	if mode == "constant" {
		ins = append(ins, Scalar(g, x.dtype, value))
	}
	return g.addNode("Pad", ins, map[string]any{"mode": mode}, outSpec{x.dtype, out}).outputs[0]
}
