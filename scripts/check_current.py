#!/usr/bin/env python3
"""Checks models with the current ONNX release and runs them in the current
ONNX Runtime Python package, writing the outputs for comparison.

Usage: check_current.py DIR OUT

DIR holds models (NAME.onnx, with any external data files next to them) and,
for each, NAME.inputs/INPUT.npy: one file per graph input. For every model
the script

1. runs onnx.checker.check_model(NAME.onnx, full_check=True);
2. runs onnx.shape_inference.infer_shapes(model, check_type=True,
   strict_mode=True), which fails where an operator's inference fails or
   disagrees with a declared type or shape;
3. runs the model in onnxruntime.InferenceSession on the CPU (one thread)
   on the inputs, and saves output i as OUT/NAME.outputs/i.npy.

It writes OUT/NAME.json:

    {"model": NAME, "checker": error or null, "shape_inference": error or
     null, "run": error or null, "outputs": [{"name": OUTPUT, "file":
     "i.npy"}...]}

and prints one line per model. The exit status is 0 when every model passed
the three steps, 1 when any failed (every model is still recorded), 2 on a
usage error. Needs the pinned environment scripts/venv.sh onnx-current.
"""
import glob
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def first_lines(e, n=6):
    """The start of an exception's message: enough to name the node."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    return "\n".join(lines[:n])


def check(path, name, out):
    rec = {"model": name, "checker": None, "shape_inference": None, "run": None, "outputs": []}
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as e:  # the checker raises several exception types
        rec["checker"] = first_lines(e)
    try:
        onnx.shape_inference.infer_shapes(onnx.load(path), check_type=True, strict_mode=True)
    except Exception as e:
        rec["shape_inference"] = first_lines(e)
    try:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        in_dir = os.path.join(os.path.dirname(path), name + ".inputs")
        names = [i.name for i in sess.get_inputs()]
        have = sorted(os.path.basename(f)[: -len(".npy")] for f in glob.glob(os.path.join(in_dir, "*.npy")))
        if sorted(names) != have:
            raise ValueError("the model's inputs are %s but %s holds %s" % (sorted(names), in_dir, have))
        feeds = {n: np.load(os.path.join(in_dir, n + ".npy")) for n in names}
        results = sess.run(None, feeds)
        out_dir = os.path.join(out, name + ".outputs")
        os.makedirs(out_dir, exist_ok=True)
        for i, (o, v) in enumerate(zip(sess.get_outputs(), results)):
            f = "%d.npy" % i
            np.save(os.path.join(out_dir, f), np.asarray(v))
            rec["outputs"].append({"name": o.name, "file": f})
    except Exception as e:
        rec["run"] = first_lines(e)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(rec, f, indent=1)
    return rec


def main(argv):
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, out = argv
    paths = sorted(glob.glob(os.path.join(src, "*.onnx")))
    if not paths:
        print("check_current.py: no .onnx files in %s" % src, file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    print("onnx %s (opset %d, IR %d), onnxruntime %s" % (
        onnx.__version__, onnx.defs.onnx_opset_version(), onnx.IR_VERSION, ort.__version__))
    failed = 0
    for path in paths:
        name = os.path.basename(path)[: -len(".onnx")]
        rec = check(path, name, out)
        errs = ["%s: %s" % (k, rec[k].splitlines()[0]) for k in ("checker", "shape_inference", "run") if rec[k]]
        if errs:
            failed += 1
        print("%s: %s" % (name, "; ".join(errs) if errs else "ok"))
    print("%d models, %d failed" % (len(paths), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
