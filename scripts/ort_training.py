#!/usr/bin/env python3
"""Builds ONNX Runtime training artifacts for spliced models and trains each a
few steps with ONNX Runtime's training API, recording what happened.

Usage: ort_training.py DIR OUT [--steps N] [--lr LR] [--prefix P] [--keep-artifacts]

DIR holds models written by `onnxloss append` (or export.Append): NAME.onnx,
and NAME.inputs/INPUT.npy holding one fixed batch, a file per graph input
(image, target and the loss's extra inputs). For every model the script

1. calls onnxruntime.training.artifacts.generate_artifacts(model,
   requires_grad=PARAMS, loss=None, optimizer=OptimType.AdamW), where PARAMS
   are the model's floating-point initializers, less those whose names start
   with the prefix (the loss's own constants, "onnxloss/" by default) and
   BatchNormalization's running statistics; with loss=None the first graph
   output, `loss`, is the loss;
2. loads the artifacts with onnxruntime.training.api (CheckpointState, Module,
   Optimizer) and takes N steps (5 by default) of AdamW at learning rate LR
   (0.003 by default) on the fixed batch, recording the loss of every step
   (computed before that step's update);
3. saves the parameter gradients of the first step, state.parameters[P].grad,
   as OUT/NAME.grads/FILE.npy.

It writes OUT/NAME.json:

    {"model": NAME, "requires_grad": [P...], "artifacts": true|false,
     "error": first line of the error or null, "error_stage":
     "generate_artifacts" | "training" | null, "losses": [loss per step,
     null where not finite], "grads": {P: FILE.npy}, "seconds": ...}

Models run one after the other in a worker process. ONNX Runtime aborts the
process on some graphs (a failed C++ assertion rather than an exception);
the model in progress is then recorded with the abort and the last line
ONNX Runtime printed, and a new worker goes on with the rest. The exit status
is 0 when every model was recorded, whatever the outcome.

Needs onnxruntime-training(-cpu) 1.19.2: scripts/venv.sh ort-training.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types

# scripts/torch/ would shadow the torch package that onnxruntime probes for:
# this folder stays off the module path.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]


def import_training():
    """Imports onnxruntime.training's artifacts and api modules.

    The package's __init__ imports its PyTorch optimizer wrappers, so a plain
    import fails without torch, which neither generate_artifacts nor the
    training API uses (microsoft/onnxruntime#22070). The package is therefore
    registered as a bare namespace and only the two submodules are imported.
    """
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    name = "onnxruntime.training"
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(os.path.dirname(onnxruntime.__file__), "training")]
        sys.modules[name] = pkg
    from onnxruntime.training import api, artifacts

    return artifacts, api


FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16


def trainable(model, prefix):
    """The model's floating-point initializers, less the prefixed ones and
    BatchNormalization's running mean and variance, in file order."""
    stats = set()
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            stats.update(node.input[3:5])
    return [t.name for t in model.graph.initializer
            if t.data_type in FLOAT_TYPES and not t.name.startswith(prefix) and t.name not in stats]


def file_name(param):
    """A file name for a parameter's gradient."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", param) + ".npy"


def first_line(err):
    lines = [l.strip() for l in str(err).splitlines() if l.strip()]
    return lines[0] if lines else type(err).__name__


def run_one(name, src, out, args, artifacts, api):
    import numpy as np
    import onnx

    result = {"model": name, "requires_grad": [], "artifacts": False, "error": None,
              "error_stage": None, "losses": [], "grads": {}}
    start = time.time()
    stage_file = os.path.join(out, name + ".stage")

    def stage(s):
        with open(stage_file, "w") as f:
            f.write(s)

    stage("generate_artifacts")
    model = onnx.load(os.path.join(src, name + ".onnx"))
    params = trainable(model, args.prefix)
    result["requires_grad"] = params
    art = os.path.join(out, name + ".artifacts")
    os.makedirs(art, exist_ok=True)
    try:
        artifacts.generate_artifacts(model, requires_grad=params, loss=None,
                                     optimizer=artifacts.OptimType.AdamW, artifact_directory=art)
        result["artifacts"] = True
    except Exception as e:  # ONNX Runtime raises several exception types
        result["error"], result["error_stage"] = first_line(e), "generate_artifacts"

    if result["artifacts"]:
        stage("training")
        try:
            feeds_dir = os.path.join(src, name + ".inputs")
            feeds = {f[:-4]: np.load(os.path.join(feeds_dir, f))
                     for f in sorted(os.listdir(feeds_dir)) if f.endswith(".npy")}
            state = api.CheckpointState.load_checkpoint(os.path.join(art, "checkpoint"))
            module = api.Module(os.path.join(art, "training_model.onnx"), state,
                                os.path.join(art, "eval_model.onnx"))
            optimizer = api.Optimizer(os.path.join(art, "optimizer_model.onnx"), module)
            optimizer.set_learning_rate(args.lr)
            missing = [n for n in module.input_names() if n not in feeds]
            if missing:
                raise ValueError("no %s.inputs/%s.npy for the training model's inputs %s"
                                 % (name, missing[0], module.input_names()))
            inputs = [feeds[n] for n in module.input_names()]
            module.train()
            grads_dir = os.path.join(out, name + ".grads")
            for step in range(args.steps):
                outputs = module(*inputs)
                loss = float(np.asarray(outputs[0] if isinstance(outputs, (list, tuple)) else outputs))
                result["losses"].append(loss if np.isfinite(loss) else None)
                if step == 0:
                    os.makedirs(grads_dir, exist_ok=True)
                    for p in params:
                        np.save(os.path.join(grads_dir, file_name(p)), state.parameters[p].grad)
                        result["grads"][p] = file_name(p)
                optimizer.step()
                module.lazy_reset_grad()
        except Exception as e:
            result["error"], result["error_stage"] = first_line(e), "training"
    result["seconds"] = round(time.time() - start, 3)
    if not args.keep_artifacts:
        shutil.rmtree(art, ignore_errors=True)
    write_result(out, name, result)
    os.remove(stage_file)


def write_result(out, name, result):
    tmp = os.path.join(out, name + ".json.tmp")
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, os.path.join(out, name + ".json"))


def worker(args):
    artifacts, api = import_training()
    for name in args.names:
        run_one(name, args.dir, args.out, args, artifacts, api)
    return 0


def last_line(text):
    """The last line of a worker's standard error that says something."""
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("Traceback")]
    return lines[-1] if lines else ""


def main(args):
    names = sorted(f[:-5] for f in os.listdir(args.dir) if f.endswith(".onnx"))
    if not names:
        print("no .onnx files in %s" % args.dir, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    todo = list(names)
    while todo:
        cmd = [sys.executable, os.path.abspath(__file__), args.dir, args.out] + todo + [
            "--worker", "--steps", str(args.steps), "--lr", repr(args.lr), "--prefix=" + args.prefix]
        if args.keep_artifacts:
            cmd.append("--keep-artifacts")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        done = [n for n in todo if os.path.exists(os.path.join(args.out, n + ".json"))]
        todo = [n for n in todo if n not in done]
        if not todo:
            break
        # The worker went down on todo[0]: record it and go on with the rest.
        name = todo.pop(0)
        stage_file = os.path.join(args.out, name + ".stage")
        if not os.path.exists(stage_file):
            print("the worker failed before it started on %s:\n%s" % (name, proc.stderr), file=sys.stderr)
            return 1
        stage = open(stage_file).read()
        how = ("aborted by %s" % signal.Signals(-proc.returncode).name if proc.returncode < 0
               else "exited with status %d" % proc.returncode)
        write_result(args.out, name, {
            "model": name, "requires_grad": [], "artifacts": False,
            "error": "the process %s: %s" % (how, last_line(proc.stderr)), "error_stage": stage,
            "losses": [], "grads": {}, "seconds": None})
        os.remove(stage_file)
        if not args.keep_artifacts:
            shutil.rmtree(os.path.join(args.out, name + ".artifacts"), ignore_errors=True)
    passed = 0
    for n in names:
        with open(os.path.join(args.out, n + ".json")) as f:
            r = json.load(f)
        ok = r["artifacts"] and r["error"] is None
        passed += ok
        print("%-40s %s" % (n, "losses " + " ".join("%.5g" % l if l is not None else "nan" for l in r["losses"])
                            if ok else "%s: %s" % (r["error_stage"], r["error"])))
    print("%d models: %d trained, %d failed" % (len(names), passed, len(names) - passed))
    return 0


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="folder of NAME.onnx and NAME.inputs/")
    p.add_argument("out", help="folder for NAME.json and NAME.grads/")
    p.add_argument("--steps", type=int, default=5, help="training steps (default 5)")
    p.add_argument("--lr", type=float, default=0.003, help="AdamW learning rate (default 0.003)")
    p.add_argument("--prefix", default="onnxloss/", help="names of the loss's initializers start with it")
    p.add_argument("--keep-artifacts", action="store_true", help="keep OUT/NAME.artifacts/")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be at least 1")
    return args


if __name__ == "__main__":
    a = parse(sys.argv[1:])
    sys.exit(worker(a) if a.worker else main(a))
