"""``streamanon batch``: inputs, manifest, resumption and failures on the local pool and on a real Ray cluster.

The Ray tests start a one-node cluster on loopback (``ray start --head --port 0 --num-cpus 2``) and stop it
after; they skip where Ray is not installed (the ``ray`` extra). Media are tiny synthetic clips, ``--method
blur``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import cli_command, cli_env, run_cli
from media_factory import make_clip, make_image, make_text_file, probe

from streamanon.batch.inputs import collect
from streamanon.batch.manifest import Manifest, plan

BLUR = ("--method", "blur")


def entries(out: Path) -> dict[str, dict]:
    return Manifest(out).last()


def lines(out: Path) -> list[dict]:
    return [json.loads(s) for s in (out / "manifest.jsonl").read_text().splitlines()]


def leftovers(out: Path) -> list[str]:
    """Hidden files (locks, partial outputs) a run must not leave."""
    return sorted(str(p.relative_to(out)) for p in out.rglob(".*"))


@pytest.fixture
def corpus(tmp_path) -> Path:
    """Videos and images in nested folders, one corrupt clip, and a file that is not media."""
    root = tmp_path / "in"
    (root / "cam1").mkdir(parents=True)
    (root / "stills").mkdir()
    make_clip(root / "cam1" / "a.mp4", frames=12)
    make_clip(root / "b.mkv", frames=10, width=240, height=180)
    make_image(root / "stills" / "c.jpg")
    make_image(root / "stills" / "d.png", width=200, height=160)
    make_text_file(root / "cam1" / "broken.mp4")  # a video by its name, text inside
    make_text_file(root / "notes.txt")  # not media: not an input
    return root


# -- inputs (no models) -------------------------------------------------------------------------------------


def test_folder_is_recursive_media_only(corpus, tmp_path):
    jobs = collect(str(corpus), tmp_path / "out")
    assert sorted(j.rel for j in jobs) == ["b.mkv", "cam1/a.mp4", "cam1/broken.mp4", "stills/c.jpg", "stills/d.png"]
    assert {j.rel: j.kind for j in jobs}["stills/d.png"] == "image"


def test_glob_and_list_keep_relative_paths(corpus, tmp_path):
    by_glob = collect(str(corpus / "**" / "*.mp4"), tmp_path / "out")
    assert sorted(j.rel for j in by_glob) == ["a.mp4", "broken.mp4"]  # relative to their common folder
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{corpus / 'b.mkv'}\nin/stills/c.jpg\n\n{corpus / 'b.mkv'}\n")
    listed = collect(str(listing), tmp_path / "out")
    assert sorted(j.rel for j in listed) == ["b.mkv", "stills/c.jpg"]  # relative lines, duplicates once


def test_gif_and_video_ext(tmp_path):
    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "x.mp4", frames=2)
    (tmp_path / "in" / "y.gif").write_bytes(b"GIF89a")
    jobs = {j.rel for j in collect(str(tmp_path / "in"), tmp_path / "out")}
    assert jobs == {"x.mp4", "y.gif.mp4"}
    assert {j.rel for j in collect(str(tmp_path / "in"), tmp_path / "out", "mkv")} == {"x.mkv", "y.mkv"}


def test_plan_verifies_only_unchanged_done_files(corpus, tmp_path):
    out = tmp_path / "out"
    jobs = collect(str(corpus), out)
    a = next(j for j in jobs if j.rel == "cam1/a.mp4")
    Path(a.dst).parent.mkdir(parents=True)
    Path(a.dst).write_bytes(b"x" * 5)
    st = os.stat(a.src)
    last = {a.rel: {"rel": a.rel, "status": "done", "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                    "bytes_out": 5, "sha256_in": "abc"}}
    planned = {j.rel: j for j in plan(jobs, last, force=False, overwrite=False)}
    assert planned[a.rel].verify == "abc" and planned[a.rel].overwrite
    assert planned["b.mkv"].verify is None and not planned["b.mkv"].overwrite
    assert plan(jobs, last, force=True, overwrite=False)[0].verify is None
    os.utime(a.src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hashed again, redone
    assert {j.rel: j for j in plan(jobs, last, False, False)}[a.rel].verify is None


@pytest.mark.parametrize("args, code, says", [
    (["{tmp}/nowhere", "{tmp}/out"], 3, "input not found"),
    (["{tmp}/empty", "{tmp}/out"], 4, "no videos or images"),
    (["{tmp}/empty", "{tmp}/file.txt"], 7, "OUT must be a folder"),
    (["{tmp}/empty", "{tmp}/no/such/out"], 7, "does not exist"),
    (["{tmp}/empty", "{tmp}/out", "--preview"], 2, "not for batch"),
    (["{tmp}/empty", "{tmp}/out", "--workers", "0"], 2, "--workers"),
    (["{tmp}/empty", "{tmp}/out", "--threshold", "2"], 2, "threshold"),
    (["{tmp}/empty", "{tmp}/out", "--gpus", "1"], 2, "--gpus is for --ray"),
])
def test_bad_usage_is_one_line(tmp_path, args, code, says):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    r = run_cli("batch", *[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == code, r.stderr
    assert says in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_ray_missing_says_how_to_install(tmp_path):
    (tmp_path / "in").mkdir()
    code = ("import sys; sys.modules['ray'] = None; from streamanon.cli import main; "
            f"raise SystemExit(main(['batch', {str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}, '--ray', 'auto']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ['streamanon batch: error: the --ray option needs Ray: '
                                             'pip install -e ".[ray]" (or pip install ray)']


def test_ray_unreachable_is_one_line(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    (tmp_path / "in").mkdir()
    make_image(tmp_path / "in" / "c.jpg")
    r = run_cli("batch", tmp_path / "in", tmp_path / "out", "--ray", "127.0.0.1:1", *BLUR)
    assert r.returncode == 3
    assert r.stderr.strip().splitlines() == ["streamanon batch: error: cannot reach the Ray cluster at 127.0.0.1:1: "
                                             "Connection refused"]


# -- local pool -----------------------------------------------------------------------------------------------


def test_local_pool_mixed_inputs_failure_rerun_force(corpus, tmp_path):
    out = tmp_path / "out"
    r = run_cli("batch", corpus, out, *BLUR, "--workers", "2", timeout=600)
    assert r.returncode == 10, r.stderr  # the corrupt clip failed, the others did not stop
    assert "Traceback" not in r.stderr
    assert re.search(r"5 files: 4 done, 0 skipped, 1 failed", r.stderr)
    e = entries(out)
    assert sorted(e) == ["b.mkv", "cam1/a.mp4", "cam1/broken.mp4", "stills/c.jpg", "stills/d.png"]
    bad = e["cam1/broken.mp4"]
    assert (bad["status"], bad["exit_code"]) == ("failed", 4) and "\n" not in bad["error"]
    assert not (out / "cam1" / "broken.mp4").exists()
    for rel, frames in (("cam1/a.mp4", 12), ("b.mkv", 10), ("stills/c.jpg", 1), ("stills/d.png", 1)):
        assert e[rel]["status"] == "done" and e[rel]["frames"] == frames and e[rel]["faces"] >= 1, e[rel]
        assert e[rel]["sha256_out"] and e[rel]["sha256_in"] and e[rel]["bytes_out"] == (out / rel).stat().st_size
    assert probe(out / "cam1" / "a.mp4").frames == 12
    assert leftovers(out) == []

    mtimes = {rel: (out / rel).stat().st_mtime_ns for rel in e if e[rel]["status"] == "done"}
    again = run_cli("batch", corpus, out, *BLUR, "--workers", "2", timeout=600)
    assert again.returncode == 10  # the corrupt clip is tried again, and fails again
    e2 = entries(out)
    for rel in mtimes:
        assert e2[rel]["status"] == "skipped" and e2[rel]["sha256_out"] == e[rel]["sha256_out"]
        assert (out / rel).stat().st_mtime_ns == mtimes[rel]
    assert len(lines(out)) == 10  # appended, never rewritten

    make_clip(corpus / "b.mkv", frames=8, width=240, height=180)  # the input changed: redone
    forced = run_cli("batch", corpus, out, *BLUR, "--workers", "1", timeout=600)
    assert entries(out)["b.mkv"]["status"] == "done" and entries(out)["b.mkv"]["frames"] == 8, forced.stderr
    assert entries(out)["cam1/a.mp4"]["status"] == "skipped"
    run_cli("batch", corpus, out, *BLUR, "--force", timeout=600)
    assert {rel: v["status"] for rel, v in entries(out).items() if rel != "cam1/broken.mp4"} == \
        dict.fromkeys(mtimes, "done")


def test_existing_output_not_in_manifest_is_kept(tmp_path):
    (tmp_path / "in").mkdir()
    make_image(tmp_path / "in" / "c.jpg")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "c.jpg").write_bytes(b"someone else's")
    r = run_cli("batch", tmp_path / "in", tmp_path / "out", *BLUR, "--workers", "1")
    assert r.returncode == 10
    assert entries(tmp_path / "out")["c.jpg"]["exit_code"] == 7
    assert (tmp_path / "out" / "c.jpg").read_bytes() == b"someone else's"
    assert run_cli("batch", tmp_path / "in", tmp_path / "out", *BLUR, "-y").returncode == 0


# -- a real Ray cluster on loopback ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    """The address of a one-node Ray cluster with 2 CPUs, started for these tests and stopped after."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    log = Path(temp) / "start.log"
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--port", "0", "--num-cpus", "2",
           "--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--include-dashboard", "false",
           "--temp-dir", temp, "--block"]
    with open(log, "w") as f:
        head = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=cli_env(), start_new_session=True)
    address = None
    deadline = time.monotonic() + 120
    while address is None and time.monotonic() < deadline and head.poll() is None:
        time.sleep(0.5)
        found = re.search(r"ray start --address='([^']+)'", log.read_text())
        address = found.group(1) if found else None
    try:
        if address is None:
            pytest.fail(f"ray start did not come up: {log.read_text()[-2000:]}")
        yield address
    finally:
        head.send_signal(signal.SIGTERM)  # --block: ray start stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_partial(out: Path, name: str, proc: subprocess.Popen, timeout: float = 240) -> int:
    """The pid holding ``name``'s lock once frames are being written to its partial output."""
    stem = Path(name).stem
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in out.glob(f"..{stem}.batch-*") if p.stat().st_size > 4096]
        lock = out / f".{name}.lock"
        if partial and lock.exists():
            try:
                return json.loads(lock.read_text())["pid"]
            except (ValueError, KeyError):
                pass
        time.sleep(0.05)
    raise AssertionError(f"no partial output of {name} appeared")


def test_local_worker_killed_mid_file_is_retried(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_clip(src / "long.mp4", frames=300)
    cmd = cli_command("batch", src, out, *BLUR, "--workers", "1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        os.kill(_wait_for_partial(out, "long.mp4", proc), signal.SIGKILL)  # the pool's worker process
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "long.mp4: worker process killed by SIGKILL; trying again" in err
    e = entries(out)["long.mp4"]
    assert (e["status"], e["attempt"], e["frames"]) == ("done", 2, 300)
    assert probe(out / "long.mp4").frames == 300 and leftovers(out) == []


def test_ray_worker_killed_mid_file_is_retried_and_rerun_skips(ray_cluster, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_clip(src / "long.mp4", frames=300)
    make_image(src / "still.jpg")
    cmd = cli_command("batch", src, out, "--ray", ray_cluster, *BLUR, "--retries", "2")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        pid = _wait_for_partial(out, "long.mp4", proc)
        os.kill(pid, signal.SIGKILL)  # the Ray worker process, in the middle of the file
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    e = entries(out)
    assert e["long.mp4"]["status"] == "done" and e["long.mp4"]["attempt"] == 2, e["long.mp4"]
    assert e["long.mp4"]["frames"] == 300 and probe(out / "long.mp4").frames == 300
    assert e["still.jpg"]["status"] == "done"
    assert leftovers(out) == []  # the killed attempt's partial output and lock are gone

    again = run_cli("batch", src, out, "--ray", ray_cluster, *BLUR, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "2 files: 0 done, 2 skipped, 0 failed" in again.stderr
    assert {rel: v["status"] for rel, v in entries(out).items()} == {"long.mp4": "skipped", "still.jpg": "skipped"}


def test_ray_corrupt_input_is_recorded_and_others_complete(ray_cluster, corpus, tmp_path):
    out = tmp_path / "out"
    r = run_cli("batch", corpus, out, "--ray", ray_cluster, *BLUR, timeout=600)
    assert r.returncode == 10, r.stderr
    assert "Traceback" not in r.stderr
    e = entries(out)
    assert (e["cam1/broken.mp4"]["status"], e["cam1/broken.mp4"]["exit_code"]) == ("failed", 4)
    assert all(e[rel]["status"] == "done" for rel in ("cam1/a.mp4", "b.mkv", "stills/c.jpg", "stills/d.png"))
    assert probe(out / "b.mkv").frames == 10
    assert leftovers(out) == []
