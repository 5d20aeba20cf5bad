"""``fer-toolkit quickstart``: the whole job on the embedded synthetic FER data."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import click
import joblib
import numpy as np
from sklearn.metrics import accuracy_score, classification_report
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from ..datasets import load_fer2013, make_synthetic_faces, write_fer2013_csv
from ..estimators import CNNClassifier
from ..plotting import plot_confusion_matrix, plot_learning_curves, save_figure
from ..preprocessing import HOGFeatures
from ..utils.fileio import atomic_path, atomic_write

TEST_FRACTION = 0.2


def build_search(n_jobs: int, random_state: int, max_epochs: int = 12) -> GridSearchCV:
    """The quick-start model: a small CNN grid-searched over two parameters with 3-fold CV."""
    cnn = CNNClassifier(
        module="baseline",
        max_epochs=max_epochs,
        lr_schedule="cosine",
        translation=0.05,
        validation_fraction=None,
        random_state=random_state,
    )
    pipeline = Pipeline([("cnn", cnn)])
    grid = {"cnn__lr": [3e-3, 5e-3], "cnn__module__width": [16, 24]}
    # verbose=2 prints one line per finished fit: scikit-learn's own progress report.
    return GridSearchCV(pipeline, grid, cv=3, n_jobs=n_jobs, verbose=2)


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
    click.echo(click.style("==> ", fg="cyan", bold=True) + message)
    return time.perf_counter()


def _done(start: float) -> None:
    click.echo(f"    done in {time.perf_counter() - start:.1f} s")


def _print_cv_table(search: GridSearchCV) -> None:
    results = search.cv_results_
    click.echo(f"    {'rank':>4}  {'mean CV acc':>11}  {'std':>6}  params")
    for i in np.argsort(results["rank_test_score"]):
        click.echo(
            f"    {results['rank_test_score'][i]:>4}  {results['mean_test_score'][i]:>11.3f}  "
            f"{results['std_test_score'][i]:>6.3f}  {results['params'][i]}"
        )


@click.command()
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
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed for the data and the model."
)
@click.option(
    "--n-jobs",
    type=int,
    default=2,
    show_default=True,
    help="Parallel cross-validation fits (joblib; -1 = all cores).",
)
@click.option(
    "--max-epochs",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Training epochs of every CNN fit.",
)
def quickstart(out_dir: Path, n_samples: int, seed: int, n_jobs: int, max_epochs: int):
    """Train and evaluate a FER model end to end on the embedded synthetic data.

    Writes a synthetic FER2013-format CSV, loads it back with load_fer2013,
    grid-searches a CNN (CNNClassifier, the "baseline" network) over learning
    rate and network width with 3-fold cross-validation, and reports
    its test accuracy next to a HOG + linear SVM baseline on the same split.
    Outputs in OUT: synthetic_fer2013.csv, model.joblib, model_params.pt (the
    pickle-free weights), cv_results.csv, classification_report.txt,
    confusion_matrix.png, learning_curve.png.

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
    click.echo(
        f"    {len(y_train)} training and {len(y_test)} test images, "
        f"classes: {', '.join(np.unique(y_train))}"
    )
    _done(start)

    start = _step("baseline: HOGFeatures -> StandardScaler -> LinearSVC on the same split")
    baseline = build_baseline(seed).fit(train.images, y_train)
    baseline_accuracy = baseline.score(test.images, y_test)
    click.echo(f"    baseline test accuracy {baseline_accuracy:.3f}")
    _done(start)

    search = build_search(n_jobs, seed, max_epochs)
    n_fits = 3 * int(np.prod([len(v) for v in search.param_grid.values()]))
    start = _step(
        f"GridSearchCV(cv=3): {n_fits} fits of CNNClassifier('baseline') over "
        f"{', '.join(search.param_grid)}, then a refit on all training images"
    )
    search.fit(train.images, y_train)
    _print_cv_table(search)
    _done(start)

    start = _step("evaluating the best CNN on the held-out test images")
    predicted = search.predict(test.images)
    report = classification_report(y_test, predicted, digits=3)
    click.echo(report)
    accuracy = accuracy_score(y_test, predicted)
    _save_outputs(out_dir, search, y_test, predicted, report)
    _done(start)
    verdict = "above" if accuracy > baseline_accuracy else "NOT above"
    click.echo(
        f"CNN test accuracy {accuracy:.3f}, {verdict} the HOG + linear SVM baseline "
        f"({baseline_accuracy:.3f}); chance {1 / len(names):.3f}; "
        f"total {time.perf_counter() - total:.0f} s; outputs in {out_dir}/"
    )


def _save_outputs(out_dir: Path, search, y_test, predicted, report: str) -> None:
    with atomic_path(out_dir / "model.joblib") as tmp:
        joblib.dump(search.best_estimator_, tmp)
    cnn = search.best_estimator_.named_steps["cnn"]
    with atomic_path(out_dir / "model_params.pt") as tmp:
        cnn.save_params(f_params=tmp)
    save_figure(
        plot_learning_curves(cnn.history_, title="best CNN: refit on all training images"),
        out_dir / "learning_curve.png",
    )
    with atomic_write(out_dir / "classification_report.txt") as f:
        f.write(report)
    with atomic_write(out_dir / "cv_results.csv", newline="") as f:
        _write_cv_results(f, search.cv_results_)
    fig = plot_confusion_matrix(
        y_test, predicted, normalize=True, title="quickstart: test set (row-normalised)"
    )
    save_figure(fig, out_dir / "confusion_matrix.png")


def _write_cv_results(f, results) -> None:
    columns = ["rank_test_score", "mean_test_score", "std_test_score", "mean_fit_time", "params"]
    writer = csv.writer(f)
    writer.writerow(columns)
    for i in np.argsort(results["rank_test_score"]):
        writer.writerow([results[c][i] for c in columns])
