package losses

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// Funcs are the functions of a loss whose parameters are the struct P: the
// graph, the float64 reference and the check of option combinations each
// receive the resolved *P.
type Funcs[P any] struct {
	// Build writes the loss on c.G and returns the (reduced) loss value.
	Build func(c *Ctx, p *P) *builder.Value
	// Reference computes the same loss in float64 from the formula.
	Reference func(in reference.Inputs, c *reference.Config, p *P) (*tensor.Tensor, error)
	// Validate checks combinations of options that ranges and conditions
	// cannot (nil: none).
	Validate func(c *Config, p *P) error
	// PerSample reports whether the loss decomposes over the batch (see
	// Spec.PerSample; nil: never).
	PerSample func(c *Config, p *P) bool
	// BatchValues gives the per-sample form values of the whole batch
	// (see Spec.BatchValues; nil: none).
	BatchValues func(c *Ctx, p *P) map[string]*builder.Value
}

// specsByType finds the Spec of a parameter struct type.
var specsByType = map[reflect.Type]*Spec{}

// Define completes the Spec of a loss whose parameters are the struct P
// (P's Declare lists them): the parameter table, and Build, Reference and
// Validate that hand the functions of f the resolved *P.
func Define[P any, PP interface {
	*P
	param.Declarer
}](s Spec, f Funcs[P]) *Spec {
	spec := &s
	spec.newParams = func() param.Declarer { return PP(new(P)) }
	probe := PP(new(P))
	set := param.NewSet(probe.CommonOf())
	probe.Declare(set)
	spec.Params = nil
	for _, p := range set.Params() {
		spec.Params = append(spec.Params, *p)
	}
	spec.Build = func(c *Ctx) *builder.Value { return f.Build(c, typed[P](c.Config.P)) }
	spec.Reference = func(in reference.Inputs, c *reference.Config) (*tensor.Tensor, error) {
		return f.Reference(in, c, typed[P](c.P))
	}
	if f.Validate != nil {
		spec.Validate = func(c *Config) error { return f.Validate(c, typed[P](c.P)) }
	}
	if f.PerSample != nil {
		spec.PerSample = func(c *Config) bool { return f.PerSample(c, typed[P](c.P)) }
	}
	if f.BatchValues != nil {
		spec.BatchValues = func(c *Ctx) map[string]*builder.Value { return f.BatchValues(c, typed[P](c.Config.P)) }
	}
	specsByType[reflect.TypeFor[P]()] = spec
	return spec
}

// typed returns the resolved parameters as *P. A configuration made by
// Resolve always holds them; a hand-made one without them gets the
// defaults.
func typed[P any](d param.Declarer) *P {
	if p, ok := any(d).(*P); ok {
		return p
	}
	p := new(P)
	if dp, ok := any(p).(param.Declarer); ok {
		dp.Declare(param.NewSet(dp.CommonOf()))
	}
	return p
}

// Defaults returns the parameters of the loss P with every default set, the
// common options included: the starting point of the typed Go API.
//
//	d := losses.Defaults[losses.Dice]()
//	d.Mode, d.Classes, d.SmoothNr = losses.Multiclass, 3, 1
//	m, cfg, err := export.LossOf(d)
func Defaults[P any, PP interface {
	*P
	param.Declarer
}]() P {
	var p P
	pp := PP(&p)
	pp.Declare(param.NewSet(pp.CommonOf()))
	if s := specsByType[reflect.TypeFor[P]()]; s != nil {
		*pp.CommonOf() = s.defaultCommon()
	}
	pp.CommonOf().MarkDefaults()
	return p
}

// ResolveTyped checks a loss's typed parameters exactly as Resolve checks
// the same options given as strings, and returns the same configuration
// (and so the same exported bytes). p must start from Defaults[P] (or
// WithPreset[P]): a bare struct literal has zeros where the loss has other
// defaults, so it is refused rather than guessed at.
func ResolveTyped[P any, PP interface {
	*P
	param.Declarer
}](p P) (*Spec, *Config, error) {
	s := specsByType[reflect.TypeFor[P]()]
	if s == nil {
		return nil, nil, fmt.Errorf("%T is not a loss of the catalog", p)
	}
	c, err := s.ResolveParams(PP(&p))
	return s, c, err
}

// NewParams returns the loss's typed parameters with every default set
// (common options included), or nil for a loss without typed parameters.
func (s *Spec) NewParams() param.Declarer {
	if s.newParams == nil {
		return nil
	}
	p := s.newParams()
	p.Declare(param.NewSet(p.CommonOf()))
	*p.CommonOf() = s.defaultCommon()
	p.CommonOf().MarkDefaults()
	return p
}

// ResolveParams is ResolveTyped for a parameter struct held as a
// param.Declarer (a pointer to the loss's struct, from NewParams).
func (s *Spec) ResolveParams(p param.Declarer) (*Config, error) {
	if s.newParams == nil || reflect.TypeOf(p) != reflect.TypeOf(s.newParams()) {
		return nil, &OptionError{Loss: s.Name, Err: fmt.Errorf("parameters of type %T do not belong to this loss", p)}
	}
	common := p.CommonOf()
	if !common.FromDefaults() {
		return nil, &OptionError{Loss: s.Name, Err: fmt.Errorf("a bare %T literal leaves every parameter at Go's zero value; start from the loss's defaults (losses.Defaults) and set the fields you need", reflect.ValueOf(p).Elem().Interface())}
	}
	opts := commonStrings(common)
	// The baseline is what the mode and preset alone give; fields that
	// differ from it are the caller's explicit options, so a parameter left
	// at its default (or preset) value is never reported as given.
	base := Options{"mode": string(common.Mode)}
	if common.Preset != "" {
		base["preset"] = common.Preset
	}
	bc, err := Resolve(s, base)
	if err != nil {
		return nil, err
	}
	for _, d := range BoundParams(p) {
		if v := param.Format(d.Value()); v != param.Format(bc.ParamValues()[d.Name]) {
			if v == "unset" {
				v = ""
			}
			opts[d.Name] = v
		}
	}
	c, err := Resolve(s, opts)
	if err != nil {
		return nil, err
	}
	// A field the loss does not declare (a convention of a shared struct
	// that this loss does not take) must keep the value the loss gives it:
	// a change there would otherwise be dropped without a word.
	if field := firstDifference(reflect.ValueOf(p).Elem(), reflect.ValueOf(c.P).Elem(), ""); field != "" {
		return nil, &OptionError{Loss: s.Name, Err: fmt.Errorf("field %s is not a parameter of this loss; leave it at its default", field)}
	}
	return c, nil
}

// firstDifference names the first exported field, outside the common
// options, where a and b (structs of one type) differ, or returns "".
func firstDifference(a, b reflect.Value, prefix string) string {
	t := a.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || f.Type == reflect.TypeFor[param.Common]() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if d := firstDifference(a.Field(i), b.Field(i), prefix); d != "" {
				return d
			}
			continue
		}
		if param.Format(a.Field(i).Interface()) != param.Format(b.Field(i).Interface()) {
			return prefix + f.Name
		}
	}
	return ""
}

// commonStrings writes the common options in the string form Resolve reads.
func commonStrings(c *param.Common) Options {
	o := Options{
		"mode": string(c.Mode), "layout": string(c.Layout), "spatial_dims": strconv.Itoa(c.SpatialDims),
		"from_logits": strconv.FormatBool(c.FromLogits), "reduction": string(c.Reduction), "dtype": c.DType.String(),
		"opset": strconv.Itoa(c.Opset), "grad": strconv.FormatBool(c.Grad),
	}
	if c.Classes != 0 {
		o["classes"] = strconv.Itoa(c.Classes)
	}
	if c.Mode == Multiclass && c.TargetForm != "" && c.TargetForm != TargetLabels {
		o["target"] = string(c.TargetForm)
	}
	if c.IgnoreIndex != nil {
		o["ignore_index"] = strconv.FormatInt(*c.IgnoreIndex, 10)
	}
	if c.ClassWeights != nil {
		o["class_weights"] = param.Format(c.ClassWeights)
	}
	if c.Preset != "" {
		o["preset"] = c.Preset
	}
	return o
}

// WithPreset returns the parameters of the loss P under one of its presets
// (and the defaults elsewhere), ready for ResolveTyped.
func WithPreset[P any, PP interface {
	*P
	param.Declarer
}](mode Mode, name string) (P, error) {
	p := Defaults[P, PP]()
	s := specsByType[reflect.TypeFor[P]()]
	if s == nil {
		return p, fmt.Errorf("%T is not a loss of the catalog", p)
	}
	o := Options{"preset": name}
	if mode != "" {
		o["mode"] = string(mode)
	}
	c, err := Resolve(s, o)
	if err != nil {
		return p, err
	}
	p = *typed[P](c.P)
	*PP(&p).CommonOf() = c.Common
	PP(&p).CommonOf().MarkDefaults()
	return p, nil
}

// BoundParams returns the parameters of p's loss bound to a copy of p: their
// values are p's, and Applies says whether each has an effect under p's
// other values and common options.
func BoundParams(p param.Declarer) []*param.Param {
	// Declaring binds the fields of the copy (and resets them to their
	// defaults); copying p over it again leaves the bindings reading p's
	// values.
	bound := reflect.New(reflect.TypeOf(p).Elem())
	b := bound.Interface().(param.Declarer)
	set := param.NewSet(b.CommonOf())
	b.Declare(set)
	bound.Elem().Set(reflect.ValueOf(p).Elem())
	return set.Params()
}
