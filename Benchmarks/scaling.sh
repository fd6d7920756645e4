#!/usr/bin/env bash
# How a training step's time and peak memory grow: the seed network on one device at batches of 16 to 256 pairs
# (100×100 images) and at images of 50, 100 and 200 pixels (64 pairs; the first dense layer grows with the image).
# Each configuration runs in its own process (`Benchmarks --memory`), so each peak resident set is its own; the time
# is the median of the steps after the first. Prints a markdown table.
#   bash Benchmarks/scaling.sh [DEVICE] [STEPS]     (default: cpu, 6 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-cpu}"
steps="${2:-6}"
dotnet build Benchmarks -c Release -v quiet -nologo >/dev/null
dll=Benchmarks/bin/Release/net10.0/SimilarFaces.Benchmarks.dll
echo "| pairs | image | parameters | median step | pairs/s | peak resident memory |"
echo "|--:|--:|--:|--:|--:|--:|"
run() {
    local out
    out="$(dotnet "$dll" --memory --device "$device" --steps "$steps" --pairs "$1" --image-size "$2")"
    local parameters median rate peak
    parameters="$(grep -o '([0-9,]* parameters)' <<<"$out" | tr -d '()' | cut -d' ' -f1)"
    median="$(grep -o 'median step after the first: [0-9]* ms' <<<"$out" | grep -o '[0-9]* ms')"
    rate="$(grep -o '([0-9.]* pairs/s)' <<<"$out" | tr -d '()' | cut -d' ' -f1)"
    peak="$(grep -o 'peak resident memory: [0-9]* MiB' <<<"$out" | grep -o '[0-9]* MiB')"
    echo "| $1 | $2 | $parameters | $median | $rate | $peak |"
}
for pairs in 16 32 64 128 256; do run "$pairs" 100; done
for size in 50 200; do run 64 "$size"; done
