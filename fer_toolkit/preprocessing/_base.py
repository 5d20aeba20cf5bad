"""Common machinery of the image transformers: validation, per-image mapping, tags."""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin, _fit_context

from ..utils.threads import map_images
from ..utils.validation import check_images, stack_images

__all__ = ["ImageTransformer"]


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
