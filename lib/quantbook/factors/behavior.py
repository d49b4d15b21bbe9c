"""Trading-behaviour factors (SPEC §2, Kaiyuan Securities): ideal reversal, smart money, APM
and ideal amplitude, computed for every stock at once on wide arrays.

Three layers:

- kernels on arrays (one as-of date, all stocks, no per-stock loop):
  :func:`ideal_reversal_values`, :func:`smart_money_values`, :func:`apm_statistic` with
  :func:`apm_residual`, :func:`ideal_amplitude_values`;
- :func:`factor_status`: which factors a store can provide, and why not;
- one date: :func:`load_behavior_inputs` (read the store up to the date into arrays) and
  :func:`factors_from_inputs` (run the kernels), together :func:`compute_factors`;
- many dates: :func:`factor_history`, with the store's cache (:mod:`quantbook.data.cache`; only
  dates not cached for this data, code and parameters are computed).

The composite (industry-wise standardization, ICIR weights, neutralization) is in
:mod:`quantbook.factors.behavior_composite`.

Rules (each a parameter of :class:`BehaviorParams`):

- a *valid day* is a day the stock traded (listed, not suspended); for the ideal amplitude a
  one-price limit day (high = low at a price limit) is not valid either;
- a factor needs at least ``min_days`` (10) valid days of the last ``window`` (20), and smart
  money at least ``minute_min_days`` (5) days with minute bars of the last ``minute_days``
  (10); otherwise it is NaN;
- ties (equal trade sizes, closes or S values) are broken by time, earlier first.

Examples
--------
>>> import numpy as np
>>> ret = np.array([[0.01], [0.02], [-0.01], [0.00]])
>>> size = np.array([[5.0], [1.0], [4.0], [2.0]])
>>> ideal_reversal_values(ret, size, min_days=4).round(6).tolist()   # (0.01 - 0.01) - (0.0 + 0.02)
[-0.02]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from quantbook.data import market_rules
from quantbook.data import panel as daily_panel
from quantbook.data.cache import Cache, code_version
from quantbook.data.calendar import DateLike
from quantbook.data.panel import DailyPanel, load_daily_panel
from quantbook.data.store import Store
from quantbook.factors import behavior_data
from quantbook.factors.behavior_data import (
    IndexSessionReturns,
    MinuteCube,
    index_session_returns,
    load_minute_cube,
)

__all__ = [
    "FACTORS",
    "FACTOR_INFO",
    "BehaviorInputs",
    "BehaviorParams",
    "FactorHistory",
    "FactorInfo",
    "FactorStatus",
    "apm_residual",
    "apm_statistic",
    "behavior_version",
    "compute_factors",
    "factor_history",
    "factor_status",
    "factors_from_inputs",
    "ideal_amplitude_values",
    "ideal_reversal_values",
    "load_behavior_inputs",
    "smart_money_values",
]

#: The four behaviour factors, in report order.
FACTORS: tuple[str, ...] = ("ideal_reversal", "smart_money", "apm", "ideal_amplitude")


@dataclass(frozen=True)
class FactorInfo:
    """Name, label, expected sign and definition (Markdown) of a behaviour factor.

    ``direction`` is the sign with which the factor is expected to predict next month's
    return (SPEC §2's published ICs): the long-short portfolio is long that side.
    """

    name: str
    label: str
    direction: int
    definition: str
    rules: str


FACTOR_INFO: dict[str, FactorInfo] = {
    "ideal_reversal": FactorInfo(
        "ideal_reversal",
        "Ideal reversal",
        -1,
        "Over the last 20 trading days, the average trade size of a day is amount / number of "
        "trades. `M_high` = sum of the daily returns on the 10 days with the largest average "
        "trade size, `M_low` = sum over the other 10 days, `M = M_high - M_low` (sums, not "
        "compounded). Large-order days carry transient price pressure that reverses: a high "
        "`M` predicts a low return next month.",
        "Valid days: traded (not suspended) with trades and value traded above 0; at least 10 "
        "of 20. With n < 20 valid days, the floor(n/2) largest-size days against the floor(n/2) "
        "smallest (the median day left out when n is odd), scaled by 10 / floor(n/2).",
    ),
    "smart_money": FactorInfo(
        "smart_money",
        "Smart money",
        -1,
        "Over the last 10 trading days of 1-minute bars: `R = close / previous close - 1` (the "
        "first minute of a day against the day's open) and `S = |R| / volume^0.25` "
        "(zero-volume minutes dropped). The minutes taken in order of `S`, highest first, until "
        "their cumulative volume reaches 20 % of the total (at least one) are the smart trades; "
        "`Q = VWAP_smart / VWAP_all`, VWAP = sum(amount) / sum(volume). A high `Q` (informed "
        "selling into fast rallies) predicts a low return.",
        "Days with minute bars (traded days): at least 5 of the last 10. The smart set includes "
        "the minute that crosses 20 % (the volume before it is below 20 %).",
    ),
    "apm": FactorInfo(
        "apm",
        "APM",
        1,
        "Over the last 20 days: the overnight return (open / previous close - 1) and the "
        "afternoon return (close / 11:30 price - 1) of the stock (`r`) and of the index (`R`). "
        "The 40 pairs are pooled in one OLS `r = a + b R + e` per stock; with "
        "`delta_t = e_overnight,t - e_afternoon,t`, `stat = mean(delta) / (std(delta) / sqrt(n))`. "
        "APM is the residual of the cross-sectional OLS of `stat` on the 20-day return. "
        "Informed overnight demand predicts a high return.",
        "Valid days: traded, with open, 11:30 price, close and the index's returns; at least 10 "
        "of 20 (then 2n pairs and n deltas). The 20-day return is the adjusted close over the "
        "adjusted close 20 sessions earlier; the cross-section is every stock with both.",
    ),
    "ideal_amplitude": FactorInfo(
        "ideal_amplitude",
        "Ideal amplitude",
        -1,
        "Over the last 20 days, valid days only: amplitude = high / low - 1. `V_high` = mean "
        "amplitude over the round(25 % x n) days with the highest adjusted close, `V_low` over "
        "as many days with the lowest, `V = V_high - V_low`. Wide ranges near the highs mark "
        "speculative froth, which under-performs.",
        "Valid days: traded, not a one-price limit day (high = low at a price limit); at least "
        "10 of 20 (else NaN). round(25 % x n) rounds halves up (n = 10 gives 3 days).",
    ),
}


@dataclass(frozen=True)
class BehaviorParams:
    """Windows, thresholds and the APM index (defaults: SPEC §2 and our stated proposals).

    Attributes
    ----------
    window
        Daily window of ideal reversal, APM and ideal amplitude (20 trading days).
    min_days
        Minimum valid days in ``window`` (10, proposal).
    minute_days
        Days of minute bars for smart money (10).
    minute_min_days
        Minimum days with minute bars in ``minute_days`` (5, proposal).
    smart_share
        Share of volume taken as smart trades (0.2).
    volume_power
        Exponent of volume in :math:`S = |R| / V^{p}` (0.25).
    amplitude_share
        Share of valid days in each amplitude leg (0.25).
    apm_index
        APM's index: an index code with members in the store (default ``000300.SH``,
        proposal), or ``"market"`` (every listed stock, float-cap weighted).
    """

    window: int = 20
    min_days: int = 10
    minute_days: int = 10
    minute_min_days: int = 5
    smart_share: float = 0.2
    volume_power: float = 0.25
    amplitude_share: float = 0.25
    apm_index: str = "000300.SH"

    def key(self) -> str:
        """A canonical string of the parameters (part of the cache version)."""
        return json.dumps(asdict(self), sort_keys=True)


# -- kernels ---------------------------------------------------------------------------------------
def _as2d(x: object) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[:, None] if a.ndim == 1 else a


def _positions(key: np.ndarray) -> np.ndarray:
    """Rank position (0 = first) of each row within its column after a stable ascending sort."""
    order = np.argsort(key, axis=0, kind="stable")
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(key.shape[0])[:, None].repeat(key.shape[1], 1), axis=0)
    return pos


def ideal_reversal_values(
    ret: np.ndarray,
    trade_size: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    min_days: int = 10,
) -> np.ndarray:
    """Ideal reversal :math:`M` of each stock from a window of daily returns and trade sizes.

    Parameters
    ----------
    ret
        ``(W, N)`` daily returns (``close / prev_close - 1``), oldest first.
    trade_size
        ``(W, N)`` average trade size, ``amount / num_trades``.
    valid
        Optional ``(W, N)`` bool, the days that count (traded); non-finite inputs never count.
    min_days
        Minimum number of valid days; stocks with fewer are NaN.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` factor values.

    Notes
    -----
    With :math:`n` valid days and :math:`k = \\lfloor n/2 \\rfloor`, rank the valid days by
    trade size (descending, ties: earlier first); :math:`H` = the first :math:`k`, :math:`L` =
    the last :math:`k`:

    .. math:: M = \\frac{W/2}{k} \\Big(\\sum_{t \\in H} r_t - \\sum_{t \\in L} r_t\\Big)

    For :math:`n = W = 20` this is SPEC §2.1 exactly (10 high against the other 10 days).

    Examples
    --------
    >>> r = np.array([0.01, 0.02, -0.01, 0.0])
    >>> s = np.array([5.0, 1.0, 4.0, 2.0])
    >>> ideal_reversal_values(r, s, min_days=4).round(6).tolist()
    [-0.02]
    """
    r, s = _as2d(ret), _as2d(trade_size)
    ok = np.isfinite(r) & np.isfinite(s)
    if valid is not None:
        ok &= _as2d(valid).astype(bool)
    w = r.shape[0]
    n = ok.sum(axis=0)
    k = n // 2
    pos = _positions(np.where(ok, -s, np.inf))
    high = ok & (pos < k)
    low = ok & (pos >= n - k) & (pos < n)
    diff = np.where(high, r, 0.0).sum(axis=0) - np.where(low, r, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = diff * (w / 2) / k
    return np.where((n >= min_days) & (k > 0), out, np.nan)


def ideal_amplitude_values(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    share: float = 0.25,
    min_days: int = 10,
) -> np.ndarray:
    """Ideal amplitude :math:`V` of each stock from a window of daily high, low and close.

    Parameters
    ----------
    high, low
        ``(W, N)`` daily high and low (raw prices; the ratio is adjustment-free).
    close
        ``(W, N)`` adjusted close, used to rank the days.
    valid
        Optional ``(W, N)`` bool (traded, not a one-price limit day).
    share
        Share of the valid days in each leg (0.25).
    min_days
        Minimum number of valid days; stocks with fewer are NaN.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` factor values.

    Notes
    -----
    With :math:`a_t = H_t / L_t - 1`, :math:`n` valid days and
    :math:`k = \\lfloor share \\cdot n + 1/2 \\rfloor` (round half up),

    .. math:: V = \\frac1k \\sum_{t \\in \\text{top}_k(C)} a_t
       - \\frac1k \\sum_{t \\in \\text{bottom}_k(C)} a_t

    ranking days by adjusted close (ties: earlier first in both rankings).

    Examples
    --------
    >>> h = np.array([10.5, 11.0, 12.6, 10.2])
    >>> lo = np.array([10.0, 10.0, 12.0, 10.0])
    >>> c = np.array([10.2, 10.8, 12.5, 10.1])
    >>> ideal_amplitude_values(h, lo, c, min_days=4).round(6).tolist()  # 0.05 - 0.02
    [0.03]
    """
    h, lo, c = _as2d(high), _as2d(low), _as2d(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        amp = h / lo - 1.0
    ok = np.isfinite(amp) & np.isfinite(c)
    if valid is not None:
        ok &= _as2d(valid).astype(bool)
    n = ok.sum(axis=0)
    k = np.floor(share * n + 0.5)
    top = ok & (_positions(np.where(ok, -c, np.inf)) < k)
    bottom = ok & (_positions(np.where(ok, c, np.inf)) < k)
    with np.errstate(divide="ignore", invalid="ignore"):
        v_high = np.where(top, amp, 0.0).sum(axis=0) / k
        v_low = np.where(bottom, amp, 0.0).sum(axis=0) / k
    return np.where((n >= min_days) & (k > 0), v_high - v_low, np.nan)


def apm_statistic(
    overnight: np.ndarray,
    afternoon: np.ndarray,
    index_overnight: np.ndarray,
    index_afternoon: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    min_days: int = 10,
) -> np.ndarray:
    """APM's t-statistic of overnight minus afternoon residual returns, per stock.

    Parameters
    ----------
    overnight, afternoon
        ``(W, N)`` stock returns: ``open / prev_close - 1`` and ``close / price_1130 - 1``.
    index_overnight, index_afternoon
        ``(W,)`` (or ``(W, N)``) the index's overnight and afternoon returns.
    valid
        Optional ``(W, N)`` bool of the days that count (traded).
    min_days
        Minimum number of valid days (pairs of returns); stocks with fewer are NaN.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` statistic (NaN where undefined).

    Notes
    -----
    Per stock, over its :math:`n` valid days, one OLS on the :math:`2n` pooled pairs
    :math:`(R_j, r_j)` (overnight and afternoon):

    .. math:: r_j = a + b R_j + e_j, \\quad
       \\delta_t = e^{on}_t - e^{aft}_t, \\quad
       stat = \\frac{\\bar\\delta}{s_\\delta / \\sqrt n}

    with the sample standard deviation :math:`s_\\delta` (ddof = 1). Solved in closed form for
    all stocks at once.

    Examples
    --------
    >>> R_on = np.array([0.01, -0.02, 0.0, 0.005])
    >>> R_aft = np.array([0.0, 0.01, -0.01, 0.002])
    >>> r_on = 2 * R_on + np.array([0.01, 0.012, 0.008, 0.01])
    >>> r_aft = 2 * R_aft
    >>> float(apm_statistic(r_on, r_aft, R_on, R_aft, min_days=4)[0]) > 5
    True
    """
    y_on, y_aft = _as2d(overnight), _as2d(afternoon)
    w, n_stocks = y_on.shape
    x_on = np.broadcast_to(_as2d(index_overnight), (w, n_stocks))
    x_aft = np.broadcast_to(_as2d(index_afternoon), (w, n_stocks))
    ok = np.isfinite(y_on) & np.isfinite(y_aft) & np.isfinite(x_on) & np.isfinite(x_aft)
    if valid is not None:
        ok &= _as2d(valid).astype(bool)
    n = ok.sum(axis=0)
    x = np.concatenate([x_on, x_aft])
    y = np.concatenate([y_on, y_aft])
    m = np.concatenate([ok, ok])
    x0, y0 = np.where(m, x, 0.0), np.where(m, y, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xm = x0.sum(axis=0) / (2 * n)
        ym = y0.sum(axis=0) / (2 * n)
        xd = np.where(m, x - xm, 0.0)
        yd = np.where(m, y - ym, 0.0)
        sxx = (xd * xd).sum(axis=0)
        b = (xd * yd).sum(axis=0) / sxx
        e = yd - b * xd
        delta = np.where(ok, e[:w] - e[w:], 0.0)
        mean = delta.sum(axis=0) / n
        var = (np.where(ok, delta - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        stat = mean / np.sqrt(var / n)
    good = (n >= max(min_days, 2)) & (sxx > 0) & (var > 0)
    return np.where(good, stat, np.nan)


def apm_residual(stat: np.ndarray, ret20: np.ndarray) -> np.ndarray:
    """APM: the residual of the cross-sectional OLS of ``stat`` on the 20-day return.

    Parameters
    ----------
    stat
        ``(N,)`` :func:`apm_statistic`.
    ret20
        ``(N,)`` 20-day return of each stock.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` residuals, NaN where either input is missing (all NaN with fewer than three
        stocks).

    Notes
    -----
    :math:`stat_i = c + g \\, ret20_i + APM_i` over the stocks with both values; the residual
    has mean 0 and is orthogonal to ``ret20`` (:math:`\\sum_i APM_i \\, ret20_i = 0`).

    Examples
    --------
    >>> apm_residual(np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.1, 0.2])).round(6).tolist()
    [0.166667, -0.333333, 0.166667]
    """
    s = np.asarray(stat, dtype=float)
    r = np.asarray(ret20, dtype=float)
    ok = np.isfinite(s) & np.isfinite(r)
    out = np.full(s.shape, np.nan)
    if ok.sum() < 3:
        return out
    x = np.column_stack([np.ones(int(ok.sum())), r[ok]])
    beta = np.linalg.lstsq(x, s[ok], rcond=None)[0]
    out[ok] = s[ok] - x @ beta
    return out


def smart_money_values(
    open_: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    amount: np.ndarray,
    *,
    share: float = 0.2,
    power: float = 0.25,
    min_days: int = 5,
    chunk: int = 512,
) -> np.ndarray:
    """Smart money :math:`Q` of each stock from ``(N, D, M)`` minute bars.

    Parameters
    ----------
    open_, close, volume, amount
        ``(N, D, M)`` minute bars of N stocks on D days (M = 240 minutes), NaN where a stock
        has no bars that day. Only the first minute's open is used (the day's open).
    share
        Share of the total volume taken as smart trades (0.2).
    power
        Exponent of volume in :math:`S` (0.25).
    min_days
        Minimum number of days with bars; stocks with fewer are NaN.
    chunk
        Stocks per block (bounds memory; the result does not depend on it).

    Returns
    -------
    numpy.ndarray
        ``(N,)`` factor values.

    Notes
    -----
    :math:`R_t = C_t / C_{t-1} - 1` (the first minute of a day against the day's open),
    :math:`S_t = |R_t| / V_t^{p}` over minutes with :math:`V_t > 0`. Sorting all minutes of the
    D days by :math:`S` descending (ties: earlier first), the smart minutes are those whose
    cumulative volume *before* them is below ``share`` of the total (so at least one, and the
    minute that crosses the threshold is included):

    .. math:: Q = \\frac{\\sum_{smart} A_t / \\sum_{smart} V_t}{\\sum_{all} A_t / \\sum_{all} V_t}

    Scaling every volume by a constant leaves :math:`Q` unchanged (the order of :math:`S`, the
    threshold share and the ratio of VWAPs are all invariant).

    Examples
    --------
    >>> c = np.array([[[10.0, 10.5, 10.5, 10.4]]])
    >>> v = np.array([[[100.0, 100.0, 300.0, 400.0]]])
    >>> o = np.full_like(c, 10.0)
    >>> smart_money_values(o, c, v, c * v, min_days=1).round(6).tolist()  # (5210/500) / (9360/900)
    [1.001923]
    """
    o = np.asarray(open_, dtype=float)
    c = np.asarray(close, dtype=float)
    v = np.asarray(volume, dtype=float)
    a = np.asarray(amount, dtype=float)
    if o.ndim != 3 or not (o.shape == c.shape == v.shape == a.shape):
        raise ValueError("open_, close, volume and amount must be (N, D, M) arrays of one shape")
    n_stocks, n_days, n_min = c.shape
    out = np.full(n_stocks, np.nan)
    for lo in range(0, n_stocks, max(int(chunk), 1)):
        hi = min(lo + max(int(chunk), 1), n_stocks)
        out[lo:hi] = _smart_money_block(
            o[lo:hi], c[lo:hi], v[lo:hi], a[lo:hi], share, power, min_days
        )
    return out


def _smart_money_block(
    o: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    a: np.ndarray,
    share: float,
    power: float,
    min_days: int,
) -> np.ndarray:
    n, d, m = c.shape
    prev = np.empty_like(c)
    prev[:, :, 0] = o[:, :, 0]
    prev[:, :, 1:] = c[:, :, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = c / prev - 1.0
        ok = np.isfinite(r) & np.isfinite(v) & np.isfinite(a) & (v > 0)
        s = np.where(ok, np.abs(r) / np.where(ok, v, 1.0) ** power, 0.0)
    days = ok.any(axis=2).sum(axis=1)
    ok2 = ok.reshape(n, d * m)
    key = np.where(ok2, -s.reshape(n, d * m), np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    vs = np.take_along_axis(np.where(ok2, v.reshape(n, d * m), 0.0), order, axis=1)
    as_ = np.take_along_axis(np.where(ok2, a.reshape(n, d * m), 0.0), order, axis=1)
    oks = np.take_along_axis(ok2, order, axis=1)
    total_v = vs.sum(axis=1)
    total_a = as_.sum(axis=1)
    before = np.cumsum(vs, axis=1) - vs
    smart = oks & (before < share * total_v[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap_smart = np.where(smart, as_, 0.0).sum(axis=1) / np.where(smart, vs, 0.0).sum(axis=1)
        q = vwap_smart / (total_a / total_v)
    return np.where((days >= min_days) & (total_v > 0), q, np.nan)


# -- availability ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FactorStatus:
    """Whether a store can provide a factor, and the reason when it cannot."""

    name: str
    available: bool
    reason: str = ""

    @property
    def label(self) -> str:
        return FACTOR_INFO[self.name].label if self.name in FACTOR_INFO else self.name


def _missing(store: Store, table: str, column: str | None = None) -> str | None:
    if store.has(table, column):
        return None
    key = table if column is None else f"{table}.{column}"
    reason = store.unavailable().get(key) or store.unavailable().get(table) or "not in this store"
    return f"{key} is unavailable in store {store.name!r}: {reason}"


def factor_status(store: Store, *, params: BehaviorParams | None = None) -> dict[str, FactorStatus]:
    """Which behaviour factors ``store`` can provide, with the reason for each that it cannot.

    Parameters
    ----------
    store
        An open store.
    params
        The factor parameters (APM's index).

    Returns
    -------
    dict
        ``{factor: FactorStatus}`` in :data:`FACTORS` order. A factor whose input is missing
        (number of trades, minute bars, the 11:30 price, APM's index) is unavailable: it is
        reported as such, never replaced by something else.
    """
    p = params or BehaviorParams()
    out: dict[str, FactorStatus] = {}
    reason = _missing(store, "daily_bars", "num_trades")
    out["ideal_reversal"] = FactorStatus(
        "ideal_reversal",
        reason is None,
        f"needs the number of trades per day; {reason}" if reason else "",
    )
    reason = _missing(store, "minute_bars")
    out["smart_money"] = FactorStatus(
        "smart_money", reason is None, f"needs 1-minute bars; {reason}" if reason else ""
    )
    reason = _missing(store, "daily_bars", "price_1130")
    if reason is None and p.apm_index != "market":
        if not store.has("index_members"):
            reason = f"index {p.apm_index} has no members: {_missing(store, 'index_members')}"
        else:
            members = store.read("index_members", columns=["index_code"])
            if not (members["index_code"].astype(str) == p.apm_index).any():
                reason = (
                    f"index {p.apm_index} has no members in store {store.name!r} "
                    "(set apm_index to another index or 'market')"
                )
    out["apm"] = FactorStatus(
        "apm",
        reason is None,
        f"needs the 11:30 price and the index's members; {reason}" if reason else "",
    )
    out["ideal_amplitude"] = FactorStatus("ideal_amplitude", True, "")
    return out


# -- computation on a panel ------------------------------------------------------------------------
def _window(pos: int, n: int) -> slice:
    return slice(max(pos - n + 1, 0), pos + 1)


def _series(values: np.ndarray, codes: pd.Index, name: str) -> pd.Series:
    s = pd.Series(values, index=codes, name=name)
    return s[np.isfinite(s.to_numpy())]


def _reversal_at(panel: DailyPanel, pos: int, p: BehaviorParams) -> np.ndarray:
    if pos - p.window + 1 < 0:
        return np.full(len(panel.codes), np.nan)
    w = _window(pos, p.window)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = panel["amount"][w] / panel["num_trades"][w]
        valid = panel.trading[w] & (panel["num_trades"][w] > 0) & (panel["amount"][w] > 0)
    return ideal_reversal_values(panel.daily_return[w], size, valid=valid, min_days=p.min_days)


def _amplitude_at(panel: DailyPanel, pos: int, p: BehaviorParams) -> np.ndarray:
    if pos - p.window + 1 < 0:
        return np.full(len(panel.codes), np.nan)
    w = _window(pos, p.window)
    valid = panel.trading[w] & ~panel.one_price_limit[w]
    return ideal_amplitude_values(
        panel["high"][w],
        panel["low"][w],
        panel.adj_close[w],
        valid=valid,
        share=p.amplitude_share,
        min_days=p.min_days,
    )


def _apm_at(panel: DailyPanel, pos: int, p: BehaviorParams, idx: IndexSessionReturns) -> np.ndarray:
    if pos - p.window < 0:
        return np.full(len(panel.codes), np.nan)
    w = _window(pos, p.window)
    f = panel.fields
    with np.errstate(divide="ignore", invalid="ignore"):
        on = f["open"][w] / f["prev_close"][w] - 1.0
        aft = f["close"][w] / f["price_1130"][w] - 1.0
        adj = panel.adj_close
        ret20 = adj[pos] / adj[pos - p.window] - 1.0
    stat = apm_statistic(
        on, aft, idx.overnight[w], idx.afternoon[w], valid=panel.trading[w], min_days=p.min_days
    )
    return apm_residual(stat, ret20)


def _minute_codes(panel: DailyPanel, pos: int, p: BehaviorParams) -> pd.Index:
    """Stocks that traded on at least one of the smart-money days ending at ``pos``."""
    w = _window(pos, p.minute_days)
    return panel.codes[np.flatnonzero(panel.trading[w].any(axis=0))]


def _minute_days(panel: DailyPanel, pos: int, p: BehaviorParams) -> pd.DatetimeIndex:
    return panel.dates[_window(pos, p.minute_days)]


def _smart_money_from_cube(panel: DailyPanel, cube: MinuteCube, p: BehaviorParams) -> np.ndarray:
    out = np.full(len(panel.codes), np.nan)
    if not len(cube.codes):
        return out
    q = smart_money_values(
        cube.open,
        cube.close,
        cube.volume,
        cube.amount,
        share=p.smart_share,
        power=p.volume_power,
        min_days=p.minute_min_days,
    )
    out[panel.codes.get_indexer(cube.codes)] = q
    return out


def behavior_version(params: BehaviorParams) -> str:
    """Version of the factor values: the computing modules' source and the parameters.

    :func:`quantbook.data.cache.code_version` of this module and
    :mod:`~quantbook.factors.behavior_data`, :mod:`~quantbook.data.panel` and
    :mod:`~quantbook.data.market_rules` with ``{"params": params.key()}``.
    """
    return code_version(
        [
            Path(__file__),
            Path(behavior_data.__file__),
            Path(daily_panel.__file__),
            Path(market_rules.__file__),
        ],
        {"params": params.key()},
    )


#: The file type of a cached (factor, date): an Arrow IPC table ``(code, value)`` whose schema
#: metadata repeats its key (a file moved under another key is never served).
VALUES_EXT = "arrow"


def _values_config(factor: str, date: DateLike) -> dict[str, str]:
    return {"factor": factor, "date": f"{pd.Timestamp(date):%Y-%m-%d}"}


def read_cached_values(cache: Cache, factor: str, date: DateLike) -> pd.Series | None:
    """The cached values of one (factor, date) (``code -> value``, named ``factor``), or None."""
    config = _values_config(factor, date)
    meta = {k.encode(): v.encode() for k, v in {**config, "key": cache.key(config)}.items()}
    tab = cache.read(config, VALUES_EXT, feather.read_table, errors=(pa.ArrowInvalid,))
    if tab is None:
        return None
    found = tab.schema.metadata or {}
    if any(found.get(k) != v for k, v in meta.items()):
        cache.hits -= 1
        cache.misses += 1
        return None
    codes = tab.column("code").to_pylist()
    values = tab.column("value").to_numpy(zero_copy_only=False).astype(float)
    return pd.Series(values, index=pd.Index(codes, dtype=object, name="code"), name=factor)


def write_cached_values(
    cache: Cache, factor: str, date: DateLike, values: pd.Series
) -> Path | None:
    """Write the values of one (factor, date) to ``cache`` (None, with a warning, on failure)."""
    config = _values_config(factor, date)
    meta = {k.encode(): v.encode() for k, v in {**config, "key": cache.key(config)}.items()}
    tab = pa.table(
        {
            "code": pa.array([str(c) for c in values.index], pa.string()),
            "value": pa.array(np.asarray(values, dtype=float)),
        }
    ).replace_schema_metadata(meta)
    return cache.write(
        config,
        VALUES_EXT,
        lambda tmp: feather.write_feather(tab, str(tmp), compression="zstd"),
    )


def _check_names(factors: Iterable[str] | None) -> list[str]:
    names = list(FACTORS) if factors is None else list(dict.fromkeys(factors))
    unknown = [n for n in names if n not in FACTORS]
    if unknown:
        raise KeyError(f"unknown behaviour factor(s) {unknown}; known: {', '.join(FACTORS)}")
    return names


def _panel_start(store: Store, first: pd.Timestamp, params: BehaviorParams) -> pd.Timestamp:
    """First day of data the factors at ``first`` need (the window and the 20-day return base)."""
    sessions = store.calendar().sessions
    i = int(sessions.searchsorted(first, side="left"))
    back = max(params.window, params.minute_days)
    return pd.Timestamp(sessions[max(i - back, 0)])


# -- one date: inputs, then values -----------------------------------------------------------------
@dataclass(frozen=True)
class BehaviorInputs:
    """Everything the four factors read for one as-of date (nothing after it).

    Attributes
    ----------
    as_of
        The date.
    params
        The parameters the inputs were read for.
    status
        ``{factor: FactorStatus}`` of the requested factors.
    panel
        Daily bars from the start of the window (and the 20-day return's base) to ``as_of``.
    index
        APM's index session returns on the panel's days (None without APM).
    minutes
        Minute bars of the smart-money days (None without smart money).
    """

    as_of: pd.Timestamp
    params: BehaviorParams
    status: dict[str, FactorStatus]
    panel: DailyPanel
    index: IndexSessionReturns | None = None
    minutes: MinuteCube | None = None

    @property
    def factors(self) -> list[str]:
        """The requested factors the store provides."""
        return [n for n, s in self.status.items() if s.available]


def load_behavior_inputs(
    store: Store,
    as_of: DateLike,
    *,
    factors: Iterable[str] | None = None,
    params: BehaviorParams | None = None,
) -> BehaviorInputs:
    """Read the inputs of the behaviour factors at ``as_of`` (data up to ``as_of`` only).

    Parameters
    ----------
    store
        An open store.
    as_of
        A trading day.
    factors
        Factors to read for (default: all four); unavailable ones are only reported.
    params
        Windows and thresholds.

    Returns
    -------
    BehaviorInputs
    """
    p = params or BehaviorParams()
    names = _check_names(factors)
    day = pd.Timestamp(as_of)
    status = {n: s for n, s in factor_status(store, params=p).items() if n in names}
    todo = [n for n in names if status[n].available]
    panel = load_daily_panel(store, end=day, start=_panel_start(store, day, p))
    idx = index_session_returns(store, panel, index=p.apm_index) if "apm" in todo else None
    cube = None
    if "smart_money" in todo:
        pos = panel.position(day)
        cube = load_minute_cube(
            store, _minute_days(panel, pos, p), codes=_minute_codes(panel, pos, p)
        )
    return BehaviorInputs(day, p, status, panel, idx, cube)


def factors_from_inputs(inputs: BehaviorInputs) -> pd.DataFrame:
    """The factor values at ``inputs.as_of``: a ``code x factor`` frame (NaN where undefined).

    Only the available factors are columns; see ``inputs.status`` for the others.
    """
    panel, p = inputs.panel, inputs.params
    pos = panel.position(inputs.as_of)
    out: dict[str, np.ndarray] = {}
    for n in inputs.factors:
        if n == "ideal_reversal":
            out[n] = _reversal_at(panel, pos, p)
        elif n == "ideal_amplitude":
            out[n] = _amplitude_at(panel, pos, p)
        elif n == "apm":
            assert inputs.index is not None
            out[n] = _apm_at(panel, pos, p, inputs.index)
        elif n == "smart_money":
            assert inputs.minutes is not None
            out[n] = _smart_money_from_cube(panel, inputs.minutes, p)
    frame = pd.DataFrame(out, index=panel.codes)
    frame.columns.name = "factor"
    return frame


def compute_factors(
    store: Store,
    as_of: DateLike,
    *,
    factors: Iterable[str] | None = None,
    params: BehaviorParams | None = None,
) -> FactorHistory:
    """The behaviour factors of every stock at one date, from data up to that date.

    :func:`load_behavior_inputs` followed by :func:`factors_from_inputs`, without the cache.

    Parameters
    ----------
    store
        An open store.
    as_of
        A trading day (e.g. a month-end).
    factors
        Factors to compute (default: all four); unavailable ones are reported, not computed.
    params
        Windows and thresholds (default :class:`BehaviorParams`).

    Returns
    -------
    FactorHistory
        With one date; ``.at(as_of)`` gives the ``code x factor`` frame.
    """
    inputs = load_behavior_inputs(store, as_of, factors=factors, params=params)
    frame = factors_from_inputs(inputs)
    dates = pd.DatetimeIndex([inputs.as_of], name="date")
    names = [str(n) for n in frame.columns]
    values = {
        n: pd.DataFrame([frame[n].to_numpy()], index=dates, columns=frame.index) for n in names
    }
    return FactorHistory(
        dates=dates,
        values=values,
        status=inputs.status,
        params=inputs.params,
        computed=dict.fromkeys(names, 1),
        cached=dict.fromkeys(names, 0),
        index_source=inputs.index.source if inputs.index is not None else "",
    )


# -- many dates, with the cache --------------------------------------------------------------------
@dataclass(frozen=True)
class FactorHistory:
    """Raw behaviour factor values at many dates.

    Attributes
    ----------
    dates
        The dates (e.g. month-ends).
    values
        ``{factor: date x code frame}`` for the available factors requested.
    status
        ``{factor: FactorStatus}`` for every factor requested (available or not, with reason).
    params
        The parameters used.
    computed, cached
        ``{factor: number of dates}`` computed now / read from the cache.
    index_source
        How APM's index returns were built (empty if APM was not computed now).
    """

    dates: pd.DatetimeIndex
    values: dict[str, pd.DataFrame]
    status: dict[str, FactorStatus]
    params: BehaviorParams
    computed: dict[str, int] = field(default_factory=dict)
    cached: dict[str, int] = field(default_factory=dict)
    index_source: str = ""

    @property
    def available(self) -> list[str]:
        """Requested factors that the store provides, in :data:`FACTORS` order."""
        return [n for n in FACTORS if n in self.status and self.status[n].available]

    @property
    def unavailable(self) -> dict[str, str]:
        """``{factor: reason}`` for the requested factors that the store cannot provide."""
        return {n: s.reason for n, s in self.status.items() if not s.available}

    def at(self, date: DateLike) -> pd.DataFrame:
        """``code x factor`` values at one date."""
        d = pd.Timestamp(date)
        return pd.DataFrame({n: f.loc[d] for n, f in self.values.items()})


Progress = Callable[[Iterable[pd.Timestamp]], Iterable[pd.Timestamp]]
OnValue = Callable[[str, pd.Timestamp, pd.Series], object]


def _compute(
    store: Store,
    panel: DailyPanel,
    dates: Sequence[pd.Timestamp],
    names: Sequence[str],
    params: BehaviorParams,
    progress: Progress | None,
    on_value: OnValue | None = None,
) -> tuple[dict[str, dict[pd.Timestamp, pd.Series]], str]:
    """Factor values of ``names`` at ``dates`` from ``panel`` (and minute bars per date).

    ``on_value(name, date, values)`` is called as soon as each value is computed (the cache
    writes there, so an interrupted run keeps what it computed).
    """
    out: dict[str, dict[pd.Timestamp, pd.Series]] = {n: {} for n in names}
    idx = index_session_returns(store, panel, index=params.apm_index) if "apm" in names else None
    it: Iterable[pd.Timestamp] = progress(dates) if progress is not None else dates
    for d in it:
        pos = panel.position(d)
        for n in names:
            if n == "ideal_reversal":
                v = _reversal_at(panel, pos, params)
            elif n == "ideal_amplitude":
                v = _amplitude_at(panel, pos, params)
            elif n == "apm":
                assert idx is not None
                v = _apm_at(panel, pos, params, idx)
            elif n == "smart_money":
                cube = load_minute_cube(
                    store, _minute_days(panel, pos, params), codes=_minute_codes(panel, pos, params)
                )
                v = _smart_money_from_cube(panel, cube, params)
            else:  # pragma: no cover - names are checked by the callers
                raise KeyError(n)
            s = _series(v, panel.codes, n)
            out[n][pd.Timestamp(d)] = s
            if on_value is not None:
                on_value(n, pd.Timestamp(d), s)
    return out, idx.source if idx is not None else ""


def factor_history(
    store: Store,
    dates: Iterable[DateLike],
    *,
    factors: Iterable[str] | None = None,
    params: BehaviorParams | None = None,
    cache: bool | Cache = True,
    progress: bool = False,
) -> FactorHistory:
    """Behaviour factors at many dates, computing only what the cache does not hold.

    Parameters
    ----------
    store
        An open store.
    dates
        Trading days (e.g. every month-end up to the as-of date). Each date's values use data
        up to that date only.
    factors
        Factors to compute (default: all four); unavailable ones are reported, not computed.
    params
        Windows and thresholds (default :class:`BehaviorParams`).
    cache
        True (default): use the store's :class:`~quantbook.data.cache.Cache` ``behavior``,
        keyed by the store's data fingerprint, :func:`behavior_version` and the (factor,
        date); False: compute everything; or a cache object.
    progress
        Show a progress bar (tqdm) over the dates being computed.

    Returns
    -------
    FactorHistory
        ``values[factor]`` is a ``date x code`` frame (codes: every stock with a value).
    """
    p = params or BehaviorParams()
    names = _check_names(factors)
    day_index = pd.DatetimeIndex(sorted({pd.Timestamp(d) for d in dates}), name="date")
    status = {n: s for n, s in factor_status(store, params=p).items() if n in names}
    todo = [n for n in names if status[n].available]
    fc: Cache | None
    if cache is True:
        fc = Cache.for_store(store, "behavior", version=behavior_version(p))
    elif cache is False:
        fc = None
    else:
        fc = cache
    found: dict[str, dict[pd.Timestamp, pd.Series]] = {n: {} for n in todo}
    missing: dict[str, list[pd.Timestamp]] = {n: [] for n in todo}
    for n in todo:
        for d in day_index:
            hit = read_cached_values(fc, n, d) if fc is not None else None
            if hit is None:
                missing[n].append(d)
            else:
                found[n][d] = hit
    need = sorted({d for n in todo for d in missing[n]})
    source = ""
    if need:
        panel = load_daily_panel(store, end=need[-1], start=_panel_start(store, need[0], p))
        bar: Progress | None = None
        if progress:
            from tqdm.auto import tqdm

            def bar(xs: Iterable[pd.Timestamp]) -> Iterable[pd.Timestamp]:
                return tqdm(list(xs), desc="behaviour factors", unit="date", leave=False)

        # one pass per set of factors missing at the same dates
        groups: dict[tuple[str, ...], list[pd.Timestamp]] = {}
        for d in need:
            key = tuple(n for n in todo if d in set(missing[n]))
            groups.setdefault(key, []).append(d)
        put = partial(write_cached_values, fc) if fc is not None else None
        for key, ds in groups.items():
            vals, src = _compute(store, panel, ds, key, p, bar, put)
            source = src or source
            for n in key:
                found[n].update(vals[n])
    values = {}
    for n in todo:
        frame = pd.DataFrame({d: found[n][d] for d in day_index}).T
        frame.index = pd.DatetimeIndex(day_index, name="date")
        frame.columns = pd.Index([str(c) for c in frame.columns], dtype=object, name="code")
        values[n] = frame.reindex(columns=sorted(frame.columns)).astype(float)
    return FactorHistory(
        dates=day_index,
        values=values,
        status=status,
        params=p,
        computed={n: len(missing[n]) for n in todo},
        cached={n: len(day_index) - len(missing[n]) for n in todo},
        index_source=source,
    )
