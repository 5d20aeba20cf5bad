"""Self-supervised pretext tasks on unlabelled faces: rotation prediction and jigsaw puzzles.

The Persian FER study of faezesarlakifar/face-emotion-recognition
(https://github.com/faezesarlakifar/face-emotion-recognition) had many
unlabelled face crops and few labelled ones; it pretrained
its network on two pretext tasks, whose labels come from the images
themselves, before fine-tuning on the labelled faces. The estimators here do
that pretraining with any registry network as the backbone:

* :class:`RotationPretext`: predict by how many quarter turns an image was
  rotated (Gidaris et al., 2018);
* :class:`JigsawPretext`: predict which permutation shuffled the 3x3 tiles of
  an image (Noroozi & Favaro, 2016), tiles passing one by one through the
  shared backbone (a siamese network);
* :class:`JointPretext`: both at once on the same backbone, the loss being the
  sum of the two cross-entropies.

They are three classes rather than one with a ``tasks`` parameter because the
tasks take different parameters (the jigsaw settings mean nothing to rotation)
and score differently: each class has exactly the parameters it uses, so
``get_params``, ``clone`` and grid searches see no inert ones.

``fit(X)`` takes images only; the pretext labels are drawn per batch on the
device (see :mod:`fer_toolkit.estimators._pretext_data`). After ``fit``, the
learned :class:`~fer_toolkit.estimators.Backbone` is ``backbone_`` and
``save_backbone(path)`` writes it without pickle; ``transform`` gives the
globally average-pooled backbone features (for a linear probe) and ``score``
the pretext accuracy (for grid searches over pretext settings).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from torch import nn

from ..utils.threads import refresh_threads
from ..utils.validation import InputError
from ._device import DeviceMixin
from ._input import as_nchw
from ._pretext_data import (
    N_ROTATIONS,
    N_TILES,
    jigsaw_geometry,
    random_jigsaw,
    random_rotations,
)
from .backbone import Backbone, save_backbone

__all__ = ["JigsawPretext", "JointPretext", "RotationPretext", "jigsaw_permutations"]

#: Hidden units of the two-layer heads on top of the pooled backbone features.
HEAD_WIDTH = 256
# Seed of the pretext labels drawn by ``score``: the same images give the same puzzles.
_SCORE_SEED = 0

#: Seed of the random first permutation of :func:`jigsaw_permutations`.
PERMUTATION_SEED = 0


# ------------------------------------------------------------ permutations
@functools.lru_cache(maxsize=1)
def _all_permutations() -> np.ndarray:
    """The 9! permutations of 0..8 in lexicographic order, as a ``(9, 9!)`` int8 array."""
    return np.ascontiguousarray(
        np.array(list(itertools.permutations(range(N_TILES))), dtype=np.int8).T
    )


@functools.lru_cache(maxsize=8)
def _greedy_permutations(n_permutations: int, seed: int) -> np.ndarray:
    candidates = _all_permutations()
    n_candidates = candidates.shape[1]
    chosen = [int(np.random.default_rng(seed).integers(n_candidates))]
    total = np.zeros(n_candidates, dtype=np.int64)  # summed distance to the chosen set
    nearest = np.full(n_candidates, N_TILES, dtype=np.int64)  # distance to the closest one
    distance = np.empty(n_candidates, dtype=np.int64)
    for _ in range(n_permutations - 1):
        last = candidates[:, chosen[-1]]
        distance[:] = 0
        for position in range(N_TILES):
            distance += candidates[position] != last[position]
        total += distance
        np.minimum(nearest, distance, out=nearest)
        # Largest summed distance first, then largest distance to the nearest chosen one
        # (nearest <= 9 < 16), then the first in lexicographic order (argmax).
        score = total * 16 + nearest
        score[chosen] = -1
        chosen.append(int(score.argmax()))
    permutations = candidates[:, chosen].T.astype(np.int64)
    permutations.setflags(write=False)
    return permutations


def jigsaw_permutations(n_permutations: int = 100, seed: int = PERMUTATION_SEED) -> np.ndarray:
    """The fixed set of jigsaw permutations, chosen for maximal Hamming distance.

    The greedy algorithm of Noroozi & Favaro (2016, Algorithm 1 of the
    supplementary material): start from one permutation of the 9! drawn at
    random (``numpy.random.default_rng(seed)``); then repeatedly add the
    permutation whose summed Hamming distance to the permutations chosen so
    far is largest. Ties, which are common, go to the permutation farthest
    from its nearest chosen one, then to the first in lexicographic order, so
    the set depends on ``n_permutations`` and ``seed`` only; a set is a
    prefix of every larger set of the same seed.

    Sets of the default seed (minimal and mean pairwise Hamming distance,
    out of 9 positions):

    ==============  =======  ======
    n_permutations  minimal  mean
    ==============  =======  ======
    10              8        8.80
    30              5        8.26
    100             4        8.08
    1000            2        8.01
    ==============  =======  ======

    Parameters
    ----------
    n_permutations : int, default=100
        Size of the set, from 2 to 9! = 362,880 (about 5 ms per permutation
        on one CPU core; results are cached per process).
    seed : int, default=0
        Seed of the first permutation.

    Returns
    -------
    permutations : ndarray of shape (n_permutations, 9), int64
        A new array (the cached set stays intact). Row ``i`` is permutation
        ``i``: puzzle position ``j`` shows tile ``permutations[i, j]``.

    References
    ----------
    .. [1] M. Noroozi and P. Favaro, "Unsupervised Learning of Visual
       Representations by Solving Jigsaw Puzzles", ECCV 2016,
       arXiv:1603.09246.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.estimators import jigsaw_permutations
    >>> perms = jigsaw_permutations(10)
    >>> perms.shape
    (10, 9)
    >>> distances = (perms[:, None, :] != perms[None, :, :]).sum(axis=2)
    >>> int(distances[~np.eye(10, dtype=bool)].min())
    8
    """
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, (int, np.integer))
        or not 2 <= n_permutations <= math.factorial(N_TILES)
    ):
        raise InputError(
            f"n_permutations must be an int from 2 to 9! = {math.factorial(N_TILES)}, "
            f"got {n_permutations!r}."
        )
    return _greedy_permutations(int(n_permutations), int(seed)).copy()


def _head(in_features: int, n_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_features, HEAD_WIDTH), nn.ReLU(inplace=True), nn.Linear(HEAD_WIDTH, n_classes)
    )


class PretextNetwork(nn.Module):
    """A backbone shared by pretext heads; ``forward`` takes one batch per task by name.

    Parameters
    ----------
    backbone : Backbone
        Maps ``(n, C, H, W)`` to a feature map of ``feature_dim`` channels.
    feature_dim : int
        Channels of the backbone's feature map.
    n_classes : dict of str to int
        The tasks and their number of classes: ``{"rotation": 4}``,
        ``{"jigsaw": n_permutations}`` or both.

    Notes
    -----
    Feature maps are globally average pooled. The rotation head sees the
    pooled features of the image, the jigsaw head the nine pooled tile
    features concatenated in puzzle order (Noroozi & Favaro's context-free
    network). Each head is ``Linear(HEAD_WIDTH) -> ReLU -> Linear(n_classes)``.
    """

    def __init__(self, backbone: Backbone, feature_dim: int, n_classes: dict):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        width = {"rotation": feature_dim, "jigsaw": N_TILES * feature_dim}
        self.heads = nn.ModuleDict(
            {task: _head(width[task], count) for task, count in n_classes.items()}
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features ``(n, feature_dim)`` of images ``x``."""
        return self.pool(self.backbone(x))

    def forward(self, rotation=None, jigsaw=None) -> dict:
        """Logits by task: ``rotation`` is ``(n, C, S, S)``, ``jigsaw`` ``(9 n, C, h, w)``.

        The jigsaw batch holds the tiles of puzzle ``i`` at rows ``9 i .. 9 i + 8``,
        in puzzle order.
        """
        logits = {}
        if rotation is not None:
            logits["rotation"] = self.heads["rotation"](self.embed(rotation))
        if jigsaw is not None:
            features = self.embed(jigsaw).view(jigsaw.shape[0] // N_TILES, -1)
            logits["jigsaw"] = self.heads["jigsaw"](features)
        return logits


_COMMON_CONSTRAINTS = {
    "module": [str],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str, torch.device, None],
    "amp": [StrOptions({"auto"}), "boolean"],
    "channels_last": [StrOptions({"auto"}), "boolean"],
    "random_state": ["random_state"],
}

_JIGSAW_CONSTRAINTS = {
    "n_permutations": [Interval(Integral, 2, math.factorial(N_TILES), closed="both")],
    "tile_crop": [Interval(Real, 0, 1, closed="right")],
    "tile_size": [Interval(Integral, 1, None, closed="left"), None],
}

_MODULE_PARAMETER = """module : str, default="baseline"
        Registry name of the backbone's network (see
        :func:`~fer_toolkit.models.available_models`): its ``features``
        block is the backbone; its classifier head is not used. It is built
        with ``in_channels`` from the images and ``image_size`` the size of
        the backbone's input, plus every ``module__*`` parameter (e.g.
        ``module__width=8`` for ``"baseline"``)."""

_TRAINING_PARAMETERS = """lr : float, default=1e-3
        Learning rate.
    max_epochs : int, default=10
        Epochs per ``fit``.
    batch_size : int, default=64
        Images per training batch (a jigsaw batch holds nine tiles per image).
    optimizer : optimizer class, default=torch.optim.AdamW
        Set its options with ``optimizer__*`` parameters.
    criterion : loss class, default=torch.nn.CrossEntropyLoss
        Loss of each task over logits.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``... Images move
        to the device batch by batch (``uint8`` stays ``uint8`` until there)
        and the pretext labels are made there.
    amp : {"auto", True, False}, default="auto"
        bfloat16 autocast of the forward pass; ``"auto"``: on CUDA only.
    channels_last : {"auto", True, False}, default="auto"
        Channels-last memory format; ``"auto"``: on CUDA and on CPUs with oneDNN.
    random_state : int or None, default=None
        Seeds weight initialisation, shuffling and the pretext labels; the
        global torch random state is left as it was. On CPU the same seed
        gives the same backbone for the same thread count (see
        ``CNNClassifier``).
    verbose : int, default=0
        Print skorch's epoch table (loss and pretext accuracy) when 1.
    **kwargs
        Any other skorch parameter: ``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``callbacks``, ``warm_start``,
        ``train_split`` (default None: no validation; a skorch ``ValidSplit``
        adds ``valid_loss`` and validation accuracy to the history)..."""

_JIGSAW_PARAMETERS = """n_permutations : int, default=100
        Size of the permutation set, the number of jigsaw classes (see
        :func:`~fer_toolkit.estimators.jigsaw_permutations`: fixed, chosen for
        maximal Hamming distance, independent of ``random_state``).
    tile_crop : float in (0, 1], default=0.85
        Side of a tile as a fraction of its grid cell's (Noroozi & Favaro: 64
        of 75 pixels); tiles are cropped at random offsets inside their cells,
        so that the network cannot solve puzzles by matching tile edges.
        1.0 cuts the cells edge to edge.
    tile_size : int or None, default=None
        Resize tiles to ``tile_size x tile_size`` before the backbone, for
        backbones that need larger inputs than the tiles (``"conv4_dense3"``
        needs 46). None keeps them as cut (``floor(tile_crop * side / 3)``)."""

_COMMON_ATTRIBUTES = """backbone_ : Backbone
        The learned backbone (a view of ``module_.backbone``, on the device).
    input_shape_ : tuple of (int, int, int)
        ``(C, H, W)`` of the training images.
    module_ : PretextNetwork
        Backbone plus pretext heads.
    history_ : skorch.History
        Per epoch: ``train_loss`` and ``train_<task>_acc``, the pretext
        accuracy on the training batches."""


def _fill_doc(cls):
    """Fill the shared parameter and attribute blocks into a class docstring."""
    cls.__doc__ = (
        cls.__doc__.replace("%(module_parameter)s", _MODULE_PARAMETER)
        .replace("%(training_parameters)s", _TRAINING_PARAMETERS)
        .replace("%(jigsaw_parameters)s", _JIGSAW_PARAMETERS)
        .replace("%(common_attributes)s", _COMMON_ATTRIBUTES)
    )
    return cls


class _PretextEstimator(TransformerMixin, DeviceMixin, NeuralNet):
    """Training, scoring and persistence shared by the pretext estimators.

    Subclasses set ``_tasks`` and define ``__init__`` with their parameters
    (``DeviceMixin.__init__`` is the shared prologue).
    """

    _tasks: tuple[str, ...] = ()
    _parameter_constraints: dict = _COMMON_CONSTRAINTS

    # ------------------------------------------------------------ validation
    def _validate_own_params(self):
        params = {key: getattr(self, key) for key in self._parameter_constraints}
        validate_parameter_constraints(self._parameter_constraints, params, type(self).__name__)

    def _backbone_inputs(self, shape) -> dict:
        """``(C, h, w)`` of the backbone's input per task for images of ``shape`` (C, H, W)."""
        channels, height, width = shape
        inputs = {}
        if "rotation" in self._tasks:
            if height != width:
                raise InputError(
                    f"X has images of shape {shape} (C, H, W); rotation prediction needs "
                    "square images (a quarter turn must keep the shape): put a Resize step "
                    "with one size first."
                )
            inputs["rotation"] = shape
        if "jigsaw" in self._tasks:
            try:
                g = jigsaw_geometry(height, width, self.tile_crop)
            except ValueError as exc:
                raise InputError(f"X has images of shape {shape} (C, H, W): {exc}") from None
            tile = (g.tile_h, g.tile_w) if self.tile_size is None else (self.tile_size,) * 2
            inputs["jigsaw"] = (channels, *tile)
        return inputs

    def _prepare(self, X):
        X = as_nchw(X)
        self._backbone_inputs(tuple(X.shape[1:]))
        return X

    def _check_trained_shape(self, X, what):
        shape = tuple(X.shape[1:])
        if shape != self.input_shape_:
            raise InputError(
                f"{what}: X has images of shape {shape} (C, H, W) but the network was trained "
                f"on {self.input_shape_}; prepare them as for training."
            )

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y=None, **fit_params):
        """Pretrain the backbone on the pretext task(s) of unlabelled images ``X``.

        Parameters
        ----------
        X : array-like of images
            ``(n, H, W)``, ``(n, H, W, C)`` or ``(n, C, H, W)``, uint8 (scaled
            by 1/255 on the device) or float, or a list of equally sized images.
        y : None
            Ignored: the pretext labels come from the images.
        **fit_params : dict
            Passed to skorch's ``fit``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_own_params()
        X = self._prepare(X)
        warm = bool(self.warm_start) and self.initialized_
        if warm:
            self._check_trained_shape(X, "warm_start")
        else:
            self.input_shape_ = tuple(X.shape[1:])
            if "jigsaw" in self._tasks:
                self.permutations_ = jigsaw_permutations(self.n_permutations)
        with self._training(len(self.history) if warm else 0):
            if not warm:
                try:
                    self.initialize()
                except BaseException:
                    del self.input_shape_  # a failed first fit leaves no fitted look
                    raise
            NeuralNet.partial_fit(self, X, None, **fit_params)
        return self

    def partial_fit(self, X, y=None, **fit_params):
        """Continue pretraining for ``max_epochs`` (the first call is ``fit``).

        Parameters
        ----------
        X : array-like of images
            Of the shape ``fit`` saw.
        y : None
            Ignored.
        **fit_params : dict
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self : object
            The estimator.
        """
        if not self.initialized_:
            return self.fit(X, **fit_params)
        self._validate_own_params()
        X = as_nchw(X)
        self._check_trained_shape(X, "partial_fit")
        with self._training(len(self.history)):
            return NeuralNet.partial_fit(self, X, None, **fit_params)

    def _pretext_record(self) -> dict:
        record = {"estimator": type(self).__name__, "tasks": list(self._tasks)}
        if "jigsaw" in self._tasks:
            record.update(
                n_permutations=self.n_permutations,
                permutation_seed=PERMUTATION_SEED,
                tile_crop=float(self.tile_crop),
                tile_size=self.tile_size,
            )
        return record

    def initialize_module(self):
        inputs = self._backbone_inputs(self.input_shape_)
        channels = self.input_shape_[0]
        # The smallest input sets image_size: models check it against their minimum.
        _, height, width = min(inputs.values(), key=lambda shape: shape[1] * shape[2])
        kwargs = {"in_channels": channels, "image_size": [height, width]}
        kwargs.update(self.get_params_for("module"))
        try:
            backbone = Backbone(
                self.module, kwargs, input_shape=self.input_shape_, pretext=self._pretext_record()
            )
        except ValueError as exc:
            if "jigsaw" in inputs:
                what, hint = (
                    "jigsaw tiles",
                    " Set tile_size to resize the tiles, or use larger images.",
                )
            else:
                what, hint = "images", ""
            raise InputError(
                f"{type(self).__name__}: backbone {self.module!r} cannot take the {what} "
                f"({channels}x{height}x{width}) of images of shape {self.input_shape_} "
                f"(C, H, W): {str(exc).rstrip('.')}.{hint}"
            ) from exc
        backbone.eval()
        with torch.no_grad():
            feature_dim = backbone(torch.zeros(1, *next(iter(inputs.values())))).shape[1]
        backbone.train()
        n_classes = {"rotation": N_ROTATIONS, "jigsaw": getattr(self, "n_permutations", None)}
        self.module_ = PretextNetwork(
            backbone, feature_dim, {task: n_classes[task] for task in self._tasks}
        )
        if self._use_channels_last():
            self.module_ = self.module_.to(memory_format=torch.channels_last)
        return self

    @property
    def backbone_(self) -> Backbone:
        check_is_fitted(self, "input_shape_")
        return self.module_.backbone

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        scorings = [
            (
                f"train_{task}_acc",
                PassthroughScoring(f"train_{task}_acc", lower_is_better=False, on_train=True),
            )
            for task in self._tasks
        ]
        if self.train_split is not None:
            scorings += [
                (
                    f"valid_{task}_acc",
                    PassthroughScoring(f"valid_{task}_acc", lower_is_better=False),
                )
                for task in self._tasks
            ]
        # Before print_log, which comes last, so the accuracies show in the epoch table.
        return callbacks[:-1] + scorings + callbacks[-1:]

    # ------------------------------------------------------------ train steps
    def _memory_format(self, x: torch.Tensor) -> torch.Tensor:
        if self._use_channels_last():
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()

    def _pretext_batch(self, x: torch.Tensor, generator):
        """Backbone inputs and labels by task for a float batch ``x`` on the device."""
        inputs, targets = {}, {}
        if "rotation" in self._tasks:
            rotated, targets["rotation"] = random_rotations(x, generator)
            inputs["rotation"] = self._memory_format(rotated)
        if "jigsaw" in self._tasks:
            geometry = jigsaw_geometry(x.shape[2], x.shape[3], self.tile_crop)
            permutations = torch.as_tensor(self.permutations_, device=x.device)
            puzzles, targets["jigsaw"] = random_jigsaw(
                x, geometry, permutations, generator, self.tile_size
            )
            inputs["jigsaw"] = self._memory_format(puzzles.flatten(0, 1))
        return inputs, targets

    def _step(self, batch, training, **fit_params):
        self._set_training(training)
        Xi, _ = unpack_data(batch)
        inputs, targets = self._pretext_batch(self._to_device_batch(Xi), self._augment_generator())
        y_pred = self.infer(inputs, **fit_params)
        loss = self.get_loss(y_pred, targets, X=inputs, training=training)
        prefix = "train" if training else "valid"
        for task, logits in y_pred.items():
            accuracy = (logits.argmax(dim=1) == targets[task]).float().mean()
            self.history.record_batch(f"{prefix}_{task}_acc", accuracy.item())
        return loss, y_pred

    def train_step_single(self, batch, **fit_params):
        loss, y_pred = self._step(batch, True, **fit_params)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        with torch.no_grad():
            loss, y_pred = self._step(batch, False, **fit_params)
        return {"loss": loss, "y_pred": y_pred}

    def _autocast(self):
        if not self._use_amp():
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16)

    def infer(self, x, **fit_params):
        with self._autocast():
            logits = self.module_(**x, **fit_params)
        return {task: value.float() for task, value in logits.items()}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return sum(self.criterion_(y_pred[task], y_true[task]) for task in self._tasks)

    # ------------------------------------------------------------- inference
    def _no_predictions(self):
        raise AttributeError(
            f"{type(self).__name__} has no predict or predict_proba: its labels are made up "
            "during training. Use transform for backbone features, score for the pretext "
            "accuracy, or a CNNClassifier on top of the pretrained backbone."
        )

    # skorch's versions would run the heads on raw images; hasattr() is False for these.
    predict = property(_no_predictions)
    predict_proba = property(_no_predictions)

    def _batches(self, X):
        """Device batches of the fitted-shape images ``X``, the module in evaluation mode."""
        self._set_training(False)
        with self._inference_memory(len(X)):
            for batch in self.get_iterator(self.get_dataset(X), training=False):
                Xi, _ = unpack_data(batch)
                yield self._to_device_batch(Xi)
                refresh_threads()

    def _check_fitted_input(self, X, what):
        check_is_fitted(self, "input_shape_")
        X = as_nchw(X)
        self._check_trained_shape(X, what)
        return X

    def transform(self, X):
        """Globally average-pooled backbone features of images ``X``.

        Parameters
        ----------
        X : array-like of images
            Of the shape ``fit`` saw.

        Returns
        -------
        features : ndarray of shape (n, feature_dim), float32
        """
        X = self._check_fitted_input(X, "transform")
        features = []
        with self._concrete_device(), torch.no_grad():
            for xb in self._batches(X):
                with self._autocast():
                    embedded = self.module_.embed(xb)
                features.append(embedded.float().cpu().numpy())
        return np.concatenate(features)

    def task_scores(self, X) -> dict:
        """Pretext accuracy per task on images ``X``.

        The pretext labels are drawn from a generator seeded with a fixed
        seed, so the same images and network give the same scores.

        Parameters
        ----------
        X : array-like of images
            Of the shape ``fit`` saw.

        Returns
        -------
        scores : dict of str to float
            ``{"rotation": accuracy}``, ``{"jigsaw": accuracy}`` or both.
        """
        X = self._check_fitted_input(X, "score")
        correct = dict.fromkeys(self._tasks, 0)
        with self._concrete_device(), torch.no_grad():
            generator = torch.Generator(device=self.device).manual_seed(_SCORE_SEED)
            for xb in self._batches(X):
                inputs, targets = self._pretext_batch(xb, generator)
                for task, logits in self.infer(inputs).items():
                    correct[task] += int((logits.argmax(dim=1) == targets[task]).sum())
        return {task: count / len(X) for task, count in correct.items()}

    def score(self, X, y=None):
        """Mean pretext accuracy over the tasks on images ``X`` (see :meth:`task_scores`).

        Chance level is 1/4 for rotation and ``1 / n_permutations`` for jigsaw.

        Parameters
        ----------
        X : array-like of images
            Of the shape ``fit`` saw.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(list(self.task_scores(X).values())))

    def save_backbone(self, path) -> None:
        """Write ``backbone_`` to ``path`` without pickle; read it back with ``load_backbone``.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file; written atomically.
        """
        save_backbone(self.backbone_, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.non_deterministic = False
        return tags


@_fill_doc
class RotationPretext(_PretextEstimator):
    """Self-supervised pretraining by rotation prediction (0, 90, 180 or 270 degrees).

    Every training image is rotated by a random multiple of 90 degrees
    (counter-clockwise on screen), drawn per image and batch on the device,
    and the network learns to tell which: to do so it has to find the eyes,
    the mouth and the chin, the features an emotion classifier needs
    (Gidaris, Singh & Komodakis, ICLR 2018). Images must be square.

    Parameters
    ----------
    %(module_parameter)s
    %(training_parameters)s

    Attributes
    ----------
    %(common_attributes)s

    See Also
    --------
    JigsawPretext, JointPretext : The other pretext tasks.
    load_backbone : Read a saved backbone.

    Examples
    --------
    >>> from fer_toolkit.datasets import make_synthetic_faces
    >>> from fer_toolkit.estimators import RotationPretext
    >>> X = make_synthetic_faces(n_samples=64, image_size=32, random_state=0).images
    >>> pretext = RotationPretext(module__width=4, max_epochs=1, random_state=0).fit(X)
    >>> pretext.transform(X).shape
    (64, 16)
    >>> 0.0 <= pretext.score(X) <= 1.0
    True
    """

    _tasks = ("rotation",)

    def __init__(
        self,
        module="baseline",
        *,
        lr=1e-3,
        max_epochs=10,
        batch_size=64,
        optimizer=torch.optim.AdamW,
        criterion=torch.nn.CrossEntropyLoss,
        device="auto",
        amp="auto",
        channels_last="auto",
        random_state=None,
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


class _JigsawEstimator(_PretextEstimator):
    """The parameters of the estimators that solve jigsaw puzzles (jigsaw and joint)."""

    _parameter_constraints: dict = {**_COMMON_CONSTRAINTS, **_JIGSAW_CONSTRAINTS}

    def __init__(
        self,
        module="baseline",
        *,
        n_permutations=100,
        tile_crop=0.85,
        tile_size=None,
        lr=1e-3,
        max_epochs=10,
        batch_size=64,
        optimizer=torch.optim.AdamW,
        criterion=torch.nn.CrossEntropyLoss,
        device="auto",
        amp="auto",
        channels_last="auto",
        random_state=None,
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
        self.n_permutations = n_permutations
        self.tile_crop = tile_crop
        self.tile_size = tile_size


@_fill_doc
class JigsawPretext(_JigsawEstimator):
    """Self-supervised pretraining by solving 3x3 jigsaw puzzles.

    Every training image is cut into a 3x3 grid of tiles (cropped at random
    offsets inside their cells), the tiles are shuffled by a permutation drawn
    from a fixed set of ``n_permutations`` chosen for maximal Hamming distance,
    and the network learns which permutation it was. Each tile goes through
    the same backbone on its own (a siamese network); the nine pooled feature
    vectors, concatenated in puzzle order, feed the classifier (Noroozi &
    Favaro, ECCV 2016).

    Parameters
    ----------
    %(module_parameter)s
    %(jigsaw_parameters)s
    %(training_parameters)s

    Attributes
    ----------
    %(common_attributes)s
    permutations_ : ndarray of shape (n_permutations, 9)
        The permutation set; class ``i`` shows tile ``permutations_[i, j]`` at
        puzzle position ``j`` (positions and tiles in row-major order).

    See Also
    --------
    RotationPretext, JointPretext : The other pretext tasks.
    jigsaw_permutations : How the permutation set is chosen.

    Examples
    --------
    >>> from fer_toolkit.datasets import make_synthetic_faces
    >>> from fer_toolkit.estimators import JigsawPretext
    >>> X = make_synthetic_faces(n_samples=32, image_size=48, random_state=0).images
    >>> pretext = JigsawPretext(n_permutations=10, module__width=4, max_epochs=1, random_state=0)
    >>> pretext.fit(X).permutations_.shape
    (10, 9)
    >>> pretext.backbone_.input_shape, pretext.backbone_.model_kwargs["image_size"]
    ((1, 48, 48), [13, 13])
    """

    _tasks = ("jigsaw",)


@_fill_doc
class JointPretext(_JigsawEstimator):
    """Self-supervised pretraining on rotation prediction and jigsaw puzzles at once.

    The Persian FER study of faezesarlakifar/face-emotion-recognition
    pretrained on both tasks. Every training batch yields a rotated
    copy of each image and a puzzle of each image; both go through the same
    backbone, each task has its own head, and the loss is the sum of the two
    cross-entropies. ``score`` is the mean of the two accuracies
    (:meth:`task_scores` gives each). Images must be square.

    Parameters
    ----------
    %(module_parameter)s
    %(jigsaw_parameters)s
    %(training_parameters)s

    Attributes
    ----------
    %(common_attributes)s
    permutations_ : ndarray of shape (n_permutations, 9)
        The jigsaw permutation set.

    See Also
    --------
    RotationPretext, JigsawPretext : Each task on its own.

    Examples
    --------
    >>> from fer_toolkit.datasets import make_synthetic_faces
    >>> from fer_toolkit.estimators import JointPretext
    >>> X = make_synthetic_faces(n_samples=32, image_size=48, random_state=0).images
    >>> pretext = JointPretext(n_permutations=10, module__width=4, max_epochs=1, random_state=0)
    >>> sorted(pretext.fit(X).task_scores(X))
    ['jigsaw', 'rotation']
    """

    _tasks = ("rotation", "jigsaw")
