"""``streamanon batch IN OUT``: anonymize a corpus of videos and images, resumably, on a local pool of worker
processes or on a Ray cluster, with one manifest line per input (OUT/manifest.jsonl)."""

from .cli import main

__all__ = ["main"]
