#!/usr/bin/python3
"""One training step of torchvision's lraspp_mobilenet_v3_large with onnxloss
(ONNX Runtime, CPU) against PyTorch eager, in one run.

    scripts/bench_train.py [--shape 8,3,256,256] [--threads 2] [--iters 3]
                           [--losses cross-entropy,dice] [--profile]

The model (random weights, 3 classes, eval mode: BatchNorm statistics frozen
on both sides) is exported once. For each loss, `onnxloss bench --train`
times the training graph with an SGD update (forward, loss, every
parameter's gradient, the update; parameters fed in and read back), then a
child process times PyTorch eager's `loss.backward(); opt.step()` (after
`opt.zero_grad()` and the forward pass) on the same model, batch and thread
count, with torch.optim.SGD. Both report the median of --iters steps after
untimed warm-up steps, and their peak resident memory: onnxloss's session's
growth (see `onnxloss bench --help`), PyTorch's process's whole peak
(ru_maxrss) less its peak before the first step. RATIO is onnxloss over
PyTorch: below 1 onnxloss is faster.

PyTorch's losses are written the way a PyTorch user writes them:
F.cross_entropy, and for dice the soft Dice of the softmax probabilities
against the one-hot labels per class, averaged over the classes (onnxloss's
default dice).

Needs Debian's python3-torch and python3-torchvision, and the onnxloss
binary (ONNXLOSS_BIN, or built here with go build).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TORCH_STEP = r'''
import json, resource, sys, time
import torch, torchvision
import torch.nn.functional as F
shape, threads, iters, loss_name = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3).eval()
opt = torch.optim.SGD(net.parameters(), lr=0.01)
x = torch.randn(*shape)
y = torch.randint(0, 3, (shape[0], shape[2], shape[3]))
def loss_fn(out):
    if loss_name == "cross-entropy":
        return F.cross_entropy(out, y)
    p = out.softmax(1)
    t = F.one_hot(y, 3).permute(0, 3, 1, 2).to(p.dtype)
    inter = (p * t).sum((0, 2, 3))
    card = (p + t).sum((0, 2, 3))
    return 1 - ((2 * inter + 1e-5) / (card + 1e-5)).mean()
def step():
    opt.zero_grad()
    loss = loss_fn(net(x)["out"])
    loss.backward()
    opt.step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
step()
step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
times = []
for _ in range(iters):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"step_ms": 1000 * times[len(times) // 2], "peak_rss": peak * 1024}))
'''


def binary(tmp):
    b = os.environ.get("ONNXLOSS_BIN")
    if b:
        return b
    b = os.path.join(tmp, "onnxloss")
    subprocess.run(["go", "build", "-o", b, "./cmd/onnxloss"], cwd=ROOT, check=True)
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="8,3,256,256")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--losses", default="cross-entropy,dice")
    ap.add_argument("--profile", action="store_true", help="print where onnxloss's step spends its time")
    a = ap.parse_args()
    shape = [int(s) for s in a.shape.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        bin_ = binary(tmp)
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "torch_train_grads.py"), "export", tmp,
                        "--model", "lraspp_mobilenet_v3_large", "--size", str(shape[2])],
                       check=True, stderr=subprocess.DEVNULL)
        model = os.path.join(tmp, "model.onnx")
        rows = []
        for loss in a.losses.split(","):
            cmd = [bin_, "bench", "--train", "--model", model, loss, "--shape", a.shape, "--threads", str(a.threads),
                   "--iters", str(a.iters), "--json"]
            if a.profile:
                cmd += ["--profile", os.path.join(tmp, "prof_" + loss)]
            ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            theirs = json.loads(subprocess.run([sys.executable, "-c", TORCH_STEP, json.dumps(shape), str(a.threads),
                                                str(a.iters), loss], check=True, capture_output=True, text=True).stdout)
            rows.append((loss, ours, theirs))
        print("lraspp_mobilenet_v3_large, %s, %d threads, median of %d steps (forward, loss, all gradients, SGD update)"
              % ("x".join(map(str, shape)), a.threads, a.iters))
        print("| loss | onnxloss ms | PyTorch eager ms | ratio | onnxloss peak MB | PyTorch peak MB |")
        print("|---|---|---|---|---|---|")
        for loss, o, t in rows:
            print("| %s | %.0f | %.0f | %.2f | %.0f | %.0f |" % (loss, o["step_ms"], t["step_ms"], o["step_ms"] / t["step_ms"],
                                                            o["peak_rss"] / 1e6, t["peak_rss"] / 1e6))
        if a.profile:
            for loss, o, _ in rows:
                ops = ", ".join("%s %.0f%%" % (p["Op"], 100 * p["Share"]) for p in (o.get("profile") or [])[:8])
                print("%s: %s" % (loss, ops))


if __name__ == "__main__":
    main()
