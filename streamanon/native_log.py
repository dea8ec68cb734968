"""Keep MediaPipe's C++ log lines (glog/absl, written straight to fd 2) off the user's terminal.

The CLI calls ``filter_native_stderr()`` once: Python's ``sys.stderr`` keeps writing to the real stderr,
while fd 2 (where native code writes) goes through a pipe that drops glog-style lines and forwards the rest.
"""

from __future__ import annotations

import os
import re
import sys
import threading

NATIVE_LINE = re.compile(rb"^([WIEF]\d{4} |WARNING: All log messages before absl|INFO: Created TensorFlow)")


def filter_native_stderr() -> None:
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return
    saved = os.dup(fd)
    sys.stderr.flush()
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding="utf-8", errors="replace")
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not NATIVE_LINE.match(line):
                    os.write(saved, line)

    threading.Thread(target=pump, name="native-stderr", daemon=True).start()
