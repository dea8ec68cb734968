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


def face_mask(faces: Faces, i: int, shape: tuple[int, int], settings: CoverSettings):
    """(roi, mask) of face i: the hull of its landmarks, or an ellipse from its box."""
    box = faces.boxes[i]
    margin = settings.mask_scale * (1.0 + 2 * settings.feather) + 0.1
    roi = region_of(box, margin, shape)
    if roi is None:
        return None, None
    if faces.has_mesh[i] and not faces.coasting[i]:
        mask = hull_mask(faces.landmarks[i], roi, settings.mask_scale, settings.feather)
    else:
        mask = ellipse_mask(box, roi, settings.mask_scale * (1.15 if faces.has_mesh[i] else 1.0),
                            settings.feather)
    return roi, mask


def make_cover(settings: CoverSettings, generate=None):
    """The function ``(rgb, faces) -> fallbacks`` for the method: a FaceGenerator's ``apply`` for
    ``generate`` (built from ``generate``: GenerateSettings), else cover_faces with the pixel method."""
    if settings.method == "generate":
        from .generate import FaceGenerator
        return FaceGenerator(generate).apply
    return lambda rgb, faces: cover_faces(rgb, faces, settings)


# from this many faces covered from their boxes on one frame, they are covered together (cover_boxes)
MANY_BOXES = 8
# a coasting box (a prediction, a path between two detections, a backfill) is covered this much wider
COAST_MARGIN = 1.15


def widened(boxes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``boxes`` (N, 4) scaled about their centres by ``factors`` (N,)."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * np.asarray(factors, np.float32)[:, None]
    return np.concatenate([c - half, c + half], 1)


# the soft edge of box covers: rings outside each ellipse, (distance in feather widths, alpha of 255)
FEATHER_RINGS = ((3.0, 60), (2.0, 140), (1.0, 210))


def cover_boxes(rgb: np.ndarray, boxes: np.ndarray, method, scale: float = 1.3) -> None:
    """Cover many faces known by their boxes at once, in place: per size class (sizes within a factor of 4;
    the cover is as strong as for the class's largest face, so stronger for the smaller ones), one mask with
    all their ellipses (``scale`` x the box, fully covered, with a soft edge of rings outside) and one
    covered copy of the region they span. A few region-sized operations instead of a few per face (a stadium
    has 200 faces a frame). The mask is drawn at half size for classes of faces of 24 px and more."""
    h, w = rgb.shape[:2]
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    boxes = np.concatenate([np.minimum(boxes[:, :2], boxes[:, 2:]), np.maximum(boxes[:, :2], boxes[:, 2:])], 1)
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    classes = np.floor(np.log2(np.maximum(sizes, 8.0)) / 2).astype(int)
    for c in np.unique(classes):
        members = np.nonzero(classes == c)[0]
        smallest = float(sizes[members].min())
        soft = max(1.0, 0.08 * smallest)  # width of one feather ring
        pad = FEATHER_RINGS[0][0] * soft + 2
        centre = (boxes[members, :2] + boxes[members, 2:]) / 2
        axes = (boxes[members, 2:] - boxes[members, :2]) / 2 * scale
        lo = np.floor((centre - axes - pad).min(0)).astype(int)
        hi = np.ceil((centre + axes + pad).max(0)).astype(int)
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]), w), min(int(hi[1]), h)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
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
        blend(patch, method(patch, float(sizes[members].max())), layer.astype(np.float32) * (1.0 / 255.0))


def cover_faces(rgb: np.ndarray, faces: Faces, settings: CoverSettings) -> int:
    """Cover each face of ``rgb`` in place. Returns how many faces fell back to a solid fill."""
    fallbacks = 0
    method = PIXEL_METHODS.get(settings.method, PIXEL_METHODS["blur"])
    by_box = faces.coasting | ~faces.has_mesh
    together = by_box.sum() >= MANY_BOXES
    if together:
        try:
            cover_boxes(rgb, widened(faces.boxes[by_box], np.where(faces.coasting[by_box], COAST_MARGIN, 1.0)),
                        method, settings.mask_scale)
        except Exception as exc:  # fail closed: each face on its own below
            log.warning("covering %d faces together failed (%s)", int(by_box.sum()), exc)
            together = False
    for i in range(len(faces)):
        if together and by_box[i]:
            continue
        box = faces.boxes[i]
        size = float(max(box[2] - box[0], box[3] - box[1]))
        roi = None
        try:
            roi, mask = face_mask(faces, i, rgb.shape[:2], settings)
            if roi is None:
                continue
            x0, y0, x1, y1 = roi
            patch = rgb[y0:y1, x0:x1]
            blend(patch, method(patch, size), mask)
        except Exception as exc:  # fail closed: a solid fill over the face's region
            log.warning("face %d: %s; solid fill", int(faces.track_ids[i]), exc)
            fallbacks += 1
            r = roi or region_of(box, settings.mask_scale * 1.2, rgb.shape[:2])
            if r is not None:
                x0, y0, x1, y1 = r
                rgb[y0:y1, x0:x1] = solid(rgb[y0:y1, x0:x1], size)
    return fallbacks
