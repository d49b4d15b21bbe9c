"""The ETF market as the weekly strategies see it: wide daily panels read up to an end date.

:func:`load_market` reads everything the six strategies use from a store, **up to and
including** ``end`` and nothing after, into one :class:`EtfMarket`: ETF closes, volumes,
amounts and suspensions, index closes and amounts, the government yield curve and the bond
index levels (each optional: what the store lacks is recorded in ``missing``). Strategies
compute their signals from these frames only, so a report for an as-of date cannot see later
data.

ETF prices are raw closes. A close-to-close move beyond :data:`SPLIT_THRESHOLD` (more than
any ETF price limit allows) is a share split or a distribution, not a trade: the price series
is back-adjusted so that the day's return is 0, and the event is listed in
:attr:`EtfMarket.splits` (the synthetic market has none; real exports do).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from quantbook.data.calendar import DateLike, TradingCalendar
from quantbook.data.store import Store

__all__ = [
    "KNOWN_INDEX_NAMES",
    "SPLIT_THRESHOLD",
    "EtfDataEndWarning",
    "EtfMarket",
    "EtfSplitWarning",
    "adjust_splits",
    "load_market",
]

#: A close-to-close move beyond this (in absolute value) is taken as a split or distribution.
SPLIT_THRESHOLD = 0.25

#: Names of indices the strategies refer to, for stores whose tables lack them
#: (``bond_index_bars`` carries no names; an imported store may lack a benchmark).
KNOWN_INDEX_NAMES: dict[str, str] = {
    "000300.SH": "CSI 300",
    "000906.SH": "CSI 800",
    "000852.SH": "CSI 1000",
    "000985.CSI": "CSI All Share",
    "399314.SZ": "Large Cap",
    "399316.SZ": "Small Cap",
    "CBA00101.CS": "ChinaBond Aggregate",
    "CBA00621.CS": "ChinaBond Treasury 1-3y",
    "CBA00631.CS": "ChinaBond Treasury 3-5y",
    "CBA00651.CS": "ChinaBond Treasury 7-10y",
}


class EtfSplitWarning(UserWarning):
    """An ETF's raw close jumped beyond any price limit (a split or distribution); adjusted."""


class EtfDataEndWarning(UserWarning):
    """The store's ETF bars end before the requested end date; the market ends with them."""


@dataclass(frozen=True)
class EtfMarket:
    """Daily ETF, index and bond panels of one store up to ``end``.

    Attributes
    ----------
    store
        The store name.
    is_synthetic
        Whether the store is the simulated market.
    end
        Last day of data (inclusive).
    sessions
        Trading days read, ``[start, end]``.
    rebalance_dates
        Week-ends (last trading day of each ISO week) in ``[start, end]``.
    info
        ``etf_info`` indexed by code (name, tracked_index, category, fee, list_date).
    close
        ``date x ETF`` closes, split-adjusted, forward-filled over suspensions and missing
        rows after the first close (NaN before it).
    traded
        ``date x ETF``: True where the ETF has a bar that day and is not suspended.
    volume, amount
        ``date x ETF`` shares and CNY traded (0 on suspended days, NaN without a bar).
    index_info
        ``index_info`` indexed by code (may be empty).
    index_close, index_amount
        ``date x index`` levels (forward-filled) and traded value (NaN where unknown).
    yields
        ``date x tenor`` government yields (decimal), empty if the store has none.
    bond_index
        ``date x bond index`` total-return levels, empty if none.
    splits
        ``date, code, ratio``: adjusted price jumps (ratio = close / previous close).
    missing
        ``{item: reason}`` for the tables the store lacks.
    """

    store: str
    is_synthetic: bool
    end: pd.Timestamp
    sessions: pd.DatetimeIndex
    rebalance_dates: pd.DatetimeIndex
    info: pd.DataFrame
    close: pd.DataFrame
    traded: pd.DataFrame
    volume: pd.DataFrame
    amount: pd.DataFrame
    index_info: pd.DataFrame
    index_close: pd.DataFrame
    index_amount: pd.DataFrame
    yields: pd.DataFrame
    bond_index: pd.DataFrame
    splits: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"EtfMarket({self.store!r}, {len(self.info)} ETFs, {len(self.rebalance_dates)} week-ends "
            f"{self.sessions[0]:%Y-%m-%d}..{self.end:%Y-%m-%d})"
        )

    # -- lookups ----------------------------------------------------------------------------
    def codes(self, categories: tuple[str, ...] | list[str]) -> list[str]:
        """ETF codes of the given ``etf_info`` categories (sorted)."""
        cat = self.info["category"].astype(str)
        return sorted(str(c) for c in self.info.index[cat.isin(list(categories))])

    def name(self, code: str) -> str:
        """An ETF's (or index's) name; the code when unknown."""
        if code in self.info.index:
            return str(self.info.at[code, "name"])
        if code in self.index_info.index:
            return str(self.index_info.at[code, "name"])
        return KNOWN_INDEX_NAMES.get(code, code)

    def tracking(self, index_code: str) -> list[str]:
        """ETFs that track ``index_code``."""
        tracked = self.info["tracked_index"].astype("string")
        return sorted(str(c) for c in self.info.index[(tracked == index_code).fillna(False)])

    def level(self, code: str) -> pd.Series | None:
        """Daily level of an index or bond index (None if the store has none)."""
        if code in self.index_close.columns:
            return self.index_close[code]
        if code in self.bond_index.columns:
            return self.bond_index[code]
        return None

    def weekly(self, frame: pd.DataFrame, *, fill: bool = True) -> pd.DataFrame:
        """Rows of a daily frame on the rebalance dates.

        With ``fill`` (default) a missing value on a rebalance date is the last value before
        it; without, it stays missing (for indicators whose NaN means "none").
        """
        return (frame.ffill() if fill else frame).reindex(self.rebalance_dates)

    def truncate(self, end: DateLike) -> EtfMarket:
        """The same market with every panel cut at ``end`` (for lookahead checks)."""
        day = pd.Timestamp(end)

        def cut(df: pd.DataFrame) -> pd.DataFrame:
            return df.loc[:day] if len(df) else df

        return replace(
            self,
            end=min(self.end, day),
            sessions=self.sessions[self.sessions <= day],
            rebalance_dates=self.rebalance_dates[self.rebalance_dates <= day],
            close=cut(self.close),
            traded=cut(self.traded),
            volume=cut(self.volume),
            amount=cut(self.amount),
            index_close=cut(self.index_close),
            index_amount=cut(self.index_amount),
            yields=cut(self.yields),
            bond_index=cut(self.bond_index),
            splits=self.splits[self.splits["date"] <= day] if len(self.splits) else self.splits,
        )


def adjust_splits(
    close: pd.DataFrame, *, threshold: float = SPLIT_THRESHOLD
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Back-adjust raw ETF closes for splits and distributions.

    Parameters
    ----------
    close
        Raw closes, ``date x code`` (NaN where there is no bar).
    threshold
        A move :math:`|P_t / P_{t'} - 1| > ` ``threshold`` between consecutive valid closes
        is an event.

    Returns
    -------
    adjusted : DataFrame
        :math:`\\tilde P_t = P_t \\prod_{e > t} \\rho_e` with :math:`\\rho_e = P_e / P_{e'}` the
        jump ratio of each later event :math:`e`; the event day's return becomes 0.
    events : DataFrame
        ``date, code, ratio``.

    Examples
    --------
    >>> p = pd.DataFrame({"A": [2.0, 2.1, 1.05, 1.1]})
    >>> adj, ev = adjust_splits(p)
    >>> adj["A"].round(4).tolist(), ev["ratio"].tolist()
    ([1.05, 1.05, 1.05, 1.1], [0.5])
    """
    out = close.astype(float).copy()
    rows: list[dict[str, object]] = []
    for code in out.columns:
        s = out[code]
        valid = s.dropna()
        if len(valid) < 2:
            continue
        ratio = valid / valid.shift(1)
        jumps = ratio[(ratio - 1.0).abs() > threshold]
        if jumps.empty:
            continue
        factor = pd.Series(1.0, index=valid.index)
        for day, rho in jumps.items():
            factor[factor.index < day] *= float(rho)
            rows.append({"date": day, "code": str(code), "ratio": float(rho)})
        out[code] = (valid * factor).reindex(s.index)
    events = pd.DataFrame(rows, columns=["date", "code", "ratio"])
    return out, events


def _wide(df: pd.DataFrame, value: str) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(dtype=float)
    return df.pivot(index="date", columns="code", values=value).sort_index()


def load_market(
    store: Store,
    *,
    end: DateLike | None = None,
    start: DateLike | None = None,
    split_threshold: float = SPLIT_THRESHOLD,
) -> EtfMarket:
    """Read the ETF, index and bond panels of ``store`` in ``[start, end]``.

    Parameters
    ----------
    store
        An open store with ``etf_info`` and ``etf_bars``.
    end
        Last day read (inclusive; default the store's last day). Nothing after it is read.
    start
        First day read (default the store's first day).
    split_threshold
        See :func:`adjust_splits`.

    Returns
    -------
    EtfMarket

    Raises
    ------
    quantbook.data.DataUnavailableError
        The store has no ETFs.
    """
    store.require("etf_info")
    store.require("etf_bars")
    last = store.end if end is None else min(pd.Timestamp(end), store.end)
    first = store.start if start is None else max(pd.Timestamp(start), store.start)
    missing: dict[str, str] = {}
    span = store.read("etf_bars", end=last, columns=["date"])["date"]
    if span.empty:
        raise ValueError(f"store {store.name!r} has no ETF bars on or before {last:%Y-%m-%d}")
    if span.max() < last:
        warnings.warn(
            f"the ETF bars of store {store.name!r} end on {span.max():%Y-%m-%d}, before "
            f"{last:%Y-%m-%d}; the market ends there",
            EtfDataEndWarning,
            stacklevel=2,
        )
        missing["etf_bars_after"] = f"no ETF bars after {span.max():%Y-%m-%d}"
        last = pd.Timestamp(span.max())
    cal = TradingCalendar(first, last, extra=store.data_sessions())
    sessions = cal.sessions

    info = store.read("etf_info").set_index("code").sort_index()
    info = info[info["list_date"] <= last]
    bars = store.read(
        "etf_bars",
        start=first,
        end=last,
        columns=["date", "code", "close", "volume", "amount", "is_suspended"],
    )
    raw = _wide(bars, "close").reindex(index=sessions, columns=info.index)
    close, splits = adjust_splits(raw, threshold=split_threshold)
    if len(splits):
        listed = ", ".join(
            f"{r.code} {r.date:%Y-%m-%d} x{r.ratio:.3f}" for r in splits.itertuples()
        )
        warnings.warn(
            f"ETF closes adjusted for {len(splits)} split(s) / distribution(s): {listed}",
            EtfSplitWarning,
            stacklevel=2,
        )
    has_bar = raw.notna()
    susp = (
        _wide(bars.assign(s=bars["is_suspended"].astype(float)), "s")
        .reindex(index=sessions, columns=info.index)
        .fillna(1.0)
        .astype(bool)
    )
    traded = has_bar & ~susp
    volume = _wide(bars, "volume").reindex(index=sessions, columns=info.index)
    amount = _wide(bars, "amount").reindex(index=sessions, columns=info.index)

    if store.has("index_info"):
        index_info = store.read("index_info").set_index("code").sort_index()
    else:
        index_info = pd.DataFrame(columns=["name", "category", "pool"])
        missing["index_info"] = store.unavailable().get("index_info", "not in this store")
    if store.has("index_bars"):
        cols = ["date", "code", "close"] + (["amount"] if store.has("index_bars", "amount") else [])
        ib = store.read("index_bars", start=first, end=last, columns=cols)
        index_close = _wide(ib, "close").reindex(sessions).ffill()
        index_amount = (
            _wide(ib, "amount").reindex(sessions)
            if "amount" in cols
            else pd.DataFrame(np.nan, index=sessions, columns=index_close.columns)
        )
    else:
        index_close = pd.DataFrame(index=sessions, dtype=float)
        index_amount = pd.DataFrame(index=sessions, dtype=float)
        missing["index_bars"] = store.unavailable().get("index_bars", "not in this store")
    if store.has("bond_yields"):
        y = store.read("bond_yields", start=first, end=last)
        yields = y.pivot(index="date", columns="tenor", values="yield").sort_index()
        yields = yields.reindex(sessions).ffill()
    else:
        yields = pd.DataFrame(index=sessions, dtype=float)
        missing["bond_yields"] = store.unavailable().get("bond_yields", "not in this store")
    if store.has("bond_index_bars"):
        bi = store.read("bond_index_bars", start=first, end=last)
        bond_index = _wide(bi, "close").reindex(sessions).ffill()
    else:
        bond_index = pd.DataFrame(index=sessions, dtype=float)
        missing["bond_index_bars"] = store.unavailable().get("bond_index_bars", "not in this store")
    for col in ("volume", "amount"):
        if not store.has("etf_bars", col):
            missing[f"etf_bars.{col}"] = store.unavailable().get(f"etf_bars.{col}", "")
    return EtfMarket(
        store=store.name,
        is_synthetic=store.is_synthetic,
        end=pd.Timestamp(sessions[-1]) if len(sessions) else last,
        sessions=sessions,
        rebalance_dates=cal.week_ends(),
        info=info,
        close=close.ffill(),
        traded=traded,
        volume=volume,
        amount=amount,
        index_info=index_info,
        index_close=index_close,
        index_amount=index_amount,
        yields=yields,
        bond_index=bond_index,
        splits=splits,
        missing=missing,
    )
