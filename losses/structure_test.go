package losses

import (
	"strings"
	"testing"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/tensor"
)

// fixedCtx resolves a loss and returns a context whose input has fixed
// spatial sizes, as a model spliced onto a fixed-size network would have.
func fixedCtx(t *testing.T, loss string, opts Options, spatial ...int64) (*Ctx, *Value) {
	t.Helper()
	s, err := Lookup(loss)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Resolve(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph("fixed", cfg.Opset)
	x := g.Input("input", tensor.Float32, append(Dims(2, 1), Dims(spatial...)...))
	return &Ctx{G: g, Config: cfg, Spec: s, X: x, Extra: map[string]*Value{}, cache: map[string]*Value{}}, x
}

// TestWindowFixedSizes checks the build-time side of --small-input: with
// fixed sizes, error mode rejects an axis shorter than the window (or than
// the window at the coarsest scale) with a message naming the sizes, and
// clip mode resolves the window and the output size at build time.
func TestWindowFixedSizes(t *testing.T) {
	cases := []struct {
		loss    string
		opts    Options
		spatial []int64
		err     string  // expected error fragment, "" for none
		out     []int64 // expected spatial size of the windowed maps
	}{
		{"ssim", Options{"small_input": "error"}, []int64{10, 12}, "spatial size of 10 is smaller than the window of 11", nil},
		{"ssim", Options{"small_input": "error"}, []int64{11, 12}, "", []int64{1, 2}},
		{"ssim", Options{}, []int64{4, 30}, "", []int64{1, 20}},
		{"ssim", Options{"small_input": "error", "padding": "reflect"}, []int64{5, 12}, "too small to reflect a window of 11", nil},
		{"ssim", Options{"padding": "reflect"}, []int64{2, 12}, "", []int64{2, 12}},
		{"ssim", Options{"padding": "zeros"}, []int64{1, 1}, "", []int64{1, 1}},
		{"ssim", Options{"spatial_dims": "3", "small_input": "error", "win_size": "5"}, []int64{5, 4, 9}, "spatial size of 4 is smaller than the window of 5", nil},
		{"ms-ssim", Options{"small_input": "error"}, []int64{160, 200}, "spatial axis 0 of 160 is too small for 5 scales: at scale 4 it is 10", nil},
		{"ms-ssim", Options{"small_input": "error"}, []int64{161, 200}, "", nil},
		{"ms-ssim", Options{"small_input": "error", "padding": "reflect", "weights": "0.5,0.5"}, []int64{11, 10}, "spatial axis 1 of 10 is too small for 2 scales", nil},
	}
	for _, c := range cases {
		ctx, x := fixedCtx(t, c.loss, c.opts, c.spatial...)
		var y *Value
		if c.loss == "ms-ssim" {
			ctx.msssim(&ctx.Config.P.(*MSSSIM).MSSSIMTerm, x, x)
		} else {
			y = ctx.newFilter(x, &ctx.Config.P.(*SSIM).Window).apply(x)
		}
		err := ctx.G.Err()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s %v %v: %v", c.loss, c.opts, c.spatial, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s %v %v: error %v, want one containing %q", c.loss, c.opts, c.spatial, err, c.err)
		case c.out != nil && err == nil:
			got, ok := y.Shape()[2:].Sizes()
			if !ok || !equal64(got, c.out) {
				t.Errorf("%s %v %v: windowed map %v, want spatial %v", c.loss, c.opts, c.spatial, y.Shape(), c.out)
			}
		}
	}
}

// TestHybridTermWeightedZero: a term of a hybrid loss weighted 0 is left
// out of the graph (the SSIM terms' windows are products with band
// matrices, MatMul), and weights that leave out every term are refused.
func TestHybridTermWeightedZero(t *testing.T) {
	for _, c := range []struct {
		loss, weights string
		windows       bool
	}{
		{"unet3p-hybrid", "", true}, {"unet3p-hybrid", "1,0,1", false}, {"unet3p-hybrid", "0,2,0", true},
		{"basnet-hybrid", "1,1,1", true}, {"basnet-hybrid", "1,0,0.5", false},
	} {
		s, err := Lookup(c.loss)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := Resolve(s, Options{"term_weights": c.weights})
		if err != nil {
			t.Fatal(err)
		}
		g, err := Build(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		gp, err := g.Proto()
		if err != nil {
			t.Fatal(err)
		}
		matmul := false
		for _, n := range gp.Node {
			matmul = matmul || n.GetOpType() == "MatMul"
		}
		if matmul != c.windows {
			t.Errorf("%s --term-weights %q: MatMul in the graph %v, want %v", c.loss, c.weights, matmul, c.windows)
		}
	}
	s, _ := Lookup("basnet-hybrid")
	if _, err := Resolve(s, Options{"term_weights": "0,0,0"}); err == nil || !strings.Contains(err.Error(), "leaves every term out") {
		t.Errorf("term_weights 0,0,0: got %v", err)
	}
}

// TestMSSSIMNeedsAScale: an empty list of scale weights is refused by
// every loss with an MS-SSIM term (it once reached the build as no scale).
func TestMSSSIMNeedsAScale(t *testing.T) {
	for _, loss := range []string{"ms-ssim", "unet3p-hybrid"} {
		s, err := Lookup(loss)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Resolve(s, Options{"weights": ""}); err == nil || !strings.Contains(err.Error(), "weights needs at least one value") {
			t.Errorf("%s --weights '': got %v", loss, err)
		}
	}
}

func equal64(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStructureSpecsDocumented: every loss of the family says what it
// computes, where it comes from, which conventions it follows, and names
// option sets beyond the defaults for verification.
func TestStructureSpecsDocumented(t *testing.T) {
	n := 0
	for _, s := range All() {
		if s.Family != "structure" {
			continue
		}
		n++
		if s.Description == "" || s.Citation == "" || s.Formula == "" || len(s.Notes) == 0 || len(s.Variants) == 0 {
			t.Errorf("%s: description, citation, formula, notes and variants are all required", s.Name)
		}
		for _, p := range s.Params {
			if p.Doc == "" {
				t.Errorf("%s: parameter %s has no doc", s.Name, p.Name)
			}
		}
	}
	if n != 11 {
		t.Errorf("%d structure losses registered, want 11", n)
	}
}
