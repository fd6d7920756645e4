"""Whole-model fixtures: a training step of the seed Siamese network (siamese.safetensors) and of the improved
recipe at 16x16 (improved.safetensors), with their gradients, BatchNorm statistics and Adam steps.

Siamese weights are not torch-random, so the C# side can rebuild them without torch's RNG. The init
formula (stored verbatim in siamese.safetensors __metadata__["init"]):

INIT BEGIN
For the s-th entry (s = 0,1,2,...) of the ordered parameter list [conv_layers.1.weight, conv_layers.1.bias,
conv_layers.5.weight, conv_layers.5.bias, conv_layers.9.weight, conv_layers.9.bias, fully_connect.0.weight,
fully_connect.0.bias, fully_connect.2.weight, fully_connect.2.bias, fully_connect.4.weight, fully_connect.4.bias]
with numel n and bound b = 1/sqrt(fan_in) (fan_in = in_channels*kh*kw for conv, in_features for linear; a
bias uses its layer's fan_in; b computed in float64 as 1.0/sqrt(fan_in)), element i (flat row-major,
0 <= i < n) is
    h = (i*2654435761 + s*40503) mod 2^32   (exact integer arithmetic, uint64),
    value = float32(b * (2*h/2^32 - 1))     (computed in float64, then rounded to nearest float32;
                                             every float64 step but the multiplication by b is exact).
BatchNorm weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0 (PyTorch defaults).
INIT END
"""
import math
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from op_fixtures import contrastive_loss_from_distance, fixture_metadata, generator_for
from safetensors_file import write_fixture
from seed_tower import SeedTower

SIAMESE_PARAMETER_ORDER = [
    "conv_layers.1.weight", "conv_layers.1.bias",
    "conv_layers.5.weight", "conv_layers.5.bias",
    "conv_layers.9.weight", "conv_layers.9.bias",
    "fully_connect.0.weight", "fully_connect.0.bias",
    "fully_connect.2.weight", "fully_connect.2.bias",
    "fully_connect.4.weight", "fully_connect.4.bias",
]

# The docstring's formula, whitespace collapsed to single spaces.
INIT_FORMULA = " ".join(__doc__.split("INIT BEGIN")[1].split("INIT END")[0].split())
assert ", ".join(SIAMESE_PARAMETER_ORDER) in INIT_FORMULA


# ----------------------------------------------------------------------------------------------------
# Whole-model fixture: the seed notebook's Siamese network.

def both_towers(model: SeedTower, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's twin forward: the shared tower on a, then on b, so BatchNorm's running statistics update twice."""
    return model(a), model(b)


def contrastive_loss_of_embeddings(o1, o2, y, margin=2.0):
    d = F.pairwise_distance(o1, o2, keepdim=True)
    return contrastive_loss_from_distance(d, y, margin)


def hash_init(numel: int, s: int, fan_in: int) -> np.ndarray:
    i = np.arange(numel, dtype=np.uint64)
    h = (i * np.uint64(2654435761) + np.uint64(s * 40503)) % np.uint64(2 ** 32)
    bound = 1.0 / math.sqrt(fan_in)
    return (bound * (2.0 * h.astype(np.float64) / 2.0 ** 32 - 1.0)).astype(np.float32)


def fan_in_of(layer: nn.Module) -> int:
    return layer.weight[0].numel()  # conv: in_channels*kh*kw, linear: in_features


def make_siamese() -> SeedTower:
    model = SeedTower()
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for s, key in enumerate(SIAMESE_PARAMETER_ORDER):
            layer = model.get_submodule(key.rsplit(".", 1)[0])
            param = parameters[key]
            values = hash_init(param.numel(), s, fan_in_of(layer))
            param.copy_(torch.from_numpy(values).view(param.shape))
    model.train()
    return model


def float64_stats(t: torch.Tensor) -> torch.Tensor:
    """[sum, sum of |.|, L2 norm] computed in float64, stored as float32."""
    t64 = t.detach().to(torch.float64)
    return torch.stack([t64.sum(), t64.abs().sum(), t64.norm()]).to(torch.float32)


BIG_WEIGHT = "fully_connect.0.weight"
BIG_WEIGHT_ROWS = [0, 1, 2, 499]
SIAMESE_ARGS = {
    "margin": 2.0, "batch": 4, "mode": "train",
    "adam": {"lr": 5e-4, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}, "adam_steps": 5,
    "grad_rows." + BIG_WEIGHT: BIG_WEIGHT_ROWS,
}
SIAMESE_DESCRIPTION = (
    "The seed notebook's Siamese network in train() mode, twin towers sharing weights: forward(a,b)"
    " = (forward_once(a), forward_once(b)) in that order, so BatchNorm running stats update twice per step"
    " (after.*.num_batches_tracked = 2). Weights from the init formula in __metadata__['init']. in.img0/in.img1"
    " (4,1,100,100) = torch.rand with a fixed generator, in.label (4,1) = 0,1,0,1 (1 = different). param.<key>:"
    " every parameter except fully_connect.0.weight (40M elements; param_stats.fully_connect.0.weight = [sum,"
    " sum|.|, L2] in float64 instead). Step 1 on the initial weights, loss seeded with gradient 1: out.emb0,"
    " out.emb1 (4,5), out.loss (shape []), grad.<key> for every parameter but fully_connect.0.weight, for which"
    " grad_rows.fully_connect.0.weight = rows 0,1,2,499 (4,80000) and grad_stats.fully_connect.0.weight = [sum,"
    " sum|.|, L2] (float64-computed, stored F32); after.<key> = BatchNorm running_mean/running_var/"
    "num_batches_tracked (I64, shape []) after that first forward pair. adam.losses (5): a fresh model with the"
    " same weights, 5 steps of torch.optim.Adam(lr 5e-4) on the same batch (zero_grad, forward, loss,"
    " backward, step), each loss taken before its step's update; adam.losses_float64: the same"
    " run with the model in float64 (stored F32), which shows how far float32 rounding alone moves later steps. Edge: grad.fully_connect.4.bias is exactly 0"
    " (both towers share the bias and the loss's gradients w.r.t. emb0 and emb1 are exact negatives), so"
    " compare it with an absolute tolerance."
)


def adam_losses(img0, img1, label, dtype: torch.dtype) -> torch.Tensor:
    """The losses of 5 Adam steps from the formula weights on one batch, with the model in the given dtype."""
    model = make_siamese().to(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                                 foreach=False)
    losses = []
    for _ in range(SIAMESE_ARGS["adam_steps"]):
        optimizer.zero_grad()
        step_loss = contrastive_loss_of_embeddings(*both_towers(model, img0.to(dtype), img1.to(dtype)), label.to(dtype))
        step_loss.backward()
        optimizer.step()
        losses.append(step_loss.detach())
    return torch.stack(losses)


def write_siamese(path: Path) -> Path:
    g = generator_for("siamese")
    img0 = torch.rand(4, 1, 100, 100, generator=g)
    img1 = torch.rand(4, 1, 100, 100, generator=g)
    label = torch.tensor([0.0, 1.0, 0.0, 1.0]).view(4, 1)
    tensors = {"in.img0": img0, "in.img1": img1, "in.label": label}

    model = make_siamese()
    for key, param in model.named_parameters():
        if key == BIG_WEIGHT:
            tensors["param_stats." + key] = float64_stats(param)
        else:
            tensors["param." + key] = param.detach().clone()

    emb0, emb1 = both_towers(model, img0, img1)
    loss = contrastive_loss_of_embeddings(emb0, emb1, label)
    loss.backward()
    tensors.update({"out.emb0": emb0.detach(), "out.emb1": emb1.detach(), "out.loss": loss.detach()})
    for key, param in model.named_parameters():
        if key == BIG_WEIGHT:
            tensors["grad_rows." + key] = param.grad[BIG_WEIGHT_ROWS].clone()
            tensors["grad_stats." + key] = float64_stats(param.grad)
        else:
            tensors["grad." + key] = param.grad.clone()
    assert torch.all(tensors["grad.fully_connect.4.bias"] == 0)
    for key, buffer in model.named_buffers():
        tensors["after." + key] = buffer.clone()

    tensors["adam.losses"] = adam_losses(img0, img1, label, torch.float32)
    assert torch.equal(tensors["adam.losses"][0], tensors["out.loss"])
    tensors["adam.losses_float64"] = adam_losses(img0, img1, label, torch.float64).to(torch.float32)

    write_fixture(path, tensors, fixture_metadata("siamese", SIAMESE_ARGS, SIAMESE_DESCRIPTION, init=INIT_FORMULA))
    return path


# ----------------------------------------------------------------------------------------------------
# Whole-model fixture of the improved recipe's step, at a small size: zero-padded conv blocks with
# pooling, a unit embedding, CosFace against learned class vectors, Adam with L2 weight decay.

class ImprovedNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(4), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(8), nn.MaxPool2d(2),
        )
        self.fully_connect = nn.Sequential(nn.Linear(8 * 4 * 4, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.fully_connect(self.conv_layers(x).flatten(1)), dim=1)


def cosface_loss(embeddings, class_vectors, labels, margin, scale):
    cosines = embeddings @ F.normalize(class_vectors, dim=1).t()
    return F.cross_entropy(scale * (cosines - margin * F.one_hot(labels, class_vectors.shape[0])), labels)


IMPROVED_ARGS = {
    "image_size": 16, "channels": [4, 8], "embedding_size": 8, "classes": 5, "labels": [0, 0, 0, 3, 3, 3, 1, 1, 1],
    "margin": 0.35, "scale": 16.0, "adam": {"lr": [2e-3, 1e-3, 5e-4], "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 5e-4},
}
IMPROVED_DESCRIPTION = (
    "The improved recipe's tower at 16x16: conv_layers = [Conv2d(1,4,3,padding=1), ReLU, BatchNorm2d(4), MaxPool2d(2),"
    " Conv2d(4,8,3,padding=1), ReLU, BatchNorm2d(8), MaxPool2d(2)], fully_connect = [Linear(128, 8)], then F.normalize;"
    " train() mode. in.images (9,1,16,16) uniform, labels (I64) three identities x three images; param.<key> every"
    " parameter (torch's own init from a seeded generator) and param.cosface.class_vectors (5,8). Step: out.embeddings,"
    " out.loss = cross_entropy(scale*(e @ normalize(W)^T - margin*onehot)), grad.<key> for every parameter and the class"
    " vectors, after.<key> the BatchNorm buffers. adam.losses (3): from the same start, 3 steps of torch.optim.Adam"
    " (weight_decay 5e-4 as L2) with the learning rate set to adam.lr[t] before step t, each loss taken before its step;"
    " adam.param.<key> every parameter and the class vectors after the 3 steps."
)


def write_improved(path: Path) -> Path:
    g = generator_for("improved")
    torch.manual_seed(zlib.crc32(b"improved"))
    model = ImprovedNetwork()
    class_vectors = nn.Parameter(torch.rand(5, 8, generator=g) * 2 - 1)
    images = torch.rand(9, 1, 16, 16, generator=g)
    labels = torch.tensor(IMPROVED_ARGS["labels"])
    margin, scale = IMPROVED_ARGS["margin"], IMPROVED_ARGS["scale"]
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    start_vectors = class_vectors.detach().clone()

    tensors = {"in.images": images, "labels": labels}
    for key, param in model.named_parameters():
        tensors["param." + key] = param.detach().clone()
    tensors["param.cosface.class_vectors"] = start_vectors
    model.train()
    embeddings = model(images)
    loss = cosface_loss(embeddings, class_vectors, labels, margin, scale)
    loss.backward()
    tensors.update({"out.embeddings": embeddings.detach(), "out.loss": loss.detach()})
    for key, param in model.named_parameters():
        tensors["grad." + key] = param.grad.clone()
    tensors["grad.cosface.class_vectors"] = class_vectors.grad.clone()
    for key, buffer in model.named_buffers():
        tensors["after." + key] = buffer.clone()

    model.load_state_dict(start)
    with torch.no_grad():
        class_vectors.copy_(start_vectors)
    parameters = list(model.parameters()) + [class_vectors]
    adam = IMPROVED_ARGS["adam"]
    optimizer = torch.optim.Adam(parameters, lr=adam["lr"][0], betas=tuple(adam["betas"]), eps=adam["eps"],
                                 weight_decay=adam["weight_decay"], foreach=False)
    losses = []
    for lr in adam["lr"]:
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        step_loss = cosface_loss(model(images), class_vectors, labels, margin, scale)
        step_loss.backward()
        optimizer.step()
        losses.append(step_loss.detach())
    tensors["adam.losses"] = torch.stack(losses)
    assert torch.equal(tensors["adam.losses"][0], tensors["out.loss"])
    for key, param in model.named_parameters():
        tensors["adam.param." + key] = param.detach().clone()
    tensors["adam.param.cosface.class_vectors"] = class_vectors.detach().clone()
    write_fixture(path, tensors, fixture_metadata("improved", IMPROVED_ARGS, IMPROVED_DESCRIPTION))
    return path
