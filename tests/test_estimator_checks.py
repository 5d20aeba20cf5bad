"""The contract checks themselves must fail on estimators that break the contract."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from fer_toolkit.preprocessing import Grayscale
from fer_toolkit.utils import estimator_checks as ec


class ReturnsNone(Grayscale):
    def fit(self, X, y=None):
        super().fit(X, y)


class MutatesInput(Grayscale):
    def transform(self, X):
        X[0][0, 0] = 0 if X[0][0, 0].max() else 255
        return super().transform(X)


class SetsAttributeInInit(Grayscale):
    def __init__(self):
        self.cache_ = {}


class IgnoresItsParameter(TransformerMixin, BaseEstimator):
    _parameter_constraints: dict = {}

    def __init__(self, scale=1):
        self.scale = scale

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float).reshape(len(X), -1)


class ForgetsStateWhenPickled(Grayscale):
    def __init__(self):
        pass

    def fit(self, X, y=None):
        self.offset_ = 1
        return self

    def transform(self, X):
        return super().transform(X) + getattr(self, "offset_", 0)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("offset_", None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


@pytest.mark.parametrize(
    ("estimator", "check"),
    [
        (ReturnsNone(), ec.check_fit_returns_self),
        (MutatesInput(), ec.check_input_not_mutated),
        (ForgetsStateWhenPickled(), ec.check_pickle_round_trip),
        (ForgetsStateWhenPickled(), ec.check_not_fitted),
        (IgnoresItsParameter(), ec.check_invalid_parameters_rejected),
    ],
)
def test_checks_catch_broken_estimators(estimator, check):
    data = ec.make_image_task(Grayscale())
    if check is ec.check_invalid_parameters_rejected:
        estimator._parameter_constraints = {"scale": ["boolean"]}
    with pytest.raises(AssertionError):
        check(type(estimator).__name__, estimator, data)


def test_sklearn_check_catches_attribute_set_in_init():
    data = ec.make_image_task(Grayscale())
    for check, name in ec.yield_checks():
        if name == "check_no_attributes_set_in_init":
            with pytest.raises(AssertionError):
                check("SetsAttributeInInit", SetsAttributeInInit(), data)
            return
    raise AssertionError("check_no_attributes_set_in_init is not in the suite")


def test_check_image_estimator_passes_a_good_estimator():
    ec.check_image_estimator(Grayscale())
