"""streamanon: replace faces in videos, streams and images."""

import os
import sys

# numpy's BLAS threads only contend with the pipeline's own threads (decode, analysis, generator, encoder):
# the matrices here are small. The variables reach BLAS libraries loaded from now on; a caller's own setting wins.
_CALLERS = {v for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if v in os.environ}
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if "numpy" in sys.modules and not _CALLERS:
    # numpy came first (``import numpy`` before ``import streamanon``, as most callers of the API write): its
    # BLAS already started its threads, and under the pipeline's load a 12x12 solve of the shape model took
    # 28 ms instead of 0.2 ms (docs/results.md). Limit them in place.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")

__version__ = "0.1.0"

__all__ = ["Anonymizer", "Options", "anonymize_images", "anonymize_video", "__version__"]


def __getattr__(name: str):
    """The API on first use: ``import streamanon`` (and ``python -m streamanon`` up to its signal handlers)
    stays light; the libraries load when the API is touched."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'streamanon' has no attribute {name!r}")
