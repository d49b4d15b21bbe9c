"""Exchange-traded funds of the synthetic market.

Every ETF tracks an index of the synthetic market (stock indices from
:mod:`~quantbook.data.sources.synthetic.indices`, bond indices from
:mod:`~quantbook.data.sources.synthetic.bonds`), except the money-market ETF, whose NAV
accrues at the 1-year government yield.

NAV and price
-------------
``NAV_t = NAV_{t-1} (1 + R_t - fee d_t / 365 + e_t)`` with ``R_t`` the tracked index's return,
``d_t`` the calendar days since the previous session and ``e_t`` i.i.d. tracking noise with
annualized standard deviation :attr:`EtfSpec.tracking_error` (0.3 % broad and bond, 0.5 %
size, 0.6 % industry and style; the documented bound is 1 % a year for every non-theme ETF;
realized fee drag = fee +- 3 TE / sqrt(years)). Close price ``= NAV (1 + p_t)`` with an AR(1)
premium ``p`` (coefficient 0.6, stationary s.d. 0.01 % money, 0.05 % broad and bond, 0.1 %
industry and style, 0.15 % theme, more during bursts), rounded to 0.001 CNY. The open
follows the index's overnight move, high and low add the index's intraday range plus noise;
OHLC are consistent after rounding. ``amount = volume x (open + high + low + close) / 4`` (a
price inside [low, high]); volume is in shares, in round lots of 100.

Thematic ETFs (category ``theme``) track an industry index plus theme noise (0.6 % a day) and
*attention bursts*: about four a year per ETF, each lasting 10-20 sessions, with abnormal
volume (3-6x normal at its peak on the second session, decaying over about a week) and a momentum drift of 0.4 %-1.0 % a
day decaying with a 10-session time constant (positive three times out of four), so that a
burst's first week of abnormal volume and breakout is followed by further drift in its second
(the hot-spot strategy's channel).

A few ETFs list inside the span (no rows before their ``list_date``; NAV 1.000 on listing),
and about half of the ETFs have about one single-day suspension a year (open = high = low =
close = previous close, volume 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from quantbook.data.calendar import TradingCalendar

#: Seed offset of this module (``np.random.default_rng(seed + SEED_OFFSET)``).
SEED_OFFSET = 9_173
#: Documented bound on the annualized NAV tracking error of every non-theme, non-money ETF.
TE_BOUND = 0.01
#: Premium AR(1) coefficient.
PREMIUM_PHI = 0.6
#: Daily log-activity AR(1) coefficient and stationary s.d.
ACTIVITY_PHI = 0.95
ACTIVITY_SD = 0.35
#: Theme ETFs: daily theme noise, bursts per year, burst length range, drift range, volume amplitude.
THEME_NOISE = 0.006
BURSTS_PER_YEAR = 4.0
BURST_DAYS = (10, 20)
BURST_DRIFT = (0.004, 0.010)
BURST_VOLUME = (2.0, 5.0)
BURST_POSITIVE = 0.75
#: Suspensions: share of ETFs that can be suspended and their yearly rate.
SUSPENDABLE_SHARE = 0.5
SUSPENSIONS_PER_YEAR = 1.0


@dataclass(frozen=True)
class EtfSpec:
    """One ETF: identity, tracked index and the parameters of its simulation."""

    code: str
    name: str
    tracked: str | None
    category: str
    fee: float
    amount: float  # typical daily value traded, CNY
    tracking_error: float  # annualized s.d. of the NAV's daily tracking noise
    premium_sd: float  # stationary s.d. of the premium
    range_sd: float  # s.d. of the extra intraday range
    nav0: float | None = None  # NAV on the first row (None: drawn)
    late: bool = False  # lists inside the span


_BROAD = (
    ("510300.SH", "CSI 300 ETF", "000300.SH", 3.0e9, False),
    ("510500.SH", "CSI 500 ETF", "000905.SH", 1.2e9, False),
    ("515800.SH", "CSI 800 ETF", "000906.SH", 2.0e8, False),
    ("512100.SH", "CSI 1000 ETF", "000852.SH", 6.0e8, False),
    ("563300.SH", "CSI 2000 ETF", "932000.CSI", 3.0e8, True),
    ("560990.SH", "CSI All Share ETF", "000985.CSI", 1.0e8, False),
)
_SIZE = (
    ("159314.SZ", "Large Cap ETF", "399314.SZ"),
    ("159316.SZ", "Small Cap ETF", "399316.SZ"),
)
_THEMES = (
    ("516080.SH", "Semiconductor Theme ETF", "801080.SI", False),
    ("516730.SH", "New Energy Theme ETF", "801730.SI", False),
    ("516750.SH", "AI Theme ETF", "801750.SI", True),
    ("516150.SH", "Innovative Drug Theme ETF", "801150.SI", True),
    ("516740.SH", "Military Theme ETF", "801740.SI", False),
    ("516120.SH", "Liquor Theme ETF", "801120.SI", False),
    ("516760.SH", "Gaming Theme ETF", "801760.SI", False),
)
_BONDS = (
    ("511020.SH", "Short Govt Bond ETF", "CBA00621.CS", 2.0e8),
    ("511010.SH", "5Y Govt Bond ETF", "CBA00631.CS", 3.0e8),
    ("511260.SH", "10Y Govt Bond ETF", "CBA00651.CS", 8.0e8),
)
_MONEY = ("511880.SH", "Money Market ETF")
#: Stock-index ETFs that list inside the span besides the flagged broad and theme ones.
_LATE_EXTRA = ("560914.SH", "159770.SZ")


def etf_specs(index_info: pd.DataFrame) -> list[EtfSpec]:
    """The ETF universe for the given indices.

    Parameters
    ----------
    index_info
        The stock indices (``code, name, category``). One industry ETF is made per industry
        index (code ``159`` + the index code's digits 4-6, ``.SZ``) and one style ETF per
        style index (code ``56`` + its digits 3-6, ``.SH``).

    Returns
    -------
    list of EtfSpec
        Broad, size, industry, style, theme, bond and money ETFs; ETFs whose tracked stock
        index is absent from ``index_info`` are left out.
    """
    known = set(index_info["code"].astype(str))
    specs = [
        EtfSpec(c, n, ix, "broad", 0.0020, a, 0.003, 0.0005, 0.0004, late=late)
        for c, n, ix, a, late in _BROAD
    ]
    specs += [EtfSpec(c, n, ix, "size", 0.0050, 1.5e8, 0.005, 0.0008, 0.0006) for c, n, ix in _SIZE]
    for row in index_info.itertuples(index=False):
        code, name, cat = str(row.code), str(row.name), str(row.category)
        if cat == "industry":
            specs.append(
                EtfSpec(
                    f"159{code[3:6]}.SZ",
                    f"{name} ETF",
                    code,
                    "industry",
                    0.0050,
                    8.0e7,
                    0.006,
                    0.0010,
                    0.0008,
                )
            )
        elif cat == "style":
            specs.append(
                EtfSpec(
                    f"56{code[2:6]}.SH",
                    f"{name} ETF",
                    code,
                    "style",
                    0.0050,
                    6.0e7,
                    0.006,
                    0.0010,
                    0.0008,
                )
            )
    specs += [
        EtfSpec(c, n, ix, "theme", 0.0050, 2.5e8, 0.006, 0.0015, 0.0020, late=late)
        for c, n, ix, late in _THEMES
    ]
    specs = [replace(s, late=True) if s.code in _LATE_EXTRA else s for s in specs]
    specs = [s for s in specs if s.tracked in known]
    specs += [
        EtfSpec(c, n, ix, "bond", 0.0020, a, 0.003, 0.0005, 0.0002, nav0=100.0)
        for c, n, ix, a in _BONDS
    ]
    specs.append(
        EtfSpec(
            _MONEY[0], _MONEY[1], None, "money", 0.0030, 4.0e9, 0.0, 0.0001, 0.00003, nav0=100.0
        )
    )
    return sorted(specs, key=lambda s: s.code)


def build_etf_tables(
    index_info: pd.DataFrame,
    index_bars: pd.DataFrame,
    bond_yields: pd.DataFrame,
    bond_index_bars: pd.DataFrame,
    *,
    sessions: pd.DatetimeIndex,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Simulate the ETFs tracking the synthetic market's indices.

    Parameters
    ----------
    index_info, index_bars
        Stock indices and their daily bars (``open, high, low, close`` used).
    bond_yields
        The curve; the 1-year yield drives the money-market ETF.
    bond_index_bars
        Bond index levels tracked by the bond ETFs.
    sessions
        Trading sessions of the span.
    seed
        Base seed; draws come from ``np.random.default_rng(seed + SEED_OFFSET)``.

    Returns
    -------
    dict of DataFrame
        ``etf_info`` (code, name, tracked_index, category, fee, list_date) and ``etf_bars``
        (date, code, open, high, low, close, volume, amount, nav, is_suspended), one row per
        ETF and session from its listing on, sorted by (date, code).

    Notes
    -----
    ``NAV_t = NAV_{t-1} (1 + R_t + x_t - fee d_t / 365 + e_t)`` where ``R`` is the tracked
    index's return (money ETF: ``y1_{t-1} d_t / 365``), ``x`` the theme component (theme
    ETFs only) and ``e ~ N(0, TE^2 / 252)``; ``close = round(NAV (1 + p), 3)`` with
    ``p_t = 0.6 p_{t-1} + eta_t``. See the module docstring for bars, volume and bursts.
    """
    sessions = pd.DatetimeIndex(sessions)
    rng = np.random.default_rng(seed + SEED_OFFSET)
    specs = etf_specs(index_info)
    T, E = len(sessions), len(specs)
    days = np.r_[
        1.0, np.diff(sessions.values.astype("datetime64[D]").astype(np.int64)).astype(np.float64)
    ]

    ohlc = _tracked_bars(specs, index_bars, bond_yields, bond_index_bars, sessions, days)
    list_pos, list_dates = _listing(specs, sessions, rng)
    theme = [j for j, s in enumerate(specs) if s.category == "theme"]
    drift, burst_volume = _attention_bursts(rng, T, len(theme))
    theme_ret = np.zeros((T, E))
    theme_ret[:, theme] = THEME_NOISE * rng.standard_normal((T, len(theme))) + drift
    intensity = np.zeros((T, E))
    intensity[:, theme] = burst_volume - 1.0

    nav = _nav(specs, ohlc["ret"], theme_ret, days, list_pos, rng)
    premium = _premium(specs, rng, T) + 0.0005 * intensity
    bars = _price_bars(specs, nav, premium, ohlc, rng)
    susp = _suspensions(specs, rng, list_pos, T)
    volume, amount = _activity(specs, bars, ohlc["ret"] + theme_ret, 1.0 + intensity, rng)
    _apply_suspensions(bars, volume, amount, susp)

    info = pd.DataFrame(
        {
            "code": [s.code for s in specs],
            "name": [s.name for s in specs],
            "tracked_index": [s.tracked for s in specs],
            "category": [s.category for s in specs],
            "fee": [s.fee for s in specs],
            "list_date": list_dates,
        }
    )
    listed = np.arange(T)[:, None] >= list_pos[None, :]
    t_idx, e_idx = np.nonzero(listed)
    frame = pd.DataFrame(
        {
            "date": sessions.values.astype("datetime64[ns]")[t_idx],
            "code": np.asarray([s.code for s in specs], dtype=object)[e_idx],
            **{k: bars[k][t_idx, e_idx] for k in ("open", "high", "low", "close")},
            "volume": volume[t_idx, e_idx],
            "amount": amount[t_idx, e_idx],
            "nav": np.round(nav, 4)[t_idx, e_idx],
            "is_suspended": susp[t_idx, e_idx],
        }
    )
    return {"etf_info": info, "etf_bars": frame}


# ---------------------------------------------------------------------------------------------
# tracked series
# ---------------------------------------------------------------------------------------------


def _wide(
    bars: pd.DataFrame, field: str, codes: list[str], sessions: pd.DatetimeIndex
) -> np.ndarray:
    """``(T, len(codes))`` of one field of a long (date, code) frame; NaN where absent."""
    sub = bars[bars["code"].astype(str).isin(codes)]
    wide = sub.pivot(index="date", columns="code", values=field)
    wide.columns = wide.columns.astype(str)
    return wide.reindex(index=sessions, columns=codes).to_numpy(dtype=np.float64)


def _tracked_bars(
    specs: list[EtfSpec],
    index_bars: pd.DataFrame,
    bond_yields: pd.DataFrame,
    bond_index_bars: pd.DataFrame,
    sessions: pd.DatetimeIndex,
    days: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per ETF ``(T, E)``: tracked return ``ret``, overnight factor ``gap``, range ``up`` / ``down``.

    ``gap = open_t / close_{t-1}``, ``up = high / max(open, close) - 1``, ``down = 1 - low /
    min(open, close)`` of the tracked stock index; bonds and money: gap 1, range 0.
    """
    T, E = len(sessions), len(specs)
    ret = np.zeros((T, E))
    gap = np.ones((T, E))
    up = np.zeros((T, E))
    down = np.zeros((T, E))
    stock = [j for j, s in enumerate(specs) if s.category not in ("bond", "money")]
    bond = [j for j, s in enumerate(specs) if s.category == "bond"]
    money = [j for j, s in enumerate(specs) if s.category == "money"]
    if stock:
        codes = [str(specs[j].tracked) for j in stock]
        o, h, lo, c = (
            _wide(index_bars, f, codes, sessions) for f in ("open", "high", "low", "close")
        )
        ret[1:, stock] = c[1:] / c[:-1] - 1.0
        gap[1:, stock] = o[1:] / c[:-1]
        up[:, stock] = np.maximum(h / np.maximum(o, c) - 1.0, 0.0)
        down[:, stock] = np.maximum(1.0 - lo / np.minimum(o, c), 0.0)
    if bond:
        c = _wide(bond_index_bars, "close", [str(specs[j].tracked) for j in bond], sessions)
        ret[1:, bond] = c[1:] / c[:-1] - 1.0
    if money:
        y = bond_yields[np.isclose(bond_yields["tenor"].astype(float), 1.0)]
        y1 = y.set_index("date")["yield"].reindex(sessions).to_numpy(dtype=np.float64)
        ret[1:, money] = (y1[:-1] * days[1:] / 365.0)[:, None]
    if not np.isfinite(ret).all():
        raise ValueError("a tracked index has missing bars inside the span")
    return {"ret": ret, "gap": gap, "up": up, "down": down}


def _listing(
    specs: list[EtfSpec], sessions: pd.DatetimeIndex, rng: np.random.Generator
) -> tuple[np.ndarray, list[pd.Timestamp]]:
    """First row of each ETF and its list date.

    ETFs flagged ``late`` list on a session drawn in the first half of the span (after its
    first eighth); the others listed on an SSE session one to six years before the span.
    """
    T = len(sessions)
    late_draw = rng.integers(T // 8, max(T // 2, T // 8 + 1), size=len(specs))
    years_before = rng.uniform(1.0, 6.0, size=len(specs))
    cal = TradingCalendar(end=sessions[0])
    pos = np.zeros(len(specs), dtype=np.int64)
    dates: list[pd.Timestamp] = []
    for j, s in enumerate(specs):
        if s.late and T >= 16:
            pos[j] = late_draw[j]
            dates.append(sessions[pos[j]])
        else:
            target = sessions[0] - pd.Timedelta(days=float(365.25 * years_before[j]))
            dates.append(
                cal.sessions[min(int(cal.sessions.searchsorted(target)), len(cal.sessions) - 1)]
                if len(cal)
                else sessions[0]
            )
    return pos, dates


# ---------------------------------------------------------------------------------------------
# NAV, premium, bars
# ---------------------------------------------------------------------------------------------


def _attention_bursts(rng: np.random.Generator, T: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Momentum drift and volume multiplier ``(T, n)`` of the theme ETFs' attention bursts.

    Notes
    -----
    A burst starting at ``t0`` with length ``D``, sign ``g``, drift ``mu`` and amplitude ``A``
    adds ``g mu exp(-k / 10)`` to the return and multiplies volume by
    ``1 + A exp(-k / 5) min(1, (k + 1) / 2)`` on its ``k``-th session, ``k = 0 .. D - 1``.
    """
    starts = rng.random((T, n)) < BURSTS_PER_YEAR / 252.0
    length = rng.integers(BURST_DAYS[0], BURST_DAYS[1] + 1, size=(T, n))
    sign = np.where(rng.random((T, n)) < BURST_POSITIVE, 1.0, -1.0)
    mu = rng.uniform(*BURST_DRIFT, size=(T, n))
    amp = rng.uniform(*BURST_VOLUME, size=(T, n))
    drift = np.zeros((T, n))
    mult = np.ones((T, n))
    for j in range(n):
        free_from = 0
        for t0 in np.flatnonzero(starts[:, j]).tolist():
            if t0 < free_from:
                continue
            d = int(min(length[t0, j], T - t0))
            k = np.arange(d)
            drift[t0 : t0 + d, j] = sign[t0, j] * mu[t0, j] * np.exp(-k / 10.0)
            mult[t0 : t0 + d, j] = 1.0 + amp[t0, j] * np.exp(-k / 5.0) * np.minimum(
                1.0, (k + 1) / 2.0
            )
            free_from = t0 + d
    return drift, mult


def _nav(
    specs: list[EtfSpec],
    ret: np.ndarray,
    theme_ret: np.ndarray,
    days: np.ndarray,
    list_pos: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(T, E)`` NAV, equal to the ETF's initial NAV on its first row."""
    T, E = ret.shape
    fee = np.array([s.fee for s in specs])
    te = np.array([s.tracking_error for s in specs])
    noise = rng.standard_normal((T, E)) * te / np.sqrt(252.0)
    nav0 = np.array([s.nav0 if s.nav0 is not None else np.nan for s in specs])
    drawn = np.round(rng.uniform(0.8, 4.5, size=E), 3)
    late = np.array([s.late for s in specs]) & (list_pos > 0)
    nav0 = np.where(np.isnan(nav0), np.where(late, 1.0, drawn), nav0)
    r = ret + theme_ret - fee[None, :] * days[:, None] / 365.0 + noise
    r[0] = 0.0
    growth = np.cumprod(1.0 + r, axis=0)
    return nav0[None, :] * growth / growth[list_pos, np.arange(E)][None, :]


def _premium(specs: list[EtfSpec], rng: np.random.Generator, T: int) -> np.ndarray:
    """``(T, E)`` AR(1) premium of price over NAV."""
    sd = np.array([s.premium_sd for s in specs])
    eta = rng.standard_normal((T, len(specs))) * sd * np.sqrt(1.0 - PREMIUM_PHI**2)
    p = np.empty_like(eta)
    p[0] = rng.standard_normal(len(specs)) * sd
    for t in range(1, T):
        p[t] = PREMIUM_PHI * p[t - 1] + eta[t]
    return p


def _price_bars(
    specs: list[EtfSpec],
    nav: np.ndarray,
    premium: np.ndarray,
    ohlc: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Open, high, low, close ``(T, E)``, rounded to 0.001 and consistent."""
    T, E = nav.shape
    rsd = np.array([s.range_sd for s in specs])
    psd = np.array([s.premium_sd for s in specs])
    fair = nav * (1.0 + premium)
    prev_fair = np.vstack([fair[:1], fair[:-1]])
    close = np.round(fair, 3)
    open_ = np.round(prev_fair * ohlc["gap"] * (1.0 + 0.5 * psd * rng.standard_normal((T, E))), 3)
    up = ohlc["up"] + np.abs(rng.standard_normal((T, E))) * rsd
    down = ohlc["down"] + np.abs(rng.standard_normal((T, E))) * rsd
    high = np.round(np.maximum(open_, close) * (1.0 + up), 3)
    low = np.round(np.minimum(open_, close) * (1.0 - np.minimum(down, 0.5)), 3)
    high = np.maximum.reduce([high, open_, close])
    low = np.maximum(np.minimum.reduce([low, open_, close]), 0.001)
    return {"open": open_, "high": high, "low": low, "close": close}


def _suspensions(
    specs: list[EtfSpec], rng: np.random.Generator, list_pos: np.ndarray, T: int
) -> np.ndarray:
    """``(T, E)`` bool: single-day suspensions (never on the first row, never two in a row)."""
    E = len(specs)
    eligible = (rng.random(E) < SUSPENDABLE_SHARE) & np.array(
        [s.category not in ("money",) for s in specs]
    )
    draw = rng.random((T, E)) < SUSPENSIONS_PER_YEAR / 252.0
    susp = draw & eligible[None, :] & (np.arange(T)[:, None] > list_pos[None, :])
    susp[1:] &= ~susp[:-1]
    return susp


def _activity(
    specs: list[EtfSpec],
    bars: dict[str, np.ndarray],
    ret: np.ndarray,
    burst: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Volume (shares, lots of 100) and amount (CNY) ``(T, E)``.

    ``amount* = A exp(a_t) (0.6 + 0.4 |R_t| / median |R|) burst_t`` with AR(1) log activity
    ``a``; ``volume = round(amount* / vwap, -2)``, ``amount = volume x vwap`` with
    ``vwap = (open + high + low + close) / 4``.
    """
    T, E = ret.shape
    base = np.array([s.amount for s in specs]) * np.exp(rng.normal(0.0, 0.3, size=E))
    eps = rng.standard_normal((T, E)) * ACTIVITY_SD * np.sqrt(1.0 - ACTIVITY_PHI**2)
    a = np.empty_like(eps)
    a[0] = rng.standard_normal(E) * ACTIVITY_SD
    for t in range(1, T):
        a[t] = ACTIVITY_PHI * a[t - 1] + eps[t]
    mag = np.abs(ret)
    scale = np.median(mag, axis=0)
    shock = 0.6 + 0.4 * mag / np.where(scale > 0, scale, 1.0)
    target = base * np.exp(a) * shock * burst
    vwap = (bars["open"] + bars["high"] + bars["low"] + bars["close"]) / 4.0
    volume = np.maximum(np.round(target / vwap / 100.0), 1.0) * 100.0
    return volume, volume * vwap


def _apply_suspensions(
    bars: dict[str, np.ndarray], volume: np.ndarray, amount: np.ndarray, susp: np.ndarray
) -> None:
    """Freeze suspended days at the previous close with no trading (in place)."""
    prev_close = np.vstack([bars["close"][:1], bars["close"][:-1]])
    for k in ("open", "high", "low", "close"):
        bars[k][susp] = prev_close[susp]
    volume[susp] = 0.0
    amount[susp] = 0.0
