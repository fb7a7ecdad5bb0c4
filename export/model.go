package export

import (
	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
	"google.golang.org/protobuf/proto"
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
