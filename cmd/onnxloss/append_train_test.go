package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// TestAppendTrainCommand writes training graphs with and without an
// optimizer, checks them with ONNX's checker, runs them in ONNX Runtime,
// and checks the outputs' names and shapes against the parameters.
func TestAppendTrainCommand(t *testing.T) {
	dir := t.TempDir()
	grads := filepath.Join(dir, "grads.onnx")
	code, _, stderr := cli("append", "--model", committedModel(t, "fcn_small"), "cross-entropy", "--train", "--out", grads)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "110 trainable parameters") {
		t.Errorf("stderr: %s", stderr)
	}
	step := filepath.Join(dir, "step.onnx")
	code, _, stderr = cli("append", "--model", committedModel(t, "fcn_small"), "dice", "--train", "--optimizer", "momentum",
		"--lr", "0.01", "--weight-decay", "1e-4", "--freeze", "model.classifier.*", "--out", step)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	testutil.CheckONNX(t, grads, step)
	testutil.RequireRuntime(t)
	x := tensor.New(tensor.Float32, 2, 3, 32, 32)
	for i, d := 0, x.Data.([]float32); i < len(d); i++ {
		d[i] = float32(i%7) / 7
	}
	feeds := map[string]*tensor.Tensor{"image": x, "target": tensor.New(tensor.Int64, 2, 32, 32)}
	for _, path := range []string{grads, step} {
		lm, err := export.LoadModel(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := runtime.NewSessionFromFile(path, runtime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Run(feeds)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		outs := lm.Proto.Graph.Output
		if outs[0].GetName() != "loss" || len(res) != len(outs) {
			t.Fatalf("%s: outputs %d, first %q", path, len(res), outs[0].GetName())
		}
		shapes := map[string][]int64{}
		for _, init := range lm.Proto.Graph.Initializer {
			shapes[init.GetName()] = init.GetDims()
		}
		suffix := "_grad"
		if path == step {
			suffix = ".next"
		}
		n := 0
		for _, o := range outs[1:] {
			p, ok := strings.CutSuffix(o.GetName(), suffix)
			if !ok || strings.HasSuffix(p, ".momentum") {
				continue
			}
			n++
			got := res[o.GetName()].Shape
			want := shapes[p]
			if len(got) != len(want) {
				t.Fatalf("%s: %s has shape %v, its parameter %v", path, o.GetName(), got, want)
			}
			if path == step && strings.HasPrefix(p, "model.classifier.") {
				t.Errorf("%s: frozen %s trains", path, p)
			}
		}
		if n == 0 {
			t.Errorf("%s: no parameter outputs", path)
		}
	}
}

// TestAppendTrainUsage: training flags without --train, an optimizer
// without a learning rate, a --freeze that matches nothing and --out - are
// usage errors that leave no file.
func TestAppendTrainUsage(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "t.onnx")
	model := committedModel(t, "fcn_small")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--freeze", "x*"}, "--freeze needs --train"},
		{[]string{"--train", "--lr", "0.1"}, "--lr needs --optimizer"},
		{[]string{"--train", "--optimizer", "adamw"}, "--optimizer needs --lr"},
		{[]string{"--train", "--optimizer", "adam", "--lr", "0.1"}, `--optimizer "adam" is not one of`},
		{[]string{"--train", "--optimizer", "sgd", "--lr", "-1"}, "--lr must be positive"},
		{[]string{"--train", "--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.5"}, "--momentum applies to --optimizer momentum only"},
		{[]string{"--train", "--freeze", "nothing.*"}, `--freeze "nothing.*" matches no trainable parameter`},
		{[]string{"--train", "--freeze", "["}, "is not a valid pattern"},
	} {
		args := append([]string{"append", "--model", model, "dice", "--out", out}, tc.args...)
		code, _, stderr := cli(args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v left %s behind", tc.args, out)
		}
	}
	code, _, stderr := cli("append", "--model", model, "dice", "--train", "--out", "-")
	if code != 2 || !strings.Contains(stderr, "--train writes a file") {
		t.Errorf("--out -: exit %d, %s", code, stderr)
	}
}
