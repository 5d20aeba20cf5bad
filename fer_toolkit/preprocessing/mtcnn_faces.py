"""Cropping, or aligning, one face per image with MTCNN."""

from __future__ import annotations

import sys
from numbers import Integral, Real
from typing import TYPE_CHECKING

from sklearn.utils._param_validation import Interval

from .faces import _DetectorCache, _FaceCropper, cut_face

if TYPE_CHECKING:
    from ..detection import MTCNN

__all__ = ["MTCNNFaceCropper"]


class _TorchDeviceType(type):
    """The type of :data:`_TORCH_DEVICE`, whose instances are the ``torch.device`` objects."""

    def __instancecheck__(cls, instance):
        # Nothing is a torch.device before PyTorch is imported: no need to import it.
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(instance, torch.device)


#: ``torch.device`` for parameter constraints, without importing PyTorch. Named after it,
#: the errors for invalid values say "an instance of 'str' or an instance of 'torch.device'".
_TORCH_DEVICE = _TorchDeviceType("device", (), {"__module__": "torch"})

#: Constraints of the MTCNN parameters shared by every step that runs MTCNN.
_MTCNN_CONSTRAINTS: dict = {
    "min_face_size": [Interval(Real, 0, None, closed="neither")],
    "thresholds": [tuple, list],
    "device": [str, _TORCH_DEVICE],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
}


class _MTCNNUser(_DetectorCache):
    """A step with parameters ``min_face_size``, ``thresholds``, ``device``, ``batch_size``."""

    def _mtcnn(self) -> MTCNN:
        """The detector for the current parameters, built once and reused."""
        from ..detection import MTCNN  # imports PyTorch: only when a detector is built

        return self._cached_detector(
            (self.min_face_size, tuple(self.thresholds), str(self.device), self.batch_size),
            lambda: MTCNN(
                min_face_size=self.min_face_size,
                thresholds=tuple(self.thresholds),
                device=self.device,
                batch_size=self.batch_size,
            ),
        )


class MTCNNFaceCropper(_MTCNNUser, _FaceCropper):
    """Crop, or align, one face per image with MTCNN.

    Parameters
    ----------
    min_face_size : float, default=20
        Smallest face to look for, in pixels; larger values are faster.
    thresholds : tuple of 3 float, default=(0.6, 0.7, 0.8)
        Face probability a candidate needs to pass P-Net, R-Net and O-Net.
    margin : float, default=0.0
        Fraction of the face added on each side: of the detected box when
        cropping (parts outside the image are zero-padded, keeping the face
        centred), of the template's face square when aligning.
    align : bool, default=False
        If True, warp each face by the similarity (rotation, uniform scale,
        translation) that maps its five landmarks onto the canonical template
        (:data:`~fer_toolkit.preprocessing.FACE_TEMPLATE`): eyes
        level at fixed positions, the framing that
        :class:`EyeMouthBlocks`' priors assume.
    output_size : int, tuple of (height, width) or None, default=None
        Resize crops to this size (INTER_AREA), or render aligned faces at it,
        giving one ndarray (when the images share one channel layout).
        ``None`` keeps each face's own resolution and returns a list: the box
        crop, or with ``align=True`` a square whose side leaves the face's
        scale unchanged.
    keep : {"largest", "central", "best"}, default="largest"
        Which face to keep when several are found: the largest box, the one
        closest to the image centre, or the most confident one.
    on_missing : {"center", "full", "raise"}, default="center"
        Policy for an image without a face: crop the largest centred square,
        keep the full frame, or raise :class:`NoFaceError` naming the image.
        The number of images never changes, so ``y`` stays aligned. Fallback
        images are never aligned. Each ``transform`` that falls back warns
        (:class:`~fer_toolkit.preprocessing.faces.FaceFallbackWarning`) with
        the count and the first images concerned.
    device : str or torch.device, default="auto"
        Where MTCNN runs: ``"auto"`` (CUDA when available), ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``...
    batch_size : int, default=512
        Largest number of face candidates per R-Net or O-Net pass; the whole
        batch of images goes through :meth:`~fer_toolkit.detection.MTCNN.detect_batch` at once.

    See Also
    --------
    fer_toolkit.detection.MTCNN : The detector used underneath.
    HaarFaceCropper : The same step with an OpenCV cascade.

    Notes
    -----
    Output dtype and channels equal the input's: faces are cut from the
    original image; detection runs on an RGB uint8 copy.

    Examples
    --------
    >>> from skimage import data
    >>> from fer_toolkit.preprocessing import MTCNNFaceCropper
    >>> cropper = MTCNNFaceCropper(align=True, output_size=48, device="cpu")
    >>> cropper.fit_transform([data.astronaut()]).shape
    (1, 48, 48, 3)
    >>> cropper.detect([data.astronaut()])[0].landmarks.shape
    (1, 5, 2)
    """

    _parameter_constraints: dict = {
        **_FaceCropper._parameter_constraints,
        **_MTCNN_CONSTRAINTS,
        "align": ["boolean"],
    }

    def __init__(
        self,
        min_face_size=20,
        thresholds=(0.6, 0.7, 0.8),
        margin=0.0,
        align=False,
        output_size=None,
        keep="largest",
        on_missing="center",
        device="auto",
        batch_size=512,
    ):
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.margin = margin
        self.align = align
        self.output_size = output_size
        self.keep = keep
        self.on_missing = on_missing
        self.device = device
        self.batch_size = batch_size

    def _detector(self) -> MTCNN:
        return self._mtcnn()

    def _detector_name(self) -> str:
        return f"MTCNN (min_face_size={self.min_face_size}, thresholds={self.thresholds})"

    def _detect_all(self, detector, images):
        return detector.detect_batch(images)

    def _cut(self, image, detections, index, size):
        return cut_face(
            image, detections, index, output_size=size, margin=self.margin, align=self.align
        )

    def detect(self, X):
        """Detect every face and its five landmarks in every image.

        Parameters
        ----------
        X : ndarray of shape (n, H, W) or (n, H, W, C), or list of arrays
            Images.

        Returns
        -------
        detections : list of Detections
            One per image: ``boxes`` ``(k, 4)`` as ``(x, y, w, h)``, ``scores``
            (O-Net's face probability), ``landmarks`` ``(k, 5, 2)``; most
            confident face first (see :meth:`~fer_toolkit.detection.MTCNN.detect`).
        """
        return super().detect(X)
