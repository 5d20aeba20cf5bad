"""skorch-wrapped PyTorch estimators that behave like any scikit-learn estimator.

The names load on first use (PEP 562), so that the modules here that need no
PyTorch (``haar_verifier``) import without it.
"""

from ..utils.lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "_callbacks": ["ChanceLevelWarning"],
        "_pretext_data": ["jigsaw_permutations"],
        "augmentation": ["AugmentationParams", "augment_batch"],
        "backbone": ["Backbone", "load_backbone", "save_backbone"],
        "cnn": ["CNNClassifier", "resolve_device"],
        "pretext": ["JigsawPretext", "JointPretext", "RotationPretext"],
        "verifier": ["FaceVerifier"],
    },
)

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
    "jigsaw_permutations",
    "load_backbone",
    "resolve_device",
    "save_backbone",
]
