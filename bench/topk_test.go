package bench

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/procstat"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// BenchmarkTopKRows sorts the rows of a float32 matrix with ONNX Runtime's
// TopK (k = the row length, descending), as the Lovász losses sort their
// errors: lovasz-softmax at 4×21×128×128 sorts 21 rows of 65536.
// ONNXLOSS_TOPK_SHAPE=ROWS,COLS sets the matrix and ONNXLOSS_BENCH_THREADS
// the intra-op threads (scripts/bench_torch.py --lovasz compares it with
// torch.sort on the same rows). It reports the median wall time of a call
// and the process's CPU time per call.
func BenchmarkTopKRows(b *testing.B) {
	testutil.RequireRuntime(b)
	rows, cols := 21, 4*128*128
	if s := os.Getenv("ONNXLOSS_TOPK_SHAPE"); s != "" {
		r, c, _ := strings.Cut(s, ",")
		rows, _ = strconv.Atoi(r)
		cols, _ = strconv.Atoi(c)
	}
	threads, _ := strconv.Atoi(os.Getenv("ONNXLOSS_BENCH_THREADS"))
	g := builder.NewGraph("topk", 17)
	x := g.Input("x", tensor.Float32, builder.Shape{builder.Sym("R"), builder.Sym("C")})
	sorted, _ := builder.TopK(x, builder.DimOf(x, 1), 1, true)
	g.Output("sorted", sorted)
	m, err := export.Model(g, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	model, err := export.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	s, err := runtime.NewSession(model, runtime.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, rows*cols)
	for i := range data {
		data[i] = rng.Float32()
	}
	in := map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{rows, cols}, data)}
	if _, err := s.Run(in); err != nil {
		b.Fatal(err)
	}
	var walls []time.Duration
	b.ResetTimer()
	c0 := procstat.CPUTime()
	for i := 0; i < b.N; i++ {
		w0 := time.Now()
		if _, err := s.Run(in); err != nil {
			b.Fatal(err)
		}
		walls = append(walls, time.Since(w0))
	}
	cpu := procstat.CPUTime() - c0
	b.ReportMetric(median(walls).Seconds()*1e3, "ms/call")
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/call")
}
