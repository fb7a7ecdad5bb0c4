#!/usr/bin/python3
"""Loads a checkpoint written by examples/finetune (or `onnxloss train`) back
into torchvision's lraspp_mobilenet_v3_large with load_state_dict.

    load_in_pytorch.py CKPT.onnx IMAGES.npy [ONNXRUNTIME_OUT.npy]

The checkpoint is a plain ONNX model whose initializers keep the PyTorch
names of the exported model's weights (scripts/export_models.py --set
finetune keeps the BatchNorms, prefixes every name with "model."), so the
state dict is the initializers with the prefix removed; strict loading
checks that every weight and BatchNorm statistic is there. The script runs
the model in eval mode on IMAGES ([N,3,H,W] float32) and prints the class
counts of its prediction; given ONNX Runtime's output on the same images, it
prints the largest difference over the largest |output| and exits 1 when
that exceeds 1e-4.
"""
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torchvision


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    model = onnx.load(argv[0])
    state = {}
    for t in model.graph.initializer:
        if t.name.startswith("model."):
            state[t.name[len("model."):]] = torch.from_numpy(onnx.numpy_helper.to_array(t).copy())
    net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)
    # num_batches_tracked is a counter PyTorch keeps and the export drops.
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        print("missing %s, unexpected %s" % (missing[:5], unexpected[:5]), file=sys.stderr)
        return 1
    net.eval()
    torch.backends.mkldnn.enabled = False
    x = torch.from_numpy(np.load(argv[1]))
    with torch.no_grad():
        out = net(x)["out"].numpy()
    counts = np.bincount(out.argmax(1).ravel(), minlength=3)
    print("loaded %d tensors; predicted pixels per class: %s" % (len(state), counts.tolist()))
    if len(argv) == 3:
        ort = np.load(argv[2])
        diff = float(np.max(np.abs(ort - out)) / max(np.max(np.abs(out)), 1e-12))
        print("largest difference from ONNX Runtime's output: %.2g of the largest |output|" % diff)
        if diff > 1e-4:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
