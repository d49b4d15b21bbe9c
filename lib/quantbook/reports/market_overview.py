"""Market overview: the month to an as-of date, from the data known on that date.

Sections (each a function returning a frame; ``show_*`` wrap a frame for display and
``plot_*`` draw one; nothing here reads data after ``as_of``):

- :func:`universe_summary`, :func:`pool_sizes`: how many stocks are listed, traded,
  suspended, ST, new; index pool sizes (``index_members``) on the as-of day;
- :func:`index_returns`, :func:`index_levels`: month and year-to-date returns of the broad,
  size and SW industry indices (``index_bars``, categories from ``index_info``);
- :func:`breadth`, :func:`daily_activity`: share of stocks up / down over the month;
  advancers and decliners, turnover, limit hits and suspensions per day;
- :func:`turnover`: turnover (amount / float market cap) by board;
- :func:`limit_summary`: limit-up / limit-down closes and suspensions in the month.

Definitions (see ``book/methods.md``):

- month return of a stock = adjusted close on ``as_of`` / adjusted close on the previous
  month-end - 1 (adjusted close = ``close * adj_factor``); stocks without a close on the
  previous month-end (new listings) have none;
- index month return = close on ``as_of`` / close on the previous month-end - 1; year to
  date = close on ``as_of`` / close on the last trading day of the previous year - 1;
- advancer on day t: traded and ``close > prev_close``; decliner: ``close < prev_close``;
- daily turnover of a stock = ``amount / (float_shares * close)``; of the market =
  sum of amounts / sum of float caps over traded stocks;
- limit-up close: traded, a limit applies, and ``close >= limit_up - 0.005`` (prices are in
  cents); limit-down likewise.

Every function records its headline numbers into ``metrics`` (flat dotted keys) when given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantbook import plotting
from quantbook.data.market_rules import at_limit_down, at_limit_up
from quantbook.data.panel import (
    DailyPanel,
    cap_shares_column,
    load_daily_panel,
    spells_in_force,
)
from quantbook.data.store import Store
from quantbook.reports import Metrics
from quantbook.reports.contract import check_as_of
from quantbook.tables import Table, table

__all__ = [
    "BROAD_ORDER",
    "MarketOverviewReport",
    "UnknownUniverseError",
    "breadth",
    "compute_tables",
    "daily_activity",
    "index_levels",
    "index_returns",
    "limit_summary",
    "plot_daily_activity",
    "plot_index_levels",
    "plot_industry_returns",
    "pool_sizes",
    "prepare",
    "show_breadth",
    "show_daily_activity",
    "show_index_returns",
    "show_limits",
    "show_pools",
    "show_turnover",
    "show_universe",
    "turnover",
    "universe_summary",
]

REPORT = "market_overview"
PCT = ".2%"

#: Display order of the broad indices (CSI 300, 500, 800, 1000, 2000, All); others follow by code.
BROAD_ORDER = ("000300.SH", "000905.SH", "000906.SH", "000852.SH", "932000.CSI", "000985.CSI")


class UnknownUniverseError(ValueError):
    """The ``universe`` parameter names no pool the store knows."""


@dataclass(frozen=True)
class MarketOverviewReport:
    """What the market overview reads for one as-of date (nothing after ``as_of``).

    Attributes
    ----------
    store
        The store.
    as_of
        The as-of trading day.
    universe
        The universe parameter (``all``, a pool id such as ``csi300`` or an index code).
    sessions
        Trading days of the month up to ``as_of``.
    prev_month_end, prev_year_end
        Last trading day before the month / before the year (None before the store's start).
    codes
        Universe stocks: listed on ``as_of`` with a bar that day (and in the pool, if any).
    listed
        ``instruments`` rows of every stock listed on ``as_of``.
    panel
        The daily panel of the universe candidates over the same days
        (:func:`~quantbook.data.panel.load_daily_panel`).
    bars
        Daily bars of the universe (long form, sorted by date and code) from ``prev_month_end`` (or the month's first day) to ``as_of``.
    st_codes
        Stocks under ST / *ST on ``as_of``.
    index_info
        The index table (empty when the store has none).
    index_close
        Wide ``date x index code`` closes from ``prev_year_end`` to ``as_of``.
    members
        ``index_code, code`` memberships in force on ``as_of``.
    cap_shares
        The share count behind market caps: ``float_shares`` (or ``total_shares`` where the
        store lacks float shares).
    """

    store: Store
    as_of: pd.Timestamp
    universe: str
    sessions: pd.DatetimeIndex
    prev_month_end: pd.Timestamp | None
    prev_year_end: pd.Timestamp | None
    codes: list[str]
    listed: pd.DataFrame
    panel: DailyPanel
    bars: pd.DataFrame
    st_codes: frozenset[str]
    index_info: pd.DataFrame
    index_close: pd.DataFrame
    members: pd.DataFrame
    cap_shares: str

    @property
    def month(self) -> str:
        """``YYYY-MM`` of the as-of date."""
        return f"{self.as_of:%Y-%m}"

    @property
    def sample_start(self) -> pd.Timestamp:
        """First day of data read."""
        firsts = [self.sessions[0]]
        if self.prev_month_end is not None:
            firsts.append(self.prev_month_end)
        if len(self.index_close):
            firsts.append(self.index_close.index[0])
        return min(firsts)

    @property
    def month_bars(self) -> pd.DataFrame:
        """Universe bars of the month's sessions (``prev_month_end`` excluded)."""
        return self.bars[self.bars["date"] >= self.sessions[0]]

    def period_note(self) -> str:
        base = f"{self.prev_month_end:%Y-%m-%d}" if self.prev_month_end is not None else "n/a"
        return (
            f"Month {self.month}: {len(self.sessions)} trading days to {self.as_of:%Y-%m-%d} "
            f"(base: previous month-end {base}); universe {self.universe!r}, {len(self.codes)} stocks."
        )


# -- loading ---------------------------------------------------------------------------------
def _long_bars(panel: DailyPanel, codes: pd.Index, fields: Sequence[str]) -> pd.DataFrame:
    """The panel's bars of ``codes`` in long form, one row per (date, code) with a bar, sorted."""
    cols = panel.codes.get_indexer(codes)
    t, j = np.nonzero(panel.present[:, cols])
    col = cols[j]
    out = pd.DataFrame({"date": panel.dates[t], "code": np.asarray(panel.codes[col], dtype=object)})
    for f in fields:
        values = panel[f][t, col]
        out[f] = values == 1.0 if f == "is_suspended" else values
    return out


def _label(code: str, name: object) -> str:
    """A chart / table label: the index name when it is plain ASCII, else the code."""
    s = str(name) if isinstance(name, str) and name else ""
    return s if s and s.isascii() else code


def _universe_codes(
    universe: str, listed: pd.DataFrame, members: pd.DataFrame, index_info: pd.DataFrame
) -> list[str]:
    all_codes = sorted(listed["code"].astype(str))
    if universe.lower() == "all":
        return all_codes
    pools = index_info.dropna(subset=["pool"]) if len(index_info) else index_info
    match = None
    if len(pools):
        hit = pools[
            (pools["pool"].astype(str) == universe) | (pools["code"].astype(str) == universe)
        ]
        if len(hit):
            match = str(hit["code"].iloc[0])
    if match is None and universe in set(members["index_code"].astype(str)):
        match = universe
    if match is None:
        known_pools = sorted(str(p) for p in pools["pool"]) if len(pools) else []
        known_codes = sorted(set(members["index_code"].astype(str)))
        raise UnknownUniverseError(
            f"unknown universe {universe!r}: use 'all', a pool id ({', '.join(known_pools) or 'none'}) "
            f"or an index code with members ({', '.join(known_codes) or 'none'})"
        )
    in_pool = set(members.loc[members["index_code"].astype(str) == match, "code"].astype(str))
    return [c for c in all_codes if c in in_pool]


def prepare(
    store: Store, *, as_of: str | pd.Timestamp, universe: str = "all"
) -> MarketOverviewReport:
    """Read what the report needs for ``as_of``: everything up to that day, nothing after.

    Parameters
    ----------
    store
        An open store.
    as_of
        A trading day (another day raises
        :class:`~quantbook.reports.contract.AsOfPolicyError`; the runner resolves dates).
    universe
        ``all`` (every listed stock), a pool id of ``index_info`` (``csi300``) or an index code
        with members (``000300.SH``).

    Raises
    ------
    AsOfPolicyError
        ``as_of`` is outside the store's span or not a trading day.
    UnknownUniverseError
        ``universe`` names no known pool.
    """
    day = check_as_of(store, as_of, report=REPORT)
    cal = store.calendar()
    sessions_all = cal.range(end=day)
    month = sessions_all[(sessions_all.year == day.year) & (sessions_all.month == day.month)]
    before = sessions_all[sessions_all < month[0]]
    prev_month_end = before[-1] if len(before) else None
    before_year = sessions_all[sessions_all < pd.Timestamp(day.year, 1, 1)]
    prev_year_end = before_year[-1] if len(before_year) else None

    instruments = store.read("instruments")
    listed = instruments[
        (instruments["list_date"] <= day)
        & (instruments["delist_date"].isna() | (instruments["delist_date"] > day))
    ].reset_index(drop=True)
    if store.has("index_members"):
        members = spells_in_force(store.read("index_members", end=day), day)[
            ["index_code", "code"]
        ].reset_index(drop=True)
    else:
        members = pd.DataFrame({"index_code": pd.Series(dtype=str), "code": pd.Series(dtype=str)})
    index_info = (
        store.read("index_info")
        if store.has("index_info")
        else pd.DataFrame(columns=["code", "name", "category", "pool"])
    )
    codes = _universe_codes(universe, listed, members, index_info)

    bars_start = prev_month_end if prev_month_end is not None else month[0]
    cap_shares = cap_shares_column(store)
    fields = [
        "close",
        "prev_close",
        "amount",
        "adj_factor",
        "is_suspended",
        "limit_up",
        "limit_down",
        cap_shares,
    ]
    panel = load_daily_panel(store, start=bars_start, end=day, codes=codes, fields=fields)
    on_day = set(panel.codes[panel.present[panel.position(day)]])
    codes = [c for c in codes if c in on_day]
    panel_codes = panel.codes[panel.codes.isin(codes)]
    bars = _long_bars(panel, panel_codes, fields)

    st_codes = (
        spells_in_force(store.read("st_status", end=day), day)["code"].astype(str)
        if store.has("st_status")
        else pd.Series(dtype=str)
    )
    if store.has("index_bars"):
        ib = store.read(
            "index_bars",
            start=prev_year_end or month[0],
            end=day,
            columns=["date", "code", "close"],
        )
        index_close = ib.pivot(index="date", columns="code", values="close").sort_index()
    else:
        index_close = pd.DataFrame()
    return MarketOverviewReport(
        store=store,
        as_of=day,
        universe=universe,
        sessions=month,
        prev_month_end=prev_month_end,
        prev_year_end=prev_year_end,
        codes=codes,
        listed=listed,
        panel=panel,
        bars=bars,
        st_codes=frozenset(st_codes),
        index_info=index_info,
        index_close=index_close,
        members=members,
        cap_shares=cap_shares,
    )


# -- universe --------------------------------------------------------------------------------
def universe_summary(md: MarketOverviewReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Counts of the universe on the as-of day, by status and by board.

    Returns
    -------
    DataFrame
        Index: item; column ``stocks``.
    """
    today = md.bars[md.bars["date"] == md.as_of]
    susp = int(today["is_suspended"].sum())
    info = (
        md.listed.set_index("code").loc[md.codes]
        if md.codes
        else md.listed.iloc[:0].set_index("code")
    )
    new = int(((info["list_date"] >= md.sessions[0]) & (info["list_date"] <= md.as_of)).sum())
    n_st = len(md.st_codes.intersection(md.codes))
    rows = {
        "Stocks in the universe": len(md.codes),
        "Traded on the as-of day": len(today) - susp,
        "Suspended on the as-of day": susp,
        "ST / *ST": n_st,
        "Listed this month": new,
    }
    boards = info["board"].astype(str).value_counts().sort_index()
    for b, n in boards.items():
        rows[f"Board: {b}"] = int(n)
    out = pd.DataFrame({"stocks": pd.Series(rows, dtype="int64")})
    out.index.name = "item"
    if metrics is not None:
        metrics.update(
            {
                "n_stocks": len(md.codes),
                "n_traded": len(today) - susp,
                "n_suspended": susp,
                "n_st": n_st,
                "n_new_listings": new,
                "board": {str(b): int(n) for b, n in boards.items()},
            },
            prefix="universe",
        )
    return out


def pool_sizes(
    md: MarketOverviewReport,
    *,
    categories: Sequence[str] = ("broad", "size"),
    metrics: Metrics | None = None,
) -> pd.DataFrame:
    """Members of each index pool on the as-of day, and how many are in the universe.

    Parameters
    ----------
    md
        From :func:`prepare`.
    categories
        ``index_info.category`` values whose pools are listed (indices missing from
        ``index_info`` are listed too).
    metrics
        Records ``pool.<index code>.n_members``.
    """
    members = md.members
    if len(md.index_info):
        other = set(
            md.index_info.loc[
                ~md.index_info["category"].astype(str).isin(list(categories)), "code"
            ].astype(str)
        )
        members = members[~members["index_code"].astype(str).isin(other)]
    flagged = members.assign(in_universe=members["code"].isin(md.codes))
    counts = flagged.groupby("index_code").agg(
        members=("code", "count"), in_universe=("in_universe", "sum")
    )
    info = (
        md.index_info.set_index("code")
        if len(md.index_info)
        else pd.DataFrame(columns=["name", "pool"])
    )
    out = pd.DataFrame(
        {
            "name": [_label(c, info["name"].get(c, "")) for c in counts.index],
            "pool": [str(info["pool"].get(c, "") or "") for c in counts.index],
            "members": counts["members"].astype("int64"),
            "in_universe": counts["in_universe"].astype("int64"),
        },
        index=counts.index,
    )
    out = out.loc[_order_codes(list(out.index))]
    out.index.name = "index"
    if metrics is not None:
        for code, n in out["members"].items():
            metrics.record(f"pool.{code}.n_members", int(n))
    return out


# -- indices ---------------------------------------------------------------------------------
def _order_codes(codes: Sequence[str]) -> list[str]:
    first = [c for c in BROAD_ORDER if c in codes]
    return first + sorted(c for c in codes if c not in first)


def _index_codes(md: MarketOverviewReport, categories: Sequence[str]) -> list[str]:
    if not len(md.index_info):
        return []
    cat = md.index_info[md.index_info["category"].astype(str).isin(list(categories))]
    return _order_codes([c for c in cat["code"].astype(str) if c in md.index_close.columns])


def _close_on(close: pd.DataFrame, day: pd.Timestamp | None) -> pd.Series:
    if day is None or day not in close.index:
        return pd.Series(np.nan, index=close.columns)
    return close.loc[[day]].iloc[0]


def index_returns(
    md: MarketOverviewReport,
    *,
    categories: Sequence[str] = ("broad", "size"),
    metrics: Metrics | None = None,
) -> pd.DataFrame:
    """Close on the as-of day, month return and year-to-date return of each index.

    Parameters
    ----------
    md
        From :func:`prepare`.
    categories
        ``index_info.category`` values to include (``broad``, ``size``, ``industry``).
    metrics
        Records ``index.<code>.close``, ``.ret_month`` and ``.ret_ytd``.

    Returns
    -------
    DataFrame
        Index: index code; columns ``name, close, ret_month, ret_ytd``.
    """
    codes = _index_codes(md, categories)
    close = md.index_close[codes] if codes else pd.DataFrame(index=md.index_close.index)
    last = _close_on(close, md.as_of)
    month_base = _close_on(close, md.prev_month_end)
    year_base = _close_on(close, md.prev_year_end)
    names = md.index_info.set_index("code")["name"] if len(md.index_info) else pd.Series(dtype=str)
    out = pd.DataFrame(
        {
            "name": [_label(c, names.get(c, "")) for c in codes],
            "close": last.to_numpy(dtype=float),
            "ret_month": (last / month_base - 1).to_numpy(dtype=float),
            "ret_ytd": (last / year_base - 1).to_numpy(dtype=float),
        },
        index=pd.Index(codes, name="index"),
    )
    if metrics is not None:
        for code, row in out.iterrows():
            metrics.update(
                {"close": row["close"], "ret_month": row["ret_month"], "ret_ytd": row["ret_ytd"]},
                prefix=f"index.{code}",
            )
    return out


def index_levels(
    md: MarketOverviewReport, *, categories: Sequence[str] = ("broad", "size")
) -> pd.DataFrame:
    """Index closes from the previous year-end to ``as_of``, rebased to 1 at the first day."""
    codes = _index_codes(md, categories)
    close = md.index_close[codes]
    if not len(close):
        return close
    rebased = close / close.iloc[0]
    names = md.index_info.set_index("code")["name"]
    rebased.columns = [_label(c, names.get(c, "")) for c in codes]
    return rebased


# -- breadth and activity ----------------------------------------------------------------------
def stock_returns(md: MarketOverviewReport) -> pd.Series:
    """Month return of each universe stock (NaN without a close on the previous month-end)."""
    if md.prev_month_end is None:
        return pd.Series(np.nan, index=pd.Index(md.codes, name="code"), name="ret_month")
    cols = md.panel.codes.get_indexer(pd.Index(md.codes))
    adj = md.panel.adj_close
    base = adj[md.panel.position(md.prev_month_end), cols]
    last = adj[md.panel.position(md.as_of), cols]
    return pd.Series(last / base - 1, index=pd.Index(md.codes, name="code"), name="ret_month")


def breadth(md: MarketOverviewReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """How many universe stocks rose / fell over the month.

    Returns
    -------
    DataFrame
        One row (the month): ``stocks`` (with a month return), ``up``, ``down``, ``flat``,
        ``share_up``, ``share_down``, ``median_ret``, ``mean_ret``.
    """
    r = stock_returns(md).dropna()
    n = len(r)
    up, down = int((r > 0).sum()), int((r < 0).sum())
    row = {
        "stocks": n,
        "up": up,
        "down": down,
        "flat": n - up - down,
        "share_up": up / n if n else np.nan,
        "share_down": down / n if n else np.nan,
        "median_ret": float(r.median()) if n else np.nan,
        "mean_ret": float(r.mean()) if n else np.nan,
    }
    out = pd.DataFrame([row], index=pd.Index([md.month], name="month"))
    for c in ("stocks", "up", "down", "flat"):
        out[c] = out[c].astype("int64")
    if metrics is not None:
        metrics.update(row, prefix="breadth")
    return out


def _limit_flags(b: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    traded = ~b["is_suspended"].astype(bool)
    up = traded & at_limit_up(b["close"].to_numpy(), b["limit_up"].to_numpy(dtype=float))
    down = traded & at_limit_down(b["close"].to_numpy(), b["limit_down"].to_numpy(dtype=float))
    return up, down


def daily_activity(md: MarketOverviewReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Per trading day of the month: advancers, decliners, turnover, limit hits, suspensions.

    Returns
    -------
    DataFrame
        Index: date; columns ``advancers, decliners, unchanged, suspended, limit_up,
        limit_down, amount_bn`` (CNY bn) and ``turnover`` (sum amount / sum float cap).
    """
    b = md.month_bars
    traded = ~b["is_suspended"].astype(bool)
    up_lim, down_lim = _limit_flags(b)
    cap = b["close"] * b[md.cap_shares]
    frame = pd.DataFrame(
        {
            "date": b["date"],
            "advancers": traded & (b["close"] > b["prev_close"]),
            "decliners": traded & (b["close"] < b["prev_close"]),
            "unchanged": traded & (b["close"] == b["prev_close"]),
            "suspended": ~traded,
            "limit_up": up_lim,
            "limit_down": down_lim,
            "amount": b["amount"].where(traded, 0.0),
            "cap": cap.where(traded & cap.notna(), 0.0),
        }
    )
    g = frame.groupby("date")
    out = (
        g[["advancers", "decliners", "unchanged", "suspended", "limit_up", "limit_down"]]
        .sum()
        .astype("int64")
    )
    amount, capsum = g["amount"].sum(), g["cap"].sum()
    out["amount_bn"] = amount / 1e9
    out["turnover"] = (amount / capsum.where(capsum > 0)).astype(float)
    out = out.reindex(md.sessions)
    out.index.name = "date"
    if metrics is not None:
        metrics.update(
            {
                "days": len(out),
                "days_adv_gt_dec": int((out["advancers"] > out["decliners"]).sum()),
                "mean_advancers": float(out["advancers"].mean()),
                "mean_decliners": float(out["decliners"].mean()),
            },
            prefix="breadth.daily",
        )
    return out


def turnover(md: MarketOverviewReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Turnover over the month by board and for the whole universe.

    ``market`` = mean over days of (sum amount / sum float cap) over traded stocks;
    ``median_stock`` = median over stocks of each stock's mean daily turnover.

    Returns
    -------
    DataFrame
        Index: board (and ``all``); columns ``stocks, amount_bn, market, median_stock``.
    """
    b = md.month_bars
    traded = b[~b["is_suspended"].astype(bool)].copy()
    traded["cap"] = traded["close"] * traded[md.cap_shares]
    traded["turn"] = traded["amount"] / traded["cap"].where(traded["cap"] > 0)
    boards = md.listed.set_index("code")["board"].astype(str)
    traded["board"] = traded["code"].map(boards)

    def summarize(df: pd.DataFrame) -> dict[str, float]:
        daily = df.groupby("date")[["amount", "cap"]].sum()
        per_stock = df.groupby("code")["turn"].mean()
        return {
            "stocks": float(df["code"].nunique()),
            "amount_bn": float(df["amount"].sum() / 1e9),
            "market": float((daily["amount"] / daily["cap"].where(daily["cap"] > 0)).mean())
            if len(daily)
            else np.nan,
            "median_stock": float(per_stock.median()) if len(per_stock) else np.nan,
        }

    rows = {str(board): summarize(df) for board, df in traded.groupby("board", sort=True)}
    rows["all"] = summarize(traded)
    out = pd.DataFrame.from_dict(rows, orient="index")
    out["stocks"] = out["stocks"].astype("int64")
    out.index.name = "board"
    if metrics is not None:
        a = rows["all"]
        metrics.update(
            {
                "market_mean": a["market"],
                "median_stock": a["median_stock"],
                "amount_bn": a["amount_bn"],
            },
            prefix="turnover",
        )
    return out


def limit_summary(md: MarketOverviewReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Limit-up and limit-down closes and suspensions in the month.

    Returns
    -------
    DataFrame
        Index: event; columns ``stock_days`` (stock-days), ``stocks`` (distinct stocks) and
        ``max_per_day``.
    """
    b = md.month_bars
    up, down = _limit_flags(b)
    susp = b["is_suspended"].astype(bool)
    rows = {}
    for key, flag in (("up", up), ("down", down), ("suspended", susp)):
        hit = b[flag.to_numpy()]
        per_day = hit.groupby("date").size()
        rows[key] = {
            "stock_days": len(hit),
            "stocks": int(hit["code"].nunique()),
            "max_per_day": int(per_day.max()) if len(per_day) else 0,
        }
    out = pd.DataFrame.from_dict(rows, orient="index").astype("int64")
    out.index = pd.Index(["Limit-up close", "Limit-down close", "Suspended"], name="event")
    if metrics is not None:
        metrics.update({"up": rows["up"], "down": rows["down"]}, prefix="limits")
        metrics.update(rows["suspended"], prefix="suspensions")
    return out


def compute_tables(
    store: Store, *, as_of: str | pd.Timestamp, universe: str = "all"
) -> dict[str, pd.DataFrame]:
    """Every table of the report for ``as_of`` (the lookahead test compares these)."""
    md = prepare(store, as_of=as_of, universe=universe)
    return {
        "universe": universe_summary(md),
        "pools": pool_sizes(md),
        "indices": index_returns(md),
        "industries": index_returns(md, categories=("industry",)),
        "index_levels": index_levels(md),
        "breadth": breadth(md),
        "daily": daily_activity(md),
        "turnover": turnover(md),
        "limits": limit_summary(md),
    }


# -- presentation ----------------------------------------------------------------------------
def show_universe(frame: pd.DataFrame, md: MarketOverviewReport) -> Table:
    return table(
        frame,
        title=f"Universe on {md.as_of:%Y-%m-%d}",
        note=md.period_note(),
        labels={"stocks": "Stocks"},
    )


def show_pools(frame: pd.DataFrame, md: MarketOverviewReport) -> Table:
    return table(
        frame,
        title=f"Index pools on {md.as_of:%Y-%m-%d} (index_members)",
        labels={
            "name": "Name",
            "pool": "Pool",
            "members": "Members",
            "in_universe": "In the universe",
        },
    )


def show_index_returns(frame: pd.DataFrame, md: MarketOverviewReport, *, title: str) -> Table:
    ytd = f"{md.prev_year_end:%Y-%m-%d}" if md.prev_year_end is not None else "n/a"
    mon = f"{md.prev_month_end:%Y-%m-%d}" if md.prev_month_end is not None else "n/a"
    return table(
        frame,
        title=title,
        formats={"close": ",.2f", "ret_month": PCT, "ret_ytd": PCT},
        labels={"name": "Name", "close": "Close", "ret_month": "Month", "ret_ytd": "Year to date"},
        note=f"Month: {mon} to {md.as_of:%Y-%m-%d}; year to date: {ytd} to {md.as_of:%Y-%m-%d}.",
    )


def show_breadth(frame: pd.DataFrame, md: MarketOverviewReport) -> Table:
    return table(
        frame,
        title="Breadth over the month",
        formats={"share_up": PCT, "share_down": PCT, "median_ret": PCT, "mean_ret": PCT},
        labels={
            "stocks": "Stocks",
            "up": "Up",
            "down": "Down",
            "flat": "Flat",
            "share_up": "Share up",
            "share_down": "Share down",
            "median_ret": "Median return",
            "mean_ret": "Mean return",
        },
        transpose=True,
        note=md.period_note(),
    )


def show_daily_activity(frame: pd.DataFrame, md: MarketOverviewReport) -> Table:
    return table(
        frame,
        title="Daily activity",
        formats={"amount_bn": ",.2f", "turnover": ".3%"},
        labels={
            "advancers": "Up",
            "decliners": "Down",
            "unchanged": "Flat",
            "suspended": "Susp.",
            "limit_up": "Lim. up",
            "limit_down": "Lim. down",
            "amount_bn": "CNY bn",
            "turnover": "Turnover",
        },
        note=(
            f"Universe {md.universe!r}. Up / Down / Flat: traded stocks closing above / below / at "
            f"the previous close; Susp.: suspended; Lim. up / down: closes at the price limits; "
            f"CNY bn: value traded; Turnover: amount / ({md.cap_shares} x close) over traded stocks."
        ),
    )


def show_turnover(frame: pd.DataFrame, md: MarketOverviewReport) -> Table:
    return table(
        frame,
        title="Turnover by board",
        formats={"amount_bn": ",.2f", "market": ".3%", "median_stock": ".3%"},
        labels={
            "stocks": "Stocks",
            "amount_bn": "Amount (CNY bn)",
            "market": "Market",
            "median_stock": "Median stock",
        },
        note=f"market = mean daily sum(amount) / sum(float cap); median_stock = median of stocks' mean daily turnover. {md.period_note()}",
    )


def show_limits(frame: pd.DataFrame, md: MarketOverviewReport) -> Table:
    return table(
        frame,
        title="Limit hits and suspensions in the month",
        note=md.period_note(),
        labels={"stock_days": "Stock-days", "stocks": "Stocks", "max_per_day": "Most in a day"},
    )


def plot_index_levels(
    levels: pd.DataFrame, *, title: str = "Index levels, year to date (rebased to 1)"
) -> Figure:
    """Rebased index levels from :func:`index_levels`."""
    return plotting.line_chart(levels, title=title, ylabel="level (start = 1)")


def plot_industry_returns(
    industries: pd.DataFrame, *, title: str = "SW industry indices, month return"
) -> Figure:
    """Month returns of the industry indices, sorted, as bars."""
    s = industries.set_index("name")["ret_month"].sort_values(ascending=False)
    return plotting.bar_chart(s, title=title)


def plot_daily_activity(
    daily: pd.DataFrame, *, title: str = "Advancers, decliners and turnover through the month"
) -> Figure:
    """Advancers / decliners per day (bars) above the market turnover (line)."""
    fig, axes = plotting.new_figure(2, 1, size=(8.0, 5.0), sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    x = np.arange(len(daily))
    w = 0.4
    top.bar(
        x - w / 2,
        daily["advancers"].to_numpy(dtype=float),
        width=w,
        color=plotting.UP,
        label="advancers",
    )
    top.bar(
        x + w / 2,
        daily["decliners"].to_numpy(dtype=float),
        width=w,
        color=plotting.DOWN,
        label="decliners",
    )
    top.set_ylabel("stocks", fontsize=8)
    top.legend(fontsize=7, frameon=False, ncols=2, loc="upper left")
    top.set_title(title, fontsize=10, loc="left")
    bottom.plot(
        x,
        daily["turnover"].to_numpy(dtype=float),
        color=plotting.PALETTE[0],
        marker="o",
        markersize=3,
    )
    plotting.percent_axis(bottom, decimals=2)
    bottom.set_ylabel("turnover", fontsize=8)
    labels = [f"{d:%m-%d}" for d in daily.index]
    bottom.set_xticks(x, labels, rotation=90, fontsize=7)
    return fig
