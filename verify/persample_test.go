package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxloss/onnxloss/bench"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestPerSampleLoss runs the loss output of every gradient graph that may
// compute one sample at a time (an If whose then branch is a Scan over the
// batch, Spec.PerSample) against the reference, over every case: the cases
// of one sample take the whole-batch branch, those of two and three samples
// the Scan. The input_grad of the same graphs is checked by TestGradients.
// Each such configuration's graph must hold the If and the Scan, and the
// defaults of the losses below must be among them, so that neither half can
// pass on the whole-batch graph alone.
func TestPerSampleLoss(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &Runner{Seed: 1}
	scanned := map[string]bool{}
	for _, s := range losses.All() {
		if s.PerSample == nil {
			continue
		}
		for _, c := range Configs(s, losses.Options{"grad": "true"}) {
			if c.Options["reduction"] == "none" {
				continue // no gradient output
			}
			cfg, err := losses.Resolve(s, c.Options)
			if err != nil {
				t.Fatalf("%s: %v", c.Label, err)
			}
			g, err := losses.Build(s, cfg)
			if err != nil {
				t.Fatalf("%s: %v", c.Label, err)
			}
			gp, err := g.Proto()
			if err != nil {
				t.Fatalf("%s: %v", c.Label, err)
			}
			// The If that picks the per-sample form, with the Scan in its
			// then branch.
			hasScan := false
			for _, n := range gp.GetNode() {
				if n.GetOpType() != "If" {
					continue
				}
				for _, a := range n.GetAttribute() {
					if a.GetName() != "then_branch" {
						continue
					}
					for _, b := range a.GetG().GetNode() {
						hasScan = hasScan || b.GetOpType() == "Scan"
					}
				}
			}
			if want := s.PerSample(cfg); hasScan != want {
				t.Errorf("%s: graph has a Scan: %v, want %v", c.Label, hasScan, want)
			}
			if !hasScan {
				continue
			}
			if c.Label == string(cfg.Mode) { // the mode's defaults
				scanned[s.Name+" "+c.Label] = true
			}
			for _, res := range r.Run(c) {
				if !res.OK() {
					t.Errorf("%s / %s: %s", c.Label, res.Case, describe(res))
				}
			}
		}
	}
	for _, want := range []string{"dice binary", "dice multilabel", "tversky binary", "jaccard multilabel", "log-cosh-dice binary",
		"bce binary", "weighted-bce binary", "focal binary", "weighted-ce binary",
		"exp-log binary", "dice-ce binary", "combo multilabel", "dice-focal binary", "generalized-dice multilabel"} {
		if !scanned[want] {
			t.Errorf("%s: default configuration not built one sample at a time (built: %v)", want, scanned)
		}
	}
}

// TestPerSampleScanRuns runs the gradient graphs of the losses with a
// per-sample form at sizes where its If takes the Scan (two samples of 2^17
// entries) and where it does not (samples of 2^12 entries, one sample),
// reads ONNX Runtime's profile to see which branch ran, and compares loss
// and input_grad with the graph built without the per-sample form. The
// cases of TestGradients and TestPerSampleLoss are too small for the Scan.
func TestPerSampleScanRuns(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, s := range losses.All() {
		if s.PerSample == nil {
			continue
		}
		for _, mode := range []string{"binary", "multilabel"} {
			if !s.SupportsMode(losses.Mode(mode)) {
				continue
			}
			c := 1
			if mode == "multilabel" {
				c = 2
			}
			opts := losses.Options{"mode": mode, "grad": "true"}
			if mode != "binary" {
				opts["classes"] = "2"
			}
			cfg, err := losses.Resolve(s, opts)
			if err != nil {
				t.Fatalf("%s %s: %v", s.Name, mode, err)
			}
			if !s.PerSample(cfg) {
				continue
			}
			whole := *s
			whole.PerSample = nil
			for _, tc := range []struct {
				shape []int
				scan  bool
			}{
				{[]int{2, c, 256, 512 / c}, true},
				{[]int{3, c, 64, 64 / c}, false},
				{[]int{1, c, 256, 512 / c}, false},
			} {
				label := fmt.Sprintf("%s %s %v", s.Name, mode, tc.shape)
				in := map[string]*tensor.Tensor(bench.Inputs(s, cfg, tc.shape, 3))
				prefix := filepath.Join(t.TempDir(), "trace")
				got, ops := runProfiled(t, s, cfg, in, prefix)
				if ops["Scan"] != tc.scan {
					t.Errorf("%s: the Scan ran: %v, want %v", label, ops["Scan"], tc.scan)
				}
				want, _ := runProfiled(t, &whole, cfg, in, "")
				comparePerSample(t, label, got, want)
			}
		}
	}
}

// runProfiled runs a configuration's graph once on in and returns its
// outputs, and, with a profile prefix, the op types ONNX Runtime ran.
func runProfiled(t *testing.T, s *losses.Spec, cfg *losses.Config, in map[string]*tensor.Tensor, prefix string) (map[string]*tensor.Tensor, map[string]bool) {
	t.Helper()
	sess, err := losssession.OpenConfig(s, cfg, runtime.Options{Threads: 1, Profile: prefix})
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Runtime().Run(in)
	if cerr := sess.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	if prefix == "" {
		return out, ops
	}
	files, _ := filepath.Glob(prefix + "*.json")
	if len(files) != 1 {
		t.Fatalf("profile files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Cat  string         `json:"cat"`
		Args map[string]any `json:"args"`
	}
	if err := json.Unmarshal(b, &events); err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if op, ok := e.Args["op_name"].(string); ok && e.Cat == "Node" {
			ops[op] = true
		}
	}
	return out, ops
}

// comparePerSample holds the per-sample form's loss and input_grad to the
// whole-batch graph's: float32 sums in another order, so 1e-5 of the loss
// and of the gradient's largest entry.
func comparePerSample(t *testing.T, label string, got, want map[string]*tensor.Tensor) {
	t.Helper()
	gl, wl := got["loss"].Float64s()[0], want["loss"].Float64s()[0]
	if math.Abs(gl-wl) > 1e-5*math.Abs(wl)+1e-7 {
		t.Errorf("%s: loss %.9g, whole batch %.9g", label, gl, wl)
	}
	gg, wg := got["input_grad"].Float64s(), want["input_grad"].Float64s()
	if len(gg) != len(wg) {
		t.Fatalf("%s: input_grad of %d entries, whole batch %d", label, len(gg), len(wg))
	}
	scale := 0.0
	for _, v := range wg {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range gg {
		if math.Abs(gg[i]-wg[i]) > 1e-5*scale+1e-4*math.Abs(wg[i]) {
			t.Errorf("%s: input_grad[%d] = %.9g, whole batch %.9g (largest entry %.3g)", label, i, gg[i], wg[i], scale)
			return
		}
	}
}

// TestPerSampleBFloat16 builds the gradient graph of binary dice for
// bfloat16 input at opsets 15 and 16 and runs it: the Scan and If of opset
// 15 take no bfloat16 tensors, so that graph keeps the whole-batch form only
// and still loads; opset 16's has the If.
func TestPerSampleBFloat16(t *testing.T) {
	testutil.RequireRuntime(t)
	s, err := losses.Lookup("dice")
	if err != nil {
		t.Fatal(err)
	}
	for _, opset := range []string{"15", "16"} {
		cfg, err := losses.Resolve(s, losses.Options{"mode": "binary", "grad": "true", "dtype": "bfloat16", "opset": opset})
		if err != nil {
			t.Fatal(err)
		}
		g, err := losses.Build(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		gp, err := g.Proto()
		if err != nil {
			t.Fatal(err)
		}
		hasIf := false
		for _, n := range gp.GetNode() {
			hasIf = hasIf || n.GetOpType() == "If"
		}
		if hasIf != (opset == "16") {
			t.Errorf("opset %s: the graph has an If: %v", opset, hasIf)
		}
		in := map[string]*tensor.Tensor(bench.Inputs(s, cfg, []int{2, 1, 8, 8}, 1))
		sess, err := losssession.OpenConfig(s, cfg, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatalf("opset %s: %v", opset, err)
		}
		out, err := sess.Runtime().Run(in)
		sess.Close()
		if err != nil {
			t.Fatalf("opset %s: %v", opset, err)
		}
		if g := out["input_grad"]; g == nil || g.DType != tensor.BFloat16 {
			t.Errorf("opset %s: input_grad %v", opset, g)
		}
	}
}

// TestPerSampleScanVariants is TestPerSampleScanRuns for other options of
// a few losses, at a size where the Scan runs: channels-last layout,
// reduction sum, probabilities, float16 and float64 input, volumes.
func TestPerSampleScanVariants(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, loss := range []string{"dice", "bce", "balanced-bce", "exp-log"} {
		s, err := losses.Lookup(loss)
		if err != nil {
			t.Fatal(err)
		}
		whole := *s
		whole.PerSample = nil
		for _, v := range []struct {
			opts  losses.Options
			shape []int
		}{
			{losses.Options{"layout": "nhwc", "mode": "multilabel", "classes": "2"}, []int{2, 2, 256, 128}}, // N,C,*spatial
			{losses.Options{"reduction": "sum"}, []int{3, 1, 256, 256}},
			{losses.Options{"from_logits": "false"}, []int{2, 1, 256, 256}},
			{losses.Options{"dtype": "float16"}, []int{2, 1, 256, 256}},
			{losses.Options{"dtype": "float64"}, []int{2, 1, 256, 256}},
			{losses.Options{"spatial_dims": "3"}, []int{2, 1, 64, 64, 32}},
		} {
			opts := losses.Options{"mode": "binary", "grad": "true"}
			for k, val := range v.opts {
				opts[k] = val
			}
			cfg, err := losses.Resolve(s, opts)
			if err != nil {
				t.Fatalf("%s %v: %v", loss, opts, err)
			}
			label := fmt.Sprintf("%s %v %v", loss, v.opts, v.shape)
			in := map[string]*tensor.Tensor(bench.Inputs(s, cfg, v.shape, 5))
			got, ops := runProfiled(t, s, cfg, in, filepath.Join(t.TempDir(), "trace"))
			if !ops["Scan"] {
				t.Errorf("%s: the Scan did not run", label)
			}
			want, _ := runProfiled(t, &whole, cfg, in, "")
			comparePerSample(t, label, got, want)
		}
	}
}
