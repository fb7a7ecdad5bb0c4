package builder_test

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/tensor"
)

// bruteEDT is the definition: for every true pixel of every [n,c] slice, the
// smallest distance to a false pixel of the slice (+Inf when there is none).
func bruteEDT(mask []bool, shape []int, spacing []float64) []float64 {
	sp := shape[2:]
	S := tensor.NumElements(sp)
	out := make([]float64, len(mask))
	coord := func(i int) []int {
		c := make([]int, len(sp))
		for a := len(sp) - 1; a >= 0; a-- {
			c[a] = i % sp[a]
			i /= sp[a]
		}
		return c
	}
	for s := 0; s < len(mask)/S; s++ {
		m := mask[s*S : (s+1)*S]
		for i := range m {
			if !m[i] {
				continue
			}
			ci := coord(i)
			best := math.Inf(1)
			for j := range m {
				if m[j] {
					continue
				}
				cj := coord(j)
				d := 0.0
				for a := range ci {
					x := float64(ci[a]-cj[a]) * spacing[a]
					d += x * x
				}
				best = math.Min(best, d)
			}
			out[s*S+i] = math.Sqrt(best)
		}
	}
	return out
}

// edtGraph builds a model computing f of a bool mask input "mask".
func runMask(t *testing.T, mask *tensor.Tensor, f func(m *Value) *Value) *tensor.Tensor {
	t.Helper()
	testutil.RequireRuntime(t)
	g := NewGraph("edt", 17)
	shape := Shape{Sym("N"), Sym("C")}
	for i := 2; i < len(mask.Shape); i++ {
		shape = append(shape, Sym(string(rune('H'+i-2))))
	}
	m := g.Input("mask", tensor.Bool, shape)
	g.Output("d", f(m))
	return testutil.RunGraph(t, g, map[string]*tensor.Tensor{"mask": mask}, "d")
}

func TestEDTBruteQuick(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, shape := range [][]int{{2, 3, 5, 7}, {1, 1, 1, 9}, {1, 2, 9, 1}, {2, 2, 4, 5, 6}, {1, 1, 13}} {
		n := tensor.NumElements(shape)
		data := make([]bool, n)
		for i := range data {
			data[i] = rng.Float64() < 0.7
		}
		mask := &tensor.Tensor{Shape: shape, DType: tensor.Bool, Data: data}
		sp := []float64{1.5, 0.7, 1.2}[:len(shape)-2]
		got := runMask(t, mask, func(m *Value) *Value { return EuclideanDistance(m, DistanceOptions{Spacing: sp, Empty: math.Inf(1)}) }).Float64s()
		want := bruteEDT(data, shape, sp)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-5*(1+want[i]) && !(math.IsInf(got[i], 1) && math.IsInf(want[i], 1)) {
				t.Errorf("%v: at %d got %v want %v", shape, i, got[i], want[i])
				break
			}
		}
	}
}

// TestDistanceCarriesNoGradient checks that the transforms are label-side
// values: a loss sum(x · D(x > 0)) has the gradient D(x > 0), the map held
// fixed, in ONNX Runtime; sum(D(x > 0)) alone has gradient 0; and no node of
// the transforms lies on the path that ONNX Runtime's gradient builder would
// differentiate (where StopGradient is an Identity and is crossed).
func TestDistanceCarriesNoGradient(t *testing.T) {
	g := NewGraph("edtgrad", 17)
	x := g.Input("x", tensor.Float32, Shape{Sym("N"), Sym("C"), Sym("H"), Sym("W")})
	m := Greater(x, ConstAs(x, 0))
	o := DistanceOptions{Spacing: []float64{1.5, 1}}
	fg, bg := DistancePair(m, DistanceOptions{Spacing: o.Spacing, MaxDistance: 2})
	maps := map[string]*Value{
		"edt":    EuclideanDistance(m, o),
		"signed": SignedDistance(m, o),
		"fg_max": fg,
		"bg_max": bg,
	}
	for name, d := range maps {
		weighted := ReduceSum(Mul(x, d), false)
		alone := ReduceSum(d, false)
		grads := Gradient(weighted, x)
		zero := Gradient(alone, x)
		g.Output(name, d)
		g.Output(name+"_grad", grads[0])
		g.Output(name+"_zero", zero[0])
		for _, n := range DifferentiablePath(weighted, x) {
			if n.Op() == "Loop" || n.Op() == "Sqrt" || n.Op() == "Where" || n.Op() == "Min" {
				t.Errorf("%s: %s (%s) lies on the path from x to the loss", name, n.Op(), n.Name())
			}
		}
		if p := DifferentiablePath(alone, x); len(p) != 0 {
			t.Errorf("%s: the sum of the map alone has a differentiable path of %d nodes from x", name, len(p))
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	shape := []int{2, 2, 7, 9}
	data := make([]float64, tensor.NumElements(shape))
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	out := runModel(t, loopModel(t, g), map[string]*tensor.Tensor{"x": tensor.FromFloat64(shape, data).Convert(tensor.Float32)})
	for name := range maps {
		d, grad, zero := out[name].Float64s(), out[name+"_grad"].Float64s(), out[name+"_zero"].Float64s()
		nonzero := 0
		for i := range d {
			if grad[i] != d[i] {
				t.Errorf("%s: gradient %v at %d, the map is %v", name, grad[i], i, d[i])
				break
			}
			if zero[i] != 0 {
				t.Errorf("%s: the sum of the map alone has gradient %v at %d", name, zero[i], i)
				break
			}
			if d[i] != 0 {
				nonzero++
			}
		}
		if nonzero == 0 {
			t.Errorf("%s: the map is 0 everywhere; the check says nothing", name)
		}
	}
}
