"""Read a webcam (``webcam:N``) through OpenCV: PyAV's FFmpeg has no v4l2 input."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import cv2

from ..errors import InputNotFound, StreamLost
from ..types import Frame
from .endpoints import StreamOptions, backoff_delays
from .source import Closing, VideoInfo

log = logging.getLogger(__name__)

TIME_BASE = Fraction(1, 1000)


class WebcamSource(Closing):
    """Frames of webcam ``index``, stamped with their capture time (ms since the first frame).

    ``capture`` opens the device (``cv2.VideoCapture`` by default; tests pass a fake). When the camera
    stops delivering, the source reopens it with backoff if ``options.reconnect``, else raises StreamLost.
    """

    def __init__(self, index: int, options: StreamOptions,
                 capture: Callable[[int], cv2.VideoCapture] = cv2.VideoCapture):
        self.index, self.options, self._capture = index, options, capture
        self.name = f"webcam:{index}"
        self.stop = threading.Event()
        self.decode_audio: set[int] = set()
        self.reconnects = 0
        self._count = 0
        self.cap = self._open()
        ok, bgr = self.cap.read()
        if not ok or bgr is None:
            self.close()
            raise InputNotFound(f"{self.name} opened but delivers no frames", path=self.name)
        self._t0 = time.monotonic()
        self._first = bgr
        fps = self.cap.get(cv2.CAP_PROP_FPS) or 0.0
        rate = Fraction(fps).limit_denominator(1001) if 1.0 <= fps <= 240.0 else Fraction(30)
        h, w = bgr.shape[:2]
        self.info = VideoInfo(path=self.name, width=w, height=h, rotation=0, time_base=TIME_BASE, rate=rate,
                              frames=0, duration=None, codec="webcam", pix_fmt="bgr24", audio=[])

    def _open(self) -> cv2.VideoCapture:
        level = cv2.getLogLevel()
        if not log.isEnabledFor(logging.DEBUG):  # OpenCV's own lines about a missing device; we say it once
            cv2.setLogLevel(0)  # silent
        try:
            cap = self._capture(self.index)
        finally:
            cv2.setLogLevel(level)
        if not cap.isOpened():
            cap.release()
            raise InputNotFound(f"cannot open {self.name} (no such camera, or it is busy)", path=self.name)
        return cap

    def close(self) -> None:
        self.cap.release()

    def __iter__(self) -> Iterator[Frame]:
        bgr = self._first
        while not self.stop.is_set():
            if bgr is None:
                ok, bgr = self.cap.read()
                if not ok or bgr is None:
                    if not self._reconnect():
                        return
                    bgr = None
                    continue
            yield self._frame(bgr)
            bgr = None

    def _frame(self, bgr) -> Frame:
        now = time.monotonic()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if rgb.shape[:2] != (self.info.height, self.info.width):
            rgb = cv2.resize(rgb, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)
        frame = Frame(index=self._count, rgb=rgb, pts=int(round((now - self._t0) * 1000)), time_base=TIME_BASE,
                      captured=now)
        self._count += 1
        return frame

    def _reconnect(self) -> bool:
        if not self.options.reconnect:
            raise StreamLost(f"{self.name} stopped delivering frames after {self._count}; the output keeps them "
                             f"(use --reconnect to retry)", path=self.name, frame=self._count)
        log.warning("%s stopped delivering frames; reopening", self.name)
        self.cap.release()
        for delay in backoff_delays(limit=self.options.max_backoff):
            if self.stop.wait(delay):
                return False
            try:
                self.cap = self._open()
            except InputNotFound as exc:
                log.info("reopen failed: %s", exc)
                continue
            self.reconnects += 1
            return True
        return False
