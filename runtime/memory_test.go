//go:build cgo

package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/procstat"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// twoIntermediates is loss = ReduceSum(Exp(x·x)) over x float32 [N]: two
// intermediate tensors the size of the input, and a scalar output.
func twoIntermediates(t *testing.T) []byte {
	t.Helper()
	g := builder.NewGraph("two_intermediates", 17)
	x := g.Input("x", tensor.Float32, builder.Shape{builder.Sym("N")})
	g.Output("loss", builder.ReduceSum(builder.Exp(builder.Mul(x, x)), false))
	m, err := export.Model(g, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMemoryOptions checks that Options.MemPattern and Options.NoArena
// reach ONNX Runtime, through what they do to the process's resident
// memory around three runs on a 64 MiB input: the memory pattern allocates
// a block for the intermediates on the second run, on top of the arena's
// blocks from the first; the arena keeps its blocks after a run, and
// without it they are given back.
func TestMemoryOptions(t *testing.T) {
	if err := runtime.Init(); err != nil {
		if errors.Is(err, runtime.ErrNotFound) && os.Getenv("CI") != "true" {
			t.Skipf("ONNX Runtime is not installed: %v", err)
		}
		t.Fatal(err)
	}
	if procstat.Peak() == 0 {
		t.Skip("the resident memory is not reported here")
	}
	model := twoIntermediates(t)
	const n = 16 << 20
	x := tensor.New(tensor.Float32, n)
	in := map[string]*tensor.Tensor{"x": x}
	size := int64(4 * n)
	type growth struct{ peak1, peak2, kept int64 }
	measure := func(o runtime.Options) growth {
		s, err := runtime.NewSession(model, o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		procstat.Settle()
		base := procstat.Resident()
		procstat.ResetPeak()
		var g growth
		for i := 0; i < 3; i++ {
			if _, err := s.Run(in); err != nil {
				t.Fatal(err)
			}
			switch i {
			case 0:
				g.peak1 = procstat.Peak() - base
			case 1:
				g.peak2 = procstat.Peak() - base
			}
		}
		procstat.Settle()
		g.kept = procstat.Resident() - base
		t.Logf("%+v: peak after run 1 %.2f, after run 2 %.2f, kept %.2f times the input", o, float64(g.peak1)/float64(size),
			float64(g.peak2)/float64(size), float64(g.kept)/float64(size))
		return g
	}
	def := measure(runtime.Options{Threads: 1})
	pattern := measure(runtime.Options{Threads: 1, MemPattern: true})
	noArena := measure(runtime.Options{Threads: 1, NoArena: true})
	if def.peak1 < size/2 {
		t.Fatalf("the first run's peak grew by %d bytes, want at least half the input's %d: the measurement does not see the intermediates", def.peak1, size)
	}
	if grew := def.peak2 - def.peak1; grew > size/4 {
		t.Errorf("without the memory pattern the second run raised the peak by %.2f times the input, want none", float64(grew)/float64(size))
	}
	if grew := pattern.peak2 - pattern.peak1; grew < size/2 {
		t.Errorf("with MemPattern the second run raised the peak by %.2f times the input, want the pattern's block (at least 0.5)", float64(grew)/float64(size))
	}
	if def.kept < size/2 {
		t.Errorf("with the arena %.2f times the input stayed resident after the runs, want the arena's blocks (at least 0.5)", float64(def.kept)/float64(size))
	}
	if noArena.kept > size/4 {
		t.Errorf("with NoArena %.2f times the input stayed resident after the runs, want the blocks given back", float64(noArena.kept)/float64(size))
	}
}

// TestOutputsWrittenInPlace checks that an output whose shape the inputs
// fix is written by ONNX Runtime straight into the Go memory that Run
// returns: the run's peak grows by the output once, not twice (ONNX
// Runtime's copy and Go's).
func TestOutputsWrittenInPlace(t *testing.T) {
	if err := runtime.Init(); err != nil {
		if errors.Is(err, runtime.ErrNotFound) && os.Getenv("CI") != "true" {
			t.Skipf("ONNX Runtime is not installed: %v", err)
		}
		t.Fatal(err)
	}
	if procstat.Peak() == 0 {
		t.Skip("the resident memory is not reported here")
	}
	g := builder.NewGraph("exp", 17)
	x := g.Input("x", tensor.Float32, builder.Shape{builder.Sym("N")})
	g.Output("y", builder.Exp(x))
	m, err := export.Model(g, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(b, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 16 << 20
	in := map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, n)}
	size := int64(4 * n)
	procstat.Settle()
	base := procstat.Resident()
	procstat.ResetPeak()
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	grew := procstat.Peak() - base
	t.Logf("peak grew by %.2f times the output", float64(grew)/float64(size))
	if y := out["y"].Data.([]float32); len(y) != n || y[0] != 1 || y[n-1] != 1 {
		t.Fatalf("y = exp(0) has %d entries, first %v", len(y), y[:1])
	}
	if grew > size*3/2 {
		t.Errorf("the run's peak grew by %.2f times the output, want about 1 (the output held once)", float64(grew)/float64(size))
	}
}

// TestProfile checks that Options.Profile writes ONNX Runtime's trace,
// with the model's nodes in it, when the session is closed.
func TestProfile(t *testing.T) {
	if err := runtime.Init(); err != nil {
		if errors.Is(err, runtime.ErrNotFound) && os.Getenv("CI") != "true" {
			t.Skipf("ONNX Runtime is not installed: %v", err)
		}
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "trace")
	s, err := runtime.NewSession(twoIntermediates(t), runtime.Options{Threads: 1, Profile: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 16)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(prefix + "*.json")
	if len(files) != 1 {
		t.Fatalf("profile files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"Mul", "Exp", "ReduceSum"} {
		if !strings.Contains(string(b), `"op_name" : "`+op+`"`) && !strings.Contains(string(b), `"op_name":"`+op+`"`) {
			t.Errorf("the profile has no %s node:\n%.400s", op, b)
		}
	}
}
