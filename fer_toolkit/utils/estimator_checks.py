"""The scikit-learn contract, checked for estimators whose input is a batch of images.

scikit-learn's common checks feed 2-D numeric arrays and skip estimators that
do not accept them, so (like imbalanced-learn) fer_toolkit owns this suite.
It runs scikit-learn's data-independent checks as they are, and its own
image-based versions of the data-dependent ones.

Each check takes ``(name, estimator, data)`` where ``data`` is an
:class:`ImageTask`: inputs and labels suited to the estimator.
"""

from __future__ import annotations

import copy
import os
import pickle
import tempfile
from dataclasses import dataclass
from functools import partial

import cv2
import joblib
import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as sk_checks
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError

__all__ = [
    "ImageTask",
    "check_image_estimator",
    "expected_failed_checks",
    "instance_for_checks",
    "make_image_task",
    "yield_checks",
]

#: scikit-learn's checks that need no data; they run unchanged.
SKLEARN_DATA_INDEPENDENT_CHECKS = (
    sk_checks.check_no_attributes_set_in_init,
    sk_checks.check_parameters_default_constructible,
    sk_checks.check_get_params_invariance,
    sk_checks.check_set_params,
    sk_checks.check_estimator_cloneable,
    sk_checks.check_estimator_repr,
    sk_checks.check_estimator_tags_renamed,
    sk_checks.check_valid_tag_types,
    sk_checks.check_do_not_raise_errors_in_init_or_set_params,
    sk_checks.check_mixin_order,
)


@dataclass
class ImageTask:
    """Inputs for the checks: ``X`` (images or paths), labels ``y`` with two classes.

    Attributes
    ----------
    X : ndarray
        Images ``(n, H, W, 3)`` of dtype uint8, or their PNG paths for an
        estimator that reads files.
    y : ndarray of str
        One label per image, ``"happy"`` or ``"sad"``.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.utils.estimator_checks import ImageTask
    >>> task = ImageTask(np.zeros((2, 8, 8, 3), dtype=np.uint8), np.array(["happy", "sad"]))
    >>> task.X.shape, task.y.tolist()
    ((2, 8, 8, 3), ['happy', 'sad'])
    """

    X: object
    y: np.ndarray


def make_image_task(estimator, *, n_samples=12, size=32, random_state=0, folder=None):
    """Build a small, deterministic task the estimator can consume.

    Images are RGB uint8 with a bright blob whose side encodes the class, so a
    linear model downstream has something to learn. Estimators tagged as
    taking strings (file readers) get PNG paths written into ``folder``.

    Parameters
    ----------
    estimator : estimator instance
        The estimator the task is for (its tags say whether it reads files).
    n_samples : int, default=12
        Number of images, half of each class.
    size : int, default=32
        Side of the square images.
    random_state : int, default=0
        Seed of the background noise.
    folder : str or None, default=None
        Where the PNG files of a file reader go; None makes a temporary folder.

    Returns
    -------
    task : ImageTask
        The images (or paths) and their labels.

    Examples
    --------
    >>> from fer_toolkit.preprocessing import Grayscale, ImageReader
    >>> from fer_toolkit.utils.estimator_checks import make_image_task
    >>> task = make_image_task(Grayscale())
    >>> task.X.shape, task.X.dtype.name, sorted(set(task.y.tolist()))
    ((12, 32, 32, 3), 'uint8', ['happy', 'sad'])
    >>> make_image_task(ImageReader(), n_samples=4).X[0].endswith("image_000.png")
    True
    """
    rng = np.random.default_rng(random_state)
    y = np.array(["happy", "sad"] * (n_samples // 2))
    X = rng.integers(0, 60, size=(n_samples, size, size, 3), dtype=np.uint8)
    for image, label in zip(X, y, strict=True):
        column = slice(2, size // 2) if label == "happy" else slice(size // 2, size - 2)
        image[size // 4 : 3 * size // 4, column] += 150
    if get_tags(estimator).input_tags.string:
        folder = folder or tempfile.mkdtemp(prefix="fer_toolkit_checks_")
        paths = []
        for i, image in enumerate(X):
            path = os.path.join(folder, f"image_{i:03d}.png")
            cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            paths.append(path)
        return ImageTask(np.asarray(paths), y)
    return ImageTask(X, y)


def _outputs(estimator, X):
    """What the estimator produces: predictions or transformed data."""
    if hasattr(estimator, "predict"):
        return estimator.predict(X)
    return estimator.transform(X)


def _assert_same(a, b, message):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), message
        for left, right in zip(a, b, strict=True):
            np.testing.assert_array_equal(left, right, err_msg=message)
    else:
        np.testing.assert_array_equal(a, b, err_msg=message)


#: Parameters that make an estimator quick enough for the checks, by class name.
_CHECK_PARAMS = {
    "CNNClassifier": {
        "max_epochs": 2,
        "batch_size": 4,
        "validation_fraction": None,
        "random_state": 0,
        "device": "cpu",
    },
    "EyeMouthBlocks": {"output": "stacked", "face_size": 16},
    "MTCNNFaceCropper": {"device": "cpu", "output_size": 16},
    **{
        name: {
            "module__width": 4,
            "max_epochs": 1,
            "batch_size": 4,
            "random_state": 0,
            "device": "cpu",
            **extra,
        }
        for name, extra in (
            ("RotationPretext", {}),
            ("JigsawPretext", {"n_permutations": 10}),
            ("JointPretext", {"n_permutations": 10}),
        )
    },
    "FaceVerifier": {
        "module__width": 4,
        "patch_size": 16,
        "face_label": "happy",
        "max_epochs": 2,
        "batch_size": 4,
        "random_state": 0,
        "device": "cpu",
    },
}

#: What GridSearchCV varies when the estimator is itself the classifier.
_SEARCH_GRIDS = {
    "CNNClassifier": {"est__lr": [1e-3, 3e-3]},
    "FaceVerifier": {"est__threshold": [0.3, 0.7]},
}

#: Checks an estimator is known to fail, with the reason (as scikit-learn's
#: ``expected_failed_checks``).
_EXPECTED_FAILURES = {
    "CNNClassifier": {
        "check_no_attributes_set_in_init": (
            "skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_"
        ),
        "check_set_params": (
            "skorch lists its private _params_to_validate set among the parameters, and "
            "its set_params breaks when the check sets that to a number"
        ),
    },
}
# The pretext estimators and FaceVerifier are skorch nets too, with the same known failures.
_EXPECTED_FAILURES.update(
    dict.fromkeys(
        ("RotationPretext", "JigsawPretext", "JointPretext", "FaceVerifier"),
        _EXPECTED_FAILURES["CNNClassifier"],
    )
)


def instance_for_checks(estimator_cls):
    """An instance with the parameters the checks use for this class.

    Networks get few epochs and small batches, so that the checks stay fast.

    Parameters
    ----------
    estimator_cls : type
        An estimator class of fer_toolkit.

    Returns
    -------
    estimator : estimator instance
        ``estimator_cls`` with those parameters (its defaults for most classes).

    Examples
    --------
    >>> from fer_toolkit.estimators import CNNClassifier
    >>> from fer_toolkit.utils.estimator_checks import instance_for_checks
    >>> instance_for_checks(CNNClassifier).max_epochs
    2
    """
    return estimator_cls(**_CHECK_PARAMS.get(estimator_cls.__name__, {}))


def expected_failed_checks(estimator) -> dict:
    """``{check name: reason}`` of the checks this estimator is known to fail.

    Parameters
    ----------
    estimator : estimator instance
        The estimator to check.

    Returns
    -------
    failures : dict of str to str
        Check name -> why it fails; empty for most estimators.

    Examples
    --------
    >>> from fer_toolkit.estimators import CNNClassifier
    >>> from fer_toolkit.preprocessing import Grayscale
    >>> from fer_toolkit.utils.estimator_checks import expected_failed_checks
    >>> sorted(expected_failed_checks(CNNClassifier()))
    ['check_no_attributes_set_in_init', 'check_set_params']
    >>> expected_failed_checks(Grayscale())
    {}
    """
    return _EXPECTED_FAILURES.get(type(estimator).__name__, {})


def _flatten_rows(X):
    return np.asarray(X).reshape(len(X), -1)


def _to_classifier(estimator, data):
    """A pipeline ending in a classifier: the estimator itself, or a linear model after it."""
    from ..preprocessing import Flatten, Resize

    steps = [("est", estimator)]
    if is_classifier(estimator):
        return Pipeline(steps)
    output = clone(estimator).fit_transform(data.X, data.y)
    if isinstance(output, np.ndarray) and output.ndim == 4 and output.shape[-1] not in (1, 3):
        # Several images stacked along the channel axis: not one image per row.
        steps.append(("rows", FunctionTransformer(_flatten_rows)))
    elif not (isinstance(output, np.ndarray) and output.ndim == 2):
        steps += [("resize", Resize(size=8)), ("flatten", Flatten())]
    steps.append(("clf", LogisticRegression(max_iter=200)))
    return Pipeline(steps)


def check_fit_returns_self(name, estimator, data):
    fitted = estimator.fit(data.X, data.y)
    assert fitted is estimator, f"{name}.fit must return self."


def check_input_not_mutated(name, estimator, data):
    before = copy.deepcopy(data.X)
    estimator.fit(data.X, data.y)
    _outputs(estimator, data.X)
    _assert_same(before, data.X, f"{name} modified its input X.")


def check_not_fitted(name, estimator, data):
    if get_tags(estimator).requires_fit:
        try:
            _outputs(estimator, data.X)
        except NotFittedError:
            return
        raise AssertionError(f"{name} must raise NotFittedError before fit.")
    # Stateless: an unfitted instance gives what a fitted one gives.
    unfitted = _outputs(clone(estimator), data.X)
    _assert_same(
        unfitted,
        _outputs(estimator.fit(data.X, data.y), data.X),
        f"{name} is stateless but transform differs before and after fit.",
    )


def check_pickle_round_trip(name, estimator, data):
    estimator.fit(data.X, data.y)
    expected = _outputs(estimator, data.X)
    restored = pickle.loads(pickle.dumps(estimator))
    _assert_same(expected, _outputs(restored, data.X), f"{name} changed after pickling.")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.joblib")
        joblib.dump(estimator, path)
        _assert_same(
            expected,
            _outputs(joblib.load(path), data.X),
            f"{name} changed after a joblib round trip.",
        )


def check_clone_and_params(name, estimator, data):
    params = estimator.get_params(deep=False)
    cloned = clone(estimator)
    assert cloned.get_params(deep=False).keys() == params.keys()
    for key, value in params.items():
        assert cloned.get_params(deep=False)[key] is value or cloned.get_params()[key] == value
    cloned.set_params(**params)
    _assert_same(
        _outputs(estimator.fit(data.X, data.y), data.X),
        _outputs(cloned.fit(data.X, data.y), data.X),
        f"{name}: a clone with the same parameters gives different output.",
    )


def check_invalid_parameters_rejected(name, estimator, data):
    """Every constrained parameter set to a nonsense value makes ``fit`` raise."""

    class Nonsense:
        pass

    for param in getattr(estimator, "_parameter_constraints", {}):
        broken = clone(estimator).set_params(**{param: Nonsense()})
        try:
            broken.fit(data.X, data.y)
        except InvalidParameterError as exc:
            assert param in str(exc), f"{name}: the error for {param!r} does not name it."
        else:
            raise AssertionError(f"{name}.fit accepted a nonsense value for {param!r}.")


def check_in_pipeline_and_search(name, estimator, data):
    """Works in Pipeline, GridSearchCV with two worker processes, and cross_val_score."""
    pipe = _to_classifier(estimator, data)
    pipe.fit(data.X, data.y)
    assert pipe.predict(data.X).shape == (len(data.y),)
    grid = _SEARCH_GRIDS.get(name, {"clf__C": [0.1, 1.0]})
    search = GridSearchCV(pipe, grid, cv=2, n_jobs=2, error_score="raise")
    search.fit(data.X, data.y)
    assert len(search.cv_results_["params"]) == 2
    best = search.best_estimator_.named_steps["est"].get_params(deep=False)
    expected = estimator.get_params(deep=False)
    expected.update(
        {
            key.removeprefix("est__"): value
            for key, value in search.best_params_.items()
            if key.startswith("est__")
        }
    )
    assert best == expected
    scores = cross_val_score(pipe, data.X, data.y, cv=2, error_score="raise")
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


_IMAGE_CHECKS = (
    check_fit_returns_self,
    check_input_not_mutated,
    check_not_fitted,
    check_pickle_round_trip,
    check_clone_and_params,
    check_invalid_parameters_rejected,
    check_in_pipeline_and_search,
)


def yield_checks():
    """Yield every check: scikit-learn's data-independent ones, then ours.

    Yields
    ------
    check : callable
        Called as ``check(name, estimator, data)`` with an :class:`ImageTask`.
    check_name : str
        Its name, as in :func:`expected_failed_checks`.

    Examples
    --------
    >>> from fer_toolkit.preprocessing import Grayscale
    >>> from fer_toolkit.utils.estimator_checks import make_image_task, yield_checks
    >>> checks = dict((name, check) for check, name in yield_checks())
    >>> "check_pickle_round_trip" in checks
    True
    >>> checks["check_pickle_round_trip"]("Grayscale", Grayscale(), make_image_task(Grayscale()))
    """
    for check in SKLEARN_DATA_INDEPENDENT_CHECKS:
        yield partial(_without_data, check), check.__name__
    for check in _IMAGE_CHECKS:
        yield check, check.__name__


def _without_data(check, name, estimator, data):
    check(name, estimator)


def check_image_estimator(estimator, *, data=None):
    """Run the whole contract on one estimator instance; raise on the first failure.

    Examples
    --------
    >>> from fer_toolkit.preprocessing import Grayscale
    >>> from fer_toolkit.utils.estimator_checks import check_image_estimator
    >>> check_image_estimator(Grayscale())
    """
    data = data or make_image_task(estimator)
    name = type(estimator).__name__
    skipped = expected_failed_checks(estimator)
    for check, check_name in yield_checks():
        if check_name not in skipped:
            check(name, clone(estimator), data)
