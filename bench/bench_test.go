package bench

import (
	"fmt"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

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
