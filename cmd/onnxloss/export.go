package main

import (
	"fmt"
	"strings"

	"github.com/onnxloss/onnxloss/export"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/onnxpb"
)

func init() {
	register(&command{
		name:    "export",
		summary: "write a loss as an ONNX model",
		usage:   "LOSS --out FILE [loss options]",
		help: `Builds the loss's graph for the given options and writes it as an ONNX model.
The file is written atomically: on any error no file (and no partial file) is
left behind. The same options always give a byte-identical file.

Examples:
  onnxloss export cross-entropy --classes 21 --ignore-index 255 --out ce.onnx
  onnxloss export focal --mode binary --alpha 0.25 --gamma 2 --out focal.onnx
  onnxloss export bce --layout nhwc --dtype float16 --out bce.onnx`,
		flags: []flagDef{
			{name: "out", value: "FILE", doc: "where to write the model (required; - writes to standard output)"},
			{name: "quiet", doc: "do not print the summary on standard error"},
		},
		lossOptions: true,
		run:         runExport,
	})
}

func runExport(e *env, a *args) error {
	s, err := needLoss("export", a)
	if err != nil {
		return err
	}
	out, ok := a.flag("out")
	if !ok || out == "" {
		return usagef("--out FILE is required")
	}
	cfg, err := losses.Resolve(s, a.lossOpts)
	if err != nil {
		return err
	}
	m, err := export.LossModel(s, cfg)
	if err != nil {
		return err
	}
	if err := export.Check(m); err != nil {
		return fmt.Errorf("internal error: the built model fails the structural check: %w", err)
	}
	b, err := export.Marshal(m)
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = e.stdout.Write(b)
		return err
	}
	if err := export.WriteFile(out, b); err != nil {
		return err
	}
	if !a.boolFlag("quiet") {
		fmt.Fprintf(e.stderr, "wrote %s: %s, %d bytes\n", out, summarize(m), len(b))
	}
	return nil
}

// summarize describes a model's signature in one line.
func summarize(m *onnxpb.ModelProto) string {
	var ins, outs []string
	for _, v := range m.GetGraph().GetInput() {
		ins = append(ins, valueString(v))
	}
	for _, v := range m.GetGraph().GetOutput() {
		outs = append(outs, valueString(v))
	}
	opset := int64(0)
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" {
			opset = o.GetVersion()
		}
	}
	return fmt.Sprintf("%d nodes, opset %d, IR %d; inputs %s; outputs %s", len(m.GetGraph().GetNode()), opset,
		m.GetIrVersion(), strings.Join(ins, ", "), strings.Join(outs, ", "))
}
