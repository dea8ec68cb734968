"""Acceptance check over a folder of clips and images: run the CLI on each, check frames/duration/audio, count
untouched faces (the first privacy number) and HOG leaks.

    python tools/check_leaks.py [--videos DIR] [--clips GLOB] [--work DIR] [--method blur] [--judge-stride 5]
                                [--png DIR] [--no-hog] [--stride N] [--jobs N] [--json out.json] [--reuse]
                                [--anonymized DIR]

Untouched faces (DESIGN.md section 5; streamanon/metrics/untouched.py): on every ``--judge-stride``-th frame
(every image), MTCNN and CenterFace (streamanon/metrics/small_faces.py; the judges, not the anonymizer) find the
faces of 20 px or more in the ORIGINAL; a face is untouched when the inner 60% of its box is unchanged in the
output (mean absolute grey change < 8, and high-pass detail correlation > 0.8 or band-pass structure correlation
> 0.95), partly covered when less than
90% of its box changed. Targets: 0 untouched, at most 1% partly covered per clip. ``--png DIR`` saves each
untouched and partly covered face as a side-by-side crop (original | output).

HOG leaks (secondary; ``--no-hog`` skips them; HOG does not fire below ~80 px): a leak is an output frame where
dlib's HOG frontal face detector finds a face overlapping (IoU > 0.3, or its centre inside) a face HOG found in
the input frame of the same index.
Each leak also gets the dlib ResNet distance to the input face ("re-ID leak" below 0.6; reported, not gated).
Leak rate = leaked frames / checked frames with an input face; the target is at most 1% per clip.
Exit status 1 if any clip failed (CLI error, frame count, duration or audio mismatch) or missed a target.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shlex
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import av
import cv2
import dlib
import numpy as np

from streamanon.media.images import IMAGE_SUFFIXES, read_image
from streamanon.metrics.leak_judge import judge_frame
from streamanon.metrics.small_faces import DETECTORS, get_small_face_judge
from streamanon.metrics.untouched import UntouchedCounts

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif", ".m4v")
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in upright frame pixels

PNG_GAP = 25  # frames between two saved leak PNGs of a clip

REID_MAX = 0.6  # dlib ResNet descriptor distance below which two faces are the same person

_detector = None
_reid = None


@dataclass
class Track:
    """Decoded frame count and span of one video stream."""

    frames: int = 0
    first: float | None = None
    last: float = 0.0
    last_dur: float = 0.0

    def add(self, frame: av.VideoFrame, fallback_dur: float) -> None:
        t = float(frame.time) if frame.time is not None else self.frames * fallback_dur
        self.first = t if self.first is None else self.first
        self.last = t
        dur = frame.duration * frame.time_base if frame.duration and frame.time_base else 0
        self.last_dur = float(dur) or fallback_dur
        self.frames += 1

    @property
    def duration(self) -> float:
        return 0.0 if self.first is None else self.last - self.first + self.last_dur


@dataclass
class ClipResult:
    """Everything measured on one clip."""

    clip: str
    kind: str = "video"  # or "image"
    exit_code: int | None = None
    stderr: str = ""
    wall_s: float = 0.0
    stats_fps: float | None = None
    in_frames: int = 0
    out_frames: int = 0
    in_duration: float = 0.0
    out_duration: float = 0.0
    in_audio: bool = False
    out_audio: bool = False
    stride: int = 1
    checked: int = 0  # frames run through HOG
    face_frames: int = 0  # checked frames with an input face
    leaked: int = 0
    reid_leaked: int = 0  # leaked frames whose output face still matches the input identity
    leaks: list[dict] = field(default_factory=list)  # frame, box, score, HOG sub-detector
    pngs: list[str] = field(default_factory=list)
    judge_stride: int = 5
    judge_s: float = 0.0  # seconds in the small-face judge
    untouched: dict = field(default_factory=dict)  # UntouchedCounts.to_dict()
    untouched_faces: list[dict] = field(default_factory=list)  # records of the untouched and partly covered faces
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.leaked / self.face_frames if self.face_frames else 0.0


def counts_of(res: ClipResult) -> UntouchedCounts:
    """The clip's untouched counts as an object (they travel as a dict between processes)."""
    d = {k: v for k, v in res.untouched.items() if not k.endswith("_rate")}
    return UntouchedCounts(**(d | {"detectors": tuple(d.get("detectors", DETECTORS))})) if d else \
        UntouchedCounts(DETECTORS)


def detect(img: np.ndarray) -> list[tuple[Box, float, int]]:
    """HOG faces on an upright RGB frame: (box, score, sub-detector index); upsample 1 below 480p."""
    global _detector
    if _detector is None:
        _detector = dlib.get_frontal_face_detector()
    up = 1 if min(img.shape[:2]) < 480 else 0
    rects, scores, kinds = _detector.run(img, up)
    return [((r.left(), r.top(), r.right(), r.bottom()), float(s), int(k))
            for r, s, k in zip(rects, scores, kinds, strict=True)]


def reid_distance(a: np.ndarray, box_a: Box, b: np.ndarray, box_b: Box) -> float:
    """dlib ResNet descriptor distance between the face ``box_a`` of ``a`` and ``box_b`` of ``b``."""
    global _reid
    if _reid is None:
        with warnings.catch_warnings():  # it imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import face_recognition_models as frm

        _reid = (dlib.shape_predictor(frm.pose_predictor_model_location()),
                 dlib.face_recognition_model_v1(frm.face_recognition_model_location()))
    shape, net = _reid
    da, db = (np.array(net.compute_face_descriptor(img, shape(img, dlib.rectangle(*box))))
              for img, box in ((a, box_a), (b, box_b)))
    return float(np.linalg.norm(da - db))


def overlaps(a: Box, b: Box, iou_min: float = 0.3) -> bool:
    """IoU > iou_min, or the centre of ``a`` inside ``b``."""
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]:
        return True
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return union > 0 and inter / union > iou_min


def upright(frame: av.VideoFrame) -> np.ndarray:
    """RGB array in display orientation (frame.rotation: degrees counter-clockwise)."""
    img = frame.to_ndarray(format="rgb24")
    rot = getattr(frame, "rotation", 0) or 0
    return np.ascontiguousarray(np.rot90(img, k=(rot // 90) % 4) if rot % 360 else img)  # dlib needs contiguous


def frames(path: Path, track: Track):
    """Decode the first video stream, counting into ``track``; yields frames."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        rate = v.average_rate or v.guessed_rate or 25
        for f in c.decode(v):
            track.add(f, 1 / float(rate))
            yield f


def has_audio(path: Path) -> bool:
    with av.open(str(path)) as c:
        return bool(c.streams.audio)


def save_pair(path: Path, a: np.ndarray, b: np.ndarray, in_boxes: list[Box], out_box: Box, label: str) -> None:
    """PNG: input (HOG input faces green) | output (input faces green, leaked HOG face red)."""
    a, b = a.copy(), b.copy()
    t = max(2, round(a.shape[0] / 270))
    for box in in_boxes:
        for img in (a, b):
            cv2.rectangle(img, box[:2], box[2:], (0, 255, 0), t)
    cv2.rectangle(b, out_box[:2], out_box[2:], (255, 0, 0), t)
    if a.shape != b.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]))
    pair = np.hstack([a, b])
    if not 360 <= pair.shape[0] <= 540:  # readable: small clips up, large ones down
        h = min(max(pair.shape[0], 360), 540)
        pair = cv2.resize(pair, (round(pair.shape[1] * h / pair.shape[0]), h), interpolation=cv2.INTER_AREA)
    pair = np.vstack([np.zeros((28, pair.shape[1], 3), np.uint8), pair])
    cv2.putText(pair, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), cv2.cvtColor(pair, cv2.COLOR_RGB2BGR))


def run_cli(clip: Path, out: Path, stats: Path | None, method: str, extra: list[str], res: ClipResult) -> None:
    """Run ``python -m streamanon`` on one clip; record exit code, stderr, wall time, stats fps."""
    cmd = [sys.executable, "-m", "streamanon", str(clip), str(out), "-y", "-q",
           *(["--stats", str(stats)] if stats else []), "--method", method, *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    res.wall_s = round(time.perf_counter() - t0, 2)
    res.exit_code, res.stderr = p.returncode, p.stderr.strip()
    if p.returncode:
        res.problems.append(f"exit {p.returncode}")


@dataclass(frozen=True)
class Settings:
    """What every clip is checked with (see the command-line help)."""

    work: Path
    method: str = "blur"
    stride: int = 0
    judge_stride: int = 5
    hog: bool = True
    extra: tuple[str, ...] = ()
    reuse: bool = False
    anonymized: Path | None = None
    max_pngs: int = 3
    png: Path | None = None
    threads: int = 1


def judge(res: ClipResult, s: Settings, index: int | None, a: np.ndarray, b: np.ndarray) -> None:
    """The small-face judge on one (original, output) frame, into ``res``."""
    counts = counts_of(res)
    t0 = time.perf_counter()
    records = judge_frame(get_small_face_judge(s.threads), a, b, counts, res.clip, s.png, index)
    res.judge_s += time.perf_counter() - t0
    res.untouched = counts.to_dict()
    res.untouched_faces += [r for r in records if r["untouched"] or r["partly_covered"]]


def hog_leak(res: ClipResult, s: Settings, index: int, a: np.ndarray, b: np.ndarray, last_png: int) -> int:
    """HOG on one frame pair: count a leak when HOG finds a face in the output where it found one in the
    input; returns the frame of the last leak PNG."""
    faces_in = [d[0] for d in detect(a)]
    res.checked += 1
    if not faces_in:
        return last_png
    res.face_frames += 1
    hit = next(((box, sc, k, f) for box, sc, k in detect(b) for f in faces_in if overlaps(box, f)), None)
    if hit is None:
        return last_png
    res.leaked += 1
    box, score, kind, src = hit
    dist = reid_distance(a, src, b, box)
    res.reid_leaked += dist < REID_MAX
    res.leaks.append({"frame": index, "box": box, "width": box[2] - box[0], "score": round(score, 3), "kind": kind,
                      "reid_distance": round(dist, 3)})
    if len(res.pngs) < s.max_pngs and index - last_png >= PNG_GAP:
        png = s.work / f"leak_{Path(res.clip).stem}_{index:05d}.png"
        label = f"{res.clip} frame {index} HOG score {score:.2f} width {box[2] - box[0]} re-ID distance {dist:.2f}"
        save_pair(png, a, b, faces_in, box, label)
        res.pngs.append(str(png))
        return index
    return last_png


def anonymize(clip: Path, out: Path, s: Settings, res: ClipResult, stats: Path | None) -> None:
    """Run the CLI unless the output is given (``--anonymized``) or reused."""
    if s.anonymized is not None:
        res.exit_code = 0 if out.exists() else None
        return
    if s.reuse and out.exists() and (stats is None or stats.exists()):
        res.exit_code = 0
    else:
        run_cli(clip, out, stats, s.method, list(s.extra), res)


def check_image(path: Path, s: Settings) -> ClipResult:
    """Run the CLI on one image, then judge the pair."""
    res = ClipResult(path.name, kind="image", stride=1, judge_stride=1)
    out = (s.anonymized or s.work) / path.name
    anonymize(path, out, s, res, None)
    if not out.exists():
        res.problems.append("no output")
        return res
    a, b = read_image(path), read_image(out)
    res.in_frames = res.out_frames = 1
    if a.shape != b.shape:
        res.problems.append(f"size {a.shape[1]}x{a.shape[0]} -> {b.shape[1]}x{b.shape[0]}")
        return res
    judge(res, s, None, a, b)
    if s.hog:
        hog_leak(res, s, 0, np.ascontiguousarray(a), np.ascontiguousarray(b), -10**9)
    return res


def check(path: Path, s: Settings) -> ClipResult:
    """One input, image or video."""
    return check_image(path, s) if path.suffix.lower() in IMAGE_SUFFIXES else check_clip(path, s)


def check_clip(clip: Path, s: Settings) -> ClipResult:
    """Run, then compare input and output frame by frame."""
    res = ClipResult(clip.name, judge_stride=s.judge_stride)
    out, stats = (s.anonymized or s.work) / f"{clip.stem}.mp4", s.work / f"{clip.stem}.stats.json"
    anonymize(clip, out, s, res, None if s.anonymized else stats)
    if stats.exists() and res.exit_code == 0:
        res.stats_fps = json.loads(stats.read_text()).get("fps")
    if not out.exists():
        res.problems.append("no output")
        return res
    with av.open(str(clip)) as c:
        n = c.streams.video[0].frames
    res.stride = s.stride or (1 if 0 < n < 600 else 3)
    res.in_audio, res.out_audio = has_audio(clip), has_audio(out)
    ti, to = Track(), Track()
    gi, go = frames(clip, ti), frames(out, to)
    last_png = -10**9
    for i, (fi, fo) in enumerate(zip(gi, go, strict=False)):
        judged, hogged = i % s.judge_stride == 0, s.hog and i % res.stride == 0
        if not (judged or hogged):
            continue
        a, b = upright(fi), upright(fo)
        if a.shape != b.shape:
            res.problems.append(f"frame {i}: size {a.shape[1]}x{a.shape[0]} -> {b.shape[1]}x{b.shape[0]}")
            break
        if judged:
            judge(res, s, i, a, b)
        if hogged:
            last_png = hog_leak(res, s, i, a, b, last_png)
    for g in (gi, go):  # zip stops at the shorter stream: count the rest of the other
        for _ in g:
            pass
    res.in_frames, res.out_frames = ti.frames, to.frames
    res.in_duration, res.out_duration = round(ti.duration, 4), round(to.duration, 4)
    if res.in_frames != res.out_frames:
        res.problems.append(f"frames {res.in_frames} -> {res.out_frames}")
    if abs(ti.duration - to.duration) > ti.last_dur + 1e-3:
        res.problems.append(f"duration {ti.duration:.3f} -> {to.duration:.3f} s")
    if res.in_audio != res.out_audio:
        res.problems.append(f"audio {res.in_audio} -> {res.out_audio}")
    return res


def _per_detector(c: UntouchedCounts) -> list[str]:
    return [f"{c.by_detector.get(d, {}).get('untouched', 0)}/{c.by_detector.get(d, {}).get('faces', 0)}"
            for d in DETECTORS]


def _pct(n: int, d: int) -> str:
    return f"{n / d:.1%}" if d else "-"


def table(results: list[ClipResult], target: float, hog: bool = True) -> str:
    """Markdown table, one row per clip or image and a total row. Untouched per detector: untouched / faces
    that detector found (a face both found counts for both)."""
    rows = ["| input | frames | judged | faces | untouched | partly covered | "
            + " | ".join(f"{d} untouched" for d in DETECTORS)
            + (" | HOG stride | HOG face frames | HOG leaks | re-ID leaks" if hog else "")
            + " | exit | fps | wall s | judge s | problems |",
            "|---|" + "---:|" * (9 + len(DETECTORS) + (4 if hog else 0)) + "---|"]
    total = UntouchedCounts(DETECTORS)
    for r in results:
        c = counts_of(r)
        total.merge(c)
        fps = r.stats_fps if r.stats_fps is not None else "-"
        flag = " **>target**" if r.rate > target else ""
        hog_cells = (f" | {r.stride} | {r.face_frames} | {r.leaked} ({r.rate:.1%}){flag} | {r.reid_leaked}"
                     if hog else "")
        rows.append(f"| {r.clip} | {r.in_frames} | {c.frames} | {c.faces} | "
                    f"{c.untouched} ({_pct(c.untouched, c.faces)}) | "
                    f"{c.partly_covered} ({_pct(c.partly_covered, c.faces)}) | " + " | ".join(_per_detector(c))
                    + hog_cells + f" | {r.exit_code} | {fps} | {r.wall_s} | {r.judge_s:.1f} | "
                    f"{'; '.join(r.problems)} |")
    faces, leaked = sum(r.face_frames for r in results), sum(r.leaked for r in results)
    reid = sum(r.reid_leaked for r in results)
    hog_total = f" | | {faces} | {leaked} ({_pct(leaked, faces)}) | {reid}" if hog else ""
    rows.append(f"| **all** | {sum(r.in_frames for r in results)} | {total.frames} | {total.faces} | "
                f"{total.untouched} ({_pct(total.untouched, total.faces)}) | {total.partly_covered} "
                f"({_pct(total.partly_covered, total.faces)}) | " + " | ".join(_per_detector(total)) + hog_total
                + f" | | | {sum(r.wall_s for r in results):.0f} | {sum(r.judge_s for r in results):.0f} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--videos", "--inputs", dest="videos", type=Path, default=DEFAULT_VIDEOS,
                   help="folder of clips and/or images")
    p.add_argument("--clips", default="*", help="glob on clip and image names")
    p.add_argument("--work", type=Path, default=Path("/tmp/streamanon-leaks"), help="outputs, stats, PNGs")
    p.add_argument("--method", default="blur", choices=["blur", "pixelate", "mask"], help="streamanon --method")
    p.add_argument("--cli-args", default="", help="more streamanon arguments, one shell-quoted string")
    p.add_argument("--anonymized", type=Path, default=None,
                   help="judge the outputs already in this folder (same names; videos as STEM.mp4) instead of "
                        "running the CLI, e.g. deface's")
    p.add_argument("--judge-stride", type=int, default=5, help="run the untouched-face judge on every Nth frame")
    p.add_argument("--png", type=Path, default=None,
                   help="save each untouched / partly covered face here as a side-by-side crop (original | output)")
    p.add_argument("--max-untouched", type=int, default=0, help="most untouched faces allowed per clip")
    p.add_argument("--max-partly", type=float, default=0.01, help="highest partly covered share allowed per clip")
    p.add_argument("--no-hog", dest="hog", action="store_false", help="skip the HOG leak count")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per judge session")
    p.add_argument("--stride", type=int, default=0,
                   help="HOG: check every Nth frame; 0: 1 below 600 frames, else 3")
    p.add_argument("--jobs", type=int, default=1, help="clips in parallel")
    p.add_argument("--target", type=float, default=0.01, help="highest leak rate allowed per clip")
    p.add_argument("--max-pngs", type=int, default=3, help="leak PNGs saved per clip")
    p.add_argument("--reuse", action="store_true", help="skip the CLI where an output and stats already exist")
    p.add_argument("--json", type=Path, default=None, help="write all results here")
    args = p.parse_args(argv)
    if args.judge_stride < 1:
        p.error("--judge-stride must be at least 1")
    clips = sorted(c for c in args.videos.iterdir()
                   if c.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES and fnmatch.fnmatch(c.name, args.clips))
    if not clips:
        p.error(f"no clips or images matching {args.clips!r} in {args.videos}")
    args.work.mkdir(parents=True, exist_ok=True)
    settings = Settings(args.work, args.method, args.stride, args.judge_stride, args.hog,
                        tuple(shlex.split(args.cli_args)), args.reuse, args.anonymized, args.max_pngs, args.png,
                        args.threads)
    results: list[ClipResult] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for r in pool.map(partial(check, s=settings), clips):
            results.append(r)
            c = counts_of(r)
            print(f"{r.clip}: {c.untouched}/{c.faces} faces untouched, {c.partly_covered} partly covered; "
                  f"HOG {r.leaked}/{r.face_frames} leaked ({r.rate:.2%}); exit {r.exit_code}, "
                  f"{r.in_frames}->{r.out_frames} frames {'; '.join(r.problems)}", file=sys.stderr, flush=True)
    print(table(results, args.target, args.hog))
    for r in results:
        if r.exit_code:
            print(f"\n{r.clip} stderr:\n{r.stderr}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"rate": r.rate} for r in results], indent=1))
    bad = [r for r in results if r.problems or r.rate > args.target or counts_of(r).untouched > args.max_untouched
           or (counts_of(r).rate("partly_covered") or 0) > args.max_partly]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
