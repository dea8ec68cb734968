"""Threads joined by bounded queues: decode -> analyze -> anonymize -> encode (file mode: never drop)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from .faces.analyze import FaceAnalyzer
from .methods import pixelate
from .stats import StageTimer, Stats
from .types import Faces, Frame

log = logging.getLogger(__name__)

END = object()


class _Abort(Exception):
    """Another stage failed: leave quietly."""


class Pipeline:
    """Runs the stages in threads; the caller's thread encodes (``sink``) and reports progress.

    Items that are not Frames (audio packets) pass through every queue in order. ``cover(rgb, faces)``
    replaces the faces in place and returns how many fell back to a solid fill.
    """

    def __init__(self, analyzer: FaceAnalyzer, cover: Callable[[np.ndarray, Faces], int], stats: Stats,
                 maxsize: int = 8):
        self.analyzer, self.cover, self.stats = analyzer, cover, stats
        self.abort = threading.Event()
        self.errors: list[BaseException] = []
        self.q_decoded: queue.Queue = queue.Queue(maxsize)
        self.q_analyzed: queue.Queue = queue.Queue(maxsize)
        self.q_done: queue.Queue = queue.Queue(maxsize)

    def _put(self, q: queue.Queue, item) -> None:
        while True:
            if self.abort.is_set():
                raise _Abort
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

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
        it = iter(source)
        while True:
            with StageTimer(self.stats, "decode"):
                item = next(it, END)
            self._put(self.q_decoded, item)
            if item is END:
                return

    def _analyze(self) -> None:
        while (item := self._get(self.q_decoded)) is not END:
            if isinstance(item, Frame):
                with StageTimer(self.stats, "analyze"):
                    try:
                        faces = self.analyzer.analyze(item.rgb)
                    except Exception as exc:  # fail closed: the whole frame gets covered
                        log.warning("frame %d: face analysis failed (%s); covering the whole frame",
                                    item.index, exc)
                        faces = None
                self.stats.tracks = getattr(self.analyzer, "total_tracks", 0)
                item = (item, faces)
            self._put(self.q_analyzed, item)
        self._put(self.q_analyzed, END)

    def _anonymize(self) -> None:
        while (item := self._get(self.q_analyzed)) is not END:
            if isinstance(item, tuple):
                frame, faces = item
                with StageTimer(self.stats, "anonymize"):
                    self._cover(frame, faces)
                item = frame
            self._put(self.q_done, item)
        self._put(self.q_done, END)

    def _cover(self, frame: Frame, faces: Faces | None) -> None:
        st = self.stats
        if faces is None:
            st.failed_frames += 1
            frame.rgb[:] = pixelate(frame.rgb, max(frame.rgb.shape[:2]) / 4.0, blocks=4)
            return
        st.faces += len(faces)
        st.coasted += int(np.count_nonzero(faces.coasting))
        try:
            st.fallbacks += self.cover(frame.rgb, faces)
        except Exception as exc:  # fail closed
            log.warning("frame %d: covering failed (%s); covering the whole frame", frame.index, exc)
            st.failed_frames += 1
            frame.rgb[:] = pixelate(frame.rgb, max(frame.rgb.shape[:2]) / 4.0, blocks=4)

    def run(self, source: Iterable, write_frame: Callable[[Frame], None],
            write_other: Callable[[object], None], on_frame: Callable[[Frame], None] | None = None) -> None:
        """Run to the end of ``source``; re-raises the first stage error in the caller's thread."""
        threads = [threading.Thread(target=self._stage(lambda: self._decode(source)), name="decode",
                                    daemon=True),
                   threading.Thread(target=self._stage(self._analyze), name="analyze", daemon=True),
                   threading.Thread(target=self._stage(self._anonymize), name="anonymize", daemon=True)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        try:
            while True:
                try:
                    item = self._get(self.q_done)
                except _Abort:
                    break
                if item is END:
                    break
                if isinstance(item, Frame):
                    with StageTimer(self.stats, "encode"):
                        write_frame(item)
                    self.stats.frames += 1
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
