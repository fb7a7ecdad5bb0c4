package main

import (
	"fmt"

	"github.com/onnxloss/onnxloss/builder"
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// valueString prints a graph input or output as name:dtype[shape].
func valueString(v *onnxpb.ValueInfoProto) string {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return v.GetName() + ":(not a tensor)"
	}
	shape := "[?]"
	if tt.GetShape() != nil {
		shape = builder.ShapeFromProto(tt.GetShape()).String()
	}
	return fmt.Sprintf("%s:%v%s", v.GetName(), tensor.DType(tt.GetElemType()), shape)
}
