package verify

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestStructureWindowsThatFit runs the window-based losses on shapes where
// the window fits (the registry's shapes are all smaller than an 11-tap
// window, so they exercise clipped windows) and where MS-SSIM's later
// scales clip, against the references.
func TestStructureWindowsThatFit(t *testing.T) {
	testutil.RequireRuntime(t)
	shapes := map[string][]shapeCase{
		"2": {{2, []int{23, 19}}, {1, []int{40, 37}}},
		"3": {{1, []int{13, 12, 14}}},
	}
	configs := []struct {
		loss string
		opts losses.Options
	}{
		{"ssim", losses.Options{"mode": "multilabel"}},
		{"ssim", losses.Options{"mode": "multiclass", "padding": "reflect", "dssim": "true", "reduction": "none"}},
		{"ssim", losses.Options{"padding": "zeros", "kernel": "uniform", "win_size": "7"}},
		{"ssim", losses.Options{"spatial_dims": "3", "small_input": "error"}},
		{"ssim", losses.Options{"spatial_dims": "3", "padding": "reflect", "win_size": "5", "layout": "nhwc"}},
		{"ms-ssim", losses.Options{}},
		{"ms-ssim", losses.Options{"mode": "multiclass", "win_size": "3", "small_input": "error", "weights": "0.3,0.3,0.4"}},
		{"ms-ssim", losses.Options{"padding": "reflect", "win_size": "5", "small_input": "error", "weights": "0.5,0.5", "normalize": "simple"}},
		{"ms-ssim", losses.Options{"spatial_dims": "3", "win_size": "5", "weights": "0.2,0.3,0.5"}},
		{"cmssim", losses.Options{"win_size": "7", "ignore_index": "1", "classes": "3"}},
		{"cmssim", losses.Options{"mode": "binary", "padding": "zeros", "spatial_dims": "3"}},
		{"basnet-hybrid", losses.Options{}},
		{"unet3p-hybrid", losses.Options{"mode": "multiclass", "classes": "3"}},
	}
	r := &Runner{Seed: 3}
	for _, c := range configs {
		dims := c.opts["spatial_dims"]
		if dims == "" {
			dims = "2"
		}
		name := fmt.Sprintf("%s %v", c.loss, c.opts)
		t.Run(name, func(t *testing.T) {
			sess := testutil.OpenLoss(t, c.loss, c.opts)
			s, cfg := sess.Spec(), sess.Config()
			classes := cfg.Classes
			if classes == 0 {
				classes = 3
			}
			vc := Config{Spec: s, Options: c.opts, Label: name}
			for _, sh := range shapes[dims] {
				for _, kind := range []string{"random", "soft", "saturated", "empty", "full", "part-ignored"} {
					if kind == "soft" && cfg.Mode == losses.Multiclass && cfg.TargetForm == "labels" ||
						kind == "part-ignored" && cfg.IgnoreIndex == nil {
						continue
					}
					h := fnv.New64a()
					h.Write([]byte(name + kind + dimsString(sh.spatial)))
					rng := rand.New(rand.NewPCG(3, h.Sum64()))
					cs := Case{Label: kind + " " + dimsString(sh.spatial), Inputs: generate(s, cfg, sh, classes, kind, rng)}
					if res := r.compare(vc, sess, cs); !res.OK() {
						t.Errorf("%s: %s", cs.Label, describe(res))
					}
				}
			}
		})
	}
}

// TestCMSSIMNearlyUniform runs cmssim where its local standard deviations
// are tiny: logits within ±0.03 (an untrained network) and saturated ones,
// so probability windows are nearly or exactly uniform. σ enters e next to
// C4 = 0.01, so the statistics must stay exact there (the textbook
// E[x²] - μ² would lose about 1e-7 of E[x²] and move e by per cents).
func TestCMSSIMNearlyUniform(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, opts := range []losses.Options{
		{"classes": "3"}, {"classes": "3", "padding": "zeros"}, {"mode": "binary", "win_size": "5"},
	} {
		sess := testutil.OpenLoss(t, "cmssim", opts)
		s, cfg := sess.Spec(), sess.Config()
		rng := rand.New(rand.NewPCG(4, 4))
		for _, scale := range []float64{0.03, 30} {
			in := generate(s, cfg, shapeCase{2, []int{24, 31}}, max(cfg.Classes, 1), "random", rng)
			x := in["input"].Float64s()
			for i := range x {
				x[i] = rng.NormFloat64() * scale
				if scale > 1 {
					x[i] = math.Round(x[i]/scale) * scale
				}
			}
			in["input"] = tensor.FromFloat64(in["input"].Shape, x).Convert(tensor.Float32)
			r := &Runner{RelTol: DefaultRelTol}
			if res := r.compare(Config{Spec: s, Label: "cmssim"}, sess, Case{Label: fmt.Sprint(scale), Inputs: in}); !res.OK() {
				t.Errorf("%v, logits ×%v: %s", opts, scale, describe(res))
			}
		}
	}
}

// TestStructureSmallInputError checks that --small-input error rejects an
// input smaller than the window in ONNX Runtime, from the window_fits
// check, and accepts the smallest input that fits: 11 for one valid
// window, 161 for five valid scales, 81 for five reflected scales.
func TestStructureSmallInputError(t *testing.T) {
	testutil.RequireRuntime(t)
	cases := []struct {
		loss      string
		opts      losses.Options
		fits, not int
	}{
		{"ssim", losses.Options{"small_input": "error"}, 11, 10},
		{"ssim", losses.Options{"small_input": "error", "padding": "reflect"}, 6, 5},
		{"ms-ssim", losses.Options{"small_input": "error"}, 161, 160},
		{"ms-ssim", losses.Options{"small_input": "error", "padding": "reflect"}, 81, 80},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %v", c.loss, c.opts), func(t *testing.T) {
			sess := testutil.OpenLoss(t, c.loss, c.opts)
			run := func(h int) error {
				x := tensor.FromFloat64([]int{1, 1, h, c.fits + 3}, make([]float64, h*(c.fits+3)))
				_, err := sess.Run(map[string]*tensor.Tensor{"input": x.Convert(tensor.Float32), "target": x.Convert(tensor.Float32)})
				return err
			}
			if err := run(c.fits); err != nil {
				t.Errorf("height %d: %v", c.fits, err)
			}
			err := run(c.not)
			if err == nil || !strings.Contains(err.Error(), "window_fits") {
				t.Errorf("height %d: want an error from the window_fits check, got %v", c.not, err)
			}
		})
	}
}

// ssimTol is the relative error budget of the SSIM losses.
const ssimTol = 2e-4

// TestSSIMConstantImages compares SSIM on constant maps with its closed
// form: every window has σ = 0, so SSIM = (2ab + C1)/(a² + b² + C1).
func TestSSIMConstantImages(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, opts := range []losses.Options{
		{"from_logits": "false"},
		{"from_logits": "false", "padding": "reflect"},
		{"from_logits": "false", "spatial_dims": "3", "k1": "0.1", "data_range": "2"},
		{"from_logits": "false", "padding": "reflect", "win_size": "5", "spatial_dims": "3"},
	} {
		t.Run(fmt.Sprint(opts), func(t *testing.T) {
			sess := testutil.OpenLoss(t, "ssim", opts)
			cfg := sess.Config()
			shape := []int{2, 1, 12, 13}
			if cfg.SpatialDims == 3 {
				shape = []int{1, 1, 11, 12, 6}
			}
			for _, ab := range [][2]float64{{0, 0}, {1, 1}, {0.3, 0.3}, {0.2, 0.9}, {0, 1}, {1e-3, 0}} {
				n := tensor.NumElements(shape)
				fill := func(v float64) *tensor.Tensor {
					d := make([]float64, n)
					for i := range d {
						d[i] = v
					}
					return tensor.FromFloat64(shape, d).Convert(tensor.Float32)
				}
				out, err := sess.Run(map[string]*tensor.Tensor{"input": fill(ab[0]), "target": fill(ab[1])})
				if err != nil {
					t.Fatal(err)
				}
				a, b := float64(float32(ab[0])), float64(float32(ab[1]))
				sp := cfg.P.(*losses.SSIM)
				L := sp.DataRange
				c1 := math.Pow(sp.K1*L, 2)
				want := 1 - (2*a*b+c1)/(a*a+b*b+c1)
				// σ² = E[x²] - μ² is about 1e-7 instead of 0 in float32, and
				// C2 = (k2 L)² is small: allow the SSIM losses' budget.
				if got := out["loss"].Float64s()[0]; math.Abs(got-want) > 1e-6+ssimTol*math.Abs(want) {
					t.Errorf("a=%v b=%v: loss %v, want %v", a, b, got, want)
				}
			}
		})
	}
}

// allWrong makes a multiclass batch whose prediction is confidently wrong
// at every pixel: logits of ±1e4 put all the mass on (y+1) mod C, and every
// class is both a label and a prediction somewhere.
func allWrong(n, c, h, w int, seed uint64) (logits *tensor.Tensor, labels *tensor.Tensor, y []int64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := h * w
	y = make([]int64, n*s)
	for i := range y {
		y[i] = int64(rng.IntN(c))
	}
	for k := 0; k < c; k++ { // every class appears in the first image
		y[k] = int64(k)
	}
	x := make([]float64, n*c*s)
	for b := 0; b < n; b++ {
		for i := 0; i < s; i++ {
			wrong := (y[b*s+i] + 1) % int64(c)
			for k := 0; k < c; k++ {
				x[(b*c+k)*s+i] = -1e4
			}
			x[(b*c+int(wrong))*s+i] = 1e4
		}
	}
	return tensor.FromFloat64([]int{n, c, h, w}, x).Convert(tensor.Float32), tensor.FromInt64([]int{n, h, w}, y), y
}

// korniaStyle computes the Lovász-Softmax value the way kornia's
// lovasz_softmax_loss did before 0.9: per image and class, errors |fg - p| sorted,
// but the Lovász gradient built from the sorted class ids instead of the
// class's foreground indicator; then the mean over classes and images.
func korniaStyle(p [][][]float64, y []int64, n, c, s int) float64 {
	total := 0.0
	for b := 0; b < n; b++ {
		for k := 0; k < c; k++ {
			idx := make([]int, s)
			errs := make([]float64, s)
			for i := 0; i < s; i++ {
				fg := 0.0
				if y[b*s+i] == int64(k) {
					fg = 1
				}
				errs[i] = math.Abs(fg - p[b][k][i])
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b2 int) bool { return errs[idx[a]] > errs[idx[b2]] })
			gts := 0.0
			for i := 0; i < s; i++ {
				gts += float64(y[b*s+i])
			}
			cum, cumNeg, prev, loss := 0.0, 0.0, 0.0, 0.0
			for _, i := range idx {
				id := float64(y[b*s+i])
				cum += id
				cumNeg += 1 - id
				jac := 1 - (gts-cum)/(gts+cumNeg)
				loss += errs[i] * (jac - prev)
				prev = jac
			}
			total += loss
		}
	}
	return total / float64(n*c)
}

// TestLovaszSoftmaxAllWrong: a prediction wrong at every pixel has an IoU
// of 0 for every class, and the Lovász extension is exact at such 0/1
// errors, so every class present counts 1 and the loss is 1. kornia's use
// of class ids in the Lovász gradient before 0.9 gave less.
func TestLovaszSoftmaxAllWrong(t *testing.T) {
	testutil.RequireRuntime(t)
	const n, c, h, w = 2, 4, 5, 6
	x, labels, y := allWrong(n, c, h, w, 9)
	for _, opts := range []losses.Options{
		{}, {"per_image": "true"}, {"class_set": "all"}, {"class_set": "all", "per_image": "true"},
		{"class_weights": "0.5,1,2,3"}, {"reduction": "sum"},
	} {
		sess := testutil.OpenLoss(t, "lovasz-softmax", opts)
		cfg := sess.Config()
		out, err := sess.Run(map[string]*tensor.Tensor{"input": x, "target": labels})
		if err != nil {
			t.Fatal(err)
		}
		want := 1.0
		if cfg.Reduction == "sum" {
			want = c // the batch: every class present once
		}
		if got := out["loss"].Float64s()[0]; math.Abs(got-want) > 1e-6 {
			t.Errorf("%v: loss %v, want %v", opts, got, want)
		}
	}
	cfg := &reference.Config{Common: param.Common{Mode: "multiclass", Layout: "nchw", FromLogits: true, TargetForm: "labels"}}
	prob, err := reference.Canon(reference.Inputs{"input": x, "target": labels}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if k := korniaStyle(prob.Probs(cfg), y, n, c, h*w); k > 0.99 {
		t.Errorf("kornia-style value %v: expected the class-id gradient to fall short of 1 here", k)
	}
}

// compact returns the entries of x [N,C,*] and the target whose pixels are
// not ignored, as one image [1,C,1,K] (and labels [1,1,K] or a float target
// [1,C,1,K]), for images (all when nil).
func compact(x *tensor.Tensor, target *tensor.Tensor, keep func(b, i int) bool, images []int) (*tensor.Tensor, *tensor.Tensor) {
	c := x.Shape[1]
	s := tensor.NumElements(x.Shape[2:])
	xs := x.Float64s()
	var cols [][]float64
	var ys []int64
	var ts [][]float64
	labels := target.DType == tensor.Int64
	for _, b := range images {
		for i := 0; i < s; i++ {
			if !keep(b, i) {
				continue
			}
			col := make([]float64, c)
			tcol := make([]float64, c)
			for k := 0; k < c; k++ {
				col[k] = xs[(b*c+k)*s+i]
				if !labels {
					tcol[k] = target.Float64s()[(b*c+k)*s+i]
				}
			}
			cols = append(cols, col)
			ts = append(ts, tcol)
			if labels {
				ys = append(ys, target.Int64s()[b*s+i])
			}
		}
	}
	kept := len(cols)
	flat := make([]float64, c*kept)
	tflat := make([]float64, c*kept)
	for j := range cols {
		for k := 0; k < c; k++ {
			flat[k*kept+j] = cols[j][k]
			tflat[k*kept+j] = ts[j][k]
		}
	}
	xc := tensor.FromFloat64([]int{1, c, 1, kept}, flat).Convert(x.DType)
	if labels {
		return xc, tensor.FromInt64([]int{1, 1, kept}, ys)
	}
	return xc, tensor.FromFloat64([]int{1, c, 1, kept}, tflat).Convert(target.DType)
}

// TestLovaszIgnoredPixelsRemoved proves that giving ignored pixels error 0
// and ground truth 0 is the same as removing them: the graph on a batch
// with ignored pixels equals the graph, without ignore_index, on the pixels
// that remain (pooled into one image for batch statistics, image by image
// with per_image).
func TestLovaszIgnoredPixelsRemoved(t *testing.T) {
	testutil.RequireRuntime(t)
	const n, c, h, w, ignore = 3, 4, 5, 7, 255
	rng := rand.New(rand.NewPCG(11, 2))
	s := h * w
	xs := make([]float64, n*c*s)
	for i := range xs {
		xs[i] = rng.NormFloat64() * 3
	}
	ys := make([]int64, n*s)
	ts := make([]float64, n*s)
	for i := range ys {
		ys[i] = int64(rng.IntN(c))
		ts[i] = float64(rng.IntN(2))
		if rng.IntN(5) < 2 {
			ys[i], ts[i] = ignore, ignore
		}
	}
	x := tensor.FromFloat64([]int{n, c, h, w}, xs).Convert(tensor.Float32)
	labels := tensor.FromInt64([]int{n, h, w}, ys)
	xb := tensor.FromFloat64([]int{n, 1, h, w}, xs[:n*s]).Convert(tensor.Float32)
	tb := tensor.FromFloat64([]int{n, 1, h, w}, ts).Convert(tensor.Float32)
	cases := []struct {
		loss     string
		opts     losses.Options
		x, t     *tensor.Tensor
		perImage bool
	}{
		{"lovasz-softmax", losses.Options{}, x, labels, false},
		{"lovasz-softmax", losses.Options{"per_image": "true", "class_weights": "1,2,0.5,1"}, x, labels, true},
		{"lovasz-softmax", losses.Options{"class_set": "all"}, x, labels, false},
		{"lovasz-hinge", losses.Options{}, xb, tb, false},
		{"lovasz-hinge", losses.Options{"per_image": "true"}, xb, tb, true},
	}
	for _, cs := range cases {
		t.Run(fmt.Sprintf("%s %v", cs.loss, cs.opts), func(t *testing.T) {
			with := losses.Options{"ignore_index": fmt.Sprint(ignore)}
			for k, v := range cs.opts {
				with[k] = v
			}
			masked := testutil.OpenLoss(t, cs.loss, with)
			plain := testutil.OpenLoss(t, cs.loss, cs.opts)
			out, err := masked.Run(map[string]*tensor.Tensor{"input": cs.x, "target": cs.t})
			if err != nil {
				t.Fatal(err)
			}
			got := out["loss"].Float64s()[0]
			keep := func(b, i int) bool { return ys[b*s+i] != ignore }
			var groups [][]int
			if cs.perImage {
				for b := 0; b < n; b++ {
					groups = append(groups, []int{b})
				}
			} else {
				groups = [][]int{{0, 1, 2}}
			}
			want := 0.0
			for _, imgs := range groups {
				xc, tc := compact(cs.x, cs.t, keep, imgs)
				o, err := plain.Run(map[string]*tensor.Tensor{"input": xc, "target": tc})
				if err != nil {
					t.Fatal(err)
				}
				want += o["loss"].Float64s()[0] / float64(len(groups))
			}
			if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
				t.Errorf("with ignored pixels %v, with them removed %v", got, want)
			}
		})
	}
}

// TestTrainableInONNXRuntime checks every registered loss, under every
// option set that verification covers, for ops that ONNX Runtime's gradient
// builder cannot differentiate on a path from input to loss (the path as
// that builder sees it: StopGradient does not stop it there).
func TestTrainableInONNXRuntime(t *testing.T) {
	for _, s := range losses.All() {
		for _, c := range Configs(s, nil) {
			cfg, err := losses.Resolve(s, c.Options)
			if err != nil {
				t.Errorf("%s %s: %v", s.Name, c.Label, err)
				continue
			}
			g, err := losses.Build(s, cfg)
			if err != nil {
				t.Errorf("%s %s: %v", s.Name, c.Label, err)
				continue
			}
			path := builder.DifferentiablePath(g.OutputValue("loss"), g.InputByName("input"))
			if len(path) == 0 {
				t.Errorf("%s %s: the loss does not depend on the input", s.Name, c.Label)
			}
			for _, n := range path {
				if builder.ORTGradientMissing(n) {
					t.Errorf("%s %s: %s (%s) lies on the path from input to loss and has no gradient in ONNX Runtime", s.Name, c.Label, n.Op(), n.Name())
				}
			}
		}
	}
}
