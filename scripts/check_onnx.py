#!/usr/bin/python3
"""Runs ONNX's checker with full_check=True (strict shape inference) on each
model file given, and exits 1 with every failure listed if any fails.

Usage: check_onnx.py MODEL.onnx...
"""
import sys

import onnx


def main(paths):
    failures = []
    for path in paths:
        try:
            onnx.checker.check_model(onnx.load(path), full_check=True)
        except Exception as e:  # the checker raises several exception types
            failures.append("%s: %s" % (path, e))
    for f in failures:
        print(f, file=sys.stderr)
    print("checked %d models, %d failed" % (len(paths), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
