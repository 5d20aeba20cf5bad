"""Grid-search a CNN inside a scikit-learn Pipeline
==================================================

:class:`~fer_toolkit.estimators.CNNClassifier` is a skorch-wrapped PyTorch network, so it
sits at the end of a ``Pipeline`` of fer_toolkit transformers and ``GridSearchCV`` tunes it
with cross-validation like any estimator, nested ``module__*`` parameters included.
Training-time augmentation (random brightness, flips, shear, shifts, as in the Keras models
of `muscak/Facial-Emotion-Recognition <https://github.com/muscak/Facial-Emotion-Recognition>`_)
is a parameter of the estimator, applied to training batches only.

The example searches learning rate and augmentation on the synthetic FER data, then draws
the learning curves of the refitted best model (from its skorch history) and its confusion
matrix on held-out faces.

Run: ``python examples/plot_cnn_gridsearch.py [output_prefix]`` (under a minute on two CPU
cores; a GPU is used when present; the figures are saved when a prefix is given).
"""

import os
import sys

import numpy as np
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.plotting import plot_confusion_matrix, plot_learning_curves, save_figure
from fer_toolkit.preprocessing import Grayscale, Resize

# The test suite runs every example with FER_TOOLKIT_EXAMPLE_SIZE=small: fewer faces, epochs.
small = os.environ.get("FER_TOOLKIT_EXAMPLE_SIZE") == "small"

# %%
# Data and pipeline
# -----------------
# Labels can be strings: the classifier learns ``classes_`` at ``fit``. The network is the
# small ``"baseline"`` CNN of :mod:`fer_toolkit.models`, narrowed to 16 channels to keep
# the search short on a CPU; the learning rate follows a cosine schedule over the epochs.

faces = make_synthetic_faces(n_samples=300 if small else 1000, random_state=0)
y = np.asarray(faces.target_names)[faces.target]
X_train, X_test, y_train, y_test = train_test_split(
    faces.images, y, test_size=0.25, stratify=y, random_state=0
)

pipeline = Pipeline(
    [
        ("gray", Grayscale()),
        ("resize", Resize(size=48)),
        (
            "cnn",
            CNNClassifier(
                module="baseline",
                module__width=16,
                max_epochs=2 if small else 10,
                lr_schedule="cosine",
                validation_fraction=0.1,
                random_state=0,
            ),
        ),
    ]
)

# %%
# The search
# ----------
# Four candidates, three folds each: twelve fits, two at a time, then the best candidate
# refitted on all the training faces.

grid = {
    "cnn__lr": [2e-3, 4e-3],
    "cnn__translation": [0.0, 0.05],  # small random shifts of training batches
}
search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2).fit(X_train, y_train)
print(
    f"best {search.best_params_}, CV accuracy {search.best_score_:.3f}, "
    f"test accuracy {search.score(X_test, y_test):.3f}"
)

# %%
# Learning curves of the best model
# ---------------------------------
# skorch records the loss and accuracy of every epoch in ``history_``, on the training
# batches and on the 10% validation hold-out. Ten epochs on a few hundred faces keep this
# example short; the curves show the network still learning when it stops.
# ``fer-toolkit quickstart`` trains longer on more faces.

cnn = search.best_estimator_.named_steps["cnn"]
curves_fig = plot_learning_curves(cnn.history_, title=f"best CNN {search.best_params_}")

# %%
# Its mistakes on held-out faces
# ------------------------------

confusion_fig = plot_confusion_matrix(
    y_test,
    search.predict(X_test),
    labels=faces.target_names,
    normalize=True,
    title="best CNN on held-out faces",
)

if len(sys.argv) > 1:
    save_figure(curves_fig, f"{sys.argv[1]}_learning_curves.png")
    save_figure(confusion_fig, f"{sys.argv[1]}_confusion_matrix.png")
    print(f"wrote {sys.argv[1]}_learning_curves.png and {sys.argv[1]}_confusion_matrix.png")
