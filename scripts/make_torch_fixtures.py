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
