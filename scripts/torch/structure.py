"""PyTorch fixtures for the structure family, computed in float64 from the
papers' definitions with torch's own convolution and pooling:

  SSIM      Wang et al. 2004: Gaussian window (σ 1.5, 11 taps), C1 = (k1 L)²,
            C2 = (k2 L)²; valid windows (conv without padding, as MONAI and
            TensorFlow), reflected borders (F.pad reflect, as kornia's
            padding="same"), zero padding (conv padding, as pytorch_ssim);
            a 7×7 image with valid windows uses a 7-tap window, as
            jorge-pessoa's pytorch-msssim does for images under 11 pixels.
  MS-SSIM   Wang et al. 2003: cs at every scale but the last, SSIM at the last,
            relu'd and raised to the exponents, halving by 2×2 averages with
            the last row repeated on odd sizes (Wang's MATLAB code and
            TensorFlow's ssim_multiscale).
  CMSSIM    Zhao et al. 2019: e = |(y-μy+C4)/(σy+C4) - (p-μp+C4)/(σp+C4)| over
            a 3×3 Gaussian window with reflected borders, f = e > β·max e,
            Σ e·f·CE / Σ f.
  Lovász    Berman et al.'s lovasz_grad, lovasz_hinge_flat and
            lovasz_softmax_flat (present classes, or all), ignored pixels
            filtered out; their input_grad by autograd through the sort.
  BF1       Bokhovkin & Burnaev's reference code (max_pool2d boundaries,
            θ0 = 3, θ = 5).
  clDice    Shit et al.'s soft_erode, soft_dilate, soft_skel and soft_cldice.
  hybrids   BASNet (BCE + pytorch_ssim-style SSIM + IoU) and UNet 3+
            (torchvision's sigmoid focal loss + MS-SSIM + IoU), IoU smoothed
            by 1 as onnxloss's default.
"""
import torch
import torch.nn.functional as F
import torchvision

SET = "structure"

TOL = dict(rtol=2e-4, atol=1e-6)  # the SSIM losses' float32 budget


def logits(*shape, scale=2.0):
    return torch.randn(*shape, dtype=torch.float32) * scale


def mask(*shape, p=0.35):
    return (torch.rand(*shape) < p).float()


def one_hot(y, c):
    return F.one_hot(y, c).movedim(-1, 1).double()


# SSIM --------------------------------------------------------------------


def gauss1d(k, sigma=1.5):
    d = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-d * d / (2 * sigma * sigma))
    return g / g.sum()


def window(ks, sigma=1.5, kernel="gaussian"):
    """Separable window of taps ks (one per spatial axis) as a conv kernel [1,1,*ks]."""
    w = torch.ones((), dtype=torch.float64)
    for k in ks:
        g = gauss1d(k, sigma) if kernel == "gaussian" else torch.full((k,), 1.0 / k, dtype=torch.float64)
        w = w.unsqueeze(-1) * g
    return w[None, None]


def filt(x, ks, padding, sigma=1.5, kernel="gaussian"):
    """Windowed mean of every channel of x [N,C,*]."""
    n, c = x.shape[:2]
    w = window(ks, sigma, kernel).expand(c, 1, *ks).contiguous()
    conv = F.conv2d if x.dim() == 4 else F.conv3d
    if padding == "valid":
        return conv(x, w, groups=c)
    if padding == "zeros":
        return conv(x, w, groups=c, padding=[k // 2 for k in ks])
    pads = []
    for k in reversed(ks):
        pads += [k // 2, k // 2]
    return conv(F.pad(x, pads, mode="reflect"), w, groups=c)


def ssim_maps(p, t, win=11, padding="valid", k1=0.01, k2=0.03, L=1.0, sigma=1.5, kernel="gaussian"):
    ks = [min(win, s) if padding == "valid" else win for s in p.shape[2:]]
    mp, mt = filt(p, ks, padding, sigma, kernel), filt(t, ks, padding, sigma, kernel)
    vp = filt(p * p, ks, padding, sigma, kernel) - mp * mp
    vt = filt(t * t, ks, padding, sigma, kernel) - mt * mt
    cov = filt(p * t, ks, padding, sigma, kernel) - mp * mt
    c1, c2 = (k1 * L) ** 2, (k2 * L) ** 2
    cs = (2 * cov + c2) / (vp + vt + c2)
    return (2 * mp * mt + c1) / (mp * mp + mt * mt + c1) * cs, cs


def spatial_mean(x):
    return x.flatten(2).mean(-1)  # [N,C]


def halve(x):
    """2×2(×2) means, the last row repeated on odd sizes."""
    pads = []
    for s in reversed(x.shape[2:]):
        pads += [0, s % 2]
    x = F.pad(x, pads, mode="replicate")
    return (F.avg_pool2d if x.dim() == 4 else F.avg_pool3d)(x, 2)


def msssim(p, t, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), normalize="relu", **kw):
    out = torch.ones(p.shape[:2], dtype=torch.float64)
    for j, w in enumerate(weights):
        ssim, cs = ssim_maps(p, t, **kw)
        v = spatial_mean(ssim if j == len(weights) - 1 else cs)
        if normalize == "simple":
            v = (v + 1) / 2
        out = out * torch.relu(v) ** w
        p, t = halve(p), halve(t)
    return out


def probs(x, mode):
    x = x.double()
    return torch.softmax(x, 1) if mode == "multiclass" else torch.sigmoid(x)


def target(t, mode, c):
    return one_hot(t, c) if mode == "multiclass" else t.double()


def ssim_cases(w):
    for name, mode, shape, opts in [
        ("binary valid", "binary", (2, 1, 16, 13), {}),
        ("multilabel valid", "multilabel", (1, 3, 12, 20), {"classes": "3"}),
        ("multiclass reflect dssim", "multiclass", (2, 3, 14, 15), {"classes": "3", "padding": "reflect", "dssim": "true"}),
        ("binary zeros", "binary", (2, 1, 13, 17), {"padding": "zeros"}),
        ("binary uniform 7", "binary", (1, 1, 12, 12), {"kernel": "uniform", "win_size": "7"}),
        ("binary 7x7 image", "binary", (2, 1, 7, 7), {}),
        ("3d valid", "binary", (1, 1, 13, 12, 14), {"spatial_dims": "3"}),
        ("3d reflect", "multilabel", (1, 2, 8, 9, 7), {"spatial_dims": "3", "classes": "2", "padding": "reflect", "win_size": "5"}),
        ("k1 k2 data range", "binary", (1, 1, 15, 15), {"k1": "0.05", "k2": "0.1", "data_range": "2"}),
    ]:
        n, c = shape[:2]
        x = logits(*shape)
        t = torch.randint(0, c, (n,) + shape[2:]) if mode == "multiclass" else mask(*shape)
        kw = dict(win=int(opts.get("win_size", 11)), padding=opts.get("padding", "valid"),
                  k1=float(opts.get("k1", 0.01)), k2=float(opts.get("k2", 0.03)), L=float(opts.get("data_range", 1)),
                  kernel=opts.get("kernel", "gaussian"))
        ssim, _ = ssim_maps(probs(x, mode), target(t, mode, c), **kw)
        loss = 1 - spatial_mean(ssim).mean()
        if opts.get("dssim") == "true":
            loss = loss / 2
        w.case("ssim " + name, "ssim", dict(opts, mode=mode), {"input": x, "target": t}, loss, **TOL)


def msssim_cases(w):
    for name, mode, shape, opts in [
        ("five scales", "binary", (1, 1, 176, 168), {}),
        ("odd sizes three scales", "multilabel", (2, 2, 41, 37), {"classes": "2", "win_size": "7", "weights": "0.2,0.3,0.5"}),
        ("simple normalize", "binary", (2, 1, 30, 33), {"win_size": "5", "weights": "0.5,0.5", "normalize": "simple"}),
        ("multiclass reflect", "multiclass", (1, 3, 25, 26), {"classes": "3", "padding": "reflect", "win_size": "5", "weights": "0.3,0.3,0.4"}),
        ("3d", "binary", (1, 1, 12, 13, 11), {"spatial_dims": "3", "win_size": "3", "weights": "0.5,0.5"}),
    ]:
        n, c = shape[:2]
        x = logits(*shape)
        t = torch.randint(0, c, (n,) + shape[2:]) if mode == "multiclass" else mask(*shape)
        weights = [float(v) for v in opts["weights"].split(",")] if "weights" in opts else (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
        ms = msssim(probs(x, mode), target(t, mode, c), weights=weights, normalize=opts.get("normalize", "relu"),
                    win=int(opts.get("win_size", 11)), padding=opts.get("padding", "valid"))
        w.case("ms-ssim " + name, "ms-ssim", dict(opts, mode=mode), {"input": x, "target": t}, 1 - ms.mean(), **TOL)


# CMSSIM ------------------------------------------------------------------


def cmssim_case(w):
    n, c, h, wd = 2, 3, 9, 10
    x = logits(n, c, h, wd)
    y = torch.randint(0, c, (n, h, wd))
    p, t = probs(x, "multiclass"), one_hot(y, c)
    c4, beta = 0.01, 0.1

    def norm(v):
        m = filt(v, [3, 3], "reflect")
        s = torch.sqrt(torch.clamp(filt(v * v, [3, 3], "reflect") - m * m, min=0))
        return (v - m + c4) / (s + c4)

    e = (norm(t) - norm(p)).abs()
    f = (e > beta * e.max()).double()
    ce = -t * torch.log_softmax(x.double(), 1)
    loss = (e * f * ce).sum() / f.sum()
    w.case("cmssim multiclass", "cmssim", {"mode": "multiclass", "classes": "3"}, {"input": x, "target": y}, loss,
           rtol=1e-5, atol=1e-6)


# Lovász ------------------------------------------------------------------


def lovasz_grad(gt_sorted):
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_hinge_flat(logit, label):
    if len(label) == 0:
        return logit.sum() * 0.0
    signs = 2.0 * label - 1.0
    errors = 1.0 - logit * signs
    errors_sorted, perm = torch.sort(errors, descending=True)
    return torch.dot(F.relu(errors_sorted), lovasz_grad(label[perm]))


def lovasz_softmax_flat(pr, lab, present=True, weights=None):
    losses, ws = [], []
    for c in range(pr.shape[1]):
        fg = (lab == c).double()
        if present and fg.sum() == 0:
            continue
        errors = (fg - pr[:, c]).abs()
        errors_sorted, perm = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
        ws.append(1.0 if weights is None else weights[c])
    if not losses:
        return pr.sum() * 0.0
    ws = torch.tensor(ws, dtype=torch.float64)
    return (torch.stack(losses) * ws).sum() / ws.sum()


def lovasz_softmax(x, y, per_image, ignore=255, present=True, weights=None):
    """Berman et al.'s lovasz_softmax on logits x [N,C,H,W] and labels y."""
    p = probs(x, "multiclass")
    n, c = p.shape[:2]

    def flat(i):
        pr = p[i].reshape(c, -1).t()
        lab = y[i].reshape(-1)
        keep = lab != ignore
        return pr[keep], lab[keep]

    if per_image:
        return torch.stack([lovasz_softmax_flat(*flat(i), present, weights) for i in range(n)]).mean()
    prs, labs = zip(*[flat(i) for i in range(n)])
    return lovasz_softmax_flat(torch.cat(prs), torch.cat(labs), present, weights)


def lovasz_hinge(x, t, per_image, ignore=-1):
    """Berman et al.'s lovasz_hinge on logits x [N,1,H,W] and labels t."""
    x = x.double()
    if per_image:
        return torch.stack([lovasz_hinge_flat(x[i].reshape(-1)[t[i].reshape(-1) != ignore],
                                              t[i].double().reshape(-1)[t[i].reshape(-1) != ignore])
                            for i in range(len(x))]).mean()
    keep = t.reshape(-1) != ignore
    return lovasz_hinge_flat(x.reshape(-1)[keep], t.double().reshape(-1)[keep])


def lovasz_cases(w):
    n, c, h, wd = 3, 4, 6, 7
    for per_image in (False, True):
        x = logits(n, c, h, wd)
        y = torch.randint(0, c, (n, h, wd))
        y[0, :2] = 255
        y[2, 3, 1:5] = 255
        w.case("lovasz-softmax ignore per_image=%s" % per_image, "lovasz-softmax",
               {"classes": "4", "ignore_index": "255", "per_image": str(per_image).lower()},
               {"input": x, "target": y}, lovasz_softmax(x, y, per_image),
               input_grad=w.grad(lambda x: lovasz_softmax(x, y, per_image), x))
        xb = logits(n, 1, h, wd)
        tb = mask(n, 1, h, wd)
        tb[1, 0, :3] = -1
        w.case("lovasz-hinge ignore per_image=%s" % per_image, "lovasz-hinge",
               {"mode": "binary", "ignore_index": "-1", "per_image": str(per_image).lower()},
               {"input": xb, "target": tb}, lovasz_hinge(xb, tb, per_image),
               input_grad=w.grad(lambda x: lovasz_hinge(x, tb, per_image), xb))


def lovasz_more_cases(w):
    """Lovász-Softmax over all classes, with class weights, and in float64."""
    n, c, h, wd = 2, 5, 5, 6
    x = logits(n, c, h, wd)
    y = torch.randint(0, c - 1, (n, h, wd))  # class 4 absent
    y[1, 1:3, 2:5] = 255
    for per_image in (False, True):
        w.case("lovasz-softmax all classes per_image=%s" % per_image, "lovasz-softmax",
               {"classes": "5", "ignore_index": "255", "class_set": "all", "per_image": str(per_image).lower()},
               {"input": x, "target": y}, lovasz_softmax(x, y, per_image, present=False),
               input_grad=w.grad(lambda x: lovasz_softmax(x, y, per_image, present=False), x))
    cw = [0.5, 2.0, 1.0, 0.25, 3.0]
    w.case("lovasz-softmax class weights", "lovasz-softmax",
           {"classes": "5", "ignore_index": "255", "class_weights": "0.5,2,1,0.25,3"},
           {"input": x, "target": y}, lovasz_softmax(x, y, False, weights=cw),
           input_grad=w.grad(lambda x: lovasz_softmax(x, y, False, weights=cw), x))
    x, y = logits(2, 3, 6, 5), torch.randint(0, 3, (2, 6, 5))
    y[0, 0, :] = 255
    w.case("lovasz-softmax float64 per_image", "lovasz-softmax",
           {"classes": "3", "ignore_index": "255", "per_image": "true", "dtype": "float64"},
           {"input": x, "target": y}, lovasz_softmax(x, y, True),
           input_grad=w.grad(lambda x: lovasz_softmax(x, y, True), x),
           rtol=2e-7, atol=1e-9, grad_rtol=1e-10, grad_atol=1e-13, input_dtype="float64")


# Boundary F1 -------------------------------------------------------------


def boundary_f1(pred, gt_onehot, theta0=3, theta=5):
    gt_b = F.max_pool2d(1 - gt_onehot, kernel_size=theta0, stride=1, padding=(theta0 - 1) // 2) - (1 - gt_onehot)
    pred_b = F.max_pool2d(1 - pred, kernel_size=theta0, stride=1, padding=(theta0 - 1) // 2) - (1 - pred)
    gt_b_ext = F.max_pool2d(gt_b, kernel_size=theta, stride=1, padding=(theta - 1) // 2)
    pred_b_ext = F.max_pool2d(pred_b, kernel_size=theta, stride=1, padding=(theta - 1) // 2)
    n, c = pred.shape[:2]
    gt_b, pred_b = gt_b.view(n, c, -1), pred_b.view(n, c, -1)
    gt_b_ext, pred_b_ext = gt_b_ext.view(n, c, -1), pred_b_ext.view(n, c, -1)
    P = torch.sum(pred_b * gt_b_ext, dim=2) / (torch.sum(pred_b, dim=2) + 1e-7)
    R = torch.sum(pred_b_ext * gt_b, dim=2) / (torch.sum(gt_b, dim=2) + 1e-7)
    return 1 - 2 * P * R / (P + R + 1e-7)  # [N,C]


def boundary_cases(w):
    for theta0, theta in ((3, 5), (19, 19)):
        x = logits(2, 3, 24, 21)
        y = torch.randint(0, 3, (2, 24, 21))
        y[:, 5:15, 4:12] = 1  # a block, so there are long boundaries
        loss = boundary_f1(probs(x, "multiclass"), one_hot(y, 3), theta0, theta).mean()
        w.case("boundary-f1 theta0=%d theta=%d" % (theta0, theta), "boundary-f1",
               {"classes": "3", "theta0": str(theta0), "theta": str(theta)}, {"input": x, "target": y}, loss)
    x = logits(2, 3, 16, 17)
    y = torch.randint(0, 3, (2, 16, 17))
    lov = []
    p = probs(x, "multiclass")
    prs = [p[i].reshape(3, -1).t() for i in range(2)]
    labs = [y[i].reshape(-1) for i in range(2)]
    lov = lovasz_softmax_flat(torch.cat(prs), torch.cat(labs))
    duo = (lov + boundary_f1(p, one_hot(y, 3)).mean()) / 2
    w.case("duo", "duo", {"classes": "3"}, {"input": x, "target": y}, duo)


# clDice ------------------------------------------------------------------


def soft_erode(img):
    if img.dim() == 4:
        p1 = -F.max_pool2d(-img, (3, 1), (1, 1), (1, 0))
        p2 = -F.max_pool2d(-img, (1, 3), (1, 1), (0, 1))
        return torch.min(p1, p2)
    p1 = -F.max_pool3d(-img, (3, 1, 1), (1, 1, 1), (1, 0, 0))
    p2 = -F.max_pool3d(-img, (1, 3, 1), (1, 1, 1), (0, 1, 0))
    p3 = -F.max_pool3d(-img, (1, 1, 3), (1, 1, 1), (0, 0, 1))
    return torch.min(torch.min(p1, p2), p3)


def soft_dilate(img):
    if img.dim() == 4:
        return F.max_pool2d(img, (3, 3), (1, 1), (1, 1))
    return F.max_pool3d(img, (3, 3, 3), (1, 1, 1), (1, 1, 1))


def soft_skel(img, iter_):
    img1 = soft_dilate(soft_erode(img))
    skel = F.relu(img - img1)
    for _ in range(iter_):
        img = soft_erode(img)
        img1 = soft_dilate(soft_erode(img))
        delta = F.relu(img - img1)
        skel = skel + F.relu(delta - skel * delta)
    return skel


def cldice_terms(y_true, y_pred, iter_=3, smooth=1.0):
    skel_pred, skel_true = soft_skel(y_pred, iter_), soft_skel(y_true, iter_)
    tprec = (torch.sum(skel_pred * y_true) + smooth) / (torch.sum(skel_pred) + smooth)
    tsens = (torch.sum(skel_true * y_pred) + smooth) / (torch.sum(skel_true) + smooth)
    cl = 1.0 - 2.0 * (tprec * tsens) / (tprec + tsens)
    dice = 1.0 - (2.0 * torch.sum(y_true * y_pred) + smooth) / (torch.sum(y_true) + torch.sum(y_pred) + smooth)
    return cl, dice


def tubes(*shape):
    """Thin random lines, the structures clDice is made for."""
    t = torch.zeros(*shape)
    for _ in range(4):
        i = torch.randint(0, shape[2], ())
        t[:, :, i] = 1
        j = torch.randint(0, shape[-1], ())
        t[..., j] = 1
    return t


def cldice_cases(w):
    x = logits(2, 1, 20, 18)
    t = tubes(2, 1, 20, 18)
    cl, dice = cldice_terms(t.double(), probs(x, "binary"))
    w.case("cldice binary", "cldice", {"mode": "binary"}, {"input": x, "target": t}, cl)
    w.case("dice-cldice binary alpha 0.3", "dice-cldice", {"mode": "binary", "alpha": "0.3"}, {"input": x, "target": t},
           0.7 * dice + 0.3 * cl)
    x = logits(1, 3, 12, 11, 10)
    y = torch.randint(0, 3, (1, 12, 11, 10))
    p, oh = probs(x, "multiclass"), one_hot(y, 3)
    cl, dice = cldice_terms(oh[:, 1:], p[:, 1:], iter_=5)
    w.case("cldice multiclass 3d", "cldice", {"mode": "multiclass", "classes": "3", "spatial_dims": "3", "iterations": "5"},
           {"input": x, "target": y}, cl)
    w.case("dice-cldice multiclass 3d", "dice-cldice", {"mode": "multiclass", "classes": "3", "spatial_dims": "3", "iterations": "5"},
           {"input": x, "target": y}, 0.5 * dice + 0.5 * cl)


# Hybrids -----------------------------------------------------------------


def iou(p, t, s=1.0):
    inter = (p * t).flatten(2).sum(-1)
    union = (p + t).flatten(2).sum(-1) - inter
    return (1 - (inter + s) / (union + s)).mean()


def hybrid_cases(w):
    x = logits(2, 1, 18, 19)
    t = mask(2, 1, 18, 19)
    p = probs(x, "binary")
    ssim, _ = ssim_maps(p, t.double(), padding="zeros")
    loss = F.binary_cross_entropy_with_logits(x.double(), t.double()) + (1 - spatial_mean(ssim).mean()) + iou(p, t.double())
    w.case("basnet-hybrid", "basnet-hybrid", {"mode": "binary"}, {"input": x, "target": t}, loss, **TOL)
    x = logits(2, 1, 24, 22)
    t = mask(2, 1, 24, 22)
    p = probs(x, "binary")
    focal = torchvision.ops.sigmoid_focal_loss(x.double(), t.double(), alpha=0.25, gamma=2.0, reduction="mean")
    ms = msssim(p, t.double(), weights=(0.3, 0.3, 0.4), win=5)
    loss = focal + (1 - ms.mean()) + iou(p, t.double())
    w.case("unet3p-hybrid", "unet3p-hybrid", {"mode": "binary", "alpha": "0.25", "win_size": "5", "weights": "0.3,0.3,0.4"},
           {"input": x, "target": t}, loss, **TOL)


def make(w):
    ssim_cases(w)
    msssim_cases(w)
    cmssim_case(w)
    lovasz_cases(w)
    boundary_cases(w)
    cldice_cases(w)
    hybrid_cases(w)
    lovasz_more_cases(w)
