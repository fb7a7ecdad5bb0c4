"""Writes fixtures from the released loss functions of segmentation_models_pytorch,
MONAI and kornia, for the onnxloss options (a --preset plus the library's own
arguments) that must reproduce them.

Unlike scripts/make_torch_fixtures.py, which writes each library's formula
again in Debian's torch, this script imports the libraries themselves, at the
versions pinned in scripts/requirements/peers.txt, and calls their loss classes
and functions. It runs with the peers environment's python:

    $(scripts/venv.sh peers) scripts/make_peer_fixtures.py testdata/peers [LIBRARY...]

Each library gets OUTDIR/<library>/cases.json and .npy files in the layout of
the PyTorch fixtures (verify/torch_test.go reads both), plus the library's
name and version and torch's version, which verify/peers_test.go checks
against the pins. Every case is the float64 judge: the library's loss in
float64 on float32 inputs, and its input gradient by autograd in float64.
"""
import importlib.util
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("make_torch_fixtures", os.path.join(HERE, "make_torch_fixtures.py"))
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)


class PeerWriter(_base.Writer):
    """A Writer whose cases.json also names the library and its version."""

    def __init__(self, outdir, library, version):
        super().__init__(outdir, library)
        self.library, self.version = library, version

    def peer(self, name, loss, options, inputs, fn, rtol=1e-5, atol=1e-6, dtype=torch.float64, **kw):
        """Records fn(input) in float64 and its input gradient by autograd.
        fn receives the input as a float64 tensor that requires grad; inputs
        holds the arrays the graph gets (input float32 unless input_dtype).
        dtype float32 is for the few functions that refuse float64."""
        x = inputs["input"]
        g = self.grad(fn, x, dtype=dtype)
        with torch.no_grad():
            value = fn(_base.to_tensor(x).to(dtype))
        if kw.get("input_dtype") == "float64":
            kw.setdefault("grad_rtol", 1e-10)
            kw.setdefault("grad_atol", 1e-13)
        self.case(name, loss, options, inputs, value, input_grad=g, rtol=rtol, atol=atol, **kw)

    def close(self):
        doc = {
            "generator": "scripts/make_peer_fixtures.py",
            "library": self.library,
            "version": self.version,
            "torch": torch.__version__,
            "cases": self.cases,
        }
        with open(os.path.join(self.dir, "cases.json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")


def logits(*shape, scale=2.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def mask(*shape, p=0.35):
    return (torch.rand(*shape) < p).float()


def labels(c, *shape):
    return torch.randint(0, c, shape)


def onehot(y, c):
    """[N,*] labels -> [N,C,*] float32 one-hot."""
    return F.one_hot(y, c).movedim(-1, 1).float()


# ---------------------------------------------------------------------------
# segmentation_models_pytorch (segmentation_models_pytorch/losses/*.py)


def make_smp(w):
    from segmentation_models_pytorch import losses as L

    region = [("dice", L.DiceLoss, {}), ("jaccard", L.JaccardLoss, {}), ("tversky", L.TverskyLoss, {})]
    for loss, cls, _ in region:
        x, t = logits(3, 1, 5, 6), mask(3, 1, 5, 6)
        w.peer("smp %s binary" % loss, loss, {"preset": "smp", "mode": "binary"},
               {"input": x, "target": t}, lambda x: cls("binary")(x, t.double()))
        x, t = logits(2, 3, 4, 5), torch.rand(2, 3, 4, 5)  # soft labels: the L1 intersection matters
        w.peer("smp %s multilabel soft" % loss, loss, {"preset": "smp", "mode": "multilabel"},
               {"input": x, "target": t}, lambda x: cls("multilabel")(x, t.double()))
        x, y = logits(2, 4, 5, 5), labels(3, 2, 5, 5)  # class 3 absent: loss 0, still counted
        w.peer("smp %s multiclass absent class" % loss, loss, {"preset": "smp", "mode": "multiclass", "classes": "4"},
               {"input": x, "target": y}, lambda x: cls("multiclass")(x, y))
        y = y.clone()
        y[0, 0, :] = 255
        y[1, 2:4, 1] = 255
        w.peer("smp %s multiclass ignore" % loss, loss,
               {"preset": "smp", "mode": "multiclass", "classes": "4", "ignore_index": "255"},
               {"input": x, "target": y}, lambda x: cls("multiclass", ignore_index=255)(x, y))
    x, y = logits(2, 3, 4, 6), labels(3, 2, 4, 6)
    w.peer("smp dice smooth 1 log_loss", "dice",
           {"preset": "smp", "mode": "multiclass", "classes": "3", "smooth_nr": "2", "smooth_dr": "2", "log_loss": "true"},
           {"input": x, "target": y}, lambda x: L.DiceLoss("multiclass", smooth=1.0, log_loss=True)(x, y))
    w.peer("smp jaccard smooth 1", "jaccard",
           {"preset": "smp", "mode": "multiclass", "classes": "3", "smooth_nr": "1", "smooth_dr": "1"},
           {"input": x, "target": y}, lambda x: L.JaccardLoss("multiclass", smooth=1.0)(x, y))
    w.peer("smp dice class weights", "dice",
           {"preset": "smp", "mode": "multiclass", "class_weights": "0.2,1,3"},
           {"input": x, "target": y}, lambda x: L.DiceLoss("multiclass", class_weights=[0.2, 1.0, 3.0])(x, y))
    x, t = logits(2, 2, 4, 4), mask(2, 2, 4, 4)
    t[:, 1] = 0  # an empty channel: zeroed
    w.peer("smp tversky multilabel alpha beta empty channel", "tversky",
           {"preset": "smp", "mode": "multilabel", "alpha": "0.3", "beta": "0.7"},
           {"input": x, "target": t}, lambda x: L.TverskyLoss("multilabel", alpha=0.3, beta=0.7)(x, t.double()))
    x, t = logits(2, 1, 3, 4, 5), mask(2, 1, 3, 4, 5)
    w.peer("smp dice binary 3d", "dice", {"preset": "smp", "mode": "binary", "spatial_dims": "3"},
           {"input": x, "target": t}, lambda x: L.DiceLoss("binary")(x, t.double()))
    x, y = logits(2, 3, 5, 4), labels(3, 2, 5, 4)
    w.peer("smp jaccard multiclass nhwc", "jaccard", {"preset": "smp", "mode": "multiclass", "layout": "nhwc"},
           {"input": x.permute(0, 2, 3, 1).contiguous(), "target": y},
           lambda xh: L.JaccardLoss("multiclass")(xh.permute(0, 3, 1, 2), y))

    # FocalLoss: sigmoid focal per channel; multiclass compares each channel
    # with a one-hot target, which is onnxloss's multilabel mode.
    x, t = logits(3, 1, 5, 6), mask(3, 1, 5, 6)
    w.peer("smp focal binary", "focal", {"preset": "smp", "mode": "binary"},
           {"input": x, "target": t}, lambda x: L.FocalLoss("binary")(x, t.double()))
    w.peer("smp focal binary alpha gamma", "focal", {"preset": "smp", "mode": "binary", "alpha": "0.25", "gamma": "1.5"},
           {"input": x, "target": t}, lambda x: L.FocalLoss("binary", alpha=0.25, gamma=1.5)(x, t.double()))
    x, t = logits(2, 3, 4, 5), mask(2, 3, 4, 5)
    w.peer("smp focal multilabel", "focal", {"preset": "smp", "mode": "multilabel"},
           {"input": x, "target": t}, lambda x: L.FocalLoss("multilabel")(x, t.double()))
    x, y = logits(2, 4, 5, 5), labels(4, 2, 5, 5)
    w.peer("smp focal multiclass", "focal", {"preset": "smp", "mode": "multilabel"},
           {"input": x, "target": onehot(y, 4)}, lambda x: L.FocalLoss("multiclass")(x, y))

    # SoftBCEWithLogitsLoss (ignore_index -100 by default, mean over every entry).
    x, t = logits(2, 1, 5, 6), mask(2, 1, 5, 6)
    w.peer("smp soft bce binary", "bce", {"preset": "smp", "mode": "binary"},
           {"input": x, "target": t}, lambda x: L.SoftBCEWithLogitsLoss()(x, t.double()))
    w.peer("smp soft bce smooth factor", "bce", {"preset": "smp", "mode": "binary", "label_smoothing": "0.1"},
           {"input": x, "target": t}, lambda x: L.SoftBCEWithLogitsLoss(smooth_factor=0.1)(x, t.double()))
    t2 = t.clone()
    t2[0, 0, 1, :] = -100
    w.peer("smp soft bce ignore", "bce", {"preset": "smp", "mode": "binary"},
           {"input": x, "target": t2}, lambda x: L.SoftBCEWithLogitsLoss()(x, t2.double()))
    x, t = logits(2, 3, 4, 5), mask(2, 3, 4, 5)
    w.peer("smp soft bce multilabel pos_weight", "bce", {"preset": "smp", "mode": "multilabel", "pos_weight": "0.5,1,3"},
           {"input": x, "target": t},
           lambda x: L.SoftBCEWithLogitsLoss(pos_weight=torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64).view(1, 3, 1, 1))(x, t.double()))

    # SoftCrossEntropyLoss(smooth_factor): no ignored pixels (smp's mean counts them).
    x, y = logits(2, 4, 5, 6), labels(4, 2, 5, 6)
    for s in (0.0, 0.1):
        w.peer("smp soft ce smooth %g" % s, "cross-entropy", {"preset": "smp", "classes": "4", "label_smoothing": str(s)},
               {"input": x, "target": y}, lambda x: L.SoftCrossEntropyLoss(smooth_factor=s)(x, y))

    # LovaszLoss: softmax for multiclass, hinge for binary; multilabel pools
    # every channel into one binary problem (onnxloss channels joint).
    x, y = logits(2, 4, 5, 6), labels(4, 2, 5, 6)
    y[0, 1, :] = 255
    for per_image in (False, True):
        w.peer("smp lovasz multiclass per_image=%s" % per_image, "lovasz-softmax",
               {"mode": "multiclass", "classes": "4", "ignore_index": "255", "per_image": str(per_image).lower()},
               {"input": x, "target": y}, lambda x: L.LovaszLoss("multiclass", per_image=per_image, ignore_index=255)(x, y),
               dtype=torch.float32)  # smp's Lovász gradient weights are float32 whatever the input
        xb, tb = logits(3, 1, 4, 5), mask(3, 1, 4, 5)
        w.peer("smp lovasz binary per_image=%s" % per_image, "lovasz-hinge",
               {"mode": "binary", "per_image": str(per_image).lower()},
               {"input": xb, "target": tb}, lambda x: L.LovaszLoss("binary", per_image=per_image)(x, tb), dtype=torch.float32)
    xm, tm = logits(2, 3, 4, 4), mask(2, 3, 4, 4)
    w.peer("smp lovasz multilabel", "lovasz-hinge", {"mode": "multilabel", "channels": "joint"},
           {"input": xm, "target": tm}, lambda x: L.LovaszLoss("multilabel")(x, tm), dtype=torch.float32)

    # MCCLoss: probabilities, one score over the whole batch.
    p, t = torch.rand(3, 1, 5, 6), mask(3, 1, 5, 6)
    w.peer("smp mcc", "mcc", {"mode": "binary", "from_logits": "false", "per_image": "false", "eps": "1e-5"},
           {"input": p, "target": t}, lambda p: L.MCCLoss()(p, t.double()))

    # float64 input: held to float64 rounding.
    x, y = logits(2, 5, 4, 6), labels(5, 2, 4, 6)
    w.peer("smp dice multiclass float64", "dice", {"preset": "smp", "mode": "multiclass", "classes": "5", "dtype": "float64"},
           {"input": x.double(), "target": y}, lambda x: L.DiceLoss("multiclass")(x, y),
           rtol=2e-7, atol=1e-9, input_dtype="float64")

    x, t = logits(3, 1, 5, 6), mask(3, 1, 5, 6)
    t[1, 0, 2:4, :] = -1
    w.peer("smp focal binary ignore", "focal", {"preset": "smp", "mode": "binary", "ignore_index": "-1"},
           {"input": x, "target": t}, lambda x: L.FocalLoss("binary", ignore_index=-1)(x, t.double()))
    x, y = logits(2, 4, 5, 5), labels(4, 2, 5, 5)
    # smp divides by the sum of the class weights, onnxloss by the number of
    # classes: the same number for weights that sum to C.
    w.peer("smp focal multiclass class weights summing to C", "focal",
           {"preset": "smp", "mode": "multilabel", "class_weights": "0.5,1,2,0.5"},
           {"input": x, "target": onehot(y, 4)},
           lambda x: L.FocalLoss("multiclass", class_weights=[0.5, 1.0, 2.0, 0.5])(x, y))
    x, t = logits(2, 2, 4, 5), torch.rand(2, 2, 4, 5)
    w.peer("smp tversky smooth 1 soft", "tversky",
           {"preset": "smp", "mode": "multilabel", "alpha": "0.3", "beta": "0.7", "smooth_nr": "1", "smooth_dr": "1"},
           {"input": x, "target": t}, lambda x: L.TverskyLoss("multilabel", alpha=0.3, beta=0.7, smooth=1.0)(x, t.double()))
    w.peer("smp dice probabilities", "dice", {"preset": "smp", "mode": "multilabel", "from_logits": "false"},
           {"input": torch.sigmoid(x), "target": t}, lambda p: L.DiceLoss("multilabel", from_logits=False)(p, t.double()))


# ---------------------------------------------------------------------------
# MONAI (monai/losses/{dice,tversky,focal_loss,hausdorff_loss}.py)

MONAI_SOFTMAX = dict(softmax=True, to_onehot_y=True)


def make_monai(w):
    from monai import losses as L

    x, y = logits(3, 4, 5, 6), labels(4, 3, 5, 6)
    y1 = y.unsqueeze(1)
    mc = {"preset": "monai", "mode": "multiclass", "classes": "4"}
    w.peer("monai dice softmax", "dice", mc, {"input": x, "target": y},
           lambda x: L.DiceLoss(**MONAI_SOFTMAX)(x, y1))
    w.peer("monai jaccard softmax", "jaccard", mc, {"input": x, "target": y},
           lambda x: L.DiceLoss(jaccard=True, **MONAI_SOFTMAX)(x, y1))
    w.peer("monai tversky softmax", "tversky", mc, {"input": x, "target": y},
           lambda x: L.TverskyLoss(**MONAI_SOFTMAX)(x, y1))
    w.peer("monai tversky alpha beta no background", "tversky",
           dict(mc, alpha="0.3", beta="0.7", include_background="false"), {"input": x, "target": y},
           lambda x: L.TverskyLoss(alpha=0.3, beta=0.7, include_background=False, **MONAI_SOFTMAX)(x, y1))
    w.peer("monai dice batch squared", "dice", dict(mc, per_image="false", squared="true"), {"input": x, "target": y},
           lambda x: L.DiceLoss(squared_pred=True, batch=True, **MONAI_SOFTMAX)(x, y1))
    w.peer("monai dice weight no background", "dice", dict(mc, include_background="false", class_weights="9,1,2,0.5"),
           {"input": x, "target": y},
           lambda x: L.DiceLoss(include_background=False, weight=[1.0, 2.0, 0.5], **MONAI_SOFTMAX)(x, y1))
    w.peer("monai dice-ce softmax", "dice-ce", mc, {"input": x, "target": y},
           lambda x: L.DiceCELoss(**MONAI_SOFTMAX)(x, y1))
    w.peer("monai dice-ce lambdas", "dice-ce", dict(mc, lambda_dice="0.3", lambda_ce="1.7"), {"input": x, "target": y},
           lambda x: L.DiceCELoss(lambda_dice=0.3, lambda_ce=1.7, **MONAI_SOFTMAX)(x, y1))
    w.peer("monai generalized dice softmax", "generalized-dice", {"preset": "monai", "mode": "multiclass", "classes": "4"},
           {"input": x, "target": y}, lambda x: L.GeneralizedDiceLoss(**MONAI_SOFTMAX)(x, y1))
    w.peer("monai hausdorff-dt softmax", "hausdorff-dt", mc, {"input": x, "target": y},
           lambda x: L.HausdorffDTLoss(**MONAI_SOFTMAX)(x, y1))
    w.peer("monai log-hausdorff-dt softmax", "log-hausdorff-dt", mc, {"input": x, "target": y},
           lambda x: L.LogHausdorffDTLoss(**MONAI_SOFTMAX)(x, y1))

    x, t = logits(2, 3, 4, 5), mask(2, 3, 4, 5)
    t64 = t.double()
    ml = {"preset": "monai", "mode": "multilabel"}
    w.peer("monai dice sigmoid multilabel", "dice", ml, {"input": x, "target": t},
           lambda x: L.DiceLoss(sigmoid=True)(x, t64))
    w.peer("monai jaccard sigmoid multilabel", "jaccard", ml, {"input": x, "target": t},
           lambda x: L.DiceLoss(sigmoid=True, jaccard=True)(x, t64))
    w.peer("monai focal sigmoid multilabel", "focal", ml, {"input": x, "target": t},
           lambda x: L.FocalLoss()(x, t64))
    w.peer("monai focal gamma alpha", "focal", dict(ml, gamma="1.5", alpha="0.25"), {"input": x, "target": t},
           lambda x: L.FocalLoss(gamma=1.5, alpha=0.25)(x, t64))
    w.peer("monai dice-focal sigmoid multilabel", "dice-focal", {"mode": "multilabel"}, {"input": x, "target": t},
           lambda x: L.DiceFocalLoss(sigmoid=True)(x, t64))
    w.peer("monai hausdorff-dt sigmoid multilabel", "hausdorff-dt", ml, {"input": x, "target": t},
           lambda x: L.HausdorffDTLoss(sigmoid=True)(x, t64))
    p, t = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    w.peer("monai dice no activation soft_label", "dice",
           dict(ml, from_logits="false", intersection="l1"), {"input": p, "target": t},
           lambda p: L.DiceLoss(soft_label=True)(p, t.double()))
    x, t = logits(2, 1, 3, 4, 5), mask(2, 1, 3, 4, 5)
    w.peer("monai dice sigmoid binary 3d", "dice", {"preset": "monai", "mode": "binary", "spatial_dims": "3"},
           {"input": x, "target": t}, lambda x: L.DiceLoss(sigmoid=True)(x, t.double()))
    x, t = logits(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    x[1] = -1e4  # sample 1: empty target, empty prediction
    w.peer("monai dice empty target", "dice", {"preset": "monai", "mode": "binary"},
           {"input": x, "target": t}, lambda x: L.DiceLoss(sigmoid=True)(x, t.double()))
    x, t = torch.full((2, 1, 4, 4), -12.0), torch.zeros(2, 1, 4, 4)
    t[0, 0, 1, 1] = 1
    for loss, fn in [("dice", lambda: L.DiceLoss(sigmoid=True)), ("jaccard", lambda: L.DiceLoss(sigmoid=True, jaccard=True)),
                     ("tversky", lambda: L.TverskyLoss(sigmoid=True))]:
        w.peer("monai %s near empty" % loss, loss, {"preset": "monai", "mode": "binary"},
               {"input": x, "target": t}, lambda x: fn()(x, t.double()))

    x, y = logits(2, 6, 4, 5), labels(6, 2, 4, 5)
    w.peer("monai dice softmax float64", "dice", {"preset": "monai", "mode": "multiclass", "classes": "6", "dtype": "float64"},
           {"input": x.double(), "target": y}, lambda x: L.DiceLoss(**MONAI_SOFTMAX)(x, y.unsqueeze(1)),
           rtol=2e-7, atol=1e-9, input_dtype="float64")

    xb, tb = logits(2, 1, 5, 6), mask(2, 1, 5, 6)
    w.peer("monai dice-ce sigmoid binary", "dice-ce", {"preset": "monai", "mode": "binary"},
           {"input": xb, "target": tb}, lambda x: L.DiceCELoss(sigmoid=True)(x, tb.double()))
    x, t = logits(2, 3, 6, 5), mask(2, 3, 6, 5)
    w.peer("monai generalized dice sigmoid multilabel", "generalized-dice", {"preset": "monai", "mode": "multilabel"},
           {"input": x, "target": t}, lambda x: L.GeneralizedDiceLoss(sigmoid=True)(x, t.double()))
    w.peer("monai log-hausdorff-dt sigmoid multilabel", "log-hausdorff-dt", {"preset": "monai", "mode": "multilabel"},
           {"input": x, "target": t}, lambda x: L.LogHausdorffDTLoss(sigmoid=True)(x, t.double()))
    x, y = logits(2, 4, 5, 6), labels(4, 2, 5, 6)
    w.peer("monai generalized dice batch", "generalized-dice", {"preset": "monai", "mode": "multiclass", "classes": "4", "per_image": "false"},
           {"input": x, "target": y}, lambda x: L.GeneralizedDiceLoss(batch=True, **MONAI_SOFTMAX)(x, y.unsqueeze(1)))


# ---------------------------------------------------------------------------
# kornia (kornia/losses/*.py)


def make_kornia(w):
    from kornia import losses as L

    x, y = logits(3, 4, 5, 6), labels(4, 3, 5, 6)
    y[1][y[1] == 3] = 2  # class 3 absent from sample 1
    mc = {"preset": "kornia", "mode": "multiclass", "classes": "4"}
    w.peer("kornia dice micro", "dice", mc, {"input": x, "target": y}, lambda x: L.dice_loss(x, y))
    w.peer("kornia dice macro", "dice", dict(mc, average="macro"), {"input": x, "target": y},
           lambda x: L.dice_loss(x, y, average="macro"))
    y2 = y.clone()
    y2[0, :2, :] = -100
    y2[2, 4, 5] = -100
    w.peer("kornia dice ignore", "dice", mc, {"input": x, "target": y2}, lambda x: L.dice_loss(x, y2))
    w.peer("kornia dice macro ignore", "dice", dict(mc, average="macro"), {"input": x, "target": y2},
           lambda x: L.dice_loss(x, y2, average="macro"))
    wt = [0.5, 2.0, 1.0, 0.25]
    w.peer("kornia dice macro weight", "dice", dict(mc, average="macro", class_weights="0.5,2,1,0.25"),
           {"input": x, "target": y}, lambda x: L.dice_loss(x, y, average="macro", weight=torch.tensor(wt, dtype=torch.float64)))
    w.peer("kornia tversky", "tversky", dict(mc, alpha="0.3", beta="0.7"), {"input": x, "target": y},
           lambda x: L.tversky_loss(x, y, 0.3, 0.7))
    w.peer("kornia tversky ignore", "tversky", dict(mc, alpha="0.8", beta="0.4"), {"input": x, "target": y2},
           lambda x: L.tversky_loss(x, y2, 0.8, 0.4))
    # kornia's mean is over every entry of [N,C,*] (the preset's mean_of
    # entries), ignored ones included.
    w.peer("kornia focal multiclass", "focal", dict(mc, alpha="0.25", reduction="mean"), {"input": x, "target": y},
           lambda x: L.focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean"))
    xb, tb = logits(2, 1, 5, 6), mask(2, 1, 5, 6)
    w.peer("kornia binary focal", "focal", {"preset": "kornia", "mode": "binary", "alpha": "0.25", "reduction": "mean"},
           {"input": xb, "target": tb},
           lambda x: L.binary_focal_loss_with_logits(x, tb.double(), alpha=0.25, gamma=2.0, reduction="mean"))
    xl, yl = logits(2, 3, 5, 6), labels(3, 2, 5, 6)
    yl[0][yl[0] == 2] = 1  # class 2 absent from sample 0: enters with its largest probability
    w.peer("kornia lovasz softmax", "lovasz-softmax",
           {"mode": "multiclass", "classes": "3", "class_set": "all", "per_image": "true"},
           {"input": xl, "target": yl}, lambda x: L.lovasz_softmax_loss(x, yl))
    w.peer("kornia lovasz hinge", "lovasz-hinge", {"mode": "binary", "per_image": "true"},
           {"input": xb, "target": tb}, lambda x: L.lovasz_hinge_loss(x, tb.squeeze(1).double()))
    xs, ts = logits(2, 1, 16, 16), mask(2, 1, 16, 16, p=0.5)
    w.peer("kornia ssim", "ssim", {"mode": "binary", "padding": "reflect", "dssim": "true", "win_size": "11"},
           {"input": xs, "target": ts}, lambda x: L.ssim_loss(torch.sigmoid(x), ts.double(), 11))
    ph, yh = torch.softmax(logits(2, 3, 12, 12), 1), labels(3, 2, 12, 12)  # probabilities, as kornia takes them
    w.peer("kornia hausdorff-er", "hausdorff-er", {"preset": "kornia", "mode": "multiclass", "classes": "3"},
           {"input": ph, "target": yh}, lambda p: L.HausdorffERLoss()(p, yh.unsqueeze(1)))

    x8, y8 = logits(2, 8, 4, 5), labels(8, 2, 4, 5)
    w.peer("kornia dice micro float64", "dice", dict(mc, classes="8", dtype="float64"),
           {"input": x8.double(), "target": y8}, lambda x: L.dice_loss(x, y8), rtol=2e-7, atol=1e-9, input_dtype="float64")

    # Inputs where kornia's earlier defects would show (verify/kornia_test.go):
    # before 0.9 its Lovász-Softmax sorted class ids instead of each class's
    # foreground, which an all-wrong prediction exposes; and its Tversky loss
    # was micro-averaged, so swapping α and β changed nothing.
    yw = torch.tensor([[[0, 0, 1, 1, 2, 2]]])
    xw = onehot((yw + 1) % 3, 3) * 8.0  # every pixel confidently one class off
    w.peer("kornia lovasz softmax all wrong", "lovasz-softmax",
           {"mode": "multiclass", "classes": "3", "class_set": "all", "per_image": "true"},
           {"input": xw, "target": yw}, lambda x: L.lovasz_softmax_loss(x, yw))
    xt, yt = logits(2, 3, 5, 6), labels(3, 2, 5, 6)
    for a, b in ((0.2, 0.8), (0.8, 0.2)):
        w.peer("kornia tversky alpha %g beta %g" % (a, b), "tversky", dict(mc, classes="3", alpha=str(a), beta=str(b)),
               {"input": xt, "target": yt}, lambda x: L.tversky_loss(x, yt, a, b))

    # Ignored pixels are 0 in kornia's focal map and still count in its mean
    # (the preset's mean_over all).
    yi = yt.clone()
    yi[0, 1:3, :] = -100
    w.peer("kornia focal multiclass ignore", "focal", dict(mc, classes="3", alpha="0.4", gamma="1.5", reduction="mean"),
           {"input": xt, "target": yi},
           lambda x: L.focal_loss(x, yi, alpha=0.4, gamma=1.5, reduction="mean"))


LIBRARIES = {
    "smp": ("segmentation_models_pytorch", make_smp),
    "monai": ("monai", make_monai),
    "kornia": ("kornia", make_kornia),
}


def main(argv):
    if len(argv) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir, only = argv[0], set(argv[1:])
    for name, (module, make) in LIBRARIES.items():
        if only and name not in only:
            continue
        version = importlib.import_module(module).__version__
        torch.manual_seed(0)
        w = PeerWriter(outdir, name, version)
        make(w)
        w.close()
        print("%s %s: %d cases" % (module, version, len(w.cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
