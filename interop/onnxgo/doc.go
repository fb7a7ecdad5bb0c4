// Package onnxgo checks that the models onnxloss writes decode with
// github.com/owulveryck/onnx-go v0.5.0, an ONNX decoder written independently
// of onnxloss's own protobuf schema and structural checker.
//
// It is a module of its own so that onnx-go's old dependency tree (gogo
// protobuf, gorgonia and gonum of 2019) stays out of onnxloss's build. The
// tests build the onnxloss command from this repository and run it to export
// and splice models: onnx-go registers its own "onnx.*" protobuf messages,
// which clash with onnxloss's in one process, so the two never share one.
// Run the tests with
//
//	cd interop/onnxgo && go test ./...
package onnxgo
