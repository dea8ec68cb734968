"""Untouched faces per clip and image, side by side for several anonymizers, judged by detectors the pipeline
does not use (MTCNN) next to CenterFace (DESIGN.md section 5, issue 9).

    python tools/recall_table.py [--inputs DIR ...] [--methods generate,blur,deface] [--stride 5]
                                 [--work DIR] [--deface PATH] [--png DIR] [--json out.json]

The judges run once per original frame (every ``stride``-th frame of a video, every image) and their faces
are cached in WORK/judged/; each method's output is then scored on those faces. Outputs are made with the
CLI (``streamanon IN OUT --method M``) or with deface (``--deface`` names its executable, installed in a venv
of its own: it pulls opencv-python). The method ``bare`` is a control: the input re-encoded as streamanon
writes it (same encoder, same settings) with no face touched. Its untouched count is how many of the faces the
rule can see bare at all (the judge's sensitivity on that input); it should be close to all of them. Exit
status 1 when any input of a streamanon method has an untouched face or more than 1% partly covered.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.media.images import IMAGE_SUFFIXES  # noqa: E402
from streamanon.metrics.small_faces import DETECTORS, get_small_face_judge  # noqa: E402
from streamanon.metrics.untouched import face_changes, side_by_side  # noqa: E402

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".gif", ".m4v")


def frames(path: Path, stride: int):
    """(index, rgb) of every ``stride``-th frame of a video, or the one image."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        yield 0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % stride == 0:
                yield i, f.to_ndarray(format="rgb24")


def judged(path: Path, stride: int, work: Path) -> dict[int, dict]:
    """Judge faces of the original, cached: {frame: {"boxes": [...], "found_by": [...]}}."""
    cache = work / "judged" / f"{path.name}.s{stride}.json"
    if cache.exists():
        return {int(k): v for k, v in json.loads(cache.read_text()).items()}
    judge = get_small_face_judge()
    out = {}
    for i, rgb in frames(path, stride):
        f = judge.find(rgb)
        out[i] = {"boxes": f.boxes.round(1).tolist(), "found_by": f.found_by.tolist()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out


def make_output(path: Path, method: str, work: Path, deface: str | None, cli_args: list[str]) -> tuple[Path, float]:
    """Anonymize ``path`` with ``method`` into WORK/METHOD/ (reused when there); (output, seconds)."""
    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    out = work / method / (path.name if is_image else path.stem + ".mp4")
    if out.exists():
        return out, float("nan")
    out.parent.mkdir(parents=True, exist_ok=True)
    if method == "bare":
        t0 = time.perf_counter()
        bare_copy(path, out)
        return out, time.perf_counter() - t0
    if method == "deface":
        cmd = [deface, str(path), "-o", str(out)]
    else:
        cmd = [sys.executable, "-m", "streamanon", str(path), str(out), "--method", method, "-q", *cli_args]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0 or not out.exists():
        raise RuntimeError(f"{shlex.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-300:]}")
    return out, time.perf_counter() - t0


def bare_copy(path: Path, out: Path) -> None:
    """The control: ``path`` decoded and written again with streamanon's writer settings, no face touched."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        ok, buf = cv2.imencode(out.suffix.lower(), cv2.imread(str(path), cv2.IMREAD_COLOR))
        if not ok:
            raise RuntimeError(f"cannot encode {out.name}")
        out.write_bytes(buf.tobytes())
        return
    from bench import pure_transcode  # tools/bench.py: decode -> rgb24 -> libx264 as streamanon sets it

    pure_transcode(path, out)


def score(path: Path, output: Path, faces: dict[int, dict], stride: int, png: Path | None, label: str) -> dict:
    counts = {"faces": 0, "untouched": 0, "partly": 0, "untouched_heights": []}
    by = {name: 0 for name in DETECTORS}
    orig = dict(frames(path, stride))
    for i, rgb in frames(output, stride):
        if i not in faces or i not in orig:
            continue
        h, w = orig[i].shape[:2]
        if rgb.shape[0] >= h and rgb.shape[1] >= w:  # deface pads to whole macroblocks at the bottom/right
            rgb = np.ascontiguousarray(rgb[:h, :w])
        boxes = np.array(faces[i]["boxes"], np.float64).reshape(-1, 4)
        changes = face_changes(orig[i], rgb, boxes)
        for j, (box, c, hit) in enumerate(zip(boxes, changes, faces[i]["found_by"])):
            counts["faces"] += 1
            for name, h in zip(DETECTORS, hit):
                by[name] += bool(h)
            if c.untouched or c.partly_covered:
                counts["untouched" if c.untouched else "partly"] += 1
                if c.untouched:
                    counts["untouched_heights"].append(round(float(box[3] - box[1])))
                if png is not None:
                    png.mkdir(parents=True, exist_ok=True)
                    kind = "untouched" if c.untouched else "partly"
                    cv2.imwrite(str(png / f"{label}_{kind}_{path.stem}_f{i:05d}_{j:03d}.png"),
                                cv2.cvtColor(side_by_side(orig[i], rgb, box), cv2.COLOR_RGB2BGR))
    counts["found_by"] = by
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    shared = ROOT.parent / "shared" / "data"
    p.add_argument("--inputs", nargs="+", type=Path, default=[shared / "crowds", shared / "videos"])
    p.add_argument("--methods", default="generate,blur,deface")
    p.add_argument("--stride", type=int, default=5, help="judge every Nth video frame")
    p.add_argument("--work", type=Path, default=Path("/tmp/streamanon-recall"))
    p.add_argument("--deface", default=None, help="the deface executable (a venv of its own)")
    p.add_argument("--cli-args", default="", help="more streamanon arguments, one shell-quoted string")
    p.add_argument("--png", type=Path, default=None, help="save untouched / partly covered faces here")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m and (m != "deface" or a.deface)]
    files = sorted(f for d in a.inputs for f in d.iterdir()
                   if f.suffix.lower() in VIDEO_SUFFIXES + tuple(IMAGE_SUFFIXES))
    rows, bad = [], 0
    for f in files:
        faces = judged(f, a.stride, a.work)
        row = {"input": f.name, "judged_faces": sum(len(v["boxes"]) for v in faces.values())}
        for m in methods:
            try:
                out, secs = make_output(f, m, a.work, a.deface, shlex.split(a.cli_args))
                png = a.png if m != "bare" else None  # the control's faces are bare by design
                row[m] = score(f, out, faces, a.stride, png, m) | {"seconds": secs}
            except (RuntimeError, ValueError) as exc:
                row[m] = {"error": str(exc)}
            ours = m not in ("deface", "bare")
            if ours and (row[m].get("untouched", 1) or row[m].get("partly", 0) > 0.01 * row["judged_faces"]):
                bad += 1
        rows.append(row)
        cells = " | ".join(f"{row[m].get('untouched', 'ERR')} / {row[m].get('partly', '-')}" for m in methods)
        print(f"| {f.name} | {row['judged_faces']} | {cells} |", flush=True)
    summarize(rows, methods, "| **all** | ", a.json, a.stride)
    return 1 if bad else 0


def summarize(rows: list[dict], methods: list[str], label: str, json_path: Path | None, stride: int) -> dict:
    """Print the table's total row (after ``label``) and write the JSON; returns the totals per method."""
    total = {m: {k: sum(r[m].get(k, 0) for r in rows) for k in ("faces", "untouched", "partly")} for m in methods}
    print(label + str(sum(r["judged_faces"] for r in rows)) + " | "
          + " | ".join(f"{total[m]['untouched']} / {total[m]['partly']}" for m in methods) + " |")
    if json_path:
        json_path.write_text(json.dumps({"methods": methods, "stride": stride, "rows": rows, "total": total}, indent=1))
    return total


if __name__ == "__main__":
    sys.exit(main())
