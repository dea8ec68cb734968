"""Tracks: vectorised speed-adaptive smoothing of landmark sets, stable ids, coasting through misses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class PointFilter(Protocol):
    """Smooths a set of 2-D points over time."""

    def predict(self) -> np.ndarray: ...
    def update(self, points: np.ndarray) -> np.ndarray: ...


def smoothing_factor(cutoff: np.ndarray | float) -> np.ndarray | float:
    """The exponential smoothing factor of a first-order low-pass with ``cutoff`` in cycles per frame."""
    r = 2.0 * np.pi * cutoff
    return r / (r + 1.0)


class AdaptivePoints:
    """Speed-adaptive low-pass over all points at once (the "1-euro" filter, per point, in frame units).

    A point that stands still is smoothed hard (``min_cutoff`` cycles per frame: landmark jitter goes), one
    that moves follows at once (the cutoff rises by ``beta`` per face size per frame of its speed). The
    constant-velocity Kalman filter this replaces lagged and overshot on a head that speeds up and slows
    down: on lp_d11 (a bobbing head) the drawn face stalled for a frame and then jumped 20 px, and the face's
    flicker ratio read 1.28. Replayed on raw landmarks of four clips, this filter lags 0.6% of the face size
    there (Kalman 2.1%) and leaves the same or less jitter on the steady ones.
    ``snap`` bounds the lag: when the points lie further than ``snap`` x the face size from the measurement
    on average, they are reset to it (the whole face at once, so its shape holds).
    """

    def __init__(self, points: np.ndarray, min_cutoff: float = 0.04, beta: float = 50.0,
                 speed_cutoff: float = 0.04, snap: float = 0.04):
        self.shape = points.shape
        self.x = points.reshape(-1, 2).astype(np.float64)
        self.base = self.x
        self.v = np.zeros_like(self.x)
        self.z = self.x  # the last measurement
        self.step = np.zeros_like(self.x)  # the last measured motion: measurement minus the one before
        self.min_cutoff, self.beta, self.speed_cutoff, self.snap = min_cutoff, beta, speed_cutoff, snap

    @property
    def points(self) -> np.ndarray:
        return self.x.reshape(self.shape)

    @property
    def velocity(self) -> np.ndarray:
        """(N, 2) motion per frame: the larger of the smoothed one and the last measured step, per point. The
        smoothed motion alone lags a head that turns back and forth: read as still in mid-swing, its mesh was
        skipped (``mesh_every``) and the drawn face stalled there for a frame and then jumped."""
        return np.where(np.abs(self.step) > np.abs(self.v), self.step, self.v)

    def predict(self, damping: float = 1.0) -> np.ndarray:
        """Move the points along their velocity (a frame without a measurement keeps this place)."""
        self.v = self.v * damping
        self.base = self.x
        self.x = self.x + self.v
        return self.points

    def shift(self, d: np.ndarray) -> None:
        """Move the whole state by ``d`` (2,) px: the camera moved (the velocity stays the face's own)."""
        self.x, self.base, self.z = self.x + d, self.base + d, self.z + d

    def update(self, points: np.ndarray) -> np.ndarray:
        """Smooth the measured ``points`` against the last smoothed place (not against the prediction: a
        predicted step overshoots when the motion turns)."""
        z = points.reshape(-1, 2).astype(np.float64)
        self.step, self.z = z - self.z, z
        size = max(float(np.ptp(z, axis=0).max()), 1.0)
        self.v = self.v + smoothing_factor(self.speed_cutoff) * ((z - self.base) - self.v)
        speed = np.linalg.norm(self.v, axis=1, keepdims=True) / size
        x = self.base + smoothing_factor(self.min_cutoff + self.beta * speed) * (z - self.base)
        if np.linalg.norm((z - x).mean(0)) > self.snap * size:
            x = z
        self.x = self.base = x
        return self.points


class NoFilter:
    """Passes measurements through (tests, or --no-smoothing)."""

    def __init__(self, points: np.ndarray, **_: float):
        self.points = points.copy()

    def predict(self, damping: float = 1.0) -> np.ndarray:
        return self.points

    def shift(self, d: np.ndarray) -> None:
        self.points = self.points + d

    def update(self, points: np.ndarray) -> np.ndarray:
        self.points = points.copy()
        return self.points


@dataclass
class Track:
    """One face over time: landmarks (478, 2) or, for faces too small for the mesh, box corners (2, 2)."""

    id: int
    filter: AdaptivePoints | NoFilter
    has_mesh: bool
    misses: int = 0
    hits: int = 1
    age: int = 1
    seen: bool = True
    score: float = 1.0
    extra: dict = field(default_factory=dict)

    @property
    def points(self) -> np.ndarray:
        return self.filter.points

    def box(self) -> np.ndarray:
        """Tight box of the current points (kept while the points array stays the same object: a box track's
        filter makes a new one on each step)."""
        p = self.points
        cached = self.extra.get("_box")
        if cached is not None and cached[0] is p:
            return cached[1]
        q = p.reshape(-1, 2)
        if len(q) == 2:  # box corners: no reductions over a (478, 2) array
            box = np.concatenate([np.minimum(q[0], q[1]), np.maximum(q[0], q[1])]).astype(np.float32)
        else:
            box = np.concatenate([q.min(0), q.max(0)]).astype(np.float32)
        self.extra["_box"] = (p, box)
        return box


def intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection areas between boxes a (N, 4) and b (M, 4)."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)


def area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes a (N, 4) and b (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    inter = intersection(a, b)
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-6)


def containment(boxes: np.ndarray) -> np.ndarray:
    """(N, N) intersection over the smaller box's area."""
    a = area(boxes)
    return intersection(boxes, boxes) / np.maximum(np.minimum(a[:, None], a[None, :]), 1e-6)


def greedy_match(scores: np.ndarray, min_score: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by descending score, each row and column used once."""
    pairs: list[tuple[int, int]] = []
    if scores.size == 0:
        return pairs
    rows, cols = np.nonzero(scores >= min_score)
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_r, used_c = set(), set()
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r in used_r or c in used_c:
            continue
        pairs.append((r, c))
        used_r.add(r)
        used_c.add(c)
    return pairs


# a small face's box moves at most this share of its size per frame, extrapolated
MAX_BOX_SPEED = 0.25


class BoxPath:
    """A small face's box between detections: extrapolated from its last two measurements, bounded.

    The centre moves with the change between the last two measured centres per frame, at most ``max_speed``
    x the box size per frame, for ``horizon`` frames at most; after that the box holds. The size is the last
    measured one (a box never shrinks or flips on its way). No smoothed velocity: with measurements only every
    few frames and neighbours close by, a filter's velocity drifts boxes onto bodies. (``Lookahead``
    replaces these predictions by the measured path.) Points are the box corners, (2, 2). The camera's motion
    (``shift``) is added on top, and the velocity is the face's own, the camera's left out.
    """

    def __init__(self, points: np.ndarray, max_speed: float = MAX_BOX_SPEED, horizon: int = 8, **_: float):
        self.last = points.astype(np.float64).copy()
        self.velocity = np.zeros(2)  # of the centre, px per frame
        self.max_speed, self.horizon = max_speed, horizon
        self.since = 0  # frames since the last measurement
        self.camera = np.zeros(2)  # the camera's motion since the last measurement
        self.points = self.last.copy()

    def _bounded(self, velocity: np.ndarray) -> np.ndarray:
        limit = self.max_speed * float(np.ptp(self.last, axis=0).max())
        return np.clip(np.asarray(velocity, np.float64).reshape(-1, 2).mean(0), -limit, limit)

    def predict(self, damping: float = 1.0) -> np.ndarray:
        self.since += 1
        self.points = self.last + self.camera + self.velocity * min(self.since, self.horizon)
        return self.points

    def shift(self, d: np.ndarray) -> None:
        """The camera moved by ``d`` (2,) px since the last frame."""
        self.camera = self.camera + d
        self.points = self.points + d

    def set_velocity(self, velocity: np.ndarray) -> None:
        """Start from a velocity measured elsewhere (an earlier sighting: per corner or of the centre)."""
        self.velocity = self._bounded(velocity)

    def update(self, points: np.ndarray) -> np.ndarray:
        points = points.astype(np.float64).reshape(2, 2)
        v = (points.mean(0) - self.last.mean(0) - self.camera) / max(self.since, 1)
        self.last, self.since, self.camera = points.copy(), 0, np.zeros(2)
        self.velocity = self._bounded(v)
        self.points = points.copy()
        return self.points
