package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

// cli runs one command line and returns the exit status and both streams.
func cli(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range commands {
		for _, form := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, out, _ := cli(form...)
			if code != 0 || !strings.Contains(out, "Usage: onnxloss "+c.name) {
				t.Errorf("%v: exit %d, output %q", form, code, out)
			}
		}
	}
	if code, out, _ := cli("help"); code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, _, errOut := cli(); code != 2 || !strings.Contains(errOut, "Usage") {
		t.Errorf("no arguments: %d %q", code, errOut)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.onnx")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"exprot"}, `did you mean "export"`},
		{[]string{"export", "dcie", "--out", out}, "unknown loss"},
		{[]string{"export", "focal", "--gama", "2", "--out", out}, "did you mean --gamma"},
		{[]string{"export", "focal", "--gamma", "-1", "--out", out}, "out of range"},
		{[]string{"export", "focal"}, "--out FILE is required"},
		{[]string{"export", "--gamma", "2", "focal", "--out", out}, "after the loss name"},
		{[]string{"export", "focal", "--out"}, "needs a value"},
		{[]string{"export", "cross-entropy", "--class-weights", "1,x", "--out", out}, "not a finite number"},
		{[]string{"describe"}, "name one loss"},
		{[]string{"list", "--family", "nope"}, "no family"},
		{[]string{"list", "--json", "--markdown"}, "choose one"},
		{[]string{"verify"}, "give --all"},
		{[]string{"bench", "bce"}, "--shape"},
		{[]string{"bench", "bce", "--shape", "8,x"}, "not a positive integer"},
		{[]string{"eval", "bce"}, "--input and --target are required"},
		{[]string{"export", "dice", "--classes", "3", "--classes", "5", "--out", out}, "--classes given twice"},
		{[]string{"export", "dice", "--smooth-nr", "1", "--smooth_nr", "2", "--out", out}, "given twice"},
		{[]string{"export", "cross-entropy", "--class-weights", "1,,2", "--out", out}, "is empty"},
		{[]string{"export", "cross-entropy", "--class-weights", "1e39,1", "--out", out}, "float32"},
		{[]string{"export", "dice", "--smooth-nr", "1e300", "--out", out}, "float32"},
		{[]string{"export", "dice", "--smooth-nr", "1e-50", "--out", out}, "float32"},
		{[]string{"export", "balanced-bce", "--beta", "0.7", "--out", out}, "--beta-from fixed"},
		{[]string{"export", "bce", "--mean-over", "all", "--out", out}, "--ignore-index"},
		{[]string{"bench", "cross-entropy", "--shape", "99999,99999,99999,99999"}, "overflows a 64-bit count of bytes"},
		{[]string{"bench", "cross-entropy", "--shape", "1000,1000,1000,1000"}, "the inputs alone take 4008000000000 bytes"},
		{[]string{"bench", "--all", "--shape", "1000x1x1000x1000x1000"}, "GB) of memory available"},
		{[]string{"bench", "dice", "--shape", "2,1,8,8", "--spatial-dims", "3"}, "has 2 spatial dimensions and --spatial-dims is 3"},
	}
	for _, tc := range tests {
		code, _, errOut := cli(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v left %s behind", tc.args, out)
		}
	}
}

func TestExportWritesModel(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ce.onnx")
	code, _, errOut := cli("export", "cross-entropy", "--classes", "21", "--ignore-index", "255", "--label-smoothing", "0.1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"wrote " + out, "input:float32[N,21,H,W]", "target:int64[N,H,W]", "loss:float32[]", "opset 17"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("summary %q lacks %q", errOut, w)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) == 0 {
		t.Fatalf("no model written: %v", err)
	}
	// Same options, same bytes; the output to stdout is the same file.
	_, stdout, _ := cli("export", "cross-entropy", "--classes", "21", "--ignore-index", "255", "--label-smoothing", "0.1", "--out", "-")
	if stdout != string(b) {
		t.Error("--out - differs from the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestExportFailureLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "missing", "x.onnx")
	code, _, errOut := cli("export", "bce", "--out", out)
	if code != 1 || !strings.Contains(errOut, "x.onnx") {
		t.Errorf("exit %d, %q; want 1 naming the file", code, errOut)
	}
	// A file that exists stays intact when the new export fails to build.
	keep := filepath.Join(dir, "keep.onnx")
	os.WriteFile(keep, []byte("old"), 0o644)
	code, _, _ = cli("export", "cross-entropy", "--label-smoothing", "0.1", "--out", keep)
	if b, _ := os.ReadFile(keep); code != 2 || string(b) != "old" {
		t.Errorf("exit %d; file now %q", code, b)
	}
}

func TestListAndDescribe(t *testing.T) {
	code, out, _ := cli("list")
	if code != 0 {
		t.Fatal(code)
	}
	for _, s := range losses.All() {
		if !strings.Contains(out, s.Name) {
			t.Errorf("list lacks %s", s.Name)
		}
	}
	code, out, _ = cli("list", "--json")
	var entries []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != len(losses.All()) {
		t.Errorf("list --json: %d %q", code, out)
	}
	for _, s := range losses.All() {
		code, out, _ := cli("describe", s.Name)
		if code != 0 {
			t.Errorf("describe %s: exit %d", s.Name, code)
			continue
		}
		for _, p := range s.Params {
			if !strings.Contains(out, "--"+strings.ReplaceAll(p.Name, "_", "-")) {
				t.Errorf("describe %s lacks parameter %s", s.Name, p.Name)
			}
		}
		for _, p := range s.Presets {
			if !strings.Contains(out, p.Name+":") {
				t.Errorf("describe %s lacks preset %s", s.Name, p.Name)
			}
		}
		if !strings.Contains(out, s.Citation[:20]) {
			t.Errorf("describe %s lacks the citation", s.Name)
		}
		code, out, _ = cli("describe", s.Name, "--json")
		var d map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &d) != nil || d["name"] != s.Name {
			t.Errorf("describe %s --json: %d", s.Name, code)
		}
	}
}

// TestREADMETable fails when the README's loss table is not what
// `onnxloss list --markdown` prints.
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- losses:begin -->\n", "<!-- losses:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	if got, want := s[i+len(begin):j], MarkdownTable(losses.All()); got != want {
		t.Errorf("README loss table is out of date; replace it with the output of `onnxloss list --markdown`:\n%s", want)
	}
}

func TestEvalAndVerify(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	x := tensor.FromFloat32([]int{1, 3, 2, 2}, []float32{2, 0, 0, 1, 0, 2, 1, 0, 0, 0, 3, 0})
	y := tensor.FromInt64([]int{1, 2, 2}, []int64{0, 1, 2, 1})
	tensor.SaveNPY(filepath.Join(dir, "x.npy"), x)
	tensor.SaveNPY(filepath.Join(dir, "y.npy"), y)
	code, out, errOut := cli("eval", "cross-entropy", "--input", filepath.Join(dir, "x.npy"), "--target", filepath.Join(dir, "y.npy"),
		"--out", filepath.Join(dir, "loss.npy"))
	if code != 0 || !strings.Contains(out, "loss (ONNX Runtime)") || !strings.Contains(out, "loss (Go reference)") {
		t.Fatalf("eval: %d\n%s%s", code, out, errOut)
	}
	saved, err := tensor.LoadNPY(filepath.Join(dir, "loss.npy"))
	if err != nil || len(saved.Shape) != 0 {
		t.Errorf("saved loss: %v %v", saved, err)
	}
	// A wrong dtype is reported with the input's name.
	code, _, errOut = cli("eval", "cross-entropy", "--dtype", "float16", "--input", filepath.Join(dir, "x.npy"), "--target", filepath.Join(dir, "y.npy"))
	if code != 1 || !strings.Contains(errOut, "input") {
		t.Errorf("eval with the wrong dtype: %d %q", code, errOut)
	}
	code, out, errOut = cli("verify", "bce", "topk-ce")
	if code != 0 || !strings.Contains(out, "bce") || !strings.Contains(out, "ok") {
		t.Errorf("verify: %d\n%s%s", code, out, errOut)
	}
}

// TestDescribeSaysWhenParametersMatter: describe states each parameter's
// condition, in text and JSON, as Resolve enforces it.
func TestDescribeSaysWhenParametersMatter(t *testing.T) {
	code, out, _ := cli("describe", "balanced-bce")
	if code != 0 || !strings.Contains(out, "Has an effect only with --beta-from fixed") {
		t.Errorf("describe: exit %d, output %q", code, out)
	}
	code, out, _ = cli("describe", "balanced-bce", "--json")
	var d struct {
		Params []struct{ Name, Matters string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("describe --json: exit %d", code)
	}
	found := false
	for _, p := range d.Params {
		if p.Name == "beta" {
			found = p.Matters == "--beta-from fixed"
		}
	}
	if !found {
		t.Errorf("describe --json: beta's condition missing: %s", out)
	}
}
