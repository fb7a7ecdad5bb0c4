package onnxgo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	onnx "github.com/owulveryck/onnx-go"
	"github.com/owulveryck/onnx-go/backend/simple"
)

// onnxloss is the command built from this repository by TestMain.
var onnxloss string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onnxgo-interop")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	onnxloss = filepath.Join(dir, "onnxloss")
	build := exec.Command("go", "build", "-o", onnxloss, "./cmd/onnxloss")
	build.Dir = repoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building onnxloss: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the onnxloss repository holding this module.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// run runs the onnxloss command and fails the test on an error.
func run(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(onnxloss, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("onnxloss %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// decode unmarshals a model with onnx-go into its simple (gonum) graph
// backend and returns the number of graph nodes it built. A panic inside
// onnx-go comes back as an error starting with "panic".
func decode(b []byte) (nodes int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	g := simple.NewSimpleGraph()
	if err := onnx.NewModel(g).UnmarshalBinary(b); err != nil {
		return 0, err
	}
	return g.Nodes().Len(), nil
}

// tally counts the outcomes of decoding.
type tally struct {
	decoded int
	// subgraphs counts the models onnx-go v0.5.0 cannot read because a node
	// attribute holds a graph (the body of a Loop, as in the distance
	// losses): its decoder stops with "AttributeProto_GRAPH not handled yet".
	subgraphs int
}

// check decodes one model file. The only failure it accepts is the one
// onnx-go gives for node attributes holding graphs, and only for a model
// that has such an attribute, which is read from the bytes independently of
// onnx-go. (onnx-go also panics on tensors with zero elements; onnxloss
// writes none, and a model with one fails here.)
func (ty *tally) check(t *testing.T, label, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := decode(b)
	f, ferr := scanModel(b)
	if ferr != nil {
		t.Errorf("%s: scanning the model: %v", label, ferr)
		return
	}
	switch {
	case err == nil && nodes > 0:
		ty.decoded++
	case err == nil:
		t.Errorf("%s: onnx-go built an empty graph", label)
	case f.graphAttrs > 0 && strings.Contains(err.Error(), "AttributeProto_GRAPH not handled yet"):
		ty.subgraphs++
	default:
		t.Errorf("%s: onnx-go: %v (model: %d graph attributes, %d empty tensors)", label, err, f.graphAttrs, f.emptyTensors)
	}
}

func (ty *tally) log(t *testing.T, what string) {
	t.Logf("onnx-go decoded %d %s; it cannot read the %d with Loop bodies", ty.decoded, what, ty.subgraphs)
	if ty.decoded == 0 {
		t.Errorf("onnx-go decoded none of the %s", what)
	}
}

type lossEntry struct {
	Name  string   `json:"name"`
	Modes []string `json:"modes"`
}

// TestExportedLossesDecode exports every loss in every mode at opsets 13
// and 17 (with the number of classes left to run time and fixed) and decodes
// each file with onnx-go.
func TestExportedLossesDecode(t *testing.T) {
	var list []lossEntry
	if err := json.Unmarshal(run(t, "list", "--json"), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		t.Fatal("onnxloss list --json lists no losses")
	}
	dir := t.TempDir()
	var ty tally
	for _, l := range list {
		for _, mode := range l.Modes {
			for _, opset := range []string{"13", "17"} {
				args := []string{"export", l.Name, "--mode", mode, "--opset", opset, "--quiet"}
				variants := [][]string{nil}
				if mode != "binary" {
					variants = append(variants, []string{"--classes", "3"})
				}
				for i, v := range variants {
					p := filepath.Join(dir, fmt.Sprintf("%s_%s_%s_%d.onnx", l.Name, mode, opset, i))
					run(t, append(append(args, "--out", p), v...)...)
					ty.check(t, filepath.Base(p), p)
				}
			}
		}
	}
	ty.log(t, "exported losses")
}

// TestSplicedModelsDecode splices losses onto the PyTorch exports committed
// in testdata/onnx/models and decodes the results (and the exports
// themselves) with onnx-go.
func TestSplicedModelsDecode(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join(repoRoot(), "testdata", "onnx", "models", "*.onnx"))
	if len(models) == 0 {
		t.Fatal("no models in testdata/onnx/models")
	}
	dir := t.TempDir()
	var exports, spliced tally
	for _, model := range models {
		base := filepath.Base(model)
		exports.check(t, base+" as PyTorch exported it", model)
		binary := base == "sigmoid_binary.onnx"
		cases := [][]string{{"focal"}, {"dice", "--keep-outputs"}, {"tversky", "--use-activation-output"}, {"lovasz-softmax", "--mode", "multiclass"}, {"boundary"}}
		if binary {
			cases[3] = []string{"lovasz-hinge"}
		}
		if binary {
			cases = append(cases, []string{"bce", "--target-name", "labels"})
		} else {
			cases = append(cases, []string{"cross-entropy", "--ignore-index", "255"}, []string{"bce", "--mode", "multilabel"})
		}
		for i, c := range cases {
			p := filepath.Join(dir, fmt.Sprintf("%s_%d.onnx", strings.TrimSuffix(base, ".onnx"), i))
			run(t, append([]string{"append", "--model", model, "--out", p, "--quiet"}, c...)...)
			spliced.check(t, fmt.Sprintf("%s + %v", base, c), p)
		}
	}
	exports.log(t, "PyTorch exports")
	if exports.subgraphs > 0 {
		t.Errorf("onnx-go could not read %d of the PyTorch exports", exports.subgraphs)
	}
	spliced.log(t, "spliced models")
}
