"""Factor and portfolio evaluation: IC / rank IC / ICIR, quantile groups, long-short,
turnover, drawdown and portfolio statistics, one factor evaluation (:func:`evaluate_factor`,
:func:`compare`) and one vocabulary of statistics (:data:`STATISTICS`); re-exports the
cross-sectional preprocessing.

Canonical shapes: wide ``date x code`` frames for factor values, forward returns and masks,
labelled by the formation (rebalance) date ``t``; the forward return on row ``t`` is the
return from the close of ``t`` to the close of the next rebalance date.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from quantbook import evaluation as ev
>>> dates = pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-29"])
>>> prices = pd.DataFrame({"A": [10.0, 11.0, 12.0], "B": [10.0, 9.0, 9.5]}, index=dates)
>>> fwd = ev.forward_returns(prices)
>>> factor = pd.DataFrame({"A": [1.0, 2.0, 0.0], "B": [0.0, 1.0, 1.0]}, index=dates)
>>> ev.group_returns(factor, fwd, n_groups=2).long_short.round(4).tolist()
[0.2, 0.0354, nan]
"""

from quantbook.evaluation.exceptions import (
    DegenerateCrossSectionWarning,
    MissingPeriodsWarning,
    TooFewStocksWarning,
)
from quantbook.evaluation.factor import FactorEvaluation, compare, evaluate_factor
from quantbook.evaluation.groups import (
    GroupReturns,
    assign_groups,
    group_returns,
    group_turnover,
    long_short_returns,
)
from quantbook.evaluation.ic import (
    ICIR,
    ICSummary,
    ic_series,
    ic_summary,
    icir,
    rank_ic_series,
    rolling_icir,
)
from quantbook.evaluation.returns import forward_returns
from quantbook.evaluation.stats import (
    Drawdown,
    PortfolioStats,
    annualized_return,
    annualized_volatility,
    excess_return,
    long_short_ir,
    max_drawdown,
    mean_t_stat,
    net_value,
    one_side_turnover,
    portfolio_stats,
    sharpe_ratio,
    win_rate,
)
from quantbook.evaluation.vocabulary import (
    STATISTICS,
    Statistic,
    UnknownStatisticError,
    statistic_formats,
    statistic_labels,
)
from quantbook.preprocess import (
    cap_weighted_zscore,
    neutralize,
    preprocess_factor,
    winsorize,
    winsorize_mad,
    winsorize_sigma,
    zscore,
)

__all__ = [
    "ICIR",
    "STATISTICS",
    "DegenerateCrossSectionWarning",
    "Drawdown",
    "FactorEvaluation",
    "GroupReturns",
    "ICSummary",
    "MissingPeriodsWarning",
    "PortfolioStats",
    "Statistic",
    "TooFewStocksWarning",
    "UnknownStatisticError",
    "annualized_return",
    "annualized_volatility",
    "assign_groups",
    "cap_weighted_zscore",
    "compare",
    "evaluate_factor",
    "excess_return",
    "forward_returns",
    "group_returns",
    "group_turnover",
    "ic_series",
    "ic_summary",
    "icir",
    "long_short_ir",
    "long_short_returns",
    "max_drawdown",
    "mean_t_stat",
    "net_value",
    "neutralize",
    "one_side_turnover",
    "portfolio_stats",
    "preprocess_factor",
    "rank_ic_series",
    "rolling_icir",
    "sharpe_ratio",
    "statistic_formats",
    "statistic_labels",
    "win_rate",
    "winsorize",
    "winsorize_mad",
    "winsorize_sigma",
    "zscore",
]
