#!/usr/bin/python3
"""PyTorch reference fixtures for the SimilarFaces C# tests.

Run with Debian's PyTorch 1.13 (python3-torch, python3-numpy):

    /usr/bin/python3 tools/reference/gen_fixtures.py [--out DIR] [--only-ops | --only-improved | --case NAME ...]

It writes DIR/ops/<case>.safetensors for every op case in CASES, DIR/siamese.safetensors for the
whole seed network and DIR/improved.safetensors for a step of the improved recipe (DIR defaults to Tests/Fixtures), then re-reads every file it wrote and checks the
round trip. The C# tests read these files and never import torch.

The files are safetensors (safetensors_file.py). Every file's __metadata__ holds torch_version, generator,
case, args (a JSON string of the op's arguments) and description (the edge cases present). The op cases and
their tensor names are in op_fixtures.py; the whole-model fixtures, with the seed network's init formula, in
model_fixtures.py.

Determinism: every case draws from its own torch.Generator seeded with crc32(case name), the script
runs with torch.use_deterministic_algorithms(True) and one thread, and everything is float32 (the only
float64 values are the siamese init formula and the siamese grad/param statistics, as stated there).
Two runs on one machine give byte-identical files. Another CPU may round a convolution differently in the last
bit (oneDNN picks its kernels by instruction set), so regenerate only the cases you changed (--case NAME).
"""
import argparse
from pathlib import Path

import torch

from model_fixtures import write_improved, write_siamese
from op_fixtures import CASES, write_op_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "Tests" / "Fixtures")
    parser.add_argument("--only-ops", action="store_true", help="skip the (slower) whole-model fixtures")
    parser.add_argument("--only-improved", action="store_true", help="write only the improved recipe's fixture")
    parser.add_argument("--case", action="append", default=[], metavar="NAME",
                        help="write only this op case (repeatable): a new op's fixture, leaving the others untouched")
    options = parser.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # only torch's default layer init draws from it, and make_siamese overwrites that

    if options.only_improved:
        print(write_improved(options.out / "improved.safetensors"))
        return
    if options.case:
        by_name = {case.name: case for case in CASES}
        unknown = [name for name in options.case if name not in by_name]
        if unknown:
            parser.error(f"--case: no op case named {', '.join(unknown)}; cases: {', '.join(by_name)}")
        for name in options.case:
            print(write_op_case(by_name[name], options.out / "ops"))
        return
    op_paths = [write_op_case(case, options.out / "ops") for case in CASES]
    op_bytes = sum(p.stat().st_size for p in op_paths)
    assert op_bytes < 2_000_000, f"op fixtures take {op_bytes} bytes"
    paths = op_paths if options.only_ops else op_paths + [write_siamese(options.out / "siamese.safetensors"),
                                                          write_improved(options.out / "improved.safetensors")]
    for p in paths:
        print(f"{p.stat().st_size:>9}  {p.relative_to(options.out)}")
    print(f"{op_bytes:>9}  ops total; {sum(p.stat().st_size for p in paths):>9} all; torch {torch.__version__}")


if __name__ == "__main__":
    main()
