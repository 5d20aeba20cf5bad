"""The embedded synthetic FER data, and classical baselines on it
=================================================================

:func:`~fer_toolkit.datasets.make_synthetic_faces` draws 48x48 faces whose brows, eyes and
mouth differ by emotion, with random identity, pose, lighting and noise: a FER2013-format
dataset that needs no download. This example shows a few faces per class, then compares a
linear model on raw pixels with HOG + linear SVM and LBP histograms + linear SVM, all
grid-searched with 3-fold cross-validation, and draws the confusion matrix of the best one.

Run: ``python examples/plot_synthetic_baselines.py [output_prefix]`` (about half a minute on
two CPU cores; the figures are saved when a prefix is given).
"""

import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.plotting import plot_confusion_matrix, plot_image_grid, save_figure
from fer_toolkit.preprocessing import Flatten, HOGFeatures, LBPHistogram, Rescale

# The test suite runs every example with FER_TOOLKIT_EXAMPLE_SIZE=small, on fewer faces.
n_samples = 700 if os.environ.get("FER_TOOLKIT_EXAMPLE_SIZE") == "small" else 1400

# %%
# The faces
# ---------
# Seven emotions, six faces each, out of 1,400 (200 per class). The target is an index
# into ``target_names``.

faces = make_synthetic_faces(n_samples=n_samples, random_state=0)
names = np.asarray(faces.target_names)
y = names[faces.target]

shown = [i for name in names for i in np.flatnonzero(y == name)[:6]]
faces_fig = plot_image_grid(
    faces.images[shown], y[shown], n_cols=6, title="make_synthetic_faces: six faces per class"
)

# %%
# Three baselines, each grid-searched
# -----------------------------------
# Every step is a scikit-learn transformer, so each baseline is a ``Pipeline`` and
# ``GridSearchCV`` tunes its feature and classifier parameters together. The test split is
# used once, to score the refitted best candidate of each search.

X_train, X_test, y_train, y_test = train_test_split(
    faces.images, y, test_size=0.3, stratify=y, random_state=0
)
candidates = {
    "raw pixels + logistic regression": (
        Pipeline(
            [
                ("rescale", Rescale()),
                ("flatten", Flatten()),
                ("clf", LogisticRegression(max_iter=500)),
            ]
        ),
        {"clf__C": [0.01, 0.1]},
    ),
    "HOG + linear SVM": (
        Pipeline([("hog", HOGFeatures()), ("scale", StandardScaler()), ("clf", LinearSVC())]),
        {"hog__pixels_per_cell": [(6, 6), (8, 8)], "clf__C": [0.001, 0.01]},
    ),
    "LBP histograms + linear SVM": (
        Pipeline(
            [("lbp", LBPHistogram(grid=(6, 6))), ("scale", StandardScaler()), ("clf", LinearSVC())]
        ),
        {"clf__C": [0.001, 0.01]},
    ),
}
best_name, best_score, best_search = None, -1.0, None
for name, (pipeline, grid) in candidates.items():
    search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2).fit(X_train, y_train)
    score = search.score(X_test, y_test)
    print(f"{name:30s} CV {search.best_score_:.3f}  test {score:.3f}  {search.best_params_}")
    if score > best_score:
        best_name, best_score, best_search = name, score, search

# %%
# The best baseline's mistakes
# ----------------------------
# Rows are the true emotions, normalised to one: the diagonal is each class's recall.

confusion_fig = plot_confusion_matrix(
    y_test,
    best_search.predict(X_test),
    labels=names,
    normalize=True,
    title=f"{best_name}: test accuracy {best_score:.2f}",
)

if len(sys.argv) > 1:
    save_figure(faces_fig, f"{sys.argv[1]}_faces.png")
    save_figure(confusion_fig, f"{sys.argv[1]}_confusion_matrix.png")
    print(f"wrote {sys.argv[1]}_faces.png and {sys.argv[1]}_confusion_matrix.png")
