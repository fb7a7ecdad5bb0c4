package losses

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// Options are a loss's options as strings, keyed by option name (snake_case;
// dashes are accepted too): exactly what the command line takes, so the Go
// API and the CLI share one parser. Example:
//
//	losses.Options{"mode": "multiclass", "classes": "21", "smooth_nr": "1"}
type Options map[string]string

// Config is a resolved, validated set of options: the common options, set
// in full, and the loss's own parameters.
type Config struct {
	Loss string
	param.Common
	// P is the loss's typed parameter struct (a pointer, such as *Dice),
	// every parameter set.
	P param.Declarer
	// explicit holds the options the caller gave (not filled by a preset
	// or a default), normalised.
	explicit map[string]bool
}

// OptionError is a usage error in the options: an unknown name, a bad value
// or a combination that is not allowed.
type OptionError struct {
	Loss string
	Err  error
}

func (e *OptionError) Error() string { return e.Loss + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

type commonOption struct {
	doc     string
	def     string
	choices []string
}

// commonOptions are the options every loss takes (some only where the Spec
// allows them). The docs appear in describe and in the CLI help.
var commonOptions = map[string]commonOption{
	"mode":          {doc: "what input and target hold: binary, multilabel or multiclass (the loss's first mode by default)"},
	"classes":       {doc: "number of channels C; fixes C in the graph (0: taken from the input at run time)", def: "0"},
	"layout":        {doc: "nchw ([N,C,*spatial], PyTorch) or nhwc ([N,*spatial,C], TensorFlow)", def: "nchw", choices: []string{"nchw", "nhwc"}},
	"spatial_dims":  {doc: "number of spatial dimensions: 2 for images, 3 for volumes (1 to 3)", def: "2"},
	"from_logits":   {doc: "input holds logits (true) or probabilities (false)", def: "true"},
	"reduction":     {doc: "mean, sum or none (see the loss's none shape)", def: "mean"},
	"dtype":         {doc: "element type of input: float32, float16, bfloat16 or float64; arithmetic is float32 or wider, loss is float32", def: "float32", choices: []string{"float32", "float16", "bfloat16", "float64"}},
	"opset":         {doc: "ONNX opset of the default domain, 13 to 21", def: strconv.Itoa(builder.DefaultOpset)},
	"ignore_index":  {doc: "label whose pixels are masked out"},
	"class_weights": {doc: "comma-separated per-class weights (length C; sets --classes when that is not given)"},
	"target":        {doc: "multiclass target: labels (int64 [N,*spatial]) or onehot (float [N,C,*spatial], soft labels allowed)", def: "labels", choices: []string{"labels", "onehot"}},
	"preset":        {doc: "reproduce another library's defaults (see the loss's presets)"},
	"grad":          {doc: "also output input_grad, d loss / d input", def: "false"},
}

// CommonOptionNames lists the common options in a fixed order.
func CommonOptionNames() []string {
	return []string{"mode", "classes", "layout", "spatial_dims", "from_logits", "reduction", "dtype", "opset",
		"ignore_index", "class_weights", "target", "preset", "grad"}
}

// CommonOptionDoc returns the help text and default of a common option.
func CommonOptionDoc(name string) (doc, def string) {
	o := commonOptions[name]
	return o.doc, o.def
}

// AppliesTo reports whether a common option is meaningful for the loss.
func (s *Spec) AppliesTo(option string) bool {
	switch option {
	case "ignore_index":
		return s.IgnoreIndex
	case "class_weights":
		return s.ClassWeights
	case "target":
		return s.SupportsMode(Multiclass) && s.OneHotTarget
	case "preset":
		return len(s.Presets) > 0
	}
	_, ok := commonOptions[option]
	return ok
}

func normKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimLeft(k, "-")), "-", "_")
}

// OptionNames lists every option the loss accepts: common ones first.
func (s *Spec) OptionNames() []string {
	var names []string
	for _, n := range CommonOptionNames() {
		if s.AppliesTo(n) {
			names = append(names, n)
		}
	}
	for _, p := range s.Params {
		names = append(names, p.Name)
	}
	return names
}

// Resolve checks opts against the loss and returns the full configuration,
// defaults filled in. A preset's values apply first; explicit options
// override them. Errors are *OptionError and name the loss, the option and
// the allowed values. The same option given twice (in two spellings, such
// as smooth_nr and smooth-nr) is an error, and so is a loss parameter given
// where it has no effect under the other options.
func Resolve(s *Spec, opts Options) (*Config, error) {
	fail := func(format string, args ...any) (*Config, error) {
		return nil, &OptionError{Loss: s.Name, Err: fmt.Errorf(format, args...)}
	}
	merged := map[string]string{}
	spelled := map[string]string{}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := normKey(k)
		if prev, dup := spelled[n]; dup {
			return fail("option %s is given twice (as %q and %q)", dashed(n), prev, k)
		}
		spelled[n] = k
		merged[n] = opts[k]
	}
	explicit := map[string]bool{}
	for k := range merged {
		explicit[k] = true
	}
	if p, ok := merged["preset"]; ok && p != "" {
		pr := s.Preset(p)
		if pr == nil {
			var names []string
			for _, x := range s.Presets {
				names = append(names, x.Name)
			}
			if len(names) == 0 {
				return fail("has no presets")
			}
			return nil, &OptionError{Loss: s.Name, Err: &UnknownError{What: "preset", Name: p, Suggestion: Closest(p, names), Valid: names}}
		}
		for k, v := range pr.Values {
			if _, given := merged[k]; !given {
				merged[k] = v
			}
		}
	}
	valid := s.OptionNames()
	for k := range merged {
		if !contains(valid, k) {
			err := &UnknownError{What: "option", Name: dashed(k), Suggestion: dashed(Closest(k, valid))}
			if _, common := commonOptions[k]; common {
				return fail("option --%s does not apply to this loss", dashed(k))
			}
			return nil, &OptionError{Loss: s.Name, Err: err}
		}
	}
	c := &Config{Loss: s.Name, Common: s.defaultCommon(), explicit: explicit}
	var err error
	get := func(k string) (string, bool) { v, ok := merged[k]; return strings.TrimSpace(v), ok }
	if v, ok := get("mode"); ok {
		c.Mode = Mode(strings.ToLower(v))
		if !s.SupportsMode(c.Mode) {
			var ms []string
			for _, m := range s.Modes {
				ms = append(ms, string(m))
			}
			return fail("mode %q is not supported (supported: %s)", v, strings.Join(ms, ", "))
		}
	}
	if v, ok := get("classes"); ok {
		if c.Classes, err = parseIntRange("classes", v, 0, 1<<20); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("layout"); ok {
		var l string
		if l, err = param.ParseChoice("layout", v, commonOptions["layout"].choices); err != nil {
			return fail("%v", err)
		}
		c.Layout = Layout(l)
	}
	if v, ok := get("spatial_dims"); ok {
		if c.SpatialDims, err = parseIntRange("spatial_dims", v, 1, 3); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("from_logits"); ok {
		if c.FromLogits, err = param.ParseBool("from_logits", v); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("reduction"); ok {
		var r string
		if r, err = param.ParseChoice("reduction", v, s.ReductionsList()); err != nil {
			return fail("%v", err)
		}
		c.Reduction = Reduction(r)
	}
	if v, ok := get("dtype"); ok {
		var name string
		if name, err = param.ParseChoice("dtype", v, commonOptions["dtype"].choices); err != nil {
			return fail("%v", err)
		}
		c.DType, _ = tensor.ParseDType(name)
	}
	if v, ok := get("opset"); ok {
		if c.Opset, err = parseIntRange("opset", v, builder.MinOpset, builder.MaxOpset); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("ignore_index"); ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fail("ignore_index %q is not an integer", v)
		}
		c.IgnoreIndex = &n
	}
	if v, ok := get("class_weights"); ok && v != "" {
		if c.ClassWeights, err = param.ParseFloats("class_weights", v); err != nil {
			return fail("%v", err)
		}
		for _, w := range c.ClassWeights {
			if w < 0 {
				return fail("class_weights must be non-negative, got %v", w)
			}
		}
	}
	if v, ok := get("target"); ok {
		var t string
		if t, err = param.ParseChoice("target", v, commonOptions["target"].choices); err != nil {
			return fail("%v", err)
		}
		c.TargetForm = TargetForm(t)
	}
	if v, ok := get("preset"); ok {
		c.Preset = v
	}
	if v, ok := get("grad"); ok {
		if c.Grad, err = param.ParseBool("grad", v); err != nil {
			return fail("%v", err)
		}
	}
	// Cross-option rules.
	switch c.Mode {
	case Binary:
		if c.Classes > 1 {
			return fail("binary mode has one channel; --classes %d does not fit (use multilabel or multiclass)", c.Classes)
		}
		c.Classes = 1
		c.TargetForm = param.TargetFloat
	case Multilabel:
		c.TargetForm = param.TargetFloat
	case Multiclass:
		if c.TargetForm == param.TargetOneHot && !s.OneHotTarget {
			return fail("does not accept --target onehot")
		}
		if c.TargetForm == param.TargetOneHot && c.IgnoreIndex != nil {
			return fail("--ignore-index needs label targets (--target labels); one-hot targets follow PyTorch's probability-target semantics, which have no ignore index")
		}
	}
	if c.ClassWeights != nil {
		switch {
		case c.Classes == 0:
			c.Classes = len(c.ClassWeights)
		case len(c.ClassWeights) != c.Classes:
			return fail("class_weights has %d entries but there are %d classes", len(c.ClassWeights), c.Classes)
		}
	}
	if c.Mode == Multiclass && c.Classes == 1 {
		return fail("multiclass mode needs at least 2 classes; one class has probability 1 everywhere (use --mode binary for one foreground channel)")
	}
	if c.Grad && c.Reduction == param.None {
		return fail("--grad needs a scalar loss: use --reduction mean or sum")
	}
	if err := s.resolveParams(c, get); err != nil {
		return fail("%v", err)
	}
	if s.Validate != nil {
		if err := s.Validate(c); err != nil {
			return fail("%v", err)
		}
	}
	if c.P != nil {
		// Validate may complete common options (C from a list of weights).
		*c.P.CommonOf() = c.Common
	}
	return c, nil
}

// defaultCommon is the loss's common options with nothing given.
func (s *Spec) defaultCommon() param.Common {
	return param.Common{Mode: s.Modes[0], Layout: param.NCHW, SpatialDims: 2, FromLogits: true, Reduction: param.Mean,
		DType: tensor.Float32, Opset: builder.DefaultOpset, TargetForm: param.TargetLabels}
}

// resolveParams fills the loss's own parameters: defaults, then the values
// in get, then the check that every explicitly given parameter matters.
func (s *Spec) resolveParams(c *Config, get func(string) (string, bool)) error {
	var p param.Declarer = &noParams{}
	if s.newParams != nil {
		p = s.newParams()
	}
	common := p.CommonOf()
	set := param.NewSet(common)
	p.Declare(set)
	*common = c.Common
	for _, d := range set.Params() {
		if v, ok := get(d.Name); ok {
			val, err := d.Parse(v)
			if err != nil {
				return err
			}
			d.SetValue(val)
		}
	}
	for _, d := range set.Params() {
		if c.explicit[d.Name] && !d.Applies() {
			return fmt.Errorf("--%s has no effect here: it needs %s", dashed(d.Name), d.Needs())
		}
	}
	c.P = p
	return nil
}

func dashed(k string) string { return strings.ReplaceAll(k, "_", "-") }

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func formatValue(v any) string { return param.Format(v) }

func parseIntRange(name, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", name, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s = %d is out of range [%d, %d]", name, n, lo, hi)
	}
	return n, nil
}

// ParamValues returns the loss's parameters by name, defaults included,
// for listings and metadata; code reads the typed struct P.
func (c *Config) ParamValues() map[string]any {
	m := map[string]any{}
	if c.P == nil {
		return m
	}
	for _, d := range BoundParams(c.P) {
		m[d.Name] = d.Value()
	}
	return m
}

// ParamsJSON encodes every resolved option, defaults included, as the JSON
// stored in a model's onnxloss.params metadata. Keys are sorted, so equal
// configurations give equal strings.
func (c *Config) ParamsJSON() string {
	m := map[string]any{
		"mode": c.Mode, "classes": c.Classes, "layout": c.Layout, "spatial_dims": c.SpatialDims,
		"from_logits": c.FromLogits, "reduction": c.Reduction, "dtype": c.DType.String(), "opset": c.Opset,
		"ignore_index": c.IgnoreIndex, "class_weights": c.ClassWeights, "target": c.TargetForm, "grad": c.Grad,
	}
	if c.Preset != "" {
		m["preset"] = c.Preset
	}
	for k, v := range c.ParamValues() {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // only plain values are stored
	}
	return string(b)
}

// Reference converts the configuration for the reference implementations.
func (c *Config) Reference() *reference.Config {
	r := &reference.Config{Common: c.Common, P: c.P}
	r.ClassWeights = append([]float64(nil), c.ClassWeights...)
	if c.IgnoreIndex != nil {
		v := *c.IgnoreIndex
		r.IgnoreIndex = &v
	}
	return r
}

// Options turns the configuration back into option strings that Resolve
// maps to the same configuration.
func (c *Config) Options() Options {
	o := Options{
		"mode": string(c.Mode), "layout": string(c.Layout), "spatial_dims": strconv.Itoa(c.SpatialDims),
		"from_logits": strconv.FormatBool(c.FromLogits), "reduction": string(c.Reduction), "dtype": c.DType.String(),
		"opset": strconv.Itoa(c.Opset), "grad": strconv.FormatBool(c.Grad),
	}
	if c.Mode != Binary {
		o["classes"] = strconv.Itoa(c.Classes)
	}
	if c.Mode == Multiclass && c.TargetForm != TargetLabels {
		o["target"] = string(c.TargetForm)
	}
	if c.IgnoreIndex != nil {
		o["ignore_index"] = strconv.FormatInt(*c.IgnoreIndex, 10)
	}
	if c.ClassWeights != nil {
		o["class_weights"] = formatValue(c.ClassWeights)
	}
	if c.Preset != "" {
		o["preset"] = c.Preset
	}
	// A parameter that has no effect here is left out: given, it would be
	// refused; its value is the default or the preset's.
	for _, d := range BoundParams(c.P) {
		if s := formatValue(d.Value()); s != "unset" && d.Applies() {
			o[d.Name] = s
		}
	}
	return o
}

// noParams are the parameters of a Spec made by hand, without Define: the
// common options only.
type noParams struct{ param.Common }

func (*noParams) Declare(*param.Set) {}
