"""Fit the identity-vs-expression shape model (streamanon.faces.shape) on the prepared faces.

    python tools/fit_shape_model.py --faces /work/cache/faces128.npz --out engines/shape_model.npz

Prints how much of the within-person (expression, pose) variation the identity swap touches and how well
a nearest-neighbour attacker on the landmark geometry re-identifies LFW people before and after the swap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.faces.shape import ShapeModel, fit_shape_model  # noqa: E402

EXPRESSION = np.r_[0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267,
                   269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,  # lips
                   33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,  # right eye
                   263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,  # left eye
                   46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336]


def point_weights(alpha: float) -> np.ndarray:
    """(478,) 1 everywhere, ``alpha`` on the expression points (lips, eyes with irises, brows)."""
    w = np.ones(478, np.float32)
    w[EXPRESSION] = alpha
    w[468:478] = alpha
    return w


def rank1(coords: np.ndarray, labels: np.ndarray, probes: np.ndarray) -> float:
    """Share of probe shapes whose nearest other shape (by identity coordinates) is the same person."""
    hits = 0
    for i in probes:
        d = np.linalg.norm(coords - coords[i], axis=1)
        d[i] = np.inf
        hits += labels[int(np.argmin(d))] == labels[i]
    return hits / len(probes)


def evaluate(model: ShapeModel, shapes: np.ndarray, labels: np.ndarray, alpha: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    lfw = np.flatnonzero(np.char.startswith(labels.astype(str), "lfw:"))
    _, inv, counts = np.unique(labels[lfw], return_inverse=True, return_counts=True)
    probes = lfw[counts[inv] > 1][:1500]
    coords = model.identity_coords(shapes)
    before = rank1(coords, labels, probes)
    new = np.stack([model.sample_identity(rng, avoid=c) for c in coords[probes]])
    swapped = model.swap_identity(shapes[probes], new, point_weights(alpha))
    after_coords = coords.copy()
    after_coords[probes] = model.identity_coords(swapped)
    after = rank1(after_coords, labels, probes)
    iod = np.linalg.norm(shapes[probes, 468] - shapes[probes, 473], axis=1)
    moved = np.linalg.norm(swapped - shapes[probes], axis=2)
    return {"rank1_geometry_before": round(before, 4), "rank1_geometry_after": round(after, 4),
            "shift_all_iod": round(float((moved.mean(1) / iod).mean()), 4),
            "shift_expression_points_iod": round(float((moved[:, EXPRESSION].mean(1) / iod).mean()), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=Path("/work/cache/faces128.npz"))
    ap.add_argument("--out", type=Path, default=ROOT / "engines" / "shape_model.npz")
    ap.add_argument("--k", type=int, default=24, help="identity dimensions (default: %(default)s)")
    ap.add_argument("--r", type=int, default=80, help="PCA dimensions (default: %(default)s)")
    args = ap.parse_args()
    d = np.load(args.faces)
    size = d["crops"].shape[1]
    shapes = d["landmarks"][:, :, :2] / size
    labels = d["identity"]
    model = fit_shape_model(shapes, labels, k=args.k, r=args.r)
    model.depth = (d["landmarks"][:, :, 2] / size).mean(0).astype(np.float32)
    for a in (0.0, 0.25, 0.5, 1.0):
        print(f"expression weight {a}:", evaluate(model, shapes, labels, a))
    args.out.parent.mkdir(exist_ok=True)
    model.save(args.out)
    print(f"-> {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
