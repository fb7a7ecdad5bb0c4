package export_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// manifest is what scripts/export_models.py writes next to the models.
type manifest struct {
	Generator string          `json:"generator"`
	Models    []manifestModel `json:"models"`
}

type manifestModel struct {
	Name       string            `json:"name"`
	Opset      int               `json:"opset"`
	InputName  string            `json:"input_name"`
	OutputName string            `json:"output_name"`
	Layout     string            `json:"layout"`
	Classes    int               `json:"classes"`
	Head       string            `json:"head"`
	Files      map[string]string `json:"files"`
}

func readManifest(t *testing.T, dir string) *manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Models) == 0 {
		t.Fatalf("%s/manifest.json lists no models", dir)
	}
	return &m
}

func modelsDir(t *testing.T) string {
	return filepath.Join(testutil.Root(t), "testdata", "onnx", "models")
}

// expectedMode is the mode a model's head and channel count call for, as the
// exporting script describes the model, for a loss that supports modes.
func expectedMode(mm manifestModel, s *losses.Spec) losses.Mode {
	switch {
	case mm.Head == "softmax" || mm.Head == "logsoftmax":
		return losses.Multiclass
	case mm.Classes == 1:
		return losses.Binary
	case mm.Head == "sigmoid":
		return losses.Multilabel
	case s.SupportsMode(losses.Multiclass):
		return losses.Multiclass
	}
	return losses.Multilabel
}

// spliceCase is one loss attached one way to one model.
type spliceCase struct {
	loss       string
	options    losses.Options
	activation bool // --use-activation-output
}

func (c spliceCase) String() string {
	s := c.loss
	for _, k := range sortedKeys(c.options) {
		s += fmt.Sprintf(" --%s=%s", k, c.options[k])
	}
	if c.activation {
		s += " --use-activation-output"
	}
	return s
}

func sortedKeys(o losses.Options) []string {
	var keys []string
	for k := range o {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

// makeTarget draws a target (and the loss's extra inputs) for the spliced
// model, shaped after the PyTorch output: labels in [0, C) for multiclass
// label targets (some set to the ignore index when one is configured),
// {0, 1} maps otherwise.
func makeTarget(cfg *losses.Config, spec *losses.Spec, out *tensor.Tensor, rng *rand.Rand) reference.Inputs {
	shape := out.Shape
	r := len(shape)
	classAxis := 1
	if cfg.Layout == "nhwc" {
		classAxis = r - 1
	}
	c := shape[classAxis]
	var pixel []int
	for i, d := range shape {
		if i != classAxis {
			pixel = append(pixel, d)
		}
	}
	in := reference.Inputs{}
	dt, _ := cfg.TargetSpec()
	if dt == tensor.Int64 {
		labels := make([]int64, tensor.NumElements(pixel))
		for i := range labels {
			labels[i] = int64(rng.IntN(c))
			if cfg.IgnoreIndex != nil && rng.IntN(7) == 0 {
				labels[i] = *cfg.IgnoreIndex
			}
		}
		in["target"] = tensor.FromInt64(pixel, labels)
	} else {
		in["target"] = binaryMap(shape, rng)
	}
	for _, e := range spec.ExtraInputs(cfg) {
		switch e.Kind {
		case losses.ChannelMap:
			in[e.Name] = randomMap(shape, rng)
		case losses.InstanceLabels:
			ids := make([]int64, tensor.NumElements(pixel))
			for i := range ids {
				ids[i] = int64(rng.IntN(4))
			}
			in[e.Name] = tensor.FromInt64(pixel, ids)
		default:
			in[e.Name] = randomMap(pixel, rng)
		}
	}
	return in
}

func binaryMap(shape []int, rng *rand.Rand) *tensor.Tensor {
	v := make([]float32, tensor.NumElements(shape))
	for i := range v {
		if rng.IntN(3) == 0 {
			v[i] = 1
		}
	}
	return tensor.FromFloat32(shape, v)
}

func randomMap(shape []int, rng *rand.Rand) *tensor.Tensor {
	v := make([]float32, tensor.NumElements(shape))
	for i := range v {
		v[i] = 0.1 + 2*rng.Float32()
	}
	return tensor.FromFloat32(shape, v)
}

// relErr is |got - want| / (atol + rtol |want|), maximised over elements.
func relErr(got, want *tensor.Tensor, rtol, atol float64) (float64, error) {
	if got == nil || want == nil {
		return 0, fmt.Errorf("missing tensor")
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return 0, fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, w := got.Float64s(), want.Float64s()
	worst := 0.0
	for i := range g {
		if math.IsNaN(g[i]) || math.IsInf(g[i], 0) || math.IsNaN(w[i]) || math.IsInf(w[i], 0) {
			return 0, fmt.Errorf("non-finite value at %d: got %v, want %v", i, g[i], w[i])
		}
		worst = math.Max(worst, math.Abs(g[i]-w[i])/(atol+rtol*math.Abs(w[i])))
	}
	return worst, nil
}

// Error budgets. The model itself runs in ONNX Runtime and in PyTorch with
// float32 arithmetic in different orders, so its outputs differ by rounding
// errors that grow with the depth of the network and scale with the size of
// its activations: the model's budget is relative to the largest output
// magnitude. The loss inherits those differences, averaged.
const (
	modelRTol, modelScaleTol = 1e-4, 1e-5
	lossRTol, lossATol       = 2e-4, 1e-6
)

func maxAbs(x *tensor.Tensor) float64 {
	m := 0.0
	for _, v := range x.Float64s() {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// checkSpliced splices one case onto one model of dir, runs the result in
// ONNX Runtime on the saved input and a random target, and compares the loss
// with the Go reference evaluated on PyTorch's output (or logits). It
// returns the path of the spliced model.
func checkSpliced(t *testing.T, dir, outDir string, mm manifestModel, c spliceCase, seed uint64) string {
	t.Helper()
	spec, err := losses.Lookup(c.loss)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	modelPath := filepath.Join(dir, mm.Files["model"])
	outPath := filepath.Join(outDir, fmt.Sprintf("%s_%d.onnx", mm.Name, seed))
	rep, err := export.AppendFile(modelPath, outPath, export.AppendOptions{
		Loss: c.loss, LossOptions: c.options, UseActivationOutput: c.activation, KeepOutputs: true,
	})
	wantMode := expectedMode(mm, spec)
	if !spec.SupportsMode(wantMode) {
		// The loss cannot read this model: Append must refuse, saying so.
		if err == nil || !strings.Contains(err.Error(), "support") {
			t.Errorf("%s on %s: want a refusal (%s has no %s mode), got %v", c, mm.Name, c.loss, wantMode, err)
		}
		return ""
	}
	if err != nil {
		t.Errorf("%s on %s: %v", c, mm.Name, err)
		return ""
	}
	cfg := rep.Config
	if cfg.Mode != wantMode || string(cfg.Layout) != mm.Layout || cfg.Opset != mm.Opset {
		t.Errorf("%s on %s: inferred mode %s, layout %s, opset %d; want %s, %s, %d", c, mm.Name, cfg.Mode, cfg.Layout, cfg.Opset, wantMode, mm.Layout, mm.Opset)
	}
	if cfg.Mode != losses.Binary && cfg.Classes != mm.Classes {
		t.Errorf("%s on %s: inferred %d classes, want %d", c, mm.Name, cfg.Classes, mm.Classes)
	}
	if want := []string{"loss", mm.OutputName}; strings.Join(rep.Outputs, ",") != strings.Join(want, ",") {
		t.Errorf("%s on %s: outputs %v, want %v", c, mm.Name, rep.Outputs, want)
	}
	readsLogits := mm.Head != "none" && !c.activation
	if (rep.AttachedTo != mm.OutputName) != readsLogits {
		t.Errorf("%s on %s: the loss reads %q (head %s)", c, mm.Name, rep.AttachedTo, mm.Head)
	}

	load := func(key string) *tensor.Tensor {
		x, err := tensor.LoadNPY(filepath.Join(dir, mm.Files[key]))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	image, torchOut := load("input"), load("output")
	rng := rand.New(rand.NewPCG(seed, 7))
	feeds := makeTarget(cfg, spec, torchOut, rng)
	refIn := reference.Inputs{}
	for k, v := range feeds {
		refIn[k] = v
	}
	feeds[rep.Target] = feeds["target"]
	if rep.Target != "target" {
		delete(feeds, "target")
	}
	feeds[mm.InputName] = image
	// The reference reads what the loss reads: PyTorch's logits before the
	// head, or PyTorch's output.
	refIn["input"] = torchOut
	if readsLogits {
		refIn["input"] = load("logits")
	}
	want, err := spec.Reference(refIn, cfg.Reference())
	if err != nil {
		t.Fatalf("%s on %s: reference: %v", c, mm.Name, err)
	}

	sess, err := runtime.NewSessionFromFile(outPath, runtime.Options{})
	if err != nil {
		t.Fatalf("%s on %s: %v", c, mm.Name, err)
	}
	defer sess.Close()
	got, err := sess.Run(feeds)
	if err != nil {
		t.Fatalf("%s on %s: %v", c, mm.Name, err)
	}
	if e, err := relErr(got[mm.OutputName], torchOut, modelRTol, modelScaleTol*maxAbs(torchOut)); err != nil || e > 1 {
		t.Errorf("%s on %s: the spliced model's own output differs from the exporting framework's (largest magnitude %.3g): %.3g of the budget (%v)",
			c, mm.Name, maxAbs(torchOut), e, err)
	}
	rtol := max(lossRTol, spec.Tolerance)
	e, err := relErr(got["loss"], want, rtol, lossATol)
	if err == nil && e <= 1 {
		t.Logf("%s on %s: loss %.7g, reference %.7g (%v)", c, mm.Name, got["loss"].Float64s()[0], want.Float64s()[0], time.Since(start).Round(time.Millisecond))
		return outPath
	}
	// Tell a wrong graph from a loss that magnifies the rounding differences
	// between ONNX Runtime's and PyTorch's run of the model: the graph must
	// match the reference on ONNX Runtime's own value of what the loss reads,
	// and the reference's change between the two runs must explain the gap.
	torchIn := refIn["input"]
	attached := attachedValue(t, outPath, rep, feeds, got)
	refIn["input"] = attached
	wantORT, rerr := spec.Reference(refIn, cfg.Reference())
	if rerr != nil {
		t.Fatalf("%s on %s: reference: %v", c, mm.Name, rerr)
	}
	e1, err1 := relErr(got["loss"], wantORT, rtol, lossATol)
	l, w, wo := got["loss"].Float64s()[0], want.Float64s()[0], wantORT.Float64s()[0]
	if err1 != nil || e1 > 1 || err != nil || math.Abs(l-w) > lossATol+rtol*math.Abs(w)+2*math.Abs(wo-w) {
		t.Errorf("%s on %s: loss %.7g; reference on the framework's output %.7g (%.3g of the budget, %v), on ONNX Runtime's %.7g (%.3g of the budget, %v)",
			c, mm.Name, l, w, e, err, wo, e1, err1)
		return outPath
	}
	t.Logf("%s on %s: loss %.7g matches the reference on ONNX Runtime's output (%.7g); on the framework's output the reference gives %.7g: "+
		"the loss magnifies the %.2g relative difference between the two runs of the model", c, mm.Name, l, wo, w, maxRelDiff(attached, torchIn))
	return outPath
}

// maxRelDiff is max |a-b| / max |b|.
func maxRelDiff(a, b *tensor.Tensor) float64 {
	av, bv := a.Float64s(), b.Float64s()
	d := 0.0
	for i := range av {
		d = math.Max(d, math.Abs(av[i]-bv[i]))
	}
	return d / maxAbs(b)
}

// attachedValue returns ONNX Runtime's value of what the loss reads: the
// kept model output, or, for a loss that reads the logits before an
// activation head, those logits, from a copy of the spliced model that
// outputs them too.
func attachedValue(t *testing.T, path string, rep *export.AppendReport, feeds map[string]*tensor.Tensor, got map[string]*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	if v, ok := got[rep.AttachedTo]; ok {
		return v
	}
	lm, err := export.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	g := lm.Proto.Graph
	var out *onnxpb.ValueInfoProto
	for _, o := range g.Output {
		if o.GetName() == rep.Output {
			out = proto.Clone(o).(*onnxpb.ValueInfoProto)
		}
	}
	if out == nil {
		t.Fatalf("%s: no output %q", path, rep.Output)
	}
	out.Name = proto.String(rep.AttachedTo) // an activation keeps the type
	g.Output = append(g.Output, out)
	probe := strings.TrimSuffix(path, ".onnx") + "_probe.onnx"
	if err := lm.WriteModel(probe, lm.Proto); err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSessionFromFile(probe, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	res, err := sess.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	return res[rep.AttachedTo]
}

// coreLosses are attached both ways to models with an activation head, and
// to the full-size torchvision models.
var coreLosses = []string{"cross-entropy", "focal", "dice", "lovasz-softmax", "bce"}

// casesFor lists what is attached to a model. Models without an activation
// head, and binary ones, get every registered loss with its defaults; models
// with a Softmax or LogSoftmax head get the core losses, each both ways
// (logits and activation output). Multiclass models also get cross-entropy
// with ignore_index and label smoothing. only, when set, limits the losses.
func casesFor(mm manifestModel, only []string) []spliceCase {
	var cs []spliceCase
	every := only == nil && (mm.Head == "none" || mm.Classes == 1)
	for _, s := range losses.All() {
		if !every && !slices.Contains(coreLosses, s.Name) || only != nil && !slices.Contains(only, s.Name) {
			continue
		}
		cs = append(cs, spliceCase{loss: s.Name})
		if mm.Head != "none" && slices.Contains(coreLosses, s.Name) {
			cs = append(cs, spliceCase{loss: s.Name, activation: true})
		}
	}
	if mm.Classes > 1 && mm.Head != "sigmoid" {
		cs = append(cs, spliceCase{loss: "cross-entropy", options: losses.Options{"ignore_index": "255", "label_smoothing": "0.1"}})
	}
	return cs
}

// checkModelSet runs every case on every model of a folder written by
// scripts/export_models.py and checks every spliced model with ONNX's own
// checker.
func checkModelSet(t *testing.T, dir string, only []string) {
	testutil.RequireRuntime(t)
	man := readManifest(t, dir)
	outDir := t.TempDir()
	var spliced []string
	seed := uint64(1)
	for _, mm := range man.Models {
		t.Run(mm.Name, func(t *testing.T) {
			cases := casesFor(mm, only)
			if len(cases) == 0 {
				t.Fatal("no losses to attach")
			}
			for _, c := range cases {
				seed++
				if p := checkSpliced(t, dir, outDir, mm, c, seed); p != "" {
					spliced = append(spliced, p)
				}
			}
		})
	}
	if len(spliced) == 0 {
		t.Fatal("nothing was spliced")
	}
	testutil.CheckONNX(t, spliced...)
}

// TestAppendTorchModels attaches every registered loss to the committed
// PyTorch exports (torchvision architectures shrunk to a few hundred KB)
// and compares ONNX Runtime's loss with the Go reference on PyTorch's own
// output.
func TestAppendTorchModels(t *testing.T) {
	checkModelSet(t, modelsDir(t), nil)
}

// TestAppendTorchvisionLive exports torchvision's fcn_resnet50 (with
// external data), deeplabv3_mobilenet_v3_large (with a Softmax head) and
// lraspp_mobilenet_v3_large (channels-last) at full size with PyTorch, then
// checks the losses the splicing is meant for on them.
func TestAppendTorchvisionLive(t *testing.T) {
	if testing.Short() && !testutil.InCI() {
		t.Skip("exports torchvision models (about 190 MB) with PyTorch")
	}
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	testutil.RunScript(t, "export_models.py", dir, "--set", "full")
	checkModelSet(t, dir, []string{"cross-entropy", "focal", "dice", "lovasz-softmax"})
}
