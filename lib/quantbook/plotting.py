"""Shared figure styling. Plotting functions take frames and return figures; they compute nothing.

Figures are :class:`matplotlib.figure.Figure` objects made without ``pyplot``: nothing is
shown or kept as a side effect, a notebook cell displays a figure by returning it (with
``%matplotlib inline``), and a script saves it with :func:`save`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

__all__ = [
    "PALETTE",
    "bar_chart",
    "line_chart",
    "new_figure",
    "percent_axis",
    "png_bytes",
    "save",
    "style_axes",
    "thousands_axis",
]

#: Colours in order of use (colour-blind safe, Okabe-Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
UP, DOWN, NEUTRAL = "#C0392B", "#27AE60", "#7F8C8D"  # A-share convention: red up, green down
DPI = 100


def new_figure(
    nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (8.0, 3.6), sharex: bool = False
) -> tuple[Figure, np.ndarray]:
    """A figure and its axes (always a 2-d array), styled, without pyplot."""
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=sharex)
    for ax in axes.flat:
        style_axes(ax)
    return fig, axes


def style_axes(ax: Axes) -> None:
    """Light grid, no top/right spines, small ticks."""
    ax.grid(True, color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.set_prop_cycle(color=list(PALETTE))


def percent_axis(ax: Axes, axis: str = "y", *, decimals: int = 0) -> None:
    """Show fractions on ``axis`` as percentages."""
    fmt = PercentFormatter(xmax=1.0, decimals=decimals)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def line_chart(
    frame: pd.DataFrame,
    *,
    title: str = "",
    ylabel: str = "",
    percent: bool = False,
    labels: Sequence[str] | None = None,
    size: tuple[float, float] = (8.0, 3.6),
) -> Figure:
    """One line per column of ``frame`` against its index."""
    fig, axes = new_figure(size=size)
    ax = axes[0, 0]
    names = list(labels) if labels is not None else [str(c) for c in frame.columns]
    for col, name in zip(frame.columns, names, strict=True):
        ax.plot(frame.index, frame[col].to_numpy(dtype=float), label=name, linewidth=1.4)
    if percent:
        percent_axis(ax)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(ylabel, fontsize=8)
    if len(frame.columns) > 1:
        ax.legend(fontsize=7, frameon=False, ncols=min(len(frame.columns), 5), loc="upper left")
    if isinstance(frame.index, pd.DatetimeIndex):
        fig.autofmt_xdate()
    return fig


def bar_chart(
    values: pd.Series,
    *,
    title: str = "",
    percent: bool = True,
    horizontal: bool = True,
    size: tuple[float, float] | None = None,
) -> Figure:
    """Bars of ``values`` (red for positive, green for negative, as on A-share screens)."""
    n = len(values)
    if size is None:
        size = (8.0, max(2.5, 0.22 * n + 1.0)) if horizontal else (8.0, 3.6)
    fig, axes = new_figure(size=size)
    ax = axes[0, 0]
    v = values.to_numpy(dtype=float)
    colours = [UP if x > 0 else DOWN if x < 0 else NEUTRAL for x in np.nan_to_num(v)]
    pos = np.arange(n)
    if horizontal:
        ax.barh(pos, v, color=colours)
        ax.set_yticks(pos, [str(i) for i in values.index], fontsize=7)
        ax.invert_yaxis()
        if percent:
            percent_axis(ax, "x", decimals=1)
        ax.axvline(0, color="#555555", linewidth=0.6)
    else:
        ax.bar(pos, v, color=colours)
        ax.set_xticks(pos, [str(i) for i in values.index], fontsize=7, rotation=90)
        if percent:
            percent_axis(ax, "y", decimals=1)
        ax.axhline(0, color="#555555", linewidth=0.6)
    ax.set_title(title, fontsize=10, loc="left")
    return fig


def thousands_axis(ax: Axes, axis: str = "y") -> None:
    """Thousands separators on ``axis``."""
    fmt = FuncFormatter(lambda x, _pos: f"{x:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def png_bytes(fig: Figure, *, dpi: int = DPI) -> bytes:
    """``fig`` as PNG bytes with no volatile metadata."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def save(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DPI) -> Path:
    """Save ``fig`` as PNG with no volatile metadata (identical bytes for identical figures)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png_bytes(fig, dpi=dpi))
    return target
