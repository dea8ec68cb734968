"""Face detection, dense landmarks, tracking."""
