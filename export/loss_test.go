package export_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/verify"
)

var update = flag.Bool("update", false, "rewrite the golden models in testdata/onnx/golden")

// TestONNXCheckerAcceptsEveryLoss exports every loss in every configuration
// the verification suite covers, at opsets 13 and 17, and runs ONNX's own
// checker (full_check, with strict shape inference) on all of them.
func TestONNXCheckerAcceptsEveryLoss(t *testing.T) {
	testutil.Python(t)
	dir := t.TempDir()
	var paths []string
	for _, s := range losses.All() {
		for _, opset := range []string{"13", "17"} {
			for i, c := range verify.Configs(s, losses.Options{"opset": opset}) {
				m, _, err := export.Loss(s.Name, c.Options)
				if err != nil {
					t.Errorf("%s %s: %v", s.Name, c.Label, err)
					continue
				}
				p := filepath.Join(dir, s.Name+"_"+opset+"_"+itoa(i)+".onnx")
				if err := export.Save(p, m); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
		}
	}
	out := testutil.RunScript(t, "check_onnx.py", paths...)
	t.Logf("%s", bytes.TrimSpace(out))
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestDeterministic checks that the same options give the same bytes.
func TestDeterministic(t *testing.T) {
	for _, s := range losses.All() {
		for _, m := range s.Modes {
			a := exportBytes(t, s.Name, losses.Options{"mode": string(m)})
			b := exportBytes(t, s.Name, losses.Options{"mode": string(m)})
			if !bytes.Equal(a, b) {
				t.Errorf("%s %s: two exports differ", s.Name, m)
			}
		}
	}
}

func exportBytes(t *testing.T, name string, o losses.Options) []byte {
	t.Helper()
	m, _, err := export.Loss(name, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden compares each loss's default export in each mode with the file
// in testdata/onnx/golden, so unintended changes to exported graphs show up
// in review. Run `go test ./export -run TestGolden -update` after an
// intended change.
func TestGolden(t *testing.T) {
	dir := filepath.Join(testutil.Root(t), "testdata", "onnx", "golden")
	want := map[string]bool{}
	for _, s := range losses.All() {
		for _, m := range s.Modes {
			name := s.Name + "_" + string(m) + ".onnx"
			want[name] = true
			got := exportBytes(t, s.Name, losses.Options{"mode": string(m)})
			path := filepath.Join(dir, name)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := export.WriteFile(path, got); err != nil {
					t.Fatal(err)
				}
				continue
			}
			old, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: no golden file (run go test ./export -run TestGolden -update): %v", name, err)
				continue
			}
			if !bytes.Equal(old, got) {
				t.Errorf("%s: the exported graph changed; if intended, run go test ./export -run TestGolden -update", name)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	for _, f := range files {
		if !want[filepath.Base(f)] && !*update {
			t.Errorf("%s: golden file of no registered loss and mode", filepath.Base(f))
		} else if !want[filepath.Base(f)] {
			os.Remove(f)
		}
	}
}
