#!/usr/bin/python3
"""Exports torchvision segmentation models to ONNX for the `onnxloss append`
tests, with a fixed input and PyTorch's output on it.

Two sets:

  small  narrow versions of the same torchvision architectures (FCN, DeepLabV3
         and LR-ASPP heads on a MobileNetV3-Large backbone at width 0.1) plus
         two tiny heads (sigmoid, log-softmax). A few hundred KB in all; these
         are committed to testdata/onnx/models/ for offline tests.
  finetune  torchvision's lraspp_mobilenet_v3_large with its BatchNorms kept
         (not folded into the convolutions), so that its weights keep their
         PyTorch names; examples/finetune trains it.
  full   torchvision's fcn_resnet50 (written with external data, as a large
         model is), deeplabv3_mobilenet_v3_large and lraspp_mobilenet_v3_large
         at their real sizes. About 190 MB; the Go tests export them live into
         a temporary folder.

Every model has random weights (weights=None, weights_backbone=None: nothing
is downloaded), non-trivial BatchNorm statistics, 3 classes, and dynamic
batch and spatial axes. The sets cover opsets 13 and 17, a Softmax head, a
channels-last (NHWC) model with NHWC input and output as a TensorFlow export
has them, a Sigmoid head with one channel and a LogSoftmax head.

For each model NAME the folder gets NAME.onnx (plus NAME.onnx.data when the
weights are external), NAME.input.npy (the fixed input), NAME.output.npy
(PyTorch's output on it) and, for models whose last op is an activation,
NAME.logits.npy (the activation's input, in the output's layout).
manifest.json describes every model: what it is, its opset, layout, head and
number of classes, and the file names.

Usage: export_models.py OUTDIR [--set small|full|all]

Written with Debian bookworm's torch 1.13, torchvision 0.14 and onnx 1.12.
Other versions write different bytes; the tests need only valid models and
the matching .npy files.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
import torchvision
from torch import nn
from torchvision.models import mobilenet_v3_large
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3
from torchvision.models.segmentation.fcn import FCN, FCNHead
from torchvision.models.segmentation.lraspp import LRASPP

CLASSES = 3


class Head(nn.Module):
    """Returns the "out" tensor of a torchvision segmentation model, optionally
    through an activation over the class axis, optionally channels-last
    (input [N,H,W,3] and output [N,H,W,C], as a TensorFlow export is)."""

    def __init__(self, model, activation=None, channels_last=False):
        super().__init__()
        self.model = model
        self.activation = activation
        self.channels_last = channels_last

    def logits(self, x):
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        out = self.model(x)
        if isinstance(out, dict):
            out = out["out"]
        if self.channels_last:
            out = out.permute(0, 2, 3, 1)
        return out

    def forward(self, x):
        out = self.logits(x)
        axis = -1 if self.channels_last else 1
        if self.activation == "softmax":
            return torch.softmax(out, dim=axis)
        if self.activation == "logsoftmax":
            return torch.log_softmax(out, dim=axis)
        if self.activation == "sigmoid":
            return torch.sigmoid(out)
        return out


def randomize_batchnorm(model):
    """Non-trivial running statistics, so that folded BatchNorms matter."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def narrow_backbone():
    """torchvision's MobileNetV3-Large feature extractor at width 0.1 with the
    dilated, reduced tail the segmentation models use; returns the features
    and the indices of the stride-8 (low) and last (high) stages."""
    features = mobilenet_v3_large(weights=None, width_mult=0.1, reduced_tail=True, dilated=True).features
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]
    return features, stages[-4], stages[-1]


def fcn_small():
    features, _, high = narrow_backbone()
    backbone = IntermediateLayerGetter(features, return_layers={str(high): "out"})
    return FCN(backbone, FCNHead(features[high].out_channels, CLASSES))


def deeplabv3_small():
    features, _, high = narrow_backbone()
    backbone = IntermediateLayerGetter(features, return_layers={str(high): "out"})
    width = 16
    head = nn.Sequential(
        ASPP(features[high].out_channels, [12, 24, 36], out_channels=width),
        nn.Conv2d(width, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, CLASSES, 1),
    )
    return DeepLabV3(backbone, head)


def lraspp_small():
    features, low, high = narrow_backbone()
    backbone = IntermediateLayerGetter(features, return_layers={str(low): "low", str(high): "high"})
    return LRASPP(backbone, features[low].out_channels, features[high].out_channels, CLASSES, inter_channels=16)


def tiny(classes):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, classes, 1),
    )


def seg(fn, **kwargs):
    return lambda: fn(weights=None, weights_backbone=None, num_classes=CLASSES, **kwargs)


# name, builder, opset, head activation, channels-last, external data,
# description, batch/height/width of the fixed input.
SMALL = [
    ("fcn_small", fcn_small, 17, None, False, False,
     "torchvision FCN (FCNHead) on a MobileNetV3-Large backbone at width 0.1; stands in for fcn_resnet50", (2, 24, 32)),
    ("deeplabv3_small_softmax", deeplabv3_small, 13, "softmax", False, False,
     "torchvision DeepLabV3 (ASPP, 16 channels) on a MobileNetV3-Large backbone at width 0.1, "
     "followed by a Softmax over the classes", (2, 24, 32)),
    ("lraspp_small_nhwc", lraspp_small, 17, None, True, False,
     "torchvision LRASPP (16 channels) on a MobileNetV3-Large backbone at width 0.1, wrapped channels-last "
     "(NHWC input and output)", (2, 24, 32)),
    ("sigmoid_binary", lambda: tiny(1), 17, "sigmoid", False, True,
     "two convolutions with one output channel and a Sigmoid head; weights in external data", (2, 12, 10)),
    ("logsoftmax", lambda: tiny(4), 13, "logsoftmax", False, False,
     "two convolutions with 4 classes and a LogSoftmax head", (2, 12, 10)),
]

FULL = [
    ("fcn_resnet50", seg(torchvision.models.segmentation.fcn_resnet50, aux_loss=False), 17, None, False, True,
     "torchvision fcn_resnet50 (random weights), weights in external data", (2, 40, 48)),
    ("deeplabv3_mobilenet_v3_large_softmax", seg(torchvision.models.segmentation.deeplabv3_mobilenet_v3_large, aux_loss=False),
     13, "softmax", False, False,
     "torchvision deeplabv3_mobilenet_v3_large (random weights) followed by a Softmax over the classes", (2, 40, 48)),
    ("lraspp_mobilenet_v3_large_nhwc", seg(torchvision.models.segmentation.lraspp_mobilenet_v3_large), 17, None, True, False,
     "torchvision lraspp_mobilenet_v3_large (random weights), wrapped channels-last (NHWC input and output)", (2, 40, 48)),
]


def export(outdir, entry, seed):
    name, build, opset, activation, channels_last, external, description, (n, h, w) = entry
    torch.manual_seed(seed)
    net = Head(randomize_batchnorm(build()), activation, channels_last).eval()
    shape = (n, h, w, 3) if channels_last else (n, 3, h, w)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 1000))
    with torch.no_grad():
        logits = net.logits(x)
        out = net(x)
    if channels_last:
        in_axes, out_axes = {0: "batch", 1: "height", 2: "width"}, {0: "batch", 1: "height", 2: "width"}
    else:
        in_axes, out_axes = {0: "batch", 2: "height", 3: "width"}, {0: "batch", 2: "height", 3: "width"}
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(
        net, (x,), path,
        opset_version=opset,
        input_names=["image"],
        output_names=["out"],
        dynamic_axes={"image": in_axes, "out": out_axes},
    )
    data = None
    if external:
        data = name + ".onnx.data"
        model = onnx.load(path)
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=0)
    onnx.checker.check_model(path, full_check=True)
    files = {"model": name + ".onnx", "input": name + ".input.npy", "output": name + ".output.npy"}
    np.save(os.path.join(outdir, files["input"]), x.numpy())
    np.save(os.path.join(outdir, files["output"]), out.numpy())
    if activation:
        files["logits"] = name + ".logits.npy"
        np.save(os.path.join(outdir, files["logits"]), logits.numpy())
    if data:
        files["data"] = data
    return {
        "name": name,
        "description": description,
        "opset": opset,
        "input_name": "image",
        "output_name": "out",
        "layout": "nhwc" if channels_last else "nchw",
        "classes": int(out.shape[-1] if channels_last else out.shape[1]),
        "head": activation or "none",
        "files": files,
    }


def export_unfused(outdir, seed=7):
    """torchvision's lraspp_mobilenet_v3_large (random weights, 3 classes,
    NCHW) with its BatchNorms kept as BatchNormalization nodes in inference
    form, so that every initializer has its state_dict name (prefixed
    "model."): a checkpoint trained from it loads back into PyTorch with
    load_state_dict. (An export in eval mode folds each BatchNorm into its
    convolution, under new names.) The export runs in training mode, which
    keeps the BatchNorms, and each is then switched to inference form:
    training_mode 0 and its one output."""
    name = "lraspp_mobilenet_v3_large_unfused"
    torch.manual_seed(seed)
    net = Head(randomize_batchnorm(seg(torchvision.models.segmentation.lraspp_mobilenet_v3_large)()))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed + 1000))
    net.eval()
    with torch.no_grad():
        out = net(x)
    net.train()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.0  # the tracing forward pass must not move the statistics
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(net, (x,), path, opset_version=17, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, input_names=["image"], output_names=["out"],
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "out": {0: "batch", 2: "height", 3: "width"}})
    model = onnx.load(path)
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            for a in node.attribute:
                if a.name == "training_mode":
                    a.i = 0
            del node.output[1:]
    onnx.save(model, path)
    onnx.checker.check_model(path, full_check=True)
    np.save(os.path.join(outdir, name + ".input.npy"), x.numpy())
    np.save(os.path.join(outdir, name + ".output.npy"), out.numpy())
    return {"name": name, "description": export_unfused.__doc__.split(".")[0], "opset": 17, "input_name": "image",
            "output_name": "out", "layout": "nchw", "classes": CLASSES, "head": "none",
            "files": {"model": name + ".onnx", "input": name + ".input.npy", "output": name + ".output.npy"}}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir")
    p.add_argument("--set", choices=["small", "full", "all", "finetune"], default="small")
    a = p.parse_args(argv)
    os.makedirs(a.outdir, exist_ok=True)
    if a.set == "finetune":
        models = [export_unfused(a.outdir)]
    else:
        entries = {"small": SMALL, "full": FULL, "all": SMALL + FULL}[a.set]
        models = [export(a.outdir, e, seed) for seed, e in enumerate(entries)]
    manifest = {
        "generator": "scripts/export_models.py --set " + a.set,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnx": onnx.__version__,
        "models": models,
    }
    with open(os.path.join(a.outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for m in models:
        print("%s: opset %d, %s, head %s" % (m["files"]["model"], m["opset"], m["layout"], m["head"]))


if __name__ == "__main__":
    main(sys.argv[1:])
