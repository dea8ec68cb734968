"""The generated-face method: each track is a face of nobody, swapped into the frame face by face.

Default (``variant="mesh"``): a textured mesh. Per track, once: an identity-swapped landmark geometry
(streamanon.faces.shape) and an albedo texture sampled from the PCA model in engines/texture_model.npz, both
drawn from ``seed`` and the track id, kept for the track's life. Per face and frame: the photometric stages of
streamanon.photometric.stages (the original's SH lighting rendered on the new geometry's normals at the
face's own resolution, skin colour, grain, temporal smoothing, Laplacian blend, the refinement generator's
correction). The older 128 px ONNX
generator stays as ``variant="dense"`` / ``"sparse"`` (all faces of a frame in one batch).

Faces without a mesh (too small, coasting) are blurred instead: they are covered either way. A face whose
stages fail is blurred too and counted as a fallback (fail closed).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .faces.align import align_matrix, transform, warp_crop
from .faces.landmarks import FACE_OVAL
from .faces.shape import ShapeModel
from .faces.sketch import crop_mask, render_sketch, render_sparse
from .masks import region_of
from .methods import blur, solid
from .models.engine import ENGINES_DIR, Engine, load_engine, verified_model
from .photometric.blend import feather, laplacian_blend
from .photometric.features import (
    Look,
    brow_top,
    eye_frame,
    eye_indices,
    glabella_zone,
    lip_polygons,
    mouth_arcs,
    random_look,
)
from .photometric.grain import marks_texture, noise_texture
from .photometric.mesh import inter_ocular
from .photometric.stages import FaceRenderer, PhotometricSettings
from .photometric.temporal import steady_points
from .photometric.texture import TextureModel, calm_albedo
from .ramps import smoothstep
from .types import Faces

log = logging.getLogger(__name__)

CROP = 128
# moves of the new geometry's points under this share of the face are partly held back (steady_points); at
# 0.015 the adult identities' dlib descriptors spread 0.143-0.150 along hdtf_WDA_BobMenendez_000 (3 seeds; the
# person's own 0.141), at 0.025 0.139-0.141
TARGET_JITTER = 0.025
# frames a track's estimate of its person's own identity averages over (TrackIdentity.own_identity)
OWN_MEMORY = 150
EXPRESSION_POINTS = np.r_[0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
                          267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
                          33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
                          263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
                          46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 276, 283, 282, 295, 285, 300, 293, 334, 296, 336,
                          468, 469, 470, 471, 472, 473, 474, 475, 476, 477]


# the mesh variant: share of the identity change the lips, eyes and brows take. At 0.4 with identities drawn
# from the whole population (children too) NME was 0.0323 on the 68 CelebA-HQ faces; with the adult prior and
# the outline held (OUTLINE_WEIGHT) NME fell to 0.0191 and rank-1 rose to 5.9%; at 0.6: NME 0.0230, rank-1 2.9%.
# With skin marks and grain (2026-12-03) rank-1 was 5.9% at 0.6 (its ten closest faces, three seeds: 7 of 30 still
# nearest to their own original); at 0.8: 3 of 30, and on all 68 NME 0.0266, rank-1 4.4%. With the tamed light
# and the skin colour read from skin (abf647c) rank-1 was 5.9/5.9/7.4% over seeds 0-2 at 0.8; at 1.0 it is
# 4.4/2.9/2.9%, NME 0.0305-0.032 (bound 0.035)
MESH_EXPRESSION_WEIGHT = 1.0


# the new geometry's outline stays this close to the face's own (share of the identity swap's change at the
# face oval), rising smoothly to the full change OUTLINE_REACH x the face size inside it
OUTLINE_WEIGHT = 0.25
OUTLINE_REACH = 0.2


def outline_weights(mean: np.ndarray) -> np.ndarray:
    """(N,) share of the identity swap's change per point of the (N, 2) mean face: OUTLINE_WEIGHT on the face
    oval, 1 from OUTLINE_REACH x the face size inwards (smoothstep between)."""
    oval = mean[FACE_OVAL].astype(np.float32).reshape(-1, 1, 2)
    size = float(np.ptp(mean, axis=0).max())
    d = np.array([cv2.pointPolygonTest(oval, (float(x), float(y)), True) for x, y in mean])
    return (OUTLINE_WEIGHT + (1.0 - OUTLINE_WEIGHT) * smoothstep(d / (OUTLINE_REACH * size))).astype(np.float32)


@dataclass
class GenerateSettings:
    """variant: mesh (a textured mesh with the photometric stages), dense (the 128 px ONNX generator;
    identity-safe when ``swap`` is on), sparse (the ONNX generator on 7 keypoints).
    swap: replace the identity part of the landmark geometry (off = the plain dense ablation).
    expression_weight: how much of the identity change reaches the lips, eyes and brows (0 keeps their
    exact shape, 1 swaps their identity part too; default 0.4 for the mesh, 0.5 for the networks, each
    measured: docs/results.md). seed: the synthetic identities drawn per track.
    relight, colour, relief, grain, temporal, refine, hair, drawn_mouth: the mesh variant's stages (off: ablations;
    refine is the refinement generator, engines/refiner.onnx; hair, opt-in, keeps the original's fringe in front
    of the face: more realistic, easier to re-identify; relief shades the new face's hollows: less flat;
    drawn_mouth draws the mouth's interior instead of moving the original's teeth into the new opening).
    render_every: a track's face is rendered in full at least on every k-th frame and moved onto the frames
    between (streamanon.photometric.reuse; 1 renders every frame)."""

    variant: str = "mesh"
    swap: bool = True
    expression_weight: float | None = None
    seed: int = 0
    backend: str = "onnxruntime"
    relight: bool = True
    colour: bool = True
    relief: bool = True
    grain: bool = True
    temporal: bool = True
    refine: bool = True
    hair: bool = False
    drawn_mouth: bool = False
    render_every: int = 3

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown generator variant {self.variant!r}; available: {', '.join(VARIANTS)}")
        if self.expression_weight is None:
            self.expression_weight = MESH_EXPRESSION_WEIGHT if self.variant == "mesh" else 0.5
        if not 0.0 <= self.expression_weight <= 1.0:
            raise ValueError(f"expression_weight must be in [0, 1], got {self.expression_weight}")
        if self.seed < 0:
            raise ValueError(f"--seed must be 0 or more, got {self.seed}")
        self.photometric()  # checks the stage switches

    def photometric(self) -> PhotometricSettings:
        return PhotometricSettings(relight=self.relight, colour=self.colour, relief=self.relief, grain=self.grain,
                                   temporal=self.temporal, refine=self.refine, hair=self.hair,
                                   drawn_mouth=self.drawn_mouth, render_every=self.render_every)


VARIANTS = ("mesh", "dense", "sparse")


@dataclass
class TrackIdentity:
    """What a track keeps for its life: shape identity coordinates, and the mesh variant's albedo texture
    and grain (the ONNX variants' noise map instead)."""

    coords: np.ndarray
    noise: np.ndarray
    albedo: np.ndarray | None = None
    look: Look | None = None
    drawn: np.ndarray | None = None  # the last new geometry in frame pixels (steady_points)
    marks: np.ndarray | None = None  # the mesh variant's sparse skin marks
    own: np.ndarray | None = None  # the person's own identity coordinates, a running mean over the track
    seen: int = 0  # frames in that mean
    mouth: float | None = None  # the person's usual mouth width (``mouth_width``), a running mean over the track

    def own_identity(self, coords: np.ndarray) -> np.ndarray:
        """Add this frame's projection ``coords`` (k,) of the person's shape to the running mean, return it.
        One frame's projection also takes the part of its expression or pose that lies in the identity
        subspace: swapped away frame by frame, an "o" mouth came out as a wide grin and the drawn face's
        identity moved with the expression. The mean is the person; what a frame adds is expression."""
        self.seen += 1
        self.own = coords.copy() if self.own is None else self.own + self._rate() * (coords - self.own)
        return self.own

    def usual_mouth(self, width: float) -> float:
        """Add this frame's ``mouth_width`` to the track's running mean (at the rate of ``own_identity``, which
        counts the frames), return the mean: how wide this person's mouth usually is."""
        self.mouth = width if self.mouth is None else self.mouth + self._rate() * (width - self.mouth)
        return self.mouth

    def _rate(self) -> float:
        return max(1.0 / max(self.seen, 1), 1.0 / OWN_MEMORY)


@dataclass
class FramePlan:
    """A frame between ``FaceGenerator.prepare`` and ``finish``: its faces and track ids, the fallbacks so
    far, whether it starts a scene, and the prepared patches (index in ``faces``, FacePatch)."""

    faces: Faces
    live: set[int]
    fallbacks: int = 0
    cut: bool = False
    patches: list = field(default_factory=list)


# a rounded mouth ("o", a yawn: inner-lip gap over mouth width from ROUND[0] to ROUND[1]) takes less and less of the
# identity swap's change on and around the lips: a new identity's mouth shape added to an "o" pulled its corners
# out and up to the upper lip, and the opening became a wide slit with notched corners (lp_d18)
ROUND = (0.35, 0.7)
MOUTH_REACH = 0.6  # the held-back region fades out this share of the mouth width beyond the outer lip contour
# a pursed mouth (a kiss, a small "o": its width ``mouth_width`` over the person's usual one along the track, from
# PUCKER[0] down to PUCKER[1]) is held back too. Its gap is too small for ROUND, and the sampled identity's wider
# mouth added to it drew a wide slit where the person pouted (lp_d12's pouts: 0.62 of his usual width). Relative
# to the person: a child's mouth is narrow at rest (lp_d11: 0.40 of the eyes' width at the median, against 0.54 on
# CelebA-HQ), and held on every frame it kept her own mouth. A single image has no usual width: never held
PUCKER = (0.85, 0.7)


def mouth_falloff(mean: np.ndarray) -> np.ndarray:
    """(N,) 1 on and inside the outer lip contour of the (N, 2) mean face, fading (smoothstep) to 0 at
    MOUTH_REACH x the mouth width beyond it."""
    upper, lower = lip_polygons()
    outer = np.unique(np.r_[upper, lower])
    hull = cv2.convexHull(mean[outer].astype(np.float32))
    width = float(np.ptp(mean[outer, 0]))
    d = np.array([-cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in mean])
    return (1.0 - smoothstep(d / (MOUTH_REACH * width))).astype(np.float32)


def _corners(own: np.ndarray) -> float:
    """The inner mouth corners' distance in the (N, 2) ``own`` shape."""
    upper, _ = mouth_arcs()
    return float(np.linalg.norm(own[upper[-1]] - own[upper[0]]))


def mouth_width(own: np.ndarray) -> float:
    """The inner mouth corners' distance over the outer eye corners' in the (N, 2) ``own`` shape."""
    return _corners(own) / max(inter_ocular(own), 1e-6)


def pucker_hold(width: float, usual: float) -> float:
    """0 for a mouth ``width`` (``mouth_width``) near the person's ``usual`` one, rising to 1 for a pursed one
    (their ratio from PUCKER[0] down to PUCKER[1])."""
    return float(smoothstep((PUCKER[0] - width / max(usual, 1e-6)) / (PUCKER[0] - PUCKER[1])))


def roundness_hold(own: np.ndarray) -> float:
    """0 for a closed or smiling mouth of the (N, 2) ``own`` shape, rising to 1 for a rounded one (the gap
    between the inner lips' middles over the inner corners' distance, from ROUND[0] to ROUND[1])."""
    upper, lower = mouth_arcs()
    gap = float(np.linalg.norm(own[upper[len(upper) // 2]] - own[lower[len(lower) // 2]]))
    return float(smoothstep((gap / max(_corners(own), 1e-6) - ROUND[0]) / (ROUND[1] - ROUND[0])))


def keep_mouth_gap(own: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` (N, 2) with each pair of facing inner-lip points (upper, lower) apart as in ``own``, about
    the target's own middle of the pair. How far the mouth is open is expression, not identity: a sampled
    identity's lips alone crossed near the corners of a closed mouth and drew dark hooks there."""
    upper, lower = mouth_arcs()
    out = target.copy()
    middle = (target[upper] + target[lower]) / 2
    half = (own[lower] - own[upper]) / 2
    out[upper], out[lower] = middle - half, middle + half
    return out


def keep_gaze(own: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` (N, 2) with each iris (its centre and ring) moved to where ``own``'s lies in its eye, along
    the eye and across it as shares of the eye's width and height. Where the eyes look is expression: the
    identity swap reshapes the lids and moved the irises with them, and a man looking into the camera came out
    looking aside."""
    out = target.copy()
    for eye in eye_indices():
        mo, ao, no, wo, ho = eye_frame(own, eye.contour)
        mt, at, nt, wt, ht = eye_frame(target, eye.contour)
        d = own[eye.centre, :2] - mo
        centre = mt + (d @ ao) / wo * wt * at + (d @ no) / ho * ht * nt
        idx = np.r_[eye.centre, eye.ring]
        out[idx, :2] += centre - target[eye.centre, :2]
    return out


class FaceGenerator:
    """Stateful: the engine or texture model, the shape model and the identity drawn for each track."""

    def __init__(self, settings: GenerateSettings | None = None, engine: Engine | None = None,
                 mask_scale: float = 1.3):
        self.settings = s = settings or GenerateSettings()
        self.mask_scale = mask_scale  # --mask-scale, for the faces blurred from their box
        self.shape_model = ShapeModel.load(ENGINES_DIR / "shape_model.npz")
        self.weights = np.ones(478, np.float32)
        self.weights[EXPRESSION_POINTS] = s.expression_weight
        if s.variant == "mesh":
            self.weights = np.minimum(self.weights, outline_weights(self.shape_model.mean.reshape(-1, 2)))
        self.mouth = mouth_falloff(self.shape_model.mean.reshape(-1, 2))
        self._identity: dict[int, TrackIdentity] = {}
        self.engine, self.texture, self.renderer = engine, None, None
        if s.variant == "mesh":
            self.texture = TextureModel.load(verified_model("texture_model.npz"))
            model = np.c_[self.shape_model.mean.reshape(-1, 2), self.shape_model.depth]
            refiner = load_engine("refiner", s.backend, threads=1) if s.refine else None
            self.renderer = FaceRenderer(s.photometric(), model, self.texture.tone, refiner)
        elif engine is None:
            self.engine = load_engine("generator" if s.variant == "dense" else "generator_sparse", s.backend)

    def _track_latent(self, track_id: int, shape: np.ndarray) -> TrackIdentity:
        if track_id not in self._identity:
            rng = np.random.default_rng([self.settings.seed, track_id])
            own = self.shape_model.identity_coords(shape[None])[0]
            coords = self.shape_model.sample_identity(rng, avoid=own)
            if self.texture is None:
                noise = rng.standard_normal((1, CROP, CROP)).astype(np.float32)
                self._identity[track_id] = TrackIdentity(coords, noise)
            else:
                albedo = calm_albedo(self.texture.texture(self.texture.coefficients(rng)), brow_top(),
                                     zone=glabella_zone(self.texture.res))
                marks = marks_texture(np.random.default_rng([self.settings.seed, track_id, 1]))  # a stream of its
                self._identity[track_id] = TrackIdentity(coords, noise_texture(rng), albedo, random_look(rng),
                                                         marks=marks)  # own: the other draws stay as they were
        return self._identity[track_id]

    def forget(self, live_ids: set[int]) -> None:
        """Drop the identities of tracks that ended."""
        for tid in [t for t in self._identity if t not in live_ids]:
            del self._identity[tid]

    def new_geometry(self, landmarks: np.ndarray, track_id: int) -> tuple[np.ndarray, np.ndarray, TrackIdentity]:
        """(affine to the canonical crop, the (478, 2) new geometry in crop pixels, the track's identity)."""
        m = align_matrix(landmarks, CROP)
        own = transform(landmarks[:, :2], m)
        ident = self._track_latent(track_id, own / CROP)
        if not self.settings.swap:
            return m, own, ident
        own_coords = ident.own_identity(self.shape_model.identity_coords((own / CROP)[None])[0])
        width = mouth_width(own)
        hold = max(roundness_hold(own), pucker_hold(width, ident.usual_mouth(width)))
        weights = self.weights * (1.0 - hold * self.mouth) if hold > 0.0 else self.weights
        target = keep_mouth_gap(own, self.shape_model.new_shape(own, ident.coords, weights, CROP, own_coords))
        return m, keep_gaze(own, target), ident

    def onnx_input(self, rgb: np.ndarray, landmarks: np.ndarray, track_id: int):
        """Generator input (IN_CHANNELS, S, S) float32 and the crop's affine for one face (ONNX variants)."""
        m, target, ident = self.new_geometry(landmarks, track_id)
        crop = warp_crop(rgb, m, CROP)
        own = transform(landmarks[:, :2], m)
        mask = (crop_mask(own, target, size=CROP) > 127).astype(np.float32)
        render = render_sparse if self.settings.variant == "sparse" else render_sketch
        sketch = render(target, CROP).astype(np.float32) / 255.0
        x = crop.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
        x = np.concatenate([x * (1 - mask), mask[None], sketch, ident.noise], 0)
        return x, m, mask

    def prepare_face(self, rgb: np.ndarray, landmarks: np.ndarray, track_id: int):
        """The mesh variant's first stages on one face (``FaceRenderer.prepare``): the FacePatch to finish.
        Exceptions propagate: the caller covers the face."""
        t0 = time.perf_counter()
        m, target, ident = self.new_geometry(landmarks, track_id)
        target = transform(target, cv2.invertAffineTransform(m))
        if self.settings.temporal:  # the drawn eyes, brows and lips shook with the landmarks' jitter
            size = float(np.ptp(target[:, :2], axis=0).max())
            target = ident.drawn = steady_points(ident.drawn, target, TARGET_JITTER * size)
        self.renderer.seconds["geometry"] += time.perf_counter() - t0
        return self.renderer.prepare(rgb, landmarks, target, track_id, ident.albedo, ident.noise, ident.look,
                                     ident.marks)

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per rendered face of each photometric stage (empty for the ONNX variants)."""
        return self.renderer.stage_ms() if self.renderer is not None else {}

    def apply(self, rgb: np.ndarray, faces: Faces) -> int:
        """Replace each face of ``rgb`` in place; returns how many fell back to a solid fill. Faces without a
        mesh (too small for one, coasting, backfilled) are blurred inside a feathered ellipse."""
        return self.finish(rgb, self.prepare(rgb, faces))

    def prepare(self, rgb: np.ndarray, faces: Faces) -> FramePlan:
        """The first half of ``apply``: the box faces covered, each mesh face's first stages run. A pipeline
        runs ``prepare`` on a frame while ``finish`` completes the frame before it (two threads)."""
        live = set(int(t) for t in faces.track_ids)
        self.forget(live)
        fallbacks = 0
        by_box = faces.coasting | ~faces.has_mesh
        if by_box.any():
            from .anonymize import CoverSettings, cover_faces

            fallbacks += cover_faces(rgb, faces[np.nonzero(by_box)[0]],
                                     CoverSettings(method="blur", mask_scale=self.mask_scale))
        if self.renderer is None:
            return FramePlan(faces, live, fallbacks + self._apply_onnx(rgb, faces, by_box))
        plan = FramePlan(faces, live, fallbacks, self.renderer.new_frame(rgb, live))
        for i in np.flatnonzero(~by_box):
            try:
                plan.patches.append((i, self.prepare_face(rgb, faces.landmarks[i], int(faces.track_ids[i]))))
            except Exception as exc:  # fail closed: this face is blurred and counted
                log.warning("face %d: %s; blurred instead", int(faces.track_ids[i]), exc)
                _cover_box(rgb, faces.boxes[i], blur)
                plan.fallbacks += 1
        return plan

    def finish(self, rgb: np.ndarray, plan: FramePlan) -> int:
        """The second half of ``apply`` on the frame ``plan`` was prepared on; returns the fallbacks."""
        if self.renderer is None:
            return plan.fallbacks
        self.renderer.finish_frame(plan.cut, plan.live)
        for i, patch in plan.patches:
            try:
                self.renderer.finish(rgb, patch)
            except Exception as exc:  # fail closed: this face is blurred and counted
                log.warning("face %d: %s; blurred instead", int(plan.faces.track_ids[i]), exc)
                _cover_box(rgb, plan.faces.boxes[i], blur)
                self.renderer.keys.pop(int(plan.faces.track_ids[i]), None)  # its next frame: a full render
                plan.fallbacks += 1
        return plan.fallbacks

    def _apply_onnx(self, rgb: np.ndarray, faces: Faces, by_box: np.ndarray) -> int:
        batch, metas, fallbacks = [], [], 0
        for i in range(len(faces)):
            if by_box[i]:
                continue
            if faces.has_mesh[i] and not faces.coasting[i]:
                try:
                    x, m, mask = self.onnx_input(rgb, faces.landmarks[i], int(faces.track_ids[i]))
                    batch.append(x)
                    metas.append((i, m, mask))
                    continue
                except Exception as exc:  # degenerate landmarks: covered below
                    log.warning("face %d: %s; blurred instead", int(faces.track_ids[i]), exc)
            fallbacks += _cover_box(rgb, faces.boxes[i], blur)
        if not batch:
            return fallbacks
        try:
            out = self.engine(np.stack(batch))
        except Exception as exc:  # fail closed: every face of the batch gets a solid fill
            log.warning("generator failed (%s); solid fill", exc)
            for i, _, _ in metas:
                _cover_box(rgb, faces.boxes[i], solid)
            return fallbacks + len(metas)
        for (i, m, mask), gen in zip(metas, out):
            try:
                paste(rgb, gen, m, mask)
            except Exception as exc:
                log.warning("face %d: paste failed (%s); solid fill", int(faces.track_ids[i]), exc)
                _cover_box(rgb, faces.boxes[i], solid)
                fallbacks += 1
        return fallbacks


def _cover_box(rgb: np.ndarray, box: np.ndarray, method) -> int:
    roi = region_of(box, 1.3, rgb.shape[:2])
    if roi is not None:
        x0, y0, x1, y1 = roi
        rgb[y0:y1, x0:x1] = method(rgb[y0:y1, x0:x1], float(max(box[2] - box[0], box[3] - box[1])))
    return 0


def paste(rgb: np.ndarray, gen: np.ndarray, m: np.ndarray, mask: np.ndarray) -> None:
    """Warp the generated crop (3, S, S) in [-1, 1] back into the frame, only inside the mask's bounding box,
    with a feathered mask and Laplacian-pyramid blending."""
    inv = cv2.invertAffineTransform(m)
    ys, xs = np.nonzero(mask > 0)
    corners = np.array([[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.min(), ys.max()], [xs.max(), ys.max()]],
                       np.float32)
    pts = corners @ inv[:, :2].T + inv[:, 2]
    size = float(np.ptp(pts, axis=0).max())
    pad = 0.12 * size + 2  # room for the feathered ring
    box = np.concatenate([pts.min(0) - pad, pts.max(0) + pad])
    roi = region_of(box, 1.0, rgb.shape[:2])
    if roi is None:
        return
    x0, y0, x1, y1 = roi
    local = inv.copy()
    local[:, 2] -= (x0, y0)
    face = ((gen.transpose(1, 2, 0) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    # feather outward, in the crop (cheap at 128 px): the mask's inside stays 1, so none of the original face
    # survives; the ring outside fades over about 6% of the face size
    k = max(3, int(0.06 * np.ptp(xs)) | 1)
    soft = feather(mask, k)
    w, h = x1 - x0, y1 - y0
    warped = cv2.warpAffine(face, local, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    soft = cv2.warpAffine(soft, local, (w, h), flags=cv2.INTER_LINEAR)
    rgb[y0:y1, x0:x1] = laplacian_blend(warped, rgb[y0:y1, x0:x1], soft)
