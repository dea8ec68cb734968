"""Camera motion between consecutive frames: one global shift, so that tracks move with a panning camera.

Between two detector runs a small face is only predicted (``track.BoxPath``). In a pan every face moves with
the camera; predicted from a standstill, its cover stayed behind while the face slid out of it (a 30-frame
pan over a crowd at 2.7 px a frame, 720p: 4 of 706 faces untouched, 4 partly covered).

The shift is the scene's, not a face's: the frame is cut into a grid of blocks, each block's shift is read by
phase correlation, and the camera is taken to have moved only when most blocks agree. A head that fills half
of a talking-head clip moved the whole-frame correlation by up to 48 px a frame on a still camera; a moving
head or body covers a few blocks, a pan moves them all.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

WIDTH = 320  # px: the frames are compared at this width
GRID = (4, 3)  # blocks across and down
MIN_RESPONSE = 0.1  # a block's phase correlation peak below this says nothing (flat, or unrelated)
AGREE = 0.6  # the share of all blocks whose shifts must agree (within TOLERANCE) to move the tracks
TOLERANCE = 0.75  # px at WIDTH: blocks that agree are this close to their median shift
MIN_SHIFT = 2.0  # px of the full frame: smaller shifts are left out (noise on a still camera reads up to 1.4)


def block_shifts(previous: np.ndarray, current: np.ndarray, grid: tuple[int, int] = GRID) -> np.ndarray:
    """(K, 3): (dx, dy, peak) that moves each block of ``previous`` onto ``current`` (float32 grey images of one
    size, cut into ``grid`` blocks), by phase correlation."""
    h, w = previous.shape
    bw, bh = w // grid[0], h // grid[1]
    window = _hanning(bw, bh)
    out = []
    for j in range(grid[1]):
        for i in range(grid[0]):
            sl = (slice(j * bh, (j + 1) * bh), slice(i * bw, (i + 1) * bw))
            (dx, dy), peak = cv2.phaseCorrelate(previous[sl], current[sl], window)
            out.append((dx, dy, peak))
    return np.array(out, np.float64)


@lru_cache(maxsize=4)
def _hanning(width: int, height: int) -> np.ndarray:
    return cv2.createHanningWindow((width, height), cv2.CV_32F)


def consensus(shifts: np.ndarray, agree: float = AGREE, tolerance: float = TOLERANCE) -> np.ndarray | None:
    """The (2,) mean shift of the blocks that agree with the median of the confident ones, or None when fewer
    than ``agree`` of all blocks do."""
    sure = shifts[shifts[:, 2] >= MIN_RESPONSE, :2]
    if len(sure) < agree * len(shifts):
        return None
    near = np.abs(sure - np.median(sure, 0)).max(1) <= tolerance
    return sure[near].mean(0) if near.sum() >= agree * len(shifts) else None


class CameraMotion:
    """``step(rgb)`` -> the (2,) shift in px of the scene since the last frame given (zeros when unsure)."""

    def __init__(self, width: int = WIDTH):
        self.width = width
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        self._last = None

    def step(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        f = min(1.0, self.width / max(w, 1))
        size = (max(4 * GRID[0], round(w * f)), max(4 * GRID[1], round(h * f)))
        grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        grey = grey.astype(np.float32)
        last, self._last = self._last, grey
        if last is None or last.shape != grey.shape:
            return np.zeros(2)
        shift = consensus(block_shifts(last, grey))
        if shift is None:
            return np.zeros(2)
        shift = shift * (w / size[0], h / size[1])
        return shift if np.abs(shift).max() >= MIN_SHIFT else np.zeros(2)
