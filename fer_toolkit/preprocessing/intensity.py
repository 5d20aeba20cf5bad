"""Intensity scaling to floating point."""

from __future__ import annotations

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ._base import ImageTransformer

__all__ = ["Rescale"]

_EPS = 1e-6


class Rescale(ImageTransformer):
    """Convert images to floating point in [0, 1], optionally standardised per image.

    Parameters
    ----------
    standardize : bool, default=False
        If True, subtract each image's mean and divide by its standard
        deviation (over all pixels and channels), so every image has zero mean
        and unit variance; a uniform image becomes all zeros.
    dtype : {"float32", "float64"}, default="float32"
        Output dtype.

    Notes
    -----
    ``uint8`` pixels are divided by 255; float inputs already lie in [0, 1]
    and are only cast. Output shape equals input shape.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.preprocessing import Rescale
    >>> X = np.array([[[0, 255], [51, 255]]], dtype=np.uint8)
    >>> Rescale().fit_transform(X)
    array([[[0. , 1. ],
            [0.2, 1. ]]], dtype=float32)
    >>> Xt = Rescale(standardize=True).fit_transform(X)
    >>> abs(float(Xt.mean())) < 1e-6, round(float(Xt.std()), 3)
    (True, 1.0)
    """

    _parameter_constraints: dict = {
        "standardize": ["boolean"],
        "dtype": [StrOptions({"float32", "float64"})],
    }

    def __init__(self, standardize=False, dtype="float32"):
        self.standardize = standardize
        self.dtype = dtype

    def _transform_image(self, image, context):
        dtype = np.dtype(self.dtype)
        if image.dtype == np.uint8:
            out = image.astype(dtype) / dtype.type(255.0)
        else:
            out = image.astype(dtype)
        if self.standardize:
            out = out - out.mean()
            std = out.std()
            out = out / std if std > _EPS else np.zeros_like(out)
        return out
