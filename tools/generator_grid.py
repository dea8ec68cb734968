"""A grid to look at the generator, one row per image's largest face, in its aligned crop shown at 192 px.

    python tools/generator_grid.py --images ../shared/data/celebahq --n 16 --out grid.png [--variant mesh]

mesh (the default method): original | render (the track's albedo shaded on the new geometry, its eyes, brows,
mouth and grain, before the blend) | pasted without refinement (the blend into the frame) | refined (the
refinement generator's correction added: the output).
dense / sparse (the older 128 px network): original | mask and landmarks | generated crop | pasted result.
Write the grid outside the repository when the images are research-only data.
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


def largest_face(rgb: np.ndarray, analyzer: FaceAnalyzer):
    """(the image's Faces, index of its largest meshed face), or None without one."""
    analyzer.reset()
    faces = analyzer.analyze(rgb)
    meshed = [i for i in range(len(faces)) if faces.has_mesh[i]]
    if not meshed:
        return None
    return faces, max(meshed, key=lambda j: float(np.prod(faces.boxes[j, 2:] - faces.boxes[j, :2])))


def row(rgb: np.ndarray, analyzer: FaceAnalyzer, gen: FaceGenerator) -> np.ndarray | None:
    """The four panels of the image's largest meshed face, side by side, or None without one."""
    found = largest_face(rgb, analyzer)
    if found is None:
        return None
    faces, i = found
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


def mesh_row(rgb: np.ndarray, analyzer: FaceAnalyzer, gen: FaceGenerator) -> np.ndarray | None:
    """original | render | pasted | refined for the image's largest meshed face, or None without one."""
    from streamanon.faces.align import align_matrix
    from streamanon.photometric import stages as S

    found = largest_face(rgb, analyzer)
    if found is None:
        return None
    faces, i = found
    seen = {}
    real_refine = S.refine

    def spy(p, *args):
        seen["render"], seen["pasted"], seen["roi"] = p.render.copy(), p.output.copy(), p.roi
        seen["cover"] = p.cover.copy()
        real_refine(p, *args)

    S.refine = spy
    try:
        result = rgb.copy()
        gen.apply(result, faces[np.array([i])])
    finally:
        S.refine = real_refine
    if not seen:
        return None
    x0, y0, x1, y1 = seen["roi"]
    render, pasted = rgb.copy(), rgb.copy()
    face = np.clip(seen["render"] * 255, 0, 255).astype(np.uint8)
    render[y0:y1, x0:x1][seen["cover"]] = face[seen["cover"]]
    pasted[y0:y1, x0:x1] = seen["pasted"]
    m = align_matrix(faces.landmarks[i], SHOW)
    return np.concatenate([warp_crop(p, m, SHOW) for p in (rgb, render, pasted, result)], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "celebahq")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("generator_grid.png"))
    ap.add_argument("--variant", choices=["mesh", "dense", "sparse"], default="mesh")
    ap.add_argument("--no-swap", action="store_true", help="the plain dense ablation (own landmarks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--relief", action=argparse.BooleanOptionalAction, default=True,
                    help="the relief stage (the hollows shaded; default: on)")
    args = ap.parse_args()
    analyzer = FaceAnalyzer()
    gen = FaceGenerator(GenerateSettings(variant=args.variant, swap=not args.no_swap, seed=args.seed,
                                         relief=args.relief))
    rows = []
    for path in list_images(args.images):
        r = (mesh_row if args.variant == "mesh" else row)(read_image(path), analyzer, gen)
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
