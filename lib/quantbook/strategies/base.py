"""What every ETF strategy shares: its inputs, its output, and how it is backtested.

A strategy is a frozen dataclass of parameters with two methods:

- :meth:`Strategy.missing` names the inputs the data lack (an empty dict: it can run);
- :meth:`Strategy.compute` turns :class:`Inputs` into target weights on the rebalance dates
  and the signal values behind them (:class:`StrategyOutput`); the target of date ``t`` uses
  data up to ``t`` only.

:func:`run_strategy` checks the inputs, computes the targets, chooses the benchmark (the
first of ``benchmark`` and ``benchmark_fallbacks`` that the store has: a substitute is said
in the result's notes) and backtests them with :func:`quantbook.strategies.engine.backtest`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from quantbook.data.cache import Cache, code_version
from quantbook.strategies.engine import BacktestResult, Costs, backtest
from quantbook.strategies.market import EtfMarket
from quantbook.strategies.styles import StyleInputs

__all__ = [
    "Inputs",
    "Strategy",
    "StrategyOutput",
    "StrategyResult",
    "run_strategy",
]


@dataclass(frozen=True)
class Inputs:
    """Everything the strategies read, up to one end date.

    Attributes
    ----------
    market
        ETF, index and bond panels (:func:`quantbook.strategies.market.load_market`).
    styles
        Style factor returns and ETF exposures (SmartBeta), or None if not loaded.
    industry
        Weekly industry fundamentals: ``{"growth": date x index, "pe": date x index}``
        (industry rotation), empty if the store has no statements.
    breadth
        ``date x index``: share of an index's members up over the last 20 sessions.
    cache_root
        Folder of the model cache (None: no cache on disk).
    fingerprint
        The store's data fingerprint (cache key).
    """

    market: EtfMarket
    styles: StyleInputs | None = None
    industry: dict[str, pd.DataFrame] = field(default_factory=dict)
    breadth: pd.DataFrame = field(default_factory=pd.DataFrame)
    cache_root: Path | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class StrategyOutput:
    """Targets and signals of one strategy.

    Attributes
    ----------
    targets
        ``rebalance date x ETF`` target weights (rows sum to at most 1; the rest is cash),
        from the first date the strategy can decide.
    signals
        Long frame ``date, item`` (an ETF code or a signal's name) plus the strategy's signal
        columns: the values behind each decision.
    notes
        Remarks for the report (components skipped for lack of data, ...).
    """

    targets: pd.DataFrame
    signals: pd.DataFrame
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StrategyResult:
    """One strategy's backtest, or why it could not run.

    Attributes
    ----------
    key, title
        Identifier and display title.
    benchmark, benchmark_name
        Code and name of the benchmark used (possibly a substitute, see ``notes``).
    backtest
        The :class:`BacktestResult` (None when the strategy could not run).
    signals
        See :class:`StrategyOutput`.
    missing
        ``{input: reason}`` when the strategy could not run.
    notes
        Remarks (substituted benchmark, skipped components).
    method
        The method in brief.
    references
        Backtests of the strategy's static reference portfolios over the same weeks
        (:meth:`Strategy.references`).
    """

    key: str
    title: str
    benchmark: str
    benchmark_name: str
    backtest: BacktestResult | None
    signals: pd.DataFrame
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    method: str = ""
    references: dict[str, BacktestResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.backtest is not None


class Strategy(ABC):
    """Base of the six strategies (subclasses are frozen dataclasses of parameters)."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    method: ClassVar[str] = ""
    benchmark: str = ""
    benchmark_fallbacks: tuple[str, ...] = ()

    @abstractmethod
    def missing(self, inputs: Inputs) -> dict[str, str]:
        """``{input: reason}`` for each input the data lack (empty: the strategy can run)."""

    @abstractmethod
    def compute(self, inputs: Inputs) -> StrategyOutput:
        """Targets on the rebalance dates and the signals behind them."""

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        """Static portfolios the strategy's timing is judged against: ``{label: {ETF: weight}}``.

        Held every week from the strategy's first decision, through the same engine and costs;
        the difference tells what the signals add beyond the static choice of ETFs.
        """
        return {}

    def params(self) -> dict[str, object]:
        """The strategy's parameters."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def model_cache(self, inputs: Inputs, name: str = "") -> Cache | None:
        """This strategy's model cache (None without a cache folder).

        Keyed by the data fingerprint and by :func:`~quantbook.data.cache.code_version` of the
        strategies package with the cache's name and the strategy's parameters.
        """
        if inputs.cache_root is None:
            return None
        version = code_version(
            [Path(__file__).parent],
            {"name": name or self.key, "params": repr(sorted(self.params().items()))},
        )
        return Cache(
            inputs.cache_root, fingerprint=inputs.fingerprint or "nofingerprint", version=version
        )


def _benchmark(strategy: Strategy, market: EtfMarket) -> tuple[str, pd.Series | None, list[str]]:
    notes: list[str] = []
    for i, code in enumerate((strategy.benchmark, *strategy.benchmark_fallbacks)):
        level = market.level(code)
        if level is not None and level.notna().any():
            if i:
                notes.append(
                    f"Benchmark {market.name(strategy.benchmark)} ({strategy.benchmark}) is not in "
                    f"this store; {market.name(code)} ({code}) is used instead."
                )
            return code, level, notes
    return strategy.benchmark, None, notes


def weekly_returns(level: pd.Series, dates: pd.DatetimeIndex) -> pd.Series:
    """Returns of a daily level series between consecutive dates, labelled by the later date."""
    s = level.sort_index().ffill()
    sampled = s.reindex(s.index.union(dates)).ffill().reindex(dates)
    return (sampled / sampled.shift(1) - 1.0).iloc[1:]


def run_strategy(
    strategy: Strategy,
    inputs: Inputs,
    *,
    costs: Costs | None = None,
) -> StrategyResult:
    """Compute a strategy's targets and backtest them against its benchmark.

    Parameters
    ----------
    strategy
        The strategy with its parameters.
    inputs
        :class:`Inputs` up to the as-of date.
    costs
        One-way transaction costs (default :class:`Costs`).

    Returns
    -------
    StrategyResult
        ``backtest`` is None, and ``missing`` says why, when an input is missing or the
        strategy never has enough history to decide.
    """
    market = inputs.market
    bench_code, level, notes = _benchmark(strategy, market)
    missing = dict(strategy.missing(inputs))
    if level is None:
        missing["benchmark"] = (
            f"no level of the benchmark {strategy.benchmark}"
            + (
                f" or of {', '.join(strategy.benchmark_fallbacks)}"
                if strategy.benchmark_fallbacks
                else ""
            )
            + " in this store"
        )
    base: dict[str, Any] = {
        "key": strategy.key,
        "title": strategy.title,
        "benchmark": bench_code,
        "benchmark_name": market.name(bench_code),
        "method": strategy.method,
    }
    if missing:
        return StrategyResult(
            **base, backtest=None, signals=pd.DataFrame(), missing=missing, notes=notes
        )
    out = strategy.compute(inputs)
    targets = out.targets.dropna(how="all")
    if targets.empty:
        return StrategyResult(
            **base,
            backtest=None,
            signals=out.signals,
            missing={"history": "not enough history before the as-of date for a first decision"},
            notes=notes + out.notes,
        )
    # every week-end from the first decision on is a rebalance date; a week without a new
    # decision keeps the previous targets
    dates = market.rebalance_dates[market.rebalance_dates >= targets.index[0]]
    targets = targets.reindex(dates).ffill().fillna(0.0)
    assert level is not None
    bench = weekly_returns(level, pd.DatetimeIndex(targets.index))
    rates = (costs or Costs()).rates(market.info)
    res = backtest(
        targets,
        prices=market.close,
        traded=market.traded,
        cost_rates=rates,
        benchmark=bench,
        name=strategy.title,
    )
    refs: dict[str, BacktestResult] = {}
    for label, weights in strategy.references(inputs).items():
        static = pd.DataFrame([dict(weights)] * len(targets), index=targets.index).fillna(0.0)
        refs[label] = backtest(
            static,
            prices=market.close,
            traded=market.traded,
            cost_rates=rates,
            benchmark=bench,
            name=label,
        )
    return StrategyResult(
        **base, backtest=res, signals=out.signals, notes=notes + out.notes, references=refs
    )


def equal_weights(codes: list[str], columns: list[str]) -> pd.Series:
    """``1 / n`` on ``codes`` over the given columns."""
    w = pd.Series(0.0, index=columns)
    if codes:
        w[codes] = 1.0 / len(codes)
    return w


def first_valid_row(frame: pd.DataFrame) -> int:
    """Position of the first row with any finite value (len(frame) if none)."""
    ok = np.isfinite(frame.to_numpy(dtype=float)).any(axis=1)
    return int(np.argmax(ok)) if ok.any() else len(frame)
