#!/usr/bin/python3
"""Regenerate the .onnx fixtures that onnxpb's round-trip tests decode.

The files are real PyTorch exports, so the tests prove that the Go schema
covers what PyTorch writes. Run with Debian's interpreter, which has the
python3-torch and python3-onnx packages, from anywhere:

    /usr/bin/python3 onnxpb/testdata/make_models.py

Written with torch 1.13 and onnx 1.12 (Debian bookworm). Other versions write
different bytes; the tests only need the files to be valid ONNX.
"""

import os

import onnx
import torch
from onnx import TensorProto, helper, shape_inference

HERE = os.path.dirname(os.path.abspath(__file__))


class ConvBlock(torch.nn.Module):
    """Conv -> BatchNorm -> Relu; a separate module so that
    export_modules_as_functions has something to turn into a FunctionProto."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = torch.nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TinyNet(torch.nn.Module):
    """Two conv blocks and a 1x1 head: a miniature segmentation net."""

    def __init__(self):
        super().__init__()
        self.block1 = ConvBlock(3, 4)
        self.block2 = ConvBlock(4, 4)
        self.head = torch.nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.block2(self.block1(x)))


def tiny_net():
    torch.manual_seed(0)
    net = TinyNet()
    # Non-trivial BatchNorm statistics, so that the exported tensors are not
    # all zeros and ones.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def export(name, opset, **kwargs):
    path = os.path.join(HERE, name)
    torch.onnx.export(
        tiny_net(),
        (torch.randn(1, 3, 8, 8),),
        path,
        opset_version=opset,
        # PRESERVE (rather than the default EVAL) keeps BatchNormalization as
        # its own node instead of folding it into the preceding Conv.
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={
            "input": {0: "N", 2: "H", 3: "W"},
            "logits": {0: "N", 2: "H", 3: "W"},
        },
        **kwargs,
    )
    model = onnx.load(path)
    onnx.checker.check_model(model)
    return path


def add_extras(src, dst):
    """Copies an exported model and fills in the parts of the schema PyTorch
    does not write: metadata, a sparse initializer, training info, value_info
    from shape inference, a quantization annotation and doc strings."""
    model = onnx.load(src)
    g = model.graph

    model.doc_string = "TinyNet exported by PyTorch, with extras added by onnx.helper."
    model.domain = "org.onnxloss.test"
    model.model_version = 3
    g.doc_string = "Two conv blocks and a 1x1 head."
    helper.set_model_props(model, {"onnxloss.fixture": "extras", "author": "make_models.py"})

    # A sparse [2, 4] constant added to the logits' first two channels; COO
    # with linear indices.
    values = helper.make_tensor("bias_sparse", TensorProto.FLOAT, [3], [0.5, -1.0, 2.0])
    indices = helper.make_tensor("bias_sparse_indices", TensorProto.INT64, [3], [1, 4, 6])
    g.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [2, 4]))

    # A training step that decays one weight: w_new = w * 0.5, bound back to
    # the initializer; and an initialization graph that resets it to zeros.
    w = g.initializer[0]
    scale = helper.make_tensor("decay", TensorProto.FLOAT, [], [0.5])
    algorithm = helper.make_graph(
        [helper.make_node("Mul", [w.name, "decay"], ["w_new"], name="decay_step")],
        "algorithm",
        [],
        [helper.make_tensor_value_info("w_new", TensorProto.FLOAT, list(w.dims))],
        initializer=[scale],
    )
    zeros = helper.make_tensor("w_shape", TensorProto.INT64, [len(w.dims)], list(w.dims))
    initialization = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["w_shape"], ["w_zero"], name="zero_w")],
        "initialization",
        [],
        [helper.make_tensor_value_info("w_zero", TensorProto.FLOAT, list(w.dims))],
        initializer=[zeros],
    )
    model.training_info.append(
        helper.make_training_info(algorithm, [(w.name, "w_new")], initialization, [(w.name, "w_zero")])
    )

    ann = g.quantization_annotation.add()
    ann.tensor_name = "logits"
    ann.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="decay")

    g.input[0].doc_string = "RGB image batch."

    model = shape_inference.infer_shapes(model)
    # After shape inference, which rewrites output types and drops denotations.
    model.graph.output[0].type.tensor_type.shape.dim[1].denotation = "DATA_CHANNEL"
    onnx.checker.check_model(model)
    onnx.save(model, dst)


def main():
    # verbose=True is what makes torch 1.13 keep node doc strings (the Python
    # source line of each op); it also prints the graph.
    export("tinynet_opset13.onnx", 13, verbose=True)
    src = export("tinynet_opset17.onnx", 17)
    export("tinynet_functions_opset17.onnx", 17, export_modules_as_functions={ConvBlock})
    add_extras(src, os.path.join(HERE, "tinynet_extras.onnx"))
    # Upstream's own schema, as a FileDescriptorProto, so the Go test can
    # check our onnx.proto against it field by field.
    with open(os.path.join(HERE, "onnx-ml-1.12.descriptor.pb"), "wb") as f:
        from google.protobuf import descriptor_pb2

        fdp = descriptor_pb2.FileDescriptorProto()
        onnx.onnx_ml_pb2.DESCRIPTOR.CopyToProto(fdp)
        f.write(fdp.SerializeToString())


if __name__ == "__main__":
    main()
