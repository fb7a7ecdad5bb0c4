//go:build !cgo

package runtime

import (
	"errors"
	"strings"
	"testing"
)

func TestNoCgo(t *testing.T) {
	_, err1 := LibraryPath()
	_, err2 := Version()
	_, err3 := NewSession([]byte{1}, Options{})
	_, err4 := NewSessionFromFile("x.onnx", Options{})
	_, err5 := (&Session{}).Run(nil)
	_, err7 := (&Session{}).RunInto(nil, nil)
	err6 := (&Session{}).Check(nil)
	for i, err := range []error{err1, Init(), err2, ProviderAvailable("cpu"), err3, err4, err5, err6, err7} {
		if !errors.Is(err, ErrNoCgo) {
			t.Errorf("call %d: %v, want ErrNoCgo", i, err)
		}
	}
	if !strings.Contains(ErrNoCgo.Error(), "CGO_ENABLED=1 go build ./cmd/onnxloss") {
		t.Errorf("ErrNoCgo does not say how to build: %v", ErrNoCgo)
	}
}
