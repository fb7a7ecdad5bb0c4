#!/usr/bin/python3
"""Writes the PyTorch fixtures that the Go tests check onnxloss against.

Each module in scripts/torch/ defines SET (a folder name) and make(w), which
computes losses (and gradients) with PyTorch from the libraries' documented
formulas and records them with w.case(...). The result is one folder per set
holding cases.json and .npy files: the layout verify/torch_test.go reads.

Usage: make_torch_fixtures.py OUTDIR [SET...]
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch


class Writer:
    """Collects the cases of one set and writes them to OUTDIR/SET."""

    def __init__(self, outdir, name):
        self.dir = os.path.join(outdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.cases = []

    def _save(self, stem, array):
        path = "%03d_%s.npy" % (len(self.cases), stem)
        np.save(os.path.join(self.dir, path), np.array(array, copy=True, order="C"))
        return path

    def case(self, name, loss, options, inputs, loss_value, input_grad=None,
             rtol=1e-5, atol=1e-6, input_dtype=None, grad_rtol=None, grad_atol=None):
        """Records one case. inputs maps graph input names to arrays (torch
        tensors are converted); options are onnxloss option strings. The
        loss is compared within rtol and atol (the graph's loss output is
        float32 whatever the input's type); input_grad, which has the
        input's type, within grad_rtol and grad_atol where they are given."""
        entry = {
            "name": name,
            "loss": loss,
            "options": {k: str(v) for k, v in options.items()},
            "inputs": {},
            "rtol": rtol,
            "atol": atol,
        }
        for key, value in inputs.items():
            entry["inputs"][key] = self._save(key, to_numpy(value))
        entry["loss_value"] = self._save("loss", to_numpy(loss_value).astype(np.float32))
        if input_grad is not None:
            entry["input_grad"] = self._save("grad", to_numpy(input_grad))
            if grad_rtol is not None:
                entry["grad_rtol"] = grad_rtol
            if grad_atol is not None:
                entry["grad_atol"] = grad_atol
        if input_dtype:
            entry["input_dtype"] = input_dtype
        self.cases.append(entry)

    def generated(self, name, loss, options, shape, seed, target, loss_value, rtol, atol):
        """Records a case whose inputs are not stored but defined by the
        formula of generated_inputs (shape [N,C,*spatial] channel-first,
        seed, target "mask" or "labels"), which the Go test computes too:
        the case holds only the options, the shape and PyTorch's float64
        loss."""
        self.cases.append({
            "name": name,
            "loss": loss,
            "options": {k: str(v) for k, v in options.items()},
            "generated": {"shape": list(shape), "seed": seed, "target": target},
            "loss_float64": float(loss_value),
            "rtol": rtol,
            "atol": atol,
        })

    @staticmethod
    def generated_inputs(shape, seed, target):
        """The inputs of a generated case (see generated_inputs)."""
        return generated_inputs(shape, seed, target)

    def grad(self, fn, x, *, dtype=torch.float64):
        """d fn(x) / d x by PyTorch autograd, evaluated in dtype (float64
        unless the case needs the graph's own precision): the input_grad
        that a --grad graph must give on the same input."""
        x = to_tensor(x).to(dtype).requires_grad_(True)
        (g,) = torch.autograd.grad(fn(x), x)
        return g

    def close(self):
        doc = {
            "generator": "scripts/make_torch_fixtures.py",
            "torch": torch.__version__,
            "cases": self.cases,
        }
        with open(os.path.join(self.dir, "cases.json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")


def to_tensor(v):
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    return torch.from_numpy(np.asarray(v))


def to_numpy(v):
    if isinstance(v, torch.Tensor):
        v = v.detach()
        if v.dtype == torch.bfloat16:
            v = v.float()
        return v.cpu().numpy()
    return np.asarray(v)


def uniform(n, seed):
    """n float64 values in [0, 1): (splitmix64(seed + (i+1)·0x9E3779B97F4A7C15)
    >> 11)·2^-53 for i = 0..n-1, exact in any language with 64-bit unsigned
    arithmetic (verify/torch_test.go computes the same)."""
    z = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def generated_inputs(shape, seed, target):
    """The inputs of a generated case as torch tensors: float32 logits
    8u - 4 (u from stream seed, in [-4, 4)) of shape [N,C,*spatial], and a
    target from stream seed + 1: "mask", float32 1 where u < 0.35 (shape of
    the logits); "labels", int64 floor(u·C) of shape [N,*spatial]."""
    n = int(np.prod(shape))
    x = (8 * uniform(n, seed) - 4).astype(np.float32).reshape(shape)
    if target == "mask":
        t = (uniform(n, seed + 1) < 0.35).astype(np.float32).reshape(shape)
    else:
        pix = [shape[0]] + list(shape[2:])
        t = np.floor(uniform(int(np.prod(pix)), seed + 1) * shape[1]).astype(np.int64).reshape(pix)
    return torch.from_numpy(x), torch.from_numpy(t)


def main(argv):
    if len(argv) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    outdir, only = argv[0], set(argv[1:])
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch")
    torch.manual_seed(0)
    for fname in sorted(os.listdir(here)):
        if not fname.endswith(".py") or fname.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(fname[:-3], os.path.join(here, fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if only and mod.SET not in only:
            continue
        torch.manual_seed(0)
        w = Writer(outdir, mod.SET)
        mod.make(w)
        w.close()
        print("%s: %d cases" % (mod.SET, len(w.cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
