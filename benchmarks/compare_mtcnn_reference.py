"""Compare fer_toolkit's MTCNN with the reference TensorFlow package ``mtcnn`` on the same images.

The reference runs in a separate Python that has ``mtcnn`` and
``tensorflow-cpu`` (a scratch venv: TensorFlow is no dependency of fer_toolkit)
through ``mtcnn_reference.py``. Images: those of the test fixture
(``reference_images()`` in ``tests/test_mtcnn.py``) and the benchmark photos of
``bench_mtcnn.py`` (512x512 and 1000x667) and video frames (640x480).

For every reference face it prints the IoU of our matching (integer) box with
the reference's unrounded box (below 1 through rounding alone), the largest
difference from the reference's box rounded as the package rounds it, the
largest landmark error as a fraction of the box width, and the score
difference; it fails (exit status 1) when a box has IoU < 0.95, a landmark is
off by more than 2% of the box width, or the face counts differ.

``--write-fixture`` also writes the reference output for the fixture images to
``tests/data/mtcnn_reference.json``, which ``tests/test_mtcnn.py`` checks
against::

    python benchmarks/compare_mtcnn_reference.py --python /tmp/tfvenv/bin/python --write-fixture
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from fer_toolkit.detection import MTCNN

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "mtcnn_reference.json"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_reference(python: str, images: dict[str, np.ndarray]) -> dict:
    """The reference package's detections (``mtcnn_reference.py``'s JSON) for ``images``."""
    with tempfile.TemporaryDirectory() as folder:
        npz, out = os.path.join(folder, "images.npz"), os.path.join(folder, "reference.json")
        # The reference takes RGB only; grayscale images are replicated to 3 channels.
        np.savez(npz, **{k: np.dstack([v] * 3) if v.ndim == 2 else v for k, v in images.items()})
        script = Path(__file__).with_name("mtcnn_reference.py")
        subprocess.run([python, str(script), npz, "--out", out], check=True)
        return json.loads(Path(out).read_text())


def iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def compare(reference: dict, images: dict[str, np.ndarray], detector: MTCNN) -> bool:
    """Print the agreement per face; True when every face agrees within the tolerances."""
    ok = True
    worst = {"iou": 1.0, "landmarks": 0.0, "score": 0.0, "box": 0}
    for name, found in zip(images, detector.detect_batch(list(images.values())), strict=True):
        expected = reference["images"][name]["faces"]
        if len(found) != len(expected):
            print(f"{name}: {len(found)} faces, the reference has {len(expected)}")
            ok = False
            continue
        for face in expected:
            ious = [iou(face["box"], box) for box in found.boxes]
            k = int(np.argmax(ious))
            landmarks = np.abs(found.landmarks[k] - np.array(face["landmarks"])).max()
            landmarks /= face["box"][2]
            score = abs(found.scores[k] - face["confidence"])
            box = int(np.abs(found.boxes[k] - np.round(face["box"])).max())
            print(
                f"{name:22s} box {found.boxes[k].tolist()!s:22s} IoU {ious[k]:.4f}  "
                f"landmarks {landmarks:.2e} of width  score diff {score:.1e}  "
                f"rounded box diff {box}px"
            )
            ok &= ious[k] >= 0.95 and landmarks <= 0.02
            worst = {
                "iou": min(worst["iou"], ious[k]),
                "landmarks": max(worst["landmarks"], landmarks),
                "score": max(worst["score"], score),
                "box": max(worst["box"], box),
            }
    faces = sum(len(entry["faces"]) for entry in reference["images"].values())
    print(
        f"{len(images)} images, {faces} reference faces; worst IoU {worst['iou']:.4f}, "
        f"worst landmark error {worst['landmarks']:.2e} of the box width, worst score "
        f"difference {worst['score']:.1e}, worst rounded-box difference {worst['box']}px"
    )
    return ok


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="a Python with mtcnn + tensorflow-cpu")
    parser.add_argument("--write-fixture", action="store_true", help=f"write {FIXTURE}")
    parser.add_argument("--n-images", type=int, default=10, help="benchmark photos per size")
    args = parser.parse_args(argv)

    fixture_images = _load(ROOT / "tests" / "test_mtcnn.py", "test_mtcnn").reference_images()
    bench = _load(Path(__file__).with_name("bench_mtcnn.py"), "bench_mtcnn")
    images = dict(fixture_images)
    for name, (width, height) in bench.PHOTO_SIZES.items():
        for i, photo in enumerate(bench.make_photos(width, height, args.n_images)):
            images[f"{name}_{i}"] = photo
    with tempfile.TemporaryDirectory() as folder:
        video = os.path.join(folder, "clip.avi")
        bench.write_video(video, 20)
        for i, frame in enumerate(next(bench.read_frames(video, 20))):
            images[f"video_{i}"] = frame

    reference = run_reference(args.python, images)
    ok = compare(reference, images, MTCNN(device="cpu"))
    if args.write_fixture:
        fixture = dict(reference, images={k: reference["images"][k] for k in fixture_images})
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(json.dumps(fixture, indent=1) + "\n")
        print(f"wrote {FIXTURE}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
