"""Throughput of ImageReader -> HaarFaceCropper -> Grayscale -> Resize vs a plain OpenCV loop.

Builds 640x480 JPEG photos from ``skimage.data`` images (the astronaut's face
pasted at random scales and places onto crops of other photos), then times, in
one run and interleaved:

* ``plain``: a hand-written loop of ``cv2.imread``, ``cvtColor``,
  ``detectMultiScale``, crop, ``cv2.resize``;
* ``ours n_jobs=1`` and ``ours n_jobs=2``: the fer_toolkit pipeline.

OpenCV's internal thread pool is set to one thread for every variant, so that
``n_jobs`` is the only parallelism and the comparison is like for like. The
outputs of the plain loop and of the pipeline are checked to be identical.

Usage::

    python benchmarks/bench_preprocessing.py [--n-images 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import cv2
import numpy as np
from skimage import data
from sklearn.pipeline import make_pipeline

from fer_toolkit.detection import resolve_cascade
from fer_toolkit.preprocessing import Grayscale, HaarFaceCropper, ImageReader, Resize

WIDTH, HEIGHT = 640, 480
FACE_SIZE = 48


def make_photos(folder: str, n_images: int, seed: int = 0) -> list[str]:
    """Write ``n_images`` 640x480 JPEGs with one face each, built from skimage photos."""
    rng = np.random.default_rng(seed)
    backgrounds = [
        data.coffee(),
        data.chelsea(),
        data.rocket(),
        data.immunohistochemistry(),
        data.hubble_deep_field(),
    ]
    person = data.astronaut()[:300, 100:400]  # head and shoulders
    paths = []
    for i in range(n_images):
        scene = backgrounds[i % len(backgrounds)]
        scale = max(WIDTH / scene.shape[1], HEIGHT / scene.shape[0]) * rng.uniform(1.0, 1.3)
        scene = cv2.resize(scene, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        top = rng.integers(0, scene.shape[0] - HEIGHT + 1)
        left = rng.integers(0, scene.shape[1] - WIDTH + 1)
        canvas = scene[top : top + HEIGHT, left : left + WIDTH].copy()
        side = int(rng.integers(180, 320))
        pasted = cv2.resize(person, (side, side), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            pasted = pasted[:, ::-1]
        y = rng.integers(0, HEIGHT - side + 1)
        x = rng.integers(0, WIDTH - side + 1)
        canvas[y : y + side, x : x + side] = pasted
        canvas = np.clip(canvas * rng.uniform(0.7, 1.2), 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"photo_{i:04d}.jpg")
        cv2.imwrite(path, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def plain_loop(paths: list[str]) -> np.ndarray:
    """What a user writes by hand with OpenCV for the same job."""
    cascade = cv2.CascadeClassifier(resolve_cascade("frontalface_default"))
    faces = []
    for path in paths:
        gray = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY)
        boxes = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        if len(boxes):
            x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
        else:
            side = min(gray.shape)
            x, y, w, h = (gray.shape[1] - side) // 2, (gray.shape[0] - side) // 2, side, side
        crop = gray[y : y + h, x : x + w]
        faces.append(cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA))
    return np.stack(faces)


def ours(n_jobs: int):
    pipeline = make_pipeline(
        ImageReader(n_jobs=n_jobs),
        HaarFaceCropper(n_jobs=n_jobs),
        Grayscale(),
        Resize(FACE_SIZE),
    )
    return pipeline.fit_transform


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    variants = {"plain OpenCV loop": plain_loop, "ours n_jobs=1": ours(1), "ours n_jobs=2": ours(2)}
    with tempfile.TemporaryDirectory() as folder:
        paths = make_photos(folder, args.n_images)
        reference = plain_loop(paths)
        for name, run in variants.items():
            np.testing.assert_array_equal(run(paths), reference, err_msg=name)
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(args.repeats):
            for name, run in variants.items():
                start = time.perf_counter()
                run(paths)
                best[name] = min(best[name], time.perf_counter() - start)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"OpenCV {cv2.__version__}, Python {platform.python_version()}"
    )
    print(
        f"{args.n_images} JPEG photos of {WIDTH}x{HEIGHT}, best of {args.repeats} runs; "
        "outputs identical across variants"
    )
    for name, seconds in best.items():
        print(f"  {name:18s} {seconds:7.2f} s  {args.n_images / seconds:7.1f} images/s")
    plain, one, two = best.values()
    print(f"overhead of ours (n_jobs=1) over the plain loop: {100 * (one / plain - 1):+.1f}%")
    print(f"speed-up n_jobs=2 over n_jobs=1: {one / two:.2f}x")


if __name__ == "__main__":
    main()
