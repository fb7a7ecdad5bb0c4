package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/onnxloss/onnxloss/bench"
	"github.com/onnxloss/onnxloss/losses"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "time a loss in ONNX Runtime against the read-once floor",
		usage:   "LOSS --shape N,C,H,W [loss options] | --all --shape N,C,H,W",
		help: `Times the loss graph and, in the same run on the same tensors, the read-once
floor: a graph with the same inputs that only sums each of them once. Prints
the median time per call, the input bytes read per second, the ratio to the
floor, and the process's peak resident memory while the loss ran.

--shape is given in N,C,*spatial order whatever the layout. Without --mode,
C = 1 selects binary mode and C > 1 multiclass (or multilabel where the loss
has no multiclass mode). With --all, every loss that supports the mode runs
with its default options.

With --grad the loss with its gradient output (as export --grad builds it)
is timed in the same run too: GRAD MS is its time per call, GRAD/LOSS the
cost of loss and gradient over the loss alone, GRAD/FLOOR over the read-once
floor, and GRAD RSS MB its session's peak resident memory.

--shape takes N,C,H,W or NxCxHxW. A shape whose inputs alone would take more
memory than the system has available is refused (exit status 2).

Example:
  onnxloss bench cross-entropy --shape 8,21,256,256
  onnxloss bench --all --shape 8,1,512,512 --iters 10
  onnxloss bench --all --grad --shape 8x21x256x256`,
		flags: []flagDef{
			{name: "shape", value: "N,C,H,W", doc: "input shape (required)"},
			{name: "all", doc: "every loss that supports the mode"},
			{name: "grad", doc: "also time the loss with its gradient output, d loss / d input, and print the ratios to the loss alone and to the floor"},
			{name: "iters", value: "N", doc: "timed calls per graph (default 10)"},
			{name: "provider", value: "NAME", doc: "cpu (default) or cuda"},
			{name: "threads", value: "N", doc: "ONNX Runtime intra-op threads (0: its default)"},
		},
		lossOptions: true,
		run:         runBench,
	})
}

func runBench(e *env, a *args) error {
	shapeStr, ok := a.flag("shape")
	if !ok {
		return usagef("--shape N,C,H,W is required")
	}
	shape, err := bench.ParseShape(shapeStr)
	if err != nil {
		return usagef("%v", err)
	}
	rt, err := runtimeOptions(a)
	if err != nil {
		return err
	}
	o := bench.Options{Runtime: rt, Iters: 10, Seed: 1}
	if v, ok := a.flag("iters"); ok {
		if o.Iters, err = strconv.Atoi(v); err != nil || o.Iters < 1 {
			return usagef("--iters %q: want a positive integer", v)
		}
	}
	var specs []*losses.Spec
	switch {
	case a.boolFlag("all") && a.loss != nil:
		return usagef("give a loss name or --all, not both")
	case a.boolFlag("all"):
		specs = losses.All()
	default:
		s, err := needLoss("bench", a)
		if err != nil {
			return err
		}
		specs = []*losses.Spec{s}
	}
	o.Grad = a.boolFlag("grad")
	// Rows are flushed as they are measured, so the columns get fixed
	// widths: the longest loss name, and 14 for the others (the widest
	// header, the modes, shapes up to 12 characters and the numbers fit).
	nameWidth := len("LOSS")
	for _, s := range specs {
		nameWidth = max(nameWidth, len(s.Name))
	}
	tw := tabwriter.NewWriter(e.stdout, 14, 4, 2, ' ', 0)
	name := func(n string) string { return fmt.Sprintf("%-*s", nameWidth, n) }
	if o.Grad {
		fmt.Fprintln(tw, name("LOSS")+"\tMODE\tSHAPE\tLOSS MS\tGRAD MS\tFLOOR MS\tRATIO\tGRAD/LOSS\tGRAD/FLOOR\tGB/S\tPEAK RSS MB\tGRAD RSS MB")
	} else {
		fmt.Fprintln(tw, name("LOSS")+"\tMODE\tSHAPE\tLOSS MS\tFLOOR MS\tRATIO\tGB/S\tPEAK RSS MB")
	}
	for _, s := range specs {
		opts := losses.Options{}
		for k, v := range a.lossOpts {
			opts[k] = v
		}
		if _, ok := opts["mode"]; !ok {
			mode, ok := pickMode(s, shape[1])
			if !ok {
				continue
			}
			opts["mode"] = string(mode)
		}
		if _, ok := opts["spatial_dims"]; !ok {
			opts["spatial_dims"] = strconv.Itoa(len(shape) - 2)
		}
		if _, ok := opts["classes"]; !ok && opts["mode"] != string(losses.Binary) {
			opts["classes"] = strconv.Itoa(shape[1])
		}
		cfg, err := losses.Resolve(s, opts)
		if err != nil {
			if len(specs) > 1 {
				continue
			}
			return err
		}
		if err := bench.CheckSize(s, cfg, shape); err != nil {
			return usagef("%s: %v", s.Name, err)
		}
		r, err := bench.Measure(s, cfg, shape, o)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		if o.Grad {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\n", name(s.Name), cfg.Mode, shapeStr,
				ms(r.Loss1.Seconds()), ms(r.Grad1.Seconds()), ms(r.Floor1.Seconds()), r.Ratio(), r.GradRatio(),
				r.GradFloorRatio(), r.GBps(), float64(r.PeakRSS)/1e6, float64(r.GradPeakRSS)/1e6)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\n", name(s.Name), cfg.Mode, shapeStr,
				ms(r.Loss1.Seconds()), ms(r.Floor1.Seconds()), r.Ratio(), r.GBps(), float64(r.PeakRSS)/1e6)
		}
		tw.Flush()
	}
	return tw.Flush()
}

func ms(s float64) float64 { return s * 1000 }

// pickMode chooses the mode for a channel count: binary for one channel,
// multiclass (else multilabel) for more.
func pickMode(s *losses.Spec, channels int) (losses.Mode, bool) {
	if channels == 1 {
		return losses.Binary, s.SupportsMode(losses.Binary)
	}
	for _, m := range []losses.Mode{losses.Multiclass, losses.Multilabel} {
		if s.SupportsMode(m) {
			return m, true
		}
	}
	return "", false
}
