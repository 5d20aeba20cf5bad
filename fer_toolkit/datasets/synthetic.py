"""Procedurally drawn FER-style faces: the embedded default dataset of fer_toolkit.

:func:`make_synthetic_faces` draws grayscale face crops in the format of FER2013
(``uint8``, a face roughly filling a square frame) whose *expression geometry*
depends on the emotion label: brow height and slant, eye openness, mouth curve,
width, opening and asymmetry, nose wrinkles and nasolabial folds. Identity,
pose, lighting, background, blur and noise vary at random, and the expression
intensity varies per sample, so the task is learnable but not trivial.

Everything is drawn with vectorised NumPy over batches of images: each shape is
an implicit function (ellipse, thick parabolic arc, capsule) evaluated on a
per-image face coordinate grid and anti-aliased with a one-pixel coverage ramp.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..utils.validation import InputError
from .labels import EMOTIONS, FER2013_EMOTIONS

__all__ = ["make_synthetic_faces"]

#: Smallest supported side length, in pixels; below it the eyes are 2 pixels tall.
MIN_IMAGE_SIZE = 24

# Pixels rendered per batch: bounds memory and keeps the working arrays in cache.
_CHUNK_PIXELS = 1 << 17

# Expression parameters, as offsets from a neutral face in face units (the face's
# half-width is about 0.75) or, for the *_open/_width/_press ones, relative changes.
_EXPRESSION_KEYS = (
    "brow_raise",  # both brows up
    "brow_tilt",  # inner brow ends up relative to outer ends (negative: angry frown)
    "brow_arch",  # extra arch in the middle of each brow
    "brow_pinch",  # inner brow ends pulled towards the midline
    "eye_open",  # relative change of the eye opening
    "lid_raise",  # lower lids pushed up by the cheeks, as a fraction of the opening
    "mouth_width",  # relative change of the mouth width
    "mouth_smile",  # both mouth corners up (negative: down-turned)
    "mouth_smirk",  # one mouth corner up (side drawn at random)
    "mouth_open",  # lips apart
    "mouth_press",  # lips pressed thin, as a fraction of their thickness
    "lip_raise",  # upper lip raised on one side (side drawn at random)
    "nose_wrinkle",  # darkness of horizontal wrinkles on the nose bridge
    "folds",  # darkness of the nasolabial folds
)

_EXPRESSIONS = {
    "angry": {
        "brow_raise": -0.06,
        "brow_tilt": -0.12,
        "brow_pinch": 0.06,
        "eye_open": -0.2,
        "mouth_width": -0.2,
        "mouth_smile": -0.02,
        "mouth_press": 0.6,
        "nose_wrinkle": 0.3,
    },
    "disgust": {
        "brow_raise": -0.04,
        "brow_tilt": -0.04,
        "brow_pinch": 0.03,
        "eye_open": -0.45,
        "lid_raise": 0.3,
        "mouth_width": -0.1,
        "mouth_smile": -0.03,
        "lip_raise": 0.1,
        "nose_wrinkle": 1.0,
        "folds": 0.8,
    },
    "fear": {
        "brow_raise": 0.08,
        "brow_tilt": 0.05,
        "brow_arch": -0.02,
        "brow_pinch": 0.03,
        "eye_open": 0.6,
        "mouth_width": 0.15,
        "mouth_smile": -0.03,
        "mouth_open": 0.07,
    },
    "happy": {
        "eye_open": -0.35,
        "lid_raise": 0.5,
        "mouth_width": 0.2,
        "mouth_smile": 0.11,
        "mouth_open": 0.04,
        "folds": 0.7,
    },
    "sad": {
        "brow_raise": 0.02,
        "brow_tilt": 0.08,
        "eye_open": -0.2,
        "mouth_width": -0.05,
        "mouth_smile": -0.09,
    },
    "surprise": {
        "brow_raise": 0.13,
        "brow_arch": 0.05,
        "eye_open": 0.7,
        "mouth_width": -0.3,
        "mouth_open": 0.18,
    },
    "neutral": {},
    "contempt": {
        "brow_tilt": -0.02,
        "eye_open": -0.1,
        "mouth_smirk": 0.09,
    },
}

_EXPRESSION_TABLE = np.array(
    [[_EXPRESSIONS[name].get(key, 0.0) for key in _EXPRESSION_KEYS] for name in EMOTIONS],
    dtype=np.float32,
)

# Per-sample spread (standard deviation) of each expression parameter around its
# class value: the same person frowns or smiles a bit differently every time, and
# neutral faces are never perfectly neutral.
_EXPRESSION_SPREAD = {
    "brow_raise": 0.02,
    "brow_tilt": 0.02,
    "brow_arch": 0.015,
    "brow_pinch": 0.015,
    "eye_open": 0.12,
    "lid_raise": 0.08,
    "mouth_width": 0.07,
    "mouth_smile": 0.025,
    "mouth_smirk": 0.015,
    "mouth_open": 0.015,
    "mouth_press": 0.1,
    "lip_raise": 0.01,
    "nose_wrinkle": 0.1,
    "folds": 0.15,
}

# Expression parameters that are magnitudes (an opening, a darkness): the spread
# must not push them below zero.
_NON_NEGATIVE = (
    "lid_raise",
    "mouth_smirk",
    "mouth_open",
    "mouth_press",
    "lip_raise",
    "nose_wrinkle",
    "folds",
)

# Range of the per-sample expression intensity; low values give subtle expressions.
_INTENSITY_RANGE = (0.55, 1.0)

# Uniform ranges of identity, pose and appearance parameters (face units unless noted).
_UNIFORM_RANGES = {
    # face outline and hair
    "face_a": (0.68, 0.8),  # half-width of the face ellipse
    "face_b": (0.88, 1.0),  # half-height
    "face_y": (0.0, 0.08),  # vertical offset of its centre
    "jaw": (0.15, 0.4),  # narrowing of the lower half towards the chin
    "skin": (110.0, 210.0),  # gray level
    "shade": (0.1, 0.35),  # darkening towards the face outline
    "hair": (15.0, 120.0),  # gray level
    "hairline": (-0.8, -0.5),  # height of the hairline at the midline
    "hair_curve": (0.4, 0.9),  # how far the hairline drops at the temples
    "hair_len": (-0.3, 0.9),  # how far the hair falls behind the head
    "neck": (0.35, 0.5),  # half-width of the neck
    # eyes and brows
    "eye_dx": (0.27, 0.35),  # half the distance between the eye centres
    "eye_y": (-0.17, -0.07),
    "eye_w": (0.12, 0.15),  # half-width of an eye
    "eye_h": (0.06, 0.08),  # opening of the upper lid above the eye centre
    "pupil": (0.045, 0.06),  # iris radius
    "sclera": (0.75, 1.05),  # sclera gray level relative to the skin
    "iris": (15.0, 70.0),  # gray level
    "socket": (0.05, 0.25),  # darkening of the eye sockets
    "brow_gap": (0.15, 0.21),  # brow height above the eye centre
    "brow_len": (0.13, 0.17),  # half-length of a brow
    "brow_thick": (0.03, 0.055),  # half-thickness of a brow
    "brow_curve": (0.0, 0.04),  # natural arch of the brows
    "brow": (0.3, 0.7),  # brow gray level relative to the skin
    # nose and mouth
    "nose_y": (0.17, 0.27),
    "nose_w": (0.07, 0.1),  # half-distance between the nostrils
    "mouth_y": (0.47, 0.57),
    "mouth_w": (0.22, 0.3),  # half-width of the mouth
    "lip_th": (0.03, 0.05),  # lip thickness
    "lip": (0.65, 0.85),  # lip gray level relative to the skin
    "cavity": (10.0, 50.0),  # gray level of the open mouth
    "teeth": (120.0, 230.0),  # gray level of the teeth
    "teeth_frac": (0.0, 0.6),  # fraction of the opening showing upper teeth
    # pose: in-plane rotation is normal, the rest uniform
    "shift_x": (-0.07, 0.07),  # image units (the frame spans [-1, 1])
    "shift_y": (-0.07, 0.07),
    "scale": (1.05, 1.25),  # frame half-widths per face unit
    "yaw": (-0.1, 0.1),  # horizontal feature offset mimicking a head turn
    # background, lighting and camera
    "background": (10.0, 245.0),  # gray level
    "texture": (0.0, 40.0),  # amplitude of the low-frequency background texture
    "light_angle": (0.0, 2 * np.pi),  # direction of the lighting gradient
    "light": (0.0, 0.5),  # its strength, as a relative change across the frame
    "contrast": (0.75, 1.15),
    "brightness": (-20.0, 20.0),
    "noise": (1.0, 7.0),  # standard deviation of the pixel noise, in gray levels
    "blur": (0.0, 1.0),  # weight of a 3x3 binomial blur
}

# A head turn moves features sideways by ``yaw`` times their depth: the nose tip
# sticks out furthest, the eyes and brows (depth 1) least.
_NOSE_DEPTH = 2.0
_MOUTH_DEPTH = 1.2

_ROTATION_STD = np.deg2rad(7.0)
_MAX_ROTATION = np.deg2rad(15.0)

# Resolution of the random background texture, upsampled bilinearly.
_TEXTURE_GRID = 5


def make_synthetic_faces(
    n_samples=1000, *, classes=None, image_size=48, random_state=None, return_X_y=False
):
    """Draw a class-balanced set of synthetic grayscale faces with emotion labels.

    Every face is drawn procedurally: a random identity (face shape, skin and
    hair tone, eye spacing, feature positions, brow thickness), a random pose
    (in-plane rotation, shift, scale and a slight head turn), random lighting
    (a linear gradient, brightness and contrast), a random textured background,
    slight blur and Gaussian pixel noise. The label sets the expression geometry:

    ========  =============================================================
    angry     brows lowered with inner ends pulled down, lips pressed thin
    disgust   eyes narrowed, nose wrinkled, upper lip raised on one side
    fear      brows raised and straight, eyes wide, mouth stretched open
    happy     mouth corners up (often open, teeth showing), eyes squinted
    sad       inner brow ends raised, mouth corners down
    surprise  brows raised high and arched, eyes wide, mouth an open oval
    neutral   relaxed features with a flat mouth
    contempt  one mouth corner raised (a smirk)
    ========  =============================================================

    The expression intensity varies from sample to sample, so some faces are
    subtle. The images imitate FER2013 (a face roughly filling a square frame)
    and serve as the embedded default dataset: everything in fer_toolkit runs
    on them without downloads.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of images. Must be at least the number of classes.
    classes : sequence of str or None, default=None
        Emotions to draw, by canonical name (see
        :data:`fer_toolkit.datasets.EMOTIONS`). ``None`` means the seven
        FER2013 emotions. Names must be distinct; their order does not matter.
    image_size : int, default=48
        Side length of the square images, in pixels, at least 24. Faces are
        drawn at that resolution, not resized.
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None, \
default=None
        Seeds the drawing. The same int gives the same images on every call;
        a ``RandomState`` or ``Generator`` is advanced. ``None`` uses NumPy's
        global ``RandomState``.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With attributes

        images : ndarray of shape (n_samples, image_size, image_size), dtype uint8
            The faces, in shuffled order.
        target : ndarray of shape (n_samples,), dtype int64
            Index of each image's emotion in ``target_names``.
        target_names : tuple of str
            The emotions drawn, in canonical order (that of ``EMOTIONS``).
        landmarks : ndarray of shape (n_samples, 5, 2), dtype float32
            ``(x, y)`` pixel positions of the left eye, right eye, nose tip,
            left and right mouth corners ("left" meaning image-left).

    (images, target) : tuple of ndarray
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If a class name is unknown or repeated, or ``n_samples`` or
        ``image_size`` is out of range.

    Notes
    -----
    The classes are balanced: each gets ``n_samples // n_classes`` images and
    the first ``n_samples % n_classes`` classes of ``target_names`` get one more.

    Examples
    --------
    >>> from fer_toolkit.datasets.synthetic import make_synthetic_faces
    >>> faces = make_synthetic_faces(70, random_state=0)
    >>> faces.images.shape, faces.images.dtype
    ((70, 48, 48), dtype('uint8'))
    >>> faces.target_names
    ('angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral')
    >>> import numpy as np
    >>> np.bincount(faces.target).tolist()
    [10, 10, 10, 10, 10, 10, 10]

    Four classes (those of ``happy_sad_surprise_neutral``), at 64x64 pixels, as arrays:

    >>> X, y = make_synthetic_faces(
    ...     10, classes=["happy", "neutral", "sad", "surprise"], image_size=64,
    ...     random_state=0, return_X_y=True,
    ... )
    >>> X.shape, np.bincount(y).tolist()
    ((10, 64, 64), [3, 3, 2, 2])
    """
    target_names = _check_classes(classes)
    _check_n_samples(n_samples, len(target_names))
    _check_image_size(image_size)
    rng = _make_generator(random_state)

    target = _balanced_shuffled_target(n_samples, len(target_names), rng)
    codes = np.array([EMOTIONS.index(name) for name in target_names], dtype=np.int64)[target]
    params = _sample_parameters(codes, rng)
    images = np.empty((n_samples, image_size, image_size), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (image_size * image_size))
    for start in range(0, n_samples, chunk):
        batch = {key: value[start : start + chunk] for key, value in params.items()}
        images[start : start + chunk] = _render(batch, image_size, rng)
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=target_names,
        landmarks=_landmarks(params, image_size),
    )


def _check_classes(classes) -> tuple[str, ...]:
    """Validate the requested class names; return them in canonical order."""
    if classes is None:
        return FER2013_EMOTIONS
    if isinstance(classes, str):
        raise TypeError(
            f"classes must be a sequence of emotion names, not the string {classes!r}; "
            f"did you mean [{classes!r}]?"
        )
    try:
        classes = list(classes)
    except TypeError:
        raise TypeError(
            f"classes must be a sequence of emotion names or None, got {classes!r}."
        ) from None
    if not classes:
        raise InputError(f"classes is empty; choose among {', '.join(EMOTIONS)}.")
    unknown = [name for name in classes if name not in EMOTIONS]
    if unknown:
        raise InputError(
            f"Unknown emotion name(s) {', '.join(map(repr, unknown))} in classes; "
            f"valid names are {', '.join(EMOTIONS)}."
        )
    repeated = sorted({name for name in classes if classes.count(name) > 1})
    if repeated:
        raise InputError(f"classes lists {', '.join(map(repr, repeated))} more than once.")
    return tuple(name for name in EMOTIONS if name in classes)


def _check_n_samples(n_samples, n_classes: int) -> None:
    """Require an int large enough to give every class at least one image."""
    if not isinstance(n_samples, numbers.Integral) or isinstance(n_samples, bool):
        raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
    if n_samples < 1:
        raise InputError(f"n_samples must be positive, got {n_samples}.")
    if n_samples < n_classes:
        raise InputError(
            f"n_samples={n_samples} is too small: it must be at least the number of "
            f"classes ({n_classes}) so that every class gets an image."
        )


def _check_image_size(image_size) -> None:
    """Require an int side length of at least MIN_IMAGE_SIZE pixels."""
    if not isinstance(image_size, numbers.Integral) or isinstance(image_size, bool):
        raise TypeError(f"image_size must be an int, got {image_size!r}.")
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(
            f"image_size={image_size} is too small: faces need at least "
            f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels."
        )


def _make_generator(random_state) -> np.random.Generator:
    """Derive a Generator from ``random_state`` with check_random_state semantics."""
    if isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state.integers(2**63))
    seed = check_random_state(random_state).randint(2**63, dtype=np.int64)
    return np.random.default_rng(seed)


def _balanced_shuffled_target(n_samples: int, n_classes: int, rng) -> np.ndarray:
    """Class codes, as even as possible (remainder to the first classes), shuffled."""
    counts = np.full(n_classes, n_samples // n_classes, dtype=np.int64)
    counts[: n_samples % n_classes] += 1
    return rng.permutation(np.repeat(np.arange(n_classes, dtype=np.int64), counts))


def _sample_parameters(codes: np.ndarray, rng) -> dict[str, np.ndarray]:
    """Draw identity, pose, appearance and expression parameters for each face.

    ``codes`` index :data:`EMOTIONS`. Every value is a float32 array of shape (n,).
    """
    n = len(codes)
    params = {
        key: rng.uniform(low, high, n).astype(np.float32)
        for key, (low, high) in _UNIFORM_RANGES.items()
    }
    rotation = np.clip(rng.normal(0.0, _ROTATION_STD, n), -_MAX_ROTATION, _MAX_ROTATION)
    params["rotation"] = rotation.astype(np.float32)
    params["side"] = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), n)

    intensity = rng.uniform(*_INTENSITY_RANGE, n).astype(np.float32)
    spread = np.array([_EXPRESSION_SPREAD[key] for key in _EXPRESSION_KEYS], dtype=np.float32)
    jitter = rng.standard_normal((n, len(_EXPRESSION_KEYS)), dtype=np.float32) * spread
    expression = _EXPRESSION_TABLE[codes] * intensity[:, None] + jitter
    for i, key in enumerate(_EXPRESSION_KEYS):
        params[key] = expression[:, i]
    for key in _NON_NEGATIVE:
        np.maximum(params[key], 0.0, out=params[key])
    return params


def _col(values: np.ndarray) -> np.ndarray:
    """View per-sample values of shape (m,) as (m, 1, 1) to broadcast over images."""
    return values[:, None, None]


def _coverage(distance: np.ndarray, px: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape, from its signed distance.

    ``distance`` is in face units (negative inside) and ``px`` the pixels per
    face unit; coverage ramps linearly over one pixel across the outline.
    """
    alpha = distance * -px
    alpha += 0.5
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def _paint(canvas: np.ndarray, alpha: np.ndarray, tone) -> None:
    """Blend ``tone`` into ``canvas`` in place with opacity ``alpha``."""
    canvas += alpha * (tone - canvas)


def _render(p: dict[str, np.ndarray], size: int, rng) -> np.ndarray:
    """Draw one batch of faces, back to front; return uint8 images (m, size, size)."""
    u, v = _face_grid(p, size)
    px = _col(p["scale"]) * np.float32(size / 2)
    canvas = _background(p, size, rng)
    head = _head_distance(u, v, p)
    _paint_neck_and_ears(canvas, u, v, px, p)
    _paint_back_hair(canvas, head, u, v, px, p)
    _paint_face(canvas, u, v, px, p)
    _paint_fringe(canvas, head, u, v, px, p)
    _shade_eye_sockets(canvas, u, v, p)
    _paint_eyes(canvas, u, v, px, p)
    _paint_brows(canvas, u, v, px, p)
    _paint_nostrils(canvas, u, v, px, p)
    _paint_nose_wrinkles(canvas, u, v, px, p)
    _paint_folds(canvas, u, v, px, p)
    _paint_mouth(canvas, u, v, px, p)
    return _finish(canvas, p, size, rng)


def _frame_coordinates(size: int) -> np.ndarray:
    """Pixel centres along one axis, in frame units spanning [-1, 1]."""
    return (np.arange(size, dtype=np.float32) + np.float32(0.5)) * np.float32(2 / size) - 1


def _face_grid(p, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Face coordinates ``(u, v)`` of every pixel, each of shape (m, size, size).

    The face frame has its origin at the face centre, ``u`` to the right and
    ``v`` downwards, in face units (the face is about 1.5 units wide); the
    per-sample pose (shift, rotation, scale) maps it onto the image.
    """
    coords = _frame_coordinates(size)
    dx = coords[None, None, :] - _col(p["shift_x"])
    dy = coords[None, :, None] - _col(p["shift_y"])
    cos = _col(np.cos(p["rotation"]) / p["scale"])
    sin = _col(np.sin(p["rotation"]) / p["scale"])
    return cos * dx + sin * dy, cos * dy - sin * dx


def _background(p, size: int, rng) -> np.ndarray:
    """A gray level plus a smooth random texture, as float32 (m, size, size)."""
    m = len(p["background"])
    grid = rng.standard_normal((m, _TEXTURE_GRID, _TEXTURE_GRID), dtype=np.float32)
    upsample = _bilinear_matrix(_TEXTURE_GRID, size)
    texture = upsample @ grid @ upsample.T
    texture *= _col(p["texture"])
    texture += _col(p["background"])
    return texture


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Matrix of shape (n_out, n_in) that linearly interpolates n_in samples to n_out."""
    position = np.linspace(0, n_in - 1, n_out, dtype=np.float32)
    weights = 1 - np.abs(position[:, None] - np.arange(n_in, dtype=np.float32))
    return np.maximum(weights, 0, out=weights)


def _ellipse(dx, dy, half_width, half_height) -> np.ndarray:
    """Normalised radius minus one: negative inside the ellipse, zero on it."""
    radius = np.sqrt((dx / half_width) ** 2 + (dy / half_height) ** 2)
    radius -= 1
    return radius


def _head_distance(u, v, p) -> np.ndarray:
    """Approximate signed distance to the outline of the skull, hair included."""
    face_a = _col(p["face_a"])
    head = _ellipse(u, v - _col(p["face_y"] - 0.08), face_a * 1.12, _col(p["face_b"] * 1.08))
    head *= face_a
    return head


def _paint_neck_and_ears(canvas, u, v, px, p) -> None:
    """Paint the skin behind the face: the neck and the ears."""
    skin = _col(p["skin"])
    neck = np.maximum(np.abs(u) - _col(p["neck"]), 0.3 - v)
    _paint(canvas, _coverage(neck, px), skin * np.float32(0.8))
    ear = _ellipse(np.abs(u) - _col(p["face_a"]), v - _col(p["eye_y"] + 0.12), 0.09, 0.16)
    ear *= 0.09
    _paint(canvas, _coverage(ear, px), skin * np.float32(0.85))


def _paint_back_hair(canvas, head, u, v, px, p) -> None:
    """Paint the hair behind the head: the skull plus a band falling to ``hair_len``."""
    below_crown = np.maximum(np.abs(u) - _col(1.1 * p["face_a"]), v - _col(p["hair_len"]))
    below_crown = np.maximum(below_crown, _col(p["face_y"] - 0.08) - v)
    _paint(canvas, _coverage(np.minimum(head, below_crown), px), _col(p["hair"]))


def _paint_face(canvas, u, v, px, p) -> None:
    """Paint the face: an ellipse narrowing towards the chin, darker near its outline."""
    face_a = _col(p["face_a"])
    dv = v - _col(p["face_y"])
    half_width = face_a * (1 - _col(p["jaw"]) * np.maximum(dv, 0))
    radius = _ellipse(u, dv, half_width, _col(p["face_b"]))
    tone = _col(p["skin"]) * (1 - _col(p["shade"]) * np.minimum((radius + 1) ** 2, 1))
    _paint(canvas, _coverage(radius * face_a, px), tone)


def _paint_fringe(canvas, head, u, v, px, p) -> None:
    """Paint the hair over the forehead, above a hairline that drops at the temples."""
    hairline = _col(p["hairline"]) + _col(p["hair_curve"]) * u * u
    _paint(canvas, _coverage(np.maximum(head, v - hairline), px), _col(p["hair"]))


def _shade_eye_sockets(canvas, u, v, p) -> None:
    """Darken soft elliptical regions around both eyes."""
    offset = np.abs(u - _col(p["yaw"])) - _col(p["eye_dx"])
    socket = _ellipse(offset, v - _col(p["eye_y"] - 0.02), 0.2, 0.13)
    socket += 1
    socket *= socket
    canvas *= 1 - _col(p["socket"]) * np.maximum(1 - socket, 0)


def _paint_eyes(canvas, u, v, px, p) -> None:
    """Paint both eyes: sclera, iris and the dark upper lid line.

    The eyes are mirror images about the feature midline, so one evaluation of
    ``|u - yaw|`` draws both.
    """
    skin = _col(p["skin"])
    offset = np.abs(u - _col(p["yaw"])) - _col(p["eye_dx"])  # from the nearer eye centre
    dv = v - _col(p["eye_y"])
    eye_w = _col(p["eye_w"])
    t = offset / eye_w
    profile = np.maximum(1 - t * t, 0)
    opening = _col(p["eye_h"] * (1 + p["eye_open"]))
    upper = -opening * profile
    lower = opening * _col(0.8 * (1 - p["lid_raise"])) * profile
    ends = np.abs(offset) - eye_w
    eye = np.maximum(np.maximum(upper - dv, dv - lower), ends)
    eye_alpha = _coverage(eye, px)
    _paint(canvas, eye_alpha, skin * _col(p["sclera"]))
    iris = np.sqrt(offset * offset + dv * dv) - _col(p["pupil"])
    _paint(canvas, _coverage(iris, px) * eye_alpha, _col(p["iris"]))
    lash = np.maximum(np.abs(dv - upper) - 0.02, ends - 0.1 * eye_w)
    _paint(canvas, _coverage(lash, px), skin * _col(p["brow"]))


def _paint_brows(canvas, u, v, px, p) -> None:
    """Paint both brows as thick arcs, tapering from the inner to the outer end."""
    centre_x = _col(p["eye_dx"] + 0.02 - p["brow_pinch"])
    offset = np.abs(u - _col(p["yaw"])) - centre_x
    brow_len = _col(p["brow_len"])
    s = offset / brow_len  # -1 at the inner end, +1 at the outer end
    height = _col(p["eye_y"] - p["brow_gap"] - p["brow_raise"])
    line = height - _col(p["brow_tilt"] / 2) * (1 - s)
    line -= _col(p["brow_arch"] + p["brow_curve"]) * (1 - s * s)
    thickness = _col(p["brow_thick"]) * (1 - 0.2 * (s + 1))
    brow = np.maximum(np.abs(v - line) - thickness, np.abs(offset) - brow_len)
    _paint(canvas, _coverage(brow, px), _col(p["skin"] * p["brow"]))


def _paint_nostrils(canvas, u, v, px, p) -> None:
    """Paint two small dark ellipses under the nose tip."""
    offset = np.abs(u - _col(_NOSE_DEPTH * p["yaw"])) - _col(0.6 * p["nose_w"])
    nostril = _ellipse(offset, v - _col(p["nose_y"]), 0.035, 0.02)
    nostril *= 0.02
    _paint(canvas, _coverage(nostril, px), _col(p["skin"]) * np.float32(0.5))


def _paint_nose_wrinkles(canvas, u, v, px, p) -> None:
    """Paint horizontal wrinkles on the nose bridge, as dark as ``nose_wrinkle``."""
    above_eyes = v - _col(p["eye_y"])
    box = np.maximum(
        np.abs(u - _col(_NOSE_DEPTH * p["yaw"])) - 0.07, np.abs(above_eyes - 0.06) - 0.06
    )
    stripes = np.cos(above_eyes * np.float32(2 * np.pi / 0.05))
    stripes += 1
    alpha = _coverage(box, px) * stripes
    alpha *= _col(0.2 * np.minimum(p["nose_wrinkle"], 1))
    _paint(canvas, alpha, _col(p["skin"]) * np.float32(0.55))


def _paint_folds(canvas, u, v, px, p) -> None:
    """Paint the nasolabial folds, nose wings to mouth corners, as dark as ``folds``."""
    top = _col(p["nose_y"])
    bottom = _col(p["mouth_y"] + 0.06)
    start = _col(p["nose_w"] + 0.04)
    end = _col(p["mouth_w"] * (1 + p["mouth_width"]) + 0.05)
    along = np.clip((v - top) / (bottom - top), 0, 1)
    path = start + (end - start + 0.12 * (1 - along)) * along  # bulging outwards
    across = np.abs(np.abs(u - _col(_MOUTH_DEPTH * p["yaw"])) - path) - 0.012
    fold = np.maximum(across, np.abs(v - (top + bottom) / 2) - (bottom - top) / 2)
    alpha = _coverage(fold, px) * _col(0.4 * np.minimum(p["folds"], 1))
    _paint(canvas, alpha, _col(p["skin"]) * np.float32(0.6))


def _paint_mouth(canvas, u, v, px, p) -> None:
    """Paint the lips, the mouth opening (or the line between closed lips) and teeth.

    The mouth follows a parabola through its centre whose corners rise with
    ``mouth_smile`` (and on one side with ``mouth_smirk``); the lips part along
    it by ``mouth_open`` and, on one side, by ``lip_raise``.
    """
    skin = _col(p["skin"])
    centre_u = u - _col(_MOUTH_DEPTH * p["yaw"])
    half_width = _col(p["mouth_w"] * (1 + p["mouth_width"]))
    t = centre_u / half_width
    t2 = t * t
    profile = np.maximum(1 - t2, 0)
    side = _col(p["side"])
    smirk = _col(0.5 * p["mouth_smirk"])
    lift = _col(p["mouth_smile"]) + smirk + smirk * side * np.sign(t)
    dv = v - _col(p["mouth_y"]) + lift * t2  # vertical offset from the mouth curve

    raised = _col(2 * p["lip_raise"]) * np.maximum(side * t, 0)
    upper = -(_col(0.4 * p["mouth_open"]) + raised) * profile
    lower = _col(0.6 * p["mouth_open"]) * profile
    lip = _col(p["lip_th"] * (1 - p["mouth_press"])) * (0.4 + 0.6 * profile)
    ends = np.abs(centre_u) - half_width
    lips = np.maximum(np.maximum(upper - lip - dv, dv - lower - lip), ends)
    _paint(canvas, _coverage(lips, px), skin * _col(p["lip"]))

    cavity = np.maximum(np.maximum(upper - dv, dv - lower), ends)
    cavity -= _col(0.012 * (1 + p["mouth_press"]))  # closed lips still show a dark line
    cavity_alpha = _coverage(cavity, px)
    _paint(canvas, cavity_alpha, _col(p["cavity"]))
    teeth_edge = upper + _col(p["teeth_frac"]) * (lower - upper)
    _paint(canvas, cavity_alpha * _coverage(dv - teeth_edge, px), _col(p["teeth"]))


def _finish(canvas, p, size: int, rng) -> np.ndarray:
    """Apply lighting, contrast, blur and noise; quantise to uint8."""
    coords = _frame_coordinates(size)
    strength = p["light"] / 2
    light = _col(np.cos(p["light_angle"]) * strength) * coords[None, None, :]
    light = light + _col(np.sin(p["light_angle"]) * strength) * coords[None, :, None]
    light += 1
    canvas *= light
    canvas -= 128
    canvas *= _col(p["contrast"])
    canvas += _col(128 + p["brightness"])
    _paint(canvas, _col(p["blur"]), _binomial_blur(canvas))
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * _col(p["noise"])
    np.clip(canvas, 0, 255, out=canvas)
    return np.rint(canvas, out=canvas).astype(np.uint8)


def _binomial_blur(images: np.ndarray) -> np.ndarray:
    """3x3 binomial blur ([1, 2, 1] / 4 along each axis), replicating edge pixels."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]
    return (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) * np.float32(1 / 16)


def _landmarks(p, size: int) -> np.ndarray:
    """Pixel ``(x, y)`` of the eyes, nose tip and mouth corners; shape (n, 5, 2)."""
    yaw = p["yaw"]
    mouth_x = _MOUTH_DEPTH * yaw
    half_width = p["mouth_w"] * (1 + p["mouth_width"])
    left_lift = p["mouth_smile"] + p["mouth_smirk"] * (p["side"] < 0)
    right_lift = p["mouth_smile"] + p["mouth_smirk"] * (p["side"] > 0)
    u = np.stack(
        [
            yaw - p["eye_dx"],
            yaw + p["eye_dx"],
            _NOSE_DEPTH * yaw,
            mouth_x - half_width,
            mouth_x + half_width,
        ],
        axis=1,
    )
    v = np.stack(
        [p["eye_y"], p["eye_y"], p["nose_y"], p["mouth_y"] - left_lift, p["mouth_y"] - right_lift],
        axis=1,
    )
    cos = (np.cos(p["rotation"]) * p["scale"])[:, None]
    sin = (np.sin(p["rotation"]) * p["scale"])[:, None]
    x = p["shift_x"][:, None] + cos * u - sin * v
    y = p["shift_y"][:, None] + sin * u + cos * v
    return ((np.stack([x, y], axis=2) + 1) * np.float32(size / 2) - 0.5).astype(np.float32)
