#!/usr/bin/python3
"""SciPy side of onnxloss's distance transform: fixtures and timings.

    scipy_edt.py fixtures OUTDIR
        Writes test cases for builder.EuclideanDistance: for each case a bool
        mask [N,C,*spatial] (case_mask.npy), SciPy's
        scipy.ndimage.distance_transform_edt of every [n,c] slice with the
        case's spacing (case_edt.npy, float64) and of its complement
        (case_edt_not.npy), and cases.json listing them. Masks come from a
        seeded generator, so the output is the same on every run.

    scipy_edt.py bench [SIZE ...]
        Times SciPy on the benchmark masks that the Go benchmarks build with
        the same formula (see blobs() and corner(); sizes like 256x256 or
        64x64x64, default: 256x256 512x512 1024x1024 64x64x64 128x128x128)
        and prints one JSON line per size and mask: the CPU time (the
        smallest of several calls) of one distance_transform_edt call
        (edt_s), of the mask's and its complement's (pair_s), and of the
        host-side distance maps that each distance loss needs (the way the
        Python libraries compute them, one image at a time).
"""
import json
import os
import sys
import time

import numpy as np
from scipy import ndimage


def edt_slices(mask, spacing):
    """distance_transform_edt of every [n, c] slice, as the libraries call it."""
    out = np.zeros(mask.shape, dtype=np.float64)
    for n in range(mask.shape[0]):
        for c in range(mask.shape[1]):
            out[n, c] = ndimage.distance_transform_edt(mask[n, c], sampling=spacing)
    return out


def fixture_cases():
    """(name, mask, spacing) of every fixture."""
    rng = np.random.default_rng(20240611)
    cases = []

    def rand(shape, p):
        return rng.random(shape) < p

    for dims, spacing in [((1, 1), None), ((1, 9), None), ((9, 1), None), ((5, 7), None),
                          ((16, 13), None), ((31, 32), None), ((12, 17), (1.5, 0.5)),
                          ((17, 12), (0.7, 2.0))]:
        for p in (0.5, 0.8, 0.97):
            name = "rand2d_%s_p%g" % ("x".join(map(str, dims)), p)
            if spacing:
                name += "_s" + "_".join("%g" % s for s in spacing)
            cases.append((name, rand((1, 1) + dims, p), spacing))
    cases.append(("batch2d", rand((2, 3, 8, 9), 0.75), None))
    cases.append(("batch2d_spacing", rand((2, 2, 11, 6), 0.85), (2.0, 0.75)))
    for dims, spacing in [((3, 4, 5), None), ((9, 8, 7), None), ((16, 12, 10), (2.0, 1.0, 0.5)),
                          ((5, 11, 6), (0.5, 1.25, 3.0))]:
        for p in (0.6, 0.95):
            name = "rand3d_%s_p%g" % ("x".join(map(str, dims)), p)
            if spacing:
                name += "_s" + "_".join("%g" % s for s in spacing)
            cases.append((name, rand((1, 1) + dims, p), spacing))
    cases.append(("batch3d", rand((2, 2, 4, 5, 6), 0.8), None))
    cases.append(("rand1d", rand((2, 1, 23), 0.8), (1.5,)))

    # Edge cases: every pixel false, every pixel true, one true pixel, one
    # false pixel (the largest distances), and a batch mixing them.
    cases.append(("empty2d", np.zeros((1, 1, 6, 7), bool), None))
    cases.append(("full2d", np.ones((1, 1, 6, 7), bool), None))
    cases.append(("full2d_spacing", np.ones((1, 1, 5, 4), bool), (2.0, 0.5)))
    cases.append(("full3d", np.ones((1, 1, 3, 4, 2), bool), None))
    cases.append(("full1x1", np.ones((1, 1, 1, 1), bool), None))
    one = np.zeros((1, 1, 9, 8), bool)
    one[0, 0, 2, 6] = True
    cases.append(("single_true", one, None))
    hole = np.ones((1, 1, 13, 11), bool)
    hole[0, 0, 12, 0] = False
    cases.append(("single_false_corner", hole, None))
    hole3 = np.ones((1, 1, 7, 6, 5), bool)
    hole3[0, 0, 3, 0, 4] = False
    cases.append(("single_false_3d", hole3, (1.0, 2.0, 0.5)))
    mixed = rand((3, 2, 7, 8), 0.7)
    mixed[0, 1] = True
    mixed[1, 0] = False
    mixed[2, 1] = False
    mixed[2, 1, 3, 3] = True
    cases.append(("mixed_batch", mixed, None))
    return cases


def fixtures(outdir):
    os.makedirs(outdir, exist_ok=True)
    entries = []
    for name, mask, spacing in fixture_cases():
        mask = np.ascontiguousarray(mask.astype(bool))
        np.save(os.path.join(outdir, name + "_mask.npy"), mask)
        np.save(os.path.join(outdir, name + "_edt.npy"), edt_slices(mask, spacing))
        np.save(os.path.join(outdir, name + "_edt_not.npy"), edt_slices(~mask, spacing))
        entries.append({"name": name, "spacing": list(spacing) if spacing else None})
    doc = {"generator": "scripts/scipy_edt.py", "scipy": __import__("scipy").__version__,
           "numpy": np.__version__, "cases": entries}
    with open(os.path.join(outdir, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote %d cases to %s" % (len(entries), outdir))


# The benchmark masks. The Go benchmarks build the same masks with the same
# formula (builder/ops_distance_bench_test.go, losses/distance_bench_test.go):
# pixel i of an axis of size n has the coordinate u = (i + 0.5) / n, and a
# pixel is foreground when it lies in one of the balls below (coordinates of
# the first spatial axes; a 2-D mask uses the first two).
BLOBS = [((0.35, 0.40, 0.45), 0.20), ((0.72, 0.66, 0.60), 0.12), ((0.20, 0.80, 0.30), 0.08)]
CORNER = [((0.06, 0.06, 0.06), 0.04)]


def balls(dims, spec):
    axes = [(np.arange(n) + 0.5) / n for n in dims]
    grid = np.meshgrid(*axes, indexing="ij")
    mask = np.zeros(dims, bool)
    for centre, radius in spec:
        d2 = sum(((g - c) / radius) ** 2 for g, c in zip(grid, centre))
        mask |= d2 <= 1.0
    return mask


def blobs(dims):
    return balls(dims, BLOBS)


def corner(dims):
    return balls(dims, CORNER)


def timed(fn, repeat):
    """The smallest CPU time (process_time: user + system) of repeat calls
    after a warm-up. SciPy runs on one thread, so this is the work of a call,
    and on a shared machine it does not grow with other processes' load, as
    wall time does. The Go benchmarks report the same measure (cpu-ms/call)
    with ONNX Runtime on one thread."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.min(times))


def bench(sizes):
    for size in sizes:
        dims = tuple(int(s) for s in size.split("x"))
        n = int(np.prod(dims))
        repeat = 5 if n <= 1 << 20 else 3
        for kind, make in (("blobs", blobs), ("corner", corner)):
            mask = make(dims)
            edt = ndimage.distance_transform_edt
            res = {"size": size, "mask": kind, "foreground": int(mask.sum())}
            res["edt_s"] = timed(lambda: edt(mask), repeat)
            res["pair_s"] = timed(lambda: (edt(mask), edt(~mask)), repeat)
            # What each loss computes on the host, per [n, c] slice, in the
            # Python implementations (one image, one channel, binary).
            res["boundary_s"] = timed(lambda: edt(~mask) * ~mask - (edt(mask) - 1) * mask, repeat)
            res["hausdorff_dt_s"] = timed(lambda: (edt(mask) + edt(~mask), edt(~mask) + edt(mask)), repeat)
            res["distance_penalized_ce_s"] = timed(lambda: (edt(mask), edt(~mask)), repeat)
            res["shape_aware_s"] = timed(lambda: edt(~(mask & ~ndimage.binary_erosion(mask))), repeat)
            inst = ndimage.label(mask)[0]
            ids = [i for i in np.unique(inst) if i != 0]
            res["unet_weight_map_s"] = timed(lambda: [edt(inst != i) for i in ids], repeat)
            res["instances"] = len(ids)
            print(json.dumps(res), flush=True)


def main(argv):
    if len(argv) >= 2 and argv[0] == "fixtures":
        fixtures(argv[1])
        return 0
    if argv and argv[0] == "bench":
        bench(argv[1:] or ["256x256", "512x512", "1024x1024", "64x64x64", "128x128x128"])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
