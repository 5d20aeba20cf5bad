"""The shared scikit-learn contract test over every public estimator of fer_toolkit."""

import pytest

from fer_toolkit.utils.discovery import all_estimators
from fer_toolkit.utils.estimator_checks import make_image_task, yield_checks

ESTIMATORS = all_estimators()


def test_discovery_lists_the_known_estimators():
    names = {name for name, _ in ESTIMATORS}
    assert {
        "Flatten",
        "Grayscale",
        "HOGFeatures",
        "HaarFaceCropper",
        "ImageReader",
        "LBPHistogram",
        "Rescale",
        "Resize",
    } <= names


@pytest.mark.parametrize(
    "estimator_cls", [cls for _, cls in ESTIMATORS], ids=[name for name, _ in ESTIMATORS]
)
@pytest.mark.parametrize(
    "check", [c for c, _ in yield_checks()], ids=[n for _, n in yield_checks()]
)
def test_estimator_contract(estimator_cls, check, tmp_path):
    estimator = estimator_cls()
    check(estimator_cls.__name__, estimator, make_image_task(estimator, folder=str(tmp_path)))
