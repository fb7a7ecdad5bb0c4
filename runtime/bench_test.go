//go:build cgo

package runtime

import (
	"testing"

	"github.com/onnxloss/onnxloss/tensor"
)

// BenchmarkRun sums a [8 21 128 128] float32 tensor (2.75 M elements, 11 MB,
// the shape of a 21-class segmentation batch): the cost of one pass over a
// loss's input, plus the per-call overhead of Run.
func BenchmarkRun(b *testing.B) {
	s := openModel(b, "sum_all.onnx", Options{})
	shape := []int{8, 21, 128, 128}
	x := tensor.New(tensor.Float32, shape...)
	for i, d := 0, x.Data.([]float32); i < len(d); i++ {
		d[i] = float32(i%7) - 3
	}
	in := map[string]*tensor.Tensor{"x": x}
	n := x.Len()
	b.SetBytes(int64(4 * n))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "elements/s")
}

// BenchmarkRunSmall measures the fixed cost of Run: input checks, value
// conversion and ONNX Runtime's dispatch, on a 4-element input.
func BenchmarkRunSmall(b *testing.B) {
	s := openModel(b, "two_outputs.onnx", Options{})
	in := map[string]*tensor.Tensor{
		"x":      tensor.FromFloat32([]int{1, 3}, []float32{1, 2, 3}),
		"weight": tensor.FromInt64([]int{1}, []int64{2}),
	}
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
	}
}
