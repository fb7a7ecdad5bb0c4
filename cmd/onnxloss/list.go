package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/onnxloss/onnxloss/losses"
)

func init() {
	register(&command{
		name:    "list",
		summary: "list the losses of the catalog",
		usage:   "[--json | --markdown] [--family NAME]",
		help: `Lists every loss with its family, modes and a one-line summary. --markdown
prints the table used in the README; --json prints name, family, modes,
summary and citation for each loss.`,
		flags: []flagDef{
			{name: "json", doc: "print JSON"},
			{name: "markdown", doc: "print a Markdown table (the README's loss table)"},
			{name: "family", value: "NAME", doc: "only losses of this family (cross-entropy, region, structure, distance)"},
		},
		run: runList,
	})
}

func runList(e *env, a *args) error {
	if len(a.positional) > 0 {
		return usagef("list takes no arguments, got %q", a.positional[0])
	}
	if a.boolFlag("json") && a.boolFlag("markdown") {
		return usagef("choose one of --json and --markdown")
	}
	specs := losses.All()
	if fam, ok := a.flag("family"); ok {
		var keep []*losses.Spec
		var families []string
		for _, s := range specs {
			if s.Family == fam {
				keep = append(keep, s)
			}
			if !slices.Contains(families, s.Family) {
				families = append(families, s.Family)
			}
		}
		if len(keep) == 0 {
			return usagef("no family %q (families: %s)", fam, strings.Join(families, ", "))
		}
		specs = keep
	}
	switch {
	case a.boolFlag("json"):
		type entry struct {
			Name     string   `json:"name"`
			Family   string   `json:"family"`
			Modes    []string `json:"modes"`
			Summary  string   `json:"summary"`
			Citation string   `json:"citation"`
		}
		var out []entry
		for _, s := range specs {
			out = append(out, entry{s.Name, s.Family, modeNames(s), s.Summary, s.Citation})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case a.boolFlag("markdown"):
		fmt.Fprint(e.stdout, MarkdownTable(specs))
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFAMILY\tMODES\tSUMMARY")
	for _, s := range specs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Family, strings.Join(modeNames(s), ","), s.Summary)
	}
	return tw.Flush()
}

// MarkdownTable renders the README's loss table.
func MarkdownTable(specs []*losses.Spec) string {
	var b strings.Builder
	fmt.Fprintln(&b, "| Loss | Family | Modes | What it computes | Reference |")
	fmt.Fprintln(&b, "|---|---|---|---|---|")
	for _, s := range specs {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.Name, s.Family, strings.Join(modeNames(s), ", "),
			mdEscape(s.Summary), mdEscape(s.Citation))
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func modeNames(s *losses.Spec) []string {
	var out []string
	for _, m := range s.Modes {
		out = append(out, string(m))
	}
	return out
}
