"""fer_toolkit.plotting: what each figure shows, and bad input."""

import cv2
import numpy as np
import pytest
from skimage import data
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, HalvingGridSearchCV

from fer_toolkit.detection import Detections, HaarCascadeDetector
from fer_toolkit.plotting import (
    annotate_faces,
    plot_confusion_matrix,
    plot_detections,
    plot_image_grid,
    plot_learning_curves,
    plot_misclassified,
    plot_search_scores,
    save_figure,
)


def _texts(ax):
    return [text.get_text() for text in ax.texts]


def test_confusion_matrix_counts_and_row_normalised():
    y_true = ["happy", "happy", "happy", "sad"]
    y_pred = ["happy", "sad", "sad", "sad"]
    counts = plot_confusion_matrix(y_true, y_pred, labels=["happy", "sad"])
    assert _texts(counts.axes[0]) == ["1", "2", "0", "1"]
    normalised = plot_confusion_matrix(y_true, y_pred, labels=["happy", "sad"], normalize=True)
    assert _texts(normalised.axes[0]) == ["0.33", "0.67", "0.00", "1.00"]
    assert [t.get_text() for t in normalised.axes[0].get_yticklabels()] == ["happy", "sad"]


def test_image_grid_lays_out_and_captions():
    images = np.zeros((5, 10, 10), dtype=np.uint8)
    fig = plot_image_grid(images, [f"#{i}" for i in range(5)], n_cols=2, title="t")
    assert len(fig.axes) == 5  # the sixth cell of the 3x2 grid is removed
    assert [ax.get_title() for ax in fig.axes] == ["#0", "#1", "#2", "#3", "#4"]


def test_detections_draw_boxes_and_landmarks():
    image = data.astronaut()
    faces = Detections(
        np.array([[10, 20, 30, 40], [50, 60, 20, 20]]),
        np.array([0.9, 0.8]),
        np.zeros((2, 5, 2)),
    )
    fig = plot_detections(image, faces, labels=["a", "b"])
    ax = fig.axes[0]
    assert len(ax.patches) == 2 and _texts(ax) == ["a", "b"]
    assert ax.lines[0].get_xydata().shape == (10, 2)
    haar = plot_detections(image, HaarCascadeDetector().detect(image))
    assert len(haar.axes[0].patches) == 1


def test_learning_curves_skip_an_unfinished_epoch():
    history = [
        {"epoch": 1, "train_loss": 1.0, "valid_loss": 1.1, "valid_acc": 0.3},
        {"epoch": 2, "train_loss": 0.8, "valid_loss": 0.9, "valid_acc": 0.5},
        {"epoch": 3, "batches": []},  # interrupted mid-epoch
    ]
    fig = plot_learning_curves(history)
    loss = fig.axes[0]
    assert [line.get_label() for line in loss.lines] == ["training", "validation"]
    assert loss.lines[0].get_xdata().tolist() == [1, 2]
    no_valid = plot_learning_curves([{"epoch": 1, "train_loss": 1.0}])
    assert len(no_valid.axes) == 1
    with pytest.raises(ValueError, match="no finished epoch"):
        plot_learning_curves([{"epoch": 1, "batches": []}])


def test_misclassified_grid_most_confident_first():
    images = [np.full((8, 8), i, dtype=np.uint8) for i in range(5)]
    truth = ["a", "b", "a", "b", "a"]
    guess = ["a", "a", "b", "a", "b"]
    fig = plot_misclassified(
        images, truth, guess, confidence=[0.9, 0.5, 0.8, 0.7, 0.6], max_images=2
    )
    assert [ax.get_title() for ax in fig.axes] == ["a\n-> b 0.80", "b\n-> a 0.70"]
    assert fig.get_suptitle() == "4 of 5 misclassified (2 shown)"
    shown = fig.axes[0].images[0].get_array()
    assert shown[0, 0] == 2  # the image of sample 2
    assert plot_misclassified(images, truth, truth) is None
    with pytest.raises(ValueError, match="one entry per sample"):
        plot_misclassified(images[:3], truth, guess)


def _iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def test_search_scores_best_first_with_error_bars():
    X, y = _iris()
    grid = {"C": [0.001, 0.1, 10.0]}
    search = GridSearchCV(LogisticRegression(max_iter=300), grid, cv=3).fit(X, y)
    fig = plot_search_scores(search.cv_results_, title="grid")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    ranked = [search.cv_results_["params"][i]["C"] for i in np.argsort(
        search.cv_results_["rank_test_score"], kind="stable")]  # fmt: skip
    assert labels == [f"C={c}" for c in ranked]
    assert fig.get_suptitle() == "grid"


def test_search_scores_follow_successive_halving():
    X, y = _iris()
    search = HalvingGridSearchCV(
        LogisticRegression(max_iter=300), {"C": [0.001, 0.01, 0.1, 1.0]}, cv=3, random_state=0
    ).fit(X, y)
    fig = plot_search_scores(search.cv_results_)
    assert len(fig.axes) == 2
    n_candidates = len(set(map(str, search.cv_results_["params"])))
    assert len(fig.axes[1].lines) == n_candidates
    assert "[iter" in fig.axes[0].get_yticklabels()[0].get_text()


def test_annotate_faces_keeps_the_resolution_of_a_gray_image():
    """What ``cascade detect --annotate`` writes (the former ``cascade.draw_detections``)."""
    gray = np.full((30, 40), 50, dtype=np.uint8)
    out = annotate_faces(gray, Detections(np.array([[2, 3, 30, 20]]), np.array([2.0])), ["2"])
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
    assert out[3, 20].tolist() == [0, 255, 0] and out[22, 31].tolist() == [0, 255, 0]
    assert out[15, 25].tolist() == [50, 50, 50] and out[26, 20].tolist() == [50, 50, 50]
    assert (gray == 50).all(), "the input is not drawn on"


def test_annotate_faces_draws_on_a_copy():
    image = np.zeros((100, 120, 3), dtype=np.uint8)
    faces = Detections(
        np.array([[30, 40, 40, 40]]), np.array([0.97]), np.array([[[40.0, 55.0]] * 5])
    )
    out = annotate_faces(image, faces, ["happy 0.91"])
    assert image.max() == 0  # the input is untouched
    assert out[40, 50].tolist() == [0, 255, 0]  # the box's top edge
    assert out[55, 40].tolist() == [255, 0, 0]  # a landmark
    assert out[20:40, 30:80].any()  # the label above the box
    gray = annotate_faces(np.zeros((50, 50), np.uint8), Detections(np.zeros((0, 4)), np.zeros(0)))
    assert gray.shape == (50, 50, 3) and gray.max() == 0
    with pytest.raises(ValueError, match="labels has 2 entries for 1 faces"):
        annotate_faces(image, faces, ["a", "b"])


def test_save_figure_is_atomic_and_readable(tmp_path):
    fig = plot_image_grid(np.zeros((2, 8, 8), dtype=np.uint8))
    path = tmp_path / "deep" / "grid.png"
    save_figure(fig, path)
    assert cv2.imread(str(path)) is not None
    assert sorted(p.name for p in path.parent.iterdir()) == ["grid.png"]
