package losses_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

func mustLookup(t *testing.T, name string) *losses.Spec {
	t.Helper()
	s, err := losses.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLookupSuggests(t *testing.T) {
	_, err := losses.Lookup("cross-entropi")
	var u *losses.UnknownError
	if !errors.As(err, &u) || u.Suggestion != "cross-entropy" {
		t.Fatalf("Lookup(cross-entropi) = %v; want a suggestion of cross-entropy", err)
	}
	if s, err := losses.Lookup("Cross_Entropy"); err != nil || s.Name != "cross-entropy" {
		t.Errorf("case and underscores are not forgiven: %v", err)
	}
	if _, err := losses.Lookup("zzzzzzzz"); err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a far name got a suggestion: %v", err)
	}
}

func TestResolveDefaults(t *testing.T) {
	c, err := losses.Resolve(mustLookup(t, "focal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != losses.Binary || c.Classes != 1 || c.Layout != "nchw" || c.Reduction != "mean" ||
		c.DType != tensor.Float32 || c.Opset != 17 || !c.FromLogits || c.P.(*losses.Focal).Gamma != 2 || c.P.(*losses.Focal).Alpha != nil {
		t.Errorf("defaults: %+v", c)
	}
	// Every parameter, defaults included, is in the metadata JSON.
	js := c.ParamsJSON()
	for _, k := range []string{`"gamma":2`, `"alpha":null`, `"normalized":false`, `"mode":"binary"`, `"opset":17`} {
		if !strings.Contains(js, k) {
			t.Errorf("params JSON %s lacks %s", js, k)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		loss string
		opts losses.Options
		want []string
	}{
		{"focal", losses.Options{"gama": "2"}, []string{"focal", "gama", `did you mean "gamma"`}},
		{"focal", losses.Options{"gamma": "-1"}, []string{"gamma", "out of range", "[0, inf)"}},
		{"focal", losses.Options{"gamma": "NaN"}, []string{"gamma", "finite"}},
		{"focal", losses.Options{"mode": "multi"}, []string{"mode", "binary, multilabel, multiclass"}},
		{"focal", losses.Options{"reduction": "avg"}, []string{"reduction", "mean, sum, none"}},
		{"focal", losses.Options{"layout": "nhwcc"}, []string{"layout", `did you mean "nhwc"`}},
		{"bce", losses.Options{"classes": "3"}, []string{"binary mode has one channel"}},
		{"bce", losses.Options{"target": "onehot"}, []string{"--target does not apply"}},
		{"cross-entropy", losses.Options{"classes": "3", "class_weights": "1,2"}, []string{"class_weights has 2 entries", "3 classes"}},
		{"cross-entropy", losses.Options{"target": "onehot", "ignore_index": "1"}, []string{"--ignore-index needs label targets"}},
		{"cross-entropy", losses.Options{"label_smoothing": "0.1"}, []string{"needs the number of classes"}},
		{"cross-entropy", losses.Options{"opset": "12"}, []string{"opset", "[13, 21]"}},
		{"cross-entropy", losses.Options{"grad": "true", "reduction": "none"}, []string{"--grad needs a scalar loss"}},
		{"topk-ce", losses.Options{"reduction": "none"}, []string{"reduction", "mean, sum"}},
		{"ohem-ce", losses.Options{"min_kept": "1.5"}, []string{"min_kept", "not an integer"}},
		{"focal", losses.Options{"mode": "multiclass", "classes": "3", "alpha": "0.1,0.2"}, []string{"alpha has 2 values", "3 classes"}},
		{"bce", losses.Options{"preset": "nope"}, []string{"preset"}},
		// One alpha in multiclass mode is 1-α for class 0 and α for the
		// others: the graph needs C, so it is a usage error, not a build one.
		{"focal", losses.Options{"mode": "multiclass", "alpha": "0.25"}, []string{"alpha", "--classes"}},
		{"focal", losses.Options{"preset": "kornia", "mode": "multiclass", "alpha": "0.25"}, []string{"alpha", "--classes"}},
		{"focal", losses.Options{"mode": "multiclass", "target": "onehot", "alpha": "0.25"}, []string{"alpha", "--classes"}},
		{"dice-focal", losses.Options{"mode": "multiclass", "alpha": "0.25"}, []string{"alpha", "--classes"}},
		{"unet3p-hybrid", losses.Options{"mode": "multiclass", "alpha": "0.25"}, []string{"alpha", "--classes"}},
		// The keras preset's prob_clip is what refuses one-hot targets here: the
		// message says where the option came from.
		{"focal", losses.Options{"preset": "keras", "mode": "multiclass", "target": "onehot"}, []string{"--prob-clip", "--preset keras sets"}},
		// One channel has no background to drop: the loss would be 0.
		{"focal", losses.Options{"mode": "multilabel", "classes": "1", "include_background": "false"}, []string{"--include-background", "two or more"}},
	}
	for _, tc := range tests {
		_, err := losses.Resolve(mustLookup(t, tc.loss), tc.opts)
		var oe *losses.OptionError
		if !errors.As(err, &oe) {
			t.Errorf("%s %v: want an OptionError, got %v", tc.loss, tc.opts, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: error %q lacks %q", tc.loss, tc.opts, err, w)
			}
		}
	}
}

func TestResolveInfersClasses(t *testing.T) {
	c, err := losses.Resolve(mustLookup(t, "cross-entropy"), losses.Options{"class-weights": "1,2,3"})
	if err != nil || c.Classes != 3 {
		t.Fatalf("classes from weights: %v, %v", c, err)
	}
	// Options round-trip through the strings Resolve reads.
	again, err := losses.Resolve(mustLookup(t, "cross-entropy"), c.Options())
	if err != nil || again.ParamsJSON() != c.ParamsJSON() {
		t.Errorf("Options round trip: %v\n%s\n%s", err, again.ParamsJSON(), c.ParamsJSON())
	}
}

func TestEveryLossResolvesEveryMode(t *testing.T) {
	for _, s := range losses.All() {
		if s.Description == "" || s.Citation == "" || s.Formula == "" {
			t.Errorf("%s: description, citation and formula are required", s.Name)
		}
		for _, m := range s.Modes {
			c, err := losses.Resolve(s, losses.Options{"mode": string(m)})
			if err != nil {
				t.Errorf("%s %s: %v", s.Name, m, err)
				continue
			}
			if _, err := losses.Build(s, c); err != nil {
				t.Errorf("%s %s: %v", s.Name, m, err)
			}
		}
		for _, v := range s.Variants {
			if _, err := losses.Resolve(s, v); err != nil {
				t.Errorf("%s variant %v: %v", s.Name, v, err)
			}
		}
		for _, p := range s.Presets {
			if _, err := losses.Resolve(s, losses.Options{"preset": p.Name}); err != nil {
				t.Errorf("%s preset %s: %v", s.Name, p.Name, err)
			}
		}
	}
}

// FuzzResolve feeds arbitrary option strings to every loss: Resolve and
// Build must return errors, never panic, and a resolved configuration must
// build.
func FuzzResolve(f *testing.F) {
	f.Add("focal", "gamma", "0.5", "mode", "multiclass")
	f.Add("cross-entropy", "class_weights", "1,2,,3", "classes", "3")
	f.Add("bce", "pos_weight", "1e400", "layout", "nhwc")
	f.Add("ohem-ce", "min_kept", "-5", "opset", "21")
	f.Add("topk-ce", "k", "0", "spatial_dims", "3")
	f.Add("lovasz-softmax", "grad", "true", "mode", "multilabel")
	f.Add("dice", "grad", "1", "dtype", "float16")
	f.Fuzz(func(t *testing.T, loss, k1, v1, k2, v2 string) {
		s, err := losses.Lookup(loss)
		if err != nil {
			s = losses.All()[len(loss)%len(losses.All())]
		}
		c, err := losses.Resolve(s, losses.Options{k1: v1, k2: v2})
		if err != nil {
			return
		}
		g, err := losses.Build(s, c)
		if err != nil {
			// A configuration Resolve accepts must build, or say clearly why not.
			if strings.Contains(err.Error(), "runtime error") {
				t.Fatalf("%s %v: %v", s.Name, losses.Options{k1: v1, k2: v2}, err)
			}
			return
		}
		if c.Grad && g.OutputValue("input_grad") == nil {
			t.Fatalf("%s %v: built with grad but without input_grad", s.Name, losses.Options{k1: v1, k2: v2})
		}
	})
}

// TestBuildGrad builds every loss in every mode with grad: each must
// succeed (every op on every loss's differentiable path has a gradient
// rule) and add input_grad, the shape and type of input, next to loss.
func TestBuildGrad(t *testing.T) {
	for _, s := range losses.All() {
		for _, m := range s.Modes {
			for _, opts := range []losses.Options{{}, {"dtype": "float16"}, {"layout": "nhwc", "spatial_dims": "3"}} {
				o := losses.Options{"grad": "true", "mode": string(m)}
				for k, v := range opts {
					o[k] = v
				}
				c, err := losses.Resolve(s, o)
				if err != nil {
					t.Errorf("%s %v: %v", s.Name, o, err)
					continue
				}
				g, err := losses.Build(s, c)
				if err != nil {
					t.Errorf("%s %v: %v", s.Name, o, err)
					continue
				}
				in, grad := g.InputByName("input"), g.OutputValue("input_grad")
				if grad == nil || g.OutputValue("loss") == nil {
					t.Errorf("%s %v: outputs loss and input_grad missing", s.Name, o)
					continue
				}
				if grad.DType() != in.DType() || grad.Shape().String() != in.Shape().String() {
					t.Errorf("%s %v: input_grad is %v %v, input %v %v", s.Name, o, grad.DType(), grad.Shape(), in.DType(), in.Shape())
				}
			}
		}
	}
}
