"""Haar-like and LBP feature tables, enumerated exactly as ``opencv_traincascade`` does.

A feature table is a small frozen record of numpy arrays. Its row ``i`` is the feature
that ``opencv_traincascade`` numbers ``i`` for the same window size and mode, so indices
(and the ``stageN.xml`` files that store them) are comparable with OpenCV's.

* :class:`HaarFeatures`: two or three weighted rectangles, upright or rotated by 45
  degrees (``mode="ALL"``). ``mode="BASIC"`` has the Viola-Jones edge, line and
  chequerboard features, ``"CORE"`` adds the 4-wide lines and the centre-surround
  feature, ``"ALL"`` adds the tilted versions. Every feature sums to zero on a flat patch
  except the upright three-rectangle lines ``x3`` and ``y3``: ``opencv_traincascade``
  weights their middle third ``+2``, not ``+3`` (``CvHaarEvaluator::generateFeatures``;
  the tilted ones have ``+3``), and so does this table, to train the same cascades.
* :class:`LBPFeatures`: a 3x3 block of equal cells; its value is the 8-bit local binary
  pattern of the cell sums (bit 128 top-left, then clockwise, a bit set when that cell's
  sum is ``>=`` the centre's).

:meth:`HaarFeatures.evaluate` / :meth:`LBPFeatures.evaluate` compute the values of any
subset of features on a batch of training samples in PyTorch, vectorised and chunked,
on the batch's device, with OpenCV's training normalisation. The cascade detector's
evaluation (a different normalisation) lives in :mod:`fer_toolkit.cascade.model`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..utils.validation import InputError
from .integral import IntegralBatch

__all__ = ["HaarFeatures", "LBPFeatures", "haar_features", "lbp_features", "make_features"]

FEATURE_TYPES = ("HAAR", "LBP")
HAAR_MODES = ("BASIC", "CORE", "ALL")

#: Default memory budget of one block of work arrays, in bytes.
DEFAULT_MAX_BYTES = 256 * 2**20

# Haar prototypes in OpenCV's order. A coordinate is (a, b, c, d) meaning
# a*x + b*y + c*dx + d*dy; each rectangle is (x, y, w, h, weight), the first one being
# the whole feature. Prototypes with the same anchor (x, y, dx, dy) follow this order.
_X, _Y, _DX, _DY = (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)


def _lin(*terms):
    return tuple(sum(k * t[i] for k, t in terms) for i in range(4))


_HAAR_PROTOTYPES = (
    # (first mode, tilted, rectangles)
    (
        "BASIC",
        False,
        ((_X, _Y, _lin((2, _DX)), _DY, -1), (_lin((1, _X), (1, _DX)), _Y, _DX, _DY, 2)),
    ),
    (
        "BASIC",
        False,
        ((_X, _Y, _DX, _lin((2, _DY)), -1), (_X, _lin((1, _Y), (1, _DY)), _DX, _DY, 2)),
    ),
    (
        "BASIC",
        False,
        ((_X, _Y, _lin((3, _DX)), _DY, -1), (_lin((1, _X), (1, _DX)), _Y, _DX, _DY, 2)),
    ),
    (
        "BASIC",
        False,
        ((_X, _Y, _DX, _lin((3, _DY)), -1), (_X, _lin((1, _Y), (1, _DY)), _DX, _DY, 2)),
    ),
    (
        "CORE",
        False,
        ((_X, _Y, _lin((4, _DX)), _DY, -1), (_lin((1, _X), (1, _DX)), _Y, _lin((2, _DX)), _DY, 2)),
    ),
    (
        "CORE",
        False,
        ((_X, _Y, _DX, _lin((4, _DY)), -1), (_X, _lin((1, _Y), (1, _DY)), _DX, _lin((2, _DY)), 2)),
    ),
    (
        "BASIC",
        False,
        (
            (_X, _Y, _lin((2, _DX)), _lin((2, _DY)), -1),
            (_X, _Y, _DX, _DY, 2),
            (_lin((1, _X), (1, _DX)), _lin((1, _Y), (1, _DY)), _DX, _DY, 2),
        ),
    ),
    (
        "CORE",
        False,
        (
            (_X, _Y, _lin((3, _DX)), _lin((3, _DY)), -1),
            (_lin((1, _X), (1, _DX)), _lin((1, _Y), (1, _DY)), _DX, _DY, 9),
        ),
    ),
    ("ALL", True, ((_X, _Y, _lin((2, _DX)), _DY, -1), (_X, _Y, _DX, _DY, 2))),
    ("ALL", True, ((_X, _Y, _DX, _lin((2, _DY)), -1), (_X, _Y, _DX, _DY, 2))),
    (
        "ALL",
        True,
        (
            (_X, _Y, _lin((3, _DX)), _DY, -1),
            (_lin((1, _X), (1, _DX)), _lin((1, _Y), (1, _DX)), _DX, _DY, 3),
        ),
    ),
    (
        "ALL",
        True,
        (
            (_X, _Y, _DX, _lin((3, _DY)), -1),
            (_lin((1, _X), (-1, _DY)), _lin((1, _Y), (1, _DY)), _DX, _DY, 3),
        ),
    ),
    (
        "ALL",
        True,
        (
            (_X, _Y, _lin((4, _DX)), _DY, -1),
            (_lin((1, _X), (1, _DX)), _lin((1, _Y), (1, _DX)), _lin((2, _DX)), _DY, 2),
        ),
    ),
    (
        "ALL",
        True,
        (
            (_X, _Y, _DX, _lin((4, _DY)), -1),
            (_lin((1, _X), (-1, _DY)), _lin((1, _Y), (1, _DY)), _DX, _lin((2, _DY)), 2),
        ),
    ),
)


def _check_window(width, height) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 3:
            raise InputError(f"{name} must be an int >= 3; got {value!r}.")
    return int(width), int(height)


def _haar_fits(rects: np.ndarray, tilted: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which rectangles ``(..., 4)`` lie inside a ``width x height`` window (vectorised).

    An upright rectangle ``(x, y, w, h)`` spans ``[x, x+w] x [y, y+h]``; a tilted one
    spans ``[x-h, x+w] x [y, y+w+h]`` (the corners of :data:`CV_TILTED_OFFSETS`).
    """
    x, y, w, h = np.moveaxis(rects.astype(np.int64), -1, 0)
    t = tilted[:, None] if rects.ndim == 3 else tilted
    left = np.where(t, x - h, x)
    right = x + w
    bottom = np.where(t, y + w + h, y + h)
    return (left >= 0) & (y >= 0) & (right <= width) & (bottom <= height) & (w >= 0) & (h >= 0)


def _check_max_bytes(max_bytes) -> None:
    if not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0:
        raise InputError(f"max_bytes must be a positive int; got {max_bytes!r}.")


def _blocks(n: int, k: int, bytes_per_item: int, max_bytes: int):
    """Yield (row slice, column slice) blocks of an ``n x k`` job within ``max_bytes``."""
    _check_max_bytes(max_bytes)
    kc = int(min(k, max(1, max_bytes // (bytes_per_item * max(n, 1)))))
    nc = int(min(n, max(1, max_bytes // (bytes_per_item * kc))))
    for k0 in range(0, k, kc):
        for n0 in range(0, n, nc):
            yield slice(n0, min(n, n0 + nc)), slice(k0, min(k, k0 + kc))


def _for_last_batch(prepare):
    """``prepare(batch)``, computed again only for another batch than the last one (the
    trainer evaluates a stage's batch block by block)."""
    last = [None, None]

    def prepared(batch):
        if last[0] is not batch:
            last[:] = batch, prepare(batch)
        return last[1]

    return prepared


class _FeatureTable:
    """Machinery shared by the Haar and LBP tables.

    A feature is described by the flat offsets of its corners in an integral table
    (``_offsets``). Two evaluation strategies use that one description:

    * many features on a few training samples (:meth:`evaluate`): the linear part of
      every feature (rectangle or cell sums) is a sparse matrix over the integral
      tables, applied to all samples at once (a compiled loop on the CPU, a sparse-dense
      product in PyTorch on a CUDA device);
    * a few features at many windows of an image (:meth:`window_values`): gather the
      corners of each window (the cascade's own evaluation is compiled, in
      :class:`~fer_toolkit.cascade.Cascade`).
    """

    feature_type: ClassVar[str]
    _fields: ClassVar[tuple[str, ...]]
    #: Linear outputs per feature (Haar: the weighted sum; LBP: the 9 cell sums).
    _outputs: ClassVar[int]
    #: Corners per feature, and how each linear output combines them.
    _corner_coefs: ClassVar[np.ndarray]

    def __len__(self) -> int:
        return len(self.rects)

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(np.array_equal(getattr(self, f), getattr(other, f)) for f in self._fields)

    __hash__ = None

    def take(self, idx):
        """Return the sub-table of rows ``idx`` (any numpy index), in that order."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"feature index out of range for a table of {len(self)} features.")
        return type(self)(**{name: getattr(self, name)[idx] for name in self._fields})

    def check_window(self, width: int, height: int) -> None:
        """Raise ``ValueError`` naming the first feature that leaves a ``width x height`` window."""
        self._checked(width, height)

    def _checked(self, width: int, height: int, idx=None):
        """Rows ``idx`` (all when None) as a table, after checking they fit the window."""
        table = self if idx is None else self.take(idx)
        fits = table._fits(width, height)
        if not fits.all():
            i = int(np.flatnonzero(~fits)[0])
            name = i if idx is None else int(np.arange(len(self))[np.asarray(idx)].ravel()[i])
            raise InputError(
                f"{self.feature_type} feature {name} ({table._describe(i)}) does not fit a "
                f"{width}x{height} window."
            )
        return table

    def _coefs(self) -> np.ndarray:
        """Coefficient of each corner in each linear output, ``(k, outputs, corners)``."""
        return np.broadcast_to(self._corner_coefs, (len(self), *self._corner_coefs.shape))

    def window_values(
        self,
        planes: np.ndarray,
        bases: np.ndarray,
        stride: int,
        tilted_offset: int = 0,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> np.ndarray:
        """Evaluate the table at many windows of flattened integral tables (numpy).

        Parameters
        ----------
        planes : ndarray of shape (m,), integer dtype
            Flattened integral tables; the tilted table (Haar ``ALL`` only) starts
            ``tilted_offset`` elements after the sum table it belongs to.
        bases : ndarray of shape (n,), integer dtype
            Offset of each window's top-left table entry in ``planes``.
        stride : int
            Row length of the tables (image width + 1).
        tilted_offset : int, default=0
            Distance from the sum table to the tilted table.
        max_bytes : int, default=256 MiB
            Memory budget of one block of work arrays.

        Returns
        -------
        values : ndarray of shape (n, len(self)), dtype float32
            Haar: the weighted rectangle sums, not normalised, computed in float32 in
            OpenCV's order. LBP: the codes 0-255.
        """
        offsets = self._offsets(int(stride), int(tilted_offset)).reshape(len(self), -1)
        bases = np.asarray(bases, dtype=np.int64)
        out = np.empty((len(bases), len(self)), dtype=np.float32)
        for rows, cols in _blocks(len(bases), len(self), 3 * 8 * offsets.shape[1], max_bytes):
            index = bases[rows, None] + offsets[cols].reshape(1, -1)
            gathered = np.take(planes, index).reshape(len(index), cols.stop - cols.start, -1)
            out[rows, cols] = self._from_corners(gathered, cols)
        return out

    def _linear_map(self, stride: int, tilted_offset: int):
        """CSR arrays of the sparse ``(k * outputs, planes)`` matrix of linear outputs.

        Duplicate corners of an output are merged and zero coefficients dropped.
        """
        coefs = self._coefs()
        offsets = np.broadcast_to(
            self._offsets(stride, tilted_offset).reshape(len(self), 1, -1), coefs.shape
        ).reshape(-1, coefs.shape[-1])
        coefs = coefs.reshape(offsets.shape)
        order = np.argsort(offsets, axis=1, kind="stable")
        offsets = np.take_along_axis(offsets, order, 1)
        coefs = np.take_along_axis(coefs, order, 1)
        # Row by row the offsets now ascend, so (row, offset) keys ascend overall.
        rows = np.repeat(np.arange(len(offsets)), offsets.shape[1])
        keys = rows * (int(offsets.max(initial=0)) + 1) + offsets.ravel()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        values = np.add.reduceat(coefs.ravel().astype(np.float64), starts)
        keep = values != 0
        rows, cols, values = rows[starts][keep], offsets.ravel()[starts][keep], values[keep]
        crow = np.searchsorted(rows, np.arange(len(offsets) + 1))
        return crow, cols, values

    def _tables(self, batch: IntegralBatch) -> list:
        """The batch's integral tables the features read, each ``(n, plane)``."""
        width, height = batch.window
        n, plane = len(batch), (width + 1) * (height + 1)
        tables = [batch.sum.reshape(n, plane)]
        if self.feature_type == "HAAR" and self.tilted.any():
            if batch.tilted is None:
                raise InputError(
                    "the features include tilted ones; build the batch with "
                    "integral_batch(..., tilted=True)."
                )
            tables.append(batch.tilted.reshape(n, plane))
        return tables

    @staticmethod
    def _exact_in_float32(width, height, crow, coefs) -> bool:
        """Whether every partial sum of the linear map is an integer below 2**24."""
        bound = 255 * width * height * np.abs(coefs).max(initial=0) * np.diff(crow).max(initial=0)
        return bool(bound < 2**24 and (np.round(coefs) == coefs).all())

    def _sample_outputs_torch(self, batch: IntegralBatch, max_bytes: int, out):
        """Yield (feature slice, linear outputs ``(kc * outputs, n)``) over the whole table.

        PyTorch, for a batch on another device than the CPU: a sparse-dense product
        there. The outputs are written into ``out`` (Haar only, ``(k, n)`` float32).
        """
        import torch

        width, height = batch.window
        n, plane = len(batch), (width + 1) * (height + 1)
        tables = self._tables(batch)
        crow, cols, coefs = self._linear_map(width + 1, plane)
        exact = self._exact_in_float32(width, height, crow, coefs)
        dtype = torch.float32 if exact else torch.float64
        device = batch.sum.device
        dense = torch.cat(tables, 1).T.to(dtype).contiguous()
        for _, feats in _blocks(1, len(self), 8 * self._outputs * n, max_bytes):
            r0, r1 = feats.start * self._outputs, feats.stop * self._outputs
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
                matrix = torch.sparse_csr_tensor(
                    torch.from_numpy(crow[r0 : r1 + 1] - crow[r0]).to(device),
                    torch.from_numpy(cols[crow[r0] : crow[r1]]).to(device),
                    torch.from_numpy(coefs[crow[r0] : crow[r1]]).to(device, dtype),
                    size=(r1 - r0, dense.shape[0]),
                    check_invariants=False,
                )
            yield feats, out[feats].copy_(torch.mm(matrix, dense))


@dataclass(frozen=True, eq=False)
class HaarFeatures(_FeatureTable):
    """A table of Haar-like features.

    Attributes
    ----------
    rects : ndarray of shape (k, 3, 4), dtype int32
        ``(x, y, w, h)`` of each feature's rectangles; the first is the whole feature.
        Two-rectangle features have an all-zero third row.
    weights : ndarray of shape (k, 3), dtype float32
        Weight of each rectangle (0 for an unused third rectangle).
    tilted : ndarray of shape (k,), dtype bool
        Whether the rectangles are rotated by 45 degrees (sums come from the tilted
        integral image).

    Examples
    --------
    >>> from fer_toolkit.cascade.features import haar_features
    >>> table = haar_features(24, 24, "BASIC")
    >>> len(table)
    162336
    >>> table.rects[0].tolist(), table.weights[0].tolist()
    ([[0, 0, 2, 1], [1, 0, 1, 1], [0, 0, 0, 0]], [-1.0, 2.0, 0.0])
    """

    rects: np.ndarray
    weights: np.ndarray
    tilted: np.ndarray

    feature_type: ClassVar[str] = "HAAR"
    _fields: ClassVar[tuple[str, ...]] = ("rects", "weights", "tilted")
    _outputs: ClassVar[int] = 1
    _corner_coefs: ClassVar[np.ndarray] = np.array([[1.0, -1.0, -1.0, 1.0] * 3])

    def __post_init__(self):
        rects = np.asarray(self.rects)
        weights = np.asarray(self.weights)
        tilted = np.asarray(self.tilted)
        k = rects.shape[0] if rects.ndim else 0
        if rects.shape != (k, 3, 4) or weights.shape != (k, 3) or tilted.shape != (k,):
            raise InputError(
                "HaarFeatures needs rects (k, 3, 4), weights (k, 3) and tilted (k,); got "
                f"{rects.shape}, {weights.shape} and {tilted.shape}."
            )
        object.__setattr__(self, "rects", rects.astype(np.int32))
        object.__setattr__(self, "weights", weights.astype(np.float32))
        object.__setattr__(self, "tilted", tilted.astype(bool))

    def _fits(self, width: int, height: int) -> np.ndarray:
        unused = self.weights == 0
        return (_haar_fits(self.rects, self.tilted, width, height) | unused).all(axis=1)

    def _describe(self, i: int) -> str:
        rects = self.rects[i][self.weights[i] != 0].tolist()
        return f"rects {rects}, tilted={bool(self.tilted[i])}"

    def _corners(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns ``(k, 3, 4)`` (int64) of each rectangle's corners
        ``p0, p1, p2, p3``; a rectangle sum is ``T[p0] - T[p1] - T[p2] + T[p3]``.

        Upright ``(x, y, w, h)``: ``(x, y), (x + w, y), (x, y + h), (x + w, y + h)``;
        tilted: ``(x, y), (x - h, y + h), (x + w, y + w), (x + w - h, y + w + h)``
        (OpenCV's ``CV_SUM_OFFSETS`` / ``CV_TILTED_OFFSETS``).
        """
        x, y, w, h = np.moveaxis(self.rects.astype(np.int64), -1, 0)
        t = self.tilted[:, None, None]
        px = np.where(
            t, np.stack([x, x - h, x + w, x + w - h], -1), np.stack([x, x + w, x, x + w], -1)
        )
        py = np.where(
            t, np.stack([y, y + h, y + w, y + w + h], -1), np.stack([y, y, y + h, y + h], -1)
        )
        return py, px

    def _offsets(self, stride: int, tilted_offset: int) -> np.ndarray:
        """Flat offsets ``(k, 3, 4)`` of each rectangle's corners (:meth:`_corners`), the
        tilted ones shifted by ``tilted_offset``."""
        rows, cols = self._corners()
        return cols + stride * rows + np.where(self.tilted[:, None, None], tilted_offset, 0)

    def _coefs(self) -> np.ndarray:
        return (self._corner_coefs.reshape(1, 3, 4) * self.weights[:, :, None]).reshape(-1, 1, 12)

    def _from_corners(self, gathered: np.ndarray, cols: slice) -> np.ndarray:
        corners = gathered.reshape(*gathered.shape[:2], 3, 4)
        sums = corners[..., 0] - corners[..., 1] - corners[..., 2] + corners[..., 3]
        terms = sums.astype(np.float32) * self.weights[cols]
        # OpenCV's float arithmetic and order: (w0 * s0 + w1 * s1) + w2 * s2.
        return (terms[..., 0] + terms[..., 1]) + terms[..., 2]

    def evaluate(
        self,
        batch: IntegralBatch,
        idx=None,
        *,
        normalize: bool = True,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> np.ndarray:
        """Feature values of a batch of training samples, as ``opencv_traincascade`` computes.

        Parameters
        ----------
        batch : IntegralBatch
            From :func:`~fer_toolkit.cascade.integral_batch` (with
            ``tilted=True`` when the table has tilted features).
        idx : array-like of int or None, default=None
            Features to evaluate (all when None).
        normalize : bool, default=True
            Divide by the batch's training normalisation ``batch.norm`` (value 0 where the
            norm is 0, as OpenCV does). False gives the raw weighted rectangle sums.
        max_bytes : int, default=256 MiB
            Memory budget of one block of work arrays (the result itself excluded) for a
            batch on a CUDA device; on the CPU a compiled loop needs none.

        Returns
        -------
        values : ndarray of shape (n, k), dtype float32
            A transposed view of a feature-major ``(k, n)`` buffer: each feature's values
            over the samples are contiguous (what sorting per feature wants); call
            ``np.ascontiguousarray`` for a sample-major copy. For a batch of PyTorch
            tensors (``integral_batch(..., device="cuda")``) a tensor on its device.

        Raises
        ------
        ValueError
            If a feature does not fit the batch's window, or the batch lacks the tilted
            tables a tilted feature needs.

        Examples
        --------
        >>> import numpy as np
        >>> from fer_toolkit.cascade.features import haar_features
        >>> from fer_toolkit.cascade.integral import integral_batch
        >>> samples = np.zeros((1, 6, 6), dtype=np.uint8)
        >>> samples[0, :, 3:] = 200  # a vertical edge
        >>> table = haar_features(6, 6)
        >>> values = table.evaluate(integral_batch(samples), normalize=False)
        >>> values.shape, float(np.abs(values).max())
        ((1, 669), 3600.0)
        """
        table = self._checked(*batch.window, idx)
        if not isinstance(batch.sum, np.ndarray):
            return table._evaluate_torch(batch, normalize, max_bytes)
        _check_max_bytes(max_bytes)
        return table._values_of(*batch.window, normalize=normalize)(batch, None).T

    def _values_of(self, width: int, height: int, *, normalize: bool = True):
        """``values(batch, idx, out=None)``: :meth:`evaluate`'s values of features ``idx``
        (all when None) on a CPU batch, feature-major ``(k, n)`` float32, written into
        ``out`` when given (C-contiguous).

        The linear map is built once for the whole table, so a caller evaluating it
        block by block, every stage (the cascade trainer), pays for it once. The
        caller has checked that the features fit the ``width x height`` window.
        """
        from . import _kernels  # the compiled loops: imported on first use

        crow, cols, coefs = self._linear_map(width + 1, (width + 1) * (height + 1))
        dtype = np.float32 if self._exact_in_float32(width, height, crow, coefs) else np.float64
        coefs = coefs.astype(dtype)
        # Samples last: each corner of the integral tables is one contiguous run.
        samples_last = _for_last_batch(
            lambda batch: np.concatenate(self._tables(batch), 1).T.astype(dtype, order="C")
        )

        def values(batch: IntegralBatch, idx, out=None) -> np.ndarray:
            feats = np.arange(len(self)) if idx is None else np.asarray(idx, dtype=np.int64)
            planes = samples_last(batch)
            if out is None:
                out = np.empty((len(feats), len(batch)), dtype=np.float32)
            _kernels.haar_values(planes, crow, cols, coefs, feats, batch.norm, normalize, out)
            return out

        return values

    def _evaluate_torch(self, batch: IntegralBatch, normalize: bool, max_bytes: int):
        """:meth:`evaluate` of a batch of PyTorch tensors (on a CUDA device)."""
        import torch

        out = torch.empty((len(self), len(batch)), dtype=torch.float32, device=batch.sum.device)
        flat = batch.norm == 0
        safe = torch.where(flat, 1.0, batch.norm)
        for _, values in self._sample_outputs_torch(batch, max_bytes, out):
            if normalize:
                values.div_(safe)
        if normalize and flat.any():
            out[:, flat] = 0.0
        return out.T


@dataclass(frozen=True, eq=False)
class LBPFeatures(_FeatureTable):
    """A table of multi-block LBP features.

    Attributes
    ----------
    rects : ndarray of shape (k, 4), dtype int32
        ``(x, y, w, h)`` of each feature's top-left cell; the feature covers the
        ``3w x 3h`` block of 3x3 such cells.

    Examples
    --------
    >>> from fer_toolkit.cascade.features import lbp_features
    >>> table = lbp_features(24, 24)
    >>> len(table), table.rects[:2].tolist()
    (8464, [[0, 0, 1, 1], [0, 0, 1, 2]])
    """

    rects: np.ndarray

    feature_type: ClassVar[str] = "LBP"
    _fields: ClassVar[tuple[str, ...]] = ("rects",)
    _outputs: ClassVar[int] = 9

    #: Code bit of each cell of the 3x3 block, row by row (the centre has none).
    CELL_BITS: ClassVar[np.ndarray] = np.array([128, 64, 32, 1, 0, 16, 2, 4, 8])

    def __post_init__(self):
        rects = np.asarray(self.rects)
        if rects.ndim != 2 or rects.shape[1] != 4:
            raise InputError(f"LBPFeatures needs rects of shape (k, 4); got {rects.shape}.")
        object.__setattr__(self, "rects", rects.astype(np.int32))

    def _fits(self, width: int, height: int) -> np.ndarray:
        x, y, w, h = self.rects.T.astype(np.int64)
        fits = (x >= 0) & (y >= 0) & (w > 0) & (h > 0) & (x + 3 * w <= width)
        return fits & (y + 3 * h <= height)

    def _describe(self, i: int) -> str:
        return f"cell {self.rects[i].tolist()}"

    def _corners(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns ``(k, 4, 4)`` (int64) of the 4x4 grid of cell corners: corner
        ``(i, j)`` at ``(x + j * w, y + i * h)``."""
        x, y, w, h = self.rects.T.astype(np.int64)
        steps = np.arange(4)
        px = x[:, None, None] + w[:, None, None] * steps[None, None, :]
        py = y[:, None, None] + h[:, None, None] * steps[None, :, None]
        rows, cols = np.broadcast_arrays(py, px)
        return rows, cols

    def _offsets(self, stride: int, tilted_offset: int) -> np.ndarray:
        """Flat offsets ``(k, 16)`` of the 4x4 grid of cell corners, row by row."""
        rows, cols = self._corners()
        return (cols + stride * rows).reshape(len(self), 16)

    @staticmethod
    def _cell_coefs() -> np.ndarray:
        """``(9, 16)``: cell (r, c) = p[r, c] - p[r, c+1] - p[r+1, c] + p[r+1, c+1]."""
        coefs = np.zeros((3, 3, 4, 4))
        for r in range(3):
            for c in range(3):
                coefs[r, c, r : r + 2, c : c + 2] = [[1, -1], [-1, 1]]
        return coefs.reshape(9, 16)

    def _codes(self, cells, axis: int):
        """Float32 LBP codes from cell sums along ``axis`` (row by row)."""
        bits = self.CELL_BITS.astype(np.float32)
        above = (cells >= np.take(cells, [4], axis=axis)).astype(np.float32)
        return np.tensordot(above, bits, ([axis], [0]))

    def _from_corners(self, gathered: np.ndarray, cols: slice) -> np.ndarray:
        grid = gathered.reshape(*gathered.shape[:2], 4, 4)
        cells = grid[..., :-1, :-1] - grid[..., :-1, 1:] - grid[..., 1:, :-1] + grid[..., 1:, 1:]
        return self._codes(cells.reshape(*cells.shape[:2], 9), -1)

    def evaluate(
        self,
        batch: IntegralBatch,
        idx=None,
    ) -> np.ndarray:
        """LBP codes (0-255, as float32) of a batch of training samples.

        Parameters
        ----------
        batch : IntegralBatch
        idx : array-like of int or None, default=None
            Features to evaluate (all when None).

        Returns
        -------
        codes : ndarray of shape (n, k), dtype float32
            A transposed view of a feature-major buffer (a tensor for a batch on a
            CUDA device), as for
            :meth:`HaarFeatures.evaluate`.

        Examples
        --------
        >>> import numpy as np
        >>> from fer_toolkit.cascade.features import lbp_features
        >>> from fer_toolkit.cascade.integral import integral_batch
        >>> samples = np.zeros((1, 3, 3), dtype=np.uint8)
        >>> samples[0, 0] = 9  # top row brighter than the centre
        >>> lbp_features(3, 3).evaluate(integral_batch(samples)).tolist()
        [[255.0]]
        """
        table = self._checked(*batch.window, idx)
        if isinstance(batch.sum, np.ndarray):
            return table._values_of(*batch.window)(batch, None).T
        import torch  # the batch is on a CUDA device: codes on the CPU, returned there

        cpu = IntegralBatch(batch.sum.cpu().numpy(), None, batch.norm.cpu().numpy())
        out = table._values_of(*batch.window)(cpu, None)
        return torch.from_numpy(out).to(batch.sum.device).T

    def _values_of(self, width: int, height: int):
        """``values(batch, idx, out=None)``: :meth:`evaluate`'s codes of features ``idx``
        (all when None) on a CPU batch, feature-major ``(k, n)`` float32, or written into
        ``out`` when given (C-contiguous, uint8 or float32); the caller has checked that
        the features fit the ``width x height`` window."""
        from . import _kernels  # the compiled loops: imported on first use

        bits = self.CELL_BITS.astype(np.int64)
        # Samples last: each corner of the integral images is one contiguous run.
        samples_last = _for_last_batch(
            lambda batch: np.ascontiguousarray(batch.sum.transpose(1, 2, 0), dtype=np.int32)
        )

        def values(batch: IntegralBatch, idx, out=None) -> np.ndarray:
            rects = self.rects if idx is None else self.rects[np.asarray(idx, dtype=np.int64)]
            sums = samples_last(batch)
            if out is None:
                out = np.empty((len(rects), len(batch)), dtype=np.float32)
            # Integer cell sums compared with the centre's, as OpenCV (exact).
            _kernels.lbp_codes(sums, rects, bits, out)
            return out

        return values


LBPFeatures._corner_coefs = LBPFeatures._cell_coefs()


def haar_features(width: int, height: int, mode: str = "BASIC") -> HaarFeatures:
    """Enumerate the Haar features of a ``width x height`` window in OpenCV's order.

    The order is that of ``CvHaarEvaluator::generateFeatures``: loops over ``x``, ``y``,
    ``dx``, ``dy`` (outermost first), and for each anchor the prototypes ``x2, y2, x3,
    y3, [x4, y4], x2_y2, [centre], [tilted x2, y2, x3, y3, x4, y4]``.

    Parameters
    ----------
    width, height : int
        Window size in pixels (``-w``, ``-h``), at least 3.
    mode : {"BASIC", "CORE", "ALL"}, default="BASIC"

    Returns
    -------
    HaarFeatures

    Examples
    --------
    >>> from fer_toolkit.cascade.features import haar_features
    >>> [len(haar_features(24, 24, m)) for m in ("BASIC", "CORE", "ALL")]
    [162336, 210400, 261600]
    """
    width, height = _check_window(width, height)
    if mode not in HAAR_MODES:
        raise InputError(f"mode must be one of {HAAR_MODES}; got {mode!r}.")
    level = HAAR_MODES.index(mode)
    anchor = np.stack(
        np.meshgrid(
            np.arange(width),
            np.arange(height),
            np.arange(1, width + 1),
            np.arange(1, height + 1),
            indexing="ij",
        )
    ).reshape(4, -1)
    n_protos = len(_HAAR_PROTOTYPES)
    keys, rects, weights, tilted = [], [], [], []
    for p, (first_mode, is_tilted, proto) in enumerate(_HAAR_PROTOTYPES):
        if HAAR_MODES.index(first_mode) > level:
            continue
        coeffs = np.array([r[:4] for r in proto], dtype=np.int64)  # (r, 4 coords, 4 terms)
        coords = np.einsum("rct,tn->nrc", coeffs, anchor)  # (n, r, 4)
        whole = coords[:, 0]
        keep = _haar_fits(whole, np.full(len(whole), is_tilted), width, height)
        block = np.zeros((int(keep.sum()), 3, 4), dtype=np.int32)
        block[:, : len(proto)] = coords[keep]
        keys.append(np.flatnonzero(keep) * n_protos + p)
        rects.append(block)
        weights.append(
            np.broadcast_to([r[4] for r in proto] + [0] * (3 - len(proto)), (len(block), 3))
        )
        tilted.append(np.full(len(block), is_tilted))
    order = np.argsort(np.concatenate(keys), kind="stable")
    return HaarFeatures(
        rects=np.concatenate(rects)[order],
        weights=np.concatenate(weights)[order],
        tilted=np.concatenate(tilted)[order],
    )


def lbp_features(width: int, height: int) -> LBPFeatures:
    """Enumerate the LBP features of a ``width x height`` window in OpenCV's order.

    ``CvLBPEvaluator::generateFeatures``: every cell size ``w x h`` (``w <= width / 3``,
    ``h <= height / 3``) at every position ``(x, y)`` where the 3x3 block fits, looping
    over ``x``, ``y``, ``w``, ``h`` (outermost first).

    Parameters
    ----------
    width, height : int
        Window size in pixels, at least 3.

    Returns
    -------
    LBPFeatures

    Examples
    --------
    >>> from fer_toolkit.cascade.features import lbp_features
    >>> len(lbp_features(20, 20))
    3969
    """
    width, height = _check_window(width, height)
    x, y, w, h = np.meshgrid(
        np.arange(width),
        np.arange(height),
        np.arange(1, width // 3 + 1),
        np.arange(1, height // 3 + 1),
        indexing="ij",
    )
    keep = (x + 3 * w <= width) & (y + 3 * h <= height)
    return LBPFeatures(rects=np.stack([x[keep], y[keep], w[keep], h[keep]], axis=1))


def make_features(
    feature_type: str, width: int, height: int, mode: str = "BASIC"
) -> HaarFeatures | LBPFeatures:
    """Return the full feature table for ``-featureType``, ``-w``, ``-h`` and ``-mode``.

    Parameters
    ----------
    feature_type : {"HAAR", "LBP"}
    width, height : int
    mode : {"BASIC", "CORE", "ALL"}, default="BASIC"
        Haar only; ignored for LBP.

    Examples
    --------
    >>> from fer_toolkit.cascade.features import make_features
    >>> len(make_features("HAAR", 20, 20, "ALL")), len(make_features("LBP", 24, 24))
    (125199, 8464)
    """
    if feature_type == "HAAR":
        return haar_features(width, height, mode)
    if feature_type == "LBP":
        return lbp_features(width, height)
    raise InputError(f"feature_type must be one of {FEATURE_TYPES}; got {feature_type!r}.")
