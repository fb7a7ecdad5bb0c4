package builder_test

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/procstat"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// Benchmark masks, built with the formula of scripts/scipy_edt.py (blobs and
// corner) so that SciPy's timings there are on the same masks: pixel i of an
// axis of size n has coordinate (i+0.5)/n and is foreground inside one of
// the balls.
var (
	benchBlobs  = []benchBall{{[3]float64{0.35, 0.40, 0.45}, 0.20}, {[3]float64{0.72, 0.66, 0.60}, 0.12}, {[3]float64{0.20, 0.80, 0.30}, 0.08}}
	benchCorner = []benchBall{{[3]float64{0.06, 0.06, 0.06}, 0.04}}
)

type benchBall struct {
	centre [3]float64
	radius float64
}

// benchMask returns the mask of balls over dims (2 or 3 spatial axes), as a
// flat row-major slice.
func benchMask(dims []int, balls []benchBall) []bool {
	n := 1
	for _, d := range dims {
		n *= d
	}
	out := make([]bool, n)
	idx := make([]int, len(dims))
	for i := range out {
		r := i
		for a := len(dims) - 1; a >= 0; a-- {
			idx[a] = r % dims[a]
			r /= dims[a]
		}
		for _, b := range balls {
			d2 := 0.0
			for a := range dims {
				u := (float64(idx[a]) + 0.5) / float64(dims[a])
				x := (u - b.centre[a]) / b.radius
				d2 += x * x
			}
			if d2 <= 1 {
				out[i] = true
				break
			}
		}
	}
	return out
}

// edtBenchSizes reads ONNXLOSS_EDT_SIZES ("256x256,64x64x64"), by default the
// sizes of the README's table.
func edtBenchSizes() [][]int {
	spec := os.Getenv("ONNXLOSS_EDT_SIZES")
	if spec == "" {
		spec = "256x256,512x512,1024x1024,64x64x64,128x128x128"
	}
	var out [][]int
	for _, s := range strings.Split(spec, ",") {
		var dims []int
		for _, p := range strings.Split(strings.TrimSpace(s), "x") {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				panic("ONNXLOSS_EDT_SIZES: bad size " + s)
			}
			dims = append(dims, n)
		}
		out = append(out, dims)
	}
	return out
}

func dimsName(d []int) string {
	parts := make([]string, len(d))
	for i, n := range d {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "x")
}

// BenchmarkEuclideanDistance times EuclideanDistance (edt) and DistancePair
// (pair exact, and pair-max32, truncated at 32 pixels) of one [1,1,*dims]
// mask in ONNX Runtime on the CPU, on the masks of scripts/scipy_edt.py
// bench, and reports the process's peak resident memory while the session
// ran and its resident memory just before.
//
//	go test ./builder -run '^$' -bench EuclideanDistance -benchtime 3x
//
// scripts/bench_distance.py runs every case in a process of its own (so that
// the peak memory is that case's alone) next to SciPy's timings.
//
// ONNXLOSS_EDT_SIZES picks sizes; ONNXLOSS_BENCH_THREADS sets ONNX Runtime's
// threads (default 1, like SciPy).
func BenchmarkEuclideanDistance(b *testing.B) {
	testutil.RequireRuntime(b)
	for _, dims := range edtBenchSizes() {
		for _, kind := range []string{"blobs", "corner"} {
			balls := benchBlobs
			if kind == "corner" {
				balls = benchCorner
			}
			mask := benchMask(dims, balls)
			fgCount := 0
			for _, v := range mask {
				if v {
					fgCount++
				}
			}
			in := &tensor.Tensor{Shape: append([]int{1, 1}, dims...), DType: tensor.Bool, Data: mask}
			for _, tc := range []struct {
				what string
				maxd float64
			}{{"edt", 0}, {"pair", 0}, {"pair", 32}} {
				name := fmt.Sprintf("%s/%s/%s", dimsName(dims), kind, tc.what)
				if tc.maxd > 0 {
					// A sibling, not a sub-benchmark of pair, so that a
					// -bench pattern can select pair alone.
					name += fmt.Sprintf("-max%g", tc.maxd)
				}
				b.Run(name, func(b *testing.B) {
					model := edtBenchModel(b, len(dims), tc.what == "pair", DistanceOptions{MaxDistance: tc.maxd})
					ms, best, peak, base := timeSession(b, model, map[string]*tensor.Tensor{"mask": in})
					b.ReportMetric(ms, "ms/call")
					b.ReportMetric(best, "min-ms/call")
					b.ReportMetric(float64(peak)/(1<<20), "peakRSS-MiB")
					b.ReportMetric(float64(base)/(1<<20), "baseRSS-MiB")
					b.ReportMetric(float64(fgCount), "fg-pixels")
				})
			}
		}
	}
}

// edtBenchModel computes EuclideanDistance of the input "mask", or with pair
// both outputs of DistancePair (the distances inside and outside, which the
// Hausdorff, boundary and penalty losses need).
func edtBenchModel(b *testing.B, spatial int, pair bool, o DistanceOptions) []byte {
	g := NewGraph("edt", 17)
	shape := Shape{Sym("N"), Sym("C")}
	for i := 0; i < spatial; i++ {
		shape = append(shape, Sym(fmt.Sprintf("S%d", i)))
	}
	m := g.Input("mask", tensor.Bool, shape)
	if pair {
		fg, bg := DistancePair(m, o)
		g.Output("fg", fg)
		g.Output("bg", bg)
	} else {
		g.Output("d", EuclideanDistance(m, o))
	}
	mp, err := export.Model(g, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	bs, err := export.Marshal(mp)
	if err != nil {
		b.Fatal(err)
	}
	return bs
}

// benchThreads is ONNX Runtime's intra-op thread count for benchmarks:
// ONNXLOSS_BENCH_THREADS, by default 1, so that times compare with SciPy's,
// which uses one thread.
func benchThreads() int {
	if n, err := strconv.Atoi(os.Getenv("ONNXLOSS_BENCH_THREADS")); err == nil && n >= 0 {
		return n
	}
	return 1
}

// timeSession creates a session, runs it once to warm up and b.N more times,
// and returns the median and the smallest milliseconds per call (the
// smallest is the better estimate on a shared machine), the process's peak
// resident memory while the session ran and its resident memory just before
// the session was created (Linux; 0 elsewhere).
func timeSession(b *testing.B, model []byte, in map[string]*tensor.Tensor) (ms, best float64, peak, base int64) {
	debug.FreeOSMemory() // so that the baseline is the live heap, not garbage
	base = procstat.Resident()
	procstat.ResetPeak()
	s, err := runtime.NewSession(model, runtime.Options{Threads: benchThreads()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(in); err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	cpu0 := procstat.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64((procstat.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/call")
	peak = procstat.Peak()
	for i := 1; i < len(times); i++ {
		for j := i; j > 0 && times[j] < times[j-1]; j-- {
			times[j], times[j-1] = times[j-1], times[j]
		}
	}
	return float64(times[len(times)/2].Microseconds()) / 1000, float64(times[0].Microseconds()) / 1000, peak, base
}
