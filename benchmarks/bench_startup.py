"""Start-up time of the ``fer-toolkit`` command line and of ``fer_toolkit.preprocessing``.

Run with ``python benchmarks/bench_startup.py [--repeat N]``. Each case runs in a
fresh interpreter; the median wall time of ``--repeat`` runs is reported, next
to ``import torch`` alone: the floor of a command line that imports PyTorch
before it looks at its arguments. The interpreters start with ``-P`` (no current
folder on ``sys.path``), so ``PYTHONPATH=CHECKOUT`` times another checkout even
when run from this one.
"""

import argparse
import platform
import statistics
import subprocess
import sys
import time

CLI = "from fer_toolkit.cli.main import main; main()"
CASES = (
    ("fer-toolkit --version", [CLI, "--version"]),
    ("fer-toolkit --help", [CLI, "--help"]),
    ("fer-toolkit train --help", [CLI, "train", "--help"]),
    ("import fer_toolkit.preprocessing", ["import fer_toolkit.preprocessing"]),
    ("import torch (reference)", ["import torch"]),
)


def median_seconds(arguments, repeat: int) -> float:
    """Median wall time of ``python -P -c arguments[0] arguments[1:]`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-P", "-c", *arguments], check=True, stdout=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (default 3)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    results = {name: median_seconds(arguments, args.repeat) for name, arguments in CASES}
    floor = results["import torch (reference)"]
    print(f"{'case':36s} {'seconds':>8s} {'/ import torch':>15s}")
    for name, seconds in results.items():
        print(f"{name:36s} {seconds:8.2f} {seconds / floor:15.2f}")


if __name__ == "__main__":
    main()
