"""Style inputs of the SmartBeta strategy: Barra style factor returns and ETF style exposures.

Both come from the project's risk model (:mod:`quantbook.risk`), which this module calls:

- stock style exposures on the rebalance dates: :func:`quantbook.risk.compute_styles`,
  ``.frame`` long (date, code, one column per style);
- style factor returns: ``quantbook.risk.fit_cached(store, end=..., config=RiskFitConfig(freq="W", ...))
  .factor_returns`` (date x factor, the styles among the columns), with those exposures;
- an ETF's exposure to a style on date :math:`t` is the float-cap-weighted mean exposure of
  the members of its tracked index on :math:`t` (``index_members``):
  :math:`X_{e,s,t} = \\sum_{n \\in I_e(t)} m_{n,t} X_{n,s,t} / \\sum_{n} m_{n,t}`, with
  :math:`m_{n,t}` = close x float shares (total shares where the store has no float shares),
  over the members that have an exposure.

When the store cannot feed the risk model (too few ETFs tracking an index with known
constituents, no complete period before the end date, a table or column the model needs is
unavailable: :class:`~quantbook.data.store.DataUnavailableError`), :func:`load_style_inputs`
returns a :class:`StyleInputs` whose ``unavailable`` says why; nothing is ever made up in its
place. Any other exception of the risk model is a bug and propagates.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantbook.data.calendar import DateLike
from quantbook.data.panel import cap_shares_column, load_daily_panel
from quantbook.data.store import DataUnavailableError, Store
from quantbook.risk import RiskFitConfig, fit_cached, period_ends
from quantbook.risk.model import Frequency
from quantbook.risk.styles import StyleDataWarning

__all__ = [
    "STYLE_GROUPS",
    "StyleInputs",
    "etf_exposures",
    "group_exposures",
    "load_style_inputs",
    "style_group_returns",
]

#: The 9 style groups the SmartBeta strategy times (a proposal): group -> member styles.
#: A group's factor return is the mean of its members' returns, an ETF's group exposure the
#: mean of its members' exposures. MidCap (a non-linear size term) is not timed.
STYLE_GROUPS: dict[str, tuple[str, ...]] = {
    "size": ("size",),
    "volatility": ("beta", "residual_volatility"),
    "momentum": ("momentum",),
    "reversal": ("short_term_reversal",),
    "liquidity": ("liquidity",),
    "value": ("book_to_price", "earnings_yield"),
    "dividend": ("dividend_yield",),
    "growth": ("growth",),
    "quality": ("profitability", "leverage", "investment", "earnings_variability"),
}


@dataclass(frozen=True)
class StyleInputs:
    """Style factor returns and ETF exposures up to an end date.

    Attributes
    ----------
    factor_returns
        ``date x style`` factor returns (the risk model's frequency); empty if unavailable.
    etf_exposures
        Long frame ``date, code`` (ETF) and one column per style; empty if unavailable.
    unavailable
        Why the inputs could not be built (None when they could).
    source
        What produced them (for the report).
    notes
        The risk model's :class:`~quantbook.risk.styles.StyleDataWarning` messages (e.g. styles
        without values early in the sample).
    """

    factor_returns: pd.DataFrame
    etf_exposures: pd.DataFrame
    unavailable: str | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.unavailable is None and not self.factor_returns.empty

    @classmethod
    def missing(cls, reason: str) -> StyleInputs:
        return cls(pd.DataFrame(), pd.DataFrame(), unavailable=reason)


def _etfs_with_members(store: Store, etfs: pd.DataFrame) -> list[str]:
    if not store.has("index_members"):
        return []
    known = set(store.read("index_members", columns=["index_code"])["index_code"].astype(str))
    tracked = etfs["tracked_index"].astype("string")
    return sorted(str(c) for c, t in tracked.items() if not pd.isna(t) and str(t) in known)


def etf_exposures(
    store: Store,
    stock_exposures: pd.DataFrame,
    *,
    etfs: pd.DataFrame,
    dates: Sequence[pd.Timestamp],
    styles: Sequence[str],
) -> pd.DataFrame:
    """Float-cap-weighted style exposures of each ETF's tracked index on each date.

    Parameters
    ----------
    store
        The store (``index_members``, ``daily_bars``).
    stock_exposures
        Long ``date, code`` + style columns (stocks).
    etfs
        ``etf_info`` rows (indexed by code) of the ETFs wanted.
    dates
        The dates.
    styles
        Style columns to aggregate.

    Returns
    -------
    DataFrame
        Long ``date, code`` (ETF), ``n_members`` and one column per style.
    """
    cols = ["date", "code", *styles, "n_members"]
    if not store.has("index_members") or stock_exposures.empty:
        return pd.DataFrame(columns=cols)
    day_list = pd.DatetimeIndex(sorted(set(pd.to_datetime(list(dates)))))
    end = day_list.max()
    members = store.read("index_members", end=end)
    shares = cap_shares_column(store)
    tracked = etfs["tracked_index"].dropna().astype(str)
    tracked = tracked[tracked.isin(set(members["index_code"].astype(str)))]
    if tracked.empty:
        return pd.DataFrame(columns=cols)
    members = members[members["index_code"].isin(set(tracked))]
    stocks = sorted(set(members["code"].astype(str)))
    bars = load_daily_panel(
        store, start=day_list.min(), end=end, codes=stocks, fields=("close", shares)
    )
    rows = bars.rows(bars.dates[bars.dates.isin(day_list)])
    present = bars.present[rows]
    r, c = np.nonzero(present)  # the (date, code) rows a bar exists for
    cap = pd.DataFrame(
        {
            "date": bars.dates[rows][r],
            "code": bars.codes[c].astype(str),
            "cap": bars.float_cap[rows][present],
        }
    )
    expo = stock_exposures[stock_exposures["date"].isin(day_list)][["date", "code", *styles]]
    panel = expo.merge(cap, on=["date", "code"], how="inner")
    frames = []
    for etf, index_code in tracked.items():
        m = members.loc[members["index_code"] == index_code, ["code", "start", "end"]]
        sub = panel.merge(m, on="code", how="inner")
        live = (sub["start"] <= sub["date"]) & (sub["end"].isna() | (sub["end"] > sub["date"]))
        sub = sub[live & (sub["cap"] > 0)].drop_duplicates(["date", "code"])
        if sub.empty:
            continue
        w = sub["cap"].to_numpy(dtype=float)
        X = sub[list(styles)].to_numpy(dtype=float)
        ok = np.isfinite(X)
        num = pd.DataFrame(np.where(ok, X * w[:, None], 0.0), columns=list(styles))
        den = pd.DataFrame(np.where(ok, w[:, None], 0.0), columns=list(styles))
        key = sub["date"].to_numpy()
        agg = num.groupby(key).sum() / den.groupby(key).sum().replace(0.0, np.nan)
        agg["n_members"] = pd.Series(key).value_counts().reindex(agg.index).to_numpy()
        agg.index.name = "date"
        frames.append(agg.reset_index().assign(code=str(etf)))
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    return out[cols].sort_values(["date", "code"]).reset_index(drop=True)


def style_group_returns(
    factor_returns: pd.DataFrame, groups: dict[str, tuple[str, ...]] = STYLE_GROUPS
) -> pd.DataFrame:
    """Group factor returns: the mean of the member styles' returns (members present only)."""
    out = {}
    for g, members in groups.items():
        have = [s for s in members if s in factor_returns.columns]
        if have:
            out[g] = factor_returns[have].mean(axis=1)
    return pd.DataFrame(out, index=factor_returns.index)


def group_exposures(
    exposures: pd.DataFrame, groups: dict[str, tuple[str, ...]] = STYLE_GROUPS
) -> pd.DataFrame:
    """Group exposures of a long ``date, code`` exposure frame (mean of the member styles)."""
    out = exposures[["date", "code"]].copy()
    for g, members in groups.items():
        have = [s for s in members if s in exposures.columns]
        if have:
            out[g] = exposures[have].mean(axis=1)
    return out


def load_style_inputs(
    store: Store,
    *,
    dates: Sequence[pd.Timestamp],
    end: DateLike,
    etfs: pd.DataFrame,
    freq: Frequency = "W",
    min_etfs: int = 2,
    progress: bool = False,
) -> StyleInputs:
    """Style factor returns (to ``end``) and ETF exposures (on ``dates``) from the risk model.

    Parameters
    ----------
    store
        The store.
    dates
        Rebalance dates on which ETF exposures are needed.
    end
        Last day of factor returns (inclusive).
    etfs
        ``etf_info`` rows of the candidate ETFs.
    freq
        Factor-return frequency asked of the risk model (``"W"`` weekly, the default: the
        factor return of week :math:`t` uses the exposures as of the previous week-end;
        ``"D"`` daily is about eight times slower).
    min_etfs
        Fewest candidate ETFs tracking an index with constituents; with fewer, the risk model
        is not run and the inputs are unavailable.
    progress
        Progress bars of the risk model.

    Returns
    -------
    StyleInputs
        With ``unavailable`` set (and empty frames) when the store cannot feed the risk model.

    Notes
    -----
    The risk model's :class:`~quantbook.risk.styles.StyleDataWarning` messages become
    ``notes``; any other warning is passed on unchanged.
    """
    day_list = [pd.Timestamp(d) for d in dates if pd.Timestamp(d) <= pd.Timestamp(end)]
    if not day_list:
        return StyleInputs.missing("no rebalance date to compute exposures on")
    with_members = _etfs_with_members(store, etfs)
    if len(with_members) < min_etfs:
        return StyleInputs.missing(
            f"only {len(with_members)} candidate ETF(s) track an index whose constituents are known "
            f"({', '.join(with_members) or 'none'}); at least {min_etfs} are needed to choose among them"
        )
    end_ts = pd.Timestamp(end)
    if int((period_ends(store, freq) <= end_ts).sum()) < 2:
        return StyleInputs.missing(
            f"store {store.name!r} has no complete {freq!r} period of factor returns up to "
            f"{end_ts:%Y-%m-%d}"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StyleDataWarning)
            model = fit_cached(
                store,
                end=end_ts,
                config=RiskFitConfig(freq=freq, exposure_dates=tuple(day_list)),
                progress=progress,
                exposure_warnings=True,
            )
            expo = model.exposures
    except DataUnavailableError as e:
        return StyleInputs.missing(
            f"the risk model cannot run on store {store.name!r} (style exposures or factor "
            f"returns up to {end_ts:%Y-%m-%d}): {e}"
        )
    notes = sorted(
        {f"{w.category.__name__}: {w.message}" for w in caught if w.category is StyleDataWarning}
    )
    for w in caught:  # other warnings are not the model's notes: pass them on
        if w.category is not StyleDataWarning:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    fr = model.factor_returns.sort_index().loc[:end_ts]
    frame = expo.frame
    styles = [s for g in STYLE_GROUPS.values() for s in g if s in frame.columns and s in fr.columns]
    if not styles:
        return StyleInputs.missing("the risk model returned none of the timed styles")
    ex = etf_exposures(store, frame, etfs=etfs, dates=day_list, styles=styles)
    if ex.empty:
        return StyleInputs.missing("no candidate ETF tracks an index with known constituents")
    return StyleInputs(
        factor_returns=fr[styles],
        etf_exposures=ex,
        unavailable=None,
        source=f"quantbook.risk.fit, freq {freq!r} ({len(fr)} periods, {len(styles)} styles)",
        notes=notes,
    )
