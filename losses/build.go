package losses

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	. "github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// Ctx is what a Spec's Build receives: the graph, the resolved options, and
// the inputs already declared and brought to the canonical form every loss
// is written against.
type Ctx struct {
	G *Graph
	*Config
	Spec *Spec
	// Input is the graph input exactly as the user feeds it (any dtype and layout).
	Input *Value
	// X is the input in compute precision (float32, or float64 for float64
	// input) and channel-first layout [N,C,*spatial]; logits are clamped to
	// ±reference.LogitBound, with the gradient passing through the clamp.
	X *Value
	// RawTarget is the target as fed (its dtype and layout).
	RawTarget *Value
	// Extra holds the extra inputs by name, canonical like X (float maps in
	// compute precision and channel-first layout; label maps as int64).
	Extra map[string]*Value
	// X, RawTarget and Extra are computed after the graph's checks (see
	// CheckPrefix): a loss never reads Input's values directly.

	cache map[string]*Value
	// batch holds, in the per-sample form's body, the values the loss
	// takes from the whole batch (Spec.BatchValues).
	batch map[string]*Value
	// unclamped is X before the clamp of huge logits, where X is nothing
	// more than that clamp (channels-first input); nil otherwise.
	unclamped *Value
}

// ComputeType is the precision arithmetic runs in: float32, or float64 when
// the input is float64.
func (c *Config) ComputeType() tensor.DType {
	if c.DType == tensor.Float64 {
		return tensor.Float64
	}
	return tensor.Float32
}

// InputShape is the declared shape of the input: symbolic N and spatial
// dimensions, C fixed when known.
func (c *Config) InputShape() Shape {
	ch := Sym("C")
	if c.Classes > 0 {
		ch = Fixed(int64(c.Classes))
	}
	sp := c.spatialShape()
	if c.Layout == NHWC {
		return append(append(Shape{Sym("N")}, sp...), ch)
	}
	return append(Shape{Sym("N"), ch}, sp...)
}

func (c *Config) spatialShape() Shape {
	names := map[int][]string{1: {"L"}, 2: {"H", "W"}, 3: {"D", "H", "W"}}[c.SpatialDims]
	s := make(Shape, len(names))
	for i, n := range names {
		s[i] = Sym(n)
	}
	return s
}

// PixelShape is [N,*spatial], the shape of label maps and pixel weights.
func (c *Config) PixelShape() Shape { return append(Shape{Sym("N")}, c.spatialShape()...) }

// TargetSpec returns the dtype and shape of the target input.
func (c *Config) TargetSpec() (tensor.DType, Shape) {
	if c.Mode == Multiclass && c.TargetForm == TargetLabels {
		return tensor.Int64, c.PixelShape()
	}
	return c.targetFloatType(), c.InputShape()
}

func (c *Config) targetFloatType() tensor.DType {
	if c.DType == tensor.Float64 {
		return tensor.Float64
	}
	return tensor.Float32
}

// ExtraInputs returns the extra inputs present under the configuration.
func (s *Spec) ExtraInputs(c *Config) []ExtraInput {
	var out []ExtraInput
	for _, e := range s.Extra {
		if e.Enabled == nil || e.Enabled(c) {
			out = append(out, e)
		}
	}
	return out
}

// ExtraSpec returns the dtype and shape of an extra input.
func (c *Config) ExtraSpec(e ExtraInput) (tensor.DType, Shape) {
	switch e.Kind {
	case ChannelMap:
		return c.targetFloatType(), c.InputShape()
	case InstanceLabels:
		return tensor.Int64, c.PixelShape()
	}
	return c.targetFloatType(), c.PixelShape()
}

// Build writes the loss graph for a resolved configuration: inputs, the
// loss's own nodes and the float32 output `loss`. With cfg.Grad it adds the
// output `input_grad`, d loss / d input, with the shape and type of
// `input`: builder.Gradient's backward graph, in standard ONNX ops, through
// the cast and layout change of the input.
func Build(s *Spec, cfg *Config) (g *Graph, err error) {
	g = NewGraph("onnxloss_"+s.Name, cfg.Opset)
	g.SetDoc(s.Summary)
	defer func() {
		// Build functions may panic on programming errors (a misnamed
		// parameter); callers get an error, never a panic.
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("building %s: %v", s.Name, r)
		}
	}()
	c := newCtx(g, cfg, s)
	c.Input = g.Input("input", cfg.DType, cfg.InputShape())
	tdt, tshape := cfg.TargetSpec()
	target := g.Input("target", tdt, tshape)
	extras := s.ExtraInputs(cfg)
	for _, e := range extras {
		dt, shape := cfg.ExtraSpec(e)
		c.Extra[e.Name] = g.Input(e.Name, dt, shape)
	}
	// Everything the loss computes comes from inputs that passed the checks.
	safe := c.addChecks(target, extras)
	if cfg.Grad && cfg.Reduction != None && s.PerSample != nil && s.PerSample(cfg) && perSampleFits(cfg) {
		return c.buildPerSample(safe, extras)
	}
	c.useChecks(safe, nil)
	pop := g.Scope(s.Name)
	loss := Name(c.lossOn(safe.input, safe.extra, extras), "loss")
	out := Name(Cast(loss, tensor.Float32), "loss_float32") // no node when the loss is float32
	pop()
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building %s: %w", s.Name, err)
	}
	if loss == nil {
		return nil, fmt.Errorf("building %s: Build returned no value", s.Name)
	}
	g.Output("loss", out)
	if cfg.Grad {
		// The gradient of the loss as computed, before its cast to float32.
		// Resolve refuses --grad with reduction none; a hand-made Config
		// gets the same answer.
		if loss.Rank() > 0 {
			return nil, fmt.Errorf("building %s: --grad needs a scalar loss: use --reduction mean or sum", s.Name)
		}
		pop := g.Scope(s.Name)
		grad := Gradient(loss, c.Input)[0]
		pop()
		g.Output("input_grad", grad)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building %s: %w", s.Name, err)
	}
	return g, nil
}

// newCtx starts a context for building the loss s on the graph g.
func newCtx(g *Graph, cfg *Config, s *Spec) *Ctx {
	return &Ctx{G: g, Config: cfg, Spec: s, Extra: map[string]*Value{}, cache: map[string]*Value{}}
}

// useChecks hands the context the target and what the checks computed from
// it (the label map, the target's sums), through read when the context is
// on a branch of the graph the checks are on (its Capture; nil: the same
// graph).
func (c *Ctx) useChecks(safe guarded, read func(*Value) *Value) {
	if read == nil {
		read = func(v *Value) *Value { return v }
	}
	c.RawTarget = read(safe.target)
	if safe.labels != nil {
		c.cache["labels"] = read(safe.labels)
	}
	if safe.targetSums != nil {
		c.cache["checked_target_sums"] = read(safe.targetSums)
	}
}

// BatchValue returns the value of the whole batch called name when the
// loss is being built for one sample of the per-sample form (see
// Spec.BatchValues), nil otherwise: the loss then computes it itself.
func (c *Ctx) BatchValue(name string) *Value { return c.batch[name] }

// lossOn brings the checked input and extra inputs to their canonical form
// (X, Extra) and builds the loss on them.
func (c *Ctx) lossOn(input *Value, extra map[string]*Value, extras []ExtraInput) *Value {
	cfg := c.Config
	x := Cast(input, cfg.ComputeType())
	clamped := x
	if cfg.FromLogits && cfg.DType != tensor.Float16 { // float16 ends at 65504
		clamped = ClipStraightThrough(x, -reference.LogitBound, reference.LogitBound)
	}
	c.X = c.channelsFirst(clamped)
	if c.X == clamped {
		c.unclamped = x
	}
	for _, e := range extras {
		v := extra[e.Name]
		if e.Kind == ChannelMap {
			v = c.channelsFirst(Cast(v, cfg.ComputeType()))
		} else if e.Kind == PixelWeights {
			v = Cast(v, cfg.ComputeType())
		}
		c.Extra[e.Name] = v
	}
	return c.Spec.Build(c)
}

// perSampleMinElements and perSampleMaxElements bound the size of a
// sample, in entries of the input, that a decomposable loss's gradient graph
// computes one sample at a time. At 1×512×512 (262144 entries) the sample's
// intermediate tensors stay in the processor's cache and binary Dice with
// its gradient takes about 0.8 of the whole-batch graph's time, bce about
// 0.65 (`go test ./bench -bench PerSample`); at 4×128×128×128 (8388608) the
// Scan's per-sample work no longer fits and costs 1.1 to 1.25 times the
// whole-batch graph. Below 65536 entries (1×256×256, where the Scan takes
// 0.8 of the time for Dice and 0.65 for bce) its cost per iteration, tens of
// microseconds, outweighs what the cache saves: 32 samples of 128×128 took
// 1.3 times as long for Dice, 512 samples of 16×16 about 25 times.
const (
	perSampleMinElements = 1 << 16
	perSampleMaxElements = 1 << 21
)

// perSampleFits reports whether the configuration can hold the per-sample
// form: the Scan and If of opsets 13 to 15 take no bfloat16 tensors.
func perSampleFits(cfg *Config) bool {
	return cfg.DType != tensor.BFloat16 || cfg.Opset >= 16
}

// buildPerSample writes the loss and its gradient for a loss that
// decomposes over the batch (Spec.PerSample). An If picks the form at run
// time: with more than one sample of perSampleMinElements to
// perSampleMaxElements entries, a Scan over the samples whose body builds
// the loss of one sample, as a batch of one, and its gradient, scaled by 1/N
// under reduction mean, the loss output being the mean (or sum) of the
// samples' losses; otherwise the whole-batch graph. The two give the same
// loss and gradient to rounding; the per-sample one keeps every
// intermediate tensor one sample's size. The Scan reads nothing but its
// scanned inputs (1/N comes as one more, an entry per sample): no state
// variables, which some runtimes handle poorly.
func (c *Ctx) buildPerSample(safe guarded, extras []ExtraInput) (*Graph, error) {
	g, s, cfg := c.G, c.Spec, c.Config
	pop := g.Scope(s.Name)
	shape := ShapeOf(safe.input)
	n := Name(Gather(shape, Int(g, 0), 0), "batch")
	sample := ReduceProd(Slice(shape, []int64{1}, []int64{math.MaxInt64}, []int64{0}, nil), false)
	small := And(Greater(n, Int(g, 1)), And(GreaterOrEqual(sample, Int(g, perSampleMinElements)),
		LessOrEqual(sample, Int(g, perSampleMaxElements))))
	// Values of the whole batch that each sample's loss reads, each
	// repeated once per sample for the Scan.
	var batchNames []string
	var batchValues []*Value
	if s.BatchValues != nil {
		oc := newCtx(g, cfg, s)
		oc.Input = safe.input
		oc.useChecks(safe, nil)
		m := s.BatchValues(oc)
		for name := range m {
			batchNames = append(batchNames, name)
		}
		sort.Strings(batchNames)
		for _, name := range batchNames {
			v := m[name]
			batchValues = append(batchValues, Name(Expand(Unsqueeze(v, 0), Concat(0, Unsqueeze(n, 0), ShapeOf(v))), "batch_"+name))
		}
	}
	var scales *Value
	if cfg.Reduction == Mean {
		scale := Reciprocal(Cast(n, cfg.ComputeType()))
		scales = Name(Expand(scale, Unsqueeze(n, 0)), "one_over_batch")
	}
	perSample := func(b *Graph) []*Value {
		scanned := []*Value{b.Capture(safe.input), b.Capture(safe.target)}
		for _, e := range extras {
			scanned = append(scanned, b.Capture(safe.extra[e.Name]))
		}
		for _, v := range batchValues {
			scanned = append(scanned, b.Capture(v))
		}
		if scales != nil {
			scanned = append(scanned, b.Capture(scales))
		}
		outs := Scan(b, scanned, func(sb *ScanBody) []*Value {
			bc := newCtx(sb.G, cfg, s)
			bc.batch = map[string]*Value{}
			for i, name := range batchNames {
				bc.batch[name] = sb.Slices[2+len(extras)+i]
			}
			bc.Input = Unsqueeze(sb.Slices[0], 0)
			bc.RawTarget = Unsqueeze(sb.Slices[1], 0)
			extra := map[string]*Value{}
			for i, e := range extras {
				extra[e.Name] = Unsqueeze(sb.Slices[2+i], 0)
			}
			l := Name(bc.lossOn(bc.Input, extra, extras), "sample_loss")
			seeded := l
			if scales != nil {
				seeded = Mul(l, sb.Slices[len(sb.Slices)-1])
			}
			return []*Value{l, Squeeze(Gradient(seeded, bc.Input)[0], 0)}
		})
		if len(outs) != 2 {
			return []*Value{nil, nil}
		}
		if cfg.Reduction == Mean {
			return []*Value{ReduceMean(outs[0], false), outs[1]}
		}
		return []*Value{ReduceSum(outs[0], false), outs[1]}
	}
	wholeBatch := func(b *Graph) []*Value {
		bc := newCtx(b, cfg, s)
		bc.Input = b.Capture(safe.input)
		bc.useChecks(safe, b.Capture)
		extra := map[string]*Value{}
		for _, e := range extras {
			extra[e.Name] = b.Capture(safe.extra[e.Name])
		}
		l := bc.lossOn(bc.Input, extra, extras)
		return []*Value{l, Gradient(l, bc.Input)[0]}
	}
	outs := If(g, small, perSample, wholeBatch)
	if err := g.Err(); err != nil {
		pop()
		return nil, fmt.Errorf("building %s: %w", s.Name, err)
	}
	loss := Name(outs[0], "loss")
	out := Name(Cast(loss, tensor.Float32), "loss_float32")
	pop()
	g.Output("loss", out)
	g.Output("input_grad", outs[1])
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("building %s: %w", s.Name, err)
	}
	return g, nil
}

// Doc describes the model of a configuration in words: the loss, its
// summary, every resolved option (preset and defaults included) and the
// onnxloss version that built it.
func (c *Config) Doc(s *Spec, version string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(c.ParamsJSON()), &m); err != nil {
		panic(err) // ParamsJSON writes an object
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "onnxloss %s: %s loss. %s\nOptions:", version, s.Name, s.Summary)
	for _, k := range keys {
		v, _ := json.Marshal(m[k])
		if str, ok := m[k].(string); ok {
			v = []byte(str)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

// Annotate writes c.Doc into a graph built by Build: as the graph's doc
// string, and as the doc string of the node that writes the output loss,
// which keeps it when the graph is spliced into a model. Graph viewers show
// it with that node (Netron: the node's description).
func Annotate(g *Graph, s *Spec, c *Config, version string) {
	doc := c.Doc(s, version)
	g.SetDoc(doc)
	if v := g.OutputValue("loss"); v != nil {
		Doc(v, doc)
	}
}

// Metadata returns the onnxloss.* entries that describe the configuration.
func (c *Config) Metadata(version string) [][2]string {
	return [][2]string{
		{"onnxloss.loss", c.Loss},
		{"onnxloss.version", version},
		{"onnxloss.mode", string(c.Mode)},
		{"onnxloss.params", c.ParamsJSON()},
	}
}

// channelsFirst moves the channel axis of an NHWC value to position 1.
func (c *Ctx) channelsFirst(v *Value) *Value {
	if c.Layout != NHWC {
		return v
	}
	r := v.Rank()
	perm := []int{0, r - 1}
	for i := 1; i < r-1; i++ {
		perm = append(perm, i)
	}
	return Transpose(v, perm...)
}

// channelsLast is the inverse of channelsFirst, for per-element outputs.
func (c *Ctx) channelsLast(v *Value) *Value {
	if c.Layout != NHWC {
		return v
	}
	r := v.Rank()
	perm := []int{0}
	for i := 2; i < r; i++ {
		perm = append(perm, i)
	}
	return Transpose(v, append(perm, 1)...)
}

func (c *Ctx) cached(key string, f func() *Value) *Value {
	if v, ok := c.cache[key]; ok {
		return v
	}
	v := f()
	c.cache[key] = v
	return v
}

// SpatialAxes returns the spatial axes of canonical values: 2.. rank-1.
func (c *Ctx) SpatialAxes() []int {
	axes := make([]int, c.SpatialDims)
	for i := range axes {
		axes[i] = 2 + i
	}
	return axes
}

// Labels returns the multiclass label map [N,*spatial] with ignored pixels
// set to class 0, so they index safely (their loss is masked anyway).
func (c *Ctx) Labels() *Value {
	return c.cached("labels", func() *Value {
		if c.Mode != Multiclass || c.TargetForm != TargetLabels {
			c.G.Fail("label map requested outside multiclass label mode")
			return c.RawTarget
		}
		y := c.RawTarget
		if c.IgnoreIndex != nil {
			ignored := Equal(y, Int(c.G, *c.IgnoreIndex))
			y = Name(Where(ignored, Int(c.G, 0), y), "labels")
		}
		return y
	})
}

// PixelValid is the float mask [N,*spatial] of pixels that count (multiclass
// label mode), or nil when nothing is ignored.
func (c *Ctx) PixelValid() *Value {
	if c.IgnoreIndex == nil || c.Mode != Multiclass || c.TargetForm != TargetLabels {
		return nil
	}
	return c.cached("pixel_valid", func() *Value {
		keep := Not(Equal(c.RawTarget, Int(c.G, *c.IgnoreIndex)))
		return Name(Cast(keep, c.ComputeType()), "valid_pixels")
	})
}

// Valid is the float mask of entries that count, shaped like Target(): [N,C,*]
// in binary and multilabel mode, [N,1,*] in multiclass mode; nil when
// nothing is ignored.
func (c *Ctx) Valid() *Value {
	if c.IgnoreIndex == nil {
		return nil
	}
	return c.cached("valid", func() *Value {
		if c.Mode == Multiclass {
			return Name(Unsqueeze(c.PixelValid(), 1), "valid")
		}
		raw := c.channelsFirst(c.RawTarget)
		keep := Not(Equal(raw, ConstAs(raw, float64(*c.IgnoreIndex))))
		return Name(Cast(keep, c.ComputeType()), "valid")
	})
}

// Target returns the target as float [N,C,*spatial] in compute precision:
// the (soft) target itself in binary and multilabel mode, with ignored
// entries zeroed; a one-hot encoding of the labels in multiclass mode, zero
// on ignored pixels.
func (c *Ctx) Target() *Value {
	return c.cached("target", func() *Value {
		dt := c.ComputeType()
		if c.Mode == Multiclass && c.TargetForm == TargetLabels {
			var oh *Value
			if c.Classes > 0 {
				oh = OneHot(c.RawTarget, c.Classes, 1)
			} else {
				ids := Range(Int(c.G, 0), ScalarOf(DimOf(c.X, 1)), Int(c.G, 1))
				oh = Equal(Unsqueeze(c.RawTarget, 1), ReshapeDims(ids, append([]int64{1, -1}, ones(c.SpatialDims)...)...))
			}
			t := Name(Cast(oh, dt), "target_onehot")
			if v := c.Valid(); v != nil {
				t = Name(Mul(t, v), "target_onehot_valid")
			}
			return t
		}
		t := Name(c.channelsFirst(Cast(c.RawTarget, dt)), "target_float")
		if v := c.Valid(); v != nil {
			t = Name(Mul(t, v), "target_valid")
		}
		return t
	})
}

func ones(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// softmaxParts returns the pieces of a stable softmax over channels that
// several quantities share: z = x - m (m a detached per-pixel maximum),
// e = exp(z) and s = Σ_c e, kept [N,1,*].
func (c *Ctx) softmaxParts() (z, e, s *Value) {
	z = c.cached("softmax_z", func() *Value { return Name(Sub(c.X, DetachedMax(c.X, 1)), "shifted_logits") })
	e = c.cached("softmax_e", func() *Value { return Name(Exp(z), "exp_shifted_logits") })
	s = c.cached("softmax_s", func() *Value { return Name(ReduceSum(e, true, 1), "softmax_denominator") })
	return z, e, s
}

// Probs returns probabilities [N,C,*]: softmax over channels in multiclass
// mode, sigmoid otherwise; the input itself when it holds probabilities.
func (c *Ctx) Probs() *Value {
	return c.cached("probs", func() *Value {
		if !c.FromLogits {
			return c.X
		}
		if c.Mode == Multiclass {
			_, e, s := c.softmaxParts()
			return Name(Div(e, s), "probs")
		}
		return Name(Sigmoid(c.X), "probs")
	})
}

// LogProbs returns log-probabilities of the classes [N,C,*] in multiclass
// mode: a log-softmax of logits, or ClampedLog of probabilities.
func (c *Ctx) LogProbs() *Value {
	return c.cached("log_probs", func() *Value {
		if c.FromLogits {
			z, _, s := c.softmaxParts()
			return Name(Sub(z, Log(s)), "log_probs")
		}
		return Name(ClampedLog(c.X), "log_probs")
	})
}

// ClampedLog returns log(max(p, 2^-126)): probabilities are clipped to the
// smallest normal float32 before the log, so a zero probability costs about
// 87.3 instead of Inf and the gradient stays finite. (PyTorch's BCELoss
// clamps the log at -100 instead; the clip here stays a normal number, which
// providers that flush subnormals to zero would otherwise turn into log 0.)
func ClampedLog(p *Value) *Value {
	return Log(ClipMin(p, reference.ProbFloor))
}

// softplusNegAbs is log(1 + exp(-|x|)), the shared term of the stable
// logistic formulas; it never overflows.
func (c *Ctx) softplusNegAbs() *Value {
	return c.cached("softplus_neg_abs", func() *Value { return Log(c.onePlusExpNegAbs()) })
}

// logisticSigmoid returns σ(x) (σ(-x) with neg) from logits for the
// gradients of the logistic formulas, from e = e^-|x| and w = 1 + e, which
// those formulas compute anyway: 1/w on the side where it is near 1 and
// e/w on the other, accurate relative to its value where it is tiny, as
// PyTorch's sigmoid is. (ONNX Runtime's Sigmoid kernel is accurate to
// about 6e-8 in absolute terms only: at x = -17 it is off by a factor of
// two, below -18 it returns 0.)
func (c *Ctx) logisticSigmoid(neg bool) *Value {
	key := "logistic_sigmoid"
	if neg {
		key += "_neg"
	}
	return c.cached(key, func() *Value {
		x, e := c.X, c.expNegAbs()
		pos := c.cached("logits_nonnegative", func() *Value { return GreaterOrEqual(x, ConstAs(x, 0)) })
		num := Where(pos, ConstAs(e, 1), e)
		if neg {
			num = Where(pos, e, ConstAs(e, 1))
		}
		return Div(num, c.onePlusExpNegAbs())
	})
}

// absX returns |x|, shared by the stable forms below.
func (c *Ctx) absX() *Value {
	return c.cached("abs_x", func() *Value { return Abs(c.X) })
}

// reluPos returns relu(x) = (x + |x|)/2 and reluNeg relu(-x) = (|x| - x)/2,
// given |x|. Written with |x|, whose derivative at 0 is 0 (PyTorch's and
// the builder's convention), their derivative at 0 is ±1/2 where Relu's
// would be 0: the stable forms relu(±x) + log(1 + e^-|x|) are smooth
// functions of x, and only this pairing differentiates them correctly at
// x = 0 (a head initialised to zero gives exactly 0).
func reluPos(x, absX *Value) *Value { return MulScalar(Add(x, absX), 0.5) }

func reluNeg(x, absX *Value) *Value { return MulScalar(Sub(absX, x), 0.5) }

// withGradX returns y, a function of x alone, with the gradient rule
// d (the cotangent times dy/dx) in place of differentiating its nodes (see
// WithGradient).
func withGradX(y, x *Value, d func(ct *Value) *Value) *Value {
	return WithGradient(y, []*Value{x}, func(ct *Value, _ []bool) []*Value { return []*Value{d(ct)} })
}

// LogSigmoids returns log(sigmoid(x)) and log(1 - sigmoid(x)) for binary and
// multilabel mode, computed stably from logits as -(relu(-x) + log(1+e^-|x|))
// and -(relu(x) + log(1+e^-|x|)), or as ClampedLog of probabilities. From
// logits their gradients are given directly: 1 - σ(x) and -σ(x).
func (c *Ctx) LogSigmoids() (logP, log1mP *Value) {
	logP = c.cached("log_sigmoid", func() *Value {
		if !c.FromLogits {
			return Name(ClampedLog(c.X), "log_probs")
		}
		x := c.X
		return Name(withGradX(Neg(Add(reluNeg(x, c.absX()), c.softplusNegAbs())), x, func(ct *Value) *Value {
			return Mul(ct, OneMinus(c.logisticSigmoid(false))) // d log σ(x) / dx = 1 - σ(x)
		}), "log_probs")
	})
	log1mP = c.cached("log_one_minus_sigmoid", func() *Value {
		if !c.FromLogits {
			return Name(ClampedLog(OneMinus(c.X)), "log_complement_probs")
		}
		x := c.X
		return Name(withGradX(Neg(Add(reluPos(x, c.absX()), c.softplusNegAbs())), x, func(ct *Value) *Value {
			return Neg(Mul(ct, c.logisticSigmoid(false))) // d log(1 - σ(x)) / dx = -σ(x)
		}), "log_complement_probs")
	})
	return logP, log1mP
}

// BCE returns the elementwise binary cross-entropy [N,C,*] between the input
// and target t (soft targets allowed). From logits it is
// relu(x) - x*t + log(1 + exp(-|x|)), which never overflows; from
// probabilities it is -(t log p + (1-t) log(1-p)) with ClampedLog.
//
// From logits its gradient is given directly (WithGradient): σ(x) - t in x
// (σ from logisticSigmoid, accurate where it is tiny) and -x in t, the
// derivative of the formula in five passes where differentiating its nodes
// takes ten.
func (c *Ctx) BCE(t *Value) *Value {
	if c.FromLogits {
		return Name(withBCEGradient(Add(Sub(reluPos(c.X, c.absX()), Mul(c.X, t)), c.softplusNegAbs()), c.X, t, func() *Value { return c.logisticSigmoid(false) }), "bce")
	}
	logP, log1mP := c.LogSigmoids()
	return Name(Neg(Add(Mul(t, logP), Mul(OneMinus(t), log1mP))), "bce")
}

// weightedLogistic returns at·softplus(-x) + bt·softplus(x) per entry, that
// is -(at·log σ(x) + bt·log(1 - σ(x))), from logits: the binary
// cross-entropy with a weight on each of its terms (at = t and bt = 1 - t
// give bce). softplus(±x) is relu(±x) + log(1 + e^-|x|), which never
// overflows, with relu(-x) taken as relu(x) - x (exact in floating point).
// at and bt must have the logits' shape. The gradient is given directly:
// σ(x)·(at + bt) - at in x (seven passes, σ(x) accurate where it is tiny,
// where differentiating the formula's nodes takes twelve), softplus(-x) in
// at and softplus(x) in bt, so weights computed from the target
// (balanced-bce's β) are differentiated as usual.
func (c *Ctx) weightedLogistic(at, bt *Value) *Value {
	x := c.X
	sp := c.softplusNegAbs()
	r := Relu(x)
	negLogP := Add(Sub(r, x), sp)
	negLog1mP := Add(r, sp)
	l := Add(Mul(at, negLogP), Mul(bt, negLog1mP))
	return WithGradient(l, []*Value{x, at, bt}, func(ct *Value, need []bool) []*Value {
		out := make([]*Value, 3)
		if need[0] {
			out[0] = Mul(ct, Sub(Mul(c.logisticSigmoid(false), Add(at, bt)), at))
		}
		if need[1] {
			out[1] = Mul(ct, negLogP)
		}
		if need[2] {
			out[2] = Mul(ct, negLog1mP)
		}
		return out
	})
}

// logSigmoid returns log σ(z) = -(relu(-z) + log(1 + e^-|z|)), which never
// overflows, with its gradient σ(-z) given directly.
func logSigmoid(z *Value) *Value {
	az := Abs(z)
	l := Neg(Add(reluNeg(z, az), Log(AddScalar(Exp(Neg(az)), 1))))
	return withGradX(l, z, func(ct *Value) *Value { return Mul(ct, Sigmoid(Neg(z))) })
}

// withBCEGradient returns bce, the binary cross-entropy of logits x and
// target t in any stable form, with its gradient given directly: σ(x) - t in
// x and -x in t, σ(x) made by sigmoid when the gradient is built.
func withBCEGradient(bce, x, t *Value, sigmoid func() *Value) *Value {
	return WithGradient(bce, []*Value{x, t}, func(ct *Value, need []bool) []*Value {
		out := make([]*Value, 2)
		if need[0] {
			out[0] = Mul(ct, Sub(sigmoid(), t))
		}
		if need[1] {
			out[1] = Mul(ct, Neg(x))
		}
		return out
	})
}

// NLL returns -log p[label] per pixel [N,*spatial] in multiclass label
// mode, by gathering the label's entry (no one-hot tensor is made): from
// logits it is log Σ_c e^(x_c-m) - (x_y - m).
func (c *Ctx) NLL() *Value {
	return c.cached("nll", func() *Value {
		y := Unsqueeze(c.Labels(), 1)
		if c.FromLogits {
			z, _, s := c.softmaxParts()
			return Name(Squeeze(Sub(Log(s), GatherElements(z, y, 1)), 1), "nll")
		}
		return Name(Neg(Squeeze(GatherElements(c.LogProbs(), y, 1), 1)), "nll")
	})
}

// ClassWeightMap returns w[label] per pixel [N,*spatial] in multiclass label
// mode, or nil without class weights.
func (c *Ctx) ClassWeightMap() *Value {
	if c.ClassWeights == nil {
		return nil
	}
	return c.cached("class_weight_map", func() *Value {
		w := Floats(c.G, c.ComputeType(), c.ClassWeights...)
		return Name(Gather(w, c.Labels(), 0), "class_weight_map")
	})
}

// ClassWeightVec returns the class weights as a constant [1,C,1,...] that
// broadcasts over [N,C,*], or nil without class weights.
func (c *Ctx) ClassWeightVec() *Value {
	if c.ClassWeights == nil {
		return nil
	}
	return ReshapeDims(Floats(c.G, c.ComputeType(), c.ClassWeights...), append([]int64{1, -1}, ones(c.SpatialDims)...)...)
}

// MulMaybe multiplies two optional factors: nil stands for 1, so the
// result is nil only when both are.
func MulMaybe(x, w *Value) *Value {
	switch {
	case w == nil:
		return x
	case x == nil:
		return w
	}
	return Mul(x, w)
}

// SafeDiv returns num/den, with 0 where den is 0: the documented value of a
// mean over an empty set, such as a batch whose pixels are all ignored.
func SafeDiv(num, den *Value) *Value {
	zero := Equal(den, ConstAs(den, 0))
	return Div(num, Where(zero, ConstAs(den, 1), den))
}

// ReduceLoss applies the configured reduction to a per-element loss l that
// already carries its weights. mean divides the sum by the sum of the weight
// map w (the count of elements when w is nil); none returns l, moved back to
// the input's layout when it has a channel axis (channelAxis true).
func (c *Ctx) ReduceLoss(l, w *Value, channelAxis bool) *Value {
	switch c.Reduction {
	case Sum:
		return ReduceSum(l, false)
	case None:
		if channelAxis {
			return c.channelsLast(l)
		}
		return l
	}
	if w == nil {
		return ReduceMean(l, false)
	}
	return SafeDiv(Name(ReduceSum(l, false), "loss_sum"), Name(ReduceSum(w, false), "weight_sum"))
}

// Fstr formats a float for error messages.
func Fstr(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
