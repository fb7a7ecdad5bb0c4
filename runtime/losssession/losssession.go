// Package losssession runs a loss of the catalog in ONNX Runtime, and its Go
// reference on the same inputs, in one step each: Open resolves the options,
// builds and checks the graph, serializes it and loads it; Run and Reference
// check the inputs and compute the loss.
//
// The checks are what keep a bad input from giving a plausible number, or a
// panic in the reference: the runtime package's (names, element types,
// ranks, fixed dimensions, and the dimensions that share a symbolic name
// agreeing across inputs), then inputs with no elements, then multiclass
// labels outside [0, C) that are not the ignore index.
package losssession

import (
	"errors"
	"fmt"
	"strings"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/tensor"
)

// Session is a loss built for one configuration and loaded into ONNX
// Runtime. Run and Reference may be called from several goroutines at once.
// Close releases the ONNX Runtime session.
type Session struct {
	spec  *losses.Spec
	cfg   *losses.Config
	model []byte
	rt    *runtime.Session
}

// Open looks a loss up by name, resolves its options and opens it, as
// OpenConfig does.
func Open(name string, opts losses.Options, rt runtime.Options) (*Session, error) {
	spec, err := losses.Lookup(name)
	if err != nil {
		return nil, err
	}
	cfg, err := losses.Resolve(spec, opts)
	if err != nil {
		return nil, err
	}
	return OpenConfig(spec, cfg, rt)
}

// OpenConfig builds the model of a resolved loss (export.LossModel), checks
// its structure (export.Check), serializes it and loads it into ONNX
// Runtime with the given options.
func OpenConfig(spec *losses.Spec, cfg *losses.Config, rt runtime.Options) (*Session, error) {
	m, err := export.LossModel(spec, cfg)
	if err != nil {
		return nil, err
	}
	if err := export.Check(m); err != nil {
		return nil, fmt.Errorf("%s: the exported model is malformed: %w", spec.Name, err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		return nil, err
	}
	sess, err := runtime.NewSession(b, rt)
	if err != nil {
		return nil, err
	}
	return &Session{spec: spec, cfg: cfg, model: b, rt: sess}, nil
}

// Spec is the loss.
func (s *Session) Spec() *losses.Spec { return s.spec }

// Config is the loss's resolved configuration.
func (s *Session) Config() *losses.Config { return s.cfg }

// Model is the serialized model that the session runs. It must not be
// changed.
func (s *Session) Model() []byte { return s.model }

// Runtime is the ONNX Runtime session. Its Run checks shapes but not labels:
// it serves callers that have checked the inputs once with Check and run
// them many times, such as timings.
func (s *Session) Runtime() *runtime.Session { return s.rt }

// Close releases the ONNX Runtime session.
func (s *Session) Close() error { return s.rt.Close() }

// Run checks the inputs (see Check) and runs the loss in ONNX Runtime. The
// result holds "loss", and "input_grad" when the configuration has Grad.
func (s *Session) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if err := s.Check(inputs); err != nil {
		return nil, err
	}
	return s.rt.Run(inputs)
}

// Reference checks the inputs (see Check) and computes the loss with its
// float64 Go reference. A failure inside the reference comes back as an
// error, never as a panic.
func (s *Session) Reference(inputs map[string]*tensor.Tensor) (out *tensor.Tensor, err error) {
	if err := s.Check(inputs); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%s: the reference failed on these inputs: %v", s.spec.Name, r)
		}
	}()
	out, err = s.spec.Reference(inputs, s.cfg.Reference())
	if err != nil {
		return nil, fmt.Errorf("%s: reference: %w", s.spec.Name, err)
	}
	return out, nil
}

// Check reports whether the inputs are ones the loss is defined on:
//
//   - they fit the model, as runtime.Session.Check says: every input present
//     and no other, of the declared element type, rank and fixed
//     dimensions, and of one size along the dimensions that share a
//     symbolic name (N, C, H, W, D);
//   - none is empty (N = 0 or a spatial size 0): a loss over no pixels has
//     no value;
//   - in multiclass mode with label targets, every label is a class in
//     [0, C) or the ignore index.
//
// The error names the input, and for a label its value and position.
func (s *Session) Check(inputs map[string]*tensor.Tensor) error {
	if err := s.rt.Check(inputs); err != nil {
		return err
	}
	var empty []string
	for _, info := range s.rt.Inputs() {
		if t := inputs[info.Name]; t.Len() == 0 {
			empty = append(empty, fmt.Sprintf("%s %v", info.Name, t.Shape))
		}
	}
	if len(empty) > 0 {
		return fmt.Errorf("%s: inputs with no elements (%s): a loss needs at least one pixel", s.spec.Name, strings.Join(empty, ", "))
	}
	if s.cfg.Mode == losses.Multiclass && s.cfg.TargetForm == losses.TargetLabels {
		if err := CheckLabels(inputs["target"], s.classes(inputs["input"]), s.cfg.IgnoreIndex); err != nil {
			return fmt.Errorf("%s: %w", s.spec.Name, err)
		}
	}
	return nil
}

// classes is C: fixed by the configuration, or read from the input.
func (s *Session) classes(input *tensor.Tensor) int {
	if s.cfg.Classes > 0 {
		return s.cfg.Classes
	}
	if s.cfg.Layout == losses.NHWC {
		return input.Shape[len(input.Shape)-1]
	}
	return input.Shape[1]
}

// CheckLabels reports the labels of an int64 label map that are neither a
// class in [0, classes) nor the ignore index (nil: none), naming the first
// by value and position and counting the others, such as
//
//	target[0,3,5] = -1 is not a class in [0, 4) nor the ignore index 255
func CheckLabels(target *tensor.Tensor, classes int, ignore *int64) error {
	labels, ok := target.Data.([]int64)
	if !ok {
		return fmt.Errorf("target holds %s, want int64 labels", target.DType)
	}
	first, bad := -1, 0
	for i, y := range labels {
		if (y < 0 || y >= int64(classes)) && (ignore == nil || y != *ignore) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "target[%s] = %d is not a class in [0, %d)", position(first, target.Shape), labels[first], classes)
	if ignore != nil {
		fmt.Fprintf(&b, " nor the ignore index %d", *ignore)
	}
	if bad > 1 {
		fmt.Fprintf(&b, " (%d labels of %d are out of range)", bad, len(labels))
	}
	return errors.New(b.String())
}

// position writes the index tuple of a row-major offset: "0,3,5".
func position(offset int, shape []int) string {
	idx := make([]string, len(shape))
	for a := len(shape) - 1; a >= 0; a-- {
		idx[a] = fmt.Sprint(offset % shape[a])
		offset /= shape[a]
	}
	return strings.Join(idx, ",")
}
