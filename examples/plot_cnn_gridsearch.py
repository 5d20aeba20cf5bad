"""Grid-search a CNN inside a scikit-learn Pipeline
==================================================

``CNNClassifier`` is a skorch-wrapped PyTorch network, so it sits at the end of
a ``Pipeline`` of fer_toolkit transformers and ``GridSearchCV`` tunes it with
cross-validation like any estimator, nested ``module__*`` parameters included.
Training-time augmentation (the random brightness, flips and shear of the
Facial Emotion Recognition project,
https://github.com/muscak/Facial-Emotion-Recognition) is a parameter of the
estimator, applied to training batches only.

The script searches learning rate and augmentation on the synthetic FER data,
then draws the learning curves of the refitted best model (from its skorch
history) and its confusion matrix on held-out faces.

Run: ``python examples/plot_cnn_gridsearch.py [output_prefix]`` (a few
minutes on two CPU cores; a GPU is used when present).
"""

import sys

import numpy as np
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline

from fer_toolkit.datasets import make_synthetic_faces
from fer_toolkit.estimators import CNNClassifier
from fer_toolkit.plotting import plot_confusion_matrix, plot_learning_curves, save_figure
from fer_toolkit.preprocessing import Grayscale, Resize

prefix = sys.argv[1] if len(sys.argv) > 1 else "cnn_gridsearch"
faces = make_synthetic_faces(n_samples=3000, random_state=0)
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
                module__width=24,
                max_epochs=12,
                lr_schedule="cosine",
                validation_fraction=0.1,
                random_state=0,
            ),
        ),
    ]
)
grid = {
    "cnn__lr": [2e-3, 4e-3],
    "cnn__translation": [0.0, 0.05],  # small random shifts of training batches
}
search = GridSearchCV(pipeline, grid, cv=3, n_jobs=2, verbose=1).fit(X_train, y_train)
print(
    f"best {search.best_params_}, CV accuracy {search.best_score_:.3f}, "
    f"test accuracy {search.score(X_test, y_test):.3f}"
)

cnn = search.best_estimator_.named_steps["cnn"]
save_figure(
    plot_learning_curves(cnn.history_, title=f"best CNN {search.best_params_}"),
    f"{prefix}_learning_curves.png",
)
fig = plot_confusion_matrix(
    y_test,
    search.predict(X_test),
    labels=faces.target_names,
    normalize=True,
    title="best CNN on held-out faces",
)
save_figure(fig, f"{prefix}_confusion_matrix.png")
print(f"wrote {prefix}_learning_curves.png and {prefix}_confusion_matrix.png")
