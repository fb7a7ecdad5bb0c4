package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/internal/procstat"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// TrainOptions say which training step MeasureTrain times.
type TrainOptions struct {
	// Model is the exported model; Loss and LossOptions the loss.
	Model       string
	Loss        string
	LossOptions losses.Options
	// Shape is the model input's shape.
	Shape []int
	// LR is SGD's learning rate (default 0.01).
	LR float64
	// Iters timed steps after the first (default 5).
	Iters int
	// Runtime are the session's options; Profile, when set, profiles it
	// (see Options.Profile).
	Runtime runtime.Options
	Profile string
	Seed    uint64
}

// TrainResult is the timing of one training step: forward pass, loss, every
// parameter's gradient and the SGD update, run as one graph, with the
// parameters fed in and read back as a training loop does.
type TrainResult struct {
	Loss  string `json:"loss"`
	Shape []int  `json:"shape"`
	// Params counts the trainable parameters and ParamBytes their size.
	Params     int   `json:"params"`
	ParamBytes int64 `json:"param_bytes"`
	// First is the first step's time (session creation excluded); Step the
	// median of the timed steps and StepCPU their median CPU time.
	First, Step, StepCPU time.Duration
	// PeakRSS is the growth of the process's peak resident memory while
	// the session is made and runs its first two steps.
	PeakRSS int64 `json:"peak_rss"`
	// Profile is the kernel time by op type, with TrainOptions.Profile.
	Profile []OpTime `json:"profile,omitempty"`
}

// MeasureTrain times training steps of a model with a loss and SGD.
func MeasureTrain(o TrainOptions) (TrainResult, error) {
	res := TrainResult{Loss: o.Loss, Shape: o.Shape}
	if o.LR == 0 {
		o.LR = 0.01
	}
	if o.Iters <= 0 {
		o.Iters = 5
	}
	lm, err := modelio.Load(o.Model)
	if err != nil {
		return res, err
	}
	tm, rep, err := training.Build(lm.Proto, training.Options{
		Append:    splice.Options{Loss: o.Loss, LossOptions: o.LossOptions},
		Optimizer: &training.Optimizer{Kind: "sgd", LR: o.LR}})
	if err != nil {
		return res, err
	}
	res.Params = len(rep.Params)
	dir, err := os.MkdirTemp("", "onnxloss-bench-train-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "train.onnx")
	if err := lm.WriteModel(path, tm); err != nil {
		return res, err
	}
	// Inputs: a random image and random labels (or masks).
	r := rand.New(rand.NewPCG(o.Seed, 7))
	img := tensor.New(tensor.Float32, o.Shape...)
	for i, d := 0, img.Data.([]float32); i < len(d); i++ {
		d[i] = float32(r.NormFloat64())
	}
	cfg := rep.Append.Config
	var target *tensor.Tensor
	tshape := append([]int{}, o.Shape...)
	layoutLast := cfg.Layout == losses.NHWC
	if cfg.Mode == losses.Multiclass {
		if layoutLast {
			tshape = tshape[:len(tshape)-1]
		} else {
			tshape = append(tshape[:1:1], tshape[2:]...)
		}
		target = tensor.New(tensor.Int64, tshape...)
		for i, d := 0, target.Data.([]int64); i < len(d); i++ {
			d[i] = int64(r.IntN(cfg.Classes))
		}
	} else {
		return res, fmt.Errorf("bench --train times multiclass losses; %s is in %s mode here", o.Loss, cfg.Mode)
	}
	images := training.DataInputs(lm.Proto)
	if len(images) != 1 {
		return res, fmt.Errorf("bench --train feeds one image; the model has inputs %v", images)
	}
	in := map[string]*tensor.Tensor{images[0]: img, rep.Append.Target: target}

	rt := o.Runtime
	if o.Profile != "" {
		rt.Profile = o.Profile
	}
	// A training loop that can read every parameter feeds them from the
	// first step, and ONNX Runtime holds one session (see
	// runtime.Options.InitializerInputs).
	state, readable := training.InitialState(tm)
	rt.InitializerInputs = readable
	if !readable {
		state = map[string]*tensor.Tensor{}
	}
	procstat.Settle()
	procstat.ResetPeak()
	base := procstat.Resident()
	s, err := runtime.NewSessionFromFile(path, rt)
	if err != nil {
		return res, err
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	step := func(feed bool) (time.Duration, time.Duration, error) {
		feeds := map[string]*tensor.Tensor{}
		for k, v := range in {
			feeds[k] = v
		}
		if feed {
			for k, v := range state {
				feeds[k] = v
			}
		}
		c0, t0 := procstat.CPUTime(), time.Now()
		out, err := s.Run(feeds)
		d, c := time.Since(t0), procstat.CPUTime()-c0
		if err != nil {
			return 0, 0, err
		}
		for name, v := range out {
			if b, ok := strings.CutSuffix(name, training.NextSuffix); ok {
				state[b] = v
			}
		}
		state[training.LRName] = tensor.FromFloat32(nil, []float32{float32(o.LR)})
		return d, c, nil
	}
	if res.First, _, err = step(readable); err != nil {
		return res, err
	}
	for _, p := range rep.Params {
		res.ParamBytes += int64(state[p].Len() * state[p].DType.Size())
	}
	// The second step, untimed: where the first could not feed the
	// parameters, it opens ONNX Runtime's session that takes them (see
	// runtime.IOInfo.Optional).
	if _, _, err := step(true); err != nil {
		return res, err
	}
	res.PeakRSS = procstat.Peak() - base
	var times, cpus []time.Duration
	for i := 0; i < o.Iters; i++ {
		d, c, err := step(true)
		if err != nil {
			return res, err
		}
		times, cpus = append(times, d), append(cpus, c)
	}
	res.Step, res.StepCPU = median(times), median(cpus)
	if o.Profile != "" {
		s.Close()
		closed = true
		files, _ := filepath.Glob(o.Profile + "*.json")
		if len(files) == 0 {
			return res, fmt.Errorf("ONNX Runtime wrote no profile %s*.json", o.Profile)
		}
		sort.Strings(files)
		if res.Profile, err = ProfileOps(files[len(files)-1]); err != nil {
			return res, err
		}
	}
	return res, nil
}
