package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime/losssession"
	"github.com/onnxloss/onnxloss/tensor"
)

func init() {
	register(&command{
		name:    "plot",
		summary: "draw a loss and its gradient against the logit of one pixel",
		usage:   "LOSS [--param NAME --values A,B,...] (--out FILE.svg | --json) [loss options]",
		help: `Draws the loss and d loss / d logit for one pixel whose logit x runs from -6
to 6, for a positive pixel (target 1) and a negative pixel (target 0), at a
few values of the loss's main parameter: one curve per value. The points come
from the exported graph itself (with --grad: loss and input_grad), run in ONNX
Runtime on a batch of one pixel per point, so the picture shows what the
exported file computes, conventions included; a batch of one keeps losses
that pool statistics over the batch (batch Dice, balanced-bce's β) to the
pixel at hand.

A loss with a binary mode is drawn in it (one channel). A loss without one is
drawn in multiclass mode with 2 classes: the logits are (0, x), so x is the
logit difference, the target is class 1 (positive) or class 0 (negative), and
the gradient is the one with respect to x.

The swept parameter defaults per loss: focal, dice-focal and unet3p-hybrid γ
(0, 0.5, 1, 2, 5, as in Lin et al.'s Figure 1); tversky α with β = 1 - α;
focal-tversky γ; weighted-bce and balanced-bce β; bce and cross-entropy label
smoothing; asymmetric-similarity β; combo α; sensitivity-specificity r; other
losses are drawn once at the given options. --param NAME --values A,B,...
chooses another parameter (given alone, --values replaces the default sweep's
values); the other options hold for every curve.

The SVG is written atomically: on any error no file (and no partial file) is
left behind. --json prints the points instead of (or, with --out, as well as)
drawing them.

Examples:
  onnxloss plot focal --out focal-gamma.svg
  onnxloss plot tversky --out tversky-alpha.svg
  onnxloss plot dice --param smooth_nr --values 0,0.1,1 --out dice-smooth.svg
  onnxloss plot cross-entropy --json`,
		flags: []flagDef{
			{name: "out", value: "FILE", doc: "where to write the SVG picture (- writes it to standard output)"},
			{name: "json", doc: "print the points as JSON on standard output"},
			{name: "param", value: "NAME", doc: "the parameter to sweep (default: the loss's main parameter)"},
			{name: "values", value: "A,B,...", doc: "the values of the swept parameter, comma-separated"},
			{name: "points", value: "N", doc: "number of logits from -6 to 6 (default 121)"},
			{name: "title", value: "TEXT", doc: "the picture's title (default: the loss and its options)"},
		},
		lossOptions: true,
		run:         runPlot,
	})
}

// plotRange is the logit range drawn.
const plotMin, plotMax = -6.0, 6.0

// sweep is a parameter and its values, as loss options.
type sweep struct {
	param  string
	values []string
	// paired sets another option from each value (tversky's β = 1 - α).
	paired func(v float64) losses.Options
}

// defaultSweeps are the parameters drawn by default, by loss.
var defaultSweeps = map[string]sweep{
	"focal":         {param: "gamma", values: []string{"0", "0.5", "1", "2", "5"}},
	"dice-focal":    {param: "gamma", values: []string{"0", "0.5", "1", "2", "5"}},
	"unet3p-hybrid": {param: "gamma", values: []string{"0", "0.5", "1", "2", "5"}},
	"tversky": {param: "alpha", values: []string{"0.1", "0.3", "0.5", "0.7", "0.9"},
		paired: func(v float64) losses.Options { return losses.Options{"beta": formatValue(1 - v)} }},
	"focal-tversky":           {param: "gamma", values: []string{"0.5", "0.75", "1", "2"}},
	"weighted-bce":            {param: "beta", values: []string{"0.25", "0.5", "1", "2", "4"}},
	"balanced-bce":            {param: "beta", values: []string{"0.1", "0.3", "0.5", "0.7", "0.9"}},
	"bce":                     {param: "label_smoothing", values: []string{"0", "0.1", "0.2"}},
	"cross-entropy":           {param: "label_smoothing", values: []string{"0", "0.1", "0.2"}},
	"asymmetric-similarity":   {param: "beta", values: []string{"1", "1.5", "2", "3"}},
	"combo":                   {param: "alpha", values: []string{"0", "0.25", "0.5", "0.75", "1"}},
	"sensitivity-specificity": {param: "r", values: []string{"0.05", "0.1", "0.5", "0.9"}},
}

// fixedOptions are set for each default sweep where the parameter needs
// them to matter.
var fixedOptions = map[string]losses.Options{
	"balanced-bce": {"beta_from": "fixed"},
}

// symbol is how a legend names a parameter: the paper's letter where it
// has one.
func symbol(param string) string {
	if g, ok := map[string]string{"gamma": "γ", "alpha": "α", "beta": "β"}[param]; ok {
		return g
	}
	return param
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// plotCurve is one parameter value and one target.
type plotCurve struct {
	Label   string         `json:"label"`
	Options losses.Options `json:"options"`
	Target  int            `json:"target"`
	Loss    []float64      `json:"loss"`
	Grad    []float64      `json:"grad"`
}

// plotData is what plot draws, and what --json prints.
type plotData struct {
	Loss    string         `json:"loss"`
	Mode    string         `json:"mode"`
	Classes int            `json:"classes"`
	Param   string         `json:"param,omitempty"`
	Options losses.Options `json:"options"`
	X       []float64      `json:"x"`
	Curves  []plotCurve    `json:"curves"`
}

func runPlot(e *env, a *args) error {
	s, err := needLoss("plot", a)
	if err != nil {
		return err
	}
	out, hasOut := a.flag("out")
	asJSON := a.boolFlag("json")
	if hasOut && out == "" || !hasOut && !asJSON {
		return usagef("--out FILE.svg or --json is required")
	}
	if hasOut && out == "-" && asJSON {
		return usagef("--out - and --json both write to standard output; choose one")
	}
	n := 121
	if v, ok := a.flag("points"); ok {
		if n, err = strconv.Atoi(v); err != nil || n < 2 || n > 10001 {
			return usagef("--points %q: want an integer from 2 to 10001", v)
		}
	}
	for _, k := range []string{"classes", "grad", "reduction", "from_logits"} {
		if _, ok := a.lossOpts[k]; ok {
			return usagef("plot sets --%s itself (one pixel, 1 channel or 2 classes, --grad, a scalar loss of logits)", strings.ReplaceAll(k, "_", "-"))
		}
	}
	sw, err := plotSweep(s, a)
	if err != nil {
		return err
	}
	// The points are logits and the loss a scalar: from_logits and
	// reduction are set here, so that a preset reading probabilities
	// (Keras's) or keeping the per-pixel map (kornia's focal) does not
	// change what is drawn; for one pixel mean and sum agree.
	base := losses.Options{"grad": "true", "from_logits": "true", "reduction": "mean"}
	for k, v := range a.lossOpts {
		base[k] = v
	}
	mode := losses.Mode(base["mode"])
	if mode == "" {
		mode = losses.Binary
		if !s.SupportsMode(losses.Binary) {
			mode = losses.Multiclass
		}
		base["mode"] = string(mode)
	}
	classes := 1
	if mode == losses.Multiclass {
		classes = 2
	}
	base["classes"] = strconv.Itoa(classes)
	rt, err := runtimeOptions(a)
	if err != nil {
		return err
	}

	d := &plotData{Loss: s.Name, Mode: string(mode), Classes: classes, Param: sw.param, Options: a.lossOpts, X: make([]float64, n)}
	for i := range d.X {
		d.X[i] = plotMin + (plotMax-plotMin)*float64(i)/float64(n-1)
	}
	// Resolve every curve's options before running any, so that a bad value
	// is a usage error whatever its place in the list.
	type run struct {
		label string
		opts  losses.Options
		cfg   *losses.Config
	}
	var runs []run
	values := sw.values
	if sw.param == "" {
		values = []string{""}
	}
	for _, v := range values {
		o := losses.Options{}
		for k, x := range base {
			o[k] = x
		}
		label := "options as given"
		if sw.param != "" {
			for k, x := range fixedOptions[s.Name] {
				if _, given := a.lossOpts[k]; !given {
					o[k] = x
				}
			}
			o[sw.param] = v
			label = fmt.Sprintf("%s = %s", symbol(sw.param), v)
			if sw.paired != nil {
				f, _ := strconv.ParseFloat(v, 64)
				for k, x := range sw.paired(f) {
					o[k] = x
					label += fmt.Sprintf(", %s = %s", symbol(k), x)
				}
			}
		}
		cfg, err := losses.Resolve(s, o)
		if err != nil {
			return err
		}
		for _, x := range s.ExtraInputs(cfg) {
			if x.Kind != losses.PixelWeights {
				return usagef("%s needs the input %s (%s); plot gives only pixel weights (1)", s.Name, x.Name, x.Doc)
			}
		}
		runs = append(runs, run{label, o, cfg})
	}
	for _, r := range runs {
		sess, err := losssession.OpenConfig(s, r.cfg, rt)
		if err != nil {
			return err
		}
		for _, target := range []int{1, 0} {
			c := plotCurve{Label: r.label, Options: r.opts, Target: target, Loss: make([]float64, n), Grad: make([]float64, n)}
			for i, x := range d.X {
				c.Loss[i], c.Grad[i], err = plotPoint(sess, r.cfg, x, target)
				if err != nil {
					sess.Close()
					return fmt.Errorf("%s at logit %g, target %d: %w", r.label, x, target, err)
				}
			}
			d.Curves = append(d.Curves, c)
		}
		if err := sess.Close(); err != nil {
			return err
		}
	}
	if asJSON {
		b, err := json.MarshalIndent(d, "", " ")
		if err != nil {
			return err
		}
		if _, err := e.stdout.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	if !hasOut {
		return nil
	}
	title, ok := a.flag("title")
	if !ok {
		title = plotTitle(d)
	}
	svg := plotSVG(d, title)
	if out == "-" {
		_, err := e.stdout.Write([]byte(svg))
		return err
	}
	return atomicfile.WriteFile(out, []byte(svg))
}

// plotSweep reads --param and --values, or the loss's default sweep.
func plotSweep(s *losses.Spec, a *args) (sweep, error) {
	param, hasParam := a.flag("param")
	vals, hasValues := a.flag("values")
	def, hasDef := defaultSweeps[s.Name]
	var sw sweep
	switch {
	case hasParam:
		param = strings.ReplaceAll(strings.TrimPrefix(param, "--"), "-", "_")
		if s.Param(param) == nil {
			var names []string
			for _, p := range s.Params {
				names = append(names, p.Name)
			}
			msg := fmt.Sprintf("--param %q: %s has no such parameter (its parameters: %s)", param, s.Name, strings.Join(names, ", "))
			if c := losses.Closest(param, names); c != "" {
				msg += fmt.Sprintf("; did you mean %q?", c)
			}
			return sw, usagef("%s", msg)
		}
		if _, given := a.lossOpts[param]; given {
			return sw, usagef("--param %s is swept; do not give --%s as well", param, strings.ReplaceAll(param, "_", "-"))
		}
		if !hasValues {
			return sw, usagef("--param %s needs --values A,B,...", param)
		}
		sw.param = param
		if hasDef && def.param == param {
			sw.paired = def.paired
		}
	case hasValues && !hasDef:
		return sw, usagef("%s has no default parameter to sweep; name one with --param", s.Name)
	case hasDef:
		sw = def
		if _, given := a.lossOpts[sw.param]; given && !hasValues {
			// The user fixed the swept parameter: one curve at that value.
			return sweep{}, nil
		}
	default:
		return sw, nil
	}
	if hasValues {
		sw.values = nil
		for _, v := range strings.Split(vals, ",") {
			v = strings.TrimSpace(v)
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return sw, usagef("--values: %q is not a finite number", v)
			}
			sw.values = append(sw.values, v)
		}
		if len(sw.values) > len(plotColors) {
			return sw, usagef("--values: at most %d values", len(plotColors))
		}
	}
	if sw.paired != nil {
		for k := range sw.paired(0) {
			if _, given := a.lossOpts[k]; given {
				sw.paired = nil // the user's value holds for every curve
			}
		}
	}
	return sw, nil
}

// plotPoint runs the graph on one pixel of logit x (logits (0, x) with 2
// classes) and the given target, and returns the loss and d loss / d x.
func plotPoint(sess *losssession.Session, cfg *losses.Config, x float64, target int) (float64, float64, error) {
	shape := []int{1, cfg.Classes}
	pix := []int{1}
	for range cfg.SpatialDims {
		shape = append(shape, 1)
		pix = append(pix, 1)
	}
	if cfg.Layout == losses.NHWC { // one pixel: the same element order
		shape = append(append([]int{1}, shape[2:]...), cfg.Classes)
	}
	logits := []float32{float32(x)}
	if cfg.Classes == 2 {
		logits = []float32{0, float32(x)}
	}
	in := map[string]*tensor.Tensor{"input": tensor.FromFloat32(shape, logits).Convert(cfg.DType)}
	tdt, _ := cfg.TargetSpec()
	switch {
	case tdt == tensor.Int64:
		in["target"] = tensor.FromInt64(pix, []int64{int64(target)})
	case cfg.Classes == 2:
		in["target"] = tensor.FromFloat32(shape, []float32{float32(1 - target), float32(target)}).Convert(tdt)
	default:
		in["target"] = tensor.FromFloat32(shape, []float32{float32(target)}).Convert(tdt)
	}
	for _, e := range sess.Spec().ExtraInputs(cfg) {
		dt, _ := cfg.ExtraSpec(e)
		in[e.Name] = tensor.FromFloat32(pix, []float32{1}).Convert(dt)
	}
	res, err := sess.Run(in)
	if err != nil {
		return 0, 0, err
	}
	loss := res["loss"].Float64s()[0]
	g := res["input_grad"].Float64s()
	grad := g[len(g)-1] // d/dx: the last channel holds x
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(grad) || math.IsInf(grad, 0) {
		return 0, 0, fmt.Errorf("the graph gave loss %v, gradient %v", loss, grad)
	}
	return loss, grad, nil
}

func plotTitle(d *plotData) string {
	t := d.Loss + " (" + d.Mode
	if d.Classes == 2 {
		t += ", 2 classes, x = logit difference"
	}
	keys := make([]string, 0, len(d.Options))
	for k := range d.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t += fmt.Sprintf(", %s=%s", k, d.Options[k])
	}
	return t + ")"
}

// plotColors are the curves' colours, one per swept value.
var plotColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// plotSVG draws four panels: the loss (top) and its gradient (bottom) for
// the positive pixel (left) and the negative pixel (right), one curve per
// swept value, with a shared legend.
func plotSVG(d *plotData, title string) string {
	const w, left, gap, top, bottom, row = 880.0, 64.0, 70.0, 56.0, 44.0, 18.0
	// Legend: one entry per swept value, wrapped to the picture's width.
	type entry struct {
		x, y  float64
		label string
	}
	var entries []entry
	lx, ly := left, 40.0
	for i := 0; i < len(d.Curves); i += 2 {
		label := d.Curves[i].Label
		width := 30 + 6.5*float64(len([]rune(label)))
		if lx > left && lx+width > w-10 {
			lx, ly = left, ly+row
		}
		entries = append(entries, entry{lx, ly, label})
		lx += width
	}
	legend := ly - 40 + 26
	const ph = 230.0
	h := top + legend + 2*ph + gap + bottom
	pw := (w - left - gap - 20) / 2
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%g" y="20" text-anchor="middle" font-size="13">%s</text>`+"\n", w/2, xmlEscape(title))
	for i, e := range entries {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="%s" stroke-width="2"/>`+"\n", e.x, e.x+18, e.y, e.y, plotColors[i%len(plotColors)])
		fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text>`+"\n", e.x+22, e.y+4, xmlEscape(e.label))
	}
	for col, target := range []int{1, 0} {
		for row, what := range []string{"loss", "d loss / d x"} {
			x0 := left + float64(col)*(pw+gap)
			y0 := top + legend + float64(row)*(ph+gap)
			var ys [][]float64
			for _, c := range d.Curves {
				if c.Target != target {
					continue
				}
				if row == 0 {
					ys = append(ys, c.Loss)
				} else {
					ys = append(ys, c.Grad)
				}
			}
			name := "positive pixel (target 1)"
			if target == 0 {
				name = "negative pixel (target 0)"
			}
			plotPanel(&b, x0, y0, pw, ph, what+", "+name, d.X, ys)
		}
	}
	xl := "logit x"
	if d.Classes == 2 {
		xl = "logit difference x = z₁ − z₀"
	}
	for col := range 2 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", left+float64(col)*(pw+gap)+pw/2, h-8, xl)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// plotPanel draws one panel: a frame, ticks, a zero line and the curves.
func plotPanel(b *strings.Builder, x0, y0, pw, ph float64, title string, xs []float64, ys [][]float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, y := range ys {
		for _, v := range y {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	lo, hi, step := niceRange(lo, hi)
	px := func(x float64) float64 { return x0 + pw*(x-plotMin)/(plotMax-plotMin) }
	py := func(y float64) float64 { return y0 + ph*(1-(y-lo)/(hi-lo)) }
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`+"\n", x0+pw/2, y0-6, xmlEscape(title))
	for v := lo; v <= hi+step/2; v += step {
		y := py(v)
		fmt.Fprintf(b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x0, x0+pw, y, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-5, y+4, formatTick(v, step))
	}
	for x := plotMin; x <= plotMax; x += 2 {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#eee"/>`+"\n", px(x), px(x), y0, y0+ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%g</text>`+"\n", px(x), y0+ph+15, x)
	}
	if lo < 0 && hi > 0 {
		fmt.Fprintf(b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#999"/>`+"\n", x0, x0+pw, py(0), py(0))
	}
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888"/>`+"\n", x0, y0, pw, ph)
	for i, y := range ys {
		pts := make([]string, len(xs))
		for j := range xs {
			pts[j] = fmt.Sprintf("%.1f,%.1f", px(xs[j]), py(y[j]))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`+"\n", plotColors[i%len(plotColors)], strings.Join(pts, " "))
	}
}

// niceRange widens [lo, hi] to multiples of a round step (1, 2, 2.5 or 5
// times a power of ten) giving about four intervals.
func niceRange(lo, hi float64) (float64, float64, float64) {
	if !(hi > lo) { // one value, or none
		v := lo
		if math.IsInf(v, 0) || math.IsNaN(v) {
			v = 0
		}
		d := math.Max(math.Abs(v)*0.1, 1e-3)
		lo, hi = v-d, v+d
	}
	raw := (hi - lo) / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * p
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*p {
			step = m * p
			break
		}
	}
	return math.Floor(lo/step+1e-9) * step, math.Ceil(hi/step-1e-9) * step, step
}

// formatTick writes a tick value with the digits its step needs.
func formatTick(v, step float64) string {
	if math.Abs(v) < step*1e-9 {
		return "0"
	}
	digits := max(0, int(-math.Floor(math.Log10(step)+1e-9))+1)
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
