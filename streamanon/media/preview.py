"""``--preview``: show the anonymized frames in a window (OpenCV HighGUI) where a display exists."""

from __future__ import annotations

import os
import sys
import threading

import cv2

from ..errors import OutputError
from ..types import Frame

TITLE = "streamanon (q to stop)"


def has_display() -> bool:
    """A window can open: Windows, macOS, or an X11/Wayland session."""
    return sys.platform in ("win32", "darwin") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Preview:
    """Call with each output frame from the main thread; ``q`` or Esc in the window sets ``stop``."""

    def __init__(self, stop: threading.Event | None = None):
        if not has_display():
            raise OutputError("--preview needs a display (DISPLAY and WAYLAND_DISPLAY are unset); run without "
                              "--preview, or write to a file, '-' or an rtsp:// URL", path="preview")
        try:
            cv2.namedWindow(TITLE, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise OutputError(f"--preview cannot open a window: {exc}", path="preview") from exc
        self.stop = stop

    def __call__(self, frame: Frame) -> None:
        cv2.imshow(TITLE, cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
        if (cv2.waitKey(1) & 0xFF) in (ord("q"), 27) and self.stop is not None:
            self.stop.set()

    def close(self) -> None:
        cv2.destroyWindow(TITLE)
        cv2.waitKey(1)
