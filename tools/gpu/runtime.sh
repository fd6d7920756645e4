#!/usr/bin/env bash
# Copies the .NET runtime of the SDK on PATH into DEST, laid out as an installation of its own: DEST/dotnet (the host),
# DEST/host/fxr, DEST/shared/Microsoft.NETCore.App/VERSION. A framework-dependent program started as
# `DEST/dotnet program.dll` then runs on it with nothing else installed. Usage: runtime.sh DEST
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: runtime.sh DEST" >&2; exit 2; }
command -v dotnet >/dev/null || { echo "error: runtime.sh needs the .NET SDK (dotnet) on PATH" >&2; exit 1; }
dest="$1"
root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
version="$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')"
[[ -d "$root/shared/Microsoft.NETCore.App/$version" ]] || { echo "error: no Microsoft.NETCore.App $version under $root" >&2; exit 1; }
mkdir -p "$dest/shared/Microsoft.NETCore.App" "$dest/host/fxr"
cp "$root/dotnet" "$root/LICENSE.txt" "$root/ThirdPartyNotices.txt" "$dest/"
cp -r "$root/host/fxr/$(ls "$root/host/fxr" | sort -V | tail -1)" "$dest/host/fxr/"
cp -r "$root/shared/Microsoft.NETCore.App/$version" "$dest/shared/Microsoft.NETCore.App/"
echo "$version"
