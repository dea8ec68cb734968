"""Open a video file with PyAV and yield upright RGB frames and the audio packets, in stream order."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from ..errors import InputInvalid, InputNotFound, InputTruncated, NoVideoStream
from ..types import Frame

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class VideoInfo:
    """What the sink needs to reproduce the input: coded size, rotation, rate, timing, audio streams."""

    path: str
    width: int
    height: int
    rotation: int  # display rotation, degrees counter-clockwise (multiple of 90)
    time_base: Fraction
    rate: Fraction | None
    frames: int  # announced by the container, 0 when unknown
    duration: float | None
    codec: str
    pix_fmt: str | None
    audio: list = field(default_factory=list)  # PyAV audio streams (templates for the sink)


@dataclass
class AudioPacket:
    """A demuxed audio packet passed through untouched (or a decoded frame when it must be re-encoded)."""

    stream_index: int
    payload: object


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Coded frame -> displayed orientation (rotation counter-clockwise in degrees)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def coded(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Inverse of ``upright``."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, -k)) if k else rgb


def audio_items(packet: av.Packet, pos: int, decode: bool) -> Iterator[AudioPacket]:
    """One demuxed audio packet as it goes to the sink: untouched, or decoded when it must be re-encoded."""
    if decode:
        for af in packet.decode():
            yield AudioPacket(pos, af)
    elif packet.size:
        yield AudioPacket(pos, packet)


def to_frame(vf: av.VideoFrame, index: int, rotation: int, time_base: Fraction | None) -> Frame:
    """A decoded PyAV frame -> an upright RGB Frame stamped with its capture (decode) time."""
    rgb = upright(vf.to_ndarray(format="rgb24"), rotation)
    return Frame(index=index, rgb=rgb, pts=vf.pts, time_base=vf.time_base or time_base, captured=time.monotonic())


def _av_error(path: str, exc: Exception) -> Exception:
    msg = getattr(exc, "strerror", None) or str(exc)
    return InputInvalid(f"cannot read {path}: not a media file we can decode ({msg})", path=path)


class Closing:
    """Context manager that calls ``self.close()`` on exit (sources and sinks)."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class VideoSource(Closing):
    """A video file opened for decoding. Use as a context manager; iterate for Frame | AudioPacket.

    ``decode_audio`` lists audio stream positions whose packets are decoded to frames (when the output
    container cannot take that codec as is). ``stop`` ends the iteration early (Ctrl-C).
    """

    def __init__(self, path: str | os.PathLike, audio: bool = True):
        self.path = str(path)
        self.stop = threading.Event()
        self.decode_audio: set[int] = set()
        p = Path(self.path)
        if not p.exists():
            raise InputNotFound(f"input not found: {self.path}", path=self.path)
        if p.is_dir():
            raise InputInvalid(f"input is a folder, not a video: {self.path}", path=self.path)
        if p.stat().st_size == 0:
            raise InputInvalid(f"input is an empty file: {self.path}", path=self.path)
        try:
            self.container = av.open(self.path, mode="r", metadata_errors="ignore")
        except av.error.FileNotFoundError as exc:
            raise InputNotFound(f"input not found: {self.path}", path=self.path) from exc
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise _av_error(self.path, exc) from exc
        if not self.container.streams.video:
            kinds = sorted({s.type for s in self.container.streams}) or ["no streams"]
            self.container.close()
            raise NoVideoStream(f"input has no video stream ({', '.join(kinds)}): {self.path}", path=self.path)
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio) if audio else []
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        try:  # the first frame carries the display matrix
            first = next(self.container.decode(self.video))
            rotation = int(round(first.rotation or 0)) // 90 * 90
        except StopIteration as exc:
            raise InputTruncated(f"input has a video stream but no decodable frame: {self.path}",
                                 path=self.path, frame=0) from exc
        except av.error.FFmpegError as exc:
            raise _av_error(self.path, exc) from exc
        self._reopen()
        v, cc = self.video, self.video.codec_context
        duration = float(v.duration * v.time_base) if v.duration and v.time_base else (
            self.container.duration / av.time_base if self.container.duration else None)
        rate = v.average_rate or v.guessed_rate or v.base_rate
        return VideoInfo(path=self.path, width=cc.width, height=cc.height, rotation=rotation,
                         time_base=v.time_base or Fraction(1, 1000), rate=rate, frames=int(v.frames or 0),
                         duration=duration, codec=cc.name, pix_fmt=cc.pix_fmt, audio=self.audio)

    def _reopen(self) -> None:
        """Reopen from the start (seeking is not exact for every format; reopening is)."""
        keep_audio = bool(self.audio)
        self.container.close()
        self.container = av.open(self.path, mode="r", metadata_errors="ignore")
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = list(self.container.streams.audio) if keep_audio else []

    def close(self) -> None:
        self.container.close()

    def __iter__(self) -> Iterator[Frame | AudioPacket]:
        rotation = self.info.rotation
        index = 0
        audio_pos = {s.index: i for i, s in enumerate(self.audio)}
        try:
            for packet in self.container.demux(self.video, *self.audio):
                if self.stop.is_set():
                    return
                if packet.stream.type == "audio":
                    pos = audio_pos[packet.stream.index]
                    yield from audio_items(packet, pos, pos in self.decode_audio)
                    continue
                for vf in packet.decode():
                    yield to_frame(vf, index, rotation, self.video.time_base)
                    index += 1
        except av.error.FFmpegError as exc:
            raise InputTruncated(f"input is truncated or corrupt after frame {index}: {self.path} ({exc})",
                                 path=self.path, frame=index) from exc
        announced = self.info.frames
        if announced and index < announced - max(2, announced // 100):
            raise InputTruncated(f"input is truncated: {index} of {announced} frames decodable: {self.path}",
                                 path=self.path, frame=index)
