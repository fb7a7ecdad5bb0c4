package ortpython_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onnxloss/onnxloss/bench"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// relTol bounds |ONNX Runtime (Python) − ONNX Runtime 1.24 (Go)| for every
// element of an output, relative to the largest |value| of that output in
// ONNX Runtime 1.24: for the scalar loss a plain relative error, for
// input_grad and per-pixel outputs relative to the output's scale (an
// element near zero is held to the same absolute bound as the largest).
// Both runtimes compute the same float32 graph; they may order sums and
// fuse nodes differently.
const relTol = 1e-5

// venv is the pinned environment of scripts/requirements/onnx-current.txt.
const venv = "onnx-current"

// model is one file given to scripts/check_current.py.
type model struct {
	name  string // file stem
	path  string
	feeds map[string]*tensor.Tensor
}

// configs are the option sets exported for each loss in each mode: with
// the gradient (whose graph holds the loss's), at the default opset and at
// the newest opset onnxloss emits (reductions and pools change form at 18
// and 19). first adds, in the loss's first mode, the loss without the
// gradient, the oldest opset, the other element types, the layout, the rank
// and the per-element reduction.
func configs(s *losses.Spec, mode losses.Mode, first bool) []losses.Options {
	m := string(mode)
	out := []losses.Options{
		{"mode": m, "grad": "true"},
		{"mode": m, "grad": "true", "opset": "21"},
	}
	if first {
		out = append(out,
			losses.Options{"mode": m},
			losses.Options{"mode": m, "grad": "true", "opset": "13"},
			losses.Options{"mode": m, "grad": "true", "dtype": "float16"},
			losses.Options{"mode": m, "grad": "true", "dtype": "float64"},
			losses.Options{"mode": m, "grad": "true", "layout": "nhwc"},
			losses.Options{"mode": m, "grad": "true", "spatial_dims": "3"},
		)
		if slices.Contains(s.ReductionsList(), "none") {
			out = append(out, losses.Options{"mode": m, "reduction": "none"})
		}
	}
	return out
}

// label names a configuration in file names: loss.mode[.key-value...].
func label(loss string, o losses.Options) string {
	parts := []string{loss, o["mode"]}
	for _, k := range []string{"grad", "opset", "dtype", "layout", "spatial_dims", "reduction"} {
		if v, ok := o[k]; ok {
			if k == "grad" {
				parts = append(parts, "grad")
				continue
			}
			parts = append(parts, k+"-"+v)
		}
	}
	return strings.Join(parts, ".")
}

// lossModels exports every registered loss in every mode it supports
// (configs) and writes each with random valid inputs (bench.Inputs) of
// batch 2, 5×6 pixels (3×4×5 voxels in 3D), 3 classes where C is free.
func lossModels(t *testing.T, dir string) []*model {
	t.Helper()
	var out []*model
	for _, s := range losses.All() {
		for i, mode := range s.Modes {
			for _, o := range configs(s, mode, i == 0) {
				name := label(s.Name, o)
				m, cfg, err := export.Loss(s.Name, o)
				if err != nil {
					t.Errorf("%s: export: %v", name, err)
					continue
				}
				c := cfg.Classes
				if c == 0 {
					c = 3
					if cfg.Mode == losses.Binary {
						c = 1
					}
				}
				shape := []int{2, c, 5, 6}
				if cfg.SpatialDims == 3 {
					shape = []int{2, c, 3, 4, 5}
				}
				feeds := map[string]*tensor.Tensor(bench.Inputs(s, cfg, shape, uint64(len(out)+1)))
				out = append(out, write(t, dir, name, m, feeds))
			}
		}
	}
	return out
}

// splice is a loss attached to one of the models of testdata/onnx/models.
type splice struct {
	model, loss string
	opts        losses.Options
	keep        bool // keep the model's own output
}

// splices cover each model of testdata/onnx/models: its opset (13 or 17),
// head (none, Softmax, LogSoftmax, Sigmoid), layout (NHWC) and external
// weights. Lovász-Softmax is left out of them: its gradient is piecewise
// constant in the order of the errors, and the model's own float32 rounding,
// which differs between the two releases by about 1e-7 of its output,
// reorders nearly equal errors and moves out_grad by up to 3e-4 of its
// scale on lraspp_small_nhwc (the same logits give the same gradient in
// both); its exported graph is compared above on fixed inputs.
var splices = []splice{
	{model: "fcn_small", loss: "cross-entropy", opts: losses.Options{"grad": "true"}},
	{model: "fcn_small", loss: "dice-ce", keep: true},
	{model: "deeplabv3_small_softmax", loss: "dice", opts: losses.Options{"grad": "true"}},
	{model: "lraspp_small_nhwc", loss: "dice", opts: losses.Options{"grad": "true", "mode": "multiclass"}},
	{model: "lraspp_small_nhwc", loss: "focal", opts: losses.Options{"grad": "true"}},
	{model: "sigmoid_binary", loss: "bce", opts: losses.Options{"grad": "true"}},
	{model: "sigmoid_binary", loss: "tversky", keep: true},
	{model: "logsoftmax", loss: "focal", opts: losses.Options{"grad": "true"}},
}

// splicedModels writes each splice with the model's own input image and
// random valid targets and extra inputs for its output's shape.
func splicedModels(t *testing.T, dir string) []*model {
	t.Helper()
	src := filepath.Join(testutil.Root(t), "testdata", "onnx", "models")
	var out []*model
	for i, sp := range splices {
		name := "splice." + sp.model + "." + sp.loss
		path := filepath.Join(dir, name+".onnx")
		rep, err := export.AppendFile(filepath.Join(src, sp.model+".onnx"), path,
			export.AppendOptions{Loss: sp.loss, LossOptions: sp.opts, KeepOutputs: sp.keep})
		if err != nil {
			t.Errorf("%s: append: %v", name, err)
			continue
		}
		image, err := tensor.LoadNPY(filepath.Join(src, sp.model+".input.npy"))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := losses.Lookup(rep.Loss)
		if err != nil {
			t.Fatal(err)
		}
		cfg := rep.Config
		n, h, w := image.Shape[0], image.Shape[2], image.Shape[3]
		if cfg.Layout == losses.NHWC {
			h, w = image.Shape[1], image.Shape[2]
		}
		// The heads resize to the image, so the output has its size.
		loss := bench.Inputs(spec, cfg, []int{n, cfg.Classes, h, w}, uint64(100+i))
		feeds := map[string]*tensor.Tensor{"image": image, rep.Target: loss["target"]}
		for _, e := range rep.ExtraInputs {
			feeds[e] = loss[e]
		}
		out = append(out, writeInputs(t, dir, &model{name: name, path: path, feeds: feeds}))
	}
	return out
}

// write saves a model and its inputs as NAME.onnx and NAME.inputs/*.npy.
func write(t *testing.T, dir, name string, m *onnxpb.ModelProto, feeds map[string]*tensor.Tensor) *model {
	t.Helper()
	path := filepath.Join(dir, name+".onnx")
	if err := export.Save(path, m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return writeInputs(t, dir, &model{name: name, path: path, feeds: feeds})
}

// writeInputs saves a model's inputs as NAME.inputs/INPUT.npy.
func writeInputs(t *testing.T, dir string, m *model) *model {
	t.Helper()
	in := filepath.Join(dir, m.name+".inputs")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range m.feeds {
		if err := tensor.SaveNPY(filepath.Join(in, k+".npy"), v); err != nil {
			t.Fatalf("%s: input %s: %v", m.name, k, err)
		}
	}
	return m
}

// result is what scripts/check_current.py writes for a model.
type result struct {
	Model          string  `json:"model"`
	Checker        *string `json:"checker"`
	ShapeInference *string `json:"shape_inference"`
	Run            *string `json:"run"`
	Outputs        []struct {
		Name string `json:"name"`
		File string `json:"file"`
	} `json:"outputs"`
}

// runScript runs scripts/check_current.py DIR OUT in the pinned
// environment and returns its standard output. Its exit status 1 means that
// some model failed a step, which the results say; any other failure is an
// error.
func runScript(py, root, dir, out string) (string, error) {
	cmd := exec.Command(py, filepath.Join(root, "scripts", "check_current.py"), dir, out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return "", fmt.Errorf("check_current.py: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// TestCurrentONNX exports every registered loss in every mode it supports
// (configs) and splices losses onto every model of testdata/onnx/models
// (splices), then runs scripts/check_current.py with the pinned current
// onnx and onnxruntime: ONNX's checker with full_check and strict shape
// inference must accept every model, and every output of onnxruntime
// (Python) must equal that of ONNX Runtime 1.24 (Go) within relTol. The
// script and the Go sessions run at the same time.
func TestCurrentONNX(t *testing.T) {
	testutil.RequireRuntime(t)
	py := testutil.Venv(t, venv)
	version, err := runtime.Version()
	if err != nil {
		t.Fatal(err)
	}
	dir, out := t.TempDir(), t.TempDir()
	models := append(lossModels(t, dir), splicedModels(t, dir)...)
	if t.Failed() {
		t.FailNow()
	}
	type scriptResult struct {
		log string
		err error
	}
	script := make(chan scriptResult, 1)
	go func() {
		log, err := runScript(py, testutil.Root(t), dir, out)
		script <- scriptResult{log, err}
	}()
	// The script runs one model at a time on one thread; the Go sessions
	// share the other cores.
	wants, errs := make([]map[string]*tensor.Tensor, len(models)), make([]error, len(models))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, goruntime.NumCPU()-1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				wants[i], errs[i] = goOutputs(models[i])
			}
		}()
	}
	for i := range models {
		next <- i
	}
	close(next)
	wg.Wait()
	sr := <-script
	if sr.err != nil {
		t.Fatal(sr.err)
	}
	header, _, _ := strings.Cut(sr.log, "\n")
	t.Logf("%s; ONNX Runtime %s from Go; %d models", header, version, len(models))

	worst := struct {
		rel        float64
		model, out string
	}{}
	for i, m := range models {
		b, err := os.ReadFile(filepath.Join(out, m.name+".json"))
		if err != nil {
			t.Errorf("%s: check_current.py wrote no result: %v", m.name, err)
			continue
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s.json: %v", m.name, err)
		}
		for _, f := range []struct {
			step string
			err  *string
		}{{"onnx.checker.check_model(full_check=True)", r.Checker}, {"onnx.shape_inference.infer_shapes(strict_mode=True)", r.ShapeInference}, {"onnxruntime (Python)", r.Run}} {
			if f.err != nil {
				t.Errorf("%s: %s: %s", m.name, f.step, *f.err)
			}
		}
		if errs[i] != nil {
			t.Errorf("%s: ONNX Runtime %s (Go): %v", m.name, version, errs[i])
		}
		if r.Run != nil || errs[i] != nil {
			continue
		}
		want := wants[i]
		var names []string
		for _, o := range r.Outputs {
			names = append(names, o.Name)
			got, err := tensor.LoadNPY(filepath.Join(out, m.name+".outputs", o.File))
			if err != nil {
				t.Errorf("%s: output %s: %v", m.name, o.Name, err)
				continue
			}
			rel, err := compare(got, want[o.Name])
			switch {
			case err != nil:
				t.Errorf("%s: output %s: %v", m.name, o.Name, err)
			case !(rel <= 1):
				t.Errorf("%s: output %s: onnxruntime (Python) differs from ONNX Runtime %s (Go) by %.3g times the tolerance", m.name, o.Name, version, rel)
			}
			if rel > worst.rel {
				worst.rel, worst.model, worst.out = rel, m.name, o.Name
			}
		}
		if len(names) != len(want) {
			t.Errorf("%s: onnxruntime (Python) gives the outputs %v, ONNX Runtime (Go) %d", m.name, names, len(want))
		}
	}
	t.Logf("largest difference: %.3g of the tolerance (%s, output %s)", worst.rel, worst.model, worst.out)
}

// goOutputs runs a model in ONNX Runtime from Go, on one thread.
func goOutputs(m *model) (map[string]*tensor.Tensor, error) {
	sess, err := runtime.NewSessionFromFile(m.path, runtime.Options{Threads: 1})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	return sess.Run(m.feeds)
}

// compare returns max |got − want| over the tolerance, relTol times the
// largest |want| of the output.
func compare(got, want *tensor.Tensor) (float64, error) {
	if want == nil {
		return 0, errors.New("ONNX Runtime (Go) has no such output")
	}
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		return 0, fmt.Errorf("%v %v in onnxruntime (Python), %v %v in ONNX Runtime (Go)", got.DType, got.Shape, want.DType, want.Shape)
	}
	g, w := got.Float64s(), want.Float64s()
	scale := 0.0
	for i := range w {
		if math.IsNaN(g[i]) || math.IsInf(g[i], 0) || math.IsNaN(w[i]) || math.IsInf(w[i], 0) {
			return 0, fmt.Errorf("element %d is not finite: %v in onnxruntime (Python), %v in ONNX Runtime (Go)", i, g[i], w[i])
		}
		scale = max(scale, math.Abs(w[i]))
	}
	worst := 0.0
	for i := range g {
		d := math.Abs(g[i] - w[i])
		if d == 0 {
			continue
		}
		worst = max(worst, d/(relTol*scale))
	}
	return worst, nil
}
