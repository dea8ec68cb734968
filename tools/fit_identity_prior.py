"""Fit the identity prior of the shape model: where real adults' and children's faces lie in its identity space.

    python tools/fit_identity_prior.py --faces ../shared/data/faces/utkface --count 4000 \
        --model engines/shape_model.npz

UTKFace file names start with the age. Each face gets MediaPipe's mesh, is aligned as at run time
(streamanon.faces.align) and mapped to identity coordinates (ShapeModel.identity_coords). The mean and spread of
two groups, adults (``--adult-age`` and older) and children, are written into the model file as ``prior_mean``
and ``prior_std`` (adults first). ``sample_identity`` then draws a new identity from the group the original
face is likeliest in. Without it the draw came from the whole training population, a third of which are
children: along its first identity direction adults spread 0.36x as wide as the population, and adults got
a child's proportions (a round face, small features). Prints each group's size, spread and mean, and how
often the likelihood rule puts a held-out face in its own group. Then update engines/manifest.json (sha256,
bytes) and the model card.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.faces.align import align_matrix, transform  # noqa: E402
from streamanon.faces.landmarks import MeshEstimator  # noqa: E402
from streamanon.faces.shape import ShapeModel  # noqa: E402

CROP = 128  # streamanon.generate.CROP: the canonical crop the run time aligns to


def identity_coords(model: ShapeModel, mesh: MeshEstimator, path: Path) -> np.ndarray | None:
    """(k,) identity coordinates of the face of an aligned face photo, or None (unreadable, no mesh)."""
    bgr = cv2.imread(str(path))
    if bgr is None:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    pts = mesh.estimate(rgb, np.array([w / 2, h / 2]), float(max(h, w)))
    if pts is None:
        return None
    own = transform(pts, align_matrix(pts, CROP))
    return model.identity_coords((own / CROP)[None])[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "data" / "faces" / "utkface")
    ap.add_argument("--model", type=Path, default=ROOT / "engines" / "shape_model.npz")
    ap.add_argument("--count", type=int, default=4000, help="faces used (a seeded shuffle; default: %(default)s)")
    ap.add_argument("--adult-age", type=int, default=16, help="first adult age (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    model = ShapeModel.load(args.model, verify=False)
    files = sorted(p for p in args.faces.iterdir() if re.match(r"\d+_", p.name))
    np.random.default_rng(args.seed).shuffle(files)
    mesh = MeshEstimator(crop_size=256)
    coords, adult = [], []
    for i, path in enumerate(files[: args.count]):
        c = identity_coords(model, mesh, path)
        if c is not None:
            coords.append(c)
            adult.append(int(path.name.split("_")[0]) >= args.adult_age)
        if (i + 1) % 500 == 0:
            print(f"{i + 1} faces read, {len(coords)} with a mesh", flush=True)
    coords, adult = np.array(coords), np.array(adult)
    held = np.arange(len(coords)) % 5 == 0  # every 5th face checks the group rule, fitted on the others
    groups = [adult, ~adult]
    mean = np.stack([coords[g & ~held].mean(0) for g in groups]).astype(np.float32)
    std = np.stack([coords[g & ~held].std(0) for g in groups]).astype(np.float32)
    for name, g, m, s in zip(("adults", "children"), groups, mean, std):
        print(f"{name}: {int(g.sum())} faces; spread / population's, first 6: {(s / model.id_std)[:6].round(2)}; "
              f"mean / population spread, first 6: {(m / model.id_std)[:6].round(2)}")
    model.prior_mean, model.prior_std = mean, std
    picked = np.array([model.group_of(c) for c in coords[held]])
    truth = np.where(adult[held], 0, 1)
    own = [float((picked[truth == g] == g).mean()) for g in (0, 1)]
    print(f"held-out faces put in their own group: {float((picked == truth).mean()):.3f} "
          f"(adults {own[0]:.3f}, children {own[1]:.3f})")
    model.save(args.model)
    print(f"-> {args.model} ({args.model.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
