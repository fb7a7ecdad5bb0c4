// Package keras checks the keras presets against Keras 3's own losses.
//
// It holds tests only. They make random and edge-case inputs (empty masks,
// ignored pixels, saturated logits, probabilities of exactly 0 and 1, images
// and volumes, channels last), have scripts/keras_losses.py compute
// keras.losses.Dice, Tversky, BinaryCrossentropy, CategoricalCrossentropy,
// SparseCategoricalCrossentropy, BinaryFocalCrossentropy and
// CategoricalFocalCrossentropy on them with the TensorFlow backend, in the
// pinned environment of scripts/requirements/keras.txt, and compare each value
// with the loss exported under --preset keras (plus the options that
// correspond to the Keras arguments) run in ONNX Runtime, and with the
// float64 reference:
//
//	go test ./interop/keras
package keras
