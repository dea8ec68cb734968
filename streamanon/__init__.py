"""streamanon: replace faces in videos, streams and images."""

__version__ = "0.1.0"

from .api import Anonymizer, Options, anonymize_images, anonymize_video  # noqa: E402

__all__ = ["Anonymizer", "Options", "anonymize_images", "anonymize_video", "__version__"]
