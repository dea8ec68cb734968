"""Path security: the output never overwrites the input through a link, temporary files are created exclusively,
folder mode stays inside its folder, model files are checked before they load."""

from __future__ import annotations

import json
import os
import shutil
import stat

import numpy as np
import pytest
from media_factory import make_clip, make_image

from streamanon.faces.shape import ShapeModel
from streamanon.media.safe_paths import exclusive_temp, inside, same_file
from streamanon.models.engine import ENGINES_DIR, ModelError


def test_output_that_is_a_hard_link_or_symlink_to_the_input_is_refused(cli, tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    before = src.read_bytes()
    os.link(src, tmp_path / "hard.mp4")
    (tmp_path / "soft.mp4").symlink_to(src)
    for name in ("hard.mp4", "soft.mp4"):
        r = cli(src, tmp_path / name, "-y", "--method", "blur")
        assert r.returncode == 7, r.stderr
        assert "same file as the input" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert src.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_temporary_files_are_new_hidden_files_with_a_random_name(tmp_path):
    dst = tmp_path / "out.mp4"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    # a link planted where an old, predictable temporary name (pid-based) would have been
    (tmp_path / f".out.partial-{os.getpid()}.mp4").symlink_to(victim)
    a, b = exclusive_temp(dst), exclusive_temp(dst)
    assert a != b and a.parent == b.parent == tmp_path
    for p in (a, b):
        assert p.name.startswith(".out.partial-") and p.suffix == ".mp4"
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode) and st.st_size == 0
        umask = os.umask(0)
        os.umask(umask)
        assert stat.S_IMODE(st.st_mode) == 0o666 & ~umask
    assert victim.read_text() == "keep"


def test_same_file_and_inside(tmp_path):
    a = tmp_path / "a"
    a.write_text("x")
    os.link(a, tmp_path / "b")
    (tmp_path / "c").symlink_to(a)
    assert same_file(a, tmp_path / "b") and same_file(a, tmp_path / "c")
    assert not same_file(a, tmp_path / "missing")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "out").symlink_to(a)
    assert not inside(tmp_path / "d" / "out", tmp_path / "d") and inside(a, tmp_path)


def test_folder_mode_does_not_follow_links_out_of_the_input_folder(cli, tmp_path):
    outside = tmp_path / "private"
    outside.mkdir()
    secret = make_image(outside / "secret.png")
    photos = tmp_path / "photos"
    photos.mkdir()
    make_image(photos / "a.png")
    (photos / "link.png").symlink_to(secret)
    r = cli(photos, tmp_path / "anon", "--method", "blur")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "anon").iterdir()) == ["a.png"]


def test_an_altered_or_truncated_shape_model_is_refused(tmp_path):
    name = "shape_model.npz"
    good = (ENGINES_DIR / name).read_bytes()
    entry = json.loads((ENGINES_DIR / "manifest.json").read_text())[name]
    (tmp_path / "manifest.json").write_text(json.dumps({name: entry}))
    (tmp_path / name).write_bytes(good)
    assert np.isfinite(ShapeModel.load(tmp_path / name).mean).all()
    for bad in (good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 1])):
        (tmp_path / name).write_bytes(bad)
        with pytest.raises(ModelError, match="sha256"):
            ShapeModel.load(tmp_path / name)
    shutil.rmtree(tmp_path)


def test_a_rerun_removes_what_a_killed_run_left_and_spares_live_runs(tmp_path):
    import subprocess

    from streamanon.media.safe_paths import remove_stale

    dead = subprocess.Popen(["true"])  # a process that has ended: its pid is free
    dead.wait()
    left = tmp_path / f".out.partial-{dead.pid}-abc123.mp4"
    left.write_bytes(b"half a file")
    live = tmp_path / f".out.partial-{os.getpid()}-def456.mp4"
    live.write_bytes(b"being written")
    other = tmp_path / f".other.partial-{dead.pid}-abc123.mp4"
    other.write_bytes(b"another output's")
    assert remove_stale(tmp_path / "out.mp4") == [left]
    assert not left.exists() and live.exists() and other.exists()
