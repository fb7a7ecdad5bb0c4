package losses_test

import (
	"math"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// distGraphAndReference evaluates a loss on inputs both in ONNX Runtime and
// with its Go reference. The inputs are float32, so both differ from the
// hand-computed decimals by float32 rounding (about 1e-8): the tests allow
// 1e-6, far below the smallest distance effect they check (0.01).
func distGraphAndReference(t *testing.T, name string, opts losses.Options, in map[string]*tensor.Tensor) (graph, ref []float64) {
	t.Helper()
	testutil.RequireRuntime(t)
	s, err := losses.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := losses.Resolve(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := export.LossModel(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Reference(in, cfg.Reference())
	if err != nil {
		t.Fatal(err)
	}
	return out["loss"].Float64s(), r.Float64s()
}

func distBinary(shape []int, p, y []float64) map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"input":  tensor.FromFloat64(shape, p).Convert(tensor.Float32),
		"target": tensor.FromFloat64(shape, y).Convert(tensor.Float32),
	}
}

// TestBoundaryHandComputed checks the boundary loss on a 3×4 image with a
// two-pixel object, from probabilities.
//
//	target      probabilities
//	0 0 0 0     0.1 0.2 0.3 0.4
//	0 1 1 0     0.5 0.9 0.8 0.6
//	0 0 0 0     0.0 0.1 0.2 0.3
//
// Outside, d_out is the distance to the nearest object pixel: √2 at the
// corners, 1 elsewhere. Inside, both object pixels touch the outside, so
// d_in = 1: kervadec gives -(1 - 1) = 0, signed gives -1, and segloss gives 0
// (both are on the inner contour).
//
//	φ (kervadec)
//	√2 1 1 √2
//	1  0 0 1
//	√2 1 1 √2
//
// Σ p·φ = √2(0.1 + 0.4 + 0.0 + 0.3) + (0.2 + 0.3 + 0.5 + 0.6 + 0.1 + 0.2)
//
//	= 0.8√2 + 1.9, and the mean divides by 12 pixels.
//
// signed adds -(0.9 + 0.8) = -1.7 to the sum.
//
// With spacing 2 between rows and 1 between columns the corners are √(4+1)
// away, the pixels above and below the object 2, and its left and right
// neighbours 1; inside, the nearest outside pixel is the horizontal one at 1:
// Σ = 0.8√5 + 2(0.2 + 0.3 + 0.1 + 0.2) + (0.5 + 0.6) = 0.8√5 + 2.7.
func TestBoundaryHandComputed(t *testing.T) {
	shape := []int{1, 1, 3, 4}
	y := []float64{0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}
	p := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.8, 0.6, 0.0, 0.1, 0.2, 0.3}
	base := losses.Options{"mode": "binary", "from_logits": "false"}
	with := func(kv ...string) losses.Options {
		o := losses.Options{}
		for k, v := range base {
			o[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			o[kv[i]] = kv[i+1]
		}
		return o
	}
	kervadec := (0.8*math.Sqrt2 + 1.9) / 12
	for _, tc := range []struct {
		name string
		opts losses.Options
		want float64
	}{
		{"kervadec", with(), kervadec},
		{"signed", with("sdf", "signed"), (0.8*math.Sqrt2 + 1.9 - 1.7) / 12},
		{"segloss", with("sdf", "segloss"), kervadec},
		{"sum", with("reduction", "sum"), 0.8*math.Sqrt2 + 1.9},
		{"spacing", with("spacing", "2,1"), (0.8*math.Sqrt(5) + 2.7) / 12},
		{"truncated at 1.2", with("max_distance", "1.2"), (1.2*0.8 + 1.9) / 12},
	} {
		g, r := distGraphAndReference(t, "boundary", tc.opts, distBinary(shape, p, y))
		if math.Abs(g[0]-tc.want) > 1e-6 || math.Abs(r[0]-tc.want) > 1e-6 {
			t.Errorf("%s: graph %v, reference %v, by hand %v", tc.name, g[0], r[0], tc.want)
		}
	}
	// The same map given as the distance_map input gives the same loss.
	r2 := math.Sqrt2
	phi := []float64{r2, 1, 1, r2, 1, 0, 0, 1, r2, 1, 1, r2}
	in := distBinary(shape, p, y)
	in["distance_map"] = tensor.FromFloat64(shape, phi).Convert(tensor.Float32)
	g, r := distGraphAndReference(t, "boundary", with("distance", "input"), in)
	if math.Abs(g[0]-kervadec) > 1e-6 || math.Abs(r[0]-kervadec) > 1e-6 {
		t.Errorf("distance_map input: graph %v, reference %v, by hand %v", g[0], r[0], kervadec)
	}
}

// TestHausdorffDTHandComputed checks hausdorff-dt on a 1×5 image.
//
//	target y     0    1    1    0    0
//	p            0.2  0.7  0.4  0.6  0.1
//	p > 0.5      0    1    0    1    0
//
// The field of a mask is the distance of each pixel to the other set: for y,
// f_y = 1 1 1 1 2 (the last pixel is two away from the object); for the
// prediction's mask every pixel has a neighbour of the other kind, f_p = 1.
// With α = 2 the weights f_p² + f_y² are 2 2 2 2 5, and (p - y)² is
// 0.04 0.09 0.36 0.36 0.01, so Σ = 0.08 + 0.18 + 0.72 + 0.72 + 0.05 = 1.75
// and the mean over the 5 pixels is 0.35; log-hausdorff-dt gives log 1.35.
// With α = 1 the last weight is 3: Σ = 1.73, mean 0.346.
//
// A prediction below 0.5 everywhere has no boundary, so f_p = 0 and the
// weights are f_y² = 1 1 1 1 4: with p = 0.2 0.3 0.4 0.1 0.1, (p - y)² is
// 0.04 0.49 0.36 0.01 0.01 and the mean is (0.04 + 0.49 + 0.36 + 0.01 + 0.04)/5
// = 0.188.
func TestHausdorffDTHandComputed(t *testing.T) {
	shape := []int{1, 1, 1, 5}
	y := []float64{0, 1, 1, 0, 0}
	p := []float64{0.2, 0.7, 0.4, 0.6, 0.1}
	opts := func(alpha string) losses.Options {
		return losses.Options{"mode": "binary", "from_logits": "false", "alpha": alpha}
	}
	for _, tc := range []struct {
		name string
		loss string
		opts losses.Options
		p    []float64
		want float64
	}{
		{"alpha 2", "hausdorff-dt", opts("2"), p, 0.35},
		{"alpha 1", "hausdorff-dt", opts("1"), p, 0.346},
		{"log", "log-hausdorff-dt", opts("2"), p, math.Log(1.35)},
		{"empty prediction", "hausdorff-dt", opts("2"), []float64{0.2, 0.3, 0.4, 0.1, 0.1}, 0.188},
	} {
		g, r := distGraphAndReference(t, tc.loss, tc.opts, distBinary(shape, tc.p, y))
		if math.Abs(g[0]-tc.want) > 1e-6 || math.Abs(r[0]-tc.want) > 1e-6 {
			t.Errorf("%s: graph %v, reference %v, by hand %v", tc.name, g[0], r[0], tc.want)
		}
	}
	// Two images, per-image output. Image 2 has an empty target, so f_y = 0,
	// and p = 0.1 0.7 0.1 0.1 0.1 predicts pixel 1 only: it is 1 from the
	// outside, and pixels 0, 2, 3, 4 are 1, 1, 2, 3 from it, so f_p = 1 1 1 2 3
	// and f_p² = 1 1 1 4 9. (p - y)² = 0.01 0.49 0.01 0.01 0.01, so
	// Σ = 0.01 + 0.49 + 0.01 + 0.04 + 0.09 = 0.64 and the mean is 0.128.
	in := distBinary([]int{2, 1, 1, 5}, append(append([]float64{}, p...), 0.1, 0.7, 0.1, 0.1, 0.1), append(append([]float64{}, y...), 0, 0, 0, 0, 0))
	g, r := distGraphAndReference(t, "hausdorff-dt", losses.Options{"mode": "binary", "from_logits": "false", "reduction": "none"}, in)
	want := []float64{0.35, 0.128}
	if len(g) != 2 || len(r) != 2 {
		t.Fatalf("per-image output has %d and %d entries, want 2", len(g), len(r))
	}
	for i := range want {
		if math.Abs(g[i]-want[i]) > 1e-6 || math.Abs(r[i]-want[i]) > 1e-6 {
			t.Errorf("image %d: graph %v, reference %v, by hand %v", i, g[i], r[i], want[i])
		}
	}
}
