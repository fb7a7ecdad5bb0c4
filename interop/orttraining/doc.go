// Package orttraining checks that models with an onnxloss loss spliced on
// them train with ONNX Runtime's training artifacts: the deprecated
// onnxruntime.training.artifacts.generate_artifacts(model, loss=None) of
// ONNX Runtime 1.19.2, its last training release, followed by a few AdamW
// steps of onnxruntime.training.api.
//
// It holds tests only. They build a small convolutional segmentation model,
// splice every registered loss onto it in every mode the loss supports (and
// cross-entropy, Dice and Lovász-Softmax onto the small torchvision models of
// testdata/onnx/models), and run scripts/ort_training.py in the pinned
// environment of scripts/requirements/ort-training.txt. The README's table of
// what trains is checked against the results:
//
//	go test ./interop/orttraining            # check
//	go test ./interop/orttraining -update    # rewrite the README's table
package orttraining
