"""Train fer_toolkit's own frontal-face cascade from data that ships with pip packages.

This script produced ``cascades/fer_toolkit_frontalface.xml``; ``cascades/README.md``
gives the command and the training log summary.

* **Positives**: the 100 faces of ``skimage.data.lfw_subset()`` (25x25) and their
  mirror images, each resized to the window (``INTER_AREA``, as
  ``opencv_createsamples -info`` does) and also turned into ``--distortions``
  createsamples-style samples (:func:`fer_toolkit.cascade.samples_from_image`:
  random 3-D rotation of up to 0.3/0.3/0.2 rad, grey-level shift of up to 25, drawn
  over windows of the background photos), written to ``pos.vec``.
* **Negatives**: photos without people from ``skimage.data``, scikit-learn's sample
  images and matplotlib's sample data, each also mirrored and turned by 90 degrees,
  and a mosaic of ``lfw_subset()``'s 100 non-face patches, listed in ``bg.txt``.
  ``astronaut()`` and ``camera()`` show people: they are left out, and serve as the
  held-out check at the end.
* **Training**: :func:`fer_toolkit.cascade.train_cascade` with OpenCV's defaults
  except for the options below (the equivalent command line is printed first).

Usage::

    python benchmarks/train_own_cascade.py --out /tmp/own_cascade [--install]

``--install`` copies the trained ``cascade.xml`` to ``cascades/fer_toolkit_frontalface.xml``.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
from skimage import data
from sklearn.datasets import load_sample_image

from fer_toolkit.cascade import samples_from_image, train_cascade, write_bg, write_vec

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "cascades" / "fer_toolkit_frontalface.xml"

# skimage.data images without people (astronaut and camera are the held-out faces).
SKIMAGE_BACKGROUNDS = (
    "coffee",
    "rocket",
    "chelsea",
    "coins",
    "moon",
    "page",
    "text",
    "hubble_deep_field",
    "immunohistochemistry",
    "grass",
    "gravel",
    "brick",
    "colorwheel",
    "retina",
    "clock",
    "cell",
    "logo",
    "microaneurysms",
)


#: The createsamples-style distortion of the positives (OpenCV's flags in ``samples_from_image``).
DISTORTION = dict(
    bg_color=0, bg_thresh=0, max_intensity_dev=25, max_x_angle=0.3, max_y_angle=0.3, max_z_angle=0.2
)


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = np.round((image - lo) * (255.0 / (hi - lo or 1.0))).astype(np.uint8)
    return image


def background_images() -> dict[str, np.ndarray]:
    """Face-free grayscale photos from the installed packages, by name."""
    images = {name: _gray(getattr(data, name)()) for name in SKIMAGE_BACKGROUNDS}
    left, right, _ = data.stereo_motorcycle()
    images["motorcycle_left"], images["motorcycle_right"] = _gray(left), _gray(right)
    for name in ("china.jpg", "flower.jpg"):
        images[name.split(".")[0]] = _gray(load_sample_image(name))
    for name in ("Minduka_Present_Blue_Pack.png", "logo2.png"):
        with matplotlib.cbook.get_sample_data(name) as f:
            buffer = np.frombuffer(f.read(), np.uint8)
        images[name.split(".")[0]] = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    dem = matplotlib.cbook.get_sample_data("jacksboro_fault_dem.npz")  # an open NpzFile
    images["jacksboro_fault_dem"] = _gray(dem["elevation"])
    patches = (data.lfw_subset()[100:] * 255).round().astype(np.uint8)
    images["lfw_non_faces"] = (
        patches.reshape(10, 10, 25, 25).transpose(0, 2, 1, 3).reshape(250, 250)
    )
    return images


def write_backgrounds(folder: Path) -> Path:
    """Each background, its mirror image and a 90-degree turn, as PNG files plus bg.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in background_images().items():
        for suffix, variant in (
            ("", image),
            ("_flip", image[:, ::-1]),
            ("_rot90", np.rot90(image)),
        ):
            path = folder / f"{name}{suffix}.png"
            cv2.imwrite(str(path), np.ascontiguousarray(variant))
            paths.append(path)
    write_bg(folder / "bg.txt", paths)
    return folder / "bg.txt"


def positive_samples(size: int, distortions: int, backgrounds, seed: int) -> np.ndarray:
    """lfw faces and mirror images, plain and distorted, ``(n, size, size)`` uint8."""
    faces = (data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    faces = np.concatenate([faces, faces[:, :, ::-1]])
    rng = np.random.default_rng(seed)
    samples = [np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces])]
    for face in faces:
        samples.append(
            samples_from_image(
                np.ascontiguousarray(face),
                num=distortions,
                width=size,
                height=size,
                bg=backgrounds,
                **DISTORTION,
                random_state=rng,
            )
        )
    stacked = np.concatenate(samples)
    # Interleave so that every prefix of the .vec holds all the faces.
    return stacked[rng.permutation(len(stacked))]


def held_out_check(path: Path) -> None:
    """Faces found by cv2.CascadeClassifier in the two skimage photos with people."""
    classifier = cv2.CascadeClassifier(str(path))
    for name in ("astronaut", "camera"):
        image = _gray(getattr(data, name)())
        for neighbors in (3, 5):
            boxes = classifier.detectMultiScale(image, 1.1, neighbors, minSize=(40, 40))
            print(f"{name} minNeighbors={neighbors}: {np.asarray(boxes).tolist()}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/own_cascade"))
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--distortions", type=int, default=14)
    parser.add_argument("--num-pos", type=int, default=2400)
    parser.add_argument("--num-neg", type=int, default=2400)
    parser.add_argument("--num-stages", type=int, default=20)
    parser.add_argument("--mode", default="BASIC")
    parser.add_argument("--precalc", type=float, default=2048, help="both buffers, MB")
    parser.add_argument("--max-neg-windows", type=int, default=20_000_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--install", action="store_true")
    args = parser.parse_args(argv)

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    bg = write_backgrounds(out / "bg")
    backgrounds = list(background_images().values())
    positives = positive_samples(args.size, args.distortions, backgrounds, args.seed)
    write_vec(out / "pos.vec", positives)
    print(f"{len(positives)} positives in {out / 'pos.vec'}; backgrounds listed in {bg}")
    print(
        f"train_cascade({str(out / 'data')!r}, {str(out / 'pos.vec')!r}, {str(bg)!r}, "
        f"num_pos={args.num_pos}, num_neg={args.num_neg}, num_stages={args.num_stages}, "
        f"width={args.size}, height={args.size}, mode={args.mode!r}, "
        f"precalc_val_buf_size={args.precalc:g}, precalc_idx_buf_size={args.precalc:g}, "
        f"random_state={args.seed}, max_neg_windows={args.max_neg_windows})"
    )
    with open(out / "train.log", "a") as log:

        def progress(line: str) -> None:
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()

        start = time.perf_counter()
        result = train_cascade(
            out / "data",
            out / "pos.vec",
            bg,
            num_pos=args.num_pos,
            num_neg=args.num_neg,
            num_stages=args.num_stages,
            width=args.size,
            height=args.size,
            mode=args.mode,
            precalc_val_buf_size=args.precalc,
            precalc_idx_buf_size=args.precalc,
            device=args.device,
            random_state=args.seed,
            max_neg_windows=args.max_neg_windows,
            progress=progress,
        )
    minutes = (time.perf_counter() - start) / 60
    print(f"\n{len(result.cascade.stages)} stages in {minutes:.1f} min: {result.stop_reason}")
    print("stage  weak  acceptance ratio  seconds")
    for report in result.stages:
        print(
            f"{report.index:5d} {report.weak_count:5d} {report.acceptance_ratio:17.3g} "
            f"{report.seconds:8.1f}"
        )
    held_out_check(result.path)
    if args.install:
        shutil.copyfile(result.path, TARGET)
        print(f"installed as {TARGET}")


if __name__ == "__main__":
    main()
