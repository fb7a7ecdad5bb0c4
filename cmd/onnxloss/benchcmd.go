package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/onnxloss/onnxloss/bench"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "time a loss in ONNX Runtime against the read-once floor",
		usage:   "LOSS --shape N,C,H,W [loss options] | --all --shape N,C,H,W",
		help: `Times the loss graph and, in the same run on the same tensors, the read-once
floor: a graph with the same inputs that only sums each of them once. Prints
the size of the inputs (IN MB), the median time per call, the ratio to the
floor, the input bytes read per second, the time of the session's first call
over its steady time (FIRST/STEADY), and the session's own peak resident
memory over the size of its inputs (PEAK/IN). Each call writes its outputs
into the previous call's (runtime's Session.RunInto), as a loop that calls
a loss again and again can: the time is the graph's, not that of the Go
heap handing out fresh memory for a new gradient on every call.

--shape is given in N,C,*spatial order whatever the layout. Without --mode,
C = 1 selects binary mode and C > 1 multiclass (or multilabel where the loss
has no multiclass mode). With --all, every loss that supports the mode runs
with its default options.

With --grad the loss with its gradient output (as export --grad builds it)
is timed in the same run too: GRAD MS is its time per call, GRAD/LOSS the
cost of loss and gradient over the loss alone, GRAD/FLOOR over the read-once
floor, and GRAD FIRST/STEADY and GRAD PEAK/IN its session's first call and
peak memory as above.

The peak is measured in this process, one session at a time: the growth of
the process's peak resident size (VmHWM, reset through /proc/self/clear_refs)
while the session is made and runs its first two calls, over the resident
size just before, after freed memory is given back to the system. It holds
the session's intermediate tensors and its outputs, not its inputs. The
first call also faults in the session's memory, fresh from the system, so
FIRST/STEADY grows with PEAK/IN.

--profile PREFIX turns on ONNX Runtime's profiler for the loss session (with
--grad, the session of the loss with its gradient): the trace of every call,
one event per node, is written to PREFIX_LOSS_<date and time>.json, and the
share of the kernel time taken by each op type is printed under the loss's
row (the ops above 2%).

--json prints one JSON object per loss instead of the table, with the CPU
times of the calls (all threads of the process) next to the wall times: on
a machine shared with other work, wall times grow with the load and CPU
times much less.

With --train --model MODEL.onnx, bench times a training step instead: the
model's training graph with the loss and an SGD update (append --train
--optimizer sgd), run as a training loop runs it, parameters fed in and read
back. --shape is the model input's shape (N,3,H,W for a channels-first
model). It prints the trainable parameters, the median step time (STEP MS),
images per second, the first step over the steady one, and the peak memory
of the session in MB, measured as above. --profile prints where the step's
time goes by op type.

--no-arena turns off ONNX Runtime's CPU memory arena. The arena takes its
blocks from the system in sizes that double, and keeps them: a session's
address space can exceed its resident peak by half or more, and a cap on
the address space (prlimit --as, ulimit -v) counts all of it. Without the
arena the address space stays near the resident peak, and every call
faults in fresh pages for its large tensors, so steady calls cost about as
much as first ones (2 to 4 times the steady time with the arena, on large
volumes).

--shape takes N,C,H,W or NxCxHxW. A shape whose inputs alone would take more
memory than the system has available is refused (exit status 2).

Example:
  onnxloss bench cross-entropy --shape 8,21,256,256
  onnxloss bench --all --shape 8,1,512,512 --iters 10
  onnxloss bench --all --grad --shape 8x21x256x256 --threads 1
  onnxloss bench --train --model lraspp.onnx dice --shape 8,3,256,256 --iters 3
`,
		flags: []flagDef{
			{name: "shape", value: "N,C,H,W", doc: "input shape (required)"},
			{name: "all", doc: "every loss that supports the mode"},
			{name: "grad", doc: "also time the loss with its gradient output, d loss / d input, and print the ratios to the loss alone and to the floor"},
			{name: "iters", value: "N", doc: "timed calls per graph (default 10)"},
			{name: "provider", value: "NAME", doc: "cpu (default) or cuda"},
			{name: "threads", value: "N", doc: "ONNX Runtime intra-op threads (0: its default)"},
			{name: "no-arena", doc: "turn off ONNX Runtime's CPU memory arena: less address space for large inputs, slower calls (see below)"},
			{name: "json", doc: "print one JSON object per loss, CPU times included"},
			{name: "train", doc: "time a training step of --model with the loss (forward, loss, all parameter gradients, SGD update)"},
			{name: "model", value: "FILE", doc: "with --train: the exported model"},
			{name: "lr", value: "X", doc: "with --train: SGD's learning rate (default 0.01)"},
			{name: "profile", value: "PREFIX", doc: "profile the loss session (with --grad, the loss with its gradient) with ONNX Runtime's profiler, write its trace to PREFIX_LOSS_*.json and print where the time goes by op type"},
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
	rt.NoArena = a.boolFlag("no-arena")
	if a.boolFlag("train") {
		return runBenchTrain(e, a, shape, rt)
	}
	for _, f := range []string{"model", "lr"} {
		if _, ok := a.flag(f); ok {
			return usagef("--%s needs --train", f)
		}
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
	asJSON := a.boolFlag("json")
	// Rows are flushed as they are measured, so the columns get fixed
	// widths: the longest loss name, and 14 for the others (the widest
	// header, the modes, shapes up to 12 characters and the numbers fit).
	nameWidth := len("LOSS")
	for _, s := range specs {
		nameWidth = max(nameWidth, len(s.Name))
	}
	tw := tabwriter.NewWriter(e.stdout, 14, 4, 2, ' ', 0)
	name := func(n string) string { return fmt.Sprintf("%-*s", nameWidth, n) }
	switch {
	case asJSON:
	case o.Grad:
		fmt.Fprintln(tw, name("LOSS")+"\tMODE\tSHAPE\tIN MB\tLOSS MS\tGRAD MS\tFLOOR MS\tRATIO\tGRAD/LOSS\tGRAD/FLOOR\tFIRST/STEADY\tGRAD FIRST/STEADY\tPEAK/IN\tGRAD PEAK/IN")
	default:
		fmt.Fprintln(tw, name("LOSS")+"\tMODE\tSHAPE\tIN MB\tLOSS MS\tFLOOR MS\tRATIO\tGB/S\tFIRST/STEADY\tPEAK/IN")
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
		if sd, ok := opts["spatial_dims"]; !ok {
			opts["spatial_dims"] = strconv.Itoa(len(shape) - 2)
		} else if sd != strconv.Itoa(len(shape)-2) {
			return usagef("--shape %s has %d spatial dimensions and --spatial-dims is %s: give a shape N,C and %s spatial sizes, or leave --spatial-dims out (the shape sets it)",
				shapeString(shape), len(shape)-2, sd, sd)
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
		mo := o
		if prefix, ok := a.flag("profile"); ok {
			mo.Profile = prefix + "_" + s.Name
		}
		r, err := bench.Measure(s, cfg, shape, mo)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		inMB := float64(r.Bytes) / 1e6
		switch {
		case asJSON:
			if err := writeBenchJSON(e, r, o); err != nil {
				return err
			}
		case o.Grad:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\n", name(s.Name), cfg.Mode, shapeStr, inMB,
				ms(r.Loss1.Seconds()), ms(r.Grad1.Seconds()), ms(r.Floor1.Seconds()), r.Ratio(), r.GradRatio(),
				r.GradFloorRatio(), r.FirstRatio(), r.GradFirstRatio(), r.PeakRatio(), r.GradPeakRatio())
		default:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\n", name(s.Name), cfg.Mode, shapeStr, inMB,
				ms(r.Loss1.Seconds()), ms(r.Floor1.Seconds()), r.Ratio(), r.GBps(), r.FirstRatio(), r.PeakRatio())
		}
		tw.Flush()
		if len(r.Profile) > 0 && !asJSON {
			var parts []string
			for _, op := range r.Profile {
				if op.Share >= 0.02 {
					parts = append(parts, fmt.Sprintf("%s %.0f%%", op.Op, 100*op.Share))
				}
			}
			fmt.Fprintf(e.stdout, "  %s: kernel time by op: %s\n", s.Name, strings.Join(parts, ", "))
		}
	}
	return tw.Flush()
}

// benchJSON is one loss's measurement as --json prints it. Times are in
// milliseconds, medians over the timed calls; the *_cpu_ms are the
// process's CPU time over the same calls.
type benchJSON struct {
	Loss          string  `json:"loss"`
	Mode          string  `json:"mode"`
	Shape         []int   `json:"shape"`
	InputBytes    int64   `json:"input_bytes"`
	Iters         int     `json:"iters"`
	Threads       int     `json:"threads"`
	NoArena       bool    `json:"no_arena,omitempty"`
	LossMS        float64 `json:"loss_ms"`
	LossCPUMS     float64 `json:"loss_cpu_ms"`
	FloorMS       float64 `json:"floor_ms"`
	FloorCPUMS    float64 `json:"floor_cpu_ms"`
	FirstMS       float64 `json:"first_ms"`
	PeakBytes     int64   `json:"peak_bytes"`
	PeakRatio     float64 `json:"peak_ratio"`
	GradMS        float64 `json:"grad_ms,omitempty"`
	GradCPUMS     float64 `json:"grad_cpu_ms,omitempty"`
	GradFirstMS   float64 `json:"grad_first_ms,omitempty"`
	GradPeakBytes int64   `json:"grad_peak_bytes,omitempty"`
	GradPeakRatio float64 `json:"grad_peak_ratio,omitempty"`
	// Profile is the profiled session's kernel time by op type (--profile).
	Profile []benchOpJSON `json:"profile,omitempty"`
}

type benchOpJSON struct {
	Op    string  `json:"op"`
	MS    float64 `json:"ms"`
	Share float64 `json:"share"`
}

func writeBenchJSON(e *env, r bench.Result, o bench.Options) error {
	d := func(t time.Duration) float64 { return ms(t.Seconds()) }
	j := benchJSON{
		Loss: r.Loss, Mode: string(r.Mode), Shape: r.Shape, InputBytes: r.Bytes, Iters: r.Iters, Threads: o.Runtime.Threads, NoArena: o.Runtime.NoArena,
		LossMS: d(r.Loss1), LossCPUMS: d(r.LossCPU), FloorMS: d(r.Floor1), FloorCPUMS: d(r.FloorCPU), FirstMS: d(r.First),
		PeakBytes: r.PeakRSS, PeakRatio: r.PeakRatio(),
	}
	if o.Grad {
		j.GradMS, j.GradCPUMS, j.GradFirstMS = d(r.Grad1), d(r.GradCPU), d(r.GradFirst)
		j.GradPeakBytes, j.GradPeakRatio = r.GradPeakRSS, r.GradPeakRatio()
	}
	for _, op := range r.Profile {
		j.Profile = append(j.Profile, benchOpJSON{Op: op.Op, MS: d(op.Time), Share: op.Share})
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
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

// runBenchTrain times training steps (bench --train).
func runBenchTrain(e *env, a *args, shape []int, rt runtime.Options) error {
	model, ok := a.flag("model")
	if !ok || model == "" {
		return usagef("--train needs --model FILE")
	}
	if a.loss == nil {
		return usagef("--train needs a loss")
	}
	if a.boolFlag("all") || a.boolFlag("grad") {
		return usagef("--train times one loss: leave out --all and --grad")
	}
	o := bench.TrainOptions{Model: model, Loss: a.loss.Name, LossOptions: a.lossOpts, Shape: shape, Runtime: rt, Seed: 1, Iters: 5}
	var err error
	if v, ok := a.flag("iters"); ok {
		if o.Iters, err = strconv.Atoi(v); err != nil || o.Iters < 1 {
			return usagef("--iters %q: want a positive integer", v)
		}
	}
	if v, ok := a.flag("lr"); ok {
		if o.LR, err = parseFloatFlag("lr", v); err != nil {
			return err
		}
	}
	o.Profile, _ = a.flag("profile")
	r, err := bench.MeasureTrain(o)
	if err != nil {
		return err
	}
	if a.boolFlag("json") {
		b, err := json.Marshal(map[string]any{
			"loss": r.Loss, "shape": r.Shape, "params": r.Params, "param_bytes": r.ParamBytes,
			"first_ms": ms(r.First.Seconds()), "step_ms": ms(r.Step.Seconds()), "step_cpu_ms": ms(r.StepCPU.Seconds()),
			"peak_rss": r.PeakRSS, "images_per_s": float64(shape[0]) / r.Step.Seconds(), "profile": r.Profile,
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LOSS\tSHAPE\tPARAMS\tSTEP MS\tIMG/S\tFIRST/STEADY\tPEAK MB\t")
	fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.2f\t%.0f\t\n", r.Loss, shapeString(r.Shape), r.Params, ms(r.Step.Seconds()),
		float64(shape[0])/r.Step.Seconds(), r.First.Seconds()/r.Step.Seconds(), float64(r.PeakRSS)/1e6)
	tw.Flush()
	for _, op := range r.Profile {
		if op.Share >= 0.02 {
			fmt.Fprintf(e.stdout, "  %-24s %5.1f%%\n", op.Op, 100*op.Share)
		}
	}
	return nil
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "x")
}
