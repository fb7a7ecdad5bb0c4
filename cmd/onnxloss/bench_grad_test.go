package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/internal/testutil"
)

// TestBenchGrad runs bench --grad on a small shape and reads its table: the
// gradient's columns are there, and GRAD/LOSS is the quotient of the times
// printed next to it.
func TestBenchGrad(t *testing.T) {
	testutil.RequireRuntime(t)
	code, out, stderr := cli("bench", "dice", "--grad", "--shape", "2x3x32x32", "--iters", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one row:\n%s", out)
	}
	head, row := strings.Fields(strings.ReplaceAll(lines[0], " MS", "_MS")), strings.Fields(lines[1])
	col := map[string]float64{}
	for i, h := range head {
		if i < len(row) {
			col[h], _ = strconv.ParseFloat(row[i], 64)
		}
	}
	// FLOOR MS may print as 0.00 on a fast machine; its ratio cannot.
	for _, h := range []string{"LOSS_MS", "GRAD_MS", "GRAD/LOSS", "GRAD/FLOOR"} {
		if col[h] <= 0 {
			t.Errorf("column %s: %v\n%s", h, col[h], out)
		}
	}
	// The printed times are rounded to 0.01 ms.
	near := func(ratio, num, den float64) bool {
		lo, hi := (num-0.005)/(den+0.005), (num+0.005)/max(den-0.005, 1e-9)
		return ratio >= lo-0.006 && ratio <= hi+0.006
	}
	if !near(col["GRAD/LOSS"], col["GRAD_MS"], col["LOSS_MS"]) {
		t.Errorf("GRAD/LOSS does not match the times:\n%s", out)
	}
}
