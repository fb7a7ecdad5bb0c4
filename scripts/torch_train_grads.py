#!/usr/bin/python3
"""PyTorch's side of the parameter-gradient tests of `onnxloss append --train`.

    torch_train_grads.py export DIR --model NAME [--opset 17] [--fold 1]
                                    [--batch 2] [--size 64]
    torch_train_grads.py check DIR CASE...

export builds the torchvision model NAME (random weights, every parameter
perturbed so that no two are equal, non-trivial BatchNorm statistics, eval
mode, 3 classes; see perturb), writes DIR/model.onnx (torch.onnx.export at --opset, with
do_constant_folding=--fold), DIR/state.pt (its weights) and DIR/input.npy
(a fixed input of --batch×3×--size×--size).

check reads, for each CASE (a sub-folder of DIR, one per loss),
CASE/output.npy, the model's output as the training graph computed it,
CASE/logits_grad.npy, d loss / d logits as the spliced loss gives it, and
CASE/grads.json, {"names": [...]} naming CASE/grad_<i>.npy, the
training graph's gradient of each ONNX parameter. It rebuilds the model from
DIR/state.pt, with each Conv and its BatchNorm fused the way the exporter
fused them when model.onnx has no BatchNormalization node, runs it on the
input and back-propagates logits_grad with autograd. Each ONNX parameter is
matched to the PyTorch parameter that holds the same values, and the script
prints a JSON object with one entry per CASE: the largest difference of the outputs over the largest
|output|; for each parameter, over the largest |gradient| of that tensor in
float64, the largest difference of the given gradient from PyTorch's float32
gradient (rel) and from its float64 one (rel64), and that of PyTorch's
float32 gradient from its float64 one (torch32); and the names it could not
match.

NAME is one of fcn_resnet50, deeplabv3_mobilenet_v3_large,
lraspp_mobilenet_v3_large (torchvision's), and unet (a small U-Net with
ConvTranspose upsampling and skip connections, written here).
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torchvision
from torch import nn

CLASSES = 3


class UNet(nn.Module):
    """Two levels down, two up with ConvTranspose, skip connections by
    concatenation, BatchNorm and ReLU."""

    def __init__(self, ch=8):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1), nn.ReLU())

        self.enc1, self.enc2, self.mid = block(3, ch), block(ch, 2 * ch), block(2 * ch, 4 * ch)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(4 * ch, 2 * ch, 2, stride=2)
        self.dec2 = block(4 * ch, 2 * ch)
        self.up1 = nn.ConvTranspose2d(2 * ch, ch, 3, stride=2, padding=1, output_padding=1)
        self.dec1 = block(2 * ch, ch)
        self.head = nn.Conv2d(ch, CLASSES, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class Out(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out["out"] if isinstance(out, dict) else out


def build(name):
    seg = torchvision.models.segmentation
    if name == "unet":
        m = UNet()
    else:
        kw = dict(weights=None, weights_backbone=None, num_classes=CLASSES)
        if name != "lraspp_mobilenet_v3_large":
            kw["aux_loss"] = False
        m = getattr(seg, name)(**kw)
    return Out(m)


def perturb(model, name):
    """Perturbs every parameter so that no two hold the same values, and
    gives the BatchNorms non-trivial statistics; a ResNet's BatchNorm scales
    shrink to 0.3 times, which keeps the activations of a deep random ResNet
    in range (MobileNets keep theirs, or their gradients vanish)."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(0.1 * torch.randn(mod.running_mean.shape, generator=g))
                mod.running_var.copy_(1 + 0.5 * torch.rand(mod.running_var.shape, generator=g))
                if name == "fcn_resnet50":
                    mod.weight.mul_(0.3)
    return model.eval()


def export(args):
    torch.manual_seed(0)
    model = perturb(build(args.model), args.model)
    os.makedirs(args.dir, exist_ok=True)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(2))
    np.save(os.path.join(args.dir, "input.npy"), x.numpy())
    torch.save({"model": args.model, "state": model.state_dict()}, os.path.join(args.dir, "state.pt"))
    torch.onnx.export(model, x, os.path.join(args.dir, "model.onnx"), opset_version=args.opset,
                      do_constant_folding=bool(args.fold), input_names=["image"], output_names=["out"],
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "out": {0: "batch", 2: "height", 3: "width"}})


def fuse(module):
    """Fuses every Conv2d directly followed by a BatchNorm2d in a Sequential,
    and the convN/bnN pairs of torchvision's ResNet blocks and stem."""
    for name, child in module.named_children():
        fuse(child)
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv2d) and name.startswith("conv"):
            bn = getattr(module, "bn" + name[4:], None)
            if isinstance(bn, nn.BatchNorm2d):
                setattr(module, name, torch.nn.utils.fusion.fuse_conv_bn_eval(child, bn))
                setattr(module, "bn" + name[4:], nn.Identity())
    if isinstance(module, nn.Sequential):
        keys = list(module._modules.keys())
        for a, b in zip(keys, keys[1:]):
            c, bn = module._modules[a], module._modules[b]
            if isinstance(c, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                module._modules[a] = torch.nn.utils.fusion.fuse_conv_bn_eval(c, bn)
                module._modules[b] = nn.Identity()


def check(args):
    saved = torch.load(os.path.join(args.dir, "state.pt"))
    model = build(saved["model"])
    model.load_state_dict(saved["state"])
    model.eval()
    m = onnx.load(os.path.join(args.dir, "model.onnx"))
    if not any(n.op_type == "BatchNormalization" for n in m.graph.node):
        fuse(model)
    x = torch.from_numpy(np.load(os.path.join(args.dir, "input.npy")))
    # The exact gradient, nearly: the same model in float64. One forward
    # pass each serves every case.
    model64 = copy.deepcopy(model).double()
    out = model(x)
    out64 = model64(x.double())
    params = [(n, p) for n, p in model.named_parameters()]
    params64 = dict(model64.named_parameters())
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    matches = {}
    results = {}
    for case in args.cases:
        cdir = os.path.join(args.dir, case)
        g = torch.from_numpy(np.load(os.path.join(cdir, "logits_grad.npy")))
        model.zero_grad()
        model64.zero_grad()
        out.backward(g, retain_graph=True)
        out64.backward(g.double(), retain_graph=True)
        names = json.load(open(os.path.join(cdir, "grads.json")))["names"]
        result = {"errors": {}, "unmatched": [], "torch_params": len(params)}
        got_out = np.load(os.path.join(cdir, "output.npy"))
        want_out = out.detach().numpy()
        result["output"] = float(np.max(np.abs(got_out - want_out))) / max(float(np.max(np.abs(want_out))), 1e-12)
        for i, name in enumerate(names):
            value = inits[name]
            if name not in matches:
                matches[name] = None
                for pn, p in params:
                    if tuple(p.shape) != value.shape:
                        continue
                    pv = p.detach().numpy()
                    if np.max(np.abs(pv - value), initial=0) <= 1e-5 * max(1.0, np.max(np.abs(pv), initial=0)):
                        matches[name] = (pn, p)
                        break
            match = matches[name]
            if match is None:
                result["unmatched"].append(name)
                continue
            grad64 = params64[match[0]].grad
            want = match[1].grad.numpy() if match[1].grad is not None else np.zeros(value.shape, np.float32)
            want64 = grad64.numpy() if grad64 is not None else np.zeros(value.shape)
            got = np.load(os.path.join(cdir, "grad_%d.npy" % i)).astype(np.float64)
            scale = max(float(np.max(np.abs(want64), initial=0)), 1e-30)
            result["errors"][name] = {
                "torch": match[0],
                "rel": float(np.max(np.abs(got - want), initial=0)) / scale,
                "rel64": float(np.max(np.abs(got - want64), initial=0)) / scale,
                "torch32": float(np.max(np.abs(want - want64), initial=0)) / scale,
                "max": scale}
        results[case] = result
    json.dump(results, sys.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("dir")
    e.add_argument("--model", required=True,
                   choices=["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "unet"])
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--fold", type=int, default=1)
    e.add_argument("--batch", type=int, default=2)
    e.add_argument("--size", type=int, default=64)
    c = sub.add_parser("check")
    c.add_argument("dir")
    c.add_argument("cases", nargs="+", help="sub-folders of DIR, one per loss")
    args = ap.parse_args()
    torch.set_num_threads(2)
    # The reference runs without oneDNN: Debian's PyTorch 1.13 computes the
    # gradients of fcn_resnet50's dilated convolutions with it up to 10%
    # away from float64 autograd, and within 2e-6 without it.
    torch.backends.mkldnn.enabled = False
    export(args) if args.cmd == "export" else check(args)


if __name__ == "__main__":
    main()
