package losses

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/losses/param"
	"github.com/onnxloss/onnxloss/losses/reference"
	"github.com/onnxloss/onnxloss/tensor"
)

// Mode says what the input and target hold: Binary, Multilabel or Multiclass.
type Mode = param.Mode

// The three modes of segmentation losses.
const (
	Binary     = param.Binary
	Multilabel = param.Multilabel
	Multiclass = param.Multiclass
)

// Layout is the order of the input's axes: NCHW or NHWC.
type Layout = param.Layout

// The layouts.
const (
	NCHW = param.NCHW
	NHWC = param.NHWC
)

// Reduction is Mean, Sum or None.
type Reduction = param.Reduction

// The reductions.
const (
	Mean = param.Mean
	Sum  = param.Sum
	None = param.None
)

// TargetForm is TargetLabels, TargetOneHot or TargetFloat.
type TargetForm = param.TargetForm

// The target forms.
const (
	TargetLabels = param.TargetLabels
	TargetOneHot = param.TargetOneHot
	TargetFloat  = param.TargetFloat
)

// Common holds the options every loss takes.
type Common = param.Common

// ParamKind is the type of a loss parameter.
type ParamKind = param.Kind

// Parameter kinds.
const (
	KindFloat  = param.KindFloat
	KindInt    = param.KindInt
	KindBool   = param.KindBool
	KindEnum   = param.KindEnum
	KindFloats = param.KindFloats
)

// Param describes one loss-specific parameter.
type Param = param.Param

// Preset sets a group of parameters to reproduce another library's defaults.
type Preset struct {
	Name string
	// Doc says what the preset reproduces and where onnxloss differs on purpose.
	Doc string
	// Values are option strings, exactly as on the command line (common
	// options such as "reduction" included).
	Values map[string]string
}

// ExtraKind says what an extra input holds, so tests can make plausible values.
type ExtraKind int

// Extra input kinds.
const (
	// PixelWeights: non-negative float weights of shape [N,*spatial].
	PixelWeights ExtraKind = iota
	// ChannelMap: a float map with the shape (and layout) of the input.
	ChannelMap
	// InstanceLabels: int64 instance ids [N,*spatial], 0 for background.
	InstanceLabels
)

// ExtraInput is a graph input beyond input and target.
type ExtraInput struct {
	Name string
	Kind ExtraKind
	Doc  string
	// Enabled reports whether the input exists under a configuration; nil
	// means always.
	Enabled func(c *Config) bool
}

// Spec describes one loss.
type Spec struct {
	// Name is the catalog name (lower case, dashes).
	Name string
	// Family groups losses in listings: "cross-entropy", "region", ...
	Family string
	// Summary is one line for listings.
	Summary string
	// Description is the paragraph shown by describe and in the README.
	Description string
	// Citation names the paper (authors, title, venue, year).
	Citation string
	// Formula is the stable formula as the graph computes it.
	Formula string
	// Modes lists the supported modes; the first is the default.
	Modes []Mode
	// Params are the loss's own parameters.
	Params []Param
	// Presets reproduce other libraries' conventions.
	Presets []Preset
	// IgnoreIndex and ClassWeights say whether the common options apply.
	IgnoreIndex, ClassWeights bool
	// OneHotTarget says whether multiclass mode accepts --target onehot.
	OneHotTarget bool
	// Reductions lists the supported reductions (nil: mean, sum, none).
	Reductions []string
	// NoneShape documents the output of --reduction none.
	NoneShape string
	// Extra lists extra graph inputs.
	Extra []ExtraInput
	// Notes are convention notes shown by describe.
	Notes []string
	// Validate checks combinations of options that single ranges cannot.
	Validate func(c *Config) error
	// Build writes the loss on c.G and returns the (reduced) loss value.
	Build func(c *Ctx) *builder.Value
	// Reference computes the same loss in float64 from the formula.
	Reference func(in reference.Inputs, c *reference.Config) (*tensor.Tensor, error)
	// PerSample reports whether, under a configuration, the loss is the
	// mean (with reduction sum, the sum) over the batch of the same loss
	// computed on each sample alone. With the gradient output, Build then
	// computes both one sample at a time (see Build). nil: never.
	PerSample func(c *Config) bool
	// BatchValues computes, on the whole batch, the values of the
	// target alone (no gradient flows through them) that the per-sample
	// form's body must take from the batch rather than from its sample
	// (balanced-bce's β of the batch); the body's Build finds them with
	// Ctx.BatchValue. nil: none.
	BatchValues func(c *Ctx) map[string]*builder.Value
	// Tolerance overrides the relative error budget of verification (0: default).
	Tolerance float64
	// Variants are extra option sets that verification covers besides the defaults.
	Variants []Options

	// newParams returns a fresh typed parameter struct (nil for a loss
	// without one); see Define.
	newParams func() param.Declarer
}

// SupportsMode reports whether the loss is defined in mode m.
func (s *Spec) SupportsMode(m Mode) bool {
	for _, x := range s.Modes {
		if x == m {
			return true
		}
	}
	return false
}

// ReductionsList returns the supported reductions.
func (s *Spec) ReductionsList() []string {
	if s.Reductions != nil {
		return s.Reductions
	}
	return []string{string(Mean), string(Sum), string(None)}
}

// Param returns the parameter called name, or nil.
func (s *Spec) Param(name string) *Param {
	for i := range s.Params {
		if s.Params[i].Name == name {
			return &s.Params[i]
		}
	}
	return nil
}

// Preset returns the preset called name, or nil.
func (s *Spec) Preset(name string) *Preset {
	for i := range s.Presets {
		if s.Presets[i].Name == name {
			return &s.Presets[i]
		}
	}
	return nil
}

var registry = map[string]*Spec{}

// familyOrder fixes the order of families in listings.
var familyOrder = []string{"cross-entropy", "region", "structure", "distance"}

// register adds a loss of the catalog list to the registry. It panics on a
// duplicate or an incomplete Spec: registration happens at init time, so
// that is a programming error caught by every test run.
func register(s *Spec) {
	if _, dup := registry[s.Name]; dup {
		panic("losses: duplicate loss " + s.Name)
	}
	if s.Name == "" || s.Build == nil || s.Reference == nil || s.newParams == nil || len(s.Modes) == 0 || s.Summary == "" || s.Citation == "" {
		panic("losses: incomplete spec " + s.Name)
	}
	for _, p := range s.Params {
		if _, clash := commonOptions[p.Name]; clash {
			panic("losses: " + s.Name + " parameter " + p.Name + " shadows a common option")
		}
	}
	registry[s.Name] = s
}

// All returns every registered loss, ordered by family and then name.
func All() []*Spec {
	out := make([]*Spec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	rank := func(f string) int {
		for i, x := range familyOrder {
			if x == f {
				return i
			}
		}
		return len(familyOrder)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := rank(out[i].Family), rank(out[j].Family)
		if ri != rj {
			return ri < rj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Names returns the names of every loss, in the order of All.
func Names() []string {
	var names []string
	for _, s := range All() {
		names = append(names, s.Name)
	}
	return names
}

// UnknownError is returned for a name that is not in the catalog or not a
// parameter; it carries the closest match.
type UnknownError struct {
	What, Name, Suggestion string
	Valid                  []string
}

func (e *UnknownError) Error() string {
	msg := fmt.Sprintf("unknown %s %q", e.What, e.Name)
	if e.Suggestion != "" {
		msg += fmt.Sprintf("; did you mean %q?", e.Suggestion)
	}
	if len(e.Valid) > 0 && len(e.Valid) <= 40 {
		msg += " (valid: " + strings.Join(e.Valid, ", ") + ")"
	}
	return msg
}

// Lookup finds a loss by name. Underscores and case are forgiven.
func Lookup(name string) (*Spec, error) {
	key := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	if s, ok := registry[key]; ok {
		return s, nil
	}
	names := Names()
	return nil, &UnknownError{What: "loss", Name: name, Suggestion: Closest(key, names), Valid: names}
}

// Closest returns the candidate nearest to s by edit distance, or "" when
// none is near enough to be a plausible typo.
func Closest(s string, candidates []string) string { return param.Closest(s, candidates) }
