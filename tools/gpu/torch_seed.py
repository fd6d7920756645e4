#!/usr/bin/env python3
"""Times the seed network in PyTorch eager mode on the GPU and on every CPU core, and cuBLAS GEMMs through torch.

    python3 tools/gpu/torch_seed.py --out torch.json [--steps 10]

FP32 throughout: TF32 is off for matmul and cuDNN. A training step at 64 pairs as the seed notebook takes it (zero
grads, both towers, pairwise distance, contrastive loss with margin 2, backward, Adam at 5e-4) and eval-mode
embeddings of 128 images under no_grad, each timed --steps times after 2 warm-up runs (the median counts), on
"cuda" when torch sees a GPU and on "cpu" with torch.set_num_threads(os.cpu_count()). The GEMMs are those of the
engine's CublasBenchmarks (the seed's Linear(80000, 500) at batch 128 and 4096^3), torch.mm on CUDA only.
Writes one JSON object; without PyTorch it writes {"skipped": reason} and exits 0.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS, IMAGES = 64, 128
B, F, H = 128, 80000, 500
GEMMS = {  # name: (transA, transB, m, n, k), C (m, n) = op(A) op(B), as the engine's CublasBenchmarks
    "Forward": (False, True, B, H, F),
    "InputGrad": (False, False, B, F, H),
    "WeightGrad": (True, False, H, F, B),
    "Hidden": (False, True, B, H, H),
    "4096^3": (False, False, 4096, 4096, 4096),
}

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--out", required=True, help="the JSON file to write")
p.add_argument("--steps", type=int, default=10, help="timed runs of each, after 2 warm-up runs")
a = p.parse_args()


def write(result):
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


try:
    import torch
except ImportError as e:
    write({"skipped": f"PyTorch is not installed for this python3 ({e})"})
    print(f"PyTorch: skipped, not installed for this python3 ({e})")
    raise SystemExit(0)

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
torch.set_num_threads(os.cpu_count())
# beside this script in the kit, in tools/reference in the repository
sys.path[:0] = [HERE, os.path.join(HERE, "..", "reference")]
from seed_tower import SeedTower, embed, median_ms, train_step  # noqa: E402


def seed_network(device):
    """Median ms of a training step at 64 pairs and of inference at 128 images on `device`."""
    torch.manual_seed(0)
    net = SeedTower().to(device)
    adam = torch.optim.Adam(net.parameters(), lr=5e-4)
    first, second = torch.rand(PAIRS, 1, 100, 100, device=device), torch.rand(PAIRS, 1, 100, 100, device=device)
    label = torch.randint(0, 2, (PAIRS, 1), device=device).float()
    images = torch.rand(IMAGES, 1, 100, 100, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    rows = [{"what": "TrainingStep", "device": device, "ms": median_ms(lambda: train_step(net, adam, first, second, label), a.steps, sync), "items": PAIRS, "item": "pairs"},
            {"what": "Inference", "device": device, "ms": median_ms(lambda: embed(net, images), a.steps, sync), "items": IMAGES, "item": "embeddings"}]
    for r in rows:
        print(f"PyTorch {r['what']} on {device}: {r['ms']:.2f} ms ({r['items'] / r['ms'] * 1000:.1f} {r['item']}/s)", flush=True)
    return rows


def gemms():
    rows = []
    for name, (ta, tb, m, n, k) in GEMMS.items():
        x = torch.rand((k, m) if ta else (m, k), device="cuda") - 0.5
        w = torch.rand((n, k) if tb else (k, n), device="cuda") - 0.5
        xa, wb = (x.t() if ta else x), (w.t() if tb else w)
        ms = median_ms(lambda: torch.mm(xa, wb), a.steps, torch.cuda.synchronize)
        rows.append({"shape": name, "m": m, "n": n, "k": k, "ms": ms, "gflops": 2.0 * m * n * k / (ms * 1e6)})
        print(f"torch.mm {name} ({m}x{n}x{k}): {ms:.3f} ms, {rows[-1]['gflops']:.0f} GFLOP/s", flush=True)
    return rows


result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "tf32": False, "rows": [], "gemm": []}
if torch.cuda.is_available():
    result["cuda"] = torch.version.cuda
    result["gpu"] = torch.cuda.get_device_name(0)
    result["rows"] += seed_network("cuda")
    result["gemm"] = gemms()
else:
    result["cuda_skipped"] = "torch.cuda.is_available() is False: no GPU for PyTorch on this machine"
    print("PyTorch: no CUDA device, timing the CPU only", flush=True)
result["rows"] += seed_network("cpu")
write(result)
