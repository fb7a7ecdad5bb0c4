package builder

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxloss/onnxloss/tensor"
)

// Gradient adds to the graph the backward nodes that compute the gradient of
// output, a floating-point scalar, with respect to each value of wrt, and
// returns the gradients in order. Each gradient has the shape and type of its
// value.
//
// It is reverse-mode automatic differentiation over the graph's nodes: they
// are walked in reverse creation order (creation order is topological), and
// each node on a path from wrt to output adds its vector-Jacobian products to
// the cotangents of its inputs, which are summed where a value is used more
// than once. Values that do not depend on wrt get no backward nodes, and a
// shared subexpression is differentiated once.
//
// Gradients stop at StopGradient and at every edge that carries no gradient:
// non-float values (labels, indices, masks, shapes), casts to integer or bool
// types, comparisons, the indices output of TopK, and the non-data inputs of
// ops (the exponent of Pow, the bounds of Clip, the condition of Where). A
// value of wrt on which output does not depend gets a zero gradient.
//
// Where an op is not differentiable everywhere, the rule is PyTorch's: Relu
// and Abs have derivative 0 at 0; Clip passes the gradient where the input
// lies within the bounds, bounds included; Max and Min split the gradient
// evenly between tied operands (as ONNX Runtime does); TopK and Gather send
// it to the selected entries.
//
// The backward graph uses only standard ONNX ops that every opset from 13 to
// 21 has, and it is built in the graph's opset; it runs in any ONNX runtime.
// An op on the path without a gradient rule (ReduceMax, Floor, CumSum, ...)
// is an error, as is a non-scalar output; errors are sticky as for every
// operation, and the returned values are then placeholders.
func Gradient(output *Value, wrt ...*Value) []*Value {
	if output == nil {
		panic("builder.Gradient: nil output") // programming error, not a data error
	}
	return gradient(output, nil, wrt)
}

// gradient is Gradient with the cotangent of output given (VJP), or, for
// seed nil, 1 read through the output.
func gradient(output, seed *Value, wrt []*Value) []*Value {
	g := output.g
	bad := func() []*Value {
		out := make([]*Value, len(wrt))
		for i, w := range wrt {
			if w != nil && w.g == g {
				out[i] = g.placeholder(w.dtype, w.shape.Clone())
			} else {
				out[i] = g.placeholder(tensor.Float32, nil)
			}
		}
		return out
	}
	operands := append([]*Value{output}, wrt...)
	if seed != nil {
		operands = append(operands, seed)
	}
	if !g.check("Gradient", operands...) {
		return bad()
	}
	if !output.dtype.IsFloat() {
		g.Fail("Gradient: output %v is not a floating-point value", output)
		return bad()
	}
	if seed != nil && seed.dtype != output.dtype {
		g.Fail("VJP: cotangent %v does not have the type of output %v", seed, output)
		return bad()
	}
	for _, d := range output.shape {
		if seed == nil && (!d.Known() || d.Size != 1) {
			g.Fail("Gradient: output %v is not a scalar (reduce it first)", output)
			return bad()
		}
	}
	for i, w := range wrt {
		if !w.dtype.IsFloat() {
			g.Fail("Gradient: wrt[%d] %v is not a floating-point value", i, w)
			return bad()
		}
	}
	nodes := g.nodes[:len(g.nodes):len(g.nodes)]
	p := findPath(nodes, output, wrt, false, true)
	for _, n := range p.nodes {
		if vjpRules[n.op] == nil && n.custom == nil {
			g.Fail("Gradient: %s has no gradient rule, and %s lies on the path from %s to %v%s",
				n.op, n.name, describeValues(wrt), output, noRuleHint(n.op))
			return bad()
		}
	}
	defer g.Scope("grad")()
	ad := &autodiff{g: g, first: g.nvalues, firstNode: len(g.nodes), needed: p.needed, ct: map[*Value][]*Value{}, shapes: map[*Value]*Value{}, named: map[string]*Value{}}
	if p.needed[output] && seed != nil {
		ad.ct[output] = []*Value{rankUp(seed, output.Rank())}
	} else if p.needed[output] {
		shape := make([]int, output.Rank())
		for i := range shape {
			shape[i] = 1
		}
		// The seed is 1, read through the output (1 where it equals itself
		// and 1 where it is NaN), so that every backward node depends on
		// the output. ONNX Runtime orders nodes by a depth-first search
		// from the graph's outputs, the last created first: with a
		// constant seed the backward pass can run before the forward nodes
		// that only the output needs, and every value those read stays in
		// memory through the backward pass.
		one := ConstTensor(g, tensor.FromFloat64(shape, []float64{1}).Convert(output.dtype))
		ad.ct[output] = []*Value{Where(Equal(output, output), one, one)}
	}
	for i := len(p.nodes) - 1; i >= 0; i-- {
		n := p.nodes[i]
		ct := ad.cotangent(n.outputs[0])
		if ct == nil && !multiOutput[n.op] {
			continue // every contribution was zero
		}
		if multiOutput[n.op] && !ad.anyCotangent(n) {
			continue
		}
		need := make([]bool, len(n.inputs))
		for _, s := range diffSlots(n) {
			need[s] = n.inputs[s] != nil && p.needed[n.inputs[s]]
		}
		if n.custom != nil {
			need := make([]bool, len(n.custom.inputs))
			for i, in := range n.custom.inputs {
				need[i] = p.needed[in]
			}
			for i, c := range n.custom.rule(ct, need) {
				if c != nil && need[i] {
					ad.accumulate(n.custom.inputs[i], c)
				}
			}
			if g.err != nil {
				return bad()
			}
			continue
		}
		var contribs []*Value
		if n.passGrad {
			contribs = []*Value{ct}
		} else {
			contribs = vjpRules[n.op](ad, n, ct, need)
		}
		if g.err != nil {
			return bad()
		}
		for s, c := range contribs {
			if c != nil && need[s] {
				ad.accumulate(n.inputs[s], c)
			}
		}
	}
	ad.settle()
	out := make([]*Value, len(wrt))
	for i, w := range wrt {
		if c := ad.cotangent(w); c != nil {
			out[i] = ad.full(c, w)
		} else {
			out[i] = ad.zerosLike(w)
		}
		refineShape(out[i], w)
	}
	if g.err != nil {
		return bad()
	}
	return out
}

// refineShape gives a gradient the dimensions of its value where shape
// inference lost them (a transposed convolution's output, an Expand to a
// shape known only at run time): a gradient has its value's shape by
// construction, and a graph output declares it. A known size that differs
// is an internal error.
func refineShape(grad, w *Value) {
	if grad.Rank() != w.Rank() {
		grad.g.Fail("Gradient: the gradient of %v has rank %d", w, grad.Rank())
		return
	}
	for a, d := range grad.shape {
		e := w.shape[a]
		if d.Known() && e.Known() && d.Size != e.Size {
			grad.g.Fail("Gradient: the gradient of %v has shape %v", w, grad.shape)
			return
		}
	}
	if !grad.shape.Equal(w.shape) {
		grad.shape = w.shape.Clone()
	}
}

// DifferentiablePath returns the nodes, in creation order, through which a
// gradient of output flows back to wrt as ONNX Runtime's gradient builder
// (and other ONNX training tools) see the graph. There, StopGradient is an
// ordinary Identity and is crossed; only the edges that carry no gradient in
// any automatic differentiation stop it: non-float values, casts to integer
// or bool types, comparisons, shapes, indices, and the non-data inputs of
// ops. Every node returned needs a gradient for the graph to be trainable
// with those tools: see ORTGradientMissing. (DetachedMax is built that way: its
// maximum reaches the graph through a cast to int64, so no gradient of
// ReduceMax is ever needed.)
func DifferentiablePath(output *Value, wrt ...*Value) []*Node {
	return findPath(output.g.nodes, output, wrt, true, false).nodes
}

// GradientPath returns the nodes, in creation order, that Gradient(output,
// wrt...) differentiates: DifferentiablePath, except that StopGradient stops
// the gradient.
func GradientPath(output *Value, wrt ...*Value) []*Node {
	return findPath(output.g.nodes, output, wrt, false, true).nodes
}

// FormulaPath returns the nodes, in creation order, that Gradient would
// differentiate if no WithGradient rule stood in for a formula: GradientPath
// with the formulas' own nodes in place of their rules, or
// DifferentiablePath less the edges StopGradient detaches. A graph whose
// FormulaPath is its DifferentiablePath gets the same gradient from other
// training tools as from Gradient, provided each rule is its formula's
// derivative.
func FormulaPath(output *Value, wrt ...*Value) []*Node {
	return findPath(output.g.nodes, output, wrt, false, false).nodes
}

// HasGradientRule reports whether Gradient can differentiate through op.
func HasGradientRule(op string) bool { return vjpRules[op] != nil }

// ortMissing lists ops ONNX Runtime's gradient builder has no gradient for
// (orttraining gradient_builder_registry.cc): a training graph with one of
// them between its weights and its loss fails with "The gradient builder has
// not been registered". A Loop has none either: its body is opaque to it.
var ortMissing = map[string]bool{
	"Softplus": true, "ReduceMax": true, "ReduceMin": true, "ReduceL1": true, "ReduceProd": true,
	"ReduceSumSquare": true, "CumSum": true, "Floor": true, "Ceil": true, "Round": true, "Sign": true,
	"Atan": true, "Mod": true, "Resize": true, "Hardmax": true, "NegativeLogLikelihoodLoss": true,
	"ArgMax": true, "ArgMin": true, "Loop": true,
}

// ORTGradientMissing reports whether ONNX Runtime's gradient builder lacks a
// gradient for the node's op (or, for Pad, for its mode: only constant
// padding has one), so that the node must not lie on a DifferentiablePath of
// a graph meant for ONNX Runtime training.
func ORTGradientMissing(n *Node) bool {
	if n.op == "Pad" {
		mode, _ := n.attrs["mode"].(string)
		return mode != "" && mode != "constant"
	}
	return ortMissing[n.op]
}

// OpsWithoutORTGradient lists the ops ONNX Runtime's gradient builder has no
// gradient for at all, sorted.
func OpsWithoutORTGradient() []string {
	out := make([]string, 0, len(ortMissing))
	for op := range ortMissing {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

func noRuleHint(op string) string {
	if ortMissing[op] {
		return " (it has no gradient in ONNX Runtime either: use it on label-side values only, or detach its operand with StopGradient)"
	}
	return ""
}

func describeValues(vs []*Value) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, ", ")
}

// Inputs returns the node's inputs; nil entries are omitted optional inputs.
func (n *Node) Inputs() []*Value { return append([]*Value{}, n.inputs...) }

// Outputs returns the node's outputs.
func (n *Node) Outputs() []*Value { return append([]*Value{}, n.outputs...) }

// IsStopGradient reports whether the node is a StopGradient mark.
func (n *Node) IsStopGradient() bool { return n.stopGrad }

// Producer returns the node that computes v, or nil for graph inputs.
func (v *Value) Producer() *Node { return v.node }

// path is the part of a graph between wrt and output.
type path struct {
	needed map[*Value]bool // depends on wrt, and output depends on it
	nodes  []*Node         // nodes with a needed output, in creation order
}

// diffSlots lists the inputs of n through which a gradient can flow: the
// data inputs, not the exponent of Pow, the bounds of Clip or the condition
// of Where. Integer and bool inputs never carry one (they are never active).
func diffSlots(n *Node) []int {
	switch n.op {
	case "Pow", "Clip":
		return []int{0}
	case "Where":
		return []int{1, 2}
	}
	s := make([]int, len(n.inputs))
	for i := range s {
		s[i] = i
	}
	return s
}

// gradInputs lists the values a gradient reaches from n's outputs: the
// inputs in diffSlots, or, with rules, for a WithGradient node (which other
// training tools see as its formula), the inputs its rule differentiates.
func gradInputs(n *Node, rules bool) []*Value {
	if n.custom != nil && rules {
		return n.custom.inputs
	}
	slots := diffSlots(n)
	out := make([]*Value, len(slots))
	for i, s := range slots {
		out[i] = n.inputs[s]
	}
	return out
}

func findPath(nodes []*Node, output *Value, wrt []*Value, crossStops, rules bool) path {
	active := map[*Value]bool{}
	for _, w := range wrt {
		if w != nil && w.dtype.IsFloat() {
			active[w] = true
		}
	}
	stops := func(n *Node) bool { return n.stopGrad && !crossStops }
	for _, n := range nodes {
		if stops(n) {
			continue
		}
		in := false
		for _, v := range gradInputs(n, rules) {
			if v != nil && active[v] {
				in = true
				break
			}
		}
		if !in {
			continue
		}
		for _, o := range n.outputs {
			if o.dtype.IsFloat() {
				active[o] = true
			}
		}
	}
	p := path{needed: map[*Value]bool{}}
	if output == nil || !active[output] {
		return p
	}
	p.needed[output] = true
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if stops(n) {
			continue
		}
		on := false
		for _, o := range n.outputs {
			if p.needed[o] {
				on = true
			}
		}
		if !on {
			continue
		}
		p.nodes = append(p.nodes, n)
		for _, v := range gradInputs(n, rules) {
			if v != nil && active[v] {
				p.needed[v] = true
			}
		}
	}
	for i, j := 0, len(p.nodes)-1; i < j; i, j = i+1, j-1 {
		p.nodes[i], p.nodes[j] = p.nodes[j], p.nodes[i]
	}
	return p
}

// autodiff holds the state of one Gradient call.
type autodiff struct {
	g *Graph
	// first is the id of the last value created before the backward pass:
	// the backward values are those after it.
	first  int
	needed map[*Value]bool
	// ct maps a value to the contributions to its cotangent so far (see
	// cotangent). A cotangent has the rank of its value and broadcasts to
	// its shape: a size-1 dimension stands for a cotangent that is the
	// same along that axis, so a scalar seed stays a scalar until an op
	// needs it in full (see full).
	ct map[*Value][]*Value
	// shapes caches the Shape nodes of values, which many rules need, and
	// named those of shapes whose every dimension is known or named (see
	// shapeOf).
	shapes map[*Value]*Value
	named  map[string]*Value
	// firstNode is the index of the first backward node in the graph's
	// nodes, and masks the groups of views that maskOperands made (see
	// settle).
	firstNode int
	masks     [][]*Node
}

// shapeOf returns the shape of v as a 1-D int64 value. A shape whose every
// dimension is known is a constant. One whose dimensions are known or named
// ([N,C,H,W]) is the same at run time for every value that has it, so one
// Shape node serves them all, of a graph input where one has that shape:
// a Shape node keeps its operand alive until it runs, which is in the
// backward pass, so a forward intermediate read only for its shape would
// stay in memory through the whole forward pass.
func (ad *autodiff) shapeOf(v *Value) *Value {
	if s, ok := ad.shapes[v]; ok {
		return s
	}
	key, named := shapeKey(v.shape)
	if s, ok := ad.named[key]; named && ok {
		ad.shapes[v] = s
		return s
	}
	var s *Value
	switch {
	case !named:
		s = ShapeOf(v)
	case known(v.shape):
		sizes, _ := v.shape.Sizes()
		s = Ints(ad.g, sizes...)
	default:
		src := v
		for _, in := range ad.g.inputs {
			if in.shape.Equal(v.shape) {
				src = in
				break
			}
		}
		s = ShapeOf(src)
	}
	ad.shapes[v] = s
	if named {
		ad.named[key] = s
	}
	return s
}

func known(s Shape) bool {
	_, ok := s.Sizes()
	return ok
}

// dimOf returns dimension a of v as a 1-D int64 value of length 1, as
// DimOf does, from shapeOf(v).
func (ad *autodiff) dimOf(v *Value, a int) *Value {
	return Gather(ad.shapeOf(v), Ints(ad.g, int64(a)), 0)
}

// shapeKey writes a shape whose every dimension is known or named, such as
// "N 21 H W" (names after a $); ok is false when a dimension is unknown.
func shapeKey(s Shape) (key string, ok bool) {
	var b strings.Builder
	for _, d := range s {
		switch {
		case d.Known():
			fmt.Fprintf(&b, "%d ", d.Size)
		case d.Param != "":
			fmt.Fprintf(&b, "$%s ", d.Param)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// vjpRule returns, for each input of n, its vector-Jacobian product with the
// cotangent ct of n's first output (nil where need is false or the product
// is zero). Results may broadcast to the input's shape rather than have it.
type vjpRule func(ad *autodiff, n *Node, ct *Value, need []bool) []*Value

var vjpRules map[string]vjpRule

func init() {
	vjpRules = map[string]vjpRule{
		"Identity": vjpIdentity, "Neg": vjpNeg, "Abs": vjpAbs, "Exp": vjpExp, "Log": vjpLog,
		"Sqrt": vjpSqrt, "Relu": vjpRelu, "Sigmoid": vjpSigmoid, "Tanh": vjpTanh,
		"Reciprocal": vjpReciprocal, "Cast": vjpCast, "Pow": vjpPow, "Clip": vjpClip, "Where": vjpWhere,
		"Add": vjpAdd, "Sub": vjpSub, "Mul": vjpMul, "Div": vjpDiv, "Max": vjpMaxMin, "Min": vjpMaxMin,
		"ReduceSum": vjpReduceSum, "ReduceMean": vjpReduceMean, "ReduceLogSumExp": vjpReduceLogSumExp,
		"Softmax": vjpSoftmax, "LogSoftmax": vjpLogSoftmax,
		"Reshape": vjpReshape, "Transpose": vjpTranspose, "Squeeze": vjpSqueeze, "Unsqueeze": vjpUnsqueeze,
		"Expand": vjpExpand, "Slice": vjpSlice, "Concat": vjpConcat,
		"Gather": vjpGather, "GatherElements": vjpGatherElements, "TopK": vjpTopK,
		"MatMul": vjpMatMul, "Conv": vjpConv, "AveragePool": vjpAveragePool, "MaxPool": vjpMaxPool, "Pad": vjpPad,
	}
}

// multiOutput lists the ops whose rules read the cotangents of every
// output themselves (with ad.cotangent); ct, that of the first output, may
// then be nil.
var multiOutput = map[string]bool{"Split": true}

// anyCotangent reports whether an output of n has a cotangent.
func (ad *autodiff) anyCotangent(n *Node) bool {
	for _, o := range n.outputs {
		if len(ad.ct[o]) > 0 {
			return true
		}
	}
	return false
}

// accumulate adds c to the cotangent of v.
func (ad *autodiff) accumulate(v, c *Value) {
	if c.dtype != v.dtype {
		ad.g.Fail("Gradient: internal error: cotangent %v for value %v", c, v)
		return
	}
	if c.Rank() > v.Rank() {
		ad.g.Fail("Gradient: internal error: cotangent %v has a higher rank than %v", c, v)
		return
	}
	ad.ct[v] = append(ad.ct[v], rankUp(c, v.Rank()))
}

// cotangent returns the cotangent of v (nil if nothing contributed to it),
// adding up its contributions when they are all known: when v's producer
// is differentiated, every reader of v has been. They are added in the
// order they were made, after the last one: ONNX Runtime runs a node's
// inputs last created first, so adding each as it came would compute every
// contribution before the first addition and hold them all at once, while
// this way it holds the running sum and one contribution.
func (ad *autodiff) cotangent(v *Value) *Value {
	parts := ad.ct[v]
	if len(parts) == 0 {
		return nil
	}
	sum := parts[0]
	for _, c := range parts[1:] {
		sum = Add(sum, c)
	}
	if v.label != "" && sum.id > ad.first {
		// The cotangent of a named value is named after it, under the
		// grad scope (dice/grad/probs), when the backward pass made it.
		Name(sum, v.label)
	}
	ad.ct[v] = []*Value{sum}
	return sum
}

// rankUp prepends size-1 axes to c until it has rank r.
func rankUp(c *Value, r int) *Value {
	if c.Rank() >= r {
		return c
	}
	axes := make([]int, r-c.Rank())
	for i := range axes {
		axes[i] = i
	}
	return Unsqueeze(c, axes...)
}

// full returns c broadcast to the shape of v, materialising it only when
// its shape is not already v's.
func (ad *autodiff) full(c, v *Value) *Value {
	c = rankUp(c, v.Rank())
	if c.shape.Equal(v.shape) {
		return c
	}
	if c.dtype == tensor.BFloat16 {
		// ONNX Runtime has no bfloat16 Expand: expand in float32 (exact)
		// and cast back.
		return Cast(Expand(Cast(c, tensor.Float32), ad.shapeOf(v)), tensor.BFloat16)
	}
	return Expand(c, ad.shapeOf(v))
}

// tie returns an int64 scalar 0 computed from c: added to a shape, it
// changes nothing but makes whatever reads the shape wait for c. It is the
// sum of an empty slice of c, cast to int64 first (every type has an int64
// Cast and ReduceSum in ONNX Runtime). It reads c without a Reshape: where
// c is itself made by a Reshape, ONNX Runtime 1.24 fuses the two when the
// second's output shape is static, and fails to load the model when the
// first's shape is computed.
func (ad *autodiff) tie(c *Value) *Value {
	g := ad.g
	if c.Rank() == 0 {
		c = Unsqueeze(c, 0)
	}
	empty := g.addNode("Slice", []*Value{c, Ints(g, 0), Ints(g, 0), Ints(g, 0)}, nil, outSpec{c.dtype, append(Shape{Fixed(0)}, c.shape[1:]...)}).outputs[0]
	return ReduceSum(Cast(empty, tensor.Int64), false)
}

// tiedShape returns the shape of v (see shapeOf) made to wait for c (see
// tie).
func (ad *autodiff) tiedShape(v, c *Value) *Value {
	return Add(ad.shapeOf(v), ad.tie(c))
}

// after returns v, a forward value, as a Reshape to its own shape that
// waits for c, the cotangent that reaches the node whose rule reads v. A
// backward-only tensor computed from forward values alone (the winners of
// a MaxPool, the masks of Relu, Max and Min) has no edge from the backward
// pass, and ONNX Runtime runs it in the forward pass, where it stays in
// memory until the backward pass reaches its reader; computed from after(v,
// c), it is made when it is read. The Reshape is a view of v and costs
// nothing.
func (ad *autodiff) after(v, c *Value) *Value {
	return ad.g.addNode("Reshape", []*Value{v, ad.tiedShape(v, c)}, nil, outSpec{v.dtype, v.shape.Clone()}).outputs[0]
}

// maskOperands returns the forward values vs, from which a rule computes
// a mask (a comparison, smaller than they are), as views that wait for c
// (see after), and leaves the choice of when the mask is made to settle.
func (ad *autodiff) maskOperands(c *Value, vs ...*Value) []*Value {
	out := make([]*Value, len(vs))
	group := make([]*Node, len(vs))
	for i, v := range vs {
		out[i] = ad.after(v, c)
		group[i] = out[i].node
	}
	ad.masks = append(ad.masks, group)
	return out
}

// settle decides, once the backward pass is built, when each mask of
// maskOperands is made. Where one of its operands is read by no other
// backward node, the mask is made from the operands themselves, in the
// forward pass: the operand is then freed after its forward readers and
// the mask (a bool, a quarter of a float32) is kept instead. Otherwise
// every operand stays in memory for the backward pass anyway, and the mask
// waits for the cotangent, so that it is not kept too.
func (ad *autodiff) settle() {
	readers := map[*Value]int{}
	for _, n := range ad.g.nodes[ad.firstNode:] {
		if n.op == "Shape" {
			continue // reads no data (and serves the views themselves)
		}
		for _, in := range n.inputs {
			if in != nil {
				readers[in]++
			}
		}
	}
	for _, group := range ad.masks {
		own := map[*Value]int{}
		for _, view := range group {
			own[view.inputs[0]]++
		}
		early := false
		for v, k := range own {
			early = early || readers[v] == k
		}
		if !early {
			continue
		}
		for _, view := range group {
			view.op, view.inputs = "Identity", view.inputs[:1]
		}
	}
}

// zerosLike returns zeros with the shape and type of v.
func (ad *autodiff) zerosLike(v *Value) *Value {
	if v.dtype == tensor.BFloat16 && v.g.opset < 20 { // ConstantOfShape takes bfloat16 from opset 20
		return Cast(ConstantOfShape(ad.shapeOf(v), tensor.Float32, 0), v.dtype)
	}
	return ConstantOfShape(ad.shapeOf(v), v.dtype, 0)
}

// dimProduct returns the product of v's dimensions at axes as a rank-0
// value of type dt: a constant when they are known, computed from v's shape
// at run time otherwise.
func (ad *autodiff) dimProduct(v *Value, axes []int, dt tensor.DType) *Value {
	p := int64(1)
	known := true
	for _, a := range axes {
		if d := v.shape[a]; d.Known() {
			p *= d.Size
		} else {
			known = false
		}
	}
	if known {
		return Scalar(v.g, dt, float64(p))
	}
	dims := Gather(ad.shapeOf(v), Ints(v.g, toInt64s(axes)...), 0)
	return Cast(ReduceProd(dims, false), dt)
}

// sumTo turns c, a contribution that broadcasts to out's shape, into the
// cotangent of x, an operand that a broadcasting op stretched to out's
// shape: c summed over the axes along which x was broadcast. What the
// builder knows about the shapes decides those axes; where it cannot (a
// symbolic or unknown dimension of x meeting an unknown one of out), they
// are found at run time.
func (ad *autodiff) sumTo(c, x, out *Value) *Value {
	r := out.Rank()
	c = rankUp(c, r)
	lead := r - x.Rank()
	var sumAxes, scaleAxes, dynAxes []int
	needFull := false
	for i := 0; i < r; i++ {
		od, cd := out.shape[i], c.shape[i]
		xd := Fixed(1)
		if i >= lead {
			xd = x.shape[i-lead]
		}
		switch {
		case xd.Known() && xd.Size == 1:
			if od.Known() && od.Size == 1 {
				continue // nothing was broadcast along this axis
			}
			if cd.Known() && cd.Size == 1 {
				// c is the same along the axis: the sum is c times its length.
				scaleAxes = append(scaleAxes, i)
				continue
			}
			sumAxes = append(sumAxes, i)
			if !cd.sameAs(od) {
				needFull = true // c might still be broadcast along the axis
			}
		case xd.Known(), xd.sameAs(od):
			// x has the full extent.
		case od.Known() && od.Size > 1:
			// Shape inference took the symbolic size to be od (a size > 1
			// broadcasts only against 1 or itself); so does the gradient.
		default:
			dynAxes = append(dynAxes, i)
			needFull = true
		}
	}
	if needFull {
		c = ad.full(c, out)
		sumAxes = append(sumAxes, scaleAxes...)
		sort.Ints(sumAxes)
		scaleAxes = nil
	}
	if len(sumAxes) > 0 {
		c = ReduceSum(c, true, sumAxes...)
	}
	if len(scaleAxes) > 0 {
		c = Mul(c, ad.dimProduct(out, scaleAxes, c.dtype))
	}
	if len(dynAxes) > 0 {
		c = ad.dynamicSumTo(c, x, out, lead, dynAxes)
	}
	if lead > 0 {
		axes := make([]int, lead)
		for i := range axes {
			axes[i] = i
		}
		c = Squeeze(c, axes...)
	}
	return c
}

// dynamicSumTo sums c (which has out's full shape) over those of axes along
// which x has size 1 at run time and out does not.
func (ad *autodiff) dynamicSumTo(c, x, out *Value, lead int, axes []int) *Value {
	g := ad.g
	xAxes := make([]int64, len(axes))
	for i, a := range axes {
		xAxes[i] = int64(a - lead)
	}
	xd := Gather(ad.shapeOf(x), Ints(g, xAxes...), 0)
	od := Gather(ad.shapeOf(out), Ints(g, toInt64s(axes)...), 0)
	// Broadcasting makes od equal to xd, or xd 1: od > xd is a stretch.
	stretched := Greater(od, xd)
	nz := g.addNode("NonZero", []*Value{stretched}, nil, outSpec{tensor.Int64, Shape{Fixed(1), UnknownDim}}).outputs[0]
	dyn := Gather(Ints(g, toInt64s(axes)...), ReshapeDims(nz, -1), 0)
	shape := c.shape.Clone()
	for _, a := range axes {
		shape[a] = UnknownDim
	}
	return g.addNode("ReduceSum", []*Value{c, dyn}, map[string]any{"keepdims": int64(1), "noop_with_empty_axes": int64(1)},
		outSpec{c.dtype, shape}).outputs[0]
}

// isOne reports whether v is a constant holding only ones.
func isOne(v *Value) bool {
	if v.konst == nil {
		return false
	}
	for _, x := range v.konst.Float64s() {
		if x != 1 {
			return false
		}
	}
	return true
}

// mulCt returns ct·v, skipping the product when ct is a constant 1 and v
// already broadcasts like ct. (The seed of Gradient is not a constant: the
// product keeps the backward nodes after the output, see Gradient.)
func mulCt(ct, v *Value) *Value {
	if isOne(ct) && ct.Rank() <= v.Rank() {
		return v
	}
	return Mul(ct, v)
}

func (ad *autodiff) fail(n *Node, format string, args ...any) []*Value {
	ad.g.Fail("Gradient: %s (%s): %s", n.op, n.name, fmt.Sprintf(format, args...))
	return make([]*Value, len(n.inputs))
}

// customGrad is the gradient rule WithGradient attaches to a node.
type customGrad struct {
	inputs []*Value
	rule   func(ct *Value, need []bool) []*Value
}

// WithGradient returns y with a gradient rule of its own, carried by the
// node that computes y (or by an Identity of y where y has none, or already
// has a rule): Gradient and VJP do not differentiate the nodes that compute
// y from inputs, but pass the cotangent of the result (which broadcasts to
// y's shape) to rule, which returns one contribution per input, each of
// its input's rank and broadcasting to its shape; need says which inputs
// need one (nil for the others).
//
// It is for composite formulas whose derivative is much simpler than the
// one their nodes give, such as the stable binary cross-entropy from logits,
// relu(x) - x·t + log(1 + e^-|x|), whose derivative in x is sigmoid(x) - t:
// three elementwise passes instead of ten. The rule must be the derivative
// of the formula; tests compare both. Other training tools (ONNX Runtime's
// gradient builder, DifferentiablePath) see the formula's nodes and
// differentiate them.
func WithGradient(y *Value, inputs []*Value, rule func(ct *Value, need []bool) []*Value) *Value {
	if !y.g.check("WithGradient", append([]*Value{y}, inputs...)...) {
		return y.g.placeholder(y.dtype, y.shape.Clone())
	}
	out := y
	if n := y.node; n == nil || n.external || n.custom != nil || len(n.outputs) != 1 {
		out = unary("Identity", y, false) // no node of its own to carry the rule
	}
	if out.node != nil {
		out.node.custom = &customGrad{inputs: append([]*Value{}, inputs...), rule: rule}
	}
	return out
}
