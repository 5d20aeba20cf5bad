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

__all__ = ["plot_confusion_matrix", "save_figure"]


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
