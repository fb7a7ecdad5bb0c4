package export_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestAppendGrad splices losses with the grad option onto the committed
// models and checks the gradient output twice, at ONNX Runtime's own value
// of what the loss reads (the logits before a Softmax head, the NHWC output
// of the channels-last model, the logits before a Sigmoid): every entry
// against the input_grad of the stand-alone loss graph on that value, and a
// few entries against central differences of the float64 reference.
func TestAppendGrad(t *testing.T) {
	testutil.RequireRuntime(t)
	dir, outDir := modelsDir(t), t.TempDir()
	man := readManifest(t, dir)
	cases := []struct {
		loss string
		opts losses.Options
	}{
		{"cross-entropy", nil},
		{"cross-entropy", losses.Options{"ignore_index": "255", "label_smoothing": "0.1"}},
		{"focal", nil},
		{"dice", nil},
		{"lovasz-softmax", nil},
		{"bce", nil},
	}
	var spliced []string
	checked := 0
	for _, mm := range man.Models {
		for ci, c := range cases {
			for _, activation := range []bool{false, true} {
				if activation && (mm.Head == "none" || c.loss != "cross-entropy" && c.loss != "bce") {
					continue
				}
				spec, err := losses.Lookup(c.loss)
				if err != nil {
					t.Fatal(err)
				}
				mode := expectedMode(mm, spec)
				if !spec.SupportsMode(mode) || c.opts["ignore_index"] != "" && mode != losses.Multiclass {
					continue // refused; TestAppendTorchModels checks the refusal
				}
				if activation && mm.Head == "logsoftmax" && mode != losses.Multiclass {
					continue
				}
				opts := losses.Options{"grad": "true"}
				for k, v := range c.opts {
					opts[k] = v
				}
				name := fmt.Sprintf("%s_%s%d_%t", mm.Name, c.loss, ci, activation)
				out := filepath.Join(outDir, name+".onnx")
				rep, err := export.AppendFile(filepath.Join(dir, mm.Files["model"]), out, export.AppendOptions{
					Loss: c.loss, LossOptions: opts, UseActivationOutput: activation, KeepOutputs: true,
				})
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if rep.GradOutput != rep.AttachedTo+"_grad" || len(rep.Outputs) != 3 || rep.Outputs[0] != "loss" || rep.Outputs[1] != rep.GradOutput {
					t.Errorf("%s: gradient output %q, outputs %v", name, rep.GradOutput, rep.Outputs)
				}
				if !rep.Config.Grad {
					t.Errorf("%s: the report's configuration has no grad", name)
				}
				spliced = append(spliced, out)
				checkGrad(t, name, dir, out, mm, rep, spec)
				checked++
			}
		}
	}
	t.Logf("%d spliced models checked", checked)
	// Every model takes cross-entropy or bce, with its head and without.
	if checked < 2*len(man.Models) {
		t.Errorf("%d spliced models checked for %d models", checked, len(man.Models))
	}
	testutil.CheckONNX(t, spliced...)
}

// standaloneGrad runs the loss graph that export.LossModel builds for the
// spliced loss's configuration on x and the same target, and returns its
// input_grad.
func standaloneGrad(t *testing.T, name string, spec *losses.Spec, cfg *losses.Config, x *tensor.Tensor, in reference.Inputs) *tensor.Tensor {
	t.Helper()
	sess, err := losssession.OpenConfig(spec, cfg, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: stand-alone loss: %v", name, err)
	}
	defer sess.Close()
	feeds := map[string]*tensor.Tensor{"input": x}
	for k, v := range in {
		if k != "input" {
			feeds[k] = v
		}
	}
	out, err := sess.Run(feeds)
	if err != nil {
		t.Fatalf("%s: stand-alone loss: %v", name, err)
	}
	return out["input_grad"]
}

func checkGrad(t *testing.T, name, dir, path string, mm manifestModel, rep *export.AppendReport, spec *losses.Spec) {
	t.Helper()
	image, err := tensor.LoadNPY(filepath.Join(dir, mm.Files["input"]))
	if err != nil {
		t.Fatal(err)
	}
	torchOut, err := tensor.LoadNPY(filepath.Join(dir, mm.Files["output"]))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	feeds := makeTarget(rep.Config, spec, torchOut, rng)
	refIn := reference.Inputs{}
	for k, v := range feeds {
		refIn[k] = v
	}
	feeds[mm.InputName] = image
	sess, err := runtime.NewSessionFromFile(path, runtime.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got, err := sess.Run(feeds)
	sess.Close()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	x := attachedValue(t, path, rep, feeds, got)
	grad := got[rep.GradOutput]
	if grad == nil || fmt.Sprint(grad.Shape) != fmt.Sprint(x.Shape) {
		t.Fatalf("%s: gradient %v for a value of shape %v", name, grad, x.Shape)
	}
	g := grad.Float64s()
	xs := x.Float64s()
	cfg := rep.Config.Reference()
	lossAt := func(v []float64) float64 {
		refIn["input"] = tensor.FromFloat64(x.Shape, v)
		l, err := spec.Reference(refIn, cfg)
		if err != nil {
			t.Fatalf("%s: reference: %v", name, err)
		}
		return l.Float64s()[0]
	}
	scale := 0.0
	for _, v := range g {
		scale = math.Max(scale, math.Abs(v))
	}
	if scale == 0 {
		t.Fatalf("%s: the gradient is zero everywhere", name)
	}
	// The same loss graph on the same value: the same gradient, up to the
	// order ONNX Runtime sums in.
	alone := standaloneGrad(t, name, spec, rep.Config, x, refIn)
	if alone == nil || fmt.Sprint(alone.Shape) != fmt.Sprint(x.Shape) {
		t.Fatalf("%s: stand-alone input_grad %v for a value of shape %v", name, alone, x.Shape)
	}
	for i, a := range alone.Float64s() {
		if math.Abs(g[i]-a) > 1e-5*scale {
			t.Errorf("%s: d loss / d %s[%d] = %.8g, stand-alone loss graph %.8g (largest gradient %.3g)",
				name, rep.AttachedTo, i, g[i], a, scale)
			break
		}
	}
	// Central differences of the float64 reference at a few entries, the
	// largest gradient among them.
	picks := []int{argMaxAbs(g)}
	for range 8 {
		picks = append(picks, rng.IntN(len(xs)))
	}
	for _, i := range picks {
		h := 1e-4 * math.Max(1, math.Abs(xs[i]))
		v := append([]float64(nil), xs...)
		v[i] = xs[i] + h
		up := lossAt(v)
		v[i] = xs[i] - h
		down := lossAt(v)
		fd := (up - down) / (2 * h)
		if math.Abs(g[i]-fd) > 1e-3*scale+1e-2*math.Abs(fd) {
			t.Errorf("%s: d loss / d %s[%d] = %.6g, central difference of the reference %.6g (largest gradient %.3g)",
				name, rep.AttachedTo, i, g[i], fd, scale)
		}
	}
}

func argMaxAbs(v []float64) int {
	best := 0
	for i := range v {
		if math.Abs(v[i]) > math.Abs(v[best]) {
			best = i
		}
	}
	return best
}
