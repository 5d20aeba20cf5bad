"""``CNNClassifier``: a skorch-wrapped PyTorch CNN that behaves like any scikit-learn classifier."""

from __future__ import annotations

import copy
import inspect
import math
import os
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import is_dataset

from ..models import get_model
from ..models.pretrained_models import is_pretrained_name
from ..utils.threads import refresh_threads
from ..utils.validation import InputError
from ._callbacks import (
    ChanceLevelWatch,
    PlainPrintLog,
    RecomputeBatchNorm,
    RestoreBestWeights,
    encoded_accuracy,
)
from ._device import DeviceMixin
from ._input import as_model_input
from .augmentation import PADDING_MODES, AugmentationParams, augment_batch, augment_batches
from .backbone import Backbone
from .transfer import (
    GradualUnfreezing,
    TransferNetwork,
    backbone_blocks,
    freeze_blocks,
    resolve_backbone,
    unfreeze_plan,
)

__all__ = ["CNNClassifier", "ChanceLevelWarning"]


class ChanceLevelWarning(UserWarning):
    """Training loss fell while validation accuracy stayed at chance.

    ``CNNClassifier`` warns so by default (its ``chance_level`` callback);
    ``callbacks__chance_level=None`` or a warnings filter silences it.

    Examples
    --------
    Either drop the callback, or filter the warning:

    >>> import warnings
    >>> from fer_toolkit.estimators import ChanceLevelWarning, CNNClassifier
    >>> net = CNNClassifier(callbacks__chance_level=None)  # no chance-level check
    >>> with warnings.catch_warnings():
    ...     warnings.filterwarnings("ignore", category=ChanceLevelWarning)
    ...     warnings.warn("validation accuracy stayed at chance", ChanceLevelWarning)
    """


_INFERRED_MODULE_KWARGS = ("in_channels", "image_size", "n_classes")

# The input whose shape sets ``in_channels`` and ``image_size`` when X is a dict.
_MAIN_KEY = "face"


def _n_images(X) -> int:
    """Number of samples in a prepared batch or dict of batches (see ``as_model_input``)."""
    return len(next(iter(X.values()))) if isinstance(X, dict) else len(X)


def _n_samples(X) -> int:
    """Number of samples of a skorch dataset or of a prepared batch (or dict of them);
    0 for a dataset without a length (an iterable dataset)."""
    try:
        return len(X) if is_dataset(X) else _n_images(X)
    except TypeError:
        return 0


def _input_shape(X):
    """``(C, H, W)`` of a prepared batch, or a dict of them for a dict of batches."""
    if isinstance(X, dict):
        return {key: tuple(batch.shape[1:]) for key, batch in X.items()}
    return tuple(X.shape[1:])


def _named_batches(X):
    """``(name, batch)`` pairs of a prepared batch or dict of batches, for error messages."""
    if isinstance(X, dict):
        return [(f"X[{key!r}]", batch) for key, batch in X.items()]
    return [("X", X)]


class CNNClassifier(DeviceMixin, NeuralNetClassifier):
    """A PyTorch CNN image classifier with the scikit-learn interface (skorch underneath).

    It takes images straight from fer_toolkit's transformers, infers the input
    shape and the number of classes at ``fit``, trains with optional
    augmentation on training batches only, and drops into ``Pipeline``,
    ``GridSearchCV`` and ``cross_val_score``.

    ``X`` is one batch of images, or a dict of batches for networks with
    several image inputs (see "Several images per sample" below).

    Parameters
    ----------
    module : str, nn.Module class or instance, default="baseline"
        A name from :func:`fer_toolkit.models.available_models` (``"baseline"``,
        ``"conv4_dense3"``, ``"vgg_fer"``, ``"prior_attention"``), or any
        ``torch.nn.Module`` class or instance returning logits. A class
        receives ``in_channels``, ``image_size`` and ``n_classes`` inferred
        from the data (those its constructor accepts; from the ``"face"``
        batch, or the first one, of a dict ``X``) plus every ``module__*``
        parameter, which win.
    criterion : loss class, default=torch.nn.CrossEntropyLoss
        Loss over logits; ``predict_proba`` applies the matching softmax.
    optimizer : optimizer class, default=torch.optim.AdamW
        Set its options with ``optimizer__*`` parameters.
    lr : float, default=1e-3
        Learning rate.
    max_epochs : int, default=10
        Epochs per ``fit``.
    batch_size : int, default=64
        Samples per training and prediction batch.
    validation_fraction : float or None, default=0.1
        Fraction of the training data held out (stratified, ``random_state``)
        to monitor ``valid_loss`` and ``valid_acc``. ``None`` trains on
        everything; early stopping, the plateau schedule and ``restore_best``
        then monitor ``train_loss``. skorch's own ``train_split``, when given,
        takes precedence.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss: ``"balanced"`` is
        ``n_samples / (n_classes * count)`` as in scikit-learn; a dict maps labels
        to weights.
    brightness : tuple of (float, float) or None, default=None
        Random brightness factor range for training batches (the Facial
        Emotion Recognition project,
        https://github.com/muscak/Facial-Emotion-Recognition, used ``(0.0, 2.0)``).
    horizontal_flip : bool, default=False
        Mirror half of every training batch.
    shear : float, default=0.0
        Maximum shear factor (the Facial Emotion Recognition project: ``0.3``).
    rotation : float, default=0.0
        Maximum rotation in degrees.
    translation : float, default=0.0
        Maximum shift as a fraction of the image size.
    zoom : float, default=0.0
        Maximum relative zoom: each image is scaled about its centre by a
        factor drawn from ``[1 - zoom, 1 + zoom]`` (Keras' ``zoom_range``).
        Must lie in [0, 1).
    padding_mode : {"border", "reflection", "zeros"}, default="border"
        How shear, rotation, translation and zoom fill the pixels they pull in
        from outside the image: repeat the edge (Keras' ``fill_mode="nearest"``),
        mirror the image, or black (see
        :class:`~fer_toolkit.estimators.AugmentationParams`).
    early_stopping : int or None, default=None
        Stop after this many epochs without improvement of the monitored loss.
    lr_schedule : {"cosine", "plateau"} or None, default=None
        Cosine annealing over ``max_epochs``, or halve the learning rate after
        two epochs without improvement.
    restore_best : bool, default=False
        At the end of training, reload the weights of the epoch with the lowest
        monitored loss.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        Batches move to the device one at a time.
    amp : {"auto", True, False}, default="auto"
        Mixed precision (bfloat16 autocast) for the forward pass; ``"auto"``
        enables it on CUDA only.
    channels_last : {"auto", True, False}, default="auto"
        Channels-last memory format for module and batches; ``"auto"``: on CUDA,
        and on CPUs with oneDNN (where it trains about a third faster).
    random_state : int or None, default=None
        Seeds weight initialisation, shuffling, dropout, the validation split
        and augmentation. On CPU, the same seed gives the same weights and
        predictions for the same thread count (by default the count follows the
        machine's load, batch by batch; ``FER_TOOLKIT_NUM_THREADS`` fixes it,
        see ``fer_toolkit.utils.threads``). The global torch random state is
        left as it was. A continued training (``partial_fit``, ``warm_start``)
        is seeded from ``random_state`` and the number of epochs already
        trained, so it is reproducible without replaying earlier epochs'
        shuffles and augmentations.
    backbone : pretext estimator, str, os.PathLike, torch.nn.Module or None, default=None
        Start from pretrained weights (see "Transfer learning" below): a
        fitted :class:`~fer_toolkit.estimators.RotationPretext` (or
        ``JigsawPretext``, ``JointPretext``), the name of a pretrained
        network (``"mini_xception_fer2013"``, see
        :func:`~fer_toolkit.models.available_pretrained`; ``module`` is then
        that network's architecture, with a new last layer for your classes),
        a file written by its ``save_backbone``, a :class:`~fer_toolkit.estimators.Backbone`, or
        any ``nn.Module`` mapping ``(n, C, H, W)`` images to feature maps
        ``(n, D, h, w)`` or vectors ``(n, D)`` (e.g. a timm model you have
        weights for, built with ``num_classes=0``). The weights are copied
        when the network is built, at every ``fit``; the object given is
        never changed.
    freeze : {"none", "backbone"} or int, default="none"
        Parameters left untouched by training: ``"backbone"`` freezes the
        whole ``features`` block (only the head trains), an int ``k`` its
        first ``k`` blocks (a block is a convolution with the normalisation,
        activation and pooling layers after it: ``"baseline"`` and
        ``"conv4_dense3"`` have 4, ``"vgg_fer"`` 8, ``"mini_xception"`` 14; see
        :func:`~fer_toolkit.estimators.backbone_blocks`). Frozen blocks run in
        evaluation mode: BatchNorm keeps its running statistics.
    backbone_lr : float or None, default=None
        Learning rate of the ``features`` parameters (discriminative
        learning rates, usually below ``lr``), an absolute value, through an
        optimizer parameter group; ``lr`` stays that of the head. None: ``lr``
        everywhere. Learning-rate schedules scale both alike.
    unfreeze_schedule : int, dict or None, default=None
        Gradual unfreezing of the blocks frozen by ``freeze``, the one nearest
        the head first: an int ``k`` unfreezes one every ``k`` epochs (with 4
        frozen blocks and ``k=2``, epochs 3, 5, 7 and 9 begin with one fewer);
        a dict maps epochs (from 1, counted since the network was built, so
        ``warm_start`` continues the plan) to the number of blocks still
        frozen from then on, e.g. ``{3: 2, 6: 0}``.
    verbose : int, default=0
        Print skorch's epoch table when 1.
    **kwargs
        Any other skorch parameter: ``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``warm_start``, ``callbacks``, ``train_split``...
        ``iterator_train__shuffle`` defaults to True here: the training data is
        reshuffled every epoch.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, as given in ``y`` (strings or ints).
    input_shape_ : tuple of (int, int, int) or dict
        ``(C, H, W)`` of the training images; for a dict ``X``, a dict of
        them by key.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch losses, accuracy and timings.
    frozen_blocks_ : int
        Blocks of ``module_.features`` frozen now (0 without ``freeze``).

    See Also
    --------
    fer_toolkit.models.available_models : Networks available by name.

    Notes
    -----
    Augmentation works on pixels in [0, 1] (it clips to that range): train on
    ``uint8`` images or floats scaled to [0, 1]. While an augmentation is on,
    ``fit`` refuses float images outside [0, 1] (standardised or unscaled)
    instead of distorting the training images only.

    BatchNorm statistics: at the end of every ``fit`` the running mean and
    variance of the network's BatchNorm layers (those that trained; frozen
    blocks keep theirs) are recomputed over the training part of the data,
    weights unchanged, at the cost of one forward pass (callback
    ``"batchnorm_stats"``, ``fer_toolkit.estimators._callbacks.RecomputeBatchNorm``;
    ``callbacks__batchnorm_stats=None`` keeps the moving averages). Moving
    averages lag behind weights that change quickly, and a short run on small
    data is scored in evaluation mode with them: see
    :class:`~fer_toolkit.models.Conv4Dense3CNN` for figures. When the training
    loss falls by a quarter while validation accuracy stays at chance, ``fit``
    warns (:class:`~fer_toolkit.estimators.ChanceLevelWarning`, callback
    ``"chance_level"``; ``callbacks__chance_level=None`` turns it off).

    Persistence: ``pickle``/``joblib`` round trips work and a model trained on
    CUDA loads on a CPU-only machine. To share a model without pickle (which can
    run arbitrary code when loaded), use ``save_params(f_params=...)`` and, on the
    other side, build the same estimator, call ``initialize_for(X, classes)``
    with a sample image and the saved model's classes, then
    ``load_params(f_params=...)``.

    Several images per sample: with ``X`` a dict (or a
    :class:`skorch.helper.SliceDict`) of image batches, such as
    ``{"face": ..., "eyes": ..., "mouth": ...}`` from
    :class:`~fer_toolkit.preprocessing.EyeMouthBlocks`, every batch is
    prepared like a single ``X`` (each key its own size and dtype, one image
    per sample under every key) and the network's ``forward`` receives the
    batches as keyword arguments, skorch's convention: its argument names must
    be the keys. Augmentation gives the images of one sample the same random
    draw (see :func:`~fer_toolkit.estimators.augment_batches`).
    Cross-validation and searches slice ``X`` by rows, which a ``SliceDict``
    supports and a plain dict does not; a pipeline that makes the dict in a
    step (``EyeMouthBlocks``) needs nothing special. Predict with a dict of
    the same keys and sizes.

    Transfer learning: with a ``backbone`` from the registry (a pretext
    estimator's, a saved file or a ``Backbone``), the network is the registry
    model the backbone came from, built for the data's image size and classes
    with the backbone's constructor arguments (``module__*`` win) and its
    ``features`` weights loaded: ``module`` must be that model's name. Any
    other ``nn.Module`` gets a head of global average pooling (for feature
    maps), dropout (``module__dropout``, default 0) and a linear layer, sized
    by a forward pass of a blank image; ``module`` is then not used. Either
    way ``X`` must have the channels the backbone takes (a backbone pretrained
    on grayscale images needs grayscale input). ``freeze``, ``backbone_lr``
    and ``unfreeze_schedule`` also apply without a ``backbone``, to a network
    with a ``features`` module. ``clone`` (and so ``GridSearchCV``) copies a
    pretext estimator unfitted: to search, pass its ``backbone_`` or a file.

    Searching with ``n_jobs > 1`` on one GPU starts one training process per
    job on the same device: they compete for its memory. Use ``n_jobs=1`` per
    GPU, or fan the search out over several GPUs or machines with joblib's Dask
    backend (see the user guide).

    Examples
    --------
    >>> from fer_toolkit.datasets import make_synthetic_faces
    >>> from fer_toolkit.estimators import CNNClassifier
    >>> faces = make_synthetic_faces(n_samples=140, classes=["happy", "sad"], random_state=0)
    >>> clf = CNNClassifier(max_epochs=2, validation_fraction=None, random_state=0)
    >>> clf = clf.fit(faces.images, faces.target)
    >>> clf.predict_proba(faces.images[:3]).shape
    (3, 2)

    Prior attention (the approach of iTerner/Facial-Emotion-Detection,
    https://github.com/iTerner/Facial-Emotion-Detection) takes the face and two
    blocks, by name:

    >>> from skorch.helper import SliceDict
    >>> images = faces.images
    >>> X = SliceDict(face=images, eyes=images[:, 10:26, 4:44], mouth=images[:, 28:44, 12:36])
    >>> net = CNNClassifier(
    ...     "prior_attention", module__width=4, max_epochs=1, validation_fraction=None
    ... )
    >>> net.fit(X, faces.target).input_shape_
    {'face': (1, 48, 48), 'eyes': (1, 16, 40), 'mouth': (1, 16, 24)}

    Fine-tune a backbone pretrained on unlabelled faces, its first two
    blocks frozen and the rest at a tenth of the head's learning rate:

    >>> from fer_toolkit.estimators import RotationPretext
    >>> pretext = RotationPretext(module__width=4, max_epochs=1, random_state=0)
    >>> pretext = pretext.fit(faces.images)
    >>> clf = CNNClassifier(
    ...     backbone=pretext, freeze=2, backbone_lr=1e-4, max_epochs=1,
    ...     validation_fraction=None, random_state=0,
    ... )
    >>> clf.fit(faces.images, faces.target).frozen_blocks_
    2
    """

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "brightness": [tuple, list, None],
        "horizontal_flip": ["boolean"],
        "shear": [Interval(Real, 0, None, closed="left")],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "translation": [Interval(Real, 0, 1, closed="left")],
        "zoom": [Interval(Real, 0, 1, closed="left")],
        "padding_mode": [StrOptions(set(PADDING_MODES))],
        "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
        "lr_schedule": [StrOptions({"cosine", "plateau"}), None],
        "restore_best": ["boolean"],
        "device": [str, torch.device, None],
        "amp": [StrOptions({"auto"}), "boolean"],
        "channels_last": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "backbone": [
            None,
            str,
            os.PathLike,
            torch.nn.Module,
            HasMethods(["fit", "save_backbone"]),
        ],
        "freeze": [StrOptions({"none", "backbone"}), Interval(Integral, 0, None, closed="left")],
        "backbone_lr": [Interval(Real, 0, None, closed="neither"), None],
        "unfreeze_schedule": [Interval(Integral, 1, None, closed="left"), dict, None],
    }

    def __init__(
        self,
        module="baseline",
        *,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=10,
        batch_size=64,
        validation_fraction=0.1,
        class_weight=None,
        brightness=None,
        horizontal_flip=False,
        shear=0.0,
        rotation=0.0,
        translation=0.0,
        zoom=0.0,
        padding_mode="border",
        early_stopping=None,
        lr_schedule=None,
        restore_best=False,
        device="auto",
        amp="auto",
        channels_last="auto",
        random_state=None,
        backbone=None,
        freeze="none",
        backbone_lr=None,
        unfreeze_schedule=None,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            device=device,
            amp=amp,
            channels_last=channels_last,
            random_state=random_state,
            verbose=verbose,
            **kwargs,
        )
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.brightness = brightness
        self.horizontal_flip = horizontal_flip
        self.shear = shear
        self.rotation = rotation
        self.translation = translation
        self.zoom = zoom
        self.padding_mode = padding_mode
        self.early_stopping = early_stopping
        self.lr_schedule = lr_schedule
        self.restore_best = restore_best
        self.backbone = backbone
        self.freeze = freeze
        self.backbone_lr = backbone_lr
        self.unfreeze_schedule = unfreeze_schedule

    # --------------------------------------------------------------- fitting
    def _validate_own_params(self):
        params = {key: getattr(self, key) for key in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params, type(self).__name__)
        self._augmentation()  # range checks of the augmentation parameters
        if self.unfreeze_schedule is not None and self.freeze == "none":
            raise InputError(
                f"unfreeze_schedule={self.unfreeze_schedule!r} unfreezes blocks that freeze "
                "makes frozen, but freeze='none': set freeze='backbone' or a number of blocks."
            )

    def _augmentation(self) -> AugmentationParams:
        return AugmentationParams(
            brightness=None if self.brightness is None else tuple(self.brightness),
            horizontal_flip=self.horizontal_flip,
            shear=self.shear,
            rotation=self.rotation,
            translation=self.translation,
            zoom=self.zoom,
            padding_mode=self.padding_mode,
        )

    def _check_augmentable(self, X):
        """Augmentation clips to [0, 1]: refuse float input outside it rather than clip it."""
        if self._augmentation().is_identity():
            return
        for name, batch in _named_batches(X):
            if batch.dtype == np.uint8:
                continue
            low, high = float(batch.min()), float(batch.max())
            if low < 0.0 or high > 1.0:
                raise InputError(
                    f"{name} holds float values in [{low:.3g}, {high:.3g}], but augmentation "
                    "needs pixels in [0, 1] (it clips to that range, which would distort "
                    "training images but not validation or test images): pass uint8 images "
                    "or floats scaled to [0, 1] (e.g. Rescale() without standardize), or "
                    "turn augmentation off."
                )

    def _encode_targets(self, y, n_samples):
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_samples:
            raise InputError(f"y has shape {y.shape}; expected one label per image ({n_samples},).")
        if self.warm_start and self.initialized_ and hasattr(self, "label_encoder_"):
            self._check_known_labels(y, "warm_start")
            return self.label_encoder_.transform(y).astype(np.int64)
        self.label_encoder_ = LabelEncoder().fit(y)
        if len(self.label_encoder_.classes_) < 2:
            raise InputError(
                f"y has a single class {y[0].tolist()!r}; a classifier needs at least two."
            )
        self.classes_inferred_ = self.label_encoder_.classes_
        return self.label_encoder_.transform(y).astype(np.int64)

    def _check_validation_size(self, y_codes):
        if self.train_split is not None or self.validation_fraction is None:
            return
        n_valid = math.ceil(self.validation_fraction * len(y_codes))
        n_classes = len(np.unique(y_codes))
        if n_valid < n_classes or len(y_codes) - n_valid < n_classes:
            raise InputError(
                f"validation_fraction={self.validation_fraction} of {len(y_codes)} images "
                f"cannot hold every one of the {n_classes} classes in both parts; use more "
                "images, another fraction, or validation_fraction=None."
            )

    def _class_weights(self, y_codes):
        if self.class_weight is None:
            return None
        codes = np.arange(len(self.classes_))
        if self.class_weight == "balanced":
            weights = compute_class_weight("balanced", classes=codes, y=y_codes)
        else:
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise InputError(f"class_weight names unknown classes {sorted(unknown)}.")
            weights = np.array([self.class_weight.get(c, 1.0) for c in self.classes_.tolist()])
        return torch.as_tensor(weights, dtype=torch.float32)

    def fit(self, X, y, **fit_params):
        """Train the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of images, or dict of them
            ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)``, uint8 or float,
            or a list of equally sized images; or a dict (``SliceDict``) of such
            batches whose keys name the arguments of the network's ``forward``.
        y : array-like of shape (n,)
            Labels, strings or ints.
        **fit_params : dict
            Passed to skorch's ``fit``.

        Returns
        -------
        self : CNNClassifier
        """
        self._validate_own_params()
        X = as_model_input(X)
        self._check_forward_inputs(X, fit_params)
        self._check_augmentable(X)
        warm = bool(self.warm_start) and self.initialized_
        if warm:
            self._check_continued_shape(X, "warm_start")
        y_codes = self._encode_targets(y, _n_images(X))
        self._check_validation_size(y_codes)
        self.class_weight_ = self._class_weights(y_codes)
        # Only now, with X and y accepted: a failed first fit leaves no fitted look.
        self.input_shape_ = _input_shape(X)
        with self._training(len(self.history) if warm else 0):
            if not warm:
                self.initialize()
            # skorch's own partial_fit: the data is already prepared.
            NeuralNetClassifier.partial_fit(self, X, y_codes, **fit_params)
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training for ``max_epochs`` without re-initialising (see ``fit``).

        The first call on an untrained estimator is ``fit``. Later calls need
        images of the training size and labels among ``classes_``.
        """
        if not self.initialized_:
            return self.fit(X, y, **fit_params)
        self._validate_own_params()
        X = as_model_input(X)
        self._check_augmentable(X)
        self._check_continued_shape(X, "partial_fit")
        y = np.asarray(y)
        n_images = _n_images(X)
        if y.ndim != 1 or len(y) != n_images:
            raise InputError(f"y has shape {y.shape}; expected one label per image ({n_images},).")
        self._check_known_labels(y, "partial_fit")
        y_codes = self.label_encoder_.transform(y).astype(np.int64)
        with self._training(len(self.history)):
            return super().partial_fit(X, y_codes, classes=classes, **fit_params)

    def _check_continued_shape(self, X, what):
        mismatch = self._shape_mismatch(X)
        if mismatch:
            raise InputError(f"{what}: {mismatch}.")

    def _shape_mismatch(self, X):
        """Why the prepared ``X`` does not fit the network built at ``fit``, or None."""
        expected, shape = self.input_shape_, _input_shape(X)
        if shape == expected:
            return None
        if isinstance(expected, dict) != isinstance(shape, dict):
            if isinstance(expected, dict):
                return (
                    f"X is one batch of images {shape} (C, H, W) but the network was built "
                    f"for a dict of batches with the keys {list(expected)}"
                )
            return f"X is a dict of batches but the network was built for one batch {expected}"
        if not isinstance(shape, dict):
            return (
                f"X has images of shape {shape} (C, H, W) but the network was built for {expected}"
            )
        if list(shape) != list(expected):
            return f"X has the keys {list(shape)} but the network was built for {list(expected)}"
        key = next(key for key in shape if shape[key] != expected[key])
        return (
            f"X[{key!r}] has images of shape {shape[key]} (C, H, W) but the network was "
            f"built for {expected[key]}"
        )

    def _check_forward_inputs(self, X, fit_params=()):
        """The network's ``forward`` must take what skorch will pass it.

        A dict ``X`` becomes keyword arguments (skorch's convention), one batch
        the first positional argument; ``fit_params`` are keyword arguments
        too. Checked before anything is built, so a mismatch is a clear error
        instead of a ``TypeError`` mid-training.
        """
        if self.backbone is not None:
            if isinstance(X, dict):
                raise InputError(
                    f"X is a dict of batches with the keys {list(X)}, but a network built on "
                    "a backbone takes one batch of images."
                )
            return
        module = get_model(self.module) if isinstance(self.module, str) else self.module
        forward = getattr(module, "forward", None)
        try:
            params = list(inspect.signature(forward).parameters.values())
        except (TypeError, ValueError):  # not introspectable: leave it to the call
            return
        if isinstance(module, type):
            params = params[1:]  # the unbound function's ``self``
        named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        required = [
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.default is p.empty
            and p.name not in fit_params
        ]
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        owner = getattr(module, "__name__", type(module).__name__)
        signature = f"{owner}.forward({', '.join(named)})"
        if not isinstance(X, dict):
            if len(required) > 1:
                raise InputError(
                    f"X is one batch of images but {signature} takes several: pass a dict "
                    f"(a skorch SliceDict) of image batches with the keys {required}, e.g. "
                    "from EyeMouthBlocks(output='dict')."
                )
            return
        missing = [name for name in required if name not in X]
        unexpected = [] if takes_any else [key for key in X if key not in named]
        if missing or unexpected:
            problems = [
                f"{what} {keys}"
                for what, keys in (("lacks", missing), ("adds", unexpected))
                if keys
            ]
            raise InputError(
                f"X has the keys {list(X)} but {signature} takes its inputs by those names "
                f"(skorch passes a dict X as keyword arguments): X {' and '.join(problems)}."
            )

    def _check_known_labels(self, y, what):
        unknown = np.setdiff1d(y, self.label_encoder_.classes_)
        if unknown.size:
            raise InputError(
                f"{what}: labels {unknown.tolist()} were not seen in the first fit "
                f"(classes {self.label_encoder_.classes_.tolist()})."
            )

    def initialize_for(self, X, classes):
        """Build module, criterion and optimizer for images like ``X`` without training.

        The step before ``load_params`` when restoring a model saved with
        ``save_params``: the network's shape comes from the images and the
        classes, not from a pickle.

        Parameters
        ----------
        X : array-like of images, or dict of them
            At least one image (per key) of the size and channels the model was
            trained on.
        classes : array-like
            The fitted model's ``classes_``.

        Returns
        -------
        self : CNNClassifier
        """
        self._validate_own_params()
        X = as_model_input(X)
        self._check_forward_inputs(X)
        self.input_shape_ = _input_shape(X)
        self.label_encoder_ = LabelEncoder().fit(np.asarray(classes))
        self.classes_inferred_ = self.label_encoder_.classes_
        self.class_weight_ = None
        with self._concrete_device():
            return self.initialize()

    def check_data(self, X, y=None):
        # classes_ comes from the label encoder of ``fit``; skorch would see codes.
        pass

    def get_split_datasets(self, X, y=None, **fit_params):
        """Hold out a stratified ``validation_fraction`` unless skorch's ``train_split`` is set."""
        if self.train_split is not None or self.validation_fraction is None:
            return super().get_split_datasets(X, y, **fit_params)
        split = ValidSplit(
            self.validation_fraction, stratified=True, random_state=self.random_state
        )
        return split(self.get_dataset(X, y), y)

    # ------------------------------------------------------ skorch components
    def initialize_module(self):
        if self.backbone is None:
            module = get_model(self.module) if isinstance(self.module, str) else self.module
            kwargs = self.get_params_for("module")
            if not isinstance(module, torch.nn.Module):
                kwargs = {**self._inferred_module_kwargs(module), **kwargs}
            try:
                self.module_ = self.initialized_instance(module, kwargs)
            except TypeError as exc:  # a module__ value of the wrong type (width=1.5)
                given = {f"module__{k}": v for k, v in self.get_params_for("module").items()}
                raise InputError(f"cannot build the network from {given}: {exc}") from exc
        else:
            self.module_ = self._transfer_module(resolve_backbone(self.backbone))
        self._initialize_freezing()
        if self._use_channels_last():
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def _transfer_module(self, backbone) -> torch.nn.Module:
        """The network on ``backbone``, its weights copied (see "Transfer learning")."""
        shape = self.input_shape_
        pretrained = getattr(backbone, "input_shape", None)
        if isinstance(backbone, Backbone) and pretrained and pretrained[0] != shape[0]:
            raise InputError(
                f"X has images of shape {shape} (C, H, W) but the backbone was pretrained on "
                f"{pretrained[0]}-channel images {pretrained}: convert X (e.g. with "
                "Grayscale or ToRGB) to the backbone's channels."
            )
        if isinstance(backbone, Backbone):
            # A pretrained name fixes the architecture: module is not consulted.
            if self.module != backbone.model and not is_pretrained_name(self.backbone):
                raise InputError(
                    f"module={self.module!r} but the backbone is the features of "
                    f"{backbone.model!r}: set module={backbone.model!r}."
                )
            module_cls = get_model(backbone.model)
            kwargs = {
                **backbone.model_kwargs,
                **self._inferred_module_kwargs(module_cls),
                **self.get_params_for("module"),
            }
            network = module_cls(**kwargs)
            try:
                network.features.load_state_dict(backbone.features.state_dict())
            except RuntimeError as exc:
                raise InputError(
                    f"the backbone's weights do not fit {backbone.model!r} built with "
                    f"{kwargs} (a module__* parameter that changes the backbone?): {exc}"
                ) from exc
            features = network.features
        else:
            features = copy.deepcopy(backbone).cpu()
            network = None
        was_training = features.training
        features.eval()
        try:
            with torch.no_grad():
                feature_shape = tuple(features(torch.zeros(1, *shape)).shape[1:])
        except Exception as exc:
            raise InputError(
                f"the backbone ({type(backbone).__name__}) cannot take images of shape "
                f"{shape} (C, H, W) from X: {exc}"
            ) from exc
        features.train(was_training)
        if network is None:
            network = TransferNetwork(
                features, feature_shape, len(self.classes_), **self.get_params_for("module")
            )
        return network

    def _initialize_freezing(self):
        """Freeze the blocks ``freeze`` names and plan ``unfreeze_schedule`` for a new module_."""
        self.frozen_blocks_ = 0
        self.unfreeze_plan_ = {}
        if self.freeze == "none" and self.backbone_lr is None:
            return
        features = getattr(self.module_, "features", None)
        if not isinstance(features, torch.nn.Module):
            raise InputError(
                f"freeze and backbone_lr act on the network's `features` module, which "
                f"{type(self.module_).__name__} does not have."
            )
        n_blocks = len(backbone_blocks(features))
        if self.freeze == "none":
            return
        n_frozen = n_blocks if self.freeze == "backbone" else int(self.freeze)
        if n_frozen > n_blocks:
            raise InputError(
                f"freeze={self.freeze} but the backbone ({type(self.module_).__name__}"
                f".features) has {n_blocks} blocks."
            )
        freeze_blocks(features, n_frozen)
        self.frozen_blocks_ = n_frozen
        if self.unfreeze_schedule is not None:
            self.unfreeze_plan_ = unfreeze_plan(self.unfreeze_schedule, n_frozen)

    def _set_training(self, training=True):
        super()._set_training(training)
        if training and getattr(self, "frozen_blocks_", 0):
            for block in backbone_blocks(self.module_.features)[: self.frozen_blocks_]:
                for module in block:
                    module.eval()

    def get_params_for_optimizer(self, prefix, named_parameters):
        """skorch's optimizer arguments, with a ``backbone_lr`` group for ``features.*``.

        ``backbone_lr`` takes precedence over ``optimizer__param_groups``
        patterns that match backbone parameters.
        """
        if prefix != "optimizer" or self.backbone_lr is None:
            return super().get_params_for_optimizer(prefix, named_parameters)
        named = list(named_parameters)
        backbone = [param for name, param in named if name.startswith("features.")]
        rest = [(name, param) for name, param in named if not name.startswith("features.")]
        (groups,), kwargs = super().get_params_for_optimizer(prefix, rest)
        return ([{"params": backbone, "lr": float(self.backbone_lr)}, *groups],), kwargs

    def _inferred_module_kwargs(self, module_cls) -> dict:
        shape = self.input_shape_
        if isinstance(shape, dict):
            shape = shape.get(_MAIN_KEY, next(iter(shape.values())))
        channels, height, width = shape
        inferred = {
            "in_channels": channels,
            "image_size": (height, width),
            "n_classes": len(self.classes_),
        }
        accepted = inspect.signature(module_cls).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        return {k: v for k, v in inferred.items() if takes_all or k in accepted}

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        weights = getattr(self, "class_weight_", None)
        if weights is not None:
            kwargs.setdefault("weight", weights)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    @property
    def _default_callbacks(self):
        monitor = "valid_loss" if self._validates() else "train_loss"
        callbacks = [
            (name, PlainPrintLog()) if name == "print_log" else (name, callback)
            for name, callback in super()._default_callbacks
            if name != "valid_acc"
        ]
        if self._validates():
            callbacks.insert(
                -1,
                (
                    "valid_acc",
                    EpochScoring(
                        encoded_accuracy,
                        name="valid_acc",
                        lower_is_better=False,
                    ),
                ),
            )
        # get_params reads this property before fit validates anything: compare safely.
        schedule = self.lr_schedule if isinstance(self.lr_schedule, str) else None
        if schedule == "cosine":
            callbacks.append(
                (
                    "lr_schedule",
                    LRScheduler(
                        policy="CosineAnnealingLR",
                        T_max=self.max_epochs,
                    ),
                )
            )
        elif schedule == "plateau":
            callbacks.append(
                (
                    "lr_schedule",
                    LRScheduler(
                        policy="ReduceLROnPlateau",
                        monitor=monitor,
                        patience=2,
                        factor=0.5,
                    ),
                )
            )
        if self.restore_best is True:
            # Before early stopping, whose on_epoch_end ends training: the last epoch counts.
            callbacks.append(("restore_best", RestoreBestWeights(monitor=monitor)))
        if self.unfreeze_schedule is not None:
            callbacks.append(("unfreeze", GradualUnfreezing()))
        if isinstance(self.early_stopping, Integral):
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=monitor,
                        patience=self.early_stopping,
                        sink=self._sink,
                    ),
                )
            )
        # Last: after restore_best has put the best epoch's weights back.
        callbacks.append(("batchnorm_stats", RecomputeBatchNorm()))
        if self._validates():
            callbacks.append(("chance_level", ChanceLevelWatch()))
        return callbacks

    def _validates(self) -> bool:
        return self.train_split is not None or self.validation_fraction is not None

    def _sink(self, message):
        if self.verbose:
            print(message)

    # ------------------------------------------------------------ train steps
    def train_step_single(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        Xi = self._to_device_batch(Xi)
        augmentation = self._augmentation()
        if not augmentation.is_identity():
            augment = augment_batches if isinstance(Xi, Mapping) else augment_batch
            Xi = augment(Xi, augmentation, self._augment_generator())
        return super().train_step_single((Xi, yi), **fit_params)

    def infer(self, x, **fit_params):
        x = self._to_device_batch(x)
        if isinstance(x, Mapping):  # skorch's convention: the keys are forward's arguments
            args, kwargs = (), self._merge_x_and_fit_params(x, fit_params)
        else:
            args, kwargs = (x,), fit_params
        if not self._use_amp():
            return self.module_(*args, **kwargs)
        with torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16):
            return self.module_(*args, **kwargs).float()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = torch.as_tensor(y_true).to(y_pred.device)
        return self.criterion_(y_pred, y_true)

    def __setattr__(self, name, value):
        if name == "backbone":
            # A parameter, not a component of this net: skorch refuses to set modules
            # outside initialize (set_params, clone) and would track it as its own.
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    # ------------------------------------------------------------- prediction
    def _check_predict_input(self, X):
        check_is_fitted(self, "input_shape_")
        if is_dataset(X):
            return X
        X = as_model_input(X)
        mismatch = self._shape_mismatch(X)
        if mismatch:
            raise InputError(f"{mismatch}; prepare them as for training.")
        return X

    def forward_iter(self, X, training=False, device="cpu"):
        with self._concrete_device(), self._inference_memory(_n_samples(X)):
            for out in super().forward_iter(X, training=training, device=device):
                yield out
                refresh_threads()

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like of images, or dict of them
            Same layout, keys and sizes as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n, n_classes), float32
        """
        return super().predict_proba(self._check_predict_input(X))

    def predict(self, X):
        """Predicted labels (as in ``y``) for images ``X``.

        Returns
        -------
        y_pred : ndarray of shape (n,)
        """
        proba = self.predict_proba(X)  # first: it raises NotFittedError when unfitted
        return self.classes_[proba.argmax(axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags
