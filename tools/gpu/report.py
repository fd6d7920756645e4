#!/usr/bin/env python3
"""Writes OUTDIR/report.md and OUTDIR/bench.csv from what run.sh left in OUTDIR (standard library only).

    python3 report.py OUTDIR

Reads devices.txt, checks.csv, gradcheck.txt, torch.json, run.log and the BenchmarkDotNet CSVs under
OUTDIR/.bench-*/results/. Every part that did not run says so, with the reason run.sh logged.
"""
import csv
import glob
import json
import os
import re
import sys
from collections import Counter, defaultdict

out = sys.argv[1]
KEEP = ["Type", "Method", "On", "Shape", "Median", "GFLOP/s", "% FMA peak", "GB/s", "% copy BW", "Items/s"]
UNITS = {"ns": 1e-6, "us": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1000.0}


def read(name):
    path = os.path.join(out, name)
    return open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else None


def ms(median):
    value, unit = median.replace(",", "").split()
    return float(value) * UNITS[unit]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def skipped_lines():
    log = read("run.log") or ""
    return [re.sub(r"^\[[0-9:]+\] ", "", line) for line in log.splitlines()
            if re.search(r"skipped|no CUDA or OpenCL|exit [1-9]|cuBLAS", line) and line.startswith("[")]


report = ["# SimilarFaces GPU kit report", ""]
log = read("run.log") or ""
first = log.splitlines()[0] if log else ""
report += [re.sub(r"^\[[0-9:]+\] ", "", first), ""]

# ---- devices ----------------------------------------------------------------------------------------------------------
report += ["## Devices", "", "```", (read("devices.txt") or "devices.txt missing").strip(), "```", ""]
notes = skipped_lines()
if notes:
    report += ["What did not run, or ran with a problem (from run.log):", ""] + [f"- {n}" for n in notes] + [""]

# ---- correctness ------------------------------------------------------------------------------------------------------
report += ["## Correctness", ""]
checks = read("checks.csv")
if checks is None:
    report += ["No kernel checks ran (no GPU device; see above).", ""]
else:
    counts, failures = defaultdict(Counter), []
    for row in csv.DictReader(checks.splitlines()):
        counts[row["fixture"]][row["outcome"]] += 1
        if row["outcome"] == "Failed":
            failures.append(f"- {row['fixture']} {row['test']}: {row['message']}")
    rows = [(f, c["Passed"], c["Failed"], c["Skipped"] + c["Inconclusive"], "ok" if c["Failed"] == 0 else "**FAIL**")
            for f, c in sorted(counts.items())]
    report += ["Every per-device test of the suite (gpu-checks): kernels against the double-precision reference and against the",
               "cpu backend at awkward shapes, PyTorch parity of each op and of the whole seed network (one step, five Adam",
               "steps), finite-difference gradient checks, the tape.", "",
               table(["fixture", "passed", "failed", "skipped", ""], rows), ""]
    report += (["Failures:", ""] + failures + [""]) if failures else ["No check failed.", ""]
grad = read("gradcheck.txt")
if grad:
    verdicts = [l.strip() for l in grad.splitlines() if re.search(r"gradients? (agree|disagree)|^Gradient checks on|exit", l)]
    report += ["`similar-faces gradcheck`:", "", "```"] + verdicts + ["```", ""]

# ---- benchmarks -------------------------------------------------------------------------------------------------------
bench = []
for path in sorted(glob.glob(os.path.join(out, ".bench-*", "results", "*-report.csv"))):
    with open(path, newline="", encoding="utf-8") as f:
        bench += [{k: r.get(k, "") for k in KEEP} for r in csv.DictReader(f)]
if bench:
    with open(os.path.join(out, "bench.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, KEEP)
        w.writeheader()
        w.writerows(bench)
report += ["## Timings", ""]
if not bench:
    report += ["No benchmark ran (see run.log).", ""]
else:
    report += ["BenchmarkDotNet in-process, medians of 7 iterations. % columns: against the CPU's measured FMA and copy",
               "peaks for cpu rows, against the GPU's own (GpuPeakBenchmarks: an FMA kernel, a device-to-device copy) for GPU rows.",
               "", table(KEEP, [[r[k] for k in KEEP] for r in bench]), ""]

torch = json.loads(read("torch.json")) if read("torch.json") else {"skipped": "torch.json missing (see run.log)"}

# ours vs cuBLAS vs torch.mm
ours = {r["Shape"]: r for r in bench if r["Type"] == "CublasBenchmarks" and r["Method"] == "Ours"}
theirs = {r["Shape"]: r for r in bench if r["Type"] == "CublasBenchmarks" and r["Method"] == "cuBLAS"}
torch_gemm = {g["shape"]: g for g in torch.get("gemm", [])}
report += ["### GEMM: ours beside cuBLAS (FP32, no tensor cores)", ""]
if ours or torch_gemm:
    rows = []
    for shape in ["Forward", "InputGrad", "WeightGrad", "Hidden", "4096^3"]:
        o, c, t = ours.get(shape), theirs.get(shape), torch_gemm.get(shape)
        share = f"{100 * float(o['GFLOP/s']) / float(c['GFLOP/s']):.0f} %" if o and c and o["GFLOP/s"] not in ("", "-") else "-"
        rows.append([shape, o["GFLOP/s"] if o else "-", c["GFLOP/s"] if c else "-", f"{t['gflops']:.1f}" if t else "-", share])
    report += [table(["shape", "ours GFLOP/s", "cuBLAS GFLOP/s", "torch.mm GFLOP/s", "ours / cuBLAS"], rows),
               "", "Target: ours ≥ 50 % of cuBLAS at every shape.", ""]
else:
    report += ["Not measured: no CUDA device (cuBLAS runs only there).", ""]

# the seed network side by side
report += ["### The seed network: training step at 64 pairs, inference at 128 images", ""]
rows = []
for r in bench:
    if r["Type"] == "TrainingBenchmarks" and r["On"].endswith("/seed"):
        t, items = ms(r["Median"]), 64 if r["Method"] == "TrainingStep" else 128
        rows.append([r["Method"], f"SimilarFaces {r['On'].split('/')[0]}", f"{t:.2f}", f"{items / t * 1000:.1f}"])
for r in torch.get("rows", []):
    rows.append([r["what"], f"PyTorch {torch.get('torch')} eager {r['device']}" + (f" ({torch.get('threads')} threads)" if r["device"] == "cpu" else ""),
                 f"{r['ms']:.2f}", f"{r['items'] / r['ms'] * 1000:.1f}"])
rows.sort(key=lambda r: (r[0] != "TrainingStep", r[1]))
report += [table(["what", "who", "ms", "pairs or embeddings / s"], rows) if rows else "Nothing measured.", ""]
if "skipped" in torch:
    report += [f"PyTorch: skipped, {torch['skipped']}", ""]
elif "cuda_skipped" in torch:
    report += [f"PyTorch on CUDA: skipped, {torch['cuda_skipped']}", ""]

with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
    f.write("\n".join(report))
print(f"report: {os.path.join(out, 'report.md')}")
