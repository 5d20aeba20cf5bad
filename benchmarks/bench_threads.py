"""PyTorch work with and without CPU-bound background processes, by thread setting.

One command gives the table of issue "fast on a busy machine": every work
below, under every setting, quiet and loaded, rounds alternated::

    python benchmarks/bench_threads.py --size quick

(``--size quick``: 706 s on a partly loaded 2-core machine, less on an idle
one; ``--size full``: the work sizes of the figures in ``docs/benchmarks.md``
of 2026-12-02 morning, about 3 times as long).

Each measurement runs in a fresh Python process (OpenMP reads its wait policy
once, when ``torch`` loads) under one of these settings:

``defaults``
    nothing set: what a user gets (OpenMP's own spinning wait, thread counts
    from the free cores per call and per batch);
``1 thread`` / ``2 threads``
    ``FER_TOOLKIT_NUM_THREADS=1`` / ``2`` (otherwise the defaults);
``2 short spin``
    2 threads that spin briefly before sleeping (``GOMP_SPINCOUNT=10000``,
    GNU OpenMP: about 0.1 ms);
``passive`` (not run by default)
    ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads sleep (the package's
    default until 2026-12-03); CNN work then keeps both threads under load;
``no memory retention`` (not run by default)
    the defaults with ``FER_TOOLKIT_RETAIN_MEMORY=0``: training without
    :func:`fer_toolkit.utils.memory.retain_freed_memory`;
``baseline defaults`` (with ``--baseline DIR``)
    ``defaults`` with the ``fer_toolkit`` of another checkout (e.g. a
    worktree of the main branch), alternated with the others in the same
    run: a before/after comparison under the same load.

Work (``--tasks``), timed after a warm-up in that process:

``mtcnn``
    ``MTCNN(device="cpu").detect`` on 3 photos, repeated (``--size``):
    ``skimage.data.astronaut()`` (512x512), ``camera()`` (512x512,
    grayscale) and a 1000x667 photo of ``bench_mtcnn.py``;
``cnn_fit`` / ``cnn_predict``
    ``CNNClassifier()`` (baseline network), 1 epoch over synthetic 48x48
    faces (5 classes), then ``predict`` on them;
``conv4_fit`` (not run by default)
    ``CNNClassifier("conv4_dense3", validation_fraction=None)``, 1 epoch over
    the same faces: a network large enough for a second thread to pay
    (FER2013's model; 1 thread against 2 on a quiet machine);
``pretext``
    ``RotationPretext(max_epochs=1)`` on a quarter of them;
``cascade``
    ``train_cascade`` on LFW faces of 24x24 and ``bench_cascade.py``'s
    backgrounds (a few seconds: 140 faces, 300 negatives, 2 stages; 3 stages
    with ``--size full``), after a one-stage warm-up training in that process
    (which loads the compiled loops and warms the caches);
``grid`` (``defaults`` only)
    ``GridSearchCV(n_jobs=1)`` then ``GridSearchCV(n_jobs=2)`` (2 x 2 fits,
    ``refit=False``: the refit is one serial fit either way) over
    ``HaarFaceCropper(n_jobs=2) -> CNNClassifier(max_epochs=2)`` and over
    ``MTCNNFaceCropper -> CNNClassifier(max_epochs=2)`` on 96x96 synthetic
    faces, after one untimed fit in this process and in each of joblib's two
    workers; the speed-up n_jobs=1 / n_jobs=2 is reported (2 cores: ideal 2);
``fer_epoch`` / ``fer_epoch_amp`` (not run by default; ``defaults`` only)
    one FER2013-sized epoch (28,709 images of 48x48, 5 classes) of
    ``CNNClassifier("conv4_dense3", validation_fraction=None)``, in float32 or
    with ``amp=True`` (bfloat16 autocast): the whole ``fit`` of one epoch, and
    the epoch alone (skorch's ``history[-1, "dur"]``: without the pass of
    ``RecomputeBatchNorm`` at the end of ``fit``, one forward pass over the
    data that a fit of many epochs pays once), with the page faults and the
    system time of the fit (also run by ``no memory retention``).

Loads (``--loads``): ``quiet``; ``loaded``, with ``--background`` CPU-bound
processes (2 by default) running; ``quota`` (not run by default; Linux, as
root), no background processes but every worker started in a control group
whose CPU quota is ``--cpu-quota`` CPUs (1 by default): a container's
``--cpus`` on a host with more cores. The load generator
runs during the "loaded" rounds only; quiet and loaded rounds alternate, and
so does the order of the settings, ``--repeats`` times. The table gives the
median seconds per work and setting, its ratio to the best ``1 thread`` time
of that load, the median over rounds of its ratio to the ``1 thread`` time of
the same round (paired: the two ran within the same minutes, under the same
drift of the machine; under load single rounds move by 2x with which process gets
which core, and a median set against the luckiest round says more about
that luck than about the setting), and the 1-minute load average and
runnable-task count read before each round (other users of the machine count
too: a "quiet" round is only quiet on an otherwise idle machine).

Usage::

    python benchmarks/bench_threads.py [--size quick|full] [--repeats 2]
        [--tasks mtcnn cnn_fit ...] [--settings defaults "1 thread" ...]
        [--background 2] [--loads quiet loaded quota] [--cpu-quota 1]
        [--baseline DIR]
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
from contextlib import nullcontext
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = (
    "mtcnn",
    "cnn_fit",
    "cnn_predict",
    "conv4_fit",
    "pretext",
    "cascade",
    "grid",
    "fer_epoch",
    "fer_epoch_amp",
)
FER2013_TRAIN_SIZE = 28_709
SETTINGS = {
    "defaults": {},
    "1 thread": {"FER_TOOLKIT_NUM_THREADS": "1"},
    "2 threads": {"FER_TOOLKIT_NUM_THREADS": "2"},
    "2 short spin": {"FER_TOOLKIT_NUM_THREADS": "2", "GOMP_SPINCOUNT": "10000"},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "no memory retention": {"FER_TOOLKIT_RETAIN_MEMORY": "0"},
}
#: Settings run only when asked for: the passive OpenMP wait, and training without
#: fer_toolkit.utils.memory.
OPTIONAL_SETTINGS = ("passive", "no memory retention")
#: The setting that runs another checkout's fer_toolkit (``--baseline``), with its defaults.
BASELINE = "baseline defaults"
#: Work per size: MTCNN passes over the 3 photos, CNN images, cascade recipe, grid images.
SIZES = {
    "quick": dict(mtcnn_passes=3, cnn_images=1024, cascade=(140, 300, 2), grid_images=128),
    "full": dict(mtcnn_passes=5, cnn_images=2048, cascade=(140, 300, 3), grid_images=256),
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
def _warm_conv4_dense3(X, y, amp=False):
    """``CNNClassifier("conv4_dense3")`` for 1 epoch on all of ``X``, after a warm-up fit."""
    from fer_toolkit.estimators import CNNClassifier

    clf = CNNClassifier(
        "conv4_dense3",
        max_epochs=1,
        validation_fraction=None,
        device="cpu",
        amp=amp,
        random_state=0,
    )
    clf.fit(X[:64], y[:64])
    return clf


def _fit_clone(estimator, X, y) -> None:
    from sklearn.base import clone

    clone(estimator).fit(X, y)


def run_tasks(tasks: list[str], size: str, folder: Path) -> dict[str, float]:
    """Seconds per task in this process (each after its own warm-up)."""
    import cv2
    import numpy as np
    from skimage import data

    from fer_toolkit.datasets import make_synthetic_faces
    from fer_toolkit.estimators import CNNClassifier

    sizes = SIZES[size]
    cnn_images = sizes["cnn_images"]
    out = {}
    if "mtcnn" in tasks:
        from fer_toolkit.detection import MTCNN

        photos = [
            data.astronaut(),
            data.camera(),
            _load("bench_mtcnn").make_photos(1000, 667, 1)[0],
        ]
        detector = MTCNN(device="cpu")
        for photo in photos:  # warm-up: every pyramid shape once
            detector.detect(photo)
        passes = sizes["mtcnn_passes"]
        out["mtcnn"] = _timed(lambda: [detector.detect(p) for p in photos * passes])
    if {"cnn_fit", "cnn_predict", "conv4_fit", "pretext"} & set(tasks):
        X, y = make_synthetic_faces(
            cnn_images,
            classes=("angry", "happy", "sad", "surprise", "neutral"),
            random_state=0,
            return_X_y=True,
        )
        if {"cnn_fit", "cnn_predict"} & set(tasks):
            clf = CNNClassifier(max_epochs=1, device="cpu", random_state=0)
            clf.fit(X[:64], y[:64])  # warm-up
            out["cnn_fit"] = _timed(lambda: clf.fit(X, y))
        if "conv4_fit" in tasks:
            conv4 = _warm_conv4_dense3(X, y)
            out["conv4_fit"] = _timed(lambda: conv4.fit(X, y))
        if "cnn_predict" in tasks:
            out["cnn_predict"] = _timed(lambda: clf.predict(X))
        if "pretext" in tasks:
            from fer_toolkit.estimators import RotationPretext

            pretext = RotationPretext(max_epochs=1, device="cpu", random_state=0)
            pretext.fit(X[:64])
            out["pretext"] = _timed(lambda: pretext.fit(X[: cnn_images // 4]))
    for key in [task for task in ("fer_epoch", "fer_epoch_amp") if task in tasks]:
        rng = np.random.default_rng(0)
        X = rng.integers(0, 256, size=(FER2013_TRAIN_SIZE, 48, 48), dtype=np.uint8)
        y = rng.choice(["angry", "happy", "sad", "surprise", "neutral"], FER2013_TRAIN_SIZE)
        clf = _warm_conv4_dense3(X, y, amp=key == "fer_epoch_amp")
        import resource  # Unix only, like the page faults it counts

        before = resource.getrusage(resource.RUSAGE_SELF)
        out[key] = _timed(partial(clf.fit, X, y))
        after = resource.getrusage(resource.RUSAGE_SELF)
        out[f"{key}_alone"] = float(clf.history[-1, "dur"])
        out[f"{key}_faults"] = after.ru_minflt - before.ru_minflt
        out[f"{key}_system"] = after.ru_stime - before.ru_stime
    if "cascade" in tasks:
        from fer_toolkit.cascade import train_cascade

        num_pos, num_neg, num_stages = sizes["cascade"]
        vec, bg = folder / "pos.vec", folder / "bg.txt"

        def train(pos, neg, stages):
            with tempfile.TemporaryDirectory() as scratch:
                recipe = dict(num_pos=pos, num_neg=neg, num_stages=stages, width=24, height=24)
                train_cascade(
                    Path(scratch), vec, bg, **recipe, device="cpu", random_state=0, progress=None
                )

        train(40, 60, 1)  # warm-up: the compiled loops load on first use
        out["cascade"] = _timed(lambda: train(num_pos, num_neg, num_stages))
    if "grid" in tasks:
        from joblib import Parallel, delayed
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline

        from fer_toolkit.preprocessing import HaarFaceCropper, MTCNNFaceCropper

        X, y = make_synthetic_faces(
            sizes["grid_images"],
            classes=("happy", "sad"),
            image_size=96,
            random_state=0,
            return_X_y=True,
        )
        X = np.stack([cv2.cvtColor(x, cv2.COLOR_GRAY2RGB) for x in X]) if X.ndim == 3 else X
        croppers = {
            "haar": HaarFaceCropper(output_size=48, n_jobs=2),
            "mtcnn": MTCNNFaceCropper(output_size=48, device="cpu"),
        }
        for name, cropper in croppers.items():
            pipeline = make_pipeline(cropper, CNNClassifier(max_epochs=2, device="cpu"))
            # The first fit in a process costs several times a later one (measured:
            # 22 s against 4 s under load): fit once here and in both of joblib's worker
            # processes, which the searches reuse, before timing.
            _fit_clone(pipeline, X[:32], y[:32])
            Parallel(n_jobs=2)(delayed(_fit_clone)(pipeline, X[:32], y[:32]) for _ in range(2))
            grid = {"cnnclassifier__lr": [1e-3, 3e-3]}
            for n_jobs in (1, 2):
                # refit=False: the refit on all data is one serial fit whatever n_jobs.
                search = GridSearchCV(pipeline, grid, cv=2, n_jobs=n_jobs, refit=False)
                out[f"grid_{name}_jobs{n_jobs}"] = _timed(lambda s=search: s.fit(X, y))
    return out


def worker(args) -> None:
    print(json.dumps(run_tasks(args.tasks, args.size, Path(args.folder))))


# ------------------------------------------------------------------ driver side
#: Tasks measured with the defaults only (long, and about processes, not threads).
FER_EPOCHS = ("fer_epoch", "fer_epoch_amp")
DEFAULTS_ONLY = ("grid", *FER_EPOCHS)
#: The settings that run them.
DEFAULTS_LIKE = ("defaults", "passive", "no memory retention", BASELINE)


def run_setting(
    name: str, args, folder: Path, group: CpuQuotaGroup | None = None
) -> dict[str, float]:
    # Only the setting's own variables: none of the caller's thread settings.
    drop = {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT"}
    drop |= {"FER_TOOLKIT_NUM_THREADS", "FER_TOOLKIT_RETAIN_MEMORY"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(SETTINGS[name])
    # The workers measure the checkout this script is in (or --baseline's), whatever is
    # installed.
    checkout = args.baseline if name == BASELINE else str(HERE.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [checkout, env.get("PYTHONPATH")]))
    tasks = [t for t in args.tasks if t not in DEFAULTS_ONLY or name in DEFAULTS_LIKE]
    if not tasks:
        return {}
    command = [sys.executable, __file__, "--worker", "--folder", str(folder)]
    command += ["--size", args.size, "--tasks", *tasks]
    joins = group.join if group is not None else None
    done = subprocess.run(command, env=env, capture_output=True, text=True, preexec_fn=joins)
    if done.returncode:
        sys.exit(f"worker for {name!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class CpuQuotaGroup:
    """A control group whose CPU quota is ``cpus`` CPUs (cgroup v2, else v1's ``cpu``
    controller) for the duration of a ``with`` block; ``join`` moves the calling process
    into it (a ``preexec_fn``: the worker starts inside it). Needs write access to
    ``/sys/fs/cgroup`` (root)."""

    PERIOD_US = 100_000

    def __init__(self, cpus: float):
        self.cpus = cpus
        self.folder: Path | None = None

    def __enter__(self):
        name = f"fer_toolkit_bench_{os.getpid()}"
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        quota = int(self.cpus * self.PERIOD_US)
        try:
            if v2.exists() and "cpu" in v2.read_text().split():
                self.folder = Path("/sys/fs/cgroup") / name
                self.folder.mkdir()
                (self.folder / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            else:
                self.folder = Path("/sys/fs/cgroup/cpu") / name
                self.folder.mkdir()
                (self.folder / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
                (self.folder / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError as error:
            self.__exit__()
            sys.exit(f"--loads quota needs a writable /sys/fs/cgroup (root): {error}")
        return self

    def join(self) -> None:
        (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def __exit__(self, *exc):
        if self.folder is not None and self.folder.exists():
            self.folder.rmdir()


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


def machine_load() -> str:
    """The 1-minute load average and the runnable tasks now (``/proc/loadavg``)."""
    try:
        with open("/proc/loadavg") as f:
            fields = f.read().split()
        return f"{float(fields[0]):.1f}/{fields[3].split('/')[0]}"
    except OSError:
        return f"{os.getloadavg()[0]:.1f}/?"


def report(results, loads, args) -> None:
    import numpy as np

    names = list(SETTINGS)
    print(
        f"\n{os.cpu_count()} cores, size {args.size}; {args.repeats} rounds per load, "
        "medians in seconds; (ratios) = setting / best '1 thread' time of that load, "
        "median of setting / '1 thread' time of the same round; "
        "load = 1-minute load average / runnable tasks, read before each round"
    )
    for load in args.loads:
        print(f"\n## {load} (load {', '.join(loads[load])})")
        keys = sorted(
            {k for r in results[load]["1 thread"] for k in r}
            & {k for r in results[load][names[0]] for k in r}
        )
        if keys:
            print("| work | " + " | ".join(names) + " |")
            print("| --- |" + " ---: |" * len(names))
        for key in keys:
            single = min(r[key] for r in results[load]["1 thread"])
            cells = []
            for name in names:
                rounds = zip(results[load][name], results[load]["1 thread"], strict=False)
                runs = [r[key] for r in results[load][name] if key in r]
                paired = [r[key] / one[key] for r, one in rounds if key in r and key in one]
                median = float(np.median(runs))
                cells.append(
                    f"{median:.2f} ({median / single:.2f}x, {float(np.median(paired)):.2f}x)"
                )
            print(f"| {key} | " + " | ".join(cells) + " |")
        for key in FER_EPOCHS:
            for setting in DEFAULTS_LIKE:
                runs = [r for r in results[load].get(setting, []) if key in r]
                if runs:
                    fit, alone, faults, system = (
                        float(np.median([r[k] for r in runs]))
                        for k in (key, f"{key}_alone", f"{key}_faults", f"{key}_system")
                    )
                    print(
                        f"{key}, {setting}: fit {fit:.1f} s, the epoch alone {alone:.1f} s; "
                        f"{faults:,.0f} page faults, {system:.1f} s of system time"
                    )
        for name, setting in [(n, s) for n in ("haar", "mtcnn") for s in ("defaults", BASELINE)]:
            key1, key2 = f"grid_{name}_jobs1", f"grid_{name}_jobs2"
            runs = [r for r in results[load].get(setting, []) if key1 in r]
            if runs:
                one = float(np.median([r[key1] for r in runs]))
                two = float(np.median([r[key2] for r in runs]))
                speedups = [r[key1] / r[key2] for r in runs]
                print(
                    f"GridSearchCV over {name} cropper + CNN, {setting}: n_jobs=1 {one:.1f} s, "
                    f"n_jobs=2 {two:.1f} s, speed-up {float(np.median(speedups)):.2f}x "
                    f"(rounds: {', '.join(f'{v:.2f}' for v in speedups)})"
                )
    sys.stdout.flush()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=[t for t in TASKS if t not in (*FER_EPOCHS, "conv4_fit")],
        choices=TASKS,
    )
    parser.add_argument("--size", default="quick", choices=list(SIZES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--background", type=int, default=2, help="CPU-bound processes")
    parser.add_argument(
        "--settings",
        nargs="+",
        default=[name for name in SETTINGS if name not in OPTIONAL_SETTINGS],
        choices=list(SETTINGS),
        help="default: all but " + " and ".join(map(repr, OPTIONAL_SETTINGS)),
    )
    parser.add_argument(
        "--loads", nargs="+", default=["quiet", "loaded"], choices=["quiet", "loaded", "quota"]
    )
    parser.add_argument(
        "--cpu-quota",
        type=float,
        default=1.0,
        metavar="CPUS",
        help="the 'quota' load's CPU quota, in CPUs (default 1)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help="also run the defaults of the fer_toolkit in checkout DIR (before/after a change, "
        f"alternated in one run: column {BASELINE!r})",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    for needed in ("1 thread", "defaults"):
        if needed not in args.settings:
            args.settings.append(needed)
    if args.baseline:
        SETTINGS[BASELINE] = {}
        args.settings.append(BASELINE)
    for name in list(SETTINGS):
        if name not in args.settings:
            del SETTINGS[name]
    results = {load: {name: [] for name in SETTINGS} for load in args.loads}
    loads = {load: [] for load in args.loads}
    started = time.perf_counter()
    quota = CpuQuotaGroup(args.cpu_quota) if "quota" in args.loads else nullcontext()
    with tempfile.TemporaryDirectory() as folder, quota as group:
        if "cascade" in args.tasks:
            _load("bench_cascade").write_recipe(Path(folder), None)
        for round_ in range(args.repeats):
            for load in args.loads if round_ % 2 == 0 else args.loads[::-1]:
                loads[load].append(machine_load())
                with Background(args.background if load == "loaded" else 0):
                    order = list(SETTINGS) if round_ % 2 == 0 else list(SETTINGS)[::-1]
                    for name in order:
                        joins = group if load == "quota" else None
                        result = run_setting(name, args, Path(folder), joins)
                        results[load][name].append(result)
                        cells = ", ".join(f"{k} {v:.2f}" for k, v in result.items())
                        print(f"round {round_ + 1} {load:6s} {name:10s} {cells}", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    report(results, loads, args)


if __name__ == "__main__":
    main()
