package builder_test

import (
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// The backward pass reads forward values; ONNX Runtime keeps a value in
// memory until its last reader has run, so a forward value read by the
// backward pass stays through the whole forward pass. These tests check
// that Gradient reads no more of them than its rules need.

// gradProto builds loss = build(x) for x float32 of the given shape, adds
// its gradient and returns the graph with outputs "loss" and "grad".
func gradProto(t *testing.T, shape Shape, build func(x *Value) *Value) (*onnxpb.GraphProto, string) {
	t.Helper()
	g := NewGraph("memory", 17)
	x := g.Input("x", tensor.Float32, shape)
	loss := build(x)
	g.Output("loss", loss)
	g.Output("grad", Gradient(loss, x)[0])
	gp, err := g.Proto()
	if err != nil {
		t.Fatal(err)
	}
	return gp, "x"
}

// readers maps each value name to the nodes that read it.
func readers(gp *onnxpb.GraphProto) map[string][]*onnxpb.NodeProto {
	r := map[string][]*onnxpb.NodeProto{}
	for _, n := range gp.GetNode() {
		for _, in := range n.GetInput() {
			r[in] = append(r[in], n)
		}
	}
	return r
}

// TestGradientShapesFromInputs checks that the backward pass takes the
// shapes it needs of forward values from a graph input of the same shape,
// or from a constant where every dimension is known, instead of from the
// forward values themselves: MaxPool's rule needs its output's shape,
// AveragePool's its input's, GatherElements' the length of its axis.
func TestGradientShapesFromInputs(t *testing.T) {
	build := func(x *Value) *Value {
		y := MaxPool(Neg(x), Window{Kernel: []int64{3, 3}, Pads: []int64{1, 1, 1, 1}})
		z := MaxPool(Exp(y), Window{Kernel: []int64{3, 1}, Pads: []int64{1, 0, 1, 0}})
		return ReduceSum(z, false)
	}
	for name, b := range map[string]func(x *Value) *Value{
		"MaxPool": build,
		// AveragePool's rule cuts its transposed convolution to x's size.
		"AveragePool": func(x *Value) *Value {
			return ReduceSum(AveragePool(Exp(x), Window{Kernel: []int64{3, 3}, Pads: []int64{1, 1, 1, 1}}, true), false)
		},
		// GatherElements' rule compares the indices with positions along
		// the axis.
		"GatherElements": func(x *Value) *Value {
			e := Exp(x)
			return ReduceSum(GatherElements(e, ArgMax(e, 3, true), 3), false)
		},
	} {
		gp, x := gradProto(t, Shape{Sym("N"), Fixed(3), Sym("H"), Sym("W")}, b)
		backward := map[string]bool{} // values the backward pass makes
		for _, n := range gp.GetNode() {
			if strings.HasPrefix(n.GetName(), "grad/") {
				for _, o := range n.GetOutput() {
					backward[o] = true
				}
			}
		}
		shapes := 0
		for _, n := range gp.GetNode() {
			if n.GetOpType() == "Shape" && !backward[n.GetInput()[0]] {
				shapes++
				if n.GetInput()[0] != x {
					t.Errorf("%s: Shape node %s reads %s, want the input %s of the same shape", name, n.GetName(), n.GetInput()[0], x)
				}
			}
		}
		if shapes == 0 {
			t.Errorf("%s: no Shape node: the symbolic shapes must come from somewhere", name)
		}
	}
	gp, _ := gradProto(t, Dims(2, 3, 5, 4), build)
	for _, n := range gp.GetNode() {
		if n.GetOpType() == "Shape" {
			t.Errorf("Shape node %s reads %s, a value whose shape is known: want a constant", n.GetName(), n.GetInput()[0])
		}
	}
}

// TestGradientMaxMinReadsOperands checks that the rules of Max and Min read
// which operand won from the operands, not from the result: with a sum
// after it, nothing of the backward pass reads the result.
func TestGradientMaxMinReadsOperands(t *testing.T) {
	for _, op := range []func(a, b *Value) *Value{Max, Min} {
		var y *Value
		gp, _ := gradProto(t, Shape{Sym("N"), Fixed(4)}, func(x *Value) *Value {
			y = op(Exp(x), Neg(x))
			return ReduceSum(y, false)
		})
		var name string
		for _, n := range gp.GetNode() {
			if n.GetOpType() == "Max" || n.GetOpType() == "Min" {
				name = n.GetOutput()[0]
			}
		}
		for _, r := range readers(gp)[name] {
			if r.GetOpType() != "ReduceSum" {
				t.Errorf("%s's result is read by %s %s", y, r.GetOpType(), r.GetName())
			}
		}
	}
}

// TestGradientSeedReadsOutput checks that the gradient depends on the
// output it differentiates, so that a runtime that orders nodes by a
// depth-first search from the outputs computes the forward pass first.
func TestGradientSeedReadsOutput(t *testing.T) {
	gp, _ := gradProto(t, Shape{Sym("N"), Fixed(4)}, func(x *Value) *Value {
		return ReduceSum(Square(Exp(x)), false)
	})
	producer := map[string]*onnxpb.NodeProto{}
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	var loss, grad string
	for _, o := range gp.GetOutput() {
		switch o.GetName() {
		case "loss":
			loss = o.GetName()
		case "grad":
			grad = o.GetName()
		}
	}
	// The outputs are Identity nodes of the values, or the values.
	seen := map[string]bool{}
	var reaches func(v string) bool
	reaches = func(v string) bool {
		if seen[v] {
			return false
		}
		seen[v] = true
		p := producer[v]
		if p == nil {
			return false
		}
		for _, in := range p.GetInput() {
			if in == loss || (producer[loss] != nil && producer[loss].GetOpType() == "Identity" && in == producer[loss].GetInput()[0]) || reaches(in) {
				return true
			}
		}
		return false
	}
	if !reaches(grad) {
		t.Errorf("the gradient does not depend on the output %s", loss)
	}
}

// TestGradientMaxPoolSumsInOrder checks that MaxPool's rule makes its
// shifted copies of the cotangent before it adds them: ONNX Runtime runs a
// node's inputs last created first, so a copy made after the running sum
// would be computed before it, and all nine copies of a 3×3 window held at
// once.
func TestGradientMaxPoolSumsInOrder(t *testing.T) {
	gp, _ := gradProto(t, Shape{Sym("N"), Fixed(2), Sym("H"), Sym("W")}, func(x *Value) *Value {
		return ReduceSum(MaxPool(x, Window{Kernel: []int64{3, 3}, Pads: []int64{1, 1, 1, 1}}), false)
	})
	// The first addition of two copies must come after the last copy.
	lastPad, firstAdd, pads := -1, -1, 0
	padOut := map[string]bool{}
	for i, n := range gp.GetNode() {
		switch n.GetOpType() {
		case "Pad":
			lastPad, pads = i, pads+1
			padOut[n.GetOutput()[0]] = true
		case "Add":
			if firstAdd < 0 && (padOut[n.GetInput()[0]] || padOut[n.GetInput()[1]]) {
				firstAdd = i
			}
		}
	}
	if pads != 9 {
		t.Fatalf("%d Pad nodes for a 3×3 window, want 9", pads)
	}
	if firstAdd < lastPad {
		t.Errorf("an Add (node %d) comes before the last Pad (node %d)", firstAdd, lastPad)
	}
}

// TestGradientCotangentSumsInOrder checks that the contributions to a
// cotangent are added after they are all made, as MaxPool's copies are (see
// TestGradientMaxPoolSumsInOrder): here five readers of one value.
func TestGradientCotangentSumsInOrder(t *testing.T) {
	weights := []float64{2, 3, 5, 7, 11}
	gp, _ := gradProto(t, Shape{Sym("N"), Fixed(4)}, func(x *Value) *Value {
		e := Exp(x)
		var sum *Value
		for _, w := range weights {
			term := Tanh(MulScalar(e, w))
			if sum == nil {
				sum = term
			} else {
				sum = Add(sum, term)
			}
		}
		return ReduceSum(sum, false)
	})
	// The contributions to e's cotangent are the backward products by
	// the weights; the sums that add them read one of them or a sum.
	contrib, sums := map[string]bool{}, map[string]bool{}
	lastContrib, firstSum := -1, -1
	for i, n := range gp.GetNode() {
		if !strings.HasPrefix(n.GetName(), "grad/") {
			continue
		}
		switch n.GetOpType() {
		case "Mul":
			for _, in := range n.GetInput() {
				if strings.Contains(in, "Constant") {
					contrib[n.GetOutput()[0]] = true
					lastContrib = i
				}
			}
		case "Add":
			a, b := n.GetInput()[0], n.GetInput()[1]
			if (contrib[a] || sums[a]) && (contrib[b] || sums[b]) {
				sums[n.GetOutput()[0]] = true
				if firstSum < 0 {
					firstSum = i
				}
			}
		}
	}
	if len(contrib) != len(weights) || len(sums) != len(weights)-1 {
		t.Fatalf("found %d contributions and %d sums, want %d and %d", len(contrib), len(sums), len(weights), len(weights)-1)
	}
	if firstSum < lastContrib {
		t.Errorf("a sum of contributions (node %d) comes before the last contribution (node %d)", firstSum, lastContrib)
	}
}

// dependsOn reports whether value v of gp is computed from value target.
func dependsOn(gp *onnxpb.GraphProto, v, target string) bool {
	producer := map[string]*onnxpb.NodeProto{}
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	seen := map[string]bool{}
	var walk func(v string) bool
	walk = func(v string) bool {
		if v == target {
			return true
		}
		if seen[v] {
			return false
		}
		seen[v] = true
		if p := producer[v]; p != nil {
			for _, in := range p.GetInput() {
				if walk(in) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// lossValue returns the name of the value behind gp's output "loss" (the
// input of the Identity that names it, where one does).
func lossValue(gp *onnxpb.GraphProto) string {
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "loss" && n.GetOpType() == "Identity" {
				return n.GetInput()[0]
			}
		}
	}
	return "loss"
}

// nodesOf returns the nodes of gp with the given op type whose name lies
// under the grad scope (backward) or not (forward).
func nodesOf(gp *onnxpb.GraphProto, op string, backward bool) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range gp.GetNode() {
		if n.GetOpType() == op && strings.Contains(n.GetName(), "grad/") == backward {
			out = append(out, n)
		}
	}
	return out
}

// TestGradientMaxPoolWinnersAfterCotangent checks that the MaxPool that
// recomputes the winners reads a value computed from the loss: ONNX
// Runtime would otherwise run it in the forward pass and keep its int64
// indices until the backward pass reached them. Both of MaxPool's rules
// are covered: shifted copies (3×3) and scattering (5×5).
func TestGradientMaxPoolWinnersAfterCotangent(t *testing.T) {
	for _, k := range []int64{3, 5} {
		gp, _ := gradProto(t, Shape{Sym("N"), Fixed(2), Sym("H"), Sym("W")}, func(x *Value) *Value {
			p := k / 2
			return ReduceSum(Square(MaxPool(Exp(x), Window{Kernel: []int64{k, k}, Pads: []int64{p, p, p, p}})), false)
		})
		loss := lossValue(gp)
		pools := nodesOf(gp, "MaxPool", true)
		if len(pools) != 1 {
			t.Fatalf("%d×%d: %d backward MaxPool nodes, want 1", k, k, len(pools))
		}
		if !dependsOn(gp, pools[0].GetInput()[0], loss) {
			t.Errorf("%d×%d: the backward MaxPool %s reads %s, which does not depend on the loss", k, k, pools[0].GetName(), pools[0].GetInput()[0])
		}
		if k == 5 {
			for _, n := range nodesOf(gp, "ConstantOfShape", true) {
				if !dependsOn(gp, n.GetInput()[0], loss) {
					t.Errorf("%d×%d: the zeros %s do not depend on the loss", k, k, n.GetName())
				}
			}
		}
	}
}

// TestGradientMaxPoolOfNegation checks that the rule of a MaxPool of a
// negation (an erosion, -maxpool(-w)) recomputes the winners from w: no
// backward node reads the negation, which is then freed after the forward
// MaxPool.
func TestGradientMaxPoolOfNegation(t *testing.T) {
	gp, _ := gradProto(t, Shape{Sym("N"), Fixed(2), Sym("H"), Sym("W")}, func(x *Value) *Value {
		w := Exp(x)
		e := Neg(MaxPool(Neg(w), Window{Kernel: []int64{3, 1}, Pads: []int64{1, 0, 1, 0}}))
		return ReduceSum(Mul(e, w), false)
	})
	negs := nodesOf(gp, "Neg", false)
	if len(negs) != 2 {
		t.Fatalf("%d forward Neg nodes, want 2", len(negs))
	}
	neg := negs[0].GetOutput()[0]
	for _, r := range readers(gp)[neg] {
		if r.GetOpType() != "MaxPool" || strings.Contains(r.GetName(), "grad/") {
			t.Errorf("the negation %s is read by %s %s, want the forward MaxPool only", neg, r.GetOpType(), r.GetName())
		}
	}
}

// TestGradientMasksWhenNeeded checks when the masks of Relu and Min are
// made. Where the operand is read by another backward rule (here Mul's),
// it stays in memory anyway, and the mask must wait for the cotangent (not
// be kept too). Where only the mask reads it, the mask (a bool) is made
// from the forward value, so that the operand can be freed in the forward
// pass.
func TestGradientMasksWhenNeeded(t *testing.T) {
	cases := []struct {
		name  string
		op    string
		build func(x *Value) *Value
		late  bool
	}{
		{"Relu kept by Mul", "Greater", func(x *Value) *Value {
			r := Relu(x)
			return ReduceSum(Mul(r, Exp(x)), false)
		}, true},
		{"Relu read by the mask only", "Greater", func(x *Value) *Value {
			return ReduceSum(Exp(Relu(x)), false)
		}, false},
		{"Min kept by Mul", "LessOrEqual", func(x *Value) *Value {
			a, b := Exp(x), Neg(x)
			return ReduceSum(Mul(Min(a, b), Mul(a, b)), false)
		}, true},
		{"Min read by the masks only", "LessOrEqual", func(x *Value) *Value {
			return ReduceSum(Exp(Min(Exp(x), Neg(x))), false)
		}, false},
	}
	for _, c := range cases {
		gp, _ := gradProto(t, Shape{Sym("N"), Fixed(4)}, c.build)
		loss := lossValue(gp)
		masks := nodesOf(gp, c.op, true)
		if len(masks) == 0 {
			t.Fatalf("%s: no backward %s node", c.name, c.op)
		}
		for _, m := range masks {
			for _, in := range m.GetInput() {
				if dependsOn(gp, in, "x") && dependsOn(gp, in, loss) != c.late {
					t.Errorf("%s: mask %s reads %s, which depends on the loss: %v, want %v", c.name, m.GetName(), in, !c.late, c.late)
				}
			}
		}
	}
}
