package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/train"
)

func init() {
	register(&command{
		name:    "train",
		summary: "fine-tune an exported model with a loss, in ONNX Runtime",
		usage:   "--model MODEL.onnx LOSS --data DIR --epochs N --batch B --lr X --out CKPT.onnx [flags] [loss options]",
		help: `Fine-tunes an exported segmentation model with an onnxloss loss. The model's
training graph (see append --train) with an in-graph optimizer runs one step
per batch in ONNX Runtime; after every epoch the model is scored on a
held-out split (mIoU and Dice of the hard prediction) and a checkpoint is
written.

Data: DIR holds NAME.image.npy and NAME.label.npy pairs. An image is float32
in the model's input layout without the batch axis ([3,H,W], or [H,W,3] for a
channels-last model); a label is an integer class map [H,W] (int64, int32 or
uint8; for a one-channel binary model, nonzero is foreground). Every pair has
the same sizes. --val-fraction of the pairs (default 0.2) is held out, chosen
by --seed.

Checkpoints: CKPT.onnx is the model with the trained weights, a plain
inference model that loads in any ONNX runtime; CKPT.onnx.state holds the
optimizer state, the step count and the history. Both are written atomically
after every epoch and on interruption (Ctrl-C: the step in flight finishes,
the checkpoint is written; a second Ctrl-C stops at once). --resume CKPT.onnx
continues an interrupted run where it stopped, on the same batches (give the
same data, --batch and --seed; --epochs is the total).

Progress: a bar with the loss and throughput on a terminal, one line per
tenth of an epoch otherwise, and the scores after every epoch.

Examples:
  onnxloss train --model lraspp.onnx cross-entropy --data shapes/ --epochs 5 --batch 8 --lr 1e-3 --out tuned.onnx
  onnxloss train --model unet.onnx dice --preset smp --freeze 'encoder.*' --data data/ --epochs 20 --batch 4 --lr 3e-4 --out unet-dice.onnx
  onnxloss train --resume tuned.onnx cross-entropy --data shapes/ --epochs 10 --batch 8 --lr 1e-3 --out tuned.onnx`,
		flags: []flagDef{
			{name: "model", value: "FILE", doc: "the exported model (required unless --resume)"},
			{name: "resume", value: "CKPT", doc: "continue from a checkpoint written by train"},
			{name: "data", value: "DIR", doc: "folder of NAME.image.npy and NAME.label.npy pairs (required)"},
			{name: "epochs", value: "N", doc: "epochs in all (required)"},
			{name: "batch", value: "B", doc: "batch size (required)"},
			{name: "lr", value: "X", doc: "learning rate (required)"},
			{name: "out", value: "FILE", doc: "the checkpoint to write (required)"},
			{name: "optimizer", value: "KIND", doc: "sgd, momentum or adamw (default adamw)"},
			{name: "weight-decay", value: "X", doc: "weight decay (default 0)"},
			{name: "freeze", value: "GLOB", doc: "parameters whose names match do not train (repeatable)", repeat: true},
			{name: "val-fraction", value: "F", doc: "fraction of the pairs held out for scoring (default 0.2)"},
			{name: "seed", value: "S", doc: "seed of the split and the batch order (default 1)"},
			{name: "provider", value: "P", doc: "cpu or cuda (default cpu)"},
			{name: "threads", value: "N", doc: "ONNX Runtime's threads (default: its own choice)"},
			{name: "quiet", doc: "print only the final scores"},
		},
		lossOptions: true,
		run:         runTrain,
	})
}

func runTrain(e *env, a *args) error {
	s, err := needLoss("train", a)
	if err != nil {
		return err
	}
	cfg := train.Config{Loss: s.Name, LossOptions: a.lossOpts, Freeze: a.flags["freeze"], Seed: 1}
	cfg.Model, _ = a.flag("model")
	cfg.Resume, _ = a.flag("resume")
	if cfg.Model == "" && cfg.Resume == "" {
		return usagef("--model FILE (or --resume CKPT) is required")
	}
	if cfg.Model != "" && cfg.Resume != "" {
		return usagef("--model and --resume exclude each other: a checkpoint is the model to resume")
	}
	need := func(name string) (string, error) {
		v, ok := a.flag(name)
		if !ok || v == "" {
			return "", usagef("--%s is required", name)
		}
		return v, nil
	}
	intFlag := func(name string, min int) (int, error) {
		v, err := need(name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return 0, usagef("--%s %q is not an integer of at least %d", name, v, min)
		}
		return n, nil
	}
	if cfg.Data, err = need("data"); err != nil {
		return err
	}
	if cfg.Out, err = need("out"); err != nil {
		return err
	}
	if cfg.Epochs, err = intFlag("epochs", 1); err != nil {
		return err
	}
	if cfg.Batch, err = intFlag("batch", 1); err != nil {
		return err
	}
	lr, err := need("lr")
	if err != nil {
		return err
	}
	if cfg.LR, err = parseFloatFlag("lr", lr); err != nil {
		return err
	}
	if v, ok := a.flag("weight-decay"); ok {
		if cfg.WeightDecay, err = parseFloatFlag("weight-decay", v); err != nil {
			return err
		}
	}
	if v, ok := a.flag("val-fraction"); ok {
		if cfg.ValFraction, err = parseFloatFlag("val-fraction", v); err != nil {
			return err
		}
		if !(cfg.ValFraction > 0 && cfg.ValFraction < 1) {
			return usagef("--val-fraction must be in (0, 1), got %s", v)
		}
	}
	if v, ok := a.flag("seed"); ok {
		if cfg.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return usagef("--seed %q is not a non-negative integer", v)
		}
	}
	if _, ok := a.flag("threads"); ok {
		if cfg.Threads, err = intFlag("threads", 1); err != nil {
			return err
		}
	}
	cfg.Optimizer, _ = a.flag("optimizer")
	cfg.Provider, _ = a.flag("provider")
	if cfg.Provider != "" && cfg.Provider != "cpu" && cfg.Provider != "cuda" {
		return usagef("--provider %q is not cpu or cuda", cfg.Provider)
	}
	if st, err := os.Stat(cfg.Data); err != nil || !st.IsDir() {
		return usagef("--data %q is not a folder", cfg.Data)
	}
	quiet := a.boolFlag("quiet")
	p := &progress{w: e.stderr, tty: isTTY(e.stderr), quiet: quiet}
	cfg.Progress = p.event

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hook := func() {
		fmt.Fprintln(e.stderr, "\ninterrupted: finishing the step and writing the checkpoint (Ctrl-C again to stop at once)")
		cancel()
	}
	interruptHook.Store(&hook)
	defer interruptHook.Store(nil)

	res, err := train.Run(ctx, cfg)
	p.finish()
	var te *export.TrainUsageError
	var overwrite *export.OverwriteError
	if errors.As(err, &te) || errors.As(err, &overwrite) {
		return usagef("%v", err)
	}
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(e.stderr, "stopped after %d steps; wrote %s (resume with --resume %s)\n", res.Steps, res.Checkpoint, res.Checkpoint)
		return &failure{}
	}
	if err != nil {
		return err
	}
	first, last := res.Evals[0], res.Evals[len(res.Evals)-1]
	fmt.Fprintf(e.stderr, "trained %d steps (%d parameters, %d frozen): loss %.4g -> %.4g, mIoU %.3f -> %.3f, Dice %.3f -> %.3f; wrote %s\n",
		res.Steps, res.Params, res.Frozen, res.Loss[0], res.Loss[len(res.Loss)-1], first.MIoU, last.MIoU, first.Dice, last.Dice, res.Checkpoint)
	return nil
}

// isTTY reports whether w is a terminal.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws the training progress: a bar redrawn in place on a
// terminal, plain lines otherwise.
type progress struct {
	w          io.Writer
	tty, quiet bool
	drawn      bool
	start      time.Time
}

func (p *progress) event(ev train.Event) {
	if p.quiet {
		return
	}
	switch ev.Kind {
	case "step":
		if p.start.IsZero() {
			p.start = time.Now()
		}
		line := fmt.Sprintf("epoch %d/%d %s %d/%d  loss %.4f  %.1f img/s", ev.Epoch, ev.Epochs, bar(ev.Step, ev.Steps, 24),
			ev.Step, ev.Steps, ev.Loss, ev.ImagesPerSec)
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s", line)
			p.drawn = true
			return
		}
		every := max(1, ev.Steps/10)
		if ev.Step%every == 0 || ev.Step == ev.Steps {
			fmt.Fprintln(p.w, line)
		}
	case "eval":
		p.finish()
		m := ev.Metrics
		when := "before training"
		if ev.Epoch > 0 {
			when = fmt.Sprintf("epoch %d/%d", ev.Epoch, ev.Epochs)
		}
		fmt.Fprintf(p.w, "%s: held-out mIoU %.3f, Dice %.3f (step %d)\n", when, m.MIoU, m.Dice, ev.Total)
	case "checkpoint":
		p.finish()
		fmt.Fprintf(p.w, "wrote checkpoint %s\n", ev.Path)
	}
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func bar(done, total, width int) string {
	n := 0
	if total > 0 {
		n = done * width / total
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
