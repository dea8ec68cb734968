"""Live output timing: pace frames to the wall clock and restamp them on one monotonic timeline."""

from __future__ import annotations

import time
from fractions import Fraction

from ..types import Frame

TIME_BASE = Fraction(1, 90000)


class LiveClock:
    """When a live frame is due, and its output timestamp.

    A frame is due at ``anchor_wall + (stream time - anchor_stream)``: network jitter is smoothed out and
    frames that come faster than the stream's rate are held back, by ``max_hold`` s at most (a longer burst
    is a backlog: it goes out as fast as it is processed rather than adding latency). The anchor moves to
    the frame's capture time at a discontinuity (the stream time goes back or jumps by more than
    ``max_gap`` s: a reconnection, many dropped frames), when a frame would be held longer than
    ``max_hold``, and when it is due more than ``max_latency`` s before its capture. Output timestamps
    count from the first frame's due time, in ``TIME_BASE`` units, strictly increasing across reconnections.
    """

    def __init__(self, max_latency: float, max_gap: float = 1.0, max_hold: float = 0.1):
        self.max_latency, self.max_gap = max_latency, max_gap
        self.max_hold = min(max_hold, max_latency / 4)
        self._anchor: tuple[float, float] | None = None  # (wall, stream time)
        self._last_stream: float | None = None
        self._start: float | None = None
        self._last_pts = -1

    def due(self, frame: Frame) -> float:
        """Monotonic time at which ``frame`` should be written."""
        captured = frame.captured if frame.captured is not None else time.monotonic()
        t = frame.time
        if self._start is None:
            self._start = captured
        last, self._last_stream = self._last_stream, t
        if t is None or self._anchor is None or last is None or t < last or t - last > self.max_gap:
            self._anchor = (captured, t or 0.0)
        due = self._anchor[0] + ((t or 0.0) - self._anchor[1])
        if due - captured > self.max_hold or captured - due > self.max_latency:
            self._anchor, due = (captured, t or 0.0), captured
        return due

    def stamp(self, frame: Frame, due: float) -> None:
        """Give ``frame`` its output timestamp (in place)."""
        start = self._start if self._start is not None else due
        pts = max(int(round((due - start) / TIME_BASE)), self._last_pts + 1)
        frame.pts, frame.time_base = pts, TIME_BASE
        self._last_pts = pts


class Playback:
    """Pace a file or a pipe to its own timestamps, like ``ffmpeg -re`` (for an rtsp:// output); the
    timestamps are kept. Same interface as LiveClock."""

    def __init__(self) -> None:
        self._origin: float | None = None  # wall time of stream time 0
        self._last: float | None = None

    def due(self, frame: Frame) -> float:
        t, now = frame.time, time.monotonic()
        if t is None:
            return now
        if self._origin is None or self._last is None or t < self._last:
            self._origin = now - t
        self._last = t
        return self._origin + t

    def stamp(self, frame: Frame, due: float) -> None:
        pass
