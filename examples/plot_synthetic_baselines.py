"""The embedded synthetic FER data, and classical baselines on it
=================================================================

``make_synthetic_faces`` draws 48x48 faces whose brows, eyes and mouth differ
by emotion, with random identity, pose, lighting and noise. This script shows
a few faces per class, then compares a linear model on raw pixels with
HOG + linear SVM and LBP histograms + linear SVM, all grid-searched with
3-fold cross-validation, and draws the confusion matrix of the best one.

Run: ``python examples/plot_synthetic_baselines.py [output_prefix]``
"""

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

prefix = sys.argv[1] if len(sys.argv) > 1 else "synthetic"
faces = make_synthetic_faces(n_samples=4200, random_state=0)
names = np.asarray(faces.target_names)
y = names[faces.target]

examples = [i for name in names for i in np.flatnonzero(y == name)[:6]]
save_figure(
    plot_image_grid(
        faces.images[examples],
        y[examples],
        n_cols=6,
        title="make_synthetic_faces: six faces per class",
    ),
    f"{prefix}_faces.png",
)

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

fig = plot_confusion_matrix(
    y_test,
    best_search.predict(X_test),
    labels=names,
    normalize=True,
    title=f"{best_name}: test accuracy {best_score:.2f}",
)
save_figure(fig, f"{prefix}_confusion_matrix.png")
print(f"wrote {prefix}_faces.png and {prefix}_confusion_matrix.png")
