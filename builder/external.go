package builder

import (
	"fmt"

	"github.com/onnxloss/onnxloss/tensor"
)

// External values and nodes stand for parts of a model that already exist
// outside the graph: the graph is built to be merged into that model, and
// refers to the model's values by their names. Recording the model's nodes
// as external nodes lets Gradient and VJP differentiate through them; the
// backward nodes they add read the model's values by name. Proto emits
// neither external values nor external nodes: the model has them.

// External declares a value that the model the graph will join computes (or
// holds as an initializer) under name. It is neither an input nor an output
// of the graph; nodes that read it refer to name. konst, when not nil, is its
// value, known at build time (an initializer or a constant of the model);
// rules that need constant operands (Slice bounds, Squeeze axes) read it.
func (g *Graph) External(name string, dt tensor.DType, shape Shape, konst *tensor.Tensor) *Value {
	if g.err != nil {
		return g.placeholder(dt, shape)
	}
	if name == "" {
		g.Fail("External: empty name")
		return g.placeholder(dt, shape)
	}
	v := g.newValue(dt, shape.Clone())
	v.extName = name
	if konst != nil {
		v.konst = konst.Clone()
		if konst.DType == tensor.Int64 && len(konst.Shape) == 1 {
			for _, x := range konst.Data.([]int64) {
				v.sym = append(v.sym, Fixed(x))
			}
		}
	}
	return v
}

// ExternalOutput describes one output of an external node.
type ExternalOutput struct {
	Name  string
	DType tensor.DType
	Shape Shape
	// Konst is the output's value when known at build time (the output of
	// a Constant), or nil.
	Konst *tensor.Tensor
}

// ExternalNode records a node of the model the graph will join: its op,
// attributes (int64, float32, string, []int64, []float32 or *tensor.Tensor,
// with ONNX's defaults filled in where gradient rules read them) and
// inputs, and its outputs under the model's names. The node is not emitted.
// "" in outs' names stands for an omitted optional output.
func (g *Graph) ExternalNode(op, name string, inputs []*Value, attrs map[string]any, outs []ExternalOutput) []*Value {
	live := make([]*Value, 0, len(inputs))
	for _, in := range inputs {
		if in != nil {
			live = append(live, in)
		}
	}
	if !g.check(op+" "+name, live...) {
		out := make([]*Value, len(outs))
		for i, o := range outs {
			out[i] = g.placeholder(o.DType, o.Shape)
		}
		return out
	}
	specs := make([]outSpec, len(outs))
	for i, o := range outs {
		specs[i] = outSpec{o.DType, o.Shape.Clone()}
	}
	n := g.addNamedNode(name, op, append([]*Value{}, inputs...), attrs, specs...)
	n.external = true
	for i, o := range outs {
		v := n.outputs[i]
		if o.Name == "" {
			v.extName = fmt.Sprintf("%s:unused%d", name, i)
			continue
		}
		v.extName = o.Name
		if o.Konst != nil {
			v.konst = o.Konst.Clone()
			if o.Konst.DType == tensor.Int64 && len(o.Konst.Shape) == 1 {
				for _, x := range o.Konst.Data.([]int64) {
					v.sym = append(v.sym, Fixed(x))
				}
			}
		}
	}
	return n.outputs
}

// ExternalName returns the model's name of an external value, or "".
func (v *Value) ExternalName() string { return v.extName }

// VJP adds the backward nodes of the vector-Jacobian product of output
// with the cotangent ct (a value of output's type that broadcasts to its
// shape) with respect to each value of wrt, and returns the products: for a
// scalar output and ct 1 they are Gradient's. The rules, the path and the
// errors are Gradient's; output need not be a scalar.
func VJP(output, ct *Value, wrt ...*Value) []*Value {
	if output == nil || ct == nil {
		panic("builder.VJP: nil output or cotangent") // programming error
	}
	return gradient(output, ct, wrt)
}
