package builder

import (
	"fmt"

	"github.com/onnxloss/onnxloss/tensor"
)

// If adds an ONNX If node to g: at run time it runs one of two branches,
// then when cond (a bool scalar) holds and otherwise els, and returns that
// branch's outputs. Each branch is called once, now, to build its graph; the
// two must return as many values, of the same types. Branch operations
// read outer values through Capture on the branch graph they receive (a
// branch has no inputs: it reads them by their names in the enclosing
// graph); branch results that are outer values are captured automatically.
// Where the branches' shapes of an output differ, its shape keeps what they
// agree on.
//
// If carries no gradient: automatic differentiation treats the node as a
// stop. A branch that needs a gradient computes it inside.
func If(g *Graph, cond *Value, then, els func(b *Graph) []*Value) []*Value {
	if g.err != nil {
		return nil
	}
	if !g.check("If", cond) {
		return nil
	}
	if cond.dtype != tensor.Bool || cond.Rank() != 0 {
		g.Fail("If: condition must be a bool scalar, got %v", cond)
		return nil
	}
	name := g.nodeName("If")
	branch := func(label string, build func(b *Graph) []*Value) (*Graph, []*Value) {
		// A branch's nodes and values are named in g's scope, as if they
		// were g's own: the names shared by the model keep them unique.
		b := &Graph{
			name: name + "_" + label, opset: g.opset, counts: g.counts, taken: g.taken, consts: map[string]*Value{},
			scope: append([]string{}, g.scope...),
			sub:   &subgraph{parent: g, loop: name, captured: map[*Value]*Value{}, implicit: true},
		}
		outs := build(b)
		for i, o := range outs {
			if o == nil {
				b.Fail("If: %s branch output %d is nil", label, i)
				break
			}
			outs[i] = b.capture(o)
		}
		if b.err != nil {
			return b, nil
		}
		for i, o := range outs {
			b.Output(fmt.Sprintf("%s_%s_out_%d", name, label, i), o)
		}
		return b, outs
	}
	tb, touts := branch("then", then)
	if tb.err != nil {
		g.Fail("%v", tb.err)
		return nil
	}
	eb, eouts := branch("else", els)
	if eb.err != nil {
		g.Fail("%v", eb.err)
		return nil
	}
	if len(touts) != len(eouts) || len(touts) == 0 {
		g.Fail("If: the branches return %d and %d values", len(touts), len(eouts))
		return nil
	}
	n := &Node{op: "If", name: name, inputs: []*Value{cond}, stopGrad: true,
		attrs: map[string]any{"then_branch": tb, "else_branch": eb}}
	for _, b := range []*Graph{tb, eb} {
		n.implicit = append(n.implicit, b.sub.order...)
	}
	for i := range touts {
		if touts[i].dtype != eouts[i].dtype {
			g.Fail("If: output %d is %v in one branch and %v in the other", i, touts[i].dtype, eouts[i].dtype)
			return nil
		}
		shape := touts[i].shape.Clone()
		if !touts[i].shape.Equal(eouts[i].shape) {
			shape = mergeShapes(touts[i].shape, eouts[i].shape)
		}
		v := g.newValue(touts[i].dtype, shape)
		v.node = n
		v.index = i
		n.outputs = append(n.outputs, v)
	}
	g.nodes = append(g.nodes, n)
	return append([]*Value{}, n.outputs...)
}

// Capture returns a stand-in for an outer value v that operations in g, a
// branch of If (or a Loop or Scan body), can use; see LoopBody.Capture.
func (g *Graph) Capture(v *Value) *Value { return g.capture(v) }
