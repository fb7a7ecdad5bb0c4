// Package python holds the tests of the onnxloss Python package, which
// lives in this folder (onnxloss/, setup.py, pyproject.toml): it wraps the
// onnxloss binary, which `pip install ./python` builds into a platform
// wheel.
//
// The tests build the wheel into a temporary folder (the source tree is
// left as it was), check its tag and contents, install it and run
// python/tests with pytest twice: in the environment of
// scripts/requirements/pypkg.txt (current onnx, no ONNX Runtime), and in
// that of scripts/requirements/ort-training.txt, where training_artifacts
// builds ONNX Runtime's training artifacts:
//
//	go test ./python
package python
