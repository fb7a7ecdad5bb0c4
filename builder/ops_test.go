package builder_test

import (
	"math"
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/tensor"
)

var nchw = Shape{Sym("N"), Fixed(3), Sym("H"), Sym("W")}

func TestShapeInference(t *testing.T) {
	g := NewGraph("t", 17)
	x := g.Input("x", tensor.Float32, nchw)
	y := g.Input("y", tensor.Int64, Shape{Sym("N"), Sym("H"), Sym("W")})
	tests := []struct {
		name string
		v    *Value
		want string
	}{
		{"Add broadcast", Add(x, ReduceSum(x, true, 1)), "[N,3,H,W]"},
		{"ReduceSum keep", ReduceSum(x, true, 2, 3), "[N,3,1,1]"},
		{"ReduceMean drop", ReduceMean(x, false, 1), "[N,H,W]"},
		{"ReduceSum all", ReduceSum(x, false), "[]"},
		{"Transpose", Transpose(x, 0, 2, 3, 1), "[N,H,W,3]"},
		{"Flatten", Flatten(x, 2), "[N,3,?]"},
		{"Reshape symbols", Reshape(x, Concat(0, DimOf(x, 0), Ints(g, 3, -1))), "[N,3,?]"},
		{"Unsqueeze", Unsqueeze(y, 1), "[N,1,H,W]"},
		{"Squeeze", Squeeze(ReduceSum(x, true, 1), 1), "[N,H,W]"},
		{"Gather", Gather(ShapeOf(x), Ints(g, 2, 3), 0), "[2]"},
		{"GatherElements", GatherElements(x, Unsqueeze(y, 1), 1), "[N,1,H,W]"},
		{"Slice", Slice(x, []int64{1}, []int64{3}, []int64{1}, nil), "[N,2,H,W]"},
		{"Slice whole symbolic axis", Slice(x, []int64{0}, []int64{math.MaxInt64}, []int64{2}, nil), "[N,3,H,W]"},
		{"Concat", Concat(1, x, x), "[N,6,H,W]"},
		{"OneHot", OneHot(y, 4, 1), "[N,4,H,W]"},
		{"Expand", ExpandAs(ReduceSum(x, true, 1), x), "[N,3,H,W]"},
		{"Range from a dimension", Range(Int(g, 0), ScalarOf(DimOf(x, 1)), Int(g, 1)), "[3]"},
		{"Cast", Cast(x, tensor.Float16), "[N,3,H,W]"},
		{"Equal", Equal(y, Int(g, 2)), "[N,H,W]"},
		{"MaxPool same", MaxPool(x, Window{Kernel: []int64{3, 3}, Pads: SamePads(3, 3)}), "[N,3,H,W]"},
		{"MaxPool strided", MaxPool(x, Window{Kernel: []int64{2, 2}, Strides: []int64{2, 2}}), "[N,3,?,?]"},
		{"Pad", Pad(ConstTensor(g, tensor.New(tensor.Float32, 2, 3)), []int64{1, 0, 1, 2}, "reflect", 0), "[4,5]"},
	}
	for _, tc := range tests {
		if got := tc.v.Shape().String(); got != tc.want {
			t.Errorf("%s: shape %s, want %s", tc.name, got, tc.want)
		}
	}
	v, _ := TopK(Flatten(x, 1), DimOf(Flatten(x, 1), 1), 1, true)
	if v.Rank() != 2 {
		t.Errorf("TopK rank %d", v.Rank())
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestErrorsNameOpAndShapes checks that build-time errors say which op,
// which scope and which shapes, and that the first error sticks.
func TestErrorsNameOpAndShapes(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *Graph, x *Value)
		want  []string
	}{
		{"broadcast", func(g *Graph, x *Value) { Add(x, ConstTensor(g, tensor.New(tensor.Float32, 4, 1, 1))) }, []string{"Add", "[N,3,H,W]", "[4,1,1]"}},
		{"dtype", func(g *Graph, x *Value) { Mul(x, Int(g, 1)) }, []string{"Mul", "float32", "int64"}},
		{"axis", func(g *Graph, x *Value) { ReduceSum(x, false, 4) }, []string{"ReduceSum", "axis 4"}},
		{"softmax int", func(g *Graph, x *Value) { Softmax(Int(g, 1), 0) }, []string{"Softmax", "floating-point", "int64"}},
		{"transpose", func(g *Graph, x *Value) { Transpose(x, 0, 1) }, []string{"Transpose", "[0 1]"}},
		{"squeeze", func(g *Graph, x *Value) { Squeeze(x, 1) }, []string{"Squeeze", "size 3"}},
		{"clip", func(g *Graph, x *Value) { Clip(x, 1, 0) }, []string{"Clip", "lower bound"}},
		{"where", func(g *Graph, x *Value) { Where(x, x, x) }, []string{"Where", "bool"}},
		{"pool", func(g *Graph, x *Value) { MaxPool(x, Window{Kernel: []int64{3}}) }, []string{"MaxPool", "spatial axes"}},
		{"reshape", func(g *Graph, x *Value) { ReshapeDims(ConstTensor(g, tensor.New(tensor.Float32, 2, 3)), 4, 2) }, []string{"Reshape", "[4,2]"}},
	}
	for _, tc := range tests {
		g := NewGraph("t", 17)
		x := g.Input("x", tensor.Float32, nchw)
		pop := g.Scope("myloss")
		tc.build(g, x)
		pop()
		err := g.Err()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range append(tc.want, "myloss") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
		// The first error sticks: later operations neither panic nor replace it.
		y := Add(Exp(x), x)
		if g.Err() != err || y == nil {
			t.Errorf("%s: error not sticky: %v", tc.name, g.Err())
		}
		if _, perr := g.Proto(); perr != err {
			t.Errorf("%s: Proto returned %v, want the build error", tc.name, perr)
		}
	}
}

func TestUnsupportedOpset(t *testing.T) {
	for _, o := range []int{12, 22} {
		if err := NewGraph("t", o).Err(); err == nil || !strings.Contains(err.Error(), "13 to 21") {
			t.Errorf("opset %d: error %v", o, err)
		}
	}
}

// TestReduceAxesEmission checks the opset-dependent form of Reduce axes:
// ReduceSum takes them as an input from opset 13, the other reductions from 18.
func TestReduceAxesEmission(t *testing.T) {
	for _, tc := range []struct {
		opset         int
		op            string
		build         func(*Value) *Value
		wantAttribute bool
	}{
		{13, "ReduceSum", func(x *Value) *Value { return ReduceSum(x, false, 1) }, false},
		{17, "ReduceMean", func(x *Value) *Value { return ReduceMean(x, false, 1) }, true},
		{18, "ReduceMean", func(x *Value) *Value { return ReduceMean(x, false, 1) }, false},
		{17, "ReduceMax", func(x *Value) *Value { return ReduceMax(x, false, 1) }, true},
		{21, "ReduceMax", func(x *Value) *Value { return ReduceMax(x, false, 1) }, false},
	} {
		g := NewGraph("t", tc.opset)
		x := g.Input("x", tensor.Float32, nchw)
		g.Output("y", tc.build(x))
		gp, err := g.Proto()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range gp.GetNode() {
			if n.GetOpType() != tc.op {
				continue
			}
			hasAttr := false
			for _, a := range n.GetAttribute() {
				if a.GetName() == "axes" {
					hasAttr = true
				}
			}
			if hasAttr != tc.wantAttribute || (len(n.GetInput()) == 2) == tc.wantAttribute {
				t.Errorf("opset %d %s: axes attribute %v, inputs %v", tc.opset, tc.op, hasAttr, n.GetInput())
			}
		}
	}
}

func TestNamesAreScopedAndDeterministic(t *testing.T) {
	build := func() []string {
		g := NewGraph("t", 17)
		x := g.Input("x", tensor.Float32, nchw)
		pop := g.Scope("dice")
		inner := g.Scope("intersection")
		y := ReduceSum(Mul(x, x), false)
		inner()
		pop()
		g.Output("loss", y)
		g.Output("copy", y)
		g.Output("x_again", x)
		gp, err := g.Proto()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range gp.GetNode() {
			names = append(names, n.GetName()+"->"+strings.Join(n.GetOutput(), ","))
		}
		return names
	}
	a, b := build(), build()
	if strings.Join(a, " ") != strings.Join(b, " ") {
		t.Fatalf("names differ between builds:\n%v\n%v", a, b)
	}
	joined := strings.Join(a, " ")
	// The sum is blocked into several ReduceSum nodes; the last one writes loss.
	for _, want := range []string{"dice/intersection/Mul_0", "dice/intersection/ReduceSum_0", "copy_identity->copy", "x_again_identity->x_again"} {
		if !strings.Contains(joined, want) {
			t.Errorf("names %v lack %q", a, want)
		}
	}
	if last := a[len(a)-3]; !strings.HasPrefix(last, "dice/intersection/ReduceSum_") || !strings.HasSuffix(last, "->loss") {
		t.Errorf("loss written by %q, not by the scoped ReduceSum", last)
	}
}

func TestDuplicateNames(t *testing.T) {
	g := NewGraph("t", 17)
	g.Input("x", tensor.Float32, nchw)
	g.Input("x", tensor.Float32, nchw)
	if g.Err() == nil {
		t.Error("duplicate input accepted")
	}
	g = NewGraph("t", 17)
	x := g.Input("x", tensor.Float32, nchw)
	g.Output("x", Exp(x))
	if g.Err() == nil {
		t.Error("output named like an input accepted")
	}
}

// run builds a graph with one float32 input and runs it in ONNX Runtime.
func run(t *testing.T, opset int, in *tensor.Tensor, build func(g *Graph, x *Value) *Value) *tensor.Tensor {
	t.Helper()
	testutil.RequireRuntime(t)
	g := NewGraph("t", opset)
	shape := make(Shape, len(in.Shape))
	for i := range shape {
		shape[i] = Sym(string(rune('a' + i)))
	}
	x := g.Input("x", in.DType, shape)
	g.Output("y", build(g, x))
	return testutil.RunGraph(t, g, map[string]*tensor.Tensor{"x": in}, "y")
}

func near(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*(1+math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// TestSoftmaxDecomposition compares the decomposed channel softmax and
// log-softmax with hand-computed values, including logits of 1e4.
func TestSoftmaxDecomposition(t *testing.T) {
	// Two pixels, three classes, NCHW [1,3,1,2].
	in := tensor.FromFloat32([]int{1, 3, 1, 2}, []float32{1, 1e4, 2, -1e4, 3, 1e4})
	want := func(col []float64) []float64 {
		m := math.Max(col[0], math.Max(col[1], col[2]))
		s := 0.0
		for _, v := range col {
			s += math.Exp(v - m)
		}
		out := make([]float64, 3)
		for i, v := range col {
			out[i] = v - m - math.Log(s)
		}
		return out
	}
	p0, p1 := want([]float64{1, 2, 3}), want([]float64{1e4, -1e4, 1e4})
	wantLog := []float64{p0[0], p1[0], p0[1], p1[1], p0[2], p1[2]}
	for _, opset := range []int{13, 17, 21} {
		got := run(t, opset, in, func(g *Graph, x *Value) *Value { return LogSoftmax(x, 1) }).Float64s()
		if !near(got, wantLog, 1e-6) {
			t.Errorf("opset %d LogSoftmax = %v, want %v", opset, got, wantLog)
		}
		got = run(t, opset, in, func(g *Graph, x *Value) *Value { return Softmax(x, 1) }).Float64s()
		for i := range got {
			if math.Abs(got[i]-math.Exp(wantLog[i])) > 1e-6 {
				t.Errorf("opset %d Softmax[%d] = %v, want %v", opset, i, got[i], math.Exp(wantLog[i]))
			}
		}
		lse := run(t, opset, in, func(g *Graph, x *Value) *Value { return LogSumExp(x, 1, false) }).Float64s()
		if math.Abs(lse[1]-(1e4+math.Log(2))) > 1e-3 || math.Abs(lse[0]-(3+math.Log(1+math.Exp(-1)+math.Exp(-2)))) > 1e-5 {
			t.Errorf("opset %d LogSumExp = %v", opset, lse)
		}
	}
}

// TestSoftmaxHugeLogits: the decomposed softmax stays exact for logits far
// beyond what an int32 holds (its detached maximum goes through int64), up
// to 2^62.
func TestSoftmaxHugeLogits(t *testing.T) {
	// Two pixels, three classes, NCHW [1,3,1,2].
	in := tensor.FromFloat32([]int{1, 3, 1, 2}, []float32{3e12, 4e18, 3e12, -4e18, -3e12, 0})
	ln2 := math.Ln2
	wantLog := []float64{-ln2, 0, -ln2, -8e18, -6e12 - ln2, -4e18}
	got := run(t, DefaultOpset, in, func(g *Graph, x *Value) *Value { return LogSoftmax(x, 1) }).Float64s()
	for i := range got {
		if math.Abs(got[i]-wantLog[i]) > 1e-6*math.Max(1, math.Abs(wantLog[i])) {
			t.Errorf("LogSoftmax[%d] = %v, want %v", i, got[i], wantLog[i])
		}
	}
	got = run(t, DefaultOpset, in, func(g *Graph, x *Value) *Value { return Softmax(x, 1) }).Float64s()
	for i := range got {
		if math.Abs(got[i]-math.Exp(wantLog[i])) > 1e-6 {
			t.Errorf("Softmax[%d] = %v, want %v", i, got[i], math.Exp(wantLog[i]))
		}
	}
}

// TestOpsInRuntime runs ops whose semantics are easy to get wrong and
// compares them with values worked out by hand.
func TestOpsInRuntime(t *testing.T) {
	ramp := tensor.FromFloat32([]int{1, 1, 3, 4}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	tests := []struct {
		name  string
		build func(g *Graph, x *Value) *Value
		want  []float64
	}{
		{"MaxPool 3x3 same", func(g *Graph, x *Value) *Value {
			return MaxPool(x, Window{Kernel: []int64{3, 3}, Pads: SamePads(3, 3)})
		}, []float64{5, 6, 7, 7, 9, 10, 11, 11, 9, 10, 11, 11}},
		{"AveragePool 2x2 stride 2", func(g *Graph, x *Value) *Value {
			return AveragePool(x, Window{Kernel: []int64{2, 2}, Strides: []int64{2, 2}}, false)
		}, []float64{2.5, 4.5}},
		{"Conv 1x2 difference", func(g *Graph, x *Value) *Value {
			w := ConstTensor(g, tensor.FromFloat32([]int{1, 1, 1, 2}, []float32{-1, 1}))
			return Conv(x, w, nil, Window{}, 1)
		}, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"Pad reflect", func(g *Graph, x *Value) *Value {
			return Slice(Pad(x, []int64{0, 0, 0, 1, 0, 0, 0, 1}, "reflect", 0), []int64{0}, []int64{1}, []int64{2}, nil)
		}, []float64{1, 0, 1, 2, 3, 2}},
		{"TopK full sort descending", func(g *Graph, x *Value) *Value {
			f := ReshapeDims(Neg(x), 1, -1)
			v, _ := TopK(f, DimOf(f, 1), 1, true)
			return Slice(v, []int64{0}, []int64{3}, []int64{1}, nil)
		}, []float64{0, -1, -2}},
		{"CumSum reverse exclusive", func(g *Graph, x *Value) *Value {
			return CumSum(Slice(x, []int64{0}, []int64{1}, []int64{2}, nil), 3, true, true)
		}, []float64{6, 5, 3, 0}},
		{"OneHot with out-of-range label", func(g *Graph, x *Value) *Value {
			labels := ConstTensor(g, tensor.FromInt64([]int{3}, []int64{0, 2, 7}))
			return Cast(OneHot(labels, 3, 1), tensor.Float32)
		}, []float64{1, 0, 0, 0, 0, 1, 0, 0, 0}},
		{"Clip and ClipMin", func(g *Graph, x *Value) *Value {
			return Add(Clip(x, 2, 4), ClipMin(x, 10))
		}, []float64{12, 12, 12, 13, 14, 14, 14, 14, 14, 14, 14, 15}},
	}
	for _, tc := range tests {
		got := run(t, 17, ramp, tc.build).Float64s()
		if !near(got, tc.want, 1e-6) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
}
