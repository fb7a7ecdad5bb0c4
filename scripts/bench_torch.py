#!/usr/bin/python3
"""Loss and gradient of onnxloss's pixel and region losses in ONNX Runtime
(CPU) against PyTorch eager forward and backward of the same loss, in one run.

    scripts/bench_torch.py [--shapes 8,21,256,256 8,1,512,512] [--only a,b]
                           [--rounds 3] [--iters 5] [--threads 1] [--no-check]
                           [--lovasz] [--json out.jsonl]

Each case is an onnxloss loss with options and its peer written in torch
(torchvision.ops.sigmoid_focal_loss for binary focal, F.cross_entropy,
F.binary_cross_entropy_with_logits, the region losses' formulas in torch;
float32, the way a PyTorch user writes them). First every peer is checked
against `onnxloss eval` on the same small inputs (the loss values must agree
to 1e-4 relative), so that the two sides compute the same loss. Then, for
--rounds rounds, each case runs `onnxloss bench LOSS --grad --json` (--iters
timed calls of the loss with its input_grad output after a first call) and,
right after, --iters timed calls of the torch loss's forward and backward
(after one untimed call); ONNX Runtime and torch both use --threads threads.
The table shows per-case medians over the rounds of the per-round medians,
in wall time and in CPU time (the process's, all threads): on a machine
shared with other work wall times grow with the load and CPU times much
less. RATIO is onnxloss over torch: below 1 onnxloss is faster.

--lovasz adds lovasz-softmax at 4×21×128×128 against a Lovász-softmax written
in torch from the paper (Berman et al., as segmentation_models_pytorch and
the authors' code write it: per class, errors sorted descending, the Lovász
gradient of the sorted labels, a dot product), and TopK alone (ONNX Runtime,
through `go test ./bench -bench TopKRows`) against torch.sort on rows of the
same size.

Needs Debian's python3-torch and python3-torchvision, Go, and ONNX Runtime
where onnxloss finds it (ONNXLOSS_ORT_LIB). ONNXLOSS_BIN names a built
onnxloss binary; by default one is built into a temporary folder.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS, SMOOTH = 1e-7, 1e-5


# ---------------------------------------------------------------------------
# Peers: float32 torch, from the formulas onnxloss describe prints.

def probs(x, binary):
    return torch.sigmoid(x) if binary else torch.softmax(x, 1)


def onehot(t, binary, c):
    return t if binary else F.one_hot(t, c).movedim(-1, 1).to(torch.float32)


def overlap(x, t, binary):
    """Per-sample, per-class sums (the region losses' default per_image)."""
    p = probs(x, binary)
    y = onehot(t, binary, x.shape[1])
    dims = tuple(range(2, x.dim()))
    return p, y, (p * y).sum(dims), p.sum(dims), y.sum(dims)


def dice_score(x, t, binary):
    _, _, i, sp, st = overlap(x, t, binary)
    return (2 * i + SMOOTH) / (sp + st + SMOOTH).clamp_min(EPS)


def tversky_index(x, t, binary, a, b):
    _, _, i, sp, st = overlap(x, t, binary)
    return (i + SMOOTH) / (i + a * (sp - i) + b * (st - i) + SMOOTH).clamp_min(EPS)


def ce(x, t, binary):
    if binary:
        return F.binary_cross_entropy_with_logits(x, t)
    return F.cross_entropy(x, t)


def focal(x, t, binary, gamma=2.0):
    if binary:
        import torchvision
        return torchvision.ops.sigmoid_focal_loss(x, t, alpha=-1, gamma=gamma, reduction="mean")
    logp = F.log_softmax(x, 1).gather(1, t.unsqueeze(1))
    return -((1 - logp.exp()) ** gamma * logp).mean()


def focal_alpha(x, t, binary):
    import torchvision
    return torchvision.ops.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0, reduction="mean")


def balanced_bce(x, t, binary):
    beta = (1 - t).mean()
    return F.binary_cross_entropy_with_logits(x, t, weight=beta * t + (1 - beta) * (1 - t))


def ohem_ce(x, t, binary, thresh=0.7, min_kept=100000):
    with torch.no_grad():
        py = torch.softmax(x, 1).gather(1, t.unsqueeze(1)).flatten()
        k = min(min_kept, py.numel())
        kth = torch.kthvalue(py, k).values if k > 0 else py.new_tensor(0.0)
        keep = py <= torch.maximum(kth, py.new_tensor(thresh))
    return F.cross_entropy(x, t, reduction="none").flatten()[keep].mean()


def topk_ce(x, t, binary, k=10.0):
    l = F.cross_entropy(x, t, reduction="none").flatten()
    return l.topk(math.ceil(k / 100 * l.numel())).values.mean()


def weighted_ce(x, t, binary, w):
    if binary:
        return (F.binary_cross_entropy_with_logits(x, t, reduction="none") * w.unsqueeze(1)).mean()
    return (F.cross_entropy(x, t, reduction="none") * w).mean()


def generalized_dice(x, t, binary):
    _, _, i, sp, st = overlap(x, t, binary)
    w = 1 / st ** 2
    w = torch.where(torch.isinf(w), w.masked_fill(torch.isinf(w), 0).amax(1, keepdim=True), w)
    return (1 - (2 * (w * i).sum(1) + SMOOTH) / ((w * (sp + st)).sum(1) + SMOOTH).clamp_min(EPS)).mean()


def combo(x, t, binary, alpha=0.5, beta=0.5):
    if binary:
        logp, log1mp = F.logsigmoid(x), F.logsigmoid(-x)
    else:
        logp = F.log_softmax(x, 1)
        log1mp = torch.log((1 - logp.exp()).clamp_min(2.0 ** -126))
    y = onehot(t, binary, x.shape[1])
    bce = -(beta * y * logp + (1 - beta) * (1 - y) * log1mp).mean()
    return alpha * bce + (1 - alpha) * (1 - dice_score(x, t, binary).mean())


def exp_log(x, t, binary, wd=0.8, wc=0.2, gd=0.3, gc=0.3):
    d = (-torch.log(dice_score(x, t, binary).clamp_min(EPS))).clamp_min(2.0 ** -126) ** gd
    if binary:
        nll = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    else:
        nll = F.cross_entropy(x, t, reduction="none")
    return wd * d.mean() + wc * (nll.clamp_min(2.0 ** -126) ** gc).mean()


def mcc(x, t, binary, eps=1e-5):
    p = probs(x, binary)
    y = onehot(t, binary, x.shape[1])
    dims = (0,) + tuple(range(2, x.dim()))
    n = p[:, 0].numel()
    tp = (p * y).sum(dims) / n + eps
    fp = (p * (1 - y)).sum(dims) / n + eps
    fn = ((1 - p) * y).sum(dims) / n + eps
    tn = ((1 - p) * (1 - y)).sum(dims) / n + eps
    return (1 - (tp * tn - fp * fn) / torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))).mean()


def sens_spec(x, t, binary, r=0.1):
    p = probs(x, binary)
    y = onehot(t, binary, x.shape[1])
    dims = tuple(range(2, x.dim()))
    se = ((y - p) ** 2 * y).sum(dims) / (y.sum(dims) + SMOOTH)
    sp = ((y - p) ** 2 * (1 - y)).sum(dims) / ((1 - y).sum(dims) + SMOOTH)
    return (r * se + (1 - r) * sp).mean()


def gwd(x, t, binary):
    p = torch.softmax(x, 1)
    py = p.gather(1, t.unsqueeze(1)).squeeze(1)
    dims = tuple(range(1, py.dim()))
    tp = (py * (t != 0)).sum(dims)
    den = 2 * tp + (1 - py).sum(dims)
    return (1 - (2 * tp + SMOOTH) / (den + SMOOTH).clamp_min(EPS)).mean()


# name, onnxloss options, peer(x, t, binary[, extra]), modes (m: multiclass, b: binary), extra input
CASES = [
    ("cross-entropy", {}, ce, "m", None),
    ("bce", {}, ce, "b", None),
    ("balanced-bce", {}, balanced_bce, "b", None),
    ("weighted-bce", {}, ce, "b", None),
    ("focal", {"alpha": "0.25"}, focal_alpha, "b", None),
    ("focal", {}, focal, "m", None),
    ("ohem-ce", {}, ohem_ce, "m", None),
    ("topk-ce", {}, topk_ce, "m", None),
    ("weighted-ce", {}, weighted_ce, "mb", "pixel_weight"),
    ("dice", {}, lambda x, t, b: 1 - dice_score(x, t, b).mean(), "mb", None),
    ("jaccard", {}, lambda x, t, b: 1 - tversky_index(x, t, b, 1.0, 1.0).mean(), "mb", None),
    ("tversky", {}, lambda x, t, b: 1 - tversky_index(x, t, b, 0.3, 0.7).mean(), "mb", None),
    ("focal-tversky", {}, lambda x, t, b: ((1 - tversky_index(x, t, b, 0.3, 0.7)).clamp_min(2.0 ** -126) ** 0.75).mean(), "mb", None),
    ("asymmetric-similarity", {}, lambda x, t, b: 1 - tversky_index(x, t, b, 1 / 3.25, 2.25 / 3.25).mean(), "mb", None),
    ("generalized-dice", {}, generalized_dice, "mb", None),
    ("combo", {}, combo, "mb", None),
    ("dice-ce", {}, lambda x, t, b: 1 - dice_score(x, t, b).mean() + ce(x, t, b), "mb", None),
    ("dice-focal", {}, lambda x, t, b: 1 - dice_score(x, t, b).mean() + focal(x, t, b), "mb", None),
    ("exp-log", {}, exp_log, "mb", None),
    ("log-cosh-dice", {}, lambda x, t, b: torch.log(torch.cosh(1 - dice_score(x, t, b))).mean(), "mb", None),
    ("mcc", {}, mcc, "mb", None),
    ("sensitivity-specificity", {}, sens_spec, "mb", None),
    ("generalized-wasserstein-dice", {}, gwd, "m", None),
]


# Checked only: options under which the peers' selections matter at the
# check's small shape.
CHECK_ONLY = [
    ("ohem-ce", {"min_kept": "100", "thresh": "0.05"}, lambda x, t, b: ohem_ce(x, t, b, thresh=0.05, min_kept=100), "m", None),
    ("topk-ce", {"k": "3"}, lambda x, t, b: topk_ce(x, t, b, k=3), "m", None),
]


def inputs(shape, binary, extra, seed=1):
    g = torch.Generator().manual_seed(seed)
    n, c, spatial = shape[0], shape[1], shape[2:]
    x = torch.randn(shape, generator=g) * 2
    if binary:
        t = (torch.rand(shape, generator=g) < 0.3).float()
    else:
        t = torch.randint(0, c, (n,) + tuple(spatial), generator=g)
    e = torch.rand((n,) + tuple(spatial), generator=g) * 3 if extra else None
    return x, t, e


def call(peer, x, t, binary, e):
    return peer(x, t, binary, e) if e is not None else peer(x, t, binary)


# ---------------------------------------------------------------------------

def onnxloss_bin(tmp):
    b = os.environ.get("ONNXLOSS_BIN")
    if b:
        return b
    b = os.path.join(tmp, "onnxloss")
    subprocess.run(["go", "build", "-o", b, "./cmd/onnxloss"], cwd=ROOT, check=True)
    return b


def opt_args(opts):
    out = []
    for k, v in opts.items():
        out += ["--" + k.replace("_", "-"), v]
    return out


def mode_opts(shape, binary):
    return {"mode": "binary"} if binary else {"mode": "multiclass", "classes": str(shape[1])}


def check(b, tmp, name, opts, peer, binary, extra):
    """The peer's loss and onnxloss eval's on the same small inputs."""
    shape = [2, 1, 24, 20] if binary else [2, 5, 24, 20]
    x, t, e = inputs(shape, binary, extra, seed=7)
    np.save(os.path.join(tmp, "x.npy"), x.numpy())
    np.save(os.path.join(tmp, "t.npy"), t.numpy())
    cmd = [b, "eval", name, "--input", os.path.join(tmp, "x.npy"), "--target", os.path.join(tmp, "t.npy"),
           "--out", os.path.join(tmp, "loss.npy")] + opt_args({**mode_opts(shape, binary), **opts})
    if extra:
        np.save(os.path.join(tmp, "e.npy"), e.numpy())
        cmd += ["--extra", "%s=%s" % (extra, os.path.join(tmp, "e.npy"))]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 1):
        raise SystemExit("%s: onnxloss eval failed: %s" % (name, p.stderr.strip()))
    ort = float(np.load(os.path.join(tmp, "loss.npy")))
    with torch.no_grad():
        ref = float(call(peer, x, t, binary, e))
    return ort, ref


def time_torch(peer, x, t, binary, e, iters):
    x = x.clone().requires_grad_(True)
    walls, cpus = [], []
    for i in range(iters + 1):
        x.grad = None
        w0, c0 = time.perf_counter(), time.process_time()
        call(peer, x, t, binary, e).backward()
        if i > 0:  # the first call is a warm-up
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def time_onnxloss(b, name, opts, shape, binary, iters, threads):
    cmd = [b, "bench", name, "--grad", "--json", "--shape", ",".join(map(str, shape)), "--iters", str(iters),
           "--threads", str(threads)] + opt_args({**mode_opts(shape, binary), **opts})
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("%s: onnxloss bench failed: %s" % (name, p.stderr.strip()))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["grad_ms"], r["grad_cpu_ms"]


def lovasz_grad(gt_sorted):
    gts = gt_sorted.sum()
    inter = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jac = 1 - inter / union
    jac[1:] = jac[1:] - jac[:-1]
    return jac


def lovasz_softmax(x, t, binary):
    """Berman et al.'s Lovász-softmax over the batch, classes present."""
    p = torch.softmax(x, 1).movedim(1, -1).reshape(-1, x.shape[1])
    lab = t.flatten()
    losses = []
    for c in range(x.shape[1]):
        fg = (lab == c).float()
        if fg.sum() == 0:
            continue
        err = (fg - p[:, c]).abs()
        err_sorted, perm = torch.sort(err, 0, descending=True)
        losses.append(torch.dot(err_sorted, lovasz_grad(fg[perm])))
    return torch.stack(losses).mean()


def topk_ort(threads, rows, cols, iters):
    """ONNX Runtime's TopK over rows×cols float32, from the bench package's benchmark."""
    env = dict(os.environ, ONNXLOSS_TOPK_SHAPE="%d,%d" % (rows, cols), ONNXLOSS_BENCH_THREADS=str(threads))
    p = subprocess.run(["go", "test", "./bench", "-run", "^$", "-bench", "TopKRows", "-benchtime", "%dx" % iters,
                        "-count", "1"], cwd=ROOT, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("BenchmarkTopKRows"):
            f = line.split()
            m = {f[i + 1]: float(f[i]) for i in range(2, len(f) - 1, 2)}
            return m["ms/call"], m["cpu-ms/call"]
    raise SystemExit("TopK benchmark failed: %s %s" % (p.stdout, p.stderr))


def topk_torch(rows, cols, iters):
    e = torch.rand(rows, cols)
    walls, cpus = [], []
    for i in range(iters + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        torch.sort(e, 1, descending=True)
        if i > 0:
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["8,21,256,256", "8,1,512,512"])
    ap.add_argument("--only", default="")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--lovasz", action="store_true")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    only = set(a.only.split(",")) if a.only else None
    with tempfile.TemporaryDirectory() as tmp:
        b = onnxloss_bin(tmp)
        cases = []
        for s in a.shapes:
            shape = [int(v) for v in s.split(",")]
            binary = shape[1] == 1
            for name, opts, peer, modes, extra in CASES:
                if ("b" if binary else "m") in modes and (only is None or name in only):
                    cases.append((name, opts, peer, shape, binary, extra))
        if a.lovasz and (only is None or "lovasz-softmax" in only):
            cases.append(("lovasz-softmax", {}, lovasz_softmax, [4, 21, 128, 128], False, None))
        if not a.no_check:
            bad = []
            extra_checks = [(name, opts, peer, None, "b" in modes, extra) for name, opts, peer, modes, extra in CHECK_ONLY
                            if only is None or name in only]
            for name, opts, peer, shape, binary, extra in cases + extra_checks:
                ort, ref = check(b, tmp, name, opts, peer, binary, extra)
                ok = abs(ort - ref) <= 1e-4 * max(abs(ref), 1e-3)
                print("check %-30s %-10s onnxloss %.7g torch %.7g %s" % (name, "binary" if binary else "multiclass",
                                                                      ort, ref, "ok" if ok else "DIFFERENT"), file=sys.stderr)
                if not ok:
                    bad.append(name)
            if bad:
                raise SystemExit("the torch peers of %s do not compute onnxloss's loss" % ", ".join(bad))
        results = {i: [] for i in range(len(cases))}
        topk = []
        for r in range(a.rounds):
            for i, (name, opts, peer, shape, binary, extra) in enumerate(cases):
                ow, oc = time_onnxloss(b, name, opts, shape, binary, a.iters, a.threads)
                x, t, e = inputs(shape, binary, extra)
                tw, tc = time_torch(peer, x, t, binary, e, a.iters)
                results[i].append((ow, oc, tw, tc))
                print("round %d %-30s %s onnxloss %.1f ms (cpu %.1f) torch %.1f ms (cpu %.1f)" % (
                    r, name, "x".join(map(str, shape)), ow, oc, tw, tc), file=sys.stderr, flush=True)
            if a.lovasz:
                rows, cols = 21, 4 * 128 * 128
                topk.append(topk_ort(a.threads, rows, cols, a.iters) + topk_torch(rows, cols, a.iters))
    if a.rounds < 1:
        return
    med = lambda v: statistics.median(v)
    print("| loss | shape | onnxloss loss+grad ms | torch fwd+bwd ms | ratio | ratio (CPU time) |")
    print("|---|---|---|---|---|---|")
    out = []
    for i, (name, opts, peer, shape, binary, extra) in enumerate(cases):
        rs = results[i]
        row = {"loss": name, "options": opts, "shape": shape, "threads": a.threads, "rounds": a.rounds,
               "onnxloss_ms": med([r[0] for r in rs]), "onnxloss_cpu_ms": med([r[1] for r in rs]),
               "torch_ms": med([r[2] for r in rs]), "torch_cpu_ms": med([r[3] for r in rs]),
               "ratio": med([r[0] / r[2] for r in rs]), "cpu_ratio": med([r[1] / r[3] for r in rs])}
        out.append(row)
        label = name + (" " + " ".join(opt_args(opts)) if opts else "")
        print("| %s | %s | %.1f | %.1f | %.2f | %.2f |" % (label, "×".join(map(str, shape)), row["onnxloss_ms"],
                                                          row["torch_ms"], row["ratio"], row["cpu_ratio"]))
    if topk:
        rows, cols = 21, 4 * 128 * 128
        print("| TopK of %d rows of %d (ONNX Runtime) vs torch.sort | | %.1f | %.1f | %.2f | %.2f |" % (
            rows, cols, med([v[0] for v in topk]), med([v[2] for v in topk]),
            med([v[0] / v[2] for v in topk]), med([v[1] / v[3] for v in topk])))
    if a.json:
        with open(a.json, "w") as f:
            for row in out:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
