"""Skin colour transfer in CIELAB: mean and spread per channel, nothing finer (fine texture is identity).
Pure functions on float RGB in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_SPREAD_RATIO = 1.6  # the spread of a channel is scaled by at most this (and at least its inverse)
LAB8_SCALE = np.array([100 / 255, 1.0, 1.0], np.float32)  # OpenCV's 8-bit CIELAB: L * 255 / 100, a + 128, b + 128
LAB8_OFFSET = np.array([0.0, 128.0, 128.0], np.float32)


@dataclass
class LabStats:
    """Mean (3,) and standard deviation (3,) of L*, a*, b*."""

    mean: np.ndarray
    std: np.ndarray


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB in [0, 1] -> CIELAB (D65), same shape."""
    flat = np.ascontiguousarray(rgb, np.float32).reshape(-1, 1, 3)
    return cv2.cvtColor(np.clip(flat, 0, 1), cv2.COLOR_RGB2Lab).reshape(np.shape(rgb))


def to_lab_fast(rgb: np.ndarray) -> np.ndarray:
    """``to_lab`` through OpenCV's 8-bit tables (RGB uint8, or float in [0, 1] rounded to 8 bits): within
    about one unit of it and ten times faster; for statistics and thresholds, not for pixels that are kept."""
    a = np.asarray(rgb)
    u8 = a if a.dtype == np.uint8 else (np.clip(a, 0, 1) * 255.0 + 0.5).astype(np.uint8)
    lab = cv2.cvtColor(np.ascontiguousarray(u8).reshape(-1, 1, 3), cv2.COLOR_RGB2Lab).reshape(u8.shape)
    return lab.astype(np.float32) * LAB8_SCALE - LAB8_OFFSET


def from_lab(lab: np.ndarray) -> np.ndarray:
    """Inverse of ``to_lab`` (clipped to [0, 1])."""
    flat = np.ascontiguousarray(lab, np.float32).reshape(-1, 1, 3)
    return np.clip(cv2.cvtColor(flat, cv2.COLOR_Lab2RGB), 0, 1).reshape(np.shape(lab))


def lab_stats(rgb: np.ndarray) -> LabStats:
    """Statistics of (K, 3) float RGB pixels."""
    if len(rgb) < 10:
        raise ValueError(f"too few pixels for colour statistics ({len(rgb)})")
    lab = to_lab_fast(rgb)
    return LabStats(lab.mean(0), lab.std(0))


def transfer(rgb: np.ndarray, source: LabStats, target: LabStats) -> np.ndarray:
    """(K, 3) float RGB whose CIELAB statistics move from ``source`` to ``target``: per channel,
    (x - mean_s) * (std_t / std_s) + mean_t, the ratio clipped to [1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO]."""
    ratio = np.clip(target.std / np.maximum(source.std, 1e-3), 1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    return from_lab((to_lab(rgb) - source.mean) * ratio + target.mean)


def typical(rgb: np.ndarray, k: float = 2.5, reference: np.ndarray | None = None,
            floor: tuple[float, float, float] = (1.0, 0.5, 0.5)) -> np.ndarray:
    """(K,) bool: pixels of (K, 3) float RGB whose CIELAB lies within ``k`` robust standard deviations
    (1.4826 MAD, per channel) of the median: skin without the hair, beard or glasses that cover some of it.
    ``reference``: (K,) bool, the pixels that give the median and the spread (a region that is nearly always
    skin: a fringe over a third of the forehead moved the median of all and widened the spread until the hair
    passed as skin). ``floor``: added to each robust standard deviation (L*, a*, b*)."""
    lab = to_lab_fast(rgb)
    return near_median(lab, lab if reference is None else lab[reference], k, floor)


def near_median(values: np.ndarray, reference: np.ndarray, k: float, floor) -> np.ndarray:
    """(K,) bool: rows of (K, C) ``values`` within ``k`` x (1.4826 MAD + ``floor``) of the median of the (M, C)
    ``reference`` rows, in every channel."""
    med = np.median(reference, 0)
    spread = 1.4826 * np.median(np.abs(reference - med), 0) + np.asarray(floor)
    return (np.abs(values - med) <= k * spread).all(1)


def skin_distance(lab: np.ndarray, stats: LabStats) -> np.ndarray:
    """(...) float in [0, 1]: how far CIELAB pixels (..., 3) lie beyond the skin's bounds (chroma within 2 spreads
    + 2, lightness from 2 spreads + 5 darker to 2.5 spreads + 12 lighter, for lit foreheads): 0 inside them, 1
    from one spread (+ 5 lightness, + 2 chroma) beyond them."""
    d = lab - stats.mean
    sl, sa, sb = (float(v) for v in stats.std)
    far = np.maximum.reduce([(-d[..., 0] - (2.0 * sl + 5.0)) / (sl + 5.0),
                             (d[..., 0] - (2.5 * sl + 12.0)) / (sl + 5.0),
                             (np.abs(d[..., 1]) - (2.0 * sa + 2.0)) / (sa + 2.0),
                             (np.abs(d[..., 2]) - (2.0 * sb + 2.0)) / (sb + 2.0)])
    return np.clip(far, 0, 1)
