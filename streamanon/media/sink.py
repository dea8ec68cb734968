"""Encode frames and mux them with the input's audio into a temporary file, renamed when complete."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import EncodeError, OutputError
from ..types import Frame
from .safe_paths import exclusive_temp, same_file
from .source import AudioPacket, VideoInfo, coded

log = logging.getLogger(__name__)


@dataclass
class EncodeSettings:
    """Video encoder settings (ffmpeg names). ``options`` are passed to the encoder as is."""

    codec: str = "libx264"
    crf: int | None = 20
    preset: str | None = "veryfast"
    audio: bool = True
    pix_fmt: str | None = None
    options: dict | None = None

    def __post_init__(self) -> None:
        """Checked when the arguments are parsed (exit 2), not when the encoder opens after the models load."""
        try:
            av.codec.Codec(self.codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise ValueError(f"-c:v: unknown video encoder {self.codec!r} (ffmpeg -encoders lists them)") from None
        x26x = self.codec in ("libx264", "libx265")
        if self.crf is not None and not 0 <= self.crf <= (51 if x26x else 63):
            raise ValueError(f"--crf must be in [0, {51 if x26x else 63}] for {self.codec}, got {self.crf}")
        if x26x and self.preset is not None and self.preset not in X26X_PRESETS:
            raise ValueError(f"--preset must be one of {', '.join(X26X_PRESETS)} for {self.codec}, got {self.preset!r}")
        if self.pix_fmt is not None:
            try:
                av.VideoFormat(self.pix_fmt)
            except (ValueError, av.error.FFmpegError):
                raise ValueError(f"--pix-fmt: unknown pixel format {self.pix_fmt!r}") from None


X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


def check_output(dst: Path, src: Path | None, overwrite: bool) -> None:
    """Raise OutputError for an output we must not write."""
    if src is not None and same_file(dst, src):
        raise OutputError(f"output is the same file as the input: {dst}", path=str(dst))
    if not dst.parent.exists():
        raise OutputError(f"output folder does not exist: {dst.parent}", path=str(dst))
    if dst.is_dir():
        raise OutputError(f"output is a folder, expected a file: {dst}", path=str(dst))
    if dst.exists() and not overwrite:
        raise OutputError(f"output exists (use -y to overwrite): {dst}", path=str(dst))
    if not os.access(dst.parent, os.W_OK):
        raise OutputError(f"output folder is not writable: {dst.parent}", path=str(dst))


def _pix_fmt(codec: av.codec.Codec, width: int, height: int, wanted: str | None) -> str:
    formats = [f.name for f in (codec.video_formats or [])]
    if wanted:
        if formats and wanted not in formats:
            raise EncodeError(f"encoder {codec.name} does not support pixel format {wanted}; "
                              f"available: {', '.join(formats)}")
        return wanted
    odd = width % 2 or height % 2
    for name in (["yuv444p"] if odd else []) + ["yuv420p", "yuv444p", "rgb24"]:
        if not formats or name in formats:
            return name
    return formats[0]


def to_video_frame(rgb: np.ndarray, pix_fmt: str | None) -> av.VideoFrame:
    """An RGB picture as a frame for an encoder of ``pix_fmt``: yuv420p (even sides) converted by OpenCV (BT.601,
    limited range, like swscale's default; a tenth of swscale's time, and without the GIL), else as RGB for the
    encoder's own conversion."""
    h, w = rgb.shape[:2]
    if pix_fmt == "yuv420p" and not (h % 2 or w % 2):
        return av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


# mpegts has no codec tag table, so PyAV's supported_codecs is empty for it
MPEGTS_AUDIO = frozenset({"aac", "mp2", "mp3", "ac3", "eac3", "opus"})


def holds(container: av.container.OutputContainer, codec: str) -> bool:
    """Whether ``container`` can carry ``codec`` as is."""
    if container.format.name == "mpegts":
        return codec in MPEGTS_AUDIO
    return codec in container.supported_codecs


class VideoSink:
    """Encode + mux to a temporary file; ``close(ok=True)`` renames it to the final name.

    Subclasses (pipes, RTSP) override ``_open_container`` and ``close``.
    """

    def __init__(self, dst: str | os.PathLike, info: VideoInfo, settings: EncodeSettings, label: str | None = None):
        self.dst = Path(dst)
        self.tmp: Path | None = None  # created when the container opens (files only)
        self.label = label or str(self.dst)  # how messages name the output
        self.info, self.settings = info, settings
        self.rotation = info.rotation
        self._last_pts: int | None = None
        self.frames = 0
        self.audio_out: list = []
        self.audio_transcode: set[int] = set()
        self._start()

    def _open_container(self) -> av.container.OutputContainer:
        try:
            self.tmp = exclusive_temp(self.dst)
        except OSError as exc:
            raise OutputError(f"cannot create a file in {self.dst.parent}: {exc.strerror}", path=str(self.dst)) from exc
        return av.open(str(self.tmp), mode="w")

    def _start(self) -> None:
        """Open the container, add the streams and write the header."""
        try:
            self.container = self._open_container()
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {self.label}: {exc}", path=self.label) from exc
        try:
            self._add_video(self.settings)
            self.audio_out, self.audio_transcode = self._add_audio(self.info.audio if self.settings.audio else [])
            self.container.start_encoding()
        except av.error.FFmpegError as exc:
            self._discard()
            if isinstance(exc, OSError):  # network and I/O errors
                raise OutputError(f"cannot write {self.label}: {exc}", path=self.label) from exc
            raise EncodeError(f"cannot set up the encoder for {self.label}: {exc}", path=self.label) from exc
        except Exception:
            self._discard()
            raise

    def _add_video(self, s: EncodeSettings) -> None:
        try:
            codec = av.codec.Codec(s.codec, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise EncodeError(f"unknown video encoder: {s.codec}") from exc
        info = self.info
        tb = info.time_base
        self.stream = self.container.add_stream(codec.name, rate=info.rate or Fraction(25))
        self.stream.width, self.stream.height = info.width, info.height
        self.stream.pix_fmt = _pix_fmt(codec, info.width, info.height, s.pix_fmt)
        self.stream.time_base = tb
        self.stream.codec_context.time_base = tb
        opts = dict(s.options or {})
        if s.crf is not None and codec.name in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
            opts.setdefault("crf", str(s.crf))
        if s.preset and codec.name in ("libx264", "libx265", "libsvtav1"):
            opts.setdefault("preset", s.preset)
        self.stream.options = opts
        if self.rotation:
            self.stream.set_display_rotation(self.rotation)

    def _add_audio(self, streams: list) -> tuple[list, set[int]]:
        out, transcode = [], set()
        for i, s in enumerate(streams):
            name = s.codec_context.name
            if holds(self.container, name):
                out.append(self.container.add_stream_from_template(s))
            else:
                fallback = "aac" if self.container.format.name == "mpegts" else self.container.default_audio_codec
                log.warning("the %s container cannot hold %s audio as is; re-encoding it to %s",
                            self.container.format.name, name, fallback)
                a = self.container.add_stream(fallback, rate=s.codec_context.sample_rate)
                out.append(a)
                transcode.add(i)
        return out, transcode

    def write(self, frame: Frame) -> bool:
        """Encode one upright RGB frame with its input timestamp; False when it was dropped (output down)."""
        vf = to_video_frame(coded(frame.rgb, self.rotation), self.stream.pix_fmt)
        pts = frame.pts
        # in the encoder's time base: the muxer may have given the stream a finer one (mp4), where "one tick
        # later" can round back onto the previous frame's time and the muxer refuses the file at the end
        tb = self.stream.codec_context.time_base or self.stream.time_base
        if frame.time_base is not None and pts is not None and frame.time_base != tb:
            pts = int(round(pts * frame.time_base / tb))
        if pts is not None and pts < 0:  # a decoded frame is presented: before 0 an mp4's edit list hides it
            pts = 0
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + 1
        self._last_pts = pts
        vf.pts, vf.time_base = pts, tb
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
        except av.error.FFmpegError as exc:
            if isinstance(exc, OSError):  # the output went away (pipe closed, network, disk)
                raise OutputError(f"writing frame {frame.index} to {self.label} failed: {exc}", path=self.label,
                                  frame=frame.index) from exc
            raise EncodeError(f"encoding frame {frame.index} failed: {exc}", path=self.label,
                              frame=frame.index) from exc
        self.frames += 1
        return True

    def write_audio(self, item: AudioPacket) -> None:
        if item.stream_index >= len(self.audio_out):  # an output without audio (said so when it opened)
            return
        stream = self.audio_out[item.stream_index]
        try:
            if item.stream_index in self.audio_transcode:
                item.payload.pts = None
                for packet in stream.encode(item.payload):
                    self.container.mux(packet)
            else:
                packet = item.payload
                if packet.duration and packet.time_base and not 0 < packet.duration * packet.time_base < 60:
                    packet.duration = 0  # a damaged header's duration: the muxer would refuse the file at the end
                packet.stream = stream
                self.container.mux(packet)
        except av.error.FFmpegError as exc:
            log.warning("audio packet dropped: %s", exc)

    def close(self, ok: bool) -> Path | None:
        """Flush and finalize; rename to the final name when ``ok``; else remove the temporary file."""
        if not ok:
            self._discard()
            return None
        try:
            self._flush()
        except av.error.FFmpegError as exc:
            self._discard()
            raise EncodeError(f"finalizing {self.dst} failed: {exc}", path=str(self.dst)) from exc
        os.replace(self.tmp, self.dst)
        return self.dst

    def _flush(self) -> None:
        """Drain the encoders and write the trailer."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        for i in self.audio_transcode:
            for packet in self.audio_out[i].encode():
                self.container.mux(packet)
        self.container.close()

    def _discard(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the file goes away below
            pass
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
