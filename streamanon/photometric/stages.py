"""The photometric stages of a generated face, one function each, and the ``FacePatch`` that flows through them:

    measure (the original's SH lighting, skin and lip colour, detail level) -> temporal (per-track smoothing)
    -> render (the track's albedo on the NEW geometry's normals under that lighting, at the face's own
    resolution) -> colour (CIELAB mean and spread of the skin) -> relief (the model face's hollows darkened:
    ambient occlusion) -> grain
    -> compose (cover region, feathered Laplacian-pyramid blend into the frame)
    -> refine (the refinement generator's correction, computed on a 96 px aligned crop, its low frequencies
    smoothed per track, upsampled and added inside the cover) -> hair (opt-in: the original's fringe and strands
    laid back in front of the face)

The original's face only gives numbers (9 SH coefficients, 6 colour statistics, 3 lip-colour factors, one
detail level, a beard darkness); nothing of its face is copied into the new one. In the band between its
outline and the new one, what is skin takes the render's colours and the rest (hair, background) is softened.
Only with the opt-in hair stage, hair that lies in front of the face (joined to the hair outside it, away from
the eyes, nose and mouth) is laid back as the frame shows it; it makes the person easier to identify
(docs/results.md), so it is off by default.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..faces.landmarks import FACE_OVAL
from ..masks import region_of
from . import mesh as M
from . import reuse as R
from . import uv as U
from .beard import TEXTURE_SIDE, beard_darkness, beard_zone, draw_beard, hair_colour, stubble, texture_gate, zone_masks
from .blend import boundary_offset, feather, laplacian_blend, push_pull
from .colour import LabStats, lab_stats, skin_distance, to_lab_fast, transfer, typical
from .features import (
    Look,
    brow_colour,
    brow_darkness,
    brow_hue,
    dark_share,
    draw_brows,
    draw_catchlights,
    draw_eyes,
    draw_lips,
    draw_mouth,
    draw_nose,
    eye_openings,
    iris_for_skin,
    lid_darkness,
    liner_strength,
    lip_polygons,
    mouth_loop,
    random_look,
    shade_sockets,
)
from .grain import grain_amount, laplacian_at, robust_variance, skin_pixels, texture_levels
from .hair import hair_mask, keep_hair
from .refine import add_correction, refine_input
from .relight import FLAT, cavity, fit_lighting, plausible_light, shading, soft_floor
from .resample import shrink
from .sh import LUMA, linear_to_srgb_fast, srgb_to_linear
from .temporal import TemporalStore, TrackState

# the render's mouth opening: the lips darkened to this share (the features stage draws the opening's dark inside,
# teeth and tongue at the face's own size; a near-black opening rendered small and enlarged drew a thick black
# line through closed lips and a black rim round the teeth)
MOUTH_EDGE = 0.55
SH_ORDER = 1  # the light is rendered as ambient + one direction (order 2 extrapolates harshly on new normals)
# the darkest shading of the render, reached softly (relight.soft_floor): a fit on the original's own normals
# reads part of its shape and albedo (a shadowed far cheek, hair at the edge) as light, and the far side of a
# turned new face fell to near black under it
WARM = np.array([0.85, 1.0, 1.12], np.float32)  # shading exponent per channel (warm_shading)
SHADE_FLOOR = 0.35
# ambient occlusion (``relief``, on by default): the shading of a pixel is multiplied by exp(-HOLLOWS x its depth
# under the surface around it, in face widths: relight.cavity). The first-order light alone leaves the eye sockets,
# the folds round the nose and the mouth corners as bright as the cheeks: a flat face, a formless nose. Rank-1 on
# the 68 CelebA-HQ faces, seeds 0-2: 9 of 204 -> 13 at 25 and 11 at 15 when it came (opt-in then); with the brows,
# lips and albedo of 2026-12-05, 7 of 204 without it and 8 with it (our bound: 5%), so it is on. At 18 instead of 25
# (twelfth session): lp_d11's flicker 1.146 -> 1.134 (bound 1.15; the hollows move with a child's blinks), light
# 6.15-6.58 -> 6.05-6.57 deg, skin CIEDE2000 2.22-2.28 -> 2.13-2.18, rank-1 7 -> 8 of 204
HOLLOWS = 18.0
# the skin colour's core region (skin_core): inset (u, v) in texture coordinates from the lids, mouth corners
# and face sides, and the fewest of its pixels that give the median and spread (fewer: all skin pixels do)
CORE_INSET, MIN_CORE = (0.1, 0.03), 30
# added to the core's robust spread (L*, a*, b*) of the de-lit colours: the first-order light leaves some of the
# forehead's and the sides' brightness in them, their colour stays the core's
CORE_FLOOR = (5.0, 1.5, 1.5)
BEARD_FREE = 0.3  # beard-area weight below which a bearded face's pixels give its skin colour
CULL = 0.2  # triangles whose normal's z is above this face away (folded over): left out
MAX_GRAIN = 6.0  # skin detail amplitude cap (0-255): a bearded original's detail is not to be matched with noise
ROBUST_SAMPLE = 6000  # the grain stage's robust levels are medians of about this many skin pixels
GRAIN_SEED = 7  # the white grain textures' seed (with the track id)
# the skin texture's depth cap (0-255): its orange peel and mottling are coarser than a pixel on a large face, and
# at MAX_GRAIN (a noisy photo's level) they showed as sand over the face at any viewing size
MAX_TEXTURE = 2.5
SKIN_TEXTURE = 0.5  # the track's skin texture brings the skin's robust detail level to this share of the original's
MAX_TAIL = 3.0  # the marks' target: the original's plain Laplacian variance, at most this times its robust one
#                 (hair, a beard or glasses over the skin make the rest; clean skin has 1.2-2.5, pores 3-5)
MAX_MARK = 6.0  # depth cap of a typical pore (0-255): deeper ones read as dirt (grain.PORES)
MARK_TINT = np.array([0.8, 1.0, 1.1], np.float32)  # a mark takes less red than green and blue: reddish brown
BAND_SOFTNESS = 0.004  # blur (share of the face size) of the hair and background the cover shows beyond the face
EDGE_REACH = 0.08  # how far (share of the face size) the shift that meets the frame reaches inward
MAX_SHIFT = 0.1  # the largest shift (sRGB, 0-1) of the render towards the frame around it
BROW_DARKER = 0.4  # the brows' darkness factor on the skin falls by this share on dark skin (features.dark_share)
CRISP = (0.7, 0.006, 3.0)  # unsharp mask of the render: amount, blur as a share of the face size, enlargement
#                           (upscale - 1) at which the full amount is reached
FEATURE_SOFTNESS = (0.5, 0.002, 400.0)  # blur (px) of the drawn eyes, brows and mouth: a + b * face size (at most
#                                        the third): hairs and lashes stay single on a large face
STAGES = ("geometry", "measure", "temporal", "render", "colour", "relief", "upscale", "features", "grain", "compose",
          "refine", "hair", "reuse")
CORRECTION_LOW = 3.0  # sigma (px of the refinement crop) of the correction's part that is smoothed over time
# share of the refinement's correction that is applied. Trained to turn a render into the person's own photo, it
# brings some of the person back: on the 68 CelebA-HQ faces (seeds 0-2) rank-1 was 14 of 204 at 1.0, 12 at 0.7
# and 9 at 0.4; identity spread along video tracks fell under the real person's on lp_s18 (docs/results.md,
# "Session of 2026-12-04, sixth")
REFINE_STRENGTH = 0.4
LIP_RANGE = (0.35, 1.1)  # the lips' colour as a factor on the skin's, per channel (pale to deep red lipstick)
LIP_TINT = (0.35, 1.6)  # the factor ``lips_tint`` puts on the render's lips, per channel


MARGIN = 0.12  # a patch's region reaches this share of the face beyond both outlines
RIM = 2  # px of the render's edge (at render size) taken from inside (fill_rim)


@dataclass
class PhotometricSettings:
    """Switches of the stages (ablations) and their sizes. ``relief``: ambient occlusion in the new face's
    hollows (``relief``). ``refine``: the refinement generator (engines/refiner.onnx). ``light_side``: face
    size in pixels at which the original's lighting and colour are measured. ``render_side``: largest face size
    at which the albedo is shaded (larger faces are upscaled, then get their eyes, mouth and grain at full size).
    ``alpha``: temporal weight of the newest frame. ``measure_every``: a track's original is measured on every
    k-th frame (its first frame and the first after a scene cut always), the smoothed values carry the frames
    between (they change slowly: a face's light and skin colour). ``render_every``: a track's face is rendered
    in full at least on every k-th frame (sooner when it turns, blinks or opens its mouth); the frames between move
    that output onto their geometry (streamanon.photometric.reuse; 1: every frame in full; never with ``hair``,
    whose strands move on their own)."""

    relight: bool = True
    colour: bool = True
    relief: bool = True
    grain: bool = True
    temporal: bool = True
    refine: bool = True
    hair: bool = False
    drawn_mouth: bool = False
    light_side: int = 128
    render_side: int = 160
    alpha: float = 0.3
    measure_every: int = 6
    render_every: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")
        if self.measure_every < 1:
            raise ValueError(f"measure_every must be 1 or more, got {self.measure_every}")
        if self.render_every < 1:
            raise ValueError(f"--render-every must be 1 or more, got {self.render_every}")


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
    look: Look = field(default_factory=lambda: random_look(np.random.default_rng(0)))  # eyes, brows, lips
    sh: np.ndarray = field(default_factory=lambda: FLAT.copy())
    lab: LabStats | None = None
    detail: float = 0.0  # the original skin's robust variance of the Laplacian (grain.grey_texture_variance)
    tail: float = 0.0  # its plain variance of the Laplacian (pores, creases, edges, hair: the heavy tail)
    marks: np.ndarray | None = None  # (NOISE_RES, NOISE_RES) the track's sparse skin marks (grain.marks_texture)
    lips: np.ndarray | None = None  # (3,) the original's lip colour / skin colour (sRGB); None: the look's tint
    beard: float = 0.0  # how much darker the original's beard area is than its cheeks (beard.beard_darkness)
    beard_hair: np.ndarray | None = None  # (3,) its beard hairs' colour / its cheeks' (beard.hair_colour)
    teeth: float | None = None  # how much of the original's mouth opening shows teeth (teeth_shown), 0..1;
    # None: not read (a closed mouth), drawn as fully shown
    teeth_light: float | None = None  # the original's teeth's grey over its skin's (teeth_reading); None: not read
    skin_rgb: np.ndarray | None = None  # (3,) the mean sRGB colour (0-255) of the original's skin pixels
    brows: float | None = None  # how much darker the original's brow region is than its skin (brow_darkness)
    brow_hue: np.ndarray | None = None  # (3,) the hue of the original's brow hairs (features.brow_hue)
    lids: float | None = None  # how dark the original's upper lid line is (features.lid_darkness)
    uv: np.ndarray | None = None  # (H, W, 2) texture coordinates of the render's pixels (-1 outside)
    covered: np.ndarray | None = None  # (H, W) bool: rendered pixels (face and mouth opening)
    cover: np.ndarray | None = None  # (H, W) bool: what the output replaces (both outlines, grown)
    skin: np.ndarray | None = None  # (H, W) bool: rendered skin pixels
    render: np.ndarray | None = None  # (H, W, 3) float RGB in [0, 1]
    upscaled: float = 1.0  # how much ``upscale`` enlarged the render
    relief: np.ndarray | None = None  # (H, W) float32 at render size: the hollows' log shading factor (``relief``)
    output: np.ndarray | None = None  # (H, W, 3) uint8
    alpha: np.ndarray | None = None  # (H, W) float32: the feathered cover ``compose`` blends with
    frame: int = 0  # the renderer's frame count when it was prepared


def patch_region(own: np.ndarray, target: np.ndarray, shape: tuple[int, int], margin: float = MARGIN
                 ) -> tuple[tuple[int, int, int, int] | None, float]:
    """The region of a frame of (H, W) ``shape`` that a face's patch covers (None: outside the frame), and the
    face's size: both outlines' bounding box, ``margin`` x its size further on each side."""
    both = np.concatenate([own[:, :2], target[:, :2]])
    lo, hi = both.min(0), both.max(0)
    return region_of(np.concatenate([lo, hi]), 1.0 + 2 * margin, shape), float((hi - lo).max())


def make_patch(rgb: np.ndarray, own: np.ndarray, target: np.ndarray, model: np.ndarray, track_id: int,
               albedo: np.ndarray, noise: np.ndarray, look: Look | None = None, margin: float = MARGIN,
               marks: np.ndarray | None = None) -> FacePatch:
    """The patch of a face with (478, 2) frame-pixel landmarks ``own`` and new geometry ``target``."""
    roi, size = patch_region(own, target, rgb.shape[:2], margin)
    if roi is None:
        raise ValueError("the face lies outside the frame")
    x0, y0, x1, y1 = roi
    shift = np.array([x0, y0], np.float64)
    own3 = U.lift(own[:, :2] - shift, model)
    tgt3 = U.lift(target[:, :2] - shift, model)
    p = FacePatch(track_id, roi, rgb[y0:y1, x0:x1].copy(), own3, tgt3, albedo, noise, size)
    if look is not None:
        p.look = look
    p.marks = marks
    return p


def _raster(points: np.ndarray, shape: tuple[int, int]) -> tuple[U.Raster, np.ndarray]:
    """Raster of a lifted geometry (triangles facing away culled) and its vertex normals."""
    tris = U.default_layout().tris
    return (U.rasterise(points[:, :2], tris, shape, depth=points[:, 2], cull=U.face_normals(points, tris) > CULL),
            U.vertex_normals(points, tris))


def measure(p: FacePatch, settings: PhotometricSettings) -> None:
    """The original's lighting, skin colour and detail level. Lighting: a least-squares first-order SH fit
    (one trimmed refit) of the linear luminance of its skin pixels, with the per-pixel normals of its own mesh
    (depth lifted from the model face), with the face at ``light_side`` px. Colour: CIELAB statistics of the
    pixels of the layout's skin triangles, hair and beard left out. Detail: a robust variance of the Laplacian (edges
    left out: grain.grey_texture_variance) and the plain one over its skin, at full size."""
    f = min(1.0, settings.light_side / max(p.size, 1.0))
    h, w = p.original.shape[:2]
    small = p.original if f == 1.0 else shrink(p.original, (max(1, round(w * f)), max(1, round(h * f))))
    verts = _scaled(p.own, small.shape[1] / w)
    tris = M.mesh_triangles()
    pixels, normals = M.normal_map(verts, M.vertex_normals(verts, tris), tris, M.skin_mask(verts, small.shape[:2]))
    colours = small.reshape(-1, 3)[pixels]
    p.sh = plausible_light(fit_lighting(srgb_to_linear(colours), normals, SH_ORDER)) if settings.relight else \
        FLAT.copy()
    raster, vertex_normals = _raster(verts, small.shape[:2])
    layout = U.default_layout()
    on_skin = layout.skin[raster.tri]  # the layout's skin triangles: no brows, lids or lips (lipstick is no beard)
    colours = small.reshape(-1, 3)[raster.pixels[on_skin]]
    uv = raster.interpolate(layout.uv, layout.tris)[on_skin]
    normals = raster.interpolate(vertex_normals, layout.tris)[on_skin]
    p.beard = beard_darkness(colours.astype(np.float32) @ LUMA.astype(np.float32), uv)  # sRGB grey, as drawn
    if p.beard > 0.0:
        masks = zone_masks(uv, raster.pixels[on_skin], small.shape[:2])
        p.beard *= _beard_gate(p, masks)
    beard_px, p.beard_hair = None, None  # beard_px: the beard area at full size, left out of the detail level
    if p.beard > 0.0:
        beard_px = cv2.resize(cv2.dilate(masks[0], np.ones((3, 3), np.uint8)), (w, h),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
        p.beard_hair = hair_colour(colours, uv)
    if p.beard > 0.0 and (shaven := beard_zone(uv) < BEARD_FREE).sum() >= 50:
        colours, uv, normals = colours[shaven], uv[shaven], normals[shaven]  # a beard gave a dark, dirty colour
    skin = colours[skin_colours(colours, uv, normals, p.sh)]  # hair, glasses left out
    p.lab = lab_stats(skin)
    p.lips = lip_colour(small, verts, skin)
    p.skin_rgb = skin.astype(np.float32).mean(0) if len(skin) >= 12 else None
    if settings.drawn_mouth:
        p.teeth, p.teeth_light = (None, None) if p.skin_rgb is None else teeth_reading(small, verts, p.skin_rgb)
    p.brows = None if p.skin_rgb is None else brow_darkness(small, verts, float(p.skin_rgb @ LUMA))
    p.brow_hue = brow_hue(small, verts)
    p.lids = lid_darkness(p.original, p.own)  # at full size: at the light's size a lash line is a smudge
    skin_mask = M.skin_mask(p.own, (h, w))
    if beard_px is not None and (skin_mask & ~beard_px).sum() >= 0.25 * skin_mask.sum():
        skin_mask &= ~beard_px  # a beard's hairs are no skin texture: matched with noise they were sand
    grey = cv2.cvtColor(p.original, cv2.COLOR_RGB2GRAY)
    p.detail, p.tail = texture_levels(grey, skin_mask)


def skin_core(uv: np.ndarray) -> np.ndarray:
    """(K,) bool: texture coordinates (K, 2) in the cheeks and nose between the lower lids and the mouth
    corners, inset from the face's sides: skin on nearly every face (a fringe, glasses' rims, a beard and hair
    at the sides lie outside it)."""
    layout = U.default_layout().uv
    top = layout[[145, 374], 1].max() + CORE_INSET[1]
    bottom = layout[[61, 291], 1].min() - CORE_INSET[1]
    left, right = layout[234, 0] + CORE_INSET[0], layout[454, 0] - CORE_INSET[0]
    return (uv[:, 1] >= top) & (uv[:, 1] <= bottom) & (uv[:, 0] >= left) & (uv[:, 0] <= right)


def skin_colours(colours: np.ndarray, uv: np.ndarray, normals: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """(K,) bool: which of the (K, 3) uint8 pixels of a face's skin triangles show skin, not hair or glasses.
    The light is divided out first (``sh`` on the pixels' (K, 3) normals), so that lit and shaded skin are
    alike; then the pixels near the typical colour of the core region (``skin_core`` of their (K, 2) texture
    coordinates) are skin, or near that of all pixels when the core is too small to read."""
    lit = np.maximum(shading(normals / np.linalg.norm(normals, axis=1, keepdims=True), sh), 0.2)
    flat = linear_to_srgb_fast((srgb_to_linear(colours) / lit[:, None]).astype(np.float32))
    core = skin_core(uv)
    return typical(flat, reference=core, floor=CORE_FLOOR) if core.sum() >= MIN_CORE else typical(flat)


def _beard_gate(p: FacePatch, masks: tuple[np.ndarray, np.ndarray]) -> float:
    """beard.texture_gate of the patch's original, with the face at about TEXTURE_SIDE px; ``masks``: the
    (beard, cheeks) masks at the measuring size (``zone_masks``)."""
    h, w = p.original.shape[:2]
    f = min(1.0, TEXTURE_SIDE / max(p.size, 1.0))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    grey = cv2.cvtColor(p.original if f == 1.0 else shrink(p.original, size), cv2.COLOR_RGB2GRAY)
    return texture_gate(grey, *[cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in masks])


def lip_colour(image: np.ndarray, points: np.ndarray, skin: np.ndarray) -> np.ndarray | None:
    """(3,) the lips' colour of an (H, W, 3) uint8 face with (478, 2+) ``points``, as a factor on the mean of
    its (K, 3) ``skin`` pixels (sRGB; the median lip pixel, clipped to LIP_RANGE), or None when the lips are
    too small to read. Three numbers, like the skin colour: no shape or texture of the lips is kept."""
    lips = lip_median(image, points)
    if lips is None or len(skin) < 12:
        return None
    ratio = lips / np.maximum(skin.astype(np.float32).mean(0), 1.0)
    return np.clip(ratio, *LIP_RANGE).astype(np.float32)


def lip_median(image: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """(3,) float32 median colour of the lips of an (H, W, 3) image with (478, 2+) ``points`` (their outline and
    the skin around it left out), or None when fewer than 12 pixels show them."""
    upper, lower = lip_polygons()
    mask = np.zeros(image.shape[:2], np.uint8)
    for idx in (upper, lower):
        cv2.fillPoly(mask, [np.round(points[idx, :2]).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    pixels = image[mask.astype(bool)]
    return np.median(pixels.astype(np.float32), 0) if len(pixels) >= 12 else None


# a pixel of the mouth opening shows a tooth when it is at least TEETH_GREY of the skin's grey level (an open
# "o" or a yawn is dark inside) and at most TEETH_RED of the skin's redness, or TEETH_RED_FLOOR where that is
# more (teeth are near white or a little yellow; the tongue, the lips' inside and a dark mouth are as red as the
# skin or redder; pale skin is barely red, so its ratio alone would refuse yellowish teeth). On lp_d12 (pink
# light) a smile's opening has a median grey of 0.97 x the skin's and a redness of 0.64-0.75 x; its "o" mouth
# 0.72 and 1.0
TEETH_GREY, TEETH_RED, TEETH_RED_FLOOR = 0.85, 0.8, 0.25
# the share of the opening's pixels that shows teeth when the teeth are fully drawn: a smile shows teeth over
# about half of its opening, a wide-open mouth only along its upper edge. These four constants are the best
# on 66 openings labelled by eye (29 CelebA-HQ faces, 37 frames of lp_d11, lp_d12, lp_d18): mean error 0.08
# against 0.18 for (0.85, 0.8, none, 0.35), and at most 0.1 on every opening without teeth
TEETH_FULL = 0.2


def teeth_shown(image: np.ndarray, points: np.ndarray, skin: np.ndarray) -> float | None:
    """The first of ``teeth_reading``."""
    return teeth_reading(image, points, skin)[0]


# the teeth's grey is read from this many tooth pixels or more
TEETH_LIGHT_PIXELS = 8


def teeth_reading(image: np.ndarray, points: np.ndarray, skin: np.ndarray) -> tuple[float | None, float | None]:
    """(shown, light) of an (H, W, 3) uint8 face with (478, 2+) ``points``, with the (3,) mean sRGB colour of
    its ``skin`` as the reference. ``shown``: how much of the mouth opening shows teeth, 0..1 (TEETH_FULL of its
    pixels or more: 1); None when the opening is too small to read (a closed mouth). Whether teeth show is the
    expression's (a smile against an "o"): one number, nothing of the teeth themselves is kept. ``light``: the
    grey of the teeth's brightest part (the 97th percentile: a small opening mixes lips and shadow into its
    tooth pixels) over the skin's (None with fewer than TEETH_LIGHT_PIXELS tooth pixels): teeth in soft
    light, in shadow or on a small, compressed face are far less bright than drawn white teeth, which flashed
    as the mouth opened."""
    loop = np.round(mouth_loop(points)).astype(np.int32)
    lo = np.maximum(loop.min(0) - 2, 0)
    hi = np.minimum(loop.max(0) + 3, (image.shape[1], image.shape[0]))
    if (hi <= lo).any():
        return None, None
    sub = image[lo[1]:hi[1], lo[0]:hi[0]]  # the opening's box only: read on every frame
    mask = np.zeros(sub.shape[:2], np.uint8)
    cv2.fillPoly(mask, [loop - lo], 1)
    pixels = sub[cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float32)  # no lip edge
    if len(pixels) < 12:
        return None, None
    ref = np.asarray(skin, np.float32).reshape(3)
    ref_grey = float(ref @ LUMA.astype(np.float32))
    grey = pixels @ LUMA.astype(np.float32)
    redness = (pixels[:, 0] - pixels[:, 2]) / np.maximum(pixels[:, 0], 1.0)
    ref_redness = (ref[0] - ref[2]) / max(float(ref[0]), 1.0)
    tooth = (grey >= TEETH_GREY * ref_grey) & (
        redness <= max(TEETH_RED * ref_redness, TEETH_RED_FLOOR))
    shown = float(np.clip(tooth.mean() / TEETH_FULL, 0.0, 1.0))
    if tooth.sum() < TEETH_LIGHT_PIXELS:
        return shown, None
    return shown, float(np.percentile(grey[tooth], 97)) / max(ref_grey, 1.0)


def smooth(p: FacePatch, store: TemporalStore) -> None:
    """Replace the patch's measurements by the track's smoothed ones, after this frame's."""
    reuse(p, store.smooth(p.track_id, p.sh, p.lab.mean, p.lab.std, p.detail, p.lips, p.beard, p.tail, p.teeth,
                          p.skin_rgb, p.teeth_light, p.brows, p.lids, p.beard_hair, p.brow_hue))


def reuse(p: FacePatch, state: TrackState) -> None:
    """Give the patch its track's smoothed measurements."""
    p.sh, p.lab, p.detail, p.lips = state.sh, LabStats(state.lab_mean, state.lab_std), state.grain, state.lips
    p.beard, p.tail = state.beard or 0.0, state.tail or 0.0
    p.teeth, p.skin_rgb, p.teeth_light, p.brows = state.teeth, state.skin_rgb, state.teeth_light, state.brows
    p.lids, p.beard_hair, p.brow_hue = state.lids, state.beard_hair, state.brow_hue


def step(p: FacePatch, settings: PhotometricSettings, store: TemporalStore) -> None:
    """A frame on which the original is not measured: the track's values take one step towards their last
    measurement."""
    reuse(p, store.advance(p.track_id))


def read_teeth(p: FacePatch, settings: PhotometricSettings, store: TemporalStore) -> None:
    """A frame on which the original is not measured: the track's values take one step towards their last
    measurement, and the teeth are read again (they come and go with each syllable), at the measuring size."""
    state = store.advance(p.track_id)
    if state.skin_rgb is not None:
        f = min(1.0, settings.light_side / max(p.size, 1.0))
        points = _scaled(p.own, f)
        loop = mouth_loop(p.own)
        lo = np.maximum(np.floor(loop.min(0)).astype(int) - 4, 0)
        hi = np.minimum(np.ceil(loop.max(0)).astype(int) + 5, (p.original.shape[1], p.original.shape[0]))
        if (hi > lo).all():
            crop = p.original[lo[1]:hi[1], lo[0]:hi[0]]
            size = (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f)))
            small = crop if f == 1.0 else shrink(crop, size)
            store.teeth(p.track_id, *teeth_reading(small, points - np.r_[lo * f, 0.0], state.skin_rgb))
    reuse(p, state)


def light_correction(linear: np.ndarray, normals: np.ndarray, skin: np.ndarray, sh: np.ndarray,
                     limit: int = 1500) -> np.ndarray:
    """(K,) factor that moves the light one reads off a render (a first-order fit over its skin, biased by the
    albedo's own shading) to ``sh``: shading(sh) / shading(read), clipped to [0.5, 2]."""
    idx = np.flatnonzero(skin)
    idx = idx[np.linspace(0, len(idx) - 1, min(limit, len(idx))).astype(int)]
    read = fit_lighting(linear[idx], normals[idx], order=1)
    return np.clip(shading(normals, sh) / shading(normals, read), 0.5, 2.0).astype(np.float32)


def _scaled(points: np.ndarray, f: float) -> np.ndarray:
    return points * f  # x, y and depth alike: the normals stay as they are


def render(p: FacePatch, tone: np.ndarray, side: int = 1 << 30, hollows: np.ndarray | None = None) -> None:
    """The albedo on the new geometry, shaded by its own normals under the patch's SH lighting; the mouth
    opening (inner lip contour) as the lips darkened to MOUTH_EDGE. Computed with the face at most ``side`` px (the
    texture holds no finer detail; ``upscale`` brings it to the face's own resolution). With ``hollows`` (478,)
    (``occlusion`` of the model face) and a light that is not uniform, ``p.relief`` gets their log shading
    factors per pixel, for ``relief``."""
    layout = U.default_layout()
    h, w = p.original.shape[:2]
    f = min(1.0, side / max(p.size, 1.0))
    hs, ws = max(1, round(h * f)), max(1, round(w * f))
    target = _scaled(p.target, f)
    raster, normals = _raster(target, (hs, ws))
    extra = [layout.uv, normals] + ([] if hollows is None else [hollows[:, None]])
    both = raster.interpolate(np.concatenate(extra, 1).astype(np.float32), layout.tris)
    albedo = U.sample(p.albedo, both[:, :2])
    pixel_normals = both[:, 2:5] / np.maximum(np.linalg.norm(both[:, 2:5], axis=1, keepdims=True), 1e-9)
    shade = shading(pixel_normals, p.sh)
    face = albedo.reshape(-1, 3) * tone
    lit = not np.array_equal(p.sh, FLAT)
    if lit:
        shade *= light_correction(face * shade[:, None], pixel_normals, layout.skin[raster.tri], p.sh)
    face *= warm_shading(soft_floor(despeckle(shade, raster.pixels, (hs, ws)), SHADE_FLOOR))
    p.relief = None
    if lit and hollows is not None:  # applied after the colour stage (``relief``)
        log = np.zeros(hs * ws, np.float32)
        log[raster.pixels] = both[:, 5]
        p.relief = log.reshape(hs, ws)
    lin = np.zeros((hs * ws, 3), np.float32)
    lin[raster.pixels] = face
    covered = raster.mask()
    # where a reshaped lip's triangles overlap, single pixels took the albedo of another part of the texture
    # (specks along the lips): a 3x3 median of the face (its shading is smooth already)
    img = lin.reshape(hs, ws, 3)
    cv2.copyTo(median_inside(img, covered.view(np.uint8), 3), covered.view(np.uint8), img)
    uvmap = np.full((hs * ws, 2), -1.0, np.float32)
    uvmap[raster.pixels] = both[:, :2]
    alpha = np.zeros((hs, ws), np.uint8)  # the mouth opening, anti-aliased: its edge is no staircase when upscaled
    cv2.fillPoly(alpha, [np.round(mouth_loop(target) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    mouth = alpha > 0
    if mouth.any():  # within the mouth's box: its edge mixes the lips (spread over the gap) and the mouth colour
        ys, xs = np.nonzero(mouth)
        box = (slice(max(ys.min() - 4, 0), ys.max() + 5), slice(max(xs.min() - 4, 0), xs.max() + 5))
        img = lin.reshape(hs, ws, 3)[box]
        weight = covered[box].astype(np.float32)
        lips = cv2.GaussianBlur(img, (0, 0), 1.0) / np.maximum(cv2.GaussianBlur(weight, (0, 0), 1.0), 1e-4)[..., None]
        cv2.copyTo(img, covered[box].astype(np.uint8), lips)
        a = (alpha[box].astype(np.float32) / 255.0)[..., None]
        img[...] = np.where(mouth[box][..., None], lips * (1 - a * (1 - MOUTH_EDGE)), img)
        mouth &= ~covered
    p.covered, p.skin = covered | mouth, raster.mask(layout.skin)
    p.uv = uvmap.reshape(hs, ws, 2)
    p.render = linear_to_srgb_fast(lin).reshape(hs, ws, 3)


def warm_shading(shade: np.ndarray) -> np.ndarray:
    """(K, 3) per-channel factors of a (K,) shading: ``shade ** WARM``. Light scattered under the skin comes
    out redder: a shadow on skin turns warmer and a little deeper in blue, not grey (the darkened albedo alone
    gave grey, chalky shadows and blue-grey eye sockets on pale skin)."""
    log = np.log(np.maximum(shade, 1e-4))[:, None]
    return np.exp(log * WARM[None]).astype(np.float32)


def despeckle(values: np.ndarray, pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``values`` (K,) at flat ``pixels`` of an image of ``shape``, median-filtered (5x5). Thin triangles under
    the nose and at the mouth corners, nearly edge-on, got interpolated normals that face away: dark slivers and
    dots in the shading (spikes under the nose). A median keeps the shading's broad form."""
    h, w = shape
    img = np.zeros(h * w, np.float32)
    img[pixels] = values
    inside = np.zeros(h * w, np.uint8)
    inside[pixels] = 1
    return median_inside(img.reshape(h, w), inside.reshape(h, w), 5).ravel()[pixels]


def median_inside(img: np.ndarray, inside: np.ndarray, size: int) -> np.ndarray:
    """(H, W[, C]) float32 ``img`` median-filtered (``size`` 3 or 5) as if what lies outside the (H, W) uint8
    ``inside`` were a smooth spread of what lies in it (no black pulled into the edge); outside, that spread."""
    near = np.maximum(cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 2.0), 1e-4)
    spread = cv2.GaussianBlur(img, (0, 0), 2.0) / (near if img.ndim == 2 else near[..., None])
    cv2.copyTo(img, inside, spread)
    return cv2.medianBlur(spread, size)


def colour(p: FacePatch) -> None:
    """Move the render's skin statistics in CIELAB to the original's (the whole face moves alike); on a bearded
    face both are read outside the beard area."""
    region = p.skin
    if p.beard > 0.0 and (shaven := p.skin & (beard_zone(p.uv) < BEARD_FREE)).sum() >= 50:
        region = shaven
    skin = p.render[region]
    source = lab_stats(skin[:: max(1, len(skin) // 8000)])  # statistics of at most ~8,000 pixels
    p.render[p.covered] = transfer(p.render[p.covered], source, p.lab)


def fill_rim(render: np.ndarray, covered: np.ndarray, rim: int) -> np.ndarray:
    """The (H, W, 3) render with its outer ``rim`` px and a few px beyond its (H, W) bool ``covered`` mask
    taken from the face just inside (a normalised blur): no black seeps in when it is enlarged, and the edge is
    not the grazing shading of the mesh's rim. That rim was darker than the face inside it (by a sixth on
    stargan_172559's jaw) and, enlarged, drew a dashed dark line along the new face's outline."""
    inner = cv2.erode(covered.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=rim).astype(bool)
    inner = inner if inner.any() else covered
    m = inner.astype(np.float32)
    spread = cv2.GaussianBlur(render * m[..., None], (0, 0), 1.5) / \
        np.maximum(cv2.GaussianBlur(m, (0, 0), 1.5), 1e-4)[..., None]
    return np.where(inner[..., None], render, spread)


def occlusion(model: np.ndarray) -> np.ndarray:
    """(478,) log shading factors of the hollows of the (478, 3) model face, per vertex: -HOLLOWS x its depth
    under the surface around it (relight.cavity), less their least-squares fit by a constant and first order in
    the vertex normal over the skin (each vertex weighted by the area of its skin triangles), so that they average
    0 over the skin. The hollows face up and inwards: darkened as they are, a first-order lighting fit read a light
    10 deg off on a side-lit face; without that part, a fit of the face reads the light it had. A first-order
    function of the normals stays one as the head turns: this holds in every pose."""
    layout = U.default_layout()
    normals = U.vertex_normals(model, layout.tris)
    log = -HOLLOWS * cavity(model, normals)
    tris = layout.tris[layout.skin]
    a, b, c = model[tris[:, 0], :2], model[tris[:, 1], :2], model[tris[:, 2], :2]
    area = 0.5 * np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    weight = np.bincount(tris.ravel(), np.repeat(area / 3, 3), minlength=len(model))
    basis = np.c_[np.ones(len(model)), normals] * np.sqrt(weight)[:, None]
    beta, *_ = np.linalg.lstsq(basis, log * np.sqrt(weight), rcond=None)
    return (log - np.c_[np.ones(len(model)), normals] @ beta).astype(np.float32)


def relief(p: FacePatch) -> None:
    """The render's hollows darkened (``p.relief``, the log shading factors from ``render``), after the colour
    stage: its log factors average 0 over the skin, so the skin keeps the brightness that stage matched to the
    original's and the rest of the face rises a little as the hollows darken. Applied to the sRGB render as the
    factor's 1/2.2 power (a gamma of 2.2 for the sRGB curve), warmer in the shadow (``warm_shading``)."""
    if p.relief is not None:
        p.render = np.clip(p.render * np.exp(p.relief[..., None] * (WARM / 2.2)), 0.0, 1.0)


def upscale(p: FacePatch) -> None:
    """The render, its masks and its texture coordinates at the face's own resolution (bilinear; the colours
    are first spread a few pixels beyond the face's edge, so that no black seeps in; the edge itself is
    ``fill_rim``'s), then ``extend``."""
    h, w = p.original.shape[:2]
    if p.render.shape[:2] != (h, w):
        m = p.covered.astype(np.float32)
        filled = fill_rim(p.render, p.covered, RIM)
        p.upscaled = w / p.render.shape[1]
        p.render = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
        p.covered = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        p.skin = cv2.resize(p.skin.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
        p.uv = cv2.resize(p.uv, (w, h), interpolation=cv2.INTER_LINEAR)
    extend(p)


def cover_mask(p: FacePatch) -> np.ndarray:
    """(H, W) bool: the union of both face outlines and the rendered pixels, grown by 2.5% of the face."""
    h, w = p.original.shape[:2]
    cover = np.zeros((h, w), np.uint8)
    for pts in (p.own, p.target):
        cv2.fillPoly(cover, [np.round(pts[FACE_OVAL, :2]).astype(np.int32)], 1)
    cover |= p.covered.astype(np.uint8)
    k = _grow(p)
    return cv2.dilate(cover, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)


def _grow(p: FacePatch) -> int:
    return max(3, int(0.025 * p.size) | 1)


def extend(p: FacePatch) -> None:
    """The render over the whole cover: beyond its own edge a membrane of its colours, and near the cover's
    edge a shift that makes it meet the frame's skin around it (a low-pass of the original's skin-coloured
    pixels just outside the cover; hair and background there are not followed), fading inward."""
    p.cover = cover_mask(p)
    base, offset = _edge_fill(p, p.cover)
    # the render fades out before the edge of its (upscaled, staircase) mask: eroded by two blur widths, then
    # blurred, instead of cut by the mask (that drew its steps, several px high at 1024 px faces)
    sigma = 0.5 + 0.01 * p.size
    k = 2 * int(np.ceil(2 * sigma)) + 1
    inner = cv2.erode(p.covered.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    a = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), sigma)
    p.render = cv2.blendLinear(cv2.add(p.render.astype(np.float32, copy=False), offset), base, a, 1.0 - a)


def features(p: FacePatch, hairs: np.ndarray | None = None, drawn_mouth: bool = False) -> None:
    """Brows (the track's hairs between the new brow landmarks, darker than the skin around them), lips (the
    original's lip colour relative to its skin; the track's tint when it could not be read), eyes (sclera, the
    track's iris colour at the new iris landmarks, pupil, lashes) and the mouth opening, at the brightness of
    the original's skin. The mouth opening holds the original's (its teeth, tongue and shadow, moved from its
    inner lips to the new ones; drawn teeth were a flat pale band). On 68 CelebA-HQ faces, three seeds, this
    left rank-1 at 11 faces and the mean re-ID distance at 0.789; only the widest grin came 0.01-0.02 closer to
    its person in two seeds of three. With ``drawn_mouth``, a drawn one (dark, teeth when the original shows
    teeth)."""
    crisp(p)
    light = float(np.clip(p.lab.mean[0] / 65.0, 0.35, 1.3))
    skin = np.array(cv2.mean(p.render, p.skin.astype(np.uint8))[:3], np.float32) if p.skin.any() else \
        np.full(3, 0.5, np.float32)
    h, w = p.render.shape[:2]
    lo = np.maximum(np.floor(p.target[:, :2].min(0) - 0.05 * p.size), 0).astype(int)
    hi = np.minimum(np.ceil(p.target[:, :2].max(0) + 0.05 * p.size).astype(int), (w, h))
    box = (slice(lo[1], max(hi[1], lo[1])), slice(lo[0], max(hi[0], lo[0])))  # what the features draw on
    before = p.render[box].copy()
    if p.beard > 0.0 and p.uv is not None:
        keep = np.zeros((h, w), np.uint8)
        cv2.fillPoly(keep, [np.round(p.target[idx, :2] * 16).astype(np.int32) for idx in lip_polygons()], 255,
                     cv2.LINE_AA, shift=4)
        keep = cv2.GaussianBlur(keep.astype(np.float32) / 255.0, (0, 0), max(1.0, 0.006 * p.size))
        hairs = hairs if hairs is not None else stubble(white_texture(p.track_id, p.noise.shape[0]))
        draw_beard(p.render, p.uv, hairs, p.beard, np.clip(keep * 1.5, 0, 1), p.beard_hair)
    shade = p.look.brow_shade * (1.0 - BROW_DARKER * dark_share(float(p.lab.mean[0])))  # near black on dark skin
    darkest = (skin * shade * np.array([1.0, 0.9, 0.82])).astype(np.float32)
    draw_brows(p.render, p.target, p.look.brows,
               brow_colour(p.look, float(p.lab.mean[0]), light, darkest, p.brow_hue), darkness=p.brows)
    draw_lips(p.render, p.target, p.look.lips if p.lips is None else lips_tint(p, skin), p.size)
    shade_sockets(p.render, p.target)
    draw_nose(p.render, p.target, p.size)
    draw_eyes(p.render, p.target, iris_for_skin(p.look, float(p.lab.mean[0])), light, p.look.lashes,
              int(p.look.pick * 2 ** 31), catchlight=False, liner=liner_strength(p.lids))
    # the original's teeth's grey level (its skin's, which the new skin's colour follows, times their ratio)
    teeth_grey = None if p.teeth_light is None or p.skin_rgb is None else \
        p.teeth_light * float(p.skin_rgb @ LUMA) / 255.0
    source = None if drawn_mouth else (p.original, p.own)
    draw_mouth(p.render, p.target, p.size, light, 1.0 if p.teeth is None else p.teeth, teeth_grey, source)
    if before.size:  # a lens's softness: drawn edges do not shimmer from frame to frame
        sigma = FEATURE_SOFTNESS[0] + FEATURE_SOFTNESS[1] * min(p.size, FEATURE_SOFTNESS[2])
        p.render[box] = before + cv2.GaussianBlur(p.render[box] - before, (0, 0), sigma)
    draw_catchlights(p.render, p.target, light)


def lips_tint(p: FacePatch, skin: np.ndarray) -> np.ndarray:
    """(3,) the factor that brings the render's lips (the albedo's, already darker and redder than its skin) to the
    original's lip colour on its skin (``p.lips``): the original's factor over the render's own. Multiplied onto
    the albedo's lips as it was, the original's factor darkened them twice: retalk_1's lips came out 13-20% darker
    than his, a dark maroon. ``skin``: the render's (3,) mean skin colour."""
    lips = lip_median(p.render, p.target)
    if lips is None:
        return p.lips
    own = np.clip(lips / np.maximum(skin, 1e-3), *LIP_RANGE)
    return np.clip(p.lips / own, *LIP_TINT).astype(np.float32)


def crisp(p: FacePatch) -> None:
    """Lift the render's middle frequencies (unsharp mask at CRISP[1] x the face size) inside the rendered
    face, fading out towards its edge: the smooth albedo and shading, rendered small and enlarged, gave a face
    without folds or definition ("smeared"). As strong as the render was enlarged: CRISP[0] from CRISP[2]+1
    times on, none for a face rendered at its own size (on video the sharpening also lifts the frame-to-frame
    changes: lp_s18's flicker rose from 0.95 to 1.05 at 0.7, its ~290 px faces enlarged 1.8 times)."""
    amount = CRISP[0] * float(np.clip((p.upscaled - 1.0) / CRISP[2], 0.0, 1.0))
    if amount <= 0.0:
        return
    scale = CRISP[1]
    inner = cv2.erode(p.covered.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, round(0.01 * p.size)))
    weight = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), max(1.0, 0.01 * p.size))
    detail = cv2.subtract(p.render, cv2.GaussianBlur(p.render, (0, 0), max(1.0, scale * p.size)))
    weight *= amount
    p.render = cv2.add(p.render, cv2.multiply(detail, cv2.merge([weight] * 3)))


def extended_uv(uv: np.ndarray, covered: np.ndarray, cover: np.ndarray, limit: int = 5000) -> np.ndarray:
    """(H, W, 2) texture coordinates, those of the rendered pixels and, over the rest of ``cover``, those of
    the affine map (pixel -> texture) fitted on the rendered ones (about ``limit`` of them, on a grid)."""
    beyond = cover & ~covered
    h, w = covered.shape
    step = max(1, int(np.sqrt(h * w / (2 * limit))))
    ys, xs = np.nonzero(covered[::step, ::step])
    if len(xs) < 3 or not beyond.any():
        return uv
    ys, xs = ys * step, xs * step
    coef, *_ = np.linalg.lstsq(np.c_[xs, ys, np.ones(len(xs))], uv[ys, xs], rcond=None)
    by, bx = np.nonzero(beyond)
    out = uv.copy()
    out[by, bx] = np.c_[bx, by, np.ones(len(bx))] @ coef
    return out


def grain(p: FacePatch, textures: np.ndarray | None = None) -> None:
    """The skin's detail over the cover, in three parts, each a per-track texture that moves with the face
    (looked up by texture coordinates, beyond the render by their affine extension): the skin texture (orange
    peel and mottling) up to SKIN_TEXTURE x the original's robust detail level; the grain (white noise, as a
    photo's) up to the whole robust level (at most MAX_GRAIN deep); the marks (pores, freckles) up to the
    original's plain level (at most MAX_TAIL x the robust level reached). ``textures``: (R, R, 3) the three
    stacked (``grain_textures``; made here when None). A grain new each frame raised the flicker and the
    identity spread."""
    textures = textures if textures is not None else grain_textures(p.noise, white_texture(p.track_id, len(p.noise)),
                                                                     p.marks)
    maps = extended_uv(p.uv, p.covered, p.cover) * len(textures) - 0.5
    looked = cv2.remap(textures, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    eyes = eye_openings(p.cover.shape, p.target)  # wet and smooth: no skin texture, half the grain
    bare, half = p.cover * (1.0 - eyes), p.cover * (1.0 - 0.5 * eyes)
    texture, noise, marks = looked[..., 0] * bare, looked[..., 1] * half, looked[..., 2] * bare
    at = skin_pixels(p.skin)  # the Laplacian is linear: each part's is computed once and added up

    def robust(values: np.ndarray) -> float:
        return robust_variance(values, ROBUST_SAMPLE)

    g = laplacian_at(cv2.cvtColor(p.render, cv2.COLOR_RGB2GRAY) * 255.0, at)
    t = laplacian_at(texture, at)
    skin_depth = min(grain_amount(SKIN_TEXTURE * p.detail, robust(g), robust(t)), MAX_TEXTURE)
    g = g + skin_depth * t
    n = laplacian_at(noise, at)
    noise_level = robust(n)
    amount, depth = 0.0, 0.0
    base = robust(g)
    marked = p.marks is not None and p.tail > 0.0
    if marked:
        on_skin = cv2.GaussianBlur(p.skin.astype(np.float32), (0, 0), 1.0)  # no pores on the lids, brows or lips
        marks *= on_skin
        if p.skin.any():  # the marks only darken: less their mean, the skin keeps the colour stage's mean lightness
            marks -= float(marks[p.skin].mean()) * on_skin  # (they had left it about 0.5 L* darker)
        m = laplacian_at(marks, at)
        marks_level = float(m.var()) if m.size else 0.0
        reach = max(min(p.detail, base + MAX_GRAIN ** 2 * noise_level), base)  # the robust level the grain gives
        want = min(p.tail, MAX_TAIL * reach)
    for _ in range(2 if marked else 1):  # the marks raise the robust level a little: solve twice
        level = base if not marked or depth == 0.0 else robust(g + depth * m)
        amount = min(grain_amount(p.detail, level, noise_level), MAX_GRAIN)
        if not marked:
            break
        grained = g + amount * n
        depth = min(grain_amount(want, float(grained.var()) if grained.size else 0.0, marks_level), MAX_MARK)
    grey = texture * (skin_depth / 255.0) + noise * (amount / 255.0)
    if not marked:
        p.render = cv2.add(p.render, cv2.merge([grey] * 3))
        return
    tint = MARK_TINT * (depth / 255.0 / float(LUMA @ MARK_TINT))
    p.render = cv2.add(p.render, cv2.merge([cv2.scaleAdd(marks, float(t), grey) for t in tint]))


def grain_textures(noise: np.ndarray, white: np.ndarray, marks: np.ndarray | None) -> np.ndarray:
    """(R, R, 3) float32: a track's skin texture, white grain and marks (zeros when None), stacked to be looked
    up in one pass."""
    return np.dstack([noise, white, marks if marks is not None else np.zeros_like(noise)]).astype(np.float32)


def white_texture(track_id: int, res: int) -> np.ndarray:
    """(res, res) float32 white noise of one track (the same for the same id)."""
    return np.random.default_rng([GRAIN_SEED, track_id]).standard_normal((res, res), dtype=np.float32)


def compose(p: FacePatch) -> None:
    """The output ROI: the extended render inside the cover, feathered outward and blended by Laplacian
    pyramids. Inside the cover none of the original's detail survives."""
    if p.cover is None:
        extend(p)
    fg = np.clip(p.render * 255.0, 0, 255).astype(np.uint8)
    p.alpha = feather(p.cover.astype(np.float32), _grow(p))
    p.output = laplacian_blend(fg, p.original, p.alpha)


def refine(p: FacePatch, engine, store: TemporalStore | None = None) -> None:
    """Add the refinement generator's correction to the composed face, inside its cover. With ``store``, the
    correction's low frequencies (its shading and colour) are smoothed per track."""
    x, m = refine_input(p.output, p.cover, p.own)
    corr = engine(x[None])[0]
    if store is not None:
        low = np.stack([cv2.GaussianBlur(c, (0, 0), CORRECTION_LOW) for c in corr])
        corr = corr - low + store.smooth_correction(p.track_id, low)
    p.output = add_correction(p.output, corr * REFINE_STRENGTH, m, inward_feather(p.cover, _grow(p)))


def hair(p: FacePatch) -> None:
    """The original's hair in front of the face (hair.hair_mask: fringes and strands over the forehead, temples
    and outer cheeks) laid back over the output."""
    alpha = hair_mask(p.original, p.own, p.lab, p.size)
    if alpha.any():
        p.output = keep_hair(p.output, p.original, alpha)


def inward_feather(cover: np.ndarray, k: int, side: int = 160) -> np.ndarray:
    """(H, W) float weight: 1 inside ``cover`` fading to 0 at its edge over about ``k`` px (a correction that
    stops at a hard edge draws a line there); computed with the cover at most ``side`` px (it is smooth)."""
    h, w = cover.shape
    f = min(1.0, side / max(h, w))
    small = cover.astype(np.uint8)
    if f < 1.0:
        small = cv2.resize(small, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    ks = max(3, int(k * f) | 1)
    inner = cv2.erode(small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ks + 1, 2 * ks + 1)))
    inner = inner.astype(np.float32)
    soft = cv2.GaussianBlur(inner, (0, 0), ks / 2)
    if f < 1.0:
        soft = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
    return soft * cover


def skin_like(lab: np.ndarray, stats: LabStats) -> np.ndarray:
    """(H, W) bool: CIELAB pixels within the skin's bounds (colour.skin_distance 0)."""
    return skin_distance(lab, stats) == 0


def _edge_fill(p: FacePatch, cover: np.ndarray, side: float = 96.0) -> tuple[np.ndarray, np.ndarray]:
    """(what the cover shows beyond the render, the shift that makes the render meet the frame), both (H, W, 3)
    float. Beyond the render: its colours extended and shifted where the frame around is skin (computed with
    the face at ``side`` px, they are smooth, and upscaled); where it is not (hair, background: no
    skin-coloured halo over them), the frame at full size, softened by BAND_SOFTNESS of the face (a copy at
    ``side`` px smeared the hair around the face)."""
    h, w = p.original.shape[:2]
    f = min(1.0, side / max(p.size, 1.0))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    render = shrink(p.render, size)
    covered = shrink(p.covered.astype(np.float32), size) > 0.99
    inside = cv2.resize(cover.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    small = shrink(p.original, size).astype(np.float32) / 255.0
    frame = cv2.GaussianBlur(small, (0, 0), 0.01 * side)
    extended = push_pull(render, covered.astype(np.float32))
    skin = np.ones(size[::-1], bool) if p.lab is None else skin_like(to_lab_fast(frame), p.lab)
    offset = boundary_offset(extended, frame, inside, max(2, round(0.03 * side)), EDGE_REACH * side, skin, covered)
    offset = np.clip(offset, -MAX_SHIFT, MAX_SHIFT)
    other = cv2.GaussianBlur((~skin).astype(np.float32), (0, 0), 0.01 * side)
    up = (w, h)
    skin_side = cv2.resize(extended + offset, up, interpolation=cv2.INTER_LINEAR)
    other = cv2.resize(other, up, interpolation=cv2.INTER_LINEAR)
    # hair and background in the band: the frame itself, softened a little (a 96 px copy was a smear)
    sharp = cv2.GaussianBlur(p.original, (0, 0), max(0.6, BAND_SOFTNESS * p.size)).astype(np.float32) / 255.0
    base = cv2.blendLinear(skin_side, sharp, 1.0 - other, other)  # per-pixel weights (summing to 1)
    return base, cv2.resize(offset, up, interpolation=cv2.INTER_LINEAR)


class FaceRenderer:
    """Runs the stages over a face; holds the per-track temporal store and the per-stage timings."""

    def __init__(self, settings: PhotometricSettings, model: np.ndarray, tone: np.ndarray, refiner=None):
        if settings.refine and refiner is None:
            raise ValueError("refine=True needs the refinement engine")
        self.settings = settings
        self.refiner = refiner
        self.model = model  # (478, 3) model face for lifting landmarks to 3-D
        self.hollows = occlusion(model) if settings.relief else None  # (478,) log shading per vertex (``relief``)
        self.tone = np.asarray(tone, np.float32)
        alpha = settings.alpha if settings.temporal else 1.0
        self.store = TemporalStore(alpha=alpha)  # measurements: used by ``prepare``
        self.corrections = TemporalStore(alpha=alpha)  # the refinement's low frequencies: used by ``finish``
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.faces = 0
        self.frame = 0
        self.measured: dict[int, int] = {}  # track id -> the frame of its last measurement
        self.textures: dict[int, np.ndarray] = {}  # track id -> its stacked grain textures (grain_textures)
        self.stubbles: dict[int, np.ndarray] = {}  # track id -> its stubble (beard.stubble of its white grain)
        self.keys: dict[int, R.KeyGeometry] = {}  # track id -> its last full render's geometry (``prepare``)
        self.layers: dict[int, R.KeyLayer] = {}  # track id -> its last full render's pixels (``finish``)
        self.reused = 0  # faces whose output was their key frame's, moved
        self._cut = False

    def new_frame(self, rgb: np.ndarray, live_ids: set[int]) -> bool:
        """Per frame, before its faces are prepared: scene-cut check (returned), forget ended tracks."""
        self.frame += 1
        cut = self._cut = self.store.new_frame(rgb)
        self.store.forget(live_ids)
        self.keys = {} if cut else {t: k for t, k in self.keys.items() if t in live_ids}
        self.measured = {t: f for t, f in self.measured.items() if t in live_ids}
        self.textures = {t: x for t, x in self.textures.items() if t in live_ids}
        self.stubbles = {t: h for t, h in self.stubbles.items() if t in live_ids}
        return cut

    def finish_frame(self, cut: bool, live_ids: set[int]) -> None:
        """Per frame, before its prepared faces are finished (``new_frame``'s cut and ids)."""
        if cut:
            self.corrections.states.clear()
        self.corrections.forget(live_ids)
        self.layers = {t: k for t, k in self.layers.items() if t in live_ids}

    def _textures(self, p: FacePatch) -> np.ndarray:
        if p.track_id not in self.textures:
            self.textures[p.track_id] = grain_textures(p.noise, white_texture(p.track_id, len(p.noise)), p.marks)
        return self.textures[p.track_id]

    def _stubble(self, p: FacePatch) -> np.ndarray:
        if p.track_id not in self.stubbles:  # from the same white grain (the stack's middle channel)
            self.stubbles[p.track_id] = stubble(np.ascontiguousarray(self._textures(p)[..., 1]))
        return self.stubbles[p.track_id]

    def _timed(self, stage: str, fn, *args) -> None:
        t0 = time.perf_counter()
        fn(*args)
        self.seconds[stage] += time.perf_counter() - t0

    def _reuse(self, shape: tuple[int, int], own: np.ndarray, target: np.ndarray, track_id: int) -> R.Reuse | None:
        """The track's key frame moved onto this frame's geometry, when it is recent, the face moved little and
        the moved cover holds both outlines; else None (render in full)."""
        s, key = self.settings, self.keys.get(track_id)
        if s.render_every < 2 or s.hair or key is None or self._cut or self.frame - key.frame >= s.render_every:
            return None
        roi, size = patch_region(own, target, shape)
        if roi is None or not R.moved_little(target[:, :2], key.target, size, key.size):
            return None
        origin, region = np.array(roi[:2], np.float64), (roi[3] - roi[1], roi[2] - roi[0])
        grid = R.backward_grid(target[:, :2] - origin, key.target - np.array(key.roi[:2], np.float64), region)
        where = R.full_map(grid, region)
        if not R.covers(where, key.cover, R.face_outlines(own, target, origin)):
            return None
        return R.Reuse(track_id, key.frame, roi, where)

    def prepare(self, rgb: np.ndarray, own: np.ndarray, target: np.ndarray, track_id: int, albedo: np.ndarray,
                noise: np.ndarray, look: Look | None = None, marks: np.ndarray | None = None
                ) -> FacePatch | R.Reuse:
        """The stages up to ``upscale`` on one face of ``rgb`` (read only), or its key frame's reuse (``_reuse``);
        exceptions propagate."""
        t0 = time.perf_counter()
        moved = self._reuse(rgb.shape[:2], own, target, track_id)
        if moved is not None:
            self.seconds["reuse"] += time.perf_counter() - t0
            return moved
        p = make_patch(rgb, own, target, self.model, track_id, albedo, noise, look, marks=marks)
        p.frame = self.frame
        self.seconds["geometry"] += time.perf_counter() - t0
        s = self.settings
        state, last = self.store.current(track_id), self.measured.get(track_id)
        if state is not None and last is not None and self.frame - last < s.measure_every:
            self._timed("temporal", read_teeth if s.drawn_mouth else step, p, s, self.store)
        else:
            self._timed("measure", measure, p, s)
            self._timed("temporal", smooth, p, self.store)
            self.measured[track_id] = self.frame
        self._timed("render", render, p, self.tone, s.render_side, self.hollows)
        if s.colour:
            self._timed("colour", colour, p)
        self._timed("relief", relief, p)
        self._timed("upscale", upscale, p)
        if s.render_every > 1:
            self.keys[track_id] = R.KeyGeometry(self.frame, p.roi, target[:, :2].astype(np.float64), p.cover, p.size)
        return p

    def finish(self, rgb: np.ndarray, p: FacePatch | R.Reuse) -> None:
        """The remaining stages of a prepared face, written into ``rgb`` (in place). The frame's pixels are
        read again here: a face finished before this one may have been written over part of its region."""
        x0, y0, x1, y1 = p.roi
        if isinstance(p, R.Reuse):
            t0 = time.perf_counter()
            layer = self.layers.get(p.track_id)
            if layer is None or layer.frame != p.key_frame:
                raise RuntimeError("its key frame was not rendered")
            out, alpha = R.warp_layer(layer, p.where)
            rgb[y0:y1, x0:x1] = R.blend(rgb[y0:y1, x0:x1], out, alpha)
            self.seconds["reuse"] += time.perf_counter() - t0
            self.faces += 1
            self.reused += 1
            return
        p.original = rgb[y0:y1, x0:x1].copy()
        s = self.settings
        hairs = self._stubble(p) if p.beard > 0.0 else None
        self._timed("features", features, p, hairs, s.drawn_mouth)
        if s.grain:
            self._timed("grain", grain, p, self._textures(p))
        self._timed("compose", compose, p)
        if s.refine:
            self._timed("refine", refine, p, self.refiner, self.corrections if s.temporal else None)
        if s.hair and p.lab is not None:
            self._timed("hair", hair, p)
        rgb[y0:y1, x0:x1] = p.output
        self.faces += 1
        if s.render_every > 1:
            self.layers[p.track_id] = R.KeyLayer(p.frame, p.roi, p.output, p.alpha)

    def apply(self, rgb: np.ndarray, own: np.ndarray, target: np.ndarray, track_id: int, albedo: np.ndarray,
              noise: np.ndarray, look: Look | None = None, marks: np.ndarray | None = None) -> FacePatch | R.Reuse:
        """Render one face into ``rgb`` (in place); exceptions propagate (the caller covers the face)."""
        p = self.prepare(rgb, own, target, track_id, albedo, noise, look, marks)
        self.finish(rgb, p)
        return p

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per face of each stage."""
        return {k: round(1000 * v / max(self.faces, 1), 3) for k, v in self.seconds.items()}
