package builder_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// The gradient tests build a small graph, take its gradient with Gradient,
// run both in ONNX Runtime, and compare the gradient with central finite
// differences of the forward graph, also run in ONNX Runtime. The graphs
// compute in float64, so with a step of 1e-6 (relative to the entry for
// entries above 1) the difference quotient is accurate to about 1e-9: the
// truncation error is h²·f'''/6 ≈ 1e-12 and the rounding error about
// 1e-16·|f|/h ≈ 1e-10 for the O(1) outputs used here. The check allows
// 1e-6·(1 + |fd|), three orders above that and far below any wrong rule.
//
// Losses are weighted sums Σ w·f(x) with fixed random weights w, so the
// cotangent differs from entry to entry and a rule that misplaces entries
// cannot pass.

// arg is one graph input of a gradient test.
type arg struct {
	name  string
	t     *tensor.Tensor
	shape Shape // declared shape; nil: the tensor's own
	wrt   bool  // differentiate with respect to it
}

func f64(shape []int, vals ...float64) *tensor.Tensor { return tensor.FromFloat64(shape, vals) }

func i64(shape []int, vals ...int64) *tensor.Tensor { return tensor.FromInt64(shape, vals) }

// randn returns a float64 tensor of normal values (scaled) with a seed
// derived from the shape, offset by shift.
func randn(seed uint64, shape []int, scale, shift float64) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := make([]float64, tensor.NumElements(shape))
	for i := range v {
		v[i] = rng.NormFloat64()*scale + shift
	}
	return tensor.FromFloat64(shape, v)
}

// spaced returns a float32 tensor holding a random permutation of
// distinct values 0.1 apart, centred on 0.
func spaced(seed uint64, shape ...int) *tensor.Tensor {
	n := tensor.NumElements(shape)
	v := make([]float64, n)
	for i, p := range rand.New(rand.NewPCG(seed, 5)).Perm(n) {
		v[i] = 0.1 * (float64(p) - float64(n)/2)
	}
	return tensor.FromFloat64(shape, v).Convert(tensor.Float32)
}

// wsum returns Σ w·v for fixed random weights w of v's (known) shape.
func wsum(v *Value) *Value {
	sizes, ok := v.Shape().Sizes()
	if !ok {
		panic("wsum needs a known shape")
	}
	shape := make([]int, len(sizes))
	for i, s := range sizes {
		shape[i] = int(s)
	}
	w := randn(uint64(len(shape)*7919+tensor.NumElements(shape)), shape, 1, 0.5).Convert(v.DType())
	return ReduceSum(Mul(v, ConstTensor(v.Graph(), w)), false)
}

type gradOpts struct {
	opsets []int
	tol    float64 // relative tolerance; 0: 1e-6
	step   float64 // relative finite-difference step; 0: 1e-6 for float64 inputs, 1e-2 for others
}

// checkGrad builds the graph of build on the args at each opset (13, 17
// and 21 unless given), adds Gradient with respect to the wrt args, and
// compares every gradient entry with central finite differences.
func checkGrad(t *testing.T, args []arg, build func(g *Graph, v map[string]*Value) *Value, o ...gradOpts) {
	t.Helper()
	testutil.RequireRuntime(t)
	opt := gradOpts{opsets: []int{13, 17, 21}, tol: 1e-6}
	if len(o) > 0 {
		if o[0].opsets != nil {
			opt.opsets = o[0].opsets
		}
		if o[0].tol > 0 {
			opt.tol = o[0].tol
		}
		opt.step = o[0].step
	}
	for _, opset := range opt.opsets {
		sess, wrt := gradSession(t, opset, args, build)
		if sess == nil {
			return
		}
		feed := map[string]*tensor.Tensor{}
		for _, a := range args {
			feed[a.name] = a.t
		}
		out, err := sess.Run(feed)
		if err != nil {
			t.Fatalf("opset %d: %v", opset, err)
		}
		for i, a := range wrt {
			got := out[fmt.Sprintf("grad_%d", i)]
			if got.DType != a.t.DType || fmt.Sprint(got.Shape) != fmt.Sprint(a.t.Shape) {
				t.Fatalf("opset %d: gradient of %s is %v%v, want %v%v", opset, a.name, got.DType, got.Shape, a.t.DType, a.t.Shape)
			}
			fd := finiteDiff(t, sess, feed, a.name, opt.step)
			g := got.Float64s()
			for j := range g {
				if math.IsNaN(g[j]) || math.Abs(g[j]-fd[j]) > opt.tol*(1+math.Abs(fd[j])) {
					t.Errorf("opset %d: d/d%s[%d] = %.12g, finite differences %.12g", opset, a.name, j, g[j], fd[j])
				}
			}
		}
		sess.Close()
	}
}

// gradSession builds the test graph with outputs y and grad_i and opens it.
func gradSession(t *testing.T, opset int, args []arg, build func(g *Graph, v map[string]*Value) *Value) (*runtime.Session, []arg) {
	t.Helper()
	g := NewGraph("grad_test", opset)
	vals := map[string]*Value{}
	var wrtVals []*Value
	var wrt []arg
	for _, a := range args {
		shape := a.shape
		if shape == nil {
			shape = Shape{}
			for _, d := range a.t.Shape {
				shape = append(shape, Fixed(int64(d)))
			}
		}
		vals[a.name] = g.Input(a.name, a.t.DType, shape)
		if a.wrt {
			wrtVals = append(wrtVals, vals[a.name])
			wrt = append(wrt, a)
		}
	}
	y := build(g, vals)
	g.Output("f", y)
	for i, gv := range Gradient(y, wrtVals...) {
		g.Output(fmt.Sprintf("grad_%d", i), gv)
	}
	b, err := modelBytes(g)
	if err != nil {
		t.Fatalf("opset %d: %v", opset, err)
	}
	sess, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatalf("opset %d: %v", opset, err)
	}
	return sess, wrt
}

// modelBytes wraps a graph into a model of the graph's opset, checking
// that every node is in the default domain.
func modelBytes(g *Graph) ([]byte, error) {
	gp, err := g.Proto()
	if err != nil {
		return nil, err
	}
	for _, n := range gp.GetNode() {
		if n.GetDomain() != "" {
			return nil, fmt.Errorf("node %s in domain %q", n.GetName(), n.GetDomain())
		}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(IRVersion(g.Opset())),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(g.Opset()))}},
		Graph:       gp,
	}
	return proto.Marshal(m)
}

// finiteDiff returns the central differences of output y with respect to
// every entry of input name. Steps are taken in the input's own type, and
// the quotient uses the perturbed values as stored.
func finiteDiff(t *testing.T, sess *runtime.Session, feed map[string]*tensor.Tensor, name string, rel float64) []float64 {
	t.Helper()
	base := feed[name]
	x := base.Float64s()
	if rel == 0 {
		rel = 1e-6
		if base.DType != tensor.Float64 {
			rel = 1e-2 // lower-precision inputs: larger steps, looser checks
		}
	}
	fd := make([]float64, len(x))
	eval := func(v []float64) (float64, float64) {
		pt := tensor.FromFloat64(base.Shape, v).Convert(base.DType)
		f := map[string]*tensor.Tensor{}
		for k, tt := range feed {
			f[k] = tt
		}
		f[name] = pt
		out, err := sess.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		return out["f"].Float64s()[0], pt.Float64s()[0]
	}
	for j := range x {
		h := rel * math.Max(1, math.Abs(x[j]))
		v := append([]float64{}, x...)
		one := func(xj float64) (float64, float64) {
			v[j] = xj
			y, _ := eval(v)
			stored := tensor.FromFloat64([]int{1}, []float64{xj}).Convert(base.DType).Float64s()[0]
			return y, stored
		}
		yp, xp := one(x[j] + h)
		ym, xm := one(x[j] - h)
		fd[j] = (yp - ym) / (xp - xm)
	}
	return fd
}

// runGrad builds the test graph once and returns the gradients at the args.
func runGrad(t *testing.T, opset int, args []arg, build func(g *Graph, v map[string]*Value) *Value) []*tensor.Tensor {
	t.Helper()
	testutil.RequireRuntime(t)
	sess, wrt := gradSession(t, opset, args, build)
	defer sess.Close()
	feed := map[string]*tensor.Tensor{}
	for _, a := range args {
		feed[a.name] = a.t
	}
	out, err := sess.Run(feed)
	if err != nil {
		t.Fatal(err)
	}
	var gs []*tensor.Tensor
	for i := range wrt {
		gs = append(gs, out[fmt.Sprintf("grad_%d", i)])
	}
	return gs
}

func x1(t *tensor.Tensor) []arg { return []arg{{name: "x", t: t, wrt: true}} }

// TestVJPUnary checks each elementwise unary rule against finite differences.
func TestVJPUnary(t *testing.T) {
	away := func(seed uint64) *tensor.Tensor { // entries away from 0: |x| in [0.3, 2.3]
		x := randn(seed, []int{2, 3}, 1, 0).Float64s()
		for i := range x {
			x[i] = math.Copysign(0.3+math.Mod(math.Abs(x[i]), 2), x[i])
		}
		return tensor.FromFloat64([]int{2, 3}, x)
	}
	pos := randn(3, []int{2, 3}, 0.3, 1.5)
	cases := []struct {
		name string
		x    *tensor.Tensor
		f    func(*Value) *Value
	}{
		{"Neg", randn(1, []int{2, 3}, 1, 0), Neg},
		{"Abs", away(2), Abs},
		{"Exp", randn(4, []int{2, 3}, 1, 0), Exp},
		{"Log", pos, Log},
		{"Sqrt", pos, Sqrt},
		{"Relu", away(5), Relu},
		{"Sigmoid", randn(6, []int{2, 3}, 2, 0), Sigmoid},
		{"Tanh", randn(7, []int{2, 3}, 1, 0), Tanh},
		{"Reciprocal", away(8), Reciprocal},
		{"Identity", randn(9, []int{2, 3}, 1, 0), Identity},
		{"Square", randn(10, []int{2, 3}, 1, 0), Square},
		{"chain", randn(11, []int{2, 3}, 1, 0), func(x *Value) *Value { return Log(AddScalar(Exp(Tanh(x)), 1)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkGrad(t, x1(c.x), func(_ *Graph, v map[string]*Value) *Value { return wsum(c.f(v["x"])) })
		})
	}
}

// TestVJPKinks checks the derivative chosen at the points where Relu, Abs
// and Clip are not differentiable: PyTorch's choice.
func TestVJPKinks(t *testing.T) {
	x := f64([]int{5}, -1, 0, 0.5, 1, 2)
	cases := []struct {
		name string
		f    func(*Value) *Value
		want []float64
	}{
		{"Relu", Relu, []float64{0, 0, 1, 1, 1}},
		{"Abs", Abs, []float64{-1, 0, 1, 1, 1}},
		{"Clip", func(x *Value) *Value { return Clip(x, 0, 1) }, []float64{0, 1, 1, 1, 0}},
		{"ClipMin", func(x *Value) *Value { return ClipMin(x, 0.5) }, []float64{0, 0, 1, 1, 1}},
		// Straight through: the clamp's own derivative is ignored.
		{"ClipStraightThrough", func(x *Value) *Value { return Square(ClipStraightThrough(x, 0, 1)) }, []float64{0, 0, 1, 2, 2}},
		{"Max", func(x *Value) *Value { return Max(x, ConstAs(x, 1)) }, []float64{0, 0, 0, 0.5, 1}},
		{"Min", func(x *Value) *Value { return Min(x, ConstAs(x, 0)) }, []float64{1, 0.5, 0, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := runGrad(t, 17, x1(x), func(_ *Graph, v map[string]*Value) *Value { return ReduceSum(c.f(v["x"]), false) })
			if got := g[0].Float64s(); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("gradient %v, want %v", got, c.want)
			}
		})
	}
}

// TestVJPCast checks Cast between float types, including the half-precision
// inputs losses accept: the gradient comes back in the input's type.
func TestVJPCast(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
		t.Run(dt.String(), func(t *testing.T) {
			x := randn(12, []int{2, 3}, 1, 0).Convert(dt)
			checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value {
				return wsum(Exp(Cast(v["x"], tensor.Float64)))
			}, gradOpts{tol: 2e-2})
		})
	}
	t.Run("float64-float32", func(t *testing.T) {
		checkGrad(t, x1(randn(13, []int{4}, 1, 0)), func(_ *Graph, v map[string]*Value) *Value {
			return wsum(Cast(Exp(Cast(v["x"], tensor.Float32)), tensor.Float64))
		}, gradOpts{tol: 1e-3, step: 1e-2})
	})
}

// TestVJPPow checks constant exponents, including 0 (zero gradient).
func TestVJPPow(t *testing.T) {
	x := randn(14, []int{2, 3}, 0.3, 1.5)
	for _, e := range []float64{0, 1, 2, 3, 0.5, -1.5, 2.7} {
		t.Run(fmt.Sprint(e), func(t *testing.T) {
			checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return wsum(Pow(v["x"], e)) })
		})
	}
}

// TestVJPClip checks both forms of Clip away from the bounds.
func TestVJPClip(t *testing.T) {
	x := f64([]int{6}, -1.7, -0.4, 0.2, 0.45, 0.9, 1.6)
	t.Run("Clip", func(t *testing.T) {
		checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return wsum(Mul(Clip(v["x"], -0.5, 1), v["x"])) })
	})
	t.Run("ClipMin", func(t *testing.T) {
		checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return wsum(Mul(ClipMin(v["x"], 0.3), v["x"])) })
	})
}

// TestVJPWhere checks that the cotangent goes to the branch taken, with
// broadcasting branches and a condition computed from x (which carries no
// gradient), and with one value in both branches.
func TestVJPWhere(t *testing.T) {
	x := randn(15, []int{3, 4}, 1, 0)
	y := randn(16, []int{1, 4}, 1, 0)
	args := []arg{{name: "x", t: x, wrt: true}, {name: "y", t: y, wrt: true}}
	t.Run("branches", func(t *testing.T) {
		checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value {
			x, y := v["x"], v["y"]
			return wsum(Where(Greater(x, y), Exp(x), Mul(y, y)))
		})
	})
	t.Run("scalar branch", func(t *testing.T) {
		checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value {
			x, y := v["x"], v["y"]
			return wsum(Where(Greater(x, ConstAs(x, 0)), Mul(x, y), ReduceSum(y, false)))
		})
	})
	t.Run("same value", func(t *testing.T) {
		g := runGrad(t, 17, args[:1], func(_ *Graph, v map[string]*Value) *Value {
			x := v["x"]
			return ReduceSum(Where(Greater(x, ConstAs(x, 0)), x, x), false)
		})
		for _, d := range g[0].Float64s() {
			if d != 1 {
				t.Fatalf("gradient %v, want ones", g[0])
			}
		}
	})
}

// TestVJPBinary checks Add, Sub, Mul, Div, Max and Min on every
// broadcasting pattern, including an operand used twice.
func TestVJPBinary(t *testing.T) {
	shapes := [][2][]int{
		{{2, 3}, {2, 3}}, {{2, 3, 4}, {3, 1}}, {{1, 3, 1}, {2, 1, 4}}, {{}, {2, 3}}, {{2, 3}, {1}}, {{4}, {3, 1}},
	}
	ops := map[string]func(a, b *Value) *Value{"Add": Add, "Sub": Sub, "Mul": Mul, "Div": Div, "Max": Max, "Min": Min}
	for _, name := range []string{"Add", "Sub", "Mul", "Div", "Max", "Min"} {
		op := ops[name]
		for i, sh := range shapes {
			t.Run(fmt.Sprintf("%s/%v%v", name, sh[0], sh[1]), func(t *testing.T) {
				a := randn(uint64(20+i), sh[0], 1, 0)
				b := randn(uint64(40+i), sh[1], 0.5, 2) // positive, so Div is smooth
				checkGrad(t, []arg{{name: "a", t: a, wrt: true}, {name: "b", t: b, wrt: true}},
					func(_ *Graph, v map[string]*Value) *Value { return wsum(op(v["a"], v["b"])) }, gradOpts{opsets: []int{17}})
			})
		}
		t.Run(name+"/same operand", func(t *testing.T) {
			checkGrad(t, x1(randn(60, []int{3}, 0.5, 2)), func(_ *Graph, v map[string]*Value) *Value {
				return wsum(op(v["x"], v["x"]))
			}, gradOpts{opsets: []int{17}})
		})
	}
}

// TestVJPMaxMinTies checks the even split between tied operands, which is
// also what central differences give at a tie.
func TestVJPMaxMinTies(t *testing.T) {
	a := f64([]int{4}, 1, 2, 3, 4)
	b := f64([]int{4}, 1, 5, 3, 0)
	args := []arg{{name: "a", t: a, wrt: true}, {name: "b", t: b, wrt: true}}
	for name, op := range map[string]func(a, b *Value) *Value{"Max": Max, "Min": Min} {
		t.Run(name, func(t *testing.T) {
			checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value { return wsum(op(v["a"], v["b"])) })
			g := runGrad(t, 17, args, func(_ *Graph, v map[string]*Value) *Value { return ReduceSum(op(v["a"], v["b"]), false) })
			want := map[string][2]string{"Max": {"[0.5 0 0.5 1]", "[0.5 1 0.5 0]"}, "Min": {"[0.5 1 0.5 0]", "[0.5 0 0.5 1]"}}[name]
			if fmt.Sprint(g[0].Float64s()) != want[0] || fmt.Sprint(g[1].Float64s()) != want[1] {
				t.Errorf("gradients %v and %v, want %s and %s", g[0].Float64s(), g[1].Float64s(), want[0], want[1])
			}
		})
	}
}

// TestVJPReduce checks ReduceSum, ReduceMean and ReduceLogSumExp over
// some and all axes, keeping dimensions or not.
func TestVJPReduce(t *testing.T) {
	x := randn(70, []int{2, 3, 4}, 1, 0)
	ops := map[string]func(*Value, bool, ...int) *Value{"ReduceSum": ReduceSum, "ReduceMean": ReduceMean, "ReduceLogSumExp": ReduceLogSumExp}
	for _, name := range []string{"ReduceSum", "ReduceMean", "ReduceLogSumExp"} {
		for _, axes := range [][]int{{1}, {0, 2}, {-1}, nil} {
			for _, keep := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%v/keep=%v", name, axes, keep), func(t *testing.T) {
					checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value {
						r := ops[name](Exp(v["x"]), keep, axes...)
						if r.Rank() == 0 {
							return Mul(r, r)
						}
						return wsum(Mul(r, r))
					}, gradOpts{opsets: []int{13, 18}})
				})
			}
		}
	}
}

// TestVJPSoftmax checks the native Softmax and LogSoftmax (last axis) and
// the decomposition the builder uses on other axes, whose detached shift
// must not change the gradient.
func TestVJPSoftmax(t *testing.T) {
	x := randn(71, []int{2, 3, 4}, 2, 0)
	for _, axis := range []int{-1, 1, 0} {
		t.Run(fmt.Sprintf("Softmax/%d", axis), func(t *testing.T) {
			checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return wsum(Softmax(v["x"], axis)) })
		})
		t.Run(fmt.Sprintf("LogSoftmax/%d", axis), func(t *testing.T) {
			checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return wsum(LogSoftmax(v["x"], axis)) })
		})
	}
	t.Run("LogSoftmax/sum", func(t *testing.T) { // a cotangent broadcast along the axis
		checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return ReduceSum(LogSoftmax(v["x"], -1), false) })
	})
	t.Run("LogSumExp", func(t *testing.T) {
		checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value { return wsum(LogSumExp(v["x"], 1, false)) })
	})
}

// TestVJPGather checks Gather with respect to its data: repeated and
// negative indices, scalar and 2-D indices, several axes.
func TestVJPGather(t *testing.T) {
	x := randn(72, []int{3, 4, 2}, 1, 0)
	cases := []struct {
		name string
		idx  *tensor.Tensor
		axis int
	}{
		{"axis0", i64([]int{4}, 2, 0, 2, -1), 0},
		{"axis1", i64([]int{2, 3}, 3, 1, 1, 0, -4, 2), 1},
		{"scalar", i64(nil, -2), 1},
		{"last", i64([]int{3}, 1, 1, 0), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []arg{{name: "x", t: x, wrt: true}, {name: "i", t: c.idx}}
			checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value {
				return wsum(Exp(Gather(v["x"], v["i"], c.axis)))
			})
		})
	}
}

// TestVJPGatherElements checks the per-pixel pick (indices of size 1 along
// the axis, the Equal-mask rule) and general indices with repeats, which use
// ScatterElements with reduction "add" from opset 16 and a one-hot sum
// before.
func TestVJPGatherElements(t *testing.T) {
	x := randn(73, []int{2, 3, 4}, 1, 0)
	cases := []struct {
		name string
		idx  *tensor.Tensor
		axis int
	}{
		{"pick", i64([]int{2, 1, 4}, 0, 2, 1, -1, 2, 2, 0, 1), 1},
		{"repeats", i64([]int{2, 3, 4}, 0, 0, 1, 2, 1, 1, 1, 0, 2, 0, 2, 2, 0, 1, 2, 0, -1, 1, 1, 1, 0, 2, 2, 0), 1},
		{"longer", i64([]int{2, 5, 4}, 0, 0, 1, 2, 1, 1, 1, 0, 2, 0, 2, 2, 0, 1, 2, 0, -1, 1, 1, 1,
			0, 2, 2, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 0, 1, 0), 1},
		{"last axis", i64([]int{2, 3, 2}, 3, 3, 0, 1, 2, -1, 0, 0, 1, 2, 3, 1), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []arg{{name: "x", t: x, wrt: true}, {name: "i", t: c.idx}}
			checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value {
				return wsum(Exp(GatherElements(v["x"], v["i"], c.axis)))
			}, gradOpts{opsets: []int{13, 15, 16, 21}})
		})
	}
}

// TestVJPTopK checks TopK values (largest and smallest, k computed in the
// graph); its indices carry no gradient.
func TestVJPTopK(t *testing.T) {
	x := randn(74, []int{2, 6}, 1, 0)
	for _, largest := range []bool{true, false} {
		t.Run(fmt.Sprint("largest=", largest), func(t *testing.T) {
			checkGrad(t, x1(x), func(g *Graph, v map[string]*Value) *Value {
				vals, idx := TopK(v["x"], Ints(g, 3), 1, largest)
				// The indices are used, as a float, but carry no gradient.
				return ReduceSum(Mul(Mul(Exp(vals), Floats(g, tensor.Float64, 1, 2, 3)), Cast(idx, tensor.Float64)), false)
			})
		})
	}
	t.Run("dynamic k", func(t *testing.T) {
		// A symbolic shape: ONNX Runtime folds a k computed from a fixed
		// shape into a constant its TopK shape inference then rejects.
		checkGrad(t, []arg{{name: "x", t: x, shape: Shape{Sym("N"), Sym("L")}, wrt: true}}, func(g *Graph, v map[string]*Value) *Value {
			vals, _ := TopK(v["x"], DimOf(v["x"], 1), 1, true)
			return ReduceSum(Mul(vals, vals), false)
		})
	})
}

// TestVJPShapeOps checks Reshape, Transpose, Squeeze, Unsqueeze, Expand,
// Identity and Concat.
func TestVJPShapeOps(t *testing.T) {
	x := randn(75, []int{2, 3, 4}, 1, 0)
	cases := map[string]func(g *Graph, x *Value) *Value{
		"Reshape":   func(_ *Graph, x *Value) *Value { return ReshapeDims(Exp(x), 4, -1) },
		"Flatten":   func(_ *Graph, x *Value) *Value { return Flatten(Exp(x), 1) },
		"Transpose": func(_ *Graph, x *Value) *Value { return Transpose(Exp(x), 2, 0, 1) },
		"Unsqueeze": func(_ *Graph, x *Value) *Value { return Unsqueeze(Exp(x), 0, 3) },
		"Squeeze": func(_ *Graph, x *Value) *Value {
			return Squeeze(ReduceSum(Exp(x), true, 1), 1)
		},
		"Expand": func(g *Graph, x *Value) *Value {
			return Expand(ReduceSum(Exp(x), true, 1, 2), Ints(g, 3, 2, 5, 4))
		},
		"ExpandAs": func(g *Graph, x *Value) *Value {
			return ExpandAs(ReduceMean(Exp(x), true, 0), x)
		},
		"Concat": func(_ *Graph, x *Value) *Value {
			return Concat(1, Exp(x), x, ReduceSum(x, true, 1))
		},
		"Reshape of a scalar": func(_ *Graph, x *Value) *Value {
			return Mul(ReshapeDims(ReduceSum(x, false), 1, 1), Exp(x))
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			checkGrad(t, x1(x), func(g *Graph, v map[string]*Value) *Value { return wsum(f(g, v["x"])) })
		})
	}
}

// TestVJPSlice checks Slice with steps 1, 2 and -1, negative and
// out-of-range bounds, and several axes at once.
func TestVJPSlice(t *testing.T) {
	x := randn(76, []int{3, 7}, 1, 0)
	cases := []struct {
		starts, ends, axes, steps []int64
	}{
		{[]int64{1}, []int64{5}, []int64{1}, nil},
		{[]int64{-4}, []int64{math.MaxInt64}, []int64{-1}, nil},
		{[]int64{0, 1}, []int64{2, 100}, []int64{0, 1}, []int64{1, 2}},
		{[]int64{-1}, []int64{math.MinInt64}, []int64{1}, []int64{-1}},
		{[]int64{5}, []int64{1}, []int64{1}, []int64{-2}},
		{[]int64{2}, []int64{-1}, []int64{0}, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.starts, c.ends, c.axes, c.steps), func(t *testing.T) {
			checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value {
				return wsum(Exp(Slice(v["x"], c.starts, c.ends, c.axes, c.steps)))
			})
		})
	}
}

// TestVJPMatMul checks MatMul with 2-D operands, a shared weight matrix and
// batch broadcasting.
func TestVJPMatMul(t *testing.T) {
	cases := [][2][]int{{{3, 4}, {4, 2}}, {{2, 3, 4}, {4, 5}}, {{2, 1, 3, 4}, {5, 4, 2}}, {{3, 4}, {2, 4, 3}}}
	for i, c := range cases {
		t.Run(fmt.Sprint(c[0], c[1]), func(t *testing.T) {
			a, b := randn(uint64(80+i), c[0], 1, 0), randn(uint64(90+i), c[1], 1, 0)
			checkGrad(t, []arg{{name: "a", t: a, wrt: true}, {name: "b", t: b, wrt: true}},
				func(_ *Graph, v map[string]*Value) *Value { return wsum(Tanh(MatMul(v["a"], v["b"]))) })
		})
	}
}

// TestGradientSymbolicShapes checks broadcasting decided from symbolic
// dimensions, and the run-time fallback where the builder cannot decide
// whether an operand was broadcast.
func TestGradientSymbolicShapes(t *testing.T) {
	t.Run("symbolic", func(t *testing.T) {
		x := randn(100, []int{2, 3, 4}, 1, 0)
		m := randn(101, []int{2, 1, 4}, 1, 0)
		w := randn(102, []int{2, 3, 4}, 1, 0)
		args := []arg{
			{name: "x", t: x, shape: Shape{Sym("N"), Fixed(3), Sym("W")}, wrt: true},
			{name: "m", t: m, shape: Shape{Sym("N"), Fixed(1), Sym("W")}, wrt: true},
			{name: "w", t: w, shape: Shape{Sym("N"), Fixed(3), Sym("W")}},
		}
		checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value {
			x := v["x"]
			y := Mul(Div(Exp(x), ReduceSum(Add(v["m"], Exp(x)), true, 1)), v["w"])
			// A rotation along W: its dimension is unknown to the builder.
			r := Concat(2, Slice(Exp(x), []int64{1}, []int64{math.MaxInt64}, []int64{2}, nil), Slice(x, []int64{0}, []int64{1}, []int64{2}, nil))
			return ReduceMean(Mul(Add(y, r), Add(y, r)), false)
		})
	})
	t.Run("run-time broadcast", func(t *testing.T) {
		// u has shape [N, ?] once reshaped at run time: whether Add(x, u)
		// broadcast it is only known when the graph runs.
		for _, ucols := range []int{1, 3} {
			x := randn(103, []int{2, 3}, 1, 0)
			u := randn(104, []int{2, ucols}, 1, 0)
			args := []arg{
				{name: "x", t: x, shape: Shape{Sym("N"), Sym("C")}, wrt: true},
				{name: "u", t: u, shape: Shape{Sym("N"), Sym("K")}, wrt: true},
			}
			checkGrad(t, args, func(g *Graph, v map[string]*Value) *Value {
				uu := Reshape(v["u"], Concat(0, DimOf(v["u"], 0), Ints(g, -1)))
				s := Add(Exp(v["x"]), uu)
				return ReduceSum(Mul(s, s), false)
			})
		}
	})
	t.Run("symbolic slice and concat", func(t *testing.T) {
		x := randn(105, []int{2, 5}, 1, 0)
		args := []arg{{name: "x", t: x, shape: Shape{Sym("N"), Sym("L")}, wrt: true}}
		checkGrad(t, args, func(_ *Graph, v map[string]*Value) *Value {
			a := Slice(Exp(v["x"]), []int64{-3}, []int64{-1}, []int64{1}, nil)
			b := Slice(v["x"], []int64{-1}, []int64{math.MinInt64}, []int64{1}, []int64{-2})
			c := Concat(1, a, v["x"], b)
			return ReduceSum(Mul(c, c), false)
		})
	})
}

// TestGradientSharedSubexpressions checks that a value used many times is
// differentiated once: a chain where each level uses the previous one twice
// has a backward graph that grows linearly, not exponentially, and the
// gradient is right.
func TestGradientSharedSubexpressions(t *testing.T) {
	build := func(depth int) func(g *Graph, v map[string]*Value) *Value {
		return func(_ *Graph, v map[string]*Value) *Value {
			y := v["x"]
			for i := 0; i < depth; i++ {
				y = Tanh(Add(Mul(y, y), y))
			}
			return wsum(y)
		}
	}
	checkGrad(t, x1(randn(110, []int{3}, 0.5, 0)), build(4))

	g := NewGraph("deep", 17)
	x := g.Input("x", tensor.Float64, Dims(3))
	y := build(40)(g, map[string]*Value{"x": x})
	before := g.NumNodes()
	Gradient(y, x)
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if added := g.NumNodes() - before; added > 12*40 {
		t.Errorf("Gradient added %d nodes for a chain of 40 levels", added)
	}
}

// TestGradientUnreachable checks that values that do not depend on wrt get
// no backward nodes, and that a wrt the output does not depend on gets
// zeros.
func TestGradientUnreachable(t *testing.T) {
	added := func(other func(z *Value) *Value) int {
		g := NewGraph("u", 17)
		x := g.Input("x", tensor.Float64, Dims(2, 3))
		z := g.Input("z", tensor.Float64, Dims(2, 3))
		y := Add(wsum(Exp(x)), wsum(other(z)))
		before := g.NumNodes()
		Gradient(y, x)
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		return g.NumNodes() - before
	}
	small := added(func(z *Value) *Value { return z })
	big := added(func(z *Value) *Value { return Sigmoid(Tanh(Exp(Log(Abs(z))))) })
	if small != big {
		t.Errorf("Gradient added %d nodes with a long unrelated branch, %d with a short one", big, small)
	}
	gs := runGrad(t, 17, []arg{{name: "x", t: randn(111, []int{2}, 1, 0), wrt: true}, {name: "z", t: randn(112, []int{2, 2}, 1, 0), wrt: true}},
		func(_ *Graph, v map[string]*Value) *Value { return wsum(Exp(v["x"])) })
	if got := gs[1].Float64s(); fmt.Sprint(got) != "[0 0 0 0]" || fmt.Sprint(gs[1].Shape) != "[2 2]" {
		t.Errorf("gradient of an unused input: %v", gs[1])
	}
}

// TestGradientStopEdges checks every edge that carries no gradient:
// StopGradient, casts to integer types, comparisons, TopK indices, label
// values, shapes and DetachedMax.
func TestGradientStopEdges(t *testing.T) {
	x := randn(120, []int{2, 3}, 1.5, 0)
	xs := x.Float64s()
	cases := []struct {
		name string
		f    func(g *Graph, x *Value) *Value
		want func(x float64) float64 // d/dx of Σ f
	}{
		{"StopGradient", func(_ *Graph, x *Value) *Value { return Mul(x, StopGradient(x)) }, func(x float64) float64 { return x }},
		{"int cast", func(_ *Graph, x *Value) *Value {
			return Mul(x, Cast(Cast(x, tensor.Int32), tensor.Float64))
		}, func(x float64) float64 { return math.Trunc(x) }},
		{"bool cast", func(_ *Graph, x *Value) *Value {
			return Mul(x, Cast(Greater(x, ConstAs(x, 0)), tensor.Float64))
		}, func(x float64) float64 { return b2f(x > 0) }},
		{"shape", func(_ *Graph, x *Value) *Value {
			return Mul(x, Cast(ReduceProd(ShapeOf(x), false), tensor.Float64))
		}, func(float64) float64 { return 6 }},
		{"DetachedMax", func(_ *Graph, x *Value) *Value { return Sub(x, DetachedMax(x, 1)) }, func(float64) float64 { return 1 }},
		{"label-side Floor", func(_ *Graph, x *Value) *Value {
			return Mul(x, Floor(StopGradient(x)))
		}, func(x float64) float64 { return math.Floor(x) }},
		{"TopK indices", func(g *Graph, x *Value) *Value {
			_, idx := TopK(x, Ints(g, 2), 1, true)
			return Mul(ReduceSum(Cast(idx, tensor.Float64), false), x)
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gs := runGrad(t, 17, x1(x), func(g *Graph, v map[string]*Value) *Value { return ReduceSum(c.f(g, v["x"]), false) })
			got := gs[0].Float64s()
			for i := range got {
				want := 0.0
				if c.want != nil {
					want = c.want(xs[i])
				} else {
					want = topkIndexSum(xs)
				}
				if math.Abs(got[i]-want) > 1e-12 {
					t.Fatalf("gradient %v at x = %v", got, xs)
				}
			}
		})
	}
	t.Run("labels", func(t *testing.T) {
		labels := i64([]int{2, 3}, 0, 2, 1, 1, 0, 2)
		w := []float64{0.5, 2, 3}
		gs := runGrad(t, 17, []arg{{name: "x", t: x, wrt: true}, {name: "y", t: labels}}, func(g *Graph, v map[string]*Value) *Value {
			wy := Gather(Floats(g, tensor.Float64, w...), v["y"], 0)
			return ReduceSum(Mul(v["x"], wy), false)
		})
		for i, l := range labels.Int64s() {
			if gs[0].Float64s()[i] != w[l] {
				t.Fatalf("gradient %v", gs[0])
			}
		}
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// topkIndexSum is the sum of the indices of the 2 largest of each row of a
// 2×3 matrix: the factor multiplying x in the "TopK indices" case.
func topkIndexSum(x []float64) float64 {
	s := 0.0
	for r := 0; r < 2; r++ {
		row := x[r*3 : r*3+3]
		lo := 0
		for i := range row {
			if row[i] < row[lo] {
				lo = i
			}
		}
		s += float64(0 + 1 + 2 - lo)
	}
	return s
}

// TestGradientErrors checks the errors: a non-scalar or integer output, wrt
// from another graph or of integer type, an op without a gradient rule on
// the path, and that errors are sticky.
func TestGradientErrors(t *testing.T) {
	newG := func() (*Graph, *Value) {
		g := NewGraph("e", 17)
		return g, g.Input("x", tensor.Float32, Shape{Sym("N"), Fixed(3)})
	}
	cases := []struct {
		name string
		f    func(g *Graph, x *Value) []*Value
		want string
	}{
		{"non-scalar", func(_ *Graph, x *Value) []*Value { return Gradient(Exp(x), x) }, "not a scalar"},
		{"unknown dims", func(_ *Graph, x *Value) []*Value { return Gradient(ReduceSum(x, false, 1), x) }, "not a scalar"},
		{"int output", func(g *Graph, x *Value) []*Value {
			return Gradient(ReduceSum(Cast(x, tensor.Int64), false), x)
		}, "not a floating-point value"},
		{"int wrt", func(g *Graph, x *Value) []*Value {
			i := g.Input("i", tensor.Int64, Dims(2))
			return Gradient(ReduceSum(x, false), i)
		}, "wrt[0]"},
		{"other graph", func(g *Graph, x *Value) []*Value {
			h := NewGraph("other", 17)
			return Gradient(ReduceSum(x, false), h.Input("x", tensor.Float32, Dims(3)))
		}, "another graph"},
		{"ReduceMax on the path", func(_ *Graph, x *Value) []*Value {
			return Gradient(ReduceSum(ReduceMax(x, false, 1), false), x)
		}, "ReduceMax has no gradient rule"},
		{"Floor on the path", func(_ *Graph, x *Value) []*Value {
			return Gradient(ReduceSum(Mul(Floor(x), x), false), x)
		}, "Floor has no gradient rule"},
		{"CumSum on the path", func(_ *Graph, x *Value) []*Value {
			return Gradient(ReduceSum(CumSum(x, 1, false, false), false), x)
		}, "CumSum has no gradient rule"},
		{"earlier error", func(_ *Graph, x *Value) []*Value {
			Transpose(x, 0, 0)
			return Gradient(ReduceSum(x, false), x)
		}, "not a permutation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, x := newG()
			out := c.f(g, x)
			if g.Err() == nil || !strings.Contains(g.Err().Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", g.Err(), c.want)
			}
			if len(out) != 1 || out[0] == nil {
				t.Fatalf("Gradient returned %v", out)
			}
			Exp(out[0]) // placeholders can be used (and change nothing)
			if _, err := g.Proto(); err == nil {
				t.Fatal("the graph emits after an error")
			}
		})
	}
	t.Run("error names the path", func(t *testing.T) {
		g, x := newG()
		Gradient(ReduceSum(Floor(Exp(x)), false), x)
		if msg := g.Err().Error(); !strings.Contains(msg, "x:float32[N,3]") || !strings.Contains(msg, "label-side") {
			t.Errorf("message %q", msg)
		}
	})
}

// TestGradientOutputIsInput checks the trivial path: d x / d x for a
// scalar x is 1.
func TestGradientOutputIsInput(t *testing.T) {
	gs := runGrad(t, 17, x1(f64(nil, 3)), func(_ *Graph, v map[string]*Value) *Value { return v["x"] })
	if gs[0].Float64s()[0] != 1 {
		t.Fatalf("gradient %v", gs[0])
	}
}

// TestDifferentiablePath checks the path ONNX Runtime's gradient builder
// would differentiate: StopGradient is crossed there, stop edges are not,
// and DetachedMax keeps ReduceMax off it.
func TestDifferentiablePath(t *testing.T) {
	g := NewGraph("p", 17)
	x := g.Input("x", tensor.Float32, Dims(2, 3))
	a := Exp(x)
	d := Sub(x, DetachedMax(x, 1))
	s := StopGradient(Sigmoid(x))
	c := Cast(Greater(Tanh(x), ConstAs(x, 0)), tensor.Float32)
	loss := ReduceSum(Add(Add(Mul(a, s), Mul(d, c)), Relu(Floor(ReduceMin(Neg(StopGradient(x)), true, 1)))), false)
	ops := func(nodes []*Node) string {
		var o []string
		for _, n := range nodes {
			o = append(o, n.Op())
		}
		return strings.Join(o, " ")
	}
	want := "Exp Sub Sigmoid Identity Mul Mul Add Identity Neg ReduceMin Floor Relu Add ReduceSum"
	if got := ops(DifferentiablePath(loss, x)); got != want {
		t.Errorf("DifferentiablePath: %s\nwant %s", got, want)
	}
	want = "Exp Sub Mul Mul Add Add ReduceSum"
	if got := ops(GradientPath(loss, x)); got != want {
		t.Errorf("GradientPath: %s\nwant %s", got, want)
	}
	var missing []string
	for _, n := range DifferentiablePath(loss, x) {
		if ORTGradientMissing(n) {
			missing = append(missing, n.Op())
		}
	}
	if fmt.Sprint(missing) != "[ReduceMin Floor]" {
		t.Errorf("ops without ONNX Runtime gradients on the path: %v", missing)
	}
	for _, op := range OpsWithoutORTGradient() {
		// Resize appears in models (their upsampling), not in losses: the
		// training graphs of whole models differentiate it; ONNX Runtime's
		// gradient builder does not.
		if HasGradientRule(op) && op != "Resize" {
			t.Errorf("%s has a gradient rule here but none in ONNX Runtime", op)
		}
	}
}

// TestVJPWindow checks Conv (with respect to input, weights and bias:
// strides, padding, dilations, groups, symbolic sizes), AveragePool,
// MaxPool and Pad. ONNX Runtime runs these ops in float32 only, so the
// differences use steps of 1e-2 and the check allows 1e-3.
func TestVJPWindow(t *testing.T) {
	f32 := func(seed uint64, shape ...int) *tensor.Tensor {
		return randn(seed, shape, 1, 0).Convert(tensor.Float32)
	}
	loose := gradOpts{tol: 1e-3, opsets: []int{13, 17, 21}}
	sym := func(n int) Shape {
		s := Shape{Sym("N"), Fixed(int64(n))}
		return append(s, Sym("H"), Sym("W"))
	}
	convs := []struct {
		name   string
		x, w   []int
		win    Window
		group  int
		bias   bool
		symbol bool
	}{
		{"3x3 same", []int{2, 3, 5, 6}, []int{4, 3, 3, 3}, Window{Pads: SamePads(3, 3)}, 1, true, false},
		{"1x1", []int{2, 3, 4, 5}, []int{3, 3, 1, 1}, Window{}, 1, false, false},
		{"stride 2", []int{1, 2, 7, 6}, []int{3, 2, 3, 2}, Window{Strides: []int64{2, 2}, Pads: []int64{1, 0, 1, 1}}, 1, true, false},
		{"dilation", []int{1, 2, 7, 7}, []int{2, 2, 3, 3}, Window{Dilations: []int64{2, 1}, Pads: []int64{2, 1, 2, 1}}, 1, false, false},
		{"groups", []int{2, 4, 5, 5}, []int{6, 2, 3, 3}, Window{Pads: SamePads(3, 3)}, 2, true, false},
		{"symbolic stride 2", []int{2, 2, 7, 6}, []int{2, 2, 3, 3}, Window{Strides: []int64{2, 2}}, 1, true, true},
		{"symbolic same", []int{2, 2, 5, 4}, []int{3, 2, 3, 3}, Window{Pads: SamePads(3, 3)}, 1, false, true},
		{"3d", []int{1, 2, 3, 4, 5}, []int{2, 2, 2, 3, 3}, Window{Pads: []int64{0, 1, 1, 1, 1, 1}}, 1, true, false},
		// End padding on symbolic sizes: the transposed convolution cannot
		// crop it with a known output_padding.
		{"symbolic stride 2 end pads", []int{1, 2, 6, 7}, []int{2, 2, 2, 2}, Window{Strides: []int64{2, 2}, Pads: []int64{0, 0, 1, 1}}, 1, false, true},
		{"symbolic end pads", []int{1, 2, 5, 4}, []int{2, 2, 2, 3}, Window{Pads: []int64{0, 1, 1, 1}}, 1, true, true},
	}
	for i, c := range convs {
		t.Run("Conv/"+c.name, func(t *testing.T) {
			args := []arg{{name: "x", t: f32(uint64(200+i), c.x...), wrt: true}, {name: "w", t: f32(uint64(220+i), c.w...), wrt: true}}
			if c.symbol {
				args[0].shape = sym(c.x[1])
			}
			if c.bias {
				args = append(args, arg{name: "b", t: f32(uint64(240+i), c.w[0]), wrt: true})
			}
			checkGrad(t, args, func(g *Graph, v map[string]*Value) *Value {
				y := Conv(v["x"], v["w"], v["b"], c.win, c.group)
				return ReduceSum(Mul(Tanh(y), Sigmoid(y)), false)
			}, loose)
		})
	}
	pools := []struct {
		name     string
		x        []int
		win      Window
		countPad bool
		symbol   bool
	}{
		{"3x3 same", []int{2, 2, 5, 6}, Window{Kernel: []int64{3, 3}, Pads: SamePads(3, 3)}, false, false},
		{"3x3 same count pad", []int{2, 2, 5, 6}, Window{Kernel: []int64{3, 3}, Pads: SamePads(3, 3)}, true, false},
		{"2x2 stride 2", []int{1, 3, 5, 4}, Window{Kernel: []int64{2, 2}, Strides: []int64{2, 2}}, false, false},
		{"symbolic", []int{2, 2, 7, 5}, Window{Kernel: []int64{3, 2}, Strides: []int64{2, 1}, Pads: []int64{1, 0, 0, 1}}, false, true},
		{"3d", []int{1, 2, 3, 4, 4}, Window{Kernel: []int64{3, 3, 3}, Pads: SamePads(3, 3, 3)}, false, false},
		// The halving of ms-ssim on symbolic sizes, even and odd: every
		// position is in a window, the last one of an even axis too.
		{"symbolic halving", []int{2, 1, 4, 7}, Window{Kernel: []int64{2, 2}, Strides: []int64{2, 2}, Pads: []int64{0, 0, 1, 1}}, false, true},
		{"symbolic halving count pad", []int{1, 2, 6, 5}, Window{Kernel: []int64{2, 2}, Strides: []int64{2, 2}, Pads: []int64{0, 0, 1, 1}}, true, true},
	}
	for i, c := range pools {
		args := func() []arg {
			a := []arg{{name: "x", t: f32(uint64(260+i), c.x...), wrt: true}}
			if c.symbol {
				a[0].shape = sym(c.x[1])
			}
			return a
		}
		t.Run("AveragePool/"+c.name, func(t *testing.T) {
			checkGrad(t, args(), func(_ *Graph, v map[string]*Value) *Value {
				y := AveragePool(v["x"], c.win, c.countPad)
				return ReduceSum(Mul(Tanh(y), Sigmoid(y)), false)
			}, loose)
		})
		t.Run("MaxPool/"+c.name, func(t *testing.T) {
			// Distinct values 0.1 apart: no finite-difference step moves
			// an entry past another, so no window changes its winner.
			a := args()
			a[0].t = spaced(uint64(270+i), c.x...)
			checkGrad(t, a, func(_ *Graph, v map[string]*Value) *Value {
				y := MaxPool(v["x"], c.win)
				return ReduceSum(Mul(y, Sigmoid(y)), false)
			}, gradOpts{tol: 1e-3, opsets: []int{13, 16, 17, 21}})
		})
	}
	t.Run("MaxPool/opset 13", func(t *testing.T) {
		// Strided windows, overlapping or not, without ScatterElements'
		// reduction (opset 16), and unit strides with any padding.
		for j, w := range []Window{
			{Kernel: []int64{3, 3}, Pads: []int64{1, 1, 1, 1}},
			{Kernel: []int64{3, 1}, Pads: []int64{2, 0, 0, 0}},
			{Kernel: []int64{2, 3}},
		} {
			a := x1(spaced(uint64(290+j), 1, 2, 4, 5))
			checkGrad(t, a, func(_ *Graph, v map[string]*Value) *Value {
				y := MaxPool(v["x"], w)
				return ReduceSum(Mul(y, Sigmoid(y)), false)
			}, gradOpts{tol: 1e-3, opsets: []int{13, 17}})
		}
	})
	t.Run("Pad", func(t *testing.T) {
		checkGrad(t, x1(randn(280, []int{2, 3, 4}, 1, 0)), func(_ *Graph, v map[string]*Value) *Value {
			return wsum(Exp(Pad(v["x"], []int64{0, 1, 2, 0, 2, 0}, "constant", 0.5)))
		})
	})
	t.Run("Pad reflect", func(t *testing.T) {
		g := NewGraph("p", 17)
		x := g.Input("x", tensor.Float32, Dims(1, 4))
		Gradient(ReduceSum(Pad(x, []int64{0, 1, 0, 1}, "reflect", 0), false), x)
		if err := g.Err(); err == nil || !strings.Contains(err.Error(), "reflect mode has no gradient rule") {
			t.Errorf("error %v", err)
		}
	})
}

// TestVJPReduceBroadcastCt: a reduction whose output's cotangent arrives
// with a lower rank (a scalar's, broadcast lazily through elementwise ops)
// still inserts its reduced axes at the right places.
func TestVJPReduceBroadcastCt(t *testing.T) {
	x := randn(5, []int{2, 1, 3, 4}, 1, 0)
	for _, keep := range []bool{false, true} {
		checkGrad(t, []arg{{name: "x", t: x, shape: Shape{Sym("N"), Fixed(1), Sym("H"), Sym("W")}, wrt: true}}, func(g *Graph, v map[string]*Value) *Value {
			m := ReduceMean(Mul(v["x"], v["x"]), keep, 2, 3)
			s := ReduceSum(Exp(v["x"]), keep, 3)
			return Add(ReduceMean(MulScalar(OneMinus(m), 0.5), false), ReduceSum(MulScalar(s, 0.25), false))
		})
	}
}

// TestWithGradient checks that Gradient uses a WithGradient rule instead of
// differentiating the formula (here a rule that is deliberately not the
// formula's derivative, so that the two cannot be confused), that the rule
// is told which inputs need a contribution, that other uses of an input
// add up with the rule's, and that DifferentiablePath, the view of other
// training tools, sees the formula.
func TestWithGradient(t *testing.T) {
	x := randn(131, []int{2, 3}, 1.5, 0)
	y := randn(132, []int{2, 3}, 1.5, 0)
	var needs [][]bool
	build := func(g *Graph, v map[string]*Value) *Value {
		f := WithGradient(Mul(v["x"], v["y"]), []*Value{v["x"], v["y"]}, func(ct *Value, need []bool) []*Value {
			needs = append(needs, append([]bool{}, need...))
			return []*Value{MulScalar(ct, 3), MulScalar(ct, 5)}
		})
		return ReduceSum(Add(f, MulScalar(v["x"], 2)), false)
	}
	// The rule rides on the Mul; an Identity carries a second rule.
	g0 := NewGraph("t", 17)
	a := g0.Input("a", tensor.Float64, Dims(2))
	m := Mul(a, a)
	first := WithGradient(m, []*Value{a}, func(ct *Value, _ []bool) []*Value { return []*Value{ct} })
	second := WithGradient(first, []*Value{a}, func(ct *Value, _ []bool) []*Value { return []*Value{ct} })
	if first != m || second == m || second.Producer().Op() != "Identity" {
		t.Fatalf("WithGradient: the first rule should ride on the Mul (%v) and the second on an Identity (%v)", first.Producer().Op(), second.Producer().Op())
	}
	gs := runGrad(t, 17, []arg{{name: "x", t: x, wrt: true}, {name: "y", t: y}}, build)
	for i, v := range gs[0].Float64s() {
		if v != 5 { // 3 from the rule, 2 from the other use
			t.Fatalf("gradient[%d] = %v, want 5 (the rule's 3 plus 2): %v", i, v, gs[0])
		}
	}
	if len(needs) != 1 || !needs[0][0] || needs[0][1] {
		t.Fatalf("the rule was told need = %v, want one call with [true false]", needs)
	}

	g := NewGraph("t", 17)
	xv := g.Input("x", tensor.Float64, Dims(2, 3))
	yv := g.Input("y", tensor.Float64, Dims(2, 3))
	prod := Mul(xv, yv)
	out := ReduceSum(WithGradient(Add(prod, xv), []*Value{xv}, func(ct *Value, _ []bool) []*Value { return []*Value{ct} }), false)
	has := func(nodes []*Node) bool {
		for _, n := range nodes {
			if n == prod.Producer() {
				return true
			}
		}
		return false
	}
	if !has(DifferentiablePath(out, xv)) {
		t.Error("DifferentiablePath left out the formula's Mul: other training tools differentiate it")
	}
	if has(GradientPath(out, xv)) {
		t.Error("GradientPath includes the formula's Mul, which the rule replaces")
	}
	if !has(FormulaPath(out, xv)) {
		t.Error("FormulaPath left out the formula's Mul")
	}
}
