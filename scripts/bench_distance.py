#!/usr/bin/python3
"""Time and memory of onnxloss's distance transform and distance losses in
ONNX Runtime (CPU), next to SciPy's distance_transform_edt on the same masks.

    scripts/bench_distance.py [--sizes 256x256,64x64x64] [--iters 5]
                              [--threads 1] [--no-scipy] [--no-losses]

Builds the test binaries of ./builder and ./losses, runs every case of
BenchmarkEuclideanDistance and BenchmarkDistanceLosses in a process of its
own (so that the peak resident memory is that case's alone: the process's
peak while the session ran minus its resident memory just before the
session was made, which already holds the inputs and ONNX Runtime), runs
scripts/scipy_edt.py bench on the same masks, and prints Markdown tables.

Times per call, ONNX Runtime on --threads intra-op threads (default 1, as
SciPy uses one): the smallest wall time of --iters calls after a warm-up,
and the process's CPU time (all its threads) per call over those calls;
SciPy's is the smallest CPU time of 3 to 5 calls, measured just before the
ONNX Runtime cases of the same size. On a machine shared with other work,
wall times grow with the load and CPU times much less: the ratios use CPU
times. Needs ONNXLOSS_ORT_LIB (or ONNX Runtime where runtime/
finds it) and Go.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = "256x256,512x512,1024x1024,64x64x64,128x128x128"
LOSSES = ["boundary", "hausdorff-dt", "hausdorff-er", "distance-penalized-ce", "shape-aware", "unet-weight-map"]
BOUNDED = {"boundary", "hausdorff-dt", "distance-penalized-ce", "shape-aware"}  # those with max_distance
# SciPy's host-side maps of each loss, as scripts/scipy_edt.py bench names them.
SCIPY_KEY = {"boundary": "boundary_s", "hausdorff-dt": "hausdorff_dt_s",
             "distance-penalized-ce": "distance_penalized_ce_s", "shape-aware": "shape_aware_s",
             "unet-weight-map": "unet_weight_map_s"}

LINE = re.compile(r"^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$")


def parse(out):
    """The metrics of the benchmark lines of go test's output."""
    res = {}
    for line in out.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        fields = m.group(4).split()
        metrics = {fields[i + 1]: float(fields[i]) for i in range(0, len(fields) - 1, 2)}
        res[m.group(1)] = metrics
    return res


def run_case(binary, bench, size, env_extra, iters, threads):
    env = dict(os.environ, ONNXLOSS_EDT_SIZES=size, ONNXLOSS_BENCH_THREADS=str(threads), **env_extra)
    cmd = [binary, "-test.run", "^$", "-test.bench", bench, "-test.benchtime", "%dx" % iters]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=os.path.dirname(binary))
    if p.returncode != 0:
        sys.exit("%s %s failed:\n%s%s" % (binary, bench, p.stdout, p.stderr))
    res = parse(p.stdout)
    if len(res) != 1:
        sys.exit("%s: expected one benchmark line, got %d:\n%s" % (bench, len(res), p.stdout))
    return next(iter(res.values()))


def anchored(*parts):
    return "/".join("^%s$" % re.escape(p) for p in parts)


def mib(m):
    return m["peakRSS-MiB"] - m["baseRSS-MiB"]


def scipy_bench(sizes):
    p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "scipy_edt.py"), "bench"] + sizes,
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("scipy_edt.py bench failed:\n" + p.stderr)
    out = {}
    for line in p.stdout.splitlines():
        r = json.loads(line)
        out[(r["size"], r["mask"])] = r
    return out


def ms(x):
    return "%.3g" % x if x < 100 else "%.0f" % x


def wc(m):
    """The smallest wall time and the CPU time per call."""
    return "%s / %s" % (ms(m["min-ms/call"]), ms(m["cpu-ms/call"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=SIZES)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument("--no-losses", action="store_true")
    args = ap.parse_args()
    sizes = args.sizes.split(",")

    tmp = tempfile.mkdtemp(prefix="onnxloss-bench-")
    bins = {}
    for pkg in ("builder", "losses"):
        bins[pkg] = os.path.join(tmp, pkg + ".test")
        subprocess.run(["go", "test", "-c", "-o", bins[pkg], "./" + pkg], cwd=ROOT, check=True)
    sp = {}

    def scipy_for(size):
        # Just before the ONNX Runtime cases of the same size, so that both
        # see about the same load on a shared machine.
        if not args.no_scipy and (size, "blobs") not in sp:
            sp.update(scipy_bench([size]))

    print("Distance transform of one [1,1,*size] mask; ONNX Runtime %s thread(s), %d timed calls per case, "
          "each case in its own process. SciPy: smallest CPU time of 3 to 5 calls." % (args.threads, args.iters))
    print()
    print("| size | mask | edt: ORT ms (wall / CPU) | SciPy ms | pair: ORT ms (wall / CPU) | SciPy ms "
          "| pair: ORT / SciPy (CPU) | pair-max32: ORT ms (wall / CPU) | ORT peak MiB (edt / pair / max32) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        scipy_for(size)
        for kind in ("blobs", "corner"):
            r = {c: run_case(bins["builder"], "BenchmarkEuclideanDistance/" + anchored(size, kind, c), size, {},
                             args.iters, args.threads) for c in ("edt", "pair", "pair-max32")}
            s = sp.get((size, kind))
            s_edt = ms(s["edt_s"] * 1e3) if s else "-"
            s_pair = ms(s["pair_s"] * 1e3) if s else "-"
            ratio = "%.1f×" % (r["pair"]["cpu-ms/call"] / (s["pair_s"] * 1e3)) if s else "-"
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %.0f / %.0f / %.0f |" % (
                size, kind, wc(r["edt"]), s_edt, wc(r["pair"]), s_pair, ratio, wc(r["pair-max32"]),
                mib(r["edt"]), mib(r["pair"]), mib(r["pair-max32"])))
            sys.stdout.flush()
    if args.no_losses:
        return
    print()
    print("Distance losses, binary mode, one image, default options; input: logits N(0, 2²), target: the blobs mask. "
          "SciPy: the host-side maps the Python libraries compute for the loss (the loss arithmetic not included).")
    print()
    print("| size | loss | ORT ms (wall / CPU) | ORT peak MiB | SciPy maps ms | max_distance 32: ORT ms (wall / CPU) | "
          "value change |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        scipy_for(size)
        for name in LOSSES:
            env = {"ONNXLOSS_BENCH_LOSSES": name}
            r = run_case(bins["losses"], "BenchmarkDistanceLosses/" + anchored(size, name), size, env,
                         args.iters, args.threads)
            bounded, change = "-", "-"
            if name in BOUNDED:
                rb = run_case(bins["losses"], "BenchmarkDistanceLosses/" + anchored(size, name + "-max32"), size, env,
                              args.iters, args.threads)
                bounded = wc(rb)
                change = "%+.1f%%" % (100 * (rb["loss"] - r["loss"]) / abs(r["loss"]))
            s = sp.get((size, "blobs"))
            s_maps = ms(s[SCIPY_KEY[name]] * 1e3) if s and name in SCIPY_KEY else "-"
            print("| %s | %s | %s | %.0f | %s | %s | %s |" % (size, name, wc(r), mib(r), s_maps, bounded, change))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
