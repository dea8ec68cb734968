"""Tracks: vectorised Kalman smoothing of landmark sets, stable ids, coasting through misses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

MOTION = np.array([[1.0, 1.0], [0.0, 1.0]])  # constant velocity, one frame a step
WHITE_NOISE = np.array([[0.25, 0.5], [0.5, 1.0]])  # discrete white-noise acceleration, per unit variance


class PointFilter(Protocol):
    """Smooths a set of 2-D points over time."""

    def predict(self) -> np.ndarray: ...
    def update(self, points: np.ndarray) -> np.ndarray: ...


class KalmanPoints:
    """Constant-velocity Kalman filter over all points at once.

    Every coordinate shares the same motion and noise model, so the covariance and the gain are the same
    for all of them: one 2x2 covariance (``cov``) gives the gain, and the states of all coordinates
    live in one (2, M) array. One step costs a 2x2 update plus two small matrix products. (filterpy did the
    2x2 part before; importing it pulled in scipy.stats and matplotlib: 1.2 s of every start-up.)
    ``process_noise`` is relative to the measurement noise (only the ratio sets the gain).
    ``snap`` bounds the lag: coordinates further than ``snap`` x the face size from the measurement
    are reset to it, so a fast head movement is never covered late.
    """

    def __init__(self, points: np.ndarray, process_noise: float = 0.1, snap: float = 0.04):
        self.shape = points.shape
        self.q = process_noise * WHITE_NOISE
        self.cov = np.diag([1.0, 10.0])
        self.state = np.zeros((2, points.size))
        self.state[0] = points.reshape(-1)
        self.snap = snap

    @property
    def points(self) -> np.ndarray:
        return self.state[0].reshape(self.shape)

    def predict(self, damping: float = 1.0) -> np.ndarray:
        self.state[1] *= damping
        self.state = MOTION @ self.state
        self.cov = MOTION @ self.cov @ MOTION.T + self.q
        return self.points

    def update(self, points: np.ndarray) -> np.ndarray:
        z = points.reshape(-1)
        gain = self.cov[:, 0] / (self.cov[0, 0] + 1.0)  # position measured, noise variance 1
        self.cov = self.cov - np.outer(gain, self.cov[0])
        innovation = z - self.state[0]
        self.state += gain[:, None] * innovation[None, :]
        size = float(np.ptp(points.reshape(-1, 2), axis=0).max())
        far = np.abs(z - self.state[0]) > self.snap * max(size, 1.0)
        self.state[0, far] = z[far]
        return self.points


class NoFilter:
    """Passes measurements through (tests, or --no-smoothing)."""

    def __init__(self, points: np.ndarray, **_: float):
        self.points = points.copy()

    def predict(self, damping: float = 1.0) -> np.ndarray:
        return self.points

    def update(self, points: np.ndarray) -> np.ndarray:
        self.points = points.copy()
        return self.points


@dataclass
class Track:
    """One face over time: landmarks (478, 2) or, for faces too small for the mesh, box corners (2, 2)."""

    id: int
    filter: KalmanPoints | NoFilter
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
    measured one (a box never shrinks or flips on its way). No Kalman velocity: with measurements only every
    few frames and neighbours close by, a filter's velocity drifts boxes onto bodies. (``Lookahead``
    replaces these predictions by the measured path.) Points are the box corners, (2, 2).
    """

    def __init__(self, points: np.ndarray, max_speed: float = MAX_BOX_SPEED, horizon: int = 8, **_: float):
        self.last = points.astype(np.float64).copy()
        self.velocity = np.zeros(2)  # of the centre, px per frame
        self.max_speed, self.horizon = max_speed, horizon
        self.since = 0  # frames since the last measurement
        self.points = self.last.copy()

    def _bounded(self, velocity: np.ndarray) -> np.ndarray:
        limit = self.max_speed * float(np.ptp(self.last, axis=0).max())
        return np.clip(np.asarray(velocity, np.float64).reshape(-1, 2).mean(0), -limit, limit)

    def predict(self, damping: float = 1.0) -> np.ndarray:
        self.since += 1
        self.points = self.last + self.velocity * min(self.since, self.horizon)
        return self.points

    def set_velocity(self, velocity: np.ndarray) -> None:
        """Start from a velocity measured elsewhere (an earlier sighting: per corner or of the centre)."""
        self.velocity = self._bounded(velocity)

    def update(self, points: np.ndarray) -> np.ndarray:
        points = points.astype(np.float64).reshape(2, 2)
        v = (points.mean(0) - self.last.mean(0)) / max(self.since, 1)
        self.last, self.since = points.copy(), 0
        self.velocity = self._bounded(v)
        self.points = points.copy()
        return self.points
