"""Acceptance check over a folder of clips: run the CLI on each, check frames/duration/audio, count face leaks.

    python tools/check_leaks.py [--videos DIR] [--clips GLOB] [--work DIR] [--method blur] [--stride N]
                                [--jobs N] [--json out.json] [--reuse]

A leak is an output frame where dlib's HOG frontal face detector (independent of the anonymizer) finds a face
overlapping (IoU > 0.3, or its centre inside) a face HOG found in the input frame of the same index.
Each leak also gets the dlib ResNet distance to the input face ("re-ID leak" below 0.6; reported, not gated).
Leak rate = leaked frames / checked frames with an input face; the target is at most 1% per clip.
Exit status 1 if any clip failed (CLI error, frame count, duration or audio mismatch) or missed the target.
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
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.leaked / self.face_frames if self.face_frames else 0.0


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


def run_cli(clip: Path, out: Path, stats: Path, method: str, extra: list[str], res: ClipResult) -> None:
    """Run ``python -m streamanon`` on one clip; record exit code, stderr, wall time, stats fps."""
    cmd = [sys.executable, "-m", "streamanon", str(clip), str(out), "-y", "-q", "--stats", str(stats),
           "--method", method, *extra]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    res.wall_s = round(time.perf_counter() - t0, 2)
    res.exit_code, res.stderr = p.returncode, p.stderr.strip()
    if p.returncode:
        res.problems.append(f"exit {p.returncode}")


def check_clip(clip: Path, work: Path, method: str, stride: int, extra: list[str], reuse: bool,
               max_pngs: int) -> ClipResult:
    """Run, then compare input and output frame by frame."""
    res = ClipResult(clip.name)
    out, stats = work / f"{clip.stem}.mp4", work / f"{clip.stem}.stats.json"
    if reuse and out.exists() and stats.exists():
        res.exit_code = 0
    else:
        run_cli(clip, out, stats, method, extra, res)
    if stats.exists() and res.exit_code == 0:
        res.stats_fps = json.loads(stats.read_text()).get("fps")
    if not out.exists():
        res.problems.append("no output")
        return res
    with av.open(str(clip)) as c:
        n = c.streams.video[0].frames
    res.stride = stride or (1 if 0 < n < 600 else 3)
    res.in_audio, res.out_audio = has_audio(clip), has_audio(out)
    ti, to = Track(), Track()
    gi, go = frames(clip, ti), frames(out, to)
    last_png = -10**9
    for i, (fi, fo) in enumerate(zip(gi, go, strict=False)):
        if i % res.stride:
            continue
        a = upright(fi)
        faces_in = [d[0] for d in detect(a)]
        res.checked += 1
        if not faces_in:
            continue
        res.face_frames += 1
        b = upright(fo)
        hit = next(((box, s, k, f) for box, s, k in detect(b) for f in faces_in if overlaps(box, f)), None)
        if hit is None:
            continue
        res.leaked += 1
        box, score, kind, src = hit
        dist = reid_distance(a, src, b, box)
        res.reid_leaked += dist < REID_MAX
        res.leaks.append({"frame": i, "box": box, "width": box[2] - box[0], "score": round(score, 3), "kind": kind,
                          "reid_distance": round(dist, 3)})
        if len(res.pngs) < max_pngs and i - last_png >= PNG_GAP:
            png = work / f"leak_{clip.stem}_{i:05d}.png"
            label = f"{clip.name} frame {i} HOG score {score:.2f} width {box[2] - box[0]} re-ID distance {dist:.2f}"
            save_pair(png, a, b, faces_in, box, label)
            res.pngs.append(str(png))
            last_png = i
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


def table(results: list[ClipResult], target: float) -> str:
    """Markdown table, one row per clip and a total row."""
    rows = ["| clip | frames | stride | input-face frames | leaks | rate | re-ID leaks | exit | fps | wall s "
            "| problems |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        flag = " **>target**" if r.rate > target else ""
        fps = r.stats_fps if r.stats_fps is not None else "-"
        rows.append(f"| {r.clip} | {r.in_frames} | {r.stride} | {r.face_frames} | {r.leaked} | {r.rate:.2%}{flag} "
                    f"| {r.reid_leaked} | {r.exit_code} | {fps} | {r.wall_s} | {'; '.join(r.problems)} |")
    faces, leaked = sum(r.face_frames for r in results), sum(r.leaked for r in results)
    rate = leaked / faces if faces else 0.0
    rows.append(f"| **all** | {sum(r.in_frames for r in results)} | | {faces} | {leaked} | {rate:.2%} | "
                f"{sum(r.reid_leaked for r in results)} | | | "
                f"{sum(r.wall_s for r in results):.0f} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder of clips")
    p.add_argument("--clips", default="*", help="glob on clip names")
    p.add_argument("--work", type=Path, default=Path("/tmp/streamanon-leaks"), help="outputs, stats, PNGs")
    p.add_argument("--method", default="blur", choices=["blur", "pixelate", "mask"], help="streamanon --method")
    p.add_argument("--cli-args", default="", help="more streamanon arguments, one shell-quoted string")
    p.add_argument("--stride", type=int, default=0,
                   help="check every Nth frame; 0: 1 below 600 frames, else 3")
    p.add_argument("--jobs", type=int, default=1, help="clips in parallel")
    p.add_argument("--target", type=float, default=0.01, help="highest leak rate allowed per clip")
    p.add_argument("--max-pngs", type=int, default=3, help="leak PNGs saved per clip")
    p.add_argument("--reuse", action="store_true", help="skip the CLI where an output and stats already exist")
    p.add_argument("--json", type=Path, default=None, help="write all results here")
    args = p.parse_args(argv)
    clips = sorted(c for c in args.videos.iterdir()
                   if c.suffix.lower() in VIDEO_SUFFIXES and fnmatch.fnmatch(c.name, args.clips))
    if not clips:
        p.error(f"no clips matching {args.clips!r} in {args.videos}")
    args.work.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(args.cli_args)
    one = partial(check_clip, work=args.work, method=args.method, stride=args.stride, extra=extra,
                  reuse=args.reuse, max_pngs=args.max_pngs)
    results: list[ClipResult] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for r in pool.map(one, clips):
            results.append(r)
            print(f"{r.clip}: {r.leaked}/{r.face_frames} leaked ({r.rate:.2%}), exit {r.exit_code}, "
                  f"{r.in_frames}->{r.out_frames} frames {'; '.join(r.problems)}", file=sys.stderr, flush=True)
    print(table(results, args.target))
    for r in results:
        if r.exit_code:
            print(f"\n{r.clip} stderr:\n{r.stderr}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"rate": r.rate} for r in results], indent=1))
    bad = [r for r in results if r.problems or r.rate > args.target]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
