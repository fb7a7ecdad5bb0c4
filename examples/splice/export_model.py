#!/usr/bin/python3
"""Exports torchvision's LR-ASPP (MobileNetV3-Large backbone, 3 classes,
random weights) to ONNX the way a user does before `onnxloss append`, and
writes a batch to try the spliced model on.

Usage: export_model.py OUTDIR

OUTDIR receives:
  model.onnx   the model: input "image" [batch, 3, height, width], output
               "out" [batch, 3, height, width] (logits), opset 17
  image.npy    a float32 batch of 2 images of 3x96x128
  target.npy   int64 labels [2, 96, 128] in 0..2, a border of 255 (ignored)
and prints, as JSON, PyTorch's cross-entropy (ignore_index=255) of the model's
output on that batch.
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=3).eval()
    image = torch.rand(2, 3, 96, 128)
    target = torch.randint(0, 3, (2, 96, 128))
    target[:, :4, :] = 255
    target[:, :, :4] = 255

    class Logits(torch.nn.Module):
        """torchvision's segmentation models return a dict; export its "out"."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)["out"]

    wrapped = Logits(model).eval()
    torch.onnx.export(
        wrapped, image, f"{out}/model.onnx", opset_version=17,
        input_names=["image"], output_names=["out"],
        dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                      "out": {0: "batch", 2: "height", 3: "width"}})
    np.save(f"{out}/image.npy", image.numpy())
    np.save(f"{out}/target.npy", target.numpy())
    with torch.no_grad():
        logits = wrapped(image)
        loss = F.cross_entropy(logits, target, ignore_index=255)
    print(json.dumps({"torch_cross_entropy": float(loss)}))


if __name__ == "__main__":
    main()
