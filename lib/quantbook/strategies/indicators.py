"""Causal technical indicators on wide ``date x series`` frames.

Every indicator's value on row ``t`` uses rows up to and including ``t`` only (trailing
windows), so sampling it on a rebalance date never looks ahead. Windows are in rows (trading
days for daily frames, weeks for weekly ones); a window with too few valid rows gives NaN.

Examples
--------
>>> p = pd.DataFrame({"A": [1.0, 1.1, 1.21, 1.331]})
>>> momentum(p, 2)["A"].round(4).tolist()
[nan, nan, 0.21, 0.21]
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import TypeVar, cast

import numpy as np
import pandas as pd

PandasT = TypeVar("PandasT", pd.Series, pd.DataFrame)

__all__ = [
    "add",
    "breakout",
    "cross_zscore",
    "log",
    "ma_gap",
    "momentum",
    "rolling_percentile",
    "rsi",
    "trend_tstat",
    "volatility",
    "volume_ratio",
]


def log(x: PandasT) -> PandasT:
    """Natural logarithm, elementwise, keeping the pandas type (non-positive values give NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return cast(PandasT, np.log(x.where(x > 0)))


def add(frames: Iterable[PandasT]) -> PandasT:
    """Elementwise sum of aligned frames or series (NaN anywhere gives NaN there)."""
    return functools.reduce(operator.add, frames)


def momentum(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """Return over the last ``window`` rows: :math:`P_t / P_{t-n} - 1`."""
    return close / close.shift(window) - 1.0


def volatility(close: pd.DataFrame, window: int, *, periods_per_year: int = 252) -> pd.DataFrame:
    """Annualized standard deviation of the last ``window`` simple returns.

    :math:`\\sigma_t = \\mathrm{sd}(r_{t-n+1..t}) \\sqrt{P}`, :math:`r_t = P_t / P_{t-1} - 1`.
    """
    r = close / close.shift(1) - 1.0
    return r.rolling(window, min_periods=max(2, window // 2)).std() * np.sqrt(periods_per_year)


def volume_ratio(volume: pd.DataFrame, short: int, long: int) -> pd.DataFrame:
    """Mean volume (or amount) of the last ``short`` rows over that of the last ``long`` rows.

    :math:`V^{(s)}_t / V^{(l)}_t` with :math:`V^{(n)}_t = \\frac1n \\sum_{j<n} V_{t-j}`; 1 =
    normal activity, 3 = three times the usual volume.
    """
    num = volume.rolling(short, min_periods=short).mean()
    den = volume.rolling(long, min_periods=max(short, long // 2)).mean()
    return num / den.where(den > 0)


def ma_gap(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """Distance of the close from its moving average: :math:`P_t / \\mathrm{MA}_n(P)_t - 1`."""
    return close / close.rolling(window, min_periods=window).mean() - 1.0


def breakout(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """Close against the highest close of the previous ``window`` rows (``t`` excluded).

    :math:`P_t / \\max(P_{t-n..t-1}) - 1`: positive on a new ``window``-row high.
    """
    prior = close.shift(1).rolling(window, min_periods=window).max()
    return close / prior - 1.0


def rsi(close: pd.DataFrame, window: int = 14) -> pd.DataFrame:
    """Relative strength index (simple averages), scaled to [-1, 1].

    :math:`\\mathrm{RSI}_t = \\frac{U - D}{U + D}` with :math:`U, D` the mean up and down moves
    over the last ``window`` rows (0 when there is no move).
    """
    d = close.diff()
    up = d.clip(lower=0).rolling(window, min_periods=window).mean()
    dn = (-d).clip(lower=0).rolling(window, min_periods=window).mean()
    tot = up + dn
    return ((up - dn) / tot.where(tot > 0)).fillna(0.0).where(up.notna())


def trend_tstat(returns: pd.DataFrame, window: int) -> pd.DataFrame:
    """t-statistic of the mean return over the last ``window`` rows.

    :math:`\\bar r \\sqrt{n} / s_r`: the past cumulative return in units of its own noise, so
    series of different volatility are comparable.
    """
    roll = returns.rolling(window, min_periods=max(3, window // 2))
    n = returns.notna().astype(float).rolling(window, min_periods=1).sum()
    sd = roll.std()
    return roll.mean() * np.sqrt(n) / sd.where(sd > 0)


def rolling_percentile(
    frame: pd.DataFrame, window: int, *, min_periods: int | None = None
) -> pd.DataFrame:
    """Percentile rank of each value within its own trailing ``window`` (value included).

    :math:`q_t = \\#\\{j < n: x_{t-j} \\le x_t\\} / n_{valid}` in (0, 1]; 1 = the highest of
    the window.
    """
    mp = min_periods if min_periods is not None else max(2, window // 2)

    def last_rank(a: np.ndarray) -> float:
        v = a[np.isfinite(a)]
        if not np.isfinite(a[-1]) or len(v) < mp:
            return np.nan
        return float(np.mean(v <= a[-1]))

    return frame.rolling(window, min_periods=1).apply(last_rank, raw=True)


def cross_zscore(frame: pd.DataFrame) -> pd.DataFrame:
    """Cross-sectional z-score of each row: :math:`(x - \\bar x_t) / s_t` (NaN kept)."""
    mu = frame.mean(axis=1)
    sd = frame.std(axis=1)
    return frame.sub(mu, axis=0).div(sd.where(sd > 0), axis=0)
