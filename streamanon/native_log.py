"""Keep MediaPipe's C++ log lines (glog/absl, written straight to fd 2) off the user's terminal.

The CLI calls ``filter_native_stderr()`` once: Python's ``sys.stderr`` keeps writing to the real stderr,
while fd 2 (where native code writes) goes through a pipe that drops glog-style lines and forwards the rest.
"""

from __future__ import annotations

import os
import re
import sys
import threading

# glog/absl (MediaPipe); OpenCV's own log ("[ WARN:0@1.2] global ..."); the image libraries' messages on a
# damaged image (libpng, libjpeg, libwebp, libtiff), which the CLI reports itself in one line
NATIVE_LINE = re.compile(rb"^([WIEF]\d{4} |WARNING: All log messages before absl|INFO: Created TensorFlow"
                         rb"|\[ ?(WARN|ERROR|INFO|DEBUG):|libpng (error|warning)"
                         rb"|Corrupt JPEG data|Premature end of JPEG|Invalid JPEG|Not a JPEG"
                         rb"|Bogus |Unsupported JPEG|JPEG datastream|Quantization table"
                         rb"|Huffman table|TIFF(Read|Fetch)|.*: Cannot read TIFF)")


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
