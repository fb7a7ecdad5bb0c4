package losses

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// Options are a loss's options as strings, keyed by option name (snake_case;
// dashes are accepted too): exactly what the command line takes, so the Go
// API and the CLI share one parser. Example:
//
//	losses.Options{"mode": "multiclass", "classes": "21", "smooth_nr": "1"}
type Options map[string]string

// Config is a resolved, validated set of options.
type Config struct {
	Loss string
	Mode Mode
	// Classes is the number of channels C, or 0 when the graph takes it from
	// the input at run time.
	Classes     int
	Layout      string // "nchw" or "nhwc"
	SpatialDims int
	FromLogits  bool
	Reduction   string // "mean", "sum" or "none"
	DType       tensor.DType
	Opset       int
	// IgnoreIndex is the label whose pixels are masked, or nil.
	IgnoreIndex  *int64
	ClassWeights []float64
	// TargetForm is "labels" or "onehot" in multiclass mode, "float" otherwise.
	TargetForm string
	Preset     string
	// Grad adds the input_grad output.
	Grad bool
	// Params holds every loss-specific parameter, defaults included.
	Params map[string]any
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
// the allowed values.
func Resolve(s *Spec, opts Options) (*Config, error) {
	fail := func(format string, args ...any) (*Config, error) {
		return nil, &OptionError{Loss: s.Name, Err: fmt.Errorf(format, args...)}
	}
	merged := map[string]string{}
	for k, v := range opts {
		merged[normKey(k)] = v
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
			if _, explicit := merged[k]; !explicit {
				merged[k] = v
			}
		}
	}
	valid := s.OptionNames()
	for k := range merged {
		if !contains(valid, k) {
			err := &UnknownError{What: "option", Name: strings.ReplaceAll(k, "_", "-"), Suggestion: strings.ReplaceAll(Closest(k, valid), "_", "-")}
			if _, common := commonOptions[k]; common {
				return fail("option --%s does not apply to this loss", strings.ReplaceAll(k, "_", "-"))
			}
			return nil, &OptionError{Loss: s.Name, Err: err}
		}
	}
	c := &Config{Loss: s.Name, Mode: s.Modes[0], Layout: "nchw", SpatialDims: 2, FromLogits: true, Reduction: "mean",
		DType: tensor.Float32, Opset: builder.DefaultOpset, TargetForm: "labels", Params: map[string]any{}}
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
		if c.Layout, err = parseChoice("layout", v, commonOptions["layout"].choices); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("spatial_dims"); ok {
		if c.SpatialDims, err = parseIntRange("spatial_dims", v, 1, 3); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("from_logits"); ok {
		if c.FromLogits, err = parseBool("from_logits", v); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("reduction"); ok {
		if c.Reduction, err = parseChoice("reduction", v, s.ReductionsList()); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("dtype"); ok {
		var name string
		if name, err = parseChoice("dtype", v, commonOptions["dtype"].choices); err != nil {
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
		if c.ClassWeights, err = parseFloats("class_weights", v); err != nil {
			return fail("%v", err)
		}
		for _, w := range c.ClassWeights {
			if w < 0 {
				return fail("class_weights must be non-negative, got %v", w)
			}
		}
	}
	if v, ok := get("target"); ok {
		if c.TargetForm, err = parseChoice("target", v, commonOptions["target"].choices); err != nil {
			return fail("%v", err)
		}
	}
	if v, ok := get("preset"); ok {
		c.Preset = v
	}
	if v, ok := get("grad"); ok {
		if c.Grad, err = parseBool("grad", v); err != nil {
			return fail("%v", err)
		}
	}
	for _, p := range s.Params {
		v, ok := get(p.Name)
		if !ok {
			c.Params[p.Name] = p.defaultValue()
			continue
		}
		val, err := p.parse(v)
		if err != nil {
			return fail("%v", err)
		}
		c.Params[p.Name] = val
	}
	// Cross-option rules.
	switch c.Mode {
	case Binary:
		if c.Classes > 1 {
			return fail("binary mode has one channel; --classes %d does not fit (use multilabel or multiclass)", c.Classes)
		}
		c.Classes = 1
		c.TargetForm = "float"
	case Multilabel:
		c.TargetForm = "float"
	case Multiclass:
		if c.TargetForm == "onehot" && !s.OneHotTarget {
			return fail("does not accept --target onehot")
		}
		if c.TargetForm == "onehot" && c.IgnoreIndex != nil {
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
	if c.Grad && c.Reduction == "none" {
		return fail("--grad needs a scalar loss: use --reduction mean or sum")
	}
	if s.Validate != nil {
		if err := validate(s, c); err != nil {
			return fail("%v", err)
		}
	}
	return c, nil
}

// validate runs a Spec's Validate, turning a panic (a programming error such
// as a misnamed parameter) into an error.
func validate(s *Spec, c *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("validating options: %v", r)
		}
	}()
	return s.Validate(c)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// defaultValue returns the default with its Go type, also when unset.
func (p *Param) defaultValue() any {
	if p.Kind == KindFloats {
		v, _ := p.Default.([]float64)
		return v
	}
	return p.Default
}

func (p *Param) parse(v string) (any, error) {
	switch p.Kind {
	case KindFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s %q is not a finite number", p.Name, v)
		}
		if err := p.checkRange(f); err != nil {
			return nil, err
		}
		return f, nil
	case KindInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an integer", p.Name, v)
		}
		if err := p.checkRange(float64(n)); err != nil {
			return nil, err
		}
		return n, nil
	case KindBool:
		return parseBool(p.Name, v)
	case KindEnum:
		return parseChoice(p.Name, v, p.Choices)
	case KindFloats:
		if v == "" {
			return []float64(nil), nil
		}
		fs, err := parseFloats(p.Name, v)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if err := p.checkRange(f); err != nil {
				return nil, err
			}
		}
		return fs, nil
	}
	return nil, fmt.Errorf("%s: unknown kind", p.Name)
}

// RangeString describes the allowed values, e.g. "[0, 1)" or "one of a, b".
func (p *Param) RangeString() string {
	switch p.Kind {
	case KindBool:
		return "true or false"
	case KindEnum:
		return "one of " + strings.Join(p.Choices, ", ")
	}
	if p.Min == nil && p.Max == nil {
		return "any"
	}
	lo, hi := "(-inf", "inf)"
	if p.Min != nil {
		lo = "[" + strconv.FormatFloat(*p.Min, 'g', -1, 64)
		if p.MinExclusive {
			lo = "(" + lo[1:]
		}
	}
	if p.Max != nil {
		hi = strconv.FormatFloat(*p.Max, 'g', -1, 64) + "]"
		if p.MaxExclusive {
			hi = hi[:len(hi)-1] + ")"
		}
	}
	return lo + ", " + hi
}

func (p *Param) checkRange(f float64) error {
	bad := (p.Min != nil && (f < *p.Min || (p.MinExclusive && f == *p.Min))) ||
		(p.Max != nil && (f > *p.Max || (p.MaxExclusive && f == *p.Max)))
	if bad {
		return fmt.Errorf("%s = %v is out of range %s", p.Name, f, p.RangeString())
	}
	return nil
}

// DefaultString formats the default for help and describe.
func (p *Param) DefaultString() string { return formatValue(p.Default) }

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "unset"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []float64:
		if x == nil {
			return "unset"
		}
		parts := make([]string, len(x))
		for i, f := range x {
			parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q is not a boolean (true or false)", name, v)
}

func parseChoice(name, v string, choices []string) (string, error) {
	l := strings.ToLower(v)
	for _, c := range choices {
		if c == l {
			return c, nil
		}
	}
	msg := fmt.Sprintf("%s %q is not valid (valid: %s)", name, v, strings.Join(choices, ", "))
	if s := Closest(l, choices); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return "", errors.New(msg)
}

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

func parseFloats(name, v string) ([]float64, error) {
	var out []float64
	for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		f, err := strconv.ParseFloat(part, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s: %q is not a finite number", name, part)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty list", name)
	}
	return out, nil
}

// Float returns a Float parameter. Asking for a parameter the loss does not
// declare is a programming error and panics (Build recovers it into an error).
func (c *Config) Float(name string) float64 { return mustParam[float64](c, name) }

// Int returns an Int parameter.
func (c *Config) Int(name string) int { return mustParam[int](c, name) }

// Bool returns a Bool parameter.
func (c *Config) Bool(name string) bool { return mustParam[bool](c, name) }

// Enum returns an Enum parameter.
func (c *Config) Enum(name string) string { return mustParam[string](c, name) }

// Floats returns a FloatList parameter (nil when unset).
func (c *Config) Floats(name string) []float64 { return mustParam[[]float64](c, name) }

func mustParam[T any](c *Config, name string) T {
	v, ok := c.Params[name].(T)
	if !ok {
		panic(fmt.Sprintf("loss %s has no %T parameter %q", c.Loss, *new(T), name))
	}
	return v
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
	for k, v := range c.Params {
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
	params := make(map[string]any, len(c.Params))
	for k, v := range c.Params {
		params[k] = v
	}
	r := &reference.Config{
		Mode: string(c.Mode), Classes: c.Classes, Layout: c.Layout, SpatialDims: c.SpatialDims,
		FromLogits: c.FromLogits, Reduction: c.Reduction, Target: c.TargetForm,
		ClassWeights: append([]float64(nil), c.ClassWeights...), Params: params,
	}
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
		"mode": string(c.Mode), "layout": c.Layout, "spatial_dims": strconv.Itoa(c.SpatialDims),
		"from_logits": strconv.FormatBool(c.FromLogits), "reduction": c.Reduction, "dtype": c.DType.String(),
		"opset": strconv.Itoa(c.Opset), "grad": strconv.FormatBool(c.Grad),
	}
	if c.Mode != Binary {
		o["classes"] = strconv.Itoa(c.Classes)
	}
	if c.Mode == Multiclass {
		o["target"] = c.TargetForm
	}
	if c.IgnoreIndex != nil {
		o["ignore_index"] = strconv.FormatInt(*c.IgnoreIndex, 10)
	}
	if c.ClassWeights != nil {
		o["class_weights"] = formatValue(c.ClassWeights)
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s := formatValue(c.Params[k]); s != "unset" {
			o[k] = s
		}
	}
	return o
}
