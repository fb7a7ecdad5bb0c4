package losses_test

import (
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/procstat"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// The benchmark target is the "blobs" mask of scripts/scipy_edt.py bench:
// pixel i of an axis of size n has coordinate (i+0.5)/n, and the foreground
// is three balls; each ball is also an instance (ids 1..3) for
// unet-weight-map. SciPy's timings of the same host-side maps come from that
// script, on the same masks.
var distBenchBalls = []struct {
	centre [3]float64
	radius float64
}{{[3]float64{0.35, 0.40, 0.45}, 0.20}, {[3]float64{0.72, 0.66, 0.60}, 0.12}, {[3]float64{0.20, 0.80, 0.30}, 0.08}}

func distBenchInstances(dims []int) []int64 {
	out := make([]int64, tensor.NumElements(dims))
	idx := make([]int, len(dims))
	for i := range out {
		r := i
		for a := len(dims) - 1; a >= 0; a-- {
			idx[a] = r % dims[a]
			r /= dims[a]
		}
		for k, b := range distBenchBalls {
			d2 := 0.0
			for a := range dims {
				x := ((float64(idx[a])+0.5)/float64(dims[a]) - b.centre[a]) / b.radius
				d2 += x * x
			}
			if d2 <= 1 {
				out[i] = int64(k + 1)
				break
			}
		}
	}
	return out
}

// BenchmarkDistanceLosses times each distance loss (binary mode, one image,
// default options) in ONNX Runtime on the CPU at the sizes of
// ONNXLOSS_EDT_SIZES (default: the README's table), and reports the process's
// peak resident memory while the session ran, its resident memory just
// before, and the loss value. The losses with max_distance also run with
// max_distance 32 (NAME-max32): the two values give the bounded form's error
// on the same inputs. Threads: ONNXLOSS_BENCH_THREADS (default 1, like
// SciPy).
//
//	go test ./losses -run '^$' -bench DistanceLosses -benchtime 3x
//
// scripts/bench_distance.py runs every case in a process of its own (so that
// the peak memory is that case's alone) next to SciPy's timings.
func BenchmarkDistanceLosses(b *testing.B) {
	testutil.RequireRuntime(b)
	sizes := os.Getenv("ONNXLOSS_EDT_SIZES")
	if sizes == "" {
		sizes = "256x256,512x512,1024x1024,64x64x64,128x128x128"
	}
	names := []string{"boundary", "hausdorff-dt", "hausdorff-er", "distance-penalized-ce", "shape-aware", "unet-weight-map"}
	if v := os.Getenv("ONNXLOSS_BENCH_LOSSES"); v != "" {
		names = strings.Split(v, ",")
	}
	threads := 1
	if n, err := strconv.Atoi(os.Getenv("ONNXLOSS_BENCH_THREADS")); err == nil && n >= 0 {
		threads = n
	}
	for _, size := range strings.Split(sizes, ",") {
		var dims []int
		for _, p := range strings.Split(size, "x") {
			n, err := strconv.Atoi(p)
			if err != nil {
				b.Fatalf("bad size %q", size)
			}
			dims = append(dims, n)
		}
		inst := distBenchInstances(dims)
		rng := rand.New(rand.NewPCG(1, 2))
		x := make([]float32, len(inst))
		y := make([]float32, len(inst))
		for i, id := range inst {
			x[i] = float32(rng.NormFloat64() * 2)
			if id > 0 {
				y[i] = 1
			}
		}
		shape := append([]int{1, 1}, dims...)
		in := map[string]*tensor.Tensor{
			"input":     tensor.FromFloat32(shape, x),
			"target":    tensor.FromFloat32(shape, y),
			"instances": tensor.FromInt64(append([]int{1}, dims...), inst),
		}
		var runs []string
		for _, name := range names {
			runs = append(runs, name)
			if s, err := losses.Lookup(name); err == nil && hasParam(s, "max_distance") {
				runs = append(runs, name+"-max32")
			}
		}
		for _, run := range runs {
			b.Run(size+"/"+run, func(b *testing.B) {
				name, bounded := strings.CutSuffix(run, "-max32")
				s, err := losses.Lookup(name)
				if err != nil {
					b.Fatal(err)
				}
				opts := losses.Options{"mode": "binary", "spatial_dims": strconv.Itoa(len(dims))}
				if bounded {
					opts["max_distance"] = "32"
				}
				cfg, err := losses.Resolve(s, opts)
				if err != nil {
					b.Fatal(err)
				}
				m, err := export.LossModel(s, cfg)
				if err != nil {
					b.Fatal(err)
				}
				model, err := export.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				feed := map[string]*tensor.Tensor{"input": in["input"], "target": in["target"]}
				for _, e := range s.ExtraInputs(cfg) {
					feed[e.Name] = in[e.Name]
				}
				debug.FreeOSMemory()
				base := procstat.Resident()
				procstat.ResetPeak()
				sess, err := runtime.NewSession(model, runtime.Options{Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				defer sess.Close()
				first, err := sess.Run(feed)
				if err != nil {
					b.Fatal(err)
				}
				value := first["loss"].Float64s()[0]
				times := make([]time.Duration, 0, b.N)
				cpu0 := procstat.CPUTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					start := time.Now()
					if _, err := sess.Run(feed); err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(start))
				}
				b.StopTimer()
				cpu := (procstat.CPUTime() - cpu0).Nanoseconds()
				b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/call")
				for i := 1; i < len(times); i++ {
					for j := i; j > 0 && times[j] < times[j-1]; j-- {
						times[j], times[j-1] = times[j-1], times[j]
					}
				}
				b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms/call")
				b.ReportMetric(float64(times[0].Microseconds())/1000, "min-ms/call")
				b.ReportMetric(float64(procstat.Peak())/(1<<20), "peakRSS-MiB")
				b.ReportMetric(float64(base)/(1<<20), "baseRSS-MiB")
				b.ReportMetric(value, "loss")
			})
		}
	}
}

func hasParam(s *losses.Spec, name string) bool {
	for _, p := range s.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}
