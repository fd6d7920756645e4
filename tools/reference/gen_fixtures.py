#!/usr/bin/python3
"""PyTorch reference fixtures for the SimilarFaces C# tests.

Run with Debian's PyTorch 1.13 (python3-torch, python3-numpy):

    /usr/bin/python3 tools/reference/gen_fixtures.py [--out DIR]

It writes DIR/ops/<case>.safetensors for every op case in CASES, DIR/siamese.safetensors for the
whole seed network and DIR/improved.safetensors for a step of the improved recipe (DIR defaults to Tests/Fixtures), then re-reads every file it wrote and checks the
round trip. The C# tests read these files and never import torch.

File format (safetensors): an 8-byte little-endian u64 header length, a UTF-8 JSON header
    {name: {"dtype": "F32"|"I64", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}}
padded with spaces to a multiple of 8, then the raw little-endian data of the tensors in the header's
order (offsets relative to the end of the header). Every file's __metadata__ holds torch_version,
generator, case, args (a JSON string of the op's arguments) and description (the edge cases present).

Tensor names in an op file:
    in.<name>    inputs and parameters (in.x, in.weight, in.running_mean, ...)
    grad_out     the upstream gradient: random, shaped like out (shape [] for scalar outputs)
    out          the output; out.<name> for extra outputs (out.running_var, out.indices, out.param_step2)
    grad.<name>  the gradient of every input that has one

Determinism: every case draws from its own torch.Generator seeded with crc32(case name), the script
runs with torch.use_deterministic_algorithms(True) and one thread, and everything is float32 (the only
float64 values are the siamese init formula and the siamese grad/param statistics, as stated there).
Two runs give byte-identical files.

Dropout has no fixture: its mask comes from torch's RNG, which the C# engine does not reproduce.

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

import argparse
import functools
import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GENERATOR = "tools/reference/gen_fixtures.py"

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
# safetensors writer and reader

DTYPES = {torch.float32: ("F32", np.dtype("<f4")), torch.int64: ("I64", np.dtype("<i8"))}
NUMPY_DTYPES = {code: np_dtype for code, np_dtype in DTYPES.values()}


def encode_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        code, np_dtype = DTYPES[tensor.dtype]
        data = tensor.detach().contiguous().numpy().astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def decode_safetensors(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if len(blob) < 8:
        raise ValueError("file shorter than the header length field")
    (header_length,) = struct.unpack_from("<Q", blob, 0)
    if header_length % 8 != 0 or 8 + header_length > len(blob):
        raise ValueError(f"bad header length {header_length} for a {len(blob)}-byte file")
    header = json.loads(blob[8:8 + header_length].decode("utf-8"))
    metadata = header.pop("__metadata__")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("__metadata__ must map str to str")
    data = memoryview(blob)[8 + header_length:]
    arrays, expected_begin = {}, 0
    for name, entry in header.items():
        np_dtype = NUMPY_DTYPES[entry["dtype"]]
        shape = entry["shape"]
        begin, end = entry["data_offsets"]
        if begin != expected_begin or end - begin != math.prod(shape) * np_dtype.itemsize or end > len(data):
            raise ValueError(f"{name}: offsets {begin}..{end} do not fit shape {shape} {entry['dtype']}")
        arrays[name] = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(shape)
        expected_begin = end
    if expected_begin != len(data):
        raise ValueError(f"{len(data) - expected_begin} trailing bytes after the last tensor")
    return arrays, metadata


def write_fixture(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_safetensors(tensors, metadata))
    check_round_trip(path, tensors, metadata)


def check_round_trip(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    arrays, read_metadata = decode_safetensors(path.read_bytes())
    assert read_metadata == metadata, f"{path}: metadata differs after reading back"
    assert list(arrays) == list(tensors), f"{path}: tensor names or order differ after reading back"
    for name, tensor in tensors.items():
        original = tensor.detach().contiguous().numpy()
        read = arrays[name]
        assert read.shape == original.shape and read.dtype == original.dtype.newbyteorder("<"), f"{path}: {name}"
        assert read.tobytes() == original.tobytes(), f"{path}: {name} bytes differ after reading back"


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


def conv2d(g, *, stride, padding, bias, x_shape, weight_shape):
    inputs = {"x": randn(g, *x_shape), "weight": randn(g, *weight_shape)}
    if bias:
        inputs["bias"] = randn(g, weight_shape[0])
    op = functools.partial(F.conv2d, stride=tuple(stride), padding=tuple(padding))
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


def relu(g):
    x = randn(g, 4, 6)
    x.view(-1)[[0, 5, 7, 13, 22]] = 0.0
    tensors = forward_backward(g, torch.relu, {"x": x}, ["x"])
    assert torch.all(tensors["grad.x"][x == 0] == 0), "torch relu gradient at exactly 0 is no longer 0"
    return tensors, "verified: grad.x is 0 where x == 0."


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
    return forward_backward(g, fn, {"x": randn(g, 3, 4), "y": randn(g, 3, 4)}, ["x", "y"]), ""


def scalar_op(g, *, op, scalar):
    fn = {"add": lambda x: x + scalar, "mul": lambda x: x * scalar}[op]
    return forward_backward(g, fn, {"x": randn(g, 3, 4)}, ["x"]), ""


def unary(g, *, op):
    if op == "sqrt":
        x = torch.rand(3, 4, generator=g) * 4.0 + 0.1
        x.view(-1)[[0, 5, 10]] = torch.tensor([1.0, 4.0, 0.25])
    else:
        x = randn(g, 3, 4)
    fn = {"square": torch.square, "sqrt": torch.sqrt, "sum": torch.sum, "mean": torch.mean}[op]
    return forward_backward(g, fn, {"x": x}, ["x"]), ""


def clamp_min(g, *, min):
    x = randn(g, 3, 4)
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
         "x (4,6) with five entries exactly 0.0; the gradient is 0 at x == 0 (torch: grad where x > 0)."),
    Case("batchnorm2d_train", functools.partial(batchnorm, x_shape=(4, 3, 5, 6)), {**BN, "training": True},
         "BatchNorm2d training forward/backward, x (4,3,5,6), random weight/bias/running stats; normalises with"
         " the biased batch variance, updates running_var with the unbiased one (n = N*H*W = 120)."),
    Case("batchnorm2d_eval", functools.partial(batchnorm, x_shape=(4, 3, 5, 6)), {**BN, "training": False},
         "BatchNorm2d in eval mode: normalises with the running stats (unchanged); grads of x, weight, bias."),
    Case("batchnorm1d_train", functools.partial(batchnorm, x_shape=(8, 5)), {**BN, "training": True},
         "BatchNorm1d training on (N,C) = (8,5); statistics over N only (unbiased factor 8/7)."),
    Case("batchnorm1d_train_3d", functools.partial(batchnorm, x_shape=(4, 3, 7)), {**BN, "training": True},
         "BatchNorm1d training on (N,C,L) = (4,3,7); statistics over N and L (n = 28)."),
    Case("add", binary, {"op": "add"}, "x + y, both (3,4)."),
    Case("sub", binary, {"op": "sub"}, "x - y, both (3,4); grad.y = -grad_out."),
    Case("mul", binary, {"op": "mul"}, "x * y, both (3,4)."),
    Case("add_scalar", scalar_op, {"op": "add", "scalar": 0.75}, "x + 0.75, x (3,4)."),
    Case("mul_scalar", scalar_op, {"op": "mul", "scalar": -1.5},
         "x * -1.5 (negative scalar), x (3,4)."),
    Case("square", unary, {"op": "square"}, "x^2, x (3,4); grad 2x*grad_out."),
    Case("sqrt", unary, {"op": "sqrt"},
         "sqrt(x), x (3,4) positive in [0.1,4.1) with exact squares 1, 4 and 0.25 at flat indices 0, 5, 10."),
    Case("clamp_min", clamp_min, {"min": 0.25},
         "clamp(x, min=0.25), x (3,4) with entries exactly 0.25 at flat indices 1, 6, 11: torch passes the"
         " gradient where x >= min, so also at x == min."),
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


# ----------------------------------------------------------------------------------------------------
# Whole-model fixture: the seed Siamese network (ENGINEERING.md section 1).

class SiameseNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_layers = nn.Sequential(
            nn.ReplicationPad2d(1), nn.Conv2d(1, 4, kernel_size=3), nn.ReLU(), nn.BatchNorm2d(4),
            nn.ReplicationPad2d(1), nn.Conv2d(4, 8, kernel_size=3), nn.ReLU(), nn.BatchNorm2d(8),
            nn.ReplicationPad2d(1), nn.Conv2d(8, 8, kernel_size=3), nn.ReLU(), nn.BatchNorm2d(8),
        )
        self.fully_connect = nn.Sequential(
            nn.Linear(8 * 100 * 100, 500), nn.ReLU(),
            nn.Linear(500, 500), nn.ReLU(),
            nn.Linear(500, 5),
        )

    def forward_once(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv_layers(x)
        return self.fully_connect(features.view(features.size(0), -1))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_once(a), self.forward_once(b)


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


def make_siamese() -> SiameseNetwork:
    model = SiameseNetwork()
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
    "Seed Siamese network (ENGINEERING.md section 1) in train() mode, twin towers sharing weights: forward(a,b)"
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
        step_loss = contrastive_loss_of_embeddings(*model(img0.to(dtype), img1.to(dtype)), label.to(dtype))
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

    emb0, emb1 = model(img0, img1)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "Tests" / "Fixtures")
    parser.add_argument("--only-ops", action="store_true", help="skip the (slower) whole-model fixtures")
    parser.add_argument("--only-improved", action="store_true", help="write only the improved recipe's fixture")
    options = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # only torch's default layer init draws from it, and make_siamese overwrites that

    if options.only_improved:
        print(write_improved(options.out / "improved.safetensors"))
        return
    op_paths = [write_op_case(case, options.out / "ops") for case in CASES]
    op_bytes = sum(p.stat().st_size for p in op_paths)
    assert op_bytes < 2_000_000, f"op fixtures take {op_bytes} bytes"
    paths = op_paths if options.only_ops else op_paths + [write_siamese(options.out / "siamese.safetensors"),
                                                          write_improved(options.out / "improved.safetensors")]
    for p in paths:
        print(f"{p.stat().st_size:>9}  {p.relative_to(options.out)}")
    print(f"{op_bytes:>9}  ops total; {sum(p.stat().st_size for p in paths):>9} all; torch {torch.__version__}")


if __name__ == "__main__":
    main()
