//go:build !cgo

package runtime

import "github.com/onnxloss/onnxloss/tensor"

// LibraryPath returns ErrNoCgo: this binary cannot load ONNX Runtime.
func LibraryPath() (string, error) { return "", ErrNoCgo }

// Init returns ErrNoCgo: this binary cannot load ONNX Runtime.
func Init() error { return ErrNoCgo }

// Version returns ErrNoCgo: this binary cannot load ONNX Runtime.
func Version() (string, error) { return "", ErrNoCgo }

// ProviderAvailable returns ErrNoCgo: this binary cannot load ONNX Runtime.
func ProviderAvailable(name string) error { return ErrNoCgo }

// Session is a model loaded into ONNX Runtime; without cgo none can be made.
type Session struct{}

// NewSession returns ErrNoCgo: this binary cannot load ONNX Runtime.
func NewSession(model []byte, opts Options) (*Session, error) { return nil, ErrNoCgo }

// NewSessionFromFile returns ErrNoCgo: this binary cannot load ONNX Runtime.
func NewSessionFromFile(path string, opts Options) (*Session, error) { return nil, ErrNoCgo }

// Inputs returns nothing: without cgo no Session holds a model.
func (s *Session) Inputs() []IOInfo { return nil }

// Outputs returns nothing: without cgo no Session holds a model.
func (s *Session) Outputs() []IOInfo { return nil }

// Run returns ErrNoCgo: this binary cannot run ONNX Runtime.
func (s *Session) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return nil, ErrNoCgo
}

// RunInto returns ErrNoCgo: this binary cannot run ONNX Runtime.
func (s *Session) RunInto(inputs, into map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return nil, ErrNoCgo
}

// Check returns ErrNoCgo: without cgo no Session holds a model.
func (s *Session) Check(inputs map[string]*tensor.Tensor) error { return ErrNoCgo }

// Close does nothing.
func (s *Session) Close() error { return nil }
