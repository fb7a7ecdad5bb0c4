"""PyTorch fixtures for the cross-entropy family: bce against
F.binary_cross_entropy_with_logits (pos_weight, weight), cross-entropy against
F.cross_entropy (weight, ignore_index, label_smoothing, probability targets),
and sigmoid focal against torchvision.ops.sigmoid_focal_loss, in float32 and,
for the three of them, float16 and bfloat16 inputs.

Cases with a scalar loss also record input_grad, d loss / d input, by
autograd through the same PyTorch function evaluated in float64 (for half
precision inputs in float32 from the rounded values, as the graph computes).
"""
import torch
import torch.nn.functional as F
import torchvision

SET = "cross_entropy"


def logits(*shape, scale=2.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def mask(*shape, p=0.35):
    return (torch.rand(*shape) < p).float()


def make(w):
    # bce ---------------------------------------------------------------
    bce = F.binary_cross_entropy_with_logits
    for reduction in ["mean", "sum", "none"]:
        x, t = logits(2, 1, 5, 6), mask(2, 1, 5, 6)
        w.case("bce binary " + reduction, "bce", {"mode": "binary", "reduction": reduction},
               {"input": x, "target": t}, bce(x, t, reduction=reduction),
               input_grad=None if reduction == "none" else
               w.grad(lambda x: bce(x, t.double(), reduction=reduction), x))
    x, t = logits(2, 1, 4, 4), mask(2, 1, 4, 4)
    pw = torch.tensor([2.5])
    w.case("bce pos_weight", "bce", {"mode": "binary", "pos_weight": "2.5"},
           {"input": x, "target": t},
           bce(x, t, pos_weight=pw.view(1, 1, 1, 1)),
           input_grad=w.grad(lambda x: bce(x, t.double(), pos_weight=pw.double().view(1, 1, 1, 1)), x))
    x, t = logits(3, 3, 4, 5), torch.rand(3, 3, 4, 5)  # soft targets
    pw = torch.tensor([0.5, 1.0, 3.0])
    cw = torch.tensor([1.0, 0.2, 2.0])
    w.case("bce multilabel pos_weight weight soft", "bce",
           {"mode": "multilabel", "pos_weight": "0.5,1,3", "class_weights": "1,0.2,2"},
           {"input": x, "target": t},
           bce(x, t, weight=cw.view(1, 3, 1, 1), pos_weight=pw.view(1, 3, 1, 1)),
           input_grad=w.grad(lambda x: bce(x, t.double(), weight=cw.double().view(1, 3, 1, 1),
                                           pos_weight=pw.double().view(1, 3, 1, 1)), x))
    x, t = logits(2, 2, 3, 4, 5), mask(2, 2, 3, 4, 5)
    w.case("bce multilabel 3d sum", "bce", {"mode": "multilabel", "spatial_dims": "3", "reduction": "sum"},
           {"input": x, "target": t}, bce(x, t, reduction="sum"),
           input_grad=w.grad(lambda x: bce(x, t.double(), reduction="sum"), x))
    x, t = logits(2, 1, 4, 4, scale=1e4), mask(2, 1, 4, 4)
    w.case("bce saturated", "bce", {"mode": "binary"}, {"input": x, "target": t},
           bce(x.double(), t.double()).float(), rtol=1e-6,
           input_grad=w.grad(lambda x: bce(x, t.double()), x))

    # cross-entropy -----------------------------------------------------
    ce = F.cross_entropy
    for reduction in ["mean", "sum", "none"]:
        x, y = logits(2, 4, 5, 6), torch.randint(0, 4, (2, 5, 6))
        w.case("ce " + reduction, "cross-entropy", {"classes": "4", "reduction": reduction},
               {"input": x, "target": y}, ce(x, y, reduction=reduction),
               input_grad=None if reduction == "none" else w.grad(lambda x: ce(x, y, reduction=reduction), x))
    weight = torch.tensor([0.2, 1.0, 2.5, 0.7])
    for reduction in ["mean", "sum", "none"]:
        x, y = logits(3, 4, 4, 5), torch.randint(0, 4, (3, 4, 5))
        y[0, 0, :3] = 255
        y[2, 1, 1] = 255
        w.case("ce weight ignore " + reduction, "cross-entropy",
               {"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "255", "reduction": reduction},
               {"input": x, "target": y},
               ce(x, y, weight=weight, ignore_index=255, reduction=reduction),
               input_grad=None if reduction == "none" else
               w.grad(lambda x: ce(x, y, weight=weight.double(), ignore_index=255, reduction=reduction), x))
    for reduction in ["mean", "sum", "none"]:
        x, y = logits(2, 4, 3, 5), torch.randint(0, 4, (2, 3, 5))
        y[1, 2, :] = 1
        w.case("ce label smoothing weight ignore " + reduction, "cross-entropy",
               {"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "1",
                "label_smoothing": "0.15", "reduction": reduction},
               {"input": x, "target": y},
               ce(x, y, weight=weight, ignore_index=1, label_smoothing=0.15, reduction=reduction),
               input_grad=None if reduction == "none" else
               w.grad(lambda x: ce(x, y, weight=weight.double(), ignore_index=1, label_smoothing=0.15,
                                   reduction=reduction), x))
    x = logits(2, 3, 4, 4)
    p = torch.softmax(logits(2, 3, 4, 4), dim=1)
    w.case("ce probability targets smoothing", "cross-entropy",
           {"classes": "3", "target": "onehot", "label_smoothing": "0.1"},
           {"input": x, "target": p}, ce(x, p, label_smoothing=0.1),
           input_grad=w.grad(lambda x: ce(x, p.double(), label_smoothing=0.1), x))
    x, y = logits(1, 5, 2, 3, 4), torch.randint(0, 5, (1, 2, 3, 4))
    w.case("ce 3d", "cross-entropy", {"classes": "5", "spatial_dims": "3"},
           {"input": x, "target": y}, ce(x, y), input_grad=w.grad(lambda x: ce(x, y), x))
    x, y = logits(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    xh = x.permute(0, 2, 3, 1).contiguous()
    w.case("ce nhwc", "cross-entropy", {"classes": "3", "layout": "nhwc"},
           {"input": xh, "target": y}, ce(x, y),
           input_grad=w.grad(lambda xh: ce(xh.permute(0, 3, 1, 2), y), xh))

    # sigmoid focal -----------------------------------------------------
    focal = torchvision.ops.sigmoid_focal_loss
    for alpha, gamma in [(0.25, 2.0), (-1, 0.5), (0.6, 0.0), (0.25, 1.5)]:
        for reduction in ["mean", "sum", "none"]:
            x, t = logits(2, 1, 4, 5), mask(2, 1, 4, 5)
            opts = {"mode": "binary", "gamma": gamma, "reduction": reduction}
            if alpha >= 0:
                opts["alpha"] = alpha
            w.case("focal alpha %g gamma %g %s" % (alpha, gamma, reduction), "focal", opts,
                   {"input": x, "target": t}, focal(x, t, alpha=alpha, gamma=gamma, reduction=reduction),
                   input_grad=None if reduction == "none" else
                   w.grad(lambda x: focal(x, t.double(), alpha=alpha, gamma=gamma, reduction=reduction), x))
    x, t = logits(2, 3, 4, 4), mask(2, 3, 4, 4)
    w.case("focal multilabel", "focal", {"mode": "multilabel", "alpha": "0.25"},
           {"input": x, "target": t}, focal(x, t, alpha=0.25, gamma=2.0, reduction="mean"),
           input_grad=w.grad(lambda x: focal(x, t.double(), alpha=0.25, gamma=2.0, reduction="mean"), x))

    # half-precision inputs: PyTorch computes in float32 from the rounded
    # values; the graph rounds its float32 gradient to the input's type.
    for dtype, name, grad_rtol in [(torch.float16, "float16", 1e-3), (torch.bfloat16, "bfloat16", 8e-3)]:
        x, t = logits(2, 1, 4, 4).to(dtype), mask(2, 1, 4, 4)
        w.case("bce " + name, "bce", {"mode": "binary", "dtype": name},
               {"input": x.float(), "target": t},
               bce(x.float(), t), input_dtype=name,
               input_grad=w.grad(lambda x: bce(x, t), x, dtype=torch.float32), grad_rtol=grad_rtol)
        x, y = logits(2, 4, 3, 3).to(dtype), torch.randint(0, 4, (2, 3, 3))
        w.case("ce " + name, "cross-entropy", {"classes": "4", "dtype": name, "label_smoothing": "0.1"},
               {"input": x.float(), "target": y},
               ce(x.float(), y, label_smoothing=0.1), input_dtype=name,
               input_grad=w.grad(lambda x: ce(x, y, label_smoothing=0.1), x, dtype=torch.float32),
               grad_rtol=grad_rtol)
        x, t = logits(2, 1, 4, 4).to(dtype), mask(2, 1, 4, 4)
        w.case("focal " + name, "focal", {"mode": "binary", "dtype": name, "alpha": "0.25"},
               {"input": x.float(), "target": t},
               focal(x.float(), t, alpha=0.25, gamma=2.0, reduction="mean"), input_dtype=name,
               input_grad=w.grad(lambda x: focal(x, t, alpha=0.25, gamma=2.0, reduction="mean"), x,
                                 dtype=torch.float32), grad_rtol=grad_rtol)

    # float64 inputs: the graph computes in float64, so loss and gradient
    # agree with PyTorch's float64 autograd to rounding.
    tight = dict(rtol=2e-7, atol=1e-9, grad_rtol=1e-10, grad_atol=1e-13, input_dtype="float64")
    x, t = logits(2, 3, 4, 5).double(), torch.rand(2, 3, 4, 5).double()
    cw = torch.tensor([1.0, 0.2, 2.0], dtype=torch.float64).view(1, 3, 1, 1)
    pw = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64).view(1, 3, 1, 1)
    w.case("bce float64 multilabel pos_weight weight", "bce",
           {"mode": "multilabel", "dtype": "float64", "pos_weight": "0.5,1,3", "class_weights": "1,0.2,2"},
           {"input": x, "target": t}, bce(x, t, weight=cw, pos_weight=pw),
           input_grad=w.grad(lambda x: bce(x, t, weight=cw, pos_weight=pw), x), **tight)
    x, y = logits(3, 4, 4, 5).double(), torch.randint(0, 4, (3, 4, 5))
    y[0, 0, :3] = 255
    y[1, 2, 2] = 255
    weight = torch.tensor([0.2, 1.0, 2.5, 0.7], dtype=torch.float64)  # not float32's 0.2
    w.case("ce float64 weight ignore smoothing", "cross-entropy",
           {"classes": "4", "dtype": "float64", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "255",
            "label_smoothing": "0.05"},
           {"input": x, "target": y}, ce(x, y, weight=weight, ignore_index=255, label_smoothing=0.05),
           input_grad=w.grad(lambda x: ce(x, y, weight=weight, ignore_index=255, label_smoothing=0.05), x),
           **tight)
    x, t = logits(2, 2, 4, 5).double(), mask(2, 2, 4, 5).double()
    w.case("focal float64 multilabel gamma 0.5", "focal",
           {"mode": "multilabel", "dtype": "float64", "alpha": "0.4", "gamma": "0.5"},
           {"input": x, "target": t}, focal(x, t, alpha=0.4, gamma=0.5, reduction="mean"),
           input_grad=w.grad(lambda x: focal(x, t, alpha=0.4, gamma=0.5, reduction="mean"), x), **tight)
