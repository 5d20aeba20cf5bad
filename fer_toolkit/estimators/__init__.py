"""skorch-wrapped PyTorch estimators that behave like any scikit-learn estimator.

The names load on first use (PEP 562), so that the modules here that need no
PyTorch (``haar_verifier``) import without it.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "augmentation": ["AugmentationParams", "augment_batch", "augment_batches"],
        "backbone": ["Backbone", "load_backbone", "save_backbone"],
        "cnn": ["ChanceLevelWarning", "CNNClassifier"],
        "pretext": ["JigsawPretext", "JointPretext", "RotationPretext", "jigsaw_permutations"],
        "transfer": ["backbone_blocks", "freeze_blocks"],
        "verifier": ["FaceVerifier"],
    },
)
