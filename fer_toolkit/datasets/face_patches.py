"""Real face and non-face patches for training a face/non-face verifier.

The Persian FER study of faezesarlakifar/face-emotion-recognition
(https://github.com/faezesarlakifar/face-emotion-recognition) removed false
detections with a second, face/non-face model. The data for one ships with
scikit-image: :func:`skimage.data.lfw_subset` holds 100 face crops from Labeled
Faces in the Wild and 100 non-face patches (25x25 grayscale), and several
:mod:`skimage.data` images show no human face at all, so random patches of them
are background examples. Nothing is downloaded.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from skimage import data as skdata
from sklearn.utils import Bunch, check_random_state

from ..preprocessing.geometry import resize_image
from ..utils.pixels import to_gray, to_uint8
from ..utils.validation import InputError

__all__ = ["BACKGROUND_SCENES", "make_face_patches"]

#: Images of :mod:`skimage.data` without a human face (bundled with scikit-image).
#: ``"chelsea"`` is a cat: a non-human face counts as a non-face, as in that study.
BACKGROUND_SCENES = (
    "brick",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)

# Sides of the background patches, in pixels of the scene: from this minimum up to
# half the scene's shorter side, log-uniformly (small textures and large structures).
_MIN_PATCH_SIDE = 16
_LFW_SIDE = 25


def _check_scenes(scenes) -> tuple[str, ...]:
    if scenes is None:
        return BACKGROUND_SCENES
    if isinstance(scenes, str):
        scenes = (scenes,)
    scenes = tuple(scenes)
    unknown = [name for name in scenes if name not in BACKGROUND_SCENES]
    if unknown:
        raise InputError(
            f"scenes {unknown} are not known to be face-free; choose from {BACKGROUND_SCENES}."
        )
    if len(set(scenes)) != len(scenes):
        raise InputError(f"scenes must be distinct; got {scenes}.")
    return scenes


def background_patches(scene: str, n: int, size: int, rng: np.random.RandomState) -> np.ndarray:
    """``n`` random square grayscale patches of a :data:`BACKGROUND_SCENES` image.

    Each patch has a log-uniform side between 16 pixels and half the scene's
    shorter side, a uniform position, and is resized to ``size x size``
    (INTER_AREA) as uint8.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.datasets.face_patches import background_patches
    >>> background_patches("coffee", 3, 32, np.random.RandomState(0)).shape
    (3, 32, 32)
    """
    image = to_uint8(to_gray(np.asarray(getattr(skdata, scene)())))
    height, width = image.shape
    largest = max(min(height, width) // 2, _MIN_PATCH_SIDE)
    sides = np.exp(rng.uniform(np.log(_MIN_PATCH_SIDE), np.log(largest), n)).astype(int)
    patches = np.empty((n, size, size), dtype=np.uint8)
    for i, side in enumerate(sides):
        top = rng.randint(0, height - side + 1)
        left = rng.randint(0, width - side + 1)
        patches[i] = resize_image(image[top : top + side, left : left + side], (size, size))
    return patches


def make_face_patches(n_background=100, *, size=25, scenes=None, random_state=None):
    """Real face/non-face patches: LFW faces, LFW non-faces and face-free scene patches.

    Parameters
    ----------
    n_background : int, default=100
        Number of random patches cut from the ``scenes``, spread evenly over
        them (the first scenes get one more when it does not divide), on top of
        scikit-image's 100 LFW faces and 100 LFW non-face patches. 0 keeps only
        the LFW patches.
    size : int, default=25
        Side of the returned square patches, in pixels (LFW patches are
        25x25 and are resized when ``size`` differs). At least 8.
    scenes : sequence of str or None, default=None
        Names from :data:`BACKGROUND_SCENES` to cut background patches from;
        None means all of them. Leave some out to test on unseen scenes.
    random_state : int, numpy.random.RandomState or None, default=None
        Seeds the background patches (LFW patches are fixed).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With attributes

        images : ndarray of shape (200 + n_background, size, size), dtype uint8
            Grayscale patches: the 100 faces, then the 100 LFW non-faces,
            then the scene patches.
        target : ndarray of shape (200 + n_background,), dtype int64
            1 for a face, 0 for a non-face.
        target_names : tuple of str
            ``("non_face", "face")``.
        source : ndarray of shape (200 + n_background,), dtype object
            ``"lfw_face"``, ``"lfw_non_face"`` or the scene's name.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.datasets import make_face_patches
    >>> patches = make_face_patches(20, size=32, scenes=["brick", "coffee"], random_state=0)
    >>> patches.images.shape, patches.images.dtype
    ((220, 32, 32), dtype('uint8'))
    >>> np.bincount(patches.target).tolist()
    [120, 100]
    >>> sorted(set(patches.source))
    ['brick', 'coffee', 'lfw_face', 'lfw_non_face']
    """
    if isinstance(n_background, bool) or not isinstance(n_background, Integral) or n_background < 0:
        raise InputError(f"n_background must be an int >= 0; got {n_background!r}.")
    if isinstance(size, bool) or not isinstance(size, Integral) or size < 8:
        raise InputError(f"size must be an int >= 8; got {size!r}.")
    scenes = _check_scenes(scenes)
    rng = check_random_state(random_state)

    lfw = to_uint8(skdata.lfw_subset())  # 100 faces, then 100 non-faces
    if size != _LFW_SIDE:
        lfw = np.stack([resize_image(patch, (size, size)) for patch in lfw])
    n_lfw = len(lfw) // 2
    per_scene = np.full(len(scenes), n_background // len(scenes))
    per_scene[: n_background % len(scenes)] += 1
    background = [
        background_patches(scene, int(count), size, rng)
        for scene, count in zip(scenes, per_scene, strict=True)
        if count
    ]
    images = np.concatenate([lfw, *background])
    target = np.zeros(len(images), dtype=np.int64)
    target[:n_lfw] = 1
    source = np.array(
        ["lfw_face"] * n_lfw
        + ["lfw_non_face"] * n_lfw
        + [scene for scene, count in zip(scenes, per_scene, strict=True) for _ in range(count)],
        dtype=object,
    )
    return Bunch(images=images, target=target, target_names=("non_face", "face"), source=source)
