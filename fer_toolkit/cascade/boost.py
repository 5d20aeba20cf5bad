"""Boosted decision trees for one cascade stage, as ``opencv_traincascade`` trains them.

This is OpenCV's ``CvCascadeBoost`` (``apps/traincascade/boost.cpp``) on top of
the old ``CvBoost`` / ``CvDTree`` of OpenCV's ml module:

* **Boosting** ``"GAB"`` (Gentle AdaBoost, the default), ``"DAB"`` (Discrete),
  ``"RAB"`` (Real) and ``"LB"`` (LogitBoost). Every sample starts with weight
  ``1/n`` whatever its class. GAB and LB grow regression trees (GAB on the
  labels ``±1``, LB on its working responses); DAB and RAB grow classification
  trees (misclassification and Gini criteria). DAB scales each tree's leaves by
  ``log((1 - err) / err)``, RAB's leaves are half log-odds.
* **Trees** of depth ``max_depth`` (1 = stumps). A node is split only when it
  holds more than 10 samples, is below ``max_depth``, and is not pure (for
  regression trees: the weighted response spread is at least 0.01), as
  OpenCV's default tree parameters have it.
* **Ordered splits** (Haar): samples sorted by feature value; a threshold may
  sit only between two consecutive values that differ by more than
  ``2 * FLT_EPSILON``; it is their float32 midpoint. Training sends a sample
  left when ``value <= threshold``; the detector when ``value < threshold``
  (the midpoint makes both agree on the training values).
* **Categorical splits** (LBP, 256 codes): the codes are sorted by mean
  response (regression) or by the weight of the positive class
  (classification) and the best prefix becomes the left subset, stored as 8
  int32 words (bit ``c`` of the subset set: code ``c`` goes left).
* **Weight trimming**: after each tree the lightest samples are left out of
  the next tree's training until their weight reaches ``1 - weight_trim_rate``
  (the sample that crosses it included, samples as heavy as the lightest one
  kept stay in); all weights are still updated.
* **Stage threshold**: after each tree the positives' stage sums are sorted and
  the threshold is the one at index ``int((1 - min_hit_rate) * n_pos)``, so at
  least ``min_hit_rate`` of the positives pass; the stage is done when the
  negatives' false-alarm rate at that threshold is at most
  ``max_false_alarm_rate``, or after ``max_weak_count`` trees.

The best-split search is OpenCV's loops, compiled (C built at install, see
``_kernels.py`` and ``csrc/split_search.c``): per feature, walk the node's
samples in sorted order accumulating the left/right sums in float64 exactly as
``find_split_ord_reg`` and its siblings do, and keep the first best threshold;
features run in parallel on the trainer's threads (``num_threads``), and the
first best feature (qualities
compared as float32, as OpenCV stores them) wins. Each feature's samples are
sorted once per stage (OpenCV's ``precalcIdxBufSize`` buffer, 16-bit indices);
feature values are cached up to ``precalc_val_buf_size`` megabytes and computed
on the fly beyond that (see :class:`FeatureValues`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..utils.validation import InputError
from .flags import TRAINCASCADE
from .model import BOOST_TYPES, STAGE_THRESHOLD_EPS, SUBSET_WORDS, Stage, WeakTree

__all__ = ["boost_stage"]

_FLT_EPSILON = float(np.finfo(np.float32).eps)
_DBL_EPSILON = float(np.finfo(np.float64).eps)
# Consecutive sorted values closer than this are not split apart (find_split_ord_*).
_SPLIT_EPSILON = np.float32(2 * _FLT_EPSILON)
# CvDTreeParams defaults that traincascade leaves as they are.
_MIN_SAMPLE_COUNT = 10
_REGRESSION_ACCURACY = 0.01
# LogitBoost's floor on weights and cap on working responses.
_LB_WEIGHT_FLOOR = _FLT_EPSILON
_LB_Z_MAX = 10.0
#: Number of LBP codes (categories of an LBP feature).
N_CATEGORIES = 256
# Elements of one (features x samples) block in the split search (bounds memory).
_CHUNK_ELEMENTS = 1 << 22


def _sequential_sum(values: np.ndarray) -> float:
    """Sum in index order, one addition after the other (OpenCV's loops)."""
    return float(np.cumsum(values)[-1])


def _at_least(flat: np.ndarray | None, size: int, dtype) -> np.ndarray:
    """``flat`` when it is a 1-D ``dtype`` array of at least ``size`` elements, else a new one."""
    if flat is None or flat.dtype != dtype or flat.ndim != 1 or flat.size < size:
        return np.empty(size, dtype=dtype)
    return flat


def _log_ratio(p: float) -> float:
    p = min(max(p, 1e-5), 1.0 - 1e-5)
    return math.log(p / (1.0 - p))


class FeatureValues:
    """Feature values of one stage's training samples, cached as OpenCV caches them.

    ``opencv_traincascade`` keeps the values of the first
    ``round(precalc_val_buf_size MB / (4 bytes * n_samples))`` features in one
    buffer and the sorted sample orders of the first
    ``round(precalc_idx_buf_size MB / (2 bytes * n_samples))`` features in
    another (4 bytes per index from 65,536 samples on), and computes the rest
    again whenever a weak learner needs them. This class does the same, with
    the same counts and the same index widths (uint16, or int32 from 65,536
    samples on): rows ``[0, n_cached_values)`` are kept, the sorted orders of
    rows ``[0, n_cached_orders)`` are kept (not for categorical features,
    which are never sorted), everything else is recomputed per block of
    ``chunk_size`` features. Categorical codes are kept as bytes (uint8): the
    same rows as OpenCV's in a quarter of its memory.

    Parameters
    ----------
    compute : callable
        ``compute(indices, out)`` takes a 1-D int64 array of feature indices and
        writes their values on every sample into ``out``, a C-contiguous array
        of shape ``(len(indices), n_samples)``, float32, or uint8 for categorical
        features (the cache itself where the rows are cached: no copy).
    n_features, n_samples : int
        Size of the (features x samples) value matrix.
    categorical : bool, default=False
        Whether values are category codes in ``[0, 256)`` (LBP) rather than
        ordered values (Haar).
    precalc_val_buf_size, precalc_idx_buf_size : float, default=1024
        Cache sizes in megabytes, as OpenCV's ``-precalcValBufSize`` and
        ``-precalcIdxBufSize``.
    storage : (ndarray, ndarray) or None, default=None
        The :attr:`storage` of a previous instance that is no longer used: its
        memory holds this one's caches where it is large enough (a stage's
        caches, tens to hundreds of MB, are then not allocated and faulted in
        anew at every stage); arrays too small are replaced.

    Attributes
    ----------
    dtype : numpy.dtype
        float32, or uint8 for categorical features: that of the value cache, of
        ``compute``'s ``out`` and of the values :meth:`chunks` yields.
    storage : (ndarray, ndarray)
        The flat value (float32, or uint8 for categorical features) and index
        arrays the value and order caches are views of.

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.boost import FeatureValues
    >>> fv = FeatureValues.from_array(np.array([[3.0, 1.0], [2.0, 5.0]], dtype=np.float32))
    >>> fv.n_features, fv.n_samples
    (2, 2)
    >>> fv.rows(np.array([1])).tolist()
    [[1.0, 5.0]]
    """

    def __init__(
        self,
        compute: Callable[[np.ndarray], np.ndarray],
        n_features: int,
        n_samples: int,
        *,
        categorical: bool = False,
        precalc_val_buf_size: float = TRAINCASCADE.defaults.precalc_val_buf_size,
        precalc_idx_buf_size: float = TRAINCASCADE.defaults.precalc_idx_buf_size,
        storage: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        if n_features < 1 or n_samples < 2:
            raise InputError(
                f"boosting needs at least 1 feature and 2 samples; got {n_features} "
                f"features and {n_samples} samples."
            )
        for name, size in (
            ("precalc_val_buf_size", precalc_val_buf_size),
            ("precalc_idx_buf_size", precalc_idx_buf_size),
        ):
            if not size >= 0:
                raise InputError(f"{name} must be >= 0 (megabytes); got {size!r}.")
        self.compute = compute
        self.n_features = int(n_features)
        self.n_samples = int(n_samples)
        self.categorical = bool(categorical)
        self.dtype = np.dtype(np.uint8 if self.categorical else np.float32)
        self.chunk_size = max(1, _CHUNK_ELEMENTS // n_samples)
        # OpenCV's is_buf_16u: 16-bit sample indices below 65,536 samples.
        self.index_dtype = np.dtype(np.uint16 if n_samples < 65536 else np.int32)
        mb = 1048576.0
        value_rows = round(precalc_val_buf_size * mb / (4 * n_samples))
        order_rows = round(precalc_idx_buf_size * mb / (self.index_dtype.itemsize * n_samples))
        self.n_cached_values = min(value_rows, self.n_features)
        self.n_cached_orders = 0 if categorical else min(order_rows, self.n_features)
        # Rows with both caches keep their values in sorted order (what the split search
        # reads); the others keep them in sample order.
        self._n_sorted = min(self.n_cached_values, self.n_cached_orders)
        old_values, old_orders = (None, None) if storage is None else storage
        value_store = _at_least(old_values, self.n_cached_values * n_samples, self.dtype)
        order_store = _at_least(old_orders, self.n_cached_orders * n_samples, self.index_dtype)
        self.storage = (value_store, order_store)
        self._values = value_store[: self.n_cached_values * n_samples].reshape(-1, n_samples)
        self._orders = order_store[: self.n_cached_orders * n_samples].reshape(-1, n_samples)
        n_cached = max(self.n_cached_values, self.n_cached_orders)
        for start in range(0, n_cached, self.chunk_size):
            stop = min(start + self.chunk_size, n_cached)
            # Rows that are all cached are computed (and sorted) in the cache itself.
            cached = stop <= self.n_cached_values
            shape = (stop - start, n_samples)
            block = self._values[start:stop] if cached else np.empty(shape, dtype=self.dtype)
            self._compute_range(start, stop, block)
            if start < self.n_cached_orders:
                ordered = block[: self.n_cached_orders - start]
                _argsort_rows(ordered, self._orders[start:stop], ordered)  # sorted in place
            if not cached and start < self.n_cached_values:
                self._values[start:stop] = block[: self.n_cached_values - start]

    @classmethod
    def from_array(cls, X, *, categorical: bool = False, **kwargs):
        """Wrap a precalculated ``(n_samples, n_features)`` value matrix.

        Examples
        --------
        >>> import numpy as np
        >>> from fer_toolkit.cascade.boost import FeatureValues
        >>> FeatureValues.from_array(np.zeros((5, 3), dtype=np.float32)).n_cached_values
        3
        """
        X = np.asarray(X)
        if X.ndim != 2:
            raise InputError(f"X has shape {X.shape}; expected (n_samples, n_features).")
        if not np.isfinite(X).all():
            bad = tuple(np.argwhere(~np.isfinite(X))[0])
            raise InputError(f"X[{bad[0]}, {bad[1]}] is not finite ({X[bad]}).")
        if categorical:
            wrong = (np.round(X) != X) | (X < 0) | (X >= N_CATEGORIES)
            if wrong.any():
                bad = tuple(np.argwhere(wrong)[0])
                raise InputError(
                    f"X[{bad[0]}, {bad[1]}] = {X[bad]}; categorical (LBP) features take "
                    f"integer codes in [0, {N_CATEGORIES})."
                )
        table = np.ascontiguousarray(X.T, dtype=np.uint8 if categorical else np.float32)
        return cls(
            lambda idx, out: np.take(table, idx, axis=0, out=out),
            table.shape[0],
            table.shape[1],
            categorical=categorical,
            **kwargs,
        )

    def _compute(self, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty((len(idx), self.n_samples), dtype=self.dtype)
        self.compute(idx, out)
        return out

    def _compute_range(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        return self._compute(np.arange(start, stop), out)

    def rows(self, features) -> np.ndarray:
        """Values of the given features on every sample, ``(len(features), n_samples)``
        float32."""
        idx = np.asarray(features, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), self.n_samples), dtype=np.float32)
        in_sample_order = (idx >= self._n_sorted) & (idx < self.n_cached_values)
        out[in_sample_order] = self._values[idx[in_sample_order]]
        for r in np.flatnonzero(idx < self._n_sorted).tolist():
            out[r, self._orders[idx[r]]] = self._values[idx[r]]
        computed = idx >= self.n_cached_values
        if computed.any():
            out[computed] = self._compute(idx[computed])
        return out

    def chunks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """Yield blocks of consecutive features for the split search.

        Each block is ``(first, values, order)``. For ordered features, ``order``
        holds each row's sample indices sorted by value and ``values`` the values
        in that order, float32 ``(k, n_samples)``; for categorical features,
        ``values`` are the uint8 codes in sample order and ``order`` is None. The
        cached features come as one block, the others ``chunk_size`` at a time.
        """
        n_values, n_orders = self.n_cached_values, self.n_cached_orders
        cached = n_values if self.categorical else self._n_sorted
        start = 0
        while start < self.n_features:
            stop = cached if start < cached else min(start + self.chunk_size, self.n_features)
            for edge in (n_values, n_orders):
                if start < edge < stop:
                    stop = edge
            values = (
                self._values[start:stop] if stop <= n_values else self._compute_range(start, stop)
            )
            if self.categorical:
                order = None
            elif stop <= self._n_sorted:  # cached in sorted order, beside their order
                order = self._orders[start:stop]
            elif stop <= n_orders:
                order = self._orders[start:stop]
                values = np.take_along_axis(values, order.astype(np.intp), axis=1)
            else:
                order = np.empty(values.shape, dtype=self.index_dtype)
                sorted_values = np.empty_like(values)
                _argsort_rows(values, order, sorted_values)
                values = sorted_values
            yield start, values, order
            start = stop


def _argsort_rows(values: np.ndarray, order: np.ndarray, sorted_values: np.ndarray) -> None:
    """Write each row's sample order by value into ``order`` and the values in that order
    into ``sorted_values`` (may be ``values``). Equal values stay in sample order
    (OpenCV's sort leaves their order unspecified: they are never split apart)."""
    _kernels().argsort_rows(np.ascontiguousarray(values, dtype=np.float32), order, sorted_values)


@dataclass
class BoostedTree:
    """One weak tree in the layout of OpenCV's cascade XML.

    Internal nodes are numbered breadth-first from the root (0). A child code
    ``> 0`` is another internal node, ``<= 0`` is leaf ``-code``.

    Attributes
    ----------
    left, right : ndarray of int32, shape (n_nodes,)
        Child codes.
    feature : ndarray of int64, shape (n_nodes,)
        Feature index tested at each node (in the trainer's feature table).
    threshold : ndarray of float32, shape (n_nodes,)
        Split thresholds (ordered features; zeros for categorical ones).
    subset : ndarray of int32, shape (n_nodes, 8) or None
        Left-going category subsets (categorical features only).
    leaf_values : ndarray of float64, shape (n_nodes + 1,)
        Leaf outputs; the XML stores them as float32.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    subset: np.ndarray | None
    leaf_values: np.ndarray

    def predict(self, features: FeatureValues) -> np.ndarray:
        """Leaf value of every sample (training rule: left when ``value <= threshold``)."""
        rows = features.rows(self.feature)
        n = rows.shape[1]
        left = self.left.astype(np.int64)
        right = self.right.astype(np.int64)
        if self.subset is not None:
            subset = self.subset.view(np.uint32)
        cols = np.arange(n)
        node = np.zeros(n, dtype=np.int64)
        out = np.zeros(n, dtype=np.float64)
        done = np.zeros(n, dtype=bool)
        for _ in range(len(self.left)):
            value = rows[node, cols]
            if self.subset is not None:
                code = value.astype(np.int64)
                go_left = (subset[node, code >> 5] >> (code & 31)) & 1 == 1
            else:
                go_left = value <= self.threshold[node]
            child = np.where(go_left, left[node], right[node])
            at_leaf = (child <= 0) & ~done
            out[at_leaf] = self.leaf_values[-child[at_leaf]]
            done |= child <= 0
            if done.all():
                break
            node = np.where(child > 0, child, node)
        return out

    def to_weak_tree(self) -> WeakTree:
        """The tree as the cascade (and its XML) holds it: float32 leaves and thresholds."""
        split = self.threshold[:, None] if self.subset is None else self.subset
        nodes = np.column_stack([self.left, self.right, self.feature, split])
        return WeakTree(nodes=nodes, leaf_values=self.leaf_values)


@dataclass
class BoostedStage:
    """A trained stage: its trees, threshold, and the boosting record.

    Attributes
    ----------
    trees : list of BoostedTree
    threshold : float
        Stage threshold (float32 value): a window passes when its sum of leaf
        values is at least ``threshold - 1e-5``.
    hit_rates, false_alarms : list of float
        Training hit rate and false-alarm rate after each tree (OpenCV's ``HR``
        and ``FA`` columns).
    """

    trees: list[BoostedTree]
    threshold: float
    hit_rates: list[float] = field(default_factory=list)
    false_alarms: list[float] = field(default_factory=list)

    @property
    def false_alarm(self) -> float:
        """False-alarm rate of the finished stage on its training negatives."""
        return self.false_alarms[-1]

    @property
    def hit_rate(self) -> float:
        """Hit rate of the finished stage on its training positives."""
        return self.hit_rates[-1]

    def to_stage(self) -> Stage:
        """The stage as the cascade (and its XML) holds it."""
        return Stage(threshold=self.threshold, weak=[tree.to_weak_tree() for tree in self.trees])


@dataclass
class _Split:
    quality: float  # float32 value, as OpenCV keeps it
    feature: int
    threshold: float = 0.0  # float32 value (ordered splits)
    subset: np.ndarray | None = None  # int32 words (categorical splits)
    go_left: np.ndarray | None = None  # node samples sent left (bool over all samples)


@dataclass
class _Node:
    mask: np.ndarray  # training samples in the node (bool over all samples)
    depth: int
    value: float = 0.0
    split: _Split | None = None
    left: _Node | None = None
    right: _Node | None = None


_KINDS = {"reg": 0, "gini": 1, "misclass": 2}


def _kernels():
    """The compiled split-search loops (imported on first use: they load a shared library)."""
    from . import _kernels

    return _kernels


def _node_values(nodes, kind, boost_type, weights, labels, responses) -> list[bool]:
    """Set each node's output value (CvBoostTree::calc_node_value); return which may split."""
    k = _kernels()
    node_of = _node_index(nodes, len(weights))
    counts = np.bincount(node_of[node_of >= 0], minlength=len(nodes))
    can_split = []
    if kind == "reg":
        sums = k.reg_sums(node_of, len(nodes), weights, responses)
        for node, n, (w_sum, s, s2) in zip(nodes, counts.tolist(), sums.tolist(), strict=True):
            iw = 1.0 / w_sum
            node.value = s * iw
            risk = (s2 - (s * iw) * s) * (n * iw * n * iw)
            # A NaN spread (negative risk from rounding) does not stop the split, as in C.
            spread_ok = not (risk >= 0 and math.sqrt(risk) / n < _REGRESSION_ACCURACY)
            can_split.append(n > _MIN_SAMPLE_COUNT and spread_ok)
        return can_split
    sums = k.class_sums(node_of, len(nodes), weights, labels)
    positives = np.bincount(node_of[(node_of >= 0) & (labels == 1)], minlength=len(nodes))
    for node, n, n_pos, (rcw0, rcw1) in zip(
        nodes, counts.tolist(), positives.tolist(), sums.tolist(), strict=True
    ):
        if boost_type == "DAB":
            node.value = 1.0 if rcw1 > rcw0 else -1.0
        else:
            node.value = 0.5 * _log_ratio(rcw1 / (rcw0 + rcw1))
        can_split.append(n > _MIN_SAMPLE_COUNT and n_pos not in (0, n))
    return can_split


def _node_index(nodes, n_samples: int) -> np.ndarray:
    """Index of the node holding each sample, -1 for samples in none of ``nodes``."""
    node_of = np.full(n_samples, -1, dtype=np.int32)
    for j, node in enumerate(nodes):
        node_of[node.mask] = j
    return node_of


def _find_splits(features: FeatureValues, nodes: list[_Node], kind: str, weights, column):
    """Best split of each node over all features (CvDTree::find_best_split).

    The compiled loops give every feature's best quality in float64; as in
    OpenCV, a feature replaces the best so far only when its quality, rounded
    to float32, is larger (so the first best feature wins ties), and a split
    must have quality > 0.
    """
    k = _kernels()
    code = _KINDS[kind]
    node_of = _node_index(nodes, features.n_samples)
    best_q = np.full(len(nodes), np.float32(-1.0))
    found: list[tuple | None] = [None] * len(nodes)
    for start, values, order in features.chunks():
        q = np.empty((len(values), len(nodes)))
        at = np.empty((len(values), len(nodes)), dtype=np.int64)
        if order is None:
            k.categorical_splits(values, node_of, len(nodes), weights, column, code, q, at)
        else:
            k.ordered_splits(
                values,
                order,
                node_of,
                _split_init(nodes, kind, weights, column, node_of),
                weights,
                column,
                code,
                _SPLIT_EPSILON,
                q,
                at,
            )
        q32 = q.astype(np.float32)
        for j in range(len(nodes)):
            f = int(np.argmax(q32[:, j]))
            if q32[f, j] > best_q[j]:
                best_q[j] = q32[f, j]
                if order is None:
                    found[j] = (start + f, int(at[f, j]), values[f].copy(), None)
                else:
                    unsorted = np.empty(features.n_samples, dtype=np.float32)
                    unsorted[order[f]] = values[f]
                    found[j] = (start + f, int(at[f, j]), unsorted, order[f].copy())
    splits = []
    for j, node in enumerate(nodes):
        if found[j] is None or not best_q[j] > 0:
            splits.append(None)
            continue
        feature, at, values, order = found[j]
        split = _Split(quality=float(best_q[j]), feature=feature)
        if order is None:
            *_, cat_order, _, _ = k.category_order(values, node_of, j, weights, column, code)
            words = np.zeros(SUBSET_WORDS, dtype=np.uint32)
            for c in cat_order[: at + 1].tolist():
                words[c >> 5] |= np.uint32(1 << (c & 31))
            split.subset = words.view(np.int32)
            split.go_left = node.mask & (
                (words[values.astype(np.int64) >> 5] >> (values.astype(np.int64) & 31)) & 1 == 1
            )
        else:
            left = np.zeros(features.n_samples, dtype=bool)
            left[order[: at + 1].astype(np.int64)] = True
            split.go_left = node.mask & left
            # The threshold is the float32 midpoint of the node's values around the cut.
            lo = values[split.go_left].max()
            hi = values[node.mask & ~left].min()
            split.threshold = np.float32((lo + hi) * np.float32(0.5))
        splits.append(split)
    return splits


def _split_init(nodes, kind, weights, column, node_of) -> np.ndarray:
    """Starting sums of the ordered split search per node (R and rsum, or rcw)."""
    k = _kernels()
    if kind == "reg":
        sums = k.reg_sums(node_of, len(nodes), weights, column)
        w_sum = sums[:, 0]
        # rsum = node->value * R, node->value = sum * (1 / R).
        return np.column_stack([w_sum, sums[:, 1] * (1.0 / w_sum) * w_sum])
    return k.class_sums(node_of, len(nodes), weights, column)


def _grow_tree(features, kind, boost_type, weights, labels, responses, active, max_depth):
    """Grow one tree on the active samples; return it and the training-time outputs."""
    w = np.ascontiguousarray(weights, dtype=np.float64)
    y = np.ascontiguousarray(labels, dtype=np.int64)
    t = None if responses is None else np.ascontiguousarray(responses, dtype=np.float64)
    column = t if kind == "reg" else y
    root = _Node(mask=np.array(active, dtype=bool), depth=0)
    level = [root]
    leaves = []
    while level:
        may_split = _node_values(level, kind, boost_type, w, y, t)
        splittable = []
        for node, ok in zip(level, may_split, strict=True):
            (splittable if ok and node.depth < max_depth else leaves).append(node)
        splits = _find_splits(features, splittable, kind, w, column) if splittable else []
        level = []
        for node, split in zip(splittable, splits, strict=True):
            if split is None:
                leaves.append(node)
                continue
            node.split = split
            node.left = _Node(mask=split.go_left, depth=node.depth + 1)
            node.right = _Node(mask=node.mask & ~split.go_left, depth=node.depth + 1)
            split.go_left = None
            level += [node.left, node.right]
    if root.split is None:
        return None, None
    weak_eval = np.zeros(len(w))
    for leaf in leaves:
        weak_eval[leaf.mask] = leaf.value
    return _encode(root, features.categorical), weak_eval


def _encode(root: _Node, categorical: bool) -> BoostedTree:
    """Number nodes breadth-first and leaves in visiting order, as CvCascadeBoostTree::write."""
    left, right, feature, threshold, subset, leaf_values = [], [], [], [], [], []
    queue = deque([root])
    n_internal = 1
    while queue:
        node = queue.popleft()
        codes = []
        for child in (node.left, node.right):
            if child.split is None:
                codes.append(-len(leaf_values))
                leaf_values.append(child.value)
            else:
                codes.append(n_internal)
                n_internal += 1
                queue.append(child)
        left.append(codes[0])
        right.append(codes[1])
        feature.append(node.split.feature)
        threshold.append(node.split.threshold)
        if categorical:
            subset.append(node.split.subset)
    return BoostedTree(
        left=np.array(left, dtype=np.int32),
        right=np.array(right, dtype=np.int32),
        feature=np.array(feature, dtype=np.int64),
        threshold=np.array(threshold, dtype=np.float32),
        subset=np.array(subset, dtype=np.int32) if categorical else None,
        leaf_values=np.array(leaf_values, dtype=np.float64),
    )


def _trim(weights: np.ndarray, rate: float) -> np.ndarray:
    """Mask of the samples kept for the next tree (CvBoost::trim_weights)."""
    if rate <= 0.0 or rate >= 1.0:
        return np.ones(len(weights), dtype=bool)
    w_sorted = np.sort(weights)
    # Drop the lightest samples while the weight left to drop, 1 - rate less the weights
    # dropped so far (subtracted one by one, as OpenCV does), stays positive. Weights
    # were just renormalised, so they sum to 1.
    left = np.subtract.accumulate(np.r_[1.0 - rate, w_sorted[:-1]])
    first = int(np.argmax(left <= 0)) if (left <= 0).any() else len(w_sorted)
    if first >= len(w_sorted):
        return np.zeros(len(weights), dtype=bool)
    return weights >= w_sorted[first]


def stage_threshold(sums: np.ndarray, labels: np.ndarray, min_hit_rate: float):
    """Threshold, hit rate and false-alarm rate of a stage (CvCascadeBoost::isErrDesired).

    Parameters
    ----------
    sums : ndarray of shape (n_samples,)
        Stage sums (sum of the trees' leaf values) of the training samples.
    labels : ndarray of shape (n_samples,)
        1 for positives, 0 for negatives.
    min_hit_rate : float

    Returns
    -------
    threshold : numpy.float32
    hit_rate, false_alarm : float

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.boost import stage_threshold
    >>> sums = np.array([0.5, 1.0, 2.0, -1.0, 0.7])
    >>> labels = np.array([1, 1, 1, 0, 0])
    >>> thr, hr, fa = stage_threshold(sums, labels, 0.995)
    >>> float(thr), hr, fa
    (0.5, 1.0, 0.5)
    """
    labels = np.asarray(labels)
    positive = np.sort(np.asarray(sums, dtype=np.float64)[labels == 1].astype(np.float32))
    n_pos = len(positive)
    index = int((np.float32(1.0) - np.float32(min_hit_rate)) * np.float32(n_pos))
    threshold = positive[index]
    n_true = n_pos - index + int((np.abs(positive[:index] - threshold) < _FLT_EPSILON).sum())
    hit_rate = float(np.float32(n_true) / np.float32(n_pos))
    negative = np.asarray(sums, dtype=np.float64)[labels == 0]
    passed = negative >= float(threshold - STAGE_THRESHOLD_EPS)
    false_alarm = float(np.float32(passed.sum()) / np.float32(len(negative)))
    return threshold, hit_rate, false_alarm


def boost_stage(
    features,
    labels,
    *,
    boost_type: str = TRAINCASCADE.defaults.boost_type,
    min_hit_rate: float = TRAINCASCADE.defaults.min_hit_rate,
    max_false_alarm_rate: float = TRAINCASCADE.defaults.max_false_alarm_rate,
    weight_trim_rate: float = TRAINCASCADE.defaults.weight_trim_rate,
    max_depth: int = TRAINCASCADE.defaults.max_depth,
    max_weak_count: int = TRAINCASCADE.defaults.max_weak_count,
    categorical: bool = False,
    device="auto",
    progress: Callable[[str], object] | None = None,
) -> BoostedStage | None:
    """Train one cascade stage: boosted trees and the threshold for ``min_hit_rate``.

    Parameters
    ----------
    features : FeatureValues or array-like of shape (n_samples, n_features)
        Feature values of the stage's training samples.
    labels : array-like of shape (n_samples,)
        1 for positives, 0 for negatives; both classes must be present.
    boost_type : {"GAB", "DAB", "RAB", "LB"}, default="GAB"
        Gentle, Discrete, Real AdaBoost or LogitBoost (OpenCV's ``-bt``).
    min_hit_rate : float, default=0.995
        Fraction of the positives the stage must pass, in (0, 1).
    max_false_alarm_rate : float, default=0.5
        The stage stops adding trees once at most this fraction of the
        negatives passes, in (0, 1).
    weight_trim_rate : float, default=0.95
        Fraction of the total weight that takes part in each tree's training;
        values <= 0 or >= 1 disable trimming.
    max_depth : int, default=1
        Depth of the weak trees (1 = stumps).
    max_weak_count : int, default=100
        Most trees in the stage.
    categorical : bool, default=False
        Whether ``features`` holds LBP codes (only used for array input).
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Has no effect: boosting and the split search run on the CPU (numpy and
        compiled loops), whatever device computed the values; kept so that
        existing calls keep working.
    progress : callable or None, default=None
        Called with each line of OpenCV's ``| N | HR | FA |`` table.

    Returns
    -------
    stage : BoostedStage or None
        None when not even one tree could be trained (no split improves on
        a single leaf).

    Examples
    --------
    >>> import numpy as np
    >>> from fer_toolkit.cascade.boost import boost_stage
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([1, 0], 40)
    >>> X = rng.normal(size=(80, 5)).astype(np.float32)
    >>> X[:, 2] += 3 * labels  # feature 2 separates the classes
    >>> stage = boost_stage(X, labels, device="cpu")
    >>> int(stage.trees[0].feature[0]), stage.hit_rate, stage.false_alarm <= 0.5
    (2, 1.0, True)
    """
    if boost_type not in BOOST_TYPES:
        raise InputError(f"boost_type must be one of {BOOST_TYPES}; got {boost_type!r}.")
    for name, rate in (
        ("min_hit_rate", min_hit_rate),
        ("max_false_alarm_rate", max_false_alarm_rate),
    ):
        if not 0.0 < rate < 1.0:
            raise InputError(f"{name} must lie in (0, 1); got {rate!r}.")
    for name, count in (("max_depth", max_depth), ("max_weak_count", max_weak_count)):
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 1:
            raise InputError(f"{name} must be an int >= 1; got {count!r}.")
    if str(device).split(":")[0] not in ("auto", "cpu", "cuda"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}.")
    if not isinstance(features, FeatureValues):
        features = FeatureValues.from_array(features, categorical=categorical)
    labels_np = np.asarray(labels)
    if labels_np.shape != (features.n_samples,):
        raise InputError(
            f"labels has shape {labels_np.shape}; expected ({features.n_samples},), one per sample."
        )
    if not np.isin(labels_np, (0, 1)).all():
        bad = int(np.flatnonzero(~np.isin(labels_np, (0, 1)))[0])
        raise InputError(f"labels[{bad}] = {labels_np[bad]}; labels must be 0 or 1.")
    if labels_np.min() == labels_np.max():
        raise InputError("labels hold a single class; a stage needs positives and negatives.")

    n = features.n_samples
    labels_i = labels_np.astype(np.int64)
    y = (2 * labels_i - 1).astype(np.float64)  # orig_response in {-1, 1}
    kind = {"DAB": "misclass", "RAB": "gini"}.get(boost_type, "reg")
    weights = np.full(n, 1.0 / n)
    # Regression targets are float32 in OpenCV (responses_copy).
    responses = None
    if boost_type == "GAB":
        responses = y.astype(np.float32).astype(np.float64)
    elif boost_type == "LB":
        responses = (2.0 * y).astype(np.float32).astype(np.float64)
        sum_response = np.zeros(n)
    active = np.ones(n, dtype=bool)
    stage_sum = np.zeros(n)
    trees: list[BoostedTree] = []
    result = BoostedStage(trees=trees, threshold=float("nan"))
    emit = progress or (lambda line: None)
    for line in ("+----+---------+---------+", "|  N |    HR   |    FA   |"):
        emit(line)
    emit("+----+---------+---------+")
    while True:
        tree, weak_eval = _grow_tree(
            features, kind, boost_type, weights, labels_i, responses, active, max_depth
        )
        if tree is None:
            break
        trees.append(tree)
        predicted = tree.predict(features)
        # Trimmed-out samples did not reach the tree's leaves in training.
        weak_eval = np.where(active, weak_eval, predicted)
        # Sums run sample by sample, as OpenCV's loops (np.cumsum keeps that order).
        if boost_type == "DAB":
            wrong = weak_eval != y
            w_sum = _sequential_sum(weights)
            err = _sequential_sum(weights * wrong)
            if w_sum != 0:
                err /= w_sum
            c = -_log_ratio(err)
            weights = weights * np.where(wrong, math.exp(c), 1.0)
            tree.leaf_values = tree.leaf_values * c
            predicted = predicted * c
        elif boost_type in ("RAB", "GAB"):
            weights = weights * np.exp(-y * weak_eval)
        else:
            sum_response = sum_response + 0.5 * weak_eval
            p = 1.0 / (1.0 + np.exp(-2.0 * sum_response))
            weights = np.maximum(p * (1 - p), _LB_WEIGHT_FLOOR)
            z = np.where(
                y > 0, np.minimum(1.0 / p, _LB_Z_MAX), -np.minimum(1.0 / (1 - p), _LB_Z_MAX)
            )
            responses = z.astype(np.float32).astype(np.float64)
        w_sum = _sequential_sum(weights)
        if w_sum > _FLT_EPSILON:
            weights = weights * (1.0 / w_sum)
        active = _trim(weights, weight_trim_rate)
        stage_sum += predicted
        if not active.any():
            break
        threshold, hit_rate, false_alarm = stage_threshold(stage_sum, labels_np, min_hit_rate)
        result.threshold = float(threshold)
        result.hit_rates.append(hit_rate)
        result.false_alarms.append(false_alarm)
        emit(f"|{len(trees):4d}|{hit_rate:9.6g}|{false_alarm:9.6g}|")
        emit("+----+---------+---------+")
        if false_alarm <= max_false_alarm_rate or len(trees) >= max_weak_count:
            break
    if not trees:
        return None
    return result
