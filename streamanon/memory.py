"""Give freed C-heap memory back to the operating system during long runs.

Many threads (decoder, detector, mesh, encoder) allocate and free frame-sized buffers. glibc keeps freed
chunks inside its per-thread arenas, and after an mmap-served buffer is freed it raises its mmap threshold,
so later frame buffers come from those arenas too: a stream's resident memory then creeps up with
fragmentation although nothing is held. ``malloc_trim(0)`` returns the free pages of every arena.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

log = logging.getLogger(__name__)

# seconds between two trims: each walks the arenas (milliseconds), which is nothing at this interval
TRIM_EVERY = 30.0


def _load_trim():
    """glibc's malloc_trim, or None (another C library, or not Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


class HeapTrimmer:
    """``tick()`` from a loop that runs all along (the writer): trims the C heap every ``every`` seconds."""

    def __init__(self, every: float | None = None):
        self.every = TRIM_EVERY if every is None else every
        self._trim = _load_trim()
        self._due = time.monotonic() + self.every
        self.trims = 0

    def tick(self, now: float | None = None) -> bool:
        """Trim when due; True when it did."""
        now = time.monotonic() if now is None else now
        if self._trim is None or now < self._due:
            return False
        self._due = now + self.every
        try:
            self._trim(0)
        except OSError as exc:  # never fatal: memory hygiene only
            log.debug("malloc_trim failed: %s", exc)
            self._trim = None
            return False
        self.trims += 1
        return True
