"""The result type shared by every face detector."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Detections"]


@dataclass(frozen=True)
class Detections:
    """Faces found in one image.

    Attributes
    ----------
    boxes : ndarray of shape (k, 4), dtype int
        ``(x, y, w, h)`` in pixels of the input image (OpenCV's convention).
    scores : ndarray of shape (k,), dtype float
        Detector confidence; its scale depends on the detector (for Haar
        cascades, the number of merged neighbouring windows).
    landmarks : ndarray of shape (k, 5, 2) or None
        ``(x, y)`` of left eye, right eye, nose, mouth left, mouth right
        ("left" is image-left), for detectors that locate them.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.detection import Detections
    >>> d = Detections(np.array([[10, 20, 30, 30]]), np.array([4.0]))
    >>> len(d), d.largest()
    (1, 0)
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    def largest(self) -> int:
        """Index of the box with the largest area."""
        return int(np.argmax(self.boxes[:, 2] * self.boxes[:, 3]))

    def most_central(self, image_shape) -> int:
        """Index of the box whose centre is closest to the image centre."""
        centres = self.boxes[:, :2] + self.boxes[:, 2:] / 2.0
        target = np.array([image_shape[1], image_shape[0]]) / 2.0
        return int(np.argmin(((centres - target) ** 2).sum(axis=1)))

    def best(self) -> int:
        """Index of the box with the highest score (the largest on ties)."""
        area = self.boxes[:, 2] * self.boxes[:, 3]
        return int(np.lexsort((-area, -self.scores))[0])
