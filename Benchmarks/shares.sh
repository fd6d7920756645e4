#!/usr/bin/env bash
# The seed's training step (64 pairs) and inference (128 images) as shares of the FMA peak, the figures of README's
# speed tables. ROUNDS times in turn, with the vectors the machine prefers and, where that is 512 bits, again with
# AVX2 (DOTNET_EnableAVX512=0; .NET 10 ignores the older DOTNET_EnableAVX512F):
#   step        `Benchmarks --memory --warmup 25 --steps 30`: the median step, its median share of the FMA peak
#               measured just before and after each step ("beside"), and its share of the run's highest reading
#   inference   `Benchmarks --memory --inference --warmup 30 --steps 40`: the same for one batch of 128 embeddings
# Prints one table row per round and instruction set, with the 1-minute load average as the round starts.
#   bash Benchmarks/shares.sh [ROUNDS]     (default: 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "Benchmarks/shares.sh: ROUNDS must be a whole number of 1 or more, not '$rounds'" >&2; exit 2; }
dotnet build Benchmarks -c Release -v quiet -nologo >/dev/null
bench=Benchmarks/bin/Release/net10.0/SimilarFaces.Benchmarks.dll

# One run's figures: "<ms> | <beside> % | <of highest> % | <per second>", from the lines the runner ends with.
figures() {
    awk '/^median (step|inference) after/ && match($0, /: [0-9.]+ ms \([0-9.]+/) {
             split(substr($0, RSTART + 2, RLENGTH - 2), f, / ms \(/); ms = f[1]; rate = f[2] }
         /^median share of the FMA peak beside/ && match($0, /[0-9.]+ %$/) { beside = substr($0, RSTART, RLENGTH - 2) }
         /^highest FMA peak of the run/ && match($0, /[0-9.]+ % of it$/) { highest = substr($0, RSTART, RLENGTH - 8) }
         /SIMD/ && match($0, /[0-9]+-bit SIMD/) { width = substr($0, RSTART, RLENGTH - 5) }
         END { if (ms == "" || beside == "" || highest == "") exit 1; printf "%s|%s|%s|%s|%s", width, ms, beside, highest, rate }'
}

# One row: the step's and inference's figures with the given setting ("" for the machine's own vectors).
row() {
    local round="$1" load="$2" setting="$3" step inference width sms sbeside shighest ims ibeside ihighest irate
    step="$(env $setting dotnet "$bench" --memory --warmup 25 --steps 30 | figures)" \
        || { echo "Benchmarks/shares.sh: the step's run printed no median (round $round, ${setting:-default vectors})" >&2; exit 1; }
    inference="$(env $setting dotnet "$bench" --memory --inference --warmup 30 --steps 40 | figures)" \
        || { echo "Benchmarks/shares.sh: the inference run printed no median (round $round, ${setting:-default vectors})" >&2; exit 1; }
    IFS='|' read -r width sms sbeside shighest _ <<<"$step"
    IFS='|' read -r _ ims ibeside ihighest irate <<<"$inference"
    echo "| $round | $load | $width${setting:+ ($setting)} | $sms ms | $sbeside / $shighest % | $ims ms ($irate /s) | $ibeside / $ihighest % |"
}

echo "| round | load | vectors | step | beside / of the run's highest | inference | beside / of the run's highest |"
echo "|--:|--:|---|--:|--:|--:|--:|"
for round in $(seq "$rounds"); do
    load="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')"
    default="$(row "$round" "$load" "")"
    echo "$default"
    # the machine's own vectors are 512 bits wide: the AVX2 path too
    if [[ "$default" == *"| 512-bit |"* ]]; then row "$round" "$load" "DOTNET_EnableAVX512=0"; fi
done
