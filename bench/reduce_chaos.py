#!/usr/bin/env python
"""Fault-injection proof of the exactly-once reduction (the harness: tests/helpers/chaos.py).

    python bench/reduce_chaos.py --runs 100 --seed 1 [--leaves 23] [--fan-in 4]

The last line printed is `exact: K/R`; the exit code is 0 only when every run was exact.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# bench/ is scripts: the repository root makes tests.helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.chaos import fake_credentials, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--leaves", type=int, default=None, help="default: random 1-40")
    parser.add_argument("--fan-in", type=int, default=None, help="default: random 2-6")
    args = parser.parse_args(argv)
    fake_credentials()
    return 0 if run_chaos(args.runs, args.seed, args.leaves, args.fan_in) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
