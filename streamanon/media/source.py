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
DECODE_THREADS = "SLICE"


@dataclass
class VideoInfo:
    """What the sink needs to reproduce the input: coded size, rotation, rate, timing, audio streams."""

    path: str
    width: int
    height: int
    rotation: int  # display rotation, degrees counter-clockwise (multiple of 90)
    time_base: Fraction
    rate: Fraction | None
    frames: int  # presented frames the container announces (edit-list pre-roll left out), 0 when unknown
    duration: float | None
    codec: str
    pix_fmt: str | None
    audio: list = field(default_factory=list)  # PyAV audio streams (templates for the sink)
    start: float | None = None  # the video stream's first presented time, seconds (None: unknown)
    video_duration: float | None = None  # the video stream's own presented duration (not the container's)


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


def known_audio(container, path: str | None = None) -> list:
    """The audio streams whose codec FFmpeg knows and whose time base makes sense (a damaged header's time
    scale of 1 gives packet durations no muxer takes); the others are left out (a warning when ``path``)."""
    streams = list(container.streams.audio)
    known = [s for s in streams if s.codec_context is not None and s.time_base is not None
             and Fraction(1, 1_000_000) <= s.time_base <= Fraction(1, 100)]
    if path is not None and len(known) < len(streams):
        log.warning("%s: %d audio stream(s) with an unknown codec or a damaged time base left out", path,
                    len(streams) - len(known))
    return known


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
        self.corrupt_packets = 0  # packets the decoder rejected: skipped (ffmpeg conceals or skips them too)
        self.truncated: str | None = None  # why decoding ended before the container's announced end
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
        if self.video.codec_context is None:  # a codec FFmpeg does not know (a damaged sample description)
            self.container.close()
            raise InputInvalid(f"cannot read {self.path}: its video stream has an unknown codec", path=self.path)
        # slice threads only: with frame threads an error surfaces on a later packet, and an error while the
        # decoder is drained at the end loses every frame still in it (PyAV cannot receive after it); the
        # decoder's own thread overlaps with analysis and encoding anyway
        self.video.thread_type = DECODE_THREADS
        self.audio = known_audio(self.container, self.path) if audio else []
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        first = next(tolerant_decode(self.container, self.video), None)  # it carries the display matrix
        if first is None:
            raise InputTruncated(f"input has a video stream but no decodable frame: {self.path}",
                                 path=self.path, frame=0)
        rotation = int(round(first.rotation or 0)) // 90 * 90
        self._reopen()
        v, cc = self.video, self.video.codec_context
        own = float(v.duration * v.time_base) if v.duration and v.time_base else None
        duration = own if own is not None else (
            self.container.duration / av.time_base if self.container.duration else None)
        start = float(v.start_time * v.time_base) if v.start_time is not None and v.time_base else None
        rate = v.average_rate or v.guessed_rate or v.base_rate
        if rate is not None and not Fraction(1, 100) <= rate <= 1000:  # a damaged header's time scale
            rate = None
        return VideoInfo(path=self.path, width=cc.width, height=cc.height, rotation=rotation,
                         time_base=sane_time_base(v.time_base), rate=rate,
                         frames=presented_frames(int(v.frames or 0), own, rate), duration=duration, start=start,
                         video_duration=own, codec=cc.name, pix_fmt=cc.pix_fmt, audio=self.audio)

    def _reopen(self) -> None:
        """Reopen from the start (seeking is not exact for every format; reopening is)."""
        keep_audio = bool(self.audio)
        self.container.close()
        self.container = av.open(self.path, mode="r", metadata_errors="ignore")
        self.video = self.container.streams.video[0]
        self.video.thread_type = DECODE_THREADS
        self.audio = known_audio(self.container) if keep_audio else []

    def close(self) -> None:
        self.container.close()

    def __iter__(self) -> Iterator[Frame | AudioPacket]:
        """Frames and audio packets in stream order. Corrupt packets are skipped and counted
        (``corrupt_packets``, one warning); a read error ends the input, as it does for ffmpeg. When decoding
        ends before the container's announced end, ``truncated`` says why and the frames decoded so far stand;
        only an input with no decodable frame at all raises InputTruncated."""
        rotation = self.info.rotation
        index = 0
        last: float | None = None  # the last decoded frame's time, seconds
        audio_pos = {s.index: i for i, s in enumerate(self.audio)}
        preroll: dict[int, av.Packet] = {}  # per audio stream: the last packet an edit list hides
        packets = self.container.demux(self.video, *self.audio)
        read_error = None
        intra = bool(getattr(self.video.codec_context.codec, "intra_only", False))
        held: np.ndarray | None = None  # intra-only codecs: the last good picture, to conceal a corrupt one
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:  # ffmpeg, too, ends an input at a read error
                read_error = exc
                break
            if self.stop.is_set():
                return
            if packet.stream.type == "audio":
                pos = audio_pos[packet.stream.index]
                decode = pos in self.decode_audio
                if packet.is_discard and not decode:
                    # wholly before an edit list's start: players never present it. Passed through it
                    # would be presented by outputs without edit lists (mkv, ts), with the video
                    # shifted to match. Only the last one goes out, as the decoder's pre-roll (an mp4
                    # output hides it again: its timestamps are negative)
                    preroll[pos] = packet
                    continue
                try:
                    items = list(audio_items(preroll.pop(pos), pos, decode)) if pos in preroll else []
                    items += audio_items(packet, pos, decode)  # a decoder drops hidden samples itself
                except av.error.FFmpegError as exc:
                    self._corrupt("audio", exc)
                    continue
                yield from items
                continue
            # packets an edit list hides (pre-roll from the keyframe before the edit's start) are still
            # decoded, as references; libavcodec drops their frames, as ffmpeg does
            decoded = self._decode(packet)
            if decoded is None and held is not None and packet.pts is not None and packet.size:
                # intra-only (MJPEG): one packet is one picture; the previous one stands in for it, as a
                # concealing decoder would, so that the frame count and rate stay (it is analyzed afresh)
                yield Frame(index=index, rgb=held.copy(), pts=packet.pts, time_base=self.video.time_base,
                            captured=time.monotonic())
                index += 1
            for vf in decoded or []:
                if vf.pts is not None and vf.time_base:
                    last = float(vf.pts * vf.time_base)
                frame = to_frame(vf, index, rotation, self.video.time_base)
                if intra:
                    held = frame.rgb.copy()
                yield frame
                index += 1
        if read_error is not None:  # the demuxer gave up: the decoder still holds frames (B-frames)
            for vf in self._decode(None) or []:
                yield to_frame(vf, index, rotation, self.video.time_base)
                index += 1
        if index == 0:
            raise InputTruncated(f"input has a video stream but no decodable frame: {self.path}"
                                 + (f" ({read_error})" if read_error else ""), path=self.path, frame=0)
        short = shortfall(self.info, index, last)
        if short or read_error is not None:
            self.truncated = short or f"read error after frame {index} ({read_error})"
            log.warning("input is truncated or corrupt: %s; the output holds the %d decodable frames: %s",
                        self.truncated, index, self.path)

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame] | None:
        """The frames one video packet gives (``packet`` None: flush the decoder); None for a corrupt packet."""
        try:
            return self.video.codec_context.decode(packet)
        except av.error.FFmpegError as exc:
            self._corrupt("video", exc)
            return None

    def _corrupt(self, kind: str, exc: Exception) -> None:
        self.corrupt_packets += 1
        if self.corrupt_packets == 1:
            log.warning("%s: a corrupt %s packet was skipped (%s); further ones are only counted (--stats "
                        "corrupt_packets)", self.path, kind, getattr(exc, "strerror", None) or exc)


def tolerant_decode(container, stream) -> Iterator[av.VideoFrame]:
    """Decoded frames of ``stream`` as ffmpeg gets them: corrupt packets skipped, a read error taken as the end
    (the decoder is flushed)."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            packet = None
        try:
            yield from stream.codec_context.decode(packet)
        except av.error.FFmpegError:
            pass
        if packet is None:
            return


def sane_time_base(tb: Fraction | None) -> Fraction:
    """The input's time base, or 1/90000 where it is unknown or absurd (a damaged header: a time scale of 0, 1
    or 2^31-1); the sink takes it as the encoder's, and encoders fail on extreme ones."""
    if tb is None or not Fraction(1, 1_000_000) <= tb <= Fraction(1, 1):
        return Fraction(1, 90_000)
    return tb


def presented_frames(announced: int, duration: float | None, rate: Fraction | None) -> int:
    """The frames a player presents, from the container's count: an MP4 edit list can hide frames (the
    GOP before a cut made without re-encoding), which the sample count still includes but the stream's
    duration does not."""
    if not announced or not duration or not rate:
        return announced
    shown = int(round(duration * float(rate)))
    return shown if 0 < shown < announced - 1 else announced


def shortfall(info: VideoInfo, decoded: int, last: float | None) -> str | None:
    """Why decoding stopped before the presented end (None when it did not): by time when the container
    gives the video stream's duration (an edit list can hide frames at either end), else by frame count.
    Nothing is checked where the container announces no frame count (streams, mpegts, most mkv)."""
    announced = info.frames
    if not announced:
        return None
    if info.video_duration and last is not None:
        step = 1.0 / float(info.rate) if info.rate else info.video_duration / announced
        end = (info.start or 0.0) + info.video_duration
        if last + step < end - max(2 * step, info.video_duration / 100):
            got = last + step - (info.start or 0.0)
            return f"{decoded} of {announced} frames ({got:.2f} of {info.video_duration:.2f} s) decodable"
        return None
    if decoded < announced - max(2, announced // 100):
        return f"{decoded} of {announced} frames decodable"
    return None
