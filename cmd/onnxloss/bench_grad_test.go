package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"runtime"
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
	// Headers are separated by two spaces or more, and may hold one.
	head, row := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines[0]), -1), strings.Fields(lines[1])
	if len(head) != len(row) {
		t.Fatalf("%d headers, %d values:\n%s", len(head), len(row), out)
	}
	col := map[string]float64{}
	for i, h := range head {
		col[h], _ = strconv.ParseFloat(row[i], 64)
	}
	// FLOOR MS may print as 0.00 on a fast machine; its ratio cannot.
	for _, h := range []string{"LOSS MS", "GRAD MS", "GRAD/LOSS", "GRAD/FLOOR", "FIRST/STEADY", "GRAD FIRST/STEADY"} {
		if col[h] <= 0 {
			t.Errorf("column %s: %v\n%s", h, col[h], out)
		}
	}
	// The printed times are rounded to 0.01 ms.
	near := func(ratio, num, den float64) bool {
		lo, hi := (num-0.005)/(den+0.005), (num+0.005)/max(den-0.005, 1e-9)
		return ratio >= lo-0.006 && ratio <= hi+0.006
	}
	if !near(col["GRAD/LOSS"], col["GRAD MS"], col["LOSS MS"]) {
		t.Errorf("GRAD/LOSS does not match the times:\n%s", out)
	}
	if runtime.GOOS == "linux" && (col["PEAK/IN"] <= 0 || col["GRAD PEAK/IN"] <= 0) {
		t.Errorf("no peak memory measured:\n%s", out)
	}
}

// TestBenchJSON reads bench --json: one object per loss, whose peak ratio
// is its peak bytes over its input bytes, counted here from the shape.
func TestBenchJSON(t *testing.T) {
	testutil.RequireRuntime(t)
	code, out, stderr := cli("bench", "cross-entropy", "--grad", "--json", "--shape", "2x3x16x16", "--iters", "2", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Loss          string  `json:"loss"`
		InputBytes    int64   `json:"input_bytes"`
		Threads       int     `json:"threads"`
		LossMS        float64 `json:"loss_ms"`
		LossCPUMS     float64 `json:"loss_cpu_ms"`
		FirstMS       float64 `json:"first_ms"`
		GradMS        float64 `json:"grad_ms"`
		GradFirstMS   float64 `json:"grad_first_ms"`
		PeakBytes     int64   `json:"peak_bytes"`
		PeakRatio     float64 `json:"peak_ratio"`
		GradPeakBytes int64   `json:"grad_peak_bytes"`
		GradPeakRatio float64 `json:"grad_peak_ratio"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one object for one loss:\n%s", out)
	}
	// float32 logits 2·3·16·16 and int64 labels 2·16·16.
	if r.Loss != "cross-entropy" || r.InputBytes != 4*2*3*16*16+8*2*16*16 || r.Threads != 1 {
		t.Errorf("%+v", r)
	}
	if r.LossMS <= 0 || r.GradMS <= 0 || r.FirstMS <= 0 || r.GradFirstMS <= 0 {
		t.Errorf("times: %+v", r)
	}
	if runtime.GOOS == "linux" {
		if r.PeakBytes <= 0 || r.GradPeakBytes <= 0 {
			t.Errorf("no peak memory measured: %+v", r)
		}
		if math.Abs(r.PeakRatio-float64(r.PeakBytes)/float64(r.InputBytes)) > 1e-9*r.PeakRatio ||
			math.Abs(r.GradPeakRatio-float64(r.GradPeakBytes)/float64(r.InputBytes)) > 1e-9*r.GradPeakRatio {
			t.Errorf("ratios are not peak over input bytes: %+v", r)
		}
	}
}

// TestBenchProfile checks that bench --profile writes the trace and prints
// where the time goes under the loss's row.
func TestBenchProfile(t *testing.T) {
	testutil.RequireRuntime(t)
	prefix := filepath.Join(t.TempDir(), "p")
	code, out, stderr := cli("bench", "dice", "--shape", "2x3x16x16", "--iters", "2", "--threads", "1", "--profile", prefix)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "dice: kernel time by op: ") || !strings.Contains(out, "%") {
		t.Errorf("no profile line:\n%s", out)
	}
	if files, _ := filepath.Glob(prefix + "_dice_*.json"); len(files) != 1 {
		t.Errorf("profile files %v", files)
	}
}

// TestBenchNoArena runs bench --no-arena: the sessions run without ONNX
// Runtime's arena, measure their peak as with it, and --json says which.
func TestBenchNoArena(t *testing.T) {
	testutil.RequireRuntime(t)
	for _, noArena := range []bool{false, true} {
		argv := []string{"bench", "dice", "--json", "--shape", "2x3x16x16", "--iters", "2", "--threads", "1"}
		if noArena {
			argv = append(argv, "--no-arena")
		}
		code, out, stderr := cli(argv...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", argv, code, stderr)
		}
		var r struct {
			NoArena   bool    `json:"no_arena"`
			LossMS    float64 `json:"loss_ms"`
			PeakBytes int64   `json:"peak_bytes"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %v:\n%s", argv, err, out)
		}
		if r.NoArena != noArena || r.LossMS <= 0 {
			t.Errorf("%v: %s", argv, out)
		}
		if runtime.GOOS == "linux" && r.PeakBytes <= 0 {
			t.Errorf("%v: no peak memory measured: %s", argv, out)
		}
	}
}
