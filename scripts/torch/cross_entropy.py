"""PyTorch fixtures for the cross-entropy family: bce against
F.binary_cross_entropy_with_logits (pos_weight, weight), cross-entropy against
F.cross_entropy (weight, ignore_index, label_smoothing, probability targets),
and sigmoid focal against torchvision.ops.sigmoid_focal_loss, in float32 and,
for the three of them, float16 and bfloat16 inputs."""
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
    for reduction in ["mean", "sum", "none"]:
        x, t = logits(2, 1, 5, 6), mask(2, 1, 5, 6)
        w.case("bce binary " + reduction, "bce", {"mode": "binary", "reduction": reduction},
               {"input": x, "target": t},
               F.binary_cross_entropy_with_logits(x, t, reduction=reduction))
    x, t = logits(2, 1, 4, 4), mask(2, 1, 4, 4)
    pw = torch.tensor([2.5])
    w.case("bce pos_weight", "bce", {"mode": "binary", "pos_weight": "2.5"},
           {"input": x, "target": t},
           F.binary_cross_entropy_with_logits(x, t, pos_weight=pw.view(1, 1, 1, 1)))
    x, t = logits(3, 3, 4, 5), torch.rand(3, 3, 4, 5)  # soft targets
    pw = torch.tensor([0.5, 1.0, 3.0])
    cw = torch.tensor([1.0, 0.2, 2.0])
    w.case("bce multilabel pos_weight weight soft", "bce",
           {"mode": "multilabel", "pos_weight": "0.5,1,3", "class_weights": "1,0.2,2"},
           {"input": x, "target": t},
           F.binary_cross_entropy_with_logits(x, t, weight=cw.view(1, 3, 1, 1), pos_weight=pw.view(1, 3, 1, 1)))
    x, t = logits(2, 2, 3, 4, 5), mask(2, 2, 3, 4, 5)
    w.case("bce multilabel 3d sum", "bce", {"mode": "multilabel", "spatial_dims": "3", "reduction": "sum"},
           {"input": x, "target": t}, F.binary_cross_entropy_with_logits(x, t, reduction="sum"))
    x, t = logits(2, 1, 4, 4, scale=1e4), mask(2, 1, 4, 4)
    w.case("bce saturated", "bce", {"mode": "binary"}, {"input": x, "target": t},
           F.binary_cross_entropy_with_logits(x.double(), t.double()).float(), rtol=1e-6)

    # cross-entropy -----------------------------------------------------
    for reduction in ["mean", "sum", "none"]:
        x, y = logits(2, 4, 5, 6), torch.randint(0, 4, (2, 5, 6))
        w.case("ce " + reduction, "cross-entropy", {"classes": "4", "reduction": reduction},
               {"input": x, "target": y}, F.cross_entropy(x, y, reduction=reduction))
    weight = torch.tensor([0.2, 1.0, 2.5, 0.7])
    for reduction in ["mean", "sum", "none"]:
        x, y = logits(3, 4, 4, 5), torch.randint(0, 4, (3, 4, 5))
        y[0, 0, :3] = 255
        y[2, 1, 1] = 255
        w.case("ce weight ignore " + reduction, "cross-entropy",
               {"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "255", "reduction": reduction},
               {"input": x, "target": y},
               F.cross_entropy(x, y, weight=weight, ignore_index=255, reduction=reduction))
    for reduction in ["mean", "sum", "none"]:
        x, y = logits(2, 4, 3, 5), torch.randint(0, 4, (2, 3, 5))
        y[1, 2, :] = 1
        w.case("ce label smoothing weight ignore " + reduction, "cross-entropy",
               {"classes": "4", "class_weights": "0.2,1,2.5,0.7", "ignore_index": "1",
                "label_smoothing": "0.15", "reduction": reduction},
               {"input": x, "target": y},
               F.cross_entropy(x, y, weight=weight, ignore_index=1, label_smoothing=0.15, reduction=reduction))
    x = logits(2, 3, 4, 4)
    p = torch.softmax(logits(2, 3, 4, 4), dim=1)
    w.case("ce probability targets smoothing", "cross-entropy",
           {"classes": "3", "target": "onehot", "label_smoothing": "0.1"},
           {"input": x, "target": p}, F.cross_entropy(x, p, label_smoothing=0.1))
    x, y = logits(1, 5, 2, 3, 4), torch.randint(0, 5, (1, 2, 3, 4))
    w.case("ce 3d", "cross-entropy", {"classes": "5", "spatial_dims": "3"},
           {"input": x, "target": y}, F.cross_entropy(x, y))
    x, y = logits(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    w.case("ce nhwc", "cross-entropy", {"classes": "3", "layout": "nhwc"},
           {"input": x.permute(0, 2, 3, 1).contiguous(), "target": y}, F.cross_entropy(x, y))

    # sigmoid focal -----------------------------------------------------
    focal = torchvision.ops.sigmoid_focal_loss
    for alpha, gamma in [(0.25, 2.0), (-1, 0.5), (0.6, 0.0), (0.25, 1.5)]:
        for reduction in ["mean", "sum", "none"]:
            x, t = logits(2, 1, 4, 5), mask(2, 1, 4, 5)
            opts = {"mode": "binary", "gamma": gamma, "reduction": reduction}
            if alpha >= 0:
                opts["alpha"] = alpha
            w.case("focal alpha %g gamma %g %s" % (alpha, gamma, reduction), "focal", opts,
                   {"input": x, "target": t}, focal(x, t, alpha=alpha, gamma=gamma, reduction=reduction))
    x, t = logits(2, 3, 4, 4), mask(2, 3, 4, 4)
    w.case("focal multilabel", "focal", {"mode": "multilabel", "alpha": "0.25"},
           {"input": x, "target": t}, focal(x, t, alpha=0.25, gamma=2.0, reduction="mean"))

    # half-precision inputs: PyTorch computes in float32 from the rounded values
    for dtype, name in [(torch.float16, "float16"), (torch.bfloat16, "bfloat16")]:
        x, t = logits(2, 1, 4, 4).to(dtype), mask(2, 1, 4, 4)
        w.case("bce " + name, "bce", {"mode": "binary", "dtype": name},
               {"input": x.float(), "target": t},
               F.binary_cross_entropy_with_logits(x.float(), t), input_dtype=name)
        x, y = logits(2, 4, 3, 3).to(dtype), torch.randint(0, 4, (2, 3, 3))
        w.case("ce " + name, "cross-entropy", {"classes": "4", "dtype": name, "label_smoothing": "0.1"},
               {"input": x.float(), "target": y},
               F.cross_entropy(x.float(), y, label_smoothing=0.1), input_dtype=name)
        x, t = logits(2, 1, 4, 4).to(dtype), mask(2, 1, 4, 4)
        w.case("focal " + name, "focal", {"mode": "binary", "dtype": name, "alpha": "0.25"},
               {"input": x.float(), "target": t},
               focal(x.float(), t, alpha=0.25, gamma=2.0, reduction="mean"), input_dtype=name)
