"""``streamanon batch IN OUT [options]``: the single-file options plus the batch's own; exit 0 when every file is
done (or skipped), 10 when some failed."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from ..errors import OutputError, StreamanonError, report
from .inputs import Job, collect
from .manifest import CARRIED, FAILED, SKIPPED, Manifest, plan
from .report import Bars, Tally

EXIT_SOME_FAILED = 10
PROG = "streamanon batch"
# single-file options that only make sense for pipes, live streams or one output
NOT_FOR_BATCH = ("input_format", "input_size", "input_pix_fmt", "input_rate", "output_format", "rtsp_transport",
                 "reconnect", "max_latency", "preview", "stats")

EXAMPLES = """\
examples:
  streamanon batch archive/ anon/ --method blur          every video and image under archive/, same paths in anon/
  streamanon batch 'cams/**/*.mkv' anon/ --workers 4      a glob (quoted), 4 worker processes
  streamanon batch list.txt anon/ --ray auto             a text file of paths, one Ray task per file

A rerun skips the files OUT/manifest.jsonl records as done whose input has the same size, mtime and sha256
(--force redoes them). With --ray, IN and OUT must be paths every node of the cluster reads and writes alike.
Every option of `streamanon -h` applies to each file, except those for pipes and live streams.
exit codes: 0 all done or skipped, 2 usage (also: Ray missing), 3 IN not found or the cluster unreachable,
4 no media in IN, 7 OUT not writable, 10 some files failed (see the manifest), 130/143 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The single-file parser, retitled, with the batch options added."""
    from ..cli import build_parser as single_file_parser

    p = single_file_parser()
    p.prog, p.epilog = PROG, EXAMPLES
    p.usage = f"{PROG} IN OUT [--workers N | --ray ADDRESS] [--force] [single-file options]"
    p.description = "Anonymize every video and image of a folder, a glob or a list, resumably, on local worker " \
                    "processes or a Ray cluster; one line per file in OUT/manifest.jsonl."
    for action in p._actions:  # the positionals keep their names (input, output), with batch meanings
        if action.dest == "input":
            action.metavar, action.help = "IN", "a folder (recursive), a glob ('in/**/*.mp4') or a text file of paths"
        elif action.dest == "output":
            action.metavar, action.help = "OUT", "output folder; keeps the inputs' relative paths"
    g = p.add_argument_group("batch")
    g.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes, each holding its models (default: one per core)")
    g.add_argument("--threads", type=int, metavar="N",
                   help="cores per worker; each worker is pinned to its own; with --ray, num_cpus per task "
                        "(default: cores / workers, 1 with --ray)")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="one Ray task per file on the cluster at ADDRESS (host:port, ray://host:port) or 'auto' "
                        "(needs the ray extra)")
    g.add_argument("--gpus", type=float, metavar="G",
                   help="with --ray: num_gpus per task (default: 0.25 when --method generate and the cluster has "
                        "GPUs, else 0)")
    g.add_argument("--retries", type=int, default=3, metavar="N",
                   help="a file whose worker process died is tried again up to N times (default: %(default)s)")
    g.add_argument("--force", action="store_true", help="redo the files the manifest records as done")
    g.add_argument("--video-ext", metavar="EXT",
                   help="container of the video outputs, e.g. mkv (default: the input's; .gif gets .mp4 appended)")
    return p


def _usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace, p: argparse.ArgumentParser) -> str | None:
    """A usage problem in one line, or None."""
    if args.output is None:
        return "OUT is required"
    for dest in NOT_FOR_BATCH:
        if getattr(args, dest) != p.get_default(dest):
            return f"--{dest.replace('_', '-')} is for pipes and live streams, not for batch"
    if args.workers is not None and args.workers < 1:
        return f"--workers must be at least 1, got {args.workers}"
    if args.threads is not None and args.threads < 1:
        return f"--threads must be at least 1, got {args.threads}"
    if args.retries < 0:
        return f"--retries must be at least 0, got {args.retries}"
    if args.gpus is not None and args.gpus < 0:
        return f"--gpus must be at least 0, got {args.gpus}"
    if args.ray is None and args.gpus is not None:
        return "--gpus is for --ray"
    return None


def _out_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise OutputError(f"OUT must be a folder: {out}", path=str(out))
    if not out.parent.exists():
        raise OutputError(f"the folder of OUT does not exist: {out.parent}", path=str(out))
    try:
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make OUT {out}: {exc.strerror}", path=str(out)) from exc
    return out


def main(argv: list[str]) -> int:
    from ..cli import _options, _setup_logging

    p = build_parser()
    args = p.parse_args(argv)
    _setup_logging(args)
    if (problem := _check(args, p)) is not None:
        return _usage_error(problem)
    try:
        options = _options(args)
    except ValueError as exc:
        return _usage_error(str(exc))
    try:
        return run(args, options)
    except BaseException as exc:  # noqa: BLE001 - one line, never a traceback (unless -v)
        if isinstance(exc, SystemExit):
            raise
        if args.verbose and not isinstance(exc, (StreamanonError, KeyboardInterrupt)):
            logging.getLogger("streamanon").exception("internal error")
        return report(exc, PROG, verbose_flag=False)


def run(args: argparse.Namespace, options) -> int:
    from .cores import available_cpus
    from .local import LocalPool
    from .worker import WorkerSettings

    if args.ray is not None:
        from .ray_pool import import_ray
        import_ray()  # one line on how to install it, before anything else
    out = _out_folder(Path(args.output))
    manifest = Manifest(out)
    last = manifest.last()
    jobs = plan(collect(args.input, out, args.video_ext), last, args.force, args.overwrite)
    cores = len(available_cpus())
    workers = args.workers or cores
    threads = args.threads or (1 if args.ray else max(1, cores // workers))
    settings = WorkerSettings(options=options, threads=threads)
    log = logging.getLogger("streamanon")
    log.info("%d files, %d to check for a skip; %s", len(jobs), sum(j.verify is not None for j in jobs),
             f"ray at {args.ray}" if args.ray else f"{workers} workers x {threads} threads")

    tally = Tally(len(jobs))
    bars = Bars(len(jobs), enabled=not args.quiet and sys.stderr.isatty())
    interrupted = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame) -> None:
        received.append(signum)
        interrupted.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    def on_entry(entry: dict) -> None:
        if entry["status"] == SKIPPED:  # the line stays complete: what the skipped output holds
            entry.update({k: last[entry["rel"]].get(k) for k in CARRIED})
        manifest.append(entry)
        tally.add(entry)
        bars.entry(entry)
        if entry["status"] == FAILED:
            bars.note(f"{PROG}: failed: {entry['rel']}: {entry['error']} (exit {entry['exit_code']})")
        else:
            log.info("%s %s: %d frames, %d faces, %.1f s", entry["status"], entry["rel"], entry["frames"],
                     entry["faces"], entry["seconds"])

    def lost(job: Job, reason: str) -> None:
        on_entry({"rel": job.rel, "input": job.src, "output": job.dst, "kind": job.kind, "status": FAILED,
                  "exit_code": 1, "error": reason})

    def on_died(job: Job, reason: str, again: bool) -> None:
        if again:
            bars.note(f"{PROG}: {job.rel}: {reason}; trying again")
        else:
            lost(job, f"{reason} ({args.retries + 1} attempts)")

    try:
        if args.ray is not None:
            from .ray_pool import run_ray
            run_ray(args.ray, jobs, settings, args.retries, args.gpus, on_entry, bars.add_frames, lost, interrupted)
        else:
            LocalPool(settings, workers, args.retries).run(jobs, on_entry, bars.add_frames, on_died, interrupted)
    finally:
        bars.close()
    failed = tally.counts[FAILED]
    if not args.quiet or failed or received:
        print(tally.summary(str(manifest.path)), file=sys.stderr)
    if received:
        return 143 if received[0] == signal.SIGTERM else 130
    return EXIT_SOME_FAILED if failed else 0
