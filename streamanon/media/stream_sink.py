"""Write to stdout (``-``) or push to an ``rtsp://`` URL; RTSP reconnects with backoff when the server goes."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace

import av

from ..errors import EncodeError, OutputError
from ..types import Frame
from .endpoints import RTSP, StreamOptions, backoff_delays, kind_of
from .sink import EncodeSettings, VideoSink
from .source import VideoInfo

log = logging.getLogger(__name__)

RAW_CODECS = {"yuv4mpegpipe": "wrapped_avframe", "rawvideo": "rawvideo"}  # muxers that take raw frames only
_stdout_fd: int | None = None


def claim_stdout() -> int:
    """Keep fd 1 for the video stream: return a duplicate of it and point fd 1 (and ``print``) at stderr.

    Whatever a library prints afterwards lands on stderr instead of corrupting the stream. Idempotent.
    """
    global _stdout_fd
    if _stdout_fd is None:
        import sys

        sys.stdout.flush()
        _stdout_fd = os.dup(1)
        os.dup2(2, 1)
    return _stdout_fd


class StreamSink(VideoSink):
    """A VideoSink on stdout (container ``options.output_format``) or an RTSP push (TCP unless told UDP).

    Nothing is renamed or removed on close. y4m and rawvideo carry raw frames and no audio. An RTSP output
    carries no audio; when the server goes away, ``write`` drops frames (returns False) and reconnects with
    backoff if ``options.reconnect``, else raises OutputError.
    """

    def __init__(self, dst: str, info: VideoInfo, settings: EncodeSettings, options: StreamOptions):
        self.target, self.options = dst, options
        self.rtsp = kind_of(dst) == RTSP
        self.muxer = "rtsp" if self.rtsp else options.muxer
        self.reconnects = 0
        self._retry_at: float | None = None  # set while the RTSP output is down
        self._delays = backoff_delays(limit=options.max_backoff)
        raw = RAW_CODECS.get(self.muxer)
        if raw:
            if settings.codec != raw:
                log.info("%s output: frames are written raw (%s), not with %s", options.output_format, raw,
                         settings.codec)
            settings = replace(settings, codec=raw, crf=None, preset=None, pix_fmt=settings.pix_fmt or "yuv420p")
        if (raw or self.rtsp) and settings.audio and info.audio:
            log.info("%s output cannot carry audio here; audio is dropped", "rtsp" if self.rtsp else
                     options.output_format)
            settings = replace(settings, audio=False)
        super().__init__(dst, info, settings, label=dst if self.rtsp else "stdout")

    def _open_container(self) -> av.container.OutputContainer:
        if self.rtsp:
            t = self.options.timeout
            return av.open(self.target, mode="w", format="rtsp",
                           options={"rtsp_transport": self.options.rtsp_transport}, timeout=(t, t))
        return av.open(f"pipe:{claim_stdout()}", mode="w", format=self.muxer)

    def write(self, frame: Frame) -> bool:
        if self._retry_at is not None and not self._reopen():
            return False
        try:
            return super().write(frame)
        except (OutputError, EncodeError) as exc:
            if not (self.rtsp and self.options.reconnect):
                raise
            log.warning("%s; reconnecting", exc)
            self._discard()
            self._retry_at = time.monotonic() + next(self._delays)
            return False

    def _reopen(self) -> bool:
        """Try to reconnect the RTSP output when the backoff delay has passed (never blocks for long)."""
        if time.monotonic() < self._retry_at:  # type: ignore[operator]
            return False
        try:
            self._start()
        except (OutputError, EncodeError) as exc:
            log.info("reconnect failed: %s", exc)
            self._retry_at = time.monotonic() + next(self._delays)
            return False
        self._retry_at = None
        self._delays = backoff_delays(limit=self.options.max_backoff)
        self.reconnects += 1
        log.warning("reconnected to %s", self.target)
        return True

    def close(self, ok: bool) -> None:
        """Flush and finish the stream (also after a failure: a pipe's reader gets a clean end)."""
        if self._retry_at is not None:
            return
        try:
            self._flush()
        except av.error.FFmpegError as exc:
            self._discard()
            if ok:
                raise OutputError(f"finishing {self.label} failed: {exc}", path=self.label) from exc

    def _discard(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the output is already broken
            pass
