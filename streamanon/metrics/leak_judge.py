"""The untouched-face pass: the small-face judges on each original frame, the untouched rule on each face.

Shared by ``streamanon eval`` and tools/check_leaks.py. A script can call it directly:

    >>> from streamanon.metrics.leak_judge import judge_frame, judge_video, judge_images
    >>> counts, records = judge_video(Path("in.mp4"), Path("out.mp4"), stride=5, png_dir=Path("/tmp/untouched"))
    >>> counts.untouched, counts.partly_covered, counts.faces, counts.by_detector
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputInvalid
from .small_faces import DETECTORS, SmallFaceJudge, get_small_face_judge
from .untouched import FaceChange, UntouchedCounts, face_changes, side_by_side

Progress = Callable[[], None]


def judge_frame(judge: SmallFaceJudge, original: np.ndarray, output: np.ndarray, counts: UntouchedCounts,
                label: str = "", png_dir: Path | None = None, frame: int | None = None) -> list[dict]:
    """Judge one (original, output) RGB pair into ``counts``; return one record per face (box, detectors,
    change numbers, verdict). With ``png_dir``, each untouched and partly covered face is saved there as a
    side-by-side PNG (original | output) named after ``label``, frame and face index."""
    if original.shape != output.shape:
        raise InputInvalid(f"{label}: frame sizes differ: {original.shape[1]}x{original.shape[0]} vs "
                           f"{output.shape[1]}x{output.shape[0]}", path=label, frame=frame)
    faces = judge.find(original)
    changes = face_changes(original, output, faces.boxes)
    counts.add(changes, faces.found_by)
    records = []
    for i, (box, hit, c) in enumerate(zip(faces.boxes, faces.found_by, changes, strict=True)):
        rec = record(box, hit, c, frame)
        records.append(rec)
        if png_dir is not None and (c.untouched or c.partly_covered):
            png_dir.mkdir(parents=True, exist_ok=True)
            kind = "untouched" if c.untouched else "partly"
            where = f"_f{frame:05d}" if frame is not None else ""
            name = f"{kind}_{Path(label).stem or 'frame'}{where}_{i:03d}.png"
            cv2.imwrite(str(png_dir / name), cv2.cvtColor(side_by_side(original, output, box), cv2.COLOR_RGB2BGR))
            rec["png"] = str(png_dir / name)
    return records


def record(box: np.ndarray, found_by: np.ndarray, c: FaceChange, frame: int | None = None) -> dict:
    """JSON-ready description of one judged face."""
    return {"frame": frame, "box": [round(float(v), 1) for v in box],
            "height": round(float(box[3] - box[1]), 1),
            "found_by": [n for n, hit in zip(DETECTORS, found_by, strict=True) if hit],
            "mean_change": round(c.mean_change, 2), "detail_corr": round(c.detail_corr, 3),
            "structure_corr": round(c.structure_corr, 3),
            "changed_share": round(c.changed_share, 3), "untouched": c.untouched, "partly_covered": c.partly_covered}


def judge_pairs(pairs: Iterable[tuple[int | None, np.ndarray, np.ndarray]], label: str,
                judge: SmallFaceJudge | None = None, png_dir: Path | None = None, progress: Progress | None = None
                ) -> tuple[UntouchedCounts, list[dict]]:
    """Judge (frame index, original, output) pairs of one clip or image set."""
    judge = judge or get_small_face_judge()
    counts = UntouchedCounts(DETECTORS)
    records: list[dict] = []
    for index, a, b in pairs:
        records += judge_frame(judge, a, b, counts, label, png_dir, index)
        if progress:
            progress()
    return counts, records


def judge_video(original: Path, anonymized: Path, stride: int = 5, judge: SmallFaceJudge | None = None,
                png_dir: Path | None = None, progress: Progress | None = None) -> tuple[UntouchedCounts, list[dict]]:
    """Untouched faces of every ``stride``-th frame of a video and its anonymized version (paired by index)."""
    from .video import _frames

    def pairs():
        anon = _frames(anonymized)
        for fo in _frames(original):
            fa = next(anon, None)
            if fa is None:
                return
            if fo.index % stride == 0:
                yield fo.index, fo.rgb, fa.rgb

    return judge_pairs(pairs(), original.name, judge, png_dir, progress)


def judge_images(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], judge: SmallFaceJudge | None = None,
                 png_dir: Path | None = None, progress: Progress | None = None
                 ) -> tuple[UntouchedCounts, dict[str, UntouchedCounts], list[dict]]:
    """Untouched faces over (name, original, output) image pairs: overall counts, counts per image, records."""
    judge = judge or get_small_face_judge()
    total = UntouchedCounts(DETECTORS)
    per: dict[str, UntouchedCounts] = {}
    records: list[dict] = []
    for name, a, b in pairs:
        counts, recs = judge_pairs([(None, a, b)], name, judge, png_dir)
        per[name] = counts
        total.merge(counts)
        records += [r | {"source": name} for r in recs]
        if progress:
            progress()
    return total, per, records
