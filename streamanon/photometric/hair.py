"""Hair in front of a face: the original's fringe and strands over the forehead, temples and outer cheeks stay in
front of the generated face. They are not the face, the frame shows the rest of that hair, and a face pasted over
them cut a fringe off with a blurred band.

A pixel is hair when it has a hair colour, it is in the zone where hair falls over a face (above the mouth
corners, away from the eyes, nose and lips), and it joins hair-coloured pixels outside the face outline: a fringe
comes from the hairline, while a brow below a bare forehead, a mole or a shadow inside the face is an island and is
not kept. A hair colour is one that is frequent just outside the face's outline above the eyes and rare on its
cheeks (whatever the cheeks show, a shadowed side, make-up, stubble, is never taken for hair), on a pixel that is
unlike skin: far from the skin's colour statistics, or textured like strands (a bare forehead is neither, even
where its colour is the one above the outline). Pure functions.
"""

from __future__ import annotations

import cv2
import numpy as np
from mediapipe.python.solutions import face_mesh as _fm

from ..faces.landmarks import FACE_OVAL, mesh_indices
from .colour import LabStats, skin_distance, to_lab_fast
from .features import CHIN, FOREHEAD
from .resample import shrink

HAIR_SIDE = 192  # px: the mask is computed with the face at most this size, then upscaled (soft)
# a fringe may hang over the brows (it hides them); the eyes, nose and lips are never taken for hair
CORE = np.unique(np.concatenate([mesh_indices(e) for e in (
    _fm.FACEMESH_LEFT_EYE, _fm.FACEMESH_RIGHT_EYE, _fm.FACEMESH_LIPS, _fm.FACEMESH_NOSE)]))
CORE_GROW = 0.06  # the features' hull grows by this share of the face size: no hair is kept there
MOUTH_CORNERS = (61, 291)
EYE_LINE = (33, 263)  # outer eye corners: the hair colours are sampled above them, the skin's below
# hair is told by the colours of this face's own hair: a colour counts as hair when it is this many times more
# frequent (share of pixels) just outside the outline above the eyes than on the cheeks
HAIR_ODDS = 3.0
BAND = 0.12  # the band outside the outline whose colours sample the hair, as a share of the face size
# and the pixel is unlike skin: far from the skin's CIELAB statistics (dark hair), or textured like strands: local
# high-pass energy this many times the cheeks' (red and blond hair; a bare forehead is smooth)
TEXTURE_RATIO = 2.0
MIN_SKIN_ENERGY = 1.5  # grey levels: the cheeks' energy is taken as at least this (a soft, smooth face)


def texture_energy(grey: np.ndarray) -> np.ndarray:
    """(H, W) local RMS (over about 2 px) of the high-pass: grey minus its Gaussian blur of 1 px."""
    hp = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    return np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 2.0))


def height(points: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Position of ``xy`` (..., 2) along the face's chin-to-forehead axis: 0 at the chin (point 152), 1 at the top
    of the forehead (point 10)."""
    axis = points[FOREHEAD, :2] - points[CHIN, :2]
    return ((xy - points[CHIN, :2]) @ axis) / max(float(axis @ axis), 1e-6)


def hair_zone(points: np.ndarray, t: np.ndarray, size: float) -> np.ndarray:
    """(H, W) bool: where hair may cover the face of (478, 2+) ``points``, given the ``height`` ``t`` (H, W) of
    each pixel: above the line of the mouth corners and outside the hull of the eyes, nose and lips grown by
    CORE_GROW."""
    core = np.zeros(t.shape, np.uint8)
    cv2.fillConvexPoly(core, cv2.convexHull(np.round(points[CORE, :2]).astype(np.int32)), 1)
    k = 2 * max(1, int(round(CORE_GROW * size))) + 1
    core = cv2.dilate(core, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return (t > height(points, points[list(MOUTH_CORNERS), :2]).max()) & ~core.astype(bool)


def hair_mask(original: np.ndarray, points: np.ndarray, stats: LabStats, size: float) -> np.ndarray:
    """(H, W) float alpha in [0, 1]: the hair of ``original`` (uint8 RGB) in front of the face with (478, 2+)
    landmarks ``points`` (its pixels) of ``size`` px, whose skin has CIELAB ``stats``."""
    h, w = original.shape[:2]
    f = min(1.0, HAIR_SIDE / max(size, 1.0))
    sw, sh_ = max(1, round(w * f)), max(1, round(h * f))
    small = original if f == 1.0 else shrink(original, (sw, sh_))
    pts = points[:, :2] * (sw / w, sh_ / h)
    oval = np.zeros((sh_, sw), np.uint8)
    cv2.fillPoly(oval, [np.round(pts[FACE_OVAL]).astype(np.int32)], 1)
    inside = oval.astype(bool)
    t = height(pts, np.stack(np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh_, dtype=np.float32)), -1))
    zone = hair_zone(pts, t, size * f)
    eyes = float(height(pts, pts[list(EYE_LINE)]).mean())
    k = 2 * max(1, int(round(BAND * size * f))) + 1
    band = cv2.dilate(oval, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool) & ~inside & \
        (t > eyes)
    cheeks = inside & (t < eyes) & zone  # whatever is seen there (a shadowed cheek too) counts as skin
    energy = texture_energy(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32))
    skin_energy = max(float(np.median(energy[cheeks])) if cheeks.any() else 0.0, MIN_SKIN_ENERGY)
    textured = (energy > TEXTURE_RATIO * skin_energy).astype(np.uint8)
    textured = cv2.morphologyEx(textured, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # an edge's thin line
    unlike = np.maximum(skin_distance(to_lab_fast(small), stats), textured)  # a bare forehead is neither
    score = hair_colours(small, band, cheeks) * unlike
    hair = (score > 0.5).astype(np.uint8)
    hair = cv2.morphologyEx(hair, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))  # strands with skin between
    region = hair & (zone | ~inside).astype(np.uint8)
    n, labels = cv2.connectedComponents(region, connectivity=8)
    if n <= 1:
        return np.zeros((h, w), np.float32)
    outside = cv2.erode(1 - oval, np.ones((3, 3), np.uint8)).astype(bool)  # beyond the outline's own pixels
    joined = np.zeros(n, bool)
    joined[np.unique(labels[outside & (labels > 0)])] = True
    joined[0] = False
    keep = joined[labels] & zone  # beyond the outline too: the new face may reach further, under the hair
    # whole locks, not lace: the gaps between the strands of a kept lock are kept with it
    keep = cv2.morphologyEx(keep.astype(np.uint8), cv2.MORPH_CLOSE,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))).astype(bool) & zone
    alpha = cv2.GaussianBlur(keep.astype(np.float32), (0, 0), 1.2)
    if f < 1.0:
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(alpha, 0, 1)


def colour_bins(rgb: np.ndarray) -> np.ndarray:
    """(H, W) int: a coarse CIELAB bin of each uint8 RGB pixel (8 lightness x 16 x 16 chroma bins)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab)
    return (lab[..., 0] >> 5).astype(np.int32) * 256 + (lab[..., 1] >> 4) * 16 + (lab[..., 2] >> 4)


def hair_colours(rgb: np.ndarray, hair: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """(H, W) float in [0, 1]: how much more frequent each pixel's colour bin is among the ``hair`` sample
    pixels than among the ``skin`` ones (0 at even odds, 1 from HAIR_ODDS up). The skin's colours count also two
    lightness bins lighter and darker (a lit forehead, a receding hairline, a bald scalp are skin)."""
    if hair.sum() < 20 or skin.sum() < 20:
        return np.zeros(rgb.shape[:2], np.float32)
    bins = colour_bins(rgb)
    h = np.bincount(bins[hair], minlength=2048) / hair.sum()
    s = np.bincount(bins[skin], minlength=2048).reshape(8, 256) / skin.sum()
    s = np.maximum.reduce([np.roll(s, d, 0) * (1 - abs(d) / 3) for d in range(-2, 3)]).ravel()  # lit and shaded
    odds = np.log((h + 1e-3) / (s + 1e-3)) / np.log(HAIR_ODDS)
    return np.clip(odds, 0, 1).astype(np.float32)[bins]


def keep_hair(output: np.ndarray, original: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: ``original`` over ``output`` with ``alpha``."""
    a = alpha[..., None]
    return np.clip(output * (1 - a) + original * a + 0.5, 0, 255).astype(np.uint8)
