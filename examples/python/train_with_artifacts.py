"""Train a PyTorch segmentation model with an onnxloss loss in ONNX Runtime.

A notebook in script form: run it top to bottom,

    python examples/python/train_with_artifacts.py [--steps 30] [--out DIR]

It needs torch, onnxruntime-training (CPU build: onnxruntime-training-cpu
1.19.2) and the onnxloss package (pip install ./python). In a checkout,
scripts/venv.sh torch-training makes an environment with the first two
(Debian's python3-torch plus pinned ONNX Runtime training); see
python/README.md.

The steps:
  1. export a small segmentation network from PyTorch to ONNX;
  2. splice the Dice loss onto its logits with onnxloss.append, and look at
     what it added;
  3. build ONNX Runtime's training artifacts with onnxloss.training_artifacts;
  4. train a few steps on synthetic images with onnxruntime.training.api,
     printing the loss as it falls.
"""

import argparse
import os
import tempfile

import numpy as np
import onnx
import torch

import onnxloss

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=30, help="training steps")
parser.add_argument("--out", help="folder for the models (default: a temporary one)")
args = parser.parse_args()
out = args.out or tempfile.mkdtemp(prefix="onnxloss-example-")
os.makedirs(out, exist_ok=True)

# %% 1. A small segmentation network, exported from PyTorch
#
# Three convolutions from an RGB image to one channel of logits: a binary
# segmentation head. Any exported model works the same way; its output must
# be the logits (or probabilities) of the classes, [N, C, H, W].
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Conv2d(3, 8, 3, padding=1),
    torch.nn.ReLU(),
    torch.nn.Conv2d(8, 8, 3, padding=1),
    torch.nn.ReLU(),
    torch.nn.Conv2d(8, 1, 1),
)
model_path = os.path.join(out, "net.onnx")
torch.onnx.export(
    net,
    torch.zeros(1, 3, 32, 32),
    model_path,
    input_names=["image"],
    output_names=["logits"],
    dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "logits": {0: "N", 2: "H", 3: "W"}},
    opset_version=17,
)
print("exported", model_path)

# %% 2. Splice Dice onto the logits
#
# append finds the model's logits output, infers the mode (one channel:
# binary), adds a `target` input and a scalar `loss` output. The loss's
# nodes carry the prefix onnxloss/ and are named for what they compute
# (open the file in Netron to see them).
spliced = onnxloss.append(model_path, "dice")
print("inputs: ", [i.name for i in spliced.graph.input if i.name in ("image", "target")])
print("outputs:", [o.name for o in spliced.graph.output])
names = {n.name for n in spliced.graph.node}
shown = ["onnxloss/dice/" + q for q in ("probs", "intersection", "cardinality", "score", "loss")]
print("some of the loss's nodes:", ", ".join(n for n in shown if n in names))
loss_node = next(n for n in spliced.graph.node if n.output and n.output[0] == "loss")
print("the loss node says:", loss_node.doc_string.splitlines()[0])
onnx.save(spliced, os.path.join(out, "net_with_dice.onnx"))

# %% 3. ONNX Runtime training artifacts
#
# training_artifacts splices the loss again (same options) and runs
# onnxruntime.training.artifacts.generate_artifacts(loss=None, AdamW): the
# loss is already in the graph, so ONNX Runtime only adds the gradients.
# (ONNX Runtime 1.19 logs its graph transformations here, on standard error.)
art = os.path.join(out, "artifacts")
trained = onnxloss.training_artifacts(model_path, "dice", art)
print("training", len(trained), "parameters:", ", ".join(trained))
print("artifacts:", ", ".join(sorted(os.listdir(art))))

# %% 4. Train on synthetic data
#
# Images hold a bright disc on noise; the target is the disc. The inputs
# of the training model are the model's image, then target.
from onnxruntime.training.api import CheckpointState, Module, Optimizer  # noqa: E402

rng = np.random.default_rng(0)


def batch(n=8, size=32):
    """n noisy images with a disc each, and the discs as targets."""
    yy, xx = np.mgrid[0:size, 0:size]
    images = rng.normal(0, 0.3, (n, 3, size, size)).astype(np.float32)
    targets = np.zeros((n, 1, size, size), np.float32)
    for i in range(n):
        cy, cx, r = rng.uniform(8, size - 8, 2).tolist() + [rng.uniform(4, 8)]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        images[i, :, disc] += 1.0
        targets[i, 0, disc] = 1
    return images, targets


state = CheckpointState.load_checkpoint(os.path.join(art, "checkpoint"))
module = Module(
    os.path.join(art, "training_model.onnx"), state, os.path.join(art, "eval_model.onnx")
)
optimizer = Optimizer(os.path.join(art, "optimizer_model.onnx"), module)
optimizer.set_learning_rate(0.01)
print("training inputs:", module.input_names())

images, targets = batch()
losses = []
module.train()
for step in range(args.steps):
    loss = float(module(images, targets))
    optimizer.step()
    module.lazy_reset_grad()
    losses.append(loss)
    if step % 5 == 0 or step == args.steps - 1:
        print(f"step {step:3d}  dice loss {loss:.4f}")

# The eval model computes the loss without gradients, on images it has not seen.
module.eval()
test_images, test_targets = batch()
print(f"held-out dice loss {float(module(test_images, test_targets)):.4f}")
print(f"loss fell from {losses[0]:.4f} to {losses[-1]:.4f}")
