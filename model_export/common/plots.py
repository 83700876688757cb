"""What every report's plots share: matplotlib without a display, probit (DET) axes, and saving a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def pyplot():
    """matplotlib.pyplot on the Agg backend (reports are written on machines without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def probit_axes(ax, ticks: Sequence[float], label: str = "{:g}", xlim: tuple[float, float] | None = None,
                ylim: tuple[float, float] | None = None, rotation: float = 0) -> None:
    """DET axes: rates on a normal-deviate scale, ticks labelled as rates, limits given as rates."""
    from scipy.stats import norm

    ax.set_xticks(norm.ppf(ticks), [label.format(t) for t in ticks], rotation=rotation)
    ax.set_yticks(norm.ppf(ticks), [label.format(t) for t in ticks])
    if xlim:
        ax.set_xlim(*norm.ppf(xlim))
    if ylim:
        ax.set_ylim(*norm.ppf(ylim))
    ax.grid(alpha=0.3)


def save(fig, path: Path, dpi: int = 90) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
