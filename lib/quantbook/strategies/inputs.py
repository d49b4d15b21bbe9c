"""Stock-level inputs of the ETF strategies, aggregated to indices, point in time.

- :func:`index_breadth`: share of an index's members whose adjusted close is up over the last
  ``window`` sessions, on each day (members in force that day);
- :func:`industry_fundamentals`: each industry index's earnings growth and P/E on each
  rebalance date, from the statements announced by that date (``ann_date``, never the
  report period) and the members in force;
- :func:`load_inputs`: everything the six strategies read, up to an as-of date.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from quantbook.data.calendar import DateLike
from quantbook.data.panel import load_daily_panel, spells_on
from quantbook.data.store import Store
from quantbook.risk.model import Frequency
from quantbook.strategies.base import Inputs
from quantbook.strategies.market import load_market
from quantbook.strategies.styles import StyleInputs, load_style_inputs

__all__ = ["CACHE_SUBDIR", "index_breadth", "industry_fundamentals", "load_inputs"]

#: Model cache folder under a store: ``data/<store>/cache/strategies``.
CACHE_SUBDIR = ("cache", "strategies")


def index_breadth(
    store: Store,
    index_codes: Sequence[str],
    *,
    end: DateLike,
    start: DateLike | None = None,
    window: int = 20,
) -> pd.DataFrame:
    """Share of each index's members up over the last ``window`` sessions.

    Parameters
    ----------
    store
        Store with ``daily_bars`` and ``index_members``.
    index_codes
        Indices wanted (those without members are left out).
    end, start
        Days covered (inclusive).
    window
        Sessions of the return.

    Returns
    -------
    DataFrame
        ``date x index``: :math:`\\#\\{n \\in I(t): \\tilde P_{n,t} > \\tilde P_{n,t-w}\\} /
        \\#\\{n \\in I(t): \\text{both known}\\}` on adjusted closes.
    """
    if not (store.has("index_members") and store.has("daily_bars")):
        return pd.DataFrame()
    members = store.read("index_members", end=end)
    members = members[members["index_code"].isin(list(index_codes))]
    if members.empty:
        return pd.DataFrame()
    codes = sorted(set(members["code"].astype(str)))
    lo = None if start is None else pd.Timestamp(start) - pd.Timedelta(days=2 * window + 10)
    panel = load_daily_panel(store, start=lo, end=end, codes=codes, fields=["close", "adj_factor"])
    rows = np.flatnonzero(panel.present.any(axis=1))  # days with a bar of a member
    adj = panel.wide(panel.adj_close[rows], rows=rows)
    up = (adj > adj.shift(window)).to_numpy()
    known = (adj.notna() & adj.shift(window).notna()).to_numpy()
    out = {}
    for code, spells in members.groupby("index_code"):
        mem = spells_on(spells, pd.DatetimeIndex(adj.index), pd.Index(adj.columns), value=None).mask
        n = (mem & known).sum(axis=1)
        k = (mem & known & up).sum(axis=1)
        out[str(code)] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    frame = pd.DataFrame(out, index=adj.index)
    return frame.loc[pd.Timestamp(start) :] if start is not None else frame


def _ttm(fund: pd.DataFrame) -> pd.DataFrame:
    """Per stock and report period: TTM net profit, TTM a year earlier, and when both are known."""
    f = fund.sort_values(["code", "report_period"]).reset_index(drop=True)
    q = f["report_period"].dt.year * 4 + (f["report_period"].dt.month - 1) // 3
    f["q"] = q
    g = f.groupby("code", sort=False)
    consecutive = g["q"].shift(3) == q - 3
    ttm = g["net_profit"].rolling(4, min_periods=4).sum().reset_index(level=0, drop=True)
    ann = g["ann_date"].cummax()
    out = pd.DataFrame(
        {
            "code": f["code"],
            "q": q,
            "ttm": ttm.where(consecutive),
            "known": ann,
        }
    )
    prev = out[["code", "q", "ttm"]].assign(q=out["q"] + 4).rename(columns={"ttm": "ttm_prev"})
    out = out.merge(prev, on=["code", "q"], how="left")
    # ties in "known" (a quarter announced with or before the previous one) go to the latest quarter
    return (
        out.dropna(subset=["ttm"]).sort_values(["known", "q"], kind="stable").reset_index(drop=True)
    )


def industry_fundamentals(
    store: Store,
    index_codes: Sequence[str],
    *,
    dates: pd.DatetimeIndex,
) -> dict[str, pd.DataFrame]:
    """Earnings growth and P/E of industry indices on each date, point in time.

    Parameters
    ----------
    store
        Store with ``fundamentals``, ``daily_bars`` and ``index_members``.
    index_codes
        Industry indices.
    dates
        Rebalance dates.

    Returns
    -------
    dict
        ``"growth"``: :math:`(\\sum_n E_n - \\sum_n E^{-1y}_n) / \\sum_n |E^{-1y}_n|`, and ``"pe"``:
        :math:`\\sum_n C_n / \\sum_n E_n` (NaN if earnings are not positive), over the members
        :math:`n` in force on each date with both TTM net profits known: :math:`E_n` the
        trailing-twelve-month net profit of the latest statement announced by the date,
        :math:`E^{-1y}_n` that of a year earlier, :math:`C_n` = close x total shares. Empty
        when the store has no statements.
    """
    if not (store.has("fundamentals") and store.has("index_members") and store.has("daily_bars")):
        return {}
    end = dates.max()
    fund = store.read(
        "fundamentals", end=end, columns=["code", "report_period", "ann_date", "net_profit"]
    )
    fund = fund[fund["ann_date"] <= end]
    t = _ttm(fund)
    members = store.read("index_members", end=end)
    members = members[members["index_code"].isin(list(index_codes))]
    codes = pd.Index(sorted(set(members["code"].astype(str))))
    panel = load_daily_panel(
        store, start=dates.min(), end=end, codes=list(codes), fields=["close", "total_shares"]
    )
    total_cap = panel["close"] * panel.get("total_shares")  # P/E on the total market cap
    cap = panel.wide(total_cap, codes=codes).reindex(index=dates)
    # latest statement known by each date, per stock
    E = np.full((len(dates), len(codes)), np.nan)
    Ep = np.full_like(E, np.nan)
    grid = pd.DataFrame({"date": dates}).sort_values("date")
    for code, rows in t[t["code"].isin(codes)].groupby("code"):
        j = codes.get_loc(code)
        m = pd.merge_asof(
            grid, rows[["known", "ttm", "ttm_prev"]], left_on="date", right_on="known"
        )
        E[:, j] = m["ttm"].to_numpy(dtype=float)
        Ep[:, j] = m["ttm_prev"].to_numpy(dtype=float)
    C = cap.to_numpy(dtype=float)
    growth, pe = {}, {}
    for code, spells in members.groupby("index_code"):
        mem = spells_on(spells, dates, codes, value=None).mask
        ok = mem & np.isfinite(E) & np.isfinite(Ep)
        e = np.where(ok, E, 0.0).sum(axis=1)
        ep = np.where(ok, Ep, 0.0).sum(axis=1)
        aep = np.where(ok, np.abs(Ep), 0.0).sum(axis=1)
        c = np.where(ok & np.isfinite(C), C, 0.0).sum(axis=1)
        n = ok.sum(axis=1)
        growth[str(code)] = np.where((n > 0) & (aep > 0), (e - ep) / np.maximum(aep, 1e-12), np.nan)
        pe[str(code)] = np.where((n > 0) & (e > 0), c / np.maximum(e, 1e-12), np.nan)
    return {"growth": pd.DataFrame(growth, index=dates), "pe": pd.DataFrame(pe, index=dates)}


def load_inputs(
    store: Store,
    *,
    end: DateLike | None = None,
    styles: bool = True,
    breadth_indices: Sequence[str] = ("399314.SZ", "399316.SZ", "000300.SH", "000852.SH"),
    cache: bool = True,
    style_freq: Frequency = "W",
    style_min_etfs: int = 4,
    progress: bool = False,
) -> Inputs:
    """Read everything the six strategies use from ``store``, up to ``end``.

    Parameters
    ----------
    store
        The store.
    end
        The as-of date (inclusive; default the store's last day).
    styles
        Load the style inputs of SmartBeta (the risk model; the slowest part).
    breadth_indices
        Indices whose member breadth is computed.
    cache
        Keep trained models under ``data/<store>/cache/strategies`` (False: in memory only).
    style_freq
        Frequency of the style factor returns asked of the risk model.
    style_min_etfs
        Fewest candidate ETFs with constituent exposures for the risk model to be run
        (SmartBeta chooses among them).
    progress
        Progress bars of the risk model.

    Returns
    -------
    Inputs
    """
    market = load_market(store, end=end)
    last = market.end
    industry_idx = [
        str(c)
        for c in market.info.loc[
            market.info["category"].astype(str) == "industry", "tracked_index"
        ].dropna()
    ]
    industry = (
        industry_fundamentals(store, industry_idx, dates=market.rebalance_dates)
        if industry_idx and len(market.rebalance_dates)
        else {}
    )
    breadth = index_breadth(store, list(breadth_indices), end=last)
    style_inputs: StyleInputs | None = None
    if styles:
        pool = market.info[market.info["category"].astype(str).isin(["broad", "size", "style"])]
        style_inputs = load_style_inputs(
            store,
            dates=list(market.rebalance_dates),
            end=last,
            etfs=pool,
            freq=style_freq,
            min_etfs=style_min_etfs,
            progress=progress,
        )
    root: Path | None = store.path.joinpath(*CACHE_SUBDIR) if cache else None
    return Inputs(
        market=market,
        styles=style_inputs,
        industry=industry,
        breadth=breadth,
        cache_root=root,
        fingerprint=store.fingerprint(),
    )
