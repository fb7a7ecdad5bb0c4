// Package train fine-tunes an exported segmentation model with an onnxloss
// loss, every computation in ONNX Runtime: it builds the model's training
// graph with an in-graph optimizer (export/training), runs one step per
// batch, evaluates mIoU and Dice on a held-out split after every epoch, and
// writes checkpoints that are plain inference models with the updated
// weights.
//
// A checkpoint FILE comes with FILE.state, the optimizer's state, the step
// count and the history of losses and evaluations, so that a run resumed
// from it (Config.Resume) continues where it stopped: with the same data,
// batch size and seed it takes the steps the interrupted run had left, on
// the same batches.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/export/training"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// Config says what to train, on what, and how.
type Config struct {
	// Model is the exported model (an .onnx file), or, with Resume, unused.
	Model string
	// Resume names a checkpoint written by an earlier run: its weights,
	// optimizer state, step count and history continue.
	Resume string
	// Loss names the loss and LossOptions are its options, as for
	// `onnxloss append`.
	Loss        string
	LossOptions losses.Options
	// Freeze lists glob patterns of parameters that do not train.
	Freeze []string
	// Data is a folder of NAME.image.npy and NAME.label.npy pairs (see
	// LoadDir); Samples, when not nil, are used instead.
	Data    string
	Samples []Sample
	// ValFraction of the samples (default 0.2, at least one sample) is
	// held out for evaluation; the split is the same for a seed.
	ValFraction float64
	// Epochs and Batch size the run.
	Epochs, Batch int
	// Optimizer is "sgd", "momentum" or "adamw" (the default), with
	// learning rate LR and weight decay WeightDecay.
	Optimizer       string
	LR, WeightDecay float64
	// Out is the checkpoint written after every epoch and at the end (or
	// on interruption).
	Out string
	// Provider is "cpu" (the default) or "cuda"; Threads caps ONNX
	// Runtime's threads (0: its default).
	Provider string
	Threads  int
	// Seed drives the split and the order of the batches.
	Seed uint64
	// Progress, when not nil, is told of every step, evaluation and
	// checkpoint.
	Progress func(Event)
}

// Event is one step, evaluation or checkpoint, for progress displays.
type Event struct {
	// Kind is "step", "eval" or "checkpoint".
	Kind string
	// Epoch counts from 1 to Epochs; Step is the step within the epoch
	// (from 1 to Steps) and Total the step count of the whole run.
	Epoch, Epochs, Step, Steps, Total int
	// Loss is the step's loss; ImagesPerSec the step's throughput.
	Loss, ImagesPerSec float64
	// Metrics holds an evaluation's result.
	Metrics *Metrics
	// Path is the checkpoint written.
	Path string
}

// Metrics are the scores of the model's hard prediction on the held-out
// split: per class, IoU = TP/(TP+FP+FN) and Dice = 2TP/(2TP+FP+FN) over
// the whole split; MIoU and Dice average the classes that occur in the
// prediction or the labels. IoU is -1 for a class that does neither.
type Metrics struct {
	Step       int       `json:"step"`
	MIoU       float64   `json:"miou"`
	Dice       float64   `json:"dice"`
	IoU        []float64 `json:"iou"`
	PixelsSeen int64     `json:"pixels"`
}

// Result is what a run did.
type Result struct {
	// Loss holds every step's loss, from the first step of the first run
	// when resumed.
	Loss []float64 `json:"loss"`
	// Evals holds every evaluation, the one before training first.
	Evals []Metrics `json:"evals"`
	// Steps counts the steps taken, resumed ones included.
	Steps int `json:"steps"`
	// Checkpoint is the last checkpoint written.
	Checkpoint string `json:"checkpoint"`
	// Interrupted reports that the context ended the run early.
	Interrupted bool `json:"interrupted"`
	// Params and Frozen count the trainable and the frozen parameters.
	Params int `json:"params"`
	Frozen int `json:"frozen"`
}

// ErrInterrupted is returned, with the result, when the context ends the
// run; the last checkpoint has been written.
var ErrInterrupted = errors.New("train: interrupted; the last checkpoint was written")

// session holds the opened training and evaluation graphs.
type trainer struct {
	cfg      Config
	lm       *modelio.Model
	rep      *training.Report
	train    *runtime.Session
	eval     *runtime.Session
	state    map[string]*tensor.Tensor // parameters, optimizer state, lr, step
	classes  int
	classAx  int
	sigmoid  bool
	multi    bool
	image    string
	target   string
	evalOut  string
	res      *Result
	tmp      string
	epoch    int // epochs completed
	done     int // steps completed in the epoch in progress
	progress func(Event)
}

// Run trains as cfg says. On interruption (ctx done) it finishes the step
// in flight, writes the checkpoint and returns ErrInterrupted with the
// result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	t, err := newTrainer(cfg)
	if err != nil {
		return nil, err
	}
	defer t.close()
	return t.run(ctx)
}

func (c *Config) defaults() error {
	if c.Optimizer == "" {
		c.Optimizer = "adamw"
	}
	if c.ValFraction == 0 {
		c.ValFraction = 0.2
	}
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("train: epochs must be at least 1, got %d", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("train: the batch size must be at least 1, got %d", c.Batch)
	case !(c.ValFraction > 0 && c.ValFraction < 1):
		return fmt.Errorf("train: the held-out fraction must be in (0, 1), got %v", c.ValFraction)
	case c.Out == "":
		return errors.New("train: no checkpoint path (Out)")
	case c.Model == "" && c.Resume == "":
		return errors.New("train: no model")
	}
	return nil
}

func newTrainer(cfg Config) (_ *trainer, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	t := &trainer{cfg: cfg, res: &Result{}, progress: cfg.Progress}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.progress == nil {
		t.progress = func(Event) {}
	}
	path := cfg.Model
	if cfg.Resume != "" {
		path = cfg.Resume
	}
	lm, err := modelio.Load(path)
	if err != nil {
		return nil, err
	}
	t.lm = lm
	// A checkpoint is read whole, so a resumed run may write over it
	// (atomically); a model with external data may not be overwritten.
	overwrite := cfg.Resume != "" && len(lm.External) == 0 && sameFile(cfg.Resume, cfg.Out)
	if !overwrite {
		if err := lm.CheckOutput(cfg.Out); err != nil {
			return nil, err
		}
	}
	opt := &training.Optimizer{Kind: cfg.Optimizer, LR: cfg.LR, WeightDecay: cfg.WeightDecay}
	tm, rep, err := training.Build(lm.Proto, training.Options{
		Append: splice.Options{Loss: cfg.Loss, LossOptions: cfg.LossOptions}, Freeze: cfg.Freeze, Optimizer: opt})
	if err != nil {
		return nil, err
	}
	t.rep = rep
	t.res.Params, t.res.Frozen = len(rep.Params), len(rep.Frozen)
	c := rep.Append.Config
	if c.Mode != losses.Multiclass && c.Mode != losses.Binary {
		return nil, &losses.OptionError{Loss: cfg.Loss, Err: fmt.Errorf(
			"the loss is in %s mode; the trainer feeds class-index labels, for multiclass or binary models", c.Mode)}
	}
	if c.Mode == losses.Multiclass && c.TargetForm != losses.TargetLabels {
		return nil, &losses.OptionError{Loss: cfg.Loss, Err: fmt.Errorf(
			"--target %s: the trainer feeds class-index labels; drop --target", c.TargetForm)}
	}
	if len(rep.Append.ExtraInputs) > 0 {
		return nil, fmt.Errorf("train: %s needs extra inputs (%v), which the trainer does not provide", cfg.Loss, rep.Append.ExtraInputs)
	}
	t.multi = c.Mode == losses.Multiclass
	t.classes = c.Classes
	t.classAx = 1
	if c.Layout == losses.NHWC {
		t.classAx = -1
	}
	t.sigmoid = rep.Append.Activation == "Sigmoid"
	t.target = rep.Append.Target
	t.evalOut = rep.Append.Output
	images := training.DataInputs(lm.Proto)
	if len(images) != 1 {
		return nil, fmt.Errorf("train: the model has inputs %v; the trainer feeds one image", images)
	}
	t.image = images[0]
	// The graphs live in a temporary folder for the run: ONNX Runtime reads
	// the model files (and their external data) when it opens a session.
	dir, err := os.MkdirTemp("", "onnxloss-train-")
	if err != nil {
		return nil, err
	}
	t.tmp = dir
	opts := runtime.Options{Provider: cfg.Provider, Threads: cfg.Threads}
	// With every parameter readable here, every step feeds them and ONNX
	// Runtime holds one session of the training graph.
	init, readable := training.InitialState(tm)
	if readable {
		opts.InitializerInputs = true
		t.state = init
	}
	tp := filepath.Join(dir, "train.onnx")
	if err := lm.WriteModel(tp, tm); err != nil {
		return nil, err
	}
	if t.train, err = runtime.NewSessionFromFile(tp, opts); err != nil {
		return nil, err
	}
	// The evaluation graph: the model with its parameters as inputs.
	em := proto.Clone(lm.Proto).(*onnxpb.ModelProto)
	have := map[string]bool{}
	for _, in := range em.Graph.Input {
		have[in.GetName()] = true
	}
	for _, init := range em.Graph.Initializer {
		if slices.Contains(rep.Params, init.GetName()) && !have[init.GetName()] {
			em.Graph.Input = append(em.Graph.Input, builder.ValueInfo(init.GetName(), tensor.DType(init.GetDataType()), dimsOf(init)))
		}
	}
	ep := filepath.Join(dir, "eval.onnx")
	if err := lm.WriteModel(ep, em); err != nil {
		return nil, err
	}
	eopts := opts
	eopts.InitializerInputs = t.state != nil
	if t.eval, err = runtime.NewSessionFromFile(ep, eopts); err != nil {
		return nil, err
	}
	if cfg.Resume != "" {
		if err := t.loadState(cfg.Resume + StateSuffix); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// sameFile reports whether two paths name the same existing file.
func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func dimsOf(t *onnxpb.TensorProto) builder.Shape {
	s := make(builder.Shape, len(t.GetDims()))
	for i, d := range t.GetDims() {
		s[i] = builder.Fixed(d)
	}
	return s
}

func (t *trainer) close() {
	if t.train != nil {
		t.train.Close()
	}
	if t.eval != nil {
		t.eval.Close()
	}
	if t.tmp != "" {
		os.RemoveAll(t.tmp)
	}
}

func (t *trainer) run(ctx context.Context) (*Result, error) {
	samples := t.cfg.Samples
	if samples == nil {
		var err error
		if samples, err = LoadDir(t.cfg.Data); err != nil {
			return nil, err
		}
	}
	if len(samples) < 2 {
		return nil, fmt.Errorf("train: %d samples; training and evaluation need at least 2", len(samples))
	}
	if err := t.checkSamples(samples); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(t.cfg.Seed, 0x5eed))
	order := r.Perm(len(samples))
	nval := max(1, int(math.Ceil(t.cfg.ValFraction*float64(len(samples)))))
	if nval >= len(samples) {
		nval = len(samples) - 1
	}
	val := make([]Sample, nval)
	for i := range val {
		val[i] = samples[order[i]]
	}
	tr := make([]Sample, 0, len(samples)-nval)
	for _, i := range order[nval:] {
		tr = append(tr, samples[i])
	}
	if len(t.res.Evals) == 0 {
		m, err := t.evaluate(val)
		if err != nil {
			return nil, err
		}
		t.res.Evals = append(t.res.Evals, *m)
		t.progress(Event{Kind: "eval", Epochs: t.cfg.Epochs, Total: t.res.Steps, Metrics: m})
	}
	steps := (len(tr) + t.cfg.Batch - 1) / t.cfg.Batch
	for t.epoch < t.cfg.Epochs {
		epoch := t.epoch + 1
		perm := rand.New(rand.NewPCG(t.cfg.Seed, uint64(epoch))).Perm(len(tr))
		for s := t.done; s < steps; s++ {
			batch := make([]Sample, 0, t.cfg.Batch)
			for _, i := range perm[s*t.cfg.Batch : min((s+1)*t.cfg.Batch, len(tr))] {
				batch = append(batch, tr[i])
			}
			start := time.Now()
			loss, err := t.step(batch)
			if err != nil {
				return nil, err
			}
			t.res.Loss = append(t.res.Loss, loss)
			t.res.Steps++
			t.progress(Event{Kind: "step", Epoch: epoch, Epochs: t.cfg.Epochs, Step: s + 1, Steps: steps, Total: t.res.Steps,
				Loss: loss, ImagesPerSec: float64(len(batch)) / time.Since(start).Seconds()})
			t.done = s + 1
			if ctx.Err() != nil && s+1 < steps {
				t.res.Interrupted = true
				if err := t.checkpoint(); err != nil {
					return nil, err
				}
				return t.res, ErrInterrupted
			}
		}
		t.epoch, t.done = epoch, 0
		m, err := t.evaluate(val)
		if err != nil {
			return nil, err
		}
		t.res.Evals = append(t.res.Evals, *m)
		t.progress(Event{Kind: "eval", Epoch: epoch, Epochs: t.cfg.Epochs, Total: t.res.Steps, Metrics: m})
		if err := t.checkpoint(); err != nil {
			return nil, err
		}
		if ctx.Err() != nil && t.epoch < t.cfg.Epochs {
			t.res.Interrupted = true
			return t.res, ErrInterrupted
		}
	}
	return t.res, nil
}

// checkSamples refuses labels the loss would refuse, before any step, naming
// the file: a class outside [0, classes) that is not the ignore index.
func (t *trainer) checkSamples(samples []Sample) error {
	if !t.multi {
		return nil // nonzero is foreground
	}
	ignore := t.rep.Append.Config.IgnoreIndex
	for _, s := range samples {
		if err := losssession.CheckLabels(s.Label, t.classes, ignore); err != nil {
			msg := strings.Replace(err.Error(), "target[", "label[", 1)
			hint := "; give --ignore-index for a label that marks pixels to leave out"
			if ignore != nil {
				hint = ""
			}
			return fmt.Errorf("train: %s%s: %s (the model has %d classes)%s", s.Name, LabelSuffix, msg, t.classes, hint)
		}
	}
	return nil
}

// targetOf turns class labels into the loss's target.
func (t *trainer) targetOf(lab *tensor.Tensor) *tensor.Tensor {
	if t.multi {
		return lab
	}
	d := lab.Data.([]int64)
	f := make([]float32, len(d))
	for i, v := range d {
		if v != 0 {
			f[i] = 1
		}
	}
	shape := append([]int{lab.Shape[0], 1}, lab.Shape[1:]...)
	if t.classAx == -1 {
		shape = append(append([]int{}, lab.Shape...), 1)
	}
	return tensor.FromFloat32(shape, f)
}

// step runs one training step and keeps the updated state.
func (t *trainer) step(batch []Sample) (float64, error) {
	img, lab := stack(batch)
	feeds := map[string]*tensor.Tensor{t.image: img, t.target: t.targetOf(lab)}
	for k, v := range t.state {
		feeds[k] = v
	}
	out, err := t.train.Run(feeds)
	if err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t.res.Steps+1, err)
	}
	if t.state == nil {
		t.state = map[string]*tensor.Tensor{}
		t.state[training.LRName] = tensor.FromFloat32(nil, []float32{float32(t.cfg.LR)})
	}
	for name, v := range out {
		if base, ok := strings.CutSuffix(name, training.NextSuffix); ok {
			t.state[base] = v
		}
	}
	loss := out["loss"].Float64s()[0]
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train: step %d: the loss is %v (lower the learning rate?)", t.res.Steps+1, loss)
	}
	return loss, nil
}

// evaluate scores the model with the current weights on the held-out
// samples.
func (t *trainer) evaluate(val []Sample) (*Metrics, error) {
	classes := t.classes
	if !t.multi {
		classes = 2
	}
	tp, fp, fn := make([]int64, classes), make([]int64, classes), make([]int64, classes)
	var pixels int64
	for s := 0; s < len(val); s += t.cfg.Batch {
		batch := val[s:min(s+t.cfg.Batch, len(val))]
		img, lab := stack(batch)
		feeds := map[string]*tensor.Tensor{t.image: img}
		if t.state != nil {
			for _, p := range t.rep.Params {
				feeds[p] = t.state[p]
			}
		}
		out, err := t.eval.Run(feeds)
		if err != nil {
			return nil, fmt.Errorf("train: evaluating: %w", err)
		}
		pred := t.predict(out[t.evalOut])
		for i, want := range lab.Data.([]int64) {
			got := pred[i]
			if want < 0 || want >= int64(classes) {
				continue // an ignored or out-of-range label
			}
			pixels++
			if got == want {
				tp[got]++
			} else {
				fp[got]++
				fn[want]++
			}
		}
	}
	m := &Metrics{Step: t.res.Steps, IoU: make([]float64, classes), PixelsSeen: pixels}
	n := 0
	for c := range tp {
		union := tp[c] + fp[c] + fn[c]
		if union == 0 {
			m.IoU[c] = -1
			continue
		}
		m.IoU[c] = float64(tp[c]) / float64(union)
		m.MIoU += m.IoU[c]
		m.Dice += 2 * float64(tp[c]) / float64(union+tp[c])
		n++
	}
	if n > 0 {
		m.MIoU /= float64(n)
		m.Dice /= float64(n)
	}
	return m, nil
}

// predict returns the hard prediction per pixel, [N*H*W] in label order.
func (t *trainer) predict(y *tensor.Tensor) []int64 {
	d := y.Float64s()
	shape := y.Shape
	n := shape[0]
	var c, plane int
	if t.classAx == 1 {
		c = shape[1]
		plane = tensor.NumElements(shape[2:])
	} else {
		c = shape[len(shape)-1]
		plane = tensor.NumElements(shape[1 : len(shape)-1])
	}
	out := make([]int64, n*plane)
	for b := 0; b < n; b++ {
		for p := 0; p < plane; p++ {
			at := func(k int) float64 {
				if t.classAx == 1 {
					return d[(b*c+k)*plane+p]
				}
				return d[(b*plane+p)*c+k]
			}
			if !t.multi {
				threshold := 0.0
				if t.sigmoid {
					threshold = 0.5
				}
				if at(0) > threshold {
					out[b*plane+p] = 1
				}
				continue
			}
			best := 0
			for k := 1; k < c; k++ {
				if at(k) > at(best) {
					best = k
				}
			}
			out[b*plane+p] = int64(best)
		}
	}
	return out
}

// StateSuffix names a checkpoint's state file: FILE + StateSuffix.
const StateSuffix = ".state"

// checkpoint writes the model with the current weights to Out, atomically,
// and its state file.
func (t *trainer) checkpoint() error {
	m := proto.Clone(t.lm.Proto).(*onnxpb.ModelProto)
	if t.state != nil {
		for i, init := range m.Graph.Initializer {
			if v, ok := t.state[init.GetName()]; ok && slices.Contains(t.rep.Params, init.GetName()) {
				m.Graph.Initializer[i] = builder.TensorProto(init.GetName(), v.Convert(tensor.DType(init.GetDataType())))
			}
		}
	}
	hist, _ := json.Marshal(t.res)
	st := &onnxpb.ModelProto{
		IrVersion: proto.Int64(8),
		Graph:     &onnxpb.GraphProto{Name: proto.String("onnxloss.train.state")},
		MetadataProps: []*onnxpb.StringStringEntryProto{
			{Key: proto.String("onnxloss.train.epoch"), Value: proto.String(strconv.Itoa(t.epoch))},
			{Key: proto.String("onnxloss.train.epoch_steps"), Value: proto.String(strconv.Itoa(t.done))},
			{Key: proto.String("onnxloss.train.history"), Value: proto.String(string(hist))},
		},
	}
	for name, v := range t.state {
		if !slices.Contains(t.rep.Params, name) {
			st.Graph.Initializer = append(st.Graph.Initializer, builder.TensorProto(name, v))
		}
	}
	sort.Slice(st.Graph.Initializer, func(i, j int) bool { return st.Graph.Initializer[i].GetName() < st.Graph.Initializer[j].GetName() })
	if err := modelio.Save(t.cfg.Out+StateSuffix, st); err != nil {
		return fmt.Errorf("train: writing the checkpoint's state: %w", err)
	}
	write := t.lm.WriteModel
	if len(t.lm.External) == 0 {
		write = modelio.Save
	}
	if err := write(t.cfg.Out, m); err != nil {
		return fmt.Errorf("train: writing the checkpoint: %w", err)
	}
	t.res.Checkpoint = t.cfg.Out
	t.progress(Event{Kind: "checkpoint", Epoch: t.epoch, Epochs: t.cfg.Epochs, Total: t.res.Steps, Path: t.cfg.Out})
	return nil
}

// loadState reads a checkpoint's state file: the parameters come from the
// checkpoint itself, the optimizer state and history from the file.
func (t *trainer) loadState(path string) error {
	lm, err := modelio.Load(path)
	if err != nil {
		return fmt.Errorf("train: resuming needs the checkpoint's state file: %w", err)
	}
	state := map[string]*tensor.Tensor{}
	for _, init := range lm.Proto.GetGraph().GetInitializer() {
		v := training.Decode(init)
		if v == nil {
			return fmt.Errorf("train: %s: cannot read %q", path, init.GetName())
		}
		state[init.GetName()] = v
	}
	for _, init := range t.lm.Proto.GetGraph().GetInitializer() {
		if slices.Contains(t.rep.Params, init.GetName()) {
			v := training.Decode(init)
			if v == nil {
				return fmt.Errorf("train: %s: cannot read parameter %q", t.cfg.Resume, init.GetName())
			}
			state[init.GetName()] = v
		}
	}
	if _, ok := state[training.LRName]; !ok {
		return fmt.Errorf("train: %s holds no optimizer state", path)
	}
	// The learning rate is this run's.
	state[training.LRName] = tensor.FromFloat32(nil, []float32{float32(t.cfg.LR)})
	for _, suffix := range (&training.Optimizer{Kind: t.cfg.Optimizer}).States() {
		if _, ok := state[t.rep.Params[0]+suffix]; !ok {
			return fmt.Errorf("train: %s was written with another optimizer than %s", path, t.cfg.Optimizer)
		}
	}
	t.state = state
	for _, kv := range lm.Proto.GetMetadataProps() {
		switch kv.GetKey() {
		case "onnxloss.train.epoch":
			t.epoch, _ = strconv.Atoi(kv.GetValue())
		case "onnxloss.train.epoch_steps":
			t.done, _ = strconv.Atoi(kv.GetValue())
		case "onnxloss.train.history":
			var prev Result
			if err := json.Unmarshal([]byte(kv.GetValue()), &prev); err == nil {
				t.res.Loss, t.res.Evals, t.res.Steps = prev.Loss, prev.Evals, prev.Steps
			}
		}
	}
	if t.epoch >= t.cfg.Epochs {
		return fmt.Errorf("train: the checkpoint has %d epochs already; ask for more than that with --epochs", t.epoch)
	}
	return nil
}
