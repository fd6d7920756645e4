#!/usr/bin/env bash
# Long fuzzing run: the suite's FuzzTests with many cases per reader (default 100,000; first argument overrides).
# Prints, per reader, how many cases were read and refused, the slowest case and the most managed memory one
# allocated. A failing case names its Mutator seed; see Tests/Fuzz/FuzzTests.cs.
set -euo pipefail
cd "$(dirname "$0")/../.."
cases="${1:-100000}"
SIMILARFACES_FUZZ_CASES="$cases" dotnet test Tests -c Release --filter "FullyQualifiedName~SimilarFaces.Tests.Fuzz" \
    --logger "console;verbosity=detailed" 2>&1 | grep -E "cases,|Total tests|Passed|Failed|Error Message|case [0-9]+" | sed "s/^ *//" | sort -u
