package training

import (
	"github.com/onnxloss/onnxloss/onnxpb"
	"github.com/onnxloss/onnxloss/tensor"
)

// DecodeForTest exposes decodeTensor to the package's external tests.
func DecodeForTest(t *onnxpb.TensorProto) *tensor.Tensor { return decodeTensor(t) }
