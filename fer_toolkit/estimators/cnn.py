"""``CNNClassifier``: a skorch-wrapped PyTorch CNN that behaves like any scikit-learn classifier."""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping, EpochScoring, LRScheduler
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import is_dataset

from ..models import get_model
from ._callbacks import RestoreBestWeights, encoded_accuracy
from ._input import as_nchw
from .augmentation import AugmentationParams, augment_batch

__all__ = ["CNNClassifier", "resolve_device"]

_INFERRED_MODULE_KWARGS = ("in_channels", "image_size", "n_classes")


def resolve_device(device) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Examples
    --------
    >>> from fer_toolkit.estimators import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class CNNClassifier(NeuralNetClassifier):
    """A PyTorch CNN image classifier with the scikit-learn interface (skorch underneath).

    It takes images straight from fer_toolkit's transformers, infers the input
    shape and the number of classes at ``fit``, trains with optional
    augmentation on training batches only, and drops into ``Pipeline``,
    ``GridSearchCV`` and ``cross_val_score``.

    Parameters
    ----------
    module : str, nn.Module class or instance, default="baseline"
        A name from :func:`fer_toolkit.models.available_models` (``"baseline"``,
        ``"seed004"``, ``"vgg_fer"``), or any ``torch.nn.Module`` class or
        instance returning logits. A class receives ``in_channels``,
        ``image_size`` and ``n_classes`` inferred from the data (those its
        constructor accepts) plus every ``module__*`` parameter, which win.
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
        Random brightness factor range for training batches (seed 001 used
        ``(0.0, 2.0)``).
    horizontal_flip : bool, default=False
        Mirror half of every training batch.
    shear : float, default=0.0
        Maximum shear factor (seed 001: ``0.3``).
    rotation : float, default=0.0
        Maximum rotation in degrees.
    translation : float, default=0.0
        Maximum shift as a fraction of the image size.
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
        predictions. The global torch random state is left as it was. A
        continued training (``partial_fit``, ``warm_start``) is seeded from
        ``random_state`` and the number of epochs already trained, so it is
        reproducible without replaying earlier epochs' shuffles and augmentations.
    verbose : int, default=0
        skorch's epoch table is printed when 1.
    **kwargs
        Any other skorch parameter: ``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``warm_start``, ``callbacks``, ``train_split``...
        ``iterator_train__shuffle`` defaults to True here: the training data is
        reshuffled every epoch.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, as given in ``y`` (strings or ints).
    input_shape_ : tuple of (int, int, int)
        ``(C, H, W)`` of the training images.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch losses, accuracy and timings.

    See Also
    --------
    fer_toolkit.models.available_models : Networks available by name.

    Notes
    -----
    Augmentation works on pixels in [0, 1] (it clips to that range): train on
    ``uint8`` images or floats scaled to [0, 1]. While an augmentation is on,
    ``fit`` refuses float images outside [0, 1] (standardised or unscaled)
    instead of distorting the training images only.

    Persistence: ``pickle``/``joblib`` round trips work and a model trained on
    CUDA loads on a CPU-only machine. To share a model without pickle (which can
    run arbitrary code when loaded), use ``save_params(f_params=...)`` and, on the
    other side, build the same estimator, call ``initialize_for(X, classes)``
    with a sample image and the saved model's classes, then
    ``load_params(f_params=...)``.

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
        "early_stopping": [Interval(Integral, 1, None, closed="left"), None],
        "lr_schedule": [StrOptions({"cosine", "plateau"}), None],
        "restore_best": ["boolean"],
        "device": [str, torch.device, None],
        "amp": [StrOptions({"auto"}), "boolean"],
        "channels_last": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
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
        early_stopping=None,
        lr_schedule=None,
        restore_best=False,
        device="auto",
        amp="auto",
        channels_last="auto",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        kwargs.setdefault("train_split", None)
        # Reshuffle the training data every epoch (skorch's own default is off).
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            device=device,
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
        self.early_stopping = early_stopping
        self.lr_schedule = lr_schedule
        self.restore_best = restore_best
        self.amp = amp
        self.channels_last = channels_last
        self.random_state = random_state

    # ------------------------------------------------------------------ device
    @contextlib.contextmanager
    def _concrete_device(self):
        """Within the block, ``self.device`` is a real device; ``"auto"`` is restored after.

        skorch reads ``self.device`` in many places; the parameter itself must
        keep the value the user gave (scikit-learn's contract).
        """
        requested = self.device
        if not (isinstance(requested, str) and requested == "auto"):
            yield
            return
        self.device = resolve_device(requested)
        try:
            yield
        finally:
            self.device = requested

    def _on_cuda(self) -> bool:
        return torch.device(resolve_device(self.device)).type == "cuda"

    def _use_amp(self) -> bool:
        return self._on_cuda() if self.amp == "auto" else bool(self.amp)

    def _use_channels_last(self) -> bool:
        if self.channels_last != "auto":
            return bool(self.channels_last)
        # oneDNN's channels-last convolutions are faster on CPU too (measured in
        # benchmarks/bench_training.py: +32% training, +78% inference, baseline net).
        return self._on_cuda() or torch.backends.mkldnn.is_available()

    # --------------------------------------------------------------- fitting
    def _validate_own_params(self):
        params = {key: getattr(self, key) for key in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params, type(self).__name__)
        self._augmentation()  # range checks of the augmentation parameters

    def _augmentation(self) -> AugmentationParams:
        return AugmentationParams(
            brightness=None if self.brightness is None else tuple(self.brightness),
            horizontal_flip=self.horizontal_flip,
            shear=self.shear,
            rotation=self.rotation,
            translation=self.translation,
        )

    def _check_augmentable(self, X):
        """Augmentation clips to [0, 1]: refuse float input outside it rather than clip it."""
        if X.dtype == np.uint8 or self._augmentation().is_identity():
            return
        low, high = float(X.min()), float(X.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"X holds float values in [{low:.3g}, {high:.3g}], but augmentation needs "
                "pixels in [0, 1] (it clips to that range, which would distort training "
                "images but not validation or test images): pass uint8 images or floats "
                "scaled to [0, 1] (e.g. Rescale() without standardize), or turn "
                "augmentation off."
            )

    def _encode_targets(self, y, n_samples):
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(f"y has shape {y.shape}; expected one label per image ({n_samples},).")
        if self.warm_start and self.initialized_ and hasattr(self, "label_encoder_"):
            self._check_known_labels(y, "warm_start")
            return self.label_encoder_.transform(y).astype(np.int64)
        self.label_encoder_ = LabelEncoder().fit(y)
        if len(self.label_encoder_.classes_) < 2:
            raise ValueError(
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
            raise ValueError(
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
                raise ValueError(f"class_weight names unknown classes {sorted(unknown)}.")
            weights = np.array([self.class_weight.get(c, 1.0) for c in self.classes_.tolist()])
        return torch.as_tensor(weights, dtype=torch.float32)

    def fit(self, X, y, **fit_params):
        """Train the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of images
            ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)``, uint8 or float,
            or a list of equally sized images.
        y : array-like of shape (n,)
            Labels, strings or ints.
        **fit_params : dict
            Passed to skorch's ``fit``.

        Returns
        -------
        self : CNNClassifier
        """
        self._validate_own_params()
        X = as_nchw(X)
        self._check_augmentable(X)
        warm = bool(self.warm_start) and self.initialized_
        if warm:
            self._check_continued_shape(X, "warm_start")
        y_codes = self._encode_targets(y, len(X))
        self._check_validation_size(y_codes)
        self.class_weight_ = self._class_weights(y_codes)
        # Only now, with X and y accepted: a failed first fit leaves no fitted look.
        self.input_shape_ = tuple(X.shape[1:])
        with self._seeded(len(self.history) if warm else 0), self._concrete_device():
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
        X = as_nchw(X)
        self._check_augmentable(X)
        self._check_continued_shape(X, "partial_fit")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y has shape {y.shape}; expected one label per image ({len(X)},).")
        self._check_known_labels(y, "partial_fit")
        y_codes = self.label_encoder_.transform(y).astype(np.int64)
        with self._seeded(len(self.history)), self._concrete_device():
            return super().partial_fit(X, y_codes, classes=classes, **fit_params)

    def _check_continued_shape(self, X, what):
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"{what}: X has images of shape {X.shape[1:]} (C, H, W) but the network "
                f"was built for {self.input_shape_}."
            )

    def _check_known_labels(self, y, what):
        unknown = np.setdiff1d(y, self.label_encoder_.classes_)
        if unknown.size:
            raise ValueError(
                f"{what}: labels {unknown.tolist()} were not seen in the first fit "
                f"(classes {self.label_encoder_.classes_.tolist()})."
            )

    @contextlib.contextmanager
    def _seeded(self, epochs_done=0):
        """Seed torch for the block only, leaving the caller's global random state intact.

        ``epochs_done`` (the length of the history a call continues from) enters
        the seed, so that a continued training (``partial_fit``, ``warm_start``)
        is reproducible without replaying the shuffles and augmentations of the
        epochs before it.
        """
        self.augment_rng_ = None  # every call starts a fresh augmentation stream
        if self.random_state is None:
            self.augment_seed_ = int(torch.randint(0, 2**31 - 1, ()).item())
            yield
            return
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        if epochs_done:
            seed = int(np.random.RandomState([seed, epochs_done]).randint(0, 2**31 - 1))
        self.augment_seed_ = seed + 1
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def initialize_for(self, X, classes):
        """Build module, criterion and optimizer for images like ``X`` without training.

        The step before ``load_params`` when restoring a model saved with
        ``save_params``: the network's shape comes from the images and the
        classes, not from a pickle.

        Parameters
        ----------
        X : array-like of images
            At least one image of the size and channels the model was trained on.
        classes : array-like
            The fitted model's ``classes_``.

        Returns
        -------
        self : CNNClassifier
        """
        self._validate_own_params()
        self.input_shape_ = tuple(as_nchw(X).shape[1:])
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
        module = get_model(self.module) if isinstance(self.module, str) else self.module
        kwargs = self.get_params_for("module")
        if not isinstance(module, torch.nn.Module):
            kwargs = {**self._inferred_module_kwargs(module), **kwargs}
        self.module_ = self.initialized_instance(module, kwargs)
        if self._use_channels_last():
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    def _inferred_module_kwargs(self, module_cls) -> dict:
        channels, height, width = self.input_shape_
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
            callback for callback in super()._default_callbacks if callback[0] != "valid_acc"
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
        return callbacks

    def _validates(self) -> bool:
        return self.train_split is not None or self.validation_fraction is not None

    def _sink(self, message):
        if self.verbose:
            print(message)

    # ------------------------------------------------------------ train steps
    def _to_device_batch(self, x):
        """Move a batch to the device as float; uint8 pixels become [0, 1] there."""
        x = torch.as_tensor(x).to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if self._use_channels_last():
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def train_step_single(self, batch, **fit_params):
        Xi, yi = unpack_data(batch)
        Xi = self._to_device_batch(Xi)
        augmentation = self._augmentation()
        if not augmentation.is_identity():
            Xi = augment_batch(Xi, augmentation, self._augment_generator())
        return super().train_step_single((Xi, yi), **fit_params)

    def _augment_generator(self) -> torch.Generator:
        """One generator per fit and device, seeded from ``random_state``."""
        key = (self.augment_seed_, str(self.device))
        cached = getattr(self, "augment_rng_", None)
        if cached is None or cached[0] != key:
            generator = torch.Generator(device=self.device).manual_seed(self.augment_seed_)
            cached = (key, generator)
            self.augment_rng_ = cached
        return cached[1]

    def infer(self, x, **fit_params):
        x = self._to_device_batch(x)
        if not self._use_amp():
            return self.module_(x, **fit_params)
        with torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16):
            return self.module_(x, **fit_params).float()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = torch.as_tensor(y_true).to(y_pred.device)
        return self.criterion_(y_pred, y_true)

    # ------------------------------------------------------------- prediction
    def _check_predict_input(self, X):
        check_is_fitted(self, "input_shape_")
        if is_dataset(X):
            return X
        X = as_nchw(X)
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has images of shape {X.shape[1:]} (C, H, W) but the network was trained "
                f"on {self.input_shape_}; resize them the same way."
            )
        return X

    def forward_iter(self, X, training=False, device="cpu"):
        with self._concrete_device():
            yield from super().forward_iter(X, training=training, device=device)

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like of images
            Same layout and size as in ``fit``.

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

    # ------------------------------------------------------------- persistence
    def set_params(self, **kwargs):
        if "device" in kwargs:
            # Set first and outside the block below, which would restore the old value.
            super().set_params(device=kwargs.pop("device"))
        with self._concrete_device():
            return super().set_params(**kwargs)

    def load_params(self, *args, **kwargs):
        with self._concrete_device():
            return super().load_params(*args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("augment_rng_", None)
        return state

    def __setstate__(self, state):
        requested = state["device"]
        if not (isinstance(requested, str) and requested == "auto"):
            # A concrete device: skorch maps e.g. "cuda" to "cpu" on a machine without
            # one (with a DeviceWarning) and keeps that device for prediction.
            super().__setstate__(state)
            return
        state["device"] = resolve_device("auto")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "auto" moving to CPU is the plan, not news
            super().__setstate__(state)
        self.device = requested

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags
