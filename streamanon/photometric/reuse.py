"""Between two full renders of a track, its last output moved onto the face's new geometry.

A face changes little from one video frame to the next. A track's face is rendered in full at least on every
``render_every``-th frame (a key frame), and sooner when it moved, turned or changed its expression too much
since (``moved_little``); on the frames between, the key frame's output and its feathered cover are warped onto
the new geometry and blended into the frame. The warp is a least-squares affine map of the
478 points plus their residual moves, spread smoothly between and beyond them (push-pull).
It is computed on a coarse grid (``STEP`` px) and upsampled: the moves are smooth.

Fail closed: a moved cover that does not contain every pixel inside both face outlines of the new frame is no
reuse; the face is rendered in full instead (``covers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.landmarks import FACE_OVAL
from .blend import push_pull
from .features import mouth_arcs

STEP = 4  # px of the frame per cell of the warp's grid
# the affine part of the warp moves, turns and scales a face exactly; past these shares of the face since the key
# frame it is rendered in full all the same (a walker on the street clip moves about 8% of his face a frame)
MAX_MOVE = 0.3
MAX_SCALE = 0.15
# a point that moved more than this share of the face beyond the affine map of all (the mouth opening, the eyes
# closing, the head turning): render in full (on lp_s18 the median frame-to-frame bend is 0.002, the 90th
# percentile 0.009), and at least BEND_FLOOR px (the mesh of a face of 56 px on the street clip bends by 2 px
# a frame at the median, 6 at the 90th percentile: its outline jitters)
MAX_BEND, BEND_FLOOR = 0.015, 3.0
# the mouth opened or closed by more than this share of the face (at least GAP_FLOOR px): render in full (its teeth
# stretched otherwise; on retalk_1, a man talking, the gap changes by more in a quarter of the frames)
MAX_GAP, GAP_FLOOR = 0.004, 1.0


@dataclass
class KeyGeometry:
    """What a full render leaves for the next frames of its track (set when it is prepared)."""

    frame: int
    roi: tuple[int, int, int, int]
    target: np.ndarray  # (478, 2) the new geometry, frame pixels
    cover: np.ndarray  # (H, W) bool over the roi: what the output replaces
    size: float


@dataclass
class KeyLayer:
    """A full render's pixels (set when it is finished): the output over its roi and the feathered cover."""

    frame: int
    roi: tuple[int, int, int, int]
    output: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray  # (H, W) float32 in [0, 1]


@dataclass
class Reuse:
    """A face whose output is its track's key frame, moved (``FaceRenderer.prepare`` -> ``finish``)."""

    track_id: int
    key_frame: int
    roi: tuple[int, int, int, int]
    where: np.ndarray  # (H, W, 2) float32: the key-roi pixel each pixel of this roi takes (``full_map``)


def grid_shape(shape: tuple[int, int], step: int = STEP) -> tuple[int, int]:
    """The coarse grid's (h, w) over an (H, W) region."""
    return max(2, -(-shape[0] // step)), max(2, -(-shape[1] // step))


def cell_centres(shape: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """(h, w, 2) the region's pixel coordinates at the centres of the grid's cells, as ``cv2.resize`` places
    them (so that resizing the grid to the region is exact for an affine map)."""
    fy, fx = shape[0] / grid[0], shape[1] / grid[1]
    ys = (np.arange(grid[0], dtype=np.float32) + 0.5) * fy - 0.5
    xs = (np.arange(grid[1], dtype=np.float32) + 0.5) * fx - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], -1)


def affine_fit(new: np.ndarray, old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares affine map (3, 2) of the (N, 2) points ``new`` onto ``old``, and what it leaves (N, 2)."""
    a = np.c_[new, np.ones(len(new))]
    affine, *_ = np.linalg.lstsq(a, old, rcond=None)
    return affine, (old - a @ affine).astype(np.float32)


def backward_grid(new: np.ndarray, old: np.ndarray, shape: tuple[int, int], step: int = STEP) -> np.ndarray:
    """(h, w, 2) float32: for each cell of an (H, W) region where the (N, 2) points are ``new``, the position
    in the region where they were ``old`` that moved there. An affine fit of old on new, plus the points'
    residuals: each point's in its cell (the mean where several share one), a smooth membrane between and
    beyond them (push-pull)."""
    affine, residual = affine_fit(new, old)
    grid = grid_shape(shape, step)
    pos = cell_centres(shape, grid) @ affine[:2].astype(np.float32) + affine[2].astype(np.float32)
    cells = np.round((new + 0.5) * np.array([grid[1] / shape[1], grid[0] / shape[0]]) - 0.5).astype(np.int64)
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < grid[1]) & (cells[:, 1] >= 0) & (cells[:, 1] < grid[0])
    if inside.any():
        flat = cells[inside, 1] * grid[1] + cells[inside, 0]
        count = np.bincount(flat, minlength=grid[0] * grid[1]).astype(np.float32)
        field = np.stack([np.bincount(flat, residual[inside, j], grid[0] * grid[1]) for j in (0, 1)], 1)
        field = (field / np.maximum(count, 1.0)[:, None]).astype(np.float32)
        weight = (count > 0).astype(np.float32).reshape(grid)
        pos += push_pull(field.reshape(grid[0], grid[1], 2), weight)
    return pos.astype(np.float32)


def full_map(grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) float32: the coarse ``grid`` (``backward_grid``) at every pixel of the (H, W) region."""
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def covers(where: np.ndarray, cover: np.ndarray, outlines: list[np.ndarray]) -> bool:
    """Whether the key frame's ``cover`` (bool over its roi), moved by ``where`` (``full_map``), contains every
    pixel inside the new face ``outlines`` ((k, 2) polygons in pixels of the new region)."""
    inside = np.zeros(where.shape[:2], np.uint8)
    for pts in outlines:
        cv2.fillPoly(inside, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    moved = cv2.remap(cover.astype(np.uint8), where[..., 0], where[..., 1], cv2.INTER_NEAREST,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return not np.any(inside & (moved == 0))


def face_outlines(own: np.ndarray, target: np.ndarray, origin: np.ndarray) -> list[np.ndarray]:
    """Both face outlines of a frame, in pixels of a region at ``origin``."""
    return [pts[FACE_OVAL, :2] - origin for pts in (own, target)]


def moved_little(new: np.ndarray, old: np.ndarray, size: float, old_size: float) -> bool:
    """Whether the geometry moved, changed scale and changed its shape (an opening mouth, a blink: what an
    affine map leaves) little enough since the key frame to move its output."""
    if abs(size - old_size) > MAX_SCALE * old_size or float(np.abs(new - old).max()) > MAX_MOVE * old_size:
        return False
    if abs(mouth_gap(new) - mouth_gap(old)) > max(MAX_GAP * old_size, GAP_FLOOR):
        return False
    return float(np.linalg.norm(affine_fit(new, old)[1], axis=1).max()) <= max(MAX_BEND * old_size, BEND_FLOOR)


def mouth_gap(points: np.ndarray) -> float:
    """Mean distance between the facing inner-lip points of a (478, 2) geometry: how far the mouth is open."""
    upper, lower = mouth_arcs()
    return float(np.linalg.norm(points[lower] - points[upper], axis=1).mean())


def warp_layer(layer: KeyLayer, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The key layer's output and alpha moved onto a new region by ``where`` (``full_map``, key-roi pixels)."""
    mx, my = where[..., 0], where[..., 1]
    out = cv2.remap(layer.output, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.remap(layer.alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, alpha


def blend(current: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: ``layer`` over ``current`` by ``alpha``; where alpha is (almost) 1 the layer alone."""
    a = cv2.merge([alpha, alpha, alpha])
    cur, top = current.astype(np.float32), layer.astype(np.float32)
    out = cv2.add(cur, cv2.multiply(cv2.subtract(top, cur), a))
    cv2.copyTo(top, (alpha >= 0.999).astype(np.uint8), out)
    return np.clip(out, 0, 255).astype(np.uint8)
