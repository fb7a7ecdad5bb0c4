//go:build cgo

package runtime

import (
	"fmt"

	"github.com/onnxloss/onnxloss/runtime/internal/signaturepb"
	"google.golang.org/protobuf/proto"
)

// declared is what a model's graph says about one input or output. ONNX
// Runtime reports symbolic dimensions as -1 and reports a scalar and a
// tensor without any declared shape alike (no dimensions); the model itself
// keeps the names and the difference, and Run needs both.
type declared struct {
	elemType int32
	hasShape bool
	dims     []declaredDim
}

type declaredDim struct {
	value    int64
	param    string
	hasValue bool
}

// maxModelInfoSize bounds the model files that NewSessionFromFile reads only
// for symbolic names in error messages; it reads larger ones when Run needs
// what they declare.
const maxModelInfoSize = 64 << 20

// signatureOnly decodes the signature subset of a model and skips every
// other field (weights included) without copying it.
var signatureOnly = proto.UnmarshalOptions{DiscardUnknown: true}

// parseModelIO reads the declared inputs and outputs of a serialized
// ModelProto. Repeated occurrences of a message merge, as protobuf
// specifies; of two inputs (or outputs) with one name, the last counts.
func parseModelIO(model []byte) (inputs, outputs map[string]*declared, err error) {
	var m signaturepb.ModelProto
	if err := signatureOnly.Unmarshal(model, &m); err != nil {
		return nil, nil, fmt.Errorf("reading the model's inputs and outputs: %w", err)
	}
	return declaredOf(m.GetGraph().GetInput()), declaredOf(m.GetGraph().GetOutput()), nil
}

// inputOrder returns the names of the model's declared inputs in order.
func inputOrder(model []byte) ([]string, error) {
	var m signaturepb.ModelProto
	if err := signatureOnly.Unmarshal(model, &m); err != nil {
		return nil, err
	}
	var out []string
	for _, v := range m.GetGraph().GetInput() {
		out = append(out, v.GetName())
	}
	return out, nil
}

func declaredOf(values []*signaturepb.ValueInfoProto) map[string]*declared {
	out := make(map[string]*declared, len(values))
	for _, v := range values {
		d := &declared{}
		if tt := v.GetType().GetTensorType(); tt != nil {
			d.elemType = tt.GetElemType()
			if s := tt.GetShape(); s != nil {
				d.hasShape = true
				for _, dim := range s.GetDim() {
					switch x := dim.GetValue().(type) {
					case *signaturepb.TensorShapeProto_Dimension_DimValue:
						d.dims = append(d.dims, declaredDim{value: x.DimValue, hasValue: true})
					case *signaturepb.TensorShapeProto_Dimension_DimParam:
						d.dims = append(d.dims, declaredDim{param: x.DimParam})
					default:
						d.dims = append(d.dims, declaredDim{})
					}
				}
			}
		}
		out[v.GetName()] = d
	}
	return out
}
