"""Matplotlib, headless (Agg), with small PNGs: one place for the figure size and dpi."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after matplotlib.use: the backend must be chosen first

DPI = 100


def figure(ncols: int = 1, width: float = 7.0, height: float = 4.2) -> tuple[Any, Any]:
    """A figure and its axes (an array of them when ``ncols > 1``)."""
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), layout="constrained")
    return fig, axes


def save(fig: Any, directory: Path, name: str) -> str:
    """Write ``fig`` as ``directory/name`` and return ``name``."""
    directory.mkdir(parents=True, exist_ok=True)
    fig.savefig(directory / name, dpi=DPI)
    plt.close(fig)
    return name
