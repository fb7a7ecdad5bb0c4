"""Keras 3's own loss values for go test ./interop/keras.

    keras_losses.py CASES.json OUT.json

CASES.json is a list of {"name", "loss", "kwargs", "y_true", "y_pred"}:
loss names a class of keras.losses (Dice, Tversky, BinaryCrossentropy, ...),
kwargs are its constructor's arguments and y_true, y_pred are .npy files.
OUT.json maps each name to the float the loss object returns for
loss(y_true, y_pred), computed with the TensorFlow backend in float32 (Keras's
floatx). Runs in the keras environment (scripts/requirements/keras.txt).
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: keras_losses.py CASES.json OUT.json")
    if keras.backend.backend() != "tensorflow":
        sys.exit(f"expected the tensorflow backend, got {keras.backend.backend()}")
    if keras.backend.floatx() != "float32" or keras.backend.epsilon() != 1e-7:
        sys.exit("expected Keras's defaults floatx float32 and epsilon 1e-7")
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    out = {"keras": keras.__version__}
    values = {}
    for c in cases:
        cls = getattr(keras.losses, c["loss"])
        kwargs = dict(c.get("kwargs") or {})
        if "axis" in kwargs and isinstance(kwargs["axis"], list):
            kwargs["axis"] = tuple(kwargs["axis"])
        loss = cls(**kwargs)
        y_true = np.load(c["y_true"])
        y_pred = np.load(c["y_pred"])
        v = np.asarray(loss(y_true, y_pred), dtype=np.float64)
        if v.shape != ():
            sys.exit(f"{c['name']}: Keras returned shape {v.shape}, expected a scalar")
        values[c["name"]] = float(v)
    out["values"] = values
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
