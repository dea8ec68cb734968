"""Cover every face of a frame; fail closed per face."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
            raise ValueError(f"mask_scale must be in [0.5, 4], got {self.mask_scale}")


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


def cover_faces(rgb: np.ndarray, faces: Faces, settings: CoverSettings) -> int:
    """Cover each face of ``rgb`` in place. Returns how many faces fell back to a solid fill."""
    fallbacks = 0
    method = PIXEL_METHODS.get(settings.method, PIXEL_METHODS["blur"])
    for i in range(len(faces)):
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
