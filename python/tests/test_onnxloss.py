"""Tests of the onnxloss package against its installed binary."""

import json
import os

import numpy as np
import onnx
import onnx.numpy_helper
import pytest

import onnxloss

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FCN = os.path.join(ROOT, "testdata", "onnx", "models", "fcn_small.onnx")


def metadata(model):
    return {p.key: p.value for p in model.metadata_props}


def shape(value):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param
            for d in value.type.tensor_type.shape.dim]


def test_export_dice_options_reach_the_model():
    m = onnxloss.export("dice", mode="multiclass", classes=3, class_weights=[1, 2, 0.5],
                        smooth_nr=0.5, include_background=False, grad=True, opset=18)
    assert isinstance(m, onnx.ModelProto)
    onnx.checker.check_model(m)
    meta = metadata(m)
    assert meta["onnxloss.loss"] == "dice"
    assert meta["onnxloss.mode"] == "multiclass"
    params = json.loads(meta["onnxloss.params"])
    assert params["classes"] == 3
    assert params["class_weights"] == [1, 2, 0.5]
    assert params["smooth_nr"] == 0.5
    assert params["include_background"] is False
    assert params["opset"] == 18
    assert [o.name for o in m.graph.output] == ["loss", "input_grad"]
    assert [i.name for i in m.graph.input] == ["input", "target"]
    assert shape(m.graph.input[0])[1] == 3
    assert m.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert {o.version for o in m.opset_import if o.domain in ("", "ai.onnx")} == {18}


def test_export_defaults_differ_from_options():
    m = onnxloss.export("dice")
    params = json.loads(metadata(m)["onnxloss.params"])
    assert params["smooth_nr"] != 0.5
    assert [o.name for o in m.graph.output] == ["loss"]


def test_list_and_describe():
    catalog = onnxloss.list()
    names = [e["name"] for e in catalog]
    assert "dice" in names and "cross-entropy" in names
    assert len(names) == len(set(names)) > 30
    dice = next(e for e in catalog if e["name"] == "dice")
    assert "multiclass" in dice["modes"]
    d = onnxloss.describe("dice")
    assert d["name"] == "dice"
    assert "Milletari" in d["citation"]
    assert {m["mode"] for m in d["modes"]} == set(dice["modes"])


def test_usage_error_is_value_error_with_the_cli_message():
    with pytest.raises(ValueError) as info:
        onnxloss.export("dice", smoth=1)
    err = info.value
    assert isinstance(err, onnxloss.OnnxlossError)
    assert err.returncode == 2
    assert "unknown flag --smoth for dice" in str(err)


def test_unknown_loss_names_a_suggestion():
    with pytest.raises(onnxloss.UsageError) as info:
        onnxloss.describe("dcie")
    assert "dcie" in str(info.value) and "dice" in str(info.value)


def test_value_out_of_range_is_a_usage_error():
    with pytest.raises(ValueError, match="class_weights has 2 entries"):
        onnxloss.export("dice", class_weights=[1, 2])


def check_spliced(m, source):
    assert [o.name for o in m.graph.output] == ["loss"]
    assert [i.name for i in m.graph.input] == ["image", "target"]
    target = m.graph.input[1]
    assert target.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert shape(target) == ["batch", "height", "width"]
    meta = metadata(m)
    assert meta["onnxloss.loss"] == "cross-entropy"
    assert json.loads(meta["onnxloss.params"])["ignore_index"] == 255
    # The model's weights are kept as they were.
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in source.graph.initializer}
    kept = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer
            if t.name in weights}
    assert kept.keys() == weights.keys()
    for name, w in weights.items():
        np.testing.assert_array_equal(kept[name], w)
    assert all(n.name.startswith("onnxloss/") for n in m.graph.node[len(source.graph.node):])


def test_append_from_path_and_from_model():
    source = onnx.load(FCN)
    from_path = onnxloss.append(FCN, "cross-entropy", ignore_index=255)
    check_spliced(from_path, source)
    from_model = onnxloss.append(source, "cross-entropy", ignore_index=255)
    check_spliced(from_model, source)
    assert from_path.SerializeToString() == from_model.SerializeToString()


def test_append_keep_outputs_and_grad():
    m = onnxloss.append(FCN, "dice", keep_outputs=True, grad=True)
    assert [o.name for o in m.graph.output] == ["loss", "out_grad", "out"]


def test_append_usage_error():
    with pytest.raises(ValueError, match="no-such-output"):
        onnxloss.append(FCN, "dice", output="no-such-output")


def test_training_artifacts(tmp_path):
    try:
        import onnxruntime
        has_training = os.path.isfile(os.path.join(os.path.dirname(onnxruntime.__file__),
                                                   "training", "artifacts.py"))
    except ImportError:
        has_training = False
    # The Go test sets it where onnxruntime-training is installed, so that
    # the test cannot quietly take the branch without it.
    want = os.environ.get("ONNXLOSS_EXPECT_ORT_TRAINING")
    if want is not None:
        assert has_training == (want == "1"), "onnxruntime-training importable: %s" % has_training
    if not has_training:
        with pytest.raises(onnxloss.OnnxlossError, match="onnxruntime-training"):
            onnxloss.training_artifacts(FCN, "dice", tmp_path / "artifacts")
        assert not (tmp_path / "artifacts").exists()
        return
    model = tiny_model()
    params = onnxloss.training_artifacts(model, "cross-entropy", tmp_path / "artifacts")
    assert sorted(params) == ["b1", "bn_bias", "bn_scale", "w1"]
    files = sorted(os.listdir(tmp_path / "artifacts"))
    assert files == ["checkpoint", "eval_model.onnx", "optimizer_model.onnx",
                     "training_model.onnx"]
    training = onnx.load(str(tmp_path / "artifacts" / "training_model.onnx"))
    assert training.graph.output[0].name == "loss"
    inputs = {i.name for i in training.graph.input}
    assert {p + "_grad.accumulation.buffer" for p in params} <= inputs
    assert "bn_mean_grad.accumulation.buffer" not in inputs


def tiny_model():
    """A 1x1 convolution from 2 channels to 3 classes, then a
    BatchNormalization whose running statistics must not train."""
    h = onnx.helper
    rng = np.random.default_rng(0)
    arrays = {
        "w1": rng.standard_normal((3, 2, 1, 1)).astype(np.float32),
        "b1": np.zeros(3, np.float32),
        "bn_scale": np.ones(3, np.float32),
        "bn_bias": np.zeros(3, np.float32),
        "bn_mean": np.zeros(3, np.float32),
        "bn_var": np.ones(3, np.float32),
    }
    graph = h.make_graph(
        [h.make_node("Conv", ["image", "w1", "b1"], ["conv"]),
         h.make_node("BatchNormalization", ["conv", "bn_scale", "bn_bias", "bn_mean", "bn_var"],
                     ["out"])],
        "tiny",
        [h.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [h.make_tensor_value_info("out", onnx.TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [onnx.numpy_helper.from_array(a, n) for n, a in arrays.items()],
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)], ir_version=8)
