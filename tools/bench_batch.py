"""Throughput of ``streamanon batch``: 1 worker against 2, the local pool against Ray, and 1080p cost.

    python tools/bench_batch.py                       # ../shared/data/videos + crowds, --method blur
    python tools/bench_batch.py --method generate --runs w2 --no-hd

Runs the CLI as a user would (a text file of paths in, a fresh OUT each run) and reads the numbers back from
OUT/manifest.jsonl: wall time of the whole run, files per hour, frames per second, and the CPU seconds each
worker process spent per file (``cpu_seconds``: all its threads), which stay meaningful on a shared machine.
``ray`` starts a one-node cluster on loopback with as many CPUs as this machine (``ray start --head``), runs
the same files with one task per file, and stops it. ``--hd`` adds 1080p copies of two 720p clips (scaled with
ffmpeg) for docs/scale.md. Prints a Markdown table and writes everything to OUT/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
HD_CLIPS = ("crowds/crowdmonitoring_crowd.mp4", "videos/lp_s18.mp4")  # a crowd and a talking head, 720p
RUNS = {"w1": ["--workers", "1", "--threads", "2"], "w2": ["--workers", "2", "--threads", "1"],
        "ray": ["--threads", "1"]}


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), e.get("PYTHONPATH")) if p)
    return e


def inputs(data: Path) -> list[Path]:
    from streamanon.batch.inputs import is_media

    return sorted(p for d in ("videos", "crowds") for p in (data / d).iterdir() if p.is_file() and is_media(p))


def start_ray(cpus: int, temp: str) -> tuple[subprocess.Popen, str]:
    log = Path(temp) / "start.log"
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--port", "0", "--num-cpus", str(cpus),
           "--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--include-dashboard", "false",
           "--temp-dir", temp, "--block"]
    with open(log, "w") as f:
        head = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and head.poll() is None:
        found = re.search(r"ray start --address='([^']+)'", log.read_text())
        if found:
            return head, found.group(1)
        time.sleep(0.5)
    stop_ray(head)
    raise SystemExit(f"ray start did not come up: {log.read_text()[-1500:]}")


def stop_ray(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def run_batch(listing: Path, out: Path, method: str, extra: list[str]) -> dict:
    """One batch run into a fresh ``out``: wall time, exit code and the manifest's entries."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "streamanon", "batch", str(listing), str(out), "--method", method, "-q", *extra]
    load0 = os.getloadavg()[0]
    t_start = time.time()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env())
    wall = time.perf_counter() - t0
    if not (out / "manifest.jsonl").exists():
        raise SystemExit(f"batch failed (exit {r.returncode}): {r.stderr.strip()[-1500:]}")
    entries = [json.loads(s) for s in (out / "manifest.jsonl").read_text().splitlines()]
    return {"cmd": " ".join(cmd[1:]), "rc": r.returncode, "t_start": t_start, "stderr": r.stderr.strip()[-500:],
            "wall": wall, "load": [round(load0, 2), round(os.getloadavg()[0], 2)], "entries": entries}


def summarize(run: dict) -> dict:
    done = [e for e in run["entries"] if e["status"] == "done"]
    videos = [e for e in done if e["kind"] == "video"]
    frames = sum(e["frames"] for e in done)
    video_s = sum(e["duration"] or 0 for e in videos)
    wall = run["wall"]
    return {"files": len(run["entries"]), "done": len(done), "failed": sum(e["status"] == "failed"
                                                                         for e in run["entries"]),
            "frames": frames, "video_s": round(video_s, 1), "wall_s": round(wall, 1),
            "files_per_hour": round(len(done) * 3600 / wall), "fps": round(frames / wall, 1),
            "x_realtime": round(video_s / wall, 2),
            "cpu_s_per_video_s": round(sum(e["cpu_seconds"] for e in videos) / video_s, 2) if video_s else None,
            "cpu_ms_per_frame": round(1000 * sum(e["cpu_seconds"] for e in done) / frames, 1) if frames else None,
            "load": run["load"]}


def gaps(run: dict) -> dict:
    """Idle time of the worker slots: from the run's start to each worker's first file, and between one file's
    end and the next file's start on the same worker process (dispatch, scheduling, result passing)."""
    timed = [e for e in run["entries"] if e.get("started") is not None]
    if not timed:
        return {}
    t0 = run.get("t_start") or max(e["started"] + e["seconds"] for e in timed) - run["wall"]
    by_worker: dict[str, list[dict]] = {}
    for e in timed:
        by_worker.setdefault(e["worker"], []).append(e)
    between = []
    for es in by_worker.values():
        es.sort(key=lambda e: e["started"])
        between += [b["started"] - (a["started"] + a["seconds"]) for a, b in zip(es, es[1:])]
    return {"workers": len(by_worker), "first_file_after_s": round(min(e["started"] for e in timed) - t0, 2),
            "mean_gap_s": round(statistics.mean(between), 3) if between else None}


def ray_overhead(local: dict, ray: dict, gap_local: dict | None = None, min_s: float = 5.0) -> dict:
    """Ray against the local pool on the same files and slots. Per file of ``min_s`` seconds of video or more:
    the extra idle time between files (Ray's scheduling), and the extra CPU time inside the task (Ray's runtime
    threads), as fractions of the local pool's time per such file. The machine is shared, so the wall totals
    are given too but not used for the verdict. ``gap_local``: the local pool's gaps, when ``local`` has none."""
    by_rel = {e["rel"]: e for e in local["entries"] if e["status"] == "done"}
    long = [(by_rel[e["rel"]], e) for e in ray["entries"]
            if e["status"] == "done" and e["rel"] in by_rel and (e["duration"] or 0) >= min_s]
    if not long:
        return {}
    g_local, g_ray = gaps(local) or gap_local or {}, gaps(ray)
    mean_s = statistics.mean(a["seconds"] for a, _ in long)
    extra_gap = (g_ray.get("mean_gap_s") or 0) - (g_local.get("mean_gap_s") or 0)
    cpu_ratio = sum(b["cpu_seconds"] for _, b in long) / sum(a["cpu_seconds"] for a, _ in long)
    return {"files": len(ray["entries"]), "long_files": len(long), "wall_local_s": round(local["wall"], 1),
            "wall_ray_s": round(ray["wall"], 1), "gaps_local": g_local, "gaps_ray": g_ray,
            "mean_local_s_per_long_file": round(mean_s, 2), "extra_gap_per_file_s": round(extra_gap, 3),
            "cpu_ratio_long_files": round(cpu_ratio, 3),
            "overhead_fraction_long_file": round(extra_gap / mean_s + (cpu_ratio - 1), 3)}


def hd_copies(data: Path, work: Path) -> Path:
    """1080p copies of HD_CLIPS (ffmpeg, lanczos, crf 18) listed in a text file."""
    folder = work / "hd"
    folder.mkdir(parents=True, exist_ok=True)
    for rel in HD_CLIPS:
        dst = folder / Path(rel).name
        if not dst.exists():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(data / rel),
                            "-vf", "scale=1920:1080:flags=lanczos", "-c:v", "libx264", "-crf", "18",
                            "-preset", "veryfast", "-c:a", "copy", str(dst)],
                           check=True)
    listing = work / "hd.txt"
    listing.write_text("".join(f"{folder / Path(rel).name}\n" for rel in HD_CLIPS))
    return listing


def table(rows: dict[str, dict]) -> str:
    head = ("| run | files done | frames | video s | wall s | files/hour | fps | x realtime | CPU s per video s | "
            "CPU ms/frame | load avg (start, end) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| {name} | {s['done']}/{s['files']} | {s['frames']} | {s['video_s']} | {s['wall_s']} | {s['files_per_hour']} "
        f"| {s['fps']} | {s['x_realtime']} | {s['cpu_s_per_video_s']} | {s['cpu_ms_per_frame']} | {s['load']} |\n"
        for name, s in rows.items())


def report(runs: dict[str, dict], method: str) -> None:
    """The Markdown table of every run and, with w2 and ray, Ray's overhead."""
    rows = {}
    for name, run in runs.items():
        label = f"1080p x2, w1 ({name[3:]})" if name.startswith("hd_") else f"{name} ({' '.join(RUNS[name])}, {method})"
        rows[label] = summarize(run)
    print(table(rows))
    for name, run in runs.items():
        print(f"{name}: slots {json.dumps(gaps(run))}")
    if "w2" in runs and "ray" in runs:
        w1_gaps = gaps(runs["w1"]) if "w1" in runs else None
        print("ray vs local pool (2 slots each):", json.dumps(ray_overhead(runs["w2"], runs["ray"], w1_gaps)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA, help="folder with videos/ and crowds/ (default: %(default)s)")
    p.add_argument("--method", default="blur", help="anonymization method (default: %(default)s)")
    p.add_argument("--runs", default="w2,ray,w1", help="which of w1, w2, ray (default: %(default)s)")
    p.add_argument("--hd", action=argparse.BooleanOptionalAction, default=True,
                   help="also time 1080p copies of two clips with blur and generate (default: on)")
    p.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one, removed)")
    p.add_argument("--from-json", type=Path, metavar="BENCH_JSON", help="print the tables of an earlier run")
    a = p.parse_args()
    if a.from_json:
        report(json.loads(a.from_json.read_text())["runs"], a.method)
        return 0
    if not a.data.is_dir():
        print(f"bench_batch: no data at {a.data}", file=sys.stderr)
        return 3
    work = a.out or Path(tempfile.mkdtemp(prefix="bench_batch"))
    work.mkdir(parents=True, exist_ok=True)
    listing = work / "inputs.txt"
    listing.write_text("".join(f"{f}\n" for f in inputs(a.data)))
    runs, rows = {}, {}
    try:
        for name in a.runs.split(","):
            extra = list(RUNS[name])
            head = None
            if name == "ray":
                ray_temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
                head, address = start_ray(os.cpu_count() or 2, ray_temp)
                extra += ["--ray", address]
            try:
                runs[name] = run_batch(listing, work / f"out_{name}", a.method, extra)
            finally:
                if head is not None:
                    stop_ray(head)
                    shutil.rmtree(ray_temp, ignore_errors=True)
            rows[f"{name} ({' '.join(RUNS[name])}, {a.method})"] = summarize(runs[name])
            print(f"{name}: rc {runs[name]['rc']} {rows[next(reversed(rows))]}", flush=True)
            (work / "bench.json").write_text(json.dumps({"rows": rows, "runs": runs}, indent=1))
        if a.hd:
            hd = hd_copies(a.data, work)
            for method in ("blur", "generate"):
                name = f"hd_{method}"
                runs[name] = run_batch(hd, work / f"out_{name}", method, RUNS["w1"])
                rows[f"1080p x2, w1 ({method})"] = summarize(runs[name])
                print(f"{name}: rc {runs[name]['rc']} {rows[next(reversed(rows))]}", flush=True)
        (work / "bench.json").write_text(json.dumps({"rows": rows, "runs": runs}, indent=1))
        report(runs, a.method)
        print(f"details: {work / 'bench.json'}")
    finally:
        if a.out is None:
            shutil.rmtree(work / "hd", ignore_errors=True)
            for name in runs:
                shutil.rmtree(work / f"out_{name}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
