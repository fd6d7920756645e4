#!/usr/bin/python3
"""Times the seed network in PyTorch and in this engine on the same machine, in one sitting, and prints the ratios.

    /usr/bin/python3 tools/reference/side_by_side.py [--install] [--steps 10] [--skip-engine]

PyTorch (Debian's python3-torch, with OpenBLAS behind Debian's libblas.so.3: --install runs apt-get for both; without
OpenBLAS the reference BLAS makes PyTorch many times slower, and the script says which one it found) uses every core,
as the engine's cpu backend does:
a training step at 64 pairs exactly as the seed notebook takes it (zero grads, both towers, pairwise distance,
contrastive loss with margin 2, backward, Adam at 5e-4), and eval-mode embeddings of 128 images under no_grad,
each timed --steps times after 2 warm-up runs; the median counts. The engine's figures are the medians of the
BenchmarkDotNet suite's TrainingBenchmarks (TrainingStep and Inference on cpu/seed), run from here right after.
Random 100x100 images in [0, 1) and the notebook's labels (1 = different): the work does not depend on them.
"""
import argparse
import csv
import glob
import os
import subprocess
import sys
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PAIRS, IMAGES = 64, 128

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--install", action="store_true", help="apt-get install python3-torch and libopenblas0-pthread first (needs root)")
p.add_argument("--steps", type=int, default=10, help="timed runs of each, after 2 warm-up runs")
p.add_argument("--skip-engine", action="store_true", help="time PyTorch only")
a = p.parse_args()

if a.install:
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "python3-torch", "libopenblas0-pthread"], check=True)
try:
    import torch
except ImportError:
    sys.exit("error: PyTorch is not installed for /usr/bin/python3; run with --install, or apt-get install python3-torch")

torch.set_num_threads(os.cpu_count())


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed_tower import SeedTower, embed, median_ms, train_step  # noqa: E402

torch.manual_seed(0)
net = SeedTower()
adam = torch.optim.Adam(net.parameters(), lr=5e-4)
first, second = torch.rand(PAIRS, 1, 100, 100), torch.rand(PAIRS, 1, 100, 100)
label = torch.randint(0, 2, (PAIRS, 1)).float()
images = torch.rand(IMAGES, 1, 100, 100)


blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, BLAS {blas}", flush=True)
if "openblas" not in blas:
    print("  warning: not OpenBLAS; PyTorch's dense layers run on the reference BLAS (--install adds OpenBLAS)", flush=True)
torch_ms = {"TrainingStep": median_ms(lambda: train_step(net, adam, first, second, label), a.steps), "Inference": median_ms(lambda: embed(net, images), a.steps)}
for name, ms in torch_ms.items():
    print(f"  PyTorch {name}: {ms:.1f} ms (median of {a.steps})", flush=True)
if a.skip_engine:
    sys.exit(0)

results = os.path.join(REPO, "BenchmarkDotNet.Artifacts", "results")
# BenchmarkDotNet names a report after its benchmarks and overwrites an earlier run's: the run's own are those written since
started = time.time()
subprocess.run(["dotnet", "run", "-c", "Release", "--project", os.path.join(REPO, "Benchmarks"), "--",
                "--device", "cpu", "--filter", "*TrainingBenchmarks.TrainingStep*", "*TrainingBenchmarks.Inference*"],
               cwd=REPO, check=True, stdout=subprocess.DEVNULL)
reports = sorted((r for r in glob.glob(os.path.join(results, "*-report.csv")) if os.path.getmtime(r) >= started), key=os.path.getmtime)
if not reports:
    sys.exit(f"error: the benchmark run wrote no report under {results}")
engine_ms = {}
with open(reports[-1], newline="") as f:
    for row in csv.DictReader(f):
        if row.get("On") == "cpu/seed" and row["Method"] in torch_ms:
            value, unit = row["Median"].replace(",", "").split()
            engine_ms[row["Method"]] = float(value) * {"s": 1000, "ms": 1, "us": 1e-3, "μs": 1e-3}[unit]
missing = set(torch_ms) - set(engine_ms)
if missing:
    sys.exit(f"error: {reports[-1]} has no cpu/seed median for {', '.join(sorted(missing))}")

print(f"\n| seed network, {os.cpu_count()} cores | PyTorch | SimilarFaces cpu | PyTorch / SimilarFaces |")
print("| --- | --- | --- | --- |")
for name, what, count in [("TrainingStep", "pairs", PAIRS), ("Inference", "embeddings", IMAGES)]:
    t, e = torch_ms[name], engine_ms[name]
    print(f"| {name} ({count} {what}) | {t:.0f} ms ({count / t * 1000:.0f} {what}/s) | {e:.0f} ms ({count / e * 1000:.0f} {what}/s) | {t / e:.2f}x |")
