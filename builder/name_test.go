package builder_test

import (
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// producers maps every value name of gp to the name of the node that
// writes it, and fails on a name written twice.
func producers(t *testing.T, gp *onnxpb.GraphProto) map[string]string {
	t.Helper()
	out := map[string]string{}
	nodes := map[string]bool{}
	for _, n := range gp.GetNode() {
		if nodes[n.GetName()] {
			t.Errorf("node name %q used twice", n.GetName())
		}
		nodes[n.GetName()] = true
		for _, o := range n.GetOutput() {
			if _, dup := out[o]; dup {
				t.Errorf("value %q written twice", o)
			}
			out[o] = n.GetName()
		}
	}
	return out
}

func TestNameNamesValueAndNode(t *testing.T) {
	g := NewGraph("t", 17)
	x := g.Input("x", tensor.Float32, nchw)
	pop := g.Scope("dice")
	p := Name(Sigmoid(x), "probs")
	if Name(p, "other") != p {
		t.Error("Name does not return its operand")
	}
	one := Name(ConstAs(x, 1), "one")       // constants are shared: not renamed
	in := Name(x, "logits")                 // inputs keep their names
	a := Name(ReduceSum(p, false), "score") // two scores in one scope
	b := Name(ReduceSum(Mul(p, p), false), "score")
	vals, idx := TopK(Flatten(p, 1), DimOf(Flatten(p, 1), 1), 1, false)
	Name(vals, "sorted")
	mul := Mul(p, one) // left unnamed
	pop()
	g.Output("loss", Add(Add(a, b), ReduceSum(Add(mul, in), false)))
	g.Output("perm", idx)
	gp, err := g.Proto()
	if err != nil {
		t.Fatal(err)
	}
	prod := producers(t, gp)
	for value, node := range map[string]string{
		"dice/probs": "dice/probs", "dice/score": "dice/score", "dice/score_2": "dice/score_2",
		"dice/sorted": "dice/sorted", "perm": "dice/sorted", "dice/Mul_1": "dice/Mul_1",
	} {
		if got, ok := prod[value]; !ok || got != node {
			t.Errorf("value %q: written by %q (present %v), want node %q; all: %v", value, got, ok, node, prod)
		}
	}
	for v := range prod {
		if strings.Contains(v, "other") || strings.Contains(v, "one") || strings.Contains(v, "logits") {
			t.Errorf("value %q: a second name, a constant's or an input's was applied", v)
		}
	}
	if p.Label() != "probs" {
		t.Errorf("Label() = %q, want probs", p.Label())
	}
}

func TestNameRefusesBadNames(t *testing.T) {
	for _, bad := range []string{"", "a/b", "a b", "ü"} {
		g := NewGraph("t", 17)
		x := g.Input("x", tensor.Float32, nchw)
		Name(Exp(x), bad)
		if err := g.Err(); err == nil || !strings.Contains(err.Error(), "valid value name") {
			t.Errorf("Name(%q): error %v", bad, err)
		}
	}
}

// TestNameAvoidsGeneratedNames checks that a name that looks generated
// and generated names that come later never meet.
func TestNameAvoidsGeneratedNames(t *testing.T) {
	g := NewGraph("t", 17)
	x := g.Input("x", tensor.Float32, nchw)
	a := Name(Exp(x), "Neg_0")
	b := Neg(a)
	c := Name(Neg(b), "Neg_0")
	g.Output("y", c)
	gp, err := g.Proto()
	if err != nil {
		t.Fatal(err)
	}
	prod := producers(t, gp)
	if len(prod) != 3 {
		t.Errorf("values %v, want three distinct", prod)
	}
}

// TestGradientNamesCotangents checks that the cotangent of a named value is
// named after it under the grad scope, and that the graph stays valid.
func TestGradientNamesCotangents(t *testing.T) {
	g := NewGraph("t", 17)
	x := g.Input("x", tensor.Float32, nchw)
	pop := g.Scope("l")
	p := Name(Sigmoid(x), "probs")
	loss := Name(ReduceSum(Mul(p, p), false), "loss")
	grad := Gradient(loss, x)[0]
	pop()
	g.Output("loss", loss)
	g.Output("x_grad", grad)
	gp, err := g.Proto()
	if err != nil {
		t.Fatal(err)
	}
	prod := producers(t, gp)
	if _, ok := prod["l/grad/probs"]; !ok {
		t.Errorf("no value l/grad/probs among %v", prod)
	}
	if prod["loss"] != "l/loss" {
		t.Errorf("output loss written by %q, want l/loss", prod["loss"])
	}
}

// TestNameLeavesOtherScopes checks that a value made in another scope keeps
// its name.
func TestNameLeavesOtherScopes(t *testing.T) {
	g := NewGraph("t", 17)
	x := g.Input("x", tensor.Float32, nchw)
	pop := g.Scope("check")
	safe := Exp(x)
	pop()
	pop = g.Scope("dice")
	Name(safe, "probs")
	inner := g.Scope("scale0")
	m := Neg(safe)
	inner()
	Name(m, "map")
	pop()
	g.Output("y", Add(safe, m))
	gp, err := g.Proto()
	if err != nil {
		t.Fatal(err)
	}
	prod := producers(t, gp)
	if _, ok := prod["check/Exp_0"]; !ok {
		t.Errorf("the value of scope check was renamed: %v", prod)
	}
	if _, ok := prod["dice/map"]; !ok {
		t.Errorf("a value of an inner scope was not named: %v", prod)
	}
}
