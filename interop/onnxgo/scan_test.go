package onnxgo_test

import (
	"errors"
	"fmt"
)

// modelFeatures are what scanModel finds in a serialized ModelProto.
type modelFeatures struct {
	graphAttrs   int // node attributes holding a graph or graphs
	emptyTensors int // tensors with a zero dimension
}

// Field numbers from onnx.proto.
const (
	modelGraph      = 7  // ModelProto.graph
	modelFunctions  = 25 // ModelProto.functions
	graphNode       = 1  // GraphProto.node
	graphInit       = 5  // GraphProto.initializer
	nodeAttribute   = 5  // NodeProto.attribute
	attrT           = 5  // AttributeProto.t
	attrG           = 6  // AttributeProto.g
	attrTensors     = 10 // AttributeProto.tensors
	attrGraphs      = 11 // AttributeProto.graphs
	tensorDims      = 1  // TensorProto.dims
	functionNode    = 5  // FunctionProto.node
	wireVarint      = 0
	wireFixed64     = 1
	wireBytes       = 2
	wireFixed32     = 5
	maxScanDepth    = 64
	errTruncatedMsg = "truncated protobuf"
)

// scanModel reads the few fields of a serialized model that say whether it
// uses features onnx-go v0.5.0 cannot read. It is written against the wire
// format so that it shares nothing with either decoder.
func scanModel(b []byte) (modelFeatures, error) {
	var f modelFeatures
	err := fields(b, func(num int, typ int, v []byte) error {
		switch {
		case num == modelGraph && typ == wireBytes:
			return f.graph(v, 0)
		case num == modelFunctions && typ == wireBytes:
			return fields(v, func(num, typ int, v []byte) error {
				if num == functionNode && typ == wireBytes {
					return f.node(v, 0)
				}
				return nil
			})
		}
		return nil
	})
	return f, err
}

func (f *modelFeatures) graph(b []byte, depth int) error {
	if depth > maxScanDepth {
		return errors.New("graphs nested too deep")
	}
	return fields(b, func(num, typ int, v []byte) error {
		switch {
		case num == graphNode && typ == wireBytes:
			return f.node(v, depth)
		case num == graphInit && typ == wireBytes:
			return f.tensor(v)
		}
		return nil
	})
}

func (f *modelFeatures) node(b []byte, depth int) error {
	return fields(b, func(num, typ int, v []byte) error {
		if num != nodeAttribute || typ != wireBytes {
			return nil
		}
		return fields(v, func(num, typ int, v []byte) error {
			switch {
			case (num == attrT || num == attrTensors) && typ == wireBytes:
				return f.tensor(v)
			case (num == attrG || num == attrGraphs) && typ == wireBytes:
				f.graphAttrs++
				return f.graph(v, depth+1)
			}
			return nil
		})
	})
}

func (f *modelFeatures) tensor(b []byte) error {
	empty := false
	err := fields(b, func(num, typ int, v []byte) error {
		if num != tensorDims {
			return nil
		}
		if typ == wireVarint {
			empty = empty || len(v) == 1 && v[0] == 0
			return nil
		}
		// Packed dims.
		for len(v) > 0 {
			d, n := varint(v)
			if n == 0 {
				return errors.New(errTruncatedMsg)
			}
			empty = empty || d == 0
			v = v[n:]
		}
		return nil
	})
	if empty {
		f.emptyTensors++
	}
	return err
}

// fields calls fn for each field of a message; v is the varint's bytes or
// the field's payload.
func fields(b []byte, fn func(num, typ int, v []byte) error) error {
	for len(b) > 0 {
		key, n := varint(b)
		if n == 0 {
			return errors.New(errTruncatedMsg)
		}
		b = b[n:]
		num, typ := int(key>>3), int(key&7)
		var v []byte
		switch typ {
		case wireVarint:
			_, n = varint(b)
			if n == 0 {
				return errors.New(errTruncatedMsg)
			}
			v, b = b[:n], b[n:]
		case wireFixed64, wireFixed32:
			size := 8
			if typ == wireFixed32 {
				size = 4
			}
			if len(b) < size {
				return errors.New(errTruncatedMsg)
			}
			v, b = b[:size], b[size:]
		case wireBytes:
			l, n := varint(b)
			if n == 0 || uint64(len(b)-n) < l {
				return errors.New(errTruncatedMsg)
			}
			v, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return fmt.Errorf("unsupported wire type %d", typ)
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// varint decodes a base-128 varint; n is 0 when b is too short.
func varint(b []byte) (x uint64, n int) {
	for i := 0; i < len(b) && i < 10; i++ {
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}
