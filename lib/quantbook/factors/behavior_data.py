"""Inputs of the behaviour factors as wide arrays, read from a store up to an as-of date.

The daily bars come from :func:`quantbook.data.panel.load_daily_panel`; this module adds:

- :class:`MinuteCube` / :func:`load_minute_cube`: one-minute bars as ``code x day x minute``
  arrays (regenerated on demand by synthetic stores);
- :class:`IndexSessionReturns` / :func:`index_session_returns`: an index's overnight and
  afternoon returns, with its 11:30 level built from the members' 11:30 prices;
- :class:`MonthlyPanel` / :func:`load_monthly_panel`: what a monthly evaluation needs at each
  rebalance date: the universe, tradability, forward returns, industry, float cap and pools.

Nothing here reads a row dated after the ``end`` it is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantbook.data.calendar import DateLike
from quantbook.data.panel import DailyPanel, load_daily_panel, spells_on
from quantbook.data.schema import MINUTES_PER_DAY
from quantbook.data.store import Store
from quantbook.data.universe import UniverseRules
from quantbook.evaluation.returns import forward_returns

__all__ = [
    "DEFAULT_POOLS",
    "IndexSessionReturns",
    "MinuteCube",
    "MonthlyPanel",
    "PoolSpec",
    "TRADABLE_AT_CLOSE",
    "index_session_returns",
    "load_minute_cube",
    "load_monthly_panel",
]


# -- minute bars ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MinuteCube:
    """One-minute bars as ``(code, day, minute)`` arrays; NaN where a stock has no bars that day.

    Attributes
    ----------
    days
        The trading days (axis 1).
    codes
        The stocks (axis 0).
    open, close, volume, amount
        ``(N, D, 240)`` arrays.
    """

    days: pd.DatetimeIndex
    codes: pd.Index
    open: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    amount: np.ndarray


_MINUTE_FIELDS = ("open", "close", "volume", "amount")


def _fill_day(
    arrays: Mapping[str, np.ndarray], j: int, day_frame: pd.DataFrame, codes: pd.Index
) -> None:
    """Write one day's long minute frame into ``arrays[:, j, :]``."""
    if day_frame.empty:
        return
    m = MINUTES_PER_DAY
    code_s = day_frame["code"]
    minute = day_frame["minute"].to_numpy()
    n = len(day_frame) // m
    # fast path: blocks of 240 rows per stock (the code changes exactly at every 240th row,
    # each block's codes distinct), minutes 0..239 in order
    fast = len(day_frame) == n * m and np.array_equal(minute, np.tile(np.arange(m), n))
    if fast:
        starts = np.flatnonzero((code_s != code_s.shift()).to_numpy(dtype=bool))
        fast = np.array_equal(starts, np.arange(0, n * m, m))
    block_codes = pd.Index(code_s.iloc[::m].astype(str).to_numpy(dtype=object))
    if fast and block_codes.is_unique:
        ci = codes.get_indexer(block_codes)
        keep = ci >= 0
        for f in _MINUTE_FIELDS:
            block = day_frame[f].to_numpy(dtype=float).reshape(n, m)
            arrays[f][ci[keep], j, :] = block[keep]
        return
    ci = codes.get_indexer(pd.Index(code_s.astype(str).to_numpy(dtype=object)))
    ok = (ci >= 0) & (minute >= 0) & (minute < m)
    for f in _MINUTE_FIELDS:
        flat = day_frame[f].to_numpy(dtype=float)
        arrays[f][ci[ok], j, minute[ok]] = flat[ok]


def load_minute_cube(
    store: Store, days: Iterable[DateLike], *, codes: pd.Index, max_rows: int = 1_500_000
) -> MinuteCube:
    """Minute bars of ``codes`` on ``days``, read a few days per store call (bounded memory).

    Parameters
    ----------
    store
        A store with minute bars (stored or regenerated on demand).
    days
        Trading days.
    codes
        The stocks (rows of the cube); other stocks' bars are dropped.
    max_rows
        Upper bound on the minute rows requested per store call (days are batched so that
        ``days x codes x 240`` stays below it).

    Returns
    -------
    MinuteCube
    """
    day_index = pd.DatetimeIndex([pd.Timestamp(d) for d in days], name="date")
    shape = (len(codes), len(day_index), MINUTES_PER_DAY)
    arrays = {f: np.full(shape, np.nan) for f in _MINUTE_FIELDS}
    code_list = list(codes)
    per_call = max(1, max_rows // max(len(codes) * MINUTES_PER_DAY, 1))
    for lo in range(0, len(day_index), per_call):
        chunk = day_index[lo : lo + per_call]
        with warnings.catch_warnings():
            # a source importing tqdm.auto in a kernel without ipywidgets warns on import;
            # that notice is not about the data, so it stays out of the report
            warnings.filterwarnings("ignore", message="IProgress not found")
            frame = store.minute_bars(
                chunk, codes=code_list, columns=["date", "code", "minute", *_MINUTE_FIELDS]
            )
        dcol = pd.DatetimeIndex(frame["date"])
        for j, d in enumerate(chunk, start=lo):
            part = frame if len(chunk) == 1 else frame[dcol == d]
            _fill_day(arrays, j, part, codes)
    return MinuteCube(days=day_index, codes=codes, **arrays)


# -- index session returns -----------------------------------------------------------------------
@dataclass(frozen=True)
class IndexSessionReturns:
    """An index's overnight and afternoon return on each day of a panel.

    Attributes
    ----------
    index
        Index code (or ``"market"``).
    overnight
        ``(T,)`` open / previous close - 1.
    afternoon
        ``(T,)`` close / 11:30 level - 1.
    source
        How the levels were obtained, in words (for the method page and the report).
    """

    index: str
    overnight: np.ndarray
    afternoon: np.ndarray
    source: str


def _weighted(ret: np.ndarray, weight: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Weighted mean of ``ret`` over the members of each row.

    Summed over the members only, in code order, so the result does not depend on which other
    stocks the panel holds (a wider panel must give bit-identical values).
    """
    use = member & np.isfinite(weight) & (weight > 0)
    out = np.full(len(ret), np.nan)
    for t in range(len(ret)):
        idx = np.flatnonzero(use[t])
        if idx.size:
            w = weight[t, idx]
            r = np.where(np.isfinite(ret[t, idx]), ret[t, idx], 0.0)
            out[t] = (w * r).sum() / w.sum()
    return out


def index_session_returns(
    store: Store, panel: DailyPanel, *, index: str = "000300.SH"
) -> IndexSessionReturns:
    """Overnight and afternoon returns of an index on the panel's days.

    Parameters
    ----------
    store
        The store (``index_members``, ``index_bars``).
    panel
        Daily panel with ``open``, ``close``, ``prev_close``, ``price_1130`` and a share count.
    index
        Index code with members in ``index_members`` (default CSI 300), or ``"market"`` for
        every listed stock.

    Returns
    -------
    IndexSessionReturns

    Raises
    ------
    LookupError
        The index has no members in the store.

    Notes
    -----
    Stock indices carry no 11:30 level, so it is built from the members like the index
    itself: with float-cap weights at the previous close :math:`w_i = F_i \\, P^{prev}_i`
    (suspended members at a zero return),

    .. math:: R^{1130}_t = \\frac{\\sum_i w_i (P^{1130}_i / P^{prev}_i - 1)}{\\sum_i w_i},
       \\quad L^{1130}_t = L_{t-1} (1 + R^{1130}_t)

    The overnight return is :math:`O_t / L_{t-1} - 1` and the afternoon return
    :math:`L_t / L^{1130}_t - 1` from ``index_bars`` (open :math:`O`, close :math:`L`) when the
    index is there, else the same member aggregate of open and close.
    """
    dates, codes = panel.dates, panel.codes
    trading = panel.trading
    if index == "market":
        member = panel.present.copy()
        what = "every listed stock (float-cap weighted)"
    else:
        spells = (
            store.read("index_members", end=dates[-1])
            if store.has("index_members")
            else pd.DataFrame(columns=["index_code", "code", "start", "end"])
        )
        spells = spells[spells["index_code"].astype(str) == index]
        if spells.empty:
            raise LookupError(f"index {index} has no members in store {store.name!r}")
        member = spells_on(spells, dates, codes).mask & panel.present
        what = f"{index} members (float-cap weighted)"
    weight = panel.cap_shares * panel["prev_close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        prev = panel["prev_close"]
        r1130 = np.where(trading, panel["price_1130"] / prev - 1.0, 0.0)
        r_open = np.where(trading, panel["open"] / prev - 1.0, 0.0)
        r_close = np.where(trading, panel["close"] / prev - 1.0, 0.0)
    agg_1130 = _weighted(r1130, weight, member)
    bars = pd.DataFrame()
    if index != "market" and store.has("index_bars"):
        bars = store.read(
            "index_bars",
            start=dates[0] - pd.Timedelta(days=20),
            end=dates[-1],
            codes=[index],
            columns=["date", "code", "open", "close"],
        )
    if len(bars):
        b = bars.sort_values("date").set_index("date")
        prev_level = b["close"].shift(1)
        on = (b["open"] / prev_level - 1.0).reindex(dates).to_numpy(dtype=float)
        close_ret = (b["close"] / prev_level - 1.0).reindex(dates).to_numpy(dtype=float)
        source = (
            f"open and close of {index} from index_bars; 11:30 level = previous close x "
            f"(1 + cap-weighted 11:30 return of the {what})"
        )
    else:
        on = _weighted(r_open, weight, member)
        close_ret = _weighted(r_close, weight, member)
        source = f"open, 11:30 and close levels aggregated from {what}"
    with np.errstate(divide="ignore", invalid="ignore"):
        aft = (1.0 + close_ret) / (1.0 + agg_1130) - 1.0
    return IndexSessionReturns(index=index, overnight=on, afternoon=aft, source=source)


# -- the monthly evaluation panel ----------------------------------------------------------------
@dataclass(frozen=True)
class PoolSpec:
    """A stock pool: its index code and, where the store has no members, its float-cap ranks.

    ``ranks`` are SPEC §0's cut-offs on a 5,000-stock market (inclusive, 1-based); they are
    scaled by the number of eligible stocks / 5000.
    """

    name: str
    index: str
    ranks: tuple[int, int]


#: The pools of the behaviour report (SPEC §2).
DEFAULT_POOLS: tuple[PoolSpec, ...] = (
    PoolSpec("CSI 800", "000906.SH", (1, 800)),
    PoolSpec("CSI 1000", "000852.SH", (801, 1800)),
    PoolSpec("CSI 2000", "932000.CSI", (1801, 3800)),
)


#: Tradable at a rebalance close: traded (a bar, not suspended) and not closing at the upper
#: price limit (it could not be bought); ST and listing age are the universe's rules.
TRADABLE_AT_CLOSE = UniverseRules(exclude_st=False, exclude_limit_up_close=True)


@dataclass(frozen=True)
class MonthlyPanel:
    """Everything a monthly factor evaluation needs at each rebalance date ``t``.

    Attributes
    ----------
    dates
        Rebalance dates (month-ends), ascending.
    codes
        Stocks (columns).
    universe
        ``date x code`` bool: eligible at ``t`` (see :func:`load_monthly_panel`).
    tradable
        ``date x code`` bool: can be bought at the close of ``t`` (traded, not at limit-up).
    forward
        ``date x code`` return from the close of ``t`` to the close of the next date (adjusted);
        NaN on the last date.
    industry
        ``date x code`` SW level-1 code in force at ``t`` (None where unknown).
    float_cap
        ``date x code`` float market cap at the close of ``t`` (total cap without float shares).
    pools
        ``{pool name: date x code bool}`` membership at ``t``.
    pool_source
        ``{pool name: "index_members ..." or "float-cap ranks ..."}``.
    rules
        The universe and tradability rules, in words.
    """

    dates: pd.DatetimeIndex
    codes: pd.Index
    universe: pd.DataFrame
    tradable: pd.DataFrame
    forward: pd.DataFrame
    industry: pd.DataFrame
    float_cap: pd.DataFrame
    pools: dict[str, pd.DataFrame] = field(default_factory=dict)
    pool_source: dict[str, str] = field(default_factory=dict)
    rules: str = ""

    @property
    def sample(self) -> pd.DataFrame:
        """Universe and tradable: the evaluation sample of each date."""
        return self.universe & self.tradable


def _rank_pools(
    cap: np.ndarray, eligible: np.ndarray, pools: Sequence[PoolSpec]
) -> dict[str, np.ndarray]:
    """Pools by float-cap rank among eligible stocks, cut-offs scaled by n / 5000."""
    capm = np.where(eligible & np.isfinite(cap), cap, np.nan)
    rank = pd.DataFrame(capm).rank(axis=1, ascending=False, method="first").to_numpy()
    n = np.isfinite(capm).sum(axis=1)[:, None]
    out = {}
    for p in pools:
        lo = np.floor(p.ranks[0] * n / 5000 + 0.5)
        hi = np.floor(p.ranks[1] * n / 5000 + 0.5)
        out[p.name] = np.isfinite(rank) & (rank >= np.maximum(lo, 1)) & (rank <= hi)
    return out


def load_monthly_panel(
    store: Store,
    dates: Iterable[DateLike],
    *,
    min_listed_days: int = 60,
    exclude_bse: bool = True,
    pools: Sequence[PoolSpec] = DEFAULT_POOLS,
) -> MonthlyPanel:
    """The universe, tradability, forward returns, industry, float cap and pools at ``dates``.

    Reads data up to the last of ``dates`` only.

    Parameters
    ----------
    store
        An open store.
    dates
        Rebalance dates (trading days), e.g. month-ends up to the as-of date.
    min_listed_days
        A stock enters the universe after this many sessions since listing (SPEC §0: 60).
    exclude_bse
        Leave Beijing Stock Exchange stocks out (SPEC default).
    pools
        Pools to mark; from ``index_members`` where the store has the index, else by float-cap
        rank (cut-offs scaled by the number of eligible stocks / 5000).

    Returns
    -------
    MonthlyPanel

    Notes
    -----
    Universe at :math:`t`: listed at least ``min_listed_days`` sessions, a bar on :math:`t`
    and not suspended, not ST / *ST, and (by default) not on the Beijing exchange.
    Tradable at :math:`t`: :data:`TRADABLE_AT_CLOSE` (traded and not closing at the upper
    limit: it could not be bought).
    Forward return: :func:`quantbook.evaluation.forward_returns` on adjusted closes (a stock
    suspended on a rebalance date is valued at its last close; one that delists during the
    period has none).
    """
    rebal = pd.DatetimeIndex(sorted({pd.Timestamp(d) for d in dates}), name="date")
    end = rebal[-1]
    cols = ["close", "adj_factor", "is_suspended", "limit_up", "float_shares", "total_shares"]
    daily = load_daily_panel(store, end=end, start=min(rebal[0], store.start), fields=cols)
    codes = daily.codes
    rows = daily.dates.get_indexer(rebal)
    if (rows < 0).any():
        raise ValueError("rebalance dates must be trading days of the store")
    fwd = forward_returns(pd.DataFrame(daily.adj_close, index=daily.dates, columns=codes), rebal)
    cap = daily.float_cap[rows]
    rules = UniverseRules(min_listed_sessions=min_listed_days, exclude_beijing=exclude_bse)
    eligible = rules.eligible(daily, rows)
    tradable = TRADABLE_AT_CLOSE.eligible(daily, rows)
    industry = pd.DataFrame(daily.spell("industry", rows).labels(), index=rebal, columns=codes)

    pool_masks: dict[str, pd.DataFrame] = {}
    pool_source: dict[str, str] = {}
    members = store.read("index_members", end=end) if store.has("index_members") else None
    by_rank = _rank_pools(cap, eligible, pools)
    for p in pools:
        sp = None if members is None else members[members["index_code"].astype(str) == p.index]
        if sp is not None and len(sp):
            mask = spells_on(sp, rebal, codes).mask
            pool_source[p.name] = f"members of {p.index} (index_members, point in time)"
        else:
            mask = by_rank[p.name]
            pool_source[p.name] = (
                f"float-cap ranks {p.ranks[0]}-{p.ranks[1]} of 5,000, scaled by eligible stocks / 5000"
            )
        pool_masks[p.name] = pd.DataFrame(mask, index=rebal, columns=codes)

    rules_text = (
        f"Universe at each month-end: {rules.describe()}. "
        "Tradable: not closing at the upper price limit (it could not be bought); stocks that "
        "cannot be bought are left out of that period's sample (SPEC §0 proposal)."
    )
    return MonthlyPanel(
        dates=rebal,
        codes=codes,
        universe=pd.DataFrame(eligible, index=rebal, columns=codes),
        tradable=pd.DataFrame(tradable, index=rebal, columns=codes),
        forward=fwd.reindex(columns=codes),
        industry=industry,
        float_cap=pd.DataFrame(cap, index=rebal, columns=codes),
        pools=pool_masks,
        pool_source=pool_source,
        rules=rules_text,
    )
