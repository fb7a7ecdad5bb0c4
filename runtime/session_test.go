//go:build cgo

package runtime

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onnxloss/onnxloss/tensor"
)

func TestVersion(t *testing.T) {
	requireORT(t)
	v, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	if compareVersions(v, MinVersion) < 0 {
		t.Errorf("Version() = %q, older than MinVersion %s", v, MinVersion)
	}
	p, err := LibraryPath()
	if err != nil || !isFile(p) {
		t.Errorf("LibraryPath() = %q, %v; want the loaded file", p, err)
	}
}

func TestDynamicBatch(t *testing.T) {
	s := openModel(t, "double_float32.onnx", Options{})
	for _, shape := range [][]int{{1, 2, 3, 4}, {5, 2, 3, 4}, {7, 3, 1, 2}, {2, 1, 1, 1}} {
		x := ramp(tensor.NumElements(shape))
		out := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32(shape, x)})
		y := out["y"]
		if y == nil || y.DType != tensor.Float32 || !slices.Equal(y.Shape, shape) {
			t.Fatalf("shape %v: got %v", shape, y)
		}
		for i, v := range y.Data.([]float32) {
			if v != 2*x[i] {
				t.Fatalf("shape %v: y[%d] = %v, want %v", shape, i, v, 2*x[i])
			}
		}
	}
}

// TestDTypes runs y = x + x for every element type, in and out.
func TestDTypes(t *testing.T) {
	shape := []int{2, 3, 2, 2}
	n := tensor.NumElements(shape)
	f := ramp(n)

	t.Run("float64", func(t *testing.T) {
		x := make([]float64, n)
		for i := range x {
			x[i] = float64(f[i]) + 1e-9 // not representable in float32
		}
		y := runDouble(t, "double_float64.onnx", &tensor.Tensor{Shape: shape, DType: tensor.Float64, Data: x}, tensor.Float64)
		for i, v := range y.Data.([]float64) {
			if v != 2*x[i] {
				t.Fatalf("y[%d] = %v, want %v", i, v, 2*x[i])
			}
		}
	})
	t.Run("int64", func(t *testing.T) {
		x := make([]int64, n)
		for i := range x {
			x[i] = int64(i-n/2) * (1 << 40)
		}
		y := runDouble(t, "double_int64.onnx", tensor.FromInt64(shape, x), tensor.Int64)
		for i, v := range y.Data.([]int64) {
			if v != 2*x[i] {
				t.Fatalf("y[%d] = %v, want %v", i, v, 2*x[i])
			}
		}
	})
	t.Run("int32", func(t *testing.T) {
		x := make([]int32, n)
		for i := range x {
			x[i] = int32(i-n/2) * 1000
		}
		y := runDouble(t, "double_int32.onnx", &tensor.Tensor{Shape: shape, DType: tensor.Int32, Data: x}, tensor.Int32)
		for i, v := range y.Data.([]int32) {
			if v != 2*x[i] {
				t.Fatalf("y[%d] = %v, want %v", i, v, 2*x[i])
			}
		}
	})
	t.Run("uint8", func(t *testing.T) {
		x := make([]uint8, n)
		for i := range x {
			x[i] = uint8(i * 11)
		}
		y := runDouble(t, "double_uint8.onnx", &tensor.Tensor{Shape: shape, DType: tensor.Uint8, Data: x}, tensor.Uint8)
		for i, v := range y.Data.([]uint8) {
			if want := uint8((i * 22) % 256); v != want {
				t.Fatalf("y[%d] = %v, want %v (wrapping)", i, v, want)
			}
		}
	})
	t.Run("float16", func(t *testing.T) {
		x := make([]uint16, n)
		for i := range x {
			x[i] = tensor.Float32ToFloat16(f[i])
		}
		y := runDouble(t, "double_float16.onnx", &tensor.Tensor{Shape: shape, DType: tensor.Float16, Data: x}, tensor.Float16)
		for i, v := range y.Data.([]uint16) {
			if got := tensor.Float16ToFloat32(v); got != 2*f[i] {
				t.Fatalf("y[%d] = %v (bits %#04x), want %v", i, got, v, 2*f[i])
			}
		}
		// Bit patterns from IEEE 754 binary16, independent of the converters:
		// 1.0 is 0x3c00, so 1.0 + 1.0 = 2.0 is 0x4000; -1.5 is 0xbe00, -3 is 0xc200.
		y = runDouble(t, "double_float16.onnx", &tensor.Tensor{Shape: []int{1, 1, 1, 2}, DType: tensor.Float16, Data: []uint16{0x3c00, 0xbe00}}, tensor.Float16)
		if got := y.Data.([]uint16); got[0] != 0x4000 || got[1] != 0xc200 {
			t.Errorf("1+1, -1.5-1.5 in float16 = %#04x, want [0x4000 0xc200]", got)
		}
	})
	t.Run("bfloat16", func(t *testing.T) {
		requireORT(t)
		x := make([]uint16, n)
		for i := range x {
			x[i] = tensor.Float32ToBFloat16(f[i])
		}
		s := openModel(t, "double_bfloat16.onnx", Options{})
		out := mustRun(t, s, map[string]*tensor.Tensor{"x": {Shape: shape, DType: tensor.BFloat16, Data: x}})
		y, y32 := out["y"], out["y32"]
		if y.DType != tensor.BFloat16 || !slices.Equal(y.Shape, shape) || y32.DType != tensor.Float32 {
			t.Fatalf("got y %v, y32 %v", y, y32)
		}
		for i, v := range y.Data.([]uint16) {
			if got := tensor.BFloat16ToFloat32(v); got != 2*f[i] || y32.Data.([]float32)[i] != 2*f[i] {
				t.Fatalf("y[%d] = %v, y32 = %v, want %v", i, got, y32.Data.([]float32)[i], 2*f[i])
			}
		}
		// bfloat16 is the top half of float32: 1.0 is 0x3f80, 2.0 is 0x4000.
		out = mustRun(t, s, map[string]*tensor.Tensor{"x": {Shape: []int{1, 1, 1, 1}, DType: tensor.BFloat16, Data: []uint16{0x3f80}}})
		if got := out["y"].Data.([]uint16)[0]; got != 0x4000 {
			t.Errorf("1+1 in bfloat16 = %#04x, want 0x4000", got)
		}
	})
	t.Run("bool", func(t *testing.T) {
		requireORT(t)
		x := make([]bool, n)
		for i := range x {
			x[i] = i%3 == 0
		}
		s := openModel(t, "not_bool.onnx", Options{})
		out := mustRun(t, s, map[string]*tensor.Tensor{"x": {Shape: shape, DType: tensor.Bool, Data: x}})
		y, u := out["y"], out["u"]
		if y.DType != tensor.Bool || u.DType != tensor.Uint8 || !slices.Equal(y.Shape, shape) || !slices.Equal(u.Shape, shape) {
			t.Fatalf("got y %v, u %v", y, u)
		}
		for i := range x {
			want := uint8(0)
			if x[i] {
				want = 1
			}
			if y.Data.([]bool)[i] == x[i] || u.Data.([]uint8)[i] != want {
				t.Fatalf("x[%d] = %v: y = %v, u = %v", i, x[i], y.Data.([]bool)[i], u.Data.([]uint8)[i])
			}
		}
	})
}

func runDouble(t *testing.T, model string, x *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	t.Helper()
	s := openModel(t, model, Options{})
	y := mustRun(t, s, map[string]*tensor.Tensor{"x": x})["y"]
	if y == nil || y.DType != dt || !slices.Equal(y.Shape, x.Shape) {
		t.Fatalf("got %v, want %v %v", y, dt, x.Shape)
	}
	if err := y.Validate(); err != nil {
		t.Fatal(err)
	}
	return y
}

func TestScalarOutput(t *testing.T) {
	s := openModel(t, "sum_all.onnx", Options{})
	for _, shape := range [][]int{{1, 1, 1, 1}, {2, 3, 4, 5}, {4, 21, 8, 8}} {
		x := ramp(tensor.NumElements(shape))
		for i := range x {
			x[i] += 0.25
		}
		want := 0.0
		for _, v := range x {
			want += float64(v)
		}
		loss := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32(shape, x)})["loss"]
		if loss == nil || loss.DType != tensor.Float32 || len(loss.Shape) != 0 || loss.Len() != 1 {
			t.Fatalf("shape %v: loss = %v, want a float32 scalar", shape, loss)
		}
		if got := float64(loss.Data.([]float32)[0]); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("shape %v: loss = %v, want %v", shape, got, want)
		}
	}
}

func TestScalarInput(t *testing.T) {
	s := openModel(t, "scale.onnx", Options{})
	x := []float32{1, -2, 3.5}
	y := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{3}, x), "s": tensor.Scalar(-2)})["y"]
	for i, v := range y.Data.([]float32) {
		if v != -2*x[i] {
			t.Fatalf("y[%d] = %v, want %v", i, v, -2*x[i])
		}
	}
}

// TestOutputsOfSeveralRanks checks a model with two inputs and outputs of
// ranks 1, 0 and 2 at several batch sizes.
func TestOutputsOfSeveralRanks(t *testing.T) {
	s := openModel(t, "two_outputs.onnx", Options{})
	for _, n := range []int{1, 4, 9} {
		x := ramp(3 * n)
		w := make([]int64, n)
		for i := range w {
			w[i] = int64(i%4) - 1
		}
		out := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{n, 3}, x), "weight": tensor.FromInt64([]int{n}, w)})
		if len(out) != 3 {
			t.Fatalf("got %d outputs, want 3", len(out))
		}
		rows, total, scaled := out["rows"], out["total"], out["scaled"]
		if !slices.Equal(rows.Shape, []int{n}) || len(total.Shape) != 0 || !slices.Equal(scaled.Shape, []int{n, 3}) {
			t.Fatalf("n=%d: shapes rows %v total %v scaled %v", n, rows.Shape, total.Shape, scaled.Shape)
		}
		var sum float32
		for i := 0; i < n; i++ {
			var r float32
			for j := 0; j < 3; j++ {
				want := x[3*i+j] * float32(w[i])
				if got := scaled.Data.([]float32)[3*i+j]; got != want {
					t.Fatalf("n=%d: scaled[%d,%d] = %v, want %v", n, i, j, got, want)
				}
				r += want
			}
			if got := rows.Data.([]float32)[i]; got != r {
				t.Fatalf("n=%d: rows[%d] = %v, want %v", n, i, got, r)
			}
			sum += r
		}
		if got := total.Data.([]float32)[0]; got != sum {
			t.Errorf("n=%d: total = %v, want %v", n, got, sum)
		}
	}
}

func TestIOInfo(t *testing.T) {
	s := openModel(t, "two_outputs.onnx", Options{})
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 2 || len(out) != 3 {
		t.Fatalf("got %d inputs, %d outputs; want 2 and 3", len(in), len(out))
	}
	check := func(io IOInfo, name string, dt tensor.DType, shape []int, str string) {
		t.Helper()
		if io.Name != name || io.DType != dt || !slices.Equal(io.Shape, shape) || io.UnknownRank || io.String() != str {
			t.Errorf("got %+v (%s), want %s", io, io, str)
		}
	}
	check(in[0], "x", tensor.Float32, []int{-1, 3}, "x float32 [N 3]")
	check(in[1], "weight", tensor.Int64, []int{-1}, "weight int64 [N]")
	check(out[0], "rows", tensor.Float32, []int{-1}, "rows float32 [N]")
	check(out[1], "total", tensor.Float32, []int{}, "total float32 []")
	check(out[2], "scaled", tensor.Float32, []int{-1, 3}, "scaled float32 [N 3]")

	// The results are copies.
	in[0].Shape[1] = 99
	if s.Inputs()[0].Shape[1] != 3 {
		t.Error("changing Inputs()'s result changed the session")
	}
}

func TestUnknownRank(t *testing.T) {
	s := openModel(t, "no_shape.onnx", Options{})
	if in := s.Inputs()[0]; !in.UnknownRank || in.String() != "x float32 [...]" {
		t.Errorf("input: %+v, want an unknown rank", in)
	}
	for _, shape := range [][]int{{3}, {2, 2}, {1, 2, 1, 2, 1}} {
		x := ramp(tensor.NumElements(shape))
		y := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32(shape, x)})["y"]
		if !slices.Equal(y.Shape, shape) || y.Data.([]float32)[0] != 2*x[0] {
			t.Errorf("shape %v: y = %v", shape, y)
		}
	}
	// A scalar through an undeclared output is the one case onnxruntime_go
	// cannot return; the error says what to change.
	_, err := s.Run(map[string]*tensor.Tensor{"x": tensor.Scalar(1)})
	wantErr(t, err, "declare its shape")
}

func TestHalfOutputLimits(t *testing.T) {
	s := openModel(t, "sum_all_float16.onnx", Options{})
	x := &tensor.Tensor{Shape: []int{1, 1, 1, 2}, DType: tensor.Float16, Data: []uint16{0x3c00, 0x3c00}}
	_, err := s.Run(map[string]*tensor.Tensor{"x": x})
	wantErr(t, err, `output "loss"`, "float16", "scalar", "cast it to float32")

	s = openModel(t, "half_unbound.onnx", Options{})
	_, err = s.Run(map[string]*tensor.Tensor{"x": {Shape: []int{2}, DType: tensor.Float16, Data: []uint16{0x3c00, 0x4000}}})
	wantErr(t, err, `output "y"`, "(M) is not a dimension of any input")

	s = openModel(t, "double_float16.onnx", Options{})
	_, err = s.Run(map[string]*tensor.Tensor{"x": {Shape: []int{}, DType: tensor.Float16, Data: []uint16{0x3c00}}})
	wantErr(t, err, `input "x"`, "rank 0, want rank 4")
}

func TestZeroSizedInputs(t *testing.T) {
	for _, tc := range []struct {
		model string
		x     *tensor.Tensor
	}{
		{"double_float32.onnx", tensor.New(tensor.Float32, 0, 2, 3, 4)},
		{"double_float16.onnx", tensor.New(tensor.Float16, 2, 0, 1, 1)},
	} {
		s := openModel(t, tc.model, Options{})
		y := mustRun(t, s, map[string]*tensor.Tensor{"x": tc.x})["y"]
		if !slices.Equal(y.Shape, tc.x.Shape) || y.Len() != 0 || y.DType != tc.x.DType {
			t.Errorf("%s: y = %v, want an empty %v %v", tc.model, y, tc.x.DType, tc.x.Shape)
		}
	}
}

func TestInputValidation(t *testing.T) {
	s := openModel(t, "two_outputs.onnx", Options{})
	x := tensor.FromFloat32([]int{2, 3}, ramp(6))
	w := tensor.FromInt64([]int{2}, []int64{1, 2})
	for _, tc := range []struct {
		name  string
		in    map[string]*tensor.Tensor
		parts []string
	}{
		{"missing", map[string]*tensor.Tensor{"x": x},
			[]string{`missing input "weight"`, "int64 [N]"}},
		{"unknown", map[string]*tensor.Tensor{"x": x, "weight": w, "bogus": x},
			[]string{`unknown input "bogus"`, "x float32 [N 3], weight int64 [N]"}},
		{"dtype", map[string]*tensor.Tensor{"x": x.Convert(tensor.Float64), "weight": w},
			[]string{`input "x"`, "wrong element type", "got float64 [2 3]", "want float32 [N 3]"}},
		{"rank", map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{2, 3, 1}, ramp(6)), "weight": w},
			[]string{`input "x"`, "rank 3, want rank 2", "got float32 [2 3 1]", "want float32 [N 3]"}},
		{"fixed dimension", map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{2, 4}, ramp(8)), "weight": w},
			[]string{`input "x"`, "dimension 1 is 4, want 3", "got float32 [2 4]"}},
		{"nil", map[string]*tensor.Tensor{"x": x, "weight": nil},
			[]string{`input "weight" is nil`, "int64 [N]"}},
		{"bad tensor", map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{2, 3}, ramp(5)), "weight": w},
			[]string{`input "x"`, "needs 6 elements, data has 5"}},
		{"shared symbol", map[string]*tensor.Tensor{"x": x, "weight": tensor.FromInt64([]int{3}, []int64{1, 2, 3})},
			[]string{`input "weight" dimension 0 (N) is 3, but input "x" dimension 0 (N) is 2`, "agree on N", "weight [3], x [2 3]"}},
		{"several", map[string]*tensor.Tensor{"x": x.Convert(tensor.Int64), "bogus": w},
			[]string{`input "x"`, "wrong element type", `missing input "weight"`, `unknown input "bogus"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Run(tc.in)
			wantErr(t, err, tc.parts...)
			if err != nil && !strings.HasPrefix(err.Error(), "runtime: ") {
				t.Errorf("error does not come from the package's own checks: %v", err)
			}
		})
	}
	// The session still works after refusing inputs.
	mustRun(t, s, map[string]*tensor.Tensor{"x": x, "weight": w})
}

func TestClose(t *testing.T) {
	requireORT(t)
	s, err := NewSession(readModel(t, "double_float32.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = s.Run(map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 1, 1, 1, 1)})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}

func TestConcurrentRun(t *testing.T) {
	s := openModel(t, "two_outputs.onnx", Options{Threads: 1})
	const goroutines, runs = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < runs; r++ {
				n := 1 + (g+r)%5
				x := make([]float32, 3*n)
				for i := range x {
					x[i] = float32(g*1000 + r*10 + i)
				}
				w := make([]int64, n)
				for i := range w {
					w[i] = 1
				}
				out, err := s.Run(map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{n, 3}, x), "weight": tensor.FromInt64([]int{n}, w)})
				if err != nil {
					errs <- err
					return
				}
				var want float32
				for _, v := range x {
					want += v
				}
				if got := out["total"].Data.([]float32)[0]; got != want || !slices.Equal(out["scaled"].Shape, []int{n, 3}) {
					errs <- fmt.Errorf("goroutine %d run %d: total %v, want %v", g, r, got, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExternalData(t *testing.T) {
	requireORT(t)
	path := filepath.Join("testdata", "external.onnx")
	s, err := NewSessionFromFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	y := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{2, 4}, []float32{0, 0, 0, 0, 10, 20, 30, 40})})["y"]
	want := []float32{1, 2, 3, 4, 11, 22, 33, 44}
	for i, v := range y.Data.([]float32) {
		if v != want[i] {
			t.Fatalf("y = %v, want %v", y.Data, want)
		}
	}
	// From bytes ONNX Runtime cannot know where the weights are.
	if s, err := NewSession(readModel(t, "external.onnx"), Options{}); err == nil {
		s.Close()
		t.Error("NewSession on a model with external data succeeded; want an error")
	}
	_, err = NewSessionFromFile(filepath.Join("testdata", "missing.onnx"), Options{})
	wantErr(t, err, "missing.onnx")
}

func TestBadModels(t *testing.T) {
	requireORT(t)
	_, err := NewSession(nil, Options{})
	wantErr(t, err, "empty")
	_, err = NewSession([]byte("not a model"), Options{})
	wantErr(t, err, "runtime: loading the model")
}

func TestOptions(t *testing.T) {
	requireORT(t)
	model := readModel(t, "double_float32.onnx")
	s, err := NewSession(model, Options{Provider: "CPU", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 1, 1, 1, 1)})
	s.Close()

	_, err = NewSession(model, Options{Provider: "tpu"})
	wantErr(t, err, `"tpu"`, "cpu, cuda")
	_, err = NewSession(model, Options{Threads: -1})
	wantErr(t, err, "Threads")
	wantErr(t, ProviderAvailable("tpu"), `"tpu"`, "cpu, cuda")
	if err := ProviderAvailable("cpu"); err != nil {
		t.Errorf(`ProviderAvailable("cpu") = %v`, err)
	}
}

// TestCUDA runs on the GPU where there is one with ONNX Runtime's CUDA
// provider; elsewhere (and with the npm library, which has no provider files)
// it checks that the error says what is missing and where.
func TestCUDA(t *testing.T) {
	requireORT(t)
	err := ProviderAvailable("cuda")
	model := readModel(t, "double_float32.onnx")
	if err != nil {
		lib, _ := LibraryPath()
		wantErr(t, err, "CUDA", "libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so",
			filepath.Dir(lib), "cuDNN", "NVIDIA GPU")
		_, err := NewSession(model, Options{Provider: "cuda"})
		wantErr(t, err, "CUDA", "libonnxruntime_providers_cuda.so", filepath.Dir(lib))
		t.Logf("no CUDA here, as expected on a machine without it:\n%v", err)
		return
	}
	s := openModel(t, "double_float32.onnx", Options{Provider: "cuda"})
	x := ramp(2 * 3 * 4 * 5)
	y := mustRun(t, s, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{2, 3, 4, 5}, x)})["y"]
	for i, v := range y.Data.([]float32) {
		if v != 2*x[i] {
			t.Fatalf("on CUDA y[%d] = %v, want %v", i, v, 2*x[i])
		}
	}
}

// TestFromFileDeclarations checks that a model loaded from its path gets the
// same symbolic names as from bytes, which float16 outputs depend on.
func TestFromFileDeclarations(t *testing.T) {
	requireORT(t)
	s, err := NewSessionFromFile(filepath.Join("testdata", "double_float16.onnx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Outputs()[0].String(); got != "y float16 [N C H W]" {
		t.Errorf("output: %s, want y float16 [N C H W]", got)
	}
	x := &tensor.Tensor{Shape: []int{3, 1, 1, 1}, DType: tensor.Float16, Data: []uint16{0x3c00, 0x4000, 0xbc00}}
	y := mustRun(t, s, map[string]*tensor.Tensor{"x": x})["y"]
	// 1+1 = 2 (0x4000), 2+2 = 4 (0x4400), -1-1 = -2 (0xc000).
	if got := y.Data.([]uint16); got[0] != 0x4000 || got[1] != 0x4400 || got[2] != 0xc000 {
		t.Errorf("y = %#04x, want [0x4000 0x4400 0xc000]", got)
	}
}

// TestRunInto checks that RunInto writes an output into the tensor given
// for it when its type and shape fit, returning that tensor, and makes the
// others anew: a shape that changed, a type that differs, a scalar output.
func TestRunInto(t *testing.T) {
	s := openModel(t, "two_outputs.onnx", Options{})
	in := func(n int, scale float32) map[string]*tensor.Tensor {
		x := ramp(3 * n)
		for i := range x {
			x[i] *= scale
		}
		w := make([]int64, n)
		for i := range w {
			w[i] = int64(i%3) + 1
		}
		return map[string]*tensor.Tensor{"x": tensor.FromFloat32([]int{n, 3}, x), "weight": tensor.FromInt64([]int{n}, w)}
	}
	check := func(out map[string]*tensor.Tensor, n int, scale float32) {
		t.Helper()
		want := mustRun(t, s, in(n, scale))
		for _, name := range []string{"rows", "total", "scaled"} {
			if !slices.Equal(out[name].Shape, want[name].Shape) || !reflect.DeepEqual(out[name].Data, want[name].Data) {
				t.Fatalf("n=%d scale=%v: %s = %v %v, Run gives %v %v", n, scale, name, out[name].Shape, out[name].Data, want[name].Shape, want[name].Data)
			}
		}
	}
	first, err := s.RunInto(in(4, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	check(first, 4, 1)
	scaled, rows := first["scaled"], first["rows"]
	buf := &scaled.Data.([]float32)[0]

	// Same shapes: written in place, the same tensors returned.
	second, err := s.RunInto(in(4, 2), first)
	if err != nil {
		t.Fatal(err)
	}
	check(second, 4, 2)
	if second["scaled"] != scaled || second["rows"] != rows || &second["scaled"].Data.([]float32)[0] != buf {
		t.Errorf("outputs of a fitting shape were not written into the given tensors")
	}
	if first["scaled"].Data.([]float32)[3] != 2*ramp(12)[3]*float32(2) {
		t.Errorf("the given tensor does not hold the new output: %v", first["scaled"].Data)
	}

	// Another batch size: new memory, and the old tensors left as they were.
	old := slices.Clone(scaled.Data.([]float32))
	third, err := s.RunInto(in(2, 3), second)
	if err != nil {
		t.Fatal(err)
	}
	check(third, 2, 3)
	if third["scaled"] == scaled || !slices.Equal(scaled.Data.([]float32), old) {
		t.Errorf("an output of another shape reused or changed the given tensor")
	}

	// A tensor of another element type is not written into.
	wrong := map[string]*tensor.Tensor{"scaled": tensor.FromFloat64([]int{2, 3}, make([]float64, 6))}
	fourth, err := s.RunInto(in(2, 1), wrong)
	if err != nil {
		t.Fatal(err)
	}
	check(fourth, 2, 1)
	if fourth["scaled"] == wrong["scaled"] || !slices.Equal(wrong["scaled"].Data.([]float64), make([]float64, 6)) {
		t.Errorf("a float64 tensor was used for a float32 output")
	}
}
