"""Cover every face of a frame; fail closed per face."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .masks import blend, ellipse_mask, hull_mask, region_of
from .methods import PIXEL_METHODS, solid
from .types import Faces

log = logging.getLogger(__name__)

METHODS = ("generate", *PIXEL_METHODS)


@dataclass
class CoverSettings:
    """method: generate | blur | pixelate | mask. mask_scale: growth of the landmark hull (1.0 = the mesh
    outline) for the pixel methods."""

    method: str = "generate"
    mask_scale: float = 1.3
    feather: float = 0.08

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; available: {', '.join(METHODS)}")
        if not 0.5 <= self.mask_scale <= 4.0:
            raise ValueError(f"--mask-scale must be in [0.5, 4], got {self.mask_scale}")


def make_cover(settings: CoverSettings, generate=None):
    """The function ``(rgb, faces) -> fallbacks`` for the method: a FaceGenerator's ``apply`` for
    ``generate`` (built from ``generate``: GenerateSettings), else cover_faces with the pixel method."""
    if settings.method == "generate":
        from .generate import FaceGenerator
        return FaceGenerator(generate, mask_scale=settings.mask_scale).apply
    return lambda rgb, faces: cover_faces(rgb, faces, settings)


# from this many faces covered from their boxes on one frame, they are covered together (cover_boxes)
MANY_BOXES = 8
# a coasting box (a prediction, a path between two detections, a backfill) is covered this much wider
COAST_MARGIN = 1.15
# a box face's ellipse, relative to --mask-scale: its box (faces/analyze.py detection_region) already reaches
# the hairline and is 1.3x as wide as the detector's box, whose corners its ellipse holds from 1.07x; at 1.3x
# the covers of the nearer walkers on the street clip reached their shoulders
BOX_SCALE = 0.92


def widened(boxes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``boxes`` (N, 4) scaled about their centres by ``factors`` (N,)."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * np.asarray(factors, np.float32)[:, None]
    return np.concatenate([c - half, c + half], 1)


# the soft edge of box covers: rings outside each ellipse, (distance in feather widths, alpha of 255)
FEATHER_RINGS = ((3.0, 60), (2.0, 140), (1.0, 210))


def ordered(boxes: np.ndarray) -> np.ndarray:
    """Boxes (..., 4) with x0 <= x1 and y0 <= y1 (a path extrapolated back in time can swap the corners)."""
    return np.concatenate([np.minimum(boxes[..., :2], boxes[..., 2:]), np.maximum(boxes[..., :2], boxes[..., 2:])],
                          -1)


def cover_boxes(rgb: np.ndarray, boxes: np.ndarray, method, scale: float = 1.3) -> None:
    """Cover many faces known by their boxes at once, in place: per size class (sizes within a factor of 4;
    the cover is as strong as for the class's largest face, so stronger for the smaller ones) and per group of
    neighbours in it (``neighbour_groups``), one mask with all their ellipses (``scale`` x the box, fully
    covered, with a soft edge of rings outside) and one covered copy of the region they span. A few
    region-sized operations instead of a few per face (a stadium has 200 faces a frame), on regions close
    around the faces (one region per class spanned most of a street crowd's frame). The mask is drawn at half
    size for classes of faces of 24 px and more."""
    h, w = rgb.shape[:2]
    boxes = ordered(np.asarray(boxes, np.float64).reshape(-1, 4))
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    classes = np.floor(np.log2(np.maximum(sizes, 8.0)) / 2).astype(int)
    for c in np.unique(classes):
        members = np.nonzero(classes == c)[0]
        smallest = float(sizes[members].min())
        soft = max(1.0, 0.08 * smallest)  # width of one feather ring
        pad = FEATHER_RINGS[0][0] * soft + 2
        centre = (boxes[members, :2] + boxes[members, 2:]) / 2
        axes = (boxes[members, 2:] - boxes[members, :2]) / 2 * scale
        extent = np.concatenate([centre - axes - pad, centre + axes + pad], 1)
        for group in neighbour_groups(extent, (h, w)):
            _cover_group(rgb, centre[group], axes[group], extent[group], soft, smallest,
                         float(sizes[members[group]].max()), method)


def neighbour_groups(extents: np.ndarray, shape: tuple[int, int], cell: int = 16) -> list[np.ndarray]:
    """Indices of ``extents`` (N, 4: x0, y0, x1, y1) grouped by touching (on a grid of ``cell`` px): the
    connected parts of their union."""
    h, w = shape
    gh, gw = -(-h // cell), -(-w // cell)
    cells = np.floor(extents / cell).astype(int)
    cells[:, [0, 2]] = cells[:, [0, 2]].clip(0, gw - 1)
    cells[:, [1, 3]] = cells[:, [1, 3]].clip(0, gh - 1)
    grid = np.zeros((gh, gw), np.uint8)
    for x0, y0, x1, y1 in cells.tolist():
        grid[y0:y1 + 1, x0:x1 + 1] = 1
    _, labels = cv2.connectedComponents(grid, connectivity=8)
    own = labels[cells[:, 1], cells[:, 0]]  # each extent's top-left cell is in its own part
    order = np.argsort(own, kind="stable")
    cuts = np.flatnonzero(np.diff(own[order])) + 1
    return np.split(order, cuts)


def _cover_group(rgb: np.ndarray, centre: np.ndarray, axes: np.ndarray, extent: np.ndarray, soft: float,
                 smallest: float, largest: float, method) -> None:
    """cover_boxes for one group of ellipses (centres, half axes) of one size class, within ``extent``."""
    h, w = rgb.shape[:2]
    lo, hi = np.floor(extent[:, :2].min(0)).astype(int), np.ceil(extent[:, 2:].max(0)).astype(int)
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return
    f = 0.5 if smallest >= 24 else 1.0
    layer = np.zeros((max(1, round((y1 - y0) * f)), max(1, round((x1 - x0) * f))), np.uint8)
    centres = np.round((centre - (x0, y0)) * f * 16).astype(np.int32).tolist()
    # rings from the outside in, then the ellipses (half a pixel larger: none of them is left soft)
    for grow, value in (*FEATHER_RINGS, (0.0, 255)):
        sized = np.round((axes + grow * soft) * f * 16 + (8 if not grow else 0)).astype(np.int32).tolist()
        line = cv2.LINE_AA if not grow else cv2.LINE_8
        for centre_xy, axes_xy in zip(centres, sized):
            cv2.ellipse(layer, centre_xy, axes_xy, 0, 0, 360, value, -1, line, 4)
    if f != 1.0:
        layer = cv2.resize(layer, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    patch = rgb[y0:y1, x0:x1]
    blend(patch, method(patch, largest), layer.astype(np.float32) * (1.0 / 255.0))


def cover_faces(rgb: np.ndarray, faces: Faces, settings: CoverSettings) -> int:
    """Cover each face of ``rgb`` in place. Returns how many faces fell back to a solid fill.

    Faces with a mesh are covered by their hull; the others by an ellipse from their box, all together
    (``cover_boxes``) from MANY_BOXES of them."""
    fallbacks = 0
    method = PIXEL_METHODS.get(settings.method, PIXEL_METHODS["blur"])
    by_box = faces.coasting | ~faces.has_mesh
    rows = np.flatnonzero(by_box)
    scale = settings.mask_scale * BOX_SCALE
    # (a coasting mesh face's box is its landmarks' box, the face outline: BOX_SCALE is not for it)
    boxes = widened(faces.boxes[rows], np.where(faces.coasting[rows], COAST_MARGIN, 1.0)
                    / np.where(faces.has_mesh[rows], BOX_SCALE, 1.0))
    together = len(boxes) >= MANY_BOXES
    if together:
        try:
            cover_boxes(rgb, boxes, method, scale)
        except Exception as exc:  # fail closed: each face on its own below
            log.warning("covering %d faces together failed (%s)", len(boxes), exc)
            together = False
    if not together:
        for box in boxes:
            fallbacks += _cover_one(rgb, box, None, settings, scale, method)
    for i in np.flatnonzero(~by_box):
        fallbacks += _cover_one(rgb, faces.boxes[i], faces.landmarks[i], settings, scale, method)
    return fallbacks


def _cover_one(rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, settings: CoverSettings,
               ellipse_scale: float, method) -> int:
    """Cover one face in place by its hull (``landmarks``) or its box ellipse (``ellipse_scale`` x the box); 1
    if it fell back to a solid fill, else 0."""
    box = ordered(np.asarray(box, np.float32))
    size = float(max(box[2] - box[0], box[3] - box[1]))
    margin = settings.mask_scale * (1.0 + 2 * settings.feather) + 0.1
    roi = region_of(box, margin, rgb.shape[:2])
    if roi is None:
        return 0
    x0, y0, x1, y1 = roi
    try:
        if landmarks is not None:
            mask = hull_mask(landmarks, roi, settings.mask_scale, settings.feather)
        else:
            mask = ellipse_mask(box, roi, ellipse_scale, settings.feather)
        patch = rgb[y0:y1, x0:x1]
        blend(patch, method(patch, size), mask)
        return 0
    except Exception as exc:  # fail closed: a solid fill over the face's region
        log.warning("face at %s: %s; solid fill", box.round().tolist(), exc)
        rgb[y0:y1, x0:x1] = solid(rgb[y0:y1, x0:x1], size)
        return 1
