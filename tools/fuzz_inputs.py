"""Fuzz the CLI's input path with mutated real containers; every case must end well.

Seeds are tiny clips and images from tests/media_factory.py (96x64, 6-10 frames, mp4 with the index in front
and at the end, mov, mkv, mpegts, webm, avi, jpg, png) and 5 frames cut from samples/astronaut.mp4 without
re-encoding. Hypothesis draws a seed and one to three mutations: flipped bits, deleted or duplicated byte
ranges, truncation, swapped MP4 boxes, huge or zero dimensions (tkhd, the sample entry, JPEG SOF, PNG IHDR,
Matroska PixelWidth/Height), wrong timestamps (stts, ctts, mdhd, elst, mkv cluster times), tracks with no
samples, and bad image headers.

Each case runs ``streamanon IN OUT --method blur`` inside a persistent worker process (``--worker``: the CLI's
``main`` called in-process, so a case costs its own work, not a 2 s start-up) and must end in one of:

* exit 0 and a valid output (PyAV decodes it to the end), nothing else left in the output folder (a damaged
  input gives the frames that could be decoded: corrupt packets are skipped, a truncated file ends early);
* a documented exit code (2-8) with one line on stderr and nothing left in the output folder.

Bad endings: exit 1 (internal error), a traceback, an undocumented code, more than one error line, a file left
behind, an output that does not decode, a hang (``--case-seconds``), the worker's memory above ``--max-rss-mb``,
or fewer than 90% of the frames that ``ffmpeg -v error -i IN -f null -`` decodes ("no stricter than ffmpeg").
The ffmpeg on PATH (5.1 here) is older than the FFmpeg 8 inside PyAV, which refuses some damage 5.1 conceals;
where the output falls short of ffmpeg but not of what PyAV's FFmpeg decodes with every error skipped, the case
is counted apart (``library_differences``, each listed), not as a bad ending.

    python tools/fuzz_inputs.py --cases 10000 --seconds 3000 --json /tmp/fuzz.json --keep /tmp/fuzz-bad

Every bad input is copied under ``--keep`` with its verdict. The mutations are plain functions of (bytes,
random numbers), so a failure found here becomes a regression file made by a script (tests/test_fuzz_inputs.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
DOCUMENTED = {0, 2, 3, 4, 5, 6, 7, 8}

# ----------------------------------------------------------------------------------------------- seeds


def make_seeds(folder: Path) -> dict[str, Path]:
    """The seed corpus: tiny clips and images of the test media factory, and 5 frames of samples/."""
    sys.path.insert(0, str(REPO / "tests"))
    import media_factory as mf

    folder.mkdir(parents=True, exist_ok=True)
    w, h = 96, 64
    seeds = {
        "front.mp4": mf.make_clip(folder / "front.mp4", width=w, height=h, frames=8),
        "back.mp4": mf.make_clip(folder / "back.mp4", width=w, height=h, frames=8, faststart=False),
        "vfr.mp4": mf.make_clip(folder / "vfr.mp4", width=w, height=h, frames=10, vfr=True, audio=False),
        "rot.mov": mf.make_clip(folder / "rot.mov", width=w, height=h, frames=8, rotation=90, audio=False),
        "clip.mkv": mf.make_clip(folder / "clip.mkv", width=w, height=h, frames=8),
        "clip.ts": mf.make_clip(folder / "clip.ts", width=w, height=h, frames=8, audio=False),
        "clip.webm": mf.make_clip(folder / "clip.webm", width=w, height=h, frames=8, codec="libvpx",
                                  audio=False),
        "clip.avi": mf.make_clip(folder / "clip.avi", width=w, height=h, frames=8, codec="mjpeg",
                                 pix_fmt="yuvj420p", audio=False),
        "still.jpg": mf.make_image(folder / "still.jpg", width=w, height=h),
        "still.png": mf.make_image(folder / "still.png", width=w, height=h),
        "empty.mp4": make_empty_track(folder / "empty.mp4"),
    }
    sample = REPO / "samples" / "astronaut.mp4"
    if sample.exists():  # 10 frames of the shipped sample, stream-copied (no re-encoding), and a scaled copy
        cut = folder / "sample.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(sample), "-frames:v", "5", "-c", "copy",
                        str(cut)], check=True, timeout=60)
        seeds["sample.mp4"] = cut
        small = folder / "sample_small.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(sample), "-frames:v", "8", "-vf",
                        "scale=128:72", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(small)],
                       check=True, timeout=60)
        seeds["sample_small.mp4"] = small
    return seeds


def make_empty_track(path: Path) -> Path:
    """An mp4 whose video track has no sample at all (a header, no frames)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        c.start_encoding()
    return path


# ------------------------------------------------------------------------------------------- mutations
# Each mutation is f(data, rng) -> data, a pure function of the bytes and a random.Random.

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"mvex", b"moof", b"traf"}


def boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[tuple[bytes, int, int, int]]:
    """MP4/MOV boxes as (type, offset, size, depth), containers walked; stops at the first malformed box."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1 and pos + 16 <= end:
            size, head = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            break
        out.append((kind, pos, size, depth))
        if kind in CONTAINERS and depth < 8:
            out.extend(boxes(data, pos + head, pos + size, depth + 1))
        elif kind == b"stsd":
            out.extend(boxes(data, pos + 16, pos + size, depth + 1))
        pos += size
    return out


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    d = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(d))
        d[i] ^= 1 << rng.randrange(8)
    return bytes(d)


def flip_media_bits(data: bytes, rng: random.Random) -> bytes:
    """A few bits flipped in the coded pictures (an MP4's mdat, else past the first 10% of the file)."""
    d = bytearray(data)
    mdat = [b for b in boxes(data) if b[0] == b"mdat"]
    lo, hi = (mdat[0][1] + 8, mdat[0][1] + mdat[0][2]) if mdat else (len(d) // 10, len(d))
    if hi <= lo:
        return flip_bits(data, rng)
    for _ in range(rng.randint(1, 6)):
        i = rng.randrange(lo, hi)
        d[i] ^= 1 << rng.randrange(8)
    return bytes(d)


def delete_range(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    n = rng.choice([1, 2, 4, 16, 100, 1000, len(data) // 4])
    return data[:i] + data[i + n:]


def duplicate_range(data: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(data))
    n = rng.choice([1, 8, 100, 1000])
    return data[:i] + data[i:i + n] + data[i:]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:int(len(data) * rng.choice([0.0005, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, rng.random()]))]


def swap_boxes(data: bytes, rng: random.Random) -> bytes:
    """Two sibling boxes (same parent) exchanged: moov before/after mdat, stts/stsz order, trak children."""
    found = boxes(data)
    groups: dict[tuple[int, int], list[tuple[bytes, int, int, int]]] = {}
    for b in found:
        parent = max((p for p in found if p[1] < b[1] < p[1] + p[2] and p[3] == b[3] - 1), key=lambda p: p[1],
                      default=(b"", -1, 0, -1))
        groups.setdefault((parent[1], b[3]), []).append(b)
    pairs = [g for g in groups.values() if len(g) >= 2]
    if not pairs:
        return flip_bits(data, rng)
    group = rng.choice(pairs)
    a, b = sorted(rng.sample(group, 2), key=lambda x: x[1])
    if a[1] + a[2] > b[1]:
        return flip_bits(data, rng)
    return (data[:a[1]] + data[b[1]:b[1] + b[2]] + data[a[1] + a[2]:b[1]] + data[a[1]:a[1] + a[2]]
            + data[b[1] + b[2]:])


def _put(d: bytearray, offset: int, fmt: str, value: int) -> None:
    if 0 <= offset and offset + struct.calcsize(fmt) <= len(d):
        struct.pack_into(fmt, d, offset, value)


def _dimension(rng: random.Random, bits: int) -> int:
    top = (1 << bits) - 1
    return rng.choice([0, 1, 2, 3, 7, 4096, 8192, 16385, 32768, top, top - 1, rng.randrange(top)])


def dimensions(data: bytes, rng: random.Random) -> bytes:
    """Zero, tiny or huge frame sizes in whatever header the file has."""
    d = bytearray(data)
    if data[:2] == b"\xff\xd8":  # JPEG: SOFn height/width
        for i in range(len(d) - 9):
            if d[i] == 0xFF and d[i + 1] in (0xC0, 0xC1, 0xC2):
                which = rng.choice([5, 7, 5, 7, None])
                for off in ([5, 7] if which is None else [which]):
                    _put(d, i + off, ">H", _dimension(rng, 16))
                return bytes(d)
        return flip_bits(data, rng)
    if data[:8] == b"\x89PNG\r\n\x1a\n":  # IHDR width/height (CRC left stale, as a broken writer would)
        _put(d, 16 + rng.choice([0, 4]), ">I", _dimension(rng, 31))
        return bytes(d)
    if data[:4] == b"\x1a\x45\xdf\xa3":  # Matroska: PixelWidth (B0) / PixelHeight (BA) with a 1-byte size
        hits = [i for i in range(len(d) - 3) if d[i] in (0xB0, 0xBA) and d[i + 1] == 0x81][:4]
        if hits:
            i = rng.choice(hits)
            d[i + 2] = rng.choice([0, 1, 255])
            return bytes(d)
        return flip_bits(data, rng)
    found = boxes(data)
    targets = [b for b in found if b[0] in (b"tkhd", b"avc1", b"hev1", b"mp4v", b"jpeg", b"vp08", b"vp09")]
    if not targets:
        return flip_bits(data, rng)
    kind, pos, size, _ = rng.choice(targets)
    if kind == b"tkhd":  # width, height as 16.16 fixed point, the last 8 bytes
        _put(d, pos + size - rng.choice([8, 4]), ">I", _dimension(rng, 32))
    else:  # visual sample entry: width at 32, height at 34
        _put(d, pos + rng.choice([32, 34]), ">H", _dimension(rng, 16))
    return bytes(d)


def timestamps(data: bytes, rng: random.Random) -> bytes:
    """Wrong times: stts/ctts deltas, the media time scale, edit lists; Matroska cluster times."""
    d = bytearray(data)
    if data[:4] == b"\x1a\x45\xdf\xa3":
        hits = [i for i in range(len(d) - 2) if d[i] == 0xE7 and 0x81 <= d[i + 1] <= 0x84]
        if not hits:
            return flip_bits(data, rng)
        i = rng.choice(hits)
        n = d[i + 1] - 0x80
        d[i + 2:i + 2 + n] = bytes(rng.choice([0x00, 0xFF, rng.randrange(256)]) for _ in range(n))
        return bytes(d)
    found = [b for b in boxes(data) if b[0] in (b"stts", b"ctts", b"mdhd", b"mvhd", b"elst", b"stss")]
    if not found:
        return flip_bits(data, rng)
    kind, pos, size, _ = rng.choice(found)
    value = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, rng.randrange(1 << 32)])
    if kind == b"mdhd" or kind == b"mvhd":  # version 0: timescale at 20, duration at 24
        _put(d, pos + rng.choice([20, 24]), ">I", value)
    elif kind == b"elst":  # first entry: duration at 20, media time at 24 (version 0)
        _put(d, pos + rng.choice([20, 24]), ">I", value)
    else:  # entries after the count at 12: (count, delta) pairs; stss: sample numbers
        entries = max(1, (size - 16) // 4)
        _put(d, pos + 16 + 4 * rng.randrange(entries), ">I", value)
    return bytes(d)


def no_samples(data: bytes, rng: random.Random) -> bytes:
    """A track left with no samples: a zero count in stsz, stco, stsc or stts."""
    d = bytearray(data)
    found = [b for b in boxes(data) if b[0] in (b"stsz", b"stco", b"co64", b"stsc", b"stts")]
    if not found:
        return truncate(data, rng)
    kind, pos, _, _ = rng.choice(found)
    _put(d, pos + (16 if kind == b"stsz" else 12), ">I", 0)
    return bytes(d)


def box_field(data: bytes, rng: random.Random) -> bytes:
    """A random 32-bit field of a random box set to an extreme value (sizes, counts, offsets)."""
    found = boxes(data)
    if not found:
        return flip_bits(data, rng)
    _, pos, size, _ = rng.choice(found)
    d = bytearray(data)
    _put(d, pos + 4 * rng.randrange(max(1, size // 4)), ">I", rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF]))
    return bytes(d)


def bad_header(data: bytes, rng: random.Random) -> bytes:
    """The first bytes damaged: a wrong magic number, a flipped header byte, a zeroed header."""
    d = bytearray(data)
    n = min(len(d), rng.choice([4, 16, 64, 600]))
    how = rng.randrange(3)
    if how == 0:
        d[:4] = bytes(rng.randrange(256) for _ in range(min(4, len(d))))
    elif how == 1:
        for _ in range(rng.randint(1, 4)):
            d[rng.randrange(n)] ^= 1 << rng.randrange(8)
    else:
        i = rng.randrange(n)
        d[i:i + 16] = bytes(min(16, len(d) - i))
    return bytes(d)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": flip_bits, "flip_media": flip_media_bits, "delete": delete_range, "duplicate": duplicate_range,
    "truncate": truncate, "swap_boxes": swap_boxes, "dimensions": dimensions, "timestamps": timestamps,
    "no_samples": no_samples, "box_field": box_field, "bad_header": bad_header,
}


def mutate(data: bytes, ops: list[tuple[str, int]]) -> bytes:
    """Apply ``ops`` [(mutation name, seed)] in order; the empty file is kept empty."""
    for name, seed in ops:
        if data:
            data = MUTATIONS[name](data, random.Random(seed))
    return data


def cases_strategy(seed_names: list[str]):
    """Hypothesis: a seed name and one to three (mutation, random seed) pairs."""
    from hypothesis import strategies as st

    op = st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 2**31 - 1))
    return st.tuples(st.sampled_from(seed_names), st.lists(op, min_size=1, max_size=3))


# -------------------------------------------------------------------------------------- the worker


def serve() -> int:
    """Worker loop: one JSON request a line on stdin ({"args": [...], "stderr": path}), one reply a line
    ({"rc": int}) on the original stdout. fd 1 and fd 2 are pointed elsewhere while the CLI runs."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.path.insert(0, str(REPO))
    import logging

    import streamanon.cli as cli

    cli.filter_native_stderr = lambda: None  # the worker captures fd 2 itself, native lines included
    saved = os.dup(2)
    for line in sys.stdin:
        req = json.loads(line)
        with open(req["stderr"], "wb") as err:
            sys.stderr.flush()
            os.dup2(err.fileno(), 2)
            try:
                rc = cli.main(req["args"])
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001 - an escape is itself a bad ending
                import traceback
                traceback.print_exc()
                rc = f"escaped {type(exc).__name__}"
            finally:
                sys.stderr.flush()
                for h in logging.getLogger().handlers:
                    h.flush()
                os.dup2(saved, 2)
        reply.write(json.dumps({"rc": rc}) + "\n")
    return 0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Worker:
    """A persistent ``--worker`` process; ``run`` returns its exit code or "hang" after ``timeout``."""

    def __init__(self, nice: int = 0):
        self.nice = nice
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, bufsize=1,
                                     preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None)
        self.starts += 1

    def run(self, args: list[str], stderr: Path, timeout: float) -> int | str:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"args": args, "stderr": str(stderr)}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return "hang"
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return f"worker died ({code})"
        return json.loads(line)["rc"]

    @property
    def rss(self) -> float:
        return rss_mb(self.proc.pid) if self.proc and self.proc.poll() is None else 0.0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


# -------------------------------------------------------------------------------------- the oracle


def ffmpeg_frames(path: Path, timeout: float = 60) -> int:
    """Frames ``ffmpeg -v error -i path -f null -`` decodes from the first video stream (0 when it fails)."""
    try:
        r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode",
                            "passthrough", "-f", "framecrc", "-"], capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 0
    if r.returncode != 0:
        return 0
    return sum(1 for ln in r.stdout.splitlines() if ln[:1].isdigit())


def video_packets(path: Path) -> int | None:
    """Video packets PyAV demuxes from ``path`` (an upper bound of the frames any decoder gets; None: unreadable)."""
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for pk in c.demux(c.streams.video[0]) if pk.size)
    except Exception:  # noqa: BLE001 - then ffmpeg is asked
        return None


def ffmpeg_writes_image(path: Path, suffix: str, timeout: float = 60) -> bool:
    """Whether ``ffmpeg -i path -frames:v 1 out.SUFFIX`` writes the picture (the reference for an image output:
    decoding alone says nothing of a format's limits)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / f"out{suffix}"
        try:
            r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-frames:v", "1", "-y",
                                str(out)], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and out.exists() and out.stat().st_size > 0


def library_frames(path: Path) -> int:
    """Frames the FFmpeg libraries inside PyAV (the ones streamanon decodes with; newer than the ffmpeg on PATH
    here) decode from the first video stream when every error is skipped: 0 when it does not open."""
    import av

    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            v.thread_type = "SLICE"
            n = 0
            for pk in c.demux(v):
                try:
                    n += len(v.codec_context.decode(pk if pk.size else None))
                except av.error.FFmpegError:
                    continue
            return n
    except Exception:  # noqa: BLE001 - does not open: nothing decodes
        return 0


def output_frames(path: Path) -> tuple[int, str | None]:
    """Frames PyAV decodes from ``path`` to the end, and the error that stopped it (None: read to the end)."""
    import av

    try:
        with av.open(str(path)) as c:
            n = 0
            for _ in c.decode(c.streams.video[0]):
                n += 1
            return n, None
    except Exception as exc:  # noqa: BLE001 - any failure to read back is the finding
        return 0, f"{type(exc).__name__}: {exc}"


def error_lines(text: str) -> list[str]:
    """stderr lines but the native log lines the CLI filters out (streamanon/native_log.py)."""
    from streamanon.native_log import NATIVE_LINE

    return [ln for ln in text.splitlines() if ln.strip() and not NATIVE_LINE.match(ln.encode())]


@dataclass
class Verdict:
    rc: int | str
    problems: list[str] = field(default_factory=list)
    frames_out: int = 0
    frames_ffmpeg: int = -1
    frames_library: int = -1  # consulted only where ffmpeg decodes more than the output holds
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(rc: int | str, stderr: str, out_dir: Path, out: Path, src: Path, frames_ffmpeg: int | None) -> Verdict:
    """The contract above, for one finished case. ``frames_ffmpeg`` None: computed here."""
    v = Verdict(rc=rc, stderr=stderr[-2000:])
    lines = error_lines(stderr)
    if not isinstance(rc, int):
        v.problems.append(str(rc))
        return v
    if "Traceback" in stderr:
        v.problems.append("traceback")
    if rc == 1:
        v.problems.append("exit 1 (internal error)")
    elif rc not in DOCUMENTED:
        v.problems.append(f"undocumented exit {rc}")
    left = sorted(p.name for p in out_dir.iterdir() if p != out)
    if left:
        v.problems.append(f"left behind: {left}")
    if out.exists():
        if rc != 0:
            v.problems.append(f"output left after exit {rc}")
        v.frames_out, why = output_frames(out)
        if why:
            v.problems.append(f"output does not decode: {why}")
        elif v.frames_out == 0:
            v.problems.append("output has no frame")
    elif rc == 0:
        v.problems.append("exit 0 without output")
    if rc != 0:
        errs = [ln for ln in lines if ln.startswith("streamanon: error:")]
        if len(errs) != 1 or len(lines) != 1:
            v.problems.append(f"{len(lines)} stderr lines, {len(errs)} errors")
    if frames_ffmpeg is None and rc == 0:  # ffmpeg cannot decode more frames than there are packets
        packets = video_packets(src)
        frames_ffmpeg = -1 if packets is not None and v.frames_out >= math.ceil(0.9 * packets) else None
    v.frames_ffmpeg = ffmpeg_frames(src) if frames_ffmpeg is None else frames_ffmpeg
    if rc == 7 and out.suffix in (".jpg", ".png") and not ffmpeg_writes_image(src, out.suffix):
        v.frames_ffmpeg = 0  # ffmpeg cannot write this picture in that format either (a JPEG side over 65500)
    if v.frames_ffmpeg > 0 and v.frames_out < math.ceil(0.9 * v.frames_ffmpeg):
        # the ffmpeg on PATH (5.1 here) conceals some damage that the FFmpeg 8 inside PyAV refuses (a
        # Matroska header with a zero size, a VP8 or MJPEG picture): no stricter than the FFmpeg we decode with
        v.frames_library = library_frames(src)
        if v.frames_out < math.ceil(0.9 * min(v.frames_ffmpeg, v.frames_library)):
            v.problems.append(f"stricter than ffmpeg: {v.frames_out} of {v.frames_ffmpeg} frames "
                              f"({v.frames_library} with PyAV's FFmpeg)")
    return v


def output_name(src: Path) -> str:
    return "out" + (src.suffix if src.suffix in (".jpg", ".png") else ".mp4")


def run_case(worker: Worker, src: Path, work: Path, timeout: float, extra: list[str] | None = None) -> Verdict:
    """One input through the worker's CLI into a fresh folder under ``work``; judged."""
    out_dir = work / "out"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    out = out_dir / output_name(src)
    err = work / "stderr.txt"
    t0 = time.monotonic()
    rc = worker.run([str(src), str(out), "--method", "blur", *(extra or [])], err, timeout)
    seconds = time.monotonic() - t0
    stderr = err.read_text(errors="replace") if err.exists() else ""
    v = judge(rc, stderr, out_dir, out, src, None)
    v.seconds = round(seconds, 3)
    return v


# ------------------------------------------------------------------------------------------- driver


def draw_cases(seed_names: list[str], n: int, seed: int) -> list[tuple[str, list[tuple[str, int]]]]:
    """``n`` cases drawn by Hypothesis (generation phase only: a failure is kept as is, not shrunk)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    drawn: list = []

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=["generate"])
    @given(cases_strategy(seed_names))
    def collect(case) -> None:
        drawn.append((case[0], [tuple(op) for op in case[1]]))

    collect()
    while drawn and len(drawn) < n:  # Hypothesis stops early when it thinks the space is covered
        drawn.extend(drawn[:n - len(drawn)])
    return drawn


@dataclass
class Tally:
    """What the runs found, shared by the worker threads (under ``lock``)."""

    endings: Counter = field(default_factory=Counter)
    by_op: Counter = field(default_factory=Counter)
    bad: list = field(default_factory=list)
    rss: list = field(default_factory=list)
    peak_rss: float = 0.0
    slowest: list = field(default_factory=lambda: [0.0, ""])
    seconds_by_seed: Counter = field(default_factory=Counter)
    ffmpeg_consulted: int = 0
    worker_starts: int = 0
    library_differences: list = field(default_factory=list)  # ffmpeg 5.1 decodes more than PyAV's FFmpeg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=200, help="cases to run (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=600, help="stop starting cases after this (default: %(default)s)")
    p.add_argument("--case-seconds", type=float, default=60, help="a case running longer is a hang (default: "
                   "%(default)s)")
    p.add_argument("--max-rss-mb", type=float, default=2500, help="worker memory bound (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed (default: %(default)s)")
    p.add_argument("--nice", type=int, default=0, help="niceness of the workers (default: %(default)s)")
    p.add_argument("--work", type=Path, help="scratch folder (default: a new temporary folder)")
    p.add_argument("--keep", type=Path, help="copy every input with a bad ending here, with its verdict")
    p.add_argument("--json", type=Path, help="write the summary here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return serve()
    import threading

    work = args.work or Path(tempfile.mkdtemp(prefix="fuzz-inputs-"))
    seeds = make_seeds(work / "seeds")
    seed_bytes = {k: v.read_bytes() for k, v in seeds.items()}
    cases = draw_cases(sorted(seeds), args.cases, args.seed)
    t_start = time.monotonic()
    tally = Tally()
    lock = threading.Lock()
    next_case = iter(enumerate(cases))

    def loop(job: int) -> None:
        worker = Worker(args.nice)
        jwork = work / f"job{job}"
        jwork.mkdir(parents=True, exist_ok=True)
        try:
            while time.monotonic() - t_start < args.seconds:
                with lock:
                    n, (name, ops) = next(next_case, (None, (None, None)))
                if n is None:
                    return
                src = jwork / f"case{Path(name).suffix}"
                src.write_bytes(mutate(seed_bytes[name], ops))
                v = run_case(worker, src, jwork, args.case_seconds)
                mem = worker.rss
                if mem > args.max_rss_mb:
                    v.problems.append(f"worker RSS {mem:.0f} MB > {args.max_rss_mb:.0f} MB")
                    worker.kill()
                with lock:
                    record(tally, n, name, ops, v, mem, src, args.keep)
                    done = sum(tally.endings.values())
                if done % 500 == 0:
                    print(f"{done} cases, {time.monotonic() - t_start:.0f} s, {dict(tally.endings)}, "
                          f"worker RSS {mem:.0f} MB", file=sys.stderr, flush=True)
        finally:
            with lock:
                tally.worker_starts += worker.starts
            worker.kill()

    threads = [threading.Thread(target=loop, args=(j,), daemon=True) for j in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(tally.endings.values())
    warm = [m for n, m in tally.rss if n >= 1000]
    summary = {"cases": total, "bad": len(tally.bad), "endings": dict(tally.endings), "mutations": dict(tally.by_op),
               "seconds": round(time.monotonic() - t_start, 1), "jobs": args.jobs, "worker_starts": tally.worker_starts,
               "ffmpeg_consulted": tally.ffmpeg_consulted, "peak_rss_mb": round(tally.peak_rss),
               "rss_mb": tally.rss, "rss_after_1000_min_max_mb": [min(warm), max(warm)] if warm else None,
               "seconds_by_seed": {k: round(v) for k, v in tally.seconds_by_seed.items()},
               "slowest_case": tally.slowest,
               "library_differences": len(tally.library_differences), "library_difference_cases":
               tally.library_differences, "bad_cases": tally.bad}
    print(json.dumps({k: v for k, v in summary.items() if k not in ("bad_cases", "rss_mb",
                                                                    "library_difference_cases")}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0 if not tally.bad and total >= args.cases else 1


def record(tally: Tally, n: int, name: str, ops: list, v: Verdict, mem: float, src: Path, keep: Path | None) -> None:
    """Count one finished case (the caller holds the lock); keep its input when it ended badly."""
    done = sum(tally.endings.values()) + 1
    if done % 100 == 0:
        tally.rss.append((done, round(mem, 1)))
    tally.peak_rss = max(tally.peak_rss, mem)
    tally.seconds_by_seed[name] += v.seconds
    tally.ffmpeg_consulted += v.frames_ffmpeg >= 0
    if v.frames_library >= 0 and not v.problems:
        tally.library_differences.append({"case": n, "seed": name, "ops": ops, "rc": v.rc, "out": v.frames_out,
                                          "ffmpeg": v.frames_ffmpeg, "library": v.frames_library})
    if v.seconds > tally.slowest[0]:
        tally.slowest[:] = [v.seconds, f"{name} {ops}"]
    tally.endings["bad" if v.problems else f"exit {v.rc}"] += 1
    for op, _ in ops:
        tally.by_op[op] += 1
    if v.problems:
        entry = {"case": n, "seed": name, "ops": ops, **asdict(v)}
        tally.bad.append(entry)
        print(f"BAD case {n}: {name} {ops}: {v.problems} rc={v.rc}", file=sys.stderr, flush=True)
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, keep / f"bad{n}{src.suffix}")
            (keep / f"bad{n}.json").write_text(json.dumps(entry, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
