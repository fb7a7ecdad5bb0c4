package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/onnxloss/onnxloss/train"
)

// Curve draws a run's loss per step (left axis) and held-out mIoU per
// evaluation (right axis, 0 to 1) as an SVG picture.
func Curve(res *train.Result, title string) string {
	const w, h, left, right, top, bottom = 720.0, 360.0, 60.0, 60.0, 40.0, 40.0
	pw, ph := w-left-right, h-top-bottom
	steps := max(len(res.Loss), 1)
	maxLoss := 0.0
	for _, l := range res.Loss {
		maxLoss = math.Max(maxLoss, l)
	}
	maxLoss = niceCeil(maxLoss)
	x := func(step float64) float64 { return left + pw*step/float64(steps) }
	yLoss := func(l float64) float64 { return top + ph*(1-l/maxLoss) }
	yIoU := func(v float64) float64 { return top + ph*(1-v) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%g" height="%g" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%g" y="20" text-anchor="middle" font-size="13">%s</text>`+"\n", w/2, escape(title))
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888"/>`+"\n", left, top, pw, ph)
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		y := top + ph*(1-f)
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", left, left+pw, y, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" fill="#1f77b4">%.2g</text>`+"\n", left-6, y+4, f*maxLoss)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" fill="#d62728">%.2f</text>`+"\n", left+pw+6, y+4, f)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">step (of %d)</text>`+"\n", left+pw/2, h-10, len(res.Loss))
	fmt.Fprintf(&b, `<text x="14" y="%g" fill="#1f77b4" transform="rotate(-90 14 %g)" text-anchor="middle">loss</text>`+"\n", top+ph/2, top+ph/2)
	fmt.Fprintf(&b, `<text x="%g" y="%g" fill="#d62728" transform="rotate(90 %g %g)" text-anchor="middle">held-out mIoU</text>`+"\n", w-14, top+ph/2, w-14, top+ph/2)
	var pts []string
	for i, l := range res.Loss {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(i+1)), yLoss(l)))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
	pts = pts[:0]
	for _, e := range res.Evals {
		px, py := x(float64(e.Step)), yIoU(e.MIoU)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#d62728"/>`+"\n", px, py)
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
	b.WriteString("</svg>\n")
	return b.String()
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
