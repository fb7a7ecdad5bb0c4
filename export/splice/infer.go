package splice

import (
	"fmt"
	"math"
	"slices"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
)

// graphIndex answers questions about a model's main graph: who produces a
// value, what type a value declares, which values are initializers.
type graphIndex struct {
	g        *onnxpb.GraphProto
	producer map[string]*onnxpb.NodeProto
	types    map[string]*onnxpb.TypeProto_Tensor
	inits    map[string]*onnxpb.TensorProto
	// dims memoises fixedDim: a graph that reuses values (x + x, a
	// residual block) reaches a value by exponentially many paths, and each
	// value and axis is worked out once. walking marks those being worked
	// out, so a cycle (in a malformed graph) ends the walk.
	dims map[dimKey]int64
}

type dimKey struct {
	name string
	axis int
}

// walking marks a dims entry whose value is being worked out.
const walking = math.MinInt64

// maxWalk bounds how far fixedDim walks back from a value, so that the Go
// stack stays small on graphs with very long chains; past it the size
// counts as not fixed.
const maxWalk = 10000

func newGraphIndex(g *onnxpb.GraphProto) *graphIndex {
	ix := &graphIndex{g: g, producer: map[string]*onnxpb.NodeProto{}, types: map[string]*onnxpb.TypeProto_Tensor{},
		inits: map[string]*onnxpb.TensorProto{}, dims: map[dimKey]int64{}}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				ix.producer[o] = n
			}
		}
	}
	for _, list := range [][]*onnxpb.ValueInfoProto{g.GetValueInfo(), g.GetInput(), g.GetOutput()} {
		for _, v := range list {
			if tt := v.GetType().GetTensorType(); tt != nil {
				ix.types[v.GetName()] = tt
			}
		}
	}
	for _, t := range g.GetInitializer() {
		ix.inits[t.GetName()] = t
	}
	return ix
}

// isDefaultDomain reports whether a node's domain is the default ONNX domain.
func isDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// activationInfo says how a model output is produced.
type activationInfo struct {
	// node produces the output, after following Identity nodes (and, when
	// an activation head is found behind them, the layout nodes of after);
	// nil when the output is a graph input or an initializer.
	node *onnxpb.NodeProto
	// op is "Softmax", "LogSoftmax" or "Sigmoid" when node is one of those,
	// else "".
	op string
	// axis is the normalized axis of Softmax and LogSoftmax, counted in the
	// output's axes (through the Transposes of after), or -1 when it is
	// unknown (unknown rank) or does not apply.
	axis int
	// logits is the activation's input.
	logits string
	// after lists the nodes that only move the activation's values between
	// it and the output, in the order they run: Transposes, and after a
	// Sigmoid also Reshapes (tf2onnx ends a channels-last Keras head with a
	// Transpose back to NHWC, or, for one channel, with a Reshape). The
	// logits in the output's layout are the activation's input put through
	// the same nodes: an elementwise Sigmoid commutes with both, a Softmax
	// with a Transpose once its axis is permuted.
	after []*onnxpb.NodeProto
}

// maxLayoutNodes bounds the layout nodes followed between an activation head
// and the output.
const maxLayoutNodes = 8

// activation finds what produces the output name of rank rank (-1: unknown).
func (ix *graphIndex) activation(name string, rank int) activationInfo {
	info := activationInfo{axis: -1}
	n := ix.producer[name]
	var after []*onnxpb.NodeProto // outermost first
	var first *onnxpb.NodeProto   // the producer after Identities
	for depth := 0; n != nil && depth < 64; depth++ {
		op := n.GetOpType()
		if isDefaultDomain(n.GetDomain()) && op == "Identity" && len(n.GetInput()) == 1 {
			n = ix.producer[n.GetInput()[0]]
			continue
		}
		if first == nil {
			first = n
		}
		if !isDefaultDomain(n.GetDomain()) || len(n.GetInput()) == 0 || n.GetInput()[0] == "" {
			break
		}
		if (op == "Transpose" || op == "Reshape") && len(after) < maxLayoutNodes {
			after = append(after, n)
			n = ix.producer[n.GetInput()[0]]
			continue
		}
		break
	}
	info.node = first
	if n == nil || !isDefaultDomain(n.GetDomain()) || len(n.GetInput()) == 0 || n.GetInput()[0] == "" {
		return info
	}
	slices.Reverse(after)
	switch n.GetOpType() {
	case "Sigmoid":
		info.op, info.logits = "Sigmoid", n.GetInput()[0]
	case "Softmax", "LogSoftmax":
		axis := int64(-1) // the default from opset 13 on
		for _, a := range n.GetAttribute() {
			if a.GetName() == "axis" {
				axis = a.GetI()
			}
		}
		for _, m := range after {
			if m.GetOpType() != "Transpose" {
				// A Reshape may merge or split the class axis: the
				// output is not a softmax over one of its axes.
				return info
			}
		}
		info.op, info.logits = n.GetOpType(), n.GetInput()[0]
		if rank > 0 {
			if axis < 0 {
				axis += int64(rank)
			}
			for _, m := range after {
				axis = permutedAxis(m, axis, rank)
			}
			if axis >= 0 && axis < int64(rank) {
				info.axis = int(axis)
			}
		}
	default:
		return info
	}
	info.node, info.after = n, after
	return info
}

// permutedAxis returns the axis of a Transpose's output that holds axis of
// its input (of rank rank), or -1.
func permutedAxis(t *onnxpb.NodeProto, axis int64, rank int) int64 {
	var perm []int64
	for _, a := range t.GetAttribute() {
		if a.GetName() == "perm" {
			perm = a.GetInts()
		}
	}
	if perm == nil { // the default reverses the axes
		for i := rank - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	for j, p := range perm {
		if p == axis {
			return int64(j)
		}
	}
	return -1
}

// fixedDim returns the size of the value's dimension at axis when the model
// fixes it, or -1. It reads the value's declared type first; when that has
// no fixed size there (PyTorch, for example, declares the class axis of an
// upsampled output symbolic), it walks back through operations that keep the
// dimension (activations, Resize, Transpose with its permutation,
// broadcasting arithmetic, ...) to a declared type or to the weights of the
// Conv that made it.
func (ix *graphIndex) fixedDim(name string, axis int) int64 {
	return ix.fixedDimDepth(name, axis, 0)
}

// fixedDimDepth is fixedDim at depth steps from the value first asked
// about: each value and axis is worked out once (see graphIndex.dims).
func (ix *graphIndex) fixedDimDepth(name string, axis, depth int) int64 {
	if depth > maxWalk || axis < 0 {
		return -1
	}
	k := dimKey{name, axis}
	if d, ok := ix.dims[k]; ok {
		if d == walking {
			return -1
		}
		return d
	}
	ix.dims[k] = walking
	d := ix.walkDim(name, axis, depth)
	ix.dims[k] = d
	return d
}

// shapePreserving lists unary operations whose output has the shape of their
// first input.
var shapePreserving = map[string]bool{
	"Identity": true, "Sigmoid": true, "Softmax": true, "LogSoftmax": true, "Relu": true, "LeakyRelu": true,
	"Tanh": true, "Cast": true, "Clip": true, "Dropout": true, "Neg": true, "Exp": true, "Log": true, "Abs": true,
	"Sqrt": true, "Erf": true, "HardSigmoid": true, "HardSwish": true, "Elu": true, "Selu": true, "Softplus": true,
	"Softsign": true, "BatchNormalization": true, "InstanceNormalization": true, "Gelu": true, "Mish": true,
	"PRelu": true, "Resize": true, "Upsample": true, "CastLike": true, "Reciprocal": true, "Celu": true,
	"ThresholdedRelu": true,
}

// broadcasting lists operations whose output broadcasts their inputs.
var broadcasting = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Max": true, "Min": true,
	"Sum": true, "Mean": true, "Where": true, "Pow": true}

// walkDim works out fixedDim of one value and axis from the value's
// declared type, its initializer or the operation that produces it.
func (ix *graphIndex) walkDim(name string, axis, depth int) int64 {
	if tt := ix.types[name]; tt != nil && tt.GetShape() != nil {
		dims := tt.GetShape().GetDim()
		if axis < len(dims) {
			if v, ok := dims[axis].GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue >= 0 {
				return v.DimValue
			}
		}
	}
	if t := ix.inits[name]; t != nil {
		if axis < len(t.GetDims()) {
			return t.GetDims()[axis]
		}
		return -1
	}
	n := ix.producer[name]
	if n == nil || !isDefaultDomain(n.GetDomain()) || len(n.GetInput()) == 0 {
		return -1
	}
	in := n.GetInput()
	op := n.GetOpType()
	switch {
	case shapePreserving[op]:
		return ix.fixedDimDepth(in[0], axis, depth+1)
	case op == "Transpose":
		var perm []int64
		for _, a := range n.GetAttribute() {
			if a.GetName() == "perm" {
				perm = a.GetInts()
			}
		}
		if axis < len(perm) {
			return ix.fixedDimDepth(in[0], int(perm[axis]), depth+1)
		}
	case broadcasting[op]:
		// A size above 1 decides; 1 only when every input has 1 there
		// (an input without the axis broadcasts like 1).
		rank := ix.rank(name)
		allOne := true
		for _, x := range in {
			if x == "" {
				continue
			}
			xr := ix.rank(x)
			if rank < 0 || xr < 0 {
				// Without declared ranks (an exporter that wrote no
				// value_info), read the input as one of the same rank,
				// as the feature maps a head adds together are: only a
				// size above 1 there decides.
				allOne = false
				if d := ix.fixedDimDepth(x, axis, depth+1); d > 1 {
					return d
				}
				continue
			}
			a := axis - (rank - xr)
			if a < 0 {
				continue
			}
			switch d := ix.fixedDimDepth(x, a, depth+1); {
			case d > 1:
				return d
			case d != 1:
				allOne = false
			}
		}
		if allOne {
			return 1
		}
	case op == "Conv" && axis == 1 && len(in) >= 2:
		if w := ix.inits[in[1]]; w != nil && len(w.GetDims()) > 0 {
			return w.GetDims()[0]
		}
		return ix.fixedDimDepth(in[1], 0, depth+1)
	case op == "ConvTranspose" && axis == 1 && len(in) >= 2:
		group := int64(1)
		for _, a := range n.GetAttribute() {
			if a.GetName() == "group" {
				group = a.GetI()
			}
		}
		if w := ix.inits[in[1]]; w != nil && len(w.GetDims()) > 1 {
			return w.GetDims()[1] * group
		}
	}
	return -1
}

// rank returns the declared rank of a value, or -1.
func (ix *graphIndex) rank(name string) int {
	if tt := ix.types[name]; tt != nil && tt.GetShape() != nil {
		return len(tt.GetShape().GetDim())
	}
	if t := ix.inits[name]; t != nil {
		return len(t.GetDims())
	}
	return -1
}

// layoutGuess is what the model says about an output's class axis.
type layoutGuess struct {
	layout   string // "nchw", "nhwc", or "" when nothing tells
	channels int64  // size of the class axis under layout, or -1
	why      string // how the layout was found
}

// guessLayout decides which axis of an output of rank rank holds the
// classes: the axis of a Softmax or LogSoftmax head decides; otherwise the
// axis whose size the model fixes (dim 1 or the last), the smaller one when
// both are fixed; otherwise the layout of the model's image input.
func (ix *graphIndex) guessLayout(name string, rank int, act activationInfo) layoutGuess {
	if rank < 3 {
		return layoutGuess{channels: -1}
	}
	last := rank - 1
	c1, cl := ix.fixedDim(name, 1), ix.fixedDim(name, last)
	pick := func(layout, why string) layoutGuess {
		c := c1
		if layout == "nhwc" {
			c = cl
		}
		return layoutGuess{layout: layout, channels: c, why: why}
	}
	if act.op == "Softmax" || act.op == "LogSoftmax" {
		switch act.axis {
		case 1:
			return pick("nchw", fmt.Sprintf("the %s is over axis 1", act.op))
		case last:
			return pick("nhwc", fmt.Sprintf("the %s is over the last axis", act.op))
		}
	}
	switch {
	case c1 > 0 && cl <= 0:
		return pick("nchw", fmt.Sprintf("dim 1 is fixed (%d) and the last is not", c1))
	case cl > 0 && c1 <= 0:
		return pick("nhwc", fmt.Sprintf("the last dim is fixed (%d) and dim 1 is not", cl))
	case c1 > 0 && cl > 0 && cl < c1:
		return pick("nhwc", fmt.Sprintf("the last dim (%d) is smaller than dim 1 (%d)", cl, c1))
	case c1 > 0 && cl > 0:
		return pick("nchw", fmt.Sprintf("dim 1 (%d) is not larger than the last dim (%d)", c1, cl))
	}
	// Nothing fixed at either end: follow the image input's layout.
	for _, in := range ix.g.GetInput() {
		if _, isInit := ix.inits[in.GetName()]; isInit {
			continue
		}
		r := ix.rank(in.GetName())
		if r != rank {
			continue
		}
		i1, il := ix.fixedDim(in.GetName(), 1), ix.fixedDim(in.GetName(), r-1)
		if il > 0 && il <= 4 && i1 <= 0 {
			return pick("nhwc", fmt.Sprintf("neither end of the output is fixed and the input %q is channels-last", in.GetName()))
		}
		if i1 > 0 && i1 <= 4 && il <= 0 {
			return pick("nchw", fmt.Sprintf("neither end of the output is fixed and the input %q is channels-first", in.GetName()))
		}
	}
	return layoutGuess{channels: -1}
}

// shapeString formats a declared tensor shape, such as [batch 3 height width].
func shapeString(tt *onnxpb.TypeProto_Tensor) string {
	if tt == nil || tt.GetShape() == nil {
		return "[unknown rank]"
	}
	return builder.ShapeFromProto(tt.GetShape()).String()
}

// dimStrings lists a shape's dimensions: sizes, symbolic names, or "?".
func dimStrings(tt *onnxpb.TypeProto_Tensor) []string {
	if tt == nil || tt.GetShape() == nil {
		return nil
	}
	out := []string{}
	for _, d := range tt.GetShape().GetDim() {
		switch v := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			out = append(out, fmt.Sprint(v.DimValue))
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			out = append(out, v.DimParam)
		default:
			out = append(out, "?")
		}
	}
	return out
}
