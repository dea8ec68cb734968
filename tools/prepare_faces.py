"""Run the face mesh once over the training faces; cache aligned crops and landmarks for training.

    python tools/prepare_faces.py --data ../shared/data --out /work/cache/faces128.npz

Writes crops (N, S, S, 3) uint8 aligned by streamanon.faces.align, landmarks (N, 478, 3) float32 in crop
pixels, and per image its dataset, file name and identity label (LFW: the person's name; else the file).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETS = ("utkface", "facemask", "expressions", "lfw-gray")
_mesh = None


def _init() -> None:
    global _mesh
    from streamanon.faces.mp_backend import silenced_stderr, solutions
    with silenced_stderr():
        _mesh = solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                             min_detection_confidence=0.5)


def _one(job: tuple[str, int]):
    import cv2

    from streamanon.faces.align import align_matrix, transform, warp_crop
    path, size = job
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    res = _mesh.process(rgb)
    if not res.multi_face_landmarks:
        return None
    lm = np.array([(p.x * w, p.y * h, p.z * w) for p in res.multi_face_landmarks[0].landmark], np.float32)
    try:
        m = align_matrix(lm, size)
    except ValueError:
        return None
    return warp_crop(rgb, m, size), transform(lm, m).astype(np.float32)


def identity_of(dataset: str, path: Path) -> str:
    if dataset == "lfw-gray":
        return "lfw:" + path.stem.rsplit("_", 1)[0]
    return f"{dataset}:{path.stem}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/work/cache/faces128.npz"))
    ap.add_argument("--size", type=int, default=128, help="crop side (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="at most this many images per set (0: all)")
    args = ap.parse_args()
    files: list[tuple[str, Path]] = []
    for s in SETS:
        paths = sorted(p for p in (args.data / "faces" / s).rglob("*") if p.suffix.lower() in (".jpg", ".png",
                                                                                             ".jpeg"))
        files += [(s, p) for p in (paths[: args.limit] if args.limit else paths)]
    t0 = time.time()
    crops, lms, sets, names, ids = [], [], [], [], []
    with mp.Pool(args.jobs, initializer=_init) as pool:
        for i, r in enumerate(pool.imap(_one, [(str(p), args.size) for _, p in files], chunksize=32)):
            if r is not None:
                s, p = files[i]
                crops.append(r[0])
                lms.append(r[1])
                sets.append(s)
                names.append(p.name)
                ids.append(identity_of(s, p))
            if i % 2000 == 0:
                print(f"{i}/{len(files)} {time.time() - t0:.0f}s kept {len(crops)}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, crops=np.stack(crops), landmarks=np.stack(lms), dataset=np.array(sets),
             name=np.array(names), identity=np.array(ids))
    print(f"kept {len(crops)} of {len(files)} in {time.time() - t0:.0f}s -> {args.out}")


if __name__ == "__main__":
    main()
