"""Throughput benchmark: pure PyAV transcode vs streamanon (CLI) vs deface (CLI) on one clip, in one run.

    python tools/bench.py [--clip PATH] [--repeat N] [--methods blur,pixelate,mask,generate] [--skip-deface]
                          [--deface-matched] [--json out.json]

fps = frames / wall seconds, frames counted by decoding the input (outputs are decoded too, as a check);
CPU ms/frame (user + sys of the run and its children) is less sensitive to other load on the machine.
Runs are interleaved (one of each method per round), so a change in machine load hits all of them alike;
the median (or best, ``--pick best``) round is reported. Only numbers from the same run are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from streamanon.media.sink import EncodeSettings, to_video_frame
from streamanon.media.source import DECODE_THREADS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLE = ROOT / "samples" / "astronaut.mp4"
SHARED_VIDEOS = ROOT.parent / "shared" / "data" / "videos"
# 1280x720 clips of ../shared with one main face (data README), tried before the other 720p ones
ONE_FACE_720P = ("lp_s18.mp4", "lp_s32.mp4", "ghost_obama_short.mp4", "ghost_nggyup.mp4")
# the encoder settings streamanon uses by default (streamanon/media/sink.py EncodeSettings, cli.py)
PRESET, CRF = EncodeSettings.preset, EncodeSettings.crf
# deface with the same encoder settings (imageio-ffmpeg: quality None adds no -crf of its own)
DEFACE_MATCHED = {"codec": "libx264", "quality": None, "output_params": ["-preset", PRESET, "-crf", str(CRF)]}
# the issues' targets: (x deface, x pure transcode); None: no target
TARGETS = {"blur": (6.0, 0.6), "pixelate": (6.0, 0.6), "mask": (6.0, 0.6), "generate": (3.0, None)}


@dataclass
class Result:
    """Timings of one benchmarked method over all rounds."""

    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + sys CPU seconds (process and its children)
    out_frames: int | None = None
    stats: list[dict] = field(default_factory=list)  # streamanon --stats JSON, one per round
    note: str = ""

    def pick(self, how: str) -> int:
        """Index of the median (lower median) or best round."""
        order = sorted(range(len(self.seconds)), key=self.seconds.__getitem__)
        return order[0] if how == "best" else order[(len(order) - 1) // 2]

    def wall(self, how: str) -> float:
        return self.seconds[self.pick(how)]

    def cpu_ms_per_frame(self, how: str, frames: int) -> float:
        return 1000 * self.cpu[self.pick(how)] / frames

    def stats_fps(self, how: str) -> float | None:
        return self.stats[self.pick(how)].get("fps") if self.stats else None


def probe(path: Path) -> tuple[int, int, Fraction | None, int]:
    """Width, height, frame rate and the number of frames, counted by decoding."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        n = sum(1 for _ in c.decode(v))
        return v.codec_context.width, v.codec_context.height, v.average_rate or v.guessed_rate, n


def find_clip() -> Path:
    """samples/astronaut.mp4, else a 1280x720 clip of ../shared/data/videos (one-face ones first)."""
    if DEFAULT_SAMPLE.exists():
        return DEFAULT_SAMPLE
    if SHARED_VIDEOS.is_dir():
        rank = {name: i for i, name in enumerate(ONE_FACE_720P)}
        clips = sorted(SHARED_VIDEOS.glob("*.mp4"), key=lambda p: (rank.get(p.name, len(rank)), p.name))
        for p in clips:
            try:
                with av.open(str(p)) as c:
                    cc = c.streams.video[0].codec_context
                    if (cc.width, cc.height) == (1280, 720):
                        return p
            except (av.error.FFmpegError, IndexError):
                continue
    sys.exit(f"bench: no clip: {DEFAULT_SAMPLE} is missing and no 1280x720 clip in {SHARED_VIDEOS}; use --clip")


def pure_transcode(src: Path, dst: Path) -> None:
    """Decode -> rgb24 ndarray -> VideoFrame -> libx264 -> mp4 as streamanon does (its decoder threads, colour
    conversion and encoder settings), no analysis, no audio."""
    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = DECODE_THREADS
        tb = vin.time_base or Fraction(1, 1000)
        vout = out.add_stream("libx264", rate=vin.average_rate or vin.guessed_rate or Fraction(25))
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.time_base = tb
        vout.codec_context.time_base = tb
        vout.options = {"crf": str(CRF), "preset": PRESET}
        last = -1
        for frame in inp.decode(vin):
            rgb = frame.to_ndarray(format="rgb24")
            vf = to_video_frame(rgb, vout.pix_fmt)
            pts = frame.pts if frame.pts is not None and frame.pts > last else last + 1
            vf.pts, vf.time_base, last = pts, tb, pts
            for packet in vout.encode(vf):
                out.mux(packet)
        for packet in vout.encode():
            out.mux(packet)


def run_command(cmd: list[str]) -> float:
    """Wall seconds of a command; exits with its error output when it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: " + " | ".join(tail))
    return seconds


def deface_command() -> list[str] | None:
    """The deface CLI, or None when it is not installed."""
    exe = shutil.which("deface")
    if exe is None:
        return None
    probe_run = subprocess.run([exe, "--version"], capture_output=True, text=True)
    return [exe] if probe_run.returncode == 0 else None


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def build_jobs(args: argparse.Namespace, clip: Path, work: Path) -> list[tuple[Result, Path, Callable[[], float]]]:
    """(result, output path, timed runner) for every method of the benchmark."""
    jobs: list[tuple[Result, Path, Callable[[], float]]] = []

    def timed(fn: Callable[[], None]) -> Callable[[], float]:
        def go() -> float:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        return go

    out = work / "transcode.mp4"
    jobs.append((Result("pure transcode (PyAV, in-process)"), out, timed(lambda o=out: pure_transcode(clip, o))))
    for method in args.methods:
        res = Result(f"streamanon {method} (CLI wall)")
        out, stats = work / f"streamanon_{method}.mp4", work / f"streamanon_{method}.json"
        cmd = [sys.executable, "-m", "streamanon", str(clip), str(out), "-y", "-q", "--stats", str(stats),
               "--method", method, "--preset", PRESET, "--crf", str(CRF)]

        def go(cmd: list[str] = cmd, stats: Path = stats, res: Result = res) -> float:
            seconds = run_command(cmd)
            res.stats.append(json.loads(stats.read_text()))
            return seconds
        jobs.append((res, out, go))
    if args.skip_deface:
        return jobs
    exe = deface_command()
    if exe is None:
        print("bench: deface is not installed (or does not start): skipping it", file=sys.stderr)
        return jobs
    configs = [("deface (CLI wall, defaults)", None)]
    if args.deface_matched:
        configs.append((f"deface (CLI wall, {PRESET} crf {CRF})", DEFACE_MATCHED))
    for i, (name, config) in enumerate(configs):
        out = work / f"deface_{i}.mp4"
        cmd = exe + [str(clip), "-o", str(out)]
        if config is not None:
            cmd += ["--ffmpeg-config", json.dumps(config)]
        jobs.append((Result(name), out, lambda cmd=cmd: run_command(cmd)))
    return jobs


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(args: argparse.Namespace, clip: Path, info: tuple, results: list[Result], load: tuple[str, str]) -> dict:
    """Print the markdown table and the targets; return everything as a dict (for --json)."""
    width, height, rate, frames = info
    by_name = {r.name: r for r in results}
    fps_of = {r.name: frames / r.wall(args.pick) for r in results if r.seconds}
    transcode = fps_of.get(results[0].name)
    deface = next((fps_of[r.name] for r in results if r.name.startswith("deface") and "defaults" in r.name), None)
    rate_s = f"{float(rate):.3g}" if rate else "?"
    print(f"\nclip: {clip} ({width}x{height}, {rate_s} fps, {frames} frames decoded); "
          f"{os.cpu_count()} CPUs; load avg before {load[0]}, after {load[1]}; "
          f"{args.repeat} round(s), {args.pick} shown\n")
    print("| method | wall s | fps | vs deface | vs pure transcode | CPU ms/frame | output frames |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for r in results:
        fps = fps_of[r.name]
        cpu_ms = r.cpu_ms_per_frame(args.pick, frames)
        rows.append({"method": r.name, "seconds": r.seconds, "cpu_seconds": r.cpu, "cpu_ms_per_frame": cpu_ms,
                     "wall_s": r.wall(args.pick), "fps": fps,
                     "vs_deface": fps / deface if deface else None, "vs_transcode": fps / transcode,
                     "output_frames": r.out_frames,
                     "stats": r.stats[r.pick(args.pick)] if r.stats else None})
        flag = "" if r.out_frames == frames else " (!)"
        print(f"| {r.name} | {r.wall(args.pick):.2f} | {fps:.1f} | {ratio(fps, deface)} | {ratio(fps, transcode)} "
              f"| {cpu_ms:.0f} | {r.out_frames}{flag} |")
        sfps = r.stats_fps(args.pick)
        if sfps:
            name = r.name.replace("(CLI wall)", "(--stats fps, excl. startup)")
            rows.append({"method": name, "fps": sfps, "vs_deface": sfps / deface if deface else None,
                         "vs_transcode": sfps / transcode})
            print(f"| {name} | - | {sfps:.1f} | {ratio(sfps, deface)} | {ratio(sfps, transcode)} | | |")
    print()
    for r in results:
        if r.stats:
            st = r.stats[r.pick(args.pick)]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in st["stage_ms_per_frame"].items())
            top = max(st["stage_ms_per_frame"], key=st["stage_ms_per_frame"].get)
            print(f"{r.name.split(' (')[0]}: stage ms/frame {stages} (stages overlap; largest: {top}); "
                  f"faces {st['faces']}, tracks {st['tracks']}")
    targets = []
    for method in args.methods:
        r = by_name.get(f"streamanon {method} (CLI wall)")
        if r is None:
            continue
        need_deface, need_transcode = TARGETS[method]
        print()
        for label, fps in (("CLI wall", fps_of[r.name]), ("--stats", r.stats_fps(args.pick))):
            checks = [(f"streamanon {method} ({label}) >= {need_deface:g}x deface", fps, deface, need_deface)]
            if need_transcode:
                checks.append((f"streamanon {method} ({label}) >= {need_transcode:g}x pure transcode", fps,
                               transcode, need_transcode))
            for text, a, b, need in checks:
                if not a or not b:
                    print(f"- {text}: n/a")
                    continue
                ok = a / b >= need
                targets.append({"target": text, "ratio": a / b, "pass": ok})
                print(f"- {text}: {a / b:.2f}x -> {'PASS' if ok else 'FAIL'}")
    return {"clip": str(clip), "width": width, "height": height, "rate": float(rate) if rate else None,
            "frames": frames, "cpus": os.cpu_count(), "loadavg_before": load[0], "loadavg_after": load[1],
            "repeat": args.repeat, "pick": args.pick, "rows": rows, "targets": targets}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clip", type=Path, help=f"input clip (default: {DEFAULT_SAMPLE.relative_to(ROOT)} if present, "
                   f"else a 1280x720 clip of {SHARED_VIDEOS})")
    p.add_argument("--repeat", type=int, default=1, help="rounds (default: %(default)s)")
    p.add_argument("--pick", choices=["median", "best"], default="median", help="round shown (default: %(default)s)")
    p.add_argument("--methods", type=lambda s: s.split(","), default=["blur"],
                   help="streamanon methods, comma separated, each held to its target (default: blur)")
    p.add_argument("--skip-deface", action="store_true", help="do not run deface")
    p.add_argument("--deface-matched", action="store_true",
                   help=f"also run deface with streamanon's encoder settings (libx264 {PRESET} crf {CRF})")
    p.add_argument("--keep", type=Path, help="keep the outputs in this folder (default: a temporary one)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    bad = [m for m in args.methods if m not in TARGETS]
    if bad:
        p.error(f"unknown method(s): {', '.join(bad)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clip = (args.clip or find_clip()).resolve()
    if not clip.exists():
        sys.exit(f"bench: clip not found: {clip}")
    info = probe(clip)
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        jobs = build_jobs(args, clip, work)
        try:
            for round_ in range(args.repeat):
                for res, _, go in jobs:
                    print(f"bench: round {round_ + 1}/{args.repeat}: {res.name} ...", file=sys.stderr, flush=True)
                    cpu0 = cpu_seconds()
                    res.seconds.append(go())
                    res.cpu.append(cpu_seconds() - cpu0)
        except RuntimeError as exc:
            sys.exit(f"bench: {exc}")
        for res, out, _ in jobs:
            res.out_frames = probe(out)[3]
        result = report(args, clip, info, [r for r, _, _ in jobs], (load_before, loadavg()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
