"""The report contract: each report's as-of policy, parameters and headline metrics, as data.

Every report notebook ``notebooks/<name>.ipynb`` has an entry in :data:`SPECS`. The runner
reads it (this module imports no analytics: no torch, no report module) to resolve the as-of
date once with the report's policy; the notebook's one setup call (:func:`setup`) opens the
store, runs the report's ``prepare`` with every parameter, and builds the metrics recorder
(which carries the headline declaration into the metrics file) and the provenance block.
``prepare`` does not move a date: it refuses one that does not satisfy the policy
(:func:`check_as_of`).

Examples
--------
>>> SPECS["etf_weekly"].as_of_policy
'week_end'
>>> list(SPECS["risk_model"].headline)[0]
'fit.r2_month'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import pandas as pd

from quantbook.data.calendar import DateLike
from quantbook.data.store import Store, open_store
from quantbook.errors import QuantbookError, UnknownNameError
from quantbook.provenance import Provenance, collect
from quantbook.reports import Metrics
from quantbook.tables import Headline

__all__ = [
    "POLICY_WORDS",
    "SPECS",
    "AsOfPolicy",
    "AsOfPolicyError",
    "PreparedReport",
    "ReportContext",
    "ReportSpec",
    "UnknownReportError",
    "check_as_of",
    "policy_date",
    "report_spec",
    "setup",
]

#: Which days a report may be run for: any session, the last session of a month, of a week.
AsOfPolicy = Literal["session", "month_end", "week_end"]

#: How each policy is named on a page ("moved to the report's month-end").
POLICY_WORDS: dict[str, str] = {
    "session": "trading day",
    "month_end": "month-end",
    "week_end": "week-end",
}

#: Parameters every report notebook has besides those of its spec.
COMMON_PARAMETERS = ("as_of", "data", "requested_as_of", "metrics_path")

PCT = ".2%"


class AsOfPolicyError(QuantbookError, ValueError):
    """An as-of date that the report's policy does not allow (or outside the store's span)."""


class UnknownReportError(UnknownNameError):
    """A report name with no entry in :data:`SPECS`."""


@dataclass(frozen=True)
class ReportSpec:
    """One report's contract.

    Attributes
    ----------
    name
        The report (its notebook ``notebooks/<name>.ipynb``, its module
        ``quantbook.reports.<name>``, its parameters ``params/<name>.yml``).
    as_of_policy
        ``session``: any trading day; ``month_end``: the last session of a month;
        ``week_end``: the last session of an ISO week (:func:`policy_date`).
    parameters
        The report's own parameters, passed to its ``prepare`` by keyword (besides ``as_of``;
        ``data`` opens the store, ``requested_as_of`` and ``metrics_path`` come from the runner).
    headline
        ``{metric key: Headline}`` of the metrics shown at the top of a run and charted across
        dates on the archive page.
    period
        The sentences of the page's "this period" box, in order. ``{key}`` is the headline
        metric ``key`` formatted with its :class:`Headline` format, ``{key:change}`` its change
        against the previous run ("up 0.40 pp from 2026-09-30", "first run"); a sentence that
        names a metric the run did not record is left out (``quantbook.pages``).
    """

    name: str
    as_of_policy: AsOfPolicy
    parameters: tuple[str, ...] = ()
    headline: Mapping[str, Headline] = field(default_factory=dict)
    period: tuple[str, ...] = ()

    @property
    def notebook_parameters(self) -> tuple[str, ...]:
        """Every name of the notebook's ``parameters`` cell."""
        return ("as_of", "data", *self.parameters, "requested_as_of", "metrics_path")


def _strategy_headline() -> dict[str, Headline]:
    """Excess since the start date of each ETF strategy (keys of ``quantbook.strategies``)."""
    titles = {
        "rotation": "Large-small cap rotation",
        "smartbeta": "SmartBeta enhanced",
        "industry": "Quantitative industry rotation",
        "balance": "Balance (timing + style + bonds)",
        "hotspot": "Hot-spot tracking",
        "bond": "Bond ETF duration",
    }
    return {
        f"strategy.{k}.excess_since_start": Headline(f"{t}: excess since start", PCT)
        for k, t in titles.items()
    }


def _strategy_period() -> tuple[str, ...]:
    """One sentence per ETF strategy: its excess return since the start date and its change."""
    names = {
        "rotation": "the large-small cap rotation",
        "smartbeta": "the SmartBeta enhanced strategy",
        "industry": "the industry rotation",
        "balance": "the balance strategy",
        "hotspot": "the hot-spot tracker",
        "bond": "the bond ETF duration strategy",
    }
    return tuple(
        f"Since the start date {t} has returned {{strategy.{k}.excess_since_start}} over its "
        f"benchmark ({{strategy.{k}.excess_since_start:change}})."
        for k, t in names.items()
    )


#: Every report's contract, by name.
SPECS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        ReportSpec(
            name="behavior_monthly",
            as_of_policy="month_end",
            parameters=("apm_index", "n_groups", "icir_window", "min_listed_days", "exclude_bse"),
            headline={
                "factor.composite.month_ls": Headline("Composite long-short, month", PCT),
                "factor.composite.rank_ic_mean": Headline("Composite rank IC, history", ".3f"),
                "factor.composite.ls_ir": Headline("Composite long-short IR, history", ".2f"),
                "factor.composite.win_rate_12m": Headline(
                    "Composite win rate, last 12 months", ".0%"
                ),
            },
            period=(
                "The composite's long-short return this month was "
                "{factor.composite.month_ls} ({factor.composite.month_ls:change}).",
                "Its 12-month win rate is {factor.composite.win_rate_12m} "
                "({factor.composite.win_rate_12m:change}).",
                "Over its history the composite's rank IC averages "
                "{factor.composite.rank_ic_mean} and its long-short IR is "
                "{factor.composite.ls_ir}.",
            ),
        ),
        ReportSpec(
            name="etf_weekly",
            as_of_policy="week_end",
            parameters=(
                "start_date",
                "equity_cost_bps",
                "bond_cost_bps",
                "money_cost_bps",
                "train_window",
                "min_train",
                "retrain_every",
            ),
            headline=_strategy_headline(),
            period=_strategy_period(),
        ),
        ReportSpec(
            name="gan_gru_monthly",
            as_of_policy="month_end",
            parameters=("preset", "start"),
            headline={
                "gan_gru.ic_mean": Headline("GAN_GRU IC mean (history)", ".4f"),
                "gan_gru.ic_latest": Headline("GAN_GRU IC, latest month", ".4f"),
                "gan_gru.ic_1y": Headline("GAN_GRU IC, 1-year mean", ".4f"),
                "gru.ic_mean": Headline("Plain GRU IC mean (history)", ".4f"),
            },
            period=(
                "The GAN_GRU factor's IC this month was {gan_gru.ic_latest} "
                "({gan_gru.ic_latest:change}).",
                "Over the last year its IC averages {gan_gru.ic_1y} ({gan_gru.ic_1y:change}).",
                "Over its history it averages {gan_gru.ic_mean}, against {gru.ic_mean} for the "
                "plain GRU.",
            ),
        ),
        ReportSpec(
            name="market_overview",
            as_of_policy="session",
            parameters=("universe",),
            headline={
                "index.000300.SH.ret_month": Headline("CSI 300 return, month", PCT),
                "breadth.share_up": Headline("Share of stocks up, month", PCT),
                "turnover.market_mean": Headline("Mean daily turnover", ".3%"),
                "limits.up.stock_days": Headline("Limit-up closes (stock-days)", ",d"),
            },
            period=(
                "The CSI 300 returned {index.000300.SH.ret_month} this month "
                "({index.000300.SH.ret_month:change}).",
                "{breadth.share_up} of stocks rose ({breadth.share_up:change}).",
                "Mean daily turnover was {turnover.market_mean} ({turnover.market_mean:change}).",
                "Stocks closed limit-up on {limits.up.stock_days} stock-days "
                "({limits.up.stock_days:change}).",
            ),
        ),
        ReportSpec(
            name="mhc_vs_mlp",
            as_of_policy="month_end",
            parameters=(
                "windows",
                "width",
                "depth",
                "streams",
                "max_epochs",
                "retrain_every",
                "processes",
            ),
            headline={
                "comparison.mhc.equal.rank_ic_mean": Headline(
                    "mHC-MLP rank IC (equal weights)", ".4f"
                ),
                "comparison.mlp.equal.rank_ic_mean": Headline("MLP rank IC (equal weights)", ".4f"),
                "comparison.mhc.equal.pure_cum_return": Headline(
                    "mHC-MLP cumulative pure return (equal weights)", PCT
                ),
                "comparison.mlp.equal.pure_cum_return": Headline(
                    "MLP cumulative pure return (equal weights)", PCT
                ),
            },
            period=(
                "With equal weights the mHC-MLP's rank IC averages "
                "{comparison.mhc.equal.rank_ic_mean} ({comparison.mhc.equal.rank_ic_mean:change}), "
                "against {comparison.mlp.equal.rank_ic_mean} for the MLP "
                "({comparison.mlp.equal.rank_ic_mean:change}).",
                "Their cumulative pure returns are {comparison.mhc.equal.pure_cum_return} and "
                "{comparison.mlp.equal.pure_cum_return}.",
            ),
        ),
        ReportSpec(
            name="risk_model",
            as_of_policy="session",
            parameters=("start", "min_listed_days", "exclude_st"),
            headline={
                "fit.r2_month": Headline("Weighted R², month", ".1%"),
                "factor_return.country": Headline("Country factor return, month", PCT),
                "factor_return.size": Headline("Size factor return, month", PCT),
                "factor_return.book_to_price": Headline("Book-to-price factor return, month", PCT),
                "factor_return.momentum": Headline("Momentum factor return, month", PCT),
            },
            period=(
                "The risk model explained {fit.r2_month} of the month's cross-section of returns "
                "({fit.r2_month:change}).",
                "The country factor returned {factor_return.country} "
                "({factor_return.country:change}).",
                "Size returned {factor_return.size} ({factor_return.size:change}), "
                "book-to-price {factor_return.book_to_price} and momentum "
                "{factor_return.momentum}.",
            ),
        ),
    )
}


def report_spec(report: str) -> ReportSpec:
    """The contract of ``report``.

    Raises
    ------
    UnknownReportError
        ``report`` has no entry in :data:`SPECS`.
    """
    try:
        return SPECS[report]
    except KeyError:
        raise UnknownReportError(
            f"report {report!r} declares no contract in quantbook.reports.contract.SPECS "
            f"(known: {', '.join(SPECS)})"
        ) from None


# -- the as-of date ---------------------------------------------------------------------------
def policy_date(store: Store, day: DateLike, policy: AsOfPolicy) -> pd.Timestamp:
    """The last day at or before ``day`` that ``policy`` allows on ``store``'s calendar.

    Notes
    -----
    ``session``: the last trading day <= ``day``; ``month_end``: the last session of a
    complete month <= ``day``; ``week_end``: likewise for ISO weeks
    (:meth:`quantbook.data.calendar.TradingCalendar.period_ends`).

    Raises
    ------
    AsOfPolicyError
        No such day in the store's calendar.
    """
    ts = pd.Timestamp(day).normalize()
    cal = store.calendar()
    if policy == "session":
        found = cal.range(end=ts)
    else:
        found = cal.period_ends("M" if policy == "month_end" else "W", end=ts)
    if not len(found):
        raise AsOfPolicyError(
            f"store {store.name!r} has no {POLICY_WORDS[policy]} on or before {ts:%Y-%m-%d}"
        )
    return pd.Timestamp(found[-1])


def check_as_of(store: Store, as_of: DateLike, *, report: str) -> pd.Timestamp:
    """``as_of`` as a timestamp, if ``report``'s policy allows it on ``store``; never moved.

    The runner is the only place that moves a date (``quantbook.runner.resolve_as_of``);
    a report's ``prepare`` calls this first and refuses any other date.

    Raises
    ------
    AsOfPolicyError
        ``as_of`` is outside the store's span or is not a day the policy allows.
    """
    policy = report_spec(report).as_of_policy
    day = pd.Timestamp(as_of).normalize()
    if day > store.end or day < store.start:
        raise AsOfPolicyError(
            f"as-of {day:%Y-%m-%d} is outside store {store.name!r} "
            f"({store.start:%Y-%m-%d} to {store.end:%Y-%m-%d})"
        )
    allowed = policy_date(store, day, policy)
    if allowed != day:
        raise AsOfPolicyError(
            f"as-of {day:%Y-%m-%d} is not a {POLICY_WORDS[policy]} of store {store.name!r}: report "
            f"{report!r} runs on {POLICY_WORDS[policy]}s (the runner would use {allowed:%Y-%m-%d})"
        )
    return day


# -- the notebook's setup call ----------------------------------------------------------------
class PreparedReport(Protocol):
    """What every report's prepared state (``<Name>Report``) provides for provenance."""

    @property
    def as_of(self) -> pd.Timestamp: ...

    @property
    def sample_start(self) -> pd.Timestamp: ...


R = TypeVar("R", bound=PreparedReport)


@dataclass(frozen=True)
class ReportContext(Generic[R]):
    """What a report notebook works with, from its one setup call.

    Attributes
    ----------
    spec
        The report's contract.
    report
        The prepared state returned by the report's ``prepare``.
    store, metrics, provenance
        The open store, the metrics recorder (carrying the headline declaration; the provenance
        entries recorded) and the provenance block (shown by the setup cell).
    as_of
        The as-of date the runner resolved.
    params
        Every parameter of the run (those of :attr:`ReportSpec.notebook_parameters`, less
        ``requested_as_of`` and ``metrics_path``).
    """

    spec: ReportSpec
    report: R
    store: Store
    metrics: Metrics
    provenance: Provenance
    as_of: pd.Timestamp
    params: dict[str, Any]


def _moved_note(spec: ReportSpec, as_of: pd.Timestamp, requested: str) -> str:
    """``"requested R, moved to the report's month-end"`` when the runner moved the date."""
    text = requested.strip()[:10]
    try:
        asked = pd.Timestamp(text)
    except ValueError:
        return ""
    if len(text) != 10 or asked == as_of:
        return ""
    return f"requested {asked:%Y-%m-%d}, moved to the report's {POLICY_WORDS[spec.as_of_policy]}"


def setup(
    report: str,
    namespace: Mapping[str, Any],
    *,
    prepare: Callable[..., R],
) -> ReportContext[R]:
    """Open the store, prepare the report and collect its provenance, from every parameter.

    Parameters
    ----------
    report
        The report's name (its entry in :data:`SPECS`).
    namespace
        Where the parameters are (the notebook's ``globals()``): every name of
        :attr:`ReportSpec.notebook_parameters`.
    prepare
        The report's ``prepare``: called as ``prepare(store, as_of=..., **parameters)``, an
        empty string parameter passed as None (the default).

    Notes
    -----
    The as-of date is used as the runner resolved it; ``prepare`` refuses a date the policy
    does not allow (:func:`check_as_of`). When the runner moved the requested date
    (``requested_as_of`` differs), the provenance block's as-of line says so.
    """
    spec = report_spec(report)
    missing = [p for p in spec.notebook_parameters if p not in namespace]
    if missing:
        raise UnknownReportError(
            f"report {report!r}: the notebook does not define parameter(s) {', '.join(missing)}"
        )
    params = {p: namespace[p] for p in spec.notebook_parameters if p not in COMMON_PARAMETERS[2:]}
    store = open_store(str(params["data"]))
    as_of = pd.Timestamp(params["as_of"]).normalize()
    kwargs = {p: (None if namespace[p] == "" else namespace[p]) for p in spec.parameters}
    state = prepare(store, as_of=as_of, **kwargs)
    metrics = Metrics(headline=spec.headline)
    prov = collect(
        store,
        as_of=state.as_of,
        report=report,
        params=params,
        sample_start=state.sample_start,
        as_of_note=_moved_note(spec, as_of, str(namespace["requested_as_of"])),
    )
    metrics.update(prov.to_metrics())
    return ReportContext(
        spec=spec,
        report=state,
        store=store,
        metrics=metrics,
        provenance=prov,
        as_of=as_of,
        params=params,
    )
