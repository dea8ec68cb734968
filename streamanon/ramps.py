"""Smooth ramps shared by the geometry and the drawing stages."""

from __future__ import annotations

import numpy as np


def smoothstep(t):
    """3t^2 - 2t^3 of ``t`` clipped to [0, 1] (a float or an array)."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)
