"""Stock indices of the synthetic market: pools, levels and membership spells.

Built on top of the simulated stock panel as pure functions of it: the index tables are a
deterministic aggregate of ``daily_bars``, ``instruments``, the ``industry`` and ``st_status``
spells and the simulator's latent style characteristics.

Indices
-------
- **broad** (six pools, SPEC §0): CSI 300 ``000300.SH``, CSI 500 ``000905.SH``, CSI 800
  ``000906.SH``, CSI 1000 ``000852.SH``, CSI 2000 ``932000.CSI``, CSI All Share
  ``000985.CSI``;
- **size**: large cap ``399314.SZ`` (float-cap ranks 1-100) and small cap ``399316.SZ``
  (ranks 1001-3000), both on the 5,000-stock scale and scaled like the pools;
- **industry**: the 31 Shenwan 2021 level-1 indices ``801xxx.SI`` (:data:`SW_INDEX`);
- **style**: five CSI 800 style indices ``93091x.CSI`` (:data:`STYLE_INDICES`).

Pools (point in time)
---------------------
Rebalanced semi-annually: effective on the first session after the second Friday of June
and December, ranked on the last session of May / November with data up to that day only.
The first pools take effect on the first session and are ranked on it (the only data there
is; no index return uses that ranking before the second session). Eligible on a rank date:
listed for at least 60 sessions (sessions before the span are counted as business days),
not ST, not suspended, not delisted, with a positive float cap, not on the Beijing exchange.
Eligible stocks are ranked by float cap ``close x float_shares`` (ties by code); with ``n``
eligible stocks the SPEC cut-offs ``c`` become ``round(c n / 5000)`` (half up). A stock
leaves every pool on its delisting date.

Levels
------
Cap-weighted by the float cap at the previous close, ``w_it ∝ prev_close_it x
float_shares_it`` (today's shares, the exchange reference previous close: ex-rights
consistent). Daily return ``R_t = sum_i w_it r_it`` with ``r_it = close_it / prev_close_it -
1`` (suspended members: 0). ``close_0 = 1000`` on the first session. Open, high and low are
*approximations*: the cap-weighted averages of the members' ``open / prev_close``, ``high /
prev_close`` and ``low / prev_close`` applied to the previous level (the true intraday
extremes of an index are less extreme, as members do not peak together). Volume and amount
are the members' sums. An index without members on a day is flat with zero volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from quantbook.data.vocabulary import SW_L1

#: Rank cut-offs of the SPEC are stated for a 5,000-stock universe.
REFERENCE_UNIVERSE = 5000
#: Minimum number of listed sessions for a pool (SPEC §0) and for an industry index.
MIN_LISTED_POOL = 60
MIN_LISTED_INDUSTRY = 20
#: Base level of every index on the first session.
BASE_LEVEL = 1000.0
#: Share of the CSI 800 pool selected by each style index.
STYLE_SHARE = 0.20


@dataclass(frozen=True)
class RankIndex:
    """An index whose members are a float-cap rank band ``(lo, hi]`` on the 5,000 scale."""

    code: str
    name: str
    category: str
    pool: str
    lo: int
    hi: int | None  # None: every eligible stock below ``lo``


#: The six broad pools (SPEC §0) and the two size indices.
RANK_INDICES: tuple[RankIndex, ...] = (
    RankIndex("000300.SH", "CSI 300", "broad", "csi300", 0, 300),
    RankIndex("000905.SH", "CSI 500", "broad", "csi500", 300, 800),
    RankIndex("000906.SH", "CSI 800", "broad", "csi800", 0, 800),
    RankIndex("000852.SH", "CSI 1000", "broad", "csi1000", 800, 1800),
    RankIndex("932000.CSI", "CSI 2000", "broad", "csi2000", 1800, 3800),
    RankIndex("000985.CSI", "CSI All Share", "broad", "csi_all", 0, None),
    RankIndex("399314.SZ", "Large Cap", "size", "large_cap", 0, 100),
    RankIndex("399316.SZ", "Small Cap", "size", "small_cap", 1000, 3000),
)


@dataclass(frozen=True)
class StyleIndex:
    """A style index: the top (or bottom) :data:`STYLE_SHARE` of CSI 800 by a characteristic."""

    code: str
    name: str
    pool: str
    characteristic: str
    descending: bool  # True: highest values selected


STYLE_INDICES: tuple[StyleIndex, ...] = (
    StyleIndex("930910.CSI", "CSI 800 Value", "style_value", "value", True),
    StyleIndex("930911.CSI", "CSI 800 Growth", "style_growth", "growth", True),
    StyleIndex("930912.CSI", "CSI 800 Dividend", "style_dividend", "dividend", True),
    StyleIndex("930913.CSI", "CSI 800 Low Volatility", "style_low_vol", "volatility", False),
    StyleIndex("930914.CSI", "CSI 800 Momentum", "style_momentum", "momentum", True),
)

#: Shenwan 2021 level-1 index codes by 2-digit industry code (see ``vocabulary.SW_L1``).
SW_INDEX: dict[str, str] = {
    "11": "801010.SI",
    "22": "801030.SI",
    "23": "801040.SI",
    "24": "801050.SI",
    "27": "801080.SI",
    "28": "801880.SI",
    "33": "801110.SI",
    "34": "801120.SI",
    "35": "801130.SI",
    "36": "801140.SI",
    "37": "801150.SI",
    "41": "801160.SI",
    "42": "801170.SI",
    "43": "801180.SI",
    "45": "801200.SI",
    "46": "801210.SI",
    "48": "801780.SI",
    "49": "801790.SI",
    "51": "801230.SI",
    "61": "801710.SI",
    "62": "801720.SI",
    "63": "801730.SI",
    "64": "801890.SI",
    "65": "801740.SI",
    "71": "801750.SI",
    "72": "801760.SI",
    "73": "801770.SI",
    "74": "801950.SI",
    "75": "801960.SI",
    "76": "801970.SI",
    "77": "801980.SI",
}

INDUSTRY_KEYS: tuple[str, ...] = tuple(sorted(SW_L1))


@dataclass
class _Panel:
    """The stock panel as wide ``(T, N)`` arrays aligned with ``sessions`` and ``codes``."""

    sessions: pd.DatetimeIndex
    codes: np.ndarray
    close: np.ndarray
    float_shares: np.ndarray
    has_row: np.ndarray
    suspended: np.ndarray
    list_pos: np.ndarray  # first session index on or after list_date
    pre_span: np.ndarray  # business days listed before the first session
    delist_pos: np.ndarray  # first session index on or after delist_date (T: never)
    is_bse: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.sessions), len(self.codes)

    def listed_sessions(self, t: int | np.ndarray) -> np.ndarray:
        """Number of sessions each stock has been listed for, including session ``t``."""
        return np.asarray(t)[..., None] - self.list_pos + 1 + self.pre_span

    def alive(self) -> np.ndarray:
        """``(T, N)`` bool: not yet delisted."""
        return np.arange(self.shape[0])[:, None] < self.delist_pos[None, :]


@dataclass(frozen=True)
class _Rebalance:
    """One pool rebalance: rank session index and effective session index."""

    rank: int
    effective: int


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------


def build_index_tables(
    daily: pd.DataFrame,
    instruments: pd.DataFrame,
    industry: pd.DataFrame,
    st_status: pd.DataFrame,
    chars: pd.DataFrame,
    *,
    sessions: pd.DatetimeIndex,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Build the index tables of the synthetic market from its stock panel.

    Parameters
    ----------
    daily
        ``daily_bars`` (long, one row per listed stock and session): uses ``date, code, open,
        high, low, close, prev_close, volume, amount, float_shares`` (``total_shares`` where
        float shares are missing) and ``is_suspended``.
    instruments
        ``code, list_date, delist_date`` (and ``board``: Beijing stocks stay out of the pools).
    industry, st_status
        Spells ``code, start, end, value`` (half-open ``[start, end)``, ``end`` NaT = open).
    chars
        Latent style characteristics: ``date`` (month-ends), ``code`` and float columns
        (``value, growth, dividend, volatility, momentum`` are used), cross-sectionally
        standardized. The style pools of a rebalance use the latest date on or before its rank
        date (the earliest date when none precedes the first session).
    sessions
        The trading sessions of the span (every ``daily.date`` must be one of them).
    seed
        Accepted for a uniform interface; the index tables are deterministic aggregates of
        the inputs and draw no random numbers.

    Returns
    -------
    dict of DataFrame
        ``index_info`` (code, name, category, pool), ``index_members`` (index_code, code,
        start, end) and ``index_bars`` (date, code, open, high, low, close, volume, amount).

    Notes
    -----
    With float cap ``m_it = prev_close_it x float_shares_it`` and member set ``S_t``,

    .. math::

        R_t = \\frac{\\sum_{i \\in S_t} m_{it} r_{it}}{\\sum_{i \\in S_t} m_{it}}, \\quad
        L_t = L_{t-1} (1 + R_t), \\quad L_0 = 1000,

    and ``open_t = L_{t-1} (1 + sum_i w_it (open_it / prev_close_it - 1))`` (high, low
    alike; ``L_{-1} = 1000 / (1 + R_0)``). See the module docstring for the pools.
    """
    del seed  # no randomness: see Parameters
    sessions = pd.DatetimeIndex(sessions)
    panel, flows = _load_panel(daily, instruments, sessions)
    schedule = _rebalance_schedule(sessions)
    period_of = _period_of(schedule, len(sessions))
    alive = panel.alive()

    rank_members = _rank_pools(panel, st_status, schedule)  # code -> (P, N) bool
    style_members = _style_pools(panel, chars, schedule, rank_members["000906.SH"])
    pool_members = {**rank_members, **style_members}
    industry_key = _industry_key(panel, industry)

    flows.mask_dead(alive)
    pool_sums = _pool_sums(flows, pool_members, schedule)
    industry_sums = _industry_sums(flows, industry_key)

    info = _index_info()
    bars = _index_bars(sessions, {**pool_sums, **industry_sums}, list(info["code"]))
    members = _index_members(panel, pool_members, period_of, alive, industry_key)
    return {"index_info": info, "index_members": members, "index_bars": bars}


# ---------------------------------------------------------------------------------------------
# panel
# ---------------------------------------------------------------------------------------------


@dataclass
class _Flows:
    """Cap-weighted return numerators and the denominators, ``(T, N)`` each."""

    cap: np.ndarray
    cap_close: np.ndarray
    cap_open: np.ndarray
    cap_high: np.ndarray
    cap_low: np.ndarray
    volume: np.ndarray
    amount: np.ndarray

    FIELDS: ClassVar[tuple[str, ...]] = (
        "cap",
        "cap_close",
        "cap_open",
        "cap_high",
        "cap_low",
        "volume",
        "amount",
    )

    def mask_dead(self, alive: np.ndarray) -> None:
        """Zero every field where a stock is delisted (no weight, no volume)."""
        for f in self.FIELDS:
            arr = getattr(self, f)
            arr[~alive] = 0.0


def _column(daily: pd.DataFrame, name: str) -> np.ndarray:
    if name not in daily.columns:
        return np.full(len(daily), np.nan)
    return pd.to_numeric(daily[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _code_positions(values: pd.Series, codes: np.ndarray) -> np.ndarray:
    """Position of each value in ``codes`` (-1 if absent), via factorization (fast on long frames)."""
    inverse, uniques = pd.factorize(values)
    pos = pd.Index(codes).get_indexer(pd.Index(np.asarray(uniques, dtype=object).astype(str)))
    return np.where(inverse >= 0, pos[inverse], -1)


def _load_panel(
    daily: pd.DataFrame, instruments: pd.DataFrame, sessions: pd.DatetimeIndex
) -> tuple[_Panel, _Flows]:
    """Pivot ``daily`` into wide arrays and derive the cap-weighted flows."""
    codes = np.asarray(sorted(instruments["code"].astype(str)), dtype=object)
    T, N = len(sessions), len(codes)
    ti = sessions.get_indexer(pd.DatetimeIndex(daily["date"]))
    ci = _code_positions(daily["code"], codes)
    if (ti < 0).any():
        bad = daily.loc[ti < 0, "date"].iloc[0]
        raise ValueError(f"daily_bars has a date that is not a session: {bad}")
    if (ci < 0).any():
        bad = daily.loc[ci < 0, "code"].iloc[0]
        raise ValueError(f"daily_bars has a code missing from instruments: {bad}")

    def wide(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        out = np.full((T, N), fill)
        out[ti, ci] = values
        return out

    prev = _column(daily, "prev_close")
    flt = _column(daily, "float_shares")
    flt = np.where(np.isfinite(flt), flt, _column(daily, "total_shares"))
    susp_col = (
        daily["is_suspended"].to_numpy(dtype=bool, na_value=False)
        if "is_suspended" in daily
        else None
    )
    susp_rows = np.zeros(len(daily), dtype=bool) if susp_col is None else susp_col
    cap_rows = prev * flt
    ok = np.isfinite(cap_rows) & (cap_rows > 0)
    cap_rows = np.where(ok, cap_rows, 0.0)

    def rel(name: str) -> np.ndarray:
        x = _column(daily, name) / prev - 1.0
        return np.where(ok & ~susp_rows & np.isfinite(x), x, 0.0)

    def nonneg(name: str) -> np.ndarray:
        x = _column(daily, name)
        return np.where(np.isfinite(x) & ~susp_rows, x, 0.0)

    flows = _Flows(
        cap=wide(cap_rows, 0.0),
        cap_close=wide(cap_rows * rel("close"), 0.0),
        cap_open=wide(cap_rows * rel("open"), 0.0),
        cap_high=wide(cap_rows * rel("high"), 0.0),
        cap_low=wide(cap_rows * rel("low"), 0.0),
        volume=wide(nonneg("volume"), 0.0),
        amount=wide(nonneg("amount"), 0.0),
    )

    inst = instruments.assign(code=instruments["code"].astype(str)).set_index("code").reindex(codes)
    list_date = pd.DatetimeIndex(inst["list_date"])
    delist_date = (
        pd.DatetimeIndex(inst["delist_date"])
        if "delist_date" in inst
        else pd.DatetimeIndex([pd.NaT] * N)
    )
    list_pos = sessions.searchsorted(list_date.fillna(sessions[0]), side="left").astype(np.int64)
    first = np.datetime64(sessions[0].date(), "D")
    ld = list_date.fillna(sessions[0]).values.astype("datetime64[D]")
    pre_span = np.where(ld < first, np.busday_count(np.minimum(ld, first), first), 0).astype(
        np.int64
    )
    delist_pos = np.where(
        delist_date.isna(), T, sessions.searchsorted(delist_date.fillna(sessions[-1]), side="left")
    ).astype(np.int64)
    board = inst["board"].astype(str).to_numpy() if "board" in inst else np.full(N, "main")

    panel = _Panel(
        sessions=sessions,
        codes=codes,
        close=wide(_column(daily, "close")),
        float_shares=wide(flt),
        has_row=wide(np.ones(len(daily)), 0.0) > 0,
        suspended=wide(susp_rows.astype(np.float64), 0.0) > 0,
        list_pos=list_pos,
        pre_span=pre_span,
        delist_pos=delist_pos,
        is_bse=board == "bse",
    )
    return panel, flows


# ---------------------------------------------------------------------------------------------
# rebalance schedule and pools
# ---------------------------------------------------------------------------------------------


def _second_friday(year: int, month: int) -> pd.Timestamp:
    first = pd.Timestamp(year=year, month=month, day=1)
    return first + pd.Timedelta(days=(4 - first.weekday()) % 7 + 7)


def _rebalance_schedule(sessions: pd.DatetimeIndex) -> list[_Rebalance]:
    """The initial pool (rank = effective = session 0) and the semi-annual rebalances.

    A regular rebalance is kept when its rank date (last session of May / November) and its
    effective date (first session after the second Friday of June / December) both lie in
    the span and the rank date is not before the first session.
    """
    out = [_Rebalance(0, 0)]
    T = len(sessions)
    for year in range(sessions[0].year, sessions[-1].year + 1):
        for month in (6, 12):
            month_start = pd.Timestamp(year=year, month=month, day=1)
            rank = int(sessions.searchsorted(month_start, side="left")) - 1
            eff = int(sessions.searchsorted(_second_friday(year, month), side="right"))
            if rank < 0 or eff >= T or eff <= out[-1].effective:
                continue
            if sessions[rank].month != month - 1:
                continue  # no session in May / November inside the span
            out.append(_Rebalance(rank, eff))
    return out


def _period_of(schedule: list[_Rebalance], T: int) -> np.ndarray:
    """Index of the rebalance in force on each session."""
    eff = np.array([r.effective for r in schedule])
    return np.searchsorted(eff, np.arange(T), side="right") - 1


def _st_on(st_status: pd.DataFrame, codes: np.ndarray, date: pd.Timestamp) -> np.ndarray:
    """``(N,)`` bool: under an ST spell on ``date``."""
    if st_status is None or len(st_status) == 0:
        return np.zeros(len(codes), dtype=bool)
    start = pd.DatetimeIndex(st_status["start"])
    end = pd.DatetimeIndex(st_status["end"])
    on = (start <= date) & (end.isna() | (end > date))
    idx = pd.Index(codes).get_indexer(st_status.loc[np.asarray(on), "code"].astype(str))
    out = np.zeros(len(codes), dtype=bool)
    out[idx[idx >= 0]] = True
    return out


def scaled_cutoff(cutoff: int, n_universe: int) -> int:
    """A SPEC rank cut-off scaled to the universe: ``round(cutoff x n / 5000)``, half up.

    Parameters
    ----------
    cutoff
        Cut-off on the 5,000-stock scale (e.g. 300 for CSI 300).
    n_universe
        Number of eligible stocks on the rank date.

    Returns
    -------
    int
        The scaled cut-off.

    Examples
    --------
    >>> scaled_cutoff(300, 600), scaled_cutoff(800, 600)
    (36, 96)
    """
    return int(np.floor(cutoff * n_universe / REFERENCE_UNIVERSE + 0.5))


def _eligible(panel: _Panel, st: np.ndarray, t: int) -> np.ndarray:
    """``(N,)`` bool: pool eligibility on rank session ``t`` (data up to ``t`` only)."""
    cap = panel.close[t] * panel.float_shares[t]
    return (
        panel.has_row[t]
        & ~panel.suspended[t]
        & (panel.listed_sessions(t) >= MIN_LISTED_POOL)
        & ~st
        & (t < panel.delist_pos)
        & (panel.list_pos <= t)
        & np.isfinite(cap)
        & (cap > 0)
        & ~panel.is_bse
    )


def _ranking(panel: _Panel, eligible: np.ndarray, t: int) -> np.ndarray:
    """Column indices of the eligible stocks by float cap, largest first (ties by code)."""
    idx = np.flatnonzero(eligible)
    cap = panel.close[t, idx] * panel.float_shares[t, idx]
    return idx[np.lexsort((idx, -cap))]


def _rank_pools(
    panel: _Panel, st_status: pd.DataFrame, schedule: list[_Rebalance]
) -> dict[str, np.ndarray]:
    """Members of each rank index at each rebalance: ``code -> (P, N)`` bool."""
    N = panel.shape[1]
    out = {ix.code: np.zeros((len(schedule), N), dtype=bool) for ix in RANK_INDICES}
    for k, reb in enumerate(schedule):
        st = _st_on(st_status, panel.codes, panel.sessions[reb.rank])
        order = _ranking(panel, _eligible(panel, st, reb.rank), reb.rank)
        n = len(order)
        for ix in RANK_INDICES:
            lo = scaled_cutoff(ix.lo, n)
            hi = n if ix.hi is None else scaled_cutoff(ix.hi, n)
            out[ix.code][k, order[lo:hi]] = True
    return out


def _chars_snapshots(
    chars: pd.DataFrame, codes: np.ndarray, dates: list[pd.Timestamp], columns: list[str]
) -> dict[str, np.ndarray]:
    """``column -> (P, N)``: characteristics from the latest ``chars`` date on or before each date.

    The earliest ``chars`` date is used for dates before it; NaN where a code has no value.
    """
    P, N = len(dates), len(codes)
    out = {c: np.full((P, N), np.nan) for c in columns}
    if len(chars) == 0:
        return out
    cdate = pd.DatetimeIndex(chars["date"])
    inverse, uniques = pd.factorize(cdate, sort=True)
    uniq = pd.DatetimeIndex(uniques)
    wanted = np.maximum(uniq.searchsorted(pd.DatetimeIndex(dates), side="right") - 1, 0)
    ci = _code_positions(chars["code"], codes)
    vals = {
        c: pd.to_numeric(chars[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        for c in columns
    }
    for k, j in enumerate(wanted.tolist()):
        rows = np.flatnonzero((inverse == j) & (ci >= 0))
        for c in columns:
            out[c][k, ci[rows]] = vals[c][rows]
    return out


def _style_pools(
    panel: _Panel, chars: pd.DataFrame, schedule: list[_Rebalance], csi800: np.ndarray
) -> dict[str, np.ndarray]:
    """Members of each style index at each rebalance: the top 20 % of CSI 800 by a characteristic."""
    N = panel.shape[1]
    columns = sorted({ix.characteristic for ix in STYLE_INDICES})
    rank_dates = [panel.sessions[r.rank] for r in schedule]
    snaps = _chars_snapshots(chars, panel.codes, rank_dates, columns)
    out = {ix.code: np.zeros((len(schedule), N), dtype=bool) for ix in STYLE_INDICES}
    for k in range(len(schedule)):
        for ix in STYLE_INDICES:
            x = snaps[ix.characteristic][k]
            idx = np.flatnonzero(csi800[k] & np.isfinite(x))
            if len(idx) == 0:
                continue
            key = -x[idx] if ix.descending else x[idx]
            n_sel = max(1, int(np.floor(STYLE_SHARE * len(idx) + 0.5)))
            out[ix.code][k, idx[np.lexsort((idx, key))][:n_sel]] = True
    return out


def _spell_positions(
    spells: pd.DataFrame, codes: np.ndarray, sessions: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Column index, start and end session indices and values of spells overlapping the span."""
    ci = pd.Index(codes).get_indexer(spells["code"].astype(str))
    s = sessions.searchsorted(pd.DatetimeIndex(spells["start"]), side="left")
    end = pd.DatetimeIndex(spells["end"])
    e = np.where(
        end.isna(), len(sessions), sessions.searchsorted(end.fillna(sessions[-1]), side="left")
    )
    keep = (ci >= 0) & (s < e)
    return ci[keep], s[keep], e[keep], spells["value"].astype(str).to_numpy()[keep]


def _industry_key(panel: _Panel, industry: pd.DataFrame) -> np.ndarray:
    """``(T, N)`` int16: position in :data:`INDUSTRY_KEYS` of the stock's industry index, -1 if none.

    A stock belongs to its industry index from its 21st listed session until delisting.
    """
    T, N = panel.shape
    ci, s, e, val = _spell_positions(industry, panel.codes, panel.sessions)
    key = pd.Index(INDUSTRY_KEYS).get_indexer(pd.Index(val))
    events = np.full((T + 1, N), -2, dtype=np.int16)  # -2: no event
    events[e, ci] = -1
    events[s, ci] = key
    events = events[:T]
    row = np.where(events != -2, np.arange(T)[:, None], 0)
    np.maximum.accumulate(row, axis=0, out=row)
    filled = np.take_along_axis(events, row, axis=0)
    filled[filled == -2] = -1
    ok = (panel.listed_sessions(np.arange(T)) > MIN_LISTED_INDUSTRY) & panel.alive()
    ok &= np.arange(T)[:, None] >= panel.list_pos[None, :]
    return np.where(ok, filled, -1).astype(np.int16)


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------


def _pool_sums(
    flows: _Flows, members: dict[str, np.ndarray], schedule: list[_Rebalance]
) -> dict[str, dict[str, np.ndarray]]:
    """Per index: the member sums of every flow field, ``(T,)`` each."""
    T = flows.cap.shape[0]
    codes = list(members)
    bounds = [r.effective for r in schedule] + [T]
    sums = {f: np.zeros((T, len(codes))) for f in _Flows.FIELDS}
    for k in range(len(schedule)):
        t0, t1 = bounds[k], bounds[k + 1]
        if t0 >= t1:
            continue
        weights = np.stack([members[c][k] for c in codes], axis=1).astype(np.float64)
        for f in _Flows.FIELDS:
            sums[f][t0:t1] = getattr(flows, f)[t0:t1] @ weights
    return {c: {f: sums[f][:, j] for f in _Flows.FIELDS} for j, c in enumerate(codes)}


def _industry_sums(flows: _Flows, key: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per SW index: the member sums of every flow field, ``(T,)`` each."""
    T = key.shape[0]
    n_ind = len(INDUSTRY_KEYS)
    valid = key >= 0
    flat = (np.arange(T)[:, None] * n_ind + key)[valid]
    sums = {
        f: np.bincount(flat, weights=getattr(flows, f)[valid], minlength=T * n_ind).reshape(
            T, n_ind
        )
        for f in _Flows.FIELDS
    }
    return {
        SW_INDEX[k]: {f: sums[f][:, j] for f in _Flows.FIELDS} for j, k in enumerate(INDUSTRY_KEYS)
    }


def _levels(s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Open, high, low, close levels from the member sums (see :func:`build_index_tables`)."""
    cap = s["cap"]
    den = np.where(cap > 0, cap, 1.0)
    rc, ro, rh, rl = (
        np.where(cap > 0, s[f] / den, 0.0) for f in ("cap_close", "cap_open", "cap_high", "cap_low")
    )
    close = BASE_LEVEL * np.cumprod(1.0 + rc) / (1.0 + rc[0])
    prev = np.r_[BASE_LEVEL / (1.0 + rc[0]), close[:-1]]
    op, hi, lo = prev * (1.0 + ro), prev * (1.0 + rh), prev * (1.0 + rl)
    hi = np.maximum.reduce([hi, op, close])
    lo = np.minimum.reduce([lo, op, close])
    return {"open": op, "high": hi, "low": lo, "close": close}


def _index_bars(
    sessions: pd.DatetimeIndex, sums: dict[str, dict[str, np.ndarray]], order: list[str]
) -> pd.DataFrame:
    """Long ``index_bars`` sorted by (date, code)."""
    codes = sorted(order)
    T = len(sessions)
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("open", "high", "low", "close", "volume", "amount")
    }
    for c in codes:
        lv = _levels(sums[c])
        for k in ("open", "high", "low", "close"):
            cols[k].append(lv[k])
        cols["volume"].append(sums[c]["volume"])
        cols["amount"].append(sums[c]["amount"])
    return pd.DataFrame(
        {
            "date": np.repeat(sessions.values.astype("datetime64[ns]"), len(codes)),
            "code": np.tile(np.asarray(codes, dtype=object), T),
            **{k: np.column_stack(v).ravel() for k, v in cols.items()},
        }
    )


def _index_info() -> pd.DataFrame:
    rows = [(ix.code, ix.name, ix.category, ix.pool) for ix in RANK_INDICES]
    rows += [(SW_INDEX[k], f"SW {SW_L1[k][1]}", "industry", f"sw_{k}") for k in INDUSTRY_KEYS]
    rows += [(ix.code, ix.name, "style", ix.pool) for ix in STYLE_INDICES]
    return pd.DataFrame(rows, columns=["code", "name", "category", "pool"])


# ---------------------------------------------------------------------------------------------
# membership spells
# ---------------------------------------------------------------------------------------------


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of constant non-negative values along axis 0 of a ``(T, N)`` int array.

    Returns column index, start row, end row (exclusive) and value of each run.
    """
    T, N = key.shape
    pad = np.full((T + 2, N), -1, dtype=np.int32)
    pad[1:-1] = key
    change = pad[1:] != pad[:-1]  # (T + 1, N): a run boundary before row t
    col, t = np.nonzero(change.T)  # sorted by column, then time
    same = col[1:] == col[:-1]
    start, end, c = t[:-1][same], t[1:][same], col[:-1][same]
    value = key[start, c]
    keep = value >= 0
    return c[keep], start[keep], end[keep], value[keep]


def _spell_frame(
    index_code: np.ndarray, panel: _Panel, col: np.ndarray, start: np.ndarray, end: np.ndarray
) -> pd.DataFrame:
    T = panel.shape[0]
    dates = panel.sessions.values.astype("datetime64[ns]")
    end_dates = np.where(end < T, dates[np.minimum(end, T - 1)], np.datetime64("NaT", "ns"))
    return pd.DataFrame(
        {
            "index_code": index_code,
            "code": panel.codes[col],
            "start": dates[start],
            "end": end_dates,
        }
    )


def _index_members(
    panel: _Panel,
    pool_members: dict[str, np.ndarray],
    period_of: np.ndarray,
    alive: np.ndarray,
    industry_key: np.ndarray,
) -> pd.DataFrame:
    """Membership spells of every index with stock members, sorted by (index_code, code, start)."""
    frames = []
    for code, m in pool_members.items():
        daily = m[period_of] & alive
        col, s, e, _ = _runs(np.where(daily, 0, -1))
        frames.append(_spell_frame(np.full(len(col), code, dtype=object), panel, col, s, e))
    col, s, e, v = _runs(industry_key.astype(np.int32))
    ind_codes = np.asarray([SW_INDEX[k] for k in INDUSTRY_KEYS], dtype=object)
    frames.append(_spell_frame(ind_codes[v], panel, col, s, e))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["index_code", "code", "start"], kind="mergesort").reset_index(drop=True)
