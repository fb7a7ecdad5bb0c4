// Package export turns builder graphs into ONNX model files: it assembles the
// ModelProto (IR version, opset imports, producer, metadata), serialises it
// deterministically, writes files atomically, loads existing models safely,
// checks a model's structure and splices a loss onto an existing model.
package export

import (
	"fmt"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/internal/atomicfile"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Producer and Version stamp every model onnxloss writes.
const (
	Producer = "onnxloss"
	Version  = "0.1.0"
)

// Meta is a key and value of a model's metadata_props.
type Meta struct {
	Key, Value string
}

// Model wraps a built graph into a ModelProto for the graph's opset: the IR
// version that goes with that opset, one default-domain opset import, the
// producer stamp and the given metadata in the given order.
func Model(g *builder.Graph, doc string, meta []Meta) (*onnxpb.ModelProto, error) {
	gp, err := g.Proto()
	if err != nil {
		return nil, err
	}
	m := &onnxpb.ModelProto{
		IrVersion:       proto.Int64(builder.IRVersion(g.Opset())),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(g.Opset()))}},
		ProducerName:    proto.String(Producer),
		ProducerVersion: proto.String(Version),
		Graph:           gp,
	}
	if doc != "" {
		m.DocString = proto.String(doc)
	}
	for _, kv := range meta {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(kv.Key), Value: proto.String(kv.Value)})
	}
	return m, nil
}

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
