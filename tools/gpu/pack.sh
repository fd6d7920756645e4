#!/usr/bin/env bash
# Builds the GPU kit: artifacts/gpu/kit.tar.xz, one archive that runs on a linux-x64 machine with no .NET installed.
#   kit/dotnet/   the .NET runtime of the SDK that built it (tools/gpu/runtime.sh)
#   kit/app/      similar-faces, gpu-checks (the suite's per-device tests) and the benchmark suite, framework-dependent
#                 builds started as kit/dotnet/dotnet PROGRAM.dll, which takes its runtime from its own folder only
#   kit/run.sh, kit/*.py, kit/COMMIT
# Usage: tools/gpu/pack.sh [OUTPUT.tar.xz]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(realpath -m "${1:-$repo/artifacts/gpu/kit.tar.xz}")"
limit_mib=60

command -v dotnet >/dev/null || { echo "error: pack.sh needs the .NET SDK (dotnet) on PATH" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

stage="$repo/artifacts/gpu/stage"
rm -rf "$stage"
mkdir -p "$stage/kit" "$(dirname "$out")"
kit="$stage/kit"

# Portable builds into one folder: the three programs share every library, built once. (A linux-x64 publish fails:
# the test project references the CLI, whose outputs would then clash.) Libraries for other systems are dropped.
for project in Cli Benchmarks tools/gpu/Checks; do
    dotnet publish "$repo/$project" -c Release -p:DebugType=none -o "$kit/app" --nologo -v quiet
done
find "$kit/app/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
rm -rf "$kit/app"/{amd64,arm64,x86}   # BenchmarkDotNet's Windows ETW helpers

version="$("$repo/tools/gpu/runtime.sh" "$kit/dotnet")"
cp "$repo"/tools/gpu/run.sh "$repo"/tools/gpu/*.py "$repo"/tools/reference/seed_tower.py "$kit/"
git -C "$repo" describe --always --dirty > "$kit/COMMIT" 2>/dev/null || echo unknown > "$kit/COMMIT"

tar -C "$stage" -cf - kit | xz -9 -T0 > "$out"
rm -rf "$stage"
size=$(stat -c %s "$out")
echo "$out: $((size / 1048576)) MiB ($size bytes), .NET runtime $version"
if (( size > limit_mib * 1048576 )); then
    echo "error: the kit is over $limit_mib MiB" >&2
    exit 1
fi
