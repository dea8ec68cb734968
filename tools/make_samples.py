"""Make the short sample clips in ``samples/`` deterministically.

The only face used is ``skimage.data.astronaut()`` (NASA portrait of Eileen Collins, public domain),
which ships inside the scikit-image wheel: no third-party footage. The head and shoulders are cut out
with a feathered ellipse and moved (pan, zoom, in-plane rotation) over a gradient background with
``cv2.warpAffine``; a synthetic speech-like AAC track is muxed alongside.

    python tools/make_samples.py --out samples/
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

WIDTH, HEIGHT = 1280, 720
SAMPLE_RATE = 48_000
AAC_FRAME = 1024
# Face geometry in the 512x512 astronaut image (MediaPipe full-range box: x 174-278, y 68-172).
FACE_CENTRE = (226.0, 120.0)
FACE_WIDTH = 104.0
SPRITE_CENTRE = (225, 165)
SPRITE_AXES = (105, 140)


@dataclass(frozen=True)
class Pose:
    """Where one face goes in the output frame: face centre (px), face width (px), rotation (deg)."""

    cx: float
    cy: float
    width: float
    angle: float


@dataclass(frozen=True)
class Sprite:
    """An RGB image in float32 [0, 1], its feathered alpha matte and its face centre (x, y) in px."""

    rgb: np.ndarray
    alpha: np.ndarray
    face: tuple[float, float]


def make_sprite(hue_shift: int = 0, gain: tuple[float, float, float] = (1.0, 1.0, 1.0), mirror: bool = False) -> Sprite:
    """Cut the astronaut's head and shoulders out with a feathered ellipse, optionally recoloured/mirrored."""
    rgb = data.astronaut()
    if hue_shift:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + hue_shift) % 180).astype(np.uint8)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    img = np.clip(rgb.astype(np.float32) / 255.0 * np.asarray(gain, np.float32), 0.0, 1.0)
    alpha = np.zeros(img.shape[:2], np.float32)
    cv2.ellipse(alpha, SPRITE_CENTRE, SPRITE_AXES, 0, 0, 360, 1.0, thickness=-1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 10, borderType=cv2.BORDER_CONSTANT)
    x, y = FACE_CENTRE
    if mirror:
        img, alpha, x = img[:, ::-1].copy(), alpha[:, ::-1].copy(), img.shape[1] - 1 - x
    return Sprite(img, alpha, (x, y))


def background(phase: float = 0.0) -> np.ndarray:
    """A smooth diagonal colour gradient (float32 RGB, HxWx3) that drifts slowly with ``phase``."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    t = (xx / WIDTH * 0.7 + yy / HEIGHT * 0.3 + 0.15 * np.sin(2 * np.pi * phase))[..., None]
    top = np.array([0.20, 0.32, 0.45], np.float32)
    bottom = np.array([0.62, 0.55, 0.42], np.float32)
    return top * (1 - t) + bottom * t


def composite(frame: np.ndarray, sprite: Sprite, pose: Pose) -> None:
    """Warp ``sprite`` so its face lands at ``pose`` and alpha-blend it into ``frame`` in place."""
    scale = pose.width / FACE_WIDTH
    m = cv2.getRotationMatrix2D(sprite.face, pose.angle, scale)
    m[:, 2] += np.array([pose.cx, pose.cy]) - np.array(sprite.face)
    size = (WIDTH, HEIGHT)
    rgb = cv2.warpAffine(sprite.rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = cv2.warpAffine(sprite.alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    frame *= 1.0 - a
    frame += rgb * a


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float [0, 1] RGB to uint8."""
    return (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Deterministic speech-like mono signal: a glottal pulse train through three formants, in syllables."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    f0 = 150 + 30 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    # Syllable envelope: ~4 syllables/s with random lengths, and short pauses.
    env = np.zeros(n)
    pos = 0
    formants = np.zeros((n, 3))
    while pos < n:
        length = int(rng.uniform(0.12, 0.3) * SAMPLE_RATE)
        gap = int(rng.uniform(0.03, 0.25) * SAMPLE_RATE)
        end = min(pos + length, n)
        env[pos:end] = np.sin(np.linspace(0, np.pi, end - pos)) ** 0.7
        formants[pos : pos + length + gap] = rng.choice(
            [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [660, 1720, 2410]]
        )
        pos += length + gap
    sig = np.zeros(n)
    for k in range(1, 30):
        fk = k * f0
        weight = sum(np.exp(-(((fk - formants[:, j]) / (80 + 40 * j)) ** 2)) for j in range(3)) + 0.02
        sig += weight / k**0.5 * np.sin(k * phase)
    sig *= env
    sig += 0.003 * rng.standard_normal(n)
    return (0.3 * sig / np.max(np.abs(sig))).astype(np.float32)


def write_clip(path: Path, n_frames: int, fps: int, render: Callable[[int], np.ndarray], seed: int) -> None:
    """Encode ``n_frames`` rendered frames (H.264 yuv420p, crf 20) plus a synchronous mono AAC track."""
    audio = speech_like(n_frames / fps, seed)
    with av.open(str(path), "w", options={"fflags": "+bitexact", "video_track_timescale": str(fps)}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.time_base = Fraction(1, fps)
        video.codec_context.time_base = Fraction(1, fps)
        video.options = {"crf": "20", "preset": "medium", "threads": "1"}
        sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        sound.bit_rate = 64_000
        sound.time_base = Fraction(1, SAMPLE_RATE)
        sound.codec_context.time_base = Fraction(1, SAMPLE_RATE)
        sent = 0
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(render(i), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
            # Audio up to the end of this video frame, in whole AAC frames (the tail goes after the loop).
            until = (i + 1) * SAMPLE_RATE // fps
            while sent + AAC_FRAME <= until:
                out.mux(sound.encode(_audio_frame(audio[sent : sent + AAC_FRAME], sent)))
                sent += AAC_FRAME
        if sent < len(audio):
            out.mux(sound.encode(_audio_frame(audio[sent:], sent)))
        out.mux(video.encode(None))
        out.mux(sound.encode(None))


def _audio_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, pts, Fraction(1, SAMPLE_RATE)
    return frame


def smooth(t: float, lo: float, hi: float, cycles: float, phase: float = 0.0) -> float:
    """A cosine oscillation between ``lo`` and ``hi`` at ``cycles`` per clip."""
    return lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * cycles * t + phase))


def astronaut_pose(t: float) -> Pose:
    """Single-face trajectory: pan across, zoom 90-350 px, roll +-25 degrees (t in [0, 1])."""
    width = smooth(t, 90, 350, 1.5)
    # Keep the face inside the frame: the bigger it is, the closer to the centre it stays.
    reach_x = 560 - 0.9 * width
    reach_y = 300 - 0.55 * width
    cx = 640 + reach_x * np.sin(2 * np.pi * 1.0 * t - np.pi / 2)
    cy = 360 + reach_y * np.sin(2 * np.pi * 2.0 * t)
    angle = 25 * np.sin(2 * np.pi * 1.25 * t + 0.3)
    return Pose(float(cx), float(cy), float(width), float(angle))


def main(argv: list[str] | None = None) -> None:
    """Write astronaut.mp4, two_faces.mp4 and astronaut.jpg into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples"), help="output folder (default: samples/)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of astronaut.mp4 (two_faces: 2/3 of it)")
    parser.add_argument("--fps", type=int, default=25, help="frame rate (default 25)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    solo = make_sprite()
    n_solo = int(round(args.seconds * args.fps))

    def render_solo(i: int) -> np.ndarray:
        t = i / max(n_solo - 1, 1)
        frame = background(t)
        composite(frame, solo, astronaut_pose(t))
        return to_uint8(frame)

    write_clip(args.out / "astronaut.mp4", n_solo, args.fps, render_solo, seed=1)

    twin = make_sprite(hue_shift=8, gain=(0.85, 0.95, 1.15), mirror=True)
    n_two = int(round(args.seconds * 2 / 3 * args.fps))

    def render_two(i: int) -> np.ndarray:
        t = i / max(n_two - 1, 1)
        frame = background(0.5 + t)
        left = Pose(
            smooth(t, 190, 430, 1.0),
            smooth(t, 260, 450, 1.5, 1.0),
            smooth(t, 100, 190, 1.0, np.pi),
            20 * np.sin(2 * np.pi * 0.8 * t),
        )
        right = Pose(
            smooth(t, 1070, 860, 0.75),
            smooth(t, 420, 300, 1.25),
            smooth(t, 150, 250, 1.25, 0.5),
            -18 * np.sin(2 * np.pi * 1.1 * t + 1.0),
        )
        composite(frame, solo, left)
        composite(frame, twin, right)
        return to_uint8(frame)

    write_clip(args.out / "two_faces.mp4", n_two, args.fps, render_two, seed=2)

    still = background(0.25)
    composite(still, solo, Pose(700, 340, 200, 8))
    cv2.imwrite(
        str(args.out / "astronaut.jpg"),
        cv2.cvtColor(to_uint8(still), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 90],
    )


if __name__ == "__main__":
    main()
