package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCommandLine feeds arbitrary command lines (words separated by
// spaces) to list, describe and export. The command never panics, exits
// with 0, 1 or 2, and leaves no file behind when it fails.
func FuzzCommandLine(f *testing.F) {
	f.Add("export dice --classes 3 --classes 5")
	f.Add("export focal --gamma 0 --normalized")
	f.Add("export cross-entropy --class-weights 1,,2 --ignore-index 255")
	f.Add("export balanced-bce --beta 0.7 --mode multilabel --classes 2")
	f.Add("describe ssim --json")
	f.Add("list --markdown")
	f.Add("export tversky --preset kornia --mode multiclass --alpha 0.2")
	f.Add("export bce --pos-weight=3.4e38 --label-smoothing 0.5 --grad")
	dir := f.TempDir()
	out := filepath.Join(dir, "out.onnx")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		if len(args) == 0 {
			return
		}
		switch args[0] {
		case "list", "describe":
		case "export":
			// Every export writes to the one file of the test.
			for i := range args {
				if args[i] == "--out" || strings.HasPrefix(args[i], "--out=") {
					return
				}
			}
			args = append(args, "--out", out)
		default:
			return
		}
		os.Remove(out)
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		if code < 0 || code > 2 {
			t.Fatalf("%q: exit %d", line, code)
		}
		if code != 0 {
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("%q failed (exit %d) and left %s", line, code, out)
			}
			if stderr.Len() == 0 {
				t.Fatalf("%q: exit %d without a message", line, code)
			}
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "out.onnx" {
				t.Fatalf("%q left %s behind", line, e.Name())
			}
		}
	})
}
