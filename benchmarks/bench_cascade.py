"""Cascade training beside the real ``opencv_traincascade``: time, memory, stages, quality.

1. **Side by side with OpenCV** (``--opencv-bin DIR`` holding ``opencv_traincascade``
   and ``opencv_createsamples``, built from OpenCV's ``apps/`` sources). Recipes
   (``--recipes``):

   * ``HAAR`` / ``LBP``, the recipe of issue 13: lfw_subset faces 0-79 and their mirror
     images through ``opencv_createsamples -info`` (160-sample ``.vec``), 7 face-free
     skimage photos and the 100 lfw non-face patches at 100x100 as backgrounds,
     ``-numPos 140 -numNeg 300 -numStages 8 -w 24 -h 24``, Haar BASIC or LBP;
   * ``HAAR-BIG`` / ``LBP-BIG``: the same 160 faces plus 8 createsamples-style
     distortions of each (:func:`fer_toolkit.cascade.samples_from_image`: 3-D rotation
     up to 0.3/0.3/0.2 rad, grey-level shift up to 25, over background windows), 1,440
     samples; as backgrounds the 7 training photos, 7 other face-free photos shipped by
     scikit-image, scikit-learn and matplotlib, each also mirrored and turned by 90
     degrees, and the lfw non-face mosaic; ``-numPos 1000 -numNeg 2000 -numStages 16
     -w 24 -h 24`` (with 12 or 13 asked, both trainers meet the required leaf
     false-alarm rate after 10 stages; with 16 it is 0.5**16 and more stages train).

   ``opencv_traincascade`` runs its precalculation on OpenCV's thread pool and its
   split search on one thread (``cv::parallel_reduce`` of ``core/private.hpp`` is a
   plain call); ours uses every core of its affinity and quota (its threads sleep between
   parts), or ``--threads N``.

   Each training runs as its own process, the two trainers alternating (``--repeats``
   runs each) so that load drifts hit both alike. Ours runs as the command a user types
   beside ``opencv_traincascade``, ``fer-toolkit cascade train`` with the same flags
   (``--ours python``: a Python process running :data:`TRAIN_OURS` instead), imports
   included, the package byte-compiled beforehand as an installed one is. Peak resident
   memory is the process's, as GNU ``time`` reports it (see :func:`measured`). Printed
   per recipe: the load average, mean wall time and ratio, each run's wall time and the
   median of the paired runs' ratios (ours also without its fixed start-up: a process
   that sets and imports what the command does but trains nothing, :data:`STARTUP_OURS`,
   timed once per round; with ``--ours python`` also the time inside ``train_cascade``),
   peak RSS, stages, weak trees per stage, the acceptance ratio of every stage
   (``NEG count`` lines), the stop message, precalculation time per stage, held-out
   hit rate (lfw faces 80-99 and mirror images) and false alarms (24x24 tiles of other
   face-free photos) both scored window by window by ``cv2.CascadeClassifier``,
   whether repeated runs gave byte-identical XML, and whether the cascades are
   identical item by item (stage thresholds, weak trees: feature rectangles,
   thresholds or LBP subsets and leaf values in float32).
2. **Memory** (``--memory``): peak RSS of both trainers on the Haar recipe cut to 2
   stages, with OpenCV's default buffers (1024 MB each), with
   ``-precalcValBufSize 64 -precalcIdxBufSize 32``, and with 10 copies of every
   background image in ``bg.txt``.
3. **Detector-side scans** (``--scan [XML]``, default the shipped cascade), see
   :func:`bench_scan`.
4. **Feature evaluation** (printed last, unless ``--skip-features``) -- training
   feature values (OpenCV's normalisation) of 1,000 24x24 samples for every Haar
   feature of a mode: ours against the same sparse product in scipy.sparse on as many
   threads, and against naive NumPy gathers, see :func:`bench_features`.

Usage::

    python benchmarks/bench_cascade.py --opencv-bin DIR [--repeats 2] [--recipes HAAR LBP]
        [--memory] [--skip-features] [--ours {cli,python}]
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple
from xml.etree import ElementTree

import cv2
import numpy as np
import scipy.sparse
import torch
from skimage import data
from train_own_cascade import DISTORTION, SKIMAGE_BACKGROUNDS, background_images

import fer_toolkit
from fer_toolkit.cascade import (
    OpenCVToolNotFoundError,
    Positive,
    find_opencv_tool,
    haar_features,
    integral_batch,
    read_cascade,
    read_vec,
    run_createsamples,
    samples_from_image,
    samples_from_info,
    traincascade_args,
    write_bg,
    write_info,
    write_vec,
)
from fer_toolkit.cascade._native import get_num_threads
from fer_toolkit.cascade.negatives import Backgrounds, mine_negatives, walk_windows


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


def scipy_feature_values(batch, features, n_threads: int) -> np.ndarray:
    """The same sparse product with scipy.sparse: the features' corner weights as a CSR
    matrix (the map ``HaarFeatures.evaluate`` builds) times the integral images, feature
    blocks on ``n_threads`` threads, then the training normalisation."""
    width, height = batch.window
    plane = (width + 1) * (height + 1)
    crow, cols, coefs = features._linear_map(width + 1, plane)
    matrix = scipy.sparse.csr_matrix(
        (coefs.astype(np.float32), cols, crow), shape=(len(crow) - 1, plane)
    )
    dense = np.ascontiguousarray(batch.sum.reshape(len(batch), plane).T, np.float32)
    norm = batch.norm
    out = np.empty((matrix.shape[0], len(batch)), dtype=np.float32)

    def block(rows: slice) -> None:
        out[rows] = matrix[rows] @ dense

    bounds = np.linspace(0, matrix.shape[0], n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(block, [slice(a, b) for a, b in itertools.pairwise(bounds)]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm == 0, np.float32(0), out / np.where(norm == 0, 1, norm)).T


def bench_features(samples: np.ndarray, device: str) -> None:
    """Training feature values of every Haar feature of a mode, three ways.

    * ours: ``HaarFeatures.evaluate`` -- a sparse (features x integral pixels) map of
      corner weights applied to the integral images: a compiled loop (C) on its
      threads on the CPU, ``torch.mm`` with a CSR tensor on CUDA;
    * scipy.sparse: the same matrix and product with ``scipy.sparse.csr_matrix``, blocks
      of features on as many threads (a fair alternative);
    * NumPy gathers: the obvious per-rectangle corner gathers (:func:`numpy_feature_values`),
      one thread: a naive baseline, not a fair one.

    Timings: best of 3 (NumPy gathers: one run); the integral images are built outside.
    """
    n_threads = get_num_threads()
    print(
        f"\n# Feature evaluation: {len(samples)} samples of 24x24, device {device}, "
        f"{n_threads} threads, {load()}"
    )
    print(
        "| mode | features | ours (M values/s) | scipy.sparse, same threads (M values/s) | "
        "ours / scipy | NumPy gathers, 1 thread (M values/s) | ours / NumPy |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in ("BASIC", "CORE"):
        features = haar_features(24, 24, mode)
        batch = integral_batch(samples, device=device)
        cpu_batch = integral_batch(samples, device="cpu")
        features.evaluate(batch, np.arange(1000))  # warm-up
        best = {"ours": np.inf, "scipy": np.inf, "numpy": np.inf}
        for repeat in range(3):
            start = time.perf_counter()
            ours = features.evaluate(batch)
            if device != "cpu":
                torch.cuda.synchronize()
            best["ours"] = min(best["ours"], time.perf_counter() - start)
            start = time.perf_counter()
            sparse = scipy_feature_values(cpu_batch, features, n_threads)
            best["scipy"] = min(best["scipy"], time.perf_counter() - start)
            if repeat == 0:  # slow, and not the comparison that matters
                start = time.perf_counter()
                reference = numpy_feature_values(samples, features)
                best["numpy"] = time.perf_counter() - start
        ours = ours if isinstance(ours, np.ndarray) else ours.cpu().numpy()
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours, sparse, rtol=1e-4, atol=1e-5)
        rate = {k: len(samples) * len(features.rects) / v / 1e6 for k, v in best.items()}
        print(
            f"| {mode} | {len(features.rects):,} | {rate['ours']:.1f} | {rate['scipy']:.1f} | "
            f"{rate['ours'] / rate['scipy']:.2f}x | {rate['numpy']:.1f} | "
            f"{rate['ours'] / rate['numpy']:.1f}x |"
        )


#: skimage photos without people used as training backgrounds.
TRAIN_PHOTOS = SKIMAGE_BACKGROUNDS[:7]
#: Photos without people never trained on: their windows are the held-out negatives.
HELD_OUT_PHOTOS = SKIMAGE_BACKGROUNDS[7:]
#: The recipes' options, shared by both trainers.
RECIPES = {
    "HAAR": dict(feature_type="HAAR", mode="BASIC", num_pos=140, num_neg=300, num_stages=8),
    "LBP": dict(feature_type="LBP", num_pos=140, num_neg=300, num_stages=8),
    "HAAR-BIG": dict(feature_type="HAAR", mode="BASIC", num_pos=1000, num_neg=2000, num_stages=16),
    "LBP-BIG": dict(feature_type="LBP", num_pos=1000, num_neg=2000, num_stages=16),
}
#: createsamples-style distortions of each face in the BIG recipes.
BIG_DISTORTIONS = 8


def train_faces() -> np.ndarray:
    """lfw faces 0-79 and their mirror images (25x25)."""
    faces = (data.lfw_subset()[:80] * 255).round().astype(np.uint8)
    return np.ascontiguousarray(np.concatenate([faces, faces[:, :, ::-1]]))


def write_recipe(folder: Path, opencv_bin) -> tuple[Path, Path]:
    """lfw faces 0-79 and their mirror images through createsamples -info (160 samples),
    7 face-free skimage photos and the 100 lfw non-face patches at 100x100 as backgrounds."""
    folder.mkdir(parents=True, exist_ok=True)
    positives = []
    for i, face in enumerate(train_faces()):
        path = folder / "pos" / f"face{i:03d}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), face)
        positives.append(Positive(path, ((0, 0, face.shape[1], face.shape[0]),)))
    info = folder / "info.txt"
    write_info(info, positives)
    vec = folder / "pos.vec"
    if opencv_bin is None:
        write_vec(vec, samples_from_info(info, width=24, height=24))
    else:
        run_createsamples(
            info=info,
            vec=vec,
            num=len(positives),
            width=24,
            height=24,
            opencv_bin_dir=opencv_bin,
            on_line=lambda line: None,
        )
    photos = background_images()
    paths = []
    for name in TRAIN_PHOTOS:
        paths.append(folder / "bg" / f"{name}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        cv2.imwrite(str(paths[-1]), photos[name])
    patches = (data.lfw_subset()[100:] * 255).round().astype(np.uint8)
    for i, patch in enumerate(patches):
        paths.append(folder / "bg" / f"lfw_non_face{i:03d}.png")
        cv2.imwrite(str(paths[-1]), cv2.resize(patch, (100, 100)))
    bg = folder / "bg.txt"
    write_bg(bg, paths, absolute=True)
    return vec, bg


def write_big_recipe(folder: Path, small_vec: Path) -> tuple[Path, Path]:
    """The BIG recipes' inputs: the small recipe's 160 samples plus 8 distortions of each
    face (1,440 samples, interleaved), and 15 face-free images x 3 variants as backgrounds."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = background_images()
    names = [name for name in photos if name not in HELD_OUT_PHOTOS]
    paths = []
    for name in names:
        for suffix, variant in (("", photos[name]), ("_flip", photos[name][:, ::-1])):
            paths.append(folder / "bg" / f"{name}{suffix}.png")
            paths[-1].parent.mkdir(exist_ok=True)
            cv2.imwrite(str(paths[-1]), np.ascontiguousarray(variant))
        paths.append(folder / "bg" / f"{name}_rot90.png")
        cv2.imwrite(str(paths[-1]), np.ascontiguousarray(np.rot90(photos[name])))
    bg = folder / "bg.txt"
    write_bg(bg, paths, absolute=True)
    rng = np.random.default_rng(0)
    train = [photos[name] for name in TRAIN_PHOTOS]
    samples = [read_vec(small_vec, 24, 24)]
    for face in train_faces():
        samples.append(
            samples_from_image(
                face,
                num=BIG_DISTORTIONS,
                bg=train,
                **DISTORTION,
                random_state=rng,
            )
        )
    stacked = np.concatenate(samples)
    vec = folder / "pos.vec"
    # Interleaved, so that every prefix of the .vec holds all the faces.
    write_vec(vec, stacked[rng.permutation(len(stacked))])
    return vec, bg


def held_out_windows() -> tuple[np.ndarray, np.ndarray]:
    """Held-out faces (lfw 80-99 and mirror images, 24x24) and background windows
    (24x24 tiles of the held-out photos at full and half size)."""
    faces = (data.lfw_subset()[80:100] * 255).round().astype(np.uint8)
    faces = np.concatenate([faces, faces[:, :, ::-1]])
    faces = np.stack([cv2.resize(f, (24, 24), interpolation=cv2.INTER_AREA) for f in faces])
    photos = background_images()
    tiles = []
    for name in HELD_OUT_PHOTOS:
        for scale in (1.0, 0.5):
            image = cv2.resize(photos[name], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            rows, cols = image.shape[0] // 24, image.shape[1] // 24
            cut = image[: rows * 24, : cols * 24].reshape(rows, 24, cols, 24)
            tiles.append(cut.transpose(0, 2, 1, 3).reshape(-1, 24, 24))
    return faces, np.concatenate(tiles)


def accepted(cascade: Path, windows: np.ndarray) -> np.ndarray:
    """Whether ``cv2.CascadeClassifier`` accepts each 24x24 window (one position, scale 1)."""
    classifier = cv2.CascadeClassifier(str(cascade))
    return np.array(
        [
            len(classifier.detectMultiScale(w, 1.1, 0, minSize=(24, 24), maxSize=(24, 24))) > 0
            for w in windows
        ]
    )


def weak_trees(cascade: Path, stages=None) -> list[tuple]:
    """The weak trees of the given stages (all when None) as (stage, feature rectangles,
    thresholds or LBP subset, leaf values), numbers in float32, plus each stage threshold."""
    root = ElementTree.parse(cascade).getroot().find("cascade")
    features = [
        " ".join((f.find("rects") if f.find("rects") is not None else f.find("rect")).itertext())
        for f in root.find("features")
    ]
    trees = []
    for index, stage in enumerate(root.find("stages")):
        if stages is not None and index not in stages:
            continue
        trees.append((index, "threshold", float(np.float32(stage.find("stageThreshold").text))))
        for weak in stage.find("weakClassifiers"):
            nodes = weak.find("internalNodes").text.split()
            leaves = np.float32(weak.find("leafValues").text.split()).tolist()
            feature = " ".join(features[int(nodes[2])].split())
            split = (
                [int(v) for v in nodes[3:]] if len(nodes) > 4 else np.float32(nodes[3:]).tolist()
            )
            trees.append((index, feature, split, leaves))
    return trees


def parse_log(lines: list[str]) -> dict:
    """Acceptance ratios, precalculation times and the stop message of a training log."""
    ratios = [float(line.split(":")[-1]) for line in lines if line.startswith("NEG count")]
    precalc = [float(line.split(":")[-1]) for line in lines if "Precalculation time" in line]
    stops = [line for line in lines if "terminated" in line or "exhausted" in line.lower()]
    stop = stops[-1].split(" (")[0] if stops else "numStages reached"
    return {"ratios": ratios, "precalc": precalc, "stop": stop}


def load() -> str:
    """The 1-minute load average and the core count, for the record."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


class Measured(NamedTuple):
    """A child process's wall time and CPU time (user + system, its own children
    included; s), peak resident memory (MB) and output lines."""

    seconds: float
    cpu: float
    rss: float
    lines: list[str]


def measured(command: list[str]) -> Measured:
    """Run a command; return its :class:`Measured` figures.

    The peak comes from GNU ``time`` (``/usr/bin/time``, Debian package ``time``), which
    is started small: a child forked from this script keeps the script's own resident
    high-water mark across ``exec`` (about 450 MB with PyTorch imported), so ``os.wait4``
    on it reports at least that much. Without GNU ``time`` that upper bound is printed,
    marked with ``<=``.
    """
    timer = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        prefix = [timer, "-q", "-f", "%M", "-o", rss_file.name] if timer else []
        start = time.perf_counter()
        process = subprocess.Popen(
            [*prefix, *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output = process.stdout.read().decode(errors="replace")
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        lines = output.splitlines()
        if process.returncode != 0:
            tail = "\n".join(lines[-15:])
            raise RuntimeError(f"{command[0]} exited with {process.returncode}:\n{tail}")
        # GNU time's own CPU time is part of it: about a millisecond.
        cpu = usage.ru_utime + usage.ru_stime
        if timer:
            return Measured(seconds, cpu, int(rss_file.read().split()[-1]) / 1024.0, lines)
    print(f"  (no GNU time: peak RSS of {command[0]} is an upper bound)")
    return Measured(seconds, cpu, usage.ru_maxrss / 1024.0, lines)


class Ours(NamedTuple):
    """How ours runs: ``device``; ``threads``, its ``num_threads`` (None: its default, every
    core); ``entry``, ``"cli"`` for the ``fer-toolkit cascade train`` command (what
    a user runs beside ``opencv_traincascade``) or ``"python"`` for a Python process
    calling ``train_cascade`` (:data:`TRAIN_OURS`; it also reports the time inside the
    call, but OpenBLAS starts as the command line does not let it, see
    ``fer_toolkit/__main__.py``)."""

    device: str
    threads: int | None = None
    entry: str = "cli"


def train(
    who: str, out: Path, vec: Path, bg: Path, params: dict, ours: Ours, opencv_bin
) -> tuple[Measured, float]:
    """Train in a child process; return its :class:`Measured` figures (the log as its
    lines) and the seconds spent training (NaN for ours run as a command)."""
    out.mkdir(parents=True, exist_ok=True)
    if who == "OpenCV":
        tool = find_opencv_tool("opencv_traincascade", opencv_bin)
        run = measured([tool, *traincascade_args(out, vec, bg, **params)])
        return run, run.seconds
    if ours.entry == "cli":
        # OpenCV's tool has no per-stage limit on the windows it looks at: lift ours.
        native = ["--device", ours.device, "--max-neg-windows", str(10**12)]
        if ours.threads is not None:
            native += ["-numThreads", str(ours.threads)]
        command = [*fer_toolkit_command(), "cascade", "train"]
        command += [*traincascade_args(out, vec, bg, **params), *native]
        return measured(command), float("nan")
    job = dict(data=str(out), vec=str(vec), bg=str(bg), params=params, device=ours.device)
    job = json.dumps(dict(job, num_threads=ours.threads))
    run = measured([sys.executable, "-c", TRAIN_OURS, job])
    inside = float(run.lines[-1].split(":")[-1])
    return run._replace(lines=run.lines[:-1]), inside


def fer_toolkit_command() -> list[str]:
    """The installed ``fer-toolkit`` console script, else ``python -m fer_toolkit``."""
    script = Path(sys.executable).parent / "fer-toolkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "fer_toolkit"]


#: The child process of :func:`train` for ours called from Python: only what
#: ``fer-toolkit cascade train`` needs is imported; it prints the log, then the time
#: spent inside ``train_cascade``.
TRAIN_OURS = """
import json, sys, time
from fer_toolkit.cascade import train_cascade
job = json.loads(sys.argv[1])
start = time.perf_counter()
# OpenCV's tool has no per-stage limit on the windows it looks at: lift ours (20 million).
train_cascade(job["data"], job["vec"], job["bg"], **job["params"], device=job["device"],
              num_threads=job["num_threads"], max_neg_windows=10**12, progress=print)
print(f"training seconds: {time.perf_counter() - start:.3f}", flush=True)
"""


#: A child process that pays ours' fixed start-up and trains nothing: what the command
#: line sets and imports before it trains, then the trainer and its compiled loops (a
#: shared library, through ctypes). ``sys.argv[1]``: ``cli`` or ``python`` (``Ours.entry``).
STARTUP_OURS = """
import sys
if sys.argv[1] == "cli":
    from fer_toolkit.__main__ import blas_threads_default
    blas_threads_default(["cascade"])
    import fer_toolkit.cli.cascade
from fer_toolkit.cascade import train_cascade, _kernels, _scan_kernels
"""


def compare_recipe(folder, vec, bg, name, ours: Ours, opencv_bin, repeats) -> dict:
    """Train a recipe with both trainers, alternating, and print the side-by-side rows."""
    params = dict(RECIPES[name], width=24, height=24)
    runs = {"OpenCV": [], "ours": []}
    startups = []
    loads = [load()]
    for r in range(repeats):
        order = ("OpenCV", "ours") if r % 2 == 0 else ("ours", "OpenCV")
        for who in order:
            out = folder / f"{name}_{who}_{r}"
            runs[who].append((*train(who, out, vec, bg, params, ours, opencv_bin), out))
            loads.append(load())
        startups.append(measured([sys.executable, "-c", STARTUP_OURS, ours.entry]).seconds)
    faces, tiles = held_out_windows()
    rows = {}
    for who, done in runs.items():
        xml = done[0][-1] / "cascade.xml"
        log = parse_log(done[0][0].lines)
        stages = ElementTree.parse(xml).getroot().find("cascade/stages")
        rows[who] = dict(
            runs=[d[0].seconds for d in done],
            seconds=float(np.mean([d[0].seconds for d in done])),
            cpu=float(np.mean([d[0].cpu for d in done])),
            inside=float(np.mean([d[1] for d in done])),
            rss=max(d[0].rss for d in done),
            stages=len(stages),
            weak=[len(stage.find("weakClassifiers")) for stage in stages],
            ratios=log["ratios"],
            precalc=float(np.mean(log["precalc"])) if log["precalc"] else float("nan"),
            stop=log["stop"],
            hit=float(accepted(xml, faces).mean()),
            false=float(accepted(xml, tiles).mean()),
            identical=len({(d[-1] / "cascade.xml").read_bytes() for d in done}) == 1,
            every=weak_trees(xml),
        )
    print(f"\n# {name} recipe: {params}, {repeats} alternated run(s) each; ours: {ours}")
    print(f"load during the runs: {' -> '.join(loads)}")
    print(f"held-out: {len(faces)} faces, {len(tiles)} background windows")
    print("| | OpenCV | ours |")
    print("| --- | --- | --- |")
    o, n = rows["OpenCV"], rows["ours"]
    print(
        f"| wall time, whole process (s) | {o['seconds']:.2f} | {n['seconds']:.2f} "
        f"({n['seconds'] / o['seconds']:.2f}x) |"
    )
    runs = lambda values: " / ".join(f"{v:.2f}" for v in values)  # noqa: E731
    paired = np.median(np.divide(n["runs"], o["runs"]))
    print(
        f"| wall time of each run, in order (s) | {runs(o['runs'])} | {runs(n['runs'])} "
        f"(median of the runs' ratios {paired:.2f}x) |"
    )
    # Under load each process gets a share of the cores: the ratio follows CPU time.
    print(
        f"| CPU time, user + system (s) | {o['cpu']:.2f} | {n['cpu']:.2f} "
        f"({n['cpu'] / o['cpu']:.2f}x) |"
    )
    if ours.entry == "python":
        inside = n["inside"]
        print(f"| ours without imports (s) | | {inside:.1f} ({inside / o['seconds']:.2f}x) |")
    startup = float(np.mean(startups))
    print(f"| ours' fixed start-up, no training (s) | | {startup:.2f} |")
    print(
        f"| ours without the fixed start-up (s) | | {n['seconds'] - startup:.1f} "
        f"({(n['seconds'] - startup) / o['seconds']:.2f}x) |"
    )
    print(f"| peak RSS (MB) | {o['rss']:.0f} | {n['rss']:.0f} |")
    print(f"| stages | {o['stages']} | {n['stages']} |")
    print(f"| weak trees per stage | {o['weak']} | {n['weak']} |")
    fmt = lambda values: " / ".join(f"{v:.3g}" for v in values)  # noqa: E731
    print(f"| acceptance ratio per stage | {fmt(o['ratios'])} | {fmt(n['ratios'])} |")
    print(f"| stop | {o['stop']} | {n['stop']} |")
    ratio = (
        f"{n['precalc'] / o['precalc']:.2f}x"
        if o["precalc"] >= 0.001
        else "OpenCV prints 0.000 s: no ratio"
    )
    print(f"| precalculation per stage (s) | {o['precalc']:.3f} | {n['precalc']:.3f} ({ratio}) |")
    print(f"| held-out hit rate | {o['hit']:.3f} | {n['hit']:.3f} |")
    print(f"| held-out false alarms | {o['false']:.4f} | {n['false']:.4f} |")
    print(f"| byte-identical XML across runs | {o['identical']} | {n['identical']} |")
    same = sum(a == b for a, b in zip(o["every"], n["every"], strict=False))
    print(
        f"cascade items (stage thresholds and weak trees) identical: {same} of "
        f"{len(o['every'])} (ours has {len(n['every'])}); whole cascade identical: "
        f"{o['every'] == n['every']}"
    )
    for a, b in zip(o["every"], n["every"], strict=False):
        if a != b:
            print(f"  first difference: OpenCV {a}\n                    ours   {b}")
            break
    return rows


def bench_memory(folder: Path, vec: Path, bg: Path, ours: Ours, opencv_bin) -> None:
    """Peak RSS of both trainers: default buffers, small buffers, 10x the backgrounds."""
    many = folder / "bg_x10.txt"
    copies = []
    for path in Path(bg).read_text().split("\n"):
        if path.strip():
            for k in range(10):
                copy = folder / "bg_x10" / f"{k}_{Path(path).name}"
                copy.parent.mkdir(exist_ok=True)
                shutil.copyfile(path.strip(), copy)
                copies.append(copy)
    write_bg(many, copies, absolute=True)
    base = dict(RECIPES["HAAR"], num_stages=2, width=24, height=24)
    settings = [
        ("buffers 1024 / 1024 MB, bg.txt of 107 images", base, bg),
        (
            "buffers 64 / 32 MB, bg.txt of 107 images",
            dict(base, precalc_val_buf_size=64, precalc_idx_buf_size=32),
            bg,
        ),
        (f"buffers 1024 / 1024 MB, bg.txt of {len(copies)} images", base, many),
    ]
    print("\n# Memory: Haar BASIC recipe cut to 2 stages (440 samples, 162,336 features)")
    print(
        "| setting | OpenCV peak RSS (MB) | ours peak RSS (MB) | OpenCV / ours wall time, "
        "whole process (s) | load |"
    )
    print("| --- | ---: | ---: | --- | --- |")
    for i, (label, params, background) in enumerate(settings):
        result = {}
        for who in ("OpenCV", "ours"):
            out = folder / f"memory_{i}_{who}"
            run, _ = train(who, out, vec, background, params, ours, opencv_bin)
            result[who] = (run.seconds, run.rss, weak_trees(out / "cascade.xml"))
        same = result["OpenCV"][2] == result["ours"][2]
        print(
            f"| {label} | {result['OpenCV'][1]:.0f} | {result['ours'][1]:.0f} | "
            f"{result['OpenCV'][0]:.1f} / {result['ours'][0]:.1f} | {load()} |"
            + ("" if same else " (cascades differ)")
        )


def bench_scan(xml: Path) -> None:
    """Detector-side scans against ``cv2.CascadeClassifier`` on the held-out photos.

    * ``Cascade.detect_multiscale`` (which hands the cascade to ``cv2.CascadeClassifier``
      as XML text at each call) against ``detectMultiScale(image, 1.1, 3)`` of a
      classifier loaded once: time per pass over the photos (the cost of the hand-over)
      and whether the boxes agree. (``fer-toolkit cascade detect`` runs
      ``cv2.CascadeClassifier`` itself.)
    * The negative-mining scan (the trainer's rules: ``mine_negatives`` over the
      walk's windows of the same photos, with resizing) in windows per second, and
      the trainer's evaluation alone (``Cascade.accepts(..., training=True)`` on the
      same windows, cut beforehand), against ``detectMultiScale(image, sqrt(2), 0)``
      over the same photos, counted as every window of its grid (OpenCV skips the
      window after one its first stage rejects, so it evaluates fewer: its figure is
      an upper bound).
    """
    photos = background_images()
    images = [photos[name] for name in HELD_OUT_PHOTOS]
    cascade = read_cascade(xml)
    classifier = cv2.CascadeClassifier(str(xml))
    print(f"\n# Detector-side scans: {xml.name} ({len(cascade.stages)} stages), {load()}")
    print(f"{len(images)} held-out photos, {sum(i.size for i in images) / 1e6:.1f} Mpixels")
    threads = cv2.getNumThreads()
    cascade.detect_multiscale(images[0], 1.1, 3, n_threads=threads)  # warm-up
    times = {"cv2": [], "ours": []}
    for _ in range(2):
        start = time.perf_counter()
        theirs = [np.asarray(classifier.detectMultiScale(i, 1.1, 3)).reshape(-1, 4) for i in images]
        times["cv2"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = [cascade.detect_multiscale(i, 1.1, 3, n_threads=threads) for i in images]
        times["ours"].append(time.perf_counter() - start)
    same = all(
        sorted(map(tuple, a.tolist())) == sorted(map(tuple, b.tolist()))
        for a, b in zip(theirs, ours, strict=True)
    )
    cv2_s, ours_s = min(times["cv2"]), min(times["ours"])
    print("| scan | cv2.CascadeClassifier | ours | ours / cv2 time |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| detectMultiScale(1.1, 3), s per pass, {threads} threads (same boxes: {same}) | "
        f"{cv2_s:.3f} | "
        f"{ours_s:.3f} | {ours_s / cv2_s:.2f}x |"
    )
    grid = 0
    for image in images:
        factor = 1.0
        while True:
            size = (round(image.shape[1] / factor), round(image.shape[0] / factor))
            if min(size) < 24 or image.shape[1] < 24 * factor or image.shape[0] < 24 * factor:
                break
            step = 1 if factor >= 2 else 2
            grid += ((size[0] - 24) // step + 1) * ((size[1] - 24) // step + 1)
            factor *= 2**0.5
    start = time.perf_counter()
    for image in images:
        classifier.detectMultiScale(image, 2**0.5, 0)
    cv2_rate = grid / (time.perf_counter() - start)
    for _ in range(2):  # the first run loads the compiled evaluator
        start = time.perf_counter()
        walk = walk_windows(Backgrounds(images), cascade.width, cascade.height)
        mined = mine_negatives(cascade, itertools.islice(walk, len(images)), 10**9)
    ours_rate = mined.tried / (time.perf_counter() - start)
    print(
        f"| windows per second (mining: {mined.tried:,} windows; cv2: {grid:,} grid windows) | "
        f"{cv2_rate / 1e6:.2f} M | {ours_rate / 1e6:.2f} M | {cv2_rate / ours_rate:.2f}x |"
    )
    walk = walk_windows(Backgrounds(images), cascade.width, cascade.height)
    windows = np.concatenate([w for _, w in itertools.islice(walk, len(images))])
    start = time.perf_counter()
    cascade.accepts(windows, training=True, n_threads=get_num_threads())
    eval_rate = len(windows) / (time.perf_counter() - start)
    print(
        f"| windows per second, evaluation alone (the same {len(windows):,} windows) | "
        f"{cv2_rate / 1e6:.2f} M | {eval_rate / 1e6:.2f} M | {cv2_rate / eval_rate:.2f}x |"
    )


def bench_training(folder: Path, ours: Ours, opencv_bin, repeats: int, recipes, memory) -> None:
    try:
        find_opencv_tool("opencv_traincascade", opencv_bin)
    except OpenCVToolNotFoundError as exc:
        print(f"\nOpenCV comparison skipped: {exc}")
        return
    vec, bg = write_recipe(folder, opencv_bin)
    if any(name.endswith("-BIG") for name in recipes):
        big_vec, big_bg = write_big_recipe(folder / "big", vec)
    for name in recipes:
        inputs = (big_vec, big_bg) if name.endswith("-BIG") else (vec, bg)
        compare_recipe(folder, *inputs, name, ours, opencv_bin, repeats)
    if memory:
        bench_memory(folder, vec, bg, ours, opencv_bin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--opencv-bin", "--opencv-bin-dir", dest="opencv_bin", default=None)
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per trainer")
    parser.add_argument("--recipes", nargs="*", default=["HAAR", "LBP"], choices=list(RECIPES))
    parser.add_argument("--memory", action="store_true", help="peak RSS with other settings")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="ours' num_threads (default: every core; OpenCV's tool is single-threaded "
        "but for its precalculation)",
    )
    parser.add_argument(
        "--ours",
        choices=["cli", "python"],
        default="cli",
        help="run ours as the fer-toolkit cascade train command (default), or as a Python "
        "process calling train_cascade",
    )
    parser.add_argument("--skip-features", action="store_true")
    parser.add_argument(
        "--scan",
        nargs="?",
        const=str(Path(__file__).parents[1] / "cascades" / "fer_toolkit_frontalface.xml"),
        help="time the detector-side scans with this cascade (default: the shipped one)",
    )
    args = parser.parse_args()
    # A package installed from a wheel is byte-compiled (pip's default); a checkout
    # installed with -e compiles on first import, and every time where
    # PYTHONDONTWRITEBYTECODE is set (as in our sandbox): compile it once here, so that
    # ours' start-up is an installed package's.
    compileall.compile_dir(Path(fer_toolkit.__file__).parent, quiet=1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OpenCV {cv2.__version__}")
    print(f"ours' num_threads: {args.threads or 'default (every core)'}; run as: {args.ours}")
    print(load())
    with tempfile.TemporaryDirectory() as tmp:
        ours = Ours(args.device, args.threads, args.ours)
        bench_training(Path(tmp), ours, args.opencv_bin, args.repeats, args.recipes, args.memory)
    if args.scan:
        bench_scan(Path(args.scan))
    if not args.skip_features:
        rng = np.random.default_rng(0)
        faces = lfw_faces(24)
        bench_features(faces[rng.integers(0, len(faces), args.samples)], args.device)


if __name__ == "__main__":
    main()
