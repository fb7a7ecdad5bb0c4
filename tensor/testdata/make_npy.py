#!/usr/bin/python3
"""Regenerate the .npy fixtures that tensor's tests read.

Run with Debian's interpreter (python3-numpy), from anywhere:

    /usr/bin/python3 tensor/testdata/make_npy.py

Each fixture is written by numpy itself. expected.json records, for every
file, the dtype, the shape and the elements in row-major (C) order as numpy
sees them, so the Go test compares against numpy rather than against
itself. float16 elements are recorded as their bit patterns, because JSON
has no NaN or infinity.
"""

import io
import json
import os

import numpy as np
from numpy.lib import format as npformat

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "npy")

GO_DTYPE = {
    "float32": "float32",
    "float64": "float64",
    "float16": "float16",
    "int64": "int64",
    "int32": "int32",
    "uint8": "uint8",
    "bool": "bool",
}


def fixtures():
    rng = np.random.default_rng(0)
    f = {}
    # Little-endian, C order, version 1.0: what np.save writes every day.
    f["f4_2x3"] = (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5) / 3, None
    f["f8_scalar"] = np.array(-1.0 / 3.0), None
    f["f8_3x1x2"] = rng.standard_normal((3, 1, 2)), None
    f["f2_specials"] = (
        np.array([0.0, -0.0, 1.0, 65504.0, 2.0**-24, np.inf, -np.inf, np.nan, 1 / 3], dtype=np.float16),
        None,
    )
    f["i8_2x2x2"] = np.array([-(2**62), 2**62, -1, 0, 1, 2**53 + 1, -(2**53) - 1, 7], dtype=np.int64).reshape(2, 2, 2), None
    f["i4_5"] = np.array([-(2**31), -1, 0, 1, 2**31 - 1], dtype=np.int32), None
    f["u1_3x1"] = np.array([[0], [128], [255]], dtype=np.uint8), None
    f["b1_2x2"] = np.array([[True, False], [False, True]]), None
    f["f4_empty_0x3"] = np.zeros((0, 3), dtype=np.float32), None
    f["i4_rank4"] = np.arange(2 * 3 * 1 * 2, dtype=np.int32).reshape(2, 3, 1, 2) - 5, None
    # Big-endian data.
    f["f4_big_endian"] = np.linspace(-2, 2, 6, dtype=np.float32).reshape(3, 2).astype(">f4"), None
    f["i8_big_endian"] = np.array([1, -2, 2**40 + 3], dtype=">i8"), None
    f["f2_big_endian"] = np.array([1.5, -0.25, 6e-8], dtype=">f2"), None
    # Fortran order.
    f["f4_fortran_2x3x4"] = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5), None
    f["i8_fortran_3x2"] = np.asfortranarray(np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64)), None
    f["b1_fortran_2x3"] = np.asfortranarray(np.array([[True, False, False], [True, True, False]])), None
    # Newer format versions.
    f["f4_v2"] = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32), (2, 0)
    f["i4_v3"] = np.array([10, 20, 30], dtype=np.int32), (3, 0)
    return f


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, (arr, version) in sorted(fixtures().items()):
        path = os.path.join(OUT, name + ".npy")
        if version is None:
            np.save(path, arr)
        else:
            with open(path, "wb") as fh:
                npformat.write_array(fh, arr, version=version)
        back = np.load(path)
        assert back.dtype == arr.dtype and back.shape == arr.shape
        flat = np.ascontiguousarray(back).ravel(order="C")
        dtype = flat.dtype.newbyteorder("=") if flat.dtype.byteorder == ">" else flat.dtype
        flat = flat.astype(dtype)
        entry = {"dtype": GO_DTYPE[dtype.name], "shape": list(arr.shape)}
        if dtype == np.float16:
            entry["bits"] = [int(b) for b in flat.view(np.uint16)]
        else:
            entry["values"] = flat.tolist()
        with open(path, "rb") as fh:
            head = fh.read(10)
        entry["version"] = head[6]
        entry["fortran"] = bool(np.isfortran(arr)) and arr.ndim > 1
        entry["big_endian"] = arr.dtype.byteorder == ">"
        expected[name + ".npy"] = entry
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
