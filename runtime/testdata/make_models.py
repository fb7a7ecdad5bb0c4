#!/usr/bin/python3
"""Writes the small ONNX models that runtime's tests load.

Run with Debian's python and python3-onnx (apt-get install python3-onnx):

    /usr/bin/python3 runtime/testdata/make_models.py

The models are committed; rerun this only to change them. Every model is
opset 17, IR version 8 (the project's default), and keeps batch and spatial
dimensions symbolic so that the tests can vary them. The output is
deterministic: the same onnx version writes the same bytes.
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
IR_VERSION = 8

NCHW = ["N", "C", "H", "W"]


def save(graph, name, check=True, **kwargs):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="onnxloss runtime/testdata/make_models.py",
    )
    model.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(model)
    path = os.path.join(HERE, name)
    onnx.save(model, path, **kwargs)
    print("wrote", path)


def vi(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def doubling(dtype, suffix):
    # y = x + x: exact in every numeric type (wrapping for uint8), so the
    # tests can predict it without any rounding question.
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "double_" + suffix,
        [vi("x", dtype, NCHW)],
        [vi("y", dtype, NCHW)],
    )
    save(graph, "double_%s.onnx" % suffix)


def main():
    for dtype, suffix in [
        (TensorProto.FLOAT, "float32"),
        (TensorProto.DOUBLE, "float64"),
        (TensorProto.FLOAT16, "float16"),
        (TensorProto.INT64, "int64"),
        (TensorProto.INT32, "int32"),
        (TensorProto.UINT8, "uint8"),
    ]:
        doubling(dtype, suffix)

    # ONNX Runtime's CPU provider has no bfloat16 Add, so compute in float32
    # and cast at both ends; y32 shows what the graph saw.
    save(
        helper.make_graph(
            [
                helper.make_node("Cast", ["x"], ["x32"], to=TensorProto.FLOAT),
                helper.make_node("Add", ["x32", "x32"], ["y32"]),
                helper.make_node("Cast", ["y32"], ["y"], to=TensorProto.BFLOAT16),
            ],
            "double_bfloat16",
            [vi("x", TensorProto.BFLOAT16, NCHW)],
            [vi("y", TensorProto.BFLOAT16, NCHW), vi("y32", TensorProto.FLOAT, NCHW)],
        ),
        "double_bfloat16.onnx",
    )

    # Bool in, bool and uint8 out.
    save(
        helper.make_graph(
            [
                helper.make_node("Not", ["x"], ["y"]),
                helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT8),
            ],
            "not_bool",
            [vi("x", TensorProto.BOOL, NCHW)],
            [vi("y", TensorProto.BOOL, NCHW), vi("u", TensorProto.UINT8, NCHW)],
        ),
        "not_bool.onnx",
    )

    # A loss-like rank-0 output: the sum of everything. With no axes input
    # ReduceSum reduces over all dimensions.
    save(
        helper.make_graph(
            [helper.make_node("ReduceSum", ["x"], ["loss"], keepdims=0)],
            "sum_all",
            [vi("x", TensorProto.FLOAT, NCHW)],
            [vi("loss", TensorProto.FLOAT, [])],
        ),
        "sum_all.onnx",
    )

    # The same in float16: a rank-0 float16 output.
    save(
        helper.make_graph(
            [helper.make_node("ReduceSum", ["x"], ["loss"], keepdims=0)],
            "sum_all_float16",
            [vi("x", TensorProto.FLOAT16, NCHW)],
            [vi("loss", TensorProto.FLOAT16, [])],
        ),
        "sum_all_float16.onnx",
    )

    # Two inputs of different dtypes, one fixed dimension, and outputs of
    # three ranks:
    #   rows[n]  = sum_c x[n, c] * weight[n]     ([N])
    #   total    = sum_n rows[n]                 ([])
    #   scaled   = x * weight[:, None]           ([N, 3])
    save(
        helper.make_graph(
            [
                helper.make_node("Cast", ["weight"], ["wf"], to=TensorProto.FLOAT),
                helper.make_node("Unsqueeze", ["wf", "one"], ["wcol"]),
                helper.make_node("Mul", ["x", "wcol"], ["scaled"]),
                helper.make_node("ReduceSum", ["scaled", "one"], ["rows"], keepdims=0),
                helper.make_node("ReduceSum", ["rows"], ["total"], keepdims=0),
            ],
            "two_outputs",
            [vi("x", TensorProto.FLOAT, ["N", 3]), vi("weight", TensorProto.INT64, ["N"])],
            [
                vi("rows", TensorProto.FLOAT, ["N"]),
                vi("total", TensorProto.FLOAT, []),
                vi("scaled", TensorProto.FLOAT, ["N", 3]),
            ],
            initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), "one")],
        ),
        "two_outputs.onnx",
    )

    # A rank-0 input: y = x * s.
    save(
        helper.make_graph(
            [helper.make_node("Mul", ["x", "s"], ["y"])],
            "scale",
            [vi("x", TensorProto.FLOAT, ["N"]), vi("s", TensorProto.FLOAT, [])],
            [vi("y", TensorProto.FLOAT, ["N"])],
        ),
        "scale.onnx",
    )

    # No shapes declared at all: ONNX Runtime reports these like scalars.
    # onnx's checker wants graph inputs to have a shape; ONNX Runtime does not.
    save(
        helper.make_graph(
            [helper.make_node("Add", ["x", "x"], ["y"])],
            "no_shape",
            [vi("x", TensorProto.FLOAT, None)],
            [vi("y", TensorProto.FLOAT, None)],
        ),
        "no_shape.onnx",
        check=False,
    )

    # A float16 output whose size no input dimension names: y = concat(x, x)
    # has 2N elements, declared as M.
    save(
        helper.make_graph(
            [helper.make_node("Concat", ["x", "x"], ["y"], axis=0)],
            "half_unbound",
            [vi("x", TensorProto.FLOAT16, ["N"])],
            [vi("y", TensorProto.FLOAT16, ["M"])],
        ),
        "half_unbound.onnx",
    )

    # Weights kept in a separate file: y = x + w, w = [1, 2, 3, 4]. Such a
    # model only loads from its path, next to its data file. onnx appends to
    # an existing data file, so start from none.
    data = os.path.join(HERE, "external.onnx.data")
    if os.path.exists(data):
        os.remove(data)
    save(
        helper.make_graph(
            [helper.make_node("Add", ["x", "w"], ["y"])],
            "external",
            [vi("x", TensorProto.FLOAT, ["N", 4])],
            [vi("y", TensorProto.FLOAT, ["N", 4])],
            initializer=[numpy_helper.from_array(np.array([1, 2, 3, 4], dtype=np.float32), "w")],
        ),
        "external.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="external.onnx.data",
        size_threshold=0,
    )


if __name__ == "__main__":
    main()
