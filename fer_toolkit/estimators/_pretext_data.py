"""Self-supervised labels made on the fly: rotated images and jigsaw puzzles, on the batch's device.

Rotation prediction (Gidaris et al., ICLR 2018): every image is rotated by
``k * 90`` degrees counter-clockwise as seen on screen (the direction of
``torch.rot90(x, k, dims=(-2, -1))``), ``k`` drawn uniformly from {0, 1, 2, 3},
and ``k`` is its label.

Jigsaw puzzles (Noroozi & Favaro, ECCV 2016): the central ``3*cell`` square of
every image is cut into a 3x3 grid of cells, numbered 0-8 in row-major order
(0 top-left, 2 top-right, 8 bottom-right). From every cell a tile of
``tile_crop`` of the cell's side is cropped at a random offset, so neighbouring
tiles do not share edges that a network could match instead of learning what
faces look like. The nine tiles are shuffled by one permutation ``p`` of a
fixed set (:func:`~fer_toolkit.estimators.jigsaw_permutations`): position ``j`` of the puzzle shows
tile ``p[j]``; the permutation's index in the set is the label. Tiles are put
back in place by the inverse permutation ``argsort(p)`` (see
:func:`assemble_tiles`).

Everything is vectorised over the batch and draws its randomness from a
``torch.Generator`` on the batch's device: nothing returns to the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..utils.validation import InputError

__all__ = [
    "GRID",
    "N_ROTATIONS",
    "N_TILES",
    "JigsawGeometry",
    "assemble_tiles",
    "cut_tiles",
    "jigsaw_geometry",
    "random_jigsaw",
    "random_rotations",
    "rotate_batch",
]

N_ROTATIONS = 4
GRID = 3
N_TILES = GRID * GRID
#: Smallest tile side, in pixels, before any resizing.
MIN_TILE = 2


# ----------------------------------------------------------------- rotation
def rotate_batch(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate image ``i`` of ``x`` (``(N, C, S, S)``) by ``k[i] * 90`` degrees counter-clockwise."""
    n = x.shape[0]
    turns = torch.stack([torch.rot90(x, r, dims=(-2, -1)) for r in range(N_ROTATIONS)])
    return turns[k, torch.arange(n, device=x.device)]


def random_rotations(x: torch.Tensor, generator: torch.Generator | None):
    """``(rotated, k)``: every image turned by a random multiple of 90 degrees, and the multiple.

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.estimators._pretext_data import random_rotations
    >>> x = torch.arange(4.0).view(1, 1, 2, 2).repeat(3, 1, 1, 1)
    >>> rotated, k = random_rotations(x, torch.Generator().manual_seed(0))
    >>> all(torch.equal(rotated[i], torch.rot90(x[i], int(k[i]), (-2, -1))) for i in range(3))
    True
    """
    k = torch.randint(0, N_ROTATIONS, (x.shape[0],), generator=generator, device=x.device)
    return rotate_batch(x, k), k


# ------------------------------------------------------------------ jigsaw
@dataclass(frozen=True)
class JigsawGeometry:
    """Where the tiles of an ``height x width`` image come from (pixels).

    The 3x3 grid of ``cell_h x cell_w`` cells starts at ``(top, left)``; a
    tile is a ``tile_h x tile_w`` crop of its cell, offset by up to
    ``cell - tile`` pixels on each axis.
    """

    top: int
    left: int
    cell_h: int
    cell_w: int
    tile_h: int
    tile_w: int


def jigsaw_geometry(height: int, width: int, tile_crop: float) -> JigsawGeometry:
    """The grid and tile sizes for images of ``height x width``; ValueError if too small."""
    cell_h, cell_w = height // GRID, width // GRID
    tile_h, tile_w = math.floor(cell_h * tile_crop), math.floor(cell_w * tile_crop)
    if min(tile_h, tile_w) < MIN_TILE:
        needed = GRID * math.ceil(MIN_TILE / tile_crop)
        raise InputError(
            f"images of {height}x{width} pixels are too small for 3x3 jigsaw tiles: "
            f"tiles would be {tile_h}x{tile_w} pixels with tile_crop={tile_crop}; "
            f"need at least {needed}x{needed}."
        )
    return JigsawGeometry(
        top=(height - GRID * cell_h) // 2,
        left=(width - GRID * cell_w) // 2,
        cell_h=cell_h,
        cell_w=cell_w,
        tile_h=tile_h,
        tile_w=tile_w,
    )


def cut_tiles(x: torch.Tensor, geometry: JigsawGeometry, offsets: torch.Tensor) -> torch.Tensor:
    """The nine tiles of every image: ``(N, 9, C, tile_h, tile_w)``, cells in row-major order.

    ``offsets`` is ``(N, 9, 2)``: the (row, column) offset of each tile in its cell.
    """
    g = geometry
    device = x.device
    cell = torch.arange(N_TILES, device=device)
    cell_top = g.top + (cell // GRID) * g.cell_h  # (9,)
    cell_left = g.left + (cell % GRID) * g.cell_w
    rows = (cell_top + offsets[..., 0])[..., None] + torch.arange(g.tile_h, device=device)
    cols = (cell_left + offsets[..., 1])[..., None] + torch.arange(g.tile_w, device=device)
    batch = torch.arange(x.shape[0], device=device).view(-1, 1, 1, 1)
    # Advanced indices around the channel slice: the result is (N, 9, tile_h, tile_w, C).
    tiles = x[batch, :, rows[..., :, None], cols[..., None, :]]
    return tiles.permute(0, 1, 4, 2, 3)


def random_jigsaw(
    x: torch.Tensor,
    geometry: JigsawGeometry,
    permutations: torch.Tensor,
    generator: torch.Generator | None,
    tile_size: int | None = None,
):
    """``(puzzles, labels)`` for a batch ``x`` of shape ``(N, C, H, W)``.

    Parameters
    ----------
    x : torch.Tensor
        Float images.
    geometry : JigsawGeometry
        From :func:`jigsaw_geometry` for ``x``'s height and width.
    permutations : torch.Tensor of shape (P, 9), int64
        The permutation set, on ``x``'s device.
    generator : torch.Generator or None
        Source of the random offsets and permutation indices.
    tile_size : int or None, default=None
        Resize every tile to ``tile_size x tile_size`` (bilinear), for
        backbones that need larger inputs than the tiles are.

    Returns
    -------
    puzzles : torch.Tensor of shape (N, 9, C, h, w)
        ``puzzles[i, j]`` is tile ``permutations[labels[i], j]`` of image ``i``.
    labels : torch.Tensor of shape (N,), int64
        Index of each puzzle's permutation.

    Examples
    --------
    >>> import torch
    >>> from fer_toolkit.estimators._pretext_data import (
    ...     assemble_tiles, jigsaw_geometry, random_jigsaw)
    >>> from fer_toolkit.estimators import jigsaw_permutations
    >>> x = torch.rand(2, 1, 12, 12)
    >>> perms = torch.as_tensor(jigsaw_permutations(10))
    >>> puzzles, labels = random_jigsaw(x, jigsaw_geometry(12, 12, 1.0), perms, None)
    >>> puzzles.shape
    torch.Size([2, 9, 1, 4, 4])
    >>> torch.equal(assemble_tiles(puzzles, perms[labels]), x)
    True
    """
    n = x.shape[0]
    g = geometry
    high = torch.tensor([g.cell_h - g.tile_h + 1, g.cell_w - g.tile_w + 1], device=x.device)
    uniform = torch.rand((n, N_TILES, 2), generator=generator, device=x.device)
    offsets = (uniform * high).long().minimum(high - 1)
    labels = torch.randint(0, permutations.shape[0], (n,), generator=generator, device=x.device)
    tiles = cut_tiles(x, g, offsets)
    order = permutations[labels]  # (N, 9)
    puzzles = tiles[torch.arange(n, device=x.device)[:, None], order]
    if tile_size is not None and (g.tile_h, g.tile_w) != (tile_size, tile_size):
        flat = puzzles.flatten(0, 1)
        flat = F.interpolate(
            flat, size=(tile_size, tile_size), mode="bilinear", align_corners=False
        )
        puzzles = flat.view(n, N_TILES, *flat.shape[1:])
    return puzzles, labels


def assemble_tiles(puzzles: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Undo the shuffle and lay the tiles out edge to edge: ``(N, C, 3h, 3w)``.

    ``order`` is ``(N, 9)``, the permutation each puzzle was shuffled with
    (``permutations[labels]``); tile ``order[i, j]`` sits at position ``j``
    of puzzle ``i``, so the inverse permutation ``argsort(order)`` restores
    row-major order. With ``tile_crop=1`` (no gaps) the result is the central
    ``3*cell`` square of the images.
    """
    n, _, c, h, w = puzzles.shape
    tiles = puzzles[torch.arange(n, device=puzzles.device)[:, None], order.argsort(dim=1)]
    grid = tiles.view(n, GRID, GRID, c, h, w).permute(0, 3, 1, 4, 2, 5)
    return grid.reshape(n, c, GRID * h, GRID * w)
