#!/usr/bin/python3
"""Peak memory and time of every loss on a large volume, one loss per process.

    scripts/bench_volume.py [--shape 1,4,256,256,256] [--grad] [--limit-gb 14]
                            [--only a,b] [--opt loss:key=value ...] [--out results.jsonl]

Runs `onnxloss bench LOSS --shape SHAPE --iters 1 --threads 1 --json` for every
loss that `onnxloss list` names (or those of --only), one at a time, each in a
process of its own whose address space is capped at --limit-gb (prlimit), so
that a loss that needs more fails with an allocation error instead of pushing
the machine into swap or the out-of-memory killer. --opt adds a loss option
or a bench flag to one loss's command line (for example --opt
hausdorff-er:erosions=3, or --opt ssim:no-arena=true). Prints a Markdown
table: the session's own peak resident memory (the peak is measured as
`onnxloss bench --help` describes), that peak over the input bytes, and the
time of the first call and of the second; a loss that failed is listed with
the last line of its error. Each JSON result (or failure) is appended to --out
as it comes, so an interrupted run keeps what it measured.

Needs the onnxloss binary (ONNXLOSS_BIN, default: go run ./cmd/onnxloss built
once into a temporary folder) and ONNX Runtime where it finds it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def binary(tmp):
    b = os.environ.get("ONNXLOSS_BIN")
    if b:
        return b
    b = os.path.join(tmp, "onnxloss")
    subprocess.run(["go", "build", "-o", b, "./cmd/onnxloss"], cwd=ROOT, check=True)
    return b


def losses(b):
    out = subprocess.run([b, "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines()[1:] if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="1,4,256,256,256")
    ap.add_argument("--grad", action="store_true", help="also the loss with its gradient")
    ap.add_argument("--limit-gb", type=float, default=14, help="address-space cap of each process, GB")
    ap.add_argument("--only", default="", help="comma-separated losses")
    ap.add_argument("--opt", action="append", default=[], help="LOSS:KEY=VALUE, a loss option for one loss")
    ap.add_argument("--out", default="", help="append each JSON result to this file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        b = binary(tmp)
        names = a.only.split(",") if a.only else losses(b)
        extra = {}
        for o in a.opt:
            loss, kv = o.split(":", 1)
            k, v = kv.split("=", 1)
            extra.setdefault(loss, []).append("--%s=%s" % (k.replace("_", "-"), v))
        rows = []
        for name in names:
            cmd = ["prlimit", "--as=%d" % int(a.limit_gb * 1e9), b, "bench", name, "--shape", a.shape,
                   "--iters", "1", "--threads", "1", "--json"] + extra.get(name, [])
            if a.grad:
                cmd.append("--grad")
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.time() - t0
            if p.returncode == 0 and p.stdout.strip():
                r = json.loads(p.stdout.strip().splitlines()[-1])
            else:
                err = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
                r = {"loss": name, "error": err[:300], "exit": p.returncode}
            r["options"] = extra.get(name, [])
            r["process_s"] = round(wall, 1)
            rows.append(r)
            if a.out:
                with open(a.out, "a") as f:
                    f.write(json.dumps(r) + "\n")
            print(json.dumps(r), file=sys.stderr, flush=True)
    print("| loss | options | peak GB | peak / input | first call s | second call s |" +
          (" grad peak GB | grad peak / input | grad first s | grad second s |" if a.grad else ""))
    print("|---|---|---|---|---|---|" + ("---|---|---|---|" if a.grad else ""))
    for r in rows:
        opts = " ".join(r["options"])
        if "error" in r:
            print("| %s | %s | failed: %s |" % (r["loss"], opts, r["error"]))
            continue
        line = "| %s | %s | %.2f | %.1f | %.1f | %.1f |" % (
            r["loss"], opts, r["peak_bytes"] / 1e9, r["peak_ratio"], r["first_ms"] / 1e3, r["loss_ms"] / 1e3)
        if a.grad:
            line += " %.2f | %.1f | %.1f | %.1f |" % (r["grad_peak_bytes"] / 1e9, r["grad_peak_ratio"],
                                                   r["grad_first_ms"] / 1e3, r["grad_ms"] / 1e3)
        print(line)


if __name__ == "__main__":
    main()
