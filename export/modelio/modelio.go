// Package modelio reads and writes ONNX model files: deterministic
// serialisation, atomic writes (through internal/atomicfile), loading a model
// with its external data references checked against the files on disk,
// writing a derived model with its external data placed next to it, and a
// structural check of a model's graph.
package modelio

import (
	"fmt"

	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Producer and Version stamp every model onnxloss writes.
const (
	Producer = "onnxloss"
	Version  = "0.1.0"
)

// Marshal serialises a model deterministically: the same model gives the
// same bytes on every run and machine.
func Marshal(m *onnxpb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	return b, nil
}

// WriteFile writes data to path atomically, under the rules of
// internal/atomicfile: readers see the old file or the complete new one, a
// failure leaves no partial file, a replaced file keeps its mode, a symbolic
// link is written through to its target, and a read-only file or anything
// that is not a regular file (a device such as /dev/null, a folder) is
// refused rather than replaced.
func WriteFile(path string, data []byte) error {
	return atomicfile.WriteFile(path, data)
}

// Save marshals m and writes it atomically to path.
func Save(path string, m *onnxpb.ModelProto) error {
	b, err := Marshal(m)
	if err != nil {
		return err
	}
	return WriteFile(path, b)
}
