// Package builder writes ONNX graphs from Go code that reads like the formula.
//
// A Graph collects nodes; every operation is a plain function over Values
// (Add(x, y), ReduceSum(x, false, 2, 3)), and a Value knows its graph, its
// element type and its shape. Shapes and types are inferred as nodes are
// added, so a wrong axis or a type mismatch is reported when the graph is
// built, with the op, the scope and the shapes in the message, not later
// inside ONNX Runtime.
//
// Errors are sticky: the first error is kept, later operations become no-ops
// that return a placeholder Value, and Graph.Err (or Graph.Proto) returns it.
// Callers therefore write straight-line code and check once.
//
// Node and value names are deterministic and scoped (Graph.Scope), so the same
// Go code always produces the same graph, byte for byte. Name gives a value,
// and the node that computes it, a name that says what it holds
// (dice/intersection) for readers of the graph; other values keep generated
// names (dice/Mul_0).
//
// Operations are emitted for the graph's opset (13 to 21): for example the
// axes of ReduceMean become an input from opset 18 on. Code that builds
// graphs never deals with that.
package builder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/tensor"
)

// Supported opset range of the default ONNX domain.
const (
	MinOpset     = 13
	MaxOpset     = 21
	DefaultOpset = 17
)

// IRVersion returns the ONNX IR version that goes with an opset of the
// default domain: the version introduced by the ONNX release that introduced
// the opset, so that the oldest runtime able to run the opset accepts the file.
func IRVersion(opset int) int64 {
	switch {
	case opset <= 14:
		return 7
	case opset <= 18:
		return 8
	case opset <= 20:
		return 9
	case opset <= 22:
		return 10
	}
	return 11
}

// Graph is an ONNX graph under construction. It is not safe for concurrent use.
type Graph struct {
	name    string
	opset   int
	doc     string
	nodes   []*Node
	inputs  []*Value
	outputs []namedValue
	err     error
	scope   []string
	counts  map[string]int
	taken   map[string]bool // node and value names given so far, shared with Loop bodies
	consts  map[string]*Value
	nvalues int
	sub     *subgraph // set on a Loop body (loop.go): its enclosing graph and captured values
}

type namedValue struct {
	name string
	v    *Value
}

// Value is the result of an operation, or a graph input.
type Value struct {
	g     *Graph
	id    int
	dtype tensor.DType
	shape Shape
	node  *Node // producer; nil for graph inputs and placeholders
	index int   // which output of node

	inputName string         // set for graph inputs
	name      string         // set by Name: what the value holds, with its scope
	label     string         // the name given to Name, without the scope
	extName   string         // set for external values (external.go)
	konst     *tensor.Tensor // known value, for constants
	sym       []Dim          // for 1-D int64 values holding dimensions (from Shape)
	bad       bool           // placeholder returned after an error
}

// Node is one ONNX operation in the graph.
type Node struct {
	op      string
	name    string
	doc     string   // doc_string, set by Doc
	inputs  []*Value // nil entries are omitted optional inputs
	outputs []*Value
	attrs   map[string]any // int64, float32, string, []int64, []float32, *tensor.Tensor
	// axes of Reduce* ops are kept here and emitted as an attribute or an
	// input depending on the opset.
	reduceAxes []int64
	hasAxes    bool
	stopGrad   bool        // StopGradient: an Identity that autodiff does not cross
	passGrad   bool        // the gradient of input 0 is the cotangent itself (After, ClipStraightThrough)
	external   bool        // a node of the model the graph joins (external.go): not emitted
	custom     *customGrad // WithGradient: the rule that replaces differentiating the formula
	// implicit lists the outer values that a node's subgraphs read by
	// name (If's branches): not inputs of the node, but needed before it.
	implicit []*Value
}

// NewGraph starts an empty graph for the given opset of the default domain.
// An opset outside MinOpset..MaxOpset makes the graph's error non-nil.
func NewGraph(name string, opset int) *Graph {
	g := &Graph{name: name, opset: opset, counts: map[string]int{}, taken: map[string]bool{}, consts: map[string]*Value{}}
	if opset < MinOpset || opset > MaxOpset {
		g.err = fmt.Errorf("opset %d is not supported (supported: %d to %d)", opset, MinOpset, MaxOpset)
	}
	return g
}

// Name returns the graph's name.
func (g *Graph) Name() string { return g.name }

// Opset returns the opset of the default domain the graph is built for.
func (g *Graph) Opset() int { return g.opset }

// SetDoc sets the graph's doc string.
func (g *Graph) SetDoc(doc string) { g.doc = doc }

// Err returns the first error met while building, or nil.
func (g *Graph) Err() error { return g.err }

// Fail records an error from code that builds on the graph (the first error
// wins). It is how composite helpers report invalid arguments.
func (g *Graph) Fail(format string, args ...any) {
	if g.err == nil {
		g.err = fmt.Errorf("%s%s", g.where(), fmt.Sprintf(format, args...))
	}
}

func (g *Graph) where() string {
	if len(g.scope) == 0 {
		return ""
	}
	return strings.Join(g.scope, "/") + ": "
}

// Scope opens a naming scope: nodes created until the returned function is
// called get names prefixed by name, and errors mention it. Use it as
//
//	defer g.Scope("dice")()
func (g *Graph) Scope(name string) func() {
	g.scope = append(g.scope, name)
	n := len(g.scope)
	return func() {
		if len(g.scope) >= n {
			g.scope = g.scope[:n-1]
		}
	}
}

// Input declares a graph input.
func (g *Graph) Input(name string, dt tensor.DType, shape Shape) *Value {
	if g.err != nil {
		return g.placeholder(dt, shape)
	}
	if name == "" {
		g.Fail("input with an empty name")
		return g.placeholder(dt, shape)
	}
	for _, in := range g.inputs {
		if in.inputName == name {
			g.Fail("input %q declared twice", name)
			return g.placeholder(dt, shape)
		}
	}
	v := g.newValue(dt, shape.Clone())
	v.inputName = name
	g.inputs = append(g.inputs, v)
	return v
}

// Output marks v as a graph output called name. Outputs keep the order in
// which they are declared.
func (g *Graph) Output(name string, v *Value) {
	if !g.check("Output", v) {
		return
	}
	if name == "" {
		g.Fail("output with an empty name")
		return
	}
	for _, o := range g.outputs {
		if o.name == name {
			g.Fail("output %q declared twice", name)
			return
		}
	}
	for _, in := range g.inputs {
		if in.inputName == name {
			g.Fail("output %q has the name of an input", name)
			return
		}
	}
	g.outputs = append(g.outputs, namedValue{name, v})
}

// Inputs returns the declared inputs in order.
func (g *Graph) Inputs() []*Value { return append([]*Value{}, g.inputs...) }

// InputByName returns the input called name, or nil.
func (g *Graph) InputByName(name string) *Value {
	for _, in := range g.inputs {
		if in.inputName == name {
			return in
		}
	}
	return nil
}

// OutputNames returns the declared output names in order.
func (g *Graph) OutputNames() []string {
	names := make([]string, len(g.outputs))
	for i, o := range g.outputs {
		names[i] = o.name
	}
	return names
}

// OutputValue returns the value of the output called name, or nil.
func (g *Graph) OutputValue(name string) *Value {
	for _, o := range g.outputs {
		if o.name == name {
			return o.v
		}
	}
	return nil
}

// NumNodes returns the number of nodes added so far.
func (g *Graph) NumNodes() int { return len(g.nodes) }

func (g *Graph) newValue(dt tensor.DType, shape Shape) *Value {
	g.nvalues++
	return &Value{g: g, id: g.nvalues, dtype: dt, shape: shape}
}

func (g *Graph) placeholder(dt tensor.DType, shape Shape) *Value {
	v := g.newValue(dt, shape)
	v.bad = true
	return v
}

// check verifies that the operands are usable and belong to g. It reports
// false when the operation must not be added.
func (g *Graph) check(op string, vs ...*Value) bool {
	if g.err != nil {
		return false
	}
	for i, v := range vs {
		if v == nil {
			g.Fail("%s: operand %d is nil", op, i)
			return false
		}
		if v.g != g {
			g.Fail("%s: operand %d belongs to another graph", op, i)
			return false
		}
		if v.bad {
			g.Fail("%s: operand %d comes from a failed operation", op, i)
			return false
		}
	}
	return true
}

func (g *Graph) nodeName(op string) string {
	key := g.scopePrefix() + op
	for {
		n := g.counts[key]
		g.counts[key] = n + 1
		name := key + "_" + strconv.Itoa(n)
		if !g.taken[name] {
			g.taken[name] = true
			return name
		}
	}
}

func (g *Graph) scopePrefix() string {
	if len(g.scope) == 0 {
		return ""
	}
	return strings.Join(g.scope, "/") + "/"
}

// outSpec describes one output of a node being added.
type outSpec struct {
	dtype tensor.DType
	shape Shape
}

// addNode appends a node whose inputs have already been checked.
func (g *Graph) addNode(op string, inputs []*Value, attrs map[string]any, outs ...outSpec) *Node {
	return g.addNamedNode(g.nodeName(op), op, inputs, attrs, outs...)
}

// addNamedNode is addNode with a name chosen by the caller.
func (g *Graph) addNamedNode(name, op string, inputs []*Value, attrs map[string]any, outs ...outSpec) *Node {
	n := &Node{op: op, name: name, inputs: inputs, attrs: attrs}
	for i, o := range outs {
		v := g.newValue(o.dtype, o.shape)
		v.node = n
		v.index = i
		n.outputs = append(n.outputs, v)
	}
	g.nodes = append(g.nodes, n)
	return n
}

// failf records an error for an operation and returns a placeholder.
func (g *Graph) failf(op string, format string, args ...any) *Value {
	g.Fail("%s: %s", op, fmt.Sprintf(format, args...))
	return g.placeholder(tensor.Float32, nil)
}

// Graph returns the graph the value belongs to.
func (v *Value) Graph() *Graph { return v.g }

// DType returns the element type.
func (v *Value) DType() tensor.DType { return v.dtype }

// Shape returns the inferred shape (a copy).
func (v *Value) Shape() Shape { return v.shape.Clone() }

// Rank returns the number of dimensions.
func (v *Value) Rank() int { return len(v.shape) }

// Dim returns the inferred dimension at axis (negative counts from the end).
func (v *Value) Dim(axis int) Dim {
	a, err := normAxis(axis, len(v.shape))
	if err != nil {
		return UnknownDim
	}
	return v.shape[a]
}

// Const returns the value's contents when it is a known constant, or nil.
func (v *Value) Const() *tensor.Tensor { return v.konst }

// IsInput reports whether the value is a graph input, and its name.
func (v *Value) IsInput() (string, bool) { return v.inputName, v.inputName != "" }

// String describes the value for error messages.
func (v *Value) String() string {
	if v.inputName != "" {
		return fmt.Sprintf("%s:%v%v", v.inputName, v.dtype, v.shape)
	}
	if v.node != nil {
		return fmt.Sprintf("%s:%v%v", v.node.name, v.dtype, v.shape)
	}
	return fmt.Sprintf("value%d:%v%v", v.id, v.dtype, v.shape)
}

// Op returns the ONNX op type of the node.
func (n *Node) Op() string { return n.op }

// Name returns the node's name.
func (n *Node) Name() string { return n.name }
