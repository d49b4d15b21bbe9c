"""Trading-behaviour factors, monthly (SPEC §2, after Kaiyuan Securities).

Sections (compute functions return frames or result objects; ``show_*`` wrap them for
display and ``plot_*`` draw them; nothing reads data after ``as_of``):

- :func:`prepare`: factor histories at every month-end up to ``as_of`` (cached under the
  store), the universe, tradability, forward returns, pools, the composite and every
  factor's evaluation;
- :func:`style_factor_returns`: the month's returns of the Barra styles (Size, BookToPrice,
  Growth, earnings expectation) from :mod:`quantbook.risk`;
- :func:`summary_table`, :func:`factor_table`: history-wide IC, rank IC, long-short IR and
  monthly win rate, the month's long-short return and the last 12 months' win rate;
- :func:`long_short_frame` / :func:`plot_long_short`: monthly long-short returns and the
  cumulative long-short net value; :func:`quintile_table` / :func:`plot_quintiles`;
- :func:`pool_table`: the composite in the CSI 800, CSI 1000 and CSI 2000 pools;
- :func:`narrative`: this month's result in words, generated from the numbers.

Conventions (see ``book/methods/behavior_factors.md``): a factor formed at month-end
:math:`t` earns the return from the close of :math:`t` to the close of the next month-end;
"the month's" long-short return is the one formed at the previous month-end and realized on
``as_of``. History-wide statistics use every formation month-end whose forward return is
known at ``as_of``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantbook import plotting
from quantbook.data.calendar import DateLike
from quantbook.data.panel import load_daily_panel
from quantbook.data.store import DataUnavailableError, Store
from quantbook.evaluation.factor import FactorEvaluation, evaluate_factor
from quantbook.evaluation.stats import net_value
from quantbook.evaluation.vocabulary import statistic_formats, statistic_labels
from quantbook.factors.behavior import (
    FACTOR_INFO,
    FACTORS,
    BehaviorParams,
    FactorHistory,
    factor_history,
)
from quantbook.factors.behavior_composite import CompositeResult, composite_factor
from quantbook.factors.behavior_data import MonthlyPanel, load_monthly_panel
from quantbook.preprocess import (
    DegenerateCrossSectionWarning,
    TooFewStocksWarning,
    winsorize_mad,
)
from quantbook.reports import Metrics
from quantbook.reports.contract import check_as_of
from quantbook.tables import Table, Text, table, unavailable_box

__all__ = [
    "COMPOSITE",
    "STYLES",
    "BehaviorMonthlyReport",
    "StyleReturns",
    "long_short_frame",
    "narrative",
    "plot_long_short",
    "plot_quintiles",
    "pool_table",
    "prepare",
    "quintile_table",
    "show_availability",
    "show_definition",
    "show_factor_table",
    "show_pool_composite",
    "show_quintiles",
    "show_style_returns",
    "show_summary",
    "show_unavailable",
    "unavailable_inputs",
    "blank_reasons",
    "show_weights",
    "style_factor_returns",
    "summary_table",
]

REPORT = "behavior_monthly"
COMPOSITE = "composite"
PCT = ".2%"

#: The Barra styles shown: ``{risk model factor name: label}``.
STYLES: dict[str, str] = {
    "size": "Size",
    "book_to_price": "BookToPrice",
    "growth": "Growth",
    "earnings_yield": "Earnings expectation (EarningsYield)",
}

COMPOSITE_DEFINITION = (
    "Each available factor is winsorized (median +- 5 MAD) and z-scored within each SW "
    "level-1 industry at each month-end. Weights are each factor's signed ICIR (mean / std "
    "of its rank IC, not annualized) over the 12 months before the month-end: the rank IC "
    "formed at t-1 needs the return to t, so every weight is known at t. The composite is "
    "the weighted sum (a missing component counts as the industry mean, 0), neutralized by "
    "OLS on industry dummies and ln float cap, and z-scored."
)


# -- evaluation ------------------------------------------------------------------------------------
def _evaluate(
    values: pd.DataFrame,
    forward: pd.DataFrame,
    sample: pd.DataFrame,
    *,
    direction: int,
    n_groups: int = 5,
    winsorize: bool = True,
) -> FactorEvaluation:
    """:func:`~quantbook.evaluation.evaluate_factor` of ``values`` on the evaluation ``sample``.

    ``sample`` is the bool mask of the stocks evaluated at each date (universe and tradable,
    and a pool); with ``winsorize`` each cross-section of the sample is first clipped to
    median +- 5 MAD (for the Pearson IC; rank IC and groups are unaffected). The long-short
    portfolio is long the top group for ``direction`` +1, the bottom group for -1.
    """
    v = values.reindex(index=sample.index, columns=sample.columns).where(sample.astype(bool))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewStocksWarning)
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        if winsorize:
            v = winsorize_mad(v, k=5.0)
        return evaluate_factor(
            v,
            forward,
            quantiles=n_groups,
            tradable=sample,
            direction=1 if direction > 0 else -1,
        )


@dataclass(frozen=True)
class BehaviorMonthlyReport:
    """Everything the report shows for one as-of date.

    Attributes
    ----------
    store, as_of
        The store and the as-of month-end.
    dates
        Month-ends up to ``as_of`` (formation dates).
    params
        The factor parameters.
    history
        Raw factor values (:class:`~quantbook.factors.behavior.FactorHistory`).
    panel
        Universe, tradability, forward returns, industry, float cap, pools.
    composite
        The composite (None when no factor is available).
    evaluations
        ``{factor or "composite": FactorEvaluation}``, None where unavailable
        (:meth:`unavailable_reason` says why).
    n_groups, icir_window
        Settings.
    composite_missing
        Why the composite cannot be formed although factors are available ("" when it can).
    """

    store: Store
    as_of: pd.Timestamp
    dates: pd.DatetimeIndex
    params: BehaviorParams
    history: FactorHistory
    panel: MonthlyPanel
    composite: CompositeResult | None
    evaluations: dict[str, FactorEvaluation | None]
    n_groups: int
    icir_window: int
    composite_missing: str = ""

    @property
    def names(self) -> list[str]:
        """Factors and the composite, in report order."""
        return [*FACTORS, COMPOSITE]

    @property
    def sample_start(self) -> pd.Timestamp:
        """First day of data read (the start of the first factor window)."""
        sessions = self.store.calendar().sessions
        i = int(sessions.searchsorted(self.dates[0], side="left"))
        back = max(self.params.window, self.params.minute_days)
        return pd.Timestamp(sessions[max(i - back, 0)])

    @property
    def prev_month_end(self) -> pd.Timestamp | None:
        """Formation date of this month's result (the month-end before ``as_of``)."""
        return self.dates[-2] if len(self.dates) > 1 else None

    def label(self, name: str) -> str:
        return "Composite" if name == COMPOSITE else FACTOR_INFO[name].label

    def unavailable_reason(self, name: str) -> str:
        """Why a factor (or the composite) has no evaluation ("" when it has one)."""
        if self.evaluations.get(name) is not None:
            return ""
        if name == COMPOSITE:
            return self.composite_missing or "no behaviour factor is available in this store"
        return self.history.status[name].reason

    def sample_span(self, name: str) -> str:
        """``first to last formation month-end (n months)`` of a factor's statistics."""
        ev = self.evaluations.get(name)
        if ev is None or ev.long_short.empty:
            return "none yet"
        s = ev.statistics()
        n = s["ls_n_periods"]
        return (
            f"{s['ls_start']:%Y-%m-%d} to {s['ls_end']:%Y-%m-%d} ({n} month{'s' if n != 1 else ''})"
        )

    def sample_note(self, name: str = COMPOSITE) -> str:
        """Sample period and number of months of a factor's statistics, as a sentence."""
        return (
            f"Sample: formation month-ends {self.sample_span(name)}, returns to "
            f"{self.as_of:%Y-%m-%d}."
        )

    def samples_note(self) -> str:
        """The sample of every available factor and the composite, as a sentence."""
        spans = "; ".join(
            f"{self.label(n)} {self.sample_span(n)}"
            for n in self.names
            if self.evaluations[n] is not None
        )
        return f"Samples (formation month-ends, returns to {self.as_of:%Y-%m-%d}): {spans}."


def _last_bar_date(store: Store) -> pd.Timestamp | None:
    """The last day with daily bars (None without any)."""
    panel = load_daily_panel(store, fields=["close"])
    rows = np.flatnonzero(panel.present.any(axis=1))
    return None if not len(rows) else pd.Timestamp(panel.dates[rows[-1]])


def blank_reasons(frame: pd.DataFrame, last_bar: pd.Timestamp | None) -> str:
    """A footnote giving the reason of every blank (NaN) cell of a ``month x column`` frame.

    A month after the store's last daily bar has no return to estimate; any other blank
    month had no cross-section the estimate could use. "" when nothing is blank.
    """
    parts = []
    for col in frame.columns:
        blank = frame.index[frame[col].isna().to_numpy()]
        if not len(blank):
            continue
        after = [d for d in blank if last_bar is not None and d > last_bar]
        other = [d for d in blank if d not in after]
        if after:
            parts.append(
                f"{col} {after[0]:%Y-%m}"
                + (f" to {after[-1]:%Y-%m}" if len(after) > 1 else "")
                + f": no daily bars after {last_bar:%Y-%m-%d} in this store"
            )
        if other:
            parts.append(
                f"{col} {', '.join(f'{d:%Y-%m}' for d in other)}: no stock with both the "
                "style and the month's return"
            )
    return f"– {'; '.join(parts)}." if parts else ""


def _first_bar_date(store: Store) -> pd.Timestamp:
    """The first day with daily bars (the store's span may start earlier)."""
    panel = load_daily_panel(store, fields=["close"])
    rows = np.flatnonzero(panel.present.any(axis=1))
    return store.start if not len(rows) else max(panel.dates[rows[0]], store.start)


def prepare(
    store: Store,
    *,
    as_of: DateLike,
    apm_index: str = "000300.SH",
    n_groups: int = 5,
    icir_window: int = 12,
    min_listed_days: int = 60,
    exclude_bse: bool = True,
    cache: bool = True,
    progress: bool = False,
) -> BehaviorMonthlyReport:
    """Compute everything the report shows for ``as_of`` from data up to that day.

    Parameters
    ----------
    store
        An open store.
    as_of
        A month-end (the last trading day of a month); another day raises
        :class:`~quantbook.reports.contract.AsOfPolicyError` (the runner resolves dates).
    apm_index
        APM's index (``000300.SH``, or ``"market"``).
    n_groups
        Quantile groups (5).
    icir_window
        Months of rank IC behind the composite's weights (12).
    min_listed_days
        Universe: sessions since listing (60).
    exclude_bse
        Universe: leave out the Beijing exchange.
    cache
        Use the factor cache under the store (only new month-ends are computed).
    progress
        Progress bar while computing factors.

    Returns
    -------
    BehaviorMonthlyReport
    """
    day = check_as_of(store, as_of, report=REPORT)
    cal = store.calendar()
    # formation dates from the first daily bar on: an imported store's span can start years
    # earlier (its index files), and month-ends without bars carry no values, only cost
    dates = cal.month_ends(start=_first_bar_date(store), end=day)
    if not len(dates) or dates[-1] != day:
        dates = pd.DatetimeIndex([*dates, day], name="date")
    params = BehaviorParams(apm_index=apm_index)
    hist = factor_history(store, dates, params=params, cache=cache, progress=progress)
    mp = load_monthly_panel(store, dates, min_listed_days=min_listed_days, exclude_bse=exclude_bse)
    sample = mp.sample
    evaluations: dict[str, FactorEvaluation | None] = {}
    for n in FACTORS:
        if not hist.status[n].available:
            evaluations[n] = None
            continue
        evaluations[n] = _evaluate(
            hist.values[n],
            mp.forward,
            sample,
            direction=FACTOR_INFO[n].direction,
            n_groups=n_groups,
        )
    comp: CompositeResult | None = None
    composite_missing = _composite_missing(store, mp)
    if hist.available and not composite_missing:
        comp = composite_factor(
            {n: hist.values[n] for n in hist.available},
            forward_returns=mp.forward,
            industry=mp.industry,
            float_cap=mp.float_cap,
            universe=mp.universe,
            tradable=sample,
            window=icir_window,
        )
        evaluations[COMPOSITE] = _evaluate(
            comp.values, mp.forward, sample, direction=1, n_groups=n_groups, winsorize=False
        )
    else:
        evaluations[COMPOSITE] = None
    return BehaviorMonthlyReport(
        store=store,
        as_of=day,
        dates=pd.DatetimeIndex(dates, name="date"),
        params=params,
        history=hist,
        panel=mp,
        composite=comp,
        evaluations=evaluations,
        n_groups=n_groups,
        icir_window=icir_window,
        composite_missing=composite_missing,
    )


def _composite_missing(store: Store, mp: MonthlyPanel) -> str:
    """Why the composite cannot be formed from ``mp`` ("" when it can).

    The composite standardizes each factor within SW level-1 industries and neutralizes
    against industry dummies, so it needs an industry for at least some stocks.
    """
    if mp.industry.notna().to_numpy().any():
        return ""
    if not store.has("industry"):
        why = store.unavailable().get("industry", "the store has no industry table")
        return (
            f"no SW industry assignments in this store ({why}); the composite is standardized "
            "within industries"
        )
    return (
        "no stock has an SW industry assignment at any month-end; the composite is "
        "standardized within industries"
    )


# -- tables ----------------------------------------------------------------------------------------
_SUMMARY_COLS = [
    "ic_mean",
    "rank_ic_mean",
    "ic_t",
    "ls_ir",
    "win_rate",
    "ls_annual",
    "month_ls",
    "win_rate_12m",
    "ls_n_periods",
]
_SUMMARY_FORMATS = statistic_formats(_SUMMARY_COLS)
_SUMMARY_LABELS = statistic_labels(_SUMMARY_COLS)


def _record(metrics: Metrics | None, name: str, stats: pd.Series, available: bool) -> None:
    if metrics is None:
        return
    metrics.record(f"factor.{name}.available", available)
    if not available:
        return
    metrics.update(
        {k: stats[k] for k in [*_SUMMARY_COLS, "ls_start", "ls_end"]},
        prefix=f"factor.{name}",
    )


def summary_table(rep: BehaviorMonthlyReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """History-wide statistics of every factor and the composite, and this month's result.

    Columns: IC and rank IC (means over the months), IC t-statistic, long-short IR
    (annualized mean / annualized std of the monthly long-short return), monthly win rate,
    annualized long-short return (compounded), this month's long-short return, the last 12
    months' win rate, and the number of months. Unavailable factors are NaN.

    Records ``factor.<name>.*`` into ``metrics``.
    """
    rows = {}
    for n in rep.names:
        ev = rep.evaluations[n]
        st = (
            ev.statistics()
            if ev is not None
            else pd.Series(dict.fromkeys(_SUMMARY_COLS, math.nan), dtype=object)
        )
        _record(metrics, n, st, ev is not None)
        rows[rep.label(n)] = {k: st[k] for k in _SUMMARY_COLS}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out[_SUMMARY_COLS[:-1]] = out[_SUMMARY_COLS[:-1]].astype(float)
    out["ls_n_periods"] = out["ls_n_periods"].fillna(0).astype("int64")
    out.index.name = "factor"
    return out


def factor_table(rep: BehaviorMonthlyReport, name: str) -> pd.DataFrame:
    """One factor's row of :func:`summary_table` (empty when unavailable)."""
    ev = rep.evaluations[name]
    if ev is None:
        return pd.DataFrame(columns=_SUMMARY_COLS)
    st = ev.statistics()
    out = pd.DataFrame(
        {k: [st[k]] for k in _SUMMARY_COLS}, index=pd.Index([rep.label(name)], name="factor")
    )
    out[_SUMMARY_COLS[:-1]] = out[_SUMMARY_COLS[:-1]].astype(float)
    out["ls_n_periods"] = out["ls_n_periods"].astype("int64")
    return out


def long_short_frame(rep: BehaviorMonthlyReport, name: str) -> pd.DataFrame:
    """Monthly long-short returns and cumulative net value, by the month they are realized.

    Returns
    -------
    DataFrame
        Index: realization month-end (the formation date's next month-end); columns
        ``formed`` (formation month-end), ``long_short``, ``net_value`` (compounded from 1),
        ``long``, ``short`` (the two legs' returns).
    """
    ev = rep.evaluations[name]
    if ev is None:
        return pd.DataFrame(columns=["formed", "long_short", "net_value", "long", "short"])
    ls = ev.long_short
    nxt = pd.Series(rep.dates[1:], index=rep.dates[:-1])
    g = ev.groups.returns
    long_col, short_col = (g.columns.max(), g.columns.min())
    if ev.direction < 0:
        long_col, short_col = short_col, long_col
    out = pd.DataFrame(
        {
            "formed": ls.index,
            "long_short": ls.to_numpy(),
            "net_value": net_value(ls).to_numpy(),
            "long": g.loc[ls.index, long_col].to_numpy(),
            "short": g.loc[ls.index, short_col].to_numpy(),
        },
        index=pd.DatetimeIndex(nxt.reindex(ls.index).to_numpy(), name="month"),
    )
    return out


#: The columns of :func:`quintile_table` (vocabulary keys).
_QUINTILE_COLS = ["mean_return", "annual_return", "latest_return", "mean_stocks"]


def quintile_table(rep: BehaviorMonthlyReport, name: str) -> pd.DataFrame:
    """Per quantile group: mean monthly return, annualized return, this month's return, stocks.

    The rows of :meth:`FactorEvaluation.quantile_table` (``Q1`` holds the lowest factor
    values); columns: vocabulary keys ``mean_return``, ``annual_return`` (compounded),
    ``latest_return`` (the group's return formed at the previous month-end) and
    ``mean_stocks``. Returns an empty frame when unavailable.
    """
    ev = rep.evaluations[name]
    if ev is None:
        return pd.DataFrame(columns=_QUINTILE_COLS)
    q = ev.quantile_table().drop(index="long-short")[_QUINTILE_COLS]
    q.index = pd.Index([f"Q{int(g)}" for g in q.index], name="group")
    return q


def pool_table(rep: BehaviorMonthlyReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """The composite evaluated within each pool (and the whole universe).

    Columns: IC, rank IC, long-short IR, annualized long-short return (compounded), Sharpe
    (annualized return / annualized volatility), monthly win rate, months. Groups are formed
    within the pool. Records ``pool.<name>.*``.
    """
    cols = [
        "ic_mean",
        "rank_ic_mean",
        "ls_ir",
        "ls_annual",
        "ls_sharpe",
        "win_rate",
        "ls_n_periods",
    ]
    if rep.composite is None:
        return pd.DataFrame(columns=cols)
    rows = {}
    pools = {"All (universe)": None, **rep.panel.pools}
    for pname, mask in pools.items():
        sample = rep.panel.sample if mask is None else rep.panel.sample & mask
        ev = _evaluate(
            rep.composite.values,
            rep.panel.forward,
            sample,
            direction=1,
            n_groups=rep.n_groups,
            winsorize=False,
        )
        st = ev.statistics()
        rows[pname] = {k: st[k] for k in cols}
        if metrics is not None:
            key = "all" if mask is None else pname.lower().replace(" ", "")
            metrics.update(rows[pname], prefix=f"pool.{key}")
    out = pd.DataFrame.from_dict(rows, orient="index")
    out[cols[:-1]] = out[cols[:-1]].astype(float)
    out["ls_n_periods"] = out["ls_n_periods"].astype("int64")
    out.index.name = "pool"
    return out


def composite_weights(rep: BehaviorMonthlyReport, *, months: int = 12) -> pd.DataFrame:
    """The composite's ICIR weights at the last ``months`` month-ends (``date x factor``)."""
    if rep.composite is None:
        return pd.DataFrame()
    w = rep.composite.weights.dropna(how="all").iloc[-months:]
    return w.rename(columns={n: FACTOR_INFO[n].label for n in w.columns})


# -- Barra styles ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StyleReturns:
    """The month's Barra style factor returns, or why they are not available.

    Attributes
    ----------
    available
        Whether the risk model ran.
    message
        What is shown instead (unavailable) or a note (e.g. the earnings-expectation proxy).
    history
        ``month x style`` returns of the last months (columns labelled).
    """

    available: bool
    message: str
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def month(self) -> pd.Series:
        """The as-of month's returns (empty when unavailable)."""
        return self.history.iloc[-1] if len(self.history) else pd.Series(dtype=float)


def style_factor_returns(
    store: Store, *, as_of: DateLike, months: int = 12, metrics: Metrics | None = None
) -> StyleReturns:
    """Monthly returns of Size, BookToPrice, Growth and earnings expectation to ``as_of``.

    Calls ``quantbook.risk.fit_cached(store, end=as_of, config=RiskFitConfig(freq="M",
    start=...))`` (the fit other reports share) and reads its
    ``factor_returns`` (``date x factor``). Without analyst forecasts, the earnings-expectation
    factor is the EarningsYield style (SPEC §1). When the risk model is not part of this
    build, or the store lacks what it needs, the result says so (``available=False``).
    """
    day = pd.Timestamp(as_of)
    try:
        from quantbook import risk  # type: ignore[attr-defined,unused-ignore]
    except ImportError as e:
        return StyleReturns(
            False,
            "The Barra risk model (quantbook.risk) is not available in this build, so the "
            f"month's style factor returns cannot be shown ({e}).",
        )
    ends = store.calendar().month_ends(end=day)
    start = ends[-(months + 1)] if len(ends) > months else store.start
    last_bar = _last_bar_date(store)
    if last_bar is None or last_bar < start:
        return StyleReturns(
            False,
            f"No daily bars in store {store.name!r} from {start:%Y-%m-%d} to {day:%Y-%m-%d}"
            + (f" (its bars end on {last_bar:%Y-%m-%d})" if last_bar is not None else "")
            + ", so the risk model has no month to estimate.",
        )
    try:
        res = risk.fit_cached(
            store, end=day, config=risk.RiskFitConfig(freq="M", start=start), progress=False
        )
    except DataUnavailableError as e:
        return StyleReturns(False, f"The risk model cannot run on store {store.name!r}: {e}")
    fr = pd.DataFrame(res.factor_returns)
    fr.index = pd.DatetimeIndex(fr.index)
    fr = fr[fr.index <= day]
    present = [s for s in STYLES if s in fr.columns]
    # a style the store cannot provide (e.g. no fundamentals) is named with the reason
    why = res.exposures.unavailable
    missing = [
        f"{STYLES[s]} ({why[s]})" if s in why else STYLES[s] for s in STYLES if s not in present
    ]
    hist = fr[present].iloc[-months:].rename(columns=STYLES)
    hist.index.name = "month"
    note = (
        "Pure factor returns of the Barra-style risk model (WLS, sqrt float cap weights), "
        "by month. Earnings expectation: no analyst forecasts in this store, so the "
        "EarningsYield style stands in (SPEC §1)."
    )
    if missing:
        note += f" Not in the risk model: {'; '.join(missing)}."
    # no row for the month, or a row without values (no stock with a return, e.g. the bars
    # end before as_of)
    if not len(hist) or hist.index[-1] != day or not hist.iloc[-1].notna().any():
        note += f" No factor return for the month ending {day:%Y-%m-%d}."
    blanks = blank_reasons(hist, last_bar)
    if blanks:
        note += f" {blanks}"
    if metrics is not None and len(hist):
        last = hist.iloc[-1]
        for s in present:
            metrics.record(f"styles.{s}.month", last[STYLES[s]])
    return StyleReturns(True, note, hist)


# -- narrative -------------------------------------------------------------------------------------
def _day(d: pd.Timestamp | None) -> str:
    return "n/a" if d is None else f"{d:%Y-%m-%d}"


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.2%}"


def narrative(rep: BehaviorMonthlyReport) -> Text:
    """This month's result in a few sentences, generated from the numbers."""
    comp = rep.evaluations[COMPOSITE]
    prev = rep.prev_month_end
    parts = []
    month = f"{rep.as_of:%B %Y}"
    if comp is not None and not comp.long_short.empty and prev is not None:
        st = comp.statistics()
        ls = comp.long_short
        formed = ls.index[-1]
        if formed == prev:
            won = int((ls.iloc[-12:] > 0).sum())
            n12 = min(12, len(ls))
            ric = float(comp.rank_ic.get(formed, np.nan))
            verdict = "gained" if st["month_ls"] > 0 else "lost"
            parts.append(
                f"In {month} the composite behaviour factor's long-short portfolio (top minus "
                f"bottom quintile, formed on {formed:%Y-%m-%d}) {verdict} {abs(st['month_ls']):.2%}, "
                f"with a rank IC of {ric:+.3f}; it has won {won} of the last {n12} months."
            )
        else:
            parts.append(
                f"The composite has no long-short return for {month} (its latest formation "
                f"date with a return is {formed:%Y-%m-%d})."
            )
        parts.append(
            f"Over the whole history ({st['ls_n_periods']} months from {st['ls_start']:%Y-%m}) "
            f"its rank IC averages {st['rank_ic_mean']:+.3f}, its long-short IR is "
            f"{st['ls_ir']:.2f} and it wins {st['win_rate']:.0%} of months."
        )
    elif comp is not None:
        parts.append(
            f"The composite has no long-short return yet at {rep.as_of:%Y-%m-%d}: its weights "
            f"need {rep.icir_window} months of rank ICs of a factor "
            f"({_ic_months(rep)} so far)."
        )
    else:
        parts.append(f"No composite this month: {rep.unavailable_reason(COMPOSITE)}.")
    month_ls = {
        rep.label(n): float(ev.long_short.iloc[-1])
        for n in FACTORS
        if (ev := rep.evaluations[n]) is not None
        and not ev.long_short.empty
        and ev.long_short.index[-1] == prev
    }
    if month_ls:
        best = max(month_ls, key=lambda k: month_ls[k])
        worst = min(month_ls, key=lambda k: month_ls[k])
        pos = sum(v > 0 for v in month_ls.values())
        parts.append(
            f"{pos} of {len(month_ls)} single factors had a positive long-short month; "
            f"{best} did best ({_pct(month_ls[best])})"
            + (f" and {worst} worst ({_pct(month_ls[worst])})." if worst != best else ".")
        )
    missing = [rep.label(n) for n in FACTORS if rep.evaluations[n] is None]
    if missing and comp is not None:
        parts.append(
            f"Not available in this store: {', '.join(missing)}; the composite combines the rest."
        )
    return Text(" ".join(parts))


def _ic_months(rep: BehaviorMonthlyReport) -> int:
    """The most months of rank IC any available factor has (what the composite's weights use)."""
    counts = [
        int(ev.rank_ic.notna().sum()) for n in FACTORS if (ev := rep.evaluations[n]) is not None
    ]
    return max(counts, default=0)


def unavailable_inputs(rep: BehaviorMonthlyReport) -> dict[str, str]:
    """``{section label: reason}`` of every factor (and the composite) this store cannot feed."""
    out = {rep.label(n): rep.unavailable_reason(n) for n in FACTORS if rep.evaluations[n] is None}
    if rep.evaluations[COMPOSITE] is None and rep.history.available:
        out[rep.label(COMPOSITE)] = rep.unavailable_reason(COMPOSITE)
    return out


# -- presentation ----------------------------------------------------------------------------------
def show_unavailable(rep: BehaviorMonthlyReport) -> Text | None:
    """One box naming each factor this store cannot feed and why (None when all are fed).

    The sections of those factors are left out of the page (their ``show_*`` and ``plot_*``
    return None).
    """
    return unavailable_box(
        rep.store.name, unavailable_inputs(rep), left_out="Their sections are left out."
    )


def show_summary(frame: pd.DataFrame, rep: BehaviorMonthlyReport) -> Table:
    """The history-wide table of all factors and the composite."""
    return table(
        frame,
        title=f"Behaviour factors: history-wide statistics and {rep.as_of:%Y-%m}",
        formats=_SUMMARY_FORMATS,
        labels=_SUMMARY_LABELS,
        note=(
            f"{rep.samples_note()} IC / rank IC: mean monthly Pearson / Spearman correlation "
            "with the next month's return. L-S: equal-weighted top minus bottom quintile, long "
            "the expected side (ideal reversal, smart money, ideal amplitude: low values; APM, "
            "composite: high values). L-S IR = annualized mean / annualized std of monthly L-S "
            "returns (not an ICIR). Win rate: share of months with a positive L-S return. "
            f"L-S this month: formed {_day(rep.prev_month_end)}, returns to {_day(rep.as_of)}."
        ),
    )


def show_factor_table(rep: BehaviorMonthlyReport, name: str) -> Table | None:
    """One factor's statistics (None when unavailable: :func:`show_unavailable` says why)."""
    label = rep.label(name)
    if rep.evaluations[name] is None:
        return None
    return table(
        factor_table(rep, name),
        title=f"{label}: history-wide statistics and {rep.as_of:%Y-%m}",
        formats=_SUMMARY_FORMATS,
        labels=_SUMMARY_LABELS,
        note=rep.sample_note(name),
    )


def show_definition(rep: BehaviorMonthlyReport, name: str) -> Text | None:
    """The factor's definition and rules, led by its name (None when unavailable)."""
    if rep.evaluations[name] is None:
        return None
    if name == COMPOSITE:
        used = rep.history.available
        missing = rep.history.unavailable
        text = f"**Definition.** {COMPOSITE_DEFINITION}"
        text += (
            f" Factors combined here: {', '.join(FACTOR_INFO[n].label for n in used) or 'none'}."
        )
        if missing:
            text += (
                " Left out (unavailable): "
                + "; ".join(f"{FACTOR_INFO[n].label} ({r})" for n, r in missing.items())
                + "."
            )
        return Text(text)
    info = FACTOR_INFO[name]
    text = f"**{info.label}. Definition.** {info.definition}\n\n**Rules.** {info.rules}"
    if name == "apm":
        text += f" Index: `{rep.params.apm_index}`; its 11:30 level is the float-cap-weighted member aggregate of the 11:30 prices relative to the previous close."
    side = "low" if info.direction < 0 else "high"
    text += f" The long-short portfolio is long the {side}-value quintile."
    return Text(text)


def show_availability(rep: BehaviorMonthlyReport) -> Table:
    """Which factors the store provides, and how many month-ends were computed or cached."""
    rows = {}
    for n in FACTORS:
        st = rep.history.status[n]
        rows[FACTOR_INFO[n].label] = {
            "available": "yes" if st.available else "no",
            "reason": st.reason or "",
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "factor"
    return table(
        out,
        title="Inputs available in this store",
        labels={"available": "Available", "reason": "Reason"},
        note=rep.panel.rules,
    )


def show_quintiles(rep: BehaviorMonthlyReport, name: str) -> Table | None:
    """The quintile table (None when unavailable)."""
    label = rep.label(name)
    if rep.evaluations[name] is None:
        return None
    return table(
        quintile_table(rep, name),
        title=f"{label}: quintile returns (Q1 = lowest values)",
        formats=statistic_formats(_QUINTILE_COLS),
        labels=statistic_labels(_QUINTILE_COLS),
        note=rep.sample_note(name),
    )


def show_pool_composite(frame: pd.DataFrame, rep: BehaviorMonthlyReport) -> Table | None:
    """The composite by stock pool (None without a composite)."""
    if rep.composite is None:
        return None
    src = "; ".join(f"{k}: {v}" for k, v in rep.panel.pool_source.items())
    return table(
        frame,
        title="Composite by stock pool",
        formats=statistic_formats(frame.columns),
        labels=statistic_labels(frame.columns),
        note=(
            f"{rep.sample_note()} Quintiles formed within each pool at each month-end. "
            "Sharpe = compounded annualized L-S return / annualized volatility (risk-free 0); "
            f"L-S IR = annualized mean / annualized std. Pools: {src}."
        ),
    )


def show_weights(rep: BehaviorMonthlyReport, *, months: int = 12) -> Table | Text | None:
    """The composite's weights (None without a composite)."""
    if rep.composite is None:
        return None
    w = composite_weights(rep, months=months)
    if w.empty:
        return Text(
            f"The composite has no weights yet: they need {rep.icir_window} months of rank ICs "
            f"of a factor ({_ic_months(rep)} so far)."
        )
    return table(
        w,
        title="Composite weights: signed ICIR of the trailing 12 months' rank IC",
        default="+.2f",
        note="Weight at month-end t: mean / std of the rank ICs formed at t-12 .. t-1 (not annualized); 0 while a factor has too few ICs.",
    )


def show_style_returns(sr: StyleReturns) -> Table | Text:
    if not sr.available:
        return Text(f"**Style factor returns unavailable.** {sr.message}")
    return table(
        sr.history, title="Barra style factor returns by month", default=PCT, note=sr.message
    )


def plot_long_short(rep: BehaviorMonthlyReport, name: str) -> Figure | Text | None:
    """Monthly long-short returns (bars) and the cumulative net value (None when unavailable)."""
    label = rep.label(name)
    if rep.evaluations[name] is None:
        return None
    frame = long_short_frame(rep, name)
    if frame.empty:
        return Text(f"{label}: no long-short returns to chart.")
    fig, axes = plotting.new_figure(size=(8.0, 3.6))
    ax = axes[0, 0]
    x = np.arange(len(frame))
    v = frame["long_short"].to_numpy(dtype=float)
    ax.bar(x, v, color=[plotting.UP if a > 0 else plotting.DOWN for a in v], width=0.8)
    plotting.percent_axis(ax, decimals=0)
    ax.set_ylabel("monthly long-short", fontsize=8)
    ax.axhline(0, color="#555555", linewidth=0.6)
    ax2 = ax.twinx()
    ax2.plot(x, frame["net_value"].to_numpy(dtype=float), color=plotting.PALETTE[0], linewidth=1.5)
    ax2.set_ylabel("net value", fontsize=8)
    ax2.tick_params(labelsize=8)
    step = max(1, len(frame) // 12)
    ax.set_xticks(x[::step], [f"{d:%Y-%m}" for d in frame.index[::step]], rotation=90, fontsize=7)
    ax.set_title(
        f"{label}: monthly long-short return and cumulative net value", fontsize=10, loc="left"
    )
    return fig


def plot_quintiles(rep: BehaviorMonthlyReport, name: str) -> Figure | Text | None:
    """Annualized return of each quintile group (None when unavailable)."""
    label = rep.label(name)
    if rep.evaluations[name] is None:
        return None
    q = quintile_table(rep, name)
    if q.empty:
        return Text(f"{label}: no quintile returns to chart.")
    return plotting.bar_chart(
        q["annual_return"],
        title=f"{label}: annualized return by quintile (Q1 = lowest)",
        horizontal=False,
        size=(6.0, 3.0),
    )
