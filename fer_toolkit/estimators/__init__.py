"""skorch-wrapped PyTorch estimators that behave like any scikit-learn estimator."""

from ._callbacks import ChanceLevelWarning
from .augmentation import AugmentationParams, augment_batch, augment_batches
from .backbone import Backbone, load_backbone, save_backbone
from .cnn import CNNClassifier
from .pretext import JigsawPretext, JointPretext, RotationPretext, jigsaw_permutations
from .transfer import backbone_blocks, freeze_blocks
from .verifier import FaceVerifier

__all__ = [
    "AugmentationParams",
    "Backbone",
    "CNNClassifier",
    "ChanceLevelWarning",
    "FaceVerifier",
    "JigsawPretext",
    "JointPretext",
    "RotationPretext",
    "augment_batch",
    "augment_batches",
    "backbone_blocks",
    "freeze_blocks",
    "jigsaw_permutations",
    "load_backbone",
    "save_backbone",
]
