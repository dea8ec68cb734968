"""streamanon: replace faces in videos, streams and images."""

import os

# numpy's BLAS threads only contend with the pipeline's own threads (decode, analysis, generator, encoder):
# the matrices here are small. Set before numpy loads; a caller's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

from .api import Anonymizer, Options, anonymize_images, anonymize_video  # noqa: E402

__all__ = ["Anonymizer", "Options", "anonymize_images", "anonymize_video", "__version__"]
