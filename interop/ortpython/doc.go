// Package ortpython checks exported and spliced models with the ONNX and
// ONNX Runtime releases that `pip install onnx onnxruntime` gives today,
// pinned in scripts/requirements/onnx-current.txt.
//
// It holds tests only. They export every registered loss in every mode it
// supports with its gradient, at opsets 17 and 21 (and in the loss's first
// mode also without the gradient, at opset 13, in float16 and float64, NHWC,
// 3D and, where the loss has it, with reduction none), splice losses onto
// the models of testdata/onnx/models, and run scripts/check_current.py on
// them in that environment: ONNX's checker (full_check) and strict shape
// inference must pass, and every output of ONNX Runtime's Python package
// must equal that of ONNX Runtime 1.24 run from Go (package runtime) on the
// same inputs:
//
//	go test ./interop/ortpython
package ortpython
