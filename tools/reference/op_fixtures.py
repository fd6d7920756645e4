"""Op fixtures: one safetensors file per case of CASES, each op's inputs, output and gradients from PyTorch.

Tensor names in an op file:
    in.<name>    inputs and parameters (in.x, in.weight, in.running_mean, ...)
    grad_out     the upstream gradient: random, shaped like out (shape [] for scalar outputs)
    out          the output; out.<name> for extra outputs (out.running_var, out.indices, out.param_step2)
    grad.<name>  the gradient of every input that has one

Every case draws from its own torch.Generator seeded with crc32(case name). Dropout has no fixture: its mask
comes from torch's RNG, which the C# engine does not reproduce.
"""
import functools
import math
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_file import write_fixture

GENERATOR = "tools/reference/gen_fixtures.py"


def fixture_metadata(case: str, args: dict, description: str, **extra: str) -> dict[str, str]:
    return {
        "torch_version": torch.__version__,
        "generator": GENERATOR,
        "case": case,
        "args": json.dumps(args, separators=(",", ":")),
        "description": description,
        **extra,
    }


# ----------------------------------------------------------------------------------------------------
# Op cases. A builder takes the case's generator plus its args and returns the tensors to store and an
# optional note appended to the description (facts measured while building, e.g. how many ties).

def generator_for(case: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(case.encode("utf-8")))


def randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float32)


def forward_backward(g: torch.Generator, op: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor],
                     differentiable: list[str]) -> dict[str, torch.Tensor]:
    """Runs op(*inputs.values()), back-propagates a random grad_out, returns in.*, grad_out, out, grad.*."""
    leaves = {name: t.clone().requires_grad_(name in differentiable) for name, t in inputs.items()}
    out = op(*leaves.values())
    grad_out = randn(g, *out.shape)
    out.backward(grad_out)
    tensors = {f"in.{name}": t for name, t in inputs.items()}
    tensors["grad_out"] = grad_out
    tensors["out"] = out.detach()
    for name in differentiable:
        tensors[f"grad.{name}"] = leaves[name].grad
    return tensors


def linear(g, *, bias):
    inputs = {"x": randn(g, 3, 5), "weight": randn(g, 4, 5)}
    if bias:
        inputs["bias"] = randn(g, 4)
    return forward_backward(g, F.linear, inputs, list(inputs)), ""


# padding_mode as the engine's PaddingMode numbers it (the op table's arguments are numbers)
PADDING_MODES = {0: "zeros", 1: "reflect", 2: "replicate"}


def conv2d(g, *, stride, padding, bias, x_shape, weight_shape, padding_mode=0, then=lambda y: y):
    inputs = {"x": randn(g, *x_shape), "weight": randn(g, *weight_shape)}
    if bias:
        inputs["bias"] = randn(g, weight_shape[0])
    mode = PADDING_MODES[padding_mode]
    if mode == "zeros":
        op = lambda *t: then(F.conv2d(*t, stride=tuple(stride), padding=tuple(padding)))
    else:  # as nn.Conv2d(padding_mode=mode): pad, then convolve without padding
        pad = (padding[1], padding[1], padding[0], padding[0])
        op = lambda x, *w: then(F.conv2d(F.pad(x, pad, mode=mode), *w, stride=tuple(stride)))
    tensors = forward_backward(g, op, inputs, list(inputs))
    return tensors, f"output shape {list(tensors['out'].shape)}."


def pad2d(g, *, mode, left, right, top, bottom, x_shape):
    op = lambda x: F.pad(x, (left, right, top, bottom), mode=mode)
    return forward_backward(g, op, {"x": randn(g, *x_shape)}, ["x"]), ""


def first_max_indices(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, int]:
    """Flat h*W+w index of the first maximum in row-major window order, and how many windows tie."""
    n, c, h, w = x.shape
    out_h, out_w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    indices = np.zeros((n, c, out_h, out_w), dtype=np.int64)
    ties = 0
    for ni, ci, oy, ox in np.ndindex(n, c, out_h, out_w):
        window = x[ni, ci, oy * stride:oy * stride + kernel, ox * stride:ox * stride + kernel]
        ky, kx = divmod(int(np.argmax(window)), kernel)  # np.argmax returns the first maximum
        indices[ni, ci, oy, ox] = (oy * stride + ky) * w + ox * stride + kx
        ties += int((window == window.max()).sum() > 1)
    return indices, ties


def maxpool2d(g, *, kernel_size, stride, padding, x_shape):
    x = torch.randint(0, 3, x_shape, generator=g).to(torch.float32)
    leaf = x.clone().requires_grad_(True)
    out, indices = F.max_pool2d(leaf, tuple(kernel_size), tuple(stride), tuple(padding), return_indices=True)
    grad_out = randn(g, *out.shape)
    out.backward(grad_out)

    expected, ties = first_max_indices(x.numpy(), kernel_size[0], stride[0])
    assert ties > 0 and np.array_equal(indices.numpy(), expected), "torch no longer picks the first max"
    expected_grad = torch.zeros_like(x).flatten(2).scatter_add_(2, indices.flatten(2), grad_out.flatten(2))
    assert torch.equal(leaf.grad, expected_grad.view_as(x))
    tensors = {"in.x": x, "grad_out": grad_out, "out": out.detach(), "out.indices": indices, "grad.x": leaf.grad}
    return tensors, f"{ties} of {out.numel()} windows have tied maxima; verified against a first-max reference."


# Element-wise cases hold NaN, +inf, -inf and -0.0 at these flat indices (free of every case's other planted
# values), so each device is held to torch's treatment of them, forward and backward.
SPECIAL_VALUES = [math.nan, math.inf, -math.inf, -0.0]
SPECIAL_AT = [2, 3, 4, 8]


def with_special_values(x: torch.Tensor) -> torch.Tensor:
    x.view(-1)[SPECIAL_AT] = torch.tensor(SPECIAL_VALUES)
    return x


def relu(g):
    x = with_special_values(randn(g, 4, 6))
    x.view(-1)[[0, 5, 7, 13, 22]] = 0.0
    tensors = forward_backward(g, torch.relu, {"x": x}, ["x"])
    assert torch.all(tensors["grad.x"][x == 0] == 0), "torch relu gradient at exactly 0 is no longer 0"
    assert torch.isnan(tensors["out"].view(-1)[2]), "torch relu no longer propagates NaN"
    return tensors, "verified: grad.x is 0 where x == 0."


def leaky_relu(g, *, negative_slope):
    x = with_special_values(randn(g, 4, 6))
    at_zero = [0, 5, 13]
    x.view(-1)[at_zero] = 0.0
    tensors = forward_backward(g, lambda x: F.leaky_relu(x, negative_slope), {"x": x}, ["x"])
    grad_x, grad_out = tensors["grad.x"].view(-1), tensors["grad_out"].view(-1)
    assert torch.equal(grad_x[at_zero], grad_out[at_zero] * negative_slope), "torch leaky_relu gradient at 0 is no longer slope"
    return tensors, "verified: grad.x == negative_slope * grad_out where x == 0."


def concat(g, *, dim):
    parts = {"a": randn(g, 2, 3, 2), "b": randn(g, 1, 3, 2), "c": randn(g, 3, 3, 2)}
    return forward_backward(g, lambda a, b, c: torch.cat([a, b, c], dim), parts, list(parts)), ""


def narrow(g, *, dim, start, length):
    return forward_backward(g, lambda x: x.narrow(dim, start, length), {"x": randn(g, 6, 4)}, ["x"]), ""


def batchnorm(g, *, eps, momentum, training, x_shape):
    channels = x_shape[1]
    module = (nn.BatchNorm2d if len(x_shape) == 4 else nn.BatchNorm1d)(channels, eps=eps, momentum=momentum)
    channel_shape = [1, channels] + [1] * (len(x_shape) - 2)
    x = randn(g, *x_shape) * 1.5 + randn(g, *channel_shape)  # per-channel offsets and scale != 1
    with torch.no_grad():
        module.weight.copy_(randn(g, channels) * 0.5 + 1.0)
        module.bias.copy_(randn(g, channels))
        module.running_mean.copy_(randn(g, channels) * 0.5)
        module.running_var.copy_(torch.rand(channels, generator=g) + 0.5)
    module.train(training)
    tensors = {
        "in.x": x,
        "in.weight": module.weight.detach().clone(),
        "in.bias": module.bias.detach().clone(),
        "in.running_mean": module.running_mean.clone(),
        "in.running_var": module.running_var.clone(),
    }
    leaf = x.clone().requires_grad_(True)
    out = module(leaf)
    grad_out = randn(g, *out.shape)
    out.backward(grad_out)
    tensors["grad_out"] = grad_out
    tensors["out"] = out.detach()
    if training:
        tensors["out.running_mean"] = module.running_mean.clone()
        tensors["out.running_var"] = module.running_var.clone()
    else:
        assert torch.equal(module.running_mean, tensors["in.running_mean"])
    tensors["grad.x"] = leaf.grad
    tensors["grad.weight"] = module.weight.grad
    tensors["grad.bias"] = module.bias.grad
    return tensors, ""


def binary(g, *, op):
    fn = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}[op]
    x, y = randn(g, 3, 4), randn(g, 3, 4)
    return forward_backward(g, fn, {"x": with_special_values(x), "y": y}, ["x", "y"]), ""


def scalar_op(g, *, op, scalar):
    fn = {"add": lambda x: x + scalar, "mul": lambda x: x * scalar}[op]
    return forward_backward(g, fn, {"x": with_special_values(randn(g, 3, 4))}, ["x"]), ""


def unary(g, *, op):
    if op == "sqrt":
        x = torch.rand(3, 4, generator=g) * 4.0 + 0.1
        x.view(-1)[[0, 5, 10]] = torch.tensor([1.0, 4.0, 0.25])
    else:
        x = randn(g, 3, 4)
    if op in ("square", "sqrt"):
        with_special_values(x)
    fn = {"square": torch.square, "sqrt": torch.sqrt, "sum": torch.sum, "mean": torch.mean}[op]
    return forward_backward(g, fn, {"x": x}, ["x"]), ""


def clamp_min(g, *, min):
    x = with_special_values(randn(g, 3, 4))
    at_min = [1, 6, 11]
    x.view(-1)[at_min] = min
    tensors = forward_backward(g, lambda x: torch.clamp(x, min=min), {"x": x}, ["x"])
    grad_x, grad_out = tensors["grad.x"].view(-1), tensors["grad_out"].view(-1)
    assert torch.equal(grad_x[at_min], grad_out[at_min]), "torch clamp no longer passes the gradient at x == min"
    return tensors, "verified: grad.x == grad_out where x == min."


def pairwise_distance(g, *, p, eps, keepdim):
    a, b = randn(g, 6, 5), randn(g, 6, 5)
    b[[1, 4]] = a[[1, 4]]
    op = functools.partial(F.pairwise_distance, p=p, eps=eps, keepdim=keepdim)
    tensors = forward_backward(g, op, {"a": a, "b": b}, ["a", "b"])
    at_zero = tensors["out"][[1, 4]]
    assert torch.allclose(at_zero, torch.full_like(at_zero, math.sqrt(5) * 1e-6), rtol=1e-5, atol=0)
    assert torch.isfinite(tensors["grad.a"]).all() and torch.isfinite(tensors["grad.b"]).all()
    return tensors, f"distance on the identical rows = {at_zero.view(-1).tolist()} (float32)."


def contrastive_loss_from_distance(d: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
    return torch.mean((1 - y) * torch.pow(d, 2) + y * torch.pow(torch.clamp(margin - d, min=0.0), 2))


def contrastive_loss(g, *, margin, reduction):
    d = torch.tensor([0.3, 1.1, 1.9, 2.5, 3.7, 0.05, 1.6, 2.2]).view(8, 1)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]).view(8, 1)
    op = functools.partial(contrastive_loss_from_distance, margin=margin)
    return forward_backward(g, op, {"d": d, "y": y}, ["d"]), ""


def l2_normalize(g, *, p, dim, eps):
    x = randn(g, 5, 7)
    x[2] *= 1e-4  # a short row: the division amplifies its gradient
    x[3, :3] = 0.0
    op = functools.partial(F.normalize, p=p, dim=dim, eps=eps)
    tensors = forward_backward(g, op, {"x": x}, ["x"])
    assert torch.allclose(tensors["out"].norm(dim=1), torch.ones(5))
    return tensors, ""


def cross_entropy(g, *, reduction):
    logits = randn(g, 6, 4) * 3.0
    logits[4] += 80.0  # exp(z) overflows float32 unless the row maximum is subtracted first
    target = torch.tensor([0, 3, 1, 3, 2, 0])
    tensors = forward_backward(g, lambda z: F.cross_entropy(z, target, reduction=reduction), {"logits": logits}, ["logits"])
    tensors["target"] = target
    return tensors, ""


def optimizer_gradients(g) -> list[torch.Tensor]:
    """Three 20-element gradients: element 0 always 0, element 1 flips sign, element 2 tiny, element 3 large."""
    grads = [randn(g, 20) for _ in range(3)]
    for step, grad in enumerate(grads):
        grad[0] = 0.0
        grad[1] = 0.5 if step % 2 == 0 else -0.5
        grad[2] = 1e-7 * (step + 1)
        grad[3] = 100.0
    return grads


def run_optimizer(g, make_optimizer, state_names: list[str]) -> dict[str, torch.Tensor]:
    initial = randn(g, 20)
    grads = optimizer_gradients(g)
    param = nn.Parameter(initial.clone())
    optimizer = make_optimizer([param])
    tensors = {"in.param": initial}
    tensors.update({f"in.grad_step{k + 1}": grad for k, grad in enumerate(grads)})
    for k, grad in enumerate(grads):
        param.grad = grad.clone()
        optimizer.step()
        tensors[f"out.param_step{k + 1}"] = param.detach().clone()
    state = optimizer.state[param]
    tensors.update({f"out.{name}": state[name].clone() for name in state_names})
    return tensors


def adam(g, *, lr, betas, eps, weight_decay, amsgrad, maximize):
    make = functools.partial(torch.optim.Adam, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                             amsgrad=amsgrad, maximize=maximize, foreach=False)
    return run_optimizer(g, make, ["exp_avg", "exp_avg_sq"]), ""


def sgd(g, *, lr, momentum, dampening, nesterov, weight_decay):
    make = functools.partial(torch.optim.SGD, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                             weight_decay=weight_decay, foreach=False)
    return run_optimizer(g, make, ["momentum_buffer"]), ""


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable  # build(generator, **args) -> (tensors, note)
    args: dict
    description: str


BN = {"eps": 1e-5, "momentum": 0.1}
ADAM = {"betas": [0.9, 0.999], "eps": 1e-8, "amsgrad": False, "maximize": False}
OPTIMIZER_EDGES = ("in.grad_step1..3 are 20-element gradients where element 0 is always 0, element 1 flips sign"
                   " every step, element 2 is tiny (1e-7..3e-7) and element 3 is 100.")

CASES = [
    Case("linear", linear, {"bias": True},
         "y = x W^T + b; x (3,5), weight (4,5), bias (4): batch, in and out sizes all differ so a transposed"
         " operand is caught."),
    Case("linear_nobias", linear, {"bias": False},
         "y = x W^T without bias; x (3,5), weight (4,5)."),
    Case("conv2d_3x3", functools.partial(conv2d, x_shape=(2, 3, 7, 6), weight_shape=(4, 3, 3, 3)),
         {"stride": [1, 1], "padding": [0, 0], "bias": True},
         "Cross-correlation; x (2,3,7,6), weight (4,3,3,3), bias; non-square input, no padding."),
    Case("conv2d_stride2_pad1", functools.partial(conv2d, x_shape=(2, 2, 9, 8), weight_shape=(3, 2, 3, 3)),
         {"stride": [2, 2], "padding": [1, 1], "bias": True},
         "x (2,2,9,8), weight (3,2,3,3), stride 2, zero padding 1: H=9 fits exactly (5 rows) while for W=8"
         " (8+2-3)/2 is not an integer, so the output width floors to 4 and the right padding column is"
         " never read."),
    Case("conv2d_5x3_nobias", functools.partial(conv2d, x_shape=(1, 2, 8, 7), weight_shape=(2, 2, 5, 3)),
         {"stride": [1, 2], "padding": [2, 1], "bias": False},
         "x (1,2,8,7), weight (2,2,5,3), non-square kernel, stride (1,2), padding (2,1), no bias."),
    Case("conv2d_relu", functools.partial(conv2d, x_shape=(2, 3, 7, 6), weight_shape=(5, 3, 3, 3), then=F.relu),
         {"stride": [1, 1], "padding": [1, 1], "bias": True},
         "F.relu(F.conv2d(...)), x (2,3,7,6), weight (5,3,3,3), bias, zero padding 1: about half the outputs are"
         " cut to 0 and pass no gradient."),
    Case("conv2d_reflect", functools.partial(conv2d, x_shape=(2, 2, 5, 6), weight_shape=(3, 2, 3, 3)),
         {"stride": [1, 1], "padding": [2, 1], "padding_mode": 1, "bias": True},
         "As nn.Conv2d(padding_mode='reflect'): x (2,2,5,6) reflected by 2 rows and 1 column on each side, then"
         " weight (3,2,3,3) and bias without padding; padding_mode 1 is the engine's PaddingMode.Reflect."),
    Case("conv2d_relu_replicate", functools.partial(conv2d, x_shape=(2, 3, 7, 6), weight_shape=(5, 3, 3, 3), then=F.relu),
         {"stride": [1, 1], "padding": [1, 1], "padding_mode": 2, "bias": True},
         "F.relu of nn.Conv2d(padding_mode='replicate'): x (2,3,7,6) with its edges repeated by 1, weight (5,3,3,3),"
         " bias; padding_mode 2 is the engine's PaddingMode.Replicate."),
    Case("replication_pad2d", functools.partial(pad2d, x_shape=(2, 2, 4, 5)),
         {"mode": "replicate", "left": 1, "right": 1, "top": 1, "bottom": 1},
         "F.pad replicate, x (2,2,4,5); corners receive gradient from 4 output cells, edges from 2."),
    Case("replication_pad2d_asym", functools.partial(pad2d, x_shape=(2, 2, 4, 5)),
         {"mode": "replicate", "left": 1, "right": 2, "top": 0, "bottom": 3},
         "F.pad replicate, x (2,2,4,5), asymmetric padding with a zero side; the bottom row collects"
         " gradient from 4 rows, the right column from 3 columns."),
    Case("reflection_pad2d", functools.partial(pad2d, x_shape=(2, 2, 4, 5)),
         {"mode": "reflect", "left": 1, "right": 1, "top": 1, "bottom": 1},
         "F.pad reflect (edge not repeated), x (2,2,4,5); reflected cells add gradient to interior cells."),
    Case("reflection_pad2d_asym", functools.partial(pad2d, x_shape=(2, 2, 4, 5)),
         {"mode": "reflect", "left": 1, "right": 2, "top": 0, "bottom": 3},
         "F.pad reflect, x (2,2,4,5), asymmetric padding with a zero side and bottom 3 = H-1 (the largest"
         " reflection allows)."),
    Case("maxpool2d_2x2", functools.partial(maxpool2d, x_shape=(2, 2, 6, 8)),
         {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]},
         "x (2,2,6,8) of small integers 0..2 so many windows tie; the gradient goes to the first maximum in"
         " row-major window order; out.indices (I64) is torch's flat h*W+w index per plane."),
    Case("maxpool2d_3x3_s2", functools.partial(maxpool2d, x_shape=(2, 2, 7, 9)),
         {"kernel_size": [3, 3], "stride": [2, 2], "padding": [0, 0]},
         "x (2,2,7,9) of small integers 0..2, overlapping 3x3 windows with stride 2: ties go to the first"
         " maximum in row-major window order, and a cell that wins two windows accumulates both gradients."),
    Case("relu", relu, {},
         "x (4,6) with five entries exactly 0.0; the gradient is 0 at x == 0 (torch: grad where x > 0)."
         " Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0. (relu(NaN) = NaN, and its gradient passes)."),
    Case("leaky_relu", leaky_relu, {"negative_slope": 0.2},
         "F.leaky_relu(x, 0.2), x (4,6) with entries exactly 0.0 at flat indices 0, 5, 13, where torch's gradient is"
         " 0.2*grad_out (it passes grad_out only where x > 0). Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("batchnorm2d_train", functools.partial(batchnorm, x_shape=(4, 3, 5, 6)), {**BN, "training": True},
         "BatchNorm2d training forward/backward, x (4,3,5,6), random weight/bias/running stats; normalises with"
         " the biased batch variance, updates running_var with the unbiased one (n = N*H*W = 120)."),
    Case("batchnorm2d_eval", functools.partial(batchnorm, x_shape=(4, 3, 5, 6)), {**BN, "training": False},
         "BatchNorm2d in eval mode: normalises with the running stats (unchanged); grads of x, weight, bias."),
    Case("batchnorm1d_train", functools.partial(batchnorm, x_shape=(8, 5)), {**BN, "training": True},
         "BatchNorm1d training on (N,C) = (8,5); statistics over N only (unbiased factor 8/7)."),
    Case("batchnorm1d_train_3d", functools.partial(batchnorm, x_shape=(4, 3, 7)), {**BN, "training": True},
         "BatchNorm1d training on (N,C,L) = (4,3,7); statistics over N and L (n = 28)."),
    Case("concat", concat, {"dim": 0},
         "torch.cat([a, b, c], 0) with a (2,3,2), b (1,3,2), c (3,3,2): out (6,3,2); each part's gradient is its rows"
         " of grad_out."),
    Case("narrow", narrow, {"dim": 0, "start": 2, "length": 3},
         "x.narrow(0, 2, 3), x (6,4): rows 2..4; grad.x is grad_out in those rows and 0 in rows 0, 1 and 5."),
    Case("add", binary, {"op": "add"}, "x + y, both (3,4). Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("sub", binary, {"op": "sub"}, "x - y, both (3,4); grad.y = -grad_out. Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("mul", binary, {"op": "mul"}, "x * y, both (3,4). Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("add_scalar", scalar_op, {"op": "add", "scalar": 0.75}, "x + 0.75, x (3,4). Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("mul_scalar", scalar_op, {"op": "mul", "scalar": -1.5},
         "x * -1.5 (negative scalar), x (3,4). Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("square", unary, {"op": "square"}, "x^2, x (3,4); grad 2x*grad_out. Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("sqrt", unary, {"op": "sqrt"},
         "sqrt(x), x (3,4) positive in [0.1,4.1) with exact squares 1, 4 and 0.25 at flat indices 0, 5, 10."
         " Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("clamp_min", clamp_min, {"min": 0.25},
         "clamp(x, min=0.25), x (3,4) with entries exactly 0.25 at flat indices 1, 6, 11: torch passes the"
         " gradient where x >= min, so also at x == min. Flat indices 2, 3, 4, 8 of x hold NaN, +inf, -inf, -0.0."),
    Case("sum", unary, {"op": "sum"}, "Sum of x (3,4) to a scalar: out and grad_out have shape []."),
    Case("mean", unary, {"op": "mean"},
         "Mean of x (3,4) to a scalar: out and grad_out have shape []."),
    Case("pairwise_distance", pairwise_distance, {"p": 2.0, "eps": 1e-6, "keepdim": True},
         "F.pairwise_distance(a, b, keepdim=True) = ||a - b + eps||_2 per row, a and b (6,5), out (6,1); rows 1"
         " and 4 are identical, so the distance there is sqrt(5)*1e-6 and the gradient stays finite"
         " ((a-b+eps)/d = 1/sqrt(5) per element)."),
    Case("contrastive_loss", contrastive_loss, {"margin": 2.0, "reduction": "mean"},
         "mean((1-y)*d^2 + y*clamp(margin-d, min=0)^2), d (8,1) = 0.3,1.1,1.9,2.5,3.7,0.05,1.6,2.2 (never at"
         " the margin), y (8,1) = 0,1,1,0,1,1,0,1 (1 = different); y=1 pairs beyond the margin (3.7, 2.2) get"
         " zero gradient. Only grad.d: labels get no gradient. out and grad_out have shape []."),
    Case("l2_normalize", l2_normalize, {"p": 2.0, "dim": 1, "eps": 1e-12},
         "F.normalize(x, p=2, dim=1) = x / max(||x||, eps) per row, x (5,7); row 2 is scaled by 1e-4 (its"
         " gradient is 1e4 times larger) and row 3 has three zeros."),
    Case("cross_entropy", cross_entropy, {"reduction": "mean"},
         "F.cross_entropy(logits, target) (log-softmax and mean negative log-likelihood), logits (6,4) with row 4"
         " shifted by +80 so exp overflows float32 without the max subtraction; target (I64, 6) = 0,3,1,3,2,0 (not"
         " an input: no gradient). out and grad_out have shape []."),
    Case("adam", adam, {"lr": 5e-4, **ADAM, "weight_decay": 0.0},
         "torch.optim.Adam (single-tensor path), one 20-element parameter, 3 steps; out.param_step1..3 after each"
         " step, out.exp_avg/out.exp_avg_sq after step 3. torch computes bias corrections in float64,"
         " denom = sqrt(v)/sqrt(1-beta2^t) + eps, param -= (lr/(1-beta1^t)) * m/denom; element 2's sqrt(v) is"
         " comparable to eps. " + OPTIMIZER_EDGES),
    Case("adam_wd", adam, {"lr": 1e-2, **ADAM, "weight_decay": 0.01},
         "As adam with lr 1e-2 and weight_decay 0.01 as L2 (added to the gradient before the moments, not"
         " AdamW), so element 0 moves although its gradient is 0. " + OPTIMIZER_EDGES),
    Case("sgd_momentum", sgd,
         {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
         "torch.optim.SGD with momentum, 3 steps: buf = grad at step 1, then buf = momentum*buf +"
         " (1-dampening)*grad; out.momentum_buffer after step 3. " + OPTIMIZER_EDGES),
    Case("sgd_nesterov_wd", sgd,
         {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "nesterov": True, "weight_decay": 1e-3},
         "SGD Nesterov with weight decay 1e-3 (g += wd*param first), 3 steps: update = g + momentum*buf. "
         + OPTIMIZER_EDGES),
    Case("sgd_dampening", sgd,
         {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "nesterov": False, "weight_decay": 0.0},
         "SGD momentum 0.9 with dampening 0.5, 3 steps: torch does NOT dampen step 1 (buf = grad), then"
         " buf = 0.9*buf + 0.5*grad. " + OPTIMIZER_EDGES),
]


def write_op_case(case: Case, ops_dir: Path) -> Path:
    tensors, note = case.build(generator_for(case.name), **case.args)
    description = f"{case.description} {note}".strip()
    path = ops_dir / f"{case.name}.safetensors"
    write_fixture(path, tensors, fixture_metadata(case.name, case.args, description))
    return path
