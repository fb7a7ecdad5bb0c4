package builder_test

import (
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// loopModel finishes a graph into a checked model.
func loopModel(t *testing.T, g *Graph) *onnxpb.ModelProto {
	t.Helper()
	m, err := export.Model(g, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := export.Check(m); err != nil {
		t.Fatal(err)
	}
	return m
}

func runModel(t *testing.T, m *onnxpb.ModelProto, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	testutil.RequireRuntime(t)
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sumLoop builds: acc = x; for i while i < len(x) and acc.sum < limit: acc += x * (i+1).
// The trip count comes from the input's (symbolic) length, the body reads
// the outer x and limit through captures and exits early on a condition.
func sumLoop(opset int) *Graph {
	g := NewGraph("loop", opset)
	x := g.Input("x", tensor.Float32, Shape{Sym("L")})
	limit := g.Input("limit", tensor.Float32, Shape{})
	trips := ScalarOf(DimOf(x, 0))
	out := Loop(g, trips, nil, []*Value{x, Int(g, 0)}, func(b *LoopBody) (*Value, []*Value) {
		acc, count := b.Carried[0], b.Carried[1]
		k := Cast(AddScalar(Cast(b.Iter, tensor.Float32), 1), tensor.Float32)
		next := Add(acc, Mul(b.Capture(x), k))
		more := Less(ReduceSum(next, false), b.Capture(limit))
		return more, []*Value{next, Add(count, Int(b.G, 1))}
	})
	g.Output("acc", out[0])
	g.Output("count", out[1])
	return g
}

func TestLoopRunsInONNXRuntime(t *testing.T) {
	for _, opset := range []int{13, 17, 21} {
		m := loopModel(t, sumLoop(opset))
		x := tensor.FromFloat32([]int{3}, []float32{1, 2, 3}) // sum 6
		// Iteration i adds 6(i+1) to the sum: 6 -> 12 -> 24 -> 42.
		for _, tc := range []struct {
			limit float32
			acc   []float64
			count int64
		}{
			{1e9, []float64{7, 14, 21}, 3}, // the trip count (len 3) ends it
			{20, []float64{4, 8, 12}, 2},   // after 12 then 24: 24 >= 20 stops
			{13, []float64{4, 8, 12}, 2},
			{12.5, []float64{4, 8, 12}, 2},
			{11, []float64{2, 4, 6}, 1}, // 12 >= 11 after the first iteration
		} {
			out := runModel(t, m, map[string]*tensor.Tensor{"x": x, "limit": tensor.Scalar(tc.limit)})
			got := out["acc"].Float64s()
			if !near(got, tc.acc, 1e-6) || out["count"].Int64s()[0] != tc.count {
				t.Errorf("opset %d limit %v: acc %v count %v, want %v and %d", opset, tc.limit, got, out["count"].Int64s(), tc.acc, tc.count)
			}
		}
		// An empty input runs no iteration.
		out := runModel(t, m, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{0}, []float32{}), "limit": tensor.Scalar(1)})
		if out["count"].Int64s()[0] != 0 {
			t.Errorf("opset %d: %d iterations over an empty input", opset, out["count"].Int64s()[0])
		}
	}
}

// TestNestedLoopCapturesTwoLevelsUp runs a loop inside a loop whose body reads
// a value of the outermost graph and one of the middle body.
func TestNestedLoopCapturesTwoLevelsUp(t *testing.T) {
	g := NewGraph("nested", 17)
	x := g.Input("x", tensor.Float32, Shape{})
	three := Int(g, 3)
	out := Loop(g, three, nil, []*Value{Scalar(g, tensor.Float32, 0)}, func(outer *LoopBody) (*Value, []*Value) {
		i := Cast(outer.Iter, tensor.Float32)
		inner := Loop(outer.G, outer.Capture(three), nil, []*Value{outer.Carried[0]}, func(b *LoopBody) (*Value, []*Value) {
			// acc += x * i + j
			term := Add(Mul(b.Capture(x), b.Capture(i)), Cast(b.Iter, tensor.Float32))
			return nil, []*Value{Add(b.Carried[0], term)}
		})
		return nil, inner
	})
	g.Output("y", out[0])
	m := loopModel(t, g)
	checkNoImplicitInputs(t, m.GetGraph())
	// Σ_i Σ_j (x·i + j) over 0..2 twice = 3x(0+1+2) + 3(0+1+2) = 9x + 9.
	y := runModel(t, m, map[string]*tensor.Tensor{"x": tensor.Scalar(2)})["y"].Float64s()[0]
	if y != 27 {
		t.Errorf("nested loops give %v, want 27", y)
	}
	testutil.CheckONNX(t, saveModel(t, m))
}

func saveModel(t *testing.T, m *onnxpb.ModelProto) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := export.Save(p, m); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoopPassesONNXChecker runs onnx.checker with full_check on loops at
// the opsets Debian's onnx checks, including the distance transform's.
func TestLoopPassesONNXChecker(t *testing.T) {
	var paths []string
	for _, opset := range []int{13, 17} {
		paths = append(paths, saveModel(t, loopModel(t, sumLoop(opset))))
		g := NewGraph("edt", opset)
		m := g.Input("mask", tensor.Bool, Shape{Sym("N"), Sym("C"), Sym("D"), Sym("H"), Sym("W")})
		fg, bg := DistancePair(m, DistanceOptions{Spacing: []float64{2, 1, 0.5}, MaxDistance: 7})
		g.Output("fg", fg)
		g.Output("bg", bg)
		g.Output("sd", SignedDistance(Slice(m, []int64{0}, []int64{1}, []int64{1}, nil), DistanceOptions{}))
		em := loopModel(t, g)
		checkNoImplicitInputs(t, em.GetGraph())
		paths = append(paths, saveModel(t, em))
	}
	testutil.CheckONNX(t, paths...)
}

// TestLoopEmission checks the emitted body: a GRAPH attribute whose inputs
// are the iteration number, the condition, the carried values and then the
// captured outer values, which the Loop node takes as extra carried values
// and the body returns unchanged under their input names; the body reads
// nothing else of the enclosing graph, and names are unique in the model.
func TestLoopEmission(t *testing.T) {
	g := sumLoop(17)
	gp, err := g.Proto()
	if err != nil {
		t.Fatal(err)
	}
	var loop *onnxpb.NodeProto
	for _, n := range gp.GetNode() {
		if n.GetOpType() == "Loop" {
			loop = n
		}
	}
	if loop == nil || len(loop.GetAttribute()) != 1 || loop.GetAttribute()[0].GetName() != "body" {
		t.Fatalf("no Loop with a body attribute: %v", loop)
	}
	body := loop.GetAttribute()[0].GetG()
	if body == nil || len(body.GetInput()) != 6 || len(body.GetOutput()) != 5 {
		t.Fatalf("body has %d inputs and %d outputs, want 6 and 5", len(body.GetInput()), len(body.GetOutput()))
	}
	if dt := body.GetInput()[0].GetType().GetTensorType().GetElemType(); dt != int32(tensor.Int64) {
		t.Errorf("iteration number has type %d", dt)
	}
	// Inputs: trip count, no condition, x and 0 carried, then x and limit captured.
	if ins := loop.GetInput(); len(ins) != 6 || ins[1] != "" || ins[2] != "x" || ins[4] != "x" || ins[5] != "limit" {
		t.Errorf("Loop inputs %q, want the trip count, \"\", x, the initial count, x, limit", ins)
	}
	if len(loop.GetOutput()) != 4 {
		t.Errorf("Loop has %d outputs, want 4 (2 carried, 2 captured)", len(loop.GetOutput()))
	}
	for i := 4; i < 6; i++ {
		if in, out := body.GetInput()[i].GetName(), body.GetOutput()[i-1].GetName(); in != out {
			t.Errorf("body output %d is %q, want the captured input %q passed through", i-1, out, in)
		}
	}
	checkNoImplicitInputs(t, gp)
	seen := map[string]bool{}
	var walk func(gp *onnxpb.GraphProto)
	walk = func(gp *onnxpb.GraphProto) {
		for _, v := range gp.GetInput() {
			if seen[v.GetName()] {
				t.Errorf("value name %q defined twice", v.GetName())
			}
			seen[v.GetName()] = true
		}
		for _, n := range gp.GetNode() {
			for _, o := range n.GetOutput() {
				if seen[o] {
					t.Errorf("value name %q defined twice", o)
				}
				seen[o] = true
			}
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					walk(a.GetG())
				}
			}
		}
	}
	walk(gp)
	again, _ := sumLoop(17).Proto()
	a, _ := export.Marshal(&onnxpb.ModelProto{Graph: gp})
	b, _ := export.Marshal(&onnxpb.ModelProto{Graph: again})
	if string(a) != string(b) {
		t.Error("the same loop emits different bytes")
	}
}

// checkNoImplicitInputs fails for every name that a Loop body (at any depth)
// reads without defining it: an input, an initializer or a node output of
// the body itself.
func checkNoImplicitInputs(t *testing.T, gp *onnxpb.GraphProto) {
	t.Helper()
	var walk func(gp *onnxpb.GraphProto, body bool)
	walk = func(gp *onnxpb.GraphProto, body bool) {
		defined := map[string]bool{"": true}
		for _, v := range gp.GetInput() {
			defined[v.GetName()] = true
		}
		for _, v := range gp.GetInitializer() {
			defined[v.GetName()] = true
		}
		for _, n := range gp.GetNode() {
			for _, in := range n.GetInput() {
				if body && !defined[in] {
					t.Errorf("body %s reads %q of an enclosing graph (node %s)", gp.GetName(), in, n.GetName())
				}
			}
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					walk(a.GetG(), true)
				}
			}
			for _, o := range n.GetOutput() {
				defined[o] = true
			}
		}
		for _, o := range gp.GetOutput() {
			if body && !defined[o.GetName()] {
				t.Errorf("body %s returns %q of an enclosing graph", gp.GetName(), o.GetName())
			}
		}
	}
	walk(gp, false)
}

func TestLoopErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *Graph, x *Value)
		want  string
	}{
		{"outer value without Capture", func(g *Graph, x *Value) {
			Loop(g, Int(g, 2), nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) {
				return nil, []*Value{Add(b.Carried[0], x)}
			})
		}, "another graph"},
		{"carried type", func(g *Graph, x *Value) {
			Loop(g, Int(g, 2), nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) {
				return nil, []*Value{Cast(b.Carried[0], tensor.Int64)}
			})
		}, "carried value 0"},
		{"carried count", func(g *Graph, x *Value) {
			Loop(g, Int(g, 2), nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) { return nil, nil })
		}, "returned 0 carried values for 1"},
		{"condition type", func(g *Graph, x *Value) {
			Loop(g, Int(g, 2), nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) { return b.Iter, b.Carried })
		}, "bool scalar"},
		{"trip count type", func(g *Graph, x *Value) {
			Loop(g, x, nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) { return nil, b.Carried })
		}, "int64 scalar"},
		{"error in body", func(g *Graph, x *Value) {
			Loop(g, Int(g, 2), nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) {
				return nil, []*Value{ReduceSum(b.Carried[0], false, 3)}
			})
		}, "ReduceSum"},
		{"capture from an unrelated graph", func(g *Graph, x *Value) {
			other := NewGraph("other", 17)
			y := other.Input("y", tensor.Float32, Shape{})
			Loop(g, Int(g, 2), nil, []*Value{x}, func(b *LoopBody) (*Value, []*Value) {
				return nil, []*Value{Add(b.Carried[0], b.Capture(y))}
			})
		}, "does not enclose"},
	}
	for _, tc := range tests {
		g := NewGraph("t", 17)
		x := g.Input("x", tensor.Float32, Shape{})
		tc.build(g, x)
		if err := g.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
