"""MP4 edit lists: the presented frames are the video.

``ffmpeg -ss 1 -i in.mp4 -c copy out.mp4`` keeps the GOP before 1 s (it cannot cut between keyframes
without re-encoding) and writes an edit list so that players present from 1 s. The container still counts
the hidden frames; the CLI must write exactly the frames a player presents, with timestamps from about 0,
and keep the audio, aligned. A really truncated file (bytes cut off) gives the frames that decode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import media_factory as mf
import pytest
from conftest import run_cli

pytest.importorskip("skimage.data")  # the factory's face

TIMEOUT = 120
FPS = 25


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("the ffmpeg command is not installed (it makes the edit-list file: ffmpeg -ss 1 -c copy)")
    return exe


def _presented_frames(path: Path) -> int:
    """How many video frames ffmpeg presents (decodes and outputs) for ``path``."""
    proc = subprocess.run([_ffmpeg(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-vsync", "passthrough", "-f", "framemd5", "-"],
                          capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return sum(1 for line in proc.stdout.splitlines() if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def edit_list_mp4(tmp_path_factory) -> Path:
    """A 2 s clip with audio, cut at 1 s without re-encoding: 50 frames stored, 25 presented."""
    ffmpeg = _ffmpeg()
    folder = tmp_path_factory.mktemp("editlist")
    src = mf.make_clip(folder / "whole.mp4", frames=2 * FPS, fps=FPS)
    dst = folder / "edit.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-nostdin", "-y", "-ss", "1", "-i", str(src), "-c", "copy",
                    "-movflags", "+faststart", str(dst)], check=True, timeout=TIMEOUT)
    with av.open(str(dst)) as c:  # the file really hides frames: the container counts more than it presents
        stored = c.streams.video[0].frames
    assert stored > _presented_frames(dst), "ffmpeg wrote no edit list that hides frames"
    return dst


def _video(path: Path) -> tuple[int, float, float, float]:
    """Decoded frame count, first and last frame time (s), and the stream's duration (s)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(v)]
        duration = float(v.duration * v.time_base) if v.duration else times[-1] - times[0] + 1 / FPS
    return len(times), times[0], times[-1], duration


def _audio(path: Path) -> list[float]:
    """The presented audio frames' start times (s) of the first audio stream."""
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(c.streams.audio[0])]


def test_edit_list_writes_every_presented_frame(tmp_path, edit_list_mp4):
    out = tmp_path / "out.mp4"
    proc = run_cli(edit_list_mp4, out, "--method", "blur", "-q", timeout=TIMEOUT)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr

    presented = _presented_frames(edit_list_mp4)
    frames, first, last, duration = _video(out)
    assert frames == presented, (frames, presented)
    assert abs(first) <= 1 / FPS, f"output starts at {first:.3f} s, expected about 0"
    _, src_first, _, src_duration = _video(edit_list_mp4)
    assert abs(duration - src_duration) <= 1 / FPS + 1e-6, (duration, src_duration)
    assert abs(last - first - (presented - 1) / FPS) <= 1 / FPS + 1e-6

    audio = _audio(out)
    assert audio, "the audio stream was dropped"
    src_audio = _audio(edit_list_mp4)
    # aligned with the video as a player presents the input: no hidden pre-roll audio before the start
    assert abs((audio[0] - first) - (src_audio[0] - src_first)) <= 1 / FPS, (audio[0], src_audio[0])
    assert abs((audio[-1] - audio[0]) - (src_audio[-1] - src_audio[0])) <= 1 / FPS, (audio[-1], src_audio[-1])


def test_truncated_edit_list_file_keeps_its_decodable_frames(tmp_path, edit_list_mp4):
    # faststart: the index stays whole and announces the presented duration; the cut loses media data
    # (the hidden pre-roll fills the first half of the data: cut into the presented part). As ffmpeg does, the
    # frames that decode are written (exit 0), and --stats says the input was truncated
    src = mf.truncate(edit_list_mp4, 0.8, tmp_path / "cut.mp4")
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    proc = run_cli(src, out, "--method", "blur", "-q", "--stats", stats, timeout=TIMEOUT)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstderr:\n{proc.stderr}"
    assert "decodable" in json.loads(stats.read_text())["truncated"]
    assert 0 < mf.probe(out).frames < mf.probe(edit_list_mp4).frames
