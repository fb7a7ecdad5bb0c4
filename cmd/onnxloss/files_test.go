package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/tensor"
)

// copyModel copies a committed model and its external data file (if any)
// into dir, so that a test may try to overwrite them.
func copyModel(t *testing.T, name, dir string) string {
	t.Helper()
	src := committedModel(t, name)
	for _, p := range []string{src, src + ".data"} {
		in, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, filepath.Base(p)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return filepath.Join(dir, name+".onnx")
}

// TestOutputFileRules checks the rules every command's output follows: a
// read-only file, a folder and (as root) /dev/null are refused with exit
// status 1 and left as they were; a symbolic link is written through and
// kept.
func TestOutputFileRules(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro.onnx")
	if err := os.WriteFile(ro, []byte("keep"), 0o444); err != nil {
		t.Fatal(err)
	}
	fcn := committedModel(t, "fcn_small")
	for _, args := range [][]string{
		{"export", "bce", "--out", ro},
		{"append", "--model", fcn, "focal", "--out", ro},
	} {
		code, _, stderr := cli(args...)
		if code != 1 || !strings.Contains(stderr, "read-only") {
			t.Errorf("%v: exit %d, %q; want 1, read-only", args, code, stderr)
		}
	}
	if b, _ := os.ReadFile(ro); string(b) != "keep" {
		t.Error("a read-only file was replaced")
	}
	if code, _, stderr := cli("export", "bce", "--out", dir); code != 1 || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("export to a folder: exit %d, %q", code, stderr)
	}

	real := filepath.Join(dir, "real.onnx")
	os.WriteFile(real, []byte("old"), 0o600)
	link := filepath.Join(dir, "link.onnx")
	if err := os.Symlink("real.onnx", link); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli("export", "bce", "--out", link, "--quiet"); code != 0 {
		t.Fatalf("export through a link: exit %d, %s", code, stderr)
	}
	st, err := os.Lstat(link)
	if err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced")
	}
	if b, _ := os.ReadFile(real); len(b) < 100 {
		t.Errorf("the link's target holds %q", b)
	}
	if st, _ := os.Stat(real); st.Mode().Perm() != 0o600 {
		t.Errorf("the target's mode is now %v, want 0600", st.Mode().Perm())
	}

	if os.Geteuid() == 0 {
		for _, args := range [][]string{
			{"export", "bce", "--out", "/dev/null"},
			{"append", "--model", fcn, "focal", "--out", "/dev/null"},
		} {
			code, _, stderr := cli(args...)
			if code != 1 || !strings.Contains(stderr, "not a regular file") {
				t.Errorf("%v: exit %d, %q", args, code, stderr)
			}
		}
		if st, err := os.Stat("/dev/null"); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("/dev/null is no longer a device: %v", err)
		}
	}
}

// TestAppendRefusesItsInputs checks that append will not write over the
// model it reads or over one of its external data files (exit status 2),
// and leaves them as they were.
func TestAppendRefusesItsInputs(t *testing.T) {
	dir := t.TempDir()
	model := copyModel(t, "sigmoid_binary", dir)
	data := model + ".data"
	before, _ := os.ReadFile(model)
	beforeData, _ := os.ReadFile(data)
	if err := os.Symlink(filepath.Base(model), filepath.Join(dir, "link.onnx")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ out, want string }{
		{model, "the model being read"},
		{filepath.Join(dir, "link.onnx"), "the model being read"},
		{data, `external data file "sigmoid_binary.onnx.data"`},
	} {
		code, _, stderr := cli("append", "--model", model, "focal", "--out", tc.out)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("--out %s: exit %d, %q; want 2 naming %s", tc.out, code, stderr, tc.want)
		}
	}
	if after, _ := os.ReadFile(model); !bytes.Equal(before, after) {
		t.Error("the model changed")
	}
	if after, _ := os.ReadFile(data); !bytes.Equal(beforeData, after) {
		t.Error("the external data changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("the folder holds %d entries, want 3", len(entries))
	}
}

// TestEvalRefusesOverwritingInputs checks that eval's --out and --grad-out
// may not name a file it reads, or each other (exit status 2).
func TestEvalRefusesOverwritingInputs(t *testing.T) {
	dir := t.TempDir()
	x, y := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := tensor.SaveNPY(x, tensor.FromFloat32([]int{1, 1, 2, 2}, []float32{1, 2, 3, 4})); err != nil {
		t.Fatal(err)
	}
	if err := tensor.SaveNPY(y, tensor.FromFloat32([]int{1, 1, 2, 2}, []float32{0, 1, 1, 0})); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(x)
	g := filepath.Join(dir, "g.npy")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", x}, "--out " + x + " is the same file as --input"},
		{[]string{"--grad-out", filepath.Join(dir, ".", "y.npy")}, "same file as --target"},
		{[]string{"--out", g, "--grad-out", g}, "--grad-out " + g + " is the same file as --out"},
	} {
		args := append([]string{"eval", "bce", "--input", x, "--target", y}, tc.args...)
		code, _, stderr := cli(args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 mentioning %q", tc.args, code, stderr, tc.want)
		}
	}
	if after, _ := os.ReadFile(x); !bytes.Equal(before, after) {
		t.Error("the input changed")
	}
}
