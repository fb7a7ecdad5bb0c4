"""Segmentation loss functions as ONNX graphs, from Python.

A thin layer over the onnxloss command-line tool, which the wheel carries
(onnxloss/bin/onnxloss). Each function runs one command:

    export(name, **options)              onnxloss export NAME --out -
    append(model, name, **options)       onnxloss append --model M NAME --out F
    describe(name)                       onnxloss describe NAME --json
    list()                               onnxloss list --json
    training_artifacts(model, name, out_dir, **options)
                                         append, then ONNX Runtime's
                                         generate_artifacts(loss=None)

Options are keyword arguments: a snake_case key becomes a --kebab-case flag,
True and False become true and false, a list or tuple becomes a
comma-separated value, and None leaves the option out:

    export("dice", mode="multiclass", classes=3, class_weights=[1, 2, 2],
           smooth_nr=1, grad=True)
    # onnxloss export dice --mode=multiclass --classes=3
    #     --class-weights=1,2,2 --smooth-nr=1 --grad=true --out -

A failing command raises OnnxlossError carrying the tool's message; a usage
error (exit status 2: an unknown loss, option or value) raises UsageError,
which is also a ValueError. ONNXLOSS_BINARY overrides the binary's path.
"""

import builtins
import json
import os
import subprocess
import sys
import tempfile
import types

import onnx

__all__ = [
    "OnnxlossError",
    "UsageError",
    "export",
    "append",
    "describe",
    "list",
    "training_artifacts",
    "binary",
]

__version__ = "0.1.0"


class OnnxlossError(Exception):
    """A command of the onnxloss tool failed.

    message is the tool's standard error, returncode its exit status and
    args the command line.
    """

    def __init__(self, message, returncode=1, command=None):
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.command = command


class UsageError(OnnxlossError, ValueError):
    """The onnxloss tool rejected its arguments (exit status 2): an unknown
    loss, option or value, or an option that cannot matter."""


def binary():
    """Returns the path of the onnxloss binary: $ONNXLOSS_BINARY when set,
    else the one installed with the package."""
    env = os.environ.get("ONNXLOSS_BINARY")
    if env:
        return env
    exe = "onnxloss.exe" if os.name == "nt" else "onnxloss"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", exe)
    if not os.path.isfile(path):
        raise OnnxlossError(
            "the onnxloss binary is missing at %s: install the package from a wheel "
            "or with `pip install ./python` from a checkout (which runs go build), "
            "or set ONNXLOSS_BINARY" % path
        )
    return path


def _flags(options):
    """Turns keyword options into --kebab-case=value flags."""
    out = []
    for key, value in options.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (builtins.list, tuple)):
            value = ",".join(_scalar(v) for v in value)
        else:
            value = _scalar(value)
        out.append(flag + "=" + value)
    return out


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _run(args):
    """Runs the binary with args and returns its standard output (bytes)."""
    cmd = [binary()] + builtins.list(args)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip()
        if not msg:
            msg = "%s exited with status %d" % (" ".join(cmd), proc.returncode)
        cls = UsageError if proc.returncode == 2 else OnnxlossError
        raise cls(msg, proc.returncode, cmd)
    return proc.stdout


def export(name, **options):
    """Builds the loss NAME with the given options and returns it as an
    onnx.ModelProto (inputs input and target, output loss; metadata
    onnxloss.loss, onnxloss.mode, onnxloss.params)."""
    data = _run(["export", name] + _flags(options) + ["--quiet", "--out", "-"])
    return onnx.load_from_string(data)


def append(model, name, **options):
    """Attaches the loss NAME to model (a path or an onnx.ModelProto) and
    returns the spliced onnx.ModelProto: the model's inputs plus target,
    and loss as the first output. Options are append's and the loss's
    (output, keep_outputs, grad, train, ignore_index, ...). A model with
    external data is best given as a path; the result holds its weights
    in memory."""
    with tempfile.TemporaryDirectory(prefix="onnxloss-") as tmp:
        if isinstance(model, onnx.ModelProto):
            path = os.path.join(tmp, "model.onnx")
            onnx.save(model, path)
        else:
            path = os.fspath(model)
        out = os.path.join(tmp, "out", "model.onnx")
        os.mkdir(os.path.dirname(out))
        _run(["append", "--model", path, name] + _flags(options) + ["--quiet", "--out", out])
        return onnx.load(out)


def describe(name):
    """Returns what `onnxloss describe NAME --json` prints, as a dict:
    summary, description, citation, formula, modes with their inputs and
    outputs, parameters with defaults and ranges, presets, notes."""
    return json.loads(_run(["describe", name, "--json"]))


def list():  # noqa: A001 - the catalog, as the command is called
    """Returns the catalog (`onnxloss list --json`): one dict per loss with
    name, family, modes, summary and citation."""
    return json.loads(_run(["list", "--json"]))


def _artifacts_module():
    """Imports onnxruntime.training.artifacts. onnxruntime.training's
    __init__ imports its PyTorch optimizers, so without torch the import
    fails; neither the artifacts nor the training API need torch, so the
    package is then stood in for by an empty one over the same folder."""
    try:
        import onnxruntime
    except ImportError as e:
        raise OnnxlossError(
            "training_artifacts needs ONNX Runtime's training package: "
            "pip install onnxruntime-training-cpu==1.19.2 onnx==1.16.2 numpy==1.26.4 "
            "(Python 3.11 or older; 1.19.2 is its last release) (%s)" % e
        ) from None
    folder = os.path.join(os.path.dirname(onnxruntime.__file__), "training")
    if not os.path.isfile(os.path.join(folder, "artifacts.py")):
        raise OnnxlossError(
            "onnxruntime %s at %s has no training package: install "
            "onnxruntime-training-cpu==1.19.2 instead of onnxruntime"
            % (getattr(onnxruntime, "__version__", "?"), os.path.dirname(onnxruntime.__file__))
        )
    try:
        from onnxruntime.training import artifacts
        return artifacts
    except ImportError:
        for key in builtins.list(sys.modules):
            if key == "onnxruntime.training" or key.startswith("onnxruntime.training."):
                del sys.modules[key]
    pkg = types.ModuleType("onnxruntime.training")
    pkg.__path__ = [folder]
    sys.modules["onnxruntime.training"] = pkg
    from onnxruntime.training import artifacts
    return artifacts


def _trainable(model):
    """The float initializers of the model's own graph, less the running
    statistics of BatchNormalization (inputs 3 and 4)."""
    stats = set()
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            stats.update(node.input[3:5])
    return [
        t.name
        for t in model.graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT
        and not t.name.startswith("onnxloss/")
        and t.name not in stats
    ]


def training_artifacts(model, name, out_dir, requires_grad=None, **options):
    """Splices the loss NAME onto model (see append) and builds ONNX
    Runtime's training artifacts in out_dir (created when missing) with
    generate_artifacts(loss=None, optimizer=AdamW): training_model.onnx,
    eval_model.onnx, optimizer_model.onnx and checkpoint. requires_grad
    defaults to every float initializer of the model, less
    BatchNormalization's running statistics. Returns the names trained.

    Needs onnxruntime-training (CPU build: onnxruntime-training-cpu 1.19.2);
    torch is not needed."""
    artifacts = _artifacts_module()
    spliced = append(model, name, **options)
    params = _trainable(spliced) if requires_grad is None else builtins.list(requires_grad)
    os.makedirs(out_dir, exist_ok=True)
    artifacts.generate_artifacts(
        spliced,
        requires_grad=params,
        loss=None,
        optimizer=artifacts.OptimType.AdamW,
        artifact_directory=os.fspath(out_dir),
    )
    return params
