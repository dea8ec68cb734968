"""Matplotlib figures as base64 PNG strings for the HTML report (Agg backend, nothing shown)."""

from __future__ import annotations

import base64
import io

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def radar_png(series: dict[str, dict[str, float | None]], title: str = "") -> str:
    """One polygon per series over the same axes (values 0-1; None drawn as 0)."""
    plt = _plt()
    axes_names = list(next(iter(series.values())))
    angles = np.linspace(0, 2 * np.pi, len(axes_names), endpoint=False)
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(projection="polar")
    for name, dims in series.items():
        v = np.array([dims[k] or 0.0 for k in axes_names])
        ax.plot(np.r_[angles, angles[0]], np.r_[v, v[0]], label=name)
        ax.fill(np.r_[angles, angles[0]], np.r_[v, v[0]], alpha=0.1)
    ax.set_xticks(angles, axes_names)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize=8)
    return _png(fig)


def bars_png(labels: list[str], values: list[float | None], title: str, mean: float | None = None) -> str:
    """A bar per label (None shown as a gap), with an optional dashed mean line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.0, min(0.18 * len(labels) + 2, 14)), 2.8))
    v = np.array([np.nan if x is None else float(x) for x in values])
    ax.bar(range(len(v)), np.nan_to_num(v), color="#4878a8")
    if np.nanmin(np.r_[v, 0.0]) >= 0:
        ax.set_ylim(0, max(float(np.nanmax(np.r_[v, 0.0])) * 1.1, 1e-3))
    if mean is not None:
        ax.axhline(mean, ls="--", color="#c44", lw=1, label=f"mean {mean:.3g}")
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    if len(labels) <= 12:
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_xlabel(f"{len(labels)} faces, sorted", fontsize=8)
    return _png(fig)


def strip_png(pairs: list[tuple[np.ndarray, np.ndarray]], captions: list[str], title: str) -> str:
    """Thumbnails original | anonymized side by side, one column per case."""
    plt = _plt()
    n = len(pairs)
    fig, axes = plt.subplots(1, n, figsize=(2.1 * n, 1.4), squeeze=False)
    for ax, (a, b), caption in zip(axes[0], pairs, captions, strict=True):
        ax.imshow(np.concatenate([a, b], axis=1))
        ax.set_title(caption, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9, y=1.08)
    return _png(fig)
