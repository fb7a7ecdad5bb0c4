//go:build cgo

package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxloss/onnxloss/tensor"
)

// helperEnv makes the test binary act as a small program (see TestMain), so
// that tests can watch Init, which runs once per process, in a fresh one.
const helperEnv = "ONNXLOSS_RUNTIME_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "init" {
		p, err := LibraryPath()
		fmt.Printf("path=%s\nlibrarypath-error=%v\n", p, err)
		err = Init()
		fmt.Printf("init-error=%v\nnotfound=%v\n", err, errors.Is(err, ErrNotFound))
		if err == nil {
			v, _ := Version()
			p, _ = LibraryPath()
			fmt.Printf("version=%s\nloaded=%s\n", v, p)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// requireORT skips the test when ONNX Runtime is not installed, except in CI
// (CI=true), where a skipped test would hide that nothing ran. A library that
// is there but does not load fails the test everywhere.
func requireORT(tb testing.TB) {
	tb.Helper()
	err := Init()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotFound) && os.Getenv("CI") != "true" {
		tb.Skipf("ONNX Runtime is not installed, so this test cannot run:\n%v", err)
	}
	tb.Fatalf("ONNX Runtime is needed: %v", err)
}

func readModel(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func openModel(tb testing.TB, name string, opts Options) *Session {
	tb.Helper()
	requireORT(tb)
	s, err := NewSession(readModel(tb, name), opts)
	if err != nil {
		tb.Fatalf("NewSession(%s): %v", name, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustRun(tb testing.TB, s *Session, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	tb.Helper()
	out, err := s.Run(in)
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	return out
}

// wantErr fails unless err is non-nil and its text contains every part.
func wantErr(tb testing.TB, err error, parts ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			tb.Errorf("error does not mention %q:\n%v", p, err)
		}
	}
}

// ramp returns n float32 values -n/4, -n/4+0.5, ...: small halves, exact in
// float16 and bfloat16 and after doubling.
func ramp(n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i-n/2) / 2
	}
	return out
}
