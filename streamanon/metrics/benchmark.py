"""``streamanon eval --benchmark``: every method of ``methods.METHODS`` on the CelebA-HQ images and a few clips
of ../shared/data, scored by the same judges; one comparison table (markdown + JSON) and an HTML report."""

from __future__ import annotations

import datetime
import html
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputInvalid, InputNotFound
from ..media.images import list_images
from . import video as V
from .images import ImageOriginals, observe_images, score_images
from .judges import EMBEDDING, Judges
from .methods import Method
from .pairs import ImagePair
from .plots import bars_png, radar_png
from .report import CONVENTIONS, Evaluation, fmt, page
from .summary import METRICS, RADAR_MAPPING, identify, radar

# Short one-face clips with strong expressions and head motion first (see ../shared/data/README.md).
DEFAULT_CLIPS = ("lp_d18.mp4", "retalk_5.mp4", "hdtf_WDA_BobMenendez_000.mp4", "lp_d20.mp4", "retalk_3.mp4")


def default_data() -> Path:
    """../shared/data beside the repository."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass
class BenchmarkSettings:
    data: Path
    work: Path
    methods: list[Method]
    clips: int = 3
    clip_seconds: float = 4.0
    stride: int = 3
    max_images: int | None = None


@dataclass
class MethodResult:
    name: str
    note: str
    skipped: str | None = None
    error: str | None = None
    images: Evaluation | None = None
    clips: Evaluation | None = None
    seconds_anonymize: float = 0.0
    seconds_score: float = 0.0


Bar = Callable[..., Callable[[], None]]  # (total, description[, unit]) -> tick
Log = Callable[[str], None]


def select_clips(videos: Path, n: int) -> list[Path]:
    """The first ``n`` of DEFAULT_CLIPS present, then other videos in name order."""
    if n <= 0 or not videos.is_dir():
        return []
    present = sorted(p for p in videos.iterdir() if p.suffix.lower() in (".mp4", ".mkv", ".mov", ".avi"))
    ordered = [videos / c for c in DEFAULT_CLIPS if (videos / c) in present]
    ordered += [p for p in present if p not in ordered]
    return ordered[:n]


def trim_clip(src: Path, dst: Path, seconds: float) -> int:
    """The first ``seconds`` of ``src`` re-encoded (libx264, CRF 16) into ``dst``; returns the frame count."""
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        limit = max(1, int(round(seconds * rate)))
        vout = out.add_stream("libx264", rate=rate, options={"crf": "16", "preset": "veryfast"})
        vout.pix_fmt = "yuv420p"
        for frame in inp.decode(vin):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            rgb = rgb[: h - h % 2, : w - w % 2]
            if n == 0:
                vout.width, vout.height = rgb.shape[1], rgb.shape[0]
            for packet in vout.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
            n += 1
            if n >= limit:
                break
        for packet in vout.encode():
            out.mux(packet)
    return n


def prepare(settings: BenchmarkSettings, log: Log) -> tuple[Path, list[Path]]:
    """Links to the evaluation images and trimmed copies of the clips, under ``settings.work``."""
    faces = settings.data / "celebahq"
    if not faces.is_dir():
        raise InputNotFound(f"benchmark images not found: {faces} (give --data DIR with celebahq/ and videos/)",
                            path=str(faces))
    images = list_images(faces)[: settings.max_images]
    if not images:
        raise InputInvalid(f"no images in {faces}", path=str(faces))
    originals = settings.work / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    for p in images:
        link = originals / p.name
        if link.is_symlink():  # left by an older version
            link.unlink()
        if not link.exists():  # a hard link or a copy: folder mode skips symbolic links that lead out
            try:
                os.link(p.resolve(), link)
            except OSError:  # another file system
                shutil.copy2(p, link)
    clips = []
    for src in select_clips(settings.data / "videos", settings.clips):
        dst = settings.work / "clips" / f"{src.stem}.mp4"
        dst.parent.mkdir(exist_ok=True)
        if not dst.exists():
            n = trim_clip(src, dst, settings.clip_seconds)
            log(f"clip {src.name}: first {n} frames")
        clips.append(dst)
    return originals, clips


def run_benchmark(settings: BenchmarkSettings, judges: Judges, bar: Bar, log: Log) -> list[MethodResult]:
    """Anonymize with each method and score it; originals are observed once for all methods."""
    originals, clips = prepare(settings, log)
    pairs = [ImagePair(p.name, p, p) for p in list_images(originals)]
    image_refs = observe_images(pairs, judges, bar(len(pairs), "originals"))
    clip_refs = {}
    for clip in clips:
        clip_refs[clip] = V.observe_video(clip, judges, settings.stride, bar(None, f"original {clip.name}", "frame"))
    results = []
    for m in settings.methods:
        r = MethodResult(m.name, m.note, skipped=m.missing())
        results.append(r)
        if r.skipped:
            log(f"{m.name}: skipped: {r.skipped}")
            continue
        try:
            _run_method(m, r, settings, pairs, image_refs, clip_refs, judges, bar, log)
        except Exception as exc:  # noqa: BLE001 - one method failing must not lose the others' results
            r.error = f"{type(exc).__name__}: {exc}"
            log(f"{m.name}: failed: {r.error}")
    return results


def _run_method(m: Method, r: MethodResult, settings: BenchmarkSettings, pairs: list[ImagePair],
                image_refs: ImageOriginals, clip_refs: dict, judges: Judges, bar: Bar, log: Log) -> None:
    out = settings.work / m.name
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    m.images(settings.work / "originals", out / "images")
    seconds = time.perf_counter() - t0
    r.seconds_anonymize += seconds
    t1 = time.perf_counter()
    anon = [ImagePair(p.name, p.original, out / "images" / p.name) for p in pairs]
    missing = [p.name for p in anon if not p.anonymized.exists()]
    if missing:
        raise InputInvalid(f"{len(missing)} outputs missing, e.g. {missing[0]}")
    scores = score_images(anon, image_refs, judges, bar(len(anon), f"{m.name} images"))
    identify(scores)
    r.images = Evaluation(str(settings.data / "celebahq"), str(out / "images"), "images", scores)
    r.seconds_score += time.perf_counter() - t1
    log(f"{m.name}: {len(pairs)} images anonymized in {seconds:.0f} s, scored in {r.seconds_score:.0f} s")
    all_scores, stats = [], V.VideoStats()
    for k, (clip, refs) in enumerate(clip_refs.items()):
        dst = out / "clips" / clip.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        m.video(clip, dst)
        r.seconds_anonymize += time.perf_counter() - t0
        t1 = time.perf_counter()
        tick = bar(refs.frames, f"{m.name} {clip.name}", "frame")
        scores, s = V.score_video(clip, dst, refs, judges, settings.stride, tick)
        for f in scores:
            f.track = k * 10000 + (f.track or 0)
        all_scores += scores
        stats.frames_compared += s.frames_compared
        stats.frames_evaluated += s.frames_evaluated
        stats.leaked_frames += s.leaked_frames
        stats.notes += s.notes
        r.seconds_score += time.perf_counter() - t1
    if clip_refs:
        identify(all_scores, key=lambda s: s.track)
        r.clips = Evaluation(", ".join(c.name for c in clip_refs), str(out / "clips"), "video", all_scores, stats,
                             notes=stats.notes)


IMAGE_COLUMNS = ["reid_rate", "rank1_rate", "reid_chance", "leak_rate", "detectability", "mesh_redetected", "nme",
                 "mouth_open_corr", "pose_error", "light_angle", "light_rel_l2", "ciede2000", "sharpness_ratio",
                 "detail_ratio", "frechet_distance"]
CLIP_COLUMNS = ["reid_rate", "reid_chance", "detectability", "mesh_redetected", "nme", "pose_error", "ciede2000",
                "flicker", "identity_spread", "leaked_frame_rate"]
SHORT = {"reid_rate": "re-ID", "rank1_rate": "rank-1", "reid_chance": "other-ID", "leak_rate": "leak",
         "detectability": "HOG detect",
         "mesh_redetected": "mesh found", "nme": "expr. NME", "mouth_open_corr": "mouth r", "pose_error": "pose deg",
         "light_angle": "light deg", "light_rel_l2": "light L2", "ciede2000": "CIEDE2000",
         "sharpness_ratio": "sharpness", "detail_ratio": "skin detail", "frechet_distance": "FD", "flicker": "flicker",
         "identity_spread": "id spread", "leaked_frame_rate": "leaked frames"}
ARROW = {"low": "(lower better)", "high": "(higher better)", "one": "(1 = as original)"}


def _row(name: str, ev: Evaluation | None, columns: list[str]) -> str:
    s = ev.summary() if ev else {}
    units = {m.key: m.unit for m in METRICS}
    return "| " + " | ".join([name] + [fmt(s.get(c), units.get(c, "")) for c in columns]) + " |"


def markdown(results: list[MethodResult], settings: BenchmarkSettings, command: str, seconds: float) -> str:
    """The comparison table: privacy and expression side by side, images then clips, then the radar."""
    first = next((r for r in results if r.images), None)
    n_img = first.images.summary()["faces"] if first else 0
    n_clip = first.clips.summary().get("frames_evaluated") if first and first.clips else 0
    lines = [
        "# streamanon benchmark", "",
        f"Command: `{command}`  ",
        f"Date: {datetime.date.today().isoformat()}; {os.cpu_count()} CPU cores; total {seconds / 60:.1f} min.  ",
        f"Data: {n_img} faces in the CelebA-HQ images of {settings.data / 'celebahq'} (full resolution); "
        f"{settings.clips} clips of {settings.data / 'videos'} (first {settings.clip_seconds:g} s each; one frame "
        f"in {settings.stride} judged: {n_clip} frames). Rank-1 by chance: {fmt(1 / max(n_img, 1), '%')}.  ",
        f"Judges: dlib HOG detector, {EMBEDDING}, MediaPipe face mesh re-detected on the output. "
        "FD = Frechet distance in the dlib descriptor space (no Inception weights offline).", "",
        "## Images: privacy | expression and geometry | photometry and realism", "",
        "| method | " + " | ".join(SHORT[c] for c in IMAGE_COLUMNS) + " |",
        "|---" * (len(IMAGE_COLUMNS) + 1) + "|",
    ]
    lines += [_row(r.name, r.images, IMAGE_COLUMNS) for r in results if r.images]
    if any(r.clips for r in results):
        lines += ["", "## Clips", "", "| method | " + " | ".join(SHORT[c] for c in CLIP_COLUMNS) + " |",
                  "|---" * (len(CLIP_COLUMNS) + 1) + "|"]
        lines += [_row(r.name, r.clips, CLIP_COLUMNS) for r in results if r.clips]
    lines += ["", "## Five dimensions (images; 0-1, higher better)", "",
              "| method | " + " | ".join(RADAR_MAPPING) + " | anonymize s | score s |", "|---" * 8 + "|"]
    for r in results:
        if r.images:
            d = radar(r.images.summary())
            lines.append("| " + " | ".join([r.name] + [fmt(d[k]) for k in RADAR_MAPPING]
                                           + [f"{r.seconds_anonymize:.0f}", f"{r.seconds_score:.0f}"]) + " |")
    lines += ["", "Mapping: " + "; ".join(f"{k} = {v}" for k, v in RADAR_MAPPING.items()) + ".", "",
              "Columns: " + "; ".join(f"{SHORT[m.key]} = {m.label} {ARROW[m.better]}" for m in METRICS
                                      if m.key in SHORT) + ".", ""]
    lines += [f"- {r.name}: {r.note}" + (f" -- skipped: {r.skipped}" if r.skipped else "")
              + (f" -- failed: {r.error}" if r.error else "") for r in results]
    return "\n".join(lines) + "\n"


def to_json(results: list[MethodResult], settings: BenchmarkSettings, command: str, seconds: float) -> dict:
    def ev(e: Evaluation | None):
        return None if e is None else {"summary": e.summary(), "radar": radar(e.summary()), "notes": e.notes}

    return {
        "command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"), "seconds": seconds,
        "cpu_count": os.cpu_count(), "data": str(settings.data), "clips": settings.clips,
        "clip_seconds": settings.clip_seconds, "stride": settings.stride, "embedding": EMBEDDING,
        "radar_mapping": RADAR_MAPPING, "conventions": CONVENTIONS,
        "methods": [{"name": r.name, "note": r.note, "skipped": r.skipped, "error": r.error,
                     "seconds_anonymize": round(r.seconds_anonymize, 2), "seconds_score": round(r.seconds_score, 2),
                     "images": ev(r.images), "clips": ev(r.clips)} for r in results],
    }


def html_page(results: list[MethodResult], table_md: str) -> str:
    done = [r for r in results if r.images]
    parts = ["<h1>streamanon benchmark</h1>"]
    if done:
        parts.append('<img alt="radar" src="data:image/png;base64,'
                     + radar_png({r.name: radar(r.images.summary()) for r in done}, "images") + '">')
        for m in METRICS:
            values = [r.images.summary().get(m.key) for r in done]
            if any(v is not None for v in values):
                parts.append('<img alt="" src="data:image/png;base64,'
                             + bars_png([r.name for r in done], values, f"{m.label} {ARROW[m.better]}") + '">')
    parts.append(f"<pre>{html.escape(table_md)}</pre>")
    return page("streamanon benchmark", "".join(parts))
