// Package verify runs loss graphs in ONNX Runtime next to their Go
// references on generated inputs (random values and the edge cases that
// break naive implementations) and compares the results. The registry-wide
// test and `onnxloss verify` both use it.
package verify

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

// Default error budget: |graph - reference| <= AbsTol + RelTol·|reference|
// for every output element. The graph computes in float32 and the reference
// in float64 on the same inputs, so the difference is float32 rounding.
const (
	DefaultRelTol = 2e-5
	DefaultAbsTol = 1e-6
)

// Config is one option set of one loss, as verification runs it.
type Config struct {
	Spec    *losses.Spec
	Options losses.Options
	Label   string
}

// Case is one set of inputs for a Config.
type Case struct {
	Label  string
	Inputs reference.Inputs
}

// Result compares a graph with its reference on one case.
type Result struct {
	Config, Case string
	Graph, Ref   *tensor.Tensor
	// MaxErr is the largest |graph - reference| / (AbsTol + RelTol·|reference|):
	// at most 1 means within budget.
	MaxErr float64
	// MaxRel is the largest relative difference, for reports.
	MaxRel float64
	Err    error
}

// OK reports whether the case passed.
func (r *Result) OK() bool { return r.Err == nil && r.MaxErr <= 1 }

// Configs lists the option sets verification covers for a loss: every mode
// with the defaults, the other layout, volumes, probability inputs, each
// reduction, and the Spec's own variants. Options in base are added to all.
func Configs(s *losses.Spec, base losses.Options) []Config {
	var out []Config
	add := func(label string, o losses.Options) {
		merged := losses.Options{}
		for k, v := range base {
			merged[k] = v
		}
		for k, v := range o {
			merged[k] = v
		}
		out = append(out, Config{Spec: s, Options: merged, Label: label})
	}
	for _, m := range s.Modes {
		mode := string(m)
		add(mode, losses.Options{"mode": mode})
		add(mode+" nhwc", losses.Options{"mode": mode, "layout": "nhwc"})
		add(mode+" 3d", losses.Options{"mode": mode, "spatial_dims": "3"})
		add(mode+" 3d nhwc", losses.Options{"mode": mode, "spatial_dims": "3", "layout": "nhwc"})
		add(mode+" probabilities", losses.Options{"mode": mode, "from_logits": "false"})
		for _, r := range s.ReductionsList() {
			if r != "mean" {
				add(mode+" reduction="+r, losses.Options{"mode": mode, "reduction": r})
			}
		}
		if m != losses.Binary {
			add(mode+" classes=4", losses.Options{"mode": mode, "classes": "4"})
		}
		if s.IgnoreIndex {
			add(mode+" ignore_index=2", losses.Options{"mode": mode, "ignore_index": "2"})
		}
	}
	for _, v := range s.Variants {
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+"="+v[k])
		}
		add("variant "+strings.Join(parts, " "), v)
	}
	return out
}

// shapeCase is one input geometry.
type shapeCase struct {
	n       int
	spatial []int
}

func shapesFor(dims int) []shapeCase {
	if dims == 3 {
		return []shapeCase{{1, []int{1, 1, 1}}, {2, []int{3, 4, 5}}, {1, []int{2, 5, 3}}}
	}
	if dims == 1 {
		return []shapeCase{{1, []int{1}}, {2, []int{9}}}
	}
	return []shapeCase{{1, []int{1, 1}}, {2, []int{5, 7}}, {3, []int{4, 4}}, {1, []int{1, 9}}}
}

// Kinds of generated inputs.
var kinds = []string{"random", "soft", "saturated", "empty", "empty-pred", "full", "all-ignored", "part-ignored"}

// Cases generates inputs for a resolved configuration: each geometry crossed
// with random values and edge cases (logits of magnitude 1e4, an empty
// target, an empty prediction, a full target, every pixel ignored).
func Cases(s *losses.Spec, cfg *losses.Config, seed uint64) []Case {
	var out []Case
	c := cfg.Classes
	if c == 0 {
		c = 3
	}
	for _, sh := range shapesFor(cfg.SpatialDims) {
		for _, kind := range kinds {
			if (kind == "all-ignored" || kind == "part-ignored") && cfg.IgnoreIndex == nil {
				continue
			}
			if kind == "soft" && cfg.Mode == losses.Multiclass && cfg.TargetForm == losses.TargetLabels {
				continue
			}
			label := fmt.Sprintf("%s N=%d C=%d %s", kind, sh.n, c, dimsString(sh.spatial))
			h := fnv.New64a()
			h.Write([]byte(s.Name + cfg.ParamsJSON() + label))
			rng := rand.New(rand.NewPCG(seed, h.Sum64()))
			out = append(out, Case{Label: label, Inputs: generate(s, cfg, sh, c, kind, rng)})
		}
	}
	return out
}

func dimsString(d []int) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, "x")
}

// generate makes the inputs of one case in the configuration's layout.
func generate(s *losses.Spec, cfg *losses.Config, sh shapeCase, classes int, kind string, rng *rand.Rand) reference.Inputs {
	n, S := sh.n, 1
	for _, d := range sh.spatial {
		S *= d
	}
	C := classes
	// Values are made channel-first as x[n][c][s] and laid out at the end.
	logits := make([]float64, n*C*S)
	for i := range logits {
		switch kind {
		case "saturated":
			logits[i] = 1e4 * float64(2*rng.IntN(2)-1)
		case "empty-pred":
			logits[i] = -1e4
		default:
			logits[i] = rng.NormFloat64() * 2
		}
	}
	if kind == "empty-pred" && cfg.Mode == losses.Multiclass {
		for b := 0; b < n; b++ { // every pixel confidently background
			for i := 0; i < S; i++ {
				logits[(b*C)*S+i] = 1e4
			}
		}
	}
	in := logits
	if !cfg.FromLogits {
		in = toProbabilities(logits, n, C, S, cfg.Mode == losses.Multiclass)
	}
	inputs := reference.Inputs{"input": layout(in, n, C, sh.spatial, cfg.Layout, cfg.DType)}

	ignore := int64(0)
	if cfg.IgnoreIndex != nil {
		ignore = *cfg.IgnoreIndex
	}
	if cfg.Mode == losses.Multiclass && cfg.TargetForm == losses.TargetLabels {
		labels := make([]int64, n*S)
		for i := range labels {
			switch kind {
			case "empty", "empty-pred":
				labels[i] = 0
			case "full":
				labels[i] = int64(C - 1)
			case "all-ignored":
				labels[i] = ignore
			default:
				labels[i] = int64(rng.IntN(C))
				if kind == "part-ignored" && rng.IntN(3) == 0 {
					labels[i] = ignore
				}
			}
		}
		inputs["target"] = tensor.FromInt64(append([]int{n}, sh.spatial...), labels)
	} else {
		t := make([]float64, n*C*S)
		for b := 0; b < n; b++ {
			for ch := 0; ch < C; ch++ {
				for i := 0; i < S; i++ {
					k := (b*C+ch)*S + i
					switch kind {
					case "empty", "empty-pred":
						t[k] = 0
					case "full":
						t[k] = 1
					case "all-ignored":
						t[k] = float64(ignore)
					case "soft":
						t[k] = rng.Float64()
					default:
						if rng.Float64() < 0.35 {
							t[k] = 1
						}
						if kind == "part-ignored" && rng.IntN(3) == 0 {
							t[k] = float64(ignore)
						}
					}
				}
			}
		}
		if cfg.Mode == losses.Multiclass { // one-hot targets: a class per pixel
			for b := 0; b < n; b++ {
				for i := 0; i < S; i++ {
					y := rng.IntN(C)
					switch kind {
					case "empty", "empty-pred":
						y = 0
					case "full":
						y = C - 1
					}
					for ch := 0; ch < C; ch++ {
						v := 0.0
						if ch == y {
							v = 1
						}
						if kind == "soft" {
							v = 0.7*v + 0.3/float64(C)
						}
						t[(b*C+ch)*S+i] = v
					}
				}
			}
		}
		tdt, _ := cfg.TargetSpec()
		inputs["target"] = layout(t, n, C, sh.spatial, cfg.Layout, tdt)
	}
	for _, e := range s.ExtraInputs(cfg) {
		dt, _ := cfg.ExtraSpec(e)
		switch e.Kind {
		case losses.PixelWeights:
			w := make([]float64, n*S)
			for i := range w {
				w[i] = rng.Float64() * 3
			}
			inputs[e.Name] = tensor.FromFloat64(append([]int{n}, sh.spatial...), w).Convert(dt)
		case losses.ChannelMap:
			m := make([]float64, n*C*S)
			for i := range m {
				m[i] = rng.NormFloat64()
			}
			inputs[e.Name] = layout(m, n, C, sh.spatial, cfg.Layout, dt)
		case losses.InstanceLabels:
			ids := make([]int64, n*S)
			for i := range ids {
				ids[i] = int64(rng.IntN(4))
			}
			inputs[e.Name] = tensor.FromInt64(append([]int{n}, sh.spatial...), ids)
		}
	}
	return inputs
}

// toProbabilities turns logits into probabilities: softmax over channels or
// sigmoid per entry. Saturated logits give exact zeros and ones.
func toProbabilities(x []float64, n, C, S int, softmax bool) []float64 {
	out := make([]float64, len(x))
	for b := 0; b < n; b++ {
		for i := 0; i < S; i++ {
			if !softmax {
				for ch := 0; ch < C; ch++ {
					k := (b*C+ch)*S + i
					out[k] = reference.Sigmoid(x[k])
				}
				continue
			}
			col := make([]float64, C)
			for ch := range col {
				col[ch] = x[(b*C+ch)*S+i]
			}
			lp := reference.LogSoftmax(col)
			for ch := range col {
				out[(b*C+ch)*S+i] = math.Exp(lp[ch])
			}
		}
	}
	return out
}

// layout builds a tensor from channel-first values in the wanted layout and dtype.
func layout(v []float64, n, C int, spatial []int, lay losses.Layout, dt tensor.DType) *tensor.Tensor {
	S := len(v) / (n * C)
	if lay != losses.NHWC {
		return tensor.FromFloat64(append([]int{n, C}, spatial...), append([]float64{}, v...)).Convert(dt)
	}
	out := make([]float64, len(v))
	for b := 0; b < n; b++ {
		for ch := 0; ch < C; ch++ {
			for i := 0; i < S; i++ {
				out[(b*S+i)*C+ch] = v[(b*C+ch)*S+i]
			}
		}
	}
	shape := append(append([]int{n}, spatial...), C)
	return tensor.FromFloat64(shape, out).Convert(dt)
}

// Runner verifies configurations on one ONNX Runtime provider.
type Runner struct {
	Runtime runtime.Options
	Seed    uint64
	// RelTol and AbsTol override the defaults when positive.
	RelTol, AbsTol float64
}

// Run builds a configuration's graph once, runs every case through it and
// through the reference, and returns one result per case. An error building
// or loading the graph is returned as a single failed result.
func (r *Runner) Run(c Config) []Result { return r.RunCases(c, nil) }

// RunCases is Run on the given cases instead of those Cases generates (when
// cases is nil).
func (r *Runner) RunCases(c Config, cases []Case) []Result {
	fail := func(err error) []Result {
		return []Result{{Config: c.Label, Case: "build", Err: err}}
	}
	cfg, err := losses.Resolve(c.Spec, c.Options)
	if err != nil {
		return fail(err)
	}
	sess, err := losssession.OpenConfig(c.Spec, cfg, r.Runtime)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	if cases == nil {
		cases = Cases(c.Spec, cfg, r.Seed)
	}
	var out []Result
	for _, cs := range cases {
		out = append(out, r.compare(c, sess, cs))
	}
	return out
}

func (r *Runner) compare(c Config, sess *losssession.Session, cs Case) Result {
	res := Result{Config: c.Label, Case: cs.Label}
	if err := sess.Check(cs.Inputs); err != nil {
		res.Err = fmt.Errorf("inputs: %w", err)
		return res
	}
	got, err := sess.Runtime().Run(cs.Inputs)
	if err != nil {
		res.Err = fmt.Errorf("onnx runtime: %w", err)
		return res
	}
	res.Graph = got["loss"]
	if res.Ref, err = sess.Reference(cs.Inputs); err != nil {
		res.Err = err
		return res
	}
	res.MaxErr, res.MaxRel, res.Err = r.Compare(res.Graph, res.Ref, c.Spec.Tolerance)
	return res
}

// Compare measures how far got is from want within the error budget and
// fails on shape mismatches and on non-finite values.
func (r *Runner) Compare(got, want *tensor.Tensor, specTol float64) (maxErr, maxRel float64, err error) {
	if got == nil || want == nil {
		return 0, 0, fmt.Errorf("missing output")
	}
	if !slices.Equal(got.Shape, want.Shape) {
		return 0, 0, fmt.Errorf("shape %v, reference %v", got.Shape, want.Shape)
	}
	rel, abs := DefaultRelTol, DefaultAbsTol
	if specTol > 0 {
		rel = specTol
	}
	if r.RelTol > 0 {
		rel = r.RelTol
	}
	if r.AbsTol > 0 {
		abs = r.AbsTol
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range g {
		if math.IsNaN(w[i]) || math.IsInf(w[i], 0) {
			return 0, 0, fmt.Errorf("reference value %v at %d is not finite", w[i], i)
		}
		if math.IsNaN(g[i]) || math.IsInf(g[i], 0) {
			return 0, 0, fmt.Errorf("graph value %v at %d is not finite (reference %v)", g[i], i, w[i])
		}
		d := math.Abs(g[i] - w[i])
		maxErr = math.Max(maxErr, d/(abs+rel*math.Abs(w[i])))
		if w[i] != 0 {
			maxRel = math.Max(maxRel, d/math.Abs(w[i]))
		} else {
			maxRel = math.Max(maxRel, d)
		}
	}
	return maxErr, maxRel, nil
}
