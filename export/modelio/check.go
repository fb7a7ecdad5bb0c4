package modelio

import (
	"errors"
	"fmt"

	"github.com/onnxloss/onnxloss/onnxpb"
)

// Check verifies a model's structure: an IR version and a default-domain
// opset are present, no domain is imported twice with different versions,
// every graph input and output is typed, every value is defined exactly once
// and before it is used, every output is produced, and every default-domain
// operator exists at the imported opset. Nested graphs (If, Loop, Scan) and
// model-local functions are checked too. It returns every problem found,
// joined.
func Check(m *onnxpb.ModelProto) error {
	c := &checker{}
	if m == nil || m.Graph == nil {
		return errors.New("model has no graph")
	}
	if m.GetIrVersion() < 3 {
		c.add("ir_version %d is missing or too old (onnxloss needs 3 or later)", m.GetIrVersion())
	}
	c.opsets = map[string]int64{}
	for _, o := range m.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if v, dup := c.opsets[d]; dup && v != o.GetVersion() {
			c.add("opset_import lists domain %q twice, with versions %d and %d", d, v, o.GetVersion())
		}
		c.opsets[d] = o.GetVersion()
	}
	if _, ok := c.opsets[""]; !ok {
		c.add("opset_import has no entry for the default ONNX domain")
	}
	c.functions = map[string]bool{}
	for _, f := range m.GetFunctions() {
		key := f.GetDomain() + "::" + f.GetName()
		if c.functions[key] {
			c.add("model-local function %s is defined twice", key)
		}
		c.functions[key] = true
	}
	c.graph(m.Graph, nil, "graph")
	for _, f := range m.GetFunctions() {
		c.function(f)
	}
	return errors.Join(c.errs...)
}

type checker struct {
	errs      []error
	opsets    map[string]int64
	functions map[string]bool
}

func (c *checker) add(format string, args ...any) {
	if len(c.errs) < 50 {
		c.errs = append(c.errs, fmt.Errorf(format, args...))
	}
}

// scope is the set of names visible in a graph, with its enclosing graphs.
type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.names[name] {
			return true
		}
	}
	return false
}

func (c *checker) graph(g *onnxpb.GraphProto, parent *scope, where string) {
	s := &scope{names: map[string]bool{}, parent: parent}
	define := func(name, what string) {
		if name == "" {
			c.add("%s: %s with an empty name", where, what)
			return
		}
		if s.names[name] {
			c.add("%s: value %q is defined more than once (again as %s)", where, name, what)
		}
		s.names[name] = true
	}
	for _, in := range g.GetInput() {
		if !typed(in) && parent == nil {
			c.add("%s: input %q has no tensor type", where, in.GetName())
		}
		if !s.names[in.GetName()] { // initializers may also be listed as inputs
			define(in.GetName(), "an input")
		}
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		if inits[t.GetName()] {
			c.add("%s: initializer %q is defined more than once", where, t.GetName())
		}
		inits[t.GetName()] = true
		s.names[t.GetName()] = true
	}
	for _, t := range g.GetSparseInitializer() {
		s.names[t.GetValues().GetName()] = true
	}
	for i, n := range g.GetNode() {
		label := fmt.Sprintf("%s: node %d (%s %q)", where, i, n.GetOpType(), n.GetName())
		for _, in := range n.GetInput() {
			if in != "" && !s.has(in) {
				c.add("%s uses %q before it is defined", label, in)
			}
		}
		c.op(n, label)
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				c.graph(a.GetG(), s, label+" attribute "+a.GetName())
			}
			for _, sub := range a.GetGraphs() {
				c.graph(sub, s, label+" attribute "+a.GetName())
			}
		}
		for _, out := range n.GetOutput() {
			if out != "" {
				define(out, "an output of "+label)
			}
		}
	}
	for _, out := range g.GetOutput() {
		if !typed(out) && parent == nil {
			c.add("%s: output %q has no tensor type", where, out.GetName())
		}
		if !s.has(out.GetName()) {
			c.add("%s: output %q is never produced", where, out.GetName())
		}
	}
}

func (c *checker) function(f *onnxpb.FunctionProto) {
	where := fmt.Sprintf("function %s::%s", f.GetDomain(), f.GetName())
	s := &scope{names: map[string]bool{}}
	for _, in := range f.GetInput() {
		s.names[in] = true
	}
	for i, n := range f.GetNode() {
		label := fmt.Sprintf("%s: node %d (%s)", where, i, n.GetOpType())
		for _, in := range n.GetInput() {
			if in != "" && !s.has(in) {
				c.add("%s uses %q before it is defined", label, in)
			}
		}
		c.op(n, label)
		for _, out := range n.GetOutput() {
			if out != "" {
				if s.names[out] {
					c.add("%s: value %q is defined more than once", where, out)
				}
				s.names[out] = true
			}
		}
	}
	for _, out := range f.GetOutput() {
		if !s.has(out) {
			c.add("%s: output %q is never produced", where, out)
		}
	}
}

// op checks that a node's operator is available where it is used.
func (c *checker) op(n *onnxpb.NodeProto, label string) {
	d := n.GetDomain()
	if d == "ai.onnx" {
		d = ""
	}
	if c.functions[d+"::"+n.GetOpType()] {
		return
	}
	v, ok := c.opsets[d]
	if !ok {
		c.add("%s: domain %q is not in opset_import", label, d)
		return
	}
	if d != "" {
		return // operators of other domains are the runtime's business
	}
	since, known := opIntroduced[n.GetOpType()]
	switch {
	case !known:
		c.add("%s: %q is not an operator of the default ONNX domain", label, n.GetOpType())
	case int64(since) > v:
		c.add("%s: %s needs opset %d, the model imports opset %d", label, n.GetOpType(), since, v)
	}
}

func typed(v *onnxpb.ValueInfoProto) bool {
	t := v.GetType().GetTensorType()
	if t != nil {
		return t.GetElemType() != 0
	}
	return v.GetType() != nil && v.GetType().GetValue() != nil
}
