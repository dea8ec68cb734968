"""What an INPUT or OUTPUT argument names: a file, ``-`` (a pipe), an ``rtsp://`` URL or ``webcam:N``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

FILE, PIPE, RTSP, WEBCAM = "file", "pipe", "rtsp", "webcam"
LIVE_KINDS = (RTSP, WEBCAM)

# user-facing container names -> FFmpeg format names
PIPE_FORMATS = {"nut": "nut", "y4m": "yuv4mpegpipe", "matroska": "matroska", "mkv": "matroska",
                "mpegts": "mpegts", "rawvideo": "rawvideo"}
WEBCAM_SPEC = re.compile(r"^webcam:(\d+)$")


def kind_of(spec: str) -> str:
    """``-`` -> pipe, ``rtsp://``/``rtsps://`` -> rtsp, ``webcam:N`` -> webcam, anything else -> file."""
    if spec == "-":
        return PIPE
    if spec.lower().startswith(("rtsp://", "rtsps://")):
        return RTSP
    if spec.startswith("webcam:"):
        return WEBCAM
    return FILE


def webcam_index(spec: str) -> int:
    """``webcam:0`` -> 0; ValueError for anything else."""
    m = WEBCAM_SPEC.match(spec)
    if not m:
        raise ValueError(f"a webcam is named webcam:N (N = 0, 1, ...), got {spec!r}")
    return int(m.group(1))


def parse_size(text: str) -> tuple[int, int]:
    """``'640x480'`` -> (640, 480)."""
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ValueError(f"size must be WIDTHxHEIGHT, for example 640x480, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def parse_rate(text: str) -> Fraction:
    """``'25'``, ``'29.97'`` or ``'30000/1001'`` -> a positive Fraction."""
    try:
        rate = Fraction(text).limit_denominator(1001 * 1000)
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"rate must be a number of frames per second, got {text!r}") from exc
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {text!r}")
    return rate


@dataclass
class StreamOptions:
    """How to read and write pipes and live streams (all checked up front).

    input_format/output_format: a key of PIPE_FORMATS (``-`` only; nut by default). input_size,
    input_pix_fmt and input_rate describe ``rawvideo`` input. rtsp_transport applies to rtsp:// input and
    output. reconnect: retry a dropped rtsp:// stream or webcam with exponential backoff (0.5 s doubling
    up to ``max_backoff``) instead of ending. timeout: seconds without data before a stream counts as dropped.
    """

    input_format: str = "nut"
    input_size: tuple[int, int] | None = None
    input_pix_fmt: str = "yuv420p"
    input_rate: Fraction = Fraction(25)
    output_format: str = "nut"
    rtsp_transport: str = "tcp"
    reconnect: bool = False
    timeout: float = 5.0
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        for name in ("input_format", "output_format"):
            if getattr(self, name) not in PIPE_FORMATS:
                raise ValueError(f"--{name.replace('_', '-')} must be one of {', '.join(PIPE_FORMATS)}, "
                                 f"got {getattr(self, name)!r}")
        if self.input_format == "rawvideo" and self.input_size is None:
            raise ValueError("--input-format rawvideo needs --input-size WIDTHxHEIGHT")
        if self.rtsp_transport not in ("tcp", "udp"):
            raise ValueError(f"--rtsp-transport must be tcp or udp, got {self.rtsp_transport!r}")
        if self.timeout <= 0 or self.max_backoff <= 0:
            raise ValueError("timeout and backoff must be positive")

    @property
    def demuxer(self) -> str:
        return PIPE_FORMATS[self.input_format]

    @property
    def muxer(self) -> str:
        return PIPE_FORMATS[self.output_format]

    def demuxer_options(self) -> dict[str, str]:
        """Options of the stdin demuxer (the raw frame layout for rawvideo)."""
        if self.input_format != "rawvideo":
            return {}
        w, h = self.input_size  # type: ignore[misc]
        return {"video_size": f"{w}x{h}", "pixel_format": self.input_pix_fmt, "framerate": str(self.input_rate)}


def backoff_delays(first: float = 0.5, limit: float = 8.0):
    """0.5, 1, 2, 4, 8, 8, ... seconds (exponential backoff between reconnection attempts)."""
    delay = min(first, limit)
    while True:
        yield delay
        delay = min(delay * 2, limit)
