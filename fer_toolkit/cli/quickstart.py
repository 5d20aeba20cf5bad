"""``fer-toolkit quickstart``: the whole job on the embedded synthetic FER data."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from ..datasets import load_fer2013, make_synthetic_faces, write_fer2013_csv
from ..preprocessing import HOGFeatures
from ._common import (
    FerCommand,
    echo,
    is_quiet,
    n_jobs_option,
    no_progress_option,
    seed_option,
    show_progress,
)
from ._data import LabelSet
from ._model import PipelineSpec, build_pipeline, save_model
from ._report import print_cv_table, write_cv_results, write_evaluation, write_history

TEST_FRACTION = 0.2
GRID = {"lr": [3e-3, 5e-3], "module__width": [16, 24]}


def quickstart_spec(max_epochs: int = 12) -> PipelineSpec:
    """The quick-start model: the "baseline" CNN on 48x48 grayscale faces."""
    return PipelineSpec(
        model="baseline",
        params={"max_epochs": max_epochs, "lr_schedule": "cosine", "translation": 0.05},
    )


def build_search(spec: PipelineSpec, n_jobs: int, random_state: int) -> GridSearchCV:
    """The model of ``spec`` grid-searched over learning rate and width with 3-fold CV.

    The search does not refit: :func:`refit_best` does, with a progress bar.
    """
    pipeline = build_pipeline(spec, random_state=random_state)
    grid = {f"cnn__{name}": values for name, values in GRID.items()}
    # verbose=2 prints one line per finished fit: scikit-learn's own progress report.
    return GridSearchCV(
        pipeline, grid, cv=3, n_jobs=n_jobs, refit=False, verbose=0 if is_quiet() else 2
    )


def refit_best(search: GridSearchCV, X, y) -> Pipeline:
    """The pipeline with the best parameters found, fitted on ``X``, ``y`` with a progress bar."""
    from ..estimators._callbacks import TrainingProgress

    progress = TrainingProgress(desc="refit", disable=not show_progress())
    best = clone(search.estimator).set_params(**search.best_params_)
    best.set_params(cnn__callbacks=[("progress", progress)])
    best.fit(X, y)
    return best


def build_baseline(random_state: int) -> Pipeline:
    """HOG features and a linear SVM: the classical baseline the CNN must beat."""
    return Pipeline(
        [
            ("hog", HOGFeatures()),
            ("scale", StandardScaler()),
            ("svm", LinearSVC(C=0.001, random_state=random_state)),
        ]
    )


def write_dataset(path: Path, n_samples: int, seed: int) -> None:
    """Generate synthetic faces and store them as a FER2013-format CSV."""
    faces = make_synthetic_faces(n_samples=n_samples, random_state=seed)
    n_test = round(TEST_FRACTION * n_samples)
    usage = np.array(["Training"] * (n_samples - n_test) + ["PublicTest"] * n_test)
    names = np.asarray(faces.target_names)[faces.target]
    write_fer2013_csv(path, faces.images, names, usage=usage)


def _step(message: str) -> float:
    echo(click.style("==> ", fg="cyan", bold=True) + message)
    return time.perf_counter()


def _done(start: float) -> None:
    echo(f"    done in {time.perf_counter() - start:.1f} s")


@click.command(cls=FerCommand)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="quickstart_output",
    show_default=True,
    help="Folder for the CSV, the fitted model, the CV table and the plots.",
)
@click.option(
    "--n-samples",
    type=click.IntRange(min=210),
    default=3500,
    show_default=True,
    help="Synthetic faces to generate (80% train, 20% test).",
)
@seed_option
@n_jobs_option("Parallel cross-validation fits (joblib)", default=2)
@click.option(
    "--max-epochs",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Training epochs of every CNN fit.",
)
@no_progress_option
def quickstart(out_dir: Path, n_samples: int, seed: int, n_jobs: int, max_epochs: int):
    """Train and evaluate a FER model end to end on the embedded synthetic data.

    Writes a synthetic FER2013-format CSV, loads it back with load_fer2013,
    grid-searches a CNN (CNNClassifier, the "baseline" network) over learning
    rate and network width with 3-fold cross-validation, and reports
    its test accuracy next to a HOG + linear SVM baseline on the same split.
    Outputs in OUT: synthetic_fer2013.csv; the best model as train writes it
    (model.json + model_params.pt, loadable without pickle by evaluate and
    predict; model.joblib); cv_results.csv and search_scores.png;
    classification_report.txt, metrics.json, predictions.csv,
    confusion_matrix.png, confusion_matrix_normalized.png, misclassified.png;
    history.json/.csv and learning_curve.png.

    \b
    Example:
      fer-toolkit quickstart --out quickstart_output --n-samples 3500
    """
    total = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "synthetic_fer2013.csv"

    start = _step(f"generating {n_samples} synthetic 48x48 faces -> {csv_path}")
    write_dataset(csv_path, n_samples, seed)
    _done(start)

    start = _step(f"loading {csv_path.name} with load_fer2013")
    train = load_fer2013(csv_path, usage="Training")
    test = load_fer2013(csv_path, usage="PublicTest")
    names = np.asarray(train.target_names)
    y_train, y_test = names[train.target], names[test.target]
    echo(
        f"    {len(y_train)} training and {len(y_test)} test images, "
        f"classes: {', '.join(np.unique(y_train))}"
    )
    _done(start)

    start = _step("baseline: HOGFeatures -> StandardScaler -> LinearSVC on the same split")
    baseline = build_baseline(seed).fit(train.images, y_train)
    baseline_accuracy = baseline.score(test.images, y_test)
    echo(f"    baseline test accuracy {baseline_accuracy:.3f}")
    _done(start)

    spec = quickstart_spec(max_epochs)
    search = build_search(spec, n_jobs, seed)
    n_fits = 3 * int(np.prod([len(v) for v in search.param_grid.values()]))
    start = _step(
        f"GridSearchCV(cv=3): {n_fits} fits of CNNClassifier('baseline') over {', '.join(GRID)}"
    )
    search.fit(train.images, y_train)
    print_cv_table(search)
    _done(start)

    start = _step(f"refit of the best parameters on all {len(y_train)} training images")
    best = refit_best(search, train.images, y_train)
    _done(start)

    start = _step("evaluating the best CNN on the held-out test images")
    metrics = write_evaluation(
        out_dir,
        y_test,
        best.predict_proba(test.images),
        best.classes_,
        faces=test.images,
        names=[f"{csv_path.name}:PublicTest {i}" for i in range(len(y_test))],
        title="quickstart: test set",
    )
    accuracy = metrics["accuracy"]
    spec.params.update({name.removeprefix("cnn__"): v for name, v in search.best_params_.items()})
    write_cv_results(out_dir, search)
    write_history(out_dir, best[-1].history_, title="best CNN: refit on all training images")
    save_model(
        out_dir, best, spec, LabelSet(classes=tuple(best.classes_.tolist())), data=str(csv_path)
    )
    _done(start)
    verdict = "above" if accuracy > baseline_accuracy else "NOT above"
    echo(
        f"CNN test accuracy {accuracy:.3f}, {verdict} the HOG + linear SVM baseline "
        f"({baseline_accuracy:.3f}); chance {1 / len(names):.3f}; "
        f"total {time.perf_counter() - total:.0f} s; outputs in {out_dir}/"
    )
