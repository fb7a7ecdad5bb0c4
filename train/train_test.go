package train_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/train"
)

func committed(t *testing.T, name string) string {
	return filepath.Join(testutil.Root(t), "testdata", "onnx", "models", name+".onnx")
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestTrainShapes fine-tunes the small FCN on synthetic shapes: the loss
// falls and the held-out mIoU rises.
func TestTrainShapes(t *testing.T) {
	testutil.RequireRuntime(t)
	out := filepath.Join(t.TempDir(), "ckpt.onnx")
	res, err := train.Run(context.Background(), train.Config{
		Model: committed(t, "fcn_small"), Loss: "cross-entropy", Samples: train.Shapes(48, 32, 1),
		Epochs: 4, Batch: 8, LR: 3e-3, Out: out, Seed: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	first, last := mean(res.Loss[:3]), mean(res.Loss[len(res.Loss)-3:])
	e0, e1 := res.Evals[0], res.Evals[len(res.Evals)-1]
	t.Logf("loss %.3f -> %.3f, mIoU %.3f -> %.3f, Dice %.3f -> %.3f", first, last, e0.MIoU, e1.MIoU, e0.Dice, e1.Dice)
	if !(last < 0.8*first) {
		t.Errorf("the loss fell from %.3f to %.3f only", first, last)
	}
	if !(e1.MIoU > e0.MIoU+0.05) {
		t.Errorf("mIoU went from %.3f to %.3f", e0.MIoU, e1.MIoU)
	}
}

// TestResume interrupts a run in the middle of an epoch and resumes it
// from the checkpoint: the resumed run takes the steps that were left, on
// the same batches, and ends with the losses and scores of a run that was
// never interrupted.
func TestResume(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	data := train.Shapes(20, 16, 3)
	cfg := train.Config{Model: committed(t, "fcn_small"), Loss: "dice", Samples: data, Epochs: 2, Batch: 4, LR: 1e-3, Seed: 5, Threads: 1}
	full := cfg
	full.Out = filepath.Join(dir, "full.onnx")
	want, err := train.Run(context.Background(), full)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	part := cfg
	part.Out = filepath.Join(dir, "part.onnx")
	part.Progress = func(e train.Event) {
		if e.Kind == "step" && e.Total == 6 {
			cancel()
		}
	}
	res, err := train.Run(ctx, part)
	if !errors.Is(err, train.ErrInterrupted) || !res.Interrupted || res.Steps != 6 {
		t.Fatalf("interrupted run: err %v, steps %d", err, res.Steps)
	}
	resumed := cfg
	resumed.Resume = part.Out
	resumed.Out = filepath.Join(dir, "resumed.onnx")
	got, err := train.Run(context.Background(), resumed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Steps != want.Steps || len(got.Loss) != len(want.Loss) {
		t.Fatalf("resumed: %d steps and %d losses, want %d", got.Steps, len(got.Loss), want.Steps)
	}
	for i := range want.Loss {
		if math.Abs(got.Loss[i]-want.Loss[i]) > 1e-5*math.Abs(want.Loss[i]) {
			t.Errorf("step %d: loss %v, uninterrupted %v", i+1, got.Loss[i], want.Loss[i])
		}
	}
	g, w := got.Evals[len(got.Evals)-1], want.Evals[len(want.Evals)-1]
	if math.Abs(g.MIoU-w.MIoU) > 1e-3 {
		t.Errorf("final mIoU %v, uninterrupted %v", g.MIoU, w.MIoU)
	}
}

// TestBadLabels: a label outside the model's classes is refused before any
// step, naming the sample and the label; with it as the ignore index the
// run goes through.
func TestBadLabels(t *testing.T) {
	testutil.RequireRuntime(t)
	data := train.Shapes(6, 8, 4)
	data[3].Label.Data.([]int64)[5] = 9
	cfg := train.Config{Model: committed(t, "fcn_small"), Loss: "cross-entropy", Samples: data, Epochs: 1, Batch: 2, LR: 1e-3,
		Out: filepath.Join(t.TempDir(), "ckpt.onnx")}
	_, err := train.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), data[3].Name+".label.npy: label[0,5] = 9 is not a class in [0, 3)") {
		t.Fatalf("error %v", err)
	}
	cfg.LossOptions = map[string]string{"ignore_index": "9"}
	if _, err := train.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

// TestRefusesTargetsItCannotFeed: the trainer feeds class-index labels, so
// a loss that wants one-hot targets or a multilabel mode is an option error
// before any step, not a runtime failure at the first one.
func TestRefusesTargetsItCannotFeed(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, opts := range []map[string]string{{"target": "onehot"}, {"mode": "multilabel"}} {
		cfg := train.Config{Model: committed(t, "fcn_small"), Loss: "cross-entropy", LossOptions: opts, Samples: train.Shapes(4, 8, 4),
			Epochs: 1, Batch: 2, LR: 1e-3, Out: filepath.Join(t.TempDir(), "ckpt.onnx")}
		if opts["mode"] == "multilabel" {
			cfg.Loss = "focal"
		}
		res, err := train.Run(context.Background(), cfg)
		var oe *losses.OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), "class-index labels") {
			t.Errorf("%s %v: error %v (%T), want an option error about class-index labels", cfg.Loss, opts, err, err)
		}
		if res != nil && res.Steps > 0 {
			t.Errorf("%s %v: %d steps ran", cfg.Loss, opts, res.Steps)
		}
	}
}
