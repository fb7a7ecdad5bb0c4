package testutil

import (
	"testing"

	"github.com/onnxloss/onnxloss/losses"
	"github.com/onnxloss/onnxloss/runtime"
	"github.com/onnxloss/onnxloss/runtime/losssession"
)

// OpenLoss exports a loss under options and opens it in ONNX Runtime on the
// CPU (see losssession.Open); the session is closed when the test ends. The
// test fails when the loss does not build or load, and is skipped outside
// CI when ONNX Runtime is missing.
func OpenLoss(t testing.TB, name string, opts losses.Options) *losssession.Session {
	t.Helper()
	RequireRuntime(t)
	s, err := losssession.Open(name, opts, runtime.Options{})
	if err != nil {
		t.Fatalf("%s %v: %v", name, opts, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	})
	return s
}
