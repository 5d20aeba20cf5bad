"""Run the reference TensorFlow ``mtcnn`` package on images and dump its detections as JSON.

This script runs in a *scratch* virtual environment that has the PyPI
packages ``mtcnn`` and ``tensorflow-cpu`` (TensorFlow is no dependency of
fer_toolkit), for example::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install mtcnn tensorflow-cpu
    /tmp/tfvenv/bin/python benchmarks/mtcnn_reference.py images.npz --out reference.json

``images.npz`` holds named uint8 RGB arrays ``(H, W, 3)``, as written by
``compare_mtcnn_reference.py`` and ``bench_mtcnn.py``, which call this script.
Each image goes through ``MTCNN().detect_faces(image, output_type="numpy")``
with the package's defaults, one image per call. With ``--repeats N`` every
image is also timed over N further calls (after one warm-up call), and the
medians of the wall-clock and of the process CPU seconds per image are
recorded; ``--threads`` sets TensorFlow's intra- and inter-op thread counts.

The JSON holds, per image name, the shape and the faces: ``box`` as
``[x, y, w, h]`` floats (clipped to the image as the package does, not yet
rounded), ``confidence``, and ``landmarks`` as five ``[x, y]`` pairs (left eye,
right eye, nose, mouth left, mouth right).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def detect(detector, image: np.ndarray) -> list[dict]:
    rows = detector.detect_faces(image, output_type="numpy")
    faces = []
    for row in np.asarray(rows).reshape(-1, 16):
        faces.append(
            {
                "box": [float(v) for v in row[1:5]],
                "confidence": float(row[5]),
                "landmarks": [[float(row[6 + k]), float(row[11 + k])] for k in range(5)],
            }
        )
    return faces


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", help=".npz file of named uint8 RGB images")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--repeats", type=int, default=0, help="timed calls per image")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow CPU threads")
    args = parser.parse_args(argv)

    import importlib.metadata

    import mtcnn
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    detector = mtcnn.MTCNN()
    images = np.load(args.images)
    result = {
        "package": f"mtcnn {importlib.metadata.version('mtcnn')}",
        "tensorflow": tf.__version__,
        "images": {},
    }
    for name in images.files:
        image = images[name]
        entry = {"shape": list(image.shape), "faces": detect(detector, image)}
        if args.repeats:
            wall, cpu = [], []
            for _ in range(args.repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                detector.detect_faces(image, output_type="numpy")
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
            entry["seconds"] = float(np.median(wall))
            entry["cpu_seconds"] = float(np.median(cpu))
        result["images"][name] = entry
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
