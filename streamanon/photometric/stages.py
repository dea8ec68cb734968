"""The photometric stages of a generated face, one function each, and the ``FacePatch`` that flows through them:

    measure (the original's SH lighting, skin colour, detail level) -> temporal (per-track smoothing)
    -> render (the track's albedo on the NEW geometry's normals under that lighting, at the face's own
    resolution) -> colour (CIELAB mean and spread of the skin) -> grain -> [refine: no engine shipped]
    -> compose (cover region, feathered Laplacian-pyramid blend into the frame)

The original's pixels only give numbers (9 SH coefficients, 6 colour statistics, one detail level); nothing of
its image is copied into the face, and the band between its outline and the new one is blurred.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..faces.landmarks import FACE_OVAL
from ..masks import region_of
from . import uv as U
from .blend import feather, laplacian_blend
from .colour import LabStats, lab_stats, transfer, typical
from .features import IRIS_PALETTE, draw_eyes, draw_mouth
from .grain import grain_amount, grey_laplacian_variance
from .relight import FLAT, fit_lighting, shading
from .sh import linear_to_srgb_fast, srgb_to_linear
from .temporal import TemporalStore

MOUTH_ALBEDO = np.array([0.30, 0.12, 0.11], np.float32)  # the mouth opening, relative to the skin albedo
SH_ORDER = 1  # the light is rendered as ambient + one direction (order 2 extrapolates harshly on new normals)
CULL = 0.2  # triangles whose normal's z is above this face away (folded over): left out
MAX_GRAIN = 8.0  # grain amplitude cap (0-255): a bearded original's detail is not to be matched with noise
STAGES = ("geometry", "measure", "temporal", "render", "colour", "features", "grain", "compose")


@dataclass
class PhotometricSettings:
    """Switches of the stages (ablations) and their sizes. ``refine`` asks for the refinement generator,
    which is not shipped: True raises at start-up. ``light_side``: face size in pixels at which the
    original's lighting and colour are measured. ``alpha``: temporal weight of the newest frame."""

    relight: bool = True
    colour: bool = True
    grain: bool = True
    temporal: bool = True
    refine: bool = False
    light_side: int = 128
    alpha: float = 0.3

    def __post_init__(self) -> None:
        if self.refine:
            raise ValueError("the refinement generator is not shipped (engines/ has no refine engine); "
                             "use refine=False (--no-refine)")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")


@dataclass
class FacePatch:
    """One face on its way through the stages. Coordinates are ROI pixels; ``own`` and ``target`` (478, 3)
    carry a depth lifted from the model face (larger = farther)."""

    track_id: int
    roi: tuple[int, int, int, int]
    original: np.ndarray  # (H, W, 3) uint8, the frame's ROI (a copy)
    own: np.ndarray
    target: np.ndarray
    albedo: np.ndarray  # (R, R, 3) linear, relative to the skin colour
    noise: np.ndarray  # (NOISE_RES, NOISE_RES) unit grain in UV space
    size: float  # the face's size in pixels
    iris: np.ndarray = field(default_factory=lambda: IRIS_PALETTE[1].copy())  # (3,) sRGB iris colour
    sh: np.ndarray = field(default_factory=lambda: FLAT.copy())
    lab: LabStats | None = None
    detail: float = 0.0
    raster: U.Raster | None = None
    uv: np.ndarray | None = None  # (K, 2) texture coordinates of the raster's pixels
    covered: np.ndarray | None = None  # (H, W) bool: rendered pixels (face and mouth opening)
    skin: np.ndarray | None = None  # (H, W) bool: rendered skin pixels
    render: np.ndarray | None = None  # (H, W, 3) float RGB in [0, 1]
    output: np.ndarray | None = None  # (H, W, 3) uint8


def make_patch(rgb: np.ndarray, own: np.ndarray, target: np.ndarray, model: np.ndarray, track_id: int,
               albedo: np.ndarray, noise: np.ndarray, iris: np.ndarray | None = None, margin: float = 0.25
               ) -> FacePatch:
    """The patch of a face with (478, 2) frame-pixel landmarks ``own`` and new geometry ``target``."""
    both = np.concatenate([own[:, :2], target[:, :2]])
    lo, hi = both.min(0), both.max(0)
    roi = region_of(np.concatenate([lo, hi]), 1.0 + 2 * margin, rgb.shape[:2])
    if roi is None:
        raise ValueError("the face lies outside the frame")
    x0, y0, x1, y1 = roi
    shift = np.array([x0, y0], np.float64)
    own3 = U.lift(own[:, :2] - shift, model)
    tgt3 = U.lift(target[:, :2] - shift, model)
    p = FacePatch(track_id, roi, rgb[y0:y1, x0:x1].copy(), own3, tgt3, albedo, noise, float((hi - lo).max()))
    if iris is not None:
        p.iris = iris
    return p


def _raster(points: np.ndarray, shape: tuple[int, int]) -> tuple[U.Raster, np.ndarray]:
    """Raster of a lifted geometry (triangles facing away culled) and its vertex normals."""
    tris = U.default_layout().tris
    return (U.rasterise(points[:, :2], tris, shape, depth=points[:, 2], cull=U.face_normals(points, tris) > CULL),
            U.vertex_normals(points, tris))


def _pixel_normals(raster: U.Raster, normals: np.ndarray) -> np.ndarray:
    n = raster.interpolate(normals, U.default_layout().tris)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)


def measure(p: FacePatch, settings: PhotometricSettings) -> None:
    """The original's lighting (SH fitted on its skin with its own mesh normals), skin colour statistics and
    detail level (variance of the Laplacian over its skin)."""
    f = min(1.0, settings.light_side / max(p.size, 1.0))
    h, w = p.original.shape[:2]
    small = p.original if f == 1.0 else cv2.resize(p.original, (max(1, round(w * f)), max(1, round(h * f))),
                                                    interpolation=cv2.INTER_AREA)
    pts = p.own.copy()
    pts[:, :2] *= (small.shape[1] / w, small.shape[0] / h)
    raster, normals = _raster(pts, small.shape[:2])
    skin = U.default_layout().skin[raster.tri]
    pixels = small.reshape(-1, 3)[raster.pixels[skin]]
    keep = typical(pixels.astype(np.float32) / 255.0)  # hair, beard, glasses left out
    pixels = pixels[keep]
    normals = _pixel_normals(raster, normals)[skin][keep]
    p.sh = fit_lighting(srgb_to_linear(pixels), normals, SH_ORDER) if settings.relight else FLAT.copy()
    p.lab = lab_stats(pixels.astype(np.float32) / 255.0)
    mask = raster.mask(U.default_layout().skin).astype(np.uint8)
    if f != 1.0:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    p.detail = grey_laplacian_variance(cv2.cvtColor(p.original, cv2.COLOR_RGB2GRAY), mask)


def smooth(p: FacePatch, store: TemporalStore) -> None:
    """Replace the patch's measurements by the track's smoothed ones."""
    s = store.smooth(p.track_id, p.sh, p.lab.mean, p.lab.std, p.detail)
    p.sh, p.lab, p.detail = s.sh, LabStats(s.lab_mean, s.lab_std), s.grain


def light_correction(linear: np.ndarray, normals: np.ndarray, skin: np.ndarray, sh: np.ndarray,
                     limit: int = 4000) -> np.ndarray:
    """(K,) factor that moves the light one reads off a render (a first-order fit over its skin, biased by the
    albedo's own shading) to ``sh``: shading(sh) / shading(read), clipped to [0.5, 2]."""
    idx = np.flatnonzero(skin)
    idx = idx[np.linspace(0, len(idx) - 1, min(limit, len(idx))).astype(int)]
    read = fit_lighting(linear[idx], normals[idx], order=1)
    return np.clip(shading(normals, sh) / shading(normals, read), 0.5, 2.0).astype(np.float32)


def render(p: FacePatch, tone: np.ndarray) -> None:
    """The albedo on the new geometry, shaded by its own normals under the patch's SH lighting; the mouth
    opening (inner lip contour) in a dark mouth colour."""
    layout = U.default_layout()
    h, w = p.original.shape[:2]
    raster, normals = _raster(p.target, (h, w))
    p.uv = raster.interpolate(layout.uv, layout.tris)
    albedo = U.sample(p.albedo, p.uv)
    pixel_normals = _pixel_normals(raster, normals)
    shade = shading(pixel_normals, p.sh)
    face = albedo.reshape(-1, 3) * tone * shade[:, None]
    if not np.array_equal(p.sh, FLAT):
        face *= light_correction(face, pixel_normals, layout.skin[raster.tri], p.sh)[:, None]
    lin = np.zeros((h * w, 3), np.float32)
    lin[raster.pixels] = face
    mouth = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mouth, [np.round(p.target[layout.mouth, :2] * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    face = raster.mask()
    mouth = mouth.astype(bool) & ~face
    lin[mouth.ravel()] = MOUTH_ALBEDO * tone * 0.6
    p.raster, p.covered, p.skin = raster, face | mouth, raster.mask(layout.skin)
    p.render = linear_to_srgb_fast(lin).reshape(h, w, 3)


def colour(p: FacePatch) -> None:
    """Move the render's skin statistics in CIELAB to the original's (the whole face moves alike)."""
    source = lab_stats(p.render[p.skin])
    p.render[p.covered] = transfer(p.render[p.covered], source, p.lab)


def features(p: FacePatch) -> None:
    """Eyes (sclera, the track's iris colour at the new iris landmarks, pupil, lashes) and the mouth opening
    (dark, upper teeth when open), at the brightness of the original's skin."""
    light = float(np.clip(p.lab.mean[0] / 65.0, 0.35, 1.3))
    draw_eyes(p.render, p.target, p.iris, light)
    draw_mouth(p.render, p.target, p.size, light)


def grain(p: FacePatch) -> None:
    """Add the track's grain texture until the skin's detail level is the original's."""
    h, w = p.render.shape[:2]
    noise = np.zeros(h * w, np.float32)
    noise[p.raster.pixels] = U.sample(p.noise, p.uv)[:, 0]
    noise = noise.reshape(h, w)
    grey = cv2.cvtColor(p.render, cv2.COLOR_RGB2GRAY) * 255.0
    amount = grain_amount(p.detail, grey_laplacian_variance(grey, p.skin), grey_laplacian_variance(noise, p.skin))
    p.render += (min(amount, MAX_GRAIN) / 255.0) * noise[..., None]


def compose(p: FacePatch) -> None:
    """The output ROI: the render over a heavily blurred original inside the union of both face outlines
    (grown), feathered outward and blended by Laplacian pyramids. Inside the cover none of the original's
    detail survives."""
    h, w = p.original.shape[:2]
    cover = np.zeros((h, w), np.uint8)
    for pts in (p.own, p.target):
        cv2.fillPoly(cover, [np.round(pts[FACE_OVAL, :2]).astype(np.int32)], 1)
    cover |= p.covered.astype(np.uint8)
    k = max(3, int(0.025 * p.size) | 1)
    cover = cv2.dilate(cover, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(np.float32)
    soft = feather(cover, k)
    f = min(1.0, 48.0 / max(p.size, 1.0))  # blur at about 48 px across the face: cheap at any size
    small = cv2.resize(p.original, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    bg = cv2.resize(cv2.GaussianBlur(small.astype(np.float32), (0, 0), 0.1 * p.size * f), (w, h),
                    interpolation=cv2.INTER_LINEAR) / 255.0
    inner = cv2.erode(p.covered.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    a = cv2.GaussianBlur(inner, (0, 0), 0.5 + 0.02 * p.size)[..., None] * p.covered[..., None]
    fg = np.clip((p.render * a + bg * (1 - a)) * 255.0, 0, 255).astype(np.uint8)
    p.output = laplacian_blend(fg, p.original, soft)


class FaceRenderer:
    """Runs the stages over a face; holds the per-track temporal store and the per-stage timings."""

    def __init__(self, settings: PhotometricSettings, model: np.ndarray, tone: np.ndarray):
        self.settings = settings
        self.model = model  # (478, 3) model face for lifting landmarks to 3-D
        self.tone = np.asarray(tone, np.float32)
        self.store = TemporalStore(alpha=settings.alpha if settings.temporal else 1.0)
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.faces = 0

    def new_frame(self, rgb: np.ndarray, live_ids: set[int]) -> None:
        """Per frame, before its faces: scene-cut check, forget ended tracks."""
        self.store.new_frame(rgb)
        self.store.forget(live_ids)

    def _timed(self, stage: str, fn, *args) -> None:
        t0 = time.perf_counter()
        fn(*args)
        self.seconds[stage] += time.perf_counter() - t0

    def apply(self, rgb: np.ndarray, own: np.ndarray, target: np.ndarray, track_id: int, albedo: np.ndarray,
              noise: np.ndarray, iris: np.ndarray | None = None) -> FacePatch:
        """Render one face into ``rgb`` (in place); exceptions propagate (the caller covers the face)."""
        t0 = time.perf_counter()
        p = make_patch(rgb, own, target, self.model, track_id, albedo, noise, iris)
        self.seconds["geometry"] += time.perf_counter() - t0
        s = self.settings
        self._timed("measure", measure, p, s)
        self._timed("temporal", smooth, p, self.store)
        self._timed("render", render, p, self.tone)
        if s.colour:
            self._timed("colour", colour, p)
        self._timed("features", features, p)
        if s.grain:
            self._timed("grain", grain, p)
        self._timed("compose", compose, p)
        x0, y0, x1, y1 = p.roi
        rgb[y0:y1, x0:x1] = p.output
        self.faces += 1
        return p

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per face of each stage."""
        return {k: round(1000 * v / max(self.faces, 1), 3) for k, v in self.seconds.items()}
