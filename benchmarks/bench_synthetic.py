"""Throughput of make_synthetic_faces on one CPU core, in images per second.

Run with ``python benchmarks/bench_synthetic.py [--repeat N]``. Thread pools
(OpenMP, BLAS, OpenCV) are limited to one thread before anything is timed; the
best of ``--repeat`` runs is reported for each image size.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import platform
import time

import cv2
from threadpoolctl import threadpool_limits

from fer_toolkit.datasets.synthetic import make_synthetic_faces

# (image_size, n_samples): about one second of work per run on a current core.
CASES = ((48, 8000), (96, 2000))


def best_rate(image_size: int, n_samples: int, repeat: int) -> float:
    """Best images/s over ``repeat`` runs drawing ``n_samples`` images."""
    make_synthetic_faces(100, image_size=image_size, random_state=0)  # warm up
    best = float("inf")
    for seed in range(repeat):
        start = time.perf_counter()
        make_synthetic_faces(n_samples, image_size=image_size, random_state=seed)
        best = min(best, time.perf_counter() - start)
    return n_samples / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (default 3)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with threadpool_limits(limits=1):
        for image_size, n_samples in CASES:
            rate = best_rate(image_size, n_samples, args.repeat)
            print(
                f"{image_size}x{image_size}: {rate:8,.0f} images/s  ({n_samples} images, 1 thread)"
            )


if __name__ == "__main__":
    main()
