package builder_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/tensor"
)

// lossLike returns n float32 values distributed like per-pixel binary
// cross-entropy (positive, mean about 0.9): sums of positive values of one
// size are where sequential float32 accumulation drifts the most.
func lossLike(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 17))
	v := make([]float32, n)
	for i := range v {
		x := rng.NormFloat64() * 2
		t := float64(rng.IntN(2))
		v[i] = float32(math.Max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x))))
	}
	return v
}

// reduceRef sums (or averages) x of shape over axes in float64, keeping
// the reduced axes with size 1: the row-major result and its shape.
func reduceRef(x []float64, shape []int, axes []int, mean bool) ([]float64, []int) {
	red := make([]bool, len(shape))
	for _, a := range axes {
		red[a] = true
	}
	out := make([]int, len(shape))
	count := 1
	for i, d := range shape {
		out[i] = d
		if red[i] || len(axes) == 0 {
			out[i] = 1
			count *= d
		}
	}
	sums := make([]float64, tensor.NumElements(out))
	idx := make([]int, len(shape))
	for _, v := range x {
		o := 0
		for i := range shape {
			o *= out[i]
			if out[i] > 1 {
				o += idx[i]
			}
		}
		sums[o] += v
		for i := len(shape) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	if mean {
		for i := range sums {
			sums[i] /= float64(count)
		}
	}
	return sums, out
}

// runDeclared runs build on one float32 input declared with shape decl and
// returns its output y.
func runDeclared(t testing.TB, in *tensor.Tensor, decl Shape, build func(x *Value) *Value) *tensor.Tensor {
	t.Helper()
	g := NewGraph("t", DefaultOpset)
	g.Output("y", build(g.Input("x", in.DType, decl)))
	return testutil.RunGraph(t, g, map[string]*tensor.Tensor{"x": in}, "y")
}

// blockedCase is one reduction of the accuracy and gradient tests: each
// takes another path through the blocked reduction.
type blockedCase struct {
	name  string
	shape []int
	decl  Shape // declared shape of x
	axes  []int // reduced axes of the value prep returns; nil: all
	// prep turns x into the value that is reduced (x itself when nil) and
	// gives the shape of that value at run time.
	prep func(x *Value) *Value
	view []int
}

func blockedCases(large bool) []blockedCase {
	s := func(small, big []int) []int {
		if large {
			return big
		}
		return small
	}
	sym := func(names ...string) Shape {
		out := Shape{}
		for _, n := range names {
			if n == "1" {
				out = append(out, Fixed(1))
			} else {
				out = append(out, Sym(n))
			}
		}
		return out
	}
	flat := func(x *Value) *Value { return ReshapeDims(x, 0, 0, -1) }
	dropFirst := func(x *Value) *Value { // [N, L] → [N, ?]: a size the builder cannot know
		return Slice(x, []int64{1}, []int64{math.MaxInt64}, []int64{1}, nil)
	}
	big := s([]int{2, 1200}, []int{2, 2 * 1024 * 1024})
	prime := s([]int{2, 1031}, []int{1, 4194301})
	vol := s([]int{2, 1, 3, 4, 5}, []int{1, 1, 128, 128, 256})
	img := s([]int{2, 3, 6, 7}, []int{4, 4, 512, 512})
	slab := s([]int{2, 3, 6, 7}, []int{2, 2, 1024, 1024})
	wide := s([]int{2, 9}, []int{1, 4*1024*1024 + 1})
	return []blockedCase{
		{name: "volume, every axis", shape: vol, decl: sym("N", "1", "D", "H", "W")},
		{name: "volume, space", shape: vol, decl: sym("N", "1", "D", "H", "W"), axes: []int{2, 3, 4}},
		{name: "image, space", shape: img, decl: sym("N", "C", "H", "W"), axes: []int{2, 3}},
		{name: "image, batch and space", shape: img, decl: sym("N", "C", "H", "W"), axes: []int{0, 2, 3}},
		{name: "known axis split into blocks", shape: big, decl: Dims(int64(big[0]), int64(big[1])), axes: []int{1}},
		{name: "known prime axis", shape: prime, decl: Dims(int64(prime[0]), int64(prime[1])), axes: []int{1}},
		{name: "flattened space", shape: slab, decl: sym("N", "C", "H", "W"), axes: []int{2},
			prep: flat, view: []int{slab[0], slab[1], slab[2] * slab[3]}},
		{name: "unknown size", shape: wide, decl: sym("N", "L"), axes: []int{1},
			prep: dropFirst, view: []int{wide[0], wide[1] - 1}},
	}
}

// source returns the index in x of entry k of the value reduced.
func (c blockedCase) source(k int) int {
	if c.name == "unknown size" { // x[:, 1:]
		return k/c.view[1]*c.shape[1] + k%c.view[1] + 1
	}
	return k
}

// viewed returns the values of x as the reduction of c sees them.
func (c blockedCase) viewed(x []float64) ([]float64, []int) {
	if c.view == nil {
		return x, c.shape
	}
	out := make([]float64, tensor.NumElements(c.view))
	for k := range out {
		out[k] = x[c.source(k)]
	}
	return out, c.view
}

// outIndex maps entry k of a value of shape to its output of a reduction
// whose result, reduced axes kept, has shape out.
func outIndex(k int, shape, out []int) int {
	o, stride := 0, 1
	for i := len(shape) - 1; i >= 0; i-- {
		if out[i] > 1 {
			o += (k % shape[i]) * stride
			stride *= out[i]
		}
		k /= shape[i]
	}
	return o
}

// TestBlockedReduceAccuracy sums and averages millions of float32 entries
// along every path of the blocked reduction and compares each output with
// the exact sum of the same float32 values: within 3e-7 relative, where a
// single ReduceSum node (checked too) is off by 1e-6 to 1e-4.
func TestBlockedReduceAccuracy(t *testing.T) {
	testutil.RequireRuntime(t)
	if testing.Short() && !testutil.InCI() {
		t.Skip("sums of millions of entries; runs without -short and in CI")
	}
	const tol = 3e-7
	for i, c := range blockedCases(true) {
		data := lossLike(uint64(i), tensor.NumElements(c.shape))
		in := tensor.FromFloat32(c.shape, data)
		xs, shape := c.viewed(in.Float64s())
		for _, op := range []string{"ReduceSum", "ReduceMean"} {
			want, _ := reduceRef(xs, shape, c.axes, op == "ReduceMean")
			relErr := func(reduce func(x *Value) *Value) float64 {
				y := runDeclared(t, in, c.decl, func(x *Value) *Value {
					if c.prep != nil {
						x = c.prep(x)
					}
					return reduce(x)
				}).Float64s()
				if len(y) != len(want) {
					t.Fatalf("%s %s: %d outputs, want %d", c.name, op, len(y), len(want))
				}
				worst := 0.0
				for j := range y {
					worst = math.Max(worst, math.Abs(y[j]-want[j])/math.Abs(want[j]))
				}
				return worst
			}
			blocked := relErr(func(x *Value) *Value {
				if op == "ReduceSum" {
					return ReduceSum(x, true, c.axes...)
				}
				return ReduceMean(x, true, c.axes...)
			})
			single := relErr(func(x *Value) *Value { return SingleReduce(op, x, true, c.axes...) })
			t.Logf("%-30s %-10s blocked %.1e  one node %.1e", c.name, op, blocked, single)
			if blocked > tol {
				t.Errorf("%s %s: relative error %.2g, want at most %.1g (one node: %.2g)", c.name, op, blocked, tol, single)
			}
			if single <= tol {
				t.Errorf("%s %s: one node is within %.1g too (%.2g): the case does not tell", c.name, op, tol, single)
			}
		}
	}
}

// TestBlockedReduceGradient differentiates Σ w·R(x)² through every path of
// the blocked reduction R (stages, blocks of a known axis, through a
// flattening Reshape, float64 accumulation), with the reduced axes kept or
// not, and compares with 2·w·R(x) (over the count for a mean) at each entry
// of x, computed in float64.
func TestBlockedReduceGradient(t *testing.T) {
	testutil.RequireRuntime(t)
	for i, c := range blockedCases(false) {
		data := lossLike(uint64(i), tensor.NumElements(c.shape))
		in := tensor.FromFloat32(c.shape, data)
		xs, shape := c.viewed(in.Float64s())
		for _, op := range []string{"ReduceSum", "ReduceMean"} {
			for _, keep := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/keep=%v", c.name, op, keep), func(t *testing.T) {
					r, rshape := reduceRef(xs, shape, c.axes, op == "ReduceMean")
					count := len(xs) / len(r)
					w := randn(uint64(40+i), []int{len(r)}, 1, 0).Float64s()
					wshape := rshape
					if !keep {
						wshape = nil
						for j, d := range rshape {
							if d != 1 || !reducedAxis(c.axes, j) {
								wshape = append(wshape, d)
							}
						}
					}
					grads := runGrad(t, DefaultOpset, []arg{{name: "x", t: in, shape: c.decl, wrt: true}},
						func(g *Graph, v map[string]*Value) *Value {
							x := v["x"]
							if c.prep != nil {
								x = c.prep(x)
							}
							var y *Value
							if op == "ReduceSum" {
								y = ReduceSum(x, keep, c.axes...)
							} else {
								y = ReduceMean(x, keep, c.axes...)
							}
							wt := ConstTensor(g, tensor.FromFloat64(wshape, w).Convert(tensor.Float32))
							return ReduceSum(Mul(Mul(y, y), wt), false)
						})
					want := make([]float64, in.Len())
					for k := range xs {
						o := outIndex(k, shape, rshape)
						want[c.source(k)] = 2 * w[o] * r[o]
						if op == "ReduceMean" {
							want[c.source(k)] /= float64(count)
						}
					}
					got := grads[0].Float64s()
					for k := range got {
						if math.Abs(got[k]-want[k]) > 1e-5*math.Abs(want[k])+1e-6 {
							t.Fatalf("d/dx[%d] = %.8g, want %.8g", k, got[k], want[k])
						}
					}
				})
			}
		}
	}
}

func reducedAxis(axes []int, a int) bool {
	if axes == nil {
		return true
	}
	for _, b := range axes {
		if b == a {
			return true
		}
	}
	return false
}

// TestBlockedReducePlan checks the nodes a blocked reduction emits: one
// where the sum fits a block or runs over one axis, and otherwise stages
// that each add at most SumBlock entries of known size, or one symbolic
// dimension.
func TestBlockedReducePlan(t *testing.T) {
	type stage struct{ in, out Shape }
	plan := func(decl Shape, build func(x *Value) *Value) (stages []stage, ops []string) {
		g := NewGraph("t", DefaultOpset)
		y := build(g.Input("x", tensor.Float32, decl))
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		for v := y; v.Producer() != nil; {
			n := v.Producer()
			ops = append([]string{n.Op()}, ops...)
			if n.Op() == "ReduceSum" || n.Op() == "ReduceMean" {
				stages = append([]stage{{n.Inputs()[0].Shape(), v.Shape()}}, stages...)
			}
			v = n.Inputs()[0]
		}
		return stages, ops
	}
	nchw := Shape{Sym("N"), Fixed(3), Sym("H"), Sym("W")}
	for _, c := range []struct {
		name  string
		decl  Shape
		build func(x *Value) *Value
		ops   string
	}{
		{"classes", nchw, func(x *Value) *Value { return ReduceSum(x, true, 1) }, "[ReduceSum]"},
		{"one symbolic axis", nchw, func(x *Value) *Value { return ReduceMean(x, false, 3) }, "[ReduceMean]"},
		{"one block", Dims(2, 3, 16, 16), func(x *Value) *Value { return ReduceSum(x, false, 2, 3) }, "[ReduceSum]"},
		{"float64", Shape{Sym("N"), Sym("L")}, func(x *Value) *Value { return ReduceSum(Cast(x, tensor.Float64), false) }, "[Cast ReduceSum]"},
		{"every axis", nchw, func(x *Value) *Value { return ReduceSum(x, false) }, "[ReduceSum ReduceSum ReduceSum ReduceSum]"},
		{"space, kept", nchw, func(x *Value) *Value { return ReduceSum(x, true, 2, 3) }, "[ReduceSum ReduceSum Unsqueeze]"},
		{"known", Dims(8, 21, 256, 256), func(x *Value) *Value { return ReduceMean(x, false) }, "[ReduceMean ReduceMean ReduceMean]"},
		{"known, split", Dims(2, 4096), func(x *Value) *Value { return ReduceSum(x, false, 1) }, "[Reshape ReduceSum ReduceSum]"},
		{"flattened", nchw, func(x *Value) *Value { return ReduceSum(ReshapeDims(x, 0, 0, -1), false, 2) }, "[ReduceSum ReduceSum]"},
	} {
		stages, ops := plan(c.decl, c.build)
		if fmt.Sprint(ops) != c.ops {
			t.Errorf("%s: ops %v, want %s", c.name, ops, c.ops)
		}
		for _, s := range stages {
			entries, symbols := int64(1), 0
			for i, d := range s.in {
				if i < len(s.out) && s.out[i].String() == d.String() {
					continue // kept: the stages here drop trailing axes
				}
				if d.Known() {
					entries *= d.Size
				} else {
					symbols++
				}
			}
			if len(stages) > 1 && (entries > SumBlock || symbols > 1) {
				t.Errorf("%s: a stage from %v to %v adds %d known entries and %d symbolic dimensions", c.name, s.in, s.out, entries, symbols)
			}
		}
	}
}
