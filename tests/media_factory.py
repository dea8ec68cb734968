"""Small synthetic test media, written with PyAV and numpy (no third-party footage).

Every helper writes into the path it is given and returns that path. Clips are tiny (a few dozen frames,
QVGA) so the CLI tests stay fast. The only face is skimage's public-domain ``astronaut()`` image, pasted
onto a plain background; ``probe()`` reads a file back into a small summary the tests compare.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# The astronaut's face in skimage's 512x512 image (rows, columns), with a margin of hair and neck.
ASTRONAUT_FACE = (slice(10, 200), slice(130, 290))

AUDIO_RATE = 44100


@functools.lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """skimage's astronaut (public domain, 512x512 RGB); treat as read-only."""
    from skimage.data import astronaut as _astronaut

    return np.ascontiguousarray(_astronaut())


@functools.lru_cache(maxsize=8)
def _face_patch(height: int) -> np.ndarray:
    """The astronaut's face cropped and scaled to ``height`` rows (nearest neighbour, no OpenCV needed)."""
    crop = astronaut()[ASTRONAUT_FACE]
    scale = height / crop.shape[0]
    width = max(1, int(round(crop.shape[1] * scale)))
    rows = np.minimum((np.arange(height) / scale).astype(int), crop.shape[0] - 1)
    cols = np.minimum((np.arange(width) / scale).astype(int), crop.shape[1] - 1)
    return np.ascontiguousarray(crop[rows][:, cols])


def _background(height: int, width: int, index: int) -> np.ndarray:
    """A moving colour gradient, so that every frame differs and encoders have something to code."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    t = index * 0.07
    r = 90 + 60 * np.sin(2 * np.pi * (x + t))
    g = 100 + 50 * np.cos(2 * np.pi * (y - t))
    b = 120 + 40 * np.sin(2 * np.pi * (x + y))
    rgb = np.stack(np.broadcast_arrays(r, g, b), axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_frame(width: int, height: int, index: int = 0, face: bool = True) -> np.ndarray:
    """One (height, width, 3) uint8 RGB frame; with ``face`` the astronaut's face fills ~70% of its height."""
    rgb = _background(height, width, index)
    if face:
        patch = _face_patch(max(8, int(height * 0.7)))
        ph, pw = patch.shape[:2]
        pw = min(pw, width)
        top = (height - ph) // 2
        left = max(0, (width - pw) // 2 + int(round(3 * math.sin(index / 4))))  # a slow sway
        left = min(left, width - pw)
        rgb[top:top + ph, left:left + pw] = patch[:, :pw]
    return rgb


def coded_frame(width: int, height: int, index: int = 0, face: bool = True, rotation: int | None = None):
    """The frame as coded in a stream whose display rotation is ``rotation`` (degrees counter-clockwise).

    The picture is drawn upright in display orientation, then turned back, so that a player (or the CLI)
    that applies the rotation shows an upright face. ``width``/``height`` are the coded size.
    """
    k = ((rotation or 0) // 90) % 4
    if k % 2:
        upright = make_frame(height, width, index, face)  # display size is the coded size transposed
    else:
        upright = make_frame(width, height, index, face)
    return np.ascontiguousarray(np.rot90(upright, -k)) if k else upright


def _sine(n: int, start: int, rate: int = AUDIO_RATE, hz: float = 440.0) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    return (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _add_audio(container: av.container.OutputContainer):
    stream = container.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "mono"
    return stream


class _Tone:
    """Encodes a 440 Hz tone into an AAC stream in 1024-sample frames, up to a given time."""

    def __init__(self, container, stream):
        self.container, self.stream, self.pos = container, stream, 0

    def until(self, seconds: float) -> None:
        total = int(round(seconds * AUDIO_RATE))
        while self.pos < total:
            n = min(1024, total - self.pos)
            frame = av.AudioFrame.from_ndarray(_sine(n, self.pos)[None, :], format="fltp", layout="mono")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.pos
            frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.pos += n

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)


def _encode_audio(container, stream, seconds: float) -> None:
    tone = _Tone(container, stream)
    tone.until(seconds)
    tone.close()


def vfr_times(frames: int, fps: float = 25) -> list[float]:
    """Irregular frame times in seconds (multiples of 1 ms): intervals alternate around 1/fps."""
    step = 1.0 / fps
    pattern = (0.5, 1.0, 2.0, 1.5, 0.75)  # multiples of the nominal interval
    times, t = [], 0.0
    for i in range(frames):
        times.append(round(t, 3))
        t += step * pattern[i % len(pattern)]
    return times


def make_clip(path, *, width: int = 320, height: int = 240, frames: int = 20, fps: int = 25,
              pix_fmt: str = "yuv420p", codec: str = "libx264", audio: bool = True, face: bool = True,
              rotation: int | None = None, vfr: bool = False, faststart: bool = True) -> Path:
    """Write a small clip and return its path.

    ``width``/``height`` are the coded size (odd sizes need a codec/pixel format that allows them, e.g.
    libx264 with yuv444p, or ffv1). ``rotation`` sets the display rotation metadata (degrees, counter-
    clockwise, as PyAV's ``VideoFrame.rotation`` reads it; a phone held upright records -90 or 90): the
    picture is drawn upright for display and coded turned back (``coded_frame``). ``vfr`` writes
    irregular timestamps (``vfr_times``) on a 1/1000 time base. mp4 files are written with
    ``movflags=faststart`` (moov at the front), so ``truncate`` cuts media data, not the index.
    """
    path = Path(path)
    options = {"movflags": "+faststart"} if faststart and path.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt
        if codec in ("libx264", "libx265"):
            stream.options = {"preset": "ultrafast", "crf": "23"}
            if codec == "libx265":
                stream.options["x265-params"] = "log-level=error"
        if vfr:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
            times = vfr_times(frames, fps)
        else:
            times = [i / fps for i in range(frames)]
        if rotation:
            stream.set_display_rotation(rotation)
        tone = _Tone(container, _add_audio(container)) if audio else None

        tb = Fraction(1, 1000) if vfr else stream.codec_context.time_base or Fraction(1, fps)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(coded_frame(width, height, i, face, rotation), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = int(round(times[i] / tb))
            frame.time_base = tb
            for packet in stream.encode(frame):
                container.mux(packet)
            if tone is not None:  # interleaved: audio up to the end of this frame
                tone.until(times[i + 1] if i + 1 < frames else times[i] + 1.0 / fps)
        for packet in stream.encode(None):
            container.mux(packet)
        if tone is not None:
            tone.close()
    return path


def make_audio_only(path, seconds: float = 1.0) -> Path:
    """An AAC tone in an .m4a/.mp4 (or whatever the suffix says) with no video stream."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = _add_audio(container)
        _encode_audio(container, stream, seconds)
    return path


def make_image(path, *, width: int = 320, height: int = 240, face: bool = True, index: int = 0) -> Path:
    """A still image (format from the suffix: .jpg, .png, ...), written with PyAV's image2 muxer."""
    path = Path(path)
    suffix = path.suffix.lower()
    codec, pix_fmt = {".jpg": ("mjpeg", "yuvj444p"), ".jpeg": ("mjpeg", "yuvj444p"),
                      ".png": ("png", "rgb24")}[suffix]
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as container:
        stream = container.add_stream(codec, rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "mjpeg":
            stream.options = {"qmin": "2", "qmax": "4"}
        frame = av.VideoFrame.from_ndarray(make_frame(width, height, index, face), format="rgb24")
        frame = frame.reformat(format=pix_fmt)
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def make_text_file(path, text: str = "this is not a video\n" * 20) -> Path:
    path = Path(path)
    path.write_text(text)
    return path


def make_empty_file(path) -> Path:
    path = Path(path)
    path.write_bytes(b"")
    return path


def truncate(path, fraction: float, dst=None) -> Path:
    """A copy of ``path`` cut to ``fraction`` of its bytes (default ``<stem>.cut<suffix>`` beside it)."""
    path = Path(path)
    dst = Path(dst) if dst is not None else path.with_name(f"{path.stem}.cut{path.suffix}")
    data = path.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@dataclass
class MediaInfo:
    """What a test compares between an input and an output."""

    width: int
    height: int
    frames: int
    rotation: int
    pix_fmt: str
    times: list[float] = field(default_factory=list)  # decoded video frame times, seconds
    tick: float = 0.0  # the video stream's time base, seconds
    audio: bool = False
    audio_streams: int = 0


def probe(path) -> MediaInfo:
    """Decode every video frame of ``path``: size (coded), frame count, rotation, times, audio presence."""
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        audio_streams = len(container.streams.audio)
        times: list[float] = []
        width = height = 0
        pix_fmt = ""
        rotation = None
        for frame in container.decode(vstream):
            if rotation is None:  # display matrix, degrees counter-clockwise
                rotation = int(round(frame.rotation or 0)) % 360
                width, height, pix_fmt = frame.width, frame.height, frame.format.name
            times.append(float(frame.pts * frame.time_base) if frame.pts is not None else float("nan"))
        tick = float(vstream.time_base) if vstream.time_base else 0.0
    return MediaInfo(width=width, height=height, frames=len(times), rotation=rotation or 0, pix_fmt=pix_fmt,
                     times=times, tick=tick, audio=audio_streams > 0, audio_streams=audio_streams)


@dataclass
class Crowd:
    """A synthetic crowd: per frame, the ground-truth box (x0, y0, x1, y1) of every face, NaN when absent."""

    frames: list[np.ndarray]
    boxes: np.ndarray  # (frames, faces, 4)


# The face (brows to chin, cheek to cheek) inside the astronaut patch, as fractions of its width and height.
FACE_IN_PATCH = (0.3, 0.25, 0.87, 0.9)


def crowd_frames(width: int = 1280, height: int = 900, frames: int = 30, faces: int = 22, seed: int = 0) -> Crowd:
    """Moving astronaut faces from 16 to 120 px tall (the face, not the patch with hair and neck) on a moving
    background, one cell each of a 6-column grid; the outer columns enter at the left and right edges."""
    import cv2

    rng = np.random.default_rng(seed)
    crop = astronaut()[ASTRONAUT_FACE]
    fx0, fy0, fx1, fy1 = FACE_IN_PATCH
    heights = np.linspace(16, 120, faces).round().astype(int)
    rng.shuffle(heights)
    cols = 6
    rows = int(math.ceil(faces / cols))
    cell_w, cell_h = width / cols, height / rows
    start = np.zeros((faces, 2))
    speed = np.zeros((faces, 2))
    for i in range(faces):
        r, c = divmod(i, cols)
        start[i] = [c * cell_w + 0.1 * cell_w, r * cell_h + 0.05 * cell_h]
        speed[i] = [rng.uniform(-0.8, 0.8), rng.uniform(-0.3, 0.3)]
        if c in (0, cols - 1):  # the outer columns enter at the edge: start outside, walk to their place
            end = start[i, 0]
            start[i, 0] = -0.9 * cell_w if c == 0 else width
            speed[i, 0] = (end - start[i, 0]) / frames
    out, boxes = [], np.full((frames, faces, 4), np.nan)
    for f in range(frames):
        rgb = _background(height, width, f)
        for i in range(faces):
            h = int(round(heights[i] / (fy1 - fy0)))
            w = max(1, int(round(crop.shape[1] * h / crop.shape[0])))
            patch = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
            x0, y0 = (start[i] + speed[i] * f).round().astype(int)
            xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, width), min(y0 + h, height)
            if xb <= xa or yb <= ya:
                continue
            rgb[ya:yb, xa:xb] = patch[ya - y0:yb - y0, xa - x0:xb - x0]
            face = np.array([x0 + fx0 * w, y0 + fy0 * h, x0 + fx1 * w, y0 + fy1 * h])
            visible = np.array([max(face[0], 0), face[1], min(face[2], width), face[3]])
            if visible[2] - visible[0] >= 0.5 * (face[2] - face[0]):  # at least half of the face in view
                boxes[f, i] = visible
        out.append(rgb)
    return Crowd(out, boxes)


def panning_crowd_frames(width: int = 1280, height: int = 720, frames: int = 30, step: tuple[int, int] = (4, 2),
                         faces: int = 24, seed: int = 5) -> Crowd:
    """A still crowd (one frame of ``crowd_frames``, faces from 16 to 120 px) filmed by a camera that pans
    ``step`` px a frame: each frame is a ``width`` x ``height`` window moving over the scene."""
    scene = crowd_frames(width + step[0] * frames, height + step[1] * frames, frames=1, faces=faces, seed=seed)
    out, boxes = [], np.full((frames, faces, 4), np.nan)
    for f in range(frames):
        dx, dy = step[0] * f, step[1] * f
        out.append(np.ascontiguousarray(scene.frames[0][dy:dy + height, dx:dx + width]))
        b = scene.boxes[0] - np.array([dx, dy, dx, dy], np.float64)
        visible = np.stack([b[:, 0].clip(0, width), b[:, 1].clip(0, height), b[:, 2].clip(0, width),
                            b[:, 3].clip(0, height)], 1)
        whole = (visible[:, 2] - visible[:, 0]) * (visible[:, 3] - visible[:, 1])
        inside = whole >= 0.5 * (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # at least half of the face in view
        boxes[f, inside] = visible[inside]
    return Crowd(out, boxes)


def swerving_face_frames(width: int = 960, height: int = 540, frames: int = 36, face: int = 100) -> Crowd:
    """One astronaut face ``face`` px tall that darts about: about 0.7 of its height a frame, turning back
    every few frames (a handheld camera, or a live stream that dropped most of its frames)."""
    import cv2

    crop = astronaut()[ASTRONAUT_FACE]
    fx0, fy0, fx1, fy1 = FACE_IN_PATCH
    h = int(round(face / (fy1 - fy0)))
    w = max(1, int(round(crop.shape[1] * h / crop.shape[0])))
    patch = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    t = np.arange(frames)
    # a fast sweep across the frame and back, with a vertical swing of a shorter period
    xs = (width - w) * (0.5 - 0.5 * np.cos(2 * np.pi * t / 12))
    ys = (height - h) * (0.5 - 0.5 * np.cos(2 * np.pi * t / 7))
    out, boxes = [], np.full((frames, 1, 4), np.nan)
    for f in range(frames):
        rgb = _background(height, width, f)
        x0, y0 = int(round(xs[f])), int(round(ys[f]))
        rgb[y0:y0 + h, x0:x0 + w] = patch
        boxes[f, 0] = [x0 + fx0 * w, y0 + fy0 * h, x0 + fx1 * w, y0 + fy1 * h]
        out.append(rgb)
    return Crowd(out, boxes)


def write_frames(path, frames: list[np.ndarray], fps: int = 25, crf: int = 12) -> Path:
    """Encode RGB frames as H.264 (high quality, so small faces survive the coding)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": str(crf)}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


# --------------------------------------------------------------------------- damaged files (tests/test_fuzz_inputs.py)
# Each reproduces a class of input that tools/fuzz_inputs.py found mishandled, made from a clean file by script.


def make_damaged_clip(path, *, damaged: tuple[int, ...] = (5,), frames: int = 20, width: int = 96,
                      height: int = 64) -> Path:
    """An H.264 mp4 whose video packets number ``damaged`` are cut to their first 6 bytes: the decoder
    rejects each (Invalid data) and goes on with the next; ffmpeg decodes every other frame."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        count = 0

        def mux(packet) -> None:
            nonlocal count
            if count in damaged:
                cut = av.Packet(bytes(packet)[:6])
                cut.pts, cut.dts, cut.time_base = packet.pts, packet.dts, packet.time_base
                cut.stream, cut.is_keyframe = stream, packet.is_keyframe
                packet = cut
            count += 1
            container.mux(packet)

        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(make_frame(width, height, i), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                mux(packet)
        for packet in stream.encode(None):
            mux(packet)
    return path


def make_empty_track(path, width: int = 96, height: int = 64) -> Path:
    """An mp4 with a video track and no sample in it (a header, no frame)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()
    return path


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of every box of an MP4, the containers and sample descriptions walked."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if size < 8 or pos + size > end:
            break
        out.append((kind, pos, size))
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
            out.extend(mp4_boxes(data, pos + 8, pos + size))
        elif kind == b"stsd":
            out.extend(mp4_boxes(data, pos + 16, pos + size))
        pos += size
    return out


def patch_mp4(src, dst, edit) -> Path:
    """A copy of the MP4 ``src`` at ``dst`` after ``edit(data: bytearray, boxes)`` changed it in place."""
    data = bytearray(Path(src).read_bytes())
    edit(data, mp4_boxes(bytes(data)))
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def rename_codec(src, dst, old: bytes, new: bytes = b"zzzz") -> Path:
    """The sample entry ``old`` (b"avc1", b"mp4a") renamed to a codec FFmpeg does not know (for mp4a its
    esds too, which would name AAC again)."""
    def edit(data: bytearray, boxes) -> None:
        for kind, pos, _ in boxes:
            if kind == old:
                data[pos + 4:pos + 8] = new
                if old == b"mp4a":
                    esds = data.find(b"esds", pos)
                    data[esds:esds + 4] = b"zzzz"
    return patch_mp4(src, dst, edit)


def set_video_timescale(src, dst, timescale: int, track: int = 0) -> Path:
    """The media time scale (mdhd) of track number ``track`` (0: the first, the video of make_clip; 1: its
    audio) set to ``timescale`` (0x7FFFFFFF or 1: a damaged header)."""
    def edit(data: bytearray, boxes) -> None:
        pos = [pos for kind, pos, _ in boxes if kind == b"mdhd"][track]
        data[pos + 20:pos + 24] = timescale.to_bytes(4, "big")
    return patch_mp4(src, dst, edit)


def set_sample_delta(src, dst, delta: int, track: int = 1) -> Path:
    """The first sample duration (stts) of track number ``track`` set to ``delta`` (2^31: a damaged table)."""
    def edit(data: bytearray, boxes) -> None:
        pos = [pos for kind, pos, _ in boxes if kind == b"stts"][track]
        data[pos + 20:pos + 24] = delta.to_bytes(4, "big")  # entry 0: count at 16, delta at 20
    return patch_mp4(src, dst, edit)
