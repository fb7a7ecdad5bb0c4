package builder_test

import (
	"math"
	"slices"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/tensor"
)

// blockMeans halves x [N,C,*spatial] by 2 along every spatial axis: each
// output is the mean of a 2×…×2 block, the last row repeated where a length
// is odd (Wang et al.'s MS-SSIM downsampling).
func blockMeans(x *tensor.Tensor) ([]int, []float64) {
	in := x.Float64s()
	sp := x.Shape[2:]
	out := []int{x.Shape[0], x.Shape[1]}
	for _, n := range sp {
		out = append(out, (n+1)/2)
	}
	planes := x.Shape[0] * x.Shape[1]
	inPlane, outPlane := tensor.NumElements(sp), tensor.NumElements(out[2:])
	res := make([]float64, planes*outPlane)
	d := len(sp)
	o := make([]int, d)
	for p := 0; p < planes; p++ {
		for q := 0; q < outPlane; q++ {
			rem := q
			for i := d - 1; i >= 0; i-- {
				o[i] = rem % out[2+i]
				rem /= out[2+i]
			}
			sum := 0.0
			for b := 0; b < 1<<d; b++ {
				idx := 0
				for i := 0; i < d; i++ {
					idx = idx*sp[i] + min(2*o[i]+(b>>i&1), sp[i]-1)
				}
				sum += in[p*inPlane+idx]
			}
			res[p*outPlane+q] = sum / float64(int(1)<<d)
		}
	}
	return out, res
}

// halving is AveragePool with kernel and stride 2 and one padded position at
// the end of each spatial axis that is left out of the mean.
func halving(x *Value) *Value {
	d := x.Rank() - 2
	w := Window{Kernel: make([]int64, d), Strides: make([]int64, d), Pads: make([]int64, 2*d)}
	for i := 0; i < d; i++ {
		w.Kernel[i], w.Strides[i], w.Pads[d+i] = 2, 2, 1
	}
	return AveragePool(x, w, false)
}

// TestAveragePoolHalving checks that the AveragePool form of a halving
// (kernel 2, stride 2, end padding 1 not counted) is the block mean with the
// last row repeated on odd lengths, with symbolic sizes, in 2D and 3D and
// down to one pixel; and its gradient against finite differences.
func TestAveragePoolHalving(t *testing.T) {
	for _, shape := range [][]int{{1, 2, 5, 7}, {2, 1, 4, 6}, {1, 1, 1, 1}, {1, 1, 1, 3}, {1, 2, 3, 4, 5}} {
		x := randn(uint64(len(shape)*100+shape[2]), shape, 1, 0).Convert(tensor.Float32)
		got := run(t, 17, x, func(_ *Graph, v *Value) *Value { return halving(v) })
		wantShape, want := blockMeans(x)
		if !slices.Equal(got.Shape, wantShape) || !near(got.Float64s(), want, 1e-6) {
			t.Errorf("%v: got %v %v, want %v %v", shape, got.Shape, got.Float64s(), wantShape, want)
		}
		if shape[2] > 1 {
			checkGrad(t, x1(x), func(_ *Graph, v map[string]*Value) *Value {
				y := halving(v["x"])
				return ReduceSum(Mul(Tanh(y), Sigmoid(y)), false)
			}, gradOpts{tol: 1e-3, opsets: []int{17}})
		}
	}
}

// TestMaxPoolPadsNeverWin checks the property boundary extraction and soft
// erosion rely on: with same padding, padded positions never win a window,
// so a map of negative values keeps its border maxima (and -maxpool(-x) is
// an erosion over the image only).
func TestMaxPoolPadsNeverWin(t *testing.T) {
	x := randn(7, []int{1, 1, 4, 5}, 1, -5).Convert(tensor.Float32)
	got := run(t, 17, x, func(_ *Graph, v *Value) *Value {
		return MaxPool(v, Window{Kernel: []int64{3, 3}, Pads: SamePads(3, 3)})
	})
	in := x.Float64s()
	var want []float64
	for i := 0; i < 4; i++ {
		for j := 0; j < 5; j++ {
			m := math.Inf(-1)
			for a := max(i-1, 0); a <= min(i+1, 3); a++ {
				for b := max(j-1, 0); b <= min(j+1, 4); b++ {
					m = math.Max(m, in[a*5+b])
				}
			}
			want = append(want, m)
		}
	}
	if !near(got.Float64s(), want, 0) {
		t.Errorf("got %v, want %v", got.Float64s(), want)
	}
}
