"""A first ``GridSearchCV(n_jobs=2)`` against ``n_jobs=1``: what fresh joblib workers cost.

``bench_threads.py --tasks grid`` times searches in workers it has warmed up;
a user's first search of a session starts its workers, and each imports
PyTorch, skorch, scikit-learn and fer_toolkit and pays PyTorch's first-fit
costs. This script times, in one fresh process per run, the imports, then
(after one untimed fit in that process) ``GridSearchCV(n_jobs=1)``, the first
``GridSearchCV(n_jobs=2)`` (fresh workers) and a second one (warm workers):
``HaarFaceCropper(n_jobs=2) -> CNNClassifier(max_epochs=2)`` on 128 synthetic
faces of 96x96, 2 x 2 fits, ``refit=False``.

With ``--baseline DIR`` each round also runs the fer_toolkit of checkout DIR
(e.g. a worktree of the main branch), alternated with this checkout's.

Usage::

    python benchmarks/bench_grid_start.py [--rounds 2] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = r"""
import json, time
start = time.perf_counter()
import fer_toolkit
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.preprocessing import HaarFaceCropper
out = {"imports": time.perf_counter() - start}
X, y = make_synthetic_faces(
    128, classes=("happy", "sad"), image_size=96, random_state=0, return_X_y=True
)
pipeline = make_pipeline(
    HaarFaceCropper(output_size=48, n_jobs=2), CNNClassifier(max_epochs=2, device="cpu")
)
clone(pipeline).fit(X[:32], y[:32])  # this process's first fit, untimed
for key, n_jobs in (("n_jobs=1", 1), ("n_jobs=2 cold", 2), ("n_jobs=2 warm", 2)):
    search = GridSearchCV(pipeline, {"cnnclassifier__lr": [1e-3, 3e-3]}, cv=2,
                          n_jobs=n_jobs, refit=False)
    start = time.perf_counter()
    search.fit(X, y)
    out[key] = time.perf_counter() - start
print(json.dumps(out))
"""


def run(checkout: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=checkout, PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, cwd=HERE
    )
    if done.returncode:
        sys.exit(f"run with {checkout} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", metavar="DIR", default=None)
    args = parser.parse_args(argv)
    checkouts = [("this checkout", str(HERE.parent))]
    if args.baseline:
        checkouts.append(("baseline", args.baseline))
    for round_ in range(args.rounds):
        for name, checkout in checkouts if round_ % 2 == 0 else checkouts[::-1]:
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            t = run(checkout)
            cells = ", ".join(f"{k} {v:.2f} s" for k, v in t.items())
            print(
                f"round {round_ + 1} {name} (load {load}): {cells}; speed-up n_jobs=1 / n_jobs=2: "
                f"cold {t['n_jobs=1'] / t['n_jobs=2 cold']:.2f}x, "
                f"warm {t['n_jobs=1'] / t['n_jobs=2 warm']:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
