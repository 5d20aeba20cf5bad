"""PyTorch work with and without CPU-bound background processes, by thread setting.

Each measurement runs in a fresh Python process (the OpenMP wait policy is
read once, when ``torch`` loads) under one of these settings:

``defaults``
    nothing set: what a user gets (``OMP_WAIT_POLICY=PASSIVE`` from
    ``import fer_toolkit``, thread counts from the free cores per call);
``1 thread`` / ``2 threads``
    ``FER_TOOLKIT_NUM_THREADS=1`` / ``2`` (still waiting passively);
``2 spinning``
    the behaviour before ``fer_toolkit.utils.threads``: ``torch`` imported
    first with OpenMP's own wait policy, 2 threads.

Work (``--tasks``), timed after a warm-up in that process:

``mtcnn``
    ``MTCNN(device="cpu").detect`` on 3 photos: ``skimage.data.astronaut()``
    (512x512), ``camera()`` (512x512, grayscale) and a 1000x667 photo of
    ``bench_mtcnn.py`` (the astronaut's head on ``coffee``);
``cnn_fit`` / ``cnn_predict``
    ``CNNClassifier()`` (baseline network), 1 epoch over ``--cnn-images``
    synthetic 48x48 faces (5 classes), then ``predict`` on them;
``pretext``
    ``RotationPretext(max_epochs=1)`` on ``--cnn-images // 4`` of them;
``cascade``
    ``train_cascade``: 100 LFW faces of 24x24, 100 negatives, 2 stages
    (``bench_cascade.py``'s backgrounds);
``fer_epoch`` (not run by default)
    one FER2013-sized epoch (28,709 images of 48x48, 5 classes) of
    ``CNNClassifier("conv4_dense3", validation_fraction=None)``;
``grid`` (not run by default)
    ``GridSearchCV(n_jobs=1)`` then ``GridSearchCV(n_jobs=2)`` (2 x 2 fits)
    over ``HaarFaceCropper(n_jobs=2) -> CNNClassifier`` and over
    ``MTCNNFaceCropper -> CNNClassifier`` on 96x96 synthetic faces; the
    speed-up n_jobs=1 / n_jobs=2 is reported (2 cores: ideal 2).

The load generator (``--background`` CPU-bound processes, 2 by default)
starts before the "loaded" runs and stops after them; quiet and loaded rounds
alternate, ``--repeats`` times. The table gives the median seconds per work
and setting, the ratio to the best single-thread time, and the 1-minute load
average read when each round ended (other users of the machine count too).

Usage::

    python benchmarks/bench_threads.py [--repeats 2] [--tasks mtcnn cnn_fit ...]
        [--cnn-images 2048] [--background 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = ("mtcnn", "cnn_fit", "cnn_predict", "pretext", "cascade", "grid", "fer_epoch")
FER2013_TRAIN_SIZE = 28_709
SETTINGS = {
    "defaults": {},
    "1 thread": {"FER_TOOLKIT_NUM_THREADS": "1"},
    "2 threads": {"FER_TOOLKIT_NUM_THREADS": "2"},
    "2 spinning": {"FER_TOOLKIT_NUM_THREADS": "2", "BENCH_TORCH_FIRST": "1"},
}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# ------------------------------------------------------------------ worker side
def _import_estimators() -> None:
    import fer_toolkit.estimators
    import fer_toolkit.preprocessing  # noqa: F401


def run_tasks(tasks: list[str], cnn_images: int, folder: Path) -> dict[str, float]:
    """Seconds per task in this process (each after its own warm-up)."""
    import cv2
    import numpy as np
    from skimage import data

    from fer_toolkit.datasets import make_synthetic_faces
    from fer_toolkit.estimators import CNNClassifier

    out = {}
    if "mtcnn" in tasks:
        from fer_toolkit.detection import MTCNN

        photos = [
            data.astronaut(),
            data.camera(),
            _load("bench_mtcnn").make_photos(1000, 667, 1)[0],
        ]
        detector = MTCNN(device="cpu")
        detector.detect(photos[0])
        out["mtcnn"] = _timed(lambda: [detector.detect(p) for p in photos])
    if {"cnn_fit", "cnn_predict", "pretext"} & set(tasks):
        X, y = make_synthetic_faces(
            cnn_images,
            classes=("angry", "happy", "sad", "surprise", "neutral"),
            random_state=0,
            return_X_y=True,
        )
        clf = CNNClassifier(max_epochs=1, device="cpu", random_state=0)
        clf.fit(X[:64], y[:64])  # warm-up
        out["cnn_fit"] = _timed(lambda: clf.fit(X, y))
        if "cnn_predict" in tasks:
            out["cnn_predict"] = _timed(lambda: clf.predict(X))
        if "pretext" in tasks:
            from fer_toolkit.estimators import RotationPretext

            pretext = RotationPretext(max_epochs=1, device="cpu", random_state=0)
            pretext.fit(X[:64])
            out["pretext"] = _timed(lambda: pretext.fit(X[: cnn_images // 4]))
    if "fer_epoch" in tasks:
        rng = np.random.default_rng(0)
        X = rng.integers(0, 256, size=(FER2013_TRAIN_SIZE, 48, 48), dtype=np.uint8)
        y = rng.choice(["angry", "happy", "sad", "surprise", "neutral"], FER2013_TRAIN_SIZE)
        clf = CNNClassifier(
            "conv4_dense3", max_epochs=1, validation_fraction=None, device="cpu", random_state=0
        )
        out["fer_epoch"] = _timed(lambda: clf.fit(X, y))
    if "cascade" in tasks:
        from fer_toolkit.cascade import train_cascade

        vec, bg = folder / "faces.vec", folder / "bg.txt"
        recipe = dict(num_pos=90, num_neg=100, num_stages=2, width=24, height=24)
        with tempfile.TemporaryDirectory() as scratch:
            out["cascade"] = _timed(
                lambda: train_cascade(
                    Path(scratch), vec, bg, **recipe, device="cpu", random_state=0, progress=None
                )
            )
    if "grid" in tasks:
        from joblib import Parallel, delayed
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline

        from fer_toolkit.preprocessing import HaarFaceCropper, MTCNNFaceCropper

        X, y = make_synthetic_faces(
            256, classes=("happy", "sad"), image_size=96, random_state=0, return_X_y=True
        )
        X = np.stack([cv2.cvtColor(x, cv2.COLOR_GRAY2RGB) for x in X]) if X.ndim == 3 else X
        croppers = {
            "haar": HaarFaceCropper(output_size=48, n_jobs=2),
            "mtcnn": MTCNNFaceCropper(output_size=48, device="cpu"),
        }
        # Start the two worker processes (imports included) before timing; joblib
        # reuses them for both searches.
        Parallel(n_jobs=2)(delayed(_import_estimators)() for _ in range(2))
        for name, cropper in croppers.items():
            pipeline = make_pipeline(cropper, CNNClassifier(max_epochs=2, device="cpu"))
            grid = {"cnnclassifier__lr": [1e-3, 3e-3]}
            for n_jobs in (1, 2):
                search = GridSearchCV(pipeline, grid, cv=2, n_jobs=n_jobs)
                out[f"grid_{name}_jobs{n_jobs}"] = _timed(lambda s=search: s.fit(X, y))
    return out


def worker(args) -> None:
    if os.environ.get("BENCH_TORCH_FIRST"):
        import torch  # noqa: F401  (before fer_toolkit: OpenMP keeps its own wait policy)
    import fer_toolkit  # noqa: F401

    print(json.dumps(run_tasks(args.tasks, args.cnn_images, Path(args.folder))))


# ------------------------------------------------------------------ driver side
def run_setting(name: str, args, folder: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    if name == "2 spinning":
        env = {k: v for k, v in env.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    env.pop("FER_TOOLKIT_NUM_THREADS", None)
    env.update(SETTINGS[name])
    # The workers measure the checkout this script is in, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--worker", "--folder", str(folder)]
    # The grid search is measured with the defaults only.
    tasks = [t for t in args.tasks if t != "grid" or name == "defaults"]
    command += ["--cnn-images", str(args.cnn_images), "--tasks", *tasks]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"worker for {name!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Background:
    """``n`` CPU-bound processes for the duration of a ``with`` block."""

    def __init__(self, n: int):
        self.n = n
        self.processes: list[subprocess.Popen] = []

    def __enter__(self):
        code = "while True: pass"
        self.processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()


def write_cascade_inputs(folder: Path) -> None:
    bench_cascade = _load("bench_cascade")
    bench_cascade.write_recipe(folder)


def report(results, loads, args) -> None:
    import numpy as np

    print(
        f"\n{os.cpu_count()} cores; {args.repeats} rounds per load, medians in seconds; "
        f"ratio = setting / best of '1 thread' in that load; load average = 1-minute "
        "values read at the end of each round"
    )
    for load in ("quiet", "loaded"):
        print(f"\n## {load} (load average {', '.join(f'{v:.1f}' for v in loads[load])})")
        runs = [r for name in SETTINGS for r in results[load][name]]
        rows = sorted(set.intersection(*(set(r) for r in runs)))
        grid = set(results[load]["defaults"][0]) if "defaults" in SETTINGS else set()
        print("| work | " + " | ".join(SETTINGS) + " |")
        print("| --- |" + " ---: |" * len(SETTINGS))
        for key in rows:
            medians = {
                name: float(np.median([r[key] for r in results[load][name]])) for name in SETTINGS
            }
            single = min(r[key] for r in results[load]["1 thread"])
            cells = [f"{medians[name]:.2f} ({medians[name] / single:.2f}x)" for name in SETTINGS]
            print(f"| {key} | " + " | ".join(cells) + " |")
        for name in ("haar", "mtcnn"):
            key1, key2 = f"grid_{name}_jobs1", f"grid_{name}_jobs2"
            if key1 in grid:
                speedups = [r[key1] / r[key2] for r in results[load]["defaults"]]
                print(
                    f"GridSearchCV over {name} cropper + CNN, defaults: n_jobs=1 / n_jobs=2 = "
                    f"{float(np.median(speedups)):.2f}x"
                )
    sys.stdout.flush()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS[:-2]), choices=TASKS)
    parser.add_argument("--cnn-images", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--background", type=int, default=2, help="CPU-bound processes")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    if "1 thread" not in args.settings:
        args.settings.append("1 thread")
    for name in list(SETTINGS):
        if name not in args.settings:
            del SETTINGS[name]
    results = {load: {name: [] for name in SETTINGS} for load in ("quiet", "loaded")}
    loads = {"quiet": [], "loaded": []}
    with tempfile.TemporaryDirectory() as folder:
        if "cascade" in args.tasks:
            write_cascade_inputs(Path(folder))
        for round_ in range(args.repeats):
            for load in ("quiet", "loaded"):
                with Background(args.background if load == "loaded" else 0):
                    order = list(SETTINGS) if round_ % 2 == 0 else list(SETTINGS)[::-1]
                    for name in order:
                        result = run_setting(name, args, Path(folder))
                        results[load][name].append(result)
                        print(f"round {round_ + 1} {load:6s} {name:10s} {result}", flush=True)
                    loads[load].append(os.getloadavg()[0])
    report(results, loads, args)


if __name__ == "__main__":
    main()
