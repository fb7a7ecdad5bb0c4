// Package bench measures loss graphs in ONNX Runtime against the read-once
// floor: a graph with the same inputs that only reads each of them once (one
// ReduceSum per input). A loss is memory-bound, so the ratio of its time to
// the floor's, measured in the same run on the same tensors, says how many
// passes over the data it costs. With Options.Grad the loss with its
// gradient output (the grad option) is timed in the same run too, so the
// cost of the backward graph reads as a ratio to the loss alone.
package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/internal/procstat"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// Result is one measurement.
type Result struct {
	Loss   string
	Mode   losses.Mode
	Shape  []int // input shape as fed
	Bytes  int64 // bytes of every input together
	Iters  int
	Loss1  time.Duration // median time of one loss call
	Floor1 time.Duration // median time of one floor call
	// LossCPU and FloorCPU are the medians of the process's CPU time (all
	// its threads) over the same calls: on a machine shared with other
	// work, wall times grow with the load and CPU times much less.
	LossCPU, FloorCPU time.Duration
	// First is the time of the loss session's first call, which faults in
	// the memory that later calls reuse (see FirstRatio).
	First time.Duration
	// PeakRSS is the loss session's own peak resident memory, in bytes:
	// the growth of the process's peak resident size (VmHWM, reset through
	// /proc/self/clear_refs) over its resident size just before the
	// session was made, while it was made and ran its first two calls,
	// after freed memory was given back to the system (procstat.Settle) so
	// that memory the session reuses counts too. It includes the outputs
	// (the gradient is as large as the input) but not the inputs. 0 where
	// the system does not report it.
	PeakRSS int64
	// Grad1, GradCPU, GradFirst and GradPeakRSS are the same for the loss
	// with its gradient output; all 0 unless Options.Grad.
	Grad1, GradCPU, GradFirst time.Duration
	GradPeakRSS               int64
	// Profile is the profiled session's kernel time by op type, over all
	// its calls, largest first (with Options.Profile).
	Profile []OpTime
}

// PeakRatio is the loss session's peak memory over the bytes of its
// inputs (0 where the peak was not measured).
func (r Result) PeakRatio() float64 { return float64(r.PeakRSS) / float64(max(r.Bytes, 1)) }

// GradPeakRatio is the gradient session's peak memory over the bytes of
// its inputs.
func (r Result) GradPeakRatio() float64 { return float64(r.GradPeakRSS) / float64(max(r.Bytes, 1)) }

// FirstRatio is the time of the loss session's first call over its steady
// time: the first call also faults in the pages of the session's memory,
// fresh from the system.
func (r Result) FirstRatio() float64 { return float64(r.First) / float64(r.Loss1) }

// GradFirstRatio is FirstRatio for the gradient session (0 without it).
func (r Result) GradFirstRatio() float64 {
	if r.Grad1 == 0 {
		return 0
	}
	return float64(r.GradFirst) / float64(r.Grad1)
}

// Ratio is the loss time over the floor time.
func (r Result) Ratio() float64 { return float64(r.Loss1) / float64(r.Floor1) }

// GradRatio is the time of the loss with its gradient over the loss's
// alone (0 without a gradient measurement).
func (r Result) GradRatio() float64 {
	if r.Grad1 == 0 {
		return 0
	}
	return float64(r.Grad1) / float64(r.Loss1)
}

// GradFloorRatio is the time of the loss with its gradient over the
// floor's (0 without a gradient measurement).
func (r Result) GradFloorRatio() float64 {
	if r.Grad1 == 0 {
		return 0
	}
	return float64(r.Grad1) / float64(r.Floor1)
}

// GBps is the input bytes read per second of loss time, in GB/s.
func (r Result) GBps() float64 { return float64(r.Bytes) / r.Loss1.Seconds() / 1e9 }

// ParseShape reads "8,21,256,256" (or "8x21x256x256").
func ParseShape(s string) ([]int, error) {
	var out []int
	sep := ","
	if !strings.Contains(s, ",") {
		sep = "x"
	}
	for _, p := range strings.Split(s, sep) {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("shape %q: %q is not a positive integer", s, p)
		}
		out = append(out, n)
	}
	if len(out) < 3 || len(out) > 5 {
		return nil, fmt.Errorf("shape %q must be N,C,H,W (or N,C,D,H,W)", s)
	}
	return out, nil
}

// Inputs makes random inputs of a configuration for an NCHW-ordered shape
// (the layout option decides how they are laid out).
func Inputs(s *losses.Spec, cfg *losses.Config, shape []int, seed uint64) reference.Inputs {
	rng := rand.New(rand.NewPCG(seed, 7))
	n, c, spatial := shape[0], shape[1], shape[2:]
	S := tensor.NumElements(spatial)
	pix := append([]int{n}, spatial...)
	full := append([]int{n, c}, spatial...)
	if cfg.Layout == losses.NHWC {
		full = append(append([]int{n}, spatial...), c)
	}
	x := make([]float32, n*c*S)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 2)
	}
	in := reference.Inputs{"input": convert(tensor.FromFloat32(full, x), cfg.DType)}
	tdt, _ := cfg.TargetSpec()
	if tdt == tensor.Int64 {
		y := make([]int64, n*S)
		for i := range y {
			y[i] = int64(rng.IntN(c))
		}
		in["target"] = tensor.FromInt64(pix, y)
	} else {
		t := make([]float32, n*c*S)
		for i := range t {
			if rng.Float64() < 0.3 {
				t[i] = 1
			}
		}
		in["target"] = convert(tensor.FromFloat32(full, t), tdt)
	}
	for _, e := range s.ExtraInputs(cfg) {
		dt, _ := cfg.ExtraSpec(e)
		switch e.Kind {
		case losses.InstanceLabels:
			y := make([]int64, n*S)
			for i := range y {
				y[i] = int64(rng.IntN(4))
			}
			in[e.Name] = tensor.FromInt64(pix, y)
		case losses.ChannelMap:
			m := make([]float32, n*c*S)
			for i := range m {
				m[i] = float32(rng.NormFloat64())
			}
			in[e.Name] = convert(tensor.FromFloat32(full, m), dt)
		default:
			w := make([]float32, n*S)
			for i := range w {
				w[i] = float32(rng.Float64() * 3)
			}
			in[e.Name] = convert(tensor.FromFloat32(pix, w), dt)
		}
	}
	return in
}

// convert converts t to dt, without a copy when it is already of that type:
// bench's inputs can be a large part of the machine's memory.
func convert(t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	if t.DType == dt {
		return t
	}
	return t.Convert(dt)
}

// SizeError is a shape whose inputs are too large to make: their size
// overflows, or exceeds the memory available.
type SizeError struct {
	Shape []int
	// Bytes is the size of the inputs, or -1 when it overflows.
	Bytes int64
	// Available is the memory available when Bytes was compared with it.
	Available int64
}

func (e *SizeError) Error() string {
	if e.Bytes < 0 {
		return fmt.Sprintf("shape %v: the size of the inputs overflows a 64-bit count of bytes", e.Shape)
	}
	return fmt.Sprintf("shape %v: the inputs alone take %d bytes (%.1f GB), more than the %d bytes (%.1f GB) of memory available",
		e.Shape, e.Bytes, float64(e.Bytes)/1e9, e.Available, float64(e.Available)/1e9)
}

// InputBytes is the size of the inputs that Inputs makes for a
// configuration and an NCHW-ordered shape, in bytes; a *SizeError when it
// overflows.
func InputBytes(s *losses.Spec, cfg *losses.Config, shape []int) (int64, error) {
	overflow := &SizeError{Shape: shape, Bytes: -1}
	mul := func(a, b int64) (int64, bool) {
		if a < 0 || b < 0 || b != 0 && a > math.MaxInt64/b {
			return -1, false
		}
		return a * b, true
	}
	if len(shape) < 2 {
		return 0, fmt.Errorf("shape %v: want N,C,*spatial", shape)
	}
	full, pixels := int64(1), int64(1)
	ok := true
	for i, d := range shape {
		if d < 1 {
			return 0, fmt.Errorf("shape %v: dimension %d is %d, want a positive size", shape, i, d)
		}
		if full, ok = mul(full, int64(d)); !ok {
			return 0, overflow
		}
		if i != 1 {
			pixels *= int64(d) // no larger than full
		}
	}
	var total int64
	add := func(count int64, dt tensor.DType) bool {
		b, ok := mul(count, int64(dt.Size()))
		if !ok || total > math.MaxInt64-b {
			return false
		}
		total += b
		return true
	}
	ok = add(full, cfg.DType)
	if tdt, _ := cfg.TargetSpec(); tdt == tensor.Int64 {
		ok = ok && add(pixels, tdt)
	} else {
		ok = ok && add(full, tdt)
	}
	for _, e := range s.ExtraInputs(cfg) {
		dt, _ := cfg.ExtraSpec(e)
		if e.Kind == losses.ChannelMap {
			ok = ok && add(full, dt)
		} else {
			ok = ok && add(pixels, dt)
		}
	}
	if !ok {
		return 0, overflow
	}
	return total, nil
}

// CheckSize returns a *SizeError when the inputs of a configuration and a
// shape overflow or would not fit in the memory available now (as the
// system reports it; not checked where it does not).
func CheckSize(s *losses.Spec, cfg *losses.Config, shape []int) error {
	n, err := InputBytes(s, cfg, shape)
	if err != nil {
		return err
	}
	if avail := procstat.Available(); avail > 0 && n > avail {
		return &SizeError{Shape: shape, Bytes: n, Available: avail}
	}
	return nil
}

// Floor builds the read-once floor for a configuration: the loss's inputs,
// each cast to float32 and summed once, the sums added into `loss`.
func Floor(s *losses.Spec, cfg *losses.Config) ([]byte, error) {
	g := builder.NewGraph("floor", cfg.Opset)
	var sum *builder.Value
	add := func(v *builder.Value) {
		r := builder.ReduceSum(builder.Cast(v, tensor.Float32), false)
		if sum == nil {
			sum = r
		} else {
			sum = builder.Add(sum, r)
		}
	}
	add(g.Input("input", cfg.DType, cfg.InputShape()))
	tdt, tshape := cfg.TargetSpec()
	add(g.Input("target", tdt, tshape))
	for _, e := range s.ExtraInputs(cfg) {
		dt, shape := cfg.ExtraSpec(e)
		add(g.Input(e.Name, dt, shape))
	}
	g.Output("loss", sum)
	m, err := export.Model(g, "read-once floor", nil)
	if err != nil {
		return nil, err
	}
	return export.Marshal(m)
}

// Options of a measurement.
type Options struct {
	Runtime runtime.Options
	// Iters is the number of timed calls of each graph, after its first
	// call (reported apart as Result.First).
	Iters int
	Seed  uint64
	// Grad also times the loss with its gradient output, d loss / d input
	// (the loss built with the grad option).
	Grad bool
	// Profile, where set, profiles the loss session (with Grad, the
	// session of the loss with its gradient) with ONNX Runtime's profiler
	// (see runtime.Options.Profile): the trace is written to a file whose
	// name starts with Profile, and Result.Profile adds it up by op type.
	Profile string
}

// Measure times a loss and its floor (and, with o.Grad, the loss with its
// gradient) on the same random inputs, alternating the graphs so that all
// see the same machine state, and reports medians. A shape whose inputs
// would not fit in memory is refused with a *SizeError (see CheckSize).
//
// Each loss session is measured on its own first: made, its first call
// timed, and called once more (the first timed call), while the process's
// peak resident memory is watched (see Result.PeakRSS). With the memory
// pattern off (the runtime package's default) the second call runs in the
// memory of the first, so the timed calls are steady.
func Measure(s *losses.Spec, cfg *losses.Config, shape []int, o Options) (Result, error) {
	res := Result{Loss: s.Name, Mode: cfg.Mode, Shape: shape, Iters: max(o.Iters, 1)}
	if err := CheckSize(s, cfg, shape); err != nil {
		return res, err
	}
	plain, withGrad := *cfg, *cfg
	plain.Grad, withGrad.Grad = false, true
	floorBytes, err := Floor(s, cfg)
	if err != nil {
		return res, err
	}
	in := Inputs(s, cfg, shape, o.Seed)
	for _, t := range in {
		res.Bytes += int64(t.Len() * t.DType.Size())
	}
	res.Shape = in["input"].Shape
	floor, err := runtime.NewSession(floorBytes, o.Runtime)
	if err != nil {
		return res, err
	}
	defer floor.Close()
	if _, err := floor.Run(in); err != nil {
		return res, err
	}
	lossRT, gradRT := o.Runtime, o.Runtime
	if o.Profile != "" {
		if o.Grad {
			gradRT.Profile = o.Profile
		} else {
			lossRT.Profile = o.Profile
		}
	}
	loss := &timed{}
	closeLoss, err := loss.open(s, &plain, lossRT, in)
	if err != nil {
		return res, err
	}
	defer closeLoss()
	res.First, res.PeakRSS = loss.first, loss.peak
	floorRun := &timed{s: floor}
	runs := []*timed{loss, floorRun}
	var grad *timed
	var closeGrad func()
	if o.Grad {
		grad = &timed{}
		closeGrad, err = grad.open(s, &withGrad, gradRT, in)
		if err != nil {
			return res, err
		}
		defer closeGrad()
		res.GradFirst, res.GradPeakRSS = grad.first, grad.peak
		runs = append(runs, grad)
	}
	// The sessions' second calls were their first timed ones.
	if err := floorRun.run(in); err != nil {
		return res, err
	}
	for i := 1; i < res.Iters; i++ {
		for _, r := range runs {
			if err := r.run(in); err != nil {
				return res, err
			}
		}
	}
	res.Loss1, res.LossCPU = loss.medians()
	res.Floor1, res.FloorCPU = floorRun.medians()
	if o.Grad {
		res.Grad1, res.GradCPU = grad.medians()
	}
	if o.Profile != "" {
		// ONNX Runtime writes the trace when the session is closed.
		closeLoss()
		if closeGrad != nil {
			closeGrad()
		}
		files, _ := filepath.Glob(o.Profile + "*.json")
		if len(files) == 0 {
			return res, fmt.Errorf("ONNX Runtime wrote no profile %s*.json", o.Profile)
		}
		sort.Strings(files) // the date and time stamp: the newest last
		if res.Profile, err = ProfileOps(files[len(files)-1]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// OpTime is the kernel time of the nodes of one op type in a profile.
type OpTime struct {
	Op    string
	Time  time.Duration
	Share float64 // of the kernel time of all nodes
}

// ProfileOps reads a trace written by ONNX Runtime's profiler (see
// runtime.Options.Profile) and adds up its nodes' kernel time by op type,
// largest first.
func ProfileOps(path string) ([]OpTime, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var events []struct {
		Cat  string `json:"cat"`
		Name string `json:"name"`
		Dur  int64  `json:"dur"` // microseconds
		Args struct {
			OpName string `json:"op_name"`
		} `json:"args"`
	}
	if err := json.Unmarshal(b, &events); err != nil {
		return nil, fmt.Errorf("reading the profile %s: %w", path, err)
	}
	byOp := map[string]time.Duration{}
	var total time.Duration
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
			continue
		}
		d := time.Duration(e.Dur) * time.Microsecond
		byOp[e.Args.OpName] += d
		total += d
	}
	out := make([]OpTime, 0, len(byOp))
	for op, d := range byOp {
		out = append(out, OpTime{Op: op, Time: d, Share: float64(d) / float64(max(total, 1))})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Time != out[j].Time {
			return out[i].Time > out[j].Time
		}
		return out[i].Op < out[j].Op
	})
	return out, nil
}

// timed is a session, the time of its first call and its peak memory (see
// open), and the wall and CPU times of its timed calls. Each call writes
// its outputs into the previous call's (Session.RunInto), as a loop that
// calls a loss repeatedly does, so that the calls time the graph and not
// the Go heap's fresh memory for a new gradient each time.
type timed struct {
	s         *runtime.Session
	first     time.Duration
	peak      int64
	wall, cpu []time.Duration
	prev      map[string]*tensor.Tensor
}

func (t *timed) run(in map[string]*tensor.Tensor) error {
	_, err := t.call(in)
	return err
}

func (t *timed) call(in map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	c0, w0 := procstat.CPUTime(), time.Now()
	out, err := t.s.RunInto(in, t.prev)
	if err != nil {
		return nil, err
	}
	t.prev = out
	t.wall = append(t.wall, time.Since(w0))
	t.cpu = append(t.cpu, procstat.CPUTime()-c0)
	return out, nil
}

func (t *timed) medians() (wall, cpu time.Duration) { return median(t.wall), median(t.cpu) }

// open opens a loss session, checks the inputs once (the timed calls then
// run through the ONNX Runtime session alone, as the floor's do), and calls
// it twice: the first call's time is t.first, the second is the first timed
// call, and t.peak is the session's peak resident memory over both (see
// Result.PeakRSS).
func (t *timed) open(s *losses.Spec, cfg *losses.Config, o runtime.Options, in map[string]*tensor.Tensor) (closeFn func(), err error) {
	procstat.Settle()
	procstat.ResetPeak()
	base := procstat.Resident()
	ls, err := losssession.OpenConfig(s, cfg, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			ls.Close()
		}
	}()
	if err := ls.Check(in); err != nil {
		return nil, err
	}
	t.s = ls.Runtime()
	for i := range 2 {
		out, err := t.call(in)
		if err != nil {
			return nil, err
		}
		if cfg.Grad && out["input_grad"] == nil {
			return nil, fmt.Errorf("the graph with the grad option has no input_grad output")
		}
		if i == 0 {
			t.first = t.wall[0]
			t.wall, t.cpu = t.wall[:0], t.cpu[:0]
		}
		// Whatever the calls left is garbage now (the outputs are held
		// for the next call to write into): collected, it cannot add up
		// across calls.
		goruntime.GC()
	}
	if p := procstat.Peak(); p > base {
		t.peak = p - base
	}
	return func() { ls.Close() }, nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration{}, d...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
