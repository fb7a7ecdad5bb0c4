package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
)

// plotJSON runs plot with --json and decodes its points.
func plotJSON(t *testing.T, args ...string) *plotData {
	t.Helper()
	code, out, errOut := cli(append([]string{"plot"}, append(args, "--json")...)...)
	if code != 0 {
		t.Fatalf("plot %v: exit %d: %s", args, code, errOut)
	}
	var d plotData
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("plot %v --json: %v\n%s", args, err, out)
	}
	return &d
}

// curve returns the points of the given target, failing unless there is
// exactly one curve per target.
func curve(t *testing.T, d *plotData, target int) plotCurve {
	t.Helper()
	var found []plotCurve
	for _, c := range d.Curves {
		if c.Target == target {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d curves for target %d, want 1", d.Loss, len(found), target)
	}
	if len(found[0].Loss) != len(d.X) || len(found[0].Grad) != len(d.X) {
		t.Fatalf("%s: %d losses and %d gradients for %d logits", d.Loss, len(found[0].Loss), len(found[0].Grad), len(d.X))
	}
	return found[0]
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// softplus is log(1 + e^x), computed here in float64.
func softplus(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// TestPlotFocalGammaZeroIsBCE: focal loss with γ = 0 is binary
// cross-entropy, so plot's points for it equal bce's at the same logits,
// loss and gradient; the losses also equal log(1 + e^∓x) computed here.
func TestPlotFocalGammaZeroIsBCE(t *testing.T) {
	testutil.RequireRuntime(t)
	focal := plotJSON(t, "focal", "--param", "gamma", "--values", "0")
	bce := plotJSON(t, "bce", "--param", "label_smoothing", "--values", "0")
	if focal.Mode != "binary" || focal.Classes != 1 || len(focal.X) != 121 || focal.X[0] != -6 || focal.X[120] != 6 {
		t.Fatalf("focal: mode %s, %d classes, %d logits from %v", focal.Mode, focal.Classes, len(focal.X), focal.X[0])
	}
	for _, target := range []int{1, 0} {
		f, b := curve(t, focal, target), curve(t, bce, target)
		if f.Options["gamma"] != "0" {
			t.Errorf("focal options %v: want gamma=0", f.Options)
		}
		for i, x := range focal.X {
			if bce.X[i] != x {
				t.Fatalf("logit %d: focal %v, bce %v", i, x, bce.X[i])
			}
			if !near(f.Loss[i], b.Loss[i], 1e-6) || !near(f.Grad[i], b.Grad[i], 1e-6) {
				t.Errorf("target %d, x = %g: focal γ=0 gives loss %.7g, gradient %.7g; bce %.7g, %.7g", target, x, f.Loss[i], f.Grad[i], b.Loss[i], b.Grad[i])
			}
			want := softplus(-x) // -log σ(x)
			if target == 0 {
				want = softplus(x) // -log(1 - σ(x))
			}
			if !near(b.Loss[i], want, 1e-6) {
				t.Errorf("target %d, x = %g: bce %.7g, want %.7g", target, x, b.Loss[i], want)
			}
		}
	}
}

// TestPlotPresetOfProbabilities: a preset that reads probabilities
// (Keras's from_logits=False) does not turn plot's logits into
// probabilities: bce --preset keras draws log(1 + e^∓x) of the logit, as
// Keras's from_logits=True does.
func TestPlotPresetOfProbabilities(t *testing.T) {
	testutil.RequireRuntime(t)
	d := plotJSON(t, "bce", "--preset", "keras", "--param", "label_smoothing", "--values", "0")
	checkLogistic(t, "bce --preset keras", d)
}

// TestPlotPresetOfUnreducedLoss: a preset whose reduction is none
// (kornia's focal) still plots, since plot sets the reduction itself (and
// refuses --reduction): with γ = 0 the points are log(1 + e^∓x).
func TestPlotPresetOfUnreducedLoss(t *testing.T) {
	testutil.RequireRuntime(t)
	d := plotJSON(t, "focal", "--preset", "kornia", "--param", "gamma", "--values", "0")
	for _, target := range []int{1, 0} {
		c := curve(t, d, target)
		for i, x := range d.X {
			want := softplus(-x)
			if target == 0 {
				want = softplus(x)
			}
			if !near(c.Loss[i], want, 1e-6) {
				t.Fatalf("target %d, x = %g: focal --preset kornia γ=0 gives %.7g, want %.7g", target, x, c.Loss[i], want)
			}
		}
	}
}

// TestPlotMulticlassLogitDifference: cross-entropy has no binary mode, so
// plot draws it with 2 classes against the logit difference x: for target 1
// the loss is log(1 + e^-x) and its derivative σ(x) - 1, for target 0
// log(1 + e^x) and σ(x).
func TestPlotMulticlassLogitDifference(t *testing.T) {
	testutil.RequireRuntime(t)
	d := plotJSON(t, "cross-entropy", "--param", "label_smoothing", "--values", "0", "--points", "25")
	if d.Mode != "multiclass" || d.Classes != 2 || len(d.X) != 25 {
		t.Fatalf("mode %s, %d classes, %d logits", d.Mode, d.Classes, len(d.X))
	}
	checkLogistic(t, "cross-entropy", d)
}

// checkLogistic checks that every curve of d is the logistic loss of the
// logit x: log(1 + e^-x) with derivative σ(x) - 1 for target 1, log(1 + e^x)
// with derivative σ(x) for target 0.
func checkLogistic(t *testing.T, what string, d *plotData) {
	t.Helper()
	for _, target := range []int{1, 0} {
		c := curve(t, d, target)
		for i, x := range d.X {
			loss, grad := softplus(-x), sigmoid(x)-1
			if target == 0 {
				loss, grad = softplus(x), sigmoid(x)
			}
			if !near(c.Loss[i], loss, 1e-6) || !near(c.Grad[i], grad, 1e-6) {
				t.Errorf("%s, target %d, x = %g: loss %.7g, gradient %.7g; want %.7g, %.7g", what, target, x, c.Loss[i], c.Grad[i], loss, grad)
			}
		}
	}
}

// TestPlotSVG writes the default focal sweep (γ = 0, 0.5, 1, 2, 5) and
// checks that the file is well-formed XML with one polyline per value in
// each of the four panels and a legend entry per value.
func TestPlotSVG(t *testing.T) {
	testutil.RequireRuntime(t)
	path := filepath.Join(t.TempDir(), "focal.svg")
	if code, _, errOut := cli("plot", "focal", "--out", path); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	polylines, root := 0, ""
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed: %v", path, err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			if e.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			text.Write(e)
		}
	}
	if root != "svg" || polylines != 4*5 {
		t.Errorf("root <%s>, %d polylines; want <svg> and 20", root, polylines)
	}
	for _, g := range []string{"γ = 0", "γ = 0.5", "γ = 1", "γ = 2", "γ = 5", "positive pixel", "negative pixel"} {
		if !strings.Contains(text.String(), g) {
			t.Errorf("the picture has no text %q", g)
		}
	}
}

// TestPlotUsageErrors: mistakes exit 2 with a message that says what to do,
// and leave an existing output file as it was.
func TestPlotUsageErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "curve.svg")
	if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"plot", "focal"}, "--out FILE.svg or --json is required"},
		{[]string{"plot", "--out", out}, "name a loss"},
		{[]string{"plot", "focla", "--out", out}, "unknown loss"},
		{[]string{"plot", "focal", "--param", "gama", "--values", "1", "--out", out}, `did you mean "gamma"`},
		{[]string{"plot", "focal", "--param", "gamma", "--out", out}, "needs --values"},
		{[]string{"plot", "focal", "--values", "1,x", "--out", out}, `"x" is not a finite number`},
		{[]string{"plot", "focal", "--values", "0,-1", "--out", out}, "gamma"},
		{[]string{"plot", "focal", "--param", "gamma", "--gamma", "2", "--values", "1", "--out", out}, "do not give --gamma"},
		{[]string{"plot", "lovasz-softmax", "--values", "1", "--out", out}, "name one with --param"},
		{[]string{"plot", "focal", "--classes", "3", "--out", out}, "plot sets --classes"},
		{[]string{"plot", "focal", "--reduction", "none", "--out", out}, "plot sets --reduction"},
		{[]string{"plot", "focal", "--points", "1", "--out", out}, "--points"},
		{[]string{"plot", "focal", "--out", "-", "--json"}, "choose one"},
		{[]string{"plot", "unet-weight-map", "--out", out}, "needs the input instances"},
	}
	for _, tc := range tests {
		code, _, errOut := cli(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "previous" {
		t.Errorf("after the errors the file holds %q (%v), want it untouched", b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only the untouched file", len(entries))
	}
}

// TestPlotNoPartialFile: a write that fails leaves no file and no
// temporary file behind, and a replaced file is replaced whole.
func TestPlotNoPartialFile(t *testing.T) {
	testutil.RequireRuntime(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-folder", "curve.svg")
	if code, _, errOut := cli("plot", "focal", "--out", missing); code != 1 || !strings.Contains(errOut, "no-such-folder") {
		t.Errorf("into a missing folder: exit %d, %q; want 1 and the path", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed write left %d entries", len(entries))
	}
	out := filepath.Join(dir, "curve.svg")
	if err := os.WriteFile(out, []byte(strings.Repeat("x", 1<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli("plot", "focal", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.HasSuffix(string(b), "</svg>\n") {
		t.Errorf("the replaced file is not one whole picture (%d bytes, %v)", len(b), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries after the write, want 1", len(entries))
	}
}
