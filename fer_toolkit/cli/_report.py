"""Reports the commands write: metrics, confusion matrices, mistakes, histories, search tables.

Every file is written atomically (a temporary file renamed on success).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

from ..plotting import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_misclassified,
    plot_search_scores,
    save_figure,
)
from ..utils.fileio import atomic_write
from ._common import echo

__all__ = [
    "epoch_rows",
    "print_cv_table",
    "write_cv_results",
    "write_evaluation",
    "write_history",
]

METRICS_NAME = "metrics.json"
REPORT_NAME = "classification_report.txt"
CONFUSION_NAME = "confusion_matrix.png"
CONFUSION_NORMALIZED_NAME = "confusion_matrix_normalized.png"
MISCLASSIFIED_NAME = "misclassified.png"
PREDICTIONS_NAME = "predictions.csv"
LEARNING_CURVE_NAME = "learning_curve.png"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
CV_RESULTS_NAME = "cv_results.csv"


def write_json(path, document) -> None:
    with atomic_write(path, encoding="utf-8") as f:
        json.dump(document, f, indent=2)
        f.write("\n")


def write_evaluation(
    out_dir,
    y_true,
    proba,
    classes,
    *,
    faces=None,
    names=None,
    title="",
    max_misclassified=32,
    **info,
) -> dict:
    """Write the metrics, the report, both confusion matrices and the mistakes of a classifier.

    Parameters
    ----------
    out_dir : path
        Output folder.
    y_true : array-like of shape (n,)
        True labels.
    proba : ndarray of shape (n, n_classes)
        Predicted probabilities, columns in ``classes`` order.
    classes : array-like
        The classifier's classes.
    faces : sequence of ndarray or None
        The images the classifier saw, for the grid of mistakes.
    names : array-like of str or None
        Where each sample comes from, for ``predictions.csv``.
    title : str
        What was evaluated, for figure titles.
    max_misclassified : int
        Most mistakes shown in the grid.
    **info
        Added to ``metrics.json``.

    Returns
    -------
    metrics : dict
        What ``metrics.json`` holds.
    """
    out_dir = Path(out_dir)
    classes = np.asarray(classes)
    y_true = np.asarray(y_true)
    predicted_index = proba.argmax(axis=1)
    y_pred = classes[predicted_index]
    confidence = proba[np.arange(len(proba)), predicted_index]
    labels = np.array([c for c in classes if c in set(y_true.tolist()) | set(y_pred.tolist())])
    report = classification_report(y_true, y_pred, labels=labels, digits=3, zero_division=0)
    table = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    metrics = {
        **info,
        "n_samples": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "classes": labels.tolist(),
        "per_class": {
            str(c): {
                "precision": table[str(c)]["precision"],
                "recall": table[str(c)]["recall"],
                "f1": table[str(c)]["f1-score"],
                "support": int(table[str(c)]["support"]),
            }
            for c in labels
        },
        "macro_avg": {k.replace("-score", ""): v for k, v in table["macro avg"].items()},
        "weighted_avg": {k.replace("-score", ""): v for k, v in table["weighted avg"].items()},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    write_json(out_dir / METRICS_NAME, metrics)
    with atomic_write(out_dir / REPORT_NAME, encoding="utf-8") as f:
        f.write(f"{title}\n\n{report}" if title else report)
    for normalize, name in ((False, CONFUSION_NAME), (True, CONFUSION_NORMALIZED_NAME)):
        what = "row-normalised" if normalize else "counts"
        fig = plot_confusion_matrix(
            y_true,
            y_pred,
            labels=labels,
            normalize=normalize,
            title=f"{title} ({what})" if title else what,
        )
        save_figure(fig, out_dir / name)
    if faces is not None:
        fig = plot_misclassified(
            faces, y_true, y_pred, confidence=confidence, max_images=max_misclassified
        )
        if fig is not None:
            save_figure(fig, out_dir / MISCLASSIFIED_NAME)
    if names is not None:
        with atomic_write(out_dir / PREDICTIONS_NAME, newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["sample", "true", "predicted", *(f"p_{c}" for c in classes)])
            for name, true, pred, row in zip(names, y_true, y_pred, proba, strict=True):
                writer.writerow([name, true, pred, *(f"{p:.6f}" for p in row)])
    echo(report.rstrip())
    return metrics


def epoch_rows(history) -> list[dict]:
    """The finished epochs of a skorch history, without the per-batch records."""
    return [
        {key: value for key, value in row.items() if key != "batches"}
        for row in history
        if "train_loss" in row
    ]


def write_history(out_dir, history, *, title="") -> None:
    """Write ``history.json``, ``history.csv`` and ``learning_curve.png``."""
    out_dir = Path(out_dir)
    rows = epoch_rows(history)
    write_json(out_dir / HISTORY_JSON, rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_write(out_dir / HISTORY_CSV, newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    if rows:
        save_figure(plot_learning_curves(rows, title=title), out_dir / LEARNING_CURVE_NAME)


def _param_columns(results) -> list[str]:
    return [key for key in results if key.startswith("param_")]


def write_cv_results(out_dir, search) -> None:
    """Write ``cv_results.csv`` (best first) and ``search_scores.png`` of a fitted search."""
    out_dir = Path(out_dir)
    results = search.cv_results_
    fixed = [
        key
        for key in ("iter", "n_resources", "rank_test_score", "mean_test_score", "std_test_score")
        if key in results
    ]
    splits = sorted(key for key in results if key.startswith("split") and "_test_" in key)
    timing = ["mean_fit_time", "std_fit_time", "mean_score_time"]
    columns = [*fixed, *_param_columns(results), *splits, *timing, "params"]
    order = np.lexsort((np.arange(len(results["rank_test_score"])), results["rank_test_score"]))
    with atomic_write(out_dir / CV_RESULTS_NAME, newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for i in order:
            row = []
            for column in columns:
                value = results[column][i]
                if column == "params":
                    value = json.dumps(value, default=str)
                elif np.ma.is_masked(value):
                    value = ""
                row.append(value)
            writer.writerow(row)
    save_figure(
        plot_search_scores(results, title=f"{type(search).__name__}: {search.scoring or 'score'}"),
        out_dir / "search_scores.png",
    )


def print_cv_table(search) -> None:
    """Rank, mean and std of the cross-validation score of every candidate, best first."""
    results = search.cv_results_
    echo(f"    {'rank':>4}  {'mean CV score':>13}  {'std':>6}  params")
    order = np.lexsort((np.arange(len(results["rank_test_score"])), results["rank_test_score"]))
    for i in order:
        echo(
            f"    {results['rank_test_score'][i]:>4}  {results['mean_test_score'][i]:>13.3f}  "
            f"{results['std_test_score'][i]:>6.3f}  {results['params'][i]}"
        )
