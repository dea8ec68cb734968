"""A worker: holds its models for all the files it is given, anonymizes one Job at a time into a manifest entry.

The same code runs in a local pool process and in a Ray task. Library errors become a ``failed`` entry with
their exit code and one-line message; they never escape ``Worker.run``.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from ..api import Options, run_pipeline
from ..errors import InputNotFound, Interrupted, OutputError, StreamanonError
from ..faces.analyze import AnalyzerSettings, FaceAnalyzer
from ..media.images import read_image_alpha, write_image
from ..media.sink import VideoSink
from ..media.source import VideoSource
from ..stats import Stats
from .inputs import Job
from .manifest import DONE, FAILED, SKIPPED, sha256_file
from .outputs import OutputLock, stale_files, temporary_name

Progress = Callable[[int], None]  # frames written since the last call


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker of a batch shares: the single-file options and the threads one worker may use."""

    options: Options
    threads: int = 1


def cap_threads(threads: int) -> None:
    """Cap the thread pools a worker's libraries start on their own (OpenCV; BLAS/OpenMP read the environment
    before they load, see ``thread_env``); the encoder and the generator are capped where they are made."""
    import cv2

    cv2.setNumThreads(threads)


def thread_env(threads: int) -> dict[str, str]:
    """Environment for a worker process with ``threads`` threads (set before numpy/OpenCV load)."""
    return {k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def image_analysis(a: AnalyzerSettings) -> AnalyzerSettings:
    """The analyzer settings ``anonymize_images`` uses: each image on its own, detected, no smoothing."""
    wanted = {"detect_every": 1, "smoothing": False, "max_missed_runs": 1}
    names = {f.name for f in fields(a)}
    return replace(a, **{k: v for k, v in wanted.items() if k in names})


class _FileTrackIds:
    """Track ids renumbered 0, 1, ... in order of appearance in this file, so that a file's synthetic identities
    depend on the seed and the file only (not on what the worker's analyzer saw before)."""

    def __init__(self, cover: Callable):
        self.cover, self.ids = cover, {}

    def __call__(self, rgb: np.ndarray, faces) -> int:
        if len(faces):
            ids = np.array([self.ids.setdefault(int(t), len(self.ids)) for t in faces.track_ids], np.int64)
            faces = replace(faces, track_ids=ids)
        return self.cover(rgb, faces)


class Worker:
    """Holds one analyzer per kind (video, image) and the generator's engine, made on first use, for every file."""

    def __init__(self, settings: WorkerSettings):
        self.settings = settings
        self.options: Options = settings.options
        self.encode = replace(self.options.encode,
                              options={"threads": str(settings.threads), **(self.options.encode.options or {})})
        self._analyzers: dict[str, FaceAnalyzer] = {}
        self._engine = None
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        cap_threads(settings.threads)

    def _analyzer(self, kind: str) -> FaceAnalyzer:
        if kind not in self._analyzers:
            a = self.options.analysis
            self._analyzers[kind] = FaceAnalyzer(image_analysis(a) if kind == "image" else a)
        analyzer = self._analyzers[kind]
        analyzer.reset()
        return analyzer

    def _cover(self) -> Callable:
        """The cover of one file: pixel methods are stateless; a generator is new per file (its identities),
        on the engine loaded once."""
        from ..anonymize import make_cover

        o = self.options
        if o.cover.method != "generate":
            return make_cover(o.cover, o.generate)
        from ..generate import FaceGenerator
        from ..models.engine import load_engine

        if self._engine is None:
            name = "generator" if o.generate.variant == "dense" else "generator_sparse"
            self._engine = load_engine(name, o.generate.backend, threads=self.settings.threads)
        return _FileTrackIds(FaceGenerator(o.generate, engine=self._engine, mask_scale=o.cover.mask_scale).apply)

    def run(self, job: Job, stop: threading.Event | None = None, progress: Progress | None = None) -> dict:
        """Anonymize ``job`` (or skip it when ``job.verify`` still matches): its manifest entry."""
        t0, cpu0, started = time.perf_counter(), time.process_time(), time.time()
        entry = {"rel": job.rel, "input": job.src, "output": job.dst, "kind": job.kind, "status": FAILED,
                 "exit_code": 1, "error": None, "frames": 0, "faces": 0, "tracks": 0, "fallbacks": 0,
                 "failed_frames": 0, "duration": None, "seconds": 0.0, "size": None, "mtime_ns": None,
                 "sha256_in": None, "sha256_out": None, "bytes_out": None, "attempt": 1, "worker": self.name}
        try:
            entry.update(self._run(job, stop, progress, entry))
        except StreamanonError as exc:
            entry.update(exit_code=exc.exit_code, error=str(exc))
        except MemoryError:
            entry.update(exit_code=1, error="out of memory")
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            entry.update(exit_code=1, error=f"internal error: {type(exc).__name__}: {exc}")
        entry["seconds"] = round(time.perf_counter() - t0, 3)
        entry["cpu_seconds"] = round(time.process_time() - cpu0, 3)  # all threads of this worker process
        entry["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # so far, Linux: KiB
        entry["started"] = round(started, 3)  # seconds since the epoch
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return entry

    def _run(self, job: Job, stop, progress, entry: dict) -> dict:
        src, dst = Path(job.src), Path(job.dst)
        try:
            st = src.stat()
            entry.update(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256_in=sha256_file(src))
        except FileNotFoundError as exc:
            raise InputNotFound(f"input not found: {src}", path=str(src)) from exc
        except OSError as exc:
            raise InputNotFound(f"cannot read {src}: {exc.strerror}", path=str(src)) from exc
        if job.verify is not None and job.verify == entry["sha256_in"] and dst.exists():
            return {"status": SKIPPED, "exit_code": 0}
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make the output folder {dst.parent}: {exc.strerror}", path=str(dst)) from exc
        with OutputLock(dst) as lock:
            entry["attempt"] = lock.attempt
            for old in stale_files(dst):
                old.unlink(missing_ok=True)
            if dst.exists() and not job.overwrite:
                raise OutputError(f"output exists and is not in the manifest (use -y or --force): {dst}",
                                  path=str(dst))
            tmp = temporary_name(dst)
            try:
                stats, duration = (self._image(src, tmp), None) if job.kind == "image" else \
                    self._video(src, tmp, stop, progress)
                out = {"sha256_out": sha256_file(tmp), "bytes_out": tmp.stat().st_size}
                os.replace(tmp, dst)
            finally:
                tmp.unlink(missing_ok=True)
        return {"status": DONE, "exit_code": 0, "duration": duration, "frames": stats.frames, "faces": stats.faces,
                "tracks": stats.tracks, "fallbacks": stats.fallbacks, "failed_frames": stats.failed_frames, **out}

    def _video(self, src: Path, tmp: Path, stop, progress: Progress | None) -> tuple[Stats, float | None]:
        """The file's Stats and its duration in seconds (None when the container does not say)."""
        stats = Stats()
        analyzer = self._analyzer("video")
        before = analyzer.total_tracks
        cover = self._cover()
        reported = [0, time.monotonic()]

        def on_frame(_frame, s: Stats) -> None:
            now = time.monotonic()
            if progress is not None and now - reported[1] >= 0.25:
                progress(s.frames - reported[0])
                reported[:] = [s.frames, now]

        with VideoSource(src, audio=self.encode.audio) as source:
            duration = source.info.duration
            run_pipeline(source, VideoSink(tmp, source.info, self.encode), cover, self.options, stats, stop=stop,
                         progress=on_frame, analyzer=analyzer)
        if progress is not None:
            progress(stats.frames - reported[0])
        if stop is not None and stop.is_set():
            raise Interrupted(f"interrupted after {stats.frames} frames; no output written", path=str(src))
        stats.tracks = analyzer.total_tracks - before
        return stats, duration

    def _image(self, src: Path, tmp: Path) -> Stats:
        stats = Stats()
        analyzer = self._analyzer("image")
        before = analyzer.total_tracks
        rgb, alpha = read_image_alpha(src)
        faces = analyzer.analyze(rgb)
        stats.fallbacks = self._cover()(rgb, faces)
        write_image(tmp, rgb, alpha)
        stats.frames, stats.faces, stats.tracks = 1, len(faces), analyzer.total_tracks - before
        return stats

    def close(self) -> None:
        for a in self._analyzers.values():
            a.close()
        self._analyzers = {}
