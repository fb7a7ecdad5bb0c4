package export_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// kerasFamilies are the model families scripts/export_keras.py writes, each
// at opsets 13 and 17 (names NAME_opset13, NAME_opset17), with the head
// each ends in.
var kerasFamilies = map[string]string{
	"keras_unet": "none", "mnv2_logits": "none", "mnv2_softmax": "softmax", "mnv2_sigmoid": "sigmoid",
}

// kerasLosses are attached to every Keras model: the losses of a
// multiclass model, and of a binary one (a loss without the mode the model
// calls for must be refused; checkSpliced checks that).
var kerasLosses = []string{"cross-entropy", "dice", "focal", "lovasz-softmax", "bce", "lovasz-hinge"}

// TestAppendKerasModels exports Keras models with tf2onnx in one run of
// scripts/export_keras.py (virtual environment tf): the U-Net of
// scripts/keras_train_grads.py and a keras.applications MobileNetV2 backbone
// with a segmentation head ending in raw logits, a softmax or a sigmoid (one
// class), each at opsets 13 and 17, channels-last as Keras has them, and the
// softmax model converted with --inputs-as-nchw. On each model it checks
// that append finds, with no option, the NHWC layout, the classes, the mode
// and the head, and that the loss reads the logits in the output's layout
// (ONNX Runtime's value of what the loss reads equals Keras's logits); that
// the spliced loss equals the Go reference on Keras's output and the loss
// exported alone run in ONNX Runtime on the model's own output, for
// cross-entropy, dice, focal and lovasz-softmax (bce, dice, focal and
// lovasz-hinge on the binary model), reading the logits and, with
// --use-activation-output, the probabilities; and that append --train
// builds and runs on the models, its gradient agreeing with a central
// difference of the loss along it.
func TestAppendKerasModels(t *testing.T) {
	testutil.RequireRuntime(t)
	testutil.Venv(t, "tf")
	dir := t.TempDir()
	testutil.RunVenvScript(t, "tf", "export_keras.py", dir, "--opsets", "13,17")
	man := readManifest(t, dir)
	byName := map[string]manifestModel{}
	for _, mm := range man.Models {
		byName[mm.Name] = mm
	}
	for fam, head := range kerasFamilies {
		for _, opset := range []int{13, 17} {
			mm, ok := byName[fmt.Sprintf("%s_opset%d", fam, opset)]
			if !ok || mm.Head != head || mm.Opset != opset || mm.Layout != "nhwc" {
				t.Fatalf("scripts/export_keras.py wrote no %s model at opset %d with head %s (manifest: %+v)", fam, opset, head, man.Models)
			}
		}
	}
	if _, ok := byName["mnv2_softmax_opset17_nchw"]; !ok {
		t.Fatal("scripts/export_keras.py wrote no --inputs-as-nchw model")
	}

	t.Run("splice", func(t *testing.T) {
		outDir := t.TempDir()
		var spliced []string
		ran := false
		seed := uint64(100)
		for _, mm := range man.Models {
			t.Run(mm.Name, func(t *testing.T) {
				ran = true
				checkKerasHead(t, dir, mm)
				for _, c := range kerasCases(mm) {
					seed++
					if p := checkSpliced(t, dir, outDir, mm, c, seed); p != "" {
						spliced = append(spliced, p)
						checkAgainstAlone(t, dir, outDir, mm, c, seed)
					}
				}
			})
		}
		if ran && len(spliced) == 0 {
			t.Fatal("nothing was spliced")
		}
		testutil.CheckONNX(t, spliced...)
	})
	for _, tc := range []struct{ model, loss string }{
		{"keras_unet_opset13", "dice"},
		{"mnv2_softmax_opset17", "cross-entropy"},
		{"mnv2_softmax_opset17_nchw", "lovasz-softmax"},
		{"mnv2_sigmoid_opset13", "focal"},
	} {
		t.Run("train/"+tc.model+"/"+tc.loss, func(t *testing.T) {
			checkKerasTrain(t, dir, byName[tc.model], tc.loss)
		})
	}
}

// kerasCases lists the losses attached to a Keras model: each of
// kerasLosses once reading what append picks by default, and, on a model
// with an activation head, once more reading the activation's output.
func kerasCases(mm manifestModel) []spliceCase {
	var cs []spliceCase
	for _, name := range kerasLosses {
		cs = append(cs, spliceCase{loss: name})
		if mm.Head != "none" {
			cs = append(cs, spliceCase{loss: name, activation: true})
		}
	}
	return cs
}

// checkKerasHead splices dice onto the model with no options, both ways,
// and checks what append inferred: layout nhwc, the classes, the mode, the
// activation; by default the loss reads logits (from_logits true) in the
// output's layout, with --use-activation-output it reads the output
// (from_logits false). ONNX Runtime's value of what the loss reads must be
// Keras's logits (or output).
func checkKerasHead(t *testing.T, dir string, mm manifestModel) {
	t.Helper()
	lm, err := export.LoadModel(filepath.Join(dir, mm.Files["model"]))
	if err != nil {
		t.Fatal(err)
	}
	wantAct := map[string]string{"none": "", "softmax": "Softmax", "sigmoid": "Sigmoid"}[mm.Head]
	wantMode := losses.Multiclass
	if mm.Classes == 1 {
		wantMode = losses.Binary
	}
	image := loadNPY(t, dir, mm, "input")
	for _, activation := range []bool{false, true} {
		sm, rep, err := export.Append(lm.Proto, export.AppendOptions{Loss: "dice", UseActivationOutput: activation, KeepOutputs: true})
		if err != nil {
			t.Fatalf("dice (activation output %v): %v", activation, err)
		}
		cfg := rep.Config
		notes := strings.Join(rep.Notes, "; ")
		if cfg.Layout != "nhwc" || cfg.Mode != wantMode || cfg.Mode != losses.Binary && cfg.Classes != mm.Classes {
			t.Errorf("inferred layout %s, mode %s, %d classes; want nhwc, %s, %d (notes: %s)", cfg.Layout, cfg.Mode, cfg.Classes, wantMode, mm.Classes, notes)
		}
		if rep.Activation != wantAct {
			t.Errorf("found the head %q, want %q (notes: %s)", rep.Activation, wantAct, notes)
		}
		readsLogits := wantAct == "" || !activation
		if cfg.FromLogits != readsLogits {
			t.Errorf("activation output %v: from_logits %v, want %v (notes: %s)", activation, cfg.FromLogits, readsLogits, notes)
		}
		if (rep.AttachedTo == mm.OutputName) == (wantAct != "" && readsLogits) {
			t.Errorf("activation output %v: the loss reads %q (output %q, head %s)", activation, rep.AttachedTo, mm.OutputName, mm.Head)
		}
		want := loadNPY(t, dir, mm, "output")
		if wantAct != "" && readsLogits {
			want = loadNPY(t, dir, mm, "logits")
		}
		b, err := export.Marshal(sm)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "head.onnx")
		if err := export.WriteFile(path, b); err != nil {
			t.Fatal(err)
		}
		feeds := map[string]*tensor.Tensor{mm.InputName: image, rep.Target: tensor.New(tensor.Int64, targetShape(want.Shape)...)}
		if cfg.Mode == losses.Binary {
			feeds[rep.Target] = tensor.New(tensor.Float32, want.Shape...)
		}
		got := attachedValue(t, path, rep, feeds, map[string]*tensor.Tensor{})
		if e, err := relErr(got, want, modelRTol, modelScaleTol*maxAbs(want)); err != nil || e > 1 {
			t.Errorf("activation output %v: ONNX Runtime's %q (what the loss reads) differs from Keras's %s: %.3g of the budget (%v)",
				activation, rep.AttachedTo, map[bool]string{true: "logits", false: "output"}[wantAct != "" && readsLogits], e, err)
		}
	}
}

// targetShape drops the last (class) axis of an NHWC shape.
func targetShape(shape []int) []int { return shape[:len(shape)-1] }

func loadNPY(t *testing.T, dir string, mm manifestModel, key string) *tensor.Tensor {
	t.Helper()
	x, err := tensor.LoadNPY(filepath.Join(dir, mm.Files[key]))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// checkAgainstAlone splices the case onto the model, runs it in ONNX
// Runtime, and runs the loss exported alone, with the configuration append
// resolved, on ONNX Runtime's own value of what the spliced loss reads: the
// two losses must agree to float32 rounding.
func checkAgainstAlone(t *testing.T, dir, outDir string, mm manifestModel, c spliceCase, seed uint64) {
	t.Helper()
	spec, err := losses.Lookup(c.loss)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(outDir, fmt.Sprintf("%s_%d_alone.onnx", mm.Name, seed))
	rep, err := export.AppendFile(filepath.Join(dir, mm.Files["model"]), path, export.AppendOptions{
		Loss: c.loss, LossOptions: c.options, UseActivationOutput: c.activation, KeepOutputs: true,
	})
	if err != nil {
		t.Fatalf("%s on %s: %v", c, mm.Name, err)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	in := makeTarget(rep.Config, spec, loadNPY(t, dir, mm, "output"), rng)
	feeds := map[string]*tensor.Tensor{mm.InputName: loadNPY(t, dir, mm, "input")}
	for k, v := range in {
		if k == "target" {
			k = rep.Target
		}
		feeds[k] = v
	}
	sess, err := runtime.NewSessionFromFile(path, runtime.Options{})
	if err != nil {
		t.Fatalf("%s on %s: %v", c, mm.Name, err)
	}
	got, err := sess.Run(feeds)
	sess.Close()
	if err != nil {
		t.Fatalf("%s on %s: %v", c, mm.Name, err)
	}
	read := attachedValue(t, path, rep, feeds, got)

	alone, err := export.LossModel(spec, rep.Config)
	if err != nil {
		t.Fatalf("%s: exporting the loss alone: %v", c, err)
	}
	b, err := export.Marshal(alone)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := runtime.NewSession(b, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	in["input"] = read
	want, err := ls.Run(in)
	if err != nil {
		t.Fatalf("%s: the loss alone: %v", c, err)
	}
	if e, err := relErr(got["loss"], want["loss"], 1e-6, 1e-7); err != nil || e > 1 {
		t.Errorf("%s on %s: spliced loss %.9g, the loss alone on ONNX Runtime's %q %.9g (%.3g of the budget, %v)",
			c, mm.Name, got["loss"].Float64s()[0], rep.AttachedTo, want["loss"].Float64s()[0], e, err)
	}
}

// checkKerasTrain builds the training graph of a Keras model (append
// --train), runs it in ONNX Runtime and checks that its loss is the spliced
// model's, that every parameter has a finite gradient and most of them a
// nonzero one, and that the gradient is the derivative of the loss: a
// central difference of the loss along the unit gradient direction d,
// (L(θ+εd) - L(θ-εd)) / 2ε, equals |g| within 2%.
func checkKerasTrain(t *testing.T, dir string, mm manifestModel, loss string) {
	if mm.Name == "" {
		t.Fatal("no such model")
	}
	spec, err := losses.Lookup(loss)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := export.LoadModel(filepath.Join(dir, mm.Files["model"]))
	if err != nil {
		t.Fatal(err)
	}
	tm, rep, err := export.AppendTrain(lm.Proto, export.TrainOptions{Append: export.AppendOptions{Loss: loss}})
	if err != nil {
		t.Fatalf("append --train %s on %s: %v", loss, mm.Name, err)
	}
	cfg := rep.Append.Config
	if cfg.Layout != "nhwc" {
		t.Errorf("layout %s, want nhwc", cfg.Layout)
	}
	sm, srep, err := export.Append(lm.Proto, export.AppendOptions{Loss: loss})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(17, 3))
	in := makeTarget(cfg, spec, loadNPY(t, dir, mm, "output"), rng)
	feeds := map[string]*tensor.Tensor{mm.InputName: loadNPY(t, dir, mm, "input"), rep.Append.Target: in["target"]}
	sb, err := export.Marshal(sm)
	if err != nil {
		t.Fatal(err)
	}
	inf, err := runtime.NewSession(sb, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := inf.Run(map[string]*tensor.Tensor{mm.InputName: feeds[mm.InputName], srep.Target: in["target"]})
	inf.Close()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := export.Marshal(tm)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := runtime.NewSession(tb, runtime.Options{})
	if err != nil {
		t.Fatalf("the training graph does not load: %v", err)
	}
	defer ts.Close()
	got, err := ts.Run(feeds)
	if err != nil {
		t.Fatalf("the training graph does not run: %v", err)
	}
	l0 := got["loss"].Float64s()[0]
	if e, err := relErr(got["loss"], want["loss"], 1e-5, 1e-7); err != nil || e > 1 {
		t.Errorf("training graph's loss %.9g, the spliced model's %.9g", l0, want["loss"].Float64s()[0])
	}

	// The gradient, and the parameters moved by ±ε along it.
	params := map[string]*tensor.Tensor{}
	for _, init := range tm.GetGraph().GetInitializer() {
		if slices.Contains(rep.Params, init.GetName()) {
			params[init.GetName()] = training.Decode(init)
		}
	}
	norm2, nonzero := 0.0, 0
	for _, p := range rep.Params {
		g := got[training.GradName(p)]
		if g == nil || params[p] == nil || len(g.Shape) != len(params[p].Shape) {
			t.Fatalf("parameter %s: no gradient of its shape", p)
		}
		some := false
		for _, v := range g.Float64s() {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("parameter %s: gradient %v", p, v)
			}
			norm2 += v * v
			some = some || v != 0
		}
		if some {
			nonzero++
		}
	}
	if len(rep.Params) < 10 || nonzero < len(rep.Params)*9/10 {
		t.Fatalf("%d parameters, %d with a nonzero gradient", len(rep.Params), nonzero)
	}
	norm := math.Sqrt(norm2)
	// A step that moves the loss by about 1e-5 of itself, a hundred times
	// float32's rounding of the loss, and at least 1e-3.
	eps := max(1e-3, 1e-5*math.Abs(l0)/norm)
	moved := func(sign float64) float64 {
		f := map[string]*tensor.Tensor{}
		for k, v := range feeds {
			f[k] = v
		}
		for _, p := range rep.Params {
			g, x := got[training.GradName(p)].Float64s(), params[p].Float64s()
			v := make([]float32, len(x))
			for i := range x {
				v[i] = float32(x[i] + sign*eps*g[i]/norm)
			}
			f[p] = tensor.FromFloat32(params[p].Shape, v)
		}
		res, err := ts.Run(f)
		if err != nil {
			t.Fatal(err)
		}
		return res["loss"].Float64s()[0]
	}
	fd := (moved(1) - moved(-1)) / (2 * eps)
	t.Logf("%s on %s: loss %.6g, %d parameters (%d with a nonzero gradient), |g| %.6g, central difference along g %.6g (ε %.3g)",
		loss, mm.Name, l0, len(rep.Params), nonzero, norm, fd, eps)
	if math.Abs(fd-norm) > 0.02*norm {
		t.Errorf("the derivative of the loss along the gradient is %.6g by central differences, |g| is %.6g", fd, norm)
	}
}
