#!/usr/bin/env python3
"""Exports Keras segmentation models to ONNX with tf2onnx for the `onnxloss
append` tests, with a fixed input and Keras's output on it.

Runs in the project's virtual environment `tf` (scripts/venv.sh tf, from
scripts/requirements/tf.txt: tensorflow-cpu 2.15.1, Keras 2, tf2onnx 1.16.1):

    export_keras.py OUTDIR [--opsets 13,17] [--size 96] [--batch 2]
                           [--features block_6_expand_relu]

Models, each with random weights (weights=None: nothing is downloaded),
every weight perturbed and BatchNormalization given moving statistics that
are not 0 and 1 (keras_train_grads.perturb), channels-last (NHWC) input and
output as Keras has them, and a symbolic batch:

  keras_unet       the U-Net of scripts/keras_train_grads.py (3 classes,
                   raw logits; height and width symbolic)
  mnv2_logits      keras.applications.MobileNetV2 (alpha 0.35, no top,
                   --size x --size input) features at layer --features
                   (block_6_expand_relu: stride 8, the first six inverted
                   residual blocks, which keeps the export quick; out_relu
                   is the whole backbone, stride 32), a 1x1 Conv2D to 3
                   classes and a bilinear UpSampling2D back to the input
                   size: raw logits
  mnv2_softmax     the same ending in a softmax over the classes
  mnv2_sigmoid     the same with one class ending in a sigmoid (binary)

The MobileNetV2 models' BatchNormalization statistics are then set to the
batch statistics of the fixed input (see calibrate), so that their logits
vary over the image as a trained model's do. Each model is written at
every opset of --opsets (NAME_opsetK), plus mnv2_softmax_opsetK_nchw: the
softmax model at the last opset K converted with tf2onnx's --inputs-as-nchw
(the input becomes [N, 3, H, W]; the output stays channels-last).

For each model NAME the folder gets NAME.onnx, NAME.input.npy (the fixed
input, in the ONNX model's input layout), NAME.output.npy (Keras's output
on it) and, for the models with an activation head, NAME.logits.npy (the
activation's input). manifest.json describes every model in the format of
scripts/export_models.py: name, opset, input and output names, layout,
head, classes and file names. The backbones' weights are the same at every
opset, so one set of .npy files per model would do; each model gets its own
for the simplicity of the manifest.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_train_grads import perturb, unet  # noqa: E402

CLASSES = 3


def mobilenet_head(size, classes, activation, features):
    """MobileNetV2 (alpha 0.35) features at the layer named features, a 1x1 Conv2D to the classes and a
    bilinear UpSampling2D to the input size, then activation ("softmax",
    "sigmoid" or None). Returns the model and the model of its logits (the
    same layers, output before the activation)."""
    L = tf.keras.layers
    x = tf.keras.Input((size, size, 3), name="image")
    base = tf.keras.applications.MobileNetV2(input_tensor=x, alpha=0.35, include_top=False, weights=None)
    f = base.get_layer(features).output
    stride = size // f.shape[1]
    logits = L.Conv2D(classes, 1, name="classifier")(f)
    logits = L.UpSampling2D(stride, interpolation="bilinear", name="upsample")(logits)
    out = logits
    if activation:
        out = L.Activation(activation, name=activation)(logits)
    return tf.keras.Model(x, out, name="mnv2_" + (activation or "logits")), tf.keras.Model(x, logits)


def calibrate(model, x):
    """Sets every BatchNormalization's moving statistics to the batch
    statistics of x, as a trained model's are to its data. With random
    weights and the default statistics (mean 0, variance 1) the activations
    of a deep network shrink from block to block until BatchNormalization's
    offsets dominate: the logits come out nearly constant over the image,
    where every loss is flat."""
    bns = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    model(x, training=True)
    for bn, mom in zip(bns, momenta):
        bn.momentum = mom


def convert(model, path, opset, spatial, nchw=False):
    """tf2onnx.convert.from_keras with a symbolic batch; spatial is the
    fixed size of height and width, or None."""
    import tf2onnx

    spec = (tf.TensorSpec((None, spatial, spatial, 3), tf.float32, name="image"),)
    kw = {"inputs_as_nchw": ["image"]} if nchw else {}
    m, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=path, **kw)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--features", default="block_6_expand_relu")
    a = ap.parse_args()
    opsets = [int(s) for s in a.opsets.split(",")]
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((a.batch, a.size, a.size, 3)).astype(np.float32)

    tf.keras.utils.set_random_seed(0)
    nets = []  # (name, description, model, logits model or None, head, classes, fixed spatial size)
    u = unet()
    perturb(u)
    nets.append(("keras_unet", "the Keras U-Net of scripts/keras_train_grads.py, raw logits, symbolic height and width",
                 u, None, "none", CLASSES, None))
    for act, classes in ((None, CLASSES), ("softmax", CLASSES), ("sigmoid", 1)):
        tf.keras.utils.set_random_seed(1)
        m, lm = mobilenet_head(a.size, classes, act, a.features)
        perturb(m)
        calibrate(m, x)
        what = {None: "raw logits", "softmax": "a softmax over the classes", "sigmoid": "a sigmoid (binary)"}[act]
        nets.append(("mnv2_" + (act or "logits"),
                     "keras.applications.MobileNetV2 (alpha 0.35, weights=None) features at %s, 1x1 Conv2D to %d "
                     "classes, bilinear UpSampling2D to %dx%d, %s" % (a.features, classes, a.size, a.size, what),
                     m, lm, act or "none", classes, a.size))

    models = []
    for name, desc, model, logits_model, head, classes, spatial in nets:
        out = model(x, training=False).numpy()
        logits = logits_model(x, training=False).numpy() if logits_model is not None else None
        variants = [(op, False) for op in opsets]
        if name == "mnv2_softmax":
            variants.append((opsets[-1], True))
        for opset, nchw in variants:
            full = "%s_opset%d%s" % (name, opset, "_nchw" if nchw else "")
            t0 = time.time()
            onnx_model = convert(model, os.path.join(a.outdir, full + ".onnx"), opset, spatial, nchw)
            files = {"model": full + ".onnx", "input": full + ".input.npy", "output": full + ".output.npy"}
            np.save(os.path.join(a.outdir, files["input"]), x.transpose(0, 3, 1, 2) if nchw else x)
            np.save(os.path.join(a.outdir, files["output"]), out)
            if logits is not None:
                files["logits"] = full + ".logits.npy"
                np.save(os.path.join(a.outdir, files["logits"]), logits)
            models.append({"name": full,
                           "description": desc + (", converted with --inputs-as-nchw" if nchw else ""),
                           "opset": opset, "input_name": "image", "output_name": onnx_model.graph.output[0].name,
                           "layout": "nhwc", "input_layout": "nchw" if nchw else "nhwc",
                           "classes": classes, "head": head, "files": files})
            print("%s: opset %d, head %s, %.1f s" % (full, opset, head, time.time() - t0), file=sys.stderr)
    import tf2onnx

    manifest = {"generator": "scripts/export_keras.py --opsets %s --size %d --batch %d --features %s" % (
                    a.opsets, a.size, a.batch, a.features),
                "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "models": models}
    with open(os.path.join(a.outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
