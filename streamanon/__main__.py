"""``python -m streamanon``: a signal that comes while the libraries are still loading (seconds on a busy machine)
ends the run with one line and the usual exit status, never a traceback from deep inside an import."""

import signal
import sys

from .errors import Terminated


def _early(signum, _frame) -> None:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a shell's background job keeps ignoring it
    signal.signal(signal.SIGINT, _early)
signal.signal(signal.SIGTERM, _early)
try:
    from .cli import main  # the CLI installs its own handlers once it runs
except KeyboardInterrupt as exc:
    print("streamanon: error: interrupted while starting; nothing was written", file=sys.stderr)
    raise SystemExit(143 if isinstance(exc, Terminated) else 130) from None

raise SystemExit(main())
