"""Eyes and the mouth opening of the face of nobody, drawn on the NEW geometry: the gaze (iris landmarks), the
eye opening and the mouth opening of the expression are kept; nothing of the original's eyes, teeth or tongue
is copied (keeping them raised rank-1 identification to 27% in the issue's probe). Pure functions on float
sRGB images in [0, 1]; index tables from MediaPipe."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..faces.mp_backend import solutions
from ..ramps import smoothstep
from .uv import adjacency, edge_loops
from .warp import warp_region

_fm = solutions.face_mesh
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
# iris colours (sRGB, 0-1) and how often each is drawn: dark brown, brown, hazel, green-grey, grey-blue, blue (a
# light eye in a photograph is a greyish blue: a saturated one glowed like a doll's)
IRIS_PALETTE = np.array([[0.20, 0.12, 0.08], [0.33, 0.20, 0.11], [0.42, 0.32, 0.18], [0.36, 0.40, 0.30],
                         [0.40, 0.46, 0.50], [0.33, 0.43, 0.54]], np.float32)
IRIS_WEIGHTS = np.array([0.35, 0.25, 0.12, 0.08, 0.10, 0.10])
DARK_SKIN = (48.0, 62.0)  # CIELAB L* of the skin: from light (the second) to dark (the first): brown eyes, dark brows
LASHES = 30  # upper lashes per eye
CHIN, FOREHEAD = 152, 10  # mesh points: the face's up direction
IRIS_FIBRES = 0.18  # contrast of the iris's radial fibres
# the white of the eye (sRGB at a light of 1): in photographs it is seldom white, shaded by the lids and lashes
# (at 0.8 the eyes stared, and their motion raised the flicker on lp_d11)
SCLERA = np.array([0.70, 0.66, 0.63], np.float32)
LIP_VOLUME = 0.25  # each lip this much darker at its edge than on its ridge
LIP_SHADOW = 0.14  # the lower lip's shadow on the chin
LIP_SHEEN = 0.08  # the lower lip's sheen (added, x the lip's brightness)
OUTER_LINE = 1.2  # the upper lash line's outer part, x its thickness (1.6 drew a winged liner)
LOWER_LID = 30  # the lower lid's line (0-255 of the upper's): a dark ring round the eye read as eyeliner
# the upper lash line is drawn this share of its thickness above the opening's contour: centred on it, half of it
# covered the eye (small eyes)
LINE_OUTSIDE = 0.5
PUPIL_RING = 0.1  # the lighter ring round the pupil (a strong one made a target of a brown eye)
LID_SHADOW = 0.4  # the upper lid's shadow: the top of the opening at this share of the light, full at 70% down
GAZE_REACH = (0.22, 0.2)  # the iris centre lies within this share of the eye's width (along) and height (across)
#                            of its middle
LASH_MIN_WIDTH = 24.0  # px: narrower eyes get only the lash line (single lashes would be sub-pixel)
# the lash line is drawn at full strength for an original whose lid line reads this dark (lid_darkness: eye
# make-up, or sharp lashes at 1024 px) and in proportion below, down to LINER_MIN. At full strength on every face,
# a man's lashes in a 512 px video (reading 0.28) came out as black eyeliner (0.63 read on the output)
LID_FULL = 0.65
LINER_MIN = 0.3
HAIR_LEVELS = 16  # darkness levels of the brow hairs (each level is drawn in one call)
# faint brows (a child's, a blonde's): drawn brows are lightened to the original's brow darkness
# (``brow_darkness``) when it is below FAINT_BROWS[0], less so up to FAINT_BROWS[1], not above it (matching every
# face's darkness made the faces easier to tell apart: rank-1 6 of 68 CelebA-HQ faces, against 4); down to
# BROW_MIN of their own darkness at the most. A child's faint brows came out as an adult's dark ones: on lp_d11
# the brows changed 1.8x as much as the original's from frame to frame
FAINT_BROWS = (0.2, 0.3)
BROW_MIN = 0.3
BROW_HAIR = 0.035  # a brow hair's width, share of the brow's height
BROW_GAIN = 1.3  # how fast crossing hairs cover the skin
BROW_TINT = 0.12  # the faint tint under the hairs


@dataclass(frozen=True)
class EyeIndex:
    """contour (16,) eye opening in order; centre: iris centre point; ring (4,) iris edge points."""

    contour: np.ndarray
    centre: int
    ring: np.ndarray


@lru_cache(maxsize=1)
def eye_indices() -> tuple[EyeIndex, ...]:
    """Both eyes, from MediaPipe's eye and iris edge sets."""
    eyes = []
    pairs = ((_fm.FACEMESH_LEFT_EYE, _fm.FACEMESH_LEFT_IRIS), (_fm.FACEMESH_RIGHT_EYE, _fm.FACEMESH_RIGHT_IRIS))
    for eye, iris in pairs:
        contour = max(edge_loops(eye), key=len)
        ring = edge_loops(iris)[0]
        eyes.append(EyeIndex(contour, int(ring.min()) - 1, ring))  # the centre point precedes its ring
    return tuple(eyes)


@lru_cache(maxsize=1)
def mouth_arcs() -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) inner lip arcs, each from one mouth corner to the other."""
    from .uv import default_layout

    loop = default_layout().mouth
    uv = default_layout().uv[loop]
    a, b = int(np.argmin(uv[:, 0])), int(np.argmax(uv[:, 0]))
    rolled = np.roll(loop, -a)
    k = (b - a) % len(loop)
    first, second = rolled[:k + 1], np.r_[rolled[k:], rolled[:1]][::-1]
    upper_first = UPPER_INNER_LIP in first
    return (first, second) if upper_first else (second, first)


@dataclass(frozen=True)
class Look:
    """What a track's drawn features keep for its life: iris colour (3,) sRGB, brow hairs (from
    ``brow_strokes``), brow darkness (a factor on the skin colour) and lip tint (from ``lip_tint``)."""

    iris: np.ndarray
    brows: np.ndarray
    brow_shade: float
    lips: np.ndarray
    lashes: np.ndarray | None = None  # from ``lash_strokes``
    pick: float = 1.0  # uniform in [0, 1): the iris turns brown on skin darker than this (``iris_for_skin``)
    hair: float = 0.3  # uniform in [0, 1): picks the brows' hair colour (``brow_colour``)


def random_look(rng: np.random.Generator) -> Look:
    """A track's eyes, brows, lips and lashes, drawn from ``rng`` (the lashes, then the iris pick last: the other
    draws stay as they were before there were lashes; the brows' hair colour after them)."""
    return Look(iris_colour(rng), brow_strokes(rng), float(rng.uniform(0.4, 0.6)), lip_tint(rng), lash_strokes(rng),
                float(rng.random()), float(rng.random()))


def lash_strokes(rng: np.random.Generator, count: int = LASHES) -> np.ndarray:
    """(count, 3) upper lashes of one track (both eyes alike): position along the upper lid (0 at the outer corner,
    1 at the inner), length factor and a tilt jitter (radians)."""
    t = np.sort(rng.uniform(0.0, 0.9, count))
    return np.stack([t, rng.uniform(0.75, 1.25, count), rng.normal(0.0, 0.12, count)], 1).astype(np.float32)


def iris_colour(rng: np.random.Generator) -> np.ndarray:
    """(3,) a random iris colour of the palette, slightly varied."""
    c = IRIS_PALETTE[rng.choice(len(IRIS_PALETTE), p=IRIS_WEIGHTS)]
    return np.clip(c * rng.uniform(0.85, 1.15), 0, 1).astype(np.float32)


def dark_share(lightness: float) -> float:
    """0 on light skin (CIELAB L* of DARK_SKIN[1] or more), 1 on dark skin (DARK_SKIN[0] or less), linear
    between."""
    return float(np.clip((DARK_SKIN[1] - lightness) / (DARK_SKIN[1] - DARK_SKIN[0]), 0.0, 1.0))


def iris_for_skin(look: Look, lightness: float) -> np.ndarray:
    """The track's (3,) iris colour on a face whose skin has CIELAB ``lightness``: brown (at the track's own
    brightness) when its ``look.pick`` falls under ``dark_share``. Blue and grey eyes are rare outside light
    skin; a dark face with pale blue eyes looked made. A population prior, nothing of the person's own eyes.
    A swap, not a blend: a blend of blue and brown is a colour no eye has."""
    if look.pick >= dark_share(lightness):
        return look.iris
    return (IRIS_PALETTE[1] * float(np.clip(look.iris.mean() / IRIS_PALETTE[1].mean(), 0.6, 1.2))).astype(np.float32)


# brow hair colours (sRGB under full light): near black, dark brown, mid brown, light brown, auburn; how often
# each is drawn on light skin and on dark skin (dark_share between). A population prior: nothing of the person's
BROW_PALETTE = np.array([[0.10, 0.08, 0.07], [0.20, 0.14, 0.10], [0.33, 0.23, 0.15], [0.48, 0.36, 0.24],
                         [0.38, 0.20, 0.11]], np.float32)
BROW_WEIGHTS = (np.array([0.15, 0.35, 0.30, 0.12, 0.08]), np.array([0.7, 0.3, 0.0, 0.0, 0.0]))
BROW_FLOOR = 0.55
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def brow_colour(look: Look, lightness: float, light: float, darkest: np.ndarray,
                hue: np.ndarray | None = None) -> np.ndarray:
    """(3,) the track's brow hair colour: a hair colour of BROW_PALETTE picked by ``look.hair`` (weights by the
    skin's CIELAB ``lightness``), at the scene's ``light``, between BROW_FLOOR and 1 x the luminance of
    ``darkest`` (3,), the skin darkened (brows drawn as a darker skin tone were grey bars; a near-black one on
    light skin is lifted to BROW_FLOOR). With ``hue`` (3,) (``brow_hue``: the original's brow hairs' colour over
    their grey) the palette colour takes that hue at its own grey: a redhead's brows had come out olive-grey."""
    d = dark_share(lightness)
    weights = (1.0 - d) * BROW_WEIGHTS[0] + d * BROW_WEIGHTS[1]
    k = min(int(np.searchsorted(np.cumsum(weights / weights.sum()), look.hair, side="right")), len(BROW_PALETTE) - 1)
    colour = BROW_PALETTE[k] * light
    if hue is not None:
        colour = float(colour @ _LUMA) * hue
    cap = float(darkest @ _LUMA)
    lum = max(float(colour @ _LUMA), 1e-6)
    return (colour * float(np.clip(1.0, BROW_FLOOR * cap / lum, cap / lum))).astype(np.float32)


def _soft_polygon(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points[:, :2] * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def eye_openings(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: both eye openings of the (478, 2+) ``points``, antialiased."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points[eye.contour, :2] * 16).astype(np.int32) for eye in eye_indices()], 255,
                 cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _disk(shape: tuple[int, int], centre: np.ndarray, radius: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, tuple(np.round(centre * 16).astype(int)), max(1, int(round(radius * 16))), 255, -1,
               cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _over(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    a = alpha[..., None]
    image *= 1 - a
    image += a * colour


def _box(points: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """The slices of the region around the points (grown by ``pad`` px, clipped) and its (x0, y0)."""
    lo = np.maximum(np.floor(points.min(0) - pad).astype(int), 0)
    hi = np.minimum(np.ceil(points.max(0) + pad).astype(int) + 1, (shape[1], shape[0]))
    return (slice(lo[1], max(hi[1], lo[1])), slice(lo[0], max(hi[0], lo[0]))), lo.astype(np.float64)


def _eye_arcs(contour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower): the two halves of an eye's (N, 2) ``contour`` between its leftmost and rightmost points,
    in the loop's order (one runs from the leftmost point to the rightmost, the other back)."""
    left, right = int(np.argmin(contour[:, 0])), int(np.argmax(contour[:, 0]))
    rolled = np.roll(contour, -left, 0)
    k = (right - left) % len(contour)
    arcs = sorted((rolled[:k + 1], np.r_[rolled[k:], rolled[:1]]), key=lambda a: float(a[:, 1].mean()))
    return arcs[0], arcs[1]


def draw_eyes(image: np.ndarray, points: np.ndarray, iris: np.ndarray, light: float,
              lashes: np.ndarray | None = None, pattern: int = 0, catchlight: bool = True,
              liner: float = 1.0) -> None:
    """Sclera, iris (its radial fibres from the seed ``pattern``, a lighter ring round the pupil), pupil,
    highlight, lash line and (``lashes`` from ``lash_strokes``, on eyes of at least LASH_MIN_WIDTH px) single
    upper lashes of both eyes into the (H, W, 3) image, in place. ``light``: brightness of the face (about 1 for
    a well-lit face); ``liner`` (0..1): strength of the lash line and lashes (``liner_strength``)."""
    fibres = np.random.default_rng(pattern)
    waves = fibres.integers(5, 40, 12), fibres.uniform(0, 2 * np.pi, 12), fibres.uniform(0.3, 1.0, 12)
    up = points[FOREHEAD, :2] - points[CHIN, :2]
    up = (up / max(float(np.linalg.norm(up)), 1e-6)).astype(np.float64)
    for eye in eye_indices():
        contour = points[eye.contour, :2]
        height = max(float(np.ptp(contour[:, 1])), 1.0)
        thick = max(1, int(round(0.12 * height)))
        box, origin = _box(contour, image.shape[:2], thick + 2)
        sub = image[box]
        if sub.shape[0] < 2 or sub.shape[1] < 2:
            continue
        c = contour - origin
        opening = _soft_polygon(sub.shape[:2], c)
        radius = float(np.linalg.norm(points[eye.ring, :2] - points[eye.centre, :2], axis=1).mean())
        centre = gaze_centre(c, points[eye.centre, :2] - origin)
        gy, gx = np.mgrid[0:sub.shape[0], 0:sub.shape[1]].astype(np.float32)
        half = max(np.ptp(c[:, 0]) / 2, 1.0)
        shade = 1 - 0.35 * ((gx - c[:, 0].mean()) / half) ** 2
        eye_img = np.empty_like(sub)
        eye_img[:] = SCLERA * light
        eye_img *= np.clip(shade, 0.3, 1.0)[..., None]
        r = np.hypot(gx - centre[0], gy - centre[1]) / max(radius, 1e-3)
        theta = np.arctan2(gy - centre[1], gx - centre[0])
        radial = sum(a * np.sin(k * theta + f) for k, f, a in zip(*waves)) / np.sqrt(sum(a * a for a in waves[2]))
        texture = 1 + IRIS_FIBRES * radial * np.clip(r * 3 - 1.2, 0, 1)  # fibres outside the pupil's ring
        texture += PUPIL_RING * np.exp(-(((r - 0.5) / 0.08) ** 2))  # the lighter ring round the pupil
        iris_px = iris * light * ((0.95 - 0.45 * np.clip((r - 0.6) / 0.4, 0, 1)) * texture)[..., None]
        _over(eye_img, iris_px, _disk(sub.shape[:2], centre, radius))
        _over(eye_img, np.array([0.03, 0.025, 0.025], np.float32), _disk(sub.shape[:2], centre, 0.4 * radius))
        eye_img *= (LID_SHADOW + (1 - LID_SHADOW) * np.clip((gy - c[:, 1].min()) / (0.7 * height), 0, 1))[..., None]
        if catchlight and radius >= 2.5:
            _over(eye_img, *_catchlight(sub.shape[:2], centre, radius, light))
        _over(sub, eye_img, opening)
        upper, lower = _eye_arcs(c)
        if abs(upper[0, 0] - (points[168, 0] - origin[0])) < abs(upper[-1, 0] - (points[168, 0] - origin[0])):
            upper = upper[::-1]  # from the outer corner
        upper = lid_margin(upper, up, LINE_OUTSIDE * thick)
        outer = upper[:max(2, len(upper) * 3 // 5)]
        lash = np.zeros(sub.shape[:2], np.uint8)
        cv2.polylines(lash, [np.round(upper * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
        cv2.polylines(lash, [np.round((outer - (0, 0.3 * thick)) * 16).astype(np.int32)], False, 255,
                      max(1, round(OUTER_LINE * thick)), cv2.LINE_AA, shift=4)
        cv2.polylines(lash, [np.round(lower * 16).astype(np.int32)], False, LOWER_LID, max(1, thick // 2),
                      cv2.LINE_AA, shift=4)
        soft = cv2.GaussianBlur(lash.astype(np.float32) / 255.0, (0, 0), max(0.4, 0.25 * thick))
        if lashes is not None and np.ptp(c[:, 0]) >= LASH_MIN_WIDTH:  # fine hairs, less blurred than the line
            fine = np.zeros(sub.shape[:2], np.uint8)
            strokes = np.round(lash_curves(upper, up, float(np.ptp(c[:, 0])), lashes) * 16).astype(np.int32)
            width = max(1, round(0.012 * np.ptp(c[:, 0])))
            cv2.polylines(fine, list(strokes), False, 150, width, cv2.LINE_AA, shift=4)
            cv2.polylines(fine, list(strokes[:, :2]), False, 230, width, cv2.LINE_AA, shift=4)  # darker at the root
            soft = np.maximum(soft, cv2.GaussianBlur(fine.astype(np.float32) / 255.0, (0, 0), 0.6))
        _over(sub, np.array([0.07, 0.05, 0.045], np.float32) * light, 0.8 * liner * np.clip(soft * 1.3, 0, 1))


def _catchlight(shape: tuple[int, int], centre: np.ndarray, radius: float, light: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(colour (3,), alpha (H, W)) of the light's reflection on an iris of ``radius`` px at ``centre``."""
    spot = centre + np.array([-0.3, -0.35]) * radius
    return (np.array([0.97, 0.97, 0.97], np.float32) * min(max(light, 0.8), 1.0),
            0.85 * _disk(shape, spot, 0.14 * radius))


def draw_catchlights(image: np.ndarray, points: np.ndarray, light: float) -> None:
    """The light's reflection on both irises (``draw_eyes`` with ``catchlight=False`` drew the rest), into the
    (H, W, 3) image, in place, inside the eye openings: drawn after the features' softening, which had blurred
    it away (fresh viewers missed the catchlights)."""
    for eye in eye_indices():
        contour = points[eye.contour, :2]
        radius = float(np.linalg.norm(points[eye.ring, :2] - points[eye.centre, :2], axis=1).mean())
        if radius < 2.5:
            continue
        box, origin = _box(contour, image.shape[:2], 2)
        sub = image[box]
        if sub.shape[0] < 2 or sub.shape[1] < 2:
            continue
        colour, alpha = _catchlight(sub.shape[:2], gaze_centre(contour - origin, points[eye.centre, :2] - origin),
                                    radius, light)
        _over(sub, colour, alpha * _soft_polygon(sub.shape[:2], contour - origin))


def eye_frame(points: np.ndarray, contour: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """An eye's middle (2,), unit axis from corner to corner (2,), its normal (2,), width and height in the
    (N, 2) ``points`` (its ``contour`` indices; None: the points are the contour; the corners are its leftmost
    and rightmost points)."""
    c = points[:, :2] if contour is None else points[contour, :2]
    left, right = c[int(np.argmin(c[:, 0]))], c[int(np.argmax(c[:, 0]))]
    width = max(float(np.linalg.norm(right - left)), 1e-6)
    axis = (right - left) / width
    normal = np.array([-axis[1], axis[0]])
    return (left + right) / 2, axis, normal, width, max(float(np.ptp(c @ normal)), 1e-6)


def gaze_centre(contour: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The iris centre (2,) held within GAZE_REACH of the middle of the eye's (K, 2) ``contour``, along the line
    between its corners and across it: MediaPipe's iris points behind glasses or in a squint strayed into a
    corner (a rolled eye), and their jitter there moved a dark iris over a white sclera."""
    middle, axis, normal, width, height = eye_frame(contour)
    d = centre - middle
    along = float(np.clip(d @ axis, -GAZE_REACH[0] * width, GAZE_REACH[0] * width))
    across = float(np.clip(d @ normal, -GAZE_REACH[1] * height, GAZE_REACH[1] * height))
    return middle + along * axis + across * normal


def arc_fractions(points: np.ndarray) -> np.ndarray:
    """(N,) arc length from the start of the (N, 2) polyline to each point, as a share of its whole length."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.r_[0.0, np.cumsum(seg)] / max(float(seg.sum()), 1e-9)


def lid_margin(upper: np.ndarray, up: np.ndarray, shift: float) -> np.ndarray:
    """The (K, 2) upper lid line ``upper`` moved ``shift`` px along the face's (2,) unit ``up``, fully in the
    middle and not at the corners (where it meets the lower lid)."""
    arc = arc_fractions(upper)
    return upper + (shift * np.sqrt(np.clip(np.sin(np.pi * arc), 0.0, 1.0)))[:, None] * up[None]


def lash_curves(upper: np.ndarray, up: np.ndarray, width: float, lashes: np.ndarray) -> np.ndarray:
    """(L, 4, 2) polylines of single lashes on the (K, 2) upper lid ``upper`` (from the outer corner) of an eye
    ``width`` px wide, in a face whose (2,) unit ``up`` points from the chin to the forehead: out of the lid
    upwards, leaning to the outer corner more towards it, longer in the outer half, curling up at the tip. They
    depend on the lid's line and the eye's width only, not on how open it is: a blink moves them with the lid
    instead of turning them."""
    arc = arc_fractions(upper)
    t = lashes[:, 0]
    base = np.stack([np.interp(t, arc, upper[:, 0]), np.interp(t, arc, upper[:, 1])], 1)
    ahead = np.stack([np.interp(np.maximum(t - 0.05, 0), arc, upper[:, 0]),
                      np.interp(np.maximum(t - 0.05, 0), arc, upper[:, 1])], 1)  # towards the outer corner
    lean = ahead - base
    lean /= np.maximum(np.linalg.norm(lean, axis=1, keepdims=True), 1e-6)
    w = (0.75 * (1 - t))[:, None]  # lean: most at the outer corner
    d = up[None] * (1 - w) + lean * w
    angle = lashes[:, 2]
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    d = np.concatenate([d[:, :1] * cos - d[:, 1:] * sin, d[:, :1] * sin + d[:, 1:] * cos], 1)
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
    length = (0.06 + 0.09 * (1 - t)) * width * lashes[:, 1]  # foreshortened: they point at the camera
    steps = np.array([0.0, 0.4, 0.75, 1.0])[None, :, None]
    curl = (steps ** 2) * 0.35 * length[:, None, None] * up  # the tips turn upwards
    return base[:, None] + steps * (length[:, None] * d)[:, None] + curl


def shade_sockets(image: np.ndarray, points: np.ndarray) -> None:
    """Soft shading around both eyes of the NEW geometry, in place: the socket a little darker and a lid
    crease above the upper lid (before the eyes are drawn)."""
    for eye in eye_indices():
        contour = points[eye.contour, :2]
        width, height = max(float(np.ptp(contour[:, 0])), 1.0), max(float(np.ptp(contour[:, 1])), 1.0)
        box, origin = _box(contour, image.shape[:2], 0.8 * width)
        sub = image[box]
        if sub.shape[0] < 3 or sub.shape[1] < 3:
            continue
        c = contour - origin
        centre = c.mean(0)
        gy, gx = np.ogrid[0:sub.shape[0], 0:sub.shape[1]]
        socket = np.exp(-((gx - centre[0]) / (0.7 * width)) ** 2 * 2
                        - ((gy - centre[1] + 0.2 * height) / (1.3 * height)) ** 2 * 2).astype(np.float32)
        upper = c[c[:, 1] <= centre[1]]
        upper = upper[np.argsort(upper[:, 0])]
        lift = 0.7 * height * np.sin(np.pi * np.clip((upper[:, 0] - upper[0, 0]) / width, 0, 1)) ** 0.5
        crease = np.zeros(sub.shape[:2], np.float32)
        cv2.polylines(crease, [np.round((upper - np.c_[np.zeros_like(lift), lift + 0.35 * height]) * 16)
                               .astype(np.int32)], False, 1.0, max(1, round(0.12 * height)), cv2.LINE_AA, shift=4)
        crease = cv2.GaussianBlur(crease, (0, 0), max(0.5, 0.12 * height))
        sub *= (1 - 0.08 * socket - 0.12 * np.clip(crease * 2, 0, 1))[..., None]


def draw_mouth(image: np.ndarray, points: np.ndarray, size: float, light: float, teeth: float = 1.0,
               teeth_grey: float | None = None, source: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """The mouth opening (inner lip contour) of the new geometry: a dark interior and, when open, a row of
    upper teeth under the upper lip, into the (H, W, 3) image, in place. ``teeth`` (0..1): how much the
    original's opening shows teeth (an "o" or a yawn shows none: a dark mouth). ``teeth_grey``: the grey level
    (sRGB 0-1) of the original's teeth (``stages.teeth_reading``), in the hue round the mouth; None: drawn white
    at ``light``. ``source``: (the original image (H, W, 3) uint8 or float in [0, 1], its (478, 2+) points):
    the opening shows the original's opening instead, moved from its inner lips to the new ones by a thin-plate
    spline (the loops and rings 1.6 times their size round them)."""
    upper, lower = mouth_arcs()
    gap = float(np.linalg.norm(points[UPPER_INNER_LIP, :2] - points[LOWER_INNER_LIP, :2]))
    if gap < 1.0:
        return
    box, origin = _box(points[np.r_[upper, lower], :2], image.shape[:2], 2)
    sub = image[box]
    if sub.shape[0] < 2 or sub.shape[1] < 2:
        return
    top, bottom = points[upper, :2] - origin, untangled(points[upper, :2], points[lower, :2]) - origin
    opening = _soft_polygon(sub.shape[:2], np.concatenate([top, bottom[::-1]]))
    if source is not None:
        original, own = source
        # both loops without their repeated corners (the spline needs distinct points)
        new = np.delete(np.concatenate([top, bottom[::-1]])[:-1] + origin, len(upper) - 1, 0)
        old = np.delete(mouth_loop(own)[:-1], len(upper) - 1, 0)
        ring = [loop.mean(0) + 1.6 * (loop - loop.mean(0)) for loop in (new, old)]
        inside = warp_region(original, np.r_[new, ring[0]], np.r_[old, ring[1]], sub.shape[:2], origin)
        inside = inside.astype(np.float32) / 255.0 if inside.dtype == np.uint8 else inside.astype(np.float32)
        widened = np.ptp(new[:, 0]) / max(float(np.ptp(old[:, 0])), 1e-6)  # the new opening over the original's
        reach = float(np.clip((widened - 1.0) / CORNER_WIDENING, CORNER_MIN, 1.0))
        parted = float(smoothstep(gap / (CORNER_GAP * max(size, 1.0))))
        _over(inside, MOUTH_DARK * light, corner_shadow(sub.shape[:2], top[0], top[-1], reach) * parted)
        _over(sub, inside, cv2.GaussianBlur(opening, (0, 0), max(0.5, 0.002 * size)))
        return
    inside = _mouth_inside(sub.shape[:2], top, bottom, light)
    if gap > TONGUE_FROM * size:  # open: the tongue lies in the lower part of the opening
        tongue, alpha = _tongue(sub.shape[:2], top, bottom, light)
        _over(inside, tongue, alpha * min(1.0, (gap / size - TONGUE_FROM) / TONGUE_FROM))
    if gap > 0.03 * size and teeth > 0.05:
        tint = None if teeth_grey is None else mouth_tint(sub)  # before anything is drawn over the mouth
        if gap > 0.07 * size and teeth > 0.6:  # wide open: the lower teeth show too, a little darker
            low_depth = min(0.25 * gap, 0.035 * size)
            low = _soft_polygon(sub.shape[:2], np.concatenate([bottom, (bottom - (0, low_depth))[::-1]]))
            _over(inside, _teeth(sub.shape[:2], bottom, 0.8 * light, low_depth, down=False,
                                 grey=None if teeth_grey is None else 0.8 * teeth_grey, tint=tint), 0.8 * low)
        depth = min(0.75 * gap, TEETH_DEPTH * size) * (0.4 + 0.6 * teeth)
        upper_row = _soft_polygon(sub.shape[:2], np.concatenate([top, (top + (0, depth))[::-1]]))
        _over(inside, _teeth(sub.shape[:2], top, light, depth, grey=teeth_grey, tint=tint),
              0.9 * min(1.0, 1.5 * teeth) * upper_row)
    _over(sub, inside, cv2.GaussianBlur(opening, (0, 0), max(0.5, 0.002 * size)))


MOUTH_DARK = np.array([0.17, 0.07, 0.07], np.float32)  # the mouth's interior, under full light
# the opening's corners are in shadow (the cheeks' inside): fully (CORNER_DARK) up to the first share of its
# half-width from each corner, fading out by the second. The original's opening moved onto a wider new one brought
# its lip corners and side teeth in as pale wedges
CORNER_REACH = (0.2, 0.5)
CORNER_DARK = 0.9
# the corner shadow reaches as far as CORNER_REACH when the new opening is CORNER_WIDENING wider than the
# original's (its corners then show the original's lip corners), and CORNER_MIN of that when it is no wider: at full
# reach on every smile, the corners of a grin as wide as the original's were black wedges where its teeth showed
CORNER_WIDENING = 0.25
CORNER_MIN = 0.5
# the shadow deepens with the lips' gap, fully from this share of the face: between barely parted lips the opening is
# a sliver, and its shaded corners were two dark dots at the mouth's ends (retalk_1, while he paused between words)
CORNER_GAP = 0.04


def corner_shadow(shape: tuple[int, int], left: np.ndarray, right: np.ndarray, reach: float = 1.0) -> np.ndarray:
    """(H, W) float weight of the mouth's corner shadow (CORNER_REACH x ``reach``, CORNER_DARK) of an opening with
    the (2,) corner points ``left`` and ``right`` (pixels of the image of ``shape``)."""
    axis = np.asarray(right, np.float32) - np.asarray(left, np.float32)
    length = max(float(axis @ axis), 1e-6)
    gy, gx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    t = ((gx - left[0]) * axis[0] + (gy - left[1]) * axis[1]) / length  # 0 at the left corner, 1 at the right
    edge = 2.0 * np.minimum(t, 1.0 - t)  # 0 at a corner, 1 in the middle
    lo, hi = CORNER_REACH[0] * reach, CORNER_REACH[1] * reach
    return (CORNER_DARK * (1.0 - smoothstep((edge - lo) / (hi - lo)))
            ).astype(np.float32)


TONGUE = np.array([0.78, 0.42, 0.42], np.float32)  # the tongue's top, under full light
TONGUE_FROM = 0.04  # the tongue shows from this inner-lip gap (share of the face), fully at twice it
TEETH_DEPTH = 0.055  # the upper teeth show at most this share of the face (an incisor is about 5% of a face)
TEETH_COLOUR = np.array([0.95, 0.93, 0.88], np.float32)
TEETH_TINT = 0.15  # share (as an exponent) of the mouth's surroundings' hue that read teeth take
TEETH_MIN_GREY, TEETH_MAX_GREY = 0.35, 0.95  # bounds of a read grey level of the teeth (sRGB 0-1)
TEETH_GAP = 0.08  # how dark the gap between two teeth is


def mouth_tint(region: np.ndarray) -> np.ndarray:
    """(3,) a tint of unit luminance: the hue of the (H, W, 3) ``region`` (the lips and skin round the mouth), to
    the power TEETH_TINT. Teeth pick up the light the lips and skin reflect onto them."""
    mean = np.maximum(region.reshape(-1, 3).mean(0), 1e-3)
    tint = (mean / float(mean @ _LUMA)) ** TEETH_TINT
    return (tint / float(tint @ _LUMA)).astype(np.float32)


def _mouth_inside(shape: tuple[int, int], top: np.ndarray, bottom: np.ndarray, light: float) -> np.ndarray:
    """(H, W, 3) the mouth's dark interior: deepest under the upper lip, a little lighter towards the lower."""
    gy = np.arange(shape[0], dtype=np.float32)[:, None]
    y0, y1 = float(top[:, 1].min()), float(bottom[:, 1].max())
    t = np.clip((gy - y0) / max(y1 - y0, 1.0), 0.0, 1.0)
    return np.broadcast_to((MOUTH_DARK * light)[None, None] * (0.7 + 0.45 * t)[..., None],
                           (*shape, 3)).astype(np.float32)


def _tongue(shape: tuple[int, int], top: np.ndarray, bottom: np.ndarray, light: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """((H, W, 3) colour, (H, W) alpha) of a tongue: a soft ellipse over the lower part of the opening between
    the (N, 2) inner lip arcs, darker at its back (top)."""
    gy, gx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    order = np.argsort(bottom[:, 0])
    xs, ys = bottom[order, 0], bottom[order, 1]
    width = max(float(np.ptp(xs)), 1.0)
    centre = float(xs.mean())
    base = float(ys.max())
    height = max(0.55 * (base - float(top[:, 1].min())), 1.0)
    u, v = (gx - centre) / (0.46 * width), (gy - base) / height
    r = np.sqrt(u * u + v * v)
    alpha = np.clip((1.0 - r) / 0.3, 0.0, 1.0) * (v < 0.3)
    back = np.clip(-v, 0.0, 1.0)[..., None]  # 0 at the front, 1 at the back
    colour = (TONGUE * light)[None, None] * (1.0 - 0.3 * back * back)
    return colour.astype(np.float32), (0.9 * alpha).astype(np.float32)


def untangled(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The (N, 2) lower inner lip arc moved where it rose above the (N, 2) upper one (point by point, across the
    line between the corners): a nearly closed mouth's arcs cross near the corners, and the opening between
    them drew dark ticks there."""
    axis = top[-1] - top[0]
    axis = axis / max(float(np.linalg.norm(axis)), 1e-6)
    down = np.array([-axis[1], axis[0]])
    above = np.maximum((top - bottom) @ down, 0.0)
    return bottom + above[:, None] * down


def mouth_loop(points: np.ndarray) -> np.ndarray:
    """(M, 2) the mouth opening's outline of (478, 2+) ``points``: the upper inner lip arc, then the lower one
    back, ``untangled``."""
    upper, lower = mouth_arcs()
    top = points[upper, :2]
    return np.concatenate([top, untangled(top, points[lower, :2])[::-1]])


def _teeth(shape: tuple[int, int], arc: np.ndarray, light: float, depth: float = 0.0, down: bool = True,
           grey: float | None = None, tint: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) a row of teeth along the (N, 2) inner lip ``arc`` (upper teeth hang ``down`` from it, lower
    ones stand up from it), ``depth`` px tall: incisors wider than the teeth beside them, each rounded across
    (lighter in its middle), dark gaps between neighbours that open towards the biting edge (so the edge is
    scalloped, not one straight band), a slightly grey, translucent biting edge, dimmer towards the mouth
    corners. White on any skin (``light`` only half counts: it is the skin's lightness as much as the
    scene's). ``grey``: their brightest part's grey level instead (sRGB 0-1, at most TEETH_MAX_GREY), in the
    hue ``tint`` (3,) (``mouth_tint``)."""
    gy, gx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    centre, half = float(arc[:, 0].mean()), max(float(np.ptp(arc[:, 0])) / 2, 1.0)
    u = np.abs(gx - centre) / half
    edges = np.array([0.0, 0.3, 0.52, 0.69, 0.82, 0.92, 1.0])  # the side teeth turn away: narrower
    k = np.clip(np.searchsorted(edges, u) - 1, 0, len(edges) - 2)
    width = edges[k + 1] - edges[k]
    frac = np.clip((u - edges[k]) / width, 0, 1)  # across one tooth, 0..1
    order = np.argsort(arc[:, 0])
    line = np.interp(gx[0], arc[order, 0], arc[order, 1])[None, :]
    v = np.clip(((gy - line) if down else (line - gy)) / max(depth, 1.0), 0, 1)  # 0 at the lip, 1 at the edge
    across = 1.0 - 0.05 * (2 * frac - 1) ** 2
    to_gap = np.minimum(frac, 1 - frac) * width * half  # px to the nearest gap
    gap = np.exp(-(to_gap / (max(0.003 * half, 0.4) * (1 + 3 * v ** 4))) ** 2)  # opens towards the edge
    shade = np.clip(1 - 0.6 * u ** 3, 0.15, 1) * across * (1 - TEETH_GAP * gap) * (1 - 0.1 * v ** 4) * \
        (1 - 0.12 * np.exp(-v / 0.15))  # the lip's shadow along the top
    colour = TEETH_COLOUR[None, None] * (1 - 0.25 * v[..., None] ** 6) + \
        np.array([0.0, 0.02, 0.05], np.float32)[None, None] * v[..., None] ** 6  # the edge: greyer, bluish
    if grey is None:
        return (colour * min(0.55 + 0.45 * light, 1.0) * shade[..., None]).astype(np.float32)
    # read teeth: at their grey, tinted like the lips and skin round them (a dim neutral grey beside pink lips
    # read as green)
    level = float(np.clip(grey, TEETH_MIN_GREY, TEETH_MAX_GREY)) / float(TEETH_COLOUR @ _LUMA)
    tint = np.ones(3, np.float32) if tint is None else tint
    return (colour * tint * level * shade[..., None]).astype(np.float32)


def edge_chains(edges: frozenset) -> list[np.ndarray]:
    """The open paths (point indices in order, from an end) that a set of MediaPipe edges forms."""
    adj = adjacency(edges)
    seen: set[int] = set()
    chains = []
    for start in sorted(n for n, near in adj.items() if len(near) == 1):
        if start in seen:
            continue
        chain = [start]
        seen.add(start)
        while nxt := [n for n in adj[chain[-1]] if n not in seen]:
            chain.append(nxt[0])
            seen.add(nxt[0])
        chains.append(np.array(chain))
    return chains


@lru_cache(maxsize=1)
def brow_indices() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Both brows as (upper, lower) edges, each ordered from the tail (outer end) to the head (inner end),
    read on the layout's frontal mean shape."""
    from .uv import default_layout

    uv = default_layout().uv
    mid = float(uv[168, 0])  # between the eyes
    brows = []
    for edges in (_fm.FACEMESH_LEFT_EYEBROW, _fm.FACEMESH_RIGHT_EYEBROW):
        a, b = (c if abs(uv[c[0], 0] - mid) > abs(uv[c[-1], 0] - mid) else c[::-1] for c in edge_chains(edges))
        brows.append((a, b) if uv[a, 1].mean() < uv[b, 1].mean() else (b, a))
    return tuple(brows)


def brow_top() -> float:
    """Texture row (0 top, 1 bottom) of the highest brow landmark in the layout."""
    from .uv import default_layout

    return float(min(default_layout().uv[upper, 1].min() for upper, _ in brow_indices()))


@lru_cache(maxsize=4)
def glabella_zone(res: int) -> np.ndarray:
    """(res, res) float32 weights in texture space: 1 over the middle of the forehead, from its top
    down to the nose's bridge (landmark 168) and between the inner ends of the brows, fading out over a few
    texels; 0 elsewhere (``texture.calm_albedo`` fills the albedo there from the skin around)."""
    from .uv import default_layout

    uv = default_layout().uv
    inner = [uv[np.r_[upper, lower]][np.argmin(np.abs(uv[np.r_[upper, lower], 0] - uv[168, 0])), 0]
             for upper, lower in brow_indices()]
    half = 0.9 * float(np.mean(np.abs(np.array(inner) - uv[168, 0])))
    u = (np.arange(res, dtype=np.float32) + 0.5) / res
    soft = 0.05
    across = np.clip((half - np.abs(u - uv[168, 0])) / soft + 0.5, 0, 1)
    down = np.clip((float(uv[168, 1]) - u) / soft + 0.5, 0, 1)
    return (down[:, None] * across[None, :]).astype(np.float32)


def _along(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t), 2) positions at arc-length fractions ``t`` along the (N, 2) polyline."""
    s = arc_fractions(points)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], 1)


def brow_strokes(rng: np.random.Generator, count: int = 260) -> np.ndarray:
    """(count, 5) hairs of a brow in its own frame: t (0 tail .. 1 head), s (-1 lower .. 1 upper edge),
    angle (radians, against the brow's direction towards the tail; 0 lies along it), length (share of the
    brow's local height), darkness (0..1). One set per track: the brows look the same on every frame."""
    t = rng.beta(1.3, 1.0, count)
    s = np.clip(rng.normal(0.0, 0.45, count), -1, 1)
    head = np.clip((t - 0.75) / 0.25, 0, 1)  # hairs at the inner end stand up, the others lie towards the tail
    angle = -(0.25 + 1.1 * head) + rng.normal(0, 0.12, count) - 0.15 * s
    length = rng.uniform(0.6, 1.1, count) * (1 - 0.3 * head)
    return np.stack([t, s, angle, length, rng.uniform(0.5, 1.0, count)], 1).astype(np.float32)


def brow_profile(t: np.ndarray) -> np.ndarray:
    """Height of the brow (share of the gap between its landmark edges) along it: thin tail, full body."""
    return 0.15 + 0.75 * np.clip(t / 0.6, 0, 1) ** 0.8


def brow_pixels(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(K, C) the pixels of an (H, W, C) image between the brow landmarks of the (478, 2+) ``points``."""
    mask = np.zeros(image.shape[:2], np.uint8)
    for upper, lower in brow_indices():
        cv2.fillPoly(mask, [np.round(points[np.r_[upper, lower[::-1]], :2]).astype(np.int32)], 1)
    return image[mask.astype(bool)]


def brow_darkness(image: np.ndarray, points: np.ndarray, skin_grey: float) -> float | None:
    """How much darker than the skin the region between the brow landmarks of an (H, W, 3) uint8 face with
    (478, 2+) ``points`` is: 1 - its mean grey / ``skin_grey`` (0-255), in [0, 1]; None when the brows are too
    small to read. One number, like the skin colour: nothing of the brows' shape."""
    pixels = brow_pixels(image, points)
    if len(pixels) < 12 or skin_grey <= 1.0:
        return None
    return float(np.clip(1.0 - float((pixels.astype(np.float32) @ _LUMA).mean()) / skin_grey, 0.0, 1.0))


BROW_HUE_RANGE = (0.6, 1.6)  # a channel of the brows' hue (colour over grey) is held within this


def brow_hue(image: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """(3,) the hue of the brow hairs of an (H, W, 3) uint8 face with (478, 2+) ``points``: the mean colour of
    the darker half of the brow region's pixels over its grey, each channel within BROW_HUE_RANGE; None when the
    brows are too small to read. One colour, like the lips': nothing of the brows' shape."""
    pixels = brow_pixels(image, points).astype(np.float32)
    if len(pixels) < 12:
        return None
    grey = pixels @ _LUMA
    hairs = pixels[grey <= np.median(grey)].mean(0)
    return np.clip(hairs / max(float(hairs @ _LUMA), 1.0), *BROW_HUE_RANGE).astype(np.float32)


def lid_darkness(image: np.ndarray, points: np.ndarray) -> float | None:
    """How dark the upper lid line of an (H, W, 3) uint8 face with (478, 2+) ``points`` is: 1 - the grey of a
    band along it (its darker third: lashes, eye make-up) / the grey of the lid skin above it (its lighter
    quarter, close to the lid: a man's low brows, 0.3 eye widths above a squint, had read as the lid and left his
    dark lashes at 0.10), averaged over both eyes, in [0, 1]; None when the eyes are too small to read (under 8 px
    wide). One number, like the brows' darkness: nothing of the eyes' shape. It is low for a soft,
    low-resolution face too, whose lashes blur into the lid."""
    lines, lids = [], []
    for eye in eye_indices():
        contour = points[eye.contour, :2]
        width = float(np.ptp(contour[:, 0]))
        if width < 8.0:
            return None
        up = _eye_arcs(contour)[0]
        box, origin = _box(np.concatenate([up, up - (0, 0.45 * width)]), image.shape[:2], 0.1 * width + 2)
        sub = image[box]
        if sub.shape[0] < 3 or sub.shape[1] < 3:
            return None
        band, above = np.zeros(sub.shape[:2], np.uint8), np.zeros(sub.shape[:2], np.uint8)
        for mask, lift, thick in ((band, 0.03, 0.08), (above, 0.18, 0.08)):
            cv2.polylines(mask, [np.round((up - origin - (0, lift * width)) * 16).astype(np.int32)], False, 1,
                          max(1, int(round(thick * width))), cv2.LINE_8, shift=4)
        if band.sum() < 4 or above.sum() < 4:
            return None
        grey = sub.astype(np.float32) @ _LUMA
        lines.append(float(np.percentile(grey[band > 0], 30)))
        lids.append(float(np.percentile(grey[above > 0], 75)))
    return float(np.clip(1.0 - np.mean(lines) / max(float(np.mean(lids)), 1.0), 0.0, 1.0))


def liner_strength(darkness: float | None) -> float:
    """``draw_eyes``' lash-line strength for an original whose lid line reads ``darkness`` (None: full)."""
    return 1.0 if darkness is None else float(np.clip(darkness / LID_FULL, LINER_MIN, 1.0))


def brow_hairs(strokes: np.ndarray) -> np.ndarray:
    """(K, 5) the track's hairs with a second, mirrored set over the brow's body (every other hair of it, past
    the tail's first quarter), derived from the first and so as stable: a fuller brow with the same draws."""
    twin = strokes.copy()
    twin[:, 0] = np.clip(strokes[:, 0] + 0.022 * np.sin(17.0 * strokes[:, 1] + 3.0 * strokes[:, 0]), 0, 1)
    twin[:, 1] = np.clip(-0.8 * strokes[:, 1] + 0.1 * np.cos(29.0 * strokes[:, 0]), -1, 1)
    twin[:, 4] = 1.5 - strokes[:, 4]
    return np.concatenate([strokes, twin[(twin[:, 0] > 0.25) & (np.arange(len(twin)) % 2 == 0)]])


def draw_brows(image: np.ndarray, points: np.ndarray, strokes: np.ndarray, colour: np.ndarray,
               density: float = 0.75, darkness: float | None = None) -> None:
    """Both brows of the NEW geometry into the (H, W, 3) image, in place: the track's hairs (``strokes`` from
    ``brow_strokes``, filled out by ``brow_hairs``) laid out between the brow landmarks in ``colour`` (sRGB),
    thin (BROW_HAIR x the brow's height), their cover adding up where they cross (1 - exp(-BROW_GAIN x the
    hairs)), over a faint tint (BROW_TINT). Thick hairs drawn over one another and a strong tint made a solid
    painted bar. With ``darkness`` (``brow_darkness`` of the original) under FAINT_BROWS, each brow is drawn
    lighter where it would darken its region more than that (to BROW_MIN of its own darkness at the least),
    never darker."""
    # smooth: a reading near the bounds does not flicker
    faint_from, faint_to = FAINT_BROWS
    faint = 1.0 if darkness is None else float(smoothstep((faint_to - darkness) / (faint_to - faint_from)))
    strokes = brow_hairs(strokes)
    for upper, lower in brow_indices():
        top, bottom = points[upper, :2], points[lower, :2]
        pad = float(np.linalg.norm(top - bottom, axis=1).max()) + 2
        box, origin = _box(np.concatenate([top, bottom]), image.shape[:2], pad)
        sub = image[box]
        if sub.shape[0] < 3 or sub.shape[1] < 3:
            continue
        t, s = strokes[:, 0], strokes[:, 1]
        lo, hi = _along(bottom - origin, t), _along(top - origin, t)
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * brow_profile(t)[:, None]
        along = _along(bottom - origin, np.clip(t - 0.02, 0, 1)) - _along(bottom - origin, np.clip(t + 0.02, 0, 1))
        along /= np.maximum(np.linalg.norm(along, axis=1, keepdims=True), 1e-6)  # towards the tail
        up = (hi - lo) / np.maximum(np.linalg.norm(hi - lo, axis=1, keepdims=True), 1e-6)
        ang = strokes[:, 2:3]
        reach = (along * np.cos(ang) - up * np.sin(ang)) * strokes[:, 3:4] * np.linalg.norm(half, axis=1)[:, None]
        centre = mid + half * s[:, None]
        height = 2 * float(np.median(np.linalg.norm(half, axis=1)))
        width = max(1, int(round(BROW_HAIR * height)))
        ends = np.round(np.stack([centre - reach, centre + reach], 1) * 16).astype(np.int32)  # 4 fractional bits
        level = np.minimum((strokes[:, 4] * HAIR_LEVELS).astype(int), HAIR_LEVELS - 1)
        hair, layer = np.zeros(sub.shape[:2], np.float32), np.zeros(sub.shape[:2], np.float32)
        for q in np.unique(level):  # one call per darkness level, not one per hair; the levels add up
            layer[:] = 0.0
            cv2.polylines(layer, list(ends[level == q]), False, (q + 0.5) / HAIR_LEVELS, width, cv2.LINE_AA, shift=4)
            hair += layer
        ts = np.linspace(0, 1, 24)
        lo, hi = _along(bottom - origin, ts), _along(top - origin, ts)
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * brow_profile(ts)[:, None]
        shape = _soft_polygon(sub.shape[:2], np.concatenate([mid - half, (mid + half)[::-1]]))
        shape = cv2.GaussianBlur(shape, (0, 0), max(0.5, 0.2 * height))
        hair = cv2.GaussianBlur(hair, (0, 0), max(0.4, 0.015 * height))  # no single-pixel lines to shimmer
        alpha = np.clip(BROW_TINT * shape + (1.0 - np.exp(-BROW_GAIN * density * hair)) * (0.5 + 0.5 * shape), 0, 0.9)
        inside = shape > 0.5
        if darkness is not None and faint > 0.0 and inside.any():
            under = np.maximum(sub[inside] @ _LUMA, 1e-3)
            drawn = float((alpha[inside] * (1.0 - float(colour @ _LUMA) / under)).mean())
            if drawn > 0.0:
                alpha *= 1.0 - faint * (1.0 - float(np.clip(darkness / drawn, BROW_MIN, 1.0)))
        _over(sub, colour, alpha)


def _split_loop(loop: np.ndarray, upper_point: int) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) arcs of a lip loop, each from its left corner (in the layout) to its right one."""
    from .uv import default_layout

    uv = default_layout().uv[loop]
    a, b = int(np.argmin(uv[:, 0])), int(np.argmax(uv[:, 0]))
    rolled = np.roll(loop, -a)
    k = (b - a) % len(loop)
    first, second = rolled[:k + 1], np.r_[rolled[k:], rolled[:1]][::-1]
    return (first, second) if upper_point in first else (second, first)


@lru_cache(maxsize=1)
def lip_polygons() -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) lip outlines (point indices in order: outer arc, then inner arc back)."""
    from .uv import default_layout, edge_loops

    uv = default_layout().uv
    outer = max(edge_loops(_fm.FACEMESH_LIPS), key=lambda loop: float(np.ptp(uv[loop, 1])))
    out_up, out_low = _split_loop(outer, 0)
    in_up, in_low = _split_loop(default_layout().mouth, UPPER_INNER_LIP)
    return np.r_[out_up, in_up[::-1]], np.r_[out_low, in_low[::-1]]


def lip_tint(rng: np.random.Generator) -> np.ndarray:
    """(3,) a track's lip colour as a factor on the skin's sRGB (redder and a little darker)."""
    return np.array([rng.uniform(0.9, 0.98), rng.uniform(0.7, 0.8), rng.uniform(0.72, 0.82)], np.float32)


def lip_volume(mask: np.ndarray, sigma: float) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how far inside a lip's (H, W) soft ``mask`` a pixel lies (the square root of
    its distance to the edge over the largest, blurred by ``sigma``): 0 at the lip's edge, 1 on its ridge."""
    inside = (mask > 0.5).astype(np.uint8)
    if not inside.any():
        return np.zeros_like(mask)
    d = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    return cv2.GaussianBlur(np.sqrt(d / max(float(d.max()), 1e-6)), (0, 0), sigma)


def draw_lips(image: np.ndarray, points: np.ndarray, tint: np.ndarray, size: float) -> None:
    """Tint the lips of the NEW geometry in the (H, W, 3) image, in place: the upper lip darker (it faces
    down), each lip rounded (LIP_VOLUME darker at its edge than on its ridge), the lower lip with a soft highlight
    and a sheen (LIP_SHEEN) on its ridge and a shadow under it on the chin (LIP_SHADOW); the edges a little soft.
    Flat tints read as lips painted on."""
    upper, lower = lip_polygons()
    pts = points[:, :2]
    thick = max(float(np.ptp(pts[lower, 1])), 2.0)
    box, origin = _box(pts[np.r_[upper, lower]], image.shape[:2], 0.02 * size + 2 + 0.8 * thick)
    sub = image[box]
    if sub.shape[0] < 3 or sub.shape[1] < 3:
        return
    sigma = max(0.5, 0.004 * size)
    top = cv2.GaussianBlur(_soft_polygon(sub.shape[:2], pts[upper] - origin), (0, 0), sigma)
    bottom = cv2.GaussianBlur(_soft_polygon(sub.shape[:2], pts[lower] - origin), (0, 0), sigma)
    gy, gx = np.mgrid[0:sub.shape[0], 0:sub.shape[1]].astype(np.float32)
    c = pts[lower].mean(0) - origin
    spread = max(float(np.ptp(pts[lower, 0])), 1.0)
    shine = np.exp(-(((gx - c[0]) / (0.2 * spread)) ** 2 + ((gy - c[1] + 0.12 * thick) / (0.12 * thick + 1)) ** 2))
    below = cv2.warpAffine(bottom, np.float32([[1, 0, 0], [0, 1, 0.35 * thick]]), (sub.shape[1], sub.shape[0]))
    below = cv2.GaussianBlur(below, (0, 0), max(1.0, 0.25 * thick)) * (1 - np.maximum(top, bottom))
    ridge = lip_volume(bottom, max(0.5, 0.1 * thick)) * bottom
    ridge_top = lip_volume(top, max(0.5, 0.1 * thick)) * top
    round_top = 1 - 0.5 * LIP_VOLUME + 0.5 * LIP_VOLUME * ridge_top
    round_bottom = 1 - LIP_VOLUME + LIP_VOLUME * ridge + 0.12 * shine
    for shade, lip in ((round_top, top), (round_bottom, bottom)):  # the rounding keeps each lip's mean colour
        shade /= max(float((shade * lip).sum() / max(float(lip.sum()), 1e-6)), 1e-3)
    factor = 1 + top[..., None] * (tint * 0.86 * round_top[..., None] - 1) \
        + bottom[..., None] * (tint * round_bottom[..., None] - 1)
    sub *= factor * (1 - LIP_SHADOW * below)[..., None]
    lit = bottom > 0.5
    if lit.any():  # the sheen at the lip's own brightness (none on a dark, dim mouth)
        level = float(np.clip(sub[lit].mean() * 1.5, 0.2, 1.0))
        sub += (LIP_SHEEN * level * shine * ridge)[..., None] * np.array([1.0, 0.97, 0.95], np.float32)


# Nostrils, per side: (centre points, the lateral end, the medial end, the upper edge, the lower edge) of the
# mesh's nostril vertices (MediaPipe has no index table for them; mirror pairs 238/458, 79/309, ...).
NOSTRILS = (((238, 241, 20), 79, 125, 239, 60), ((458, 461, 250), 309, 354, 459, 290))
NOSE_TIP = 1
# the deepest point, as a factor on the skin there (0.45 0.30 0.27 drew a black hole)
NOSTRIL_COLOUR = np.array([0.58, 0.43, 0.40], np.float32)
# the nose wing's groove, per side, from the top of the wing round its back to the lip (mirror pairs)
ALAR_GROOVES = ((218, 219, 235, 240), (438, 439, 455, 460))


def draw_nose(image: np.ndarray, points: np.ndarray, size: float) -> None:
    """Nostrils and the grooves round the nose wings of the NEW geometry, darkening the (H, W, 3) image in
    place. Each nostril is a soft ellipse from its lateral to its medial end whose height follows its upper and
    lower vertices (it flattens when the head tips down), fading on the side the nose turns towards (hidden
    behind the tip). The render's shading has no such holes: without them the nose was a smooth bump."""
    pts = points[:, :2].astype(np.float64)
    tip = pts[NOSE_TIP]
    width = float(np.linalg.norm(pts[ALAR_GROOVES[0][2]] - pts[ALAR_GROOVES[1][2]]))
    if width < 6.0:
        return
    middle = np.mean([pts[list(idx)].mean(0)[0] for idx, *_ in NOSTRILS])
    for (centre_idx, lateral, medial, top, bottom), groove in zip(NOSTRILS, ALAR_GROOVES):
        centre = 0.8 * pts[list(centre_idx)].mean(0) + 0.2 * pts[lateral]  # the vertices lie medially
        axis = pts[medial] - pts[lateral]
        length = float(np.linalg.norm(axis))
        if length < 1.0:
            continue
        axis /= length
        normal = np.array([-axis[1], axis[0]])
        height = abs(float((pts[bottom] - pts[top]) @ normal))
        side = np.sign(centre[0] - middle)  # +1: the nostril on the image's right
        turn = (tip[0] - pts[[234, 454], 0].mean()) / max(np.ptp(pts[[234, 454], 0]) / 2, 1.0)
        seen = float(np.clip(1.0 - max(0.0, side * turn) / 0.45, 0.0, 1.0))
        a = 0.55 * length
        b = max(0.5 * height, 0.4 * a) * min(1.0, 2.5 * height / a)  # flat when the head tips down
        if seen <= 0.0 or b < 0.4:
            continue
        box, origin = _box(np.concatenate([pts[list(groove)], centre[None] + a * 1.5, centre[None] - a * 1.5]),
                           image.shape[:2], 0.04 * width + 2)
        sub = image[box]
        if sub.shape[0] < 3 or sub.shape[1] < 3:
            continue
        gy, gx = np.mgrid[0:sub.shape[0], 0:sub.shape[1]].astype(np.float32)
        d = np.stack([gx + origin[0] - centre[0], gy + origin[1] - centre[1]], -1)
        u, v = d @ axis.astype(np.float32), d @ normal.astype(np.float32)
        u = u - 0.15 * a * (1 - (v / max(b, 1e-3)) ** 2)  # a tear drop: rounder at the medial end
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        hole = np.clip(1.6 * (1 - r), 0, 1) ** 0.6 * seen  # soft rim, deep core
        depth = hole[..., None] * (1 - NOSTRIL_COLOUR)
        sub *= 1 - np.clip(depth, 0, 1)
        line = np.zeros(sub.shape[:2], np.float32)
        cv2.polylines(line, [np.round((pts[list(groove)] - origin) * 16).astype(np.int32)], False, 1.0,
                      max(1, round(0.03 * width)), cv2.LINE_AA, shift=4)
        line = cv2.GaussianBlur(line, (0, 0), max(0.6, 0.03 * width))
        sub *= (1 - 0.18 * np.clip(line * 1.5, 0, 1) * (0.5 + 0.5 * seen))[..., None]
