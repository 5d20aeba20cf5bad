"""Cascade training beside the real ``opencv_traincascade``: time, stages, quality.

1. **Side by side with OpenCV** (``--opencv-bin DIR`` holding ``opencv_traincascade``
   and ``opencv_createsamples``, built from OpenCV's ``apps/`` sources): the recipe of
   issue 13 -- lfw_subset faces 0-79 and their mirror images through
   ``opencv_createsamples -info`` (160-sample ``.vec``), 7 face-free skimage photos and
   the 100 lfw non-face patches at 100x100 as backgrounds, ``-numPos 140 -numNeg 300
   -numStages 8 -w 24 -h 24`` -- with Haar BASIC and with LBP. The two trainers
   alternate (``--repeats`` runs each) so that load drifts hit both alike. Printed per
   recipe: mean wall time and ratio, stages, weak trees per stage, the acceptance ratio
   of every stage (``NEG count`` lines), the stop message, precalculation time per
   stage, held-out hit rate (lfw faces 80-99 and mirror images) and false alarms (24x24
   tiles of other face-free photos) both scored window by window by
   ``cv2.CascadeClassifier``, whether repeated runs gave byte-identical XML, and how many
   of the first stage's items (stage threshold, weak trees: feature rectangles, thresholds
   and leaf values in float32) are identical, and whether the whole cascades are.
2. **Feature evaluation** (printed last) -- training feature values (OpenCV's
   normalisation) of 1,000 24x24 samples for every Haar feature of a mode, ours
   (``HaarFeatures.evaluate``, vectorised in PyTorch) against the obvious NumPy version,
   in values/s.

Usage::

    python benchmarks/bench_cascade.py --opencv-bin DIR [--repeats 2] [--recipes HAAR LBP]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np
import torch
from skimage import data
from train_own_cascade import SKIMAGE_BACKGROUNDS, background_images

from fer_toolkit.cascade import (
    OpenCVToolNotFoundError,
    Positive,
    find_opencv_tool,
    haar_features,
    integral_batch,
    run_createsamples,
    run_traincascade,
    samples_from_info,
    train_cascade,
    write_bg,
    write_info,
    write_vec,
)


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


#: skimage photos without people used as training backgrounds (CASCADE.md's recipe).
TRAIN_PHOTOS = SKIMAGE_BACKGROUNDS[:7]
#: Photos without people never trained on: their windows are the held-out negatives.
HELD_OUT_PHOTOS = SKIMAGE_BACKGROUNDS[7:]
#: The recipe's options, shared by both trainers (HAAR BASIC, then LBP).
RECIPE = dict(num_pos=140, num_neg=300, num_stages=8, width=24, height=24)


def write_recipe(folder: Path, opencv_bin) -> tuple[Path, Path]:
    """lfw faces 0-79 and their mirror images through createsamples -info (160 samples),
    7 face-free skimage photos and the 100 lfw non-face patches at 100x100 as backgrounds."""
    folder.mkdir(parents=True, exist_ok=True)
    faces = (data.lfw_subset()[:80] * 255).round().astype(np.uint8)
    positives = []
    for i, face in enumerate(np.concatenate([faces, faces[:, :, ::-1]])):
        path = folder / "pos" / f"face{i:03d}.png"
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.ascontiguousarray(face))
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


def train_ours(folder: Path, vec: Path, bg: Path, params: dict, device: str) -> list[str]:
    lines: list[str] = []
    train_cascade(folder, vec, bg, **params, device=device, progress=lines.append)
    return lines


def train_opencv(folder: Path, vec: Path, bg: Path, params: dict, opencv_bin) -> list[str]:
    lines: list[str] = []
    run_traincascade(folder, vec, bg, **params, opencv_bin_dir=opencv_bin, on_line=lines.append)
    return lines


def compare_recipe(folder, vec, bg, feature_type, device, opencv_bin, repeats) -> dict:
    """Train the recipe with both trainers, alternating, and print the side-by-side rows."""
    params = dict(RECIPE, feature_type=feature_type)
    if feature_type == "HAAR":
        params["mode"] = "BASIC"
    runs = {"OpenCV": [], "ours": []}
    for r in range(repeats):
        order = ("OpenCV", "ours") if r % 2 == 0 else ("ours", "OpenCV")
        for who in order:
            out = folder / f"{feature_type}_{who}_{r}"
            start = time.perf_counter()
            if who == "ours":
                lines = train_ours(out, vec, bg, params, device)
            else:
                lines = train_opencv(out, vec, bg, params, opencv_bin)
            seconds = time.perf_counter() - start
            runs[who].append((seconds, out / "cascade.xml", lines))
    faces, tiles = held_out_windows()
    rows = {}
    for who, done in runs.items():
        seconds, xml, lines = done[0]
        log = parse_log(lines)
        stages = int(ElementTree.parse(xml).getroot().find("cascade/stageNum").text)
        weak = [
            len(stage.find("weakClassifiers"))
            for stage in ElementTree.parse(xml).getroot().find("cascade/stages")
        ]
        rows[who] = dict(
            seconds=float(np.mean([d[0] for d in done])),
            stages=stages,
            weak=weak,
            ratios=log["ratios"],
            precalc=float(np.mean(log["precalc"])) if log["precalc"] else float("nan"),
            stop=log["stop"],
            hit=float(accepted(xml, faces).mean()),
            false=float(accepted(xml, tiles).mean()),
            identical=len({Path(d[1]).read_bytes() for d in done}) == 1,
            first=weak_trees(xml, stages=(0,)),
            every=weak_trees(xml),
        )
    print(f"\n# {feature_type} recipe: {params}, {repeats} alternated run(s) each")
    print(f"held-out: {len(faces)} faces, {len(tiles)} background windows")
    print("| | OpenCV | ours |")
    print("| --- | --- | --- |")
    o, n = rows["OpenCV"], rows["ours"]
    print(
        f"| wall time (s) | {o['seconds']:.1f} | {n['seconds']:.1f} "
        f"({n['seconds'] / o['seconds']:.2f}x) |"
    )
    print(f"| stages | {o['stages']} | {n['stages']} |")
    print(f"| weak trees per stage | {o['weak']} | {n['weak']} |")
    fmt = lambda values: " / ".join(f"{v:.3g}" for v in values)  # noqa: E731
    print(f"| acceptance ratio per stage | {fmt(o['ratios'])} | {fmt(n['ratios'])} |")
    print(f"| stop | {o['stop']} | {n['stop']} |")
    print(f"| precalculation per stage (s) | {o['precalc']:.3f} | {n['precalc']:.3f} |")
    print(f"| held-out hit rate | {o['hit']:.3f} | {n['hit']:.3f} |")
    print(f"| held-out false alarms | {o['false']:.4f} | {n['false']:.4f} |")
    print(f"| byte-identical XML across runs | {o['identical']} | {n['identical']} |")
    same = sum(a == b for a, b in zip(o["first"], n["first"], strict=False))
    print(
        f"first stage (threshold and weak trees): {same} of {len(o['first'])} items identical "
        f"(ours has {len(n['first'])}); whole cascade identical: {o['every'] == n['every']}"
    )
    for a, b in zip(o["every"], n["every"], strict=False):
        if a != b:
            print(f"  first difference: OpenCV {a}\n                    ours   {b}")
            break
    return rows


def bench_training(folder: Path, device: str, opencv_bin, repeats: int, recipes) -> None:
    try:
        find_opencv_tool("opencv_traincascade", opencv_bin)
    except OpenCVToolNotFoundError as exc:
        print(f"\nOpenCV comparison skipped: {exc}")
        return
    vec, bg = write_recipe(folder, opencv_bin)
    for feature_type in recipes:
        compare_recipe(folder, vec, bg, feature_type, device, opencv_bin, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--opencv-bin", "--opencv-bin-dir", dest="opencv_bin", default=None)
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per trainer")
    parser.add_argument("--recipes", nargs="+", default=["HAAR", "LBP"])
    parser.add_argument("--skip-features", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OpenCV {cv2.__version__}")
    rng = np.random.default_rng(0)
    faces = lfw_faces(24)
    samples = faces[rng.integers(0, len(faces), args.samples)]
    # Training first, so that its peak memory is not masked by the feature tables below.
    with tempfile.TemporaryDirectory() as tmp:
        bench_training(Path(tmp), args.device, args.opencv_bin, args.repeats, args.recipes)
    if not args.skip_features:
        bench_features(samples, args.device)


if __name__ == "__main__":
    main()
