"""Speed of fer_toolkit's PyTorch MTCNN on photos and video, against the TensorFlow package.

Inputs, all built from ``skimage.data`` (deterministic):

* photos of 512x512 and of 1000x667: a background photo (``coffee``, ``rocket``,
  ``chelsea``, ``immunohistochemistry`` or ``hubble_deep_field``, scaled to
  cover the frame and cropped) with the astronaut's head and shoulders
  (``astronaut()[:300, 100:400]``, a face of ~0.3 of its side) pasted at a
  random size (1/3 to 2/3 of the frame height) and place, mirrored half of the
  time: one face per photo;
* a 640x480 MJPG video written with ``cv2.VideoWriter`` to a temporary folder:
  the astronaut's head drifting across the ``rocket`` photo, read back with
  ``cv2.VideoCapture`` while detecting (decoding is included in frames/s).

Timed variants: one ``detect`` call per image, and ``detect_batch`` on the
whole set (video: on chunks of ``--video-batch`` frames as they are read).
With ``--reference-python`` (a Python with ``mtcnn`` and ``tensorflow-cpu``,
for example a scratch venv ``/tmp/tfvenv/bin/python``) the same photos and the
first video frames also go through ``mtcnn.MTCNN().detect_faces`` in a
subprocess (``mtcnn_reference.py``), and the speed ratio ours/theirs is printed.

``--background N`` keeps N CPU-bound processes running during all the
measurements (``bench_threads.py``'s load generator), to time both
implementations on a busy machine.

Usage::

    python benchmarks/bench_mtcnn.py [--device cpu] [--n-images 20] [--repeats 3]
        [--threads N] [--reference-python /tmp/tfvenv/bin/python] [--background 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# fer_toolkit before torch: its OpenMP wait policy applies only then (as for users).
from fer_toolkit.detection import MTCNN

# isort: split
import cv2
import numpy as np
import torch
from skimage import data

HERE = Path(__file__).resolve().parent
PHOTO_SIZES = {"512x512": (512, 512), "1000x667": (1000, 667)}  # (width, height)
VIDEO_SIZE = (640, 480)


def _backgrounds() -> list[np.ndarray]:
    return [
        data.coffee(),
        data.rocket(),
        data.chelsea(),
        data.immunohistochemistry(),
        data.hubble_deep_field(),
    ]


def _cover(scene: np.ndarray, width: int, height: int, zoom: float = 1.0) -> np.ndarray:
    scale = max(width / scene.shape[1], height / scene.shape[0]) * zoom
    return cv2.resize(scene, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)


def make_photos(width: int, height: int, n_images: int, seed: int = 0) -> list[np.ndarray]:
    """``n_images`` RGB photos of ``width x height``, each with the astronaut's face pasted in."""
    rng = np.random.default_rng(seed)
    person = data.astronaut()[:300, 100:400]
    backgrounds = _backgrounds()
    photos = []
    for i in range(n_images):
        scene = _cover(backgrounds[i % len(backgrounds)], width, height, rng.uniform(1.0, 1.3))
        top = rng.integers(0, scene.shape[0] - height + 1)
        left = rng.integers(0, scene.shape[1] - width + 1)
        canvas = scene[top : top + height, left : left + width].copy()
        side = int(rng.integers(height // 3, 2 * height // 3))
        pasted = cv2.resize(person, (side, side), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            pasted = pasted[:, ::-1]
        y, x = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        canvas[y : y + side, x : x + side] = pasted
        photos.append(canvas)
    return photos


def write_video(path: str, n_frames: int) -> None:
    """A 640x480 MJPG clip of the astronaut's head drifting across the rocket photo."""
    width, height = VIDEO_SIZE
    scene = _cover(data.rocket(), width, height)[:height, :width]
    head = cv2.resize(data.astronaut()[:300, 100:400], (220, 220), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
    try:
        for i in range(n_frames):
            frame = scene.copy()
            x = int((width - 220) * (0.5 + 0.5 * np.sin(i / 15)))
            y = int((height - 220) * (0.5 + 0.5 * np.cos(i / 23)))
            frame[y : y + 220, x : x + 220] = head
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def read_frames(path: str, chunk: int):
    """Yield lists of up to ``chunk`` RGB frames read with ``cv2.VideoCapture``."""
    capture = cv2.VideoCapture(path)
    try:
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if len(frames) == chunk:
                yield frames
                frames = []
        if frames:
            yield frames
    finally:
        capture.release()


def _timed(run, count: int) -> tuple[float, float]:
    """Wall-clock and process CPU seconds per item of one call of ``run``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    run()
    return (time.perf_counter() - start) / count, (time.process_time() - start_cpu) / count


def time_photos(detector: MTCNN, photos: list[np.ndarray], repeats: int):
    """Per run, (wall, CPU) seconds per image: one call per image, and one batch call."""
    runs = {"detect": [], "detect_batch": []}
    for _ in range(repeats):
        runs["detect"].append(_timed(lambda: [detector.detect(p) for p in photos], len(photos)))
        runs["detect_batch"].append(_timed(lambda: detector.detect_batch(photos), len(photos)))
    return runs


def time_video(detector: MTCNN, path: str, repeats: int, batch: int, n_frames: int):
    """Per run, (wall, CPU) seconds per frame, decoding included: frame by frame and in batches."""
    runs = {"detect": [], "detect_batch": []}

    def single():
        for (frame,) in read_frames(path, 1):
            detector.detect(frame)

    def batched():
        for frames in read_frames(path, batch):
            detector.detect_batch(frames)

    for _ in range(repeats):
        runs["detect"].append(_timed(single, n_frames))
        runs["detect_batch"].append(_timed(batched, n_frames))
    return runs


def run_reference(python: str, images: dict[str, np.ndarray], repeats: int, threads: int | None):
    """The TensorFlow package's median (wall, CPU) seconds per image, timed in a subprocess."""
    script = Path(__file__).with_name("mtcnn_reference.py")
    with tempfile.TemporaryDirectory() as folder:
        npz, out = os.path.join(folder, "images.npz"), os.path.join(folder, "reference.json")
        np.savez(npz, **images)
        command = [python, str(script), npz, "--out", out, "--repeats", str(repeats)]
        if threads:
            command += ["--threads", str(threads)]
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
        result = json.loads(Path(out).read_text())
    times = {name: (e["seconds"], e["cpu_seconds"]) for name, e in result["images"].items()}
    return result, times


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="'cpu', 'cuda', 'auto'... (default cpu)")
    parser.add_argument("--n-images", type=int, default=20, help="photos per size")
    parser.add_argument("--frames", type=int, default=100, help="frames of the test video")
    parser.add_argument("--video-batch", type=int, default=16, help="frames per detect_batch")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--batch-size", type=int, default=512, help="MTCNN(batch_size=...)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch/OpenCV (and TensorFlow) CPU threads"
    )
    parser.add_argument(
        "--reference-python",
        default=None,
        help="a Python with mtcnn + tensorflow-cpu: also time the TensorFlow package",
    )
    parser.add_argument(
        "--reference-frames", type=int, default=20, help="video frames timed with TensorFlow"
    )
    parser.add_argument(
        "--background",
        type=int,
        default=0,
        help="CPU-bound processes kept running during the measurements (both implementations)",
    )
    args = parser.parse_args(argv)
    spec = importlib.util.spec_from_file_location("bench_threads", HERE / "bench_threads.py")
    bench_threads = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_threads)
    with bench_threads.Background(args.background):
        measure_all(args)


def measure_all(args):
    if args.threads:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    detector = MTCNN(device=args.device, batch_size=args.batch_size)
    photos = {name: make_photos(w, h, args.n_images) for name, (w, h) in PHOTO_SIZES.items()}
    detector.detect(photos["512x512"][0])  # build the networks, warm up
    load_before = load_average()
    video_name = f"video {VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}"

    with tempfile.TemporaryDirectory() as folder:
        video = os.path.join(folder, "clip.avi")
        write_video(video, args.frames)

        def measure(runs):
            for name, images in photos.items():
                for mode, times in time_photos(detector, images, args.repeats).items():
                    runs.setdefault(name, {}).setdefault(mode, []).extend(times)
            video_runs = time_video(detector, video, args.repeats, args.video_batch, args.frames)
            for mode, times in video_runs.items():
                runs.setdefault(video_name, {}).setdefault(mode, []).extend(times)

        ours: dict[str, dict[str, list]] = {}
        measure(ours)
        theirs = {}
        if args.reference_python:
            first_frames = next(read_frames(video, args.reference_frames))
            images = {f"{name}_{i}": im for name, ims in photos.items() for i, im in enumerate(ims)}
            images.update({f"{video_name}_{i}": frame for i, frame in enumerate(first_frames)})
            info, seconds = run_reference(args.reference_python, images, args.repeats, args.threads)
            for name in ours:
                per_image = [t for key, t in seconds.items() if key.rsplit("_", 1)[0] == name]
                theirs[name] = tuple(np.mean(per_image, axis=0))
            measure(ours)  # again after TensorFlow, so that both see similar machine loads
    load_after = load_average()

    device = detector._networks().device
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), OpenCV {cv2.__version__}, "
        f"Python {platform.python_version()}; device: {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(
        f"{args.background} CPU-bound background processes; "
        f"load average (1, 5, 15 min) before: {load_before}; after: {load_after}"
    )
    print(
        f"{args.n_images} photos per size, {args.frames} video frames read with cv2.VideoCapture "
        f"(batches of {args.video_batch}); medians of {len(next(iter(ours.values()))['detect'])} "
        "runs. Speed in images (frames) per second, CPU time in ms per image (all threads)."
    )
    if theirs:
        print(
            f"reference: {info['package']}, TensorFlow {info['tensorflow']}, one image per call, "
            f"{args.reference_frames} video frames; ratio = ours (detect) / TensorFlow"
        )
    header = f"  {'input':15s} {'detect':>7s} {'cpu ms':>7s} {'batch':>7s} {'cpu ms':>7s}"
    if theirs:
        header += f" {'TF':>7s} {'cpu ms':>7s} {'ratio':>6s} {'cpu ratio':>10s}"
    print(header)
    for name, modes in ours.items():
        (single, single_cpu), (batch, batch_cpu) = (
            np.median(modes[mode], axis=0) for mode in ("detect", "detect_batch")
        )
        line = (
            f"  {name:15s} {1 / single:7.1f} {1000 * single_cpu:7.1f} "
            f"{1 / batch:7.1f} {1000 * batch_cpu:7.1f}"
        )
        if theirs:
            tf_wall, tf_cpu = theirs[name]
            line += (
                f" {1 / tf_wall:7.1f} {1000 * tf_cpu:7.1f} "
                f"{tf_wall / single:5.1f}x {tf_cpu / single_cpu:9.1f}x"
            )
        print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
