"""Boosted decision trees for one cascade stage, as ``opencv_traincascade`` trains them.

This is OpenCV's ``CvCascadeBoost`` (``apps/traincascade/boost.cpp``) on top of
the old ``CvBoost`` / ``CvDTree`` of OpenCV's ml module, re-done as vectorised
PyTorch:

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

The best-split search scores every threshold of every feature at once: each
feature's samples are sorted once per stage (OpenCV's ``precalcIdxBufSize``
buffer), and per tree node cumulative weighted sums along the sorted order give
the quality of all thresholds. Features are processed in chunks to bound
memory; feature values are cached up to ``precalc_val_buf_size`` megabytes and
computed on the fly beyond that (see :class:`FeatureValues`).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..utils.validation import InputError
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
_CHUNK_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 24}


def _log_ratio(p: float) -> float:
    p = min(max(p, 1e-5), 1.0 - 1e-5)
    return math.log(p / (1.0 - p))


class FeatureValues:
    """Feature values of one stage's training samples, cached as OpenCV caches them.

    ``opencv_traincascade`` keeps the values of the first features in a
    ``precalc_val_buf_size`` MB buffer and their sorted sample orders in a
    ``precalc_idx_buf_size`` MB buffer, and computes the rest again whenever a
    weak learner needs them. This class does the same with tensors: rows
    ``[0, n_cached_values)`` are kept, the sorted orders of rows
    ``[0, n_cached_orders)`` are kept (not for categorical features, which are
    never sorted), everything else is recomputed per chunk.

    Parameters
    ----------
    compute : callable
        ``compute(indices)`` takes a 1-D int64 tensor of feature indices and
        returns their values on every sample, a float32 tensor of shape
        ``(len(indices), n_samples)`` on ``device``.
    n_features, n_samples : int
        Size of the (features x samples) value matrix.
    categorical : bool, default=False
        Whether values are category codes in ``[0, 256)`` (LBP) rather than
        ordered values (Haar).
    precalc_val_buf_size, precalc_idx_buf_size : float, default=1024
        Cache sizes in megabytes, as OpenCV's ``-precalcValBufSize`` and
        ``-precalcIdxBufSize``.
    device : str or torch.device, default="cpu"

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
        compute: Callable[[torch.Tensor], torch.Tensor],
        n_features: int,
        n_samples: int,
        *,
        categorical: bool = False,
        precalc_val_buf_size: float = 1024,
        precalc_idx_buf_size: float = 1024,
        device="cpu",
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
        self.device = torch.device(device)
        self.chunk_size = max(1, _CHUNK_ELEMENTS.get(self.device.type, 1 << 20) // n_samples)
        mb = 1048576.0
        # int32 sorted orders (what index_select takes; OpenCV keeps 16 bits), plus one
        # byte per value for "no split may follow this position".
        value_rows = round(precalc_val_buf_size * mb / (4 * n_samples))
        order_rows = 0 if categorical else round(precalc_idx_buf_size * mb / (5 * n_samples))
        # Caches hold whole chunks (the blocks the split search walks through).
        self.n_cached_values = self._whole_chunks(value_rows)
        self.n_cached_orders = self._whole_chunks(order_rows)
        self._values: dict[int, torch.Tensor] = {}
        self._orders: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for start in range(0, max(self.n_cached_values, self.n_cached_orders), self.chunk_size):
            block = self._compute_range(start, min(start + self.chunk_size, self.n_features))
            if start < self.n_cached_values:
                self._values[start] = block
            if start < self.n_cached_orders:
                self._orders[start] = _sorted(block)

    def _whole_chunks(self, rows: int) -> int:
        """Rows covered by the whole chunks that fit in ``rows`` (all when ``rows`` suffice)."""
        if rows >= self.n_features:
            return self.n_features
        return rows // self.chunk_size * self.chunk_size

    @classmethod
    def from_array(cls, X, *, categorical: bool = False, device="cpu", **kwargs):
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
        table = torch.as_tensor(np.ascontiguousarray(X.T, dtype=np.float32), device=device)
        return cls(
            lambda idx: table[idx],
            table.shape[0],
            table.shape[1],
            categorical=categorical,
            device=device,
            **kwargs,
        )

    def _compute_range(self, start: int, stop: int) -> torch.Tensor:
        block = self.compute(torch.arange(start, stop, device=self.device))
        if tuple(block.shape) != (stop - start, self.n_samples):
            raise InputError(
                f"feature computation returned shape {tuple(block.shape)} for features "
                f"[{start}, {stop}); expected {(stop - start, self.n_samples)}."
            )
        return block.to(device=self.device, dtype=torch.float32)

    def _block(self, start: int) -> torch.Tensor:
        """Values of the chunk starting at feature ``start``, cached or computed."""
        if start in self._values:
            return self._values[start]
        return self._compute_range(start, min(start + self.chunk_size, self.n_features))

    def rows(self, features) -> torch.Tensor:
        """Values of the given features on every sample, ``(len(features), n_samples)``."""
        idx = torch.as_tensor(np.asarray(features, dtype=np.int64), device=self.device)
        out = torch.empty((len(idx), self.n_samples), device=self.device)
        for i, f in enumerate(idx.tolist()):
            start = f - f % self.chunk_size
            if start in self._values:
                out[i] = self._values[start][f - start]
        missing = idx >= self.n_cached_values
        if missing.any():
            out[missing] = self.compute(idx[missing]).to(out.dtype)
        return out

    def chunks(self) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
        """Yield blocks of consecutive features for the split search.

        Ordered features give ``(first, order, no_split)``: each row's sample
        indices sorted by value ``(k, n)``, and where no threshold may sit (the
        next value is within ``2 * FLT_EPSILON``) ``(k, n - 1)``. Categorical
        features give ``(first, values, None)``.
        """
        for start in range(0, self.n_features, self.chunk_size):
            if self.categorical:
                yield start, self._block(start), None
            elif start in self._orders:
                yield start, *self._orders[start]
            else:
                yield start, *_sorted(self._block(start))


def _sorted(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row sorted order (int32), and where consecutive values are too close to split.

    The order of equal values is unspecified (they are never split apart).
    """
    if values.device.type != "cpu":
        v, order = torch.sort(values, dim=1)
        return order.int(), v[:, :-1] + _SPLIT_EPSILON >= v[:, 1:]
    # numpy's SIMD sorts beat torch's on CPU by far; they release the GIL, so row
    # blocks sort in parallel on torch's thread count.
    array = values.numpy()
    order = np.empty(array.shape, dtype=np.int32)
    ordered = np.empty_like(array)

    def sort_rows(rows: slice) -> None:
        order[rows] = np.argsort(array[rows], axis=1)
        ordered[rows] = np.take_along_axis(array[rows], order[rows], axis=1)

    n_blocks = min(torch.get_num_threads(), len(array))
    bounds = np.linspace(0, len(array), n_blocks + 1).astype(int)
    blocks = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    if n_blocks > 1:
        with ThreadPoolExecutor(n_blocks) as pool:
            list(pool.map(sort_rows, blocks))
    else:
        sort_rows(blocks[0])
    v = torch.from_numpy(ordered)
    return torch.from_numpy(order), v[:, :-1] + _SPLIT_EPSILON >= v[:, 1:]


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

    def predict(self, features: FeatureValues) -> torch.Tensor:
        """Leaf value of every sample (training rule: left when ``value <= threshold``)."""
        rows = features.rows(self.feature)
        dev = rows.device
        n = rows.shape[1]
        left = torch.as_tensor(self.left, dtype=torch.int64, device=dev)
        right = torch.as_tensor(self.right, dtype=torch.int64, device=dev)
        leaves = torch.as_tensor(self.leaf_values, dtype=torch.float64, device=dev)
        if self.subset is not None:
            subset = torch.as_tensor(self.subset.view(np.uint32).astype(np.int64), device=dev)
        else:
            threshold = torch.as_tensor(self.threshold, device=dev)
        cols = torch.arange(n, device=dev)
        node = torch.zeros(n, dtype=torch.int64, device=dev)
        out = torch.zeros(n, dtype=torch.float64, device=dev)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        for _ in range(len(self.left)):
            value = rows[node, cols]
            if self.subset is not None:
                code = value.long()
                go_left = (subset[node, code >> 5] >> (code & 31)) & 1 == 1
            else:
                go_left = value <= threshold[node]
            child = torch.where(go_left, left[node], right[node])
            at_leaf = (child <= 0) & ~done
            out[at_leaf] = leaves[-child[at_leaf]]
            done |= child <= 0
            if bool(done.all()):
                break
            node = torch.where(child > 0, child, node)
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
    quality: float
    feature: int
    left: torch.Tensor | None = None  # samples sent left, in sorted order (ordered splits)
    threshold: float = 0.0  # float32 value (ordered splits)
    subset: np.ndarray | None = None  # int32 words (categorical splits)


@dataclass
class _Node:
    mask: torch.Tensor  # training samples in the node
    depth: int
    value: float = 0.0
    split: _Split | None = None
    left: _Node | None = None
    right: _Node | None = None


class _Stats:
    """Per-sample sums one node's split criterion needs; zero outside the node."""

    def __init__(self, kind: str, columns: torch.Tensor, mask: torch.Tensor):
        self.kind = kind  # "reg", "gini" or "misclass"
        self.columns = columns * mask
        self.total = self.columns.sum(1)
        self.total_weight = self.total[0] if kind == "reg" else self.total.sum()


def _columns(kind: str, weights: torch.Tensor, labels: torch.Tensor, responses) -> torch.Tensor:
    """Per-sample (weight, weighted response) or (negative weight, positive weight) rows."""
    if kind == "reg":
        return torch.stack([weights, weights * responses])
    positive = labels.to(torch.float64)
    return torch.stack([weights * (1 - positive), weights * positive])


def _quality(kind: str, left: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Split quality from left-side sums ``(2, F, k)`` and node totals ``(2, 1, 1)``."""
    right = total - left
    if kind == "reg":
        return left[1] ** 2 / left[0] + right[1] ** 2 / right[0]
    if kind == "gini":
        L, R = left[0] + left[1], right[0] + right[1]
        return (left[0] ** 2 + left[1] ** 2) / L + (right[0] ** 2 + right[1] ** 2) / R
    return torch.maximum(left[0] + right[1], left[1] + right[0])


def _best_ordered(order, no_split, stats: _Stats, start: int) -> _Split | None:
    """Best threshold over a chunk of ordered features for one node's samples.

    The node's sums are zero outside the node, so every feature keeps its full
    sorted order (no per-node re-sorting or compaction). Sums run in float32:
    each row's total is its own last cumulative sum, so a side without node
    samples has exactly zero weight, its quality term is 0/0, and the NaN
    rules the position out.
    """
    n_feat, n = order.shape
    cols = stats.columns.index_select(1, order.reshape(-1)).view(2, n_feat, n)
    cum = cols.cumsum(2)
    left = cum[:, :, :-1]
    right = cum[:, :, -1:] - left
    if stats.kind == "misclass":
        q = torch.maximum(left[0] + right[1], left[1] + right[0])
        q.masked_fill_((left[0] + left[1] <= 0) | (right[0] + right[1] <= 0), math.nan)
    elif stats.kind == "reg":
        q = left[1].square().div_(left[0]).add_(right[1].square_().div_(right[0]))
    else:
        q = left.square().sum(0).div_(left.sum(0))
        q.add_(right.square().sum(0).div_(right.sum(0)))
    q.nan_to_num_(nan=-math.inf, posinf=-math.inf).masked_fill_(no_split, -math.inf)
    best_q, pos = q.max(1)  # first maximum in each row
    f = int(best_q.argmax())
    if not math.isfinite(float(best_q[f])):
        return None
    return _Split(
        quality=float(best_q[f]), feature=start + f, left=order[f, : int(pos[f]) + 1].clone()
    )


def _best_categorical(values, stats: _Stats, start: int) -> _Split | None:
    """Best left subset of LBP codes over a chunk of features for one node's samples."""
    codes = values.long()
    n_feat, n = codes.shape
    sums = torch.zeros((2, n_feat, N_CATEGORIES), dtype=torch.float64, device=values.device)
    for k in range(2):
        sums[k].scatter_add_(1, codes, stats.columns[k].expand(n_feat, n))
    if stats.kind == "reg":
        count = sums[0]
        mean = torch.where(count.abs() > _DBL_EPSILON, sums[1] / count, torch.zeros_like(count))
        cat_order = torch.sort(mean, dim=1, stable=True).indices
        weight = count.gather(1, cat_order)
        used = weight > _FLT_EPSILON
    else:
        cat_order = torch.sort(sums[1], dim=1, stable=True).indices
        weight = sums.sum(0).gather(1, cat_order)
        used = weight >= _FLT_EPSILON
    ordered = sums.gather(2, cat_order.expand(2, -1, -1))
    left = (ordered * used).cumsum(2)[:, :, :-1]
    q = _quality(stats.kind, left, stats.total.view(2, 1, 1))
    ok = used[:, :-1]
    if stats.kind != "misclass":
        L = left[0] if stats.kind == "reg" else left[0] + left[1]
        ok = ok & (L > _FLT_EPSILON) & (stats.total_weight - L > _FLT_EPSILON)
    q = torch.where(ok, q, -math.inf)
    pos = q.argmax(1)
    best_q = q.gather(1, pos[:, None])[:, 0].float()
    f = int(best_q.argmax())
    if not math.isfinite(float(best_q[f])):
        return None
    words = np.zeros(SUBSET_WORDS, dtype=np.uint32)
    for c in cat_order[f, : int(pos[f]) + 1].tolist():
        words[c >> 5] |= np.uint32(1 << (c & 31))
    return _Split(quality=float(best_q[f]), feature=start + f, subset=words.view(np.int32))


def _find_splits(features: FeatureValues, nodes: list[_Node], columns, kind) -> list:
    """Best split of each node over all features (first feature wins ties, as OpenCV)."""
    best: list[_Split | None] = [None] * len(nodes)
    # Ordered splits sum in float32 (see _best_ordered); category sums stay float64.
    dtype = torch.float64 if features.categorical else torch.float32
    stats = [_Stats(kind, columns.to(dtype), node.mask) for node in nodes]
    for start, block, no_split in features.chunks():
        for i, node_stats in enumerate(stats):
            if features.categorical:
                split = _best_categorical(block, node_stats, start)
            else:
                split = _best_ordered(block, no_split, node_stats, start)
            if split is not None and (best[i] is None or split.quality > best[i].quality):
                best[i] = split
    return [s if s is not None and s.quality > 0 else None for s in best]


def _node_value(node: _Node, kind: str, boost_type: str, weights, labels, responses) -> bool:
    """Set the node's output value (CvBoostTree::calc_node_value); return whether it may split."""
    mask = node.mask
    n = int(mask.sum())
    w = weights[mask]
    can_split = n > _MIN_SAMPLE_COUNT
    if kind == "reg":
        t = responses[mask]
        w_sum = float(w.sum())
        s = float((w * t).sum())
        s2 = float((w * t * t).sum())
        node.value = s / w_sum
        risk = (s2 - (s / w_sum) * s) * (n / w_sum) ** 2
        # A NaN spread (negative risk from rounding) does not stop the split, as in C.
        if risk >= 0 and math.sqrt(risk) / n < _REGRESSION_ACCURACY:
            can_split = False
    else:
        y = labels[mask]
        rcw1 = float(w[y == 1].sum())
        rcw0 = float(w[y == 0].sum())
        if boost_type == "DAB":
            node.value = 1.0 if rcw1 > rcw0 else -1.0
        else:
            node.value = 0.5 * _log_ratio(rcw1 / (rcw0 + rcw1))
        n_pos = int(y.sum())
        if n_pos in (0, n):
            can_split = False
    return can_split


def _grow_tree(features, kind, boost_type, weights, labels, responses, active, max_depth):
    """Grow one tree on the active samples; return it and the training-time outputs."""
    columns = _columns(kind, weights, labels, responses)
    root = _Node(mask=active.clone(), depth=0)
    level = [root]
    leaves = []
    while level:
        splittable = []
        for node in level:
            if _node_value(node, kind, boost_type, weights, labels, responses) and (
                node.depth < max_depth
            ):
                splittable.append(node)
            else:
                leaves.append(node)
        splits = _find_splits(features, splittable, columns, kind) if splittable else []
        level = []
        for node, split in zip(splittable, splits, strict=True):
            if split is None:
                leaves.append(node)
                continue
            node.split = split
            value = features.rows([split.feature])[0]
            if split.subset is not None:
                code = value.long()
                words = torch.as_tensor(split.subset.view(np.uint32).astype(np.int64))
                go_left = (words.to(value.device)[code >> 5] >> (code & 31)) & 1 == 1
            else:
                go_left = torch.zeros_like(node.mask)
                go_left[split.left.long()] = True
                # The threshold is the float32 midpoint of the node's values around the cut.
                lo = value[node.mask & go_left].max()
                hi = value[node.mask & ~go_left].min()
                split.threshold = np.float32(((lo + hi) * 0.5).item())
            node.left = _Node(mask=node.mask & go_left, depth=node.depth + 1)
            node.right = _Node(mask=node.mask & ~go_left, depth=node.depth + 1)
            level += [node.left, node.right]
    if root.split is None:
        return None, None
    weak_eval = torch.zeros_like(weights)
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


def _trim(weights: torch.Tensor, rate: float) -> torch.Tensor:
    """Mask of the samples kept for the next tree (CvBoost::trim_weights)."""
    if rate <= 0.0 or rate >= 1.0:
        return torch.ones_like(weights, dtype=torch.bool)
    w_sorted = torch.sort(weights).values
    # Drop the lightest samples while their weight sum stays within 1 - rate.
    # Weights were just renormalised, so they sum to 1.
    before = torch.cumsum(w_sorted, 0) - w_sorted  # weight of the lighter samples
    first = int(((1.0 - rate) - before > 0).sum())
    if first >= len(w_sorted):
        return torch.zeros_like(weights, dtype=torch.bool)
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
    boost_type: str = "GAB",
    min_hit_rate: float = 0.995,
    max_false_alarm_rate: float = 0.5,
    weight_trim_rate: float = 0.95,
    max_depth: int = 1,
    max_weak_count: int = 100,
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
        Where the split search runs (array input only).
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
    if not isinstance(features, FeatureValues):
        from ..estimators._device import resolve_device

        features = FeatureValues.from_array(
            features, categorical=categorical, device=resolve_device(device)
        )
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

    dev = features.device
    n = features.n_samples
    labels_t = torch.as_tensor(labels_np.astype(np.int64), device=dev)
    y = (2 * labels_t - 1).to(torch.float64)  # orig_response in {-1, 1}
    kind = {"DAB": "misclass", "RAB": "gini"}.get(boost_type, "reg")
    weights = torch.full((n,), 1.0 / n, dtype=torch.float64, device=dev)
    # Regression targets are float32 in OpenCV (responses_copy).
    responses = None
    if boost_type == "GAB":
        responses = y.float().double()
    elif boost_type == "LB":
        responses = (2.0 * y).float().double()
        sum_response = torch.zeros(n, dtype=torch.float64, device=dev)
    active = torch.ones(n, dtype=torch.bool, device=dev)
    stage_sum = torch.zeros(n, dtype=torch.float64, device=dev)
    trees: list[BoostedTree] = []
    result = BoostedStage(trees=trees, threshold=float("nan"))
    emit = progress or (lambda line: None)
    for line in ("+----+---------+---------+", "|  N |    HR   |    FA   |"):
        emit(line)
    emit("+----+---------+---------+")
    while True:
        tree, weak_eval = _grow_tree(
            features, kind, boost_type, weights, labels_t, responses, active, max_depth
        )
        if tree is None:
            break
        trees.append(tree)
        predicted = tree.predict(features)
        # Trimmed-out samples did not reach the tree's leaves in training.
        weak_eval = torch.where(active, weak_eval, predicted)
        if boost_type == "DAB":
            w_sum = float(weights.sum())
            err = float((weights * (weak_eval != y)).sum())
            if w_sum != 0:
                err /= w_sum
            c = -_log_ratio(err)
            weights = weights * torch.where(weak_eval != y, math.exp(c), 1.0)
            tree.leaf_values = tree.leaf_values * c
            predicted = predicted * c
        elif boost_type in ("RAB", "GAB"):
            weights = weights * torch.exp(-y * weak_eval)
        else:
            sum_response = sum_response + 0.5 * weak_eval
            p = 1.0 / (1.0 + torch.exp(-2.0 * sum_response))
            weights = torch.clamp(p * (1 - p), min=_LB_WEIGHT_FLOOR)
            z = torch.where(
                y > 0,
                torch.clamp(1.0 / p, max=_LB_Z_MAX),
                -torch.clamp(1.0 / (1 - p), max=_LB_Z_MAX),
            )
            responses = z.float().double()
        w_sum = float(weights.sum())
        if w_sum > _FLT_EPSILON:
            weights = weights / w_sum
        active = _trim(weights, weight_trim_rate)
        stage_sum += predicted
        if not bool(active.any()):
            break
        threshold, hit_rate, false_alarm = stage_threshold(
            stage_sum.cpu().numpy(), labels_np, min_hit_rate
        )
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
