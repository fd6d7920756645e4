#!/usr/bin/env bash
# Mutation score of the engine's core with Stryker.NET 5.1.0 (slow, so not part of CI: see README's Tests section).
# Mutates Engine/Autograd, Engine/Ops and Engine/Backends/Cpu and runs, against each mutant, the tests that cover it
# among the cpu-device gradient checks, tape and op-contract tests (Tests/Autograd), the kernel tests against the
# double-precision references, the cpu backend's large-size tests and the PyTorch op parity tests. Left out: the
# other devices, the offline PTX/OpenCL compiles (they never reach these files) and the whole-network parity tests
# (10 s a run, covered by the op tests). Settings in stryker-config.json beside this file: Stryker runs in the
# solution's context (it finds SimilarFaces.sln here and takes the test project from it), and its mutate globs
# are relative to the mutated project's folder, Engine/.
# Arguments, optional: folders or files under Engine/ to mutate instead of all three, e.g. `Ops` or
# `Backends/Cpu/Gemm.cs`. Reports (html, json) go to StrykerOutput/<date>/reports/, the console output to
# StrykerOutput/last.log; the score per file and in total is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .tools/dotnet-stryker ]; then
    dotnet tool install dotnet-stryker --version 5.1.0 --tool-path .tools
fi
mutate=()
for target in "$@"; do
    case "$target" in
        *.cs) mutate+=(--mutate "$target") ;;
        *) mutate+=(--mutate "${target%/}/**/*.cs") ;;
    esac
done
mkdir -p StrykerOutput
.tools/dotnet-stryker --config-file tools/mutation/stryker-config.json --output StrykerOutput/"$(date +%Y-%m-%d.%H-%M-%S)" \
    --skip-version-check "${mutate[@]}" 2>&1 | tee StrykerOutput/last.log
