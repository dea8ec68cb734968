"""Skin colour transfer in CIELAB: mean and spread per channel, nothing finer (fine texture is identity).
Pure functions on float RGB in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_SPREAD_RATIO = 1.6  # the spread of a channel is scaled by at most this (and at least its inverse)


@dataclass
class LabStats:
    """Mean (3,) and standard deviation (3,) of L*, a*, b*."""

    mean: np.ndarray
    std: np.ndarray


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB in [0, 1] -> CIELAB (D65), same shape."""
    flat = np.ascontiguousarray(rgb, np.float32).reshape(-1, 1, 3)
    return cv2.cvtColor(np.clip(flat, 0, 1), cv2.COLOR_RGB2Lab).reshape(np.shape(rgb))


def from_lab(lab: np.ndarray) -> np.ndarray:
    """Inverse of ``to_lab`` (clipped to [0, 1])."""
    flat = np.ascontiguousarray(lab, np.float32).reshape(-1, 1, 3)
    return np.clip(cv2.cvtColor(flat, cv2.COLOR_Lab2RGB), 0, 1).reshape(np.shape(lab))


def lab_stats(rgb: np.ndarray) -> LabStats:
    """Statistics of (K, 3) float RGB pixels."""
    if len(rgb) < 10:
        raise ValueError(f"too few pixels for colour statistics ({len(rgb)})")
    lab = to_lab(rgb)
    return LabStats(lab.mean(0), lab.std(0))


def transfer(rgb: np.ndarray, source: LabStats, target: LabStats) -> np.ndarray:
    """(K, 3) float RGB whose CIELAB statistics move from ``source`` to ``target``: per channel,
    (x - mean_s) * (std_t / std_s) + mean_t, the ratio clipped to [1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO]."""
    ratio = np.clip(target.std / np.maximum(source.std, 1e-3), 1 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
    return from_lab((to_lab(rgb) - source.mean) * ratio + target.mean)


def typical(rgb: np.ndarray, k: float = 2.5) -> np.ndarray:
    """(K,) bool: pixels of (K, 3) float RGB whose CIELAB lies within ``k`` robust standard deviations
    (1.4826 MAD, per channel) of the median: skin without the hair, beard or glasses that cover some of it."""
    lab = to_lab(rgb)
    med = np.median(lab, 0)
    dev = np.abs(lab - med)
    mad = 1.4826 * np.median(dev, 0) + np.array([1.0, 0.5, 0.5])
    return (dev <= k * mad).all(1)
