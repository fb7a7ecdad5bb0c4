package verify

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// The tests of this file hold every loss, in every mode, to the contract of
// the README's "Bad input": input that breaks the model's contract makes
// the graph fail at a check node that names what is wrong, in ONNX Runtime,
// and makes the reference return an error naming the same check (never a
// panic, never a number); huge logits give finite values and gradients.

// modeOptions lists one option set per mode of a loss (and one-hot targets
// where the loss takes them), with extra options added.
func modeOptions(s *losses.Spec, extra losses.Options) []losses.Options {
	var out []losses.Options
	add := func(o losses.Options) {
		for k, v := range extra {
			o[k] = v
		}
		out = append(out, o)
	}
	for _, m := range s.Modes {
		add(losses.Options{"mode": string(m)})
		if m == losses.Multiclass && s.OneHotTarget {
			add(losses.Options{"mode": string(m), "target": "onehot"})
		}
	}
	return out
}

func optionsLabel(o losses.Options) string {
	return fmt.Sprint(map[string]string(o))
}

// lossSession builds a loss and opens it in ONNX Runtime. relax makes every
// fixed dimension of the inputs symbolic, as a runtime that does not check
// declared shapes sees them, so that only the graph's own checks stand
// between wrong shapes and a number.
func lossSession(t *testing.T, s *losses.Spec, opts losses.Options, relax bool) (*losses.Config, *runtime.Session) {
	t.Helper()
	cfg, err := losses.Resolve(s, opts)
	if err != nil {
		t.Fatalf("%s %v: %v", s.Name, opts, err)
	}
	m, err := export.LossModel(s, cfg)
	if err != nil {
		t.Fatalf("%s %v: %v", s.Name, opts, err)
	}
	if relax {
		for _, in := range m.Graph.Input {
			for i, d := range in.GetType().GetTensorType().GetShape().GetDim() {
				if _, fixed := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); fixed {
					d.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: fmt.Sprintf("%s_%d", in.GetName(), i)}
				}
			}
		}
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(b, runtime.Options{SkipSymbolCheck: true})
	if err != nil {
		t.Fatalf("%s %v: %v", s.Name, opts, err)
	}
	return cfg, sess
}

// randomInputs makes valid inputs of a configuration: n samples, C classes
// (the configuration's, 3 when it leaves them open), the given spatial size.
func randomInputs(s *losses.Spec, cfg *losses.Config, n int, spatial []int, seed uint64) (reference.Inputs, int) {
	C := cfg.Classes
	if C == 0 {
		C = 3
	}
	rng := rand.New(rand.NewPCG(seed, uint64(len(s.Name))))
	return generate(s, cfg, shapeCase{n, spatial}, C, "random", rng), C
}

func spatialOf(cfg *losses.Config) []int {
	if cfg.SpatialDims == 3 {
		return []int{3, 4, 2}
	}
	return []int{4, 5}
}

// reference runs a loss's reference, turning a panic into an error that
// says so.
func runReference(s *losses.Spec, in reference.Inputs, cfg *losses.Config) (out *tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("reference panicked: %v", r)
		}
	}()
	return s.Reference(in, cfg.Reference())
}

// expectRefused checks that the graph fails at the named check and that the
// reference refuses with the check's name.
func expectRefused(t *testing.T, label string, s *losses.Spec, cfg *losses.Config, sess *runtime.Session, in reference.Inputs, check string) {
	t.Helper()
	out, err := sess.Run(in)
	switch {
	case err == nil:
		msg := fmt.Sprintf("%s: the graph returned loss %v, want a failure at %s", label, out["loss"].Float64s(), check)
		t.Error(msg)
	case !strings.Contains(err.Error(), losses.CheckPrefix+check):
		t.Errorf("%s: the graph failed without naming %s: %v", label, losses.CheckPrefix+check, err)
	}
	ref, rerr := runReference(s, in, cfg)
	switch {
	case rerr == nil:
		t.Errorf("%s: the reference returned %v, want an error naming %s", label, ref.Float64s(), check)
	case !strings.Contains(rerr.Error(), check):
		t.Errorf("%s: the reference's error does not name %s: %v", label, check, rerr)
	}
}

// expectRuns checks that valid input gives a finite loss in the graph and in
// the reference.
func expectRuns(t *testing.T, label string, s *losses.Spec, cfg *losses.Config, sess *runtime.Session, in reference.Inputs) {
	t.Helper()
	out, err := sess.Run(in)
	if err != nil {
		t.Errorf("%s: valid input refused: %v", label, err)
		return
	}
	for _, v := range out["loss"].Float64s() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s: valid input gave loss %v", label, v)
			break
		}
	}
	if _, err := runReference(s, in, cfg); err != nil {
		t.Errorf("%s: the reference refused valid input: %v", label, err)
	}
}

// TestLabelsOutOfRange: in every loss and mode that takes a label map, a
// label outside [0, C) that is not the ignore index makes the graph fail at
// target_labels_in_range and the reference return an error, whatever the
// label (-1 is not class C-1, -4 not class 0, C not dropped), with C from
// the input or fixed by --classes, with and without an ignore index, with
// and without the gradient output; labels equal to the ignore index are
// accepted even outside [0, C).
func TestLabelsOutOfRange(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, s := range losses.All() {
		if !s.SupportsMode(losses.Multiclass) {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			sets := []losses.Options{{"mode": "multiclass"}, {"mode": "multiclass", "classes": "4", "grad": "true"}}
			if s.IgnoreIndex {
				sets = append(sets, losses.Options{"mode": "multiclass", "ignore_index": "-100"},
					losses.Options{"mode": "multiclass", "ignore_index": "255", "classes": "4"})
			}
			for _, opts := range sets {
				cfg, sess := lossSession(t, s, opts, false)
				for _, sample := range []int{1, 2} {
					in, C := randomInputs(s, cfg, sample, spatialOf(cfg), 7)
					labels := in["target"].Data.([]int64)
					at := len(labels) - 1 - sample // some pixel, not always the first
					if cfg.IgnoreIndex != nil {
						labels[0] = *cfg.IgnoreIndex
						labels[at] = *cfg.IgnoreIndex
					}
					expectRuns(t, fmt.Sprintf("%v N=%d", optionsLabel(opts), sample), s, cfg, sess, in)
					for _, bad := range []int64{-1, -4, int64(C), int64(C) + 5, 1 << 40, math.MinInt64} {
						old := labels[at]
						labels[at] = bad
						expectRefused(t, fmt.Sprintf("%v N=%d label %d", optionsLabel(opts), sample, bad), s, cfg, sess, in, losses.CheckLabels)
						labels[at] = old
					}
				}
				sess.Close()
			}
		})
	}
}

// TestFloatTargetNotFinite: a NaN or ±Inf in a float target (binary,
// multilabel, one-hot multiclass) makes the graph fail at target_finite and
// the reference return an error.
func TestFloatTargetNotFinite(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, s := range losses.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			for _, opts := range modeOptions(s, nil) {
				if opts["mode"] == "multiclass" && opts["target"] != "onehot" {
					continue
				}
				cfg, sess := lossSession(t, s, opts, false)
				in, _ := randomInputs(s, cfg, 2, spatialOf(cfg), 3)
				tgt := in["target"]
				expectRuns(t, optionsLabel(opts), s, cfg, sess, in)
				for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
					vals := tgt.Float64s()
					vals[len(vals)/2] = bad
					in["target"] = tensor.FromFloat64(tgt.Shape, vals).Convert(tgt.DType)
					expectRefused(t, fmt.Sprintf("%v target %v", optionsLabel(opts), bad), s, cfg, sess, in, losses.CheckTargetFinite)
				}
				sess.Close()
			}
		})
	}
}

// resized returns a tensor of the same kind as t with dimension axis
// changed by delta (zeros, or labels 0).
func resized(t *tensor.Tensor, axis, delta int) *tensor.Tensor {
	shape := append([]int{}, t.Shape...)
	shape[axis] += delta
	return tensor.New(t.DType, shape...)
}

// TestShapesMismatch: a target or extra input whose batch, spatial or class
// dimensions disagree with the input's makes the graph fail at the check
// that names the input and the dimension, also when the runtime does not
// check the declared shapes (every fixed dimension made symbolic), and the
// reference refuses with the same name. Today's silent broadcast of a
// target with N=1 against an input with N=2 is one of the cases.
func TestShapesMismatch(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, s := range losses.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			for _, opts := range append(modeOptions(s, nil), modeOptions(s, losses.Options{"layout": "nhwc", "spatial_dims": "3"})...) {
				cfg, sess := lossSession(t, s, opts, true)
				in, _ := randomInputs(s, cfg, 2, spatialOf(cfg), 5)
				label := optionsLabel(opts)
				expectRuns(t, label, s, cfg, sess, in)
				float := !(cfg.Mode == losses.Multiclass && cfg.TargetForm == "labels")
				rank := len(in["input"].Shape)
				chAxis, firstSpatial := 1, 2
				if cfg.Layout == "nhwc" {
					chAxis, firstSpatial = rank-1, 1
				}
				lastSpatial := firstSpatial + cfg.SpatialDims - 1
				names := []string{"target"}
				for _, e := range s.ExtraInputs(cfg) {
					names = append(names, e.Name)
				}
				for _, name := range names {
					orig := in[name]
					channels := len(orig.Shape) == rank && (name != "target" || float)
					sp := func(a int) int { // spatial axis a of the input, in this tensor
						if channels || cfg.Layout == "nhwc" {
							return a
						}
						return a - 1 // [N,*spatial] against [N,C,*spatial]
					}
					cases := []struct {
						axis, delta int
						check       string
					}{
						{0, -1, name + "_batch_matches_input"},
						{0, 1, name + "_batch_matches_input"},
						{sp(firstSpatial), 1, name + "_spatial_matches_input"},
						{sp(lastSpatial), -1, name + "_spatial_matches_input"},
					}
					if channels {
						cases = append(cases, struct {
							axis, delta int
							check       string
						}{chAxis, 1, name + "_classes_match_input"})
					}
					for _, tc := range cases {
						in[name] = resized(orig, tc.axis, tc.delta)
						expectRefused(t, fmt.Sprintf("%s: %s %v", label, name, in[name].Shape), s, cfg, sess, in, tc.check)
					}
					in[name] = orig
				}
				sess.Close()
			}
			// With the classes fixed (binary mode fixes one), an input with
			// other channels fails at input_classes_match_option.
			for _, opts := range modeOptions(s, nil) {
				if opts["mode"] != "binary" {
					opts["classes"] = "3"
				}
				cfg, sess := lossSession(t, s, opts, true)
				in, _ := randomInputs(s, cfg, 2, spatialOf(cfg), 5)
				wrong := cfg.Classes + 1
				for name, v := range in {
					if len(v.Shape) == len(in["input"].Shape) {
						in[name] = resized(v, 1, wrong-cfg.Classes)
					}
				}
				expectRefused(t, fmt.Sprintf("%s with %d channels", optionsLabel(opts), wrong), s, cfg, sess, in, losses.CheckInputClasses)
				sess.Close()
			}
		})
	}
}

// emptyChildEnv marks the process that TestEmptyInputs starts.
const emptyChildEnv = "ONNXLOSS_EMPTY_INPUTS_CHILD"

// emptyShapes are the geometries of TestEmptyInputs: an empty batch and a
// zero-sized first and last spatial axis.
var emptyShapes = []struct {
	label             string
	n                 int
	spatial, spatial3 []int
}{
	{"N=0", 0, []int{4, 5}, []int{3, 4, 2}},
	{"H=0", 2, []int{0, 5}, []int{0, 4, 2}},
	{"W=0", 2, []int{4, 0}, []int{3, 4, 0}},
}

// emptyBases are the option sets of TestEmptyInputs, besides the mode.
var emptyBases = []losses.Options{{}, {"spatial_dims": "3", "layout": "nhwc", "grad": "true"}}

// zeroInputs makes inputs of the given geometry filled with zeros (labels 0).
func zeroInputs(s *losses.Spec, cfg *losses.Config, n int, spatial []int) reference.Inputs {
	C := cfg.Classes
	if C == 0 {
		C = 3
	}
	full := append([]int{n, C}, spatial...)
	if cfg.Layout == "nhwc" {
		full = append(append([]int{n}, spatial...), C)
	}
	pixels := append([]int{n}, spatial...)
	in := reference.Inputs{"input": tensor.New(cfg.DType, full...)}
	tdt, _ := cfg.TargetSpec()
	if cfg.Mode == losses.Multiclass && cfg.TargetForm == "labels" {
		in["target"] = tensor.New(tensor.Int64, pixels...)
	} else {
		in["target"] = tensor.New(tdt, full...)
	}
	for _, e := range s.ExtraInputs(cfg) {
		dt, _ := cfg.ExtraSpec(e)
		if e.Kind == losses.ChannelMap {
			in[e.Name] = tensor.New(dt, full...)
		} else {
			in[e.Name] = tensor.New(dt, pixels...)
		}
	}
	return in
}

// TestEmptyInputs: an empty batch or a zero-sized spatial axis makes every
// loss, in every mode (2D, and 3D in NHWC layout with the gradient output),
// fail at input_not_empty, and its reference refuse with the same name; no
// runtime signal (ONNX Runtime used to divide by zero on some graphs, which
// kills the process with SIGFPE). The cases run in a child process, so that
// a signal fails this test instead of ending the run.
func TestEmptyInputs(t *testing.T) {
	testutil.RequireRuntime(t)
	if os.Getenv(emptyChildEnv) == "1" {
		emptyInputsChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmptyInputs$", "-test.count=1")
	cmd.Env = append(os.Environ(), emptyChildEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	started, results := "", 0
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "START "):
			started = strings.TrimPrefix(line, "START ")
		case strings.HasPrefix(line, "DONE "):
			results++
		case strings.HasPrefix(line, "FAIL: "):
			t.Error(strings.TrimPrefix(line, "FAIL: "))
		}
	}
	if runErr != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[:2000]
		}
		t.Fatalf("the child process failed (%v) after %d cases, in %q:\n%s", runErr, results, started, tail)
	}
	want := 0
	for _, s := range losses.All() {
		want += len(emptyBases) * len(modeOptions(s, nil)) * len(emptyShapes)
	}
	if results != want {
		t.Fatalf("the child ran %d cases, want %d:\n%s", results, want, stdout.String())
	}
}

func emptyInputsChild(t *testing.T) {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	fail := func(format string, args ...any) {
		fmt.Fprintf(out, "FAIL: "+format+"\n", args...)
	}
	for _, s := range losses.All() {
		for _, base := range emptyBases {
			for _, opts := range modeOptions(s, base) {
				cfg, err := losses.Resolve(s, opts)
				if err != nil {
					fail("%s %v: %v", s.Name, opts, err)
					continue
				}
				m, err := export.LossModel(s, cfg)
				if err != nil {
					fail("%s %v: %v", s.Name, opts, err)
					continue
				}
				b, err := export.Marshal(m)
				if err != nil {
					fail("%s %v: %v", s.Name, opts, err)
					continue
				}
				sess, err := runtime.NewSession(b, runtime.Options{SkipSymbolCheck: true})
				if err != nil {
					fail("%s %v: %v", s.Name, opts, err)
					continue
				}
				for _, sh := range emptyShapes {
					spatial := sh.spatial
					if cfg.SpatialDims == 3 {
						spatial = sh.spatial3
					}
					label := fmt.Sprintf("%s %v %s", s.Name, optionsLabel(opts), sh.label)
					fmt.Fprintf(out, "START %s\n", label)
					out.Flush() // a signal must not lose the line
					in := zeroInputs(s, cfg, sh.n, spatial)
					res, err := sess.Run(in)
					switch {
					case err == nil:
						fail("%s: the graph returned loss %v, want a failure at %s", label, res["loss"].Float64s(), losses.CheckPrefix+losses.CheckNotEmpty)
					case !strings.Contains(err.Error(), losses.CheckPrefix+losses.CheckNotEmpty):
						fail("%s: the graph failed without naming %s: %v", label, losses.CheckNotEmpty, err)
					}
					ref, rerr := runReference(s, in, cfg)
					switch {
					case rerr == nil:
						fail("%s: the reference returned %v, want an error naming %s", label, ref.Float64s(), losses.CheckNotEmpty)
					case !strings.Contains(rerr.Error(), losses.CheckNotEmpty):
						fail("%s: the reference's error does not name %s: %v", label, losses.CheckNotEmpty, rerr)
					}
					fmt.Fprintf(out, "DONE %s\n", label)
				}
				sess.Close()
			}
		}
	}
}

// hugeMagnitudes are the logit sizes of TestHugeLogits, up to the largest
// float32.
var hugeMagnitudes = []float64{1e10, 1e30, math.MaxFloat32}

// TestHugeLogits: every loss, in every mode, with both reductions that
// allow a gradient, gives a finite loss and a finite input_grad for logits
// of magnitude 1e10, 1e30 and 3.4e38 (every entry at ±magnitude, or a
// quarter of them with the rest normal, so that the gaps between classes are
// huge too), and so does its reference. Below LogitBound (1e10) the graph
// also agrees with the reference as on ordinary input.
func TestHugeLogits(t *testing.T) {
	testutil.RequireRuntime(t)
	r := &Runner{}
	for _, s := range losses.All() {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			for _, red := range []string{"mean", "sum"} {
				if !contains(s.ReductionsList(), red) {
					continue
				}
				for _, opts := range modeOptions(s, losses.Options{"grad": "true", "reduction": red}) {
					cfg, sess := lossSession(t, s, opts, false)
					for _, mag := range hugeMagnitudes {
						for _, mixed := range []bool{false, true} {
							in, _ := randomInputs(s, cfg, 2, spatialOf(cfg), 11)
							rng := rand.New(rand.NewPCG(uint64(mag), 3))
							x := in["input"].Float64s()
							for i := range x {
								if !mixed || rng.IntN(4) == 0 {
									x[i] = mag * float64(2*rng.IntN(2)-1)
								}
							}
							in["input"] = tensor.FromFloat64(in["input"].Shape, x).Convert(cfg.DType)
							label := fmt.Sprintf("%v |x|=%g mixed=%v", optionsLabel(opts), mag, mixed)
							out, err := sess.Run(in)
							if err != nil {
								t.Errorf("%s: %v", label, err)
								continue
							}
							for _, name := range []string{"loss", "input_grad"} {
								for i, v := range out[name].Float64s() {
									if math.IsNaN(v) || math.IsInf(v, 0) {
										t.Errorf("%s: %s[%d] = %v", label, name, i, v)
										break
									}
								}
							}
							ref, err := runReference(s, in, cfg)
							if err != nil {
								t.Errorf("%s: reference: %v", label, err)
								continue
							}
							if mag < reference.LogitBound {
								maxErr, _, err := r.Compare(out["loss"], ref, s.Tolerance)
								if err != nil || maxErr > 1 {
									t.Errorf("%s: graph %v, reference %v (%.3g of the budget) %v", label, out["loss"].Float64s(), ref.Float64s(), maxErr, err)
								}
							} else if v := ref.Float64s()[0]; math.IsNaN(v) || math.IsInf(v, 0) {
								t.Errorf("%s: reference %v", label, v)
							}
						}
					}
					sess.Close()
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
