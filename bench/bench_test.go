package bench

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	ortruntime "github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// runtimeOne runs on one thread: the tests share the machine.
var runtimeOne = ortruntime.Options{Threads: 1}

func TestParseShape(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
	}{
		{"8,21,256,256", "[8 21 256 256]"},
		{"8x21x256x256", "[8 21 256 256]"},
		{"2, 1, 4, 5, 6", "[2 1 4 5 6]"},
		{"8x21", "error"},
		{"8x0x4x4", "error"},
		{"8,21x4,4", "error"},
	} {
		got, err := ParseShape(c.in)
		s := fmt.Sprint(got)
		if err != nil {
			s = "error"
		}
		if s != c.want {
			t.Errorf("ParseShape(%q) = %s (%v), want %s", c.in, s, err, c.want)
		}
	}
}

// TestInputBytes checks the size of the inputs, counted by hand, against
// what Inputs makes, and that sizes beyond memory or a 64-bit count are
// refused before anything is made.
func TestInputBytes(t *testing.T) {
	for _, c := range []struct {
		loss  string
		opts  losses.Options
		shape []int
		want  int64
	}{
		// float32 logits and int64 labels: 2·3·4·5·4 + 2·4·5·8.
		{"cross-entropy", losses.Options{"classes": "3"}, []int{2, 3, 4, 5}, 480 + 320},
		// float64 logits and target: 2·1·6·7·8 twice.
		{"bce", losses.Options{"mode": "binary", "dtype": "float64"}, []int{2, 1, 6, 7}, 2 * 672},
		// logits, labels and float32 pixel weights: 3·2·4·4 + 3·4·4·8 + 3·4·4·4.
		{"weighted-ce", losses.Options{"classes": "2"}, []int{1, 2, 4, 4}, 128 + 128 + 64},
		// float16 logits, float32 target and a float32 distance map of the input's shape.
		{"boundary", losses.Options{"mode": "binary", "dtype": "float16", "distance": "input"}, []int{1, 1, 3, 3}, 18 + 36 + 36},
	} {
		s, err := losses.Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := losses.Resolve(s, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.loss, err)
		}
		got, err := InputBytes(s, cfg, c.shape)
		if err != nil || got != c.want {
			t.Errorf("%s %v: InputBytes = %d, %v; want %d", c.loss, c.shape, got, err, c.want)
		}
		made := int64(0)
		for _, x := range Inputs(s, cfg, c.shape, 1) {
			made += int64(x.Len() * x.DType.Size())
		}
		if made != got {
			t.Errorf("%s %v: Inputs makes %d bytes, InputBytes says %d", c.loss, c.shape, made, got)
		}
		if err := CheckSize(s, cfg, c.shape); err != nil {
			t.Errorf("%s %v: %v", c.loss, c.shape, err)
		}
	}

	s, _ := losses.Lookup("cross-entropy")
	cfg, err := losses.Resolve(s, losses.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var se *SizeError
	_, err = InputBytes(s, cfg, []int{99999, 99999, 99999, 99999})
	if !errors.As(err, &se) || se.Bytes != -1 || !strings.Contains(err.Error(), "overflows") {
		t.Errorf("99999⁴: %v", err)
	}
	// 2^61 float32 logits are 2^63 bytes: one past the largest count.
	_, err = InputBytes(s, cfg, []int{1 << 20, 1 << 20, 1 << 20, 2})
	if !errors.As(err, &se) || se.Bytes != -1 {
		t.Errorf("2^61 elements: %v", err)
	}
	// 10^12 logits and 10^9 labels: 4·10^12 + 8·10^9 bytes, more than any
	// machine that runs these tests has.
	_, err = Measure(s, cfg, []int{1000, 1000, 1000, 1000}, Options{})
	if !errors.As(err, &se) || se.Bytes != 4_008_000_000_000 || se.Available <= 0 ||
		!strings.Contains(err.Error(), "4008000000000 bytes") {
		t.Errorf("1000⁴: %v", err)
	}
}

// TestMeasureGrad times a loss with and without its gradient: with
// Options.Grad the gradient graph runs and its time is reported next to
// the loss's, without it nothing of the gradient is.
func TestMeasureGrad(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, c := range []struct {
		loss  string
		opts  losses.Options
		shape []int
	}{
		{"bce", losses.Options{"mode": "binary"}, []int{2, 1, 16, 16}},
		{"lovasz-softmax", losses.Options{"classes": "4"}, []int{2, 4, 8, 8}},
	} {
		s, err := losses.Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := losses.Resolve(s, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, grad := range []bool{false, true} {
			r, err := Measure(s, cfg, c.shape, Options{Iters: 2, Seed: 1, Grad: grad})
			if err != nil {
				t.Fatalf("%s grad=%t: %v", c.loss, grad, err)
			}
			if r.Loss1 <= 0 || r.Floor1 <= 0 || r.Iters != 2 {
				t.Errorf("%s grad=%t: %+v", c.loss, grad, r)
			}
			if grad != (r.Grad1 > 0) || grad != (r.GradRatio() > 0) || grad != (r.GradFloorRatio() > 0) {
				t.Errorf("%s grad=%t: gradient time %v, ratios %v and %v", c.loss, grad, r.Grad1, r.GradRatio(), r.GradFloorRatio())
			}
			if grad && r.GradRatio() != float64(r.Grad1)/float64(r.Loss1) {
				t.Errorf("%s: GradRatio %v for %v over %v", c.loss, r.GradRatio(), r.Grad1, r.Loss1)
			}
			if r.First <= 0 || r.LossCPU <= 0 || grad != (r.GradFirst > 0) {
				t.Errorf("%s grad=%t: first calls %v and %v, CPU time %v", c.loss, grad, r.First, r.GradFirst, r.LossCPU)
			}
			if runtime.GOOS == "linux" && (r.PeakRSS <= 0 || grad != (r.GradPeakRSS > 0)) {
				t.Errorf("%s grad=%t: peaks %d and %d bytes", c.loss, grad, r.PeakRSS, r.GradPeakRSS)
			}
		}
	}
}

// TestMeasurePeak checks the gradient session's peak against a floor it
// cannot be under: input_grad, an output as large as the float32 input,
// is made by every call. A peak taken after the session had made its
// outputs would fall short.
func TestMeasurePeak(t *testing.T) {
	testutil.RequireRuntime(t)
	if runtime.GOOS != "linux" {
		t.Skip("the peak resident memory is read from /proc")
	}
	s, err := losses.Lookup("cross-entropy")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := losses.Resolve(s, losses.Options{"classes": "8"})
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{4, 8, 256, 256} // 8 MiB of logits, 2 MiB of labels
	logits := int64(4 * 4 * 8 * 256 * 256)
	for range 2 { // the second time in a process that has run and freed the first
		r, err := Measure(s, cfg, shape, Options{Iters: 1, Seed: 1, Grad: true, Runtime: runtimeOne})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("peak %.2f, with the gradient %.2f times the %d input bytes", r.PeakRatio(), r.GradPeakRatio(), r.Bytes)
		if r.GradPeakRSS < logits {
			t.Errorf("gradient session's peak %d bytes, less than its output's %d", r.GradPeakRSS, logits)
		}
		if r.PeakRatio() != float64(r.PeakRSS)/float64(r.Bytes) {
			t.Errorf("PeakRatio %v for %d over %d bytes", r.PeakRatio(), r.PeakRSS, r.Bytes)
		}
	}
}

// BenchmarkGrad reports, for the losses whose gradients PyTorch checks, the
// cost of loss and gradient relative to the loss alone and to the
// read-once floor, at the shape of a 21-class batch of 8 images of 256×256
// (ns/op includes building and loading the graphs; read the metrics):
//
//	go test ./bench -run '^$' -bench Grad -benchtime 10x
func BenchmarkGrad(b *testing.B) {
	testutil.RequireRuntime(b)
	shape := []int{8, 21, 256, 256}
	for _, name := range []string{"bce", "cross-entropy", "focal", "dice", "lovasz-softmax"} {
		b.Run(name, func(b *testing.B) {
			s, err := losses.Lookup(name)
			if err != nil {
				b.Fatal(err)
			}
			opts := losses.Options{"classes": "21", "mode": string(losses.Multiclass)}
			if !s.SupportsMode(losses.Multiclass) {
				opts["mode"] = string(losses.Multilabel)
			}
			cfg, err := losses.Resolve(s, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			r, err := Measure(s, cfg, shape, Options{Iters: b.N, Seed: 1, Grad: true})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.Loss1.Seconds()*1e3, "loss-ms")
			b.ReportMetric(r.Grad1.Seconds()*1e3, "grad-ms")
			b.ReportMetric(r.Ratio(), "loss/floor")
			b.ReportMetric(r.GradRatio(), "grad/loss")
			b.ReportMetric(r.GradFloorRatio(), "grad/floor")
		})
	}
}

// TestOpenFailureIsAnError checks that a loss session that opens but whose
// inputs are refused comes back as an error, with the session closed.
func TestOpenFailureIsAnError(t *testing.T) {
	testutil.RequireRuntime(t)
	s, err := losses.Lookup("dice")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := losses.Resolve(s, losses.Options{"mode": "multiclass", "classes": "3"})
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs(s, cfg, []int{1, 3, 4, 4}, 1)
	delete(in, "target")
	closeFn, err := (&timed{}).open(s, cfg, runtimeOne, in)
	if err == nil || closeFn != nil || !strings.Contains(err.Error(), "target") {
		t.Errorf("open without a target: %v (close function %v)", err, closeFn != nil)
	}
}

// TestMeasureProfile checks that Options.Profile profiles the gradient
// session and adds its kernel time up by op type: the shares sum to 1 and
// the ops of the loss and of its backward pass are there.
func TestMeasureProfile(t *testing.T) {
	testutil.RequireRuntime(t)
	s, err := losses.Lookup("cross-entropy")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := losses.Resolve(s, losses.Options{"classes": "4"})
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ce")
	r, err := Measure(s, cfg, []int{2, 4, 16, 16}, Options{Iters: 2, Seed: 1, Grad: true, Profile: prefix, Runtime: runtimeOne})
	if err != nil {
		t.Fatal(err)
	}
	sum, ops := 0.0, map[string]bool{}
	for _, op := range r.Profile {
		sum += op.Share
		ops[op.Op] = true
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("shares sum to %v", sum)
	}
	for _, op := range []string{"Exp", "Log", "Where"} { // forward, backward
		if !ops[op] {
			t.Errorf("no %s in the profile %v", op, r.Profile)
		}
	}
	if files, _ := filepath.Glob(prefix + "*.json"); len(files) != 1 {
		t.Errorf("profile files %v", files)
	}
}

// BenchmarkRunInto times one loss-and-gradient call of binary dice at
// 8×1×512×512 through Session.Run, which takes new Go memory for the
// 8 MB gradient on every call, and through Session.RunInto, which writes
// it into the previous call's tensor, in the same run:
//
//	go test ./bench -run '^$' -bench RunInto -benchtime 50x
func BenchmarkRunInto(b *testing.B) {
	testutil.RequireRuntime(b)
	s, err := losses.Lookup("dice")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := losses.Resolve(s, losses.Options{"mode": string(losses.Binary), "grad": "true"})
	if err != nil {
		b.Fatal(err)
	}
	ls, err := losssession.OpenConfig(s, cfg, runtimeOne)
	if err != nil {
		b.Fatal(err)
	}
	defer ls.Close()
	in := map[string]*tensor.Tensor(Inputs(s, cfg, []int{8, 1, 512, 512}, 1))
	rt := ls.Runtime()
	for _, mode := range []string{"Run", "RunInto"} {
		b.Run(mode, func(b *testing.B) {
			var out map[string]*tensor.Tensor
			for range b.N {
				if mode == "Run" {
					out, err = rt.Run(in)
				} else {
					out, err = rt.RunInto(in, out)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPerSample times losses with their gradient in the two forms the
// gradient graph of a loss that decomposes over the batch holds (see
// Spec.PerSample): PerSample is the graph as exported, which at these
// shapes runs the Scan over the samples where the samples are small
// enough; WholeBatch is the same loss built without the per-sample form.
// Each call writes into the previous call's outputs (RunInto).
//
//	go test ./bench -run '^$' -bench PerSample -benchtime 20x -count 3
func BenchmarkPerSample(b *testing.B) {
	testutil.RequireRuntime(b)
	for _, c := range []struct {
		loss, mode string
		shape      []int
	}{
		{"dice", "binary", []int{8, 1, 512, 512}},
		{"bce", "binary", []int{8, 1, 512, 512}},
		{"dice", "multilabel", []int{8, 21, 256, 256}},
		{"bce", "multilabel", []int{8, 21, 256, 256}},
		{"dice", "multilabel", []int{2, 4, 128, 128, 128}},
	} {
		s, err := losses.Lookup(c.loss)
		if err != nil {
			b.Fatal(err)
		}
		opts := losses.Options{"mode": c.mode, "grad": "true", "spatial_dims": fmt.Sprint(len(c.shape) - 2)}
		if c.mode != "binary" {
			opts["classes"] = fmt.Sprint(c.shape[1])
		}
		cfg, err := losses.Resolve(s, opts)
		if err != nil {
			b.Fatal(err)
		}
		whole := *s
		whole.PerSample = nil
		in := map[string]*tensor.Tensor(Inputs(s, cfg, c.shape, 1))
		for _, form := range []struct {
			name string
			spec *losses.Spec
		}{{"PerSample", s}, {"WholeBatch", &whole}} {
			b.Run(fmt.Sprintf("%s/%s/%s/%s", c.loss, c.mode, shapeName(c.shape), form.name), func(b *testing.B) {
				ls, err := losssession.OpenConfig(form.spec, cfg, runtimeOne)
				if err != nil {
					b.Fatal(err)
				}
				defer ls.Close()
				rt := ls.Runtime()
				out, err := rt.RunInto(in, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if out, err = rt.RunInto(in, out); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func shapeName(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}
