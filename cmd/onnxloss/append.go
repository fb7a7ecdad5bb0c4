package main

import (
	"errors"
	"fmt"

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

Examples:
  onnxloss inspect model.onnx
  onnxloss append --model model.onnx cross-entropy --ignore-index 255 --out train.onnx
  onnxloss append --model model.onnx --output logits dice --out train.onnx --keep-outputs
  onnxloss append --model tf_model.onnx focal --layout nhwc --gamma 2 --out train.onnx`,
		flags: []flagDef{
			{name: "model", value: "FILE", doc: "the exported model (required)"},
			{name: "out", value: "FILE", doc: "where to write the model with the loss (required; - writes to standard output)"},
			{name: "output", value: "NAME", doc: "the model output the loss reads (default: the only output)"},
			{name: "use-activation-output", doc: "read the output of a Softmax/Sigmoid/LogSoftmax head instead of the logits before it"},
			{name: "target-name", value: "NAME", doc: "name of the target input (default target)"},
			{name: "keep-outputs", doc: "keep the model's outputs after the loss"},
			{name: "prefix", value: "P", doc: "prefix of every added node and value name (default " + export.DefaultPrefix + ")"},
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
