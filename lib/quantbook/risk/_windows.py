"""Trailing-window sums on wide ``date x code`` arrays and a bar-column check, shared by the
styles and the risk model (the panels themselves come from :mod:`quantbook.data.panel`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import lfilter

from quantbook.data.store import DataUnavailableError, Store

__all__ = ["ew_window_sum", "require_bars", "rolling_sum"]


def ew_window_sum(x: np.ndarray, *, halflife: float | None, window: int) -> np.ndarray:
    """Exponentially weighted trailing-window sums along axis 0; NaN counts as 0.

    Notes
    -----
    With :math:`\\lambda = 0.5^{1/h}` (1 when ``halflife`` is None) and window :math:`L`,

    .. math:: S_t = \\sum_{k=0}^{L-1} \\lambda^k x_{t-k}
       = Y_t - \\lambda^L Y_{t-L}, \\quad Y_t = \\lambda Y_{t-1} + x_t

    computed with an IIR filter (:func:`scipy.signal.lfilter`) in one pass over all columns.
    """
    z = np.nan_to_num(np.asarray(x, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    if halflife is None:
        return rolling_sum(z, window=window)
    lam = 0.5 ** (1.0 / halflife)
    y = lfilter([1.0], [1.0, -lam], z, axis=0)
    out = y.copy()
    if window < len(z):
        out[window:] -= lam**window * y[:-window]
    return out


def rolling_sum(x: np.ndarray, *, window: int) -> np.ndarray:
    """Plain trailing-window sums along axis 0 (NaN counts as 0)."""
    z = np.nan_to_num(np.asarray(x, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    c = np.cumsum(z, axis=0)
    out = c.copy()
    if window < len(z):
        out[window:] -= c[:-window]
    return out


def require_bars(store: Store, columns: Sequence[str]) -> None:
    """Raise :class:`DataUnavailableError` unless every column of ``daily_bars`` is available."""
    for c in columns:
        if not store.has("daily_bars", c):
            raise DataUnavailableError(
                f"store {store.name!r}: daily_bars.{c} is unavailable: "
                f"{store.unavailable().get(f'daily_bars.{c}', 'not in this store')}"
            )
