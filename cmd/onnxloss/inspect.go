package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/onnxloss/onnxloss/export"
)

func init() {
	register(&command{
		name:    "inspect",
		summary: "show a model's inputs, outputs and opsets, to choose where a loss goes",
		usage:   "MODEL.onnx [--json]",
		help: `Prints what you need to attach a loss with 'onnxloss append': the model's
inputs, and its outputs with their shapes and the operation producing each
(a Softmax, Sigmoid or LogSoftmax head shows here, with the logits before it),
what append would infer for each output (layout and number of classes), the
opset imports, IR version, producer, file size and external data files.

Examples:
  onnxloss inspect model.onnx
  onnxloss inspect model.onnx --json | jq '.outputs[].name'`,
		flags: []flagDef{
			{name: "json", doc: "print JSON instead of text"},
		},
		run: runInspect,
	})
}

func runInspect(e *env, a *args) error {
	if len(a.positional) == 0 {
		return usagef("name a model file")
	}
	if len(a.positional) > 1 {
		return usagef("unexpected argument %q", a.positional[1])
	}
	lm, err := export.LoadModel(a.positional[0])
	if err != nil {
		return err
	}
	info := export.Inspect(lm)
	if a.boolFlag("json") {
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(append(escapeJSON(b), '\n'))
		return err
	}
	printInfo(e.stdout, info)
	return nil
}

func printInfo(w io.Writer, info *export.ModelInfo) {
	fmt.Fprintf(w, "%s: %s", printable(info.Path), byteSize(info.Size))
	if info.ExternalBytes > 0 {
		fmt.Fprintf(w, " + %s external data", byteSize(info.ExternalBytes))
	}
	fmt.Fprintf(w, ", IR %d", info.IRVersion)
	if info.Producer != "" {
		fmt.Fprintf(w, ", produced by %s %s", printable(info.Producer), printable(info.ProducerVersion))
	}
	fmt.Fprintln(w)
	var opsets []string
	for _, o := range info.Opsets {
		d := o.Domain
		if d == "" {
			d = "ai.onnx"
		}
		opsets = append(opsets, fmt.Sprintf("%s %d", printable(d), o.Version))
	}
	fmt.Fprintf(w, "opsets: %s\n", strings.Join(opsets, ", "))
	params := fmt.Sprint(info.Parameters)
	if info.Parameters == math.MaxInt64 {
		params = "at least " + params
	}
	fmt.Fprintf(w, "graph: %d nodes, %d initializers (%s parameters)\n", info.Nodes, info.Initializers, params)
	for _, f := range info.External {
		fmt.Fprintf(w, "external data: %s (%s, %d tensors)\n", printable(f.Location), byteSize(max(f.Size, f.Bytes)), f.Tensors)
	}
	if len(info.Functions) > 0 {
		var names []string
		for _, f := range info.Functions {
			names = append(names, printable(f))
		}
		fmt.Fprintf(w, "functions: %s\n", strings.Join(names, ", "))
	}
	fmt.Fprintln(w, "inputs:")
	for _, in := range info.Inputs {
		fmt.Fprintf(w, "  %-20s %s%s\n", printable(in.Name), in.DType, dimsString(in.Shape))
	}
	fmt.Fprintln(w, "outputs:")
	for _, o := range info.Outputs {
		fmt.Fprintf(w, "  %-20s %s%s", printable(o.Name), o.DType, dimsString(o.Shape))
		if o.Op != "" {
			fmt.Fprintf(w, "  from %s", printable(o.Op))
			if o.Axis >= 0 {
				fmt.Fprintf(w, " (axis %d)", o.Axis)
			}
			if len(o.Then) > 0 {
				fmt.Fprintf(w, " then %s", strings.Join(o.Then, ", "))
			}
		}
		fmt.Fprintln(w)
		switch {
		case o.Logits != "" && len(o.Then) > 0:
			fmt.Fprintf(w, "  %-20s logits before the %s: %q, put through the same %s (append reads these by default)\n",
				"", printable(o.Op), o.Logits, strings.Join(o.Then, ", "))
		case o.Logits != "":
			fmt.Fprintf(w, "  %-20s logits before the %s: %q (append reads these by default)\n", "", printable(o.Op), o.Logits)
		}
		if o.Layout != "" {
			c := "classes not fixed"
			switch {
			case o.Channels == 1:
				c = "1 channel (binary)"
			case o.Channels > 1:
				c = fmt.Sprintf("%d classes", o.Channels)
			}
			fmt.Fprintf(w, "  %-20s looks like %s, %s\n", "", o.Layout, c)
		}
	}
	for _, kv := range info.Metadata {
		fmt.Fprintf(w, "metadata: %s = %s\n", printable(kv.Key), printable(kv.Value))
	}
}

func dimsString(dims []string) string {
	if dims == nil {
		return "[unknown rank]"
	}
	return printable("[" + strings.Join(dims, ",") + "]")
}

// byteSize formats a size in bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
