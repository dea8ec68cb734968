"""One exception hierarchy for the library; only cli.py maps them to exit codes."""

from __future__ import annotations


class StreamanonError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str, path: str | None = None, frame: int | None = None):
        super().__init__(message)
        self.path = path
        self.frame = frame
        self.stats = None  # the Stats of a run that ended early but kept its output (interrupted, stream lost)


class InputNotFound(StreamanonError, FileNotFoundError):
    exit_code = 3


class InputInvalid(StreamanonError, ValueError):
    """Not a media file we can read: empty, text, corrupt header."""

    exit_code = 4


class NoVideoStream(StreamanonError, ValueError):
    """The input opened but has no video stream (audio-only, data-only)."""

    exit_code = 5


class InputTruncated(StreamanonError, ValueError):
    """The input has a video stream but not one decodable frame (a pipe: it broke off).

    A file that ends or breaks before the frames its header announces is not an error: as ffmpeg does, its
    decodable frames are written, and ``Stats.truncated`` and ``Stats.corrupt_packets`` say what was missing.
    """

    exit_code = 6


class StreamLost(InputTruncated):
    """A live stream or pipe broke off (network error, camera gone) and ``--reconnect`` was not given.

    The output is finalized with the frames received so far.
    """


class OutputError(StreamanonError, OSError):
    """The output cannot be written: missing folder, same as input, exists without --overwrite."""

    exit_code = 7


class EncodeError(StreamanonError, RuntimeError):
    exit_code = 8


class Interrupted(StreamanonError):
    """SIGINT/SIGTERM: the output was finalized, shorter than the input."""

    exit_code = 130


EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM before the CLI's own handlers are in place (while the libraries load)."""


def report(exc: BaseException, prog: str = "streamanon", verbose_flag: bool = True) -> int:
    """Print one line on stderr for ``exc`` and return the exit code the CLI ends with (never a traceback).
    ``verbose_flag``: the command has -v, which shows an internal error's details (it is named in the line)."""
    import sys

    if isinstance(exc, StreamanonError):
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        print(f"{prog}: error: interrupted", file=sys.stderr)
        return EXIT_SIGTERM if isinstance(exc, Terminated) else 130
    hint = " (run with -v for details)" if verbose_flag else ""
    print(f"{prog}: error: internal error: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
    return 1
