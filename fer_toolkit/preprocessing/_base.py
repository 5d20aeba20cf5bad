"""Common machinery of the image transformers: validation, per-image mapping, tags."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import cv2
from joblib import effective_n_jobs
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

    If ``func`` raises, the error of the *first* failing item (in batch order)
    is raised, whatever the number of threads, and only once every thread has
    stopped: no worker is left running in the background.

    Examples
    --------
    >>> from fer_toolkit.preprocessing._base import map_images
    >>> map_images(lambda v: v * 10, [1, 2, 3, 4, 5], n_jobs=2)
    [10, 20, 30, 40, 50]
    """
    items = list(items)
    n_workers = min(effective_n_jobs(n_jobs), len(items))
    if n_workers <= 1:
        return [func(item) for item in items]
    out = [None] * len(items)
    failure = {"index": len(items), "error": None}
    lock = threading.Lock()

    def run(start):
        # Interleaved chunks balance the load when image sizes vary along the batch.
        for i in range(start, len(items), n_workers):
            if i > failure["index"]:  # a failure at a smaller index will be reported
                return
            try:
                out[i] = func(items[i])
            except BaseException as exc:
                with lock:
                    if i < failure["index"]:
                        failure["index"], failure["error"] = i, exc
                return

    # Not joblib: on an error it abandons the other (daemon) workers, which then run
    # on in OpenCV and abort the interpreter at exit; this pool joins them all.
    with opencv_single_threaded(True), ThreadPoolExecutor(n_workers) as pool:
        for future in [pool.submit(run, start) for start in range(n_workers)]:
            future.result()
    if failure["error"] is not None:
        raise failure["error"]
    return out


class ImageTransformer(TransformerMixin, BaseEstimator):
    """Base class of stateless transformers that map each image independently.

    Subclasses implement :meth:`_transform_image` and may override
    :meth:`_prepare` (called once per ``fit`` and per ``transform``: it checks
    the parameters that ``_parameter_constraints`` cannot express, such as the
    values inside a size pair, and returns what every image needs) and
    :meth:`_assemble` (how per-image results form the output).
    ``fit`` validates the parameters and the images and returns ``self``; it
    learns nothing, so ``transform`` also works on an unfitted instance, as with
    scikit-learn's stateless transformers.
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
        images = self._check_input(X)
        self._fit_images(images, self._prepare())
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

    def _fit_images(self, images, context):
        """Record what ``fit`` learns from the validated images (nothing by default)."""

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
