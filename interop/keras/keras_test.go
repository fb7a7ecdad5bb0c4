package keras_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// relTol bounds |onnxloss − Keras| relative to |Keras|. Keras computes in
// float32 with TensorFlow's kernels, onnxloss in float32 with ONNX Runtime's
// (and its reference in float64); they order sums differently. A value below
// absFloor in magnitude is held to relTol·absFloor instead, so the rounding
// of a near-zero loss does not count as a relative error.
const (
	relTol   = 1e-5
	absFloor = 1e-2
)

// kcase is one comparison: a Keras loss object and its arguments on
// (yTrue, yPred), and the onnxloss loss and options on (input, target).
type kcase struct {
	name   string
	keras  string
	kwargs map[string]any
	yTrue  *tensor.Tensor
	yPred  *tensor.Tensor
	loss   string
	opts   losses.Options
	input  *tensor.Tensor
	target *tensor.Tensor
}

// gen makes the inputs, channels last, from one seeded source.
type gen struct{ r *rand.Rand }

func (g gen) uniform(shape []int, lo, hi float64) *tensor.Tensor {
	d := make([]float32, tensor.NumElements(shape))
	for i := range d {
		d[i] = float32(lo + (hi-lo)*g.r.Float64())
	}
	return tensor.FromFloat32(shape, d)
}

// logits are normal with standard deviation s; every 7th entry (from an
// offset) is replaced by ±30 or ±100 when saturate is set.
func (g gen) logits(shape []int, s float64, saturate bool) *tensor.Tensor {
	d := make([]float32, tensor.NumElements(shape))
	sat := []float32{30, -30, 100, -100}
	for i := range d {
		d[i] = float32(s * g.r.NormFloat64())
		if saturate && i%7 == 3 {
			d[i] = sat[(i/7)%len(sat)]
		}
	}
	return tensor.FromFloat32(shape, d)
}

// probs are uniform in (0, 1); with extremes every 5th entry is exactly 0
// or 1.
func (g gen) probs(shape []int, extremes bool) *tensor.Tensor {
	t := g.uniform(shape, 0.001, 0.999)
	if extremes {
		d := t.Data.([]float32)
		for i := 2; i < len(d); i += 5 {
			d[i] = float32((i / 5) % 2)
		}
	}
	return t
}

// binary is a hard 0/1 target with P(1) = p.
func (g gen) binary(shape []int, p float64) *tensor.Tensor {
	d := make([]float32, tensor.NumElements(shape))
	for i := range d {
		if g.r.Float64() < p {
			d[i] = 1
		}
	}
	return tensor.FromFloat32(shape, d)
}

// labels are classes in [0, c) on [N,*spatial]; with ignore > 0 about a
// quarter of them are ignore.
func (g gen) labels(pixels []int, c int, ignore int64) *tensor.Tensor {
	d := make([]int64, tensor.NumElements(pixels))
	for i := range d {
		d[i] = int64(g.r.Intn(c))
		if ignore > 0 && g.r.Intn(4) == 0 {
			d[i] = ignore
		}
	}
	return tensor.FromInt64(pixels, d)
}

// oneHot encodes labels channels last, [*pixels, c] (an out-of-range label
// gives a zero row).
func oneHot(labels *tensor.Tensor, c int) *tensor.Tensor {
	l := labels.Int64s()
	d := make([]float32, len(l)*c)
	for i, y := range l {
		if y >= 0 && y < int64(c) {
			d[i*c+int(y)] = 1
		}
	}
	return tensor.FromFloat32(append(append([]int{}, labels.Shape...), c), d)
}

// softmax normalises the last axis in float64.
func softmax(x *tensor.Tensor) *tensor.Tensor {
	c := x.Shape[len(x.Shape)-1]
	v := x.Float64s()
	d := make([]float32, len(v))
	for i := 0; i < len(v); i += c {
		m := math.Inf(-1)
		for _, z := range v[i : i+c] {
			m = math.Max(m, z)
		}
		s := 0.0
		for _, z := range v[i : i+c] {
			s += math.Exp(z - m)
		}
		for k, z := range v[i : i+c] {
			d[i+k] = float32(math.Exp(z-m) / s)
		}
	}
	return tensor.FromFloat32(x.Shape, d)
}

// simplex returns probabilities over the last axis: a softmax of normal
// logits, with every 5th pixel exactly one-hot (the rest of it exactly 0).
func (g gen) simplex(shape []int) *tensor.Tensor {
	t := softmax(g.logits(shape, 2, false))
	c := shape[len(shape)-1]
	d := t.Data.([]float32)
	for i := 0; i*c < len(d); i += 5 {
		hot := g.r.Intn(c)
		for k := 0; k < c; k++ {
			d[i*c+k] = 0
		}
		d[i*c+hot] = 1
	}
	return t
}

// oneMinus returns 1 - x.
func oneMinus(x *tensor.Tensor) *tensor.Tensor {
	v := x.Float64s()
	d := make([]float32, len(v))
	for i, z := range v {
		d[i] = float32(1 - z)
	}
	return tensor.FromFloat32(x.Shape, d)
}

// zeroes returns a float32 tensor of zeros.
func zeroes(shape []int) *tensor.Tensor {
	return tensor.FromFloat32(shape, make([]float32, tensor.NumElements(shape)))
}

func withChannels(pixels []int, c int) []int { return append(append([]int{}, pixels...), c) }

// cases lists every comparison.
func cases() []kcase {
	g := gen{rand.New(rand.NewSource(7))}
	img := []int{2, 5, 6}    // N, H, W
	vol := []int{2, 3, 4, 5} // N, D, H, W
	var out []kcase
	add := func(k kcase) { out = append(out, k) }
	spatial := func(px []int) string { return fmt.Sprint(len(px) - 1) }

	// Dice and Tversky: probabilities, one score over the whole tensor.
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		bin := withChannels(px, 1)
		p, t := g.probs(bin, false), g.binary(bin, 0.3)
		add(kcase{name: "dice/binary/" + sd + "d", keras: "Dice", yTrue: t, yPred: p,
			loss: "dice", opts: losses.Options{"mode": "binary", "spatial_dims": sd}})
		ml := withChannels(px, 3)
		p, t = g.probs(ml, true), g.binary(ml, 0.4)
		add(kcase{name: "dice/multilabel/extremes/" + sd + "d", keras: "Dice", yTrue: t, yPred: p,
			loss: "dice", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd}})
		add(kcase{name: "tversky/multilabel/extremes/" + sd + "d", keras: "Tversky", yTrue: t, yPred: p,
			loss: "tversky", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd}})
		add(kcase{name: "tversky/multilabel/alpha0.7/" + sd + "d", keras: "Tversky", kwargs: map[string]any{"alpha": 0.7, "beta": 0.3},
			yTrue: t, yPred: p, loss: "tversky", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "alpha": "0.3", "beta": "0.7"}})
		// Per sample and class (axis = the spatial axes) and per sample.
		sp := []int{1, 2}
		all := []int{1, 2, 3}
		if len(px) == 4 {
			sp, all = []int{1, 2, 3}, []int{1, 2, 3, 4}
		}
		add(kcase{name: "dice/multilabel/axis-spatial/" + sd + "d", keras: "Dice", kwargs: map[string]any{"axis": sp}, yTrue: t, yPred: p,
			loss: "dice", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "per_image": "true", "average": "macro"}})
		add(kcase{name: "dice/multilabel/axis-sample/" + sd + "d", keras: "Dice", kwargs: map[string]any{"axis": all}, yTrue: t, yPred: p,
			loss: "dice", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "per_image": "true"}})
		add(kcase{name: "tversky/multilabel/axis-spatial/" + sd + "d", keras: "Tversky", kwargs: map[string]any{"axis": sp, "alpha": 0.2, "beta": 0.8},
			yTrue: t, yPred: p, loss: "tversky", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "per_image": "true", "average": "macro", "alpha": "0.8", "beta": "0.2"}})
		// Multiclass: a softmax against one-hot labels (onnxloss takes the labels).
		y := g.labels(px, 4, 0)
		sm := softmax(g.logits(withChannels(px, 4), 2, false))
		add(kcase{name: "dice/multiclass/" + sd + "d", keras: "Dice", yTrue: oneHot(y, 4), yPred: sm,
			loss: "dice", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd}, target: y})
		add(kcase{name: "tversky/multiclass/" + sd + "d", keras: "Tversky", yTrue: oneHot(y, 4), yPred: sm,
			loss: "tversky", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd}, target: y})
	}
	// Empty masks: an empty target with an empty prediction, and with a random one.
	bin := withChannels(img, 1)
	for _, l := range []string{"dice", "tversky"} {
		k := map[string]string{"dice": "Dice", "tversky": "Tversky"}[l]
		add(kcase{name: l + "/empty-target-empty-prediction", keras: k, yTrue: zeroes(bin), yPred: zeroes(bin),
			loss: l, opts: losses.Options{"mode": "binary"}})
		add(kcase{name: l + "/empty-target", keras: k, yTrue: zeroes(bin), yPred: g.probs(bin, true),
			loss: l, opts: losses.Options{"mode": "binary"}})
		add(kcase{name: l + "/empty-target-per-sample", keras: k, kwargs: map[string]any{"axis": []int{1, 2, 3}}, yTrue: zeroes(bin), yPred: g.probs(bin, false),
			loss: l, opts: losses.Options{"mode": "binary", "per_image": "true"}})
	}

	// BinaryCrossentropy from logits, saturated logits included.
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		ml := withChannels(px, 3)
		x, t := g.logits(ml, 3, true), g.binary(ml, 0.5)
		add(kcase{name: "bce/logits/" + sd + "d", keras: "BinaryCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: t, yPred: x,
			loss: "bce", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "from_logits": "true"}})
		add(kcase{name: "bce/logits/smoothing0.2/" + sd + "d", keras: "BinaryCrossentropy", kwargs: map[string]any{"from_logits": true, "label_smoothing": 0.2},
			yTrue: t, yPred: x, loss: "bce", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "from_logits": "true", "label_smoothing": "0.1"}})
	}
	x := g.logits(bin, 3, true)
	add(kcase{name: "bce/logits/binary/soft-target", keras: "BinaryCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: g.uniform(bin, 0, 1), yPred: x,
		loss: "bce", opts: losses.Options{"mode": "binary", "from_logits": "true"}})

	// CategoricalCrossentropy and SparseCategoricalCrossentropy from logits.
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		x := g.logits(withChannels(px, 5), 3, true)
		y := g.labels(px, 5, 0)
		add(kcase{name: "cce/logits/" + sd + "d", keras: "CategoricalCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: oneHot(y, 5), yPred: x,
			loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "from_logits": "true", "target": "onehot"}})
		add(kcase{name: "cce/logits/smoothing0.1/" + sd + "d", keras: "CategoricalCrossentropy", kwargs: map[string]any{"from_logits": true, "label_smoothing": 0.1},
			yTrue: oneHot(y, 5), yPred: x, loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "from_logits": "true", "target": "onehot", "classes": "5", "label_smoothing": "0.1"}})
		add(kcase{name: "sparse-cce/logits/" + sd + "d", keras: "SparseCategoricalCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: y, yPred: x,
			loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "from_logits": "true"}})
		yi := g.labels(px, 5, 255)
		add(kcase{name: "sparse-cce/logits/ignore/" + sd + "d", keras: "SparseCategoricalCrossentropy", kwargs: map[string]any{"from_logits": true, "ignore_class": 255},
			yTrue: yi, yPred: x, loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "from_logits": "true", "ignore_index": "255"}})
	}
	x = g.logits(withChannels(img, 3), 2, true)
	ignored := tensor.FromInt64(img, make([]int64, tensor.NumElements(img)))
	for i := range ignored.Data.([]int64) {
		ignored.Data.([]int64)[i] = -1
	}
	add(kcase{name: "sparse-cce/logits/all-ignored", keras: "SparseCategoricalCrossentropy", kwargs: map[string]any{"from_logits": true, "ignore_class": -1},
		yTrue: ignored, yPred: x, loss: "cross-entropy", opts: losses.Options{"from_logits": "true", "ignore_index": "-1"}})

	// BinaryCrossentropy from probabilities: Keras clips them to [1e-7, 1-1e-7].
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		ml := withChannels(px, 3)
		p, t := g.probs(ml, true), g.binary(ml, 0.5)
		add(kcase{name: "bce/probs/extremes/" + sd + "d", keras: "BinaryCrossentropy", yTrue: t, yPred: p,
			loss: "bce", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd}})
		add(kcase{name: "bce/probs/smoothing0.2/" + sd + "d", keras: "BinaryCrossentropy", kwargs: map[string]any{"label_smoothing": 0.2}, yTrue: t, yPred: p,
			loss: "bce", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "label_smoothing": "0.1"}})
	}
	p := g.probs(bin, true)
	add(kcase{name: "bce/probs/binary/all-wrong", keras: "BinaryCrossentropy", yTrue: oneMinus(p), yPred: p,
		loss: "bce", opts: losses.Options{"mode": "binary"}})

	// The categorical cross-entropies from probabilities, some pixels exactly one-hot.
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		p := g.simplex(withChannels(px, 4))
		y := g.labels(px, 4, 0)
		add(kcase{name: "cce/probs/extremes/" + sd + "d", keras: "CategoricalCrossentropy", yTrue: oneHot(y, 4), yPred: p,
			loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "target": "onehot"}})
		add(kcase{name: "cce/probs/smoothing0.2/" + sd + "d", keras: "CategoricalCrossentropy", kwargs: map[string]any{"label_smoothing": 0.2}, yTrue: oneHot(y, 4), yPred: p,
			loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "target": "onehot", "classes": "4", "label_smoothing": "0.2"}})
		add(kcase{name: "sparse-cce/probs/extremes/" + sd + "d", keras: "SparseCategoricalCrossentropy", yTrue: y, yPred: p,
			loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd}})
		yi := g.labels(px, 4, 9)
		add(kcase{name: "sparse-cce/probs/ignore/" + sd + "d", keras: "SparseCategoricalCrossentropy", kwargs: map[string]any{"ignore_class": 9}, yTrue: yi, yPred: p,
			loss: "cross-entropy", opts: losses.Options{"spatial_dims": sd, "ignore_index": "9"}})
	}

	// BinaryFocalCrossentropy: probabilities with 0 and 1, saturated logits.
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		ml := withChannels(px, 2)
		p, t := g.probs(ml, true), g.binary(ml, 0.4)
		add(kcase{name: "binary-focal/probs/extremes/" + sd + "d", keras: "BinaryFocalCrossentropy", yTrue: t, yPred: p,
			loss: "focal", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd}})
		add(kcase{name: "binary-focal/probs/balanced/" + sd + "d", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"apply_class_balancing": true, "alpha": 0.3, "gamma": 0.5},
			yTrue: t, yPred: p, loss: "focal", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "alpha": "0.3", "gamma": "0.5"}})
		x := g.logits(ml, 2, true)
		add(kcase{name: "binary-focal/logits/saturated/" + sd + "d", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: t, yPred: x,
			loss: "focal", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "from_logits": "true"}})
		add(kcase{name: "binary-focal/logits/balanced-gamma3/" + sd + "d", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"from_logits": true, "apply_class_balancing": true, "gamma": 3.0},
			yTrue: t, yPred: x, loss: "focal", opts: losses.Options{"mode": "multilabel", "spatial_dims": sd, "from_logits": "true", "alpha": "0.25", "gamma": "3"}})
	}
	ml := withChannels(img, 3)
	x = g.logits(ml, 2, true)
	soft := g.uniform(ml, 0, 1)
	add(kcase{name: "binary-focal/logits/soft-target", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"from_logits": true, "gamma": 1.5}, yTrue: soft, yPred: x,
		loss: "focal", opts: losses.Options{"mode": "multilabel", "from_logits": "true", "gamma": "1.5"}})
	hard := g.binary(ml, 0.3)
	add(kcase{name: "binary-focal/logits/smoothing0.2", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"from_logits": true, "label_smoothing": 0.2, "apply_class_balancing": true},
		yTrue: hard, yPred: x, loss: "focal", opts: losses.Options{"mode": "multilabel", "from_logits": "true", "label_smoothing": "0.1", "alpha": "0.25"}})
	p = g.probs(ml, true)
	add(kcase{name: "binary-focal/probs/smoothing0.1", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"label_smoothing": 0.1}, yTrue: hard, yPred: p,
		loss: "focal", opts: losses.Options{"mode": "multilabel", "label_smoothing": "0.05"}})
	x = g.logits(bin, 2, true)
	add(kcase{name: "binary-focal/logits/binary/empty-target", keras: "BinaryFocalCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: zeroes(bin), yPred: x,
		loss: "focal", opts: losses.Options{"mode": "binary", "from_logits": "true"}})

	// CategoricalFocalCrossentropy: alpha scales every pixel, given as class weights.
	for _, px := range [][]int{img, vol} {
		sd := spatial(px)
		p := g.simplex(withChannels(px, 4))
		y := g.labels(px, 4, 0)
		add(kcase{name: "categorical-focal/probs/extremes/" + sd + "d", keras: "CategoricalFocalCrossentropy", yTrue: oneHot(y, 4), yPred: p,
			loss: "focal", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd, "class_weights": "0.25,0.25,0.25,0.25"}, target: y})
		x := g.logits(withChannels(px, 4), 2, true)
		add(kcase{name: "categorical-focal/logits/saturated/" + sd + "d", keras: "CategoricalFocalCrossentropy", kwargs: map[string]any{"from_logits": true}, yTrue: oneHot(y, 4), yPred: x,
			loss: "focal", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd, "from_logits": "true", "class_weights": "0.25,0.25,0.25,0.25"}, target: y})
		add(kcase{name: "categorical-focal/logits/smoothing0.1/" + sd + "d", keras: "CategoricalFocalCrossentropy", kwargs: map[string]any{"from_logits": true, "label_smoothing": 0.1},
			yTrue: oneHot(y, 4), yPred: x, loss: "focal", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd, "from_logits": "true", "class_weights": "0.25,0.25,0.25,0.25", "label_smoothing": "0.1"}, target: y})
		add(kcase{name: "categorical-focal/probs/smoothing0.3/" + sd + "d", keras: "CategoricalFocalCrossentropy", kwargs: map[string]any{"label_smoothing": 0.3, "alpha": 1.0, "gamma": 0.5},
			yTrue: oneHot(y, 4), yPred: p, loss: "focal", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd, "classes": "4", "label_smoothing": "0.3", "gamma": "0.5"}, target: y})
		add(kcase{name: "categorical-focal/logits/alpha1-gamma0.5/" + sd + "d", keras: "CategoricalFocalCrossentropy", kwargs: map[string]any{"from_logits": true, "alpha": 1.0, "gamma": 0.5},
			yTrue: oneHot(y, 4), yPred: x, loss: "focal", opts: losses.Options{"mode": "multiclass", "spatial_dims": sd, "from_logits": "true", "gamma": "0.5"}, target: y})
	}

	for i := range out {
		k := &out[i]
		if k.input == nil {
			k.input = k.yPred
		}
		if k.target == nil {
			k.target = k.yTrue
		}
		k.opts["preset"] = "keras"
	}
	return out
}

type manifestEntry struct {
	Name   string         `json:"name"`
	Loss   string         `json:"loss"`
	Kwargs map[string]any `json:"kwargs"`
	YTrue  string         `json:"y_true"`
	YPred  string         `json:"y_pred"`
}

// kerasValues has scripts/keras_losses.py compute every case in one process.
func kerasValues(t *testing.T, cs []kcase) map[string]float64 {
	dir := t.TempDir()
	var m []manifestEntry
	for i, k := range cs {
		yt := filepath.Join(dir, fmt.Sprintf("%d_true.npy", i))
		yp := filepath.Join(dir, fmt.Sprintf("%d_pred.npy", i))
		if err := tensor.SaveNPY(yt, k.yTrue); err != nil {
			t.Fatal(err)
		}
		if err := tensor.SaveNPY(yp, k.yPred); err != nil {
			t.Fatal(err)
		}
		m = append(m, manifestEntry{Name: k.name, Loss: k.keras, Kwargs: k.kwargs, YTrue: yt, YPred: yp})
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(cases, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(dir, "keras.json")
	testutil.RunVenvScript(t, "keras", "keras_losses.py", cases, res)
	b, err = os.ReadFile(res)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Keras  string             `json:"keras"`
		Values map[string]float64 `json:"values"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("Keras %s", out.Keras)
	return out.Values
}

// scaledErr is |got − want| / max(|want|, absFloor).
func scaledErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), absFloor)
}

// within reports whether got is within the tolerance of Keras's want.
func within(got, want float64) bool { return scaledErr(got, want) <= relTol }

// TestPresetsMatchKeras compares each case's ONNX Runtime value and float64
// reference with Keras's.
func TestPresetsMatchKeras(t *testing.T) {
	testutil.RequireRuntime(t)
	cs := cases()
	want := kerasValues(t, cs)
	var worstRT, worstRef float64
	var worstRTName, worstRefName string
	defer func() {
		t.Logf("%d cases; largest scaled error: ONNX Runtime %.2g (%s), reference %.2g (%s)", len(cs), worstRT, worstRTName, worstRef, worstRefName)
	}()
	for _, k := range cs {
		t.Run(k.name, func(t *testing.T) {
			w, ok := want[k.name]
			if !ok {
				t.Fatalf("no Keras value for %s", k.name)
			}
			s := testutil.OpenLoss(t, k.loss, k.opts)
			in := map[string]*tensor.Tensor{"input": k.input, "target": k.target}
			out, err := s.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			got := out["loss"].Float64s()[0]
			ref, err := s.Reference(in)
			if err != nil {
				t.Fatal(err)
			}
			r := ref.Float64s()[0]
			if math.IsNaN(w) || math.IsInf(w, 0) {
				t.Fatalf("Keras gives %v", w)
			}
			if e := scaledErr(got, w); e > worstRT {
				worstRT, worstRTName = e, k.name
			}
			if e := scaledErr(r, w); e > worstRef {
				worstRef, worstRefName = e, k.name
			}
			if !within(got, w) {
				t.Errorf("%s %v: ONNX Runtime %.9g, Keras %s(%v) %.9g (relative %.2g)", k.loss, k.opts, got, k.keras, k.kwargs, w, math.Abs(got-w)/math.Abs(w))
			}
			if !within(r, w) {
				t.Errorf("%s %v: reference %.9g, Keras %s(%v) %.9g (relative %.2g)", k.loss, k.opts, r, k.keras, k.kwargs, w, math.Abs(r-w)/math.Abs(w))
			}
		})
	}
}
