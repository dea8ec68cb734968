"""Threads joined by bounded queues: decode -> analyze -> anonymize [-> finish] -> encode.

A cover that comes in two halves (the generated-face method: ``prepare``, ``finish``) runs them in two threads,
so that a frame's faces are finished while the next frame's are prepared. File and pipe mode never drop a
frame (backpressure). Live mode (``LivePolicy``) keeps latency bounded: it
drops the oldest unprocessed frames when behind, and paces output to the wall clock.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .faces.analyze import FaceAnalyzer
from .faces.lookahead import Lookahead
from .media.clock import LiveClock, Playback
from .memory import HeapTrimmer
from .methods import pixelate
from .stats import StageTimer, Stats
from .types import Faces, Frame

log = logging.getLogger(__name__)

END = object()
# live: a frame this many times --max-latency old at the writer is dropped when a newer one waits
LATE = 2.0


# nice increment of the decode and analyze threads (and of the library threads they start): on a machine with
# fewer cores than busy threads the anonymize thread, the pipeline's slowest stage, gets the CPU first
HELPER_NICE = 5


def yield_cpu(increment: int = HELPER_NICE) -> None:
    """Lower the calling thread's scheduling priority (Linux: a thread is a task with its own nice value;
    elsewhere, or when not allowed, nothing happens)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except (AttributeError, OSError):
        pass


class _Abort(Exception):
    """Another stage failed: leave quietly."""


@dataclass
class LivePolicy:
    """Live mode: ``max_latency`` seconds from capture to write, at most (frames that cannot make it while a
    newer one waits are dropped unprocessed; the look-ahead lets a frame go early rather than hold it past
    the bound, shortening its backfill; every frame written has been anonymized)."""

    max_latency: float = 1.0
    queue: int = 2  # frames between two stages

    def __post_init__(self) -> None:
        if not self.max_latency > 0:
            raise ValueError(f"--max-latency must be positive, got {self.max_latency}")
        if self.queue < 1:
            raise ValueError(f"queue must be at least 1, got {self.queue}")


class Pipeline:
    """Runs the stages in threads; the caller's thread encodes (``sink``) and reports progress.

    Items that are not Frames (audio packets) pass through every queue in order. ``cover(rgb, faces)``
    replaces the faces in place and returns how many fell back to a solid fill. With ``live`` the queues
    are short, the decoder replaces the oldest queued frame instead of waiting, and the writer paces frames
    (``LiveClock``); ``write_frame`` returning False counts the frame as dropped (output down). ``pace``
    (file or pipe to a live output) writes each frame at its own time, dropping nothing.
    """

    def __init__(self, analyzer: FaceAnalyzer, cover: Callable[[np.ndarray, Faces], int], stats: Stats,
                 maxsize: int = 8, live: LivePolicy | None = None, pace: bool = False,
                 lookahead: int | None = None):
        self.analyzer, self.cover, self.stats, self.live = analyzer, cover, stats, live
        # frames held after analysis: the detector's interval (live) or two (file), see faces/lookahead.py
        k = analyzer.settings.detect_every if hasattr(analyzer, "settings") else 1
        self.lookahead = Lookahead(lookahead if lookahead is not None else (k if live else 2 * k) if k > 1 else 0)
        if live is None and hasattr(analyzer, "held"):  # live mode may let a frame go before its window is full
            analyzer.held = self.lookahead.window
        self.abort = threading.Event()
        self.errors: list[BaseException] = []
        self.clock = LiveClock(live.max_latency) if live else Playback() if pace else None
        self._service = 0.0  # live: moving average of analyze + cover seconds per frame
        stats.live = live is not None
        maxsize = live.queue if live else maxsize
        self.q_decoded: queue.Queue = queue.Queue(maxsize)
        self.q_analyzed: queue.Queue = queue.Queue(maxsize)
        self.q_done: queue.Queue = queue.Queue(maxsize)
        # a cover that comes in two halves (FaceGenerator: prepare, finish) runs them in two threads
        owner = getattr(cover, "__self__", None)
        self.halves = owner if getattr(cover, "__name__", "") == "apply" and \
            callable(getattr(owner, "prepare", None)) and callable(getattr(owner, "finish", None)) else None
        self.q_prepared: queue.Queue = queue.Queue(maxsize)

    def _put(self, q: queue.Queue, item) -> None:
        while True:
            if self.abort.is_set():
                raise _Abort
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _put_latest(self, q: queue.Queue, item) -> None:
        """Live: put without waiting; when the queue is full, the oldest queued frame is dropped."""
        while True:
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                pass
            try:
                old = q.get_nowait()
            except queue.Empty:
                continue
            if isinstance(old, Frame):
                self.stats.dropped += 1
            else:  # not a frame (never END: it comes last): keep it, wait for room
                self._put(q, old)

    def _stale(self, frame: Frame) -> bool:
        """Live: ``frame`` cannot be written within the latency bound and a newer one is waiting."""
        if self.live is None or frame.captured is None or self.q_decoded.empty():
            return False
        return time.monotonic() - frame.captured + self._service > self.live.max_latency

    def _held_too_long(self, held: tuple[Frame, float]) -> bool:
        """Live: a frame held in the look-ahead would miss the latency bound if held for one more frame."""
        frame = held[0]
        return frame.captured is not None and \
            time.monotonic() - frame.captured + 2 * self._service > self.live.max_latency

    def _late(self, frame: Frame) -> bool:
        """Live: ``frame`` is twice the latency bound old at the writer and a newer frame waits behind it
        (frames that queued up while the output was down or stalled: dropped, not written seconds late). Twice:
        in a steady overload frames reach the writer up to about 2x the bound (a 30 min soak: p95 1.6 s, max
        2.5 s at 1 s); dropping those after all their work would only lower the output rate."""
        if self.live is None or frame.captured is None or \
                time.monotonic() - frame.captured <= LATE * self.live.max_latency:
            return False
        for q in (self.q_done, self.q_prepared, self.q_analyzed, self.q_decoded):
            with q.mutex:
                if any(isinstance(x, Frame) for x in q.queue):
                    return True
        return False

    def _served(self, seconds: float) -> None:
        self._service = seconds if not self._service else 0.9 * self._service + 0.1 * seconds

    def _get(self, q: queue.Queue):
        while True:
            if self.abort.is_set():
                raise _Abort
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue

    def _stage(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except _Abort:
                pass
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self.errors.append(exc)
                self.abort.set()
        return run

    def _decode(self, source: Iterable) -> None:
        yield_cpu()
        it = iter(source)
        while True:
            with StageTimer(self.stats, "decode"):
                item = next(it, END)
            if isinstance(item, Frame):
                self.stats.frames_in += 1
                if self.live:
                    self._put_latest(self.q_decoded, item)
                    continue
            self._put(self.q_decoded, item)
            if item is END:
                return

    def _analyze(self) -> None:
        yield_cpu()
        while (item := self._get(self.q_decoded)) is not END:
            if not isinstance(item, Frame):
                self._release(self.lookahead.push(item, frame=False))
                continue
            if self._stale(item):
                self.stats.dropped += 1
                continue
            t0 = time.perf_counter()
            measured = priors = jumped = None
            with StageTimer(self.stats, "analyze"):
                try:
                    faces = self.analyzer.analyze(item.rgb)
                    measured = getattr(self.analyzer, "measured", None)
                    priors = getattr(self.analyzer, "priors", None)
                    jumped = getattr(self.analyzer, "jumped", None)
                except Exception as exc:  # fail closed: the whole frame gets covered
                    log.warning("frame %d: face analysis failed (%s); covering the whole frame",
                                item.index, exc)
                    faces = None
            self.stats.tracks = getattr(self.analyzer, "total_tracks", 0)
            self._release(self.lookahead.push((item, time.perf_counter() - t0), faces, measured, priors=priors,
                                              jumped=jumped))
            if self.live:  # the look-ahead never holds a frame past the latency bound
                self._release(self.lookahead.expire(self._held_too_long))
        self._release(self.lookahead.flush())
        self.stats.backfilled = self.lookahead.backfilled
        self._put(self.q_analyzed, END)

    def _release(self, held) -> None:
        for h in held:
            if h.n is None:
                self._put(self.q_analyzed, h.item)
            else:
                frame, spent = h.item
                self._put(self.q_analyzed, (frame, h.faces, spent))

    def _anonymize(self) -> None:
        out = self.q_prepared if self.halves else self.q_done
        while (item := self._get(self.q_analyzed)) is not END:
            if isinstance(item, tuple):
                frame, faces, spent = item
                t0 = time.perf_counter()
                with StageTimer(self.stats, "anonymize"):
                    plan = self._cover(frame, faces)
                spent += time.perf_counter() - t0
                if self.halves:
                    self._put(out, (frame, plan, spent))
                    continue
                self._served(spent)
                item = frame
            self._put(out, item)
        self._put(out, END)

    def _finish(self) -> None:
        """The second thread of a two-half cover: finishes the frames ``_anonymize`` prepared, in order."""
        while (item := self._get(self.q_prepared)) is not END:
            if isinstance(item, tuple):
                frame, plan, spent = item
                t0 = time.perf_counter()
                if plan is not None:
                    with StageTimer(self.stats, "anonymize"):
                        self._guarded(frame, self.halves.finish, frame.rgb, plan)
                self._served(spent + time.perf_counter() - t0)
                item = frame
            self._put(self.q_done, item)
        self._put(self.q_done, END)

    def _cover(self, frame: Frame, faces: Faces | None):
        """Cover the frame's faces (with a two-half cover: its first half, returning what the second needs,
        or None when nothing is left to do)."""
        st = self.stats
        if faces is None:
            st.failed_frames += 1
            frame.rgb[:] = pixelate(frame.rgb, max(frame.rgb.shape[:2]) / 4.0, blocks=4)
            return None
        st.faces += len(faces)
        st.coasted += int(np.count_nonzero(faces.coasting))
        st.box_faces += int(np.count_nonzero(faces.coasting | ~faces.has_mesh))
        if self.halves:
            return self._guarded(frame, self.halves.prepare, frame.rgb, faces, count=False)
        return self._guarded(frame, self.cover, frame.rgb, faces)

    def _guarded(self, frame: Frame, step: Callable, *args, count: bool = True):
        """Run a covering step; when it raises, the whole frame is covered (fail closed) and None returned.
        ``count``: the step returns fallbacks to add to the stats."""
        try:
            result = step(*args)
        except Exception as exc:  # fail closed
            log.warning("frame %d: covering failed (%s); covering the whole frame", frame.index, exc)
            self.stats.failed_frames += 1
            frame.rgb[:] = pixelate(frame.rgb, max(frame.rgb.shape[:2]) / 4.0, blocks=4)
            return None
        if count:
            self.stats.fallbacks += result
        return result

    def _pace(self, frame: Frame) -> None:
        """Live or paced: wait until the frame is due and give it its output timestamp."""
        if self.clock is None:
            return
        due = self.clock.due(frame)
        wait = due - time.monotonic()
        if wait > 0:
            self.abort.wait(wait)
        self.clock.stamp(frame, due)

    def run(self, source: Iterable, write_frame: Callable[[Frame], None],
            write_other: Callable[[object], None], on_frame: Callable[[Frame], None] | None = None) -> None:
        """Run to the end of ``source``; re-raises the first stage error in the caller's thread."""
        threads = [threading.Thread(target=self._stage(lambda: self._decode(source)), name="decode",
                                    daemon=True),
                   threading.Thread(target=self._stage(self._analyze), name="analyze", daemon=True),
                   threading.Thread(target=self._stage(self._anonymize), name="anonymize", daemon=True)]
        if self.halves:
            threads.append(threading.Thread(target=self._stage(self._finish), name="finish", daemon=True))
        t0 = time.perf_counter()
        heap = HeapTrimmer()
        for t in threads:
            t.start()
        try:
            while True:
                heap.tick()
                try:
                    item = self._get(self.q_done)
                except _Abort:
                    break
                if item is END:
                    break
                if isinstance(item, Frame):
                    if self._late(item):
                        self.stats.dropped += 1
                        continue
                    self._pace(item)
                    with StageTimer(self.stats, "encode"):
                        written = write_frame(item)
                    if written is False:
                        self.stats.dropped += 1
                        continue
                    self.stats.frames += 1
                    if item.captured is not None:
                        self.stats.add_latency(time.monotonic() - item.captured)
                    if on_frame:
                        on_frame(item)
                else:
                    write_other(item)
                    self.stats.audio_packets += 1
        except BaseException:
            self.abort.set()
            raise
        finally:
            self.abort.set() if self.errors else None
            for t in threads:
                t.join(timeout=5)
            self.stats.seconds = time.perf_counter() - t0
            self.stats.tracks = self.analyzer.total_tracks
        if self.errors:
            raise self.errors[0]
