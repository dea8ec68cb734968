"""Fit the albedo model (streamanon.photometric.texture) on training faces unwrapped into the mesh's UV space.

    python tools/fit_texture_model.py --faces ../shared/data/faces/utkface --count 3000 \
        --out engines/texture_model.npz

Each face: MediaPipe face mesh (478 points with depth), kept when nearly frontal; its image (linear RGB)
unwrapped into the UV layout; the light removed by dividing by the shading of the mesh's own normals under
SH lighting fitted on its skin texels (streamanon.photometric.relight); divided by its mean skin colour.
PCA of those textures. Prints the explained variance and how far sampled textures lie from the training
textures (nearest training face in PCA space, against the typical distance between two training faces).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamanon.faces.mp_backend import silenced_stderr, solutions  # noqa: E402
from streamanon.faces.shape import ShapeModel  # noqa: E402
from streamanon.models.engine import ENGINES_DIR  # noqa: E402
from streamanon.photometric import uv as U  # noqa: E402
from streamanon.photometric.relight import fit_lighting, shading  # noqa: E402
from streamanon.photometric.sh import srgb_to_linear  # noqa: E402
from streamanon.photometric.texture import fit_texture_model  # noqa: E402

MARKED = (3.5, 4.5)  # marks_score's (glasses, forehead mark) above which a training face is left out
MAX_ANGLE = 20.0  # degrees of yaw or pitch beyond which a face is left out (half its texture is hidden)


def model_face() -> np.ndarray:
    sm = ShapeModel.load(ENGINES_DIR / "shape_model.npz")
    return np.c_[sm.mean.reshape(-1, 2), sm.depth]


def delit_texture(rgb: np.ndarray, pts: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(texture (res, res, 3) albedo / skin colour, valid texels (res, res), skin colour (3,)) or None."""
    layout = U.default_layout()
    raster = U.texel_raster(res)
    tex, covered = U.unwrap(srgb_to_linear(rgb).astype(np.float32), pts, res)
    normals = raster.interpolate(U.vertex_normals(pts, layout.tris), layout.tris)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    valid = np.zeros(res * res, bool)
    valid[raster.pixels] = normals[:, 2] < -0.25  # facing the camera
    skin = raster.mask(layout.skin).ravel() & valid
    flat = tex.reshape(-1, 3)
    on_skin = valid[raster.pixels] & layout.skin[raster.tri]
    if on_skin.sum() < 500:
        return None
    coeffs = fit_lighting(flat[skin], normals[on_skin])
    shade = np.ones(res * res)
    shade[raster.pixels] = shading(normals, coeffs)
    albedo = flat / np.maximum(shade, 0.5)[:, None]
    colour = np.median(albedo[skin], axis=0)
    if (colour <= 1e-3).any():
        return None
    texture = (albedo / colour).reshape(res, res, 3).astype(np.float32)
    return texture, (valid & covered.ravel()).reshape(res, res), colour


@functools.lru_cache(maxsize=2)
def mark_regions(res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(round the eyes, middle of the forehead, cheeks): (res, res) bool texel masks for ``marks_score``, made
    once per texture size. Round the eyes: an ellipse 2.6 x 5 half-sizes of each eye opening, less the opening
    grown by 3 texels, where a pair of glasses' rims lie."""
    from streamanon.photometric.features import eye_indices, glabella_zone

    uv = U.default_layout().uv
    ring = np.zeros((res, res), np.uint8)
    eyes = np.zeros((res, res), np.uint8)
    for eye in eye_indices():
        contour = uv[eye.contour] * res
        centre, half = contour.mean(0), np.ptp(contour, 0) / 2
        cv2.ellipse(ring, (int(round(centre[0])), int(round(centre[1]))),
                    (int(round(2.6 * half[0])), int(round(5.0 * half[1]))), 0, 0, 360, 1, -1)
        cv2.fillPoly(eyes, [np.round(contour).astype(np.int32)], 1)
    eyes = cv2.dilate(eyes, np.ones((7, 7), np.uint8))
    cheeks = np.zeros((res, res), bool)
    cheeks[int(0.5 * res):int(0.62 * res), int(0.12 * res):int(0.3 * res)] = True
    cheeks[int(0.5 * res):int(0.62 * res), int(0.58 * res):int(0.76 * res)] = True
    return ring.astype(bool) & ~eyes.astype(bool), glabella_zone(res) > 0.5, cheeks


def marks_score(texture: np.ndarray, res: int) -> tuple[float, float]:
    """(glasses, forehead mark) of one (res, res, 3) texture: the mean absolute fine detail of its luminance (less
    its blur over 1.5% of the side) round the eyes and in the middle of the forehead (``mark_regions``), each over
    the same on the cheeks. A face with glasses or a marked forehead scores far above the rest; left in, the PCA
    kept their rims and marks, and a sample could show them."""
    ring, forehead, cheeks = mark_regions(res)
    lum = texture.mean(-1)
    fine = np.abs(lum - cv2.GaussianBlur(lum, (0, 0), 0.015 * res))
    base = max(float(fine[cheeks].mean()), 1e-4)
    return float(fine[ring].mean()) / base, float(fine[forehead].mean()) / base


def read_face(path: Path, mesh, min_side: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """(RGB image, (478, 3) mesh points in pixels, depth scaled like x) of a face image, or None."""
    bgr = cv2.imread(str(path))
    if bgr is None or bgr.ndim != 3 or min(bgr.shape[:2]) < min_side:
        return None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    res = mesh.process(rgb)
    if not res.multi_face_landmarks:
        return None
    h, w = rgb.shape[:2]
    return rgb, np.array([(p.x * w, p.y * h, p.z * w) for p in res.multi_face_landmarks[0].landmark], np.float64)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, nargs="+", default=[ROOT.parent / "shared/data/faces/utkface"])
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--res", type=int, default=160)
    ap.add_argument("--k", type=int, default=80)
    ap.add_argument("--out", type=Path, default=ENGINES_DIR / "texture_model.npz")
    ap.add_argument("--report", type=Path, default=None, help="write the fit's numbers as JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-marked", action="store_true",
                    help="keep the faces whose glasses or forehead marks stand out (default: left out)")
    args = ap.parse_args()

    files = sorted(p for d in args.faces for p in d.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(args.seed)
    files = [files[i] for i in rng.permutation(len(files))]
    model3d = model_face()
    with silenced_stderr():
        mesh = solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    textures, valids, colours, used, seen, dropped = [], [], [], [], 0, 0
    t0 = time.perf_counter()
    for path in files:
        if len(textures) >= args.count:
            break
        seen += 1
        face = read_face(path, mesh)
        if face is None:
            continue
        rgb, pts = face
        rot, _ = U.weak_perspective(pts[:, :2], model3d)
        if max(abs(np.degrees(np.arcsin(np.clip(rot[0, 2], -1, 1)))),
               abs(np.degrees(np.arcsin(np.clip(rot[1, 2], -1, 1))))) > MAX_ANGLE:
            continue
        out = delit_texture(rgb, pts, args.res)
        if out is None:
            continue
        if not args.keep_marked:
            glasses, mark = marks_score(out[0], args.res)
            if glasses > MARKED[0] or mark > MARKED[1]:
                dropped += 1
                continue
        textures.append(out[0])
        valids.append(out[1])
        colours.append(out[2])
        used.append(path.name)
        if len(textures) % 500 == 0:
            print(f"{len(textures)} textures from {seen} faces, {time.perf_counter() - t0:.0f} s", flush=True)
    mesh.close()
    tex = np.stack(textures)
    valid = np.stack(valids)
    covered = U.texel_raster(args.res).pixels
    # texels a face does not show (facing away): that texel's mean over the faces that show it
    counts = valid.sum(0)
    mean = (tex * valid[..., None]).sum(0) / np.maximum(counts, 1)[..., None]
    tex = np.where(valid[..., None], tex, mean[None])
    x = tex.reshape(len(tex), -1, 3)[:, covered]
    tone = np.mean(colours, axis=0)
    holdout = max(1, len(x) // 10)
    model, explained = fit_texture_model(x[holdout:], covered, args.res, tone, args.k)
    model.save(args.out)

    # privacy of samples: distance (PCA space, whitened) of a sample to its nearest training face vs that of a
    # training face to its nearest other training face and of held-out faces to their nearest training face
    train = model.project(x[holdout:]) / model.std
    held = model.project(x[:holdout]) / model.std
    samples = np.stack([model.coefficients(np.random.default_rng([args.seed, t])) for t in range(200)]) / model.std

    def nearest(a: np.ndarray, b: np.ndarray, same: bool = False) -> np.ndarray:
        d = np.sqrt(np.maximum((a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T, 0))
        if same:
            np.fill_diagonal(d, np.inf)
        return d.min(1)

    held_err = np.abs(model.texture(model.project(x[:holdout])[0]).reshape(-1, 3)[covered] - x[0]).mean()
    report = {"faces_seen": seen, "faces_marked_left_out": dropped, "faces_used": len(x),
              "train": len(x) - holdout, "held_out": holdout,
              "res": args.res, "k": args.k, "explained_variance": round(float(explained.sum()), 4),
              "nearest_train_from_train_median": round(float(np.median(nearest(train[:500], train, True))), 3),
              "nearest_train_from_held_out_median": round(float(np.median(nearest(held, train))), 3),
              "nearest_train_from_sample_median": round(float(np.median(nearest(samples, train))), 3),
              "nearest_train_from_sample_min": round(float(nearest(samples, train).min()), 3),
              "held_out_reconstruction_mae": round(float(held_err), 4),
              "tone": [round(float(v), 4) for v in tone], "size_bytes": args.out.stat().st_size,
              "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(report, indent=2))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
