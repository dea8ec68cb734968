"""A grid to look at the generator: per image, original | mask and landmarks | generated crop | pasted result.

    python tools/generator_grid.py --images ../shared/data/celebahq --n 16 --out grid.png [--variant sparse]

Each row is one image's largest face, in the generator's aligned 128 px crop shown at 192 px: the original,
the masked input with the sketch of the (identity-swapped) landmarks drawn over it, the generator's raw
output, and the final frame after the Laplacian-pyramid paste. Write the grid outside the repository when
the images are research-only data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.faces.align import warp_crop  # noqa: E402
from streamanon.faces.analyze import FaceAnalyzer  # noqa: E402
from streamanon.generate import CROP, FaceGenerator, GenerateSettings, paste  # noqa: E402
from streamanon.media.images import list_images, read_image  # noqa: E402

SHOW = 192


def row(rgb: np.ndarray, analyzer: FaceAnalyzer, gen: FaceGenerator) -> np.ndarray | None:
    """The four panels of the image's largest meshed face, side by side, or None without one."""
    analyzer.reset()
    faces = analyzer.analyze(rgb)
    meshed = [i for i in range(len(faces)) if faces.has_mesh[i]]
    if not meshed:
        return None
    i = max(meshed, key=lambda j: float(np.prod(faces.boxes[j, 2:] - faces.boxes[j, :2])))
    x, m, mask = gen.prepare(rgb, faces.landmarks[i], int(faces.track_ids[i]))
    out = gen.engine(x[None])[0]
    result = rgb.copy()
    paste(result, out, m, mask)

    def img(t: np.ndarray) -> np.ndarray:
        return ((t.transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)

    sketch = (x[4:9] * 255).astype(np.uint8)
    cond = img(x[:3]).copy()
    lines = np.stack([sketch[0] | sketch[3], sketch[1] | sketch[4], sketch[2]], -1)
    cond[lines.max(-1) > 0] = lines[lines.max(-1) > 0]
    panels = [warp_crop(rgb, m, CROP), cond, img(out), warp_crop(result, m, CROP)]
    return np.concatenate([cv2.resize(p, (SHOW, SHOW), interpolation=cv2.INTER_CUBIC) for p in panels], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "celebahq")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("generator_grid.png"))
    ap.add_argument("--variant", choices=["dense", "sparse"], default="dense")
    ap.add_argument("--no-swap", action="store_true", help="the plain dense ablation (own landmarks)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    analyzer = FaceAnalyzer()
    gen = FaceGenerator(GenerateSettings(variant=args.variant, swap=not args.no_swap, seed=args.seed))
    rows = []
    for path in list_images(args.images):
        r = row(read_image(path), analyzer, gen)
        if r is not None:
            rows.append(r)
        if len(rows) == args.n:
            break
    if not rows:
        raise SystemExit(f"no face found in the images of {args.images}")
    half = (len(rows) + 1) // 2  # two columns of rows
    left, right = rows[:half], rows[half:] + [np.zeros_like(rows[0])] * (half - len(rows[half:]))
    grid = np.concatenate([np.concatenate(left, 0), np.concatenate(right, 0)], 1)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"{len(rows)} faces -> {args.out}")


if __name__ == "__main__":
    main()
