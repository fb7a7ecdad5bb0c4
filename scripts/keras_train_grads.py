#!/usr/bin/env python3
"""TensorFlow's side of the parameter-gradient test of `onnxloss append
--train` on a Keras model exported with tf2onnx (channels-last).

Runs in the project's virtual environment `tf` (scripts/venv.sh tf, from
scripts/requirements/tf.txt):

    keras_train_grads.py export DIR [--fold 1] [--dynamic 1] [--opset 17]
                                    [--batch 2] [--size 64]
    keras_train_grads.py check DIR

export builds a small Keras U-Net (see unet) in NHWC with 3 classes, random
weights from a fixed seed, every weight perturbed so that no two tensors
hold the same values and BatchNormalization with non-trivial moving
statistics, and writes DIR/model.keras (the model), DIR/model.onnx
(tf2onnx.convert.from_keras at --opset) and DIR/input.npy (a fixed
--batch×--size×--size×3 input). The batch is symbolic; height and width are
symbolic too with --dynamic 1, and fixed to --size with --dynamic 0 (tf2onnx
then writes explicit pads and constant shapes instead of computing them at
run time). With --fold 0, tf2onnx runs without its back-to-back optimizer,
the one that folds a BatchNormalization into the Conv before it (and removes
Transpose pairs), so BatchNormalization stays in the graph; with --fold 1
(tf2onnx's default) it is folded. It prints the ONNX ops tf2onnx wrote, with
their counts, and the input's and output's shapes, on standard output.

check reads DIR/output.npy, the model's output as the training graph
computed it, DIR/logits_grad.npy, d loss / d logits as the spliced loss gives
it, and DIR/grads.json, {"names": [...]} naming DIR/grad_<i>.npy, the
training graph's gradient of each ONNX parameter. It loads DIR/model.keras
and, when model.onnx has no BatchNormalization node, folds each
BatchNormalization into the Conv2D before it the way tf2onnx does (the
folded parameters are then those whose gradients exist). With
tf.GradientTape it computes the gradient of sum(logits * logits_grad) with
respect to every trainable weight, in float32 and in float64 (the same model
and weights, cast). Each ONNX parameter is matched to the Keras weight that
holds the same values up to a permutation of its axes (tf2onnx writes
kernels as OIHW, Keras keeps HWIO), and the script prints a JSON object: the
largest difference of the outputs over the largest |output|; for each
parameter, over the largest |gradient| of that tensor in float64, the
largest difference of the given gradient from TensorFlow's float32 gradient
(rel) and from its float64 one (rel64), and that of TensorFlow's float32
gradient from its float64 one (tf32); and the names it could not match.
"""
import argparse
import collections
import itertools
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnx.numpy_helper  # noqa: E402
import tensorflow as tf  # noqa: E402

CLASSES = 3
CH = 8


def unet(dtype="float32", fold=False):
    """A U-Net of two levels: each block is Conv2D 3x3 without bias,
    BatchNormalization, ReLU, Conv2D 3x3 with bias, ReLU. Down by
    MaxPooling2D; up by Conv2DTranspose (3x3, strides 2, "same") at the lower
    level and by bilinear UpSampling2D at the upper one; skip connections by
    Concatenate, plus the bottleneck upsampled 4x (nearest) into the last
    decoder block. A 1x1 Conv2D gives the logits [N, H, W, 3].

    fold=True builds the same network with each BatchNormalization folded
    into the Conv2D before it (which then has a bias)."""
    L = tf.keras.layers

    def block(x, o, name):
        x = L.Conv2D(o, 3, padding="same", use_bias=fold, dtype=dtype, name=name + "_conv1")(x)
        if not fold:
            x = L.BatchNormalization(epsilon=1e-3, dtype=dtype, name=name + "_bn")(x)
        x = L.ReLU(dtype=dtype, name=name + "_relu1")(x)
        x = L.Conv2D(o, 3, padding="same", dtype=dtype, name=name + "_conv2")(x)
        return L.ReLU(dtype=dtype, name=name + "_relu2")(x)

    x = tf.keras.Input((None, None, 3), dtype=dtype, name="image")
    e1 = block(x, CH, "enc1")
    e2 = block(L.MaxPooling2D(2, dtype=dtype, name="pool1")(e1), 2 * CH, "enc2")
    m = block(L.MaxPooling2D(2, dtype=dtype, name="pool2")(e2), 4 * CH, "mid")
    u2 = L.Conv2DTranspose(2 * CH, 3, strides=2, padding="same", dtype=dtype, name="up2")(m)
    d2 = block(L.Concatenate(dtype=dtype, name="cat2")([u2, e2]), 2 * CH, "dec2")
    u1 = L.UpSampling2D(2, interpolation="bilinear", dtype=dtype, name="up1")(d2)
    deep = L.UpSampling2D(4, interpolation="nearest", dtype=dtype, name="up_mid")(m)
    d1 = block(L.Concatenate(dtype=dtype, name="cat1")([u1, e1, deep]), CH, "dec1")
    logits = L.Conv2D(CLASSES, 1, dtype=dtype, name="logits")(d1)
    return tf.keras.Model(x, logits, name="unet")


def perturb(model):
    """Adds 0.05·N(0,1) to every weight (biases start at 0, BatchNorm's
    scale at 1 and its offset at 0: no two tensors may be equal for the
    matching by value) and gives BatchNormalization moving statistics that
    are not 0 and 1."""
    rng = np.random.default_rng(5)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma + 0.05 * rng.standard_normal(gamma.shape),
                               beta + 0.05 * rng.standard_normal(beta.shape),
                               0.1 * rng.standard_normal(mean.shape),
                               1 + 0.5 * rng.random(var.shape)])
        elif layer.weights:
            layer.set_weights([w + 0.05 * rng.standard_normal(w.shape) for w in layer.get_weights()])


def export(args):
    import tf2onnx
    import tf2onnx.optimizer

    tf.keras.utils.set_random_seed(0)
    model = unet()
    perturb(model)
    os.makedirs(args.dir, exist_ok=True)
    x = np.random.default_rng(2).standard_normal((args.batch, args.size, args.size, 3)).astype(np.float32)
    np.save(os.path.join(args.dir, "input.npy"), x)
    model.save(os.path.join(args.dir, "model.keras"))
    optimizers = None
    if not args.fold:
        optimizers = {k: v for k, v in tf2onnx.optimizer._get_optimizers().items() if k != "remove_back_to_back"}
    side = None if args.dynamic else args.size
    spec = (tf.TensorSpec((None, side, side, 3), tf.float32, name="image"),)
    m, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=args.opset, optimizers=optimizers,
                                      output_path=os.path.join(args.dir, "model.onnx"))
    ops = collections.Counter(n.op_type for n in m.graph.node)
    shapes = ["%s[%s]" % (v.name, ",".join(d.dim_param or str(d.dim_value) for d in v.type.tensor_type.shape.dim))
              for v in list(m.graph.input) + list(m.graph.output)]
    print("tf2onnx wrote %s: %s" % (" -> ".join(shapes), ", ".join("%s×%d" % kv for kv in sorted(ops.items()))))


def folded(model, dtype):
    """Returns the model with each BatchNormalization folded into the Conv2D
    before it: kernel·s and (bias - mean)·s + beta, s = gamma/sqrt(var+eps),
    computed in float64."""
    out = unet(dtype, fold=True)
    for layer in out.layers:
        if not layer.weights:
            continue
        src = model.get_layer(layer.name)
        if layer.name.endswith("_conv1"):
            bn = model.get_layer(layer.name[:-len("_conv1")] + "_bn")
            gamma, beta, mean, var = (w.astype(np.float64) for w in bn.get_weights())
            s = gamma / np.sqrt(var + bn.epsilon)
            (kernel,) = src.get_weights()
            layer.set_weights([kernel.astype(np.float64) * s, beta - mean * s])
        else:
            layer.set_weights(src.get_weights())
    return out


def cast(model, dtype):
    """The same network and weights in dtype."""
    out = unet(dtype)
    for layer in out.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return out


def gradients(model, x, g, dtype):
    """The output of model on x, and the gradient of sum(output·g) with
    respect to each trainable weight, by name, computed in dtype."""
    x = tf.constant(x, dtype)
    with tf.GradientTape() as tape:
        out = model(x, training=False)
        obj = tf.reduce_sum(out * tf.constant(g, dtype))
    grads = tape.gradient(obj, model.trainable_weights)
    return out.numpy(), {w.name: (w.numpy(), gr.numpy() if gr is not None else np.zeros(w.shape))
                         for w, gr in zip(model.trainable_weights, grads)}


def match(value, candidates):
    """The name of the candidate whose value is value's up to a permutation
    of axes, and that permutation (the axes of the candidate in value's
    order), or None."""
    for name, (w, _) in candidates.items():
        if w.size != value.size or w.ndim != value.ndim:
            continue
        for perm in itertools.permutations(range(w.ndim)):
            if tuple(w.shape[p] for p in perm) != value.shape:
                continue
            wv = np.transpose(w, perm)
            if np.max(np.abs(wv - value), initial=0) <= 1e-5 * max(1.0, np.max(np.abs(wv), initial=0)):
                return name, perm
    return None


def check(args):
    model = tf.keras.models.load_model(os.path.join(args.dir, "model.keras"))
    m = onnx.load(os.path.join(args.dir, "model.onnx"))
    fold = not any(n.op_type == "BatchNormalization" for n in m.graph.node)
    model32 = folded(model, "float32") if fold else model
    model64 = folded(model, "float64") if fold else cast(model, "float64")
    x = np.load(os.path.join(args.dir, "input.npy"))
    g = np.load(os.path.join(args.dir, "logits_grad.npy"))
    want_out, grads32 = gradients(model32, x, g, tf.float32)
    _, grads64 = gradients(model64, x, g, tf.float64)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    names = json.load(open(os.path.join(args.dir, "grads.json")))["names"]
    got_out = np.load(os.path.join(args.dir, "output.npy"))
    result = {"errors": {}, "unmatched": [], "keras_params": len(grads32), "folded": fold,
              "output": float(np.max(np.abs(got_out - want_out))) / max(float(np.max(np.abs(want_out))), 1e-12)}
    matched = set()
    for i, name in enumerate(names):
        found = match(inits[name], grads32)
        if found is None:
            result["unmatched"].append(name)
            continue
        kname, perm = found
        matched.add(kname)
        want = np.transpose(grads32[kname][1], perm).astype(np.float64)
        want64 = np.transpose(grads64[kname][1], perm)
        got = np.load(os.path.join(args.dir, "grad_%d.npy" % i)).astype(np.float64)
        scale = max(float(np.max(np.abs(want64), initial=0)), 1e-30)
        result["errors"][name] = {
            "keras": kname,
            "perm": list(perm),
            "rel": float(np.max(np.abs(got - want), initial=0)) / scale,
            "rel64": float(np.max(np.abs(got - want64), initial=0)) / scale,
            "tf32": float(np.max(np.abs(want - want64), initial=0)) / scale,
            "max": scale}
    result["keras_unmatched"] = sorted(set(grads32) - matched)
    json.dump(result, sys.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("dir")
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--fold", type=int, default=1)
    e.add_argument("--dynamic", type=int, default=1)
    e.add_argument("--batch", type=int, default=2)
    e.add_argument("--size", type=int, default=64)
    c = sub.add_parser("check")
    c.add_argument("dir")
    args = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    export(args) if args.cmd == "export" else check(args)


if __name__ == "__main__":
    main()
