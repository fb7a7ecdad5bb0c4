package export_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestAveragePoolPaddingEveryOpset runs a padded AveragePool, counting the
// padding (as hausdorff-er's soft erosion does) and not counting it (whose
// gradient counts the real entries of each window with a padded pool of
// ones, as ms-ssim's does), at every opset onnxloss emits, in ONNX Runtime,
// against averages computed here by loops. At opset 19 and later ONNX
// Runtime's AveragePool kernel leaves the end padding out of a count that
// should include it, so the emitter pads explicitly there.
func TestAveragePoolPaddingEveryOpset(t *testing.T) {
	testutil.RequireRuntime(t)
	const h, w = 3, 4
	// Windows reach into the padding at both ends of H and at the end of W.
	k, s := []int64{3, 3}, []int64{2, 3}
	pads := []int64{1, 0, 1, 2} // top, left, bottom, right
	oh := (h+int(pads[0]+pads[2])-int(k[0]))/int(s[0]) + 1
	ow := (w+int(pads[1]+pads[3])-int(k[1]))/int(s[1]) + 1
	xs := make([]float32, h*w)
	for i := range xs {
		xs[i] = float32(i + 1)
	}
	// window calls f for each output position and each input entry its
	// window covers, with the number of real entries in the window.
	window := func(f func(o, i, real int)) {
		for oy := range oh {
			for ox := range ow {
				var in []int
				for dy := range int(k[0]) {
					for dx := range int(k[1]) {
						y, x := oy*int(s[0])-int(pads[0])+dy, ox*int(s[1])-int(pads[1])+dx
						if y >= 0 && y < h && x >= 0 && x < w {
							in = append(in, y*w+x)
						}
					}
				}
				for _, i := range in {
					f(oy*ow+ox, i, len(in))
				}
			}
		}
	}
	kn := float64(k[0] * k[1])
	wantCounted, wantReal := make([]float64, oh*ow), make([]float64, oh*ow)
	wantGrad := make([]float64, h*w) // of the sum of the real-entry averages
	window(func(o, i, real int) {
		wantCounted[o] += float64(xs[i]) / kn
		wantReal[o] += float64(xs[i]) / float64(real)
		wantGrad[i] += 1 / float64(real)
	})
	for opset := builder.MinOpset; opset <= builder.MaxOpset; opset++ {
		t.Run(fmt.Sprint("opset", opset), func(t *testing.T) {
			g := builder.NewGraph("avgpool", opset)
			x := g.Input("x", tensor.Float32, builder.Shape{builder.Fixed(1), builder.Fixed(1), builder.Sym("H"), builder.Sym("W")})
			win := builder.Window{Kernel: k, Strides: s, Pads: pads}
			real := builder.AveragePool(x, win, false)
			g.Output("counted", builder.AveragePool(x, win, true))
			g.Output("real", real)
			g.Output("grad", builder.Gradient(builder.ReduceSum(real, false), x)[0])
			res, err := testutil.OpenGraph(t, g).Run(map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{1, 1, h, w}, xs)})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				want []float64
			}{{"counted", wantCounted}, {"real", wantReal}, {"grad", wantGrad}} {
				got := res[c.name].Float64s()
				if len(got) != len(c.want) {
					t.Fatalf("%s: %d values, want %d", c.name, len(got), len(c.want))
				}
				for i := range got {
					if math.Abs(got[i]-c.want[i]) > 1e-6*math.Abs(c.want[i]) {
						t.Errorf("%s[%d] = %.7g, want %.7g", c.name, i, got[i], c.want[i])
					}
				}
			}
		})
	}
}
