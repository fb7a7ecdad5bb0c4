//go:build cgo

package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/onnxloss/onnxloss/tensor"
)

// Session is a model loaded into ONNX Runtime, ready to run on inputs of any
// size its symbolic dimensions allow. Run may be called from several
// goroutines at once. Close releases the ONNX Runtime session; a Session that
// is not closed leaks it.
type Session struct {
	// mu is held for reading by Run and for writing by Close, so that Close
	// waits for runs in flight.
	mu       sync.RWMutex
	sess     *ort.DynamicAdvancedSession
	inputs   []IOInfo
	outputs  []IOInfo
	inIndex  map[string]int
	provider string
	symbols  bool // check shared symbolic dimensions in Run

	// optional lists the inputs that are also initializers (IOInfo.Optional),
	// which ONNX Runtime does not report as inputs. A run that gives them
	// uses full, a second session opened on first use with every input.
	optional []IOInfo
	fullMu   sync.Mutex
	full     *ort.DynamicAdvancedSession
	open     func(inNames []string) (*ort.DynamicAdvancedSession, error)
}

// NewSession loads a serialized ONNX model. A model that keeps its weights in
// external data files needs NewSessionFromFile instead, so that ONNX Runtime
// can find them.
func NewSession(model []byte, opts Options) (*Session, error) {
	if len(model) == 0 {
		return nil, errors.New("runtime: NewSession: the model is empty")
	}
	return newSession(model, "", opts)
}

// NewSessionFromFile loads the ONNX model at path; external data files are
// found relative to it, as the ONNX format specifies.
func NewSessionFromFile(path string, opts Options) (*Session, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("runtime: NewSessionFromFile: %w", err)
	}
	return newSession(nil, path, opts)
}

func newSession(model []byte, path string, opts Options) (s *Session, err error) {
	defer recoverError(&err)
	what := "the model"
	if path != "" {
		what = path
	}
	provider, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if err := Init(); err != nil {
		return nil, err
	}

	var ins, outs []ort.InputOutputInfo
	if path != "" {
		ins, outs, err = ort.GetInputOutputInfo(path)
	} else {
		ins, outs, err = ort.GetInputOutputInfoWithONNXData(model)
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: loading %s: %w", what, err)
	}
	s = &Session{provider: provider, inIndex: map[string]int{}, symbols: !opts.SkipSymbolCheck}
	if s.inputs, err = ioInfos("input", ins); err != nil {
		return nil, fmt.Errorf("runtime: %s: %w", what, err)
	}
	if s.outputs, err = ioInfos("output", outs); err != nil {
		return nil, fmt.Errorf("runtime: %s: %w", what, err)
	}
	for i, in := range s.inputs {
		s.inIndex[in.Name] = i
	}
	decl := model
	if path != "" && (needsDeclared(s) || opts.InitializerInputs || statFileSize(path) <= maxModelInfoSize) {
		decl, _ = os.ReadFile(path)
	}
	if decl != nil {
		// Without the declarations most models still run, with less precise
		// checks, so a model that ONNX Runtime accepts is not refused here.
		if din, dout, err := parseModelIO(decl); err == nil {
			applyDeclared(s.inputs, din)
			applyDeclared(s.outputs, dout)
			s.optional = optionalInputs(s.inIndex, din, decl)
		}
	}

	so, err := newSessionOptions(provider, opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	inNames, outNames := names(s.inputs), names(s.outputs)
	s.open = func(inNames []string) (*ort.DynamicAdvancedSession, error) {
		so, err := newSessionOptions(provider, opts)
		if err != nil {
			return nil, err
		}
		defer so.Destroy()
		if path != "" {
			return ort.NewDynamicAdvancedSession(path, inNames, outNames, so)
		}
		return ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	}
	if opts.InitializerInputs && len(s.optional) > 0 {
		// Every input is required; the one session takes them all.
		for _, info := range s.optional {
			info.Optional = false
			s.inIndex[info.Name] = len(s.inputs)
			s.inputs = append(s.inputs, info)
		}
		s.optional = nil
		inNames = names(s.inputs)
	}
	if path != "" {
		s.sess, err = ort.NewDynamicAdvancedSession(path, inNames, outNames, so)
	} else {
		s.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	}
	if err != nil {
		if provider == ProviderCUDA {
			return nil, cudaError(err, opts.DeviceID)
		}
		return nil, fmt.Errorf("runtime: loading %s: %w", what, err)
	}
	return s, nil
}

func ioInfos(kind string, infos []ort.InputOutputInfo) ([]IOInfo, error) {
	out := make([]IOInfo, len(infos))
	for i, info := range infos {
		if info.OrtValueType != ort.ONNXTypeTensor {
			return nil, fmt.Errorf("%s %q is a %v; only tensors are supported", kind, info.Name, info.OrtValueType)
		}
		dt := tensor.DType(info.DataType)
		if !supportedDType(dt) {
			return nil, fmt.Errorf("%s %q has element type %s, which tensor.Tensor cannot hold (supported: float32, float64, float16, bfloat16, int64, int32, uint8, bool)",
				kind, info.Name, dtypeName(dt))
		}
		shape := make([]int, len(info.Dimensions))
		for j, d := range info.Dimensions {
			shape[j] = int(d)
			if d < 0 {
				shape[j] = -1
			}
		}
		out[i] = IOInfo{Name: info.Name, DType: dt, Shape: shape}
	}
	return out, nil
}

// needsDeclared reports whether Run needs the model's own declarations: to
// tell scalars from tensors of unknown rank, and to size float16 and bfloat16
// outputs before running.
func needsDeclared(s *Session) bool {
	for _, io := range append(append([]IOInfo{}, s.inputs...), s.outputs...) {
		if len(io.Shape) == 0 {
			return true
		}
	}
	for _, io := range s.outputs {
		if isHalf(io.DType) {
			return true
		}
	}
	return false
}

// applyDeclared adds symbolic names and unknown ranks from the model to what
// ONNX Runtime reported, where the two agree on the rank.
func applyDeclared(infos []IOInfo, decl map[string]*declared) {
	for i := range infos {
		d := decl[infos[i].Name]
		if d == nil {
			continue
		}
		if !d.hasShape {
			if len(infos[i].Shape) == 0 {
				infos[i].UnknownRank = true
			}
			continue
		}
		if len(d.dims) != len(infos[i].Shape) {
			continue
		}
		syms := make([]string, len(d.dims))
		for j, dim := range d.dims {
			if !dim.hasValue {
				syms[j] = dim.param
			}
		}
		infos[i].Symbols = syms
	}
}

func (io IOInfo) clone() IOInfo {
	c := io
	c.Shape = append([]int{}, io.Shape...)
	if io.Symbols != nil {
		c.Symbols = append([]string{}, io.Symbols...)
	}
	return c
}

// supportedDType reports whether tensor.Tensor can hold the element type.
func supportedDType(d tensor.DType) bool {
	switch d {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16,
		tensor.Int64, tensor.Int32, tensor.Uint8, tensor.Bool:
		return true
	}
	return false
}

func names(infos []IOInfo) []string {
	n := make([]string, len(infos))
	for i, io := range infos {
		n[i] = io.Name
	}
	return n
}

// optionalInputs returns the inputs the model declares that ONNX Runtime
// did not report: initializers also listed as inputs, in the model's order.
func optionalInputs(required map[string]int, din map[string]*declared, model []byte) []IOInfo {
	order, err := inputOrder(model)
	if err != nil {
		return nil
	}
	var out []IOInfo
	for _, name := range order {
		if _, ok := required[name]; ok {
			continue
		}
		d := din[name]
		if d == nil || !supportedDType(tensor.DType(d.elemType)) {
			continue
		}
		info := IOInfo{Name: name, DType: tensor.DType(d.elemType), Optional: true, UnknownRank: !d.hasShape}
		for _, dim := range d.dims {
			if dim.hasValue {
				info.Shape = append(info.Shape, int(dim.value))
			} else {
				info.Shape = append(info.Shape, -1)
			}
			info.Symbols = append(info.Symbols, dim.param)
		}
		out = append(out, info)
	}
	return out
}

// Inputs describes the model's inputs, in the model's order; the optional
// ones (IOInfo.Optional) come last.
func (s *Session) Inputs() []IOInfo {
	return cloneInfos(append(append([]IOInfo{}, s.inputs...), s.optional...))
}

// Outputs describes the model's outputs, in the model's order.
func (s *Session) Outputs() []IOInfo { return cloneInfos(s.outputs) }

func cloneInfos(infos []IOInfo) []IOInfo {
	out := make([]IOInfo, len(infos))
	for i, io := range infos {
		out[i] = io.clone()
	}
	return out
}

// Close releases the ONNX Runtime session, after waiting for runs in flight.
// Closing a closed session does nothing.
func (s *Session) Close() (err error) {
	defer recoverError(&err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess == nil {
		return nil
	}
	err = s.sess.Destroy()
	s.sess = nil
	if s.full != nil {
		err = errors.Join(err, s.full.Destroy())
		s.full = nil
	}
	if err != nil {
		return fmt.Errorf("runtime: closing session: %w", err)
	}
	return nil
}

// Run computes every output of the model from inputs, keyed by input name,
// which must hold exactly the model's inputs. The inputs are checked first,
// as Check does. The returned tensors are new Go memory owned by the caller.
//
// Inputs are passed to ONNX Runtime without copying (except float16 and
// bfloat16, which are re-encoded), so they must not change during the call.
func (s *Session) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return s.RunInto(inputs, nil)
}

// RunInto is Run with output memory given back. For each output named in
// into whose tensor has the element type and the shape that this run
// produces, ONNX Runtime writes the output into that tensor's memory, and
// the result holds that same tensor; the other outputs are new memory, as
// in Run. A loop that passes each call the previous call's result,
//
//	out, err = s.RunInto(in, out)
//
// writes its outputs into the same memory every time, where Run takes new
// memory from the Go heap on every call: zeroed by Go, or faulted in from
// the system, which for the 8 MB gradient of an 8×1×512×512 batch costs
// about a quarter of a cheap loss's call. The tensors of into must not be
// read or written by anything else during the call: two calls running at
// the same time (on this session or another) must not be given the same
// tensors, or each may return the other's results. float16 and bfloat16
// outputs are always new memory (they are converted from ONNX Runtime's
// encoding).
func (s *Session) RunInto(inputs, into map[string]*tensor.Tensor) (result map[string]*tensor.Tensor, err error) {
	defer recoverError(&err)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return nil, ErrClosed
	}
	if err := s.check(inputs, s.symbols); err != nil {
		return nil, err
	}

	// Every ORT value made here is destroyed on the way out; the results
	// live in Go slices that survive it.
	var owned []ort.Value
	defer func() {
		for _, v := range owned {
			v.Destroy()
		}
	}()
	sess, infos, err := s.sessionFor(inputs)
	if err != nil {
		return nil, err
	}
	in := make([]ort.Value, len(infos))
	for i, info := range infos {
		v, err := toValue(inputs[info.Name])
		if err != nil {
			return nil, fmt.Errorf("runtime: input %q: %w", info.Name, err)
		}
		in[i] = v
		owned = append(owned, v)
	}
	out := make([]ort.Value, len(s.outputs))
	reused := make([]*tensor.Tensor, len(s.outputs))
	var bind map[string]int
	for i, info := range s.outputs {
		if len(info.Shape) > 0 && bind == nil {
			bind = s.bindSymbols(inputs)
		}
		var v ort.Value
		var err error
		if t := into[info.Name]; t != nil {
			if v, err = reuseOutput(info, bind, t); v != nil {
				reused[i] = t
			}
		}
		if v == nil && err == nil {
			v, err = newOutput(info, bind)
		}
		if err != nil {
			return nil, err
		}
		out[i] = v
		if v != nil {
			owned = append(owned, v)
		}
	}
	preallocated := make([]bool, len(out))
	for i, v := range out {
		preallocated[i] = v != nil
	}
	runErr := sess.Run(in, out)
	// onnxruntime_go fills the nil outputs in order, even when it fails part
	// way; whatever it made is ours to destroy. A failed conversion leaves a
	// nil pointer in the interface.
	for i, v := range out {
		if !preallocated[i] && !isNil(v) {
			owned = append(owned, v)
		}
	}
	if runErr != nil {
		return nil, s.runError(runErr)
	}

	result = make(map[string]*tensor.Tensor, len(out))
	for i, v := range out {
		if reused[i] != nil {
			result[s.outputs[i].Name] = reused[i]
			continue
		}
		t, err := fromValue(v, s.outputs[i])
		if err != nil {
			return nil, fmt.Errorf("runtime: output %q: %w", s.outputs[i].Name, err)
		}
		result[s.outputs[i].Name] = t
	}
	return result, nil
}

func isNil(v ort.Value) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

func (s *Session) runError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "The shape has no dimensions") {
		return fmt.Errorf("runtime: running the model: %w (an output without a declared shape turned out to be a scalar; "+
			"declare its shape as [] in the model)", err)
	}
	return fmt.Errorf("runtime: running the model: %w", err)
}

// Check reports whether inputs fit the model, as Run checks them before
// ONNX Runtime sees them: every input present and no other, each a valid
// tensor of the declared element type, rank and fixed dimensions, and the
// dimensions that share a symbolic name (N, H, W, ...) of one size across
// all inputs. It reports every problem at once, naming the input, what the
// model declares and what was given.
func (s *Session) Check(inputs map[string]*tensor.Tensor) error { return s.check(inputs, true) }

func (s *Session) check(inputs map[string]*tensor.Tensor, symbols bool) error {
	var errs []error
	var fit []IOInfo // inputs whose own checks passed
	for _, info := range s.inputs {
		t, ok := inputs[info.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("missing input %q (want %s %s)", info.Name, dtypeName(info.DType), info.ShapeString()))
			continue
		}
		if err := checkInput(info, t); err != nil {
			errs = append(errs, err)
			continue
		}
		fit = append(fit, info)
	}
	optional := map[string]bool{}
	for _, info := range s.optional {
		optional[info.Name] = true
		if t, ok := inputs[info.Name]; ok {
			if err := checkInput(info, t); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if symbols {
		errs = append(errs, checkSymbols(fit, inputs)...)
	}
	var unknown []string
	for name := range inputs {
		if _, ok := s.inIndex[name]; !ok && !optional[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		errs = append(errs, fmt.Errorf("unknown input %q; the model's inputs are %s", name, s.describeInputs()))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("runtime: %w", errors.Join(errs...))
}

// sessionFor returns the ONNX Runtime session that takes the given inputs
// and the inputs it takes in order: the one without the optional inputs,
// or, when they are given, the one with all of them.
func (s *Session) sessionFor(inputs map[string]*tensor.Tensor) (*ort.DynamicAdvancedSession, []IOInfo, error) {
	var given, missing []string
	for _, info := range s.optional {
		if _, ok := inputs[info.Name]; ok {
			given = append(given, info.Name)
		} else {
			missing = append(missing, info.Name)
		}
	}
	if len(given) == 0 {
		return s.sess, s.inputs, nil
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("runtime: inputs that are also initializers are given all together or not at all: %d given, %d missing (first: %q)",
			len(given), len(missing), missing[0])
	}
	infos := append(append([]IOInfo{}, s.inputs...), s.optional...)
	s.fullMu.Lock()
	defer s.fullMu.Unlock()
	if s.full == nil {
		full, err := s.open(names(infos))
		if err != nil {
			return nil, nil, fmt.Errorf("runtime: opening the session that takes the initializers as inputs: %w", err)
		}
		s.full = full
	}
	return s.full, infos, nil
}

func (s *Session) describeInputs() string {
	parts := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		parts[i] = in.String()
	}
	return strings.Join(parts, ", ")
}

func checkInput(info IOInfo, t *tensor.Tensor) error {
	if t == nil {
		return fmt.Errorf("input %q is nil (want %s %s)", info.Name, dtypeName(info.DType), info.ShapeString())
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("input %q: %w", info.Name, err)
	}
	mismatch := func(why string) error {
		return fmt.Errorf("input %q: %s: got %s %v, want %s %s", info.Name, why, t.DType, t.Shape, dtypeName(info.DType), info.ShapeString())
	}
	if t.DType != info.DType {
		return mismatch("wrong element type")
	}
	if info.UnknownRank {
		return nil
	}
	if len(t.Shape) != len(info.Shape) {
		// ONNX Runtime describes a scalar and an undeclared shape alike; when
		// the model could not be read to tell them apart, ONNX Runtime checks.
		if len(info.Shape) == 0 && info.Symbols == nil {
			return nil
		}
		return mismatch(fmt.Sprintf("rank %d, want rank %d", len(t.Shape), len(info.Shape)))
	}
	for i, d := range info.Shape {
		if d >= 0 && t.Shape[i] != d {
			return mismatch(fmt.Sprintf("dimension %d is %d, want %d", i, t.Shape[i], d))
		}
	}
	return nil
}

// checkSymbols checks that the dimensions declared with the same symbolic
// name have the same size in every input. ONNX gives a name one value
// throughout a graph, and ONNX Runtime does not check it: a target of the
// wrong batch size or resolution would broadcast or be read partly and give
// a plausible number, or fail deep in the graph with a message naming a
// node instead of the inputs.
func checkSymbols(infos []IOInfo, inputs map[string]*tensor.Tensor) []error {
	type seen struct {
		input     string
		dim, size int
	}
	first := map[string]seen{}
	reported := map[[3]string]bool{}
	var errs []error
	for _, info := range infos {
		t := inputs[info.Name]
		for i, sym := range info.Symbols {
			if sym == "" || i >= len(t.Shape) || info.Shape[i] >= 0 {
				continue
			}
			f, ok := first[sym]
			if !ok {
				first[sym] = seen{info.Name, i, t.Shape[i]}
				continue
			}
			key := [3]string{sym, f.input, info.Name}
			if t.Shape[i] == f.size || reported[key] {
				continue
			}
			reported[key] = true
			errs = append(errs, fmt.Errorf("input %q dimension %d (%s) is %d, but input %q dimension %d (%s) is %d; the inputs must agree on %s (%s %v, %s %v)",
				info.Name, i, sym, t.Shape[i], f.input, f.dim, sym, f.size, sym,
				info.Name, t.Shape, f.input, inputs[f.input].Shape))
		}
	}
	return errs
}

// bindSymbols maps each symbolic dimension name of the inputs to its size in
// the given inputs; a name bound to two different sizes maps to -1.
func (s *Session) bindSymbols(inputs map[string]*tensor.Tensor) map[string]int {
	bind := map[string]int{}
	for _, info := range s.inputs {
		t := inputs[info.Name]
		for i, sym := range info.Symbols {
			if sym == "" || i >= len(t.Shape) {
				continue
			}
			if old, ok := bind[sym]; ok && old != t.Shape[i] {
				bind[sym] = -1
				continue
			}
			bind[sym] = t.Shape[i]
		}
	}
	return bind
}

func isHalf(d tensor.DType) bool { return d == tensor.Float16 || d == tensor.BFloat16 }

func ortHalfType(d tensor.DType) ort.TensorElementDataType {
	if d == tensor.BFloat16 {
		return ort.TensorElementDataTypeBFloat16
	}
	return ort.TensorElementDataTypeFloat16
}

// newOutput returns the value ONNX Runtime writes output info into, or nil
// to let ONNX Runtime allocate it. onnxruntime_go v1.27 cannot allocate two
// kinds of outputs itself: scalars (its Shape type rejects rank 0) and float16
// or bfloat16 tensors (it copies one byte per element out of ONNX Runtime).
// Scalars get a preallocated Scalar; half-precision tensors a preallocated
// buffer, sized from the symbolic dimensions they share with the inputs.
//
// Other tensors whose shape the inputs fix (such as a loss's input_grad,
// the shape of its input) get a Go slice that ONNX Runtime writes into:
// what it allocates itself, onnxruntime_go copies into Go memory, so the
// output would be held twice and written twice.
func newOutput(info IOInfo, bind map[string]int) (ort.Value, error) {
	if !isHalf(info.DType) && len(info.Shape) > 0 {
		if shape, ok := knownShape(info, bind); ok {
			return preallocated(info, shape)
		}
		return nil, nil
	}
	if isHalf(info.DType) {
		shape, err := halfOutputShape(info, bind)
		if err != nil {
			return nil, err
		}
		n := tensor.NumElements(shape)
		// ONNX Runtime accepts a buffer larger than needed, and
		// onnxruntime_go refuses an empty one.
		buf := make([]byte, 2*max(n, 1))
		v, err := ort.NewCustomDataTensor(toShape(shape), buf, ortHalfType(info.DType))
		if err != nil {
			return nil, fmt.Errorf("runtime: output %q: %w", info.Name, err)
		}
		return v, nil
	}
	if len(info.Shape) > 0 || info.UnknownRank {
		return nil, nil
	}
	var v ort.Value
	var err error
	switch info.DType {
	case tensor.Float32:
		v, err = scalarOut[float32]()
	case tensor.Float64:
		v, err = scalarOut[float64]()
	case tensor.Int64:
		v, err = scalarOut[int64]()
	case tensor.Int32:
		v, err = scalarOut[int32]()
	case tensor.Uint8:
		v, err = scalarOut[uint8]()
	case tensor.Bool:
		v, err = scalarOut[bool]()
	default:
		err = fmt.Errorf("unsupported element type %s", dtypeName(info.DType))
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: output %q: %w", info.Name, err)
	}
	return v, nil
}

func scalarOut[T ort.TensorData]() (ort.Value, error) {
	v, err := ort.NewEmptyScalar[T]()
	if err != nil {
		return nil, err
	}
	return v, nil
}

// knownShape is the shape of an output whose dimensions are fixed or named
// after an input's, with at least one element.
func knownShape(info IOInfo, bind map[string]int) ([]int, bool) {
	if info.UnknownRank {
		return nil, false
	}
	shape := make([]int, len(info.Shape))
	for i, d := range info.Shape {
		if d < 0 {
			if i >= len(info.Symbols) || info.Symbols[i] == "" {
				return nil, false
			}
			var ok bool
			if d, ok = bind[info.Symbols[i]]; !ok || d < 0 {
				return nil, false
			}
		}
		shape[i] = d
	}
	return shape, tensor.NumElements(shape) > 0
}

// preallocated makes a tensor of the output's element type and shape over
// new Go memory.
// reuseOutput wraps t's memory as the output info when t has the element
// type and the shape (from the declared shape and the bound symbols) that
// the run produces; otherwise it returns nil, and the output is made anew.
func reuseOutput(info IOInfo, bind map[string]int, t *tensor.Tensor) (ort.Value, error) {
	if isHalf(info.DType) || t.DType != info.DType || len(info.Shape) == 0 {
		return nil, nil
	}
	shape, ok := knownShape(info, bind)
	if !ok || !slices.Equal(shape, t.Shape) {
		return nil, nil
	}
	var v ort.Value
	var err error
	switch d := t.Data.(type) {
	case []float32:
		v, err = wrapOutput(shape, d)
	case []float64:
		v, err = wrapOutput(shape, d)
	case []int64:
		v, err = wrapOutput(shape, d)
	case []int32:
		v, err = wrapOutput(shape, d)
	case []uint8:
		v, err = wrapOutput(shape, d)
	case []bool:
		v, err = wrapOutput(shape, d)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: output %q: %w", info.Name, err)
	}
	return v, nil
}

// wrapOutput wraps data as an output tensor of shape, or returns nil when
// data does not hold exactly its elements.
func wrapOutput[T ort.TensorData](shape []int, data []T) (ort.Value, error) {
	if len(data) != tensor.NumElements(shape) || len(data) == 0 {
		return nil, nil
	}
	v, err := ort.NewTensor(toShape(shape), data)
	if err != nil || v == nil {
		return nil, err
	}
	return v, nil
}

func preallocated(info IOInfo, shape []int) (ort.Value, error) {
	n := tensor.NumElements(shape)
	var v ort.Value
	var err error
	switch info.DType {
	case tensor.Float32:
		v, err = ort.NewTensor(toShape(shape), make([]float32, n))
	case tensor.Float64:
		v, err = ort.NewTensor(toShape(shape), make([]float64, n))
	case tensor.Int64:
		v, err = ort.NewTensor(toShape(shape), make([]int64, n))
	case tensor.Int32:
		v, err = ort.NewTensor(toShape(shape), make([]int32, n))
	case tensor.Uint8:
		v, err = ort.NewTensor(toShape(shape), make([]uint8, n))
	case tensor.Bool:
		v, err = ort.NewTensor(toShape(shape), make([]bool, n))
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: output %q: %w", info.Name, err)
	}
	return v, nil
}

func halfOutputShape(info IOInfo, bind map[string]int) ([]int, error) {
	limitation := "onnxruntime_go v1.27 can return float16 and bfloat16 outputs only when their shape is known before running"
	if info.UnknownRank || len(info.Shape) == 0 {
		what := "a scalar"
		if info.UnknownRank {
			what = "declared without a shape"
		}
		return nil, fmt.Errorf("runtime: output %q is a %s %s, which this package cannot return (%s, and not as scalars); "+
			"cast it to float32 in the model or give it shape [1]", info.Name, dtypeName(info.DType), what, limitation)
	}
	shape := make([]int, len(info.Shape))
	for i, d := range info.Shape {
		if d >= 0 {
			shape[i] = d
			continue
		}
		sym := ""
		if i < len(info.Symbols) {
			sym = info.Symbols[i]
		}
		n, ok := bind[sym]
		if sym == "" || !ok || n < 0 {
			why := "has no name"
			switch {
			case sym != "" && !ok:
				why = fmt.Sprintf("(%s) is not a dimension of any input", sym)
			case sym != "":
				why = fmt.Sprintf("(%s) has different sizes in different inputs", sym)
			}
			return nil, fmt.Errorf("runtime: output %q (%s %s): dimension %d %s, so its size is not known before running; %s. "+
				"Name its dimensions after the inputs' (as in [N C H W]) or cast it to float32 in the model",
				info.Name, dtypeName(info.DType), info.ShapeString(), i, why, limitation)
		}
		shape[i] = n
	}
	return shape, nil
}

func toShape(dims []int) ort.Shape {
	s := make(ort.Shape, len(dims))
	for i, d := range dims {
		s[i] = int64(d)
	}
	return s
}

// toValue wraps a validated tensor for ONNX Runtime.
func toValue(t *tensor.Tensor) (ort.Value, error) {
	shape := toShape(t.Shape)
	switch d := t.Data.(type) {
	case []float32:
		return newValue(shape, d)
	case []float64:
		return newValue(shape, d)
	case []int64:
		return newValue(shape, d)
	case []int32:
		return newValue(shape, d)
	case []uint8:
		return newValue(shape, d)
	case []bool:
		return newValue(shape, d)
	case []uint16:
		if len(shape) == 0 {
			return nil, fmt.Errorf("a scalar %s cannot be passed: onnxruntime_go v1.27 makes float16 and bfloat16 tensors only with at least one dimension; "+
				"give the model input shape [1] or make it float32", t.DType)
		}
		buf := make([]byte, 2*max(len(d), 1))
		for i, v := range d {
			binary.LittleEndian.PutUint16(buf[2*i:], v)
		}
		v, err := ort.NewCustomDataTensor(shape, buf, ortHalfType(t.DType))
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("unsupported data %T", t.Data)
}

func newValue[T ort.TensorData](shape ort.Shape, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		v, err := ort.NewScalar(data[0])
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	v, err := ort.NewTensor(shape, data)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// fromValue turns an output into a tensor.Tensor. Tensors that ONNX Runtime
// allocated were already copied into Go slices by onnxruntime_go, and
// destroying the value releases only ONNX Runtime's side, so those slices
// are taken over rather than copied again.
func fromValue(v ort.Value, info IOInfo) (*tensor.Tensor, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return fromSlice(t, tensor.Float32)
	case *ort.Tensor[float64]:
		return fromSlice(t, tensor.Float64)
	case *ort.Tensor[int64]:
		return fromSlice(t, tensor.Int64)
	case *ort.Tensor[int32]:
		return fromSlice(t, tensor.Int32)
	case *ort.Tensor[uint8]:
		return fromSlice(t, tensor.Uint8)
	case *ort.Tensor[bool]:
		return fromSlice(t, tensor.Bool)
	case *ort.Scalar[float32]:
		return &tensor.Tensor{Shape: []int{}, DType: tensor.Float32, Data: []float32{t.GetData()}}, nil
	case *ort.Scalar[float64]:
		return &tensor.Tensor{Shape: []int{}, DType: tensor.Float64, Data: []float64{t.GetData()}}, nil
	case *ort.Scalar[int64]:
		return &tensor.Tensor{Shape: []int{}, DType: tensor.Int64, Data: []int64{t.GetData()}}, nil
	case *ort.Scalar[int32]:
		return &tensor.Tensor{Shape: []int{}, DType: tensor.Int32, Data: []int32{t.GetData()}}, nil
	case *ort.Scalar[uint8]:
		return &tensor.Tensor{Shape: []int{}, DType: tensor.Uint8, Data: []uint8{t.GetData()}}, nil
	case *ort.Scalar[bool]:
		return &tensor.Tensor{Shape: []int{}, DType: tensor.Bool, Data: []bool{t.GetData()}}, nil
	case *ort.CustomDataTensor:
		dt := tensor.DType(t.DataType())
		if !isHalf(dt) {
			return nil, fmt.Errorf("unexpected element type %s", dtypeName(dt))
		}
		shape := fromShape(t.GetShape())
		n := tensor.NumElements(shape)
		b := t.GetData()
		if len(b) < 2*n {
			return nil, fmt.Errorf("%s %v output holds %d bytes, want %d", dt, shape, len(b), 2*n)
		}
		data := make([]uint16, n)
		for i := range data {
			data[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return &tensor.Tensor{Shape: shape, DType: dt, Data: data}, nil
	case nil:
		return nil, errors.New("ONNX Runtime returned no value")
	}
	return nil, fmt.Errorf("ONNX Runtime returned %T, declared %s %s", v, dtypeName(info.DType), info.ShapeString())
}

func fromSlice[T ort.TensorData](t *ort.Tensor[T], dt tensor.DType) (*tensor.Tensor, error) {
	return &tensor.Tensor{Shape: fromShape(t.GetShape()), DType: dt, Data: t.GetData()}, nil
}

func fromShape(s ort.Shape) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

// statFileSize returns a file's size, or -1.
func statFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
