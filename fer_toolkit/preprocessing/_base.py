"""Common machinery of the image transformers: validation, per-image mapping, tags."""

from __future__ import annotations

import contextlib

import cv2
import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn_compat.base import _fit_context

from ..utils.validation import check_images, stack_images

__all__ = ["ImageTransformer"]


@contextlib.contextmanager
def opencv_single_threaded(active: bool):
    """Switch OpenCV's own thread pool off while ``active``, then restore it.

    When fer_toolkit runs images on several threads, OpenCV's internal
    parallelism would oversubscribe the cores (the same reason scikit-learn
    limits BLAS threads inside its parallel loops).
    """
    if not active:
        yield
        return
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def map_images(func, items, n_jobs=None):
    """Apply ``func`` to every item, in chunks on ``n_jobs`` threads.

    Threads, not processes: OpenCV and scikit-image release the GIL in their
    kernels, and images then never need to be pickled to a worker.
    """
    n_workers = min(effective_n_jobs(n_jobs), len(items))
    if n_workers <= 1:
        return [func(item) for item in items]
    # Interleaved chunks balance the load when image sizes vary along the batch.
    chunks = [items[start::n_workers] for start in range(n_workers)]
    with opencv_single_threaded(True):
        results = Parallel(n_jobs=n_workers, prefer="threads")(
            delayed(lambda chunk: [func(item) for item in chunk])(chunk) for chunk in chunks
        )
    out = [None] * len(items)
    for start, chunk_result in enumerate(results):
        out[start::n_workers] = chunk_result
    return out


class ImageTransformer(TransformerMixin, BaseEstimator):
    """Base class of stateless transformers that map each image independently.

    Subclasses implement :meth:`_transform_image` and may override
    :meth:`_prepare` (called once per ``transform`` with the validated
    parameters) and :meth:`_assemble` (how per-image results form the output).
    ``fit`` validates the parameters and returns ``self``; it learns nothing, so
    ``transform`` also works on an unfitted instance, as with scikit-learn's
    stateless transformers.
    """

    _parameter_constraints: dict = {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the images; learn nothing.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer.
        """
        self._check_input(X)
        return self

    def transform(self, X):
        """Apply the transformation to every image of ``X``.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images.

        Returns
        -------
        Xt : ndarray or list of ndarray
            One ndarray when every output has the same shape, else a list.
        """
        self._validate_params()
        images = self._check_input(X)
        context = self._prepare()
        results = map_images(
            lambda image: self._transform_image(image, context),
            images,
            getattr(self, "n_jobs", None),
        )
        return self._assemble(results)

    def _check_input(self, X):
        return check_images(X)

    def _prepare(self):
        return None

    def _transform_image(self, image, context):
        raise NotImplementedError

    def _assemble(self, results):
        return stack_images(results)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags


def as_uint8(image: np.ndarray) -> np.ndarray:
    """Return an 8-bit view of a uint8 or [0, 1] float image (rounding floats)."""
    if image.dtype == np.uint8:
        return image
    return np.rint(image * 255.0).astype(np.uint8)
