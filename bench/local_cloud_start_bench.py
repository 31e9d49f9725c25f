"""How long the local cloud takes to start: the first start builds the image
environments, later starts reuse them.

    python bench/local_cloud_start_bench.py [--warm-runs 3]

Each start runs in a fresh interpreter (as `seisless up` does) with its own
SEISLESS_CACHE_DIR: the first start finds it empty and builds a virtual environment per
image (pip's own download cache stays warm, as on a machine that installed seisless);
the next `--warm-runs` starts find them. Each start synthesizes the app, prepares the
environments, starts moto and deploys the stack; the time printed is until the cloud is
ready, then it stops. Prints the cold time, the warm median and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

_START = ("from seisless.local import LocalCloud\n"
          "with LocalCloud(port=0, say=lambda _: None):\n"
          "    pass\n")


def timed_start(cache_dir: str) -> float:
    env = {**os.environ, "SEISLESS_CACHE_DIR": cache_dir,
           "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _START], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm-runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="seisless-start-bench-") as cache:
        cold = timed_start(cache)
        print(f"first start (builds 3 image environments): {cold:.1f} s")
        warm = [timed_start(cache) for _ in range(args.warm_runs)]
        print("cached starts: " + ", ".join(f"{w:.1f} s" for w in warm))
        median = statistics.median(warm)
        print(f"cached start median {median:.1f} s; first / cached = {cold / median:.1f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
