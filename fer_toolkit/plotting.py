"""Figures people would rather look at than read.

Figures are built as :class:`matplotlib.figure.Figure` objects, without
pyplot, so they work on headless machines and leave the caller's matplotlib
backend alone.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from .utils.fileio import atomic_path

__all__ = [
    "plot_confusion_matrix",
    "plot_detections",
    "plot_image_grid",
    "plot_learning_curves",
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
    rows = list(history)
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
