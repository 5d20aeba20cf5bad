"""``HaarVerifier``: a face/non-face check of crops by a Haar cascade, no training needed.

The untrained counterpart of :class:`~fer_toolkit.estimators.FaceVerifier`
(``verifier.py``, beside it): both are ``verify`` filters of
:func:`~fer_toolkit.datasets.extract_faces`. This module needs no PyTorch.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..detection import HaarCascadeDetector
from ..preprocessing.geometry import resize_image
from ..utils.validation import InputError, check_size

# No __all__: HaarVerifier is public once, as fer_toolkit.datasets.HaarVerifier.


class HaarVerifier:
    """Face/non-face check of crops: accept a crop when a Haar cascade finds a face in it.

    The second opinion of the rule "drop a crop when either model rejects it" of
    faezesarlakifar/face-emotion-recognition. Any callable with the same
    signature (a list of crops in, a boolean mask out), such as a learned
    face/non-face classifier, can take its place in :func:`extract_faces`.

    Parameters
    ----------
    cascade : str or os.PathLike, default="frontalface_default"
        Cascade name or path (see :func:`~fer_toolkit.detection.resolve_cascade`).
    min_neighbors : int, default=3
        As OpenCV's ``minNeighbors``; lower than the detector default because the
        crop is already centred on the candidate face.
    size : int, default=96
        Crops are resized to ``size`` x ``size`` before detection, so the test
        is the same for small and large faces.
    min_face : float, default=0.4
        Smallest face accepted, as a fraction of ``size``: a tiny "face" in
        the texture of a false detection does not count.

    See Also
    --------
    fer_toolkit.estimators.FaceVerifier : A trained verifier, for faces a cascade misses.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.datasets import HaarVerifier
    >>> image = data.astronaut()
    >>> face, sleeve = image[40:190, 150:300], image[300:450, 0:150]
    >>> HaarVerifier()([face, sleeve])
    array([ True, False])
    """

    def __init__(self, cascade="frontalface_default", min_neighbors=3, size=96, min_face=0.4):
        size = check_size(size, "size")
        if size[0] != size[1]:
            raise InputError(f"size must be a single int (a square); got {size!r}.")
        if not isinstance(min_face, Real) or not 0.0 < min_face <= 1.0:
            raise InputError(f"min_face must be a number in (0, 1]; got {min_face!r}.")
        self.cascade = cascade
        self.min_neighbors = min_neighbors
        self.size = size[0]
        self.min_face = min_face
        smallest = max(round(self.size * min_face), 1)
        self._detector = HaarCascadeDetector(
            cascade, min_neighbors=min_neighbors, min_size=(smallest, smallest)
        )

    def __call__(self, crops) -> np.ndarray:
        """Return a boolean mask: True where a crop holds a face."""
        return np.array(
            [
                len(self._detector.detect(resize_image(crop, (self.size, self.size), "area"))) > 0
                for crop in crops
            ],
            dtype=bool,
        )
