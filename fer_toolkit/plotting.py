"""Figures people would rather look at than read.

Figures are built as :class:`matplotlib.figure.Figure` objects, without
pyplot, so they work on headless machines and leave the caller's matplotlib
backend alone.
"""

from __future__ import annotations

import cv2
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from .utils.fileio import atomic_path
from .utils.validation import InputError

__all__ = [
    "annotate_faces",
    "plot_confusion_matrix",
    "plot_detections",
    "plot_image_grid",
    "plot_learning_curves",
    "plot_misclassified",
    "plot_search_scores",
    "save_figure",
]


def plot_confusion_matrix(y_true, y_pred, labels=None, *, normalize=False, ax=None, title=None):
    """Draw a confusion matrix with counts (and row percentages when normalised).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : sequence or None, default=None
        Class order of the rows and columns; the sorted union of labels if None.
    normalize : bool, default=False
        Colour and annotate by the fraction of each true class (recall per row)
        instead of raw counts.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure is made if None.
    title : str or None, default=None
        Axes title.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> from fer_toolkit.plotting import plot_confusion_matrix
    >>> fig = plot_confusion_matrix(["happy", "sad", "sad"], ["happy", "sad", "happy"])
    >>> fig.axes[0].get_xlabel()
    'predicted'
    """
    labels = (
        np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
        if (labels is None)
        else np.asarray(labels)
    )
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    values = counts.astype(float)
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    if ax is None:
        size = 1.6 + 0.55 * len(labels)
        fig = Figure(figsize=(size + 1.2, size), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = values.max() / 2 if values.size else 0
    for (row, col), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalize else f"{counts[row, col]:d}"
        ax.text(
            col,
            row,
            text,
            ha="center",
            va="center",
            fontsize=8,
            color="white" if value > threshold else "black",
        )
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, [str(label) for label in labels], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(label) for label in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return fig


def save_figure(fig, path, *, dpi=120):
    """Save a figure atomically: a crash never leaves a half-written image.

    Examples
    --------
    >>> import os, tempfile
    >>> from matplotlib.figure import Figure
    >>> from fer_toolkit.plotting import save_figure
    >>> path = os.path.join(tempfile.mkdtemp(), "figure.png")
    >>> save_figure(Figure(), path)
    >>> os.path.getsize(path) > 0
    True
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)


def plot_image_grid(images, titles=None, *, n_cols=8, cmap="gray", title=None):
    """Show images in a grid, with an optional caption under each.

    Parameters
    ----------
    images : sequence of ndarray
        Grayscale ``(H, W)`` or RGB ``(H, W, 3)`` images, uint8 or float in [0, 1].
    titles : sequence of str or None, default=None
        One caption per image.
    n_cols : int, default=8
        Images per row.
    cmap : str, default="gray"
        Colour map for grayscale images.
    title : str or None, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.plotting import plot_image_grid
    >>> fig = plot_image_grid(np.zeros((10, 48, 48), dtype=np.uint8), n_cols=5)
    >>> len(fig.axes)
    10
    """
    n = len(images)
    n_cols = min(n_cols, n)
    n_rows = -(-n // n_cols)
    fig = Figure(
        figsize=(1.3 * n_cols, 1.45 * n_rows + (0.4 if title else 0)), layout="constrained"
    )
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        if i >= n:
            fig.delaxes(ax)
            continue
        image = np.asarray(images[i])
        vmax = 255 if image.dtype == np.uint8 else 1.0
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=0, vmax=vmax)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_detections(image, detections, *, labels=None, ax=None, color="lime"):
    """Draw detected boxes (and landmarks, when present) on an image.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3)
        The image the detections refer to.
    detections : Detections
        Boxes ``(x, y, w, h)``, scores, optional landmarks.
    labels : sequence of str or None, default=None
        Text per box; the scores when None.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure is made if None.
    color : str, default="lime"
        Box colour.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.detection import HaarCascadeDetector
    >>> from fer_toolkit.plotting import plot_detections
    >>> image = data.astronaut()
    >>> fig = plot_detections(image, HaarCascadeDetector().detect(image))
    >>> len(fig.axes[0].patches)
    1
    """
    from matplotlib.patches import Rectangle

    if ax is None:
        fig = Figure(figsize=(6, 6 * image.shape[0] / image.shape[1]), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    ax.set_axis_off()
    texts = labels if labels is not None else [f"{s:g}" for s in detections.scores]
    for (x, y, w, h), text in zip(detections.boxes, texts, strict=True):
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=2))
        ax.text(x, y - 3, text, color=color, fontsize=9, va="bottom")
    if detections.landmarks is not None:
        points = detections.landmarks.reshape(-1, 2)
        ax.plot(points[:, 0], points[:, 1], "o", color="red", markersize=3)
    return fig


def plot_learning_curves(history, *, title=None):
    """Loss (and validation accuracy, when recorded) per epoch from a skorch history.

    Epochs that did not finish (training interrupted mid-epoch) have no losses
    and are left out.

    Parameters
    ----------
    history : skorch.History or list of dict
        ``estimator.history_`` of a fitted :class:`~fer_toolkit.estimators.CNNClassifier`
        (or any skorch net).
    title : str or None, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> from fer_toolkit.plotting import plot_learning_curves
    >>> history = [{"epoch": 1, "train_loss": 1.2, "valid_loss": 1.3, "valid_acc": 0.4},
    ...            {"epoch": 2, "train_loss": 0.9, "valid_loss": 1.0, "valid_acc": 0.6}]
    >>> fig = plot_learning_curves(history)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'validation accuracy']
    """
    rows = [row for row in history if "train_loss" in row]
    if not rows:
        raise InputError("history has no finished epoch (no row with a train_loss) to plot.")
    epochs = [row["epoch"] for row in rows]
    has_valid_acc = all("valid_acc" in row for row in rows)
    fig = Figure(figsize=(9 if has_valid_acc else 5, 3.6), layout="constrained")
    axes = fig.subplots(1, 2 if has_valid_acc else 1, squeeze=False).ravel()
    for key, label in (("train_loss", "training"), ("valid_loss", "validation")):
        if all(key in row for row in rows):
            axes[0].plot(epochs, [row[key] for row in rows], marker="o", label=label)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].legend()
    if has_valid_acc:
        axes[1].plot(epochs, [row["valid_acc"] for row in rows], marker="o", color="tab:green")
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("validation accuracy")
        axes[1].set_ylim(0, 1)
    if title:
        fig.suptitle(title)
    return fig


def plot_misclassified(
    images, y_true, y_pred, *, confidence=None, max_images=32, n_cols=8, title=None
):
    """A grid of the misclassified images, each captioned with its true and predicted label.

    Parameters
    ----------
    images : sequence of ndarray
        One image per sample (grayscale or RGB).
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    confidence : array-like of shape (n_samples,) or None, default=None
        Probability of each prediction, added to the caption and used to order
        the grid (most confident mistakes first).
    max_images : int, default=32
        Most images shown.
    n_cols : int, default=8
        Images per row.
    title : str or None, default=None
        Figure title; by default how many mistakes there are.

    Returns
    -------
    fig : matplotlib Figure or None
        None when nothing is misclassified.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.plotting import plot_misclassified
    >>> images = np.zeros((4, 48, 48), dtype=np.uint8)
    >>> fig = plot_misclassified(images, ["happy", "sad", "sad", "fear"],
    ...                          ["happy", "happy", "sad", "sad"], confidence=[0.9, 0.6, 0.8, 0.7])
    >>> [ax.get_title() for ax in fig.axes]
    ['fear\\n-> sad 0.70', 'sad\\n-> happy 0.60']
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(images) != len(y_true) or y_true.shape != y_pred.shape:
        raise InputError(
            f"images, y_true and y_pred must have one entry per sample; got {len(images)}, "
            f"{y_true.shape} and {y_pred.shape}."
        )
    wrong = np.flatnonzero(y_true != y_pred)
    if wrong.size == 0:
        return None
    if confidence is not None:
        confidence = np.asarray(confidence, dtype=float)
        wrong = wrong[np.argsort(-confidence[wrong], kind="stable")]
    shown = wrong[:max_images]
    captions = [
        f"{y_true[i]}\n-> {y_pred[i]}" + ("" if confidence is None else f" {confidence[i]:.2f}")
        for i in shown
    ]
    if title is None:
        title = f"{wrong.size} of {len(y_true)} misclassified" + (
            f" ({len(shown)} shown)" if len(shown) < wrong.size else ""
        )
    return plot_image_grid([images[i] for i in shown], captions, n_cols=n_cols, title=title)


def _candidate_label(params: dict) -> str:
    return ", ".join(
        f"{name.split('__', 1)[-1] if name.startswith('cnn__') else name}={value}"
        for name, value in params.items()
    )


def plot_search_scores(cv_results, *, max_candidates=25, title=None):
    """Cross-validation scores of a hyper-parameter search, best candidate first.

    The left panel shows each candidate's mean test score with its standard
    deviation across folds. For successive halving (``cv_results`` with an
    ``iter`` column), the right panel follows every candidate's score as the
    resource grows from iteration to iteration.

    Parameters
    ----------
    cv_results : dict
        ``cv_results_`` of a fitted ``GridSearchCV``, ``RandomizedSearchCV``,
        ``HalvingGridSearchCV`` or ``HalvingRandomSearchCV``.
    max_candidates : int, default=25
        Most candidates shown in the left panel (the best ones).
    title : str or None, default=None
        Figure title.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from fer_toolkit.plotting import plot_search_scores
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.01, 1.0]}, cv=3)
    >>> fig = plot_search_scores(search.fit(X, y).cv_results_)
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()]
    ['C=1.0', 'C=0.01']
    """
    params = list(cv_results["params"])
    mean = np.asarray(cv_results["mean_test_score"], dtype=float)
    std = np.asarray(cv_results["std_test_score"], dtype=float)
    rank = np.asarray(cv_results["rank_test_score"])
    order = np.lexsort((np.arange(len(rank)), rank))[:max_candidates]
    halving = "iter" in cv_results
    height = 1.2 + 0.28 * len(order)
    fig = Figure(figsize=(11 if halving else 7, max(height, 3.2)), layout="constrained")
    axes = fig.subplots(1, 2 if halving else 1, squeeze=False).ravel()
    ax = axes[0]
    positions = np.arange(len(order))[::-1]
    ax.errorbar(mean[order], positions, xerr=std[order], fmt="o", capsize=3)
    labels = [_candidate_label(params[i]) for i in order]
    if halving:
        labels = [
            f"{label} [iter {cv_results['iter'][i]}]"
            for label, i in zip(labels, order, strict=True)
        ]
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xlabel("mean cross-validation score (+/- std)")
    ax.grid(axis="x", alpha=0.3)
    if halving:
        resources = np.asarray(cv_results["n_resources"])
        keys = [_candidate_label(p) for p in params]
        for key in dict.fromkeys(keys):
            rows = [i for i, k in enumerate(keys) if k == key]
            axes[1].plot(resources[rows], mean[rows], marker="o", alpha=0.7)
        axes[1].set_xlabel("resource per candidate (n_resources)")
        axes[1].set_ylabel("mean cross-validation score")
        axes[1].set_title("successive halving", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def annotate_faces(image, detections, labels=None, *, color=(0, 255, 0)):
    """Return a copy of ``image`` with each face box, its text and its landmarks drawn.

    Drawn with OpenCV at the image's own resolution, for annotated image and
    video files (:func:`plot_detections` makes a matplotlib figure instead).

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3), dtype uint8
        RGB or grayscale image (grayscale is drawn on in colour).
    detections : Detections
        Boxes ``(x, y, w, h)``, scores and optional landmarks.
    labels : sequence of str or None, default=None
        Text per box, e.g. the predicted emotion; the scores when None.
    color : tuple of 3 int, default=(0, 255, 0)
        RGB colour of boxes and text; landmarks are red.

    Returns
    -------
    annotated : ndarray of shape (H, W, 3), dtype uint8

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.detection import Detections
    >>> from fer_toolkit.plotting import annotate_faces
    >>> faces = Detections(np.array([[5, 20, 20, 20]]), np.array([0.99]))
    >>> out = annotate_faces(np.zeros((50, 50), np.uint8), faces, ["happy 0.91"])
    >>> out.shape, out[20, 15].tolist()
    ((50, 50, 3), [0, 255, 0])
    """
    annotated = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    texts = [f"{s:.2f}" for s in detections.scores] if labels is None else list(labels)
    if len(texts) != len(detections):
        raise InputError(f"labels has {len(texts)} entries for {len(detections)} faces.")
    thickness = max(1, round(min(image.shape[:2]) / 300))
    scale = 0.45 * thickness
    for i, ((x, y, w, h), text) in enumerate(
        zip(np.asarray(detections.boxes).tolist(), texts, strict=True)
    ):
        cv2.rectangle(annotated, (x, y), (x + w - 1, y + h - 1), color, thickness)
        (text_w, text_h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = y - text_h - base - 2 if y - text_h - base - 2 >= 0 else y + h + 1
        cv2.rectangle(annotated, (x, top), (x + text_w + 2, top + text_h + base + 2), color, -1)
        cv2.putText(
            annotated,
            text,
            (x + 1, top + text_h + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
        if detections.landmarks is not None:
            for px, py in np.asarray(detections.landmarks[i]).reshape(-1, 2):
                cv2.circle(annotated, (round(px), round(py)), 1 + thickness, (255, 0, 0), -1)
    return annotated
