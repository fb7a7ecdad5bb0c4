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
