"""Open the source and the sink an INPUT/OUTPUT argument names (file, ``-``, ``rtsp://``, ``webcam:N``)."""

from __future__ import annotations

import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ..errors import InputInvalid
from ..types import Frame
from .endpoints import FILE, PIPE, WEBCAM, StreamOptions, kind_of, webcam_index
from .sink import EncodeSettings, VideoSink, check_output
from .source import VideoInfo, VideoSource

LOW_LATENCY_CODECS = ("libx264", "libx265")


def open_source(spec: str, options: StreamOptions, audio: bool = True):
    """A VideoSource, StreamSource or WebcamSource (context managers yielding Frame | AudioPacket)."""
    kind = kind_of(spec)
    if kind == FILE:
        return VideoSource(spec, audio=audio)
    if kind == WEBCAM:
        from .webcam import WebcamSource
        return WebcamSource(webcam_index(spec), options)
    if kind == PIPE and sys.stdin is not None and sys.stdin.isatty():
        raise InputInvalid("input '-' is a terminal: pipe a video in (ffmpeg -i in.mp4 -f nut - | streamanon - ...)",
                           path="-")
    from .stream import StreamSource
    return StreamSource(spec, options, audio=audio)


def open_sink(spec: str | None, src: str, info: VideoInfo, settings: EncodeSettings, options: StreamOptions,
              overwrite: bool):
    """A VideoSink (file: temporary name, renamed when complete), a StreamSink (``-``, rtsp://), or a
    NullSink when there is no output but the preview window."""
    if spec is None:
        return NullSink()
    if kind_of(spec) == FILE:
        check_output(Path(spec), Path(src) if kind_of(src) == FILE else None, overwrite)
        return VideoSink(spec, info, settings)
    from .stream_sink import StreamSink
    return StreamSink(spec, info, settings, options)


def live_encoding(settings: EncodeSettings, rate: Fraction | None) -> EncodeSettings:
    """Encoder settings for live output: no lookahead or B-frames, a keyframe every second (late joiners)."""
    if settings.codec not in LOW_LATENCY_CODECS:
        return settings
    opts = {"tune": "zerolatency", "g": str(max(1, round(float(rate or 25)))), **(settings.options or {})}
    return replace(settings, options=opts)


class NullSink:
    """No output file or stream (preview only): accepts frames and audio, writes nothing."""

    audio_transcode: set[int] = set()
    reconnects = 0

    def write(self, frame: Frame) -> bool:
        return True

    def write_audio(self, item) -> None:
        pass

    def close(self, ok: bool) -> None:
        pass
