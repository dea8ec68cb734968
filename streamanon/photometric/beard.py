"""Stubble and beard: how much darker the original's beard area is than its upper cheeks (one number, like the
skin colour: no outline or texture of the person's beard is kept), and the track's own stubble drawn there on
the new face. Without it a bearded head got a clean-shaven face inside its own beard."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# mesh points (MediaPipe indices) that place the beard area in the UV layout
SUBNASALE, NOSE_TIP, LIP_TOP, MOUTH_CORNERS, EYE_BOTTOMS, CHEEK_SIDES = 2, 1, 0, (61, 291), (145, 374), (234, 454)
LIP_BOTTOM = 17
SOFT = 0.06  # width (texture units) of the beard area's soft upper edge
# hair grows densest on the upper lip and the chin: there a beard is drawn at full density, on the cheeks and the
# jaw's sides at CHEEK_DENSITY of it (an even shadow over the whole lower face read as dirt, and a bare upper lip
# inside a full beard as a missing moustache)
CHEEK_DENSITY = 0.45
DRAW_TOP = 0.15  # ``beard_zone``'s top for drawing
DENSE_WIDTH = 1.25  # the moustache and the chin's dense part reach this many mouth half-widths from the middle
# share of the original's darkness drawn as hairs even when the render is already that dark (the area is then lifted
# so that it is no darker than the original's on average: a darker lower face read as light from above)
SHOW = 0.7
# ... for a beard read this dark (the second) or more; none under the first (a shadowed jaw and a soft texture gate
# drew stubble on a woman's chin)
SHOW_FROM = (0.1, 0.25)
WEAK_FLOOR = 0.5  # under a weak reading's hairs, this much more of the even shadow (0.1 + this under no hair)
MAX_BEARD = 0.6  # the most the beard area is darkened (a full dark beard)
GATE = (1.6, 3.5)  # beard-area texture / cheek texture: below the first no hair, above the second surely hair
TEXTURE_SIDE = 320  # face size in px at which the texture gate looks (stubble is a few px at this size)
HAIR = 0.22  # the stubble hairs' colour, as a factor on the skin under them, when the original's is not read
HAIR_SHARE = 0.3  # the darkest share of the original's beard-area pixels is taken as its hairs
HAIR_RANGE = (0.1, 0.8)  # the read hair colour, per channel (a blond beard: light; a black one: near black)


@lru_cache(maxsize=1)
def _landmarks() -> dict[str, float]:
    from .uv import default_layout

    uv = default_layout().uv
    left, right = uv[MOUTH_CORNERS[0]], uv[MOUTH_CORNERS[1]]
    return {"centre": float((left[0] + right[0]) / 2), "mouth": float(abs(right[0] - left[0]) / 2),
            "face": float(abs(uv[CHEEK_SIDES[1], 0] - uv[CHEEK_SIDES[0], 0]) / 2),
            "sub": float(uv[SUBNASALE, 1]), "lip": float(uv[LIP_TOP, 1]), "tip": float(uv[NOSE_TIP, 1]),
            "lower": float(uv[LIP_BOTTOM, 1]),
            "eye": float(uv[list(EYE_BOTTOMS), 1].mean())}


def beard_zone(uv: np.ndarray, top: float = 0.3) -> np.ndarray:
    """(...,) weight in [0, 1] of texture coordinates (..., 2) in the beard area: the upper lip below the nose,
    the chin and the jaw, and the cheeks up to a line that rises from the mouth corners towards the sideburns
    (between the eyes' and the nose tip's height at the face's sides). ``top``: where on the upper lip (0 under
    the nose, 1 at the lip) the area's soft upper edge starts: the measured area leaves the nose's shadow out,
    the drawn one (DRAW_TOP) reaches higher, as a moustache does."""
    k = _landmarks()
    u, v = uv[..., 0], uv[..., 1]
    t = np.clip((np.abs(u - k["centre"]) - 1.1 * k["mouth"]) / max(k["face"] - 1.1 * k["mouth"], 1e-3), 0, 1)
    start = k["sub"] + top * (k["lip"] - k["sub"])
    line = start + t * (k["tip"] - start)
    return np.clip((v - line) / SOFT, 0, 1) * (u >= 0)


def beard_density(uv: np.ndarray) -> np.ndarray:
    """(...,) relative hair density in [CHEEK_DENSITY, 1] at texture coordinates (..., 2): 1 on the upper lip
    (from just under the nose) and on the chin below the lower lip, within DENSE_WIDTH mouth half-widths of the
    middle; CHEEK_DENSITY on the cheeks and the jaw's sides; soft in between."""
    k = _landmarks()
    u, v = uv[..., 0], uv[..., 1]
    across = np.clip((DENSE_WIDTH * k["mouth"] - np.abs(u - k["centre"])) / (0.5 * k["mouth"]) + 0.5, 0, 1)
    moustache = np.clip((v - k["sub"]) / SOFT * 2, 0, 1) * np.clip((k["lip"] + SOFT - v) / SOFT, 0, 1)
    chin = np.clip((v - k["lower"]) / SOFT + 0.5, 0, 1)
    dense = across * np.maximum(moustache, chin)
    return CHEEK_DENSITY + (1.0 - CHEEK_DENSITY) * dense


def cheek_zone(uv: np.ndarray, beard: np.ndarray | None = None) -> np.ndarray:
    """(...,) bool: the upper cheeks (between the eyes' and the nose tip's height, beside the nose), the beard
    area's reference. ``beard``: ``beard_zone(uv)`` when the caller has it."""
    k = _landmarks()
    u, v = uv[..., 0], uv[..., 1]
    beard = beard_zone(uv) if beard is None else beard
    return (v > k["eye"] + 0.02) & (v < k["tip"]) & (np.abs(u - k["centre"]) > 0.6 * k["mouth"]) & \
        (beard == 0) & (u >= 0)


def areas(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(beard, cheeks) bool masks of texture coordinates (..., 2): the measured beard area (``beard_zone`` over
    0.7) and its reference, the upper cheeks."""
    zone = beard_zone(uv)
    return zone > 0.7, cheek_zone(uv, zone)


def beard_darkness(luma: np.ndarray, uv: np.ndarray) -> float:
    """How much darker the beard area is than the upper cheeks in the image, from (K,) luminance at (K, 2)
    texture coordinates: 1 - mean(beard) / mean(cheeks), clipped to [0, MAX_BEARD]; 0 when either area has
    too few pixels. Light from above darkens a shaven chin too: ``draw_beard`` adds only what the render
    lacks of it."""
    beard, cheeks = areas(uv)
    if beard.sum() < 20 or cheeks.sum() < 20:
        return 0.0
    ratio = float(np.mean(luma[beard])) / max(float(np.mean(luma[cheeks])), 1e-6)
    return float(np.clip(1.0 - ratio, 0.0, MAX_BEARD))


def hair_colour(colours: np.ndarray, uv: np.ndarray) -> np.ndarray | None:
    """(3,) the colour of the beard's hairs as a factor on the cheeks' colour, per channel, from (K, 3) sRGB
    ``colours`` at (K, 2) texture coordinates ``uv``: the mean of the darkest HAIR_SHARE of the beard area's
    pixels over the cheeks' mean, clipped to HAIR_RANGE (one colour, like the skin's: no beard outline is
    kept); None when either area has too few pixels. A blond beard drawn black read as dirt."""
    beard, cheeks = areas(uv)
    if beard.sum() < 20 or cheeks.sum() < 20:
        return None
    area = colours[beard].astype(np.float32)
    grey = area.mean(-1)
    hairs = area[grey <= np.quantile(grey, HAIR_SHARE)]
    ref = np.maximum(colours[cheeks].astype(np.float32).mean(0), 1.0)
    return np.clip(hairs.mean(0) / ref, *HAIR_RANGE).astype(np.float32)


def zone_masks(uv: np.ndarray, pixels: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(beard, cheeks) (H, W) uint8 masks of an image of ``shape`` whose flat ``pixels`` have the (K, 2)
    texture coordinates ``uv``."""
    beard, cheeks = np.zeros(shape[0] * shape[1], np.uint8), np.zeros(shape[0] * shape[1], np.uint8)
    inside, upper = areas(uv)
    beard[pixels[inside]] = 1
    cheeks[pixels[upper]] = 1
    return beard.reshape(shape), cheeks.reshape(shape)


def texture_gate(grey: np.ndarray, beard: np.ndarray, cheeks: np.ndarray) -> float:
    """How surely the beard area's darkness is hair, in [0, 1], from an (H, W) grey face (the face about 300 px)
    and its (beard, cheeks) masks at that size: hair has several times the fine texture (a robust variance of
    the Laplacian) of the cheeks; a darker but smooth lower face is shadow or make-up."""
    from .grain import grey_texture_variance

    if beard.sum() < 20 or cheeks.sum() < 20:
        return 0.0
    ratio = grey_texture_variance(grey, beard) / max(grey_texture_variance(grey, cheeks), 1e-3)
    return float(np.clip((ratio - GATE[0]) / (GATE[1] - GATE[0]), 0.0, 1.0))


def stubble(white: np.ndarray) -> np.ndarray:
    """(R, R) float32 in [0, 1]: the track's stubble, short hairs along the face's vertical (v) axis made from
    its own (R, R) white noise texture: about a third of the skin holds a hair (nothing of any person's beard).
    Made from the skin texture's upper tail they were sparse dots on smooth skin, and looked drawn."""
    strokes = cv2.GaussianBlur(white, (0, 0), sigmaX=0.6, sigmaY=1.8)
    strokes /= max(float(strokes.std()), 1e-6)
    return np.clip((strokes - 0.45) / 1.5, 0.0, 1.0).astype(np.float32)


def draw_beard(image: np.ndarray, uv: np.ndarray, hairs: np.ndarray, darkness: float, keep: np.ndarray,
               colour: np.ndarray | None = None) -> None:
    """Darken the beard area of the (H, W, 3) float image in place towards the hair colour: a shadow of the
    skin plus the track's ``hairs`` (a UV texture from ``stubble``), at the (H, W, 2) texture coordinates ``uv``
    (-1 outside the face), scaled so that the area comes out ``darkness`` darker than the upper cheeks on
    average (what the render's own shading already gives counts; at least SHOW x ``darkness`` is drawn, so that
    the hairs show). ``keep`` (H, W) float in [0, 1]: where nothing is drawn (the lips). ``colour``: (3,) the
    hairs' colour as a factor on the skin under them (``hair_colour``; None: HAIR)."""
    if darkness <= 0.0:
        return
    area = beard_zone(uv, DRAW_TOP)
    zone = area * (1.0 - keep)
    if not zone.any():
        return
    res = hairs.shape[0]
    maps = uv * res - 0.5
    dots = cv2.remap(hairs, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # a clear beard: distinct hairs, densest on the upper lip and chin; a weak reading (stubble, or a shadow the
    # gate let through): an even, faint shadow with the hairs barely told apart (distinct hairs drew stubble on
    # women whose hair fell by the jaw)
    clear = float(np.clip((darkness - SHOW_FROM[0]) / (SHOW_FROM[1] - SHOW_FROM[0]), 0.0, 1.0))
    floor = 0.1 + WEAK_FLOOR * (1.0 - clear)
    cover = (floor + (1.0 - floor) * dots) * (1.0 - clear * (1.0 - beard_density(uv)))
    inside, cheeks = zone > 0.7, cheek_zone(uv, beard_zone(uv))
    mean = float(cover[inside].mean()) if inside.any() else 0.5
    luma = image.mean(-1)
    need = darkness
    if inside.any() and cheeks.any():  # what the render already has of it
        need = 1.0 - (1.0 - darkness) * float(luma[cheeks].mean()) / max(float(luma[inside].mean()), 1e-6)
    show = SHOW * clear
    amount = float(np.clip(need, show * darkness, MAX_BEARD))
    hair = np.full(3, HAIR, np.float32) if colour is None else np.asarray(colour, np.float32)
    depth = max(1.0 - float(hair.mean()), 0.15)  # how much a hair darkens the skin under it
    alpha = np.clip(zone * cover * amount / (depth * mean), 0.0, 0.95)[..., None]
    image *= 1.0 - alpha * (1.0 - hair)
    if inside.any() and cheeks.any() and amount > max(need, 0.0):  # hairs for the render's shadow: the area is
        ratio = float(image[inside].mean()) / max(float(image[cheeks].mean()), 1e-6)  # lifted to the original's
        gain = (1.0 - darkness) / max(ratio, 1e-6)
        if gain > 1.0:
            image *= (1.0 + (min(gain, 1.0 + MAX_BEARD) - 1.0) * zone)[..., None]
