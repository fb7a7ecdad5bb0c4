package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
	"github.com/onnxloss/onnxloss/train"
)

func shapesDir(t *testing.T, n, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := train.WriteDir(dir, train.Shapes(n, size, 1)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTrainCommand trains the small FCN for two epochs and checks the
// report, the checkpoint (an inference model that ONNX Runtime runs, with
// weights that differ from the model's) and its state file.
func TestTrainCommand(t *testing.T) {
	testutil.RequireRuntime(t)
	data := shapesDir(t, 24, 24)
	out := filepath.Join(t.TempDir(), "tuned.onnx")
	model := committedModel(t, "fcn_small")
	code, _, stderr := cli("train", "--model", model, "cross-entropy", "--data", data, "--epochs", "2", "--batch", "8",
		"--lr", "3e-3", "--out", out, "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"before training: held-out mIoU", "epoch 2/2: held-out mIoU", "wrote checkpoint " + out, "trained 6 steps (110 parameters, 0 frozen)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(out + train.StateSuffix); err != nil {
		t.Error(err)
	}
	s, err := runtime.NewSessionFromFile(out, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Run(map[string]*tensor.Tensor{"image": tensor.New(tensor.Float32, 1, 3, 24, 24)})
	if err != nil || res["out"] == nil {
		t.Fatalf("the checkpoint does not run: %v", err)
	}
	orig, _ := export.LoadModel(model)
	tuned, _ := export.LoadModel(out)
	if len(orig.Proto.Graph.Node) != len(tuned.Proto.Graph.Node) || len(orig.Proto.Graph.Input) != len(tuned.Proto.Graph.Input) {
		t.Errorf("the checkpoint is not the model's graph")
	}
	changed := 0
	for i, init := range orig.Proto.Graph.Initializer {
		if string(init.GetRawData()) != string(tuned.Proto.Graph.Initializer[i].GetRawData()) {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no weight changed")
	}
}

// TestTrainUsage: missing and bad flags are usage errors.
func TestTrainUsage(t *testing.T) {
	data := shapesDir(t, 4, 8)
	model := committedModel(t, "fcn_small")
	out := filepath.Join(t.TempDir(), "o.onnx")
	base := []string{"train", "--model", model, "dice", "--data", data, "--epochs", "1", "--batch", "2", "--lr", "0.01", "--out", out}
	for _, tc := range []struct {
		drop, add []string
		want      string
	}{
		{[]string{"--data"}, nil, "--data is required"},
		{[]string{"--epochs"}, nil, "--epochs is required"},
		{nil, []string{"--epochs", "0"}, `--epochs "0" is not an integer of at least 1`},
		{nil, []string{"--batch", "x"}, `--batch "x" is not an integer`},
		{nil, []string{"--lr", "nan"}, "not a finite number"},
		{nil, []string{"--val-fraction", "1"}, "--val-fraction must be in (0, 1)"},
		{nil, []string{"--provider", "tpu"}, `--provider "tpu" is not cpu or cuda`},
		{nil, []string{"--resume", out}, "--model and --resume exclude each other"},
		{nil, []string{"--optimizer", "adam"}, `--optimizer "adam" is not one of`},
		{nil, []string{"--freeze", "zzz*"}, `--freeze "zzz*" matches no trainable parameter`},
		{nil, []string{"--data", model}, "is not a folder"},
	} {
		args := []string{}
		for i := 0; i < len(base); i++ {
			if len(tc.drop) > 0 && base[i] == tc.drop[0] {
				i++
				continue
			}
			args = append(args, base[i])
		}
		for i := 0; i+1 < len(tc.add); i += 2 {
			replaced := false
			for j := range args {
				if args[j] == tc.add[i] {
					args[j+1] = tc.add[i+1]
					replaced = true
				}
			}
			if !replaced {
				args = append(args, tc.add[i], tc.add[i+1])
			}
		}
		code, _, stderr := cli(args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v %v: exit %d, %q; want 2 and %q", tc.drop, tc.add, code, stderr, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%v %v left %s", tc.drop, tc.add, out)
		}
	}
}

// TestTrainInterrupt sends SIGINT to a training process after its first
// step: it writes the checkpoint, says how to resume, and exits 1; a
// resumed run then finishes.
func TestTrainInterrupt(t *testing.T) {
	testutil.RequireRuntime(t)
	bin := filepath.Join(t.TempDir(), "onnxloss")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	data := shapesDir(t, 40, 24)
	out := filepath.Join(t.TempDir(), "ck.onnx")
	model := committedModel(t, "fcn_small")
	cmd := exec.Command(bin, "train", "--model", model, "dice", "--data", data, "--epochs", "3", "--batch", "4",
		"--lr", "1e-3", "--out", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !sent && strings.HasPrefix(sc.Text(), "epoch 1/3") {
			time.Sleep(10 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "resume with --resume "+out) {
		t.Fatalf("no resume hint:\n%s", log.String())
	}
	code, _, msg := cli("train", "--resume", out, "dice", "--data", data, "--epochs", "3", "--batch", "4", "--lr", "1e-3", "--out", out)
	if code != 0 || !strings.Contains(msg, "trained 24 steps") {
		t.Fatalf("resume: exit %d\n%s", code, msg)
	}
}
