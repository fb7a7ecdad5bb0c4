"""PyTorch fixtures for the overlap (region) losses under their parity presets.

The libraries themselves are not installed here: each one's Dice, Jaccard and
Tversky loss is written again in torch from its source, with the file named
next to the function, and evaluated in float64 on float32 inputs. The cases
record the onnxloss options (a --preset plus the library's own arguments) that
must give the same number. Each case also records input_grad, the gradient
of that float64 loss with respect to the input by PyTorch autograd.

  segmentation_models_pytorch  segmentation_models_pytorch/losses/{dice,jaccard,tversky,_functional}.py
                               (the L1 "soft_tversky_score" of Oct 2024)
  MONAI                        monai/losses/dice.py (DiceLoss), monai/losses/tversky.py (TverskyLoss),
                               monai/losses/utils.py (compute_tp_fp_fn)
  kornia                       kornia/losses/dice.py, kornia/losses/tversky.py, kornia/losses/one_hot.py
  SemSegLoss                   loss_functions.py (dice_loss, jacard_loss, tversky_index)
"""
import torch
import torch.nn.functional as F

SET = "region"


def logits(*shape, scale=2.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def mask(*shape, p=0.35):
    return (torch.rand(*shape) < p).float()


def one_hot(y, c):
    """[N,*] labels -> [N,C,*] float64 one-hot."""
    return F.one_hot(y, c).movedim(-1, 1).double()


# segmentation_models_pytorch ------------------------------------------------
# losses/_functional.py soft_tversky_score (since Oct 2024):
#   I = (Σx + Σy - ‖x - y‖₁)/2, fp = Σx - I, fn = Σy - I,
#   score = (I + smooth) / clamp_min(I + α fp + β fn + smooth, eps)
# soft_dice_score is α = β = 0.5, soft_jaccard_score α = β = 1.


def smp_score(x, y, alpha, beta, smooth, eps, dims):
    xs, ys = x.sum(dims), y.sum(dims)
    diff = torch.linalg.vector_norm(x - y, ord=1, dim=dims)
    inter = (xs + ys - diff) / 2
    fp, fn = xs - inter, ys - inter
    return (inter + smooth) / (inter + alpha * fp + beta * fn + smooth).clamp_min(eps)


def smp_loss(mode, x, y, alpha, beta, smooth=0.0, eps=1e-7, ignore_index=None, log_loss=False,
             class_weights=None, from_logits=True):
    """losses/dice.py DiceLoss.forward (JaccardLoss and TverskyLoss share it)."""
    x = x.double()
    if from_logits:
        x = x.log_softmax(dim=1).exp() if mode == "multiclass" else F.logsigmoid(x).exp()
    bs, c = y.size(0), x.size(1)
    dims = (0, 2)
    if mode == "binary":
        y = y.double().view(bs, 1, -1)
        x = x.view(bs, 1, -1)
        if ignore_index is not None:
            m = y != ignore_index
            x, y = x * m, y * m
    elif mode == "multiclass":
        y = y.view(bs, -1)
        x = x.view(bs, c, -1)
        if ignore_index is not None:
            m = y != ignore_index
            x = x * m.unsqueeze(1)
            y = F.one_hot((y * m).long(), c).permute(0, 2, 1) * m.unsqueeze(1)
        else:
            y = F.one_hot(y, c).permute(0, 2, 1)
        y = y.double()
    else:
        y = y.double().view(bs, c, -1)
        x = x.view(bs, c, -1)
        if ignore_index is not None:
            m = y != ignore_index
            x, y = x * m, y * m
    scores = smp_score(x, y, alpha, beta, smooth, eps, dims)
    loss = -torch.log(scores.clamp_min(eps)) if log_loss else 1.0 - scores
    loss = loss * (y.sum(dims) > 0).double()  # classes absent from the target: loss 0
    if class_weights is not None:
        w = torch.tensor(class_weights, dtype=torch.float64)
        return (loss * w).sum() / w.sum()
    return loss.mean()


# MONAI ----------------------------------------------------------------------
# monai/losses/utils.py compute_tp_fp_fn (ord 1, soft_label False):
#   tp = Σ x·y, fp = Σ x - tp, fn = Σ y - tp; with squared_pred (ord 2) or
#   soft_label the norms form, tp = (‖x‖ + ‖y‖ - ‖x - y‖)/2 (squared norms).
# monai/losses/dice.py DiceLoss: Dice halves fp and fn,
#   f = 1 - (2 tp + smooth_nr)/(2(tp + fp + fn) + smooth_dr); jaccard does not.
# monai/losses/tversky.py TverskyLoss: 1 - (tp + smooth_nr)/(tp + α fp + β fn + smooth_dr).


def monai_tp_fp_fn(x, y, axes, squared=False, soft_label=False):
    if not squared and not soft_label:
        tp = (x * y).sum(axes)
        return tp, x.sum(axes) - tp, y.sum(axes) - tp
    o = 2 if squared else 1
    nx = (x.abs() ** o).sum(axes)
    ny = (y.abs() ** o).sum(axes)
    nd = ((x - y).abs() ** o).sum(axes)
    tp = (nx + ny - nd) / 2
    return tp, nx - tp, ny - tp


def monai_prepare(mode, x, y, activation, include_background):
    x = x.double()
    if activation == "softmax":
        x = torch.softmax(x, dim=1)
    elif activation == "sigmoid":
        x = torch.sigmoid(x)
    if mode == "multiclass":
        y = one_hot(y, x.size(1))  # to_onehot_y=True
    else:
        y = y.double()
    if not include_background:
        x, y = x[:, 1:], y[:, 1:]
    return x, y


def monai_dice(mode, x, y, activation, jaccard=False, squared=False, soft_label=False, batch=False,
               include_background=True, smooth_nr=1e-5, smooth_dr=1e-5, weight=None):
    x, y = monai_prepare(mode, x, y, activation, include_background)
    axes = list(range(2, x.dim()))
    if batch:
        axes = [0] + axes
    tp, fp, fn = monai_tp_fp_fn(x, y, axes, squared, soft_label)
    if not jaccard:
        fp, fn = fp * 0.5, fn * 0.5
    f = 1.0 - (2.0 * tp + smooth_nr) / (2.0 * (tp + fp + fn) + smooth_dr)
    if weight is not None:
        f = f * torch.tensor(weight, dtype=torch.float64)
    return f.mean()


def monai_tversky(mode, x, y, activation, alpha=0.5, beta=0.5, batch=False, include_background=True,
                  smooth_nr=1e-5, smooth_dr=1e-5):
    x, y = monai_prepare(mode, x, y, activation, include_background)
    axes = list(range(2, x.dim()))
    if batch:
        axes = [0] + axes
    tp, fp, fn = monai_tp_fp_fn(x, y, axes)
    return (1.0 - (tp + smooth_nr) / (tp + alpha * fp + beta * fn + smooth_dr)).mean()


# kornia ---------------------------------------------------------------------
# kornia/losses/one_hot.py: one_hot(...) * (1 - 1e-6) + 1e-6.
# kornia/losses/dice.py dice_loss(average="micro", eps=1e-8, weight=None, ignore_index=-100):
#   ignored pixels multiply both the one-hot target and the softmax; micro sums
#   over (C,H,W) per sample, macro over (H,W) then the weighted class mean;
#   dice = 2I/(card + eps); mean over the batch.
# kornia/losses/tversky.py (2025): p_true = softmax.gather(label), I = Σ p_true,
#   total = valid pixels, score = I/(I + (α+β)(total - I) + eps), 1 - mean.


# These are kornia's forms before 0.9 (the one-hot floor, absent classes kept,
# Tversky micro-averaged), which the kornia preset now reaches with these
# options; testdata/peers/kornia checks the pinned release itself.
KORNIA_DICE_BEFORE_09 = {"target_eps": "1e-06", "absent_classes": "keep"}
KORNIA_TVERSKY_BEFORE_09 = {"average": "micro", "absent_classes": "keep"}


def kornia_dice(x, y, average="micro", eps=1e-8, ignore_index=-100):
    p = torch.softmax(x.double(), dim=1)
    c = x.size(1)
    valid = y != ignore_index
    y = torch.where(valid, y, torch.zeros_like(y))
    t = one_hot(y, c) * (1.0 - 1e-6) + 1e-6
    if not valid.all():
        m = valid.unsqueeze(1).double()
        t, p = t * m, p * m
    dims = (2, 3)
    if average == "micro":
        dims = (1, 2, 3)
    inter = (p * t).sum(dims)
    card = (p + t).sum(dims)
    loss = 1.0 - 2.0 * inter / (card + eps)
    if average == "macro":
        loss = loss.mean(-1)
    return loss.mean()


def kornia_tversky(x, y, alpha, beta, eps=1e-8, ignore_index=-100):
    p = torch.softmax(x.double(), dim=1)
    valid = y != ignore_index
    y = torch.where(valid, y, torch.zeros_like(y))
    p_true = p.gather(1, y.unsqueeze(1)).squeeze(1) * valid
    inter = p_true.flatten(1).sum(1)
    total = valid.flatten(1).double().sum(1)
    score = inter / (inter + (alpha + beta) * (total - inter) + eps)
    return 1.0 - score.mean()


# SemSegLoss -----------------------------------------------------------------
# loss_functions.py (Keras, probabilities, everything flattened, smooth = 1):
#   dice_loss = 1 - (2 Σyp + 1)/(Σy + Σp + 1)
#   jacard_loss = 1 - Σyp / Σ(y + p - yp)
#   tversky_index = (tp + 1)/(tp + 0.7 fn + 0.3 fp + 1), tversky_loss = 1 - TI


def semseg_dice(p, y):
    p, y = p.double().flatten(), y.double().flatten()
    return 1.0 - (2.0 * (y * p).sum() + 1.0) / (y.sum() + p.sum() + 1.0)


def semseg_jaccard(p, y):
    p, y = p.double().flatten(), y.double().flatten()
    return 1.0 - (y * p).sum() / (y + p - y * p).sum()


def semseg_tversky(p, y):
    p, y = p.double().flatten(), y.double().flatten()
    tp = (y * p).sum()
    fn = (y * (1 - p)).sum()
    fp = ((1 - y) * p).sum()
    return 1.0 - (tp + 1.0) / (tp + 0.7 * fn + 0.3 * fp + 1.0)


def case(w, name, loss, options, inputs, fn, **kw):
    """Records fn(input) and its gradient with respect to the input; a float64
    graph's gradient is held to float64 rounding."""
    x = inputs["input"]
    if kw.get("input_dtype") == "float64":
        kw.setdefault("grad_rtol", 1e-10)
        kw.setdefault("grad_atol", 1e-13)
    w.case(name, loss, options, inputs, fn(x), input_grad=w.grad(fn, x), **kw)


def make(w):
    # ---- segmentation_models_pytorch -------------------------------------
    for loss, a, b in [("dice", 0.5, 0.5), ("jaccard", 1.0, 1.0), ("tversky", 0.5, 0.5)]:
        x, t = logits(3, 1, 5, 6), mask(3, 1, 5, 6)
        case(w, "smp %s binary" % loss, loss, {"preset": "smp", "mode": "binary"},
                {"input": x, "target": t}, lambda x: smp_loss("binary", x, t, a, b))
        x, t = logits(2, 3, 4, 5), torch.rand(2, 3, 4, 5)  # soft labels: the L1 intersection matters
        case(w, "smp %s multilabel soft" % loss, loss, {"preset": "smp", "mode": "multilabel"},
                {"input": x, "target": t}, lambda x: smp_loss("multilabel", x, t, a, b))
        x, y = logits(2, 4, 5, 5), torch.randint(0, 3, (2, 5, 5))  # class 3 absent: loss 0, still counted
        case(w, "smp %s multiclass absent class" % loss, loss, {"preset": "smp", "mode": "multiclass", "classes": "4"},
                {"input": x, "target": y}, lambda x: smp_loss("multiclass", x, y, a, b))
        y[0, 0, :] = 255
        y[1, 2:4, 1] = 255
        case(w, "smp %s multiclass ignore" % loss, loss,
                {"preset": "smp", "mode": "multiclass", "classes": "4", "ignore_index": "255"},
                {"input": x, "target": y}, lambda x: smp_loss("multiclass", x, y, a, b, ignore_index=255))
    x, y = logits(2, 3, 4, 6), torch.randint(0, 3, (2, 4, 6))
    case(w, "smp dice smooth 1 log_loss", "dice",
            {"preset": "smp", "mode": "multiclass", "classes": "3", "smooth_nr": "2", "smooth_dr": "2", "log_loss": "true"},
            {"input": x, "target": y}, lambda x: smp_loss("multiclass", x, y, 0.5, 0.5, smooth=1.0, log_loss=True))
    x, y = logits(2, 3, 4, 6), torch.randint(0, 3, (2, 4, 6))
    case(w, "smp dice class weights", "dice",
            {"preset": "smp", "mode": "multiclass", "class_weights": "0.2,1,3"},
            {"input": x, "target": y}, lambda x: smp_loss("multiclass", x, y, 0.5, 0.5, class_weights=[0.2, 1.0, 3.0]))
    x, t = logits(2, 2, 4, 4), mask(2, 2, 4, 4)
    t[:, 1] = 0  # an empty channel: zeroed
    case(w, "smp tversky multilabel alpha beta empty channel", "tversky",
            {"preset": "smp", "mode": "multilabel", "alpha": "0.3", "beta": "0.7"},
            {"input": x, "target": t}, lambda x: smp_loss("multilabel", x, t, 0.3, 0.7))
    x, t = logits(2, 1, 3, 4, 5), mask(2, 1, 3, 4, 5)
    case(w, "smp dice binary 3d", "dice", {"preset": "smp", "mode": "binary", "spatial_dims": "3"},
            {"input": x, "target": t}, lambda x: smp_loss("binary", x, t, 0.5, 0.5))
    x, y = logits(2, 3, 5, 4), torch.randint(0, 3, (2, 5, 4))
    case(w, "smp jaccard multiclass nhwc", "jaccard", {"preset": "smp", "mode": "multiclass", "layout": "nhwc"},
            {"input": x.permute(0, 2, 3, 1).contiguous(), "target": y},
            lambda xh: smp_loss("multiclass", xh.permute(0, 3, 1, 2), y, 1.0, 1.0))

    # ---- MONAI ---------------------------------------------------------
    x, y = logits(3, 4, 5, 6), torch.randint(0, 4, (3, 5, 6))
    case(w, "monai dice softmax", "dice", {"preset": "monai", "mode": "multiclass", "classes": "4"},
            {"input": x, "target": y}, lambda x: monai_dice("multiclass", x, y, "softmax"))
    case(w, "monai jaccard softmax", "jaccard", {"preset": "monai", "mode": "multiclass", "classes": "4"},
            {"input": x, "target": y}, lambda x: monai_dice("multiclass", x, y, "softmax", jaccard=True))
    case(w, "monai tversky softmax", "tversky", {"preset": "monai", "mode": "multiclass", "classes": "4"},
            {"input": x, "target": y}, lambda x: monai_tversky("multiclass", x, y, "softmax"))
    case(w, "monai tversky alpha beta no background", "tversky",
            {"preset": "monai", "mode": "multiclass", "classes": "4", "alpha": "0.3", "beta": "0.7", "include_background": "false"},
            {"input": x, "target": y}, lambda x: monai_tversky("multiclass", x, y, "softmax", 0.3, 0.7, include_background=False))
    case(w, "monai dice batch squared", "dice",
            {"preset": "monai", "mode": "multiclass", "classes": "4", "per_image": "false", "squared": "true"},
            {"input": x, "target": y}, lambda x: monai_dice("multiclass", x, y, "softmax", squared=True, batch=True))
    case(w, "monai dice weight no background", "dice",
            {"preset": "monai", "mode": "multiclass", "classes": "4", "include_background": "false", "class_weights": "9,1,2,0.5"},
            {"input": x, "target": y},
            lambda x: monai_dice("multiclass", x, y, "softmax", include_background=False, weight=[1.0, 2.0, 0.5]))
    x, t = logits(2, 3, 4, 5), mask(2, 3, 4, 5)
    case(w, "monai dice sigmoid multilabel", "dice", {"preset": "monai", "mode": "multilabel"},
            {"input": x, "target": t}, lambda x: monai_dice("multilabel", x, t, "sigmoid"))
    case(w, "monai jaccard sigmoid multilabel", "jaccard", {"preset": "monai", "mode": "multilabel"},
            {"input": x, "target": t}, lambda x: monai_dice("multilabel", x, t, "sigmoid", jaccard=True))
    p, t = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5)
    case(w, "monai dice no activation soft_label", "dice",
            {"preset": "monai", "mode": "multilabel", "from_logits": "false", "intersection": "l1"},
            {"input": p, "target": t}, lambda p: monai_dice("multilabel", p, t, None, soft_label=True))
    x, t = logits(2, 1, 3, 4, 5), mask(2, 1, 3, 4, 5)
    case(w, "monai dice sigmoid binary 3d", "dice", {"preset": "monai", "mode": "binary", "spatial_dims": "3"},
            {"input": x, "target": t}, lambda x: monai_dice("binary", x, t, "sigmoid"))
    x, t = logits(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    x[1] = -1e4  # sample 1: empty target, empty prediction
    case(w, "monai dice empty target", "dice", {"preset": "monai", "mode": "binary"},
            {"input": x, "target": t}, lambda x: monai_dice("binary", x, t, "sigmoid"))

    # Near-empty: where the smoothing decides the value (MONAI's Jaccard
    # smoothing enters as half of smooth_nr and smooth_dr in onnxloss's form).
    x, t = torch.full((2, 1, 4, 4), -12.0), torch.zeros(2, 1, 4, 4)
    t[0, 0, 1, 1] = 1
    for loss, fn in [("dice", monai_dice), ("jaccard", lambda *a: monai_dice(*a, jaccard=True)), ("tversky", monai_tversky)]:
        case(w, "monai %s near empty" % loss, loss, {"preset": "monai", "mode": "binary"},
                {"input": x, "target": t}, lambda x: fn("binary", x, t, "sigmoid"))

    # ---- kornia --------------------------------------------------------
    x, y = logits(3, 4, 5, 6), torch.randint(0, 4, (3, 5, 6))
    case(w, "kornia<0.9 dice micro", "dice", {**KORNIA_DICE_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "4"},
            {"input": x, "target": y}, lambda x: kornia_dice(x, y))
    case(w, "kornia<0.9 dice macro", "dice", {**KORNIA_DICE_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "4", "average": "macro"},
            {"input": x, "target": y}, lambda x: kornia_dice(x, y, average="macro"))
    y2 = y.clone()
    y2[0, :2, :] = -100
    y2[2, 4, 5] = -100
    case(w, "kornia<0.9 dice ignore", "dice", {**KORNIA_DICE_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "4"},
            {"input": x, "target": y2}, lambda x: kornia_dice(x, y2))
    # In float64 the 1e-6 floor of kornia's one-hot target is visible (about
    # 4e-6 of the loss with 8 classes).
    x8, y8 = logits(2, 8, 4, 5), torch.randint(0, 8, (2, 4, 5))
    case(w, "kornia<0.9 dice micro float64", "dice", {**KORNIA_DICE_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "8", "dtype": "float64"},
            {"input": x8, "target": y8}, lambda x8: kornia_dice(x8, y8), rtol=2e-7, atol=1e-9, input_dtype="float64")
    case(w, "kornia<0.9 dice macro float64", "dice",
            {**KORNIA_DICE_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "8", "dtype": "float64", "average": "macro"},
            {"input": x8, "target": y8}, lambda x8: kornia_dice(x8, y8, average="macro"), rtol=2e-7, atol=1e-9, input_dtype="float64")
    case(w, "kornia<0.9 tversky", "tversky", {**KORNIA_TVERSKY_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "4", "alpha": "0.3", "beta": "0.7"},
            {"input": x, "target": y}, lambda x: kornia_tversky(x, y, 0.3, 0.7))
    case(w, "kornia<0.9 tversky ignore", "tversky",
            {**KORNIA_TVERSKY_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "4", "alpha": "0.8", "beta": "0.4"},
            {"input": x, "target": y2}, lambda x: kornia_tversky(x, y2, 0.8, 0.4))
    # Only α+β matters in kornia's micro form: 0.1 + 1.1 gives the same as 0.8 + 0.4.
    case(w, "kornia<0.9 tversky alpha plus beta", "tversky",
            {**KORNIA_TVERSKY_BEFORE_09, "preset": "kornia", "mode": "multiclass", "classes": "4", "alpha": "0.1", "beta": "1.1"},
            {"input": x, "target": y2}, lambda x: kornia_tversky(x, y2, 0.8, 0.4))

    # ---- SemSegLoss ----------------------------------------------------
    p, t = torch.rand(3, 1, 6, 5), mask(3, 1, 6, 5)
    for loss, fn in [("dice", semseg_dice), ("jaccard", semseg_jaccard), ("tversky", semseg_tversky)]:
        case(w, "semsegloss %s binary" % loss, loss, {"preset": "semsegloss", "mode": "binary", "from_logits": "false"},
                {"input": p, "target": t}, lambda p: fn(p, t))
    p, t = torch.rand(2, 3, 4, 4), mask(2, 3, 4, 4)
    for loss, fn in [("dice", semseg_dice), ("jaccard", semseg_jaccard), ("tversky", semseg_tversky)]:
        case(w, "semsegloss %s multilabel" % loss, loss, {"preset": "semsegloss", "mode": "multilabel", "from_logits": "false"},
                {"input": p, "target": t}, lambda p: fn(p, t))
    x, t = logits(2, 1, 5, 5), mask(2, 1, 5, 5)
    case(w, "semsegloss dice on logits", "dice", {"preset": "semsegloss", "mode": "binary"},
            {"input": x, "target": t}, lambda x: semseg_dice(torch.sigmoid(x.double()), t))
