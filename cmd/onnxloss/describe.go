package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/tensor"
)

func init() {
	register(&command{
		name:    "describe",
		summary: "show what a loss computes, its inputs, outputs and parameters",
		usage:   "LOSS [--json]",
		help: `Describes one loss: what it computes, its citation and formula, its modes,
the graph's inputs and outputs in each mode, every parameter with its default
and allowed range, its presets and convention notes.`,
		flags: []flagDef{{name: "json", doc: "print JSON"}},
		run:   runDescribe,
	})
}

type paramDoc struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Default string `json:"default"`
	Range   string `json:"range"`
	Doc     string `json:"doc"`
	// Matters says what the parameter needs to have an effect; given
	// without it, it is refused.
	Matters string `json:"matters,omitempty"`
}

type ioDoc struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape string `json:"shape"`
	Doc   string `json:"doc,omitempty"`
}

type modeDoc struct {
	Mode    string  `json:"mode"`
	Inputs  []ioDoc `json:"inputs"`
	Outputs []ioDoc `json:"outputs"`
}

type presetDoc struct {
	Name   string            `json:"name"`
	Doc    string            `json:"doc"`
	Values map[string]string `json:"values"`
}

type lossDoc struct {
	Name          string      `json:"name"`
	Family        string      `json:"family"`
	Summary       string      `json:"summary"`
	Description   string      `json:"description"`
	Citation      string      `json:"citation"`
	Formula       string      `json:"formula,omitempty"`
	Modes         []modeDoc   `json:"modes"`
	CommonOptions []paramDoc  `json:"common_options"`
	Params        []paramDoc  `json:"params"`
	Presets       []presetDoc `json:"presets,omitempty"`
	Reductions    []string    `json:"reductions"`
	NoneShape     string      `json:"none_shape,omitempty"`
	Notes         []string    `json:"notes,omitempty"`
}

func describeLoss(s *losses.Spec) (*lossDoc, error) {
	d := &lossDoc{Name: s.Name, Family: s.Family, Summary: s.Summary, Description: s.Description,
		Citation: s.Citation, Formula: s.Formula, Reductions: s.ReductionsList(), NoneShape: s.NoneShape, Notes: s.Notes}
	for _, m := range s.Modes {
		cfg, err := losses.Resolve(s, losses.Options{"mode": string(m)})
		if err != nil {
			return nil, err
		}
		md := modeDoc{Mode: string(m)}
		md.Inputs = append(md.Inputs, ioDoc{"input", cfg.DType.String() + " (--dtype)", cfg.InputShape().String() + " (nchw)", inputDoc(cfg)})
		tdt, tshape := cfg.TargetSpec()
		tdtDoc := tdt.String()
		if tdt == tensor.Float32 {
			tdtDoc += " (float64 with --dtype float64)"
		}
		md.Inputs = append(md.Inputs, ioDoc{"target", tdtDoc, tshape.String(), targetDoc(cfg)})
		for _, e := range s.ExtraInputs(cfg) {
			dt, shape := cfg.ExtraSpec(e)
			md.Inputs = append(md.Inputs, ioDoc{e.Name, dt.String(), shape.String(), e.Doc})
		}
		md.Outputs = append(md.Outputs, ioDoc{"loss", tensor.Float32.String(), "[] (mean, sum)", "the loss; --reduction none: see none_shape"})
		d.Modes = append(d.Modes, md)
	}
	for _, n := range losses.CommonOptionNames() {
		if !s.AppliesTo(n) {
			continue
		}
		doc, def := losses.CommonOptionDoc(n)
		switch {
		case n == "mode":
			def = string(s.Modes[0])
		case def == "":
			def = "unset"
		}
		d.CommonOptions = append(d.CommonOptions, paramDoc{Name: n, Kind: "common", Default: def, Doc: doc})
	}
	for i := range s.Params {
		p := &s.Params[i]
		d.Params = append(d.Params, paramDoc{p.Name, p.Kind.String(), p.DefaultString(), p.RangeString(), p.Doc, p.Needs()})
	}
	for _, p := range s.Presets {
		d.Presets = append(d.Presets, presetDoc{p.Name, p.Doc, p.Values})
	}
	return d, nil
}

func inputDoc(c *losses.Config) string {
	if c.Mode == losses.Multiclass {
		return "logits (or probabilities with --from-logits=false) over C classes"
	}
	return "logits (or probabilities with --from-logits=false) per channel"
}

func targetDoc(c *losses.Config) string {
	switch c.Mode {
	case losses.Multiclass:
		return "class labels 0..C-1 (--target onehot: float [N,C,*spatial] one-hot or soft)"
	case losses.Binary:
		return "0/1 mask, soft values allowed"
	}
	return "0/1 per channel, soft values allowed"
}

func runDescribe(e *env, a *args) error {
	if len(a.positional) != 1 {
		return usagef("name one loss (see 'onnxloss list')")
	}
	s, err := losses.Lookup(a.positional[0])
	if err != nil {
		return err
	}
	d, err := describeLoss(s)
	if err != nil {
		return err
	}
	if a.boolFlag("json") {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	printDescription(e.stdout, d)
	return nil
}

func printDescription(w io.Writer, d *lossDoc) {
	fmt.Fprintf(w, "%s (%s)\n  %s\n\n", d.Name, d.Family, d.Summary)
	fmt.Fprintln(w, wrap(d.Description, 78, ""))
	if d.Formula != "" {
		fmt.Fprintf(w, "\nFormula:  %s\n", d.Formula)
	}
	fmt.Fprintf(w, "Citation: %s\n", wrap(d.Citation, 68, "          "))
	fmt.Fprintln(w, "\nInputs and outputs:")
	for _, m := range d.Modes {
		fmt.Fprintf(w, "  --mode %s\n", m.Mode)
		for _, io := range m.Inputs {
			fmt.Fprintf(w, "    in  %-13s %-9s %-18s %s\n", io.Name, io.DType, io.Shape, io.Doc)
		}
		for _, io := range m.Outputs {
			fmt.Fprintf(w, "    out %-13s %-9s %-18s %s\n", io.Name, io.DType, io.Shape, io.Doc)
		}
	}
	fmt.Fprintf(w, "  Reductions: %s\n", strings.Join(d.Reductions, ", "))
	if d.NoneShape != "" {
		fmt.Fprintf(w, "  --reduction none gives %s\n", d.NoneShape)
	}
	fmt.Fprintln(w, "\nParameters:")
	if len(d.Params) == 0 {
		fmt.Fprintln(w, "  (none beyond the common options)")
	}
	for _, p := range d.Params {
		fmt.Fprintf(w, "  --%s %s (default %s; %s)\n", strings.ReplaceAll(p.Name, "_", "-"), p.Kind, p.Default, p.Range)
		fmt.Fprintln(w, "      "+wrap(p.Doc, 74, "      "))
		if p.Matters != "" {
			fmt.Fprintln(w, "      "+wrap("Has an effect only with "+p.Matters+"; refused otherwise.", 74, "      "))
		}
	}
	fmt.Fprintln(w, "\nCommon options:")
	for _, p := range d.CommonOptions {
		fmt.Fprintf(w, "  --%-15s %s (default %s)\n", strings.ReplaceAll(p.Name, "_", "-"), p.Doc, p.Default)
	}
	if len(d.Presets) > 0 {
		fmt.Fprintln(w, "\nPresets (--preset NAME; explicit options override them):")
		for _, p := range d.Presets {
			fmt.Fprintf(w, "  %s: %s\n", p.Name, wrap(p.Doc, 70, "      "))
			var parts []string
			for _, k := range sortedKeys(p.Values) {
				parts = append(parts, "--"+strings.ReplaceAll(k, "_", "-")+"="+p.Values[k])
			}
			fmt.Fprintf(w, "      sets %s\n", strings.Join(parts, " "))
		}
	}
	if len(d.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  - %s\n", wrap(n, 74, "    "))
		}
	}
}

// wrap breaks text into lines of at most width runes; continuation lines
// start with indent.
func wrap(text string, width int, indent string) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line == "" {
			line = word
		} else {
			line += " " + word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n"+indent)
}
