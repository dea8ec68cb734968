"""``--ray ADDRESS``: one Ray task per file on a running cluster, with the same worker code and manifest.

Each task declares its resources (``num_cpus``; ``num_gpus`` when the generator runs on CUDA) and is retried
by Ray when its worker process dies (``max_retries``); the output lock (batch.outputs) keeps a retried task and
a straggler off one output. Worker processes are reused by Ray, and each keeps its models between tasks.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from ..errors import StreamanonError
from .cores import pin_to_free_cores
from .inputs import Job
from .worker import Worker, WorkerSettings, cap_threads

INSTALL = 'the --ray option needs Ray: pip install -e ".[ray]" (or pip install ray)'
POLL_S = 0.5

_worker: tuple[WorkerSettings, Worker] | None = None  # per Ray worker process: the models stay loaded


class RayMissing(StreamanonError):
    exit_code = 2


class ClusterUnreachable(StreamanonError):
    exit_code = 3


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RayMissing(INSTALL) from exc
    return ray


def anonymize_task(job: Job, settings: WorkerSettings) -> dict:
    """The Ray task: one file on this worker process's Worker (made once per settings)."""
    global _worker
    pin_to_free_cores(settings.threads)  # once per worker process
    if _worker is None or _worker[0] != settings:
        if _worker is not None:
            _worker[1].close()
        _worker = (settings, Worker(settings))
    cap_threads(settings.threads)
    return _worker[1].run(job)


def _gcs(address: str) -> tuple[str, int] | None:
    """The host and port a ``--ray`` address leads to, to check before Ray retries it for minutes; None when
    that is for Ray to say."""
    hostport = address.removeprefix("ray://")
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address
            hostport = canonicalize_bootstrap_address("auto")
        except ConnectionError as exc:
            raise ClusterUnreachable(f"no running Ray cluster found for --ray auto: {exc}") from exc
        except Exception:  # noqa: BLE001 - a private helper: ray.init says what is wrong
            return None
        if hostport is None:
            raise ClusterUnreachable("no running Ray cluster found for --ray auto (start one with ray start --head)")
    host, _, port = hostport.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def connect(address: str) -> object:
    ray = import_ray()
    gcs = _gcs(address)
    if gcs is not None:
        try:
            socket.create_connection(gcs, timeout=5).close()
        except OSError as exc:
            raise ClusterUnreachable(f"cannot reach the Ray cluster at {address}: "
                                     f"{exc.strerror or exc}") from exc
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterUnreachable(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
    return ray


def gpus_per_task(ray, settings: WorkerSettings, wanted: float | None) -> float:
    """``wanted``, or a quarter of a GPU when the generator will run on CUDA (the cluster has GPUs), else 0."""
    if wanted is not None:
        return wanted
    o = settings.options
    on_cuda = o.cover.method == "generate" and ray.cluster_resources().get("GPU", 0) > 0
    return 0.25 if on_cuda else 0.0


def run_ray(address: str, jobs: list[Job], settings: WorkerSettings, retries: int, gpus: float | None,
            on_entry: Callable[[dict], None], on_frames: Callable[[int], None], on_lost: Callable[[Job, str], None],
            interrupted: threading.Event) -> None:
    """Submit every job, record each entry as its task ends; a task that died more than ``retries`` times is
    recorded failed through ``on_lost``."""
    ray = connect(address)
    try:
        task = ray.remote(anonymize_task)
        resources = {"num_cpus": settings.threads, "num_gpus": gpus_per_task(ray, settings, gpus),
                     "max_retries": retries, "retry_exceptions": False}
        shared = ray.put(settings)
        refs = {task.options(name=f"streamanon {job.rel}", **resources).remote(job, shared): job for job in jobs}
        while refs:
            if interrupted.is_set():
                for ref in refs:
                    ray.cancel(ref, force=True)
                return
            done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=POLL_S, fetch_local=True)
            for ref in done:
                job = refs.pop(ref)
                try:
                    entry = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    on_lost(job, f"ray task failed after {retries + 1} attempts: {_first_line(exc)}")
                    continue
                on_frames(entry.get("frames", 0))
                on_entry(entry)
    finally:
        ray.shutdown()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
