"""Boosted cascades as data, evaluated with the semantics of OpenCV's detector.

The dataclasses hold exactly what a cascade XML holds (see :mod:`fer_toolkit.cascade.xml`):
a :class:`Cascade` is a window size, a feature type, its training parameters, a list of
:class:`Stage` (a threshold and boosted :class:`WeakTree` s) and a feature table.

Evaluation follows ``modules/objdetect/src/cascadedetect.cpp`` to the bit, so that a
window the cascade accepts here is one ``cv2.CascadeClassifier`` accepts. It runs in
compiled C loops (parallel over windows or image rows; ``n_threads`` as in
:func:`~fer_toolkit.utils.threads.resolve_num_threads`), window by window and stage by
stage with early rejection:

* Haar windows are normalised by ``factor = float32(1 / sqrt(area * sqsum - sum ** 2))``
  over the inner rectangle ``(1, 1, W - 2, H - 2)``; a window is rejected outright when
  that variance term is ``<= 0`` or when ``area * factor >= 0.1`` (pixel standard
  deviation not above about 10 grey levels). A feature value is the float32 weighted
  rectangle sum times ``factor``.
* A node sends a window left when ``value < threshold`` (float32); an LBP node when bit
  ``code`` of its 256-bit subset is set. Cascades made only of stumps take the first leaf
  value on the left, whatever the node's child indices say (OpenCV's stump fast path).
* A stage sums its trees' leaf values in double and rejects the window when the sum is
  below ``float32(threshold) - 1e-5`` (in float32).
* Multi-scale detection (:meth:`Cascade.detect_multiscale`) is OpenCV's own: the cascade
  goes to ``cv2.CascadeClassifier`` as its XML text.

The trainer instead keeps positives and mines negatives with ``opencv_traincascade``'s
own evaluation (``evaluate(..., training=True)``, ``CvCascadeClassifier::predict``): Haar
values are the float32 weighted sum divided by the float32 norm
``sqrt(area * sqsum - sum ** 2)`` (0 when the norm is 0), nodes go left when
``value <= threshold``, and no window is rejected for being flat. The two agree except
for values exactly at a threshold, last-bit differences of the normalisation, and flat
windows (which only the trainer evaluates).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral, Real
from typing import NamedTuple

import cv2
import numpy as np

from ..utils.pixels import to_gray, to_uint8
from ..utils.threads import _opencv_threads, resolve_num_threads
from ..utils.validation import InputError, check_image, check_images, check_size
from .features import FEATURE_TYPES, HAAR_MODES, HaarFeatures, LBPFeatures
from .flags import TRAINCASCADE
from .integral import opencv_tables

__all__ = ["Cascade", "CascadeParams", "FeatureParams", "Stage", "StageParams", "WeakTree"]

BOOST_TYPES = TRAINCASCADE["boost_type"].choices
#: OpenCV's ``THRESHOLD_EPS``, subtracted from every stage threshold (in float32).
STAGE_THRESHOLD_EPS = np.float32(1e-5)
#: Words of an LBP node's 256-bit category subset.
SUBSET_WORDS = 8
#: OpenCV's ``detectMultiScale`` default, also used by ``fer-toolkit cascade detect``.
MIN_NEIGHBORS = 3
_WINDOW = "(width, height)"


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


@contextlib.contextmanager
def _compiled(n_threads):
    """The compiled evaluator (C through ctypes, loaded on first use) on its thread count
    within the block, the count restored after it: yields ``(module, threads)``."""
    from . import _native, _scan_kernels

    with _native.limit_threads(n_threads) as threads:
        yield _scan_kernels, threads


class _KernelFeatures(NamedTuple):
    """A feature table as :mod:`._scan_kernels` takes it: the rows and columns of the
    corners (the table's ``_corners``: ``(k, 3, 4)`` Haar, ``(k, 4, 4)`` LBP), weights
    ``(k, 3)`` float32 (zeros for LBP), tilted ``(k,)`` bool (all False for LBP)."""

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    tilted: np.ndarray


def _kernel_features(table) -> _KernelFeatures:
    """``table`` as :mod:`._scan_kernels` takes it."""
    rows, cols = table._corners()
    if isinstance(table, HaarFeatures):
        return _KernelFeatures(rows, cols, table.weights, table.tilted)
    k = len(table)
    return _KernelFeatures(rows, cols, np.zeros((k, 3), np.float32), np.zeros(k, dtype=bool))


@dataclass(frozen=True)
class StageParams:
    """Boosting parameters of every stage (``-bt``, ``-minHitRate`` to ``-maxWeakCount``).

    The detector ignores them; ``params.xml`` and ``cascade.xml`` record them.

    Parameters
    ----------
    boost_type : {"GAB", "RAB", "LB", "DAB"}, default="GAB"
        Boosting variant (``-bt``): Gentle, Real, Logit or Discrete AdaBoost.
    min_hit_rate : float, default=0.995
        Fraction of the positives each stage must keep (``-minHitRate``), in (0, 1].
    max_false_alarm_rate : float, default=0.5
        Fraction of the negatives a stage may let through (``-maxFalseAlarmRate``).
    weight_trim_rate : float, default=0.95
        Share of the total weight the trees are trained on (``-weightTrimRate``).
    max_depth : int, default=1
        Depth of each weak tree (``-maxDepth``); 1 is a stump.
    max_weak_count : int, default=100
        Most weak trees per stage (``-maxWeakCount``).

    Raises
    ------
    ValueError
        If a value is out of range; the message names it.

    Examples
    --------
    >>> from fer_toolkit.cascade.model import StageParams
    >>> StageParams().boost_type, StageParams(max_depth=2).max_depth
    ('GAB', 2)
    """

    boost_type: str = TRAINCASCADE.defaults.boost_type
    min_hit_rate: float = TRAINCASCADE.defaults.min_hit_rate
    max_false_alarm_rate: float = TRAINCASCADE.defaults.max_false_alarm_rate
    weight_trim_rate: float = TRAINCASCADE.defaults.weight_trim_rate
    max_depth: int = TRAINCASCADE.defaults.max_depth
    max_weak_count: int = TRAINCASCADE.defaults.max_weak_count

    def __post_init__(self):
        if self.boost_type not in BOOST_TYPES:
            raise InputError(f"boost_type must be one of {BOOST_TYPES}; got {self.boost_type!r}.")
        for name in ("min_hit_rate", "max_false_alarm_rate", "weight_trim_rate"):
            value = getattr(self, name)
            if not isinstance(value, Real) or isinstance(value, bool) or not 0 < value <= 1:
                raise InputError(f"{name} must be a number in (0, 1]; got {value!r}.")
        for name in ("max_depth", "max_weak_count"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise InputError(f"{name} must be an int >= 1; got {value!r}.")


@dataclass(frozen=True)
class FeatureParams:
    """``featureParams`` of a cascade: ``maxCatCount`` (0 Haar, 256 LBP) and ``featSize``.

    Parameters
    ----------
    max_cat_count : int, default=0
        Categories of a feature's value: 0 for Haar (an ordered value), 256 for
        LBP (an 8-bit code).
    feat_size : int, default=1
        Values per feature (1 for both types).

    Examples
    --------
    >>> from fer_toolkit.cascade import FeatureParams
    >>> FeatureParams(max_cat_count=256)
    FeatureParams(max_cat_count=256, feat_size=1)
    """

    max_cat_count: int = 0
    feat_size: int = 1


@dataclass(frozen=True, kw_only=True)
class CascadeParams:
    """What ``params.xml`` holds: window, feature type and mode, and the stage parameters.

    Parameters
    ----------
    width, height : int
        Window size (``-w``, ``-h``), at least 3.
    feature_type : {"HAAR", "LBP"}, default="HAAR"
        The features (``-featureType``).
    mode : {"BASIC", "CORE", "ALL"} or None, default=None
        Haar feature set (``-mode``); None when unknown, and always None for LBP.
    stage_params : StageParams, default=StageParams()
        The boosting parameters of every stage.
    feature_params : FeatureParams or None, default=None
        None derives OpenCV's values (``maxCatCount`` 0 for Haar, 256 for LBP).

    Examples
    --------
    >>> from fer_toolkit.cascade import CascadeParams
    >>> CascadeParams(width=20, height=20, mode="ALL").feature_params
    FeatureParams(max_cat_count=0, feat_size=1)
    """

    width: int
    height: int
    feature_type: str = "HAAR"
    mode: str | None = None
    stage_params: StageParams = field(default_factory=StageParams)
    feature_params: FeatureParams | None = None

    def __post_init__(self):
        width, height = check_size((self.width, self.height), "(width, height)", _WINDOW)
        if width < 3 or height < 3:
            raise InputError(f"the window must be at least 3x3; got {width}x{height}.")
        if self.feature_type not in FEATURE_TYPES:
            raise InputError(
                f"feature_type must be one of {FEATURE_TYPES}; got {self.feature_type!r}."
            )
        if self.feature_type == "LBP" and self.mode is not None:
            raise InputError(f"mode is for Haar cascades only; got {self.mode!r} for LBP.")
        if self.mode is not None and self.mode not in HAAR_MODES:
            raise InputError(f"mode must be one of {HAAR_MODES} or None; got {self.mode!r}.")
        if not isinstance(self.stage_params, StageParams):
            raise TypeError(f"stage_params must be StageParams; got {self.stage_params!r}.")
        expected = FeatureParams(max_cat_count=0 if self.feature_type == "HAAR" else 256)
        params = expected if self.feature_params is None else self.feature_params
        if params.max_cat_count != expected.max_cat_count:
            raise InputError(
                f"a {self.feature_type} cascade has maxCatCount {expected.max_cat_count}; "
                f"got {params.max_cat_count}."
            )
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "feature_params", params)


@dataclass(frozen=True, eq=False)
class WeakTree:
    """One boosted decision tree, as a cascade XML stores it.

    Parameters
    ----------
    nodes : array-like of shape (k, 4) or (k, 11)
        Internal nodes in OpenCV's record layout, root first. Haar: ``left, right,
        feature_idx, threshold``. LBP: ``left, right, feature_idx`` and the 8 signed
        32-bit words of the 256-bit category subset. A child ``c > 0`` is node ``c``; a
        child ``c <= 0`` is leaf ``-c``.
    leaf_values : array-like of shape (k + 1,)
        Leaf values (float32).

    Raises
    ------
    ValueError
        If the records do not form one binary tree with ``k + 1`` leaves, or a value is
        not finite.

    Examples
    --------
    >>> from fer_toolkit.cascade.model import WeakTree
    >>> stump = WeakTree.stump(feature=7, split=0.25, left_value=-1.0, right_value=0.5)
    >>> stump.nodes.tolist(), stump.leaf_values.tolist()
    ([[0.0, -1.0, 7.0, 0.25]], [-1.0, 0.5])
    """

    nodes: np.ndarray
    leaf_values: np.ndarray

    def __post_init__(self):
        nodes = np.asarray(self.nodes)
        if nodes.ndim != 2 or nodes.shape[0] < 1 or nodes.shape[1] not in (4, 3 + SUBSET_WORDS):
            raise InputError(
                f"nodes has shape {nodes.shape}; expected (k, 4) Haar records or "
                f"(k, {3 + SUBSET_WORDS}) LBP records with k >= 1."
            )
        if not np.isfinite(nodes.astype(np.float64)).all():
            raise InputError("nodes contain NaN or infinite values.")
        links = nodes[:, :3].astype(np.float64)
        if not np.array_equal(links, np.round(links)):
            raise InputError("nodes' left, right and feature_idx columns must be integers.")
        if nodes.shape[1] == 4:
            nodes = nodes.astype(np.float64)
            nodes[:, 3] = nodes[:, 3].astype(np.float32)
        else:
            words = nodes[:, 3:].astype(np.int64)
            if not np.array_equal(nodes[:, 3:], words) or words.min() < -(2**31):
                raise InputError("LBP subset words must be signed 32-bit integers.")
            if words.max() >= 2**31:
                raise InputError("LBP subset words must be signed 32-bit integers.")
            nodes = nodes.astype(np.int64)
        leaves = np.asarray(self.leaf_values, dtype=np.float64)
        if leaves.shape != (len(nodes) + 1,):
            raise InputError(
                f"a tree with {len(nodes)} nodes needs {len(nodes) + 1} leaf values; got "
                f"leaf_values of shape {leaves.shape}."
            )
        if not np.isfinite(leaves).all():
            raise InputError("leaf_values contain NaN or infinite values.")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "leaf_values", leaves.astype(np.float32))
        self._check_structure()

    def _check_structure(self) -> None:
        k = len(self.nodes)
        if (self.feature < 0).any():
            raise InputError(f"negative feature_idx in nodes {self.feature.tolist()}.")
        children = np.concatenate([self.left, self.right])
        for c in children:
            if c >= k or -c > k:
                what = f"node {c}" if c > 0 else f"leaf {-c}"
                raise InputError(f"a node refers to {what}, but the tree has {k} nodes.")
        node_refs = np.bincount(children[children > 0], minlength=k)
        leaf_refs = np.bincount(-children[children <= 0], minlength=k + 1)
        if node_refs[0] or (node_refs[1:] != 1).any() or (leaf_refs != 1).any():
            raise InputError(
                "nodes do not form a binary tree: every node but the root and every leaf "
                f"must be a child exactly once (children {children.tolist()})."
            )
        seen, todo = {0}, [0]
        while todo:
            node = todo.pop()
            for c in (self.left[node], self.right[node]):
                if c > 0 and c not in seen:
                    seen.add(int(c))
                    todo.append(int(c))
        if len(seen) != k:
            raise InputError("nodes do not form a binary tree: some nodes are unreachable.")

    def __eq__(self, other) -> bool:
        if not isinstance(other, WeakTree):
            return NotImplemented
        return np.array_equal(self.nodes, other.nodes) and np.array_equal(
            self.leaf_values, other.leaf_values
        )

    __hash__ = None

    @classmethod
    def stump(cls, feature: int, split, left_value: float, right_value: float) -> WeakTree:
        """A one-node tree: ``split`` is a float threshold (Haar) or 8 subset words (LBP)."""
        split = np.atleast_1d(np.asarray(split))
        record = np.concatenate([[0, -1, feature], split])
        return cls(nodes=record[np.newaxis], leaf_values=[left_value, right_value])

    @property
    def categorical(self) -> bool:
        """True for LBP trees (subset splits)."""
        return self.nodes.shape[1] != 4

    @property
    def left(self) -> np.ndarray:
        return self.nodes[:, 0].astype(np.int64)

    @property
    def right(self) -> np.ndarray:
        return self.nodes[:, 1].astype(np.int64)

    @property
    def feature(self) -> np.ndarray:
        return self.nodes[:, 2].astype(np.int64)

    @property
    def threshold(self) -> np.ndarray:
        """Float32 node thresholds (Haar trees)."""
        return self.nodes[:, 3].astype(np.float32)

    @property
    def subsets(self) -> np.ndarray:
        """Category subsets ``(k, 8)`` int32 (LBP trees)."""
        return self.nodes[:, 3:].astype(np.int32)

    def with_features(self, mapping: np.ndarray) -> WeakTree:
        """The same tree with every ``feature_idx`` replaced by ``mapping[feature_idx]``."""
        nodes = self.nodes.copy()
        nodes[:, 2] = np.asarray(mapping)[self.feature]
        return WeakTree(nodes=nodes, leaf_values=self.leaf_values)

    def leaves(self, values: np.ndarray, inclusive: bool = False) -> np.ndarray:
        """Leaf index reached by each window.

        Parameters
        ----------
        values : ndarray of shape (n, k)
            The value of node ``j``'s feature at each window: float32 Haar values, or LBP
            codes 0-255.
        inclusive : bool, default=False
            Go left when ``value <= threshold`` (the trainer's test) instead of the
            detector's ``value < threshold``.

        Returns
        -------
        leaves : ndarray of shape (n,), dtype int64
        """
        if self.categorical:
            codes = values.astype(np.int64)
            words = self.subsets.astype(np.int64) & 0xFFFFFFFF
            node_ids = np.arange(len(self.nodes))
            go_left = (words[node_ids, codes >> 5] >> (codes & 31)) & 1 == 1
        elif inclusive:
            go_left = values <= self.threshold
        else:
            go_left = values < self.threshold
        rows = np.arange(len(values))
        current = np.zeros(len(values), dtype=np.int64)
        leaf = np.zeros(len(values), dtype=np.int64)
        active = np.ones(len(values), dtype=bool)
        left, right = self.left, self.right
        for _ in range(len(self.nodes)):
            child = np.where(go_left[rows, current], left[current], right[current])
            reached = active & (child <= 0)
            leaf[reached] = -child[reached]
            active &= child > 0
            if not active.any():
                break
            current = np.where(active, child, current)
        return leaf


@dataclass(frozen=True)
class Stage:
    """One boosted stage: its trees and its threshold (stored as float32).

    Parameters
    ----------
    threshold : float
        A window passes the stage when its trees' summed outputs reach it.
    weak : sequence of WeakTree
        The stage's weak trees, at least one (kept as a tuple).

    Raises
    ------
    ValueError
        If the threshold is not finite or ``weak`` is empty.

    Examples
    --------
    >>> from fer_toolkit.cascade.model import Stage, WeakTree
    >>> stage = Stage(threshold=-0.1, weak=[WeakTree.stump(0, 1.0, -1.0, 1.0)])
    >>> len(stage.weak), stage.threshold
    (1, -0.10000000149011612)
    """

    threshold: float
    weak: tuple[WeakTree, ...]

    def __post_init__(self):
        if not isinstance(self.threshold, Real) or not np.isfinite(self.threshold):
            raise InputError(f"threshold must be a finite number; got {self.threshold!r}.")
        weak = tuple(self.weak)
        if not weak or not all(isinstance(tree, WeakTree) for tree in weak):
            raise InputError("a stage needs a non-empty sequence of WeakTree.")
        object.__setattr__(self, "threshold", float(np.float32(self.threshold)))
        object.__setattr__(self, "weak", weak)

    @property
    def reject_below(self) -> np.float32:
        """The detector's effective threshold ``float32(threshold) - 1e-5``."""
        return np.float32(self.threshold) - STAGE_THRESHOLD_EPS


@dataclass(frozen=True, kw_only=True)
class Cascade:
    """A boosted cascade of weak trees over Haar or LBP features.

    Parameters
    ----------
    width, height : int
        Window size (``-w``, ``-h``).
    feature_type : {"HAAR", "LBP"}
        The features its trees compare (``-featureType``).
    mode : {"BASIC", "CORE", "ALL"} or None
        Haar feature set the cascade was trained with (None when unknown, as in OpenCV's
        stock cascades; always None for LBP).
    stage_params : StageParams
        The boosting parameters it was trained with (recorded, not used to detect).
    feature_params : FeatureParams or None, default=None
        None derives OpenCV's values (``maxCatCount`` 0 for Haar, 256 for LBP).
    stages : sequence of Stage
        May be empty (a cascade that accepts every window, as at the start of training).
    features : HaarFeatures or LBPFeatures
        The feature table that tree nodes index (any table: the full enumeration while
        training, only the used features once written).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade import Cascade, Stage, StageParams, WeakTree, haar_features
    >>> features = haar_features(8, 8, "BASIC")
    >>> stage = Stage(threshold=0.0, weak=[WeakTree.stump(0, 0.0, -1.0, 1.0)])
    >>> cascade = Cascade(width=8, height=8, feature_type="HAAR", mode="BASIC",
    ...                   stage_params=StageParams(), stages=[stage], features=features)
    >>> windows = np.random.default_rng(0).integers(0, 256, (4, 8, 8), dtype=np.uint8)
    >>> cascade.accepts(windows).shape
    (4,)
    """

    width: int
    height: int
    feature_type: str
    mode: str | None
    stage_params: StageParams = field(default_factory=StageParams)
    feature_params: FeatureParams | None = None
    stages: tuple[Stage, ...]
    features: HaarFeatures | LBPFeatures

    def __post_init__(self):
        params = self.params
        table_type = HaarFeatures if params.feature_type == "HAAR" else LBPFeatures
        if not isinstance(self.features, table_type):
            raise TypeError(
                f"a {params.feature_type} cascade needs a {table_type.__name__} table; got "
                f"{type(self.features).__name__}."
            )
        width, height = params.width, params.height
        stages = tuple(self.stages)
        self.features.check_window(width, height)
        for s, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise TypeError(f"stages[{s}] is a {type(stage).__name__}, not a Stage.")
            for w, tree in enumerate(stage.weak):
                if tree.categorical != (self.feature_type == "LBP"):
                    kind = "LBP subset" if tree.categorical else "Haar threshold"
                    raise InputError(
                        f"stage {s}, weak tree {w} has {kind} nodes in a {self.feature_type} "
                        "cascade."
                    )
                if tree.feature.max() >= len(self.features):
                    raise InputError(
                        f"stage {s}, weak tree {w} uses feature {tree.feature.max()}, but the "
                        f"table has {len(self.features)} features."
                    )
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "feature_params", params.feature_params)
        object.__setattr__(self, "stages", stages)

    @property
    def params(self) -> CascadeParams:
        """The cascade's :class:`CascadeParams` (what ``params.xml`` holds)."""
        return CascadeParams(
            width=self.width,
            height=self.height,
            feature_type=self.feature_type,
            mode=self.mode,
            stage_params=self.stage_params,
            feature_params=self.feature_params,
        )

    @classmethod
    def from_params(cls, params: CascadeParams, stages, features) -> Cascade:
        """Build a cascade from :class:`CascadeParams` (e.g. from ``read_params``)."""
        return cls(
            width=params.width,
            height=params.height,
            feature_type=params.feature_type,
            mode=params.mode,
            stage_params=params.stage_params,
            feature_params=params.feature_params,
            stages=stages,
            features=features,
        )

    # --- structure ---------------------------------------------------------------

    @cached_property
    def max_nodes_per_tree(self) -> int:
        """Largest number of internal nodes of any tree (1: a cascade of stumps)."""
        return max((len(t.nodes) for s in self.stages for t in s.weak), default=0)

    def compact(self) -> Cascade:
        """The same cascade with only its used features, renumbered in table order.

        That is the numbering ``opencv_traincascade`` writes in ``cascade.xml``.
        """
        is_used = np.zeros(len(self.features), dtype=bool)
        for stage in self.stages:
            for tree in stage.weak:
                is_used[tree.feature] = True
        used = np.flatnonzero(is_used)
        mapping = np.full(len(self.features), -1, dtype=np.int64)
        mapping[used] = np.arange(len(used))
        stages = tuple(
            Stage(threshold=s.threshold, weak=[t.with_features(mapping) for t in s.weak])
            for s in self.stages
        )
        return Cascade.from_params(self.params, stages, self.features.take(used))

    @cached_property
    def _flat(self) -> tuple[tuple, tuple]:
        """The cascade as the arrays of :mod:`._scan_kernels`: ``(model, feats)``."""
        trees = [tree for stage in self.stages for tree in stage.weak]
        used, inverse = np.unique(
            np.concatenate([t.feature for t in trees] or [np.zeros(0, np.int64)]),
            return_inverse=True,
        )
        n_nodes = np.cumsum([0] + [len(t.nodes) for t in trees])
        n_leaves = np.cumsum([0] + [len(t.leaf_values) for t in trees])
        children = []
        for tree, first_node, first_leaf in zip(trees, n_nodes, n_leaves, strict=False):
            # OpenCV's stump fast path: leaf 0 on the left, whatever the record says.
            pair = [[0], [-1]] if self.max_nodes_per_tree == 1 else [tree.left, tree.right]
            for c in map(np.asarray, pair):
                # Global node index, or leaf ``first_leaf - c`` coded as ``-leaf - 1``.
                children.append(np.where(c > 0, c + first_node, c - first_leaf - 1))
        lbp = self.feature_type == "LBP"
        n = int(n_nodes[-1])
        model = (
            np.cumsum([0] + [len(s.weak) for s in self.stages]).astype(np.int64),
            np.array([s.reject_below for s in self.stages], dtype=np.float64),
            n_nodes[:-1].astype(np.int64),
            inverse.astype(np.int64).reshape(n),
            np.concatenate(
                [t.threshold for t in trees] if trees and not lbp else [np.zeros(n)]
            ).astype(np.float32),
            (
                np.concatenate([t.subsets for t in trees]) if trees and lbp else np.zeros((n, 8))
            ).astype(np.int64)
            & 0xFFFFFFFF,
            np.concatenate(children[0::2] or [np.zeros(0)]).astype(np.int64),
            np.concatenate(children[1::2] or [np.zeros(0)]).astype(np.int64),
            np.concatenate([t.leaf_values for t in trees] or [np.zeros(0)]).astype(np.float64),
            lbp,
        )
        return model, _kernel_features(self.features.take(used))

    def _run_windows(self, samples, what: str, *, training=False, feats=None, n_threads=None):
        """:func:`._scan_kernels.run_windows` on ``samples``: ``what`` is ``"run"``,
        ``"stage_sums"`` or ``"feature_values"`` (then of ``feats``)."""
        windows = self._check_samples(samples)
        model, own = self._flat
        feats = own if feats is None else feats
        with _compiled(n_threads) as (kernels, threads):
            code, width = {
                "run": (kernels.RUN, 2),
                "stage_sums": (kernels.STAGE_SUMS, len(self.stages)),
                "feature_values": (kernels.FEATURE_VALUES, len(feats.rows)),
            }[what]
            out = np.empty((len(windows), width))
            tilted = bool(feats.tilted.any())
            n_blocks = min(len(windows), 4 * threads)
            kernels.run_windows(windows, training, tilted, model, feats, code, n_blocks, out)
        return out

    @property
    def _reads_bands(self) -> bool:
        """Whether :meth:`_passed_in_bands` applies: no tilted features (their sums
        would need each band's tilted table)."""
        return not self._flat[1].tilted.any()

    def _passed_in_bands(self, pixels, jobs, total: int, *, training: bool, n_threads):
        """:meth:`evaluate`'s ``passed`` for grids of windows of image bands
        (:func:`._scan_kernels.run_bands`), without cutting the windows out: ``(total,)``
        int64, -1 where no job writes."""
        model, feats = self._flat
        passed = np.full(total, -1, dtype=np.int64)
        with _compiled(n_threads) as (kernels, threads):
            cost = np.cumsum(jobs[:, 1] * jobs[:, 2] + 8 * jobs[:, 5] * jobs[:, 7])
            parts = np.searchsorted(cost, np.linspace(0, cost[-1], 4 * threads + 1)[1:-1])
            parts = np.concatenate([[0], parts, [len(jobs)]])
            parts = parts[np.concatenate([[True], np.diff(parts) > 0])]  # sorted: no repeats
            size = (self.width, self.height)
            kernels.run_bands(pixels, jobs, parts, size, training, model, feats, passed)
        return passed

    def _check_samples(self, samples) -> np.ndarray:
        shape = (self.height, self.width)
        if isinstance(samples, np.ndarray) and samples.dtype == np.uint8 and samples.ndim == 3:
            if samples.shape[1:] != shape or not len(samples):
                raise InputError(
                    f"samples has shape {samples.shape}; the cascade's window is "
                    f"{self.width}x{self.height}, so expected (n, {self.height}, {self.width})."
                )
            return np.ascontiguousarray(samples)
        images = [to_gray(to_uint8(image)) for image in check_images(samples, name="samples")]
        for i, image in enumerate(images):
            if image.shape != shape:
                raise InputError(
                    f"samples[{i}] has shape {image.shape}; the cascade's window is "
                    f"{self.width}x{self.height} (width x height)."
                )
        return np.stack(images)

    # --- evaluation ------------------------------------------------------------------

    def evaluate(
        self, samples, *, training: bool = False, n_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the cascade on windows of exactly the cascade's size.

        Parameters
        ----------
        samples : ndarray of shape (n, height, width) or sequence of images
            Grayscale (or RGB, converted) windows, uint8 or float in [0, 1].
        training : bool, default=False
            Evaluate as ``opencv_traincascade`` does while it fills a stage's samples
            (see the module docstring) instead of as the detector does.
        n_threads : int or None, default=None
            Threads of the compiled evaluator; None: the cores other processes leave
            free (see :func:`~fer_toolkit.utils.threads.resolve_num_threads`).

        Returns
        -------
        passed : ndarray of shape (n,), dtype int64
            Number of stages each window passed: ``len(stages)`` when accepted, the index
            of the rejecting stage otherwise, and -1 when the detector rejects the window
            before the first stage (Haar: too flat, see the module docstring).
        score : ndarray of shape (n,), dtype float64
            Sum of the last stage evaluated (what OpenCV reports as the level weight);
            NaN for ``passed == -1``.

        Raises
        ------
        TypeError, ValueError
            If ``samples`` is not a batch of images of the cascade's window size.
        """
        out = self._run_windows(samples, "run", training=training, n_threads=n_threads)
        return out[:, 0].astype(np.int64), out[:, 1]

    def accepts(
        self, samples, *, training: bool = False, n_threads: int | None = None
    ) -> np.ndarray:
        """Whether the cascade (as ``cv2.CascadeClassifier``) accepts each window.

        Parameters
        ----------
        samples : ndarray of shape (n, height, width) or sequence of images
        training : bool, default=False
            As ``opencv_traincascade`` judges samples instead (see :meth:`evaluate`).
        n_threads : int or None, default=None
            Threads of the compiled evaluator (see :meth:`evaluate`).

        Returns
        -------
        accepted : ndarray of shape (n,), dtype bool
        """
        passed = self.evaluate(samples, training=training, n_threads=n_threads)[0]
        return passed == len(self.stages)

    def feature_values(self, samples, features=None) -> np.ndarray:
        """The detector's values of features on windows: what the tree nodes compare.

        Parameters
        ----------
        samples : ndarray of shape (n, height, width) or sequence of images
        features : array-like of int or None, default=None
            Rows of ``features`` (all when None).

        Returns
        -------
        values : ndarray of shape (n, k), dtype float32
            Haar: the weighted rectangle sum times the window's variance factor (in
            float32, as OpenCV). LBP: the codes 0-255.
        """
        table = self.features if features is None else self.features.take(features)
        out = self._run_windows(samples, "feature_values", feats=_kernel_features(table))
        return out.astype(np.float32)

    def stage_sums(self, samples) -> np.ndarray:
        """Every stage's sum for every window, without early rejection.

        Windows the detector would reject before the first stage still get their sums
        (with OpenCV's fallback factor 1 where the variance term is not positive).

        Returns
        -------
        sums : ndarray of shape (n, len(stages)), dtype float64
        """
        return self._run_windows(samples, "stage_sums")

    def scan(
        self, image, step: int = 1, *, n_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate every window of ``image`` at scale 1 on a ``step``-pixel grid.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, 3)
            Grayscale or RGB, uint8 or float in [0, 1] (RGB is converted with BT.601
            weights; note that ``cv2.CascadeClassifier`` assumes BGR for colour input).
        step : int, default=1
        n_threads : int or None, default=None
            Threads of the compiled evaluator (see :meth:`evaluate`).

        Returns
        -------
        passed, score : ndarray of shape (ny, nx)
            As in :meth:`evaluate`, for the window whose top-left corner is
            ``(j * step, i * step)`` at ``[i, j]``; empty when the image is smaller than
            the window.
        """
        gray = self._check_image(image)
        if not _is_int(step) or step < 1:
            raise InputError(f"step must be an int >= 1; got {step!r}.")
        return self._scan(gray, step, n_threads)

    def _scan(self, gray: np.ndarray, step: int, n_threads) -> tuple:
        """:func:`._scan_kernels.run_grid` on a uint8 image."""
        nx = max(0, (gray.shape[1] - self.width) // step + 1)
        ny = max(0, (gray.shape[0] - self.height) // step + 1)
        passed = np.zeros((ny, nx), dtype=np.int64)
        score = np.zeros((ny, nx))
        if not (nx and ny):
            return passed, score
        model, feats = self._flat
        unused = np.zeros(1)
        if self.feature_type == "LBP":
            # Codes compare cell sums: no squared sums, no variance normalisation.
            tables = (cv2.integral(gray, sdepth=cv2.CV_64F), unused, unused)
        else:
            tables = opencv_tables(gray, bool(feats.tilted.any()))
            tables = (*tables[:2], unused if tables[2] is None else tables[2])
        with _compiled(n_threads) as (kernels, _):
            kernels.run_grid(
                tuple(t.ravel() for t in tables),
                gray.shape[1] + 1,
                (self.width, self.height),
                step,
                model,
                feats,
                passed,
                score,
            )
        return passed, score

    def accepted_windows(self, image, step: int = 1, *, n_threads: int | None = None) -> np.ndarray:
        """Top-left corners ``(x, y)`` of the windows accepted at scale 1.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, 3)
        step : int, default=1
            Grid step in pixels.
        n_threads : int or None, default=None
            Threads of the compiled evaluator (see :meth:`evaluate`).

        Returns
        -------
        corners : ndarray of shape (m, 2), dtype int64
            Sorted by ``y``, then ``x``.

        Examples
        --------
        >>> import numpy as np
        >>> from fer_toolkit.cascade import Cascade, StageParams, haar_features
        >>> empty = Cascade(width=8, height=8, feature_type="HAAR", mode="BASIC",
        ...                 stage_params=StageParams(), stages=[],
        ...                 features=haar_features(8, 8))
        >>> noise = np.random.default_rng(0).integers(0, 256, (10, 9), dtype=np.uint8)
        >>> empty.accepted_windows(noise).tolist()  # no stage: every textured window
        [[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2]]
        """
        passed, _ = self.scan(image, step, n_threads=n_threads)
        ys, xs = np.nonzero(passed == len(self.stages))
        return np.stack([xs * step, ys * step], axis=1).astype(np.int64)

    def detect_multiscale(
        self,
        image,
        scale_factor: float = 1.1,
        min_neighbors: int = MIN_NEIGHBORS,
        min_size=None,
        max_size=None,
        *,
        n_threads: int | None = None,
    ) -> np.ndarray:
        """Detect objects with ``cv2.CascadeClassifier.detectMultiScale``.

        The cascade is handed to OpenCV in its own XML format (as :func:`write_cascade`
        writes it, read from memory): the boxes are OpenCV's, at OpenCV's speed. The
        compiled evaluator of :meth:`scan` gives the same decisions window by window;
        OpenCV's detector is about twice as fast at this job.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, 3)
        scale_factor : float, default=1.1
        min_neighbors : int, default=3
        min_size, max_size : (width, height) or None
        n_threads : int or None, default=None
            OpenCV's thread count for the call (see
            :func:`~fer_toolkit.utils.threads.resolve_num_threads`); restored after it.

        Returns
        -------
        boxes : ndarray of shape (m, 4), dtype int64
            ``(x, y, w, h)``, sorted lexicographically.

        Raises
        ------
        ValueError
            If the cascade has no stage (OpenCV cannot load one), or a parameter is bad.

        Examples
        --------
        >>> import cv2
        >>> from skimage import data
        >>> from fer_toolkit.cascade import read_cascade
        >>> cascade = read_cascade(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        >>> gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
        >>> cascade.detect_multiscale(gray, 1.1, 5).tolist()  # the astronaut's face
        [[177, 66, 95, 95]]
        """
        gray = self._check_image(image)
        if not isinstance(scale_factor, Real) or not scale_factor > 1:
            raise InputError(f"scale_factor must be a number > 1; got {scale_factor!r}.")
        if not _is_int(min_neighbors) or min_neighbors < 0:
            raise InputError(f"min_neighbors must be an int >= 0; got {min_neighbors!r}.")
        min_size = (0, 0) if min_size is None else check_size(min_size, "min_size", _WINDOW)
        max_size = (0, 0) if max_size is None else check_size(max_size, "max_size", _WINDOW)
        if not self.stages:
            raise InputError(
                "this cascade has no stage (it accepts every window); detection needs at least one."
            )
        classifier = self._classifier()
        with _opencv_threads(resolve_num_threads(n_threads, current=cv2.getNumThreads())):
            found = classifier.detectMultiScale(
                gray, float(scale_factor), int(min_neighbors), 0, min_size, max_size
            )
        boxes = np.asarray(found, dtype=np.int64).reshape(-1, 4)
        return boxes[np.lexsort(boxes.T[::-1])] if len(boxes) else boxes

    def _classifier(self) -> cv2.CascadeClassifier:
        """The cascade as a ``cv2.CascadeClassifier``, one per thread (OpenCV's keeps
        per-image buffers between calls, so one object must not detect in two threads
        at once), read from the cascade's XML text on first use."""
        local = self._per_thread
        if not hasattr(local, "classifier"):
            from .xml import _cascade_document

            storage = cv2.FileStorage(
                _cascade_document(self), cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_MEMORY
            )
            local.classifier = cv2.CascadeClassifier()
            local.classifier.read(storage.getFirstTopLevelNode())
        return local.classifier

    @cached_property
    def _per_thread(self) -> threading.local:
        return threading.local()

    def __getstate__(self) -> dict:
        # OpenCV's classifiers cannot be pickled; a copy builds its own on first use.
        state = dict(self.__dict__)
        state.pop("_per_thread", None)
        return state

    def _check_image(self, image) -> np.ndarray:
        return np.ascontiguousarray(to_gray(to_uint8(check_image(image, name="image"))))
