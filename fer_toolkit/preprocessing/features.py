"""Classical image features for baselines that end in any scikit-learn classifier."""

from __future__ import annotations

import itertools
from numbers import Integral, Real

import numpy as np
from skimage.feature import hog, local_binary_pattern
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..utils.pixels import to_gray, to_uint8
from ..utils.validation import InputError, check_images, check_size
from ._base import ImageTransformer

__all__ = ["Flatten", "HOGFeatures", "LBPHistogram"]

_LBP_BINS = {
    "uniform": lambda p: p + 2,
    "default": lambda p: 2**p,
    "ror": lambda p: 2**p,
    "nri_uniform": lambda p: p * (p - 1) + 3,
}


def _check_same_shape(results, name):
    first = results[0].shape
    for i, features in enumerate(results):
        if features.shape != first:
            raise InputError(
                f"{name} needs images of one size: X[0] gives {first[0]} features but X[{i}] "
                f"gives {features.shape[0]}; put a Resize step before it."
            )
    return np.stack(results)


class _NamedImageFeatures(ImageTransformer):
    """An image transformer whose ``fit`` records ``feature_names_out_``."""

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, recorded by ``fit``.

        Parameters
        ----------
        input_features : None
            Ignored: the input is images, not named columns.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()


class HOGFeatures(_NamedImageFeatures):
    """Histogram of oriented gradients per image (scikit-image's ``hog``).

    Colour images are converted to grayscale first. All images must share one
    size (put :class:`Resize` before this step).

    Parameters
    ----------
    orientations : int, default=9
        Number of orientation bins.
    pixels_per_cell : tuple of (int, int), default=(8, 8)
        Cell size in pixels.
    cells_per_block : tuple of (int, int), default=(2, 2)
        Block size in cells, for normalisation.
    block_norm : {"L1", "L1-sqrt", "L2", "L2-Hys"}, default="L2-Hys"
        Block normalisation.
    n_jobs : int or None, default=None
        Threads computing descriptors.

    Attributes
    ----------
    n_features_out_ : int
        Length of one descriptor for the image size seen in ``fit``.
    feature_names_out_ : ndarray of str
        ``hog_block{r}_{c}_cell{i}_{j}_o{k}``: orientation bin ``k`` of cell
        ``(i, j)`` of the block at block row ``r``, column ``c`` (scikit-image's
        order), returned by :meth:`get_feature_names_out`.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n, n_features_out_)``. It needs
    no ``fit``; ``fit`` only validates and records the output column names, so
    that ``set_output(transform="pandas")`` and
    ``Pipeline.get_feature_names_out()`` work.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import HOGFeatures
    >>> X = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    >>> hog = HOGFeatures().fit(X)
    >>> hog.transform(X).shape
    (5, 900)
    >>> hog.get_feature_names_out()[:2].tolist()
    ['hog_block0_0_cell0_0_o0', 'hog_block0_0_cell0_0_o1']
    """

    _parameter_constraints: dict = {
        "orientations": [Interval(Integral, 1, None, closed="left")],
        "pixels_per_cell": [tuple, list],
        "cells_per_block": [tuple, list],
        "block_norm": [StrOptions({"L1", "L1-sqrt", "L2", "L2-Hys"})],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        orientations=9,
        pixels_per_cell=(8, 8),
        cells_per_block=(2, 2),
        block_norm="L2-Hys",
        n_jobs=None,
    ):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.n_jobs = n_jobs

    def _prepare(self):
        cell = check_size(tuple(self.pixels_per_cell), name="pixels_per_cell")
        block = check_size(tuple(self.cells_per_block), name="cells_per_block")
        return cell, block

    def _check_input(self, X):
        images = super()._check_input(X)
        cell, block = self._prepare()
        min_height, min_width = cell[0] * block[0], cell[1] * block[1]
        first = images[0].shape[:2]
        for i, image in enumerate(images):
            if image.shape[0] < min_height or image.shape[1] < min_width:
                raise InputError(
                    f"X[{i}] has shape {image.shape}, smaller than one HOG block "
                    f"({min_height}x{min_width} pixels); put a Resize step before HOGFeatures."
                )
            if image.shape[:2] != first:
                raise InputError(
                    f"HOGFeatures needs images of one size: X[0] is {first[0]}x{first[1]} but "
                    f"X[{i}] is {image.shape[0]}x{image.shape[1]}; put a Resize step before it."
                )
        return images

    def _transform_image(self, image, context):
        gray = to_gray(image)
        cell, block = context
        return hog(
            gray,
            orientations=self.orientations,
            pixels_per_cell=cell,
            cells_per_block=block,
            block_norm=self.block_norm,
            feature_vector=True,
        ).astype(np.float32)

    def _fit_images(self, images, context):
        (cell_rows, cell_cols), (block_rows, block_cols) = context
        height, width = images[0].shape[:2]
        names = [
            f"hog_block{r}_{c}_cell{i}_{j}_o{k}"
            for r in range(height // cell_rows - block_rows + 1)
            for c in range(width // cell_cols - block_cols + 1)
            for i in range(block_rows)
            for j in range(block_cols)
            for k in range(self.orientations)
        ]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)

    def _assemble(self, results):
        return _check_same_shape(results, "HOGFeatures")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class LBPHistogram(_NamedImageFeatures):
    """Local binary pattern histograms over a grid of cells, concatenated.

    Colour images are converted to grayscale first; images may differ in size
    (each is divided into the same ``grid`` of cells).

    Parameters
    ----------
    n_points : int, default=8
        Circularly symmetric neighbours (scikit-image's ``P``).
    radius : float, default=1
        Radius of the circle (``R``).
    method : {"uniform", "default", "ror", "nri_uniform"}, default="uniform"
        LBP variant; fixes the number of histogram bins (``P + 2`` for uniform).
    grid : tuple of (rows, cols), default=(4, 4)
        Cells per image; one normalised histogram per cell.
    n_jobs : int or None, default=None
        Threads computing the histograms (``None`` means 1, ``-1`` all
        cores), as in ``HOGFeatures``.

    Attributes
    ----------
    n_features_out_ : int
        ``rows * cols * n_bins``.
    feature_names_out_ : ndarray of str
        ``lbp_cell{r}_{c}_bin{b}``, returned by :meth:`get_feature_names_out`.

    Notes
    -----
    ``transform`` returns float32 of shape ``(n, rows * cols * n_bins)``, each
    cell's histogram summing to 1. It needs no ``fit``; ``fit`` only
    validates and records the output column names.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import LBPHistogram
    >>> X = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    >>> Xt = LBPHistogram(grid=(2, 2)).fit_transform(X)
    >>> Xt.shape, float(Xt[0, :10].sum())
    ((3, 40), 1.0)
    >>> LBPHistogram(grid=(2, 2)).fit(X).get_feature_names_out()[:2].tolist()
    ['lbp_cell0_0_bin0', 'lbp_cell0_0_bin1']
    """

    _parameter_constraints: dict = {
        "n_points": [Interval(Integral, 1, None, closed="left")],
        "radius": [Interval(Real, 0, None, closed="neither")],
        "method": [StrOptions(set(_LBP_BINS))],
        "grid": [tuple, list],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_points=8, radius=1, method="uniform", grid=(4, 4), n_jobs=None):
        self.n_points = n_points
        self.radius = radius
        self.method = method
        self.grid = grid
        self.n_jobs = n_jobs

    def _prepare(self):
        check_size(tuple(self.grid), name="grid")
        return _LBP_BINS[self.method](self.n_points)

    def _check_input(self, X):
        images = super()._check_input(X)
        rows, cols = check_size(tuple(self.grid), name="grid")
        for i, image in enumerate(images):
            if image.shape[0] < rows or image.shape[1] < cols:
                raise InputError(
                    f"X[{i}] has shape {image.shape}, smaller than the grid {tuple(self.grid)} "
                    "of LBP cells (one pixel per cell at least)."
                )
        return images

    def _transform_image(self, image, n_bins):
        gray = to_uint8(to_gray(image))
        rows, cols = self.grid
        codes = local_binary_pattern(gray, self.n_points, self.radius, self.method)
        codes = codes.astype(np.int64)
        row_edges = np.linspace(0, gray.shape[0], rows + 1).astype(int)
        col_edges = np.linspace(0, gray.shape[1], cols + 1).astype(int)
        histograms = [
            np.bincount(codes[r0:r1, c0:c1].ravel(), minlength=n_bins)[:n_bins]
            / float((r1 - r0) * (c1 - c0))
            for r0, r1 in itertools.pairwise(row_edges)
            for c0, c1 in itertools.pairwise(col_edges)
        ]
        return np.concatenate(histograms).astype(np.float32)

    def _fit_images(self, images, n_bins):
        rows, cols = self.grid
        names = [
            f"lbp_cell{r}_{c}_bin{b}"
            for r in range(rows)
            for c in range(cols)
            for b in range(n_bins)
        ]
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)

    def _assemble(self, results):
        return np.stack(results)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class Flatten(TransformerMixin, BaseEstimator):
    """Flatten each image into one row: ``(n, H, W[, C])`` becomes ``(n, H*W*C)``.

    ``fit`` records the image shape; ``transform`` rejects images of another
    shape, naming the first one.

    Attributes
    ----------
    image_shape_ : tuple of int
        Shape of one image seen in ``fit``.
    n_features_out_ : int
        Number of output columns.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import Flatten
    >>> Flatten().fit_transform(np.zeros((4, 48, 48), dtype=np.uint8)).shape
    (4, 2304)
    """

    _parameter_constraints: dict = {}

    def __init__(self):
        pass

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Record the shape of the images.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images of one shape.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        images = check_images(X)
        self.image_shape_ = images[0].shape
        self._check_shapes(images)
        self.n_features_out_ = int(np.prod(self.image_shape_))
        return self

    def transform(self, X):
        """Return the images as rows of a 2-D array with the input dtype.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images of the shape seen in ``fit``.

        Returns
        -------
        Xt : ndarray of shape (n, H * W * C)
            ``n_features_out_`` columns: the pixels of each image, flattened.
        """
        check_is_fitted(self)
        images = check_images(X)
        self._check_shapes(images)
        return np.stack(images).reshape(len(images), -1)

    def _check_shapes(self, images):
        for i, image in enumerate(images):
            if image.shape != self.image_shape_:
                raise InputError(
                    f"X[{i}] has shape {image.shape} but Flatten was fitted on images of shape "
                    f"{self.image_shape_}; put a Resize step before it."
                )

    def get_feature_names_out(self, input_features=None):
        """Names ``pixel0 ... pixel{n-1}`` of the output columns."""
        check_is_fitted(self)
        return np.asarray([f"pixel{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
