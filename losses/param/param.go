// Package param declares the parameters of the catalog's losses as typed Go
// structs, shared by the graph builders (package losses) and the float64
// references (package losses/reference).
//
// A loss's parameters are one struct whose Declare method binds each field to
// its option name, default, range, documentation and the condition under
// which it matters, the way the standard library's flag package binds
// variables:
//
//	func (p *Tversky) Declare(s *param.Set) {
//		s.Float(&p.Alpha, "alpha", 0.3, "weight of false positives").AtLeast(0)
//		s.Float(&p.Beta, "beta", 0.7, "weight of false negatives").AtLeast(0)
//	}
//
// Graph and reference code read p.Alpha, so a misspelled parameter does not
// compile. The string form (option names and values, as the command line
// takes them) is parsed into the same struct by package losses.
//
// The package depends on the standard library and package tensor only, so the
// references can use it without importing the graph builder.
package param

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/tensor"
)

// Mode says what the input and target hold.
type Mode string

// The three modes of segmentation losses.
const (
	// Binary: one foreground channel, input [N,1,*spatial], float target of the same shape.
	Binary Mode = "binary"
	// Multilabel: C independent channels, input [N,C,*spatial], float target of the same shape.
	Multilabel Mode = "multilabel"
	// Multiclass: C exclusive classes, input [N,C,*spatial], int64 label map [N,*spatial].
	Multiclass Mode = "multiclass"
)

// Layout is the order of the input's axes.
type Layout string

// The two layouts.
const (
	// NCHW is [N,C,*spatial], PyTorch's order.
	NCHW Layout = "nchw"
	// NHWC is [N,*spatial,C], TensorFlow's order.
	NHWC Layout = "nhwc"
)

// Reduction says how per-element losses become the output.
type Reduction string

// The reductions.
const (
	Mean Reduction = "mean"
	Sum  Reduction = "sum"
	// None keeps the tensor each loss documents (per pixel, per element or per sample and class).
	None Reduction = "none"
)

// TargetForm says what the target input holds.
type TargetForm string

// The target forms.
const (
	// TargetLabels is an int64 label map [N,*spatial] (multiclass mode).
	TargetLabels TargetForm = "labels"
	// TargetOneHot is a float [N,C,*spatial] one-hot or soft target (multiclass mode).
	TargetOneHot TargetForm = "onehot"
	// TargetFloat is the float target of the input's shape of binary and multilabel mode.
	TargetFloat TargetForm = "float"
)

// Common holds the options every loss takes. In a resolved configuration
// every field is set; a struct made by the loss's defaults (losses.Defaults)
// has the defaults.
type Common struct {
	Mode Mode
	// Classes is the number of channels C, or 0 when the graph takes it from
	// the input at run time.
	Classes     int
	Layout      Layout
	SpatialDims int
	// FromLogits says the input holds logits (true) or probabilities.
	FromLogits bool
	Reduction  Reduction
	// DType is the element type of the input.
	DType tensor.DType
	// Opset is the ONNX opset of the default domain.
	Opset int
	// IgnoreIndex is the label whose pixels are masked, or nil.
	IgnoreIndex  *int64
	ClassWeights []float64
	// TargetForm is TargetLabels or TargetOneHot in multiclass mode, TargetFloat otherwise.
	TargetForm TargetForm
	// Preset names the preset whose values were applied, or "".
	Preset string
	// Grad adds the input_grad output.
	Grad bool

	defaults bool
}

// MarkDefaults records that c was filled with a loss's defaults, so that a
// struct built from them can be told from a bare literal. Package losses
// calls it; it is exported only for that.
func (c *Common) MarkDefaults() { c.defaults = true }

// FromDefaults reports whether MarkDefaults was called on c (or on the
// struct it was copied from).
func (c *Common) FromDefaults() bool { return c.defaults }

// CommonOf returns the embedded Common of a parameter struct.
func (c *Common) CommonOf() *Common { return c }

// Declarer is implemented by every loss's parameter struct (as a pointer).
type Declarer interface {
	// Declare binds the struct's fields on s.
	Declare(s *Set)
	// CommonOf returns the embedded common options.
	CommonOf() *Common
}

// Kind is the type of a parameter.
type Kind int

// Parameter kinds.
const (
	KindFloat Kind = iota
	KindInt
	KindBool
	KindEnum
	KindFloats
)

func (k Kind) String() string {
	return [...]string{"float", "int", "bool", "enum", "float list"}[k]
}

// Param is one declared parameter, bound to a field of a struct.
type Param struct {
	// Name in snake_case; the command line spells it with dashes.
	Name string
	Kind Kind
	// Default is a float64, int, bool, string or []float64 by Kind; a nil
	// float list means "not set".
	Default any
	// Min and Max bound Float, Int and float-list parameters (inclusive
	// unless the Exclusive flags say otherwise). Nil means unbounded.
	Min, Max                   *float64
	MinExclusive, MaxExclusive bool
	// Choices lists the values of an Enum.
	Choices []string
	// Doc says what the parameter does and which library uses which value.
	Doc string

	get func() any
	set func(any)

	matters func() bool
	needs   string
}

// Set collects the parameters a struct declares.
type Set struct {
	params []*Param
	common *Common
}

// NewSet returns a set whose conditions read the common options c (which
// may be filled in after the declaration: conditions run later).
func NewSet(c *Common) *Set { return &Set{common: c} }

// Common returns the common options the conditions of the set read.
func (s *Set) Common() *Common { return s.common }

// Params returns the declared parameters in declaration order.
func (s *Set) Params() []*Param { return s.params }

// Lookup returns the parameter called name, or nil.
func (s *Set) Lookup(name string) *Param {
	for _, p := range s.params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (s *Set) add(p *Param) *Param {
	for _, q := range s.params {
		if q.Name == p.Name {
			panic("param: " + p.Name + " declared twice")
		}
	}
	s.params = append(s.params, p)
	return p
}

// Float declares a float parameter bound to *v, with its default.
func (s *Set) Float(v *float64, name string, def float64, doc string) *Param {
	*v = def
	return s.add(&Param{Name: name, Kind: KindFloat, Default: def, Doc: doc,
		get: func() any { return *v }, set: func(x any) { *v = x.(float64) }})
}

// Int declares an integer parameter bound to *v.
func (s *Set) Int(v *int, name string, def int, doc string) *Param {
	*v = def
	return s.add(&Param{Name: name, Kind: KindInt, Default: def, Doc: doc,
		get: func() any { return *v }, set: func(x any) { *v = x.(int) }})
}

// Bool declares a boolean parameter bound to *v.
func (s *Set) Bool(v *bool, name string, def bool, doc string) *Param {
	*v = def
	return s.add(&Param{Name: name, Kind: KindBool, Default: def, Doc: doc,
		get: func() any { return *v }, set: func(x any) { *v = x.(bool) }})
}

// Floats declares a float-list parameter bound to *v; its default is unset
// (nil) unless def is given.
func (s *Set) Floats(v *[]float64, name string, def []float64, doc string) *Param {
	*v = def
	return s.add(&Param{Name: name, Kind: KindFloats, Default: def, Doc: doc,
		get: func() any { return *v }, set: func(x any) { *v = x.([]float64) }})
}

// Enum declares a parameter of a closed set of string values bound to *v, a
// field of a string type of the loss's own (or string).
func Enum[T ~string](s *Set, v *T, name string, def T, choices []T, doc string) *Param {
	*v = def
	cs := make([]string, len(choices))
	for i, c := range choices {
		cs[i] = string(c)
	}
	return s.add(&Param{Name: name, Kind: KindEnum, Default: string(def), Choices: cs, Doc: doc,
		get: func() any { return string(*v) }, set: func(x any) { *v = T(x.(string)) }})
}

// AtLeast bounds the parameter below, inclusive.
func (p *Param) AtLeast(v float64) *Param { p.Min, p.MinExclusive = &v, false; return p }

// Above bounds the parameter below, exclusive.
func (p *Param) Above(v float64) *Param { p.Min, p.MinExclusive = &v, true; return p }

// AtMost bounds the parameter above, inclusive.
func (p *Param) AtMost(v float64) *Param { p.Max, p.MaxExclusive = &v, false; return p }

// Below bounds the parameter above, exclusive.
func (p *Param) Below(v float64) *Param { p.Max, p.MaxExclusive = &v, true; return p }

// Matters says when the parameter has an effect: giving it where cond is
// false is a usage error whose message says what would make it matter
// (needs, for example "--beta-from fixed").
func (p *Param) Matters(needs string, cond func() bool) *Param {
	p.matters, p.needs = cond, needs
	return p
}

// Value returns the bound field's current value (float64, int, bool, string
// or []float64 by Kind).
func (p *Param) Value() any { return p.get() }

// SetValue stores v, of the Kind's Go type, in the bound field.
func (p *Param) SetValue(v any) { p.set(v) }

// Applies reports whether the parameter has an effect under the current
// values of the struct and the common options.
func (p *Param) Applies() bool { return p.matters == nil || p.matters() }

// Needs says what makes the parameter matter ("" when it always does).
func (p *Param) Needs() string { return p.needs }

// Parse reads a value in the command line's form and checks it against the
// kind, range and float32's finite range; it does not store it.
func (p *Param) Parse(v string) (any, error) {
	switch p.Kind {
	case KindFloat:
		f, err := ParseFloat32Range(p.Name, v)
		if err != nil {
			return nil, err
		}
		if err := p.CheckRange(f); err != nil {
			return nil, err
		}
		return f, nil
	case KindInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an integer", p.Name, v)
		}
		if err := p.CheckRange(float64(n)); err != nil {
			return nil, err
		}
		return n, nil
	case KindBool:
		return ParseBool(p.Name, v)
	case KindEnum:
		return ParseChoice(p.Name, v, p.Choices)
	case KindFloats:
		if strings.TrimSpace(v) == "" {
			if d, _ := p.Default.([]float64); d != nil {
				return nil, fmt.Errorf("%s needs at least one value (its default is %s)", p.Name, Format(d))
			}
			return []float64(nil), nil
		}
		fs, err := ParseFloats(p.Name, v)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if err := p.CheckRange(f); err != nil {
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

// CheckRange reports a value outside the parameter's range.
func (p *Param) CheckRange(f float64) error {
	bad := (p.Min != nil && (f < *p.Min || (p.MinExclusive && f == *p.Min))) ||
		(p.Max != nil && (f > *p.Max || (p.MaxExclusive && f == *p.Max)))
	if bad {
		return fmt.Errorf("%s = %v is out of range %s", p.Name, f, p.RangeString())
	}
	return nil
}

// DefaultString formats the default for help and describe.
func (p *Param) DefaultString() string { return Format(p.Default) }

// Format writes a parameter value in the command line's form ("unset" for
// an unset float list).
func Format(v any) string {
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

// ParseBool reads true/false (also 1/0, yes/no, on/off).
func ParseBool(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q is not a boolean (true or false)", name, v)
}

// ParseChoice reads one of choices, case-insensitively.
func ParseChoice(name, v string, choices []string) (string, error) {
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
	return "", fmt.Errorf("%s", msg)
}

// minNormal32 is float32's smallest positive normal number.
const minNormal32 = 0x1p-126

// CheckFloat32 refuses a value that float32, the precision of the graphs,
// cannot hold as a finite normal number (0 is fine): it would become
// infinite or lose its precision inside the graph while the float64
// reference kept it.
func CheckFloat32(name string, f float64) error {
	a := math.Abs(f)
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return fmt.Errorf("%s %v is not a finite number", name, f)
	case a > math.MaxFloat32:
		return fmt.Errorf("%s = %v is beyond float32's largest value %.7g", name, f, math.MaxFloat32)
	case a != 0 && a < minNormal32:
		return fmt.Errorf("%s = %v is below float32's smallest normal value %.7g (use 0 or a larger value)", name, f, minNormal32)
	}
	return nil
}

// ParseFloat32Range reads a finite number that float32 holds as a normal
// number (or 0).
func ParseFloat32Range(name, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s %q is not a finite number", name, v)
	}
	return f, CheckFloat32(name, f)
}

// ParseFloats reads a list of numbers separated by commas or semicolons
// (spaces, alone or around them, separate too). An empty item ("1,,2", a
// trailing comma) is an error, never skipped.
func ParseFloats(name, v string) ([]float64, error) {
	if strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%s: empty list", name)
	}
	var out []float64
	for i, part := range strings.Split(strings.ReplaceAll(v, ";", ","), ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%s: item %d of %q is empty", name, i+1, v)
		}
		for _, f := range fields {
			x, err := ParseFloat32Range(name, f)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// Closest returns the candidate nearest to s by edit distance, or "" when
// none is near enough to be a plausible typo.
func Closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
