#!/usr/bin/env bash
# Whether `train` runs at the pace the benchmarks measure. In one sitting, ROUNDS times in turn:
#   train        README's first command (200 epochs of 64 pairs of the built-in synthetic faces) in a scratch folder;
#                its figure is the pairs a second of time inside its steps after the first (what it prints at the end)
#   step timer   `Benchmarks --memory --steps STEPS`: the same Trainer.TakeStep at 64 pairs of random images, timed
#                step by step in one process; the mean of the steps after the first, as train's figure is a mean, over
#                as many steps as train takes by default, so that both hold the same share of the JIT's warm-up
#   BenchmarkDotNet  the suite's TrainingStep (cpu/seed): its mean of 7 iterations (the column after cpu/seed)
# Prints each round and each one's median, and train's median against the others'.
#   bash Benchmarks/train_vs_step.sh [ROUNDS] [STEPS]     (default: 3 rounds, 200 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
steps="${2:-200}"
dotnet build Cli -c Release -v quiet -nologo >/dev/null
dotnet build Benchmarks -c Release -v quiet -nologo >/dev/null
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cli=Cli/bin/Release/net10.0/similar-faces.dll
bench=Benchmarks/bin/Release/net10.0/SimilarFaces.Benchmarks.dll

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

train=() timer=() bdn=()
echo "| round | train (pairs/s) | step timer (pairs/s) | BenchmarkDotNet (pairs/s) |"
echo "|--:|--:|--:|--:|"
for round in $(seq "$rounds"); do
    # Spectre.Console wraps long lines when the output is not a terminal: join them before matching.
    t="$(dotnet "$cli" train --device cpu --out "$scratch/run" --overwrite | tr '\n' ' ' | tr -s ' ' \
        | grep -o '([0-9]* pairs/s in the steps after the first)' | grep -o '[0-9]*' | head -1)"
    s="$(dotnet "$bench" --memory --device cpu --steps "$steps" --pairs 64 \
        | awk '/^step [0-9]+ at batch/ && $2 > 1 && match($0, /, [0-9.]+ s:/) { sum += substr($0, RSTART + 2, RLENGTH - 5); n++ }
               END { printf "%.1f", 64 * n / sum }')"
    b="$(dotnet "$bench" --device cpu --filter '*TrainingBenchmarks.TrainingStep*' \
        | awk -F'|' '/^\|/ && /TrainingStep/ && /cpu\/seed/ { for (i = 1; i < NF; i++) if ($i ~ /cpu\/seed/) { mean = $(i + 1); break }
                                                    gsub(/[ ,]|ms/, "", mean); printf "%.1f", 64000 / mean; exit }')"
    train+=("$t") timer+=("$s") bdn+=("$b")
    echo "| $round | $t | $s | $b |"
done
mt="$(printf '%s\n' "${train[@]}" | median)"
ms="$(printf '%s\n' "${timer[@]}" | median)"
mb="$(printf '%s\n' "${bdn[@]}" | median)"
echo "| median | $mt | $ms | $mb |"
awk -v t="$mt" -v s="$ms" -v b="$mb" 'BEGIN { printf "train / step timer: %.3f; train / BenchmarkDotNet: %.3f\n", t / s, t / b }'
