"""Compare fer_toolkit's MTCNN with the reference TensorFlow package ``mtcnn`` on the same images.

The reference runs in a separate Python that has ``mtcnn`` and
``tensorflow-cpu`` (a scratch venv: TensorFlow is no dependency of fer_toolkit)
through ``mtcnn_reference.py``. Images: those of the test fixture
(``reference_images()`` in ``tests/test_mtcnn.py``), the benchmark photos of
``bench_mtcnn.py`` (512x512 and 1000x667), frames of its synthesised video
(640x480), and ``variant_images()``: real faces rescaled, shifted, cropped and
mirrored (168 inputs with the defaults). Each image goes through ``detect``
alone, as the reference takes one image per call.

For every reference face it prints the IoU of our matching (integer) box with
the reference's unrounded box (below 1 through rounding alone), the largest
difference from the reference's box rounded as the package rounds it, the
largest landmark error as a fraction of the box width, and the score
difference; it fails (exit status 1) when an image's integer boxes (in order)
are not the reference's rounded as the package rounds them, the face counts
differ, or a landmark is off by more than 2% of the box width.

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

import cv2
import numpy as np
from skimage import data

from fer_toolkit.detection import MTCNN

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "mtcnn_reference.json"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variant_images() -> dict[str, np.ndarray]:
    """Real faces and small changes of them, where P-Net's ties decide the final box.

    ``skimage.data`` stills (``astronaut``, ``camera``) rescaled, shifted (cropped
    by a few pixels), cropped around the face and mirrored, and LFW faces
    (``lfw_subset``, 25x25) upscaled to 80-200 px on a grey margin, mirrored.
    """
    images = {}
    stills = {"astronaut": data.astronaut(), "camera": data.camera()}
    for name, still in stills.items():
        for scale in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25):
            images[f"{name}_x{scale}"] = cv2.resize(
                still, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
            )
        for dy, dx in ((0, 1), (1, 0), (1, 1), (3, 2), (5, 7), (8, 3), (11, 11), (16, 5)):
            images[f"{name}_shift{dy}_{dx}"] = still[dy:, dx:]
        for i, margin in enumerate((30, 45, 60, 80, 100, 130, 160)):
            top, left = (20, 150) if name == "astronaut" else (40, 190)
            crop = still[
                max(0, top - margin // 2) : top + 130 + margin,
                max(0, left - margin) : left + 110 + margin,
            ]
            images[f"{name}_crop{i}"] = crop
            images[f"{name}_crop{i}_flip"] = crop[:, ::-1]
        images[f"{name}_flip"] = still[:, ::-1]
    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    for i, face in enumerate(faces[:40]):
        side = (80, 110, 140, 200)[i % 4]
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        framed = cv2.copyMakeBorder(
            big, side // 4, side // 4, side // 4, side // 4, cv2.BORDER_CONSTANT, value=128
        )
        images[f"lfw{i}_{side}"] = framed
        if i % 2:
            images[f"lfw{i}_{side}_flip"] = framed[:, ::-1]
    return images


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
    identical = 0
    worst = {"iou": 1.0, "landmarks": 0.0, "score": 0.0, "box": 0}
    for name, image in images.items():
        found = detector.detect(image)
        expected = reference["images"][name]["faces"]
        if len(found) != len(expected):
            print(f"{name}: {len(found)} faces, the reference has {len(expected)}")
            ok = False
            continue
        rounded = np.round([face["box"] for face in expected]).reshape(-1, 4)
        identical += bool(np.array_equal(found.boxes, rounded))
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
            ok &= bool(landmarks <= 0.02)
            worst = {
                "iou": min(worst["iou"], ious[k]),
                "landmarks": max(worst["landmarks"], landmarks),
                "score": max(worst["score"], score),
                "box": max(worst["box"], box),
            }
    faces = sum(len(entry["faces"]) for entry in reference["images"].values())
    print(f"{identical} of {len(images)} images with the reference's integer boxes, in its order")
    print(
        f"{len(images)} images, {faces} reference faces; worst IoU {worst['iou']:.4f}, "
        f"worst landmark error {worst['landmarks']:.2e} of the box width, worst score "
        f"difference {worst['score']:.1e}, worst rounded-box difference {worst['box']}px"
    )
    return ok and identical == len(images)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="a Python with mtcnn + tensorflow-cpu")
    parser.add_argument("--write-fixture", action="store_true", help=f"write {FIXTURE}")
    parser.add_argument("--n-images", type=int, default=10, help="benchmark photos per size")
    args = parser.parse_args(argv)

    fixture_images = _load(ROOT / "tests" / "test_mtcnn.py", "test_mtcnn").reference_images()
    bench = _load(Path(__file__).with_name("bench_mtcnn.py"), "bench_mtcnn")
    images = dict(fixture_images)
    images.update(variant_images())
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
