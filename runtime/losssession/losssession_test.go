package losssession_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

func logits(shape ...int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, shape...)
	for i, d := 0, x.Data.([]float32); i < len(d); i++ {
		d[i] = float32((i*7)%11)/4 - 1.2
	}
	return x
}

func labels(classes int, shape ...int) *tensor.Tensor {
	y := tensor.New(tensor.Int64, shape...)
	for i, d := 0, y.Data.([]int64); i < len(d); i++ {
		d[i] = int64((i * 5) % classes)
	}
	return y
}

// set returns a copy of t with the entry at offset i set to v.
func set(t *tensor.Tensor, i int, v int64) *tensor.Tensor {
	d := append([]int64{}, t.Data.([]int64)...)
	d[i] = v
	return tensor.FromInt64(append([]int{}, t.Shape...), d)
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not mention %q:\n%v", p, err)
		}
	}
}

// TestRunAndReference checks that the session and its reference compute
// the same loss as building everything by hand does, for a loss with an
// ignore index and one with an extra input.
func TestRunAndReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts losses.Options
		in   map[string]*tensor.Tensor
	}{
		{"cross-entropy", losses.Options{"classes": "4", "ignore_index": "255"},
			map[string]*tensor.Tensor{"input": logits(2, 4, 3, 5), "target": set(labels(4, 2, 3, 5), 7, 255)}},
		{"weighted-ce", losses.Options{}, map[string]*tensor.Tensor{"input": logits(1, 3, 2, 4), "target": labels(3, 1, 2, 4),
			"pixel_weight": tensor.FromFloat32([]int{1, 2, 4}, []float32{1, 2, 0.5, 0, 1, 3, 1, 1})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testutil.OpenLoss(t, tc.name, tc.opts)
			if s.Spec().Name != tc.name || s.Config().Loss != tc.name || len(s.Model()) == 0 {
				t.Fatalf("session of %s: spec %q, config %q, %d model bytes", tc.name, s.Spec().Name, s.Config().Loss, len(s.Model()))
			}
			out, err := s.Run(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := s.Reference(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			spec, _ := losses.Lookup(tc.name)
			cfg, err := losses.Resolve(spec, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want, err := spec.Reference(tc.in, cfg.Reference())
			if err != nil {
				t.Fatal(err)
			}
			g, r, w := out["loss"].Float64s()[0], ref.Float64s()[0], want.Float64s()[0]
			if r != w || math.Abs(g-w) > 1e-5*math.Abs(w) || w == 0 {
				t.Errorf("graph %v, session reference %v, reference %v", g, r, w)
			}
			raw, err := s.Runtime().Run(tc.in)
			if err != nil || raw["loss"].Float64s()[0] != g {
				t.Errorf("the ONNX Runtime session gives %v, %v; Run gave %v", raw["loss"], err, g)
			}
		})
	}
}

// TestLabels checks that labels outside [0, C) that are not the ignore
// index are refused by Run and Reference alike, with the label's value and
// position. ONNX Runtime alone gives a number for a negative label and
// fails inside a GatherElements node for a label of C or more; the
// reference of cross-entropy panics on a negative one.
func TestLabels(t *testing.T) {
	ce := testutil.OpenLoss(t, "cross-entropy", losses.Options{"classes": "4", "ignore_index": "255"})
	ceNoIgnore := testutil.OpenLoss(t, "cross-entropy", losses.Options{})
	dice := testutil.OpenLoss(t, "dice", losses.Options{"mode": "multiclass", "layout": "nhwc"})
	x, y := logits(2, 4, 6, 6), labels(4, 2, 6, 6)
	xNHWC := logits(2, 6, 6, 4)
	at := func(n, h, w int) int { return (n*6+h)*6 + w }
	for _, tc := range []struct {
		name  string
		s     *losssession.Session
		in    map[string]*tensor.Tensor
		parts []string
	}{
		{"negative", ce, map[string]*tensor.Tensor{"input": x, "target": set(y, at(0, 3, 5), -1)},
			[]string{"cross-entropy: target[0,3,5] = -1 is not a class in [0, 4) nor the ignore index 255"}},
		{"C", ce, map[string]*tensor.Tensor{"input": x, "target": set(y, at(1, 0, 2), 4)},
			[]string{"target[1,0,2] = 4 is not a class in [0, 4) nor the ignore index 255"}},
		{"several", ce, map[string]*tensor.Tensor{"input": x, "target": set(set(y, at(1, 5, 5), 254), at(0, 0, 1), 7)},
			[]string{"target[0,0,1] = 7 is not a class", "(2 labels of 72 are out of range)"}},
		{"no ignore index", ceNoIgnore, map[string]*tensor.Tensor{"input": x, "target": set(y, at(0, 1, 1), 255)},
			[]string{"target[0,1,1] = 255 is not a class in [0, 4)"}},
		{"C from the input, nhwc", dice, map[string]*tensor.Tensor{"input": xNHWC, "target": set(y, at(1, 2, 3), 4)},
			[]string{"dice: target[1,2,3] = 4 is not a class in [0, 4)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.s.Run(tc.in)
			if err == nil {
				t.Fatalf("Run gave %v", out["loss"])
			}
			wantErr(t, err, tc.parts...)
			if strings.Contains(err.Error(), "ignore index") != (tc.s.Config().IgnoreIndex != nil) {
				t.Errorf("the ignore index is mentioned where there is none, or not where there is one: %v", err)
			}
			_, err = tc.s.Reference(tc.in)
			wantErr(t, err, tc.parts...)
		})
	}
	// Labels in range and the ignore index pass.
	ok := set(set(y, 0, 255), 1, 3)
	if _, err := ce.Run(map[string]*tensor.Tensor{"input": x, "target": ok}); err != nil {
		t.Error(err)
	}
	if _, err := dice.Reference(map[string]*tensor.Tensor{"input": xNHWC, "target": y}); err != nil {
		t.Error(err)
	}
}

// TestEmptyInputs checks that inputs with no elements are refused before
// the graph or the reference sees them (the reference of ssim panicked on
// H = 0).
func TestEmptyInputs(t *testing.T) {
	ssim := testutil.OpenLoss(t, "ssim", losses.Options{})
	ce := testutil.OpenLoss(t, "cross-entropy", losses.Options{"classes": "3"})
	for _, tc := range []struct {
		name  string
		s     *losssession.Session
		in    map[string]*tensor.Tensor
		parts []string
	}{
		{"H = 0", ssim, map[string]*tensor.Tensor{"input": tensor.New(tensor.Float32, 2, 1, 0, 6), "target": tensor.New(tensor.Float32, 2, 1, 0, 6)},
			[]string{"ssim: inputs with no elements (input [2 1 0 6], target [2 1 0 6]): a loss needs at least one pixel"}},
		{"N = 0", ce, map[string]*tensor.Tensor{"input": tensor.New(tensor.Float32, 0, 3, 4, 4), "target": tensor.New(tensor.Int64, 0, 4, 4)},
			[]string{"cross-entropy: inputs with no elements (input [0 3 4 4], target [0 4 4])"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.Run(tc.in)
			wantErr(t, err, tc.parts...)
			_, err = tc.s.Reference(tc.in)
			wantErr(t, err, tc.parts...)
		})
	}
}

// TestShapesBeforeReference checks that the reference path gets the shape
// checks of the runtime package: a target of another batch size than the
// input gave a number in ONNX Runtime and an unhelpful count in the
// reference.
func TestShapesBeforeReference(t *testing.T) {
	s := testutil.OpenLoss(t, "cross-entropy", losses.Options{})
	in := map[string]*tensor.Tensor{"input": logits(2, 4, 3, 3), "target": labels(4, 1, 3, 3)}
	_, err := s.Reference(in)
	wantErr(t, err, `input "target" dimension 0 (N) is 1, but input "input" dimension 0 (N) is 2`)
	delete(in, "target")
	_, err = s.Reference(in)
	wantErr(t, err, `missing input "target"`)
}

// TestReferencePanic checks that a reference that panics comes back as an
// error naming the loss.
func TestReferencePanic(t *testing.T) {
	testutil.RequireRuntime(t)
	spec := &losses.Spec{
		Name: "sum", Family: "test", Summary: "the sum of the input", Citation: "none",
		Modes: []losses.Mode{losses.Binary},
		Build: func(c *losses.Ctx) *builder.Value { return builder.ReduceSum(c.X, false) },
		Reference: func(in reference.Inputs, c *reference.Config) (*tensor.Tensor, error) {
			var x []float64
			return tensor.FromFloat64(nil, []float64{x[len(in)]}), nil
		},
	}
	cfg, err := losses.Resolve(spec, losses.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := losssession.OpenConfig(spec, cfg, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := map[string]*tensor.Tensor{"input": logits(1, 1, 2, 2), "target": logits(1, 1, 2, 2)}
	if _, err := s.Run(in); err != nil {
		t.Fatal(err)
	}
	_, err = s.Reference(in)
	wantErr(t, err, "sum: the reference failed on these inputs", "index out of range")
}

// TestOpenErrors checks that Open reports an unknown loss and bad options
// as the catalog's own errors.
func TestOpenErrors(t *testing.T) {
	_, err := losssession.Open("dise", nil, runtime.Options{})
	var unk *losses.UnknownError
	if !errors.As(err, &unk) {
		t.Errorf("unknown loss: %v", err)
	}
	_, err = losssession.Open("dice", losses.Options{"smooth": "-1"}, runtime.Options{})
	var oe *losses.OptionError
	if !errors.As(err, &oe) {
		t.Errorf("bad option: %v", err)
	}
}
