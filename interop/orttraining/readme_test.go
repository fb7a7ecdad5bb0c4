package orttraining_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
	"github.com/onnxloss/onnxloss/losses"
)

const readmeBegin, readmeEnd = "<!-- ort-training:begin -->\n", "<!-- ort-training:end -->"

// cell is what the README's table shows for one configuration.
func cell(c *trainCase, r *result) string {
	if k := knownFor(c); k != nil {
		return "✗ " + k.mark
	}
	switch {
	case r == nil:
		return "?"
	case r.falls():
		return "✓"
	case r.trained():
		return "✗ loss does not fall"
	case r.Artifacts:
		return "✗ training fails"
	}
	return "✗ generate_artifacts fails"
}

// gradCell is what the README's table shows, in the column "gradients
// equal", for the modes of one loss.
func gradCell(cs []*trainCase, grads map[string]*gradCheck) string {
	var checked, differ []*trainCase
	for _, c := range cs {
		if g := grads[c.name]; g != nil {
			checked = append(checked, c)
			if !g.equal {
				differ = append(differ, c)
			}
		}
	}
	if len(checked) == 0 {
		return "–"
	}
	if len(differ) == 0 {
		return "✓"
	}
	var marks, modes []string
	for _, c := range differ {
		mark := "differ"
		if d := gradDifferenceFor(c); d != nil {
			mark = d.mark
		}
		if !slices.Contains(marks, mark) {
			marks = append(marks, mark)
		}
		modes = append(modes, string(c.mode))
	}
	cell := "✗ " + strings.Join(marks, ", ")
	if len(differ) < len(checked) {
		cell += " (" + strings.Join(modes, ", ") + ")"
	}
	return cell
}

// markdown renders the results as the README's tables: losses by mode on the
// Conv-Relu-Conv network, with whether ONNX Runtime training's gradients
// equal onnxloss's training graph's, and the torchvision models by loss,
// then the reasons of the known failures and gradient differences.
func markdown(cases []*trainCase, results map[string]*result, grads map[string]*gradCheck) string {
	find := func(model, loss string, mode losses.Mode, variant string) *trainCase {
		for _, c := range cases {
			if c.model == model && c.loss == loss && (mode == "" || c.mode == mode) && c.variant == variant {
				return c
			}
		}
		return nil
	}
	modes := []losses.Mode{losses.Binary, losses.Multilabel, losses.Multiclass}
	var b strings.Builder
	b.WriteString("| loss | binary | multilabel | multiclass | gradients equal |\n|---|---|---|---|---|\n")
	row := func(label, loss, variant string) {
		b.WriteString("| " + label)
		var cs []*trainCase
		for _, m := range modes {
			if c := find("conv", loss, m, variant); c != nil {
				b.WriteString(" | " + cell(c, results[c.name]))
				cs = append(cs, c)
			} else {
				b.WriteString(" | –")
			}
		}
		b.WriteString(" | " + gradCell(cs, grads) + " |\n")
	}
	for _, s := range losses.All() {
		row("`"+s.Name+"`", s.Name, "")
	}
	row("`boundary --distance input`", "boundary", "distance=input")
	b.WriteString("\n| torchvision model (small) |")
	for _, l := range torchvisionLosses {
		b.WriteString(" `" + l + "` |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(torchvisionLosses)) + "\n")
	for _, m := range torchvisionModels {
		b.WriteString("| `" + m + "`")
		for _, l := range torchvisionLosses {
			if c := find(m, l, "", ""); c != nil {
				b.WriteString(" | " + cell(c, results[c.name]))
			} else {
				b.WriteString(" | ?")
			}
		}
		b.WriteString(" |\n")
	}
	fmt.Fprintf(&b, "\n✓: `generate_artifacts(loss=None)` builds the artifacts and the loss falls over %d AdamW steps on a fixed batch; –: the loss has no such mode. "+
		"Gradients equal ✓: in every mode that trains, each parameter's gradient of the first step equals that of onnxloss's own training graph "+
		"(package export/training, run in ONNX Runtime 1.24) within %g of the parameter's largest |gradient|; –: no mode trains.\n", steps, gradTol)
	// One note per distinct failure, naming what it applies to.
	type note struct{ mark, reason string }
	var notes []note
	applies := map[note][]string{}
	for _, k := range knownFailures {
		n := note{k.mark, k.reason}
		if _, ok := applies[n]; !ok {
			notes = append(notes, n)
		}
		what := k.loss
		if what == "" {
			what = "every loss"
		}
		if k.model != "conv" {
			what += " on " + k.model
		}
		if !slices.Contains(applies[n], what) {
			applies[n] = append(applies[n], what)
		}
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "\n✗ %s (%s): %s\n", n.mark, strings.Join(applies[n], ", "), n.reason)
	}
	if len(gradDifferences) > 0 {
		b.WriteString("\n| gradients differ | modes | reason |\n|---|---|---|\n")
		for _, d := range gradDifferences {
			modes := "every"
			if d.modes != nil {
				var ms []string
				for _, m := range d.modes {
					ms = append(ms, string(m))
				}
				modes = strings.Join(ms, ", ")
			}
			fmt.Fprintf(&b, "| `%s` (%s) | %s | %s |\n", d.loss, d.mark, modes, d.reason)
		}
	}
	return b.String()
}

// checkREADME compares the README's table with the results, or rewrites it
// with -update.
func checkREADME(t *testing.T, table string) {
	t.Helper()
	path := filepath.Join(testutil.Root(t), "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", readmeBegin, readmeEnd)
	}
	if s[i+len(readmeBegin):j] == table {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i+len(readmeBegin)]+table+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the ONNX Runtime training table of %s", path)
		return
	}
	t.Errorf("README.md's ONNX Runtime training table is out of date; run go test ./interop/orttraining -update, or replace it with:\n%s", table)
}
