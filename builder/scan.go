package builder

import (
	"fmt"
	"strings"
)

// ScanBody is the body of a Scan while Scan builds it. Operations on its
// values add nodes to the body graph G, as for a LoopBody.
type ScanBody struct {
	// G is the body graph.
	G *Graph
	// Slices holds each scanned value at the current index of its axis 0,
	// that axis removed.
	Slices []*Value
}

// Capture returns a stand-in for an outer value v that body operations can
// use (see LoopBody.Capture): Scan passes it in as a state variable that
// the body returns unchanged.
func (b *ScanBody) Capture(v *Value) *Value { return b.G.capture(v) }

// Scan adds an ONNX Scan node to g that runs a body once for each index of
// axis 0 of the scanned values, which must all have the same length there.
// body is called once, now, to build the body graph from the ScanBody it
// receives; it returns the body's outputs, and Scan returns each stacked
// along a new axis 0. ONNX Runtime hands the body each slice without a copy
// and writes its outputs into their place in the stacked result, so a body
// whose intermediates fit in the processor's cache runs in it.
//
// Outer values enter the body through ScanBody.Capture; body outputs that
// are outer values are captured automatically. Captured values are state
// variables of the Scan, before the scanned inputs, which the body returns
// unchanged and whose final values nothing reads.
//
// Scan carries no gradient: automatic differentiation treats the node as a
// stop, like StopGradient. A body that needs a gradient computes it inside,
// with Gradient on its own values, and returns it as an output.
func Scan(g *Graph, scanned []*Value, body func(b *ScanBody) []*Value) []*Value {
	fail := func(format string, args ...any) []*Value {
		g.Fail("Scan: "+format, args...)
		return nil
	}
	if g.err != nil {
		return nil
	}
	if len(scanned) == 0 {
		return fail("no scanned values")
	}
	if !g.check("Scan", scanned...) {
		return fail("a scanned value is unusable")
	}
	for i, v := range scanned {
		if v.Rank() < 1 {
			return fail("scanned value %d is a scalar", i)
		}
	}
	name := g.nodeName("Scan")
	b := &Graph{
		name: name + "_body", opset: g.opset, counts: g.counts, taken: g.taken, consts: map[string]*Value{},
		scope: append(append([]string{}, g.scope...), name[strings.LastIndex(name, "/")+1:]),
		sub:   &subgraph{parent: g, loop: name, captured: map[*Value]*Value{}, ownStates: true},
	}
	sb := &ScanBody{G: b}
	for i, v := range scanned {
		sb.Slices = append(sb.Slices, b.Input(fmt.Sprintf("%s_slice_in_%d", name, i), v.dtype, v.shape[1:].Clone()))
	}
	outs := body(sb)
	if b.err != nil {
		g.Fail("%v", b.err)
		return fail("body failed")
	}
	if len(outs) == 0 {
		return fail("body returned no outputs")
	}
	specs := make([]outSpec, len(outs))
	for i, o := range outs {
		outs[i] = b.capture(o)
		if b.err != nil {
			g.Fail("%v", b.err)
			return fail("body failed")
		}
		specs[i] = outSpec{outs[i].dtype, append(Shape{scanned[0].shape[0]}, outs[i].shape.Clone()...)}
	}
	// The body's inputs and outputs in ONNX order: the states (captured
	// values), then the slices and the stacked outputs. A state is returned
	// through an Identity: ONNX Runtime's Scan loses a state whose body
	// output names the body input (only scalars and small values are
	// captured here; an Identity copies them).
	for i, outer := range b.sub.order {
		b.Output(fmt.Sprintf("%s_state_out_%d", name, i), Identity(b.sub.captured[outer]))
	}
	for i, o := range outs {
		b.Output(fmt.Sprintf("%s_out_%d", name, i), o)
	}
	if b.err != nil {
		g.Fail("%v", b.err)
		return fail("body failed")
	}
	b.inputs = append(append([]*Value{}, b.inputs[len(scanned):]...), b.inputs[:len(scanned)]...)
	var inputs []*Value
	var states []outSpec
	for _, outer := range b.sub.order {
		inputs = append(inputs, outer)
		states = append(states, outSpec{outer.dtype, outer.shape.Clone()})
	}
	inputs = append(inputs, scanned...)
	n := &Node{op: "Scan", name: name, inputs: inputs, stopGrad: true,
		attrs: map[string]any{"body": b, "num_scan_inputs": int64(len(scanned))}}
	for i, o := range append(states, specs...) {
		v := g.newValue(o.dtype, o.shape)
		v.node = n
		v.index = i
		n.outputs = append(n.outputs, v)
	}
	g.nodes = append(g.nodes, n)
	return append([]*Value{}, n.outputs[len(states):]...)
}
