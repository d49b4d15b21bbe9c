"""Weekly ETF strategy indices (SPEC §5): the engine, the six strategies and their inputs.

Modules:

- :mod:`~quantbook.strategies.engine`: :func:`backtest` (weekly rebalancing at the close of
  the week-end, costs, suspensions, cash) and :class:`BacktestResult`;
- :mod:`~quantbook.strategies.market`, :mod:`~quantbook.strategies.inputs`: what the
  strategies read, up to an as-of date (:func:`load_inputs`);
- :mod:`~quantbook.strategies.indicators`, :mod:`~quantbook.strategies.models`: causal
  technical indicators; small rolling-trained models with a cache;
- :mod:`~quantbook.strategies.styles`: the adapter to the Barra risk model (style factor
  returns, ETF style exposures);
- one module per strategy: :mod:`~quantbook.strategies.rotation` (large-small cap rotation),
  :mod:`~quantbook.strategies.smartbeta`, :mod:`~quantbook.strategies.industry`,
  :mod:`~quantbook.strategies.balance`, :mod:`~quantbook.strategies.hotspot`,
  :mod:`~quantbook.strategies.bond` (bond ETF duration).

Examples
--------
>>> from quantbook.data import open_store                                   # doctest: +SKIP
>>> inputs = load_inputs(open_store("smoke"), end="2026-10-30")            # doctest: +SKIP
>>> results = run_all(inputs)                                               # doctest: +SKIP
>>> results["bond"].backtest.stats().excess_return                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quantbook.strategies.balance import Balance
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput, StrategyResult, run_strategy
from quantbook.strategies.bond import BondDuration
from quantbook.strategies.engine import CASH, BacktestResult, Costs, backtest, period_return
from quantbook.strategies.hotspot import HotSpot
from quantbook.strategies.industry import IndustryRotation
from quantbook.strategies.inputs import load_inputs
from quantbook.strategies.market import EtfMarket, EtfSplitWarning, load_market
from quantbook.strategies.rotation import SizeRotation
from quantbook.strategies.smartbeta import SmartBeta

__all__ = [
    "CASH",
    "STRATEGIES",
    "BacktestResult",
    "Balance",
    "BondDuration",
    "Costs",
    "EtfMarket",
    "EtfSplitWarning",
    "HotSpot",
    "IndustryRotation",
    "Inputs",
    "SizeRotation",
    "SmartBeta",
    "Strategy",
    "StrategyOutput",
    "StrategyResult",
    "backtest",
    "default_strategies",
    "load_inputs",
    "load_market",
    "period_return",
    "run_all",
    "run_strategy",
]

#: The six strategies in report order: key -> class.
STRATEGIES: dict[str, type[Strategy]] = {
    "rotation": SizeRotation,
    "smartbeta": SmartBeta,
    "industry": IndustryRotation,
    "balance": Balance,
    "hotspot": HotSpot,
    "bond": BondDuration,
}


def default_strategies(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    keys: Sequence[str] | None = None,
) -> list[Strategy]:
    """The six strategies with their default parameters, updated by ``overrides``.

    Parameters
    ----------
    overrides
        ``{strategy key: {parameter: value}}``, e.g. ``{"rotation": {"min_train": 26}}``.
    keys
        Keep only these strategies (default: all six, in report order).
    """
    overrides = overrides or {}
    unknown = set(overrides) - set(STRATEGIES)
    if unknown:
        raise ValueError(f"unknown strategy key(s) {sorted(unknown)}; known: {list(STRATEGIES)}")
    out = []
    for key, cls in STRATEGIES.items():
        if keys is not None and key not in keys:
            continue
        kw = {
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in dict(overrides.get(key, {})).items()
        }
        out.append(cls(**kw))
    return out


def run_all(
    inputs: Inputs,
    strategies: Sequence[Strategy] | None = None,
    *,
    costs: Costs | None = None,
) -> dict[str, StrategyResult]:
    """Run every strategy on the same inputs: ``{key: StrategyResult}`` in order."""
    return {
        s.key: run_strategy(s, inputs, costs=costs) for s in (strategies or default_strategies())
    }
