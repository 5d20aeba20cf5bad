"""Training OpenCV-compatible Haar and LBP cascades.

``.vec`` sample files, positive description files and background lists, the
``createsamples`` tools, a native boosted-cascade trainer whose XML
``cv2.CascadeClassifier`` loads unchanged, hard-negative mining as
``opencv_traincascade`` does it, detection and evaluation over image files, and
a wrapper around OpenCV's own ``opencv_createsamples`` / ``opencv_traincascade``
when they are installed.
"""

import lazy_loader as _lazy

# The public names, by the module that defines them, each imported on first use (PEP 562).
# None of the trainer's modules imports PyTorch at import time: training on the CPU and
# Cascade detection never load it; device="cuda" imports it when it computes feature values.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "boost": ["boost_stage"],
        "createsamples": ["create_samples", "samples_from_image", "samples_from_info", "show_vec"],
        "description": ["Positive", "read_bg", "read_info", "write_bg", "write_info"],
        "detect": [
            "ImageDetections",
            "detect_files",
            "find_images",
            "write_detections_csv",
            "write_detections_json",
        ],
        # box_iou is fer_toolkit.utils.boxes.box_iou, which evaluate imports.
        "evaluate": [
            "CascadeEvaluation",
            "OperatingPoint",
            "box_iou",
            "evaluate_cascade",
            "match_detections",
        ],
        "features": [
            "HaarFeatures",
            "LBPFeatures",
            "haar_features",
            "lbp_features",
            "make_features",
        ],
        "flags": ["CREATESAMPLES", "TRAINCASCADE", "FlagTable", "OpenCVFlag"],
        "integral": ["IntegralBatch", "integral_batch", "integral_image"],
        "model": ["Cascade", "CascadeParams", "FeatureParams", "Stage", "StageParams", "WeakTree"],
        "negatives": [
            "Backgrounds",
            "MinedNegatives",
            "NegativeWalk",
            "mine_negatives",
            "walk_windows",
        ],
        "opencv_backend": [
            "OpenCVToolError",
            "OpenCVToolNotFoundError",
            "createsamples_args",
            "find_opencv_tool",
            "run_createsamples",
            "run_opencv_tool",
            "run_traincascade",
            "traincascade_args",
        ],
        "train": ["StageReport", "TrainingResult", "train_cascade"],
        "vec": ["read_vec", "vec_count", "write_vec"],
        "xml": [
            "read_cascade",
            "read_params",
            "read_stage",
            "write_cascade",
            "write_params",
            "write_stage",
        ],
    },
)
