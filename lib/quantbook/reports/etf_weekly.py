"""ETF strategy indices, weekly: six strategies backtested to an as-of week-end.

Sections (each returns a frame or a figure; ``show_*`` wrap a frame for display; nothing here
reads data after ``as_of``, because :func:`prepare` loads the store only up to that day):

- :func:`summary`: per strategy, last week's return, the benchmark's and the excess; excess
  since the start date, over the past month and the past week; the annualized excess of
  the whole backtest and since the start date;
- :func:`backtest_stats`: full statistics of each backtest (net of costs);
- per strategy: :func:`nav`, :func:`plot_nav` (net value against the benchmark, relative
  value and drawdown), :func:`holdings` (ETF code, name, weight), :func:`changes` and
  :func:`change_signals` (what changed from last week and the signal values behind it),
  :func:`show_method` (the method in brief, the benchmark used, notes).

Definitions (see ``book/methods/etf_strategies.md``):

- a week is the span between two consecutive week-ends (last trading days of ISO weeks);
  returns are net of transaction costs, labelled by the week's end;
- period excess = compounded strategy return - compounded benchmark return over the weeks
  ending after the period's base date and up to ``as_of``; the base of "since the start
  date" is the last week-end before the start date (default: the first trading day of the
  previous year, so the period is the previous year and this one to date); the base of "past
  month" is the last week-end on or before ``as_of`` minus one calendar month; "past week" is
  the last week;
- annualized excess = :math:`\\left(\\prod(1 + r^p)/\\prod(1 + r^b)\\right)^{52/n} - 1`
  (the relative method of :func:`quantbook.evaluation.excess_return`).

Every section records its headline numbers into ``metrics`` (flat dotted keys) when given.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from quantbook import plotting
from quantbook.data.store import Store
from quantbook.evaluation import excess_return
from quantbook.reports import Metrics
from quantbook.reports.contract import check_as_of
from quantbook.strategies import (
    CASH,
    STRATEGIES,
    Costs,
    Inputs,
    StrategyResult,
    default_strategies,
    load_inputs,
    period_return,
    run_all,
)
from quantbook.strategies.market import EtfDataEndWarning, EtfSplitWarning
from quantbook.tables import Table, Text, table

__all__ = [
    "Stack",
    "EtfWeeklyReport",
    "backtest_stats",
    "change_signals",
    "changes",
    "holdings",
    "nav",
    "plot_nav",
    "prepare",
    "references",
    "show_backtest_stats",
    "show_change_signals",
    "show_changes",
    "show_holdings",
    "show_method",
    "show_references",
    "show_strategy_summary",
    "show_unavailable",
    "summary",
    "unavailable",
]

REPORT = "etf_weekly"
PCT = ".2%"


@dataclass(frozen=True)
class Stack:
    """Several outputs shown one after the other."""

    parts: list[Table | Text]

    def __repr__(self) -> str:
        return "\n\n".join(repr(p) for p in self.parts)

    def _repr_html_(self) -> str:
        out = []
        for p in self.parts:
            if isinstance(p, Text):
                out.append(f"<p><em>{html.escape(p.markdown)}</em></p>")
            else:
                out.append(p._repr_html_())
        return "\n".join(out)


@dataclass(frozen=True)
class EtfWeeklyReport:
    """The six strategies backtested to one as-of week-end.

    Attributes
    ----------
    store
        The store.
    as_of
        The as-of week-end (the last rebalance date).
    start_date
        First day of the "since the start date" period.
    inputs
        What the strategies read (up to ``as_of``).
    results
        ``{key: StrategyResult}`` in report order.
    costs
        Transaction costs used.
    """

    store: Store
    as_of: pd.Timestamp
    start_date: pd.Timestamp
    inputs: Inputs
    results: dict[str, StrategyResult]
    costs: Costs
    notes: list[str] = field(default_factory=list)

    @property
    def sample_start(self) -> pd.Timestamp:
        return pd.Timestamp(self.inputs.market.sessions[0])

    @property
    def week_ends(self) -> pd.DatetimeIndex:
        return self.inputs.market.rebalance_dates

    def base_before(self, day: pd.Timestamp) -> pd.Timestamp | None:
        """The last week-end strictly before ``day``."""
        w = self.week_ends[self.week_ends < day]
        return pd.Timestamp(w[-1]) if len(w) else None

    @property
    def start_base(self) -> pd.Timestamp | None:
        """Base week-end of the "since the start date" period."""
        return self.base_before(self.start_date)

    @property
    def month_base(self) -> pd.Timestamp | None:
        """Base week-end of the "past month" period."""
        w = self.week_ends[self.week_ends <= self.as_of - pd.DateOffset(months=1)]
        return pd.Timestamp(w[-1]) if len(w) else None

    def result(self, key: str) -> StrategyResult:
        if key not in self.results:
            raise KeyError(f"no strategy {key!r}; known: {', '.join(self.results)}")
        return self.results[key]

    def period_note(self) -> str:
        base = f"{self.start_base:%Y-%m-%d}" if self.start_base is not None else "n/a"
        month = f"{self.month_base:%Y-%m-%d}" if self.month_base is not None else "n/a"
        return (
            f"As of the week-end {self.as_of:%Y-%m-%d}. Start date {self.start_date:%Y-%m-%d} (base: "
            f"week-end {base}); past month from the week-end {month}. Returns net of one-way costs of "
            f"{self.costs.equity_bps:g} bp (equity ETFs), "
            + ", ".join(f"{v:g} bp ({k})" for k, v in self.costs.by_category.items())
            + "."
        )


# -- preparing --------------------------------------------------------------------------------
def _with_training(
    params: Mapping[str, Mapping[str, Any]] | None, **training: int | None
) -> dict[str, dict[str, Any]]:
    """Strategy overrides with the shared training knobs added to the trained strategies."""
    out = {k: dict(v) for k, v in (params or {}).items()}
    names = {"train_window": "window", "min_train": "min_train", "retrain_every": "retrain_every"}
    for key, cls in STRATEGIES.items():
        fields = getattr(cls, "__dataclass_fields__", {})
        for arg, value in training.items():
            if value is not None and names[arg] in fields:
                out.setdefault(key, {}).setdefault(names[arg], int(value))
    return out


def prepare(
    store: Store,
    *,
    as_of: str | pd.Timestamp,
    start_date: str | pd.Timestamp | None = None,
    strategies: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    equity_cost_bps: float = 5.0,
    bond_cost_bps: float = 1.0,
    money_cost_bps: float = 0.0,
    train_window: int | None = None,
    min_train: int | None = None,
    retrain_every: int | None = None,
    cache: bool = True,
) -> EtfWeeklyReport:
    """Load the data up to ``as_of`` and backtest the strategies.

    Parameters
    ----------
    store
        An open store.
    as_of
        A week-end (the last trading day of a week); another day raises
        :class:`~quantbook.reports.contract.AsOfPolicyError` (the runner resolves dates).
    start_date
        First day of the "since the start date" period (default: the first trading day of
        the year before ``as_of``'s).
    strategies
        Strategy keys to run (default: all six).
    params
        ``{strategy key: {parameter: value}}`` overrides of the strategies' defaults.
    equity_cost_bps, bond_cost_bps, money_cost_bps
        One-way transaction costs in basis points by ETF category.
    train_window, min_train, retrain_every
        Rolling training of the trained models (rotation, balance's style model, bond
        duration), in weeks; None keeps each strategy's default (156, 52, 4).
    cache
        Cache trained models under the store.
    """
    week_end = check_as_of(store, as_of, report=REPORT)
    chosen = default_strategies(
        _with_training(
            params, train_window=train_window, min_train=min_train, retrain_every=retrain_every
        ),
        keys=strategies,
    )
    need_styles = any(s.key == "smartbeta" for s in chosen)
    sb = next((s for s in chosen if s.key == "smartbeta"), None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EtfSplitWarning)
        warnings.simplefilter("always", EtfDataEndWarning)
        inputs = load_inputs(
            store,
            end=week_end,
            styles=need_styles,
            cache=cache,
            style_min_etfs=int(getattr(sb, "n_hold", 3)) + 1,
        )
    notes = [
        str(w.message) + "."
        for w in caught
        if issubclass(w.category, (EtfSplitWarning, EtfDataEndWarning))
    ]
    for w in caught:
        if not issubclass(w.category, (EtfSplitWarning, EtfDataEndWarning)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    as_of_ts = inputs.market.end
    if as_of_ts < week_end:
        notes.append(f"The ETF data end on {as_of_ts:%Y-%m-%d}; the report stops there.")
        ends = inputs.market.rebalance_dates
        as_of_ts = pd.Timestamp(ends[-1]) if len(ends) else as_of_ts
    if start_date is None:
        cal = store.calendar()
        prev_year = cal.range(pd.Timestamp(as_of_ts.year - 1, 1, 1), as_of_ts)
        start = pd.Timestamp(prev_year[0]) if len(prev_year) else store.start
    else:
        start = pd.Timestamp(start_date)
    costs = Costs(
        equity_bps=equity_cost_bps, by_category={"bond": bond_cost_bps, "money": money_cost_bps}
    )
    results = run_all(inputs, chosen, costs=costs)
    return EtfWeeklyReport(
        store=store,
        as_of=as_of_ts,
        start_date=start,
        inputs=inputs,
        results=results,
        costs=costs,
        notes=notes,
    )


# -- summary ----------------------------------------------------------------------------------
def _excess_between(
    res: StrategyResult, base: pd.Timestamp | None, end: pd.Timestamp
) -> tuple[float, float, float]:
    bt = res.backtest
    assert bt is not None and bt.benchmark is not None
    lo = base if base is not None and base >= bt.dates[0] else bt.dates[0]
    p = period_return(bt.net, start=lo, end=end)
    b = period_return(bt.benchmark, start=lo, end=end)
    return p, b, p - b


def _annualized_excess(res: StrategyResult, base: pd.Timestamp | None = None) -> float:
    bt = res.backtest
    assert bt is not None and bt.benchmark is not None
    r = bt.net if base is None else bt.net[bt.net.index > base]
    if len(r) < 2:
        return float("nan")
    return excess_return(r, bt.benchmark.reindex(r.index), periods_per_year=52)


def summary(book: EtfWeeklyReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """One row per strategy: last week, excess over several periods, annualized excess.

    Returns
    -------
    DataFrame
        Index: strategy title; columns ``benchmark, week, benchmark_week, excess_week,
        excess_since_start, excess_month, excess_past_week, ann_excess, ann_excess_since_start,
        from, status``.
    """
    rows = []
    for key, res in book.results.items():
        row: dict[str, object] = {"key": key, "benchmark": res.benchmark_name}
        if not res.ok:
            row["status"] = "cannot run"
            rows.append(row)
            if metrics is not None:
                metrics.record(f"strategy.{key}.status", "cannot run")
            continue
        bt = res.backtest
        assert bt is not None
        last = book.base_before(book.as_of)
        wk, bwk, xwk = _excess_between(res, last, book.as_of)
        _, _, xs = _excess_between(res, book.start_base, book.as_of)
        _, _, xm = _excess_between(res, book.month_base, book.as_of)
        row.update(
            {
                "week": wk,
                "benchmark_week": bwk,
                "excess_week": xwk,
                "excess_since_start": xs,
                "excess_month": xm,
                "excess_past_week": xwk,
                "ann_excess": _annualized_excess(res),
                "ann_excess_since_start": _annualized_excess(res, book.start_base),
                "from": bt.dates[0],
                "status": "ok",
            }
        )
        rows.append(row)
        if metrics is not None:
            metrics.update(
                {k: v for k, v in row.items() if k not in ("key", "benchmark", "from")}
                | {"from": f"{bt.dates[0]:%Y-%m-%d}", "benchmark_code": res.benchmark},
                prefix=f"strategy.{key}",
            )
    if metrics is not None:
        metrics.update(
            {
                "as_of": f"{book.as_of:%Y-%m-%d}",
                "start_date": f"{book.start_date:%Y-%m-%d}",
                "n_ok": sum(r.ok for r in book.results.values()),
                "n_unavailable": sum(not r.ok for r in book.results.values()),
            },
            prefix="report",
        )
    titles = [book.results[str(r["key"])].title for r in rows]
    cols = [
        "benchmark",
        "week",
        "benchmark_week",
        "excess_week",
        "excess_since_start",
        "excess_month",
        "excess_past_week",
        "ann_excess",
        "ann_excess_since_start",
        "from",
        "status",
    ]
    out = pd.DataFrame(rows, index=pd.Index(titles, name="strategy")).reindex(columns=cols)
    for c in cols[1:9]:
        out[c] = out[c].astype(float)
    return out


def show_strategy_summary(frame: pd.DataFrame, book: EtfWeeklyReport) -> Table:
    """The summary table with percentages."""
    start = f"{book.start_date:%Y-%m-%d}"
    labels = {
        "benchmark": "Benchmark",
        "week": "Last week",
        "benchmark_week": "Benchmark, last week",
        "excess_week": "Excess, last week",
        "excess_since_start": f"Excess since {start}",
        "excess_month": "Excess, past month",
        "excess_past_week": "Excess, past week",
        "ann_excess": "Annualized excess, whole backtest",
        "ann_excess_since_start": f"Annualized excess since {start}",
        "from": "Backtest from",
        "status": "Status",
    }
    fmts = dict.fromkeys(labels, PCT)
    fmts.update({"benchmark": "", "from": "", "status": ""})
    return table(
        frame,
        title=f"ETF strategy indices, week ending {book.as_of:%Y-%m-%d}",
        formats=fmts,
        labels=labels,
        transpose=True,
        note=book.period_note()
        + " Excess = strategy return - benchmark return over the period (compounded weekly returns).",
    )


def unavailable(book: EtfWeeklyReport) -> pd.DataFrame:
    """Strategies that could not run on this store, with each missing input and why."""
    rows = [
        {"strategy": res.title, "input": item, "reason": reason}
        for res in book.results.values()
        if not res.ok
        for item, reason in res.missing.items()
    ]
    return pd.DataFrame(rows, columns=["strategy", "input", "reason"])


def show_unavailable(frame: pd.DataFrame, book: EtfWeeklyReport) -> Table | Text:
    """Which strategies cannot run here and why (a sentence when all run)."""
    data_notes = "".join(f"\n- {n}" for n in book.notes)
    if frame.empty:
        return Text(
            f"All {len(book.results)} strategies run on store `{book.store.name}`."
            + (f"\n\nData notes:{data_notes}" if data_notes else "")
        )
    return table(
        frame.set_index("strategy"),
        title=f"Strategies that cannot run on store {book.store.name!r}",
        note="Their inputs are missing from this store; nothing is substituted for them."
        + (" Data notes: " + " ".join(book.notes) if book.notes else ""),
    )


def backtest_stats(book: EtfWeeklyReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Statistics of each backtest (weekly net returns, whole sample)."""
    rows = {}
    for key, res in book.results.items():
        if not res.ok:
            continue
        bt = res.backtest
        assert bt is not None
        s = bt.stats()
        row = {
            "annual_return": s.annual_return,
            "benchmark_return": s.benchmark_return,
            "excess_return": s.excess_return,
            "tracking_error": s.tracking_error,
            "information_ratio": s.information_ratio,
            "annual_volatility": s.annual_volatility,
            "sharpe": s.sharpe,
            "max_drawdown": s.max_drawdown.depth,
            "mean_turnover": s.mean_turnover,
            "cost_per_year": float(bt.costs.iloc[:-1].sum()) * 52 / max(len(bt.net), 1),
            "weeks": s.n_periods,
            "start": bt.dates[0],
            "end": bt.dates[-1],
        }
        rows[res.title] = row
        if metrics is not None:
            metrics.update(
                {k: v for k, v in row.items() if k not in ("start", "end")},
                prefix=f"backtest.{key}",
            )
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "strategy"
    if "weeks" in out:
        out["weeks"] = out["weeks"].astype("int64")
    return out


def show_backtest_stats(frame: pd.DataFrame, book: EtfWeeklyReport) -> Table:
    """The statistics table."""
    labels = {
        "annual_return": "Annualized return",
        "benchmark_return": "Benchmark annualized",
        "excess_return": "Annualized excess",
        "tracking_error": "Tracking error",
        "information_ratio": "Information ratio",
        "annual_volatility": "Volatility",
        "sharpe": "IR / Sharpe (rf 0)",
        "max_drawdown": "Max drawdown",
        "mean_turnover": "Turnover per week (one side)",
        "cost_per_year": "Costs per year",
        "weeks": "Weeks",
        "start": "First rebalance",
        "end": "Last rebalance",
    }
    fmts = {
        k: PCT
        for k in (
            "annual_return",
            "benchmark_return",
            "excess_return",
            "tracking_error",
            "annual_volatility",
            "max_drawdown",
            "mean_turnover",
            "cost_per_year",
        )
    }
    fmts.update({"information_ratio": ".2f", "sharpe": ".2f"})
    return table(
        frame,
        title="Backtests, whole sample",
        formats=fmts,
        labels=labels,
        transpose=True,
        note="Weekly net returns, annualized with 52 weeks; excess is relative (ratio of net values); "
        "information ratio = annualized excess / tracking error. " + book.period_note(),
    )


# -- one strategy -----------------------------------------------------------------------------
def nav(book: EtfWeeklyReport, key: str) -> pd.DataFrame:
    """Net value of the strategy and its benchmark (1 at the first rebalance), their ratio and
    the strategy's drawdown."""
    res = book.result(key)
    if not res.ok:
        return pd.DataFrame(columns=["strategy", "benchmark", "relative", "drawdown"])
    bt = res.backtest
    assert bt is not None
    out = bt.nav()
    out["relative"] = out["strategy"] / out["benchmark"]
    out["drawdown"] = out["strategy"] / out["strategy"].cummax() - 1.0
    return out


def plot_nav(book: EtfWeeklyReport, key: str) -> Figure | Text:
    """Net value against the benchmark (top), relative value (middle), drawdown (bottom)."""
    res = book.result(key)
    frame = nav(book, key)
    if frame.empty:
        return Text(f"*{res.title} cannot run on this store; no chart.*")
    fig, axes = plotting.new_figure(3, 1, size=(8.0, 5.6), sharex=True)
    top, mid, bot = axes[0, 0], axes[1, 0], axes[2, 0]
    x = frame.index
    top.plot(x, frame["strategy"].to_numpy(dtype=float), label=res.title, linewidth=1.4)
    top.plot(x, frame["benchmark"].to_numpy(dtype=float), label=res.benchmark_name, linewidth=1.2)
    top.set_title(f"{res.title}: net value against {res.benchmark_name}", fontsize=10, loc="left")
    top.legend(fontsize=7, frameon=False, loc="upper left")
    mid.plot(x, frame["relative"].to_numpy(dtype=float), color=plotting.PALETTE[2], linewidth=1.2)
    mid.axhline(1.0, color="#555555", linewidth=0.6)
    mid.set_ylabel("strategy / benchmark", fontsize=8)
    bot.fill_between(
        x, frame["drawdown"].to_numpy(dtype=float), 0.0, color=plotting.DOWN, alpha=0.5
    )
    bot.set_ylabel("drawdown", fontsize=8)
    plotting.percent_axis(bot)
    if book.start_base is not None and book.start_base > x[0]:
        for ax in (top, mid, bot):
            ax.axvline(book.start_base, color="#999999", linewidth=0.8, linestyle="--")
    fig.autofmt_xdate()
    return fig


def references(book: EtfWeeklyReport, key: str, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """The strategy against static portfolios of its own ETFs, over the same weeks.

    Returns
    -------
    DataFrame
        Index: portfolio (the strategy first); columns ``ann_return, ann_excess,
        ann_excess_since_start, excess_since_start, mean_turnover``. The gap between the
        strategy and a static portfolio is what its signals add (or cost).
    """
    res = book.result(key)
    if not res.ok or res.backtest is None:
        return pd.DataFrame(
            columns=["ann_return", "ann_excess", "ann_excess_since_start", "excess_since_start"]
        )
    rows = {}
    for label, bt in [(res.title, res.backtest), *res.references.items()]:
        b = bt.benchmark
        assert b is not None
        since = bt.net.index > book.start_base if book.start_base is not None else slice(None)
        r_s, b_s = bt.net[since], b[since]
        rows[label] = {
            "ann_return": float(np.prod(1 + bt.net) ** (52 / len(bt.net)) - 1),
            "ann_excess": excess_return(bt.net, b, periods_per_year=52),
            "ann_excess_since_start": excess_return(r_s, b_s, periods_per_year=52)
            if len(r_s) > 1
            else np.nan,
            "excess_since_start": float(np.prod(1 + r_s) - np.prod(1 + b_s)),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "portfolio"
    if metrics is not None:
        for i, (name, row) in enumerate(out.iloc[1:].iterrows()):
            metrics.update(
                {
                    "label": str(name),
                    "ann_excess": row["ann_excess"],
                    "excess_since_start": row["excess_since_start"],
                },
                prefix=f"strategy.{key}.reference.{i}",
            )
    return out


def show_references(frame: pd.DataFrame, book: EtfWeeklyReport, key: str) -> Table | Text:
    res = book.result(key)
    if frame.empty or len(frame) < 2:
        return Text("")
    start = f"{book.start_date:%Y-%m-%d}"
    return table(
        frame,
        title=f"{res.title} against static portfolios of its ETFs (benchmark {res.benchmark_name})",
        formats=dict.fromkeys(frame.columns, PCT),
        labels={
            "ann_return": "Annualized return",
            "ann_excess": "Annualized excess",
            "ann_excess_since_start": f"Annualized excess since {start}",
            "excess_since_start": f"Excess since {start}",
        },
        note="Static portfolios are held every week from the strategy's first decision, rebalanced to their "
        "weights weekly with the same costs; the strategy's lead over them is what its signals add.",
    )


def _name(book: EtfWeeklyReport, code: str) -> str:
    return "cash" if code == CASH else book.inputs.market.name(code)


def _category(book: EtfWeeklyReport, code: str) -> str:
    info = book.inputs.market.info
    return "cash" if code == CASH else str(info.at[code, "category"]) if code in info.index else ""


def holdings(book: EtfWeeklyReport, key: str, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """Holdings after the as-of rebalance: ETF code, name, category and weight."""
    res = book.result(key)
    if not res.ok:
        return pd.DataFrame(columns=["name", "category", "weight"])
    bt = res.backtest
    assert bt is not None
    h = bt.holdings().sort_values(ascending=False, kind="stable")
    out = pd.DataFrame(
        {
            "name": [_name(book, c) for c in h.index],
            "category": [_category(book, c) for c in h.index],
            "weight": h.to_numpy(dtype=float),
        },
        index=pd.Index(h.index, name="code"),
    )
    if metrics is not None:
        metrics.record(f"strategy.{key}.n_holdings", int((out.index != CASH).sum()))
        metrics.record(
            f"strategy.{key}.holdings", ", ".join(f"{c} {w:.4f}" for c, w in out["weight"].items())
        )
    return out


def show_holdings(frame: pd.DataFrame, book: EtfWeeklyReport, key: str) -> Table | Text:
    res = book.result(key)
    if not res.ok:
        return Text(
            f"*{res.title} cannot run on this store: "
            + "; ".join(f"{k}: {v}" for k, v in res.missing.items())
            + ".*"
        )
    return table(
        frame,
        title=f"{res.title}: holdings after the rebalance of {book.as_of:%Y-%m-%d}",
        formats={"weight": PCT},
        labels={"name": "Name", "category": "Category", "weight": "Weight"},
        note="Weights at the close of the as-of week-end, held through the next week; cash earns 0.",
    )


def changes(book: EtfWeeklyReport, key: str) -> pd.DataFrame:
    """Weights held last week and this week (after each rebalance) for every ETF in either."""
    res = book.result(key)
    if not res.ok or res.backtest is None or len(res.backtest.weights) < 2:
        return pd.DataFrame(columns=["name", "last_week", "this_week", "change", "blocked"])
    w = res.backtest.weights
    prev, now = w.iloc[-2], w.iloc[-1]
    keep = (prev.abs() > 1e-9) | (now.abs() > 1e-9)
    codes = list(w.columns[keep.to_numpy()])
    blocked = res.backtest.blocked
    bl = (
        blocked[blocked["date"] == w.index[-1]].set_index("code")["reason"]
        if len(blocked)
        else pd.Series(dtype=str)
    )
    out = pd.DataFrame(
        {
            "name": [_name(book, c) for c in codes],
            "last_week": prev[codes].to_numpy(dtype=float),
            "this_week": now[codes].to_numpy(dtype=float),
        },
        index=pd.Index(codes, name="code"),
    )
    out["change"] = out["this_week"] - out["last_week"]
    out["blocked"] = [str(bl.get(c, "")) for c in codes]
    return out.sort_values(["this_week", "last_week"], ascending=False, kind="stable")


def show_changes(frame: pd.DataFrame, book: EtfWeeklyReport, key: str) -> Table | Text:
    res = book.result(key)
    if not res.ok:
        return Text("")
    if frame.empty:
        return Text("*First week of the backtest: no previous holdings.*")
    moved = frame["change"].abs() > 1e-6
    bt = res.backtest
    assert bt is not None
    turnover = float(bt.turnover.iloc[-1])
    title = (
        f"{res.title}: changes from last week (turnover {turnover:.1%})"
        if moved.any()
        else f"{res.title}: no change from last week (drift only)"
    )
    return table(
        frame,
        title=title,
        formats={"last_week": PCT, "this_week": PCT, "change": "+.2%"},
        labels={
            "name": "Name",
            "last_week": "Last week",
            "this_week": "This week",
            "change": "Change",
            "blocked": "Not traded",
        },
        note=f"Weights after the rebalances of {bt.dates[-2]:%Y-%m-%d} and {bt.dates[-1]:%Y-%m-%d} (before drift). "
        "'Not traded': an ETF suspended or not listed on the rebalance day keeps its weight.",
    )


def change_signals(book: EtfWeeklyReport, key: str) -> pd.DataFrame:
    """The signal values behind last week's and this week's decisions.

    Rows: (item, date) for the two rebalance dates, where item is an ETF whose weight is or
    was non-zero (ETF-level signals) or the signal's name (one series); columns: the
    strategy's signal columns.
    """
    res = book.result(key)
    if not res.ok or res.signals.empty or res.backtest is None:
        return pd.DataFrame()
    dates = list(res.backtest.dates[-2:])
    sig = res.signals[res.signals["date"].isin(dates)].copy()
    etf_items = sig["item"].astype(str).isin(set(book.inputs.market.info.index))
    if etf_items.any():
        ch = changes(book, key)
        involved = set(ch.index) - {CASH}
        score_col = next((c for c in ("score",) if c in sig.columns), None)
        top = set()
        if score_col is not None:
            now = sig[(sig["date"] == dates[-1]) & etf_items]
            top = set(now.sort_values(score_col, ascending=False)["item"].head(8))
        sig = sig[~etf_items | sig["item"].isin(involved | top)]
    sig = sig.dropna(axis=1, how="all")
    out = sig.set_index(["item", "date"]).sort_index()
    out = out[[c for c in out.columns if c not in ("model_trained",)]]
    return out


def show_change_signals(frame: pd.DataFrame, book: EtfWeeklyReport, key: str) -> Stack | Text:
    """The signal tables: one for signal series (style groups, the yield model, the timing
    score...), one for ETFs, each with the columns it has."""
    res = book.result(key)
    if frame.empty:
        return Text("")
    flat = frame.reset_index()
    flat["date"] = pd.to_datetime(flat["date"]).dt.strftime("%Y-%m-%d")
    is_etf = flat["item"].astype(str).isin(set(book.inputs.market.info.index))
    parts: list[Table | Text] = []
    for etfs, label in ((False, "signals"), (True, "ETFs")):
        sub = flat[is_etf == etfs].dropna(axis=1, how="all")
        if sub.empty:
            continue
        if etfs:
            sub = sub.assign(name=[_name(book, str(c)) for c in sub["item"]]).set_index(
                ["item", "name", "date"]
            )
        else:
            sub = sub.set_index(["item", "date"])
        fmts = {c: ".3f" for c in sub.columns if sub[c].dtype.kind == "f"}
        parts.append(
            table(
                sub,
                title=f"{res.title}: {label} behind the decisions of the last two week-ends",
                formats=fmts,
                transpose=len(sub) <= 2,
            )
        )
    parts.append(Text(_signal_note(key)))
    return Stack(parts)


_SIGNAL_NOTES = {
    "rotation": "p_large_leads: the classifier's probability that the large-cap index beats the small-cap one next week "
    "(large ETF above 0.5 + hysteresis, small below 0.5 - hysteresis); rel_mom_*: log relative strength large/small.",
    "smartbeta": "Rows of style groups: signal_annualized = the group's trend signal (mean factor return, x 252), "
    "tstat_60d, cum_ret_20d. Rows of ETFs: expo_* = exposure to each group, score = sum of signal x exposure "
    "(annualized), selected = held.",
    "industry": "z-scores across industry ETFs: trend (20/60/120-day returns), fundamental (earnings growth), "
    "behaviour (5/60-day traded value); score = weighted sum; valuation_pct / crowding_pct: percentile of the "
    "industry's own history (above the cap: excluded); selected = held.",
    "balance": "Timing components in [-1, 1]; timing_score = their mean; equity_share = 0.6 + 0.3 x score "
    "(within 30-90 %); p_large_leads splits equities between the large- and small-cap ETFs.",
    "hotspot": "abnormal_volume = ln(5-day / 60-day volume); turnover_peak = ln(max day / 60-day median traded value); "
    "event_age = sessions since the volume spike; candidate = live event, rising and abnormal volume; "
    "score = sum of z-scores (candidates only).",
    "bond": "Features in basis points; predicted_change_bp = the ridge model's forecast of next week's 10-year yield "
    "change; position: short (> +threshold), long (< -threshold), neutral otherwise.",
}


def _signal_note(key: str) -> str:
    return _SIGNAL_NOTES.get(key, "")


def show_method(book: EtfWeeklyReport, key: str) -> Text:
    """The method in brief, the benchmark used, and the notes of this run."""
    res = book.result(key)
    lines = [res.method, "", f"**Benchmark:** {res.benchmark_name} (`{res.benchmark}`)."]
    for note in res.notes:
        lines.append(f"- {note}")
    if not res.ok:
        lines.append("")
        lines.append(f"**Cannot run on store `{book.store.name}`:**")
        lines += [f"- {k}: {v}" for k, v in res.missing.items()]
    return Text("\n".join(lines))
