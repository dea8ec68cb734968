"""A short look-ahead window over analysed frames: the path between two detections, and backfill.

Box tracks (faces too small for the mesh) are measured only on detection frames. Holding the last
``window`` frames lets two things happen before a frame is covered:
- a track measured at frames n0 and n1 gets, on the frames between, the box on the straight path between
  the two measurements (instead of its prediction where the two agree, besides it where they do not);
- a new track is also covered on the held frames before its first detection (a face that entered between
  two detector runs is never left bare), with its first box, widened with the distance in frames;
- so is a track that jumped to a detection it does not overlap, on the frames since its last measurement: the
  detection may be a face that came into view meanwhile, claimed by a neighbour's track (which then covers the
  path between its two boxes, and the analyser leaves a cover where it was).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..types import Faces
from .analyze import coast_box
from .track import MAX_BOX_SPEED


@dataclass
class Held:
    """One item in the window: a frame's ``faces`` (None: analysis failed) or a pass-through item. ``extra``:
    box faces (box, track id) added while held, joined to ``faces`` once, when the frame leaves the window."""

    n: int | None
    item: object
    faces: Faces | None = None
    extra: list[tuple[np.ndarray, int]] = field(default_factory=list)
    _rows: dict[int, int] | None = field(default=None, repr=False)

    def row(self, tid: int) -> int | None:
        """The first row of track ``tid`` in ``faces`` (a map made once: called per track and held frame)."""
        if self._rows is None:
            ids = self.faces.track_ids.tolist()
            self._rows = {t: r for r, t in reversed(list(enumerate(ids)))}
        return self._rows.get(tid)

    def materialize(self) -> None:
        if self.extra:
            self.faces = _with_faces(self.faces, [b for b, _ in self.extra], [t for _, t in self.extra])
            self.extra = []


def _with_faces(faces: Faces, boxes: list[np.ndarray], track_ids: list[int]) -> Faces:
    """``faces`` plus box-only coasting faces (one concatenation for all of them)."""
    n = len(boxes)
    return Faces(boxes=np.concatenate([faces.boxes, np.asarray(boxes, np.float32).reshape(n, 4)]),
                 landmarks=np.concatenate([faces.landmarks,
                                           np.full((n, *faces.landmarks.shape[1:]), np.nan, np.float32)]),
                 track_ids=np.concatenate([faces.track_ids, np.asarray(track_ids, np.int64)]),
                 coasting=np.concatenate([faces.coasting, np.ones(n, bool)]),
                 scores=np.concatenate([faces.scores, np.zeros(n, np.float32)]))


class Lookahead:
    """``push(item, faces, measured)`` returns the held items that leave the window, oldest first, each
    as ``Held``; ``flush()`` returns the rest at the end. ``window`` 0 passes everything straight through.
    Pass-through items (audio packets: ``faces`` None and ``frame`` False) keep their place in the order.
    ``backfilled`` and ``interpolated`` count the faces added or moved."""

    def __init__(self, window: int):
        if window < 0:
            raise ValueError(f"window must be >= 0, got {window}")
        self.window = window
        self._held: deque[Held] = deque()
        self._frames = 0  # frames held
        self._n = 0
        self._last: dict[int, tuple[int, np.ndarray]] = {}  # track -> (n, box) of its last measurement
        self._known: set[int] = set()
        self._filled: dict[int, list[tuple[Held, int]]] = {}  # new track -> its backfilled (frame, extra row)
        self.backfilled = 0
        self.interpolated = 0

    def push(self, item: object, faces: Faces | None = None, measured: set[int] | None = None,
             frame: bool = True, priors: dict[int, tuple[int, np.ndarray]] | None = None,
             jumped: set[int] | None = None) -> list[Held]:
        """Hold a frame (or pass-through item) with its faces; ``measured``: the tracks measured on it;
        ``priors``: for a new track, an earlier sighting (frames ago, box) that its path starts from; ``jumped``:
        tracks matched on it to a detection they do not overlap."""
        if not frame:
            self._held.append(Held(None, item))
            return self._release()
        n = self._n
        self._n += 1
        if faces is not None and measured is not None and self.window:
            for i, tid in enumerate(int(t) for t in faces.track_ids):
                if tid not in measured:
                    continue
                box = faces.boxes[i].copy()
                prev = self._last.get(tid)
                if tid not in self._known and priors and tid in priors:
                    ago, b0 = priors[tid]
                    prev = (n - ago, np.asarray(b0, np.float32))
                    self._backfill(tid, prev[1], prev[0] + 1)  # the sighting's own frame too
                    self._interpolate(tid, prev, (n, box))
                elif tid not in self._known:
                    self._backfill(tid, box, n)
                elif prev is not None and n - prev[0] > (2 if faces.has_mesh[i] else 1):
                    # a box track between two detections, or a face that got its mesh back (lost, or a fast
                    # face that was a box track until now): the frames between were predictions
                    self._interpolate(tid, prev, (n, box))
                if prev is not None and tid in self._filled:
                    self._refill(tid, prev, (n, box))
                if jumped and tid in jumped and prev is not None:  # after the refill: it is refilled next time
                    self._backfill(tid, box, n, since=prev[0])
                self._last[tid] = (n, box)
            self._known.update(int(t) for t in faces.track_ids)
            if len(self._last) > 4096:  # a long stream: forget tracks not measured for a while
                self._last = {k: v for k, v in self._last.items() if v[0] > n - 10 * self.window - 100}
        self._held.append(Held(n, item, faces))
        self._frames += 1
        return self._release()

    def expire(self, stale) -> list[Held]:
        """Release the oldest held frames for which ``stale(item)`` is true, window or not (live: a frame that
        would miss the latency bound if held longer), with the pass-through items before them. Fewer frames
        held means a shorter backfill: the bound comes first."""
        out = []
        while self._held and (self._held[0].n is None or stale(self._held[0].item)):
            h = self._held.popleft()
            self._frames -= h.n is not None
            h.materialize()
            out.append(h)
        return out

    def flush(self) -> list[Held]:
        self._filled.clear()
        out = list(self._held)
        self._held.clear()
        self._frames = 0
        for h in out:
            h.materialize()
        return out

    def _release(self) -> list[Held]:
        out = []
        while self._held and (self._held[0].n is None or self._frames > self.window):
            h = self._held.popleft()
            self._frames -= h.n is not None
            h.materialize()
            out.append(h)
        if self._filled:  # tracks not measured twice while their backfilled frames were held: forget them,
            # or each keeps its frames (and their pictures) alive; a live stream makes such tracks all along
            oldest = next((h.n for h in self._held if h.n is not None), self._n)
            self._filled = {k: v for k, v in self._filled.items() if v[-1][0].n >= oldest}
        return out

    def _frames_between(self, n0: int, n1: int):
        for h in self._held:
            if h.n is not None and n0 < h.n < n1 and h.faces is not None:
                yield h

    @staticmethod
    def _add(h: Held, box: np.ndarray, tid: int) -> int:
        """Add a coasting box face to held frame ``h``; returns its row in ``h.extra``."""
        h.extra.append((box, tid))
        return len(h.extra) - 1

    def _backfill(self, tid: int, box: np.ndarray, n: int, since: int = -1) -> None:
        """Cover ``box`` (widened with the distance in frames) on the held frames after ``since``, before ``n``."""
        filled = []
        for h in self._frames_between(since, n):
            filled.append((h, self._add(h, coast_box(box, n - h.n), tid)))
            self.backfilled += 1
        if filled:
            self._filled[tid] = filled

    def _refill(self, tid: int, first: tuple[int, np.ndarray], second: tuple[int, np.ndarray]) -> None:
        """With a second measurement, cover the backfilled frames on the path extrapolated back in time too
        (still widened): a face walking in is covered where it was, not only where it was first found. Where
        the two differ, both stay covered: on a stadium clip a still face's velocity, measured from a
        detection and a neighbour's, carried its path out of the frame and left it bare."""
        (n0, b0), (n1, b1) = first, second
        centre = lambda b: (b[:2] + b[2:]) / 2  # noqa: E731
        size = float(max(b0[2] - b0[0], b0[3] - b0[1]))
        fast = 2 * MAX_BOX_SPEED * size  # measured, not extrapolated: a fast small face may move this much
        velocity = np.clip((centre(b1) - centre(b0)) / max(n1 - n0, 1), -fast, fast)
        for h, row in self._filled.pop(tid):
            if h.n is not None and row < len(h.extra):  # the first box moved back along the centre's path
                shift = np.tile(velocity * (n0 - h.n), 2)
                box = coast_box((b0 - shift).astype(np.float32), n0 - h.n)
                if box_iou(box, h.extra[row][0]) > 0.5:
                    h.extra[row] = (box, tid)
                else:
                    self._add(h, box, tid)

    def _interpolate(self, tid: int, prev: tuple[int, np.ndarray], now: tuple[int, np.ndarray]) -> None:
        """Cover the straight path between two measurements. Where the prediction made then differs from the
        path (a face that turned, or two close faces whose detections swapped tracks), both stay covered."""
        (n0, b0), (n1, b1) = prev, now
        for h in self._frames_between(n0, n1):
            a = (h.n - n0) / (n1 - n0)
            box = ((1 - a) * b0 + a * b1).astype(np.float32)
            r = h.row(tid)
            if r is not None and not h.faces.coasting[r] and np.isnan(h.faces.landmarks[r, 0, 0]) \
                    and box_iou(h.faces.boxes[r], box) > 0.5:
                h.faces.boxes[r] = box
            else:
                self._add(h, box, tid)
            self.interpolated += 1


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boxes (x0, y0, x1, y1), in plain floats (called per face and frame)."""
    ax0, ay0, ax1, ay1 = (float(v) for v in a[:4])
    bx0, by0, bx1, by1 = (float(v) for v in b[:4])
    iw, ih = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / max((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter, 1e-6)
