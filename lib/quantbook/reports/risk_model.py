"""Risk model report: the Barra-style model (SPEC §1) fitted monthly up to an as-of date.

Sections (each a function returning a frame; ``show_*`` wrap a frame for display and
``plot_*`` draw one; nothing here reads data after ``as_of``):

- :func:`month_factor_returns`: the month's factor returns with standard errors and t-stats;
- :func:`factor_return_history`, :func:`cumulative_returns`: monthly and cumulative returns
  of the style and industry factors since the start of the sample;
- :func:`factor_volatility`: annualized volatility of the factor returns (12, 36 months, all);
- :func:`fit_quality`: weighted R^2 and the number of stocks per month;
- :func:`exposure_distribution`, :func:`style_correlation`: the style exposures as of the
  as-of date (for the next month) and their cross-sectional correlation;
- :func:`pure_portfolio_check`: the month's pure factor portfolios (gross weights and their
  exposures);
- :func:`unavailable_styles`: styles the store cannot support, with the reason.

The model is fitted with :func:`quantbook.risk.fit_cached` (shared with the other reports) at month-ends from ``start`` to the last
month-end on or before ``as_of``; every exposure and return uses data up to that day only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantbook import plotting
from quantbook.data.calendar import DateLike
from quantbook.data.panel import cap_shares_column, load_daily_panel
from quantbook.data.store import Store
from quantbook.data.vocabulary import SW_L1
from quantbook.reports import Metrics
from quantbook.reports.contract import check_as_of
from quantbook.risk import (
    STYLE_NAMES,
    EstimationUniverse,
    RiskFitConfig,
    RiskModelResult,
    StyleExposures,
    fit_cached,
)
from quantbook.tables import Table, Text, blank_footnote, table, unavailable_box

__all__ = [
    "STYLE_LABELS",
    "RiskModelReport",
    "cumulative_returns",
    "exposure_distribution",
    "factor_return_history",
    "factor_volatility",
    "fit_quality",
    "month_factor_returns",
    "plot_correlation",
    "plot_cumulative",
    "plot_exposure_distribution",
    "plot_fit_quality",
    "plot_month_returns",
    "plot_volatility",
    "prepare",
    "pure_portfolio_check",
    "show_exposures",
    "show_history",
    "show_month_returns",
    "show_pure_portfolios",
    "show_unavailable",
    "show_volatility",
    "style_correlation",
    "unavailable_inputs",
    "unavailable_styles",
]

REPORT = "risk_model"
PCT = ".2%"

#: Display names of the styles.
STYLE_LABELS: dict[str, str] = {
    "size": "Size",
    "midcap": "MidCap",
    "beta": "Beta",
    "residual_volatility": "Residual volatility",
    "momentum": "Momentum",
    "short_term_reversal": "Short-term reversal",
    "liquidity": "Liquidity",
    "book_to_price": "Book-to-price",
    "earnings_yield": "Earnings yield",
    "dividend_yield": "Dividend yield",
    "growth": "Growth",
    "leverage": "Leverage",
    "profitability": "Profitability",
    "investment": "Investment",
    "earnings_variability": "Earnings variability",
}


def _label(factor: str) -> str:
    """Display name of a factor: styles by :data:`STYLE_LABELS`, industries by SW name."""
    if factor in STYLE_LABELS:
        return STYLE_LABELS[factor]
    if factor.startswith("ind_"):
        code = factor[4:]
        return f"{SW_L1[code][1]} ({code})" if code in SW_L1 else factor
    return factor.capitalize()


@dataclass(frozen=True)
class RiskModelReport:
    """What the risk model report computes for one as-of date.

    Attributes
    ----------
    store
        The store.
    as_of
        The requested as-of trading day.
    month_end
        The last month-end on or before ``as_of``: the end of the report's month.
    result
        The model fitted at month-ends from ``start`` to ``month_end``.
    exposures
        Style exposures as of every period start and as of ``month_end``.
    """

    store: Store
    as_of: pd.Timestamp
    month_end: pd.Timestamp
    result: RiskModelResult
    exposures: StyleExposures

    @property
    def month(self) -> str:
        return f"{self.month_end:%Y-%m}"

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.result.factor_returns.index)

    @property
    def sample_start(self) -> pd.Timestamp:
        """First period start (the exposures' first as-of date)."""
        return pd.Timestamp(self.result.period_starts.iloc[0])

    @property
    def styles(self) -> list[str]:
        return list(self.result.styles)

    def period_note(self) -> str:
        n = len(self.dates)
        return (
            f"Monthly cross-sections {self.dates[0]:%Y-%m} to {self.month}: {n} months "
            f"(returns from month-end to month-end, exposures as of the previous month-end)."
        )


def prepare(
    store: Store,
    *,
    as_of: DateLike,
    start: DateLike | None = None,
    min_listed_days: int = 60,
    exclude_st: bool = True,
    progress: bool = False,
) -> RiskModelReport:
    """Fit the model at month-ends up to ``as_of`` (data up to ``as_of`` only).

    Parameters
    ----------
    store
        An open store.
    as_of
        A trading day (another day raises
        :class:`~quantbook.reports.contract.AsOfPolicyError`; the runner resolves dates). The
        report's month is the last complete month on or before it.
    start
        First period end of the history (default: the store's second month-end).
    min_listed_days, exclude_st
        Estimation-universe rules (:class:`~quantbook.risk.EstimationUniverse`).
    progress
        Progress bars.
    """
    day = check_as_of(store, as_of, report=REPORT)
    cal = store.calendar()
    month_ends = cal.period_ends("M", end=day)
    if len(month_ends) < 2:
        raise ValueError(f"store {store.name!r} has no complete month before {day:%Y-%m-%d}")
    first = 1 if start is None else max(1, int(month_ends.searchsorted(pd.Timestamp(start))))
    if first >= len(month_ends):
        raise ValueError(f"no month-end between {start} and {day:%Y-%m-%d}")
    starts = month_ends[first - 1 :]
    result = fit_cached(
        store,
        end=month_ends[-1],
        config=RiskFitConfig(
            freq="M",
            start=month_ends[first],
            exposure_dates=tuple(starts),
            universe=EstimationUniverse(min_listed_days=min_listed_days, exclude_st=exclude_st),
        ),
        progress=progress,
    )
    expo = result.exposures
    return RiskModelReport(
        store=store, as_of=day, month_end=month_ends[-1], result=result, exposures=expo
    )


# -- sections ----------------------------------------------------------------------------------
def _group(factor: str) -> str:
    if factor == "country":
        return "country"
    if factor.startswith("ind_"):
        return "industry"
    return "style"


def month_factor_returns(rep: RiskModelReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """The report month's factor returns.

    Returns
    -------
    DataFrame
        Index: factor; columns ``name, group, f, stderr, t`` (NaN for an absent factor).
    """
    res = rep.result
    d = rep.dates[-1]
    f, se, t = res.factor_returns.loc[d], res.stderr.loc[d], res.tstat.loc[d]
    out = pd.DataFrame(
        {
            "name": [_label(c) for c in f.index],
            "group": [_group(c) for c in f.index],
            "f": f.to_numpy(dtype=float),
            "stderr": se.to_numpy(dtype=float),
            "t": t.to_numpy(dtype=float),
        },
        index=pd.Index(f.index, name="factor"),
    )
    if metrics is not None:
        metrics.update({str(k): v for k, v in f.items()}, prefix="factor_return")
        metrics.update(
            {str(k): v for k, v in t.items() if _group(str(k)) == "style"}, prefix="tstat"
        )
        metrics.update(
            {
                "r2_month": res.r2.loc[d],
                "n_stocks_month": res.n_stocks.loc[d],
                "r2_mean_12m": res.r2.iloc[-12:].mean(),
                "r2_mean_all": res.r2.mean(),
                "months": len(rep.dates),
            },
            prefix="fit",
        )
    return out


def factor_return_history(
    rep: RiskModelReport, *, group: str = "style", months: int | None = 12
) -> pd.DataFrame:
    """Monthly factor returns of one group (``style``, ``industry``, ``country``): date x factor.

    ``months`` keeps the last N months (None: all).
    """
    fr = rep.result.factor_returns
    cols = [c for c in fr.columns if _group(str(c)) == group]
    out = fr[cols]
    return out.iloc[-months:] if months else out


def cumulative_returns(rep: RiskModelReport, *, group: str = "style") -> pd.DataFrame:
    """Cumulative (compounded) factor returns since the first month: date x factor.

    Notes
    -----
    :math:`C_T = \\prod_{t \\le T} (1 + f_t) - 1`, a missing month counting as 0: the value
    of the pure factor portfolio rebalanced monthly.
    """
    fr = factor_return_history(rep, group=group, months=None)
    return (1.0 + fr.fillna(0.0)).cumprod() - 1.0


def factor_volatility(
    rep: RiskModelReport, *, windows: tuple[int, ...] = (12, 36), metrics: Metrics | None = None
) -> pd.DataFrame:
    """Annualized volatility of the monthly factor returns (std x sqrt(12)).

    Returns
    -------
    DataFrame
        Index: factor (country, styles, industries); columns ``name, group`` and one column
        per window (``vol_12m``, ``vol_36m``) plus ``vol_all``; a window needs at least half
        its months.
    """
    fr = rep.result.factor_returns
    out = pd.DataFrame(
        {"name": [_label(c) for c in fr.columns], "group": [_group(c) for c in fr.columns]},
        index=pd.Index(fr.columns, name="factor"),
    )
    for w in windows:
        sub = fr.iloc[-w:]
        ok = sub.notna().sum() >= max(3, w // 2)
        out[f"vol_{w}m"] = (sub.std() * np.sqrt(12)).where(ok)
    out["vol_all"] = fr.std() * np.sqrt(12)
    order = {"country": 0, "style": 1, "industry": 2}
    out = out.iloc[np.argsort([order[g] for g in out["group"]], kind="stable")]
    if metrics is not None and windows:
        w = windows[0]
        styles = out[out["group"] != "industry"]
        metrics.update({str(k): v for k, v in styles[f"vol_{w}m"].items()}, prefix=f"vol_{w}m")
    return out


def fit_quality(rep: RiskModelReport) -> pd.DataFrame:
    """Weighted R^2 and number of stocks per month (date x ``r2, n_stocks``)."""
    res = rep.result
    return pd.DataFrame({"r2": res.r2, "n_stocks": res.n_stocks})


def exposure_distribution(rep: RiskModelReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Distribution of each style's exposures as of the report's month-end.

    These are the exposures the next month's regression uses (data up to the month-end).

    Returns
    -------
    DataFrame
        Index: style; columns ``stocks, cap_mean, std, min, p05, p25, median, p75, p95, max``.
    """
    xs = rep.exposures.cross_section(rep.month_end)
    cap = _float_cap(rep, xs.index)
    rows = {}
    for s in xs.columns:
        v = xs[s].dropna()
        w = cap.reindex(v.index)
        ok = w.notna() & (w > 0)
        rows[s] = {
            "stocks": len(v),
            "cap_mean": float(np.average(v[ok], weights=w[ok])) if ok.any() else np.nan,
            "std": float(v.std()),
            "min": float(v.min()),
            "p05": float(v.quantile(0.05)),
            "p25": float(v.quantile(0.25)),
            "median": float(v.median()),
            "p75": float(v.quantile(0.75)),
            "p95": float(v.quantile(0.95)),
            "max": float(v.max()),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "style"
    if len(out):
        out["stocks"] = out["stocks"].astype("int64")
    if metrics is not None:
        metrics.record("exposures.n_stocks", int(out["stocks"].max()) if len(out) else 0)
        metrics.record("exposures.n_styles", len(out))
    return out


def _float_cap(rep: RiskModelReport, codes: pd.Index) -> pd.Series:
    """Float cap at the month-end of the ``codes`` with a bar that day (the panel's rule)."""
    p = load_daily_panel(
        rep.store,
        start=rep.month_end,
        end=rep.month_end,
        codes=list(codes),
        fields=("close", cap_shares_column(rep.store)),
    )
    return pd.Series(p.float_cap[0], index=pd.Index(p.codes.astype(str), name="code"))


def style_correlation(rep: RiskModelReport, *, kind: str = "exposures") -> pd.DataFrame:
    """Correlation of the styles: ``"exposures"`` (cross-section at the month-end) or
    ``"returns"`` (monthly factor returns over the whole history)."""
    if kind == "exposures":
        xs = rep.exposures.cross_section(rep.month_end)
        corr = xs.corr()
    elif kind == "returns":
        corr = rep.result.factor_returns[rep.styles].corr()
    else:
        raise ValueError(f"kind must be 'exposures' or 'returns', not {kind!r}")
    return corr


def pure_portfolio_check(rep: RiskModelReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """The month's pure factor portfolios of the country and the styles.

    Returns
    -------
    DataFrame
        Index: factor; columns ``long, short, net`` (sums of positive, negative and all
        weights), ``own`` (exposure to its own factor), ``max_other`` (largest absolute
        exposure to another style), ``f`` (the month's factor return = the portfolio's return).
    """
    res = rep.result
    d = rep.dates[-1]
    omega = res.pure_portfolios(d)
    X, r, _, _ = res.design(d)
    E = omega.to_numpy() @ X.to_numpy()
    cols = list(X.columns)
    style_pos = [i for i, c in enumerate(cols) if _group(c) == "style"]
    rows = {}
    for i, c in enumerate(cols):
        if _group(c) == "industry":
            continue
        w = omega.iloc[i].to_numpy()
        others = [j for j in style_pos if j != i]
        rows[c] = {
            "name": _label(c),
            "long": float(w[w > 0].sum()),
            "short": float(w[w < 0].sum()),
            "net": float(w.sum()),
            "own": float(E[i, i]),
            "max_other": float(np.abs(E[i, others]).max()) if others else 0.0,
            "f": float(w @ r.to_numpy()),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "factor"
    if metrics is not None:
        metrics.record("pure.max_exposure_error", float((out["own"] - 1).abs().max()))
    return out


def unavailable_styles(rep: RiskModelReport) -> pd.DataFrame:
    """Styles the model runs without, with the reason (empty when all 15 are there)."""
    miss = {s: r for s, r in rep.exposures.unavailable.items()}
    return pd.DataFrame(
        {"name": [_label(s) for s in miss], "reason": list(miss.values())},
        index=pd.Index(list(miss), name="style"),
    )


def unavailable_inputs(rep: RiskModelReport) -> dict[str, str]:
    """``{style label: reason}`` of every style this store cannot feed."""
    return {_label(s): why for s, why in rep.exposures.unavailable.items()}


def _blank_reason(rep: RiskModelReport, factor: str, d: pd.Timestamp) -> str:
    """Why ``factor`` has no return for the period ending ``d`` (from the fit's own data)."""
    res = rep.result
    n = res.n_stocks.get(d, np.nan)
    if not np.isfinite(n) or n == 0:
        return "no regression (no stock in the estimation universe)"
    if _group(factor) == "industry":
        return "no stock of the industry in the estimation universe"
    return "no stock with the exposure (too little history for its descriptors)"


def _month_blanks(rep: RiskModelReport, frame: pd.DataFrame, column: str = "f") -> str:
    """Footnote of the blank cells of a factor-per-row frame for the report month."""
    d = rep.dates[-1]
    by_reason: dict[str, list[str]] = {}
    for factor in frame.index[frame[column].isna().to_numpy()]:
        by_reason.setdefault(_blank_reason(rep, str(factor), d), []).append(_label(str(factor)))
    return blank_footnote({", ".join(names): why for why, names in by_reason.items()})


def _history_blanks(rep: RiskModelReport, frame: pd.DataFrame) -> str:
    """Footnote of the blank cells of a ``month x factor`` frame of returns."""
    reasons: dict[str, str] = {}
    for factor in frame.columns:
        blank = [pd.Timestamp(d) for d in frame.index[frame[factor].isna().to_numpy()]]
        by_reason: dict[str, list[str]] = {}
        for d in blank:
            by_reason.setdefault(_blank_reason(rep, str(factor), d), []).append(f"{d:%Y-%m}")
        for why, months in by_reason.items():
            reasons[f"{_label(str(factor))} {', '.join(months)}"] = why
    return blank_footnote(reasons)


def _volatility_blanks(rep: RiskModelReport, frame: pd.DataFrame) -> str:
    """Footnote of the blank volatility cells: the months of returns the window had."""
    fr = rep.result.factor_returns
    groups: dict[tuple[str, str], list[str]] = {}
    for col in [c for c in frame.columns if c.startswith("vol_")]:
        w = None if col == "vol_all" else int(col[4:-1])
        need = 2 if w is None else max(3, w // 2)
        head = "All months" if w is None else f"Last {w} months"
        for factor in frame.index[frame[col].isna().to_numpy()]:
            have = int((fr[factor] if w is None else fr[factor].iloc[-w:]).notna().sum())
            why = f"{have} monthly returns, {need} needed"
            groups.setdefault((head, why), []).append(_label(str(factor)))
    return blank_footnote(
        {f"{head} of {', '.join(names)}": why for (head, why), names in groups.items()}
    )


def _join(*notes: str) -> str:
    return " ".join(n for n in notes if n)


# -- presentation ----------------------------------------------------------------------------------
def show_unavailable(rep: RiskModelReport) -> Text | None:
    """One box naming each style this store cannot feed and why (None when all 15 are fed).

    The model runs without them: their rows and columns are left out of every table and chart.
    """
    return unavailable_box(
        rep.store.name,
        unavailable_inputs(rep),
        left_out="The model runs without them; they are left out of every table and chart.",
    )


def show_month_returns(frame: pd.DataFrame, rep: RiskModelReport, *, group: str) -> Table:
    sub = frame[frame["group"].isin(["country", "style"] if group == "style" else [group])]
    res = rep.result
    d = rep.dates[-1]
    note = (
        f"Month {rep.month}: returns {res.period_starts.iloc[-1]:%Y-%m-%d} to {d:%Y-%m-%d}, "
        f"{int(res.n_stocks.loc[d])} stocks, weighted R² {res.r2.loc[d]:.1%}. "
        "t = f / stderr (WLS covariance); industry returns are relative to the market "
        "(cap-weighted industry returns sum to zero)."
    )
    note = _join(note, _month_blanks(rep, sub))
    return table(
        sub.drop(columns=["group"]),
        title="Country and style factor returns" if group == "style" else "Industry factor returns",
        formats={"f": PCT, "stderr": PCT, "t": ".2f"},
        labels={"name": "Factor", "f": "Return", "stderr": "Std. error", "t": "t"},
        note=note,
    )


def show_history(
    frame: pd.DataFrame, rep: RiskModelReport, *, title: str, transpose: bool = False
) -> Table:
    """Monthly factor returns (dates as rows, or as columns with ``transpose``)."""
    shown = frame.copy()
    shown.columns = [_label(str(c)) for c in shown.columns]
    note = _join(rep.period_note(), _history_blanks(rep, frame))
    return table(shown, title=title, default=PCT, note=note, transpose=transpose)


def show_volatility(frame: pd.DataFrame, rep: RiskModelReport) -> Table:
    cols = [c for c in frame.columns if c.startswith("vol_")]
    labels = {c: ("All months" if c == "vol_all" else f"Last {c[4:-1]} months") for c in cols}
    shown = frame[frame["group"] != "industry"]
    return table(
        shown.drop(columns=["group"]),
        title="Annualized factor volatility (country and styles)",
        formats=dict.fromkeys(cols, PCT),
        labels={"name": "Factor", **labels},
        note=_join(
            f"Standard deviation of monthly factor returns x sqrt(12). {rep.period_note()}",
            _volatility_blanks(rep, shown),
        ),
    )


def show_exposures(frame: pd.DataFrame, rep: RiskModelReport) -> Table:
    shown = frame.copy()
    shown.index = [_label(s) for s in shown.index]
    shown.index.name = "style"
    return table(
        shown,
        title=f"Style exposures as of {rep.month_end:%Y-%m-%d}",
        formats={"stocks": ",d"},
        default=".2f",
        labels={
            "stocks": "Stocks",
            "cap_mean": "Cap-wtd mean",
            "std": "Std",
            "min": "Min",
            "p05": "5 %",
            "p25": "25 %",
            "median": "Median",
            "p75": "75 %",
            "p95": "95 %",
            "max": "Max",
        },
        note=(
            "Standardized exposures (cap-weighted mean 0, std 1, trimmed at 3 std), missing "
            "values filled from industry and Size; these enter next month's regression."
        ),
    )


def show_pure_portfolios(frame: pd.DataFrame, rep: RiskModelReport) -> Table:
    return table(
        frame,
        title=f"Pure factor portfolios, {rep.month}",
        formats={
            "long": ".3f",
            "short": ".3f",
            "net": ".3f",
            "own": ".6f",
            "max_other": ".1e",
            "f": PCT,
        },
        labels={
            "name": "Factor",
            "long": "Long",
            "short": "Short",
            "net": "Net",
            "own": "Own exposure",
            "max_other": "Max other style exposure",
            "f": "Return",
        },
        note=(
            "Rows of Omega = R (R'X'VXR)^-1 R'X'V: weights with unit exposure to one factor "
            "and none to the others (the country portfolio is fully invested; style "
            "portfolios have zero net weight)."
        ),
    )


def plot_month_returns(frame: pd.DataFrame, *, group: str = "style") -> Figure:
    """The month's factor returns as bars (styles and country, or industries)."""
    keep = ["country", "style"] if group == "style" else [group]
    sub = frame[frame["group"].isin(keep)].dropna(subset=["f"])
    s = pd.Series(sub["f"].to_numpy(), index=sub["name"])
    if group == "industry":
        s = s.sort_values(ascending=False)
    title = (
        "Factor returns of the month"
        if group == "style"
        else "Industry factor returns of the month"
    )
    return plotting.bar_chart(s, title=title)


def plot_cumulative(cum: pd.DataFrame, *, title: str, top: int | None = None) -> Figure:
    """Cumulative factor returns; ``top`` keeps the factors with the largest final |value|."""
    frame = cum
    if top is not None and len(cum.columns) > top:
        last = cum.iloc[-1].abs().sort_values(ascending=False)
        frame = cum[list(last.index[:top])]
    return plotting.line_chart(
        frame,
        title=title,
        percent=True,
        labels=[_label(str(c)) for c in frame.columns],
        size=(8.0, 4.2),
    )


def plot_volatility(vol: pd.DataFrame, *, column: str = "vol_all") -> Figure:
    """Annualized volatility of the country and style factors as bars."""
    sub = vol[vol["group"] != "industry"]
    s = pd.Series(sub[column].to_numpy(dtype=float), index=sub["name"])
    fig = plotting.bar_chart(s, title="Annualized factor volatility")
    return fig


def plot_fit_quality(q: pd.DataFrame) -> Figure:
    """Weighted R^2 (line) above the number of stocks (bars) per month."""
    fig, axes = plotting.new_figure(2, 1, size=(8.0, 4.6), sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    top.plot(q.index, q["r2"].to_numpy(dtype=float), color=plotting.PALETTE[0], linewidth=1.4)
    mean = float(q["r2"].mean())
    top.axhline(mean, color=plotting.NEUTRAL, linewidth=0.8, linestyle="--")
    plotting.percent_axis(top)
    top.set_title(f"Weighted R² per month (mean {mean:.1%})", fontsize=10, loc="left")
    bottom.bar(q.index, q["n_stocks"].to_numpy(dtype=float), width=20, color=plotting.PALETTE[5])
    bottom.set_ylabel("stocks", fontsize=8)
    fig.autofmt_xdate()
    return fig


def plot_exposure_distribution(rep: RiskModelReport) -> Figure:
    """Box plots of each style's exposures at the report's month-end (whiskers 5-95 %)."""
    xs = rep.exposures.cross_section(rep.month_end)
    fig, axes = plotting.new_figure(size=(8.0, 4.2))
    ax = axes[0, 0]
    data = [xs[c].dropna().to_numpy() for c in xs.columns]
    ax.boxplot(data, whis=(5, 95), showfliers=False, vert=True)
    ax.set_xticks(
        np.arange(1, len(xs.columns) + 1), [_label(c) for c in xs.columns], rotation=60, fontsize=7
    )
    ax.axhline(0, color="#555555", linewidth=0.6)
    ax.set_title(f"Style exposures as of {rep.month_end:%Y-%m-%d}", fontsize=10, loc="left")
    return fig


def plot_correlation(corr: pd.DataFrame, *, title: str) -> Figure:
    """A correlation matrix as a heat map with the values written in."""
    n = len(corr)
    fig, axes = plotting.new_figure(size=(7.5, 6.5))
    ax = axes[0, 0]
    ax.grid(False)
    im = ax.imshow(corr.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [_label(str(c)) for c in corr.columns]
    ax.set_xticks(np.arange(n), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(np.arange(n), labels, fontsize=7)
    vals = corr.to_numpy(dtype=float)
    for i in range(n):
        for j in range(n):
            if np.isfinite(vals[i, j]):
                ax.text(
                    j,
                    i,
                    f"{vals[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if abs(vals[i, j]) > 0.6 else "black",
                )
    fig.colorbar(im, ax=ax, shrink=0.7)
    ax.set_title(title, fontsize=10, loc="left")
    return fig


assert set(STYLE_LABELS) == set(STYLE_NAMES)
