package losses_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestDistanceParameterConditions gives the distance losses' parameters
// where they cannot matter and where they do: the first is a usage error
// that names the parameter and what would make it matter.
func TestDistanceParameterConditions(t *testing.T) {
	for _, tc := range []struct {
		loss string
		opts losses.Options
		want string // "" when accepted
	}{
		{"boundary", losses.Options{"distance": "input", "spacing": "1.5"}, "--spacing has no effect here: it needs --distance target"},
		{"boundary", losses.Options{"distance": "input", "max_distance": "2"}, "--max-distance has no effect here: it needs --distance target"},
		{"boundary", losses.Options{"distance": "input", "sdf": "signed"}, "--sdf has no effect here: it needs --distance target"},
		{"boundary", losses.Options{"distance": "input", "include_background": "true"}, ""},
		{"boundary", losses.Options{"spacing": "1.5", "sdf": "signed", "max_distance": "2"}, ""},
		{"boundary", losses.Options{"mode": "binary", "include_background": "true"}, "--include-background has no effect here: it needs --mode multiclass or multilabel"},
		{"shape-aware", losses.Options{"mode": "binary", "include_background": "false"}, "--include-background has no effect here"},
		{"shape-aware", losses.Options{"mode": "multilabel", "include_background": "true"}, ""},
		{"hausdorff-dt", losses.Options{"include_background": "true"}, "--mode multiclass or multilabel"},
		{"hausdorff-dt", losses.Options{"alpha": "0", "spacing": "2,0.5"}, "--spacing has no effect here: it needs --alpha above 0"},
		{"log-hausdorff-dt", losses.Options{"alpha": "0", "max_distance": "3"}, "--max-distance has no effect here: it needs --alpha above 0"},
		{"hausdorff-dt", losses.Options{"alpha": "1", "spacing": "2,0.5", "max_distance": "3"}, ""},
		{"hausdorff-er", losses.Options{"erosions": "1", "alpha": "3"}, "--alpha has no effect here: it needs --erosions above 1"},
		{"hausdorff-er", losses.Options{"erosions": "2", "alpha": "3"}, ""},
		{"distance-penalized-ce", losses.Options{"spacing": "2"}, "--spacing has no effect here: it needs values that differ between axes, or --max-distance"},
		{"distance-penalized-ce", losses.Options{"spacing": "0.5,0.5"}, "values that differ between axes"},
		{"distance-penalized-ce", losses.Options{"spacing": "2,1"}, ""},
		{"distance-penalized-ce", losses.Options{"spacing": "2", "max_distance": "3"}, ""},
		{"unet-weight-map", losses.Options{"w0": "0", "sigma": "2"}, "--sigma has no effect here: it needs --w0 above 0"},
		{"unet-weight-map", losses.Options{"w0": "0", "truncate": "0"}, "--truncate has no effect here: it needs --w0 above 0"},
		{"unet-weight-map", losses.Options{"w0": "0", "class_balance": "image"}, ""},
		{"unet-weight-map", losses.Options{"class_weights": "1,2", "class_balance": "none"}, "--class-balance has no effect here: it needs no --class-weights"},
		{"unet-weight-map", losses.Options{"class_weights": "1,2", "w0": "3", "sigma": "2"}, ""},
	} {
		s, err := losses.Lookup(tc.loss)
		if err != nil {
			t.Fatal(err)
		}
		_, err = losses.Resolve(s, tc.opts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v", tc.loss, tc.opts, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: got %v, want an error saying %q", tc.loss, tc.opts, err, tc.want)
		}
	}

	// The typed form is refused alike.
	b := losses.Defaults[losses.Boundary]()
	b.Distance, b.Spacing = param.DistanceFromInput, []float64{2}
	if _, _, err := losses.ResolveTyped(b); err == nil || !strings.Contains(err.Error(), "--distance target") {
		t.Errorf("typed boundary with distance input and spacing: got %v", err)
	}
}

// TestDistanceConditionsHold checks, with the references, that the
// parameters refused above indeed change nothing there: the loss is the
// same with and without them on random inputs, and differs once the
// condition holds.
func TestDistanceConditionsHold(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, h, w = 2, 7, 9
	x := make([]float64, n*h*w)
	y := make([]float64, n*h*w)
	far := make([]float64, n*h*w) // probabilities far from the target
	ids := make([]int64, n*h*w)
	for i := range x {
		x[i] = rng.NormFloat64() * 2
		if (i/w)%h > 2 && i%w > 1 && i%w < 7 {
			y[i] = 1
			ids[i] = int64(1 + i%w/4) // two touching instances
		}
		far[i] = 1 - y[i]
	}
	shape := []int{n, 1, h, w}
	in := reference.Inputs{
		"input":        tensor.FromFloat64(shape, x),
		"target":       tensor.FromFloat64(shape, y),
		"distance_map": tensor.FromFloat64(shape, x),
		"instances":    tensor.FromInt64([]int{n, h, w}, ids),
	}
	cfg := func(p param.Declarer) *reference.Config { return &reference.Config{Common: *p.CommonOf(), P: p} }
	val := func(r *tensor.Tensor, err error) float64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r.Float64s()[0]
	}
	same := func(what string, a, b float64) {
		t.Helper()
		if math.Abs(a-b) > 1e-12*math.Max(1, math.Abs(a)) {
			t.Errorf("%s: %v and %v differ", what, a, b)
		}
	}
	differ := func(what string, a, b float64) {
		t.Helper()
		if math.Abs(a-b) < 1e-9 {
			t.Errorf("%s: %v and %v are the same; the case does not exercise the parameter", what, a, b)
		}
	}

	// boundary with distance=input: sdf, spacing and max_distance unused.
	b1 := losses.Defaults[losses.Boundary]()
	b1.Mode, b1.Distance = losses.Binary, param.DistanceFromInput
	b2 := b1
	b2.SDF, b2.Spacing, b2.MaxDistance = param.SDFSigned, []float64{2, 0.5}, 1
	same("boundary, distance input", val(reference.Boundary(in, cfg(&b1), &b1)), val(reference.Boundary(in, cfg(&b2), &b2)))
	b1.Distance, b2.Distance = param.DistanceFromTarget, param.DistanceFromTarget
	differ("boundary, distance target", val(reference.Boundary(in, cfg(&b1), &b1)), val(reference.Boundary(in, cfg(&b2), &b2)))

	// hausdorff-dt with α = 0: spacing and max_distance unused.
	h1 := losses.Defaults[losses.HausdorffDT]()
	h1.Alpha = 0
	h2 := h1
	h2.Spacing, h2.MaxDistance = []float64{2, 0.5}, 1
	same("hausdorff-dt, alpha 0", val(reference.HausdorffDT(in, cfg(&h1), &h1)), val(reference.HausdorffDT(in, cfg(&h2), &h2)))
	h1.Alpha, h2.Alpha = 1, 1
	differ("hausdorff-dt, alpha 1", val(reference.HausdorffDT(in, cfg(&h1), &h1)), val(reference.HausdorffDT(in, cfg(&h2), &h2)))

	// distance-penalized-ce: a uniform spacing cancels in Φ, unless
	// distances are truncated.
	d1 := losses.Defaults[losses.DistancePenalizedCE]()
	d1.Mode = losses.Binary
	d2 := d1
	d2.Spacing = []float64{3}
	same("distance-penalized-ce, uniform spacing", val(reference.DistancePenalizedCE(in, cfg(&d1), &d1)), val(reference.DistancePenalizedCE(in, cfg(&d2), &d2)))
	d1.MaxDistance, d2.MaxDistance = 2, 2
	differ("distance-penalized-ce, uniform spacing, truncated", val(reference.DistancePenalizedCE(in, cfg(&d1), &d1)), val(reference.DistancePenalizedCE(in, cfg(&d2), &d2)))

	// unet-weight-map with w0 = 0: σ, truncation, spacing and the number of
	// instances unused.
	u1 := losses.Defaults[losses.UNetWeightMap]()
	u1.Mode, u1.W0 = losses.Binary, 0
	u2 := u1
	u2.Sigma, u2.Truncate, u2.Spacing, u2.MaxInstances = 1, 0, []float64{0.5, 2}, 2
	same("unet-weight-map, w0 0", val(reference.UNetWeightMap(in, cfg(&u1), &u1)), val(reference.UNetWeightMap(in, cfg(&u2), &u2)))
	u1.W0, u2.W0 = 10, 10
	differ("unet-weight-map, w0 10", val(reference.UNetWeightMap(in, cfg(&u1), &u1)), val(reference.UNetWeightMap(in, cfg(&u2), &u2)))

	// hausdorff-er with one erosion: α unused.
	in["input"] = tensor.FromFloat64(shape, far)
	e1 := losses.Defaults[losses.HausdorffER]()
	e1.Mode, e1.FromLogits, e1.Erosions = losses.Binary, false, 1
	e2 := e1
	e2.Alpha = 3
	same("hausdorff-er, one erosion", val(reference.HausdorffER(in, cfg(&e1), &e1)), val(reference.HausdorffER(in, cfg(&e2), &e2)))
	e1.Erosions, e2.Erosions = 3, 3
	differ("hausdorff-er, three erosions", val(reference.HausdorffER(in, cfg(&e1), &e1)), val(reference.HausdorffER(in, cfg(&e2), &e2)))
}
