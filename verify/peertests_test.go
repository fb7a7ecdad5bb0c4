package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// peerFile is one testdata/peertests/<library>.json: the loss unit-test
// cases of another library, with the numbers its tests write, and the
// onnxloss loss, preset and options that reproduce each.
type peerFile struct {
	Library    string `json:"library"`
	Repository string `json:"repository"`
	Commit     string `json:"commit"`
	// Cases are the cases whose test states an expected value.
	Cases []peerCase `json:"cases"`
	// Unchecked are the library's loss tests that state no value of their
	// own (shapes, exceptions, gradcheck, one call compared with another),
	// each with what it checks: listed so that the count is complete.
	Unchecked []struct {
		File   string `json:"file"`
		Test   string `json:"test"`
		Checks string `json:"checks"`
	} `json:"unchecked"`
}

// peerCase is one expected value of a peer library's test.
type peerCase struct {
	File string `json:"file"`
	Test string `json:"test"`
	// Call is the library's call, as the test writes it.
	Call    string            `json:"call"`
	Loss    string            `json:"loss"`
	Preset  string            `json:"preset"`
	Options map[string]string `json:"options"`
	Input   json.RawMessage   `json:"input"`
	// InputShape reshapes input (the same numbers) where the library
	// flattens or broadcasts what onnxloss takes as [N,C,*spatial].
	InputShape []int `json:"input_shape"`
	// InputBroadcast repeats input along the batch axis to this many
	// samples, as torch broadcasts a batch of one against the target's.
	InputBroadcast int `json:"input_broadcast"`
	// InputTransform is the library's other_act applied to input before
	// the graph sees it ("tanh", "log_softmax"), with --from-logits=false.
	InputTransform string          `json:"input_transform"`
	Target         json.RawMessage `json:"target"`
	TargetShape    []int           `json:"target_shape"`
	// TargetForm is "float" (the default: a float tensor the shape of
	// input), "labels" (an int64 label map [N,*spatial]) or "onehot"
	// (labels turned into a float one-hot [N,C,*spatial], the library's
	// to_onehot_y).
	TargetForm string          `json:"target_form"`
	Expected   json.RawMessage `json:"expected"`
	// Compare is "loss" (the default) or "1-loss" where the test checks a
	// score s whose loss is 1 - s.
	Compare string `json:"compare"`
	// RTol and ATol are the test's own tolerances; Rule is "allclose"
	// (|d| <= atol + rtol·|e|: numpy, torch) or "approx" (|d| <= max(rtol·|e|, atol): pytest.approx).
	RTol float64 `json:"rtol"`
	ATol float64 `json:"atol"`
	Rule string  `json:"rule"`
	// Note explains a mapping that is not plain option for option.
	Note string `json:"note"`
	// Differs, where set, says why onnxloss cannot reproduce the case;
	// the test then requires the case to run and give a different value,
	// so the list cannot go stale and a broken mapping cannot hide in it.
	Differs string `json:"differs"`
}

// nested flattens a JSON number or nested array of numbers into its shape
// and values.
func nested(raw json.RawMessage) ([]int, []float64, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, nil, err
	}
	var shape []int
	var data []float64
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		switch x := v.(type) {
		case float64:
			if depth != len(shape) {
				return fmt.Errorf("ragged array")
			}
			data = append(data, x)
		case []any:
			if depth == len(shape) {
				if len(data) > 0 {
					return fmt.Errorf("ragged array")
				}
				shape = append(shape, len(x))
			} else if depth > len(shape) || shape[depth] != len(x) {
				return fmt.Errorf("ragged array")
			}
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("not a number or array: %v", v)
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, nil, err
	}
	if shape == nil {
		shape = []int{}
	}
	return shape, data, nil
}

// inputs builds the graph's input and target from the case's numbers.
func (c *peerCase) inputs() (map[string]*tensor.Tensor, error) {
	shape, x, err := nested(c.Input)
	if err != nil {
		return nil, fmt.Errorf("input: %v", err)
	}
	if c.InputShape != nil {
		if tensor.NumElements(c.InputShape) != len(x) {
			return nil, fmt.Errorf("input_shape %v does not hold %d values", c.InputShape, len(x))
		}
		shape = c.InputShape
	}
	if c.InputBroadcast > 1 {
		if shape[0] != 1 {
			return nil, fmt.Errorf("input_broadcast needs a batch of one, input is %v", shape)
		}
		x = repeat(x, c.InputBroadcast)
		shape = append([]int{c.InputBroadcast}, shape[1:]...)
	}
	switch c.InputTransform {
	case "":
	case "tanh":
		for i := range x {
			x[i] = math.Tanh(x[i])
		}
	case "log_softmax":
		logSoftmax(x, shape)
	default:
		return nil, fmt.Errorf("unknown input_transform %q", c.InputTransform)
	}
	tshape, t, err := nested(c.Target)
	if err != nil {
		return nil, fmt.Errorf("target: %v", err)
	}
	if c.TargetShape != nil {
		if tensor.NumElements(c.TargetShape) != len(t) {
			return nil, fmt.Errorf("target_shape %v does not hold %d values", c.TargetShape, len(t))
		}
		tshape = c.TargetShape
	}
	in := map[string]*tensor.Tensor{"input": tensor.FromFloat32(shape, f32(x))}
	switch c.TargetForm {
	case "", "float":
		in["target"] = tensor.FromFloat32(tshape, f32(t))
	case "labels":
		y := make([]int64, len(t))
		for i, v := range t {
			y[i] = int64(v)
		}
		in["target"] = tensor.FromInt64(tshape, y)
	case "onehot":
		C, S := shape[1], len(t)/shape[0]
		oh := make([]float32, shape[0]*C*S)
		for i, v := range t {
			n, s := i/S, i%S
			if k := int(v); k >= 0 && k < C {
				oh[(n*C+k)*S+s] = 1
			}
		}
		in["target"] = tensor.FromFloat32(shape, oh)
	default:
		return nil, fmt.Errorf("unknown target_form %q", c.TargetForm)
	}
	return in, nil
}

func repeat(x []float64, n int) []float64 {
	out := make([]float64, 0, n*len(x))
	for i := 0; i < n; i++ {
		out = append(out, x...)
	}
	return out
}

// logSoftmax replaces x, shaped [N,C,*spatial], by its log-softmax over C.
func logSoftmax(x []float64, shape []int) {
	N, C := shape[0], shape[1]
	S := len(x) / (N * C)
	for n := 0; n < N; n++ {
		for s := 0; s < S; s++ {
			m := math.Inf(-1)
			for c := 0; c < C; c++ {
				m = math.Max(m, x[(n*C+c)*S+s])
			}
			sum := 0.0
			for c := 0; c < C; c++ {
				sum += math.Exp(x[(n*C+c)*S+s] - m)
			}
			for c := 0; c < C; c++ {
				x[(n*C+c)*S+s] -= m + math.Log(sum)
			}
		}
	}
}

func f32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// valueMismatch is run's error when the graph ran and its value is not
// the library's.
type valueMismatch struct{ msg string }

func (e *valueMismatch) Error() string { return e.msg }

// run exports the case's graph, runs it in ONNX Runtime and compares the
// loss with the library's expected value at the test's own tolerance; a
// wrong value is a *valueMismatch, anything else (bad data, options onnxloss
// refuses) another error.
func (c *peerCase) run() error {
	opts := losses.Options{}
	for k, v := range c.Options {
		opts[k] = v
	}
	if c.Preset != "" {
		opts["preset"] = c.Preset
	}
	in, err := c.inputs()
	if err != nil {
		return fmt.Errorf("case data: %v", err)
	}
	sess, err := losssession.Open(c.Loss, opts, runtime.Options{})
	if err != nil {
		return err
	}
	defer sess.Close()
	out, err := sess.Run(in)
	if err != nil {
		return err
	}
	got := out["loss"].Float64s()
	_, want, err := nested(c.Expected)
	if err != nil {
		return fmt.Errorf("expected: %v", err)
	}
	if len(got) != len(want) {
		return fmt.Errorf("loss has %d values (shape %v), the test expects %d", len(got), out["loss"].Shape, len(want))
	}
	for i := range got {
		g := got[i]
		if c.Compare == "1-loss" {
			g = 1 - g
		}
		d, e := math.Abs(g-want[i]), math.Abs(want[i])
		var tol float64
		switch c.Rule {
		case "allclose":
			tol = c.ATol + c.RTol*e
		case "approx":
			tol = math.Max(c.ATol, c.RTol*e)
		default:
			return fmt.Errorf("rule %q: want allclose or approx", c.Rule)
		}
		if !(d <= tol) {
			return &valueMismatch{fmt.Sprintf("value %d: onnxloss %.7g, the test expects %.7g (difference %.3g, tolerance %.3g)", i, g, want[i], d, tol)}
		}
	}
	return nil
}

// TestPeerUnitTests runs the loss unit tests of segmentation_models_pytorch,
// MONAI and kornia through onnxloss's presets: every case whose test states
// a value must reproduce it at the test's own tolerance, and every case
// listed as differing must still differ.
func TestPeerUnitTests(t *testing.T) {
	testutil.RequireRuntime(t)
	paths, err := filepath.Glob(filepath.Join(testutil.Root(t), "testdata", "peertests", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/peertests/*.json: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(testutil.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f peerFile
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(f.Commit) != 40 || len(f.Cases) == 0 {
			t.Fatalf("%s: needs the commit read (40 hex digits) and cases", path)
		}
		t.Run(f.Library, func(t *testing.T) {
			seen := map[string]bool{}
			pass, differ := 0, 0
			for _, c := range f.Cases {
				name := c.File + ":" + c.Test
				if seen[name] {
					t.Errorf("%s: two cases with this name", name)
				}
				seen[name] = true
				if c.RTol == 0 && c.ATol == 0 && c.Differs == "" {
					t.Errorf("%s: no tolerance", name)
				}
				err := c.run()
				switch {
				case c.Differs == "" && err != nil:
					t.Errorf("%s: %v", name, err)
				case c.Differs != "" && err == nil:
					t.Errorf("%s is listed as differing (%s) but now reproduces the library: remove differs", name, c.Differs)
				case c.Differs != "" && !errors.As(err, new(*valueMismatch)):
					t.Errorf("%s is listed as differing but does not run: %v", name, err)
				case c.Differs != "":
					differ++
					t.Logf("%s differs as listed: %v", name, err)
				default:
					pass++
				}
			}
			t.Logf("%s: %d of %d cases reproduced, %d differ as listed, %d tests state no value", f.Library, pass, len(f.Cases), differ, len(f.Unchecked))
			// The README's table of these counts must say the same.
			row := fmt.Sprintf("| %s (`%s`)", f.Library, f.Commit[:7])
			counts := fmt.Sprintf("| %d | %d | %d | %d |", len(f.Cases), pass, differ, len(f.Unchecked))
			found := false
			for _, line := range strings.Split(string(readme), "\n") {
				if strings.HasPrefix(line, row) {
					found = true
					if !strings.HasSuffix(line, counts) {
						t.Errorf("README's row for %s does not end with %s: %s", f.Library, counts, line)
					}
				}
			}
			if !found {
				t.Errorf("README has no row starting %s in its table of the libraries' unit tests", row)
			}
		})
	}
}
