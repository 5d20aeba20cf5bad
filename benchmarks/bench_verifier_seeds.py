"""How FaceVerifier's verdicts vary with the random seed: the table in its docstring.

Trains ``FaceVerifier(module__width=16, max_epochs=20)`` with ``--seeds`` seeds,
with and without histogram equalisation, on 70% of ``make_face_patches(300)``
without the "coffee" and "rocket" scenes, then prints for each threshold:

* held-out accuracy at threshold 0.5 (mean over seeds);
* the share of real faces from elsewhere accepted: Haar crops of scikit-image's
  astronaut and of matplotlib's Grace Hopper photo (2 verdicts per seed);
* the share of 60 random patches of the unseen scenes rejected.

Run with ``python benchmarks/bench_verifier_seeds.py [--seeds 10]`` (about 10 s
per fit on one core).
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import cbook
from skimage import data as skdata
from sklearn.model_selection import train_test_split

from fer_toolkit.datasets import BACKGROUND_SCENES, make_face_patches
from fer_toolkit.datasets.face_patches import background_patches
from fer_toolkit.detection import HaarCascadeDetector
from fer_toolkit.estimators import FaceVerifier
from fer_toolkit.preprocessing import crop_box

UNSEEN_SCENES = ("coffee", "rocket")
THRESHOLDS = (0.1, 0.2, 0.3, 0.5)


def face_crop(image):
    """The largest Haar face, squared: what ``as_filter()`` hands the network."""
    detections = HaarCascadeDetector().detect(image)
    x, y, w, h = detections.boxes[detections.largest()]
    side = max(w, h)
    return crop_box(image, (x + (w - side) // 2, y + (h - side) // 2, side, side), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per setting (default 10)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    scenes = [name for name in BACKGROUND_SCENES if name not in UNSEEN_SCENES]
    patches = make_face_patches(300, scenes=scenes, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(
        patches.images, patches.target, test_size=0.3, stratify=patches.target, random_state=0
    )
    faces = [
        face_crop(skdata.astronaut()),
        face_crop(plt.imread(cbook.get_sample_data("grace_hopper.jpg"))),
    ]
    rng = np.random.RandomState(1)
    background = list(
        np.concatenate([background_patches(name, 30, 64, rng) for name in UNSEEN_SCENES])
    )

    print(f"{args.seeds} seeds; faces: 2 per seed; background: {len(background)} patches")
    print("equalize  accuracy@0.5  " + "  ".join(f"t={t}: faces / bg" for t in THRESHOLDS))
    for equalize in (True, False):
        accuracy, face_probs, bg_probs = [], [], []
        for seed in range(args.seeds):
            verifier = FaceVerifier(
                module__width=16, max_epochs=20, equalize=equalize, device="cpu", random_state=seed
            ).fit(X_train, y_train)
            accuracy.append(verifier.set_params(threshold=0.5).score(X_test, y_test))
            face_probs.append(verifier.face_probability(faces))
            bg_probs.append(verifier.face_probability(background))
        face_probs, bg_probs = np.concatenate(face_probs), np.concatenate(bg_probs)
        cells = [
            f"{(face_probs >= t).mean():.2f} / {(bg_probs < t).mean():.3f}" for t in THRESHOLDS
        ]
        print(f"{equalize!s:8}  {np.mean(accuracy):.3f}         " + "        ".join(cells))


if __name__ == "__main__":
    main()
