"""Damaged inputs: a Hypothesis fuzz of the input path, and one regression test per class of failure it found.

Contract (tools/fuzz_inputs.py): exit 0 with an output PyAV reads to the end, holding at least 90% of the frames
``ffmpeg -i IN -f null -`` decodes (corrupt packets skipped and counted, a truncated file ends early), or a
documented exit code with one line on stderr and nothing left beside the output. Never exit 1, a traceback or
a hang. Every damaged file here is made by a script from a clean synthetic one (tests/media_factory.py).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import media_factory as mf
import numpy as np
import pytest
from conftest import REPO, run_cli

_spec = importlib.util.spec_from_file_location("fuzz_inputs", REPO / "tools" / "fuzz_inputs.py")
fz = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_inputs"] = fz  # its dataclasses look their module up
_spec.loader.exec_module(fz)

TIMEOUT = 90
# the judge of these cases is what the ffmpeg command line decodes (and the seeds are cut with it)
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="needs the ffmpeg binary (apt-get install ffmpeg)")


def ffmpeg_frames(path: Path) -> int:
    return fz.ffmpeg_frames(path)


def stats_of(path: Path) -> dict:
    return json.loads(path.read_text())


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("streamanon: error:"), stderr
    assert "Traceback" not in stderr
    return lines[0]


def assert_all_frames_written(src: Path, tmp_path: Path, frames: int) -> None:
    """The CLI ends with exit 0 and an output (tmp_path/out.mp4) PyAV decodes to the end, with all ``frames``."""
    out = tmp_path / "out.mp4"
    proc = run_cli(src, out, "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert fz.output_frames(out) == (frames, None)


# --------------------------------------------------------------------------- regressions, one per class


def test_corrupt_packets_are_skipped_counted_and_warned_once(tmp_path):
    """Found: a decoder error on one packet ended the run with exit 6 and no output, where ffmpeg decoded
    every other frame."""
    src = mf.make_damaged_clip(tmp_path / "damaged.mp4", damaged=(4, 9, 13), frames=20)
    reference = ffmpeg_frames(src)
    assert reference >= 15, reference  # ffmpeg skips the three damaged packets and decodes the rest
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    proc = run_cli(src, out, "--method", "blur", "-v", "--stats", stats, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert mf.probe(out).frames >= reference, (mf.probe(out).frames, reference)
    assert stats_of(stats)["corrupt_packets"] == 3
    warnings = [ln for ln in proc.stderr.splitlines() if "corrupt" in ln and "WARNING" in ln]
    assert len(warnings) == 1, proc.stderr


def test_error_at_the_end_loses_no_buffered_frame(tmp_path):
    """Found (a damaged mkv, 8 of 9 frames): with frame threads, a damaged packet near the end reports its error
    while the decoder is drained, and PyAV cannot receive the frames still in it; slice threads report it on its
    own packet."""
    src = mf.make_damaged_clip(tmp_path / "late.mp4", damaged=(18,), frames=20)
    reference = ffmpeg_frames(src)
    out = tmp_path / "out.mp4"
    proc = run_cli(src, out, "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert mf.probe(out).frames >= reference == 19


def test_truncated_file_keeps_the_decodable_frames(tmp_path):
    """Found: a file cut short (ffmpeg decodes what is there, exit 0) ended with exit 6 and no output."""
    whole = mf.make_clip(tmp_path / "whole.mp4", frames=30, width=96, height=64)
    src = mf.truncate(whole, 0.5, tmp_path / "cut.mp4")
    reference = ffmpeg_frames(src)
    assert 0 < reference < 30
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    proc = run_cli(src, out, "--method", "blur", "--stats", stats, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert mf.probe(out).frames >= np.ceil(0.9 * reference)
    assert "of 30 frames" in stats_of(stats)["truncated"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "out.mp4", "stats.json", "whole.mp4"]


def test_unknown_video_codec_is_exit_4(tmp_path):
    """Found: a sample description renamed by damage gave exit 1 (AttributeError on a missing decoder)."""
    clip = mf.make_clip(tmp_path / "clip.mp4", frames=8, width=96, height=64)
    src = mf.rename_codec(clip, tmp_path / "unknown.mp4", b"avc1")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = run_cli(src, out_dir / "o.mp4", "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 4, proc.stderr
    assert "unknown codec" in one_error_line(proc.stderr)
    assert not any(out_dir.iterdir())


def test_unknown_audio_codec_is_left_out(tmp_path):
    """Found: an audio stream without a known codec gave exit 1 when the sink copied it."""
    clip = mf.make_clip(tmp_path / "clip.mp4", frames=8, width=96, height=64)
    src = mf.rename_codec(clip, tmp_path / "unknown_audio.mp4", b"mp4a")
    out = tmp_path / "out.mp4"
    proc = run_cli(src, out, "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    info = mf.probe(out)
    assert info.frames == 8 and info.audio_streams == 0


def test_absurd_time_scale_gives_a_playable_output(tmp_path):
    """Found: a time scale of 2^31-1 (8 frames within 2 microseconds) went to the encoder as its time base and
    gave an output whose packets no decoder reads (exit 0, zero frames)."""
    clip = mf.make_clip(tmp_path / "clip.mp4", frames=8, width=96, height=64, audio=False)
    src = mf.set_video_timescale(clip, tmp_path / "timescale.mp4", 0x7FFFFFFF)
    assert ffmpeg_frames(src) == 8
    assert_all_frames_written(src, tmp_path, 8)


def test_audio_with_a_damaged_time_scale_is_left_out(tmp_path):
    """Found (the final fuzz run): an audio track whose time scale was damaged to 1 was copied with packet
    durations the mp4 muxer refuses when it finalizes (exit 8, no output)."""
    clip = mf.make_clip(tmp_path / "clip.mp4", frames=8, width=96, height=64)
    src = mf.set_video_timescale(clip, tmp_path / "audio_timescale.mp4", 1, track=1)
    assert_all_frames_written(src, tmp_path, 8)


def test_audio_with_a_damaged_sample_duration_is_written(tmp_path):
    """Found (the final fuzz run): an audio sample lasting 2^31 ticks (a damaged stts) was copied as is, and the
    mp4 muxer refused the file when it finalized it (exit 8, no output)."""
    clip = mf.make_clip(tmp_path / "clip.mp4", frames=8, width=96, height=64)
    src = mf.set_sample_delta(clip, tmp_path / "audio_delta.mp4", 0x80000000, track=1)
    assert_all_frames_written(src, tmp_path, 8)
    assert mf.probe(tmp_path / "out.mp4").audio_streams == 1


def test_timestamps_going_back_do_not_break_an_mp4(tmp_path):
    """Found (a damaged mkv whose frame times jump ahead and back): the sink made a backward time "one tick
    later" in the muxer's finer time base, which rounded back onto the previous frame in the encoder's, and
    finalizing the mp4 failed (exit 8, no output)."""
    from streamanon.media.sink import EncodeSettings, VideoSink
    from streamanon.media.source import VideoInfo
    from streamanon.types import Frame

    info = VideoInfo(path="x", width=96, height=64, rotation=0, time_base=Fraction(1, 25), rate=Fraction(25),
                     frames=0, duration=None, codec="h264", pix_fmt="yuv420p")
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, info, EncodeSettings(codec="libx264", preset="ultrafast", audio=False))
    for i, pts in enumerate([0, 1, 2, 100, 3, 4, 5]):
        sink.write(Frame(index=i, rgb=mf.make_frame(96, 64, i), pts=pts, time_base=Fraction(1, 25)))
    sink.close(ok=True)
    info_out = mf.probe(out)
    assert info_out.frames == 7
    assert all(b > a for a, b in zip(info_out.times, info_out.times[1:])), info_out.times


def test_negative_timestamps_are_presented(tmp_path):
    """Found (a damaged edit list, ctts): decoded frames before time 0 were written with their negative times,
    and the mp4's edit list then hid them from every player (1 of 2 frames shown)."""
    from streamanon.media.sink import EncodeSettings, VideoSink
    from streamanon.media.source import VideoInfo
    from streamanon.types import Frame

    info = VideoInfo(path="x", width=96, height=64, rotation=0, time_base=Fraction(1, 25), rate=Fraction(25),
                     frames=0, duration=None, codec="h264", pix_fmt="yuv420p")
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, info, EncodeSettings(codec="libx264", preset="ultrafast", audio=False))
    for i, pts in enumerate([-2, -1, 0, 1]):
        sink.write(Frame(index=i, rgb=mf.make_frame(96, 64, i), pts=pts, time_base=Fraction(1, 25)))
    sink.close(ok=True)
    assert fz.output_frames(out) == (4, None)


def test_huge_image_header_is_refused_fast(tmp_path):
    """Found: a 2 kB JPEG whose header announces 32768x16385 took 48 s and 3.8 GB in OpenCV, and the written
    image was one FFmpeg refuses."""
    src = mf.make_image(tmp_path / "still.jpg", width=96, height=64)
    data = bytearray(src.read_bytes())
    sof = next(i for i in range(len(data) - 9) if data[i] == 0xFF and data[i + 1] == 0xC0)
    struct.pack_into(">HH", data, sof + 5, 16385, 32768)
    bad = tmp_path / "huge.jpg"
    bad.write_bytes(bytes(data))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    t0 = time.monotonic()
    proc = run_cli(bad, out_dir / "o.jpg", "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 4, proc.stderr
    assert "32768x16385" in one_error_line(proc.stderr)
    assert time.monotonic() - t0 < 30
    assert not any(out_dir.iterdir())


def test_truncated_jpeg_is_concealed_as_ffmpeg_does(tmp_path):
    """Found: OpenCV refuses a JPEG cut inside its header tables, which ffmpeg still decodes (concealed)."""
    src = mf.make_image(tmp_path / "still.jpg", width=96, height=64)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(src.read_bytes()[:700])
    if ffmpeg_frames(cut) != 1:
        pytest.skip("this FFmpeg does not decode the cut JPEG either")
    out = tmp_path / "o.jpg"
    proc = run_cli(cut, out, "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert fz.output_frames(out) == (1, None)


def _png(path: Path, rows: bytes, width: int, height: int) -> Path:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


def test_damaged_png_reports_one_line(tmp_path):
    """Found: libpng and OpenCV print their own lines (``libpng error: bad adaptive filter value``, ``[ WARN:0@..``)
    before ours: two lines on stderr."""
    width, height = 32, 16
    src = _png(tmp_path / "bad.png", b"".join(b"\x09" + bytes(3 * width) for _ in range(height)), width, height)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = run_cli(src, out_dir / "o.png", "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode in (0, 4), proc.stderr
    if proc.returncode == 4:
        one_error_line(proc.stderr)
        assert not any(out_dir.iterdir())
    else:
        assert [p.name for p in out_dir.iterdir()] == ["o.png"]


def test_extreme_aspect_ratio_image(tmp_path):
    """Found: a JPEG header damaged to 35213x7 made the detector shrink the frame to zero rows (OpenCV
    assertion, exit 1); ffmpeg decodes such an image."""
    import cv2

    src = tmp_path / "line.png"
    cv2.imwrite(str(src), np.full((1, 4000, 3), 128, np.uint8))
    out = tmp_path / "o.png"
    proc = run_cli(src, out, "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(out)).shape == (1, 4000, 3)


def test_picture_too_wide_for_jpeg_is_exit_7_as_ffmpeg(tmp_path):
    """Found: JPEG headers damaged to 65534x2 decode (FFmpeg), but no encoder writes a JPEG side over 65500 px:
    OpenCV printed its own error line before ours. Now one line, exit 7, nothing left; ffmpeg fails alike, so
    the fuzz judge does not count it stricter than ffmpeg."""
    import cv2

    src = tmp_path / "wide.png"
    cv2.imwrite(str(src), np.full((2, 65534, 3), 128, np.uint8))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.jpg"
    proc = run_cli(src, out, "--method", "blur", timeout=TIMEOUT)
    assert proc.returncode == 7, proc.stderr
    assert "65534x2" in one_error_line(proc.stderr)
    assert not any(out_dir.iterdir())
    assert fz.judge(proc.returncode, proc.stderr, out_dir, out, src, None).ok


def test_intra_only_corrupt_picture_is_concealed(tmp_path):
    """Found: a damaged MJPEG picture that ffmpeg 5.1 conceals is refused by the FFmpeg 8 inside PyAV; the
    previous picture stands in for it, so the frame count and times stay."""
    src = mf.make_clip(tmp_path / "clip.avi", frames=8, width=96, height=64, codec="mjpeg", pix_fmt="yuvj420p",
                       audio=False)
    data = bytearray(src.read_bytes())
    frames = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]  # start of scan
    for i in range(frames[3] + 20, frames[3] + 120):  # the fourth picture's entropy-coded data, scrambled
        data[i] = 0xFF if i % 7 == 0 else data[i] ^ 0x5A
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    proc = run_cli(bad, out, "--method", "blur", "--stats", stats, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert mf.probe(out).frames >= ffmpeg_frames(bad)
    if stats_of(stats)["corrupt_packets"]:  # this FFmpeg refused the picture: it was concealed, not dropped
        assert mf.probe(out).frames == 8


def test_header_size():
    from streamanon.media.images import header_size

    assert header_size((REPO / "samples" / "astronaut.jpg").read_bytes()) == (1280, 720)
    assert header_size(b"not an image") is None


# --------------------------------------------------------------------------- the fuzz itself


@pytest.fixture(scope="module")
def fuzz_seeds(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    return {k: v.read_bytes() for k, v in fz.make_seeds(folder).items()}


@pytest.fixture(scope="module")
def worker():
    w = fz.Worker()
    yield w
    w.kill()


def test_mutations_are_deterministic(fuzz_seeds):
    data = fuzz_seeds["front.mp4"]
    for name in fz.MUTATIONS:
        assert fz.mutate(data, [(name, 7)]) == fz.mutate(data, [(name, 7)]), name
    assert fz.mutate(data, [("swap_boxes", 1)]) != data


def test_judge_catches_bad_endings(tmp_path):
    """The oracle itself: exit 1, a second line, a file left behind and a short output are all bad."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    src = mf.make_clip(tmp_path / "in.mp4", frames=10, width=96, height=64)
    out = out_dir / "out.mp4"
    assert "exit 1 (internal error)" in fz.judge(1, "streamanon: error: internal error: X\n", out_dir, out, src,
                                                 10).problems
    assert any("stderr lines" in p for p in fz.judge(4, "x\nstreamanon: error: y\n", out_dir, out, src, 0).problems)
    (out_dir / ".out.partial-1.mp4").write_bytes(b"x")
    assert any("left behind" in p for p in fz.judge(4, "streamanon: error: y\n", out_dir, out, src, 0).problems)
    (out_dir / ".out.partial-1.mp4").unlink()
    mf.make_clip(out, frames=5, width=96, height=64)
    assert any("stricter than ffmpeg" in p for p in fz.judge(0, "", out_dir, out, src, 10).problems)
    assert fz.judge(0, "", out_dir, out, src, 5).ok


def test_fuzzed_inputs_end_well(fuzz_seeds, worker, tmp_path):
    """Hypothesis draws seeds and mutations; each case runs through the CLI's main in a persistent worker."""
    from hypothesis import HealthCheck, given, settings

    names = sorted(fuzz_seeds)
    bad = []

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=["generate"])
    @given(fz.cases_strategy(names))
    def case(drawn) -> None:
        name, ops = drawn
        src = tmp_path / f"case{Path(name).suffix}"
        src.write_bytes(fz.mutate(fuzz_seeds[name], ops))
        v = fz.run_case(worker, src, tmp_path, timeout=60)
        if v.rc == "hang":
            worker.kill()
        if not v.ok:
            bad.append((name, ops, v.problems, v.stderr[-300:]))

    case()
    assert not bad, bad


def test_worker_reports_a_hang(tmp_path):
    """A case over its wall-time bound is reported as a hang and the worker is replaced."""
    w = fz.Worker()
    try:
        src = tmp_path / "in.mp4"
        mf.make_clip(src, frames=10, width=96, height=64)
        out = tmp_path / "out"
        out.mkdir()
        assert w.run([str(src), str(out / "o.mp4"), "--method", "blur"], tmp_path / "err.txt", 0.01) == "hang"
        assert w.proc is None
    finally:
        w.kill()


def test_ffmpeg_reference_counts_frames(tmp_path):
    src = mf.make_clip(tmp_path / "in.mp4", frames=12, width=96, height=64)
    assert ffmpeg_frames(src) == 12
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nothing")
    assert ffmpeg_frames(bad) == 0
    assert subprocess.run(["ffmpeg", "-version"], capture_output=True).returncode == 0
    assert av.open(str(src)).streams.video[0].frames == 12
