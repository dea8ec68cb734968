"""Python API: ``Anonymizer`` on numpy frames, ``anonymize_video`` and ``anonymize_images`` on files."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .anonymize import CoverSettings, make_cover
from .errors import InputInvalid, InputNotFound, Interrupted, OutputError, StreamLost
from .faces.analyze import AnalyzerSettings, FaceAnalyzer
from .generate import GenerateSettings
from .media.clock import TIME_BASE as LIVE_TIME_BASE
from .media.endpoints import FILE, LIVE_KINDS, RTSP, StreamOptions, kind_of
from .media.images import IMAGE_SUFFIXES, list_images, read_image_alpha, write_image
from .media.open import live_encoding, open_sink, open_source
from .media.preview import Preview
from .media.sink import EncodeSettings, VideoSink, check_output
from .media.source import VideoSource
from .pipeline import LivePolicy, Pipeline
from .stats import StageTimer, Stats
from .types import Faces, Frame

log = logging.getLogger(__name__)


@dataclass
class Options:
    """Everything a run needs, checked up front."""

    cover: CoverSettings = field(default_factory=CoverSettings)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    analysis: AnalyzerSettings = field(default_factory=AnalyzerSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    overwrite: bool = False


class Anonymizer:
    """Anonymize RGB frames one after the other (tracks carry over between calls).

    >>> anon = Anonymizer()                # a generated face of nobody; method="blur" etc. also
    >>> out = anon(frame)            # (H, W, 3) uint8 RGB in, a new array out; ``frame`` is not modified
    """

    def __init__(self, method: str = "generate", mask_scale: float = 1.3, threshold: float = 0.2,
                 detect_every: int = 1, seed: int = 0):
        self.cover = make_cover(CoverSettings(method=method, mask_scale=mask_scale), GenerateSettings(seed=seed))
        self.analyzer = FaceAnalyzer(AnalyzerSettings(threshold=threshold, detect_every=detect_every))
        self.last_faces: Faces | None = None
        self.fallbacks = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
                and frame.dtype == np.uint8):
            raise InputInvalid(f"expected an (H, W, 3) uint8 RGB array, got "
                               f"{getattr(frame, 'shape', type(frame))} {getattr(frame, 'dtype', '')}")
        out = np.ascontiguousarray(frame).copy()
        self.last_faces = self.analyzer.analyze(out)
        self.fallbacks += self.cover(out, self.last_faces)
        return out

    def reset(self) -> None:
        """Forget tracks (call between unrelated images)."""
        self.analyzer.reset()

    def close(self) -> None:
        self.analyzer.close()


def anonymize_video(src: str | os.PathLike, dst: str | os.PathLike, options: Options | None = None,
                    stop: threading.Event | None = None,
                    progress: Callable[[Frame, Stats], None] | None = None,
                    on_open: Callable[[VideoSource], None] | None = None) -> Stats:
    """Anonymize every frame of ``src`` into ``dst`` (same frames, timestamps, size, rotation, audio).

    ``stop`` ends the run early with a valid, shorter output and raises Interrupted.
    """
    options = options or Options()
    src, dst = Path(src), Path(dst)
    stats = Stats()
    if not src.exists():
        raise InputNotFound(f"input not found: {src}", path=str(src))
    check_output(dst, src, options.overwrite)
    cover = make_cover(options.cover, options.generate)  # fails early (model missing) before any file exists
    analyzer = FaceAnalyzer(options.analysis)  # so does the detector (model missing or altered)
    try:
        with VideoSource(src, audio=options.encode.audio) as source:
            check_output(dst, src, options.overwrite)
            if on_open:
                on_open(source)
            run_pipeline(source, VideoSink(dst, source.info, options.encode), cover, options, stats, stop=stop,
                         progress=progress, analyzer=analyzer)
    finally:
        analyzer.close()
    if stop is not None and stop.is_set():
        stats.interrupted = True
        exc = Interrupted(f"interrupted after {stats.frames} frames; {dst} holds them", path=str(dst))
        exc.stats = stats
        raise exc
    return stats


def face_stage_ms(cover: Callable) -> dict[str, float]:
    """Mean milliseconds per face of each stage of the generated-face method (empty for other methods)."""
    stage_ms = getattr(getattr(cover, "__self__", None), "stage_ms", None)
    return stage_ms() if callable(stage_ms) else {}


def reused_faces(cover: Callable) -> int:
    """How many faces the generated-face method moved from their track's last full render (0 for others)."""
    return int(getattr(getattr(getattr(cover, "__self__", None), "renderer", None), "reused", 0))


def run_pipeline(source, sink: VideoSink, cover: Callable, options: Options, stats: Stats,
                 live: LivePolicy | None = None, stop: threading.Event | None = None,
                 progress: Callable[[Frame, Stats], None] | None = None,
                 show: Callable[[Frame], None] | None = None, analyzer: FaceAnalyzer | None = None) -> None:
    """Run ``source`` through the stages into ``sink`` and close it (finalized when the run ends well, or
    when a live stream was lost: StreamLost is re-raised after the output is finalized).

    ``show`` is called with each frame written (preview window). ``analyzer`` is made from ``options`` (and
    closed here) when not given.
    """
    sink_audio = getattr(sink, "audio_transcode", set())
    source.decode_audio = set(sink_audio)
    if stop is not None:
        source.stop = stop

    def on_frame(frame: Frame) -> None:
        if show:
            show(frame)
        if progress:
            progress(frame, stats)

    own = analyzer is None
    try:
        analyzer = analyzer or FaceAnalyzer(options.analysis)
    except BaseException:  # nothing was written: no temporary file stays behind
        sink.close(ok=False)
        raise
    ok = False
    try:
        pace = live is None and getattr(sink, "rtsp", False)  # a file pushed to a server goes at its own rate
        Pipeline(analyzer, cover, stats, live=live, pace=pace).run(source, sink.write, sink.write_audio,
                                                                   on_frame=on_frame)
        ok = True
    except StreamLost:
        ok = True
        raise
    finally:
        stats.reconnects = getattr(source, "reconnects", 0) + getattr(sink, "reconnects", 0)
        stats.corrupt_packets = getattr(source, "corrupt_packets", 0)
        stats.truncated = getattr(source, "truncated", None)
        stats.face_stage_ms = face_stage_ms(cover)
        stats.reused_faces = reused_faces(cover)
        sink.close(ok=ok)
        if own:
            analyzer.close()


def anonymize_stream(src: str, dst: str | None, options: Options | None = None,
                     stream: StreamOptions | None = None, live: LivePolicy | None = None, preview: bool = False,
                     stop: threading.Event | None = None,
                     progress: Callable[[Frame, Stats], None] | None = None,
                     on_open: Callable[[object], None] | None = None) -> Stats:
    """Anonymize ``src`` (a file, ``-`` for stdin, ``rtsp://...``, ``webcam:N``) into ``dst`` (a file, ``-``
    for stdout, ``rtsp://...``, or None with ``preview``), and show it in a window with ``preview``.

    rtsp:// and webcam inputs are live: latency bounded by ``live`` (default LivePolicy()), the oldest
    unprocessed frames dropped when behind, output paced to the wall clock; other inputs never drop a frame.
    ``stop`` ends the run with a finalized output and raises Interrupted; a live stream lost without
    ``stream.reconnect`` finalizes the output and raises StreamLost.
    """
    options, stream = options or Options(), stream or StreamOptions()
    if dst is None and not preview:
        raise OutputError("no output: give OUTPUT (a file, '-' or an rtsp:// URL) or --preview")
    is_live = kind_of(src) in LIVE_KINDS
    live = (live or LivePolicy()) if is_live else None
    if dst is not None and kind_of(dst) == FILE:
        check_output(Path(dst), Path(src) if kind_of(src) == FILE else None, options.overwrite)
    window = Preview(stop) if preview else None
    cover = make_cover(options.cover, options.generate)
    stats = Stats()
    analyzer = FaceAnalyzer(options.analysis)  # loaded before a live source connects: no backlog at the start
    try:
        with open_source(src, stream, audio=options.encode.audio) as source:
            if on_open:
                on_open(source)
            info, encode = source.info, options.encode
            if is_live:
                info = replace(info, time_base=LIVE_TIME_BASE)
            if is_live or (dst is not None and kind_of(dst) == RTSP):
                encode = live_encoding(encode, info.rate)
            sink = open_sink(dst, src, info, encode, stream, options.overwrite)
            run_pipeline(source, sink, cover, options, stats, live=live, stop=stop, progress=progress, show=window,
                         analyzer=analyzer)
    except StreamLost as exc:
        exc.stats = stats  # the run counts: the output holds what came before
        raise
    finally:
        analyzer.close()
        if window is not None:
            window.close()
    if stop is not None and stop.is_set():
        stats.interrupted = True
        exc = Interrupted(f"interrupted after {stats.frames} frames; {dst or 'the preview'} got them", path=dst)
        exc.stats = stats
        raise exc
    return stats


def anonymize_images(src: str | os.PathLike, dst: str | os.PathLike, options: Options | None = None,
                     stop: threading.Event | None = None,
                     progress: Callable[[Frame, Stats], None] | None = None) -> Stats:
    """One image to one image, or a folder of images to a folder with the same names."""
    options = options or Options()
    src, dst = Path(src), Path(dst)
    pairs = _image_pairs(src, dst, options.overwrite)
    stats = Stats()
    analyzer = FaceAnalyzer(replace(options.analysis, detect_every=1, max_missed_runs=1, smoothing=False))
    cover = make_cover(options.cover, replace(options.generate, render_every=1))  # unrelated images: each in full
    try:
        for i, (a, b) in enumerate(pairs):
            if stop is not None and stop.is_set():
                stats.interrupted = True
                raise Interrupted(f"interrupted after {i} images", path=str(dst))
            with StageTimer(stats, "decode"):
                rgb, alpha = read_image_alpha(a)
            analyzer.reset()
            with StageTimer(stats, "analyze"):
                faces = analyzer.analyze(rgb)
            with StageTimer(stats, "anonymize"):
                stats.fallbacks += cover(rgb, faces)
            with StageTimer(stats, "encode"):
                write_image(b, rgb, alpha)
            stats.frames += 1
            stats.faces += len(faces)
            stats.box_faces += int(np.count_nonzero(~faces.has_mesh))
            if progress:
                progress(Frame(i, rgb), stats)
        stats.tracks = analyzer.total_tracks
    finally:
        stats.face_stage_ms = face_stage_ms(cover)
        stats.reused_faces = reused_faces(cover)
        analyzer.close()
    return stats


def _image_pairs(src: Path, dst: Path, overwrite: bool) -> list[tuple[Path, Path]]:
    if src.is_dir():
        images = list_images(src)
        if not images:
            raise InputInvalid(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {src}", path=str(src))
        if dst.resolve() == src.resolve():
            raise OutputError(f"output folder is the input folder: {dst}", path=str(dst))
        if dst.exists() and not dst.is_dir():
            raise OutputError(f"output must be a folder when the input is a folder: {dst}", path=str(dst))
        check_output(dst / "x", None, True) if dst.exists() else check_output(dst, None, overwrite)
        dst.mkdir(exist_ok=True)
        pairs = [(p, dst / p.name) for p in images]
        if not overwrite:
            for _, b in pairs:
                check_output(b, None, overwrite)
        return pairs
    check_output(dst, src, overwrite)
    if dst.suffix.lower() not in IMAGE_SUFFIXES:
        raise OutputError(f"output of an image must be an image ({', '.join(IMAGE_SUFFIXES)}): {dst}",
                          path=str(dst))
    return [(src, dst)]
