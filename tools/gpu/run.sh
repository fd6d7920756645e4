#!/usr/bin/env bash
# Runs the GPU kit and writes its results to OUTDIR (7 files; see tools/gpu/README.md). Needs no .NET: the kit
# carries its runtime. Usage: run.sh OUTDIR
#   from the repository: tools/gpu/run.sh out/   (unpacks artifacts/gpu/kit.tar.xz, made by tools/gpu/pack.sh)
#   from an unpacked kit: kit/run.sh out/
# Environment: KIT_DEVICES="cuda:0 opencl:0" chooses the ILGPU devices to check and time (default: every usable CUDA
# and OpenCL device; "ilgpu-cpu" runs the same path on ILGPU's CPU emulator, at the small scale); KIT_BUDGET_S (default
# 450) is the time the whole run may take, shared out so that the report is always written.
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: run.sh OUTDIR" >&2; exit 2; }
for tool in realpath cksum tar xz; do
    command -v "$tool" >/dev/null || { echo "error: run.sh needs $tool (coreutils, tar, xz)" >&2; exit 1; }
done
out="$(realpath -m "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
rm -f "$out"/{report.md,devices.txt,checks.csv,gradcheck.txt,bench.csv,torch.json,run.log}
deadline=$((SECONDS + ${KIT_BUDGET_S:-450}))

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/run.log"; }

# ---- the kit ------------------------------------------------------------------------------------------------------
if [[ -x "$here/dotnet/dotnet" ]]; then
    kit="$here"
else
    archive="$here/../../artifacts/gpu/kit.tar.xz"
    [[ -f "$archive" ]] || { echo "error: no kit at $archive: run tools/gpu/pack.sh first" >&2; exit 1; }
    unpacked="${TMPDIR:-/tmp}/similarfaces-kit-$(cksum < "$archive" | cut -d' ' -f1)"
    if [[ ! -x "$unpacked/kit/dotnet/dotnet" ]]; then
        rm -rf "$unpacked" && mkdir -p "$unpacked" && tar -C "$unpacked" -xJf "$archive" || { echo "error: cannot unpack $archive" >&2; exit 1; }
    fi
    kit="$unpacked/kit"
fi
# The kit's own runtime, never an installed one: the dotnet host takes the runtime from its own folder.
unset DOTNET_ROOT DOTNET_ROOT_X64
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_gcServer=0
export NVIDIA_TF32_OVERRIDE=0   # FP32 everywhere: no TF32 in cuBLAS, ours or PyTorch's
dotnet_host="$kit/dotnet/dotnet"
app="$kit/app"
log "kit $(cat "$kit/COMMIT") from $kit, runtime $(ls "$kit/dotnet/shared/Microsoft.NETCore.App"), output $out"

# step NAME MAX_SECONDS FILE COMMAND...: runs COMMAND within MAX_SECONDS and the time left, output to FILE and run.log
step() {
    local name="$1" max="$2" file="$3"
    shift 3
    local left=$((deadline - SECONDS - 20))
    local limit=$((max < left ? max : left))
    if (( limit < 10 )); then
        log "$name: skipped, the time budget is spent"
        echo "$name: skipped, the time budget is spent" >> "$file"
        return 124
    fi
    log "$name: $* (at most ${limit}s)"
    local start=$SECONDS
    if [[ $file == "$out/run.log" ]]; then
        timeout --kill-after=10 "$limit" "$@" >> "$file" 2>&1
    else
        timeout --kill-after=10 "$limit" "$@" > >(tee -a "$file" >> "$out/run.log") 2>&1
    fi
    local rc=$?
    log "$name: exit $rc after $((SECONDS - start))s"
    [[ $file == "$out/run.log" ]] || echo "$name: exit $rc after $((SECONDS - start))s" >> "$file"
    return $rc
}

# ---- devices --------------------------------------------------------------------------------------------------------
{
    echo "# similar-faces devices"
    "$dotnet_host" "$app/similar-faces.dll" devices 2>&1
    echo
    echo "# gpu-checks --list"
    "$dotnet_host" "$app/gpu-checks.dll" --list 2>&1
    echo
    echo "# nvidia-smi"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1
        nvidia-smi 2>&1 | grep -m1 'CUDA Version' || true
    else
        echo "nvidia-smi: not installed (no NVIDIA driver on this machine)"
    fi
    echo
    echo "# machine"
    echo "cores: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo || true
    uname -srm
} > "$out/devices.txt" 2>&1
cat "$out/devices.txt" >> "$out/run.log"

if [[ -n "${KIT_DEVICES:-}" ]]; then
    read -ra devices <<< "$KIT_DEVICES"
else
    mapfile -t devices < <(awk -F'\t' '$1 ~ /^(cuda|opencl):/ && $2 == "usable" { print $1 }' < <("$dotnet_host" "$app/gpu-checks.dll" --list))
fi
mapfile -t unusable < <(awk -F'\t' '$1 ~ /^(cuda|opencl):/ && $2 != "usable" { print $1 ": " $2 }' < <("$dotnet_host" "$app/gpu-checks.dll" --list))
for u in "${unusable[@]}"; do log "skipped $u"; done
cuda=""
for d in "${devices[@]}"; do [[ $d == cuda:* && -z $cuda ]] && cuda="$d"; done
if (( ${#devices[@]} == 0 )); then
    log "no CUDA or OpenCL device is usable here (see devices.txt): the GPU checks, GPU benchmarks and cuBLAS are skipped"
fi

# ---- correctness ----------------------------------------------------------------------------------------------------
if (( ${#devices[@]} > 0 )); then
    step "checks" 200 "$out/run.log" "$dotnet_host" "$app/gpu-checks.dll" "${devices[@]}" --results "$out/checks.csv"
    for d in "${devices[@]}"; do
        step "gradcheck $d" 60 "$out/gradcheck.txt" env COLUMNS=200 "$dotnet_host" "$app/similar-faces.dll" gradcheck --device "$d"
    done
fi

# ---- timings --------------------------------------------------------------------------------------------------------
if [[ -n "$cuda" ]]; then
    # the cuBLAS of the machine's Python wheel (nvidia-cublas), as PyTorch uses it
    lib="$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)"
    found="$(ls "$lib"/libcublas.so.* 2>/dev/null | sort -V | tail -1)"
    if [[ -n "$found" ]]; then
        export SIMILARFACES_CUBLAS="$found" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        log "cuBLAS: $found"
    else
        log "cuBLAS: no nvidia.cublas wheel for python3; trying libcublas.so.13/.12 from the library path"
    fi
fi
bench=("$dotnet_host" "$app/SimilarFaces.Benchmarks.dll" --inProcess --exporters csv)
if (( ${#devices[@]} > 0 )); then
    step "benchmarks on ${devices[*]}" 240 "$out/run.log" "${bench[@]}" --device "$(IFS=,; echo "${devices[*]}")" \
        --filter '*' --artifacts "$out/.bench-gpu"
fi
step "benchmarks, seed step on cpu" 90 "$out/run.log" "${bench[@]}" --device cpu --filter '*TrainingBenchmarks*' '*.PeakBenchmarks*' \
    --artifacts "$out/.bench-cpu"

if command -v python3 >/dev/null; then
    step "PyTorch" 120 "$out/run.log" python3 "$kit/torch_seed.py" --out "$out/torch.json"
else
    log "PyTorch: skipped, no python3"
fi

# ---- report ---------------------------------------------------------------------------------------------------------
if command -v python3 >/dev/null; then
    python3 "$kit/report.py" "$out" 2>&1 | tee -a "$out/run.log"
else
    log "report: skipped, no python3 (the raw files are in $out)"
fi
rm -rf "$out/.bench-gpu" "$out/.bench-cpu"
log "done in ${SECONDS}s: $(cd "$out" && ls | tr '\n' ' ')"
