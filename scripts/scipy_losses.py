#!/usr/bin/python3
"""Fixtures for onnxloss's distance losses from the Python libraries' forms.

    scipy_losses.py OUTDIR

writes OUTDIR/scipy_distance/cases.json and .npy files in the layout of
scripts/make_torch_fixtures.py (verify reads both the same way). Each case
computes a loss the way a Python library does, with SciPy's
distance_transform_edt on the host, one image at a time, and PyTorch autograd
for the gradient with respect to the logits (float64 throughout):

  - MONAI HausdorffDTLoss / LogHausdorffDTLoss (sigmoid=True, or
    softmax=True with to_onehot_y=True);
  - kornia HausdorffERLoss / HausdorffERLoss3D, on softmax probabilities;
  - LIVIAETS/boundary-loss SurfaceLoss with one_hot2dist maps;
  - SegLoss's DisPenalizedCE weight map (compute_edts_forPenalizedLoss + 1),
    applied to the cross-entropy;
  - the widely copied unet_weight_map(y, wc, w0, sigma) weighting
    cross-entropy.

The forms are transcribed from those libraries' source (MONAI d388d1c,
kornia's losses/hausdorff.py, LIVIAETS/boundary-loss utils.py and losses.py,
SegLoss losses_pytorch); only their arithmetic is reproduced, not their
packaging. Inputs come from a seeded generator, so every run writes the same
files. The libraries' known defects are avoided by the choice of inputs
(no image whose class fills it for one_hot2dist, no region without interior
for SegLoss's map), and kornia's division by max - min is guarded in the
backward pass only (kornia's gradient is NaN when a slice is flat).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

torch.set_default_dtype(torch.float64)


def edt(mask, sampling=None):
    return ndimage.distance_transform_edt(mask, sampling=sampling)


# MONAI HausdorffDTLoss -------------------------------------------------------

def monai_field(img):
    """distance_field of monai/losses/hausdorff_loss.py on img [B,1,*]."""
    field = np.zeros(img.shape)
    for b in range(img.shape[0]):
        fg = img[b].numpy() > 0.5
        if fg.any() and not fg.all():
            fg_dist = np.stack([edt(fg[c]) for c in range(fg.shape[0])])
            bg_dist = np.stack([edt(~fg[c]) for c in range(fg.shape[0])])
            field[b] = fg_dist + bg_dist
    return torch.from_numpy(field)


def monai_hausdorff(p, t, alpha=2.0, include_background=False, batch=False, reduction="mean", log=False):
    if not include_background and p.shape[1] > 1:
        p, t = p[:, 1:], t[:, 1:]
    parts = []
    for i in range(p.shape[1]):
        pi, ti = p[:, [i]], t[:, [i]]
        pd, td = monai_field(pi.detach()), monai_field(ti.detach())
        f = (pi - ti) ** 2 * (pd ** alpha + td ** alpha)
        axes = list(range(2, p.dim()))
        if batch:
            axes = [0] + axes
        parts.append(f.mean(dim=axes, keepdim=True))
    f = torch.cat(parts, dim=1)
    f = f.mean() if reduction == "mean" else f.sum()
    return torch.log(f + 1) if log else f


# kornia HausdorffERLoss --------------------------------------------------------

def kornia_kernel(dims):
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    if dims == 2:
        return (cross * 0.2)[None, None]
    bound = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    return (torch.stack([bound, cross, bound], 0) / 7)[None, None]


class _GuardedDiv(torch.autograd.Function):
    """(a - lo) / span where span != 0, and a elsewhere, as kornia's
    torch.where(...) computes it, with a backward that does not divide by 0
    in the branch torch.where drops."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        span = hi - lo
        keep = span != 0
        safe = torch.where(keep, span, torch.ones_like(span))
        ctx.save_for_backward(a, lo, safe, keep)
        return torch.where(keep, (a - lo) / safe, a)

    @staticmethod
    def backward(ctx, g):
        a, lo, safe, keep = ctx.saved_tensors
        axes = list(range(2, a.dim()))
        ga = torch.where(keep, g / safe, g)
        gq = torch.where(keep, g, torch.zeros_like(g))
        glo = (gq * (a - safe - lo) / safe ** 2).sum(dim=axes, keepdim=True)  # d/dlo of (a-lo)/(hi-lo)
        ghi = (-gq * (a - lo) / safe ** 2).sum(dim=axes, keepdim=True)
        return ga, glo, ghi


def kornia_er(pred, labels, alpha=2.0, k=10):
    """_HausdorffERLossBase.forward of kornia/losses/hausdorff.py: pred
    probabilities [B,C,*], labels [B,1,*]."""
    dims = pred.dim() - 2
    kernel = kornia_kernel(dims)
    conv = F.conv2d if dims == 2 else F.conv3d
    pool = F.adaptive_max_pool2d if dims == 2 else F.adaptive_max_pool3d
    outs = []
    for i in range(pred.shape[1]):
        p = pred[:, i:i + 1]
        t = (labels == i).to(pred.dtype)
        bound = (p - t) ** 2
        eroded = torch.zeros_like(bound)
        for j in range(k):
            dilation = conv(bound, kernel, padding=1)
            erosion = F.relu(dilation - 0.5)
            hi = pool(erosion, 1)
            lo = -pool(-erosion, 1)
            erosion = _GuardedDiv.apply(erosion, lo, hi)
            eroded = eroded + erosion * (j + 1) ** alpha
            bound = erosion
        outs.append(eroded)
    return torch.stack(outs).mean()


# LIVIAETS/boundary-loss --------------------------------------------------------

def one_hot2dist(seg, resolution=None):
    res = np.zeros(seg.shape)
    for k in range(len(seg)):
        posmask = seg[k].astype(bool)
        if posmask.any():
            negmask = ~posmask
            res[k] = edt(negmask, sampling=resolution) * negmask - (edt(posmask, sampling=resolution) - 1) * posmask
    return res


def surface_loss(probs, dist_maps, idc):
    return (probs[:, idc] * dist_maps[:, idc]).mean()


# SegLoss DisPenalizedCE ---------------------------------------------------------

def segloss_penalty(gt):
    """compute_edts_forPenalizedLoss of SegLoss on a binary gt [B,*]."""
    res = np.zeros(gt.shape)
    for i in range(gt.shape[0]):
        posmask = gt[i]
        negmask = ~posmask
        pos_edt = edt(posmask)
        pos_edt = (np.max(pos_edt) - pos_edt) * posmask
        neg_edt = edt(negmask)
        neg_edt = (np.max(neg_edt) - neg_edt) * negmask
        res[i] = pos_edt / np.max(pos_edt) + neg_edt / np.max(neg_edt)
    return res


# U-Net weight map -------------------------------------------------------------

def unet_weight_map(labels, y, wc, w0=10.0, sigma=5.0):
    """unet_weight_map of one image, given its instance labels."""
    no_labels = labels == 0
    label_ids = sorted(np.unique(labels))[1:]
    if len(label_ids) > 1:
        distances = np.zeros(labels.shape + (len(label_ids),))
        for i, label_id in enumerate(label_ids):
            distances[..., i] = edt(labels != label_id)
        distances = np.sort(distances, axis=-1)
        d1, d2 = distances[..., 0], distances[..., 1]
        w = w0 * np.exp(-1 / 2 * ((d1 + d2) / sigma) ** 2) * no_labels
    else:
        w = np.zeros(labels.shape)
    class_weights = np.zeros(labels.shape)
    for k, v in wc.items():
        class_weights[y == k] = v
    return w + class_weights


# Cases -----------------------------------------------------------------------

class Writer:
    def __init__(self, outdir):
        self.dir = os.path.join(outdir, "scipy_distance")
        os.makedirs(self.dir, exist_ok=True)
        self.cases = []

    def save(self, stem, array):
        path = "%03d_%s.npy" % (len(self.cases), stem)
        np.save(os.path.join(self.dir, path), np.array(array, copy=True, order="C"))
        return path

    def case(self, name, loss, options, inputs, x, value):
        """x is the float64 logits leaf that value was computed from."""
        value.backward()
        grad = x.grad.numpy()
        scale = max(abs(float(value)), float(np.abs(grad).max()))
        entry = {"name": name, "loss": loss, "options": {k: str(v) for k, v in options.items()},
                 "inputs": {}, "rtol": 1e-4, "atol": 1e-5 * scale}
        for key, arr in inputs.items():
            entry["inputs"][key] = self.save(key, arr)
        entry["loss_value"] = self.save("loss", np.array(float(value), dtype=np.float32))
        entry["input_grad"] = self.save("grad", grad.astype(np.float32))
        self.cases.append(entry)

    def close(self):
        doc = {"generator": "scripts/scipy_losses.py", "torch": torch.__version__,
               "scipy": __import__("scipy").__version__, "cases": self.cases}
        with open(os.path.join(self.dir, "cases.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print("wrote %d cases to %s" % (len(self.cases), self.dir))


def blobs(rng, shape, count):
    """A mask of a few random boxes: regions with interiors, not filling
    the image."""
    m = np.zeros(shape, bool)
    for _ in range(count):
        lo = [rng.integers(0, max(1, s - 3)) for s in shape]
        hi = [min(s, l + rng.integers(3, max(4, s // 2 + 1))) for l, s in zip(lo, shape)]
        m[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    return m


def logits(rng, shape):
    x32 = (rng.standard_normal(shape) * 2).astype(np.float32)
    return x32, torch.tensor(x32.astype(np.float64), requires_grad=True)


def make(outdir):
    rng = np.random.default_rng(20240612)
    w = Writer(outdir)

    # MONAI HausdorffDTLoss, sigmoid, multi-channel targets.
    for dims, batch, incl, alpha, log in [((9, 11), False, False, 2.0, False), ((9, 11), True, True, 1.0, False),
                                          ((5, 6, 7), False, True, 2.0, True), ((12, 10), False, False, 2.0, True)]:
        shape = (2, 3) + dims
        x32, x = logits(rng, shape)
        t = np.stack([np.stack([blobs(rng, dims, 2) for _ in range(3)]) for _ in range(2)]).astype(np.float32)
        v = monai_hausdorff(torch.sigmoid(x), torch.tensor(t.astype(np.float64)), alpha, incl, batch, log=log)
        w.case("monai hausdorff sigmoid %s batch=%s bg=%s log=%s" % (dims, batch, incl, log),
               "log-hausdorff-dt" if log else "hausdorff-dt",
               {"mode": "multilabel", "spatial_dims": len(dims), "alpha": alpha, "batch": str(batch).lower(),
                "include_background": str(incl).lower()}, {"input": x32, "target": t}, x, v)
    # MONAI HausdorffDTLoss, softmax with to_onehot_y.
    for dims in [(10, 9), (4, 6, 5)]:
        shape = (2, 4) + dims
        x32, x = logits(rng, shape)
        y = np.zeros((2,) + dims, np.int64)
        for b in range(2):
            for c in (1, 2, 3):
                y[b][blobs(rng, dims, 1)] = c
        onehot = F.one_hot(torch.tensor(y), 4).movedim(-1, 1).double()
        v = monai_hausdorff(torch.softmax(x, 1), onehot)
        w.case("monai hausdorff softmax %s" % (dims,), "hausdorff-dt",
               {"mode": "multiclass", "classes": 4, "spatial_dims": len(dims)}, {"input": x32, "target": y}, x, v)

    # kornia HausdorffERLoss on softmax probabilities and a label map. Random
    # labels under random logits make an error map whose erosion dies after
    # the first step, where alpha no longer matters; the shifted cases are
    # predictions of blobs that miss by two pixels, whose error bands survive
    # every erosion.
    for dims, alpha, k, shifted in [((8, 9), 2.0, 10, False), ((9, 7), 1.5, 4, True), ((5, 6, 4), 2.0, 3, True),
                                    ((12, 13), 2.5, 6, True)]:
        shape = (2, 3) + dims
        if shifted:
            y = np.zeros((2,) + dims, np.int64)
            for b in range(2):
                y[b][blobs(rng, dims, 2)] = 1
                y[b][blobs(rng, dims, 1)] = 2
            near = np.moveaxis(np.eye(3)[np.roll(y, 2, axis=1)], -1, 1)
            x32 = (3 * near + rng.standard_normal(shape)).astype(np.float32)
            x = torch.tensor(x32.astype(np.float64), requires_grad=True)
        else:
            x32, x = logits(rng, shape)
            y = rng.integers(0, 3, (2,) + dims)
        v = kornia_er(torch.softmax(x, 1), torch.tensor(y)[:, None], alpha, k)
        w.case("kornia hausdorff-er %s alpha=%g k=%d shifted=%s" % (dims, alpha, k, shifted), "hausdorff-er",
               {"preset": "kornia", "from_logits": "true", "classes": 3, "spatial_dims": len(dims), "alpha": alpha,
                "erosions": k}, {"input": x32, "target": y}, x, v)

    # Boundary loss (Kervadec) with one_hot2dist maps, classes >= 1.
    for dims, resolution in [((10, 12), None), ((11, 9), (2.0, 0.5)), ((5, 6, 7), (1.0, 1.5, 2.0))]:
        shape = (2, 3) + dims
        x32, x = logits(rng, shape)
        y = np.zeros((2,) + dims, np.int64)
        for b in range(2):
            y[b][blobs(rng, dims, 2)] = 1
            y[b][blobs(rng, dims, 1)] = 2
        onehot = np.moveaxis(np.eye(3)[y], -1, 1)
        dist = torch.tensor(np.stack([one_hot2dist(onehot[b], resolution) for b in range(2)]))
        v = surface_loss(torch.softmax(x, 1), dist, [1, 2])
        opts = {"preset": "kervadec", "classes": 3, "spatial_dims": len(dims)}
        if resolution:
            opts["spacing"] = ",".join("%g" % r for r in resolution)
        w.case("boundary one_hot2dist %s resolution=%s" % (dims, resolution), "boundary", opts,
               {"input": x32, "target": y}, x, v)

    # SegLoss DisPenalizedCE weights on a two-class softmax cross-entropy.
    for dims in [(10, 11), (6, 5, 7)]:
        shape = (2, 2) + dims
        x32, x = logits(rng, shape)
        gt = np.stack([blobs(rng, dims, 2) for _ in range(2)])
        y = gt.astype(np.int64)
        dist = torch.tensor(segloss_penalty(gt) + 1.0)
        v = (F.cross_entropy(x, torch.tensor(y), reduction="none") * dist).mean()
        w.case("segloss dispenalizedce %s" % (dims,), "distance-penalized-ce",
               {"preset": "segloss", "spatial_dims": len(dims)}, {"input": x32, "target": y}, x, v)

    # U-Net weight map from connected components, class weights wc.
    for dims, w0, sigma, wc in [((16, 15), 10.0, 5.0, {0: 1.0, 1: 2.0}), ((12, 14), 5.0, 2.0, {0: 0.5, 1: 1.0}),
                                ((6, 7, 8), 10.0, 3.0, {0: 1.0, 1: 1.0})]:
        shape = (2, 2) + dims
        x32, x = logits(rng, shape)
        y = np.stack([blobs(rng, dims, 4) for _ in range(2)]).astype(np.int64)
        inst = np.stack([ndimage.label(y[b])[0] for b in range(2)]).astype(np.int64)
        wm = torch.tensor(np.stack([unet_weight_map(inst[b], y[b], wc, w0, sigma) for b in range(2)]))
        v = (F.cross_entropy(x, torch.tensor(y), reduction="none") * wm).mean()
        w.case("unet weight map %s w0=%g sigma=%g" % (dims, w0, sigma), "unet-weight-map",
               {"mode": "multiclass", "classes": 2, "spatial_dims": len(dims), "w0": w0, "sigma": sigma,
                "class_weights": "%g,%g" % (wc[0], wc[1]), "max_instances": max(2, int(inst.max()))},
               {"input": x32, "target": y, "instances": inst}, x, v)
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    make(sys.argv[1])
