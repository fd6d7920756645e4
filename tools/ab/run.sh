#!/usr/bin/env bash
# The seed's cpu kernels, or its whole training step or inference, in the engine of commit REV (A) against the working
# tree's (B), interleaved in one process.
#   bash tools/ab/run.sh REV [gemm,conv,norm,step,inference] [ROUNDS]     e.g. bash tools/ab/run.sh HEAD~2 conv 21
# With DOTNET_EnableAVX512=0 in front it compares the AVX2 path on an AVX-512 machine (.NET 10 ignores the older
# DOTNET_EnableAVX512F=0); with DOTNET_PROCESSOR_COUNT=1, one core.
set -euo pipefail
cd "$(dirname "$0")/../.."
rev="${1:?usage: bash tools/ab/run.sh REV [gemm,conv,norm,step,inference] [ROUNDS]}"
git rev-parse --verify --quiet "$rev^{commit}" >/dev/null || { echo "tools/ab/run.sh: '$rev' is not a commit here" >&2; exit 2; }
base="$(mktemp -d)"
trap 'git worktree remove --force "$base" >/dev/null 2>&1 || rm -rf "$base"' EXIT
git worktree add --detach "$base" "$rev" >/dev/null 2>&1
# the Benchmarks build holds the engine and, for the step, the model and the training session beside it
dotnet build "$base/Benchmarks" -c Release -v quiet -nologo >/dev/null
dotnet build Benchmarks -c Release -v quiet -nologo >/dev/null
dotnet build tools/ab -c Release -v quiet -nologo >/dev/null
build=Benchmarks/bin/Release/net10.0/SimilarFaces.Engine.dll
dotnet tools/ab/bin/Release/net10.0/SimilarFaces.EngineAb.dll "$base/$build" "$build" "${2:-gemm,conv}" "${3:-11}"
