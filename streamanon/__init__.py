"""streamanon: replace faces in videos, streams and images."""

import os

# numpy's BLAS threads only contend with the pipeline's own threads (decode, analysis, generator, encoder):
# the matrices here are small. Set before numpy loads; a caller's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

__all__ = ["Anonymizer", "Options", "anonymize_images", "anonymize_video", "__version__"]


def __getattr__(name: str):
    """The API on first use: ``import streamanon`` (and ``python -m streamanon`` up to its signal handlers)
    stays light; the libraries load when the API is touched."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'streamanon' has no attribute {name!r}")
