// Package testutil holds helpers shared by the project's tests: finding
// ONNX Runtime and Debian's Python with PyTorch and ONNX, running the
// project's Python scripts, and opening a loss in ONNX Runtime. Under CI
// (CI=true) a missing dependency fails the test instead of skipping it: a
// skipped test is not a pass.
package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	ort "github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips the test outside CI and fails it inside.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRuntime makes sure ONNX Runtime is loadable.
func RequireRuntime(t testing.TB) {
	t.Helper()
	if err := ort.Init(); err != nil {
		skipOrFail(t, "ONNX Runtime not available: %v", err)
	}
}

// Root returns the repository root (the folder holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	pythonOnce sync.Once
	pythonPath string
	pythonErr  string
)

// Python returns Debian's python3 with torch, torchvision, onnx and scipy
// importable. ONNXLOSS_PYTHON overrides the interpreter.
func Python(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		p := os.Getenv("ONNXLOSS_PYTHON")
		if p == "" {
			p = "/usr/bin/python3"
		}
		out, err := exec.Command(p, "-c", "import torch, torchvision, onnx, scipy, numpy").CombinedOutput()
		if err != nil {
			pythonErr = string(bytes.TrimSpace(out))
			if pythonErr == "" {
				pythonErr = err.Error()
			}
			return
		}
		pythonPath = p
	})
	if pythonPath == "" {
		skipOrFail(t, "python3 with torch, torchvision, onnx and scipy not available (install Debian's python3-torch python3-torchvision python3-onnx python3-scipy): %s", pythonErr)
	}
	return pythonPath
}

// RunScript runs a script of scripts/ with Debian's python and returns its
// standard output; the test fails with the script's output on error.
func RunScript(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{filepath.Join(Root(t), "scripts", script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s%s", script, args, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// CheckONNX runs ONNX's own checker (onnx.checker.check_model with
// full_check=True, which includes strict shape inference) on model files.
func CheckONNX(t testing.TB, paths ...string) {
	t.Helper()
	if len(paths) == 0 {
		return
	}
	RunScript(t, "check_onnx.py", paths...)
}

var (
	venvMu    sync.Mutex
	venvPaths = map[string]string{}
	venvErrs  = map[string]string{}
)

// Venv returns the python of the project-local virtual environment NAME
// (scripts/venv.sh NAME, from the pinned scripts/requirements/NAME.txt),
// creating it when missing or out of date. scripts/test.sh creates every
// environment before the tests run, so under CI this only checks it.
func Venv(t testing.TB, name string) string {
	t.Helper()
	venvMu.Lock()
	defer venvMu.Unlock()
	if p, ok := venvPaths[name]; ok {
		return p
	}
	if msg, ok := venvErrs[name]; ok {
		skipOrFail(t, "virtual environment %s: %s", name, msg)
		return ""
	}
	cmd := exec.Command(filepath.Join(Root(t), "scripts", "venv.sh"), name)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		venvErrs[name] = err.Error() + ": " + string(bytes.TrimSpace(stderr.Bytes()))
		skipOrFail(t, "virtual environment %s: %s", name, venvErrs[name])
		return ""
	}
	p := string(bytes.TrimSpace(stdout.Bytes()))
	venvPaths[name] = p
	return p
}

// RunVenvScript runs a script of scripts/ with the python of the virtual
// environment NAME and returns its standard output; the test fails with the
// script's output on error.
func RunVenvScript(t testing.TB, name, script string, args ...string) []byte {
	t.Helper()
	py := Venv(t, name)
	cmd := exec.Command(py, append([]string{filepath.Join(Root(t), "scripts", script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v (venv %s): %v\n%s%s", script, args, name, err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// OpenGraph wraps a builder graph into a model, checks its structure and
// opens it in ONNX Runtime (symbolic dimensions are checked by Run).
func OpenGraph(t testing.TB, g *builder.Graph) *ort.Session {
	t.Helper()
	RequireRuntime(t)
	m, err := export.Model(g, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := export.Check(m); err != nil {
		t.Fatal(err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(b, ort.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RunGraph runs a builder graph once in ONNX Runtime (see OpenGraph) and
// returns its output named out.
func RunGraph(t testing.TB, g *builder.Graph, inputs map[string]*tensor.Tensor, out string) *tensor.Tensor {
	t.Helper()
	res, err := OpenGraph(t, g).Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	return res[out]
}
