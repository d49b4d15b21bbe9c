"""Government yield curve and bond indices of the synthetic market.

Planted effect: predictable next-week change of the 10-year yield
-----------------------------------------------------------------
The curve at tenors 1, 2, 3, 5, 7 and 10 years is a Nelson-Siegel curve (decay 2 years) whose
level, slope and curvature follow mean-reverting daily AR(1) processes, plus a *term-premium*
state ``P`` that loads on tenor ``tau`` with ``tau / 10`` (1 on the 10-year yield) and carries
the planted, predictable component. At each week-end ``w`` (last session of an ISO week) the
signal

    s_w = -(y10_w - mean(y10_{w-19..w})) + (y1_w - y1_{w-4})

is observable from ``bond_yields`` alone: *mean reversion* of the 10-year yield towards its
20-week average plus *liquidity transmission* (a rise of the 1-year yield over the past four
weeks passes on to the long end). During the next week ``P`` drifts by ``GAMMA x s_w`` in
total (spread evenly over that week's sessions), so the next-week change of the 10-year yield
is ``y10_{w+1} - y10_w = GAMMA s_w + noise``. Target: corr(s_w, y10_{w+1} - y10_w) = 0.30
(the average over seeds lies in 0.25-0.35: 0.30 on 20-year samples, 0.32 on the default
7.8-year span). One sample of ``n`` weeks carries a sampling error of about
``(1 - 0.3^2) / sqrt(n)``: 0.05 at the default span's ~380 weeks, 0.03 over 20 years; the
test band for one sample is ``0.30 +- 3`` such errors. Yields are decimals (mostly
1.5 %-3.5 %, the 1-year yield occasionally down to 1 %); daily 10-year changes have a
standard deviation of about 2 bp.

Bond indices (total return, base 100 on the first session): ``CBA00101.CS`` (aggregate-like:
curve average + 35 bp spread, modified duration 4.8), ``CBA00621.CS`` (treasury 1-3y: the
2-year yield, duration 1.9), ``CBA00631.CS`` (3-5y: mean of the 3- and 5-year yields, 3.8)
and ``CBA00651.CS`` (7-10y: mean of the 7- and 10-year yields, 7.4), with daily return
``r_t = y_{t-1} d_t / 365 - D (y_t - y_{t-1}) + C (y_t - y_{t-1})^2 / 2`` (``d_t`` calendar
days since the previous session, ``C`` the convexity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Seed offset of this module (``np.random.default_rng(seed + SEED_OFFSET)``).
SEED_OFFSET = 7_301
#: Curve tenors in years.
TENORS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0)
#: Nelson-Siegel decay (years).
NS_DECAY = 2.0
#: Long-run means of level, slope and curvature (decimal yields).
FACTOR_MEAN = np.array([0.0300, -0.0120, 0.0])
#: Half-lives (sessions) and daily shock standard deviations of level, slope, curvature.
FACTOR_HALF_LIFE = np.array([500.0, 250.0, 120.0])
FACTOR_SHOCK = np.array([0.00020, 0.00018, 0.00025])
#: Per-tenor daily measurement noise (curve-fitting error).
FIT_NOISE = 0.00002
#: Planted effect: weekly drift of the term premium per unit of the signal.
GAMMA = 0.20
#: Daily decay of the term-premium state (keeps it bounded).
PREMIUM_DECAY = 0.002
#: Signal windows (in week-ends): 20-week average of y10, 4-week change of y1.
MA_WEEKS = 20
LIQ_WEEKS = 4
#: Target of corr(signal, next-week 10-year change) and the band of its seed average.
TARGET_CORR = 0.30
CORR_BAND = (0.25, 0.35)
#: Smooth floor of the yields (decimal).
YIELD_FLOOR = 0.004


@dataclass(frozen=True)
class BondIndex:
    """A total-return bond index on the simulated curve."""

    code: str
    name: str
    tenors: tuple[float, ...]  # its yield = mean of these tenors' yields (+ spread)
    spread: float
    duration: float
    convexity: float


BOND_INDICES: tuple[BondIndex, ...] = (
    BondIndex("CBA00101.CS", "ChinaBond Aggregate", TENORS, 0.0035, 4.8, 35.0),
    BondIndex("CBA00621.CS", "ChinaBond Treasury 1-3Y", (2.0,), 0.0, 1.9, 4.6),
    BondIndex("CBA00631.CS", "ChinaBond Treasury 3-5Y", (3.0, 5.0), 0.0, 3.8, 17.0),
    BondIndex("CBA00651.CS", "ChinaBond Treasury 7-10Y", (7.0, 10.0), 0.0, 7.4, 65.0),
)


def build_bond_tables(*, sessions: pd.DatetimeIndex, seed: int) -> dict[str, pd.DataFrame]:
    """Simulate the government yield curve and the bond total-return indices.

    Parameters
    ----------
    sessions
        Trading sessions of the span.
    seed
        Base seed; draws come from ``np.random.default_rng(seed + SEED_OFFSET)``.

    Returns
    -------
    dict of DataFrame
        ``bond_yields`` (date, tenor, yield) and ``bond_index_bars`` (date, code, close).

    Notes
    -----
    Factors ``f = (level, slope, curvature)`` follow
    ``f_t = mu + phi (f_{t-1} - mu) + sigma e_t``; the yield at tenor ``tau`` is

    .. math::

        y_t(\\tau) = \\ell_t + s_t g_1(\\tau) + c_t g_2(\\tau) + \\frac{\\tau}{10} P_t + u_t(\\tau),

    with Nelson-Siegel loadings ``g_1(x) = (1 - e^{-x}) / x``, ``g_2 = g_1 - e^{-x}``
    (``x = tau / 2``), ``u`` i.i.d. fitting noise, and the term premium
    ``P_t = (1 - kappa) P_{t-1} + GAMMA s_{w(t)-1} / n_{w(t)}`` where ``w(t)`` is the week of
    session ``t``, ``n_w`` its number of sessions and ``s`` the week-end signal of the module
    docstring. A smooth floor keeps yields above about 0.4 %.
    """
    sessions = pd.DatetimeIndex(sessions)
    rng = np.random.default_rng(seed + SEED_OFFSET)
    curve = simulate_curve(sessions, rng)
    yields = pd.DataFrame(
        {
            "date": np.repeat(sessions.values.astype("datetime64[ns]"), len(TENORS)),
            "tenor": np.tile(np.asarray(TENORS), len(sessions)),
            "yield": curve.ravel(),
        }
    )
    return {"bond_yields": yields, "bond_index_bars": bond_index_bars(sessions, curve)}


def bond_index_info() -> pd.DataFrame:
    """Rows for ``index_info`` describing the bond indices (category ``bond``, no pool).

    Returns
    -------
    DataFrame
        code, name, category, pool.
    """
    return pd.DataFrame(
        {
            "code": [b.code for b in BOND_INDICES],
            "name": [b.name for b in BOND_INDICES],
            "category": "bond",
            "pool": None,
        }
    )


def week_end_positions(sessions: pd.DatetimeIndex) -> np.ndarray:
    """Indices of the last session of each ISO week in ``sessions`` (the last session included).

    Parameters
    ----------
    sessions
        Trading sessions.

    Returns
    -------
    ndarray of int
        Positions of the week-ends, increasing.
    """
    iso = sessions.isocalendar()
    key = (iso["year"].to_numpy() * 100 + iso["week"].to_numpy()).astype(np.int64)
    return np.flatnonzero(np.r_[key[1:] != key[:-1], True])


def weekly_signal(y10: np.ndarray, y1: np.ndarray) -> np.ndarray:
    """The planted signal at each week-end (NaN until 20 week-ends are known).

    Parameters
    ----------
    y10, y1
        10-year and 1-year yields at consecutive week-ends.

    Returns
    -------
    ndarray
        ``s_w = -(y10_w - mean(y10_{w-19..w})) + (y1_w - y1_{w-4})``.
    """
    y10 = np.asarray(y10, dtype=np.float64)
    y1 = np.asarray(y1, dtype=np.float64)
    out = np.full(len(y10), np.nan)
    if len(y10) < MA_WEEKS:
        return out
    csum = np.r_[0.0, np.cumsum(y10)]
    ma = (csum[MA_WEEKS:] - csum[:-MA_WEEKS]) / MA_WEEKS  # mean of w-19..w for w >= 19
    w = np.arange(MA_WEEKS - 1, len(y10))
    out[w] = -(y10[w] - ma) + (y1[w] - y1[w - LIQ_WEEKS])
    return out


def sample_band(n_weeks: int) -> tuple[float, float]:
    """Band for the correlation measured on one sample of ``n_weeks`` weeks.

    Parameters
    ----------
    n_weeks
        Number of (signal, next-week change) pairs.

    Returns
    -------
    tuple of float
        ``TARGET_CORR -+ 3 (1 - TARGET_CORR^2) / sqrt(n_weeks)`` (three sampling s.d.).
    """
    half = 3.0 * (1.0 - TARGET_CORR**2) / np.sqrt(n_weeks)
    return TARGET_CORR - half, TARGET_CORR + half


def _loadings() -> np.ndarray:
    """``(n_tenors, 4)`` loadings on level, slope, curvature and the term premium."""
    tau = np.asarray(TENORS)
    x = tau / NS_DECAY
    g1 = (1.0 - np.exp(-x)) / x
    return np.column_stack([np.ones_like(tau), g1, g1 - np.exp(-x), tau / 10.0])


def _soft_floor(y: np.ndarray) -> np.ndarray:
    """Identity above the floor, smoothly bounded below (softplus of width 0.2 %)."""
    width = 0.002
    z = (y - YIELD_FLOOR) / width
    return YIELD_FLOOR + width * np.logaddexp(0.0, z)


def simulate_curve(sessions: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Simulate the ``(T, n_tenors)`` curve (see :func:`build_bond_tables` for the model).

    Parameters
    ----------
    sessions
        Trading sessions.
    rng
        Random generator (all draws are taken up front, in a fixed order).

    Returns
    -------
    ndarray
        Decimal yields rounded to 1e-6 (0.01 bp).
    """
    T = len(sessions)
    n_ten = len(TENORS)
    phi = 0.5 ** (1.0 / FACTOR_HALF_LIFE)
    stationary = FACTOR_SHOCK / np.sqrt(1.0 - phi**2)
    f0 = FACTOR_MEAN + 0.5 * stationary * rng.standard_normal(3)
    shocks = rng.standard_normal((T, 3)) * FACTOR_SHOCK
    fit = rng.standard_normal((T, n_ten)) * FIT_NOISE

    factors = np.empty((T, 3))
    f = f0
    for t in range(T):
        f = FACTOR_MEAN + phi * (f - FACTOR_MEAN) + shocks[t]
        factors[t] = f
    load = _loadings()
    base = factors @ load[:, :3].T + fit  # (T, n_ten) without the term premium

    week_end = week_end_positions(sessions)
    week_of = np.searchsorted(week_end, np.arange(T), side="left")  # week index of each session
    n_in_week = np.diff(np.r_[-1, week_end])
    i10, i1 = TENORS.index(10.0), TENORS.index(1.0)
    premium = np.empty(T)
    p = 0.0
    drift = 0.0
    y10_we: list[float] = []
    y1_we: list[float] = []
    for t in range(T):
        p = (1.0 - PREMIUM_DECAY) * p + drift
        premium[t] = p
        if t == week_end[week_of[t]]:
            y = _soft_floor(base[t] + load[:, 3] * p)
            y10_we.append(float(y[i10]))
            y1_we.append(float(y[i1]))
            s = _last_signal(y10_we, y1_we)
            w = week_of[t]
            drift = GAMMA * s / n_in_week[w + 1] if w + 1 < len(week_end) else 0.0
    curve = _soft_floor(base + premium[:, None] * load[:, 3][None, :])
    return np.round(curve, 6)


def _last_signal(y10: list[float], y1: list[float]) -> float:
    """The signal at the latest week-end (0 before :data:`MA_WEEKS` week-ends)."""
    if len(y10) < MA_WEEKS:
        return 0.0
    dev = y10[-1] - sum(y10[-MA_WEEKS:]) / MA_WEEKS
    return -dev + (y1[-1] - y1[-1 - LIQ_WEEKS])


def bond_index_bars(sessions: pd.DatetimeIndex, curve: np.ndarray) -> pd.DataFrame:
    """Total-return bond index levels from the curve.

    Parameters
    ----------
    sessions
        Trading sessions (``T``).
    curve
        ``(T, n_tenors)`` decimal yields at :data:`TENORS`.

    Returns
    -------
    DataFrame
        ``date, code, close`` sorted by (date, code), base 100 on the first session.

    Notes
    -----
    ``r_t = y_{t-1} d_t / 365 - D dy_t + C dy_t^2 / 2`` with ``dy_t = y_t - y_{t-1}``.
    """
    T = len(sessions)
    days = np.r_[
        0.0, np.diff(sessions.values.astype("datetime64[D]").astype(np.int64)).astype(np.float64)
    ]
    codes = sorted(b.code for b in BOND_INDICES)
    by_code = {b.code: b for b in BOND_INDICES}
    levels = np.empty((T, len(codes)))
    for j, code in enumerate(codes):
        b = by_code[code]
        cols = [TENORS.index(x) for x in b.tenors]
        y = curve[:, cols].mean(axis=1) + b.spread
        dy = np.r_[0.0, np.diff(y)]
        carry = np.r_[0.0, y[:-1]] * days / 365.0
        r = carry - b.duration * dy + 0.5 * b.convexity * dy**2
        levels[:, j] = 100.0 * np.cumprod(1.0 + r)
    return pd.DataFrame(
        {
            "date": np.repeat(sessions.values.astype("datetime64[ns]"), len(codes)),
            "code": np.tile(np.asarray(codes, dtype=object), T),
            "close": levels.ravel(),
        }
    )
