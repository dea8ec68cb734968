"""Results of one evaluation: JSON and a self-contained HTML report (plots embedded as base64 PNG)."""

from __future__ import annotations

import datetime
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..media.safe_paths import exclusive_temp
from .evaluate import FaceScores
from .judges import EMBEDDING
from .plots import bars_png, radar_png, strip_png
from .small_faces import DETECTORS
from .summary import METRICS, RADAR_MAPPING, radar, summarize, track_summaries
from .untouched import UntouchedCounts
from .video import VideoStats

CONVENTIONS = {
    "embedding": f"re-identification, rank-1, Frechet distance and identity spread use the {EMBEDDING}",
    "reidentified": "descriptor distance original vs anonymized < 0.6; the descriptor is taken at the HOG box when "
                    "HOG finds the output face (IoU >= 0.3), else at the original's box (the attacker knows where)",
    "rank1": "nearest original in a gallery of all originals (per track for video) is the right one",
    "reid_chance": "share of the other people's originals within 0.6 of the output: re-identification by chance",
    "detectability": "dlib HOG finds a face overlapping the original's box (IoU >= 0.3)",
    "expression": "MediaPipe face mesh re-detected on the output; error of lips, eyes and brows points after a "
                  "similarity alignment, divided by the original's inter-ocular (outer eye corner) distance",
    "pose": "cv2.solvePnP of the 468 mesh points against a mean 3-D face built from the originals' meshes (x, y "
            "and the mesh's z; mediapipe 0.10.21 ships no canonical face model); camera focal = longer side",
    "photometry": "on the same pixels of both images: the original's mesh region; lighting = 2nd-order SH (9x3) "
                  "fitted to linear RGB skin pixels with normals of the mean 3-D face turned by the original's "
                  "pose; colour = CIEDE2000 of mean CIELAB skin (mesh minus eyes, brows, lips)",
    "flicker": "sum over evaluated frames of mean |frame t - frame t-1| in the face region, output / input",
    "untouched": "faces of 20 px or more that MTCNN or CenterFace (judges only, never the anonymizer) find in the "
                 "ORIGINAL at full resolution, every N-th video frame; untouched = inner 60% of the box has mean "
                 "|grey change| < 8 and high-pass (grey - Gaussian sigma 1.5) correlation > 0.8; partly covered = "
                 "not untouched and < 90% of the box's pixels changed (smoothed |grey diff| > 6, dilated by 1/8 of "
                 "the box height)",
}


@dataclass
class Evaluation:
    """Scores of one anonymizer output against its originals."""

    original: str
    anonymized: str
    kind: str  # "images" | "video"
    scores: list[FaceScores]
    video: VideoStats | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None
    untouched: dict[str, UntouchedCounts] = field(default_factory=dict)  # per clip / image
    untouched_faces: list[dict] = field(default_factory=list)  # one record per judged face

    def summary(self) -> dict:
        return summarize(self.scores, self.video)

    def untouched_total(self) -> UntouchedCounts | None:
        """Untouched counts over every clip or image; None when the judge did not run."""
        if not self.untouched:
            return None
        total = UntouchedCounts(DETECTORS)
        for c in self.untouched.values():
            total.merge(c)
        return total


def to_json(ev: Evaluation, per_face: bool = True) -> dict:
    s = ev.summary()
    data = {
        "original": ev.original, "anonymized": ev.anonymized, "kind": ev.kind,
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "seconds": ev.seconds,
        "summary": s, "radar": radar(s), "radar_mapping": RADAR_MAPPING, "conventions": CONVENTIONS,
        "notes": ev.notes,
    }
    total = ev.untouched_total()
    if total is not None:
        data["untouched"] = {"all": total.to_dict(), "per_input": {k: c.to_dict() for k, c in ev.untouched.items()}}
        if per_face:
            data["untouched"]["faces"] = ev.untouched_faces
    if ev.kind == "video":
        data["tracks"] = track_summaries(ev.scores)
    if per_face:
        data["faces"] = [f.to_dict() for f in ev.scores]
    return data


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write next to the target then rename (no half-written reports)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = exclusive_temp(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=1, allow_nan=False, default=str) + "\n")


def fmt(value, unit: str = "") -> str:
    """A number for a table: rates as percentages, None as a dash."""
    if value is None:
        return "-"
    if unit == "%":
        return f"{100 * value:.1f}%"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"


WORST = [  # (title, field, largest first?, caption)
    ("most identifiable (smallest descriptor distance)", "reid_distance", False, "d={:.2f}"),
    ("largest expression error", "nme", True, "NME={:.3f}"),
    ("largest pose error", "pose_error", True, "{:.1f} deg"),
    ("largest lighting angle", "light_angle", True, "{:.0f} deg"),
    ("largest colour difference", "ciede2000", True, "dE={:.1f}"),
]


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _short(name: str, n: int = 18) -> str:
    return name if len(name) <= n else name[: n - 3] + "..."


def html_report(ev: Evaluation, strip: int = 6) -> str:
    s = ev.summary()
    dims = radar(s)
    rows = "".join(f"<tr><td>{html.escape(m.label)}</td><td>{fmt(s.get(m.key), m.unit)}</td>"
                   f"<td>{m.better} is better</td></tr>" for m in METRICS if s.get(m.key) is not None)
    mapping = "".join(f"<li><b>{k}</b> = {html.escape(v)} &rarr; {fmt(dims[k])}</li>" for k, v in RADAR_MAPPING.items())
    total = ev.untouched_total()
    untouched = "" if total is None else (
        f"<h2>Untouched faces</h2><p>{total.untouched} of {total.faces} faces untouched, {total.partly_covered} "
        f"partly covered (MTCNN + CenterFace judges; per detector: "
        + ", ".join(f"{d} {v['untouched']}/{v['faces']}" for d, v in total.by_detector.items()) + ")</p>")
    parts = [f"<h1>streamanon eval</h1><p>original: <code>{html.escape(ev.original)}</code><br>anonymized: "
             f"<code>{html.escape(ev.anonymized)}</code><br>{s['faces']} faces ({ev.kind})</p>", untouched,
             f"<h2>Summary</h2><table>{rows}</table>",
             f"<h2>Five dimensions</h2>{_img(radar_png({'anonymized': dims}), 'radar')}<ul>{mapping}</ul>",
             "<h2>Per metric</h2>"]
    for key, label in [("reid_distance", "descriptor distance to the original (higher = more private)"),
                       ("nme", "expression NME"), ("pose_error", "pose error, deg"),
                       ("light_angle", "lighting angle, deg"), ("light_rel_l2", "lighting relative L2"),
                       ("ciede2000", "CIEDE2000"), ("sharpness_ratio", "sharpness ratio")]:
        values = sorted(v for v in (getattr(f, key) for f in ev.scores) if v is not None)
        if values:
            parts.append(_img(bars_png([""] * len(values), values, label, sum(values) / len(values)), label))
    parts.append("<h2>Worst cases (original | anonymized)</h2>")
    for title, key, largest, caption in WORST:
        cases = sorted((f for f in ev.scores if getattr(f, key) is not None and f.thumbs is not None),
                       key=lambda f, k=key: getattr(f, k), reverse=largest)[:strip]
        if cases:
            caps = [(f"frame {f.frame}" if f.frame is not None else _short(f.source)) + "\n"
                    + caption.format(getattr(f, key)) for f in cases]
            parts.append(_img(strip_png([f.thumbs for f in cases], caps, title), title))
    conv = "".join(f"<li><b>{k}</b>: {html.escape(v)}</li>" for k, v in CONVENTIONS.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in ev.notes)
    parts.append(f"<h2>How it is measured</h2><ul>{conv}</ul>" + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""))
    return page("streamanon eval", "".join(parts))


def page(title: str, body: str) -> str:
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
             "img{display:block;margin:.5em 0;max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")
