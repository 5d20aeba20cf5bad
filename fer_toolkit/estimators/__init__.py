"""skorch-wrapped PyTorch estimators that behave like any scikit-learn estimator."""

from .augmentation import AugmentationParams, augment_batch
from .cnn import CNNClassifier, resolve_device

__all__ = ["AugmentationParams", "CNNClassifier", "augment_batch", "resolve_device"]
