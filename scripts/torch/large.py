"""PyTorch fixtures at realistic sizes, where a float32 sum that adds its
terms one after the other drifts: bce, sigmoid focal (α 0.25, γ 2),
cross-entropy and the soft Dice loss (MONAI DiceLoss's defaults, which are
onnxloss's: smooth_nr = smooth_dr = 1e-5, per sample and class, then the
mean) on up to 16.7 million entries.

The inputs are not stored: Writer.generated_inputs defines them from a counter-based
hash that the Go test computes too, so a case holds only the options, the
shape and PyTorch's loss in float64 from the float32 inputs.
"""
import torch
import torch.nn.functional as F
import torchvision

SET = "large"

# The budget of the large tier (largeRelTol in verify/large_test.go).
RTOL, ATOL = 1e-6, 1e-12


def dice(x, y, multiclass):
    if multiclass:
        p = torch.softmax(x, dim=1)
        t = F.one_hot(y, x.size(1)).movedim(-1, 1).to(x.dtype)
    else:
        p, t = torch.sigmoid(x), y.to(x.dtype)
    axes = list(range(2, x.dim()))
    inter, total = (p * t).sum(axes), p.sum(axes) + t.sum(axes)
    return (1 - (2 * inter + 1e-5) / (total + 1e-5)).mean()


def make(w):
    def case(name, loss, options, shape, seed, target, fn):
        x, t = w.generated_inputs(shape, seed, target)
        if len(shape) == 5:
            options = dict(options, spatial_dims="3")
        want = fn(x.double(), t).item()
        w.generated(name, loss, options, shape, seed, target, want, RTOL, ATOL)
        # For the README's table: PyTorch's own float32 result on the same inputs.
        print("  %s: PyTorch float32 relative error %.1e" % (name, (fn(x, t).item() - want) / want))

    bce = F.binary_cross_entropy_with_logits
    focal = torchvision.ops.sigmoid_focal_loss
    for shape in [(8, 1, 512, 512), (1, 1, 256, 256, 256)]:
        dims = "x".join(map(str, shape))
        case("bce " + dims, "bce", {"mode": "binary"}, shape, 10, "mask",
             lambda x, t: bce(x, t.to(x.dtype)))
        case("focal alpha 0.25 gamma 2 " + dims, "focal", {"mode": "binary", "alpha": "0.25", "gamma": "2"},
             shape, 20, "mask", lambda x, t: focal(x, t.to(x.dtype), alpha=0.25, gamma=2.0, reduction="mean"))
        case("dice binary " + dims, "dice", {"mode": "binary"}, shape, 30, "mask",
             lambda x, t: dice(x, t, False))
    case("bce multilabel 2x4x128x128x128", "bce", {"mode": "multilabel", "classes": "4"},
         (2, 4, 128, 128, 128), 40, "mask", lambda x, t: bce(x, t.to(x.dtype)))
    for shape in [(8, 21, 256, 256), (2, 4, 128, 128, 128)]:
        dims = "x".join(map(str, shape))
        classes = str(shape[1])
        case("cross-entropy " + dims, "cross-entropy", {"classes": classes}, shape, 50, "labels",
             lambda x, y: F.cross_entropy(x, y))
        case("dice multiclass " + dims, "dice", {"mode": "multiclass", "classes": classes}, shape, 70, "labels",
             lambda x, y: dice(x, y, True))
