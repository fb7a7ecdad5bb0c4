// Package splice attaches a loss to an existing ONNX model, such as a
// segmentation network exported by PyTorch or TensorFlow: it picks the model
// output the loss reads, infers the mode, number of classes and layout from
// the graph (following the logits back through a Softmax, Sigmoid or
// LogSoftmax head), builds the loss for the model's opset and merges the two
// graphs under a name prefix. Inspect reports the same analysis without
// changing anything.
package splice

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// DefaultPrefix starts the name of every node and value that Append adds,
// apart from the public inputs and outputs.
const DefaultPrefix = "onnxloss/"

// Options say which loss Append attaches, and where.
type Options struct {
	// Loss names the loss (see losses.Lookup).
	Loss string
	// LossOptions are the loss's options, as on the command line. Options
	// the model determines (mode, classes, layout, spatial_dims, dtype,
	// opset, from_logits) are inferred from the chosen output when absent;
	// when given they override the inference, and an error reports a value
	// the model contradicts.
	LossOptions losses.Options
	// Output names the model output the loss reads; "" picks the model's
	// only output.
	Output string
	// UseActivationOutput attaches the loss to the output itself when it
	// comes from Softmax, Sigmoid or LogSoftmax. By default the loss reads
	// the logits before the activation, which is numerically stable.
	UseActivationOutput bool
	// TargetName names the target input; "" means "target", or
	// Prefix+"target" when the model already has a value called "target".
	TargetName string
	// KeepOutputs keeps the model's own outputs after the loss (and its
	// gradient); by default the spliced model outputs only the loss.
	KeepOutputs bool
	// Prefix starts every added node and value name; "" means DefaultPrefix.
	Prefix string
}

// Report says what Append inferred and did.
type Report struct {
	// Loss is the loss's catalog name.
	Loss string
	// Output is the model output the loss is attached to, and OutputType its
	// declared type, such as "float32[batch,3,height,width]".
	Output, OutputType string
	// Activation is "Softmax", "LogSoftmax" or "Sigmoid" when Output comes
	// from one, else "".
	Activation string
	// AttachedTo is the value the loss reads: Output, or the logits before
	// Activation. When Transposes (or, after a Sigmoid, Reshapes) lie
	// between Activation and Output, as tf2onnx writes them for Keras
	// models, the logits are put through copies of them, in the output's
	// layout, and AttachedTo is Prefix + Output + "_logits".
	AttachedTo string
	// Config is the resolved configuration: mode, classes, layout, spatial
	// dimensions, from_logits, opset and every loss parameter.
	Config *losses.Config
	// Target is the name of the target input and TargetType its type.
	Target, TargetType string
	// ExtraInputs are the loss's other inputs, by name.
	ExtraInputs []string
	// LossOutput is the name of the loss output (first among the outputs).
	LossOutput string
	// GradOutput is the name of the gradient output with the grad option:
	// d loss / d AttachedTo, named AttachedTo + "_grad" as ONNX Runtime names
	// gradients (Prefix + that when the model already uses the name); "" without.
	GradOutput string
	// Outputs lists the spliced model's outputs in order.
	Outputs []string
	// IRVersion is the spliced model's IR version.
	IRVersion int64
	// Notes explain, one sentence each, what was inferred from the model and
	// what was chosen, so that a user can check it and override it.
	Notes []string
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// OutputChoiceError reports that the output to attach to must be named (the
// model has several) or that the named output does not exist.
type OutputChoiceError struct {
	Msg string
	// Outputs describes every output of the model.
	Outputs []string
}

func (e *OutputChoiceError) Error() string {
	return e.Msg + "; the model's outputs: " + strings.Join(e.Outputs, "; ")
}

// Append attaches a loss to a model: the loss reads one of the model's
// outputs (or the logits before its activation) and a new target input, and
// its value becomes the first output, `loss`, as ONNX Runtime's
// training-artifact tools expect. The loss is built for the model's opset
// of the default domain (13 to 21). Every added node and value name starts
// with the prefix; the model's own inputs, outputs, nodes, initializers,
// functions, other opset domains and metadata are kept, and the onnxloss.*
// metadata of the loss is added. m is not modified. The report says what was
// inferred.
//
// Errors: *OutputChoiceError when the output is ambiguous or unknown,
// *losses.OptionError (and *losses.UnknownError) for options that are
// invalid or contradict the model, and plain errors for models that cannot
// take a loss (opset below 13, an output that is not a float tensor of rank
// 3 to 5, ...).
func Append(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, nil, errors.New("append: the model has no graph")
	}
	out := proto.Clone(m).(*onnxpb.ModelProto)
	rep, err := appendInPlace(out, opts)
	if err != nil {
		return nil, nil, err
	}
	return out, rep, nil
}

// AppendFile reads the model at modelPath, attaches the loss as Append does,
// and writes the result to outPath atomically (no partial file on failure).
// Weights stored as external data stay external: the data files are placed
// next to outPath (see modelio.Model.WriteModel) and never read into memory.
// An outPath that is the model itself or one of its data files is refused
// before any work, with a *modelio.OverwriteError.
func AppendFile(modelPath, outPath string, opts Options) (*Report, error) {
	lm, err := modelio.Load(modelPath)
	if err != nil {
		return nil, err
	}
	if err := lm.CheckOutput(outPath); err != nil {
		return nil, err
	}
	rep, err := appendInPlace(lm.Proto, opts)
	if err != nil {
		return nil, err
	}
	if err := lm.WriteModel(outPath, lm.Proto); err != nil {
		return nil, err
	}
	return rep, nil
}

// splicer holds the state of one Append.
type splicer struct {
	m      *onnxpb.ModelProto
	opts   Options
	spec   *losses.Spec
	ix     *graphIndex
	rep    *Report
	prefix string
	opset  int64
	// given holds the caller's loss options with normalized keys.
	given map[string]string
}

func appendInPlace(m *onnxpb.ModelProto, opts Options) (*Report, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, errors.New("append: the model has no graph")
	}
	spec, err := losses.Lookup(opts.Loss)
	if err != nil {
		return nil, err
	}
	s := &splicer{m: m, opts: opts, spec: spec, ix: newGraphIndex(m.Graph), prefix: opts.Prefix,
		rep: &Report{Loss: spec.Name}, given: map[string]string{}}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	for k, v := range opts.LossOptions {
		s.given[losses.NormalizeOptionKey(k)] = v
	}
	preCheck := modelio.Check(m)
	if err := s.checkOpset(); err != nil {
		return nil, err
	}
	out, err := s.chooseOutput()
	if err != nil {
		return nil, err
	}
	plan, err := s.infer(out)
	if err != nil {
		return nil, err
	}
	cfg, err := losses.Resolve(spec, plan.options)
	if err != nil {
		return nil, err
	}
	s.rep.Config = cfg
	g, err := losses.Build(spec, cfg)
	if err != nil {
		return nil, err
	}
	losses.Annotate(g, spec, cfg, modelio.Version)
	gp, err := g.Proto()
	if err != nil {
		return nil, fmt.Errorf("building %s: %w", spec.Name, err)
	}
	if err := s.splice(gp, plan); err != nil {
		return nil, err
	}
	if preCheck == nil {
		if err := modelio.Check(m); err != nil {
			return nil, fmt.Errorf("internal error: the spliced model fails the structural check: %w", err)
		}
	} else {
		s.rep.note("the model itself fails onnxloss's structural check (%v), so the spliced model was not checked either", firstLine(preCheck))
	}
	return s.rep, nil
}

func firstLine(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i] + " ..."
	}
	return msg
}

// checkOpset finds the default-domain opset and checks that a loss can be
// built for it.
func (s *splicer) checkOpset() error {
	found := false
	for _, o := range s.m.GetOpsetImport() {
		if !isDefaultDomain(o.GetDomain()) {
			continue
		}
		if found && o.GetVersion() != s.opset {
			return fmt.Errorf("the model imports the default ONNX domain twice, with opsets %d and %d", s.opset, o.GetVersion())
		}
		s.opset, found = o.GetVersion(), true
	}
	switch {
	case !found:
		return errors.New("the model imports no opset of the default ONNX domain")
	case s.opset < builder.MinOpset:
		return fmt.Errorf("the model uses opset %d of the default ONNX domain; onnxloss builds losses for opsets %d to %d, "+
			"so the model must be re-exported with opset %d or later (torch.onnx.export(..., opset_version=17), "+
			"tf2onnx --opset 17)", s.opset, builder.MinOpset, builder.MaxOpset, builder.MinOpset)
	case s.opset > builder.MaxOpset:
		return fmt.Errorf("the model uses opset %d of the default ONNX domain; onnxloss builds losses for opsets %d to %d",
			s.opset, builder.MinOpset, builder.MaxOpset)
	}
	if v, ok := s.given["opset"]; ok && strings.TrimSpace(v) != strconv.FormatInt(s.opset, 10) {
		return &losses.OptionError{Loss: s.spec.Name, Err: fmt.Errorf("--opset %s differs from the model's opset %d; the loss is always built for the model's opset", v, s.opset)}
	}
	return nil
}

// describeOutputs lists the outputs with their types and producers.
func (s *splicer) describeOutputs() []string {
	var out []string
	for _, o := range s.m.Graph.GetOutput() {
		tt := o.GetType().GetTensorType()
		d := fmt.Sprintf("%q %s", o.GetName(), typeString(tt))
		act := s.ix.activation(o.GetName(), s.ix.rank(o.GetName()))
		if act.node != nil {
			d += " from " + act.node.GetOpType()
		}
		out = append(out, d)
	}
	return out
}

// chooseOutput returns the output the loss attaches to.
func (s *splicer) chooseOutput() (*onnxpb.ValueInfoProto, error) {
	outs := s.m.Graph.GetOutput()
	if len(outs) == 0 {
		return nil, errors.New("the model has no outputs")
	}
	if s.opts.Output == "" {
		if len(outs) > 1 {
			return nil, &OutputChoiceError{Msg: fmt.Sprintf("the model has %d outputs; choose the one the loss reads with --output", len(outs)),
				Outputs: s.describeOutputs()}
		}
		return outs[0], nil
	}
	for _, o := range outs {
		if o.GetName() == s.opts.Output {
			return o, nil
		}
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.GetName())
	}
	msg := fmt.Sprintf("the model has no output %q", s.opts.Output)
	if c := losses.Closest(s.opts.Output, names); c != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", c)
	}
	return nil, &OutputChoiceError{Msg: msg, Outputs: s.describeOutputs()}
}

// typeString formats a declared tensor type, such as float32[batch,3,H,W].
func typeString(tt *onnxpb.TypeProto_Tensor) string {
	if tt == nil {
		return "(not a tensor)"
	}
	return elemTypeName(tt.GetElemType()) + shapeString(tt)
}

// plan is what inference decided.
type plan struct {
	output     *onnxpb.ValueInfoProto
	attachedTo string
	options    losses.Options
	rank       int // -1 when the output declares no shape
	// relayout holds the nodes that put the logits into the output's
	// layout (copies of the layout nodes between the activation head and
	// the output); they compute attachedTo.
	relayout []*onnxpb.NodeProto
}

// optionErr returns an error for an option that contradicts the model.
func (s *splicer) optionErr(format string, args ...any) error {
	return &losses.OptionError{Loss: s.spec.Name, Err: fmt.Errorf(format, args...)}
}

// infer decides the loss options the model determines, and where the loss
// attaches.
func (s *splicer) infer(out *onnxpb.ValueInfoProto) (*plan, error) {
	name := out.GetName()
	tt := out.GetType().GetTensorType()
	r := s.rep
	r.Output, r.OutputType = name, typeString(tt)
	if tt == nil {
		return nil, fmt.Errorf("output %q is not a tensor", name)
	}
	p := &plan{output: out, options: losses.Options{}, rank: -1, attachedTo: name}
	for k, v := range s.given {
		p.options[k] = v
	}
	p.options["opset"] = strconv.FormatInt(s.opset, 10)

	// Element type.
	dt := tensor.DType(tt.GetElemType())
	switch dt {
	case tensor.Float32, tensor.Float16, tensor.BFloat16, tensor.Float64:
	default:
		return nil, fmt.Errorf("output %q has element type %s; a loss reads float32, float16, bfloat16 or float64 predictions", name, elemTypeName(int32(dt)))
	}
	if v, ok := s.given["dtype"]; ok && strings.ToLower(strings.TrimSpace(v)) != dt.String() {
		return nil, s.optionErr("--dtype %s differs from the %v of output %q", v, dt, name)
	}
	p.options["dtype"] = dt.String()

	// Rank and spatial dimensions.
	if tt.GetShape() != nil {
		p.rank = len(tt.GetShape().GetDim())
		if p.rank < 3 || p.rank > 5 {
			return nil, fmt.Errorf("output %q has shape %s (rank %d); a segmentation loss reads [N, C, *spatial] with 1 to 3 spatial dimensions",
				name, shapeString(tt), p.rank)
		}
		sd := strconv.Itoa(p.rank - 2)
		if v, ok := s.given["spatial_dims"]; ok && strings.TrimSpace(v) != sd {
			return nil, s.optionErr("--spatial-dims %s does not fit output %q of rank %d (%s spatial dimensions)", v, name, p.rank, sd)
		}
		p.options["spatial_dims"] = sd
	} else {
		r.note("output %q declares no shape; the loss assumes the options given (or their defaults)", name)
	}

	act := s.ix.activation(name, p.rank)
	r.Activation = act.op

	// Layout and number of channels.
	guess := s.ix.guessLayout(name, p.rank, act)
	layout := guess.layout
	if v, ok := s.given["layout"]; ok {
		layout = strings.ToLower(strings.TrimSpace(v))
		if guess.layout != "" && layout != guess.layout {
			r.note("layout %s as given (the model suggests %s: %s)", layout, guess.layout, guess.why)
		}
		if layout == "nhwc" {
			guess.channels = s.ix.fixedDim(name, p.rank-1)
		} else if p.rank > 0 {
			guess.channels = s.ix.fixedDim(name, 1)
		}
	} else if layout != "" {
		r.note("layout %s: %s", layout, guess.why)
	} else {
		layout = "nchw"
		if p.rank > 0 {
			r.note("layout nchw by default: nothing in the model tells where the classes are (set --layout nhwc for channels-last)")
		}
	}
	p.options["layout"] = layout
	classAxis := 1
	if layout == "nhwc" && p.rank > 0 {
		classAxis = p.rank - 1
	}
	if (act.op == "Softmax" || act.op == "LogSoftmax") && act.axis >= 0 && act.axis != classAxis {
		if _, given := s.given["layout"]; given {
			return nil, s.optionErr("--layout %s puts the classes on axis %d, but output %q comes from a %s over axis %d; "+
				"drop --layout, or attach to another output", layout, classAxis, name, act.op, act.axis)
		}
		return nil, fmt.Errorf("output %q comes from a %s over axis %d, but the class axis of layout %s is %d; "+
			"check --layout, or attach to another output", name, act.op, act.axis, layout, classAxis)
	}
	channels := guess.channels
	if p.rank < 0 && layout == "nchw" {
		// The output declares no shape, but the graph may fix its axis 1.
		channels = s.ix.fixedDim(name, 1)
	}
	if v, ok := s.given["classes"]; ok && v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err == nil && n > 0 && channels > 0 && int64(n) != channels {
			return nil, s.optionErr("--classes %s differs from the %d channels of output %q", v, channels, name)
		}
		if err == nil && n > 0 {
			channels = int64(n)
		}
	} else if channels > 0 {
		declared := false
		if dims := tt.GetShape().GetDim(); classAxis < len(dims) {
			_, declared = dims[classAxis].GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue)
		}
		if declared {
			r.note("%s from the output's shape", plural(channels, "channel"))
		} else {
			r.note("%s: the output does not declare the size of its class axis, the model's graph fixes it", plural(channels, "channel"))
		}
	}

	// Mode.
	mode, err := s.inferMode(name, act, channels)
	if err != nil {
		return nil, err
	}
	p.options["mode"] = string(mode)
	if channels > 0 && mode != losses.Binary {
		p.options["classes"] = strconv.FormatInt(channels, 10)
	}

	// Logits or activation output.
	fromLogits, fromGiven := true, false
	if v, ok := s.given["from_logits"]; ok {
		b, err := losses.ParseBool("from_logits", v)
		if err != nil {
			return nil, s.optionErr("%w", err)
		}
		fromLogits, fromGiven = b, true
	}
	if act.op != "" {
		if !s.opts.UseActivationOutput {
			if fromGiven && !fromLogits {
				return nil, s.optionErr("--from-logits=false contradicts attaching to the logits before the %s; "+
					"add --use-activation-output to read the %s output instead", act.op, act.op)
			}
			p.attachedTo = act.logits
			p.options["from_logits"] = "true"
			if len(act.after) == 0 {
				r.note("output %q comes from %s: the loss reads its input %q, the logits, and works in logit space "+
					"(numerically stable); --use-activation-output reads %q instead", name, act.op, act.logits, name)
			} else {
				if err := s.relayoutLogits(p, act); err != nil {
					return nil, err
				}
				var ops []string
				for _, n := range act.after {
					ops = append(ops, n.GetOpType())
				}
				r.note("output %q comes from %s followed by %s: the loss reads %q, the %s's input %q put through the same %s "+
					"(the logits in the output's layout), and works in logit space (numerically stable); --use-activation-output reads %q instead",
					name, act.op, strings.Join(ops, ", "), p.attachedTo, act.op, act.logits, strings.Join(ops, ", "), name)
			}
		} else {
			switch act.op {
			case "LogSoftmax":
				if mode != losses.Multiclass {
					return nil, fmt.Errorf("output %q holds log-probabilities of exclusive classes (LogSoftmax); %s mode cannot read them: "+
						"use multiclass mode, or drop --use-activation-output to read the logits", name, mode)
				}
				if fromGiven && !fromLogits {
					return nil, s.optionErr("--from-logits=false does not fit log-probabilities: they are read as logits")
				}
				p.options["from_logits"] = "true"
				r.note("output %q holds log-probabilities (LogSoftmax); the loss reads them as logits, which is exact: "+
					"softmax ignores the per-pixel constant that separates them", name)
			default:
				if fromGiven && fromLogits {
					return nil, s.optionErr("--from-logits=true does not fit output %q, which holds %s probabilities", name, act.op)
				}
				if act.op == "Sigmoid" && mode == losses.Multiclass {
					return nil, fmt.Errorf("output %q holds independent Sigmoid probabilities, which multiclass mode cannot read as a distribution; "+
						"use binary or multilabel mode, or drop --use-activation-output to read the logits", name)
				}
				p.options["from_logits"] = "false"
				r.note("output %q holds %s probabilities, read with from_logits=false (logs are clamped; reading the logits is more stable)", name, act.op)
			}
		}
	} else {
		if s.opts.UseActivationOutput {
			r.note("output %q does not come from Softmax, Sigmoid or LogSoftmax; --use-activation-output changes nothing", name)
		}
		if fromGiven && !fromLogits {
			r.note("output %q is read as probabilities (--from-logits=false)", name)
		}
		// An output without a head holds logits, as export's default says;
		// a preset's from_logits=false (Keras's default) describes a model
		// ending in an activation, so it does not decide what this one holds.
		if pr := s.spec.Preset(strings.TrimSpace(s.given["preset"])); !fromGiven && pr != nil && pr.Values["from_logits"] == "false" {
			p.options["from_logits"] = "true"
			r.note("output %q does not come from Softmax, Sigmoid or LogSoftmax: it is read as logits, not as the probabilities "+
				"preset %s assumes; give --from-logits=false if it holds probabilities", name, pr.Name)
		}
	}
	r.AttachedTo = p.attachedTo
	return p, nil
}

// relayoutLogits plans copies of the layout nodes that follow the
// activation head, applied to the logits, so that the loss reads the logits
// in the layout of the output (and of the target): the last copy's output,
// Prefix + output + "_logits", becomes p.attachedTo.
func (s *splicer) relayoutLogits(p *plan, act activationInfo) error {
	taken := modelNames(s.m)
	base := s.prefix + p.output.GetName() + "_logits"
	prev := act.logits
	for i, n := range act.after {
		c := proto.Clone(n).(*onnxpb.NodeProto)
		out := base
		if i < len(act.after)-1 {
			out = fmt.Sprintf("%s_%d", base, i)
		}
		if taken[out] {
			return fmt.Errorf("the model already has a value named %q; use another --prefix", out)
		}
		c.Input[0] = prev
		c.Output = []string{out}
		c.Name = proto.String(out)
		prev = out
		p.relayout = append(p.relayout, c)
	}
	p.attachedTo = prev
	return nil
}

// inferMode picks the loss's mode from the number of channels and the head.
func (s *splicer) inferMode(name string, act activationInfo, channels int64) (losses.Mode, error) {
	r := s.rep
	if v, ok := s.given["mode"]; ok {
		mode := losses.Mode(strings.ToLower(strings.TrimSpace(v)))
		switch {
		case mode == losses.Binary && channels > 1:
			return "", s.optionErr("--mode binary needs one channel, but output %q has %d", name, channels)
		case mode == losses.Multiclass && channels == 1:
			return "", s.optionErr("--mode multiclass needs two or more channels, but output %q has one", name)
		}
		if (act.op == "Softmax" || act.op == "LogSoftmax") && mode != losses.Multiclass {
			r.note("mode %s as given, although output %q comes from a %s (exclusive classes)", mode, name, act.op)
		}
		return mode, nil
	}
	supports := s.spec.SupportsMode
	var mode losses.Mode
	var why string
	switch {
	case act.op == "Softmax" || act.op == "LogSoftmax":
		if channels == 1 {
			return "", fmt.Errorf("output %q is a %s over a single channel, which is constant; attach to another output", name, act.op)
		}
		mode, why = losses.Multiclass, "the output comes from a "+act.op
	case act.op == "Sigmoid" && channels == 1:
		mode, why = losses.Binary, "one channel with a Sigmoid"
	case act.op == "Sigmoid" && channels > 1:
		mode, why = losses.Multilabel, fmt.Sprintf("%d channels with a Sigmoid", channels)
	case channels == 1:
		mode, why = losses.Binary, "one channel"
	case channels > 1 && supports(losses.Multiclass):
		mode, why = losses.Multiclass, fmt.Sprintf("%d channels", channels)
	case channels > 1:
		mode, why = losses.Multilabel, fmt.Sprintf("%d channels, and %s has no multiclass mode", channels, s.spec.Name)
	default:
		return "", s.optionErr("cannot tell how many channels output %q has (%s); give --mode (and --classes)", name, r.OutputType)
	}
	if !supports(mode) {
		var modes []string
		for _, m := range s.spec.Modes {
			modes = append(modes, string(m))
		}
		return "", s.optionErr("output %q calls for %s mode (%s), which %s does not support (it supports %s); "+
			"choose another loss or give --mode", name, mode, why, s.spec.Name, strings.Join(modes, ", "))
	}
	r.note("mode %s: %s", mode, why)
	return mode, nil
}

// splice renames the loss graph into the model and adds it.
func (s *splicer) splice(gp *onnxpb.GraphProto, p *plan) error {
	g := s.m.Graph
	r := s.rep
	taken := modelNames(s.m)
	for _, n := range p.relayout {
		taken[n.GetName()] = true
		taken[n.GetOutput()[0]] = true
	}
	free := func(n string) bool { return n != "" && !taken[n] }

	// Public names.
	target := s.opts.TargetName
	switch {
	case target != "" && !free(target):
		return fmt.Errorf("--target-name %q is already a name in the model; choose another", target)
	case target == "" && free("target"):
		target = "target"
	case target == "":
		target = s.prefix + "target"
		if !free(target) {
			return fmt.Errorf("the model already has values named %q and %q; name the target input with --target-name", "target", target)
		}
		r.note("the model already has a value named \"target\", so the loss's target input is %q (--target-name chooses another)", target)
	}
	mapped := map[string]string{"input": p.attachedTo, "target": target}
	public := []string{target}
	for _, in := range gp.GetInput() {
		n := in.GetName()
		if n == "input" || n == "target" {
			continue
		}
		name := n
		if !free(name) {
			name = s.prefix + n
			if !free(name) {
				return fmt.Errorf("the model already has values named %q and %q, the names of the loss's input %q", n, name, n)
			}
			r.note("the model already has a value named %q, so the loss's input %q is called %q", n, n, name)
		}
		mapped[n] = name
		public = append(public, name)
		r.ExtraInputs = append(r.ExtraInputs, name)
	}
	var lossOutputs []string
	for _, o := range gp.GetOutput() {
		n := o.GetName()
		name := n
		if n == "input_grad" {
			name = p.attachedTo + "_grad"
		}
		if !free(name) || slices.Contains(public, name) {
			wanted := name
			name = s.prefix + name
			if !free(name) || slices.Contains(public, name) {
				return fmt.Errorf("the model already has values named %q and %q; use another --prefix", wanted, name)
			}
			r.note("the model already has a value named %q, so the loss's output %q is called %q", wanted, n, name)
		}
		mapped[n] = name
		public = append(public, name)
		lossOutputs = append(lossOutputs, name)
	}
	rename := func(n string) string {
		if n == "" {
			return ""
		}
		if v, ok := mapped[n]; ok {
			return v
		}
		return s.prefix + n
	}

	// Nodes, renamed (Loop bodies included); collisions with any name of the
	// model are errors.
	var collisions []string
	r2 := &renamer{rename: rename, prefix: s.prefix, taken: taken, public: mapped}
	nodes := make([]*onnxpb.NodeProto, 0, len(gp.GetNode()))
	for _, n := range gp.GetNode() {
		if !isDefaultDomain(n.GetDomain()) {
			return fmt.Errorf("internal error: loss node %q is in domain %q", n.GetName(), n.GetDomain())
		}
		nn := proto.Clone(n).(*onnxpb.NodeProto)
		r2.node(nn)
		nodes = append(nodes, nn)
	}
	collisions = r2.collisions
	if len(collisions) > 0 {
		sort.Strings(collisions)
		if len(collisions) > 5 {
			collisions = append(collisions[:5], "...")
		}
		return fmt.Errorf("names of the loss graph already exist in the model (%s); choose another --prefix", strings.Join(collisions, ", "))
	}

	// Inputs and outputs, with the model's names for the symbolic dimensions.
	dims := s.dimMap(gp, p)
	var inputs []*onnxpb.ValueInfoProto
	for _, in := range gp.GetInput() {
		if in.GetName() == "input" {
			continue
		}
		vi := renameDims(in, dims)
		vi.Name = proto.String(mapped[in.GetName()])
		inputs = append(inputs, vi)
		if in.GetName() == "target" {
			r.Target, r.TargetType = target, typeString(vi.GetType().GetTensorType())
		}
	}
	var outputs []*onnxpb.ValueInfoProto
	for _, o := range gp.GetOutput() {
		vi := renameDims(o, dims)
		vi.Name = proto.String(mapped[o.GetName()])
		outputs = append(outputs, vi)
	}

	// Metadata: refuse a model that already carries a loss.
	for _, kv := range s.m.GetMetadataProps() {
		if strings.HasPrefix(kv.GetKey(), "onnxloss.") {
			return fmt.Errorf("the model already carries an onnxloss loss (metadata %s=%s); append to the model without it",
				kv.GetKey(), kv.GetValue())
		}
	}
	splice := map[string]string{"output": p.output.GetName(), "attached_to": p.attachedTo, "target": target}
	if r.Activation != "" {
		splice["activation"] = r.Activation
	}
	spliceJSON, _ := json.Marshal(splice)

	// Opset imports, deduplicated.
	var opsets []*onnxpb.OperatorSetIdProto
	seen := map[string]int64{}
	for _, o := range s.m.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if v, dup := seen[d]; dup {
			if v != o.GetVersion() {
				return fmt.Errorf("the model imports domain %q twice, with opsets %d and %d", d, v, o.GetVersion())
			}
			continue
		}
		seen[d] = o.GetVersion()
		opsets = append(opsets, o)
	}

	// Everything is decided: change the model.
	g.Node = append(g.Node, p.relayout...)
	g.Node = append(g.Node, nodes...)
	g.Input = append(g.Input, inputs...)
	kept := g.GetOutput()
	g.Output = outputs
	if s.opts.KeepOutputs {
		g.Output = append(g.Output, kept...)
	} else {
		// The dropped outputs' types stay known as value_info.
		for _, o := range kept {
			if _, isInit := s.ix.inits[o.GetName()]; isInit || s.ix.hasValueInfo(o.GetName()) || s.ix.isInput(o.GetName()) {
				continue
			}
			g.ValueInfo = append(g.ValueInfo, o)
		}
	}
	if len(opsets) != len(s.m.OpsetImport) {
		r.note("duplicate opset imports merged")
	}
	s.m.OpsetImport = opsets
	ir := max(s.m.GetIrVersion(), builder.IRVersion(int(s.opset)))
	if ir != s.m.GetIrVersion() {
		r.note("IR version raised from %d to %d", s.m.GetIrVersion(), ir)
	}
	s.m.IrVersion = proto.Int64(ir)
	for _, kv := range r.Config.Metadata(modelio.Version) {
		s.m.MetadataProps = append(s.m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(kv[0]), Value: proto.String(kv[1])})
	}
	s.m.MetadataProps = append(s.m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String("onnxloss.splice"), Value: proto.String(string(spliceJSON))})

	r.LossOutput = lossOutputs[0]
	if n, ok := mapped["input_grad"]; ok {
		r.GradOutput = n
	}
	for _, o := range g.GetOutput() {
		r.Outputs = append(r.Outputs, o.GetName())
	}
	r.IRVersion = ir
	return nil
}

// renamer renames the loss graph's nodes in place, nested graphs included,
// and records the names that collide with the model's.
type renamer struct {
	rename     func(string) string
	prefix     string
	taken      map[string]bool
	public     map[string]string
	collisions []string
}

// define renames a name the loss graph defines and checks it.
func (r *renamer) define(n string) string {
	if n == "" {
		return ""
	}
	out := r.rename(n)
	if _, isPublic := r.public[n]; !isPublic && r.taken[out] {
		r.collisions = append(r.collisions, out)
	}
	return out
}

func (r *renamer) node(n *onnxpb.NodeProto) {
	if n.Name != nil {
		n.Name = proto.String(r.prefix + n.GetName())
		if r.taken[n.GetName()] {
			r.collisions = append(r.collisions, n.GetName())
		}
	}
	for i, in := range n.Input {
		n.Input[i] = r.rename(in)
	}
	for i, o := range n.Output {
		n.Output[i] = r.define(o)
	}
	for _, a := range n.Attribute {
		if a.G != nil {
			r.graph(a.G)
		}
		for _, g := range a.Graphs {
			r.graph(g)
		}
	}
}

// graph renames a nested graph (a Loop body): its own values are defined
// there, and values of the enclosing graphs are read by their new names.
func (r *renamer) graph(g *onnxpb.GraphProto) {
	if g.Name != nil {
		g.Name = proto.String(r.prefix + g.GetName())
	}
	for _, v := range g.Input {
		v.Name = proto.String(r.define(v.GetName()))
	}
	for _, t := range g.Initializer {
		t.Name = proto.String(r.define(t.GetName()))
	}
	for _, n := range g.Node {
		r.node(n)
	}
	for _, list := range [][]*onnxpb.ValueInfoProto{g.Output, g.ValueInfo} {
		for _, v := range list {
			v.Name = proto.String(r.rename(v.GetName()))
		}
	}
}

func (ix *graphIndex) isInput(name string) bool {
	for _, v := range ix.g.GetInput() {
		if v.GetName() == name {
			return true
		}
	}
	return false
}

func (ix *graphIndex) hasValueInfo(name string) bool {
	for _, v := range ix.g.GetValueInfo() {
		if v.GetName() == name {
			return true
		}
	}
	return false
}

// dimMap maps the loss graph's symbolic dimension names (N, C, H, W, ...)
// to the dimensions of the value the loss reads, so that the target and the
// loss share the model's names (batch, height, ...) or fixed sizes.
func (s *splicer) dimMap(gp *onnxpb.GraphProto, p *plan) map[string]*onnxpb.TensorShapeProto_Dimension {
	out := map[string]*onnxpb.TensorShapeProto_Dimension{}
	if p.rank < 0 {
		return out
	}
	var in *onnxpb.ValueInfoProto
	for _, v := range gp.GetInput() {
		if v.GetName() == "input" {
			in = v
		}
	}
	model := p.output.GetType().GetTensorType().GetShape().GetDim()
	loss := in.GetType().GetTensorType().GetShape().GetDim()
	if len(model) != len(loss) {
		return out
	}
	for i, d := range loss {
		param, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimParam)
		if !ok {
			continue
		}
		md := model[i]
		if _, fixed := md.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); !fixed {
			// The graph may fix what the output leaves symbolic (the class axis).
			if n := s.ix.fixedDim(p.output.GetName(), i); n > 0 {
				md = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: n}}
			}
		}
		out[param.DimParam] = md
	}
	return out
}

// renameDims returns a copy of v whose symbolic dimensions are replaced by
// the model's.
func renameDims(v *onnxpb.ValueInfoProto, dims map[string]*onnxpb.TensorShapeProto_Dimension) *onnxpb.ValueInfoProto {
	c := proto.Clone(v).(*onnxpb.ValueInfoProto)
	for i, d := range c.GetType().GetTensorType().GetShape().GetDim() {
		param, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimParam)
		if !ok {
			continue
		}
		if md, ok := dims[param.DimParam]; ok {
			c.Type.GetTensorType().Shape.Dim[i] = proto.Clone(md).(*onnxpb.TensorShapeProto_Dimension)
		}
	}
	return c
}

// modelNames collects every name used in the model: inputs, outputs,
// initializers, value_info, node names and node inputs and outputs (nested
// graphs included), and function names.
func modelNames(m *onnxpb.ModelProto) map[string]bool {
	names := map[string]bool{}
	var graph func(g *onnxpb.GraphProto, depth int)
	graph = func(g *onnxpb.GraphProto, depth int) {
		if g == nil || depth > 100 {
			return
		}
		for _, list := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
			for _, v := range list {
				names[v.GetName()] = true
			}
		}
		for _, t := range g.GetInitializer() {
			names[t.GetName()] = true
		}
		for _, t := range g.GetSparseInitializer() {
			names[t.GetValues().GetName()] = true
			names[t.GetIndices().GetName()] = true
		}
		for _, n := range g.GetNode() {
			names[n.GetName()] = true
			for _, x := range n.GetInput() {
				names[x] = true
			}
			for _, x := range n.GetOutput() {
				names[x] = true
			}
			for _, a := range n.GetAttribute() {
				graph(a.GetG(), depth+1)
				for _, sub := range a.GetGraphs() {
					graph(sub, depth+1)
				}
			}
		}
	}
	graph(m.GetGraph(), 0)
	for _, f := range m.GetFunctions() {
		names[f.GetName()] = true
	}
	delete(names, "")
	return names
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
