"""Canonical emotion names and the label sets used by FER datasets and the seeds."""

from __future__ import annotations

__all__ = ["EMOTIONS", "FER2013_EMOTIONS", "FERPLUS_EMOTIONS", "LABEL_SETS"]

#: FER2013's integer codes 0-6, in order.
FER2013_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

#: Every canonical emotion name: FER2013's seven plus FER+'s ``contempt``.
EMOTIONS = (*FER2013_EMOTIONS, "contempt")

#: FER+ vote columns in their file order, as canonical names.
FERPLUS_EMOTIONS = (
    "neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt",
)

#: Label sets of the seed projects, by number of classes.
LABEL_SETS = {
    4: ("happy", "neutral", "sad", "surprise"),  # seed 001
    5: ("angry", "happy", "neutral", "sad", "surprise"),  # seed 004
    7: FER2013_EMOTIONS,  # seeds 002 and 003
    8: EMOTIONS,  # FER+
}
