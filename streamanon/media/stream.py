"""Read stdin (``-``) or an ``rtsp://`` URL with PyAV: no seeking, and for RTSP reconnection with backoff."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from fractions import Fraction

import av
import cv2

from ..errors import InputInvalid, InputNotFound, InputTruncated, StreamanonError, StreamLost
from ..types import Frame
from .endpoints import RTSP, StreamOptions, backoff_delays, kind_of
from .source import AudioPacket, Closing, VideoInfo, audio_items, to_frame

log = logging.getLogger(__name__)


class StreamSource(Closing):
    """A pipe or an RTSP stream opened for decoding. Use as a context manager; iterate for Frame | AudioPacket.

    The probe cannot rewind, so what it demuxed to find the first frame is kept and yielded first. RTSP is
    live: audio is not read, and when the stream drops (error, end, no data for ``options.timeout`` s) the
    source reconnects with exponential backoff if ``options.reconnect``, else raises StreamLost. Frames of a
    stream that comes back at another size are resized to the first size. ``stop`` ends the iteration.
    """

    def __init__(self, spec: str, options: StreamOptions, audio: bool = True):
        self.spec, self.options = spec, options
        self.live = kind_of(spec) == RTSP
        self.name = spec if self.live else "stdin"
        self.stop = threading.Event()
        self.decode_audio: set[int] = set()
        self.reconnects = 0
        self._index = 0
        self._pending: list = []  # audio packets and video frames demuxed by the probe
        self._want_audio = audio and not self.live
        if audio and self.live:
            log.info("live input: audio is not passed through")
        self._open()
        self.info = self._probe()

    # ------------------------------------------------------------------ open

    def _open(self) -> None:
        try:
            if self.live:
                opts = {"rtsp_transport": self.options.rtsp_transport, "fflags": "nobuffer",
                        "analyzeduration": "1000000"}
                t = self.options.timeout
                self.container = av.open(self.spec, options=opts, timeout=(t, t), metadata_errors="ignore")
            else:
                self.container = av.open("pipe:0", format=self.options.demuxer,
                                         options=self.options.demuxer_options(), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            msg = getattr(exc, "strerror", None) or str(exc)
            if self.live:
                raise InputNotFound(f"cannot open {self.name}: {msg}", path=self.spec) from exc
            raise InputInvalid(f"cannot read {self.name} as {self.options.input_format}: {msg}",
                               path=self.spec) from exc
        if not self.container.streams.video:
            kinds = sorted({s.type for s in self.container.streams}) or ["no streams"]
            self.container.close()
            raise InputInvalid(f"{self.name} has no video stream ({', '.join(kinds)})", path=self.spec)
        self.video = self.container.streams.video[0]
        self.video.thread_type = "SLICE" if self.live else "AUTO"  # frame threads hold frames back
        self.audio = list(self.container.streams.audio) if self._want_audio else []

    def _probe(self) -> VideoInfo:
        first = None
        try:
            for packet in self.container.demux(self.video, *self.audio):
                if packet.stream.type == "audio":
                    self._pending.append(packet)
                    continue
                frames = packet.decode()
                self._pending.extend(frames)
                if frames:
                    first = frames[0]
                    break
        except av.error.FFmpegError as exc:
            self.close()
            raise InputInvalid(f"cannot decode {self.name}: {exc}", path=self.spec) from exc
        if first is None:
            self.close()
            raise InputTruncated(f"{self.name} has a video stream but no decodable frame", path=self.spec, frame=0)
        v = self.video
        rate = v.average_rate or v.guessed_rate or v.base_rate
        if not rate and self.options.input_format == "rawvideo":
            rate = self.options.input_rate
        rotation = int(round(first.rotation or 0)) // 90 * 90
        width, height = (first.height, first.width) if rotation % 180 else (first.width, first.height)
        self._pending = [to_frame(x, 0, rotation, v.time_base) if isinstance(x, av.VideoFrame) else x
                         for x in self._pending]  # stamped now, when they were decoded
        return VideoInfo(path=self.spec, width=width, height=height, rotation=rotation,
                         time_base=v.time_base or Fraction(1, 1000), rate=rate, frames=0, duration=None,
                         codec=v.codec_context.name, pix_fmt=first.format.name, audio=self.audio)

    # ------------------------------------------------------------------ iterate

    def close(self) -> None:
        try:
            self.container.close()
        except (av.error.FFmpegError, OSError):
            pass

    def __iter__(self) -> Iterator[Frame | AudioPacket]:
        while True:
            error: Exception | None = None
            try:
                yield from self._session()
            except av.error.FFmpegError as exc:
                error = exc
            if self.stop.is_set():
                return
            if not self.live:
                if error is not None:
                    raise InputTruncated(f"{self.name} is truncated or corrupt after frame {self._index} ({error})",
                                         path=self.spec, frame=self._index) from error
                return
            reason = f"{error}" if error is not None else "end of stream"
            if not self.options.reconnect:
                raise StreamLost(f"{self.name} dropped after {self._index} frames ({reason}); the output keeps "
                                 f"them (use --reconnect to retry)", path=self.spec, frame=self._index)
            log.warning("%s dropped after %d frames (%s); reconnecting", self.name, self._index, reason)
            if not self._reconnect():
                return

    def _session(self) -> Iterator[Frame | AudioPacket]:
        """Items of one connection: the probe's first, then the demuxer's, until the end or an error."""
        audio_pos = {s.index: i for i, s in enumerate(self.audio)}
        pending, self._pending = self._pending, []
        packets = self.container.demux(self.video, *self.audio)
        for item in itertools.chain(pending, packets):
            if self.stop.is_set():
                return
            if isinstance(item, Frame):  # decoded by the probe
                item.index = self._index
                self._index += 1
                yield item
            elif item.stream.type == "audio":
                pos = audio_pos[item.stream.index]
                yield from audio_items(item, pos, pos in self.decode_audio)
            else:
                for vf in item.decode():
                    yield self._frame(vf)

    def _frame(self, vf: av.VideoFrame) -> Frame:
        frame = to_frame(vf, self._index, self.info.rotation, self.video.time_base)
        h, w = frame.rgb.shape[:2]
        if (w, h) != (self.info.width, self.info.height):  # the stream came back at another size
            frame.rgb = cv2.resize(frame.rgb, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)
        self._index += 1
        return frame

    def _reconnect(self) -> bool:
        """Reopen with exponential backoff until it works (True) or ``stop`` is set (False)."""
        self.close()
        for delay in backoff_delays(limit=self.options.max_backoff):
            if self.stop.wait(delay):
                return False
            try:
                self._open()
            except StreamanonError as exc:
                log.info("reconnect failed: %s", exc)
                continue
            self.reconnects += 1
            log.warning("reconnected to %s", self.name)
            return True
        return False  # not reached: the delays never end
