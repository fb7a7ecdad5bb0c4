package builder

import (
	"fmt"
	"strings"

	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// subgraph is what a loop body knows beyond an ordinary Graph: the graph it
// is nested in and the outer values it reads.
type subgraph struct {
	parent *Graph
	loop   string // the Loop node's name, for the names of the body's inputs
	// captured maps an outer value to its stand-in in the body; order lists
	// the outer values in the order they were captured. A stand-in is an
	// input of the body after the carried ones: Loop passes the outer value
	// in as an extra loop-carried value that the body returns unchanged, so
	// that the body reads nothing of the enclosing scope implicitly.
	captured map[*Value]*Value
	order    []*Value
	// implicit says the body reads captured values by their outer names,
	// as If's branches do (they have no inputs): a captured value is a
	// stand-in without a node that the emitter names after the outer value.
	implicit bool
	// ownStates says the body returns its captured values itself (a Scan
	// body, through Identity: ONNX Runtime's Scan loses a state variable
	// whose output names its input); a Loop body returns each under its
	// input's name, added when the body is emitted.
	ownStates bool
}

// LoopBody is the body of a Loop while Loop builds it. Operations on the body's
// values (Iter, Carried, captured values and whatever is computed from them)
// add nodes to the body graph G, with the same functions as everywhere else.
type LoopBody struct {
	// G is the body graph. Constants for the body are made on it:
	// Scalar(b.G, ...); ConstAs(x, ...) does that by itself for body values.
	G *Graph
	// Iter is the iteration number, an int64 scalar counting from 0.
	Iter *Value
	// Carried holds the loop-carried values at the start of the iteration.
	Carried []*Value
}

// Capture returns a stand-in for an outer value v (a value of the graph the
// loop is in, or of any graph enclosing it) that body operations can use.
// Capturing the same value twice returns the same stand-in; a body value is
// returned unchanged. A constant is made again in the body; any other outer
// value becomes an input of the Loop node, carried through every iteration
// unchanged (ONNX passes a carried value on without copying it), so the
// body reads no value of an enclosing scope implicitly. ONNX Runtime's
// gradient builder (training artifacts) fails on Loops with such implicit
// inputs.
func (b *LoopBody) Capture(v *Value) *Value { return b.G.capture(v) }

func (g *Graph) capture(v *Value) *Value {
	if !g.checkOuter("Capture", v) {
		return g.placeholder(tensor.Float32, nil)
	}
	if v.g == g {
		return v
	}
	if g.sub == nil {
		g.Fail("Capture: %v belongs to a graph that does not enclose this one", v)
		return g.placeholder(v.dtype, v.shape)
	}
	if v.konst != nil && v.extName == "" && v.node != nil && v.node.op == "Constant" {
		return ConstTensor(g, v.konst)
	}
	outer := v
	if v.g != g.sub.parent {
		outer = g.sub.parent.capture(v) // the enclosing body carries it in first
		if g.sub.parent.err != nil {
			g.Fail("Capture: %v", g.sub.parent.err)
			return g.placeholder(v.dtype, v.shape)
		}
	}
	if in, ok := g.sub.captured[outer]; ok {
		return in
	}
	if g.sub.implicit {
		in := g.newValue(outer.dtype, outer.shape.Clone())
		in.konst, in.sym = outer.konst, outer.sym
		g.sub.captured[outer] = in
		g.sub.order = append(g.sub.order, outer)
		return in
	}
	in := g.Input(fmt.Sprintf("%s_captured_in_%d", g.sub.loop, len(g.sub.order)), outer.dtype, outer.shape)
	in.konst = outer.konst
	in.sym = outer.sym
	g.sub.captured[outer] = in
	g.sub.order = append(g.sub.order, outer)
	return in
}

// checkOuter is check for operands that may belong to an enclosing graph.
func (g *Graph) checkOuter(op string, v *Value) bool {
	if g.err != nil {
		return false
	}
	if v == nil {
		g.Fail("%s: operand is nil", op)
		return false
	}
	if v.bad {
		g.Fail("%s: operand comes from a failed operation", op)
		return false
	}
	for h := g; h != nil; h = h.parentGraph() {
		if v.g == h {
			return true
		}
	}
	g.Fail("%s: %v belongs to a graph that does not enclose this one", op, v)
	return false
}

func (g *Graph) parentGraph() *Graph {
	if g.sub == nil {
		return nil
	}
	return g.sub.parent
}

// Loop adds an ONNX Loop node to g. maxTrips (an int64 scalar, nil for no
// limit) bounds the number of iterations and cond (a bool scalar, nil for
// true) says whether the first iteration runs. Each iteration calls nothing
// at run time: body is called once, now, to build the body graph from the
// LoopBody it receives; it returns the condition for the next iteration (a
// bool scalar; nil means true) and the next values of the carried ones, with
// the same types. Outer values enter the body through LoopBody.Capture; body
// results that are outer values are captured automatically. The emitted
// Loop takes every captured value as an extra loop-carried input after the
// carried ones, which the body returns unchanged and whose final values
// nothing reads: the body reads no outer value implicitly.
//
// Loop returns the carried values after the last iteration, or the initial
// values when no iteration runs. It carries no gradient: automatic
// differentiation treats the node as a stop, like StopGradient, so use it on
// label-side values only (ONNX Runtime's gradient builder cannot cross a
// Loop either).
func Loop(g *Graph, maxTrips, cond *Value, carried []*Value, body func(b *LoopBody) (next *Value, carried []*Value)) []*Value {
	fail := func(format string, args ...any) []*Value {
		g.Fail("Loop: "+format, args...)
		out := make([]*Value, len(carried))
		for i, c := range carried {
			if c != nil {
				out[i] = g.placeholder(c.dtype, c.shape)
			} else {
				out[i] = g.placeholder(tensor.Float32, nil)
			}
		}
		return out
	}
	if g.err != nil {
		return fail("graph already failed")
	}
	ins := []*Value{maxTrips, cond}
	for i, v := range ins {
		if v == nil {
			continue
		}
		if !g.check("Loop", v) {
			return fail("operand %d is unusable", i)
		}
		want := tensor.Int64
		if i == 1 {
			want = tensor.Bool
		}
		if v.dtype != want || v.Rank() != 0 {
			return fail("operand %d must be a %v scalar, got %v", i, want, v)
		}
	}
	if !g.check("Loop", carried...) {
		return fail("a carried value is unusable")
	}
	name := g.nodeName("Loop")
	// Body nodes are named under the Loop's name, from the counters of the
	// whole model, so every name stays unique across nested graphs.
	b := &Graph{
		name: name + "_body", opset: g.opset, counts: g.counts, taken: g.taken, consts: map[string]*Value{},
		scope: append(append([]string{}, g.scope...), name[strings.LastIndex(name, "/")+1:]),
		sub:   &subgraph{parent: g, loop: name, captured: map[*Value]*Value{}},
	}
	lb := &LoopBody{G: b}
	lb.Iter = b.Input(name+"_iter", tensor.Int64, Shape{})
	b.Input(name+"_cond_in", tensor.Bool, Shape{})
	for i, c := range carried {
		lb.Carried = append(lb.Carried, b.Input(fmt.Sprintf("%s_carried_in_%d", name, i), c.dtype, c.shape))
	}
	next, outs := body(lb)
	if b.err != nil {
		g.Fail("%v", b.err)
		return fail("body failed")
	}
	if len(outs) != len(carried) {
		return fail("body returned %d carried values for %d", len(outs), len(carried))
	}
	if next == nil {
		next = ConstTensor(b, &tensor.Tensor{DType: tensor.Bool, Data: []bool{true}})
	}
	next = b.capture(next)
	if next.dtype != tensor.Bool || next.Rank() != 0 {
		return fail("body condition must be a bool scalar, got %v", next)
	}
	b.Output(name+"_cond_out", next)
	shapes := make([]outSpec, len(outs))
	for i, o := range outs {
		o = b.capture(o)
		if b.err != nil {
			break
		}
		if o.dtype != carried[i].dtype {
			return fail("body returned %v for carried value %d of type %v", o, i, carried[i].dtype)
		}
		b.Output(fmt.Sprintf("%s_carried_out_%d", name, i), o)
		shape := carried[i].shape.Clone()
		if !o.shape.Equal(shape) {
			shape = mergeShapes(shape, o.shape)
		}
		shapes[i] = outSpec{o.dtype, shape}
	}
	if b.err != nil {
		g.Fail("%v", b.err)
		return fail("body failed")
	}
	// Captured values follow the carried ones: the body returns each
	// unchanged (subgraphAttr emits those outputs), and the Loop's final
	// values of them are not used.
	inputs := append([]*Value{maxTrips, cond}, carried...)
	for _, outer := range b.sub.order {
		inputs = append(inputs, outer)
		shapes = append(shapes, outSpec{outer.dtype, outer.shape.Clone()})
	}
	n := &Node{op: "Loop", name: name, inputs: inputs, attrs: map[string]any{"body": b}, stopGrad: true}
	for i, o := range shapes {
		v := g.newValue(o.dtype, o.shape)
		v.node = n
		v.index = i
		n.outputs = append(n.outputs, v)
	}
	g.nodes = append(g.nodes, n)
	return append([]*Value{}, n.outputs[:len(carried)]...)
}

// mergeShapes keeps what two shapes of one loop-carried value agree on.
func mergeShapes(a, b Shape) Shape {
	if len(a) != len(b) {
		return nil
	}
	out := a.Clone()
	for i := range out {
		if !a[i].sameAs(b[i]) {
			out[i] = UnknownDim
		}
	}
	return out
}

// subgraphAttr emits a nested graph (a Loop body) as a GRAPH attribute. Names
// are unique across the whole model: the body's emitter shares the set of
// names in use. A body's captured values, inputs after the carried ones,
// are its last outputs, under their input names: a graph output may name a
// graph input, which passes the value on without an Identity's copy.
func (e *emitter) subgraphAttr(name string, sub *Graph) (*onnxpb.AttributeProto, error) {
	if sub.err != nil {
		return nil, sub.err
	}
	ce := &emitter{g: sub, names: map[*Value]string{}, used: e.used, parent: e}
	if sub.sub != nil && sub.sub.implicit {
		for _, outer := range sub.sub.order {
			name, ok := e.lookup(outer)
			if !ok {
				return nil, fmt.Errorf("graph %q: a branch reads a value of %q that no node produces", sub.name, e.g.name)
			}
			ce.names[sub.sub.captured[outer]] = name
		}
	}
	gp, err := ce.emit()
	if err != nil {
		return nil, err
	}
	if sub.sub != nil && !sub.sub.ownStates && !sub.sub.implicit {
		for _, outer := range sub.sub.order {
			in := sub.sub.captured[outer]
			gp.Output = append(gp.Output, ValueInfo(in.inputName, in.dtype, in.shape))
		}
	}
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: gp}, nil
}

// lookup finds the name an enclosing graph's emitter gave to v.
func (e *emitter) lookup(v *Value) (string, bool) {
	for ; e != nil; e = e.parent {
		if name, ok := e.names[v]; ok {
			return name, true
		}
	}
	return "", false
}
