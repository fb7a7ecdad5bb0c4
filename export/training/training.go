// Package training turns an exported model and an onnxloss loss into one
// training graph in standard ONNX: the model's forward pass, the loss, and
// the gradient of the loss with respect to every trainable parameter.
//
// The graph's inputs are the model's inputs, the loss's target (and extra
// inputs), and every trainable parameter: each stays an initializer holding
// its current value and is also listed as a graph input of the same name, so
// a run without it uses the stored weights and a training loop feeds its
// own. Its outputs are "loss", then "<parameter>_grad" for every trainable
// parameter, ONNX Runtime training's names.
//
// Trainable are the model's floating-point initializers, except the running
// mean and variance of BatchNormalization and the names the Freeze globs
// match. BatchNormalization stays in inference form: its statistics are
// frozen, the usual way to fine-tune a segmentation model with small
// batches, and its scale and bias train.
//
// The backward pass is builder.VJP over the model's nodes, from the loss's
// own gradient with respect to the logits (the spliced loss's input_grad),
// with vector-Jacobian products written in standard ONNX ops for every op
// that exported segmentation models use. An op on the path from a trainable
// parameter to the loss that has no rule is an error naming the op and the
// node: a gradient is never silently missing.
package training

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/export/modelio"
	"github.com/onnxloss/onnxloss/export/splice"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
	"google.golang.org/protobuf/proto"
)

// Prefix starts the name of every node and value of the backward pass.
const Prefix = "onnxloss_train/"

// Options say which loss to attach and which parameters train.
type Options struct {
	// Append says which loss, where and with which options, as for
	// splice.Append. Its grad option is set here.
	Append splice.Options
	// Freeze lists glob patterns (path.Match syntax, "*" crosses dots) on
	// initializer names: parameters that match do not train.
	Freeze []string
	// Optimizer, when not nil, adds the parameters' update: the graph
	// outputs the loss, the updated parameters and the optimizer state
	// instead of the gradients (see Optimizer).
	Optimizer *Optimizer
}

// Report says what Build inferred and did.
type Report struct {
	// Append is the report of the loss's splicing.
	Append *splice.Report
	// Params lists the trainable parameters in the order of their gradient
	// outputs.
	Params []string
	// Frozen lists the floating-point initializers that do not train:
	// those that Freeze matched and BatchNormalization's statistics.
	// Initializers that only constant operands of ops read (Clip's bounds,
	// Resize's scales) are constants and in neither list.
	Frozen []string
	// Outputs lists the training graph's outputs in order.
	Outputs []string
}

// OptionError reports options that cannot be used: a --freeze pattern that
// is invalid or matches nothing, optimizer settings out of range.
type OptionError struct{ Msg string }

func (e *OptionError) Error() string { return e.Msg }

func optionErr(format string, args ...any) error {
	return &OptionError{fmt.Sprintf(format, args...)}
}

// GradName returns the name of a parameter's gradient output.
func GradName(param string) string { return param + "_grad" }

// Build returns the training graph of model m with the loss of opts. m is
// not modified.
func Build(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, nil, errors.New("train: the model has no graph")
	}
	if opts.Optimizer != nil {
		o := *opts.Optimizer
		if err := o.validate(); err != nil {
			return nil, nil, err
		}
		opts.Optimizer = &o
	}
	for _, f := range opts.Freeze {
		if _, err := path.Match(f, ""); err != nil {
			return nil, nil, optionErr("--freeze %q is not a valid pattern: %v", f, err)
		}
	}
	ao := opts.Append
	lo := map[string]string{}
	for k, v := range ao.LossOptions {
		lo[k] = v
	}
	lo["grad"] = "true"
	ao.LossOptions = lo
	ao.KeepOutputs = opts.Append.KeepOutputs
	out, rep, err := splice.Append(m, ao)
	if err != nil {
		return nil, nil, err
	}
	tr := &Report{Append: rep}
	g := m.GetGraph()
	params, frozen, err := trainable(g, opts.Freeze)
	if err != nil {
		return nil, nil, err
	}
	tr.Params, tr.Frozen = params, frozen
	if len(params) == 0 {
		return nil, nil, optionErr("the model has no trainable parameters (no floating-point initializers, or --freeze matched them all)")
	}
	opset := int64(0)
	for _, o := range out.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	gp, err := backward(out, g, rep, params, int(opset), opts.Optimizer)
	if err != nil {
		return nil, nil, err
	}
	if err := merge(out, gp, rep, params, opts.Optimizer); err != nil {
		return nil, nil, err
	}
	meta, _ := json.Marshal(params)
	out.MetadataProps = append(out.MetadataProps,
		&onnxpb.StringStringEntryProto{Key: proto.String("onnxloss.train.params"), Value: proto.String(string(meta))})
	for _, o := range out.GetGraph().GetOutput() {
		tr.Outputs = append(tr.Outputs, o.GetName())
	}
	if err := modelio.Check(out); err != nil {
		return nil, nil, fmt.Errorf("internal error: the training graph fails the structural check: %w", err)
	}
	return out, tr, nil
}

// trainable splits the model's floating-point initializers into the
// trainable parameters (in initializer order) and the frozen ones.
func trainable(g *onnxpb.GraphProto, freeze []string) (params, frozen []string, err error) {
	stats := map[string]bool{}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(n.GetInput()) >= 5 {
			stats[n.GetInput()[3]] = true
			stats[n.GetInput()[4]] = true
		}
	}
	// An initializer that only ops' constant operands read (Clip's bounds,
	// Resize's scales, Pad's value, ...) is a constant of the model, not a
	// parameter: PyTorch exports such constants as initializers too.
	data := map[string]bool{}
	for _, n := range g.GetNode() {
		for i, in := range n.GetInput() {
			if !constantSlot(n.GetOpType(), i) {
				data[in] = true
			}
		}
	}
	matched := make([]bool, len(freeze))
	for _, t := range g.GetInitializer() {
		if !tensor.DType(t.GetDataType()).IsFloat() {
			continue
		}
		name := t.GetName()
		if !data[name] {
			continue
		}
		frozenHere := stats[name]
		for i, f := range freeze {
			if ok, _ := path.Match(f, name); ok {
				frozenHere = true
				matched[i] = true
			}
		}
		if frozenHere {
			frozen = append(frozen, name)
		} else {
			params = append(params, name)
		}
	}
	for i, ok := range matched {
		if !ok {
			return nil, nil, optionErr("--freeze %q matches no trainable parameter of the model (see onnxloss inspect for the initializers)", freeze[i])
		}
	}
	return params, frozen, nil
}

// constantSlot reports whether input i of op is an operand that the op
// treats as a constant (bounds, scales, shapes, exponents), which no
// gradient reaches.
func constantSlot(op string, i int) bool {
	switch op {
	case "Clip", "Pad", "Dropout", "Reshape", "Expand", "Squeeze", "Unsqueeze", "Split", "Tile", "TopK",
		"Upsample", "ReduceSum", "ReduceMean", "Pow":
		return i >= 1
	case "Resize", "Slice":
		return i >= 1
	case "Where":
		return i == 0
	case "Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "OneHot":
		return i == 1
	case "BatchNormalization":
		return i == 3 || i == 4
	case "Shape", "Size", "ConstantOfShape", "Range", "NonZero", "ArgMax", "ArgMin", "Equal", "Less",
		"Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Floor", "Ceil", "Round", "Sign",
		"IsNaN", "IsInf":
		return true
	}
	return false
}

// backward builds the gradient graph of the parameters from the spliced
// model's gradient of the loss with respect to the logits.
func backward(out *onnxpb.ModelProto, g *onnxpb.GraphProto, rep *splice.Report, params []string, opset int, opt *Optimizer) (*onnxpb.GraphProto, error) {
	b := builder.NewGraph("onnxloss_train", opset)
	pop := b.Scope(strings.TrimSuffix(Prefix, "/"))
	im := &importer{g: b, opset: int64(opset), vals: map[string]*builder.Value{}, declared: map[string]*onnxpb.TypeProto_Tensor{}}
	og := out.GetGraph()
	for _, lists := range [][]*onnxpb.ValueInfoProto{og.GetInput(), og.GetOutput(), og.GetValueInfo()} {
		for _, v := range lists {
			if tt := v.GetType().GetTensorType(); tt != nil {
				im.declared[v.GetName()] = tt
			}
		}
	}
	isInit := map[string]bool{}
	for _, t := range g.GetInitializer() {
		isInit[t.GetName()] = true
		if err := im.addInitializer(t); err != nil {
			return nil, err
		}
	}
	for _, in := range g.GetInput() {
		if isInit[in.GetName()] {
			continue
		}
		tt := in.GetType().GetTensorType()
		if tt == nil {
			return nil, fmt.Errorf("train: model input %q is not a tensor", in.GetName())
		}
		im.vals[in.GetName()] = b.External(in.GetName(), tensor.DType(tt.GetElemType()), shapeFromType(tt), nil)
	}
	for _, n := range g.GetNode() {
		if err := im.node(n); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	// The splice may put the logits into the output's layout with nodes of
	// its own (a copy of the Transpose after a Softmax head): they follow
	// the model's nodes in the spliced graph.
	for _, n := range og.GetNode()[min(len(g.GetNode()), len(og.GetNode())):] {
		if _, ok := im.vals[rep.AttachedTo]; ok {
			break
		}
		if err := im.node(n); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	logits, ok := im.vals[rep.AttachedTo]
	if !ok {
		return nil, fmt.Errorf("internal error: the loss reads %q, which the model does not compute", rep.AttachedTo)
	}
	ct := b.External(rep.GradOutput, logits.DType(), logits.Shape(), nil)
	wrt := make([]*builder.Value, len(params))
	for i, p := range params {
		wrt[i] = im.vals[p]
	}
	grads := builder.VJP(logits, ct, wrt...)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if opt != nil {
		opt.update(b, params, wrt, grads)
	} else {
		for i, p := range params {
			b.Output(GradName(p), grads[i])
		}
	}
	pop()
	gp, err := b.Proto()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return gp, nil
}

// merge adds the backward graph to the spliced model: its nodes after the
// model's and the loss's, the parameters as graph inputs, and the gradient
// outputs after the loss in place of the logits' gradient.
func merge(out *onnxpb.ModelProto, gp *onnxpb.GraphProto, rep *splice.Report, params []string, opt *Optimizer) error {
	og := out.GetGraph()
	taken := map[string]bool{}
	for _, n := range og.GetNode() {
		taken[n.GetName()] = true
		for _, o := range n.GetOutput() {
			taken[o] = true
		}
	}
	for _, in := range og.GetInput() {
		taken[in.GetName()] = true
	}
	for _, t := range og.GetInitializer() {
		taken[t.GetName()] = true
	}
	var clash []string
	for _, n := range gp.GetNode() {
		for _, o := range n.GetOutput() {
			if taken[o] {
				clash = append(clash, o)
			}
		}
	}
	if len(clash) > 0 {
		sort.Strings(clash)
		return fmt.Errorf("train: the model already has values named %s; rename them or use another prefix", strings.Join(clash[:min(5, len(clash))], ", "))
	}
	og.Node = append(og.Node, gp.GetNode()...)
	og.Initializer = append(og.Initializer, gp.GetInitializer()...)
	inputs := map[string]bool{}
	for _, in := range og.GetInput() {
		inputs[in.GetName()] = true
	}
	types := map[string]*onnxpb.TensorProto{}
	for _, t := range og.GetInitializer() {
		types[t.GetName()] = t
	}
	for _, p := range params {
		if inputs[p] {
			continue
		}
		t := types[p]
		shape := make(builder.Shape, len(t.GetDims()))
		for i, d := range t.GetDims() {
			shape[i] = builder.Fixed(d)
		}
		og.Input = append(og.Input, builder.ValueInfo(p, tensor.DType(t.GetDataType()), shape))
	}
	if opt != nil {
		// The optimizer's own inputs, each with its default as an
		// initializer.
		add := func(name string, t *tensor.Tensor) error {
			if taken[name] || inputs[name] {
				return fmt.Errorf("train: the model already has a value named %q, the name of an optimizer input", name)
			}
			og.Initializer = append(og.Initializer, builder.TensorProto(name, t))
			og.Input = append(og.Input, builder.ValueInfo(name, t.DType, dimsOf(t)))
			return nil
		}
		if err := add(LRName, tensor.FromFloat32(nil, []float32{float32(opt.LR)})); err != nil {
			return err
		}
		if opt.Kind == "adamw" {
			if err := add(StepName, tensor.FromFloat32(nil, []float32{1})); err != nil {
				return err
			}
		}
		for _, p := range params {
			t := types[p]
			dims := make([]int, len(t.GetDims()))
			for i, d := range t.GetDims() {
				dims[i] = int(d)
			}
			for _, suffix := range opt.States() {
				if err := add(p+suffix, tensor.New(tensor.DType(t.GetDataType()), dims...)); err != nil {
					return err
				}
			}
		}
	}
	outs := og.GetOutput()[:0:0]
	for _, o := range og.GetOutput() {
		if o.GetName() != rep.GradOutput {
			outs = append(outs, o)
		}
	}
	for _, o := range gp.GetOutput() {
		if slices.ContainsFunc(outs, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == o.GetName() }) || taken[o.GetName()] {
			return fmt.Errorf("train: the model already has a value named %q, the name of a gradient output", o.GetName())
		}
		outs = append(outs, o)
	}
	og.Output = outs
	return nil
}

// InitialState returns the values of a training graph's inputs that are
// initializers (parameters, optimizer state, learning rate, step): what a
// training loop feeds at its first step. ok is false when one of them
// cannot be read from the model (external data, or a type Decode does not
// read); the loop then runs its first step without them.
func InitialState(m *onnxpb.ModelProto) (state map[string]*tensor.Tensor, ok bool) {
	inputs := map[string]bool{}
	for _, in := range m.GetGraph().GetInput() {
		inputs[in.GetName()] = true
	}
	state = map[string]*tensor.Tensor{}
	for _, t := range m.GetGraph().GetInitializer() {
		if !inputs[t.GetName()] {
			continue
		}
		v := decodeTensor(t)
		if v == nil {
			return nil, false
		}
		state[t.GetName()] = v
	}
	return state, true
}

// DataInputs returns the names of the model's inputs that are not
// initializers: what a caller feeds (the image), in the model's order.
func DataInputs(m *onnxpb.ModelProto) []string {
	inits := map[string]bool{}
	for _, t := range m.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	var out []string
	for _, in := range m.GetGraph().GetInput() {
		if !inits[in.GetName()] {
			out = append(out, in.GetName())
		}
	}
	return out
}
