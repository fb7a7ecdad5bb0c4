package builder_test

import (
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// benchInputs caches the inputs of BenchmarkBlockedReduce across its runs.
var benchInputs = map[string]*tensor.Tensor{}

// BenchmarkBlockedReduce times the blocked ReduceSum against a single
// ReduceSum node on the same tensor in the same run (calls alternate), over
// every axis and over the spatial axes of float32 inputs declared with
// symbolic N, H, W (and D) as exported losses are, and reports both
// relative errors against the exact sum:
//
//	go test ./builder -run '^$' -bench BlockedReduce -benchtime 100x
//
// Metrics: ms/call of each (medians), the median ratio of blocked to single
// over pairs of calls, and the largest relative error of an output of each,
// in parts per billion.
func BenchmarkBlockedReduce(b *testing.B) {
	testutil.RequireRuntime(b)
	for _, shape := range [][]int{{8, 21, 256, 256}, {8, 1, 512, 512}, {1, 1, 256, 256, 256}} {
		for _, over := range []string{"all", "space"} {
			name := fmt.Sprintf("%s/%s", dimsLabel(shape), over)
			b.Run(name, func(b *testing.B) {
				key := dimsLabel(shape)
				in := benchInputs[key]
				if in == nil {
					in = tensor.FromFloat32(shape, lossLike(7, tensor.NumElements(shape)))
					benchInputs[key] = in
				}
				decl := Shape{Sym("N"), Fixed(int64(shape[1]))}
				for _, d := range []string{"D", "H", "W"}[5-len(shape):] {
					decl = append(decl, Sym(d))
				}
				var axes []int
				if over == "space" {
					for a := 2; a < len(shape); a++ {
						axes = append(axes, a)
					}
				}
				want, _ := reduceRef(in.Float64s(), shape, axes, false)
				blocked := openReduce(b, decl, func(x *Value) *Value { return ReduceSum(x, false, axes...) })
				defer blocked.Close()
				single := openReduce(b, decl, func(x *Value) *Value { return SingleReduce("ReduceSum", x, false, axes...) })
				defer single.Close()
				feed := map[string]*tensor.Tensor{"x": in}
				errs := [2]float64{}
				for i, s := range []*runtime.Session{blocked, single} {
					for range 2 { // warm up
						out, err := s.Run(feed)
						if err != nil {
							b.Fatal(err)
						}
						got := out["y"].Float64s()
						for j := range got {
							errs[i] = math.Max(errs[i], math.Abs(got[j]-want[j])/math.Abs(want[j]))
						}
					}
				}
				times := [2][]time.Duration{}
				b.ResetTimer()
				for range b.N {
					for i, s := range []*runtime.Session{blocked, single} {
						start := time.Now()
						if _, err := s.Run(feed); err != nil {
							b.Fatal(err)
						}
						times[i] = append(times[i], time.Since(start))
					}
				}
				b.StopTimer()
				// The ratio is the median of the ratios of the calls made
				// one after the other, which a shared machine's load
				// changes less than the times themselves.
				ratios := make([]time.Duration, b.N)
				for i := range ratios {
					ratios[i] = time.Duration(float64(time.Millisecond) * float64(times[0][i]) / float64(times[1][i]))
				}
				b.ReportMetric(medianMs(times[0]), "blocked-ms")
				b.ReportMetric(medianMs(times[1]), "single-ms")
				b.ReportMetric(medianMs(ratios), "ratio")
				b.ReportMetric(errs[0]*1e9, "blocked-relerr-ppb")
				b.ReportMetric(errs[1]*1e9, "single-relerr-ppb")
			})
		}
	}
}

func dimsLabel(shape []int) string {
	s := ""
	for i, d := range shape {
		if i > 0 {
			s += "x"
		}
		s += fmt.Sprint(d)
	}
	return s
}

func medianMs(ts []time.Duration) float64 {
	s := append([]time.Duration{}, ts...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2].Nanoseconds()) / 1e6
}

// openReduce opens a session of build on one float32 input x declared decl.
func openReduce(b *testing.B, decl Shape, build func(x *Value) *Value) *runtime.Session {
	g := NewGraph("t", DefaultOpset)
	g.Output("y", build(g.Input("x", tensor.Float32, decl)))
	m, err := export.Model(g, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	bs, err := export.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	s, err := runtime.NewSession(bs, runtime.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
