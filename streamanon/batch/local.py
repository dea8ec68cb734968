"""The local pool: N worker processes (spawned), each pinned to its own cores, fed one job at a time.

A worker process that dies (killed, out of memory, a crash in native code) costs only its current file: that
file is tried again up to ``retries`` times, then recorded failed, and a new process takes the slot.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable

from .cores import pin_to_free_cores
from .inputs import Job
from .worker import Worker, WorkerSettings, thread_env

POLL_S = 0.2


def _worker_main(wid: int, inbox, outbox, settings: WorkerSettings, stop) -> None:
    """A pool process: build the models once, then run jobs until told to end (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; ``stop`` ends the current file
    pin_to_free_cores(settings.threads)
    worker = Worker(settings)
    outbox.put(("ready", wid, None))
    try:
        while (job := inbox.get()) is not None:
            entry = worker.run(job, stop=stop, progress=lambda n: outbox.put(("frames", wid, n)))
            outbox.put(("done", wid, entry))
    finally:
        worker.close()


class _Slot:
    def __init__(self, process, inbox):
        self.process, self.inbox = process, inbox
        self.job: Job | None = None
        self.ready = False


class LocalPool:
    """``LocalPool(settings, workers).run(jobs, on_entry, on_frames)``; ``stop`` (an Event) ends it early: the
    files in progress are abandoned (no output) and recorded as interrupted."""

    def __init__(self, settings: WorkerSettings, workers: int, retries: int = 3):
        self.settings, self.workers, self.retries = settings, max(1, workers), retries
        self.ctx = mp.get_context("spawn")
        self.stop = self.ctx.Event()
        self.outbox = self.ctx.Queue()
        self.start_failures = 0

    def _start(self, wid: int) -> _Slot:
        inbox = self.ctx.Queue()
        p = self.ctx.Process(target=_worker_main, name=f"streamanon-batch-{wid}", daemon=True,
                             args=(wid, inbox, self.outbox, self.settings, self.stop))
        saved = dict(os.environ)
        os.environ.update(thread_env(self.settings.threads))  # read by the child's numpy/OpenCV as they load
        try:
            p.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return _Slot(p, inbox)

    def run(self, jobs: list[Job], on_entry: Callable[[dict], None], on_frames: Callable[[int], None],
            on_died: Callable[[Job, str, bool], None], interrupted: threading.Event) -> None:
        pending = deque(jobs)
        tries: dict[str, int] = {}
        slots = {w: self._start(w) for w in range(min(self.workers, len(jobs)))}
        try:
            while pending or any(s.job is not None for s in slots.values()):
                if interrupted.is_set() and not self.stop.is_set():
                    self.stop.set()
                    pending.clear()
                for s in slots.values():
                    if s.ready and s.job is None and pending:
                        s.job = pending.popleft()
                        s.inbox.put(s.job)
                self._drain(slots, on_entry, on_frames)
                for wid, s in list(slots.items()):
                    if s.process.is_alive():
                        continue
                    job, s.job = s.job, None
                    if not s.ready:
                        self.start_failures += 1
                        if self.start_failures > self.workers + self.retries:
                            raise RuntimeError(f"batch workers fail to start ({_death(s.process.exitcode)})")
                    if job is not None:
                        tries[job.rel] = tries.get(job.rel, 0) + 1
                        again = tries[job.rel] <= self.retries and not self.stop.is_set()
                        on_died(job, _death(s.process.exitcode), again)
                        if again:
                            pending.appendleft(job)
                    if pending:
                        slots[wid] = self._start(wid)
                    else:
                        del slots[wid]
                if not slots and pending:
                    slots = {0: self._start(0)}
        finally:
            self._close(slots)

    def _drain(self, slots: dict[int, _Slot], on_entry, on_frames) -> None:
        try:
            kind, wid, payload = self.outbox.get(timeout=POLL_S)
        except queue.Empty:
            return
        while True:
            s = slots.get(wid)
            if kind == "ready" and s is not None:
                s.ready = True
            elif kind == "frames":
                on_frames(payload)
            elif kind == "done":
                if s is not None:
                    s.job = None
                on_entry(payload)
            try:
                kind, wid, payload = self.outbox.get_nowait()
            except queue.Empty:
                return

    def _close(self, slots: dict[int, _Slot]) -> None:
        for s in slots.values():
            if s.process.is_alive():
                s.inbox.put(None)
        for s in slots.values():
            s.process.join(timeout=10)
            if s.process.is_alive():
                s.process.kill()
                s.process.join()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"worker process killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"worker process killed by signal {-code}"
    return f"worker process exited with code {code}"
