"""Cascade training speed: feature evaluation, time per stage, peak memory.

Three measurements, all in one run:

1. **Feature evaluation** (printed last) -- training feature values (OpenCV's
   normalisation) of 1,000 24x24 samples for every Haar feature of a mode, ours
   (``HaarFeatures.evaluate``, vectorised in PyTorch) against the obvious NumPy version
   (gather the four corners of every rectangle from the integral images, weight, sum,
   normalise), in values/s.
2. **A fixed training recipe** -- the 100 faces of
   ``skimage.data.lfw_subset()`` resized to 24x24, face-free ``skimage.data`` photos as
   backgrounds, ``-numPos 90 -numNeg 200 -numStages 6``, BASIC, GAB. Prints the time,
   weak classifiers and acceptance ratio of every stage and the peak resident memory.
   The real ``opencv_traincascade`` 4.x took about 16-20 s for this recipe on one core
   of the 2-core development machine (stages of 3, 2, 3, 3, 2, 3 weak classifiers).
3. **OpenCV's own trainer**, when ``opencv_traincascade`` is on PATH (or in
   ``--opencv-bin-dir``): the same recipe with both, the time ratio, and both cascades'
   hit on held-out data (the astronaut's face) and false positives per image on the
   background photos flipped upside down.

Usage::

    python benchmarks/bench_cascade.py [--device cpu|cuda] [--samples 1000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data
from train_own_cascade import background_images

from fer_toolkit.cascade import (
    OpenCVToolNotFoundError,
    box_iou,
    find_opencv_tool,
    haar_features,
    integral_batch,
    run_traincascade,
    train_cascade,
    write_bg,
    write_vec,
)

#: The astronaut's face box, the held-out positive.
ASTRONAUT_FACE = (177, 66, 95, 95)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lfw_faces(size: int) -> np.ndarray:
    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])


def numpy_feature_values(samples: np.ndarray, features) -> np.ndarray:
    """Training feature values with plain NumPy: corner gathers on the integral images."""
    n, h, w = samples.shape
    integral = np.zeros((n, h + 1, w + 1), dtype=np.int64)
    integral[:, 1:, 1:] = samples.astype(np.int64).cumsum(1).cumsum(2)
    squares = np.zeros_like(integral)
    squares[:, 1:, 1:] = (samples.astype(np.int64) ** 2).cumsum(1).cumsum(2)

    def rect_sums(table, x, y, rw, rh):
        return table[:, y, x] - table[:, y, x + rw] - table[:, y + rh, x] + table[:, y + rh, x + rw]

    area = (w - 2) * (h - 2)
    inner_sum = rect_sums(integral, 1, 1, w - 2, h - 2).astype(np.float64)
    inner_sq = rect_sums(squares, 1, 1, w - 2, h - 2).astype(np.float64)
    norm = np.sqrt(np.maximum(area * inner_sq - inner_sum**2, 0.0))
    norm[norm == 0] = np.inf
    rects = np.asarray(features.rects)
    weights = np.asarray(features.weights, dtype=np.float64)
    values = np.zeros((n, len(rects)), dtype=np.float64)
    for r in range(rects.shape[1]):
        x, y, rw, rh = (rects[:, r, i] for i in range(4))
        values += weights[:, r] * rect_sums(integral, x, y, rw, rh)
    return (values / norm[:, None]).astype(np.float32)


def bench_features(samples: np.ndarray, device: str) -> None:
    print(f"\n# Feature evaluation: {len(samples)} samples of 24x24, device {device}")
    print("| mode | features | ours (M values/s) | NumPy (M values/s) | ours / NumPy |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode in ("BASIC", "CORE"):
        features = haar_features(24, 24, mode)
        batch = integral_batch(samples, device=device)
        features.evaluate(batch, np.arange(1000))  # warm-up
        start = time.perf_counter()
        ours = features.evaluate(batch)
        if device != "cpu":
            torch.cuda.synchronize()
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        reference = numpy_feature_values(samples, features)
        numpy_s = time.perf_counter() - start
        np.testing.assert_allclose(ours.cpu().numpy(), reference, rtol=1e-4, atol=1e-5)
        count = len(samples) * len(features.rects)
        print(
            f"| {mode} | {len(features.rects):,} | {count / ours_s / 1e6:.1f} | "
            f"{count / numpy_s / 1e6:.1f} | {numpy_s / ours_s:.1f}x |"
        )


def write_recipe(folder: Path) -> tuple[Path, Path]:
    vec = folder / "faces.vec"
    write_vec(vec, lfw_faces(24))
    paths = []
    for name, image in background_images().items():
        path = folder / f"{name}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    bg = folder / "bg.txt"
    write_bg(bg, paths, absolute=True)
    return vec, bg


def report_quality(name: str, cascade: Path) -> None:
    """Hit on the astronaut's face, and boxes per held-out background (upside down)."""
    classifier = cv2.CascadeClassifier(str(cascade))
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    boxes = classifier.detectMultiScale(gray, minNeighbors=3)
    hit = len(boxes) > 0 and box_iou(np.array([ASTRONAUT_FACE]), np.asarray(boxes)).max() >= 0.5
    backgrounds = [np.ascontiguousarray(image[::-1]) for image in background_images().values()]
    false = [len(classifier.detectMultiScale(image, minNeighbors=3)) for image in backgrounds]
    print(f"{name}: astronaut face hit {bool(hit)}, false positives per image {np.mean(false):.2f}")


def bench_training(folder: Path, device: str, opencv_bin_dir) -> None:
    recipe = dict(num_pos=90, num_neg=200, num_stages=6, width=24, height=24)
    print(f"\n# Training recipe: 100 lfw faces, {recipe}, BASIC, GAB, device {device}")
    vec, bg = write_recipe(folder)
    before = peak_rss_mb()
    start = time.perf_counter()
    result = train_cascade(
        folder / "native", vec, bg, **recipe, device=device, random_state=0, progress=None
    )
    native_s = time.perf_counter() - start
    print("| stage | weak classifiers | acceptance ratio | seconds |")
    print("| ---: | ---: | ---: | ---: |")
    for stage in result.stages:
        print(
            f"| {stage.index} | {stage.weak_count} | {stage.acceptance_ratio:.3g} | "
            f"{stage.seconds:.2f} |"
        )
    print(f"total {native_s:.1f} s ({result.stop_reason}); peak RSS {peak_rss_mb():.0f} MB")
    print(f"(peak RSS before training {before:.0f} MB)")
    if device != "cpu":
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")
    report_quality("ours", result.path)
    try:
        find_opencv_tool("opencv_traincascade", opencv_bin_dir)
    except OpenCVToolNotFoundError as exc:
        print(f"\nOpenCV comparison skipped: {exc}")
        return
    start = time.perf_counter()
    opencv_xml = run_traincascade(
        folder / "opencv", vec, bg, **recipe, opencv_bin_dir=opencv_bin_dir, on_line=None
    )
    opencv_s = time.perf_counter() - start
    print(f"\nopencv_traincascade: {opencv_s:.1f} s; ours / OpenCV time {native_s / opencv_s:.2f}")
    report_quality("OpenCV", opencv_xml)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--opencv-bin-dir", default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OpenCV {cv2.__version__}")
    rng = np.random.default_rng(0)
    faces = lfw_faces(24)
    samples = faces[rng.integers(0, len(faces), args.samples)]
    # Training first, so that its peak memory is not masked by the feature tables below.
    with tempfile.TemporaryDirectory() as tmp:
        bench_training(Path(tmp), args.device, args.opencv_bin_dir)
    bench_features(samples, args.device)


if __name__ == "__main__":
    main()
