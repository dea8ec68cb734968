"""One exception hierarchy for the library; only cli.py maps them to exit codes."""

from __future__ import annotations


class StreamanonError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, path: str | None = None, frame: int | None = None):
        super().__init__(message)
        self.path = path
        self.frame = frame


class InputNotFound(StreamanonError, FileNotFoundError):
    exit_code = 3


class InputInvalid(StreamanonError, ValueError):
    """Not a media file we can read: empty, text, corrupt header."""

    exit_code = 4


class NoVideoStream(StreamanonError, ValueError):
    """The input opened but has no video stream (audio-only, data-only)."""

    exit_code = 5


class InputTruncated(StreamanonError, ValueError):
    """The input ends or breaks before all the frames its header announces."""

    exit_code = 6


class OutputError(StreamanonError, OSError):
    """The output cannot be written: missing folder, same as input, exists without --overwrite."""

    exit_code = 7


class EncodeError(StreamanonError, RuntimeError):
    exit_code = 8


class Interrupted(StreamanonError):
    """SIGINT/SIGTERM: the output was finalized, shorter than the input."""

    exit_code = 130


EXIT_SIGTERM = 143
