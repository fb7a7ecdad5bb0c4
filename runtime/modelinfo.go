//go:build cgo

package runtime

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
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

// Field numbers from onnx.proto.
const (
	modelGraph     = 7  // ModelProto.graph
	graphInput     = 11 // GraphProto.input
	graphOutput    = 12 // GraphProto.output
	valueInfoName  = 1  // ValueInfoProto.name
	valueInfoType  = 2  // ValueInfoProto.type
	typeTensorType = 1  // TypeProto.tensor_type
	tensorElemType = 1  // TypeProto.Tensor.elem_type
	tensorShape    = 2  // TypeProto.Tensor.shape
	shapeDim       = 1  // TensorShapeProto.dim
	dimensionValue = 1  // TensorShapeProto.Dimension.dim_value
	dimensionParam = 2  // TensorShapeProto.Dimension.dim_param
)

// maxModelInfoSize bounds the model files that NewSessionFromFile reads only
// for symbolic names in error messages; it reads larger ones when Run needs
// what they declare.
const maxModelInfoSize = 64 << 20

// parseModelIO reads the declared inputs and outputs of a serialized
// ModelProto. It reads only the few fields it needs and skips the rest
// (weights included) without copying. Repeated occurrences of a message merge,
// as protobuf specifies.
func parseModelIO(model []byte) (inputs, outputs map[string]*declared, err error) {
	inputs, outputs = map[string]*declared{}, map[string]*declared{}
	err = eachField(model, func(num protowire.Number, typ protowire.Type, b []byte) error {
		if num != modelGraph || typ != protowire.BytesType {
			return nil
		}
		return eachField(b, func(num protowire.Number, typ protowire.Type, b []byte) error {
			if typ != protowire.BytesType {
				return nil
			}
			switch num {
			case graphInput:
				return parseValueInfo(b, inputs)
			case graphOutput:
				return parseValueInfo(b, outputs)
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the model's inputs and outputs: %w", err)
	}
	return inputs, outputs, nil
}

func parseValueInfo(b []byte, into map[string]*declared) error {
	var name string
	var typ []byte
	err := eachField(b, func(num protowire.Number, t protowire.Type, v []byte) error {
		if t != protowire.BytesType {
			return nil
		}
		switch num {
		case valueInfoName:
			name = string(v)
		case valueInfoType:
			typ = append(typ, v...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d := into[name]
	if d == nil {
		d = &declared{}
		into[name] = d
	}
	return eachField(typ, func(num protowire.Number, t protowire.Type, v []byte) error {
		if num != typeTensorType || t != protowire.BytesType {
			return nil
		}
		return parseTensorType(v, d)
	})
}

func parseTensorType(b []byte, d *declared) error {
	return eachField(b, func(num protowire.Number, t protowire.Type, v []byte) error {
		switch {
		case num == tensorElemType && t == protowire.VarintType:
			x, _ := protowire.ConsumeVarint(v)
			d.elemType = int32(x)
		case num == tensorShape && t == protowire.BytesType:
			d.hasShape = true
			return eachField(v, func(num protowire.Number, t protowire.Type, v []byte) error {
				if num != shapeDim || t != protowire.BytesType {
					return nil
				}
				var dim declaredDim
				err := eachField(v, func(num protowire.Number, t protowire.Type, v []byte) error {
					switch {
					case num == dimensionValue && t == protowire.VarintType:
						x, _ := protowire.ConsumeVarint(v)
						dim.value, dim.hasValue, dim.param = int64(x), true, ""
					case num == dimensionParam && t == protowire.BytesType:
						dim.param, dim.hasValue = string(v), false
					}
					return nil
				})
				d.dims = append(d.dims, dim)
				return err
			})
		}
		return nil
	})
}

var errTruncated = errors.New("malformed protobuf")

// eachField calls fn for every field of a serialized message. For a varint
// field v holds the varint's encoding; for a length-delimited field, its
// contents; other fields are skipped.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errTruncated
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			val, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errTruncated
			}
			v, n = val, m
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return errTruncated
			}
			v, n = b[:m], m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errTruncated
			}
		}
		if v != nil || typ == protowire.BytesType {
			if err := fn(num, typ, v); err != nil {
				return err
			}
		}
		b = b[n:]
	}
	return nil
}
