package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/onnxloss/onnxloss/export"
)

func init() {
	register(&command{
		name:    "append",
		summary: "attach a loss to a model exported by PyTorch or TensorFlow",
		usage:   "--model MODEL.onnx LOSS --out OUT.onnx [flags] [loss options]",
		help: `Attaches a loss to an exported model: the loss reads one of the model's outputs
and a new target input, and its value becomes the model's first output, "loss"
(the convention of ONNX Runtime's training-artifact tools). The result runs in
ONNX Runtime as one graph: image and target in, loss out.

The loss is built for the model's opset (13 to 21; re-export older models).
Mode, classes, layout and spatial dimensions are inferred from the chosen
output and printed on standard error; loss options override them:
  rank 4 with one channel          binary
  rank 4 with C > 1 channels       multiclass (multilabel for losses without it,
                                   or with a Sigmoid head)
  class axis                       the axis of a Softmax head, else the axis the
                                   model fixes (dim 1, or the last for a
                                   channels-last model); --layout decides
When the output comes from Softmax, Sigmoid or LogSoftmax, the loss reads the
logits before the activation (numerically stable) unless
--use-activation-output is given. The defaults listed under the loss options
are export's: here --mode, --classes, --layout, --spatial-dims, --dtype,
--opset and --from-logits come from the model unless given, and a value the
model contradicts is an error.

The target input is called "target" ("onnxloss/target" when the model already
has that name; --target-name chooses). Every added node and value name starts
with "onnxloss/"; the model's own names, weights, opset imports, functions and
metadata are kept, and the onnxloss.* metadata is added. Weights stored as
external data stay external: the data files are copied next to the output
(never hard-linked; an identical file already there is kept). The output file
is written atomically; --out may not be the model or one of its data files.

With --train the result is a training graph instead: the model, the loss and
the gradient of the loss with respect to every trainable parameter, in
standard ONNX ops that any ONNX runtime runs. Its inputs are the model's, the
target and every trainable parameter (each also kept as an initializer with
its current value, so that a run without it uses the stored weights); its
outputs are "loss", then "<parameter>_grad" for each trainable parameter, in
the order printed. Trainable are the floating-point initializers that ops
read as data, less BatchNormalization's running statistics (BatchNorm stays
in inference form: its statistics are frozen, its scale and bias train) and
the names that --freeze globs match. An op on the path from a parameter to
the loss without a gradient rule is an error naming the op and the node.

--optimizer sgd|momentum|adamw with --lr (and --weight-decay, --momentum) adds
the update, so that one run is one training step: the graph also takes
"onnxloss.lr", "onnxloss.step" (adamw) and each parameter's state
("<p>.momentum", or "<p>.exp_avg" and "<p>.exp_avg_sq"), all with defaults,
and outputs "loss", then "<p>.next" for each parameter, each state's
".next", and "onnxloss.step.next". The rules are torch.optim's SGD and AdamW.

Examples:
  onnxloss inspect model.onnx
  onnxloss append --model model.onnx cross-entropy --ignore-index 255 --out train.onnx
  onnxloss append --model model.onnx --output logits dice --out train.onnx --keep-outputs
  onnxloss append --model tf_model.onnx focal --layout nhwc --gamma 2 --out train.onnx
  onnxloss append --model model.onnx dice --train --freeze 'backbone.*' --out grads.onnx
  onnxloss append --model model.onnx dice --train --optimizer adamw --lr 1e-3 --out step.onnx`,
		flags: []flagDef{
			{name: "model", value: "FILE", doc: "the exported model (required)"},
			{name: "out", value: "FILE", doc: "where to write the model with the loss (required; - writes to standard output)"},
			{name: "output", value: "NAME", doc: "the model output the loss reads (default: the only output)"},
			{name: "use-activation-output", doc: "read the output of a Softmax/Sigmoid/LogSoftmax head instead of the logits before it"},
			{name: "target-name", value: "NAME", doc: "name of the target input (default target)"},
			{name: "keep-outputs", doc: "keep the model's outputs after the loss"},
			{name: "prefix", value: "P", doc: "prefix of every added node and value name (default " + export.DefaultPrefix + ")"},
			{name: "train", doc: "write the training graph: the loss and every trainable parameter's gradient"},
			{name: "freeze", value: "GLOB", doc: "with --train: parameters whose names match do not train (repeatable)", repeat: true},
			{name: "optimizer", value: "KIND", doc: "with --train: add the update step: sgd, momentum or adamw"},
			{name: "lr", value: "X", doc: "with --optimizer: the learning rate (required)"},
			{name: "weight-decay", value: "X", doc: "with --optimizer: weight decay (L2 for sgd and momentum, decoupled for adamw; default 0)"},
			{name: "momentum", value: "X", doc: "with --optimizer momentum: μ (default 0.9)"},
			{name: "quiet", doc: "print nothing on standard error"},
		},
		lossOptions: true,
		run:         runAppend,
	})
}

func runAppend(e *env, a *args) error {
	s, err := needLoss("append", a)
	if err != nil {
		return err
	}
	model, ok := a.flag("model")
	if !ok || model == "" {
		return usagef("--model FILE is required")
	}
	out, ok := a.flag("out")
	if !ok || out == "" {
		return usagef("--out FILE is required")
	}
	prefix, hasPrefix := a.flag("prefix")
	if hasPrefix && prefix == "" {
		return usagef("--prefix must not be empty")
	}
	outputName, _ := a.flag("output")
	targetName, _ := a.flag("target-name")
	opts := export.AppendOptions{
		Loss:                s.Name,
		LossOptions:         a.lossOpts,
		Output:              outputName,
		UseActivationOutput: a.boolFlag("use-activation-output"),
		TargetName:          targetName,
		KeepOutputs:         a.boolFlag("keep-outputs"),
		Prefix:              prefix,
	}
	train := a.boolFlag("train")
	var trainOpts export.TrainOptions
	if train {
		trainOpts.Append = opts
		trainOpts.Freeze = a.flags["freeze"]
		kind, hasOpt := a.flag("optimizer")
		if hasOpt {
			o := &export.Optimizer{Kind: kind}
			lr, ok := a.flag("lr")
			if !ok {
				return usagef("--optimizer needs --lr (the learning rate)")
			}
			if o.LR, err = parseFloatFlag("lr", lr); err != nil {
				return err
			}
			if v, ok := a.flag("weight-decay"); ok {
				if o.WeightDecay, err = parseFloatFlag("weight-decay", v); err != nil {
					return err
				}
			}
			if v, ok := a.flag("momentum"); ok {
				if kind != "momentum" {
					return usagef("--momentum applies to --optimizer momentum only")
				}
				if o.Momentum, err = parseFloatFlag("momentum", v); err != nil {
					return err
				}
			}
			trainOpts.Optimizer = o
		} else {
			for _, f := range []string{"lr", "weight-decay", "momentum"} {
				if _, ok := a.flag(f); ok {
					return usagef("--%s needs --optimizer", f)
				}
			}
		}
	} else {
		for _, f := range []string{"freeze", "optimizer", "lr", "weight-decay", "momentum"} {
			if _, ok := a.flag(f); ok {
				return usagef("--%s needs --train", f)
			}
		}
	}
	if train {
		return runAppendTrain(e, a, model, out, trainOpts)
	}
	var rep *export.AppendReport
	if out == "-" {
		rep, err = appendToStdout(e, model, opts)
	} else {
		rep, err = export.AppendFile(model, out, opts)
	}
	var choice *export.OutputChoiceError
	var overwrite *export.OverwriteError
	if errors.As(err, &choice) || errors.As(err, &overwrite) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if a.boolFlag("quiet") {
		return nil
	}
	w := e.stderr
	fmt.Fprintf(w, "%s on output %q %s", rep.Loss, rep.Output, escapeControls(rep.OutputType))
	if rep.Activation != "" {
		fmt.Fprintf(w, " (from %s)", rep.Activation)
	}
	fmt.Fprintln(w)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "  %s\n", escapeControls(n))
	}
	c := rep.Config
	fmt.Fprintf(w, "  loss: %s, mode %s, classes %s, layout %s, from_logits %t, reduction %s, opset %d\n",
		c.Loss, c.Mode, classesString(c.Classes), c.Layout, c.FromLogits, c.Reduction, c.Opset)
	fmt.Fprintf(w, "  reads %q; target input %q %s", rep.AttachedTo, rep.Target, escapeControls(rep.TargetType))
	for _, x := range rep.ExtraInputs {
		fmt.Fprintf(w, "; input %q", x)
	}
	fmt.Fprintln(w)
	if rep.GradOutput != "" {
		fmt.Fprintf(w, "  gradient output %q: d loss / d %q\n", rep.GradOutput, rep.AttachedTo)
	}
	dest := out
	if out == "-" {
		dest = "standard output"
	}
	fmt.Fprintf(w, "wrote %s: outputs %s, IR %d\n", dest, quoted(rep.Outputs), rep.IRVersion)
	return nil
}

// runAppendTrain writes the training graph and reports it.
func runAppendTrain(e *env, a *args, model, out string, opts export.TrainOptions) error {
	if out == "-" {
		return usagef("--train writes a file: give --out FILE")
	}
	rep, err := export.AppendTrainFile(model, out, opts)
	var choice *export.OutputChoiceError
	var overwrite *export.OverwriteError
	var te *export.TrainUsageError
	if errors.As(err, &choice) || errors.As(err, &overwrite) || errors.As(err, &te) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if a.boolFlag("quiet") {
		return nil
	}
	w := e.stderr
	ar := rep.Append
	c := ar.Config
	fmt.Fprintf(w, "%s on output %q %s, reading %q; target input %q %s\n", ar.Loss, ar.Output, escapeControls(ar.OutputType),
		ar.AttachedTo, ar.Target, escapeControls(ar.TargetType))
	for _, n := range ar.Notes {
		fmt.Fprintf(w, "  %s\n", escapeControls(n))
	}
	fmt.Fprintf(w, "  loss: %s, mode %s, classes %s, layout %s, reduction %s, opset %d\n",
		c.Loss, c.Mode, classesString(c.Classes), c.Layout, c.Reduction, c.Opset)
	fmt.Fprintf(w, "  %d trainable parameters", len(rep.Params))
	if len(rep.Frozen) > 0 {
		fmt.Fprintf(w, ", %d frozen (--freeze and BatchNorm statistics)", len(rep.Frozen))
	}
	fmt.Fprintln(w)
	if opts.Optimizer != nil {
		fmt.Fprintf(w, "  optimizer %s, learning rate %g (input %q)\n", opts.Optimizer.Kind, opts.Optimizer.LR, "onnxloss.lr")
	}
	names := rep.Outputs
	if len(names) > 6 {
		names = append(append([]string{}, names[:5]...), fmt.Sprintf("... (%d more)", len(rep.Outputs)-5))
	}
	fmt.Fprintf(w, "wrote %s: outputs %s\n", out, quoted(names))
	return nil
}

// appendToStdout writes the spliced model to standard output, which only a
// model without external data allows.
func appendToStdout(e *env, model string, opts export.AppendOptions) (*export.AppendReport, error) {
	lm, err := export.LoadModel(model)
	if err != nil {
		return nil, err
	}
	if len(lm.External) > 0 {
		return nil, usagef("--out - cannot write a model whose weights are external data (%s): the data files must sit next to the output file", lm.External[0].Location)
	}
	m, rep, err := export.Append(lm.Proto, opts)
	if err != nil {
		return nil, err
	}
	b, err := export.Marshal(m)
	if err != nil {
		return nil, err
	}
	_, err = e.stdout.Write(b)
	return rep, err
}

func classesString(n int) string {
	if n == 0 {
		return "from the input"
	}
	return fmt.Sprint(n)
}

func quoted(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", n)
	}
	return s
}

// parseFloatFlag parses a flag's floating-point value.
func parseFloatFlag(name, v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, usagef("--%s %q is not a finite number", name, v)
	}
	return x, nil
}
