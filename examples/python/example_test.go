// Package example_test runs the Python example train_with_artifacts.py.
package example_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/onnxloss/onnxloss/internal/testutil"
)

// TestTrainWithArtifacts runs the example in the torch-training environment
// (scripts/venv.sh torch-training: Debian's torch plus ONNX Runtime
// training) with the onnxloss package of this checkout, and checks that the
// Dice loss it prints falls to less than half of its first value, on the
// training batch and on the held-out one.
func TestTrainWithArtifacts(t *testing.T) {
	py := testutil.Venv(t, "torch-training")
	root := testutil.Root(t)
	tmp := t.TempDir()

	// The package from python/, with a binary built from this checkout as
	// its wheel would carry (ONNXLOSS_BINARY), so the test needs no wheel
	// build.
	bin := filepath.Join(tmp, "onnxloss")
	build := exec.Command("go", "build", "-o", bin, "./cmd/onnxloss")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(py, filepath.Join(root, "examples", "python", "train_with_artifacts.py"),
		"--steps", "30", "--out", filepath.Join(tmp, "out"))
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "ONNXLOSS_BINARY="+bin, "PYTHONPATH="+filepath.Join(root, "python"),
		"PYTHONDONTWRITEBYTECODE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("train_with_artifacts.py: %v\n%s", err, out.String())
	}
	t.Logf("the example ran in %.1f s", time.Since(start).Seconds())

	num := func(re string) float64 {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("output lacks %s:\n%s", re, out.String())
		}
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	first := num(`step +0 +dice loss ([0-9.]+)`)
	last := num(`step +29 +dice loss ([0-9.]+)`)
	heldOut := num(`held-out dice loss ([0-9.]+)`)
	if !(first > 0.5 && last < first/2 && heldOut < first/2) {
		t.Errorf("the loss did not fall: first %.4f, last %.4f, held out %.4f\n%s", first, last, heldOut, out.String())
	}
	// The spliced loss shows its named quantities.
	if !bytes.Contains(out.Bytes(), []byte("onnxloss/dice/intersection")) {
		t.Errorf("the example shows no named loss nodes:\n%s", out.String())
	}
}
