"""One vocabulary of factor and portfolio statistics: key -> label, format and note.

Every table of a factor report and every metrics key of a factor statistic uses these keys;
a table takes its column or row labels and number formats from here
(:func:`statistic_labels`, :func:`statistic_formats`), so that one statistic has one name,
one label and one number of digits across the reports.

Examples
--------
>>> STATISTICS["ic_t"].label, STATISTICS["ic_t"].format
('IC t-stat', '.2f')
>>> statistic_formats(["ic_mean", "n_periods"])
{'ic_mean': '.4f', 'n_periods': ',d'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from quantbook.errors import UnknownNameError

__all__ = [
    "STATISTICS",
    "Statistic",
    "UnknownStatisticError",
    "statistic_formats",
    "statistic_labels",
]


class UnknownStatisticError(UnknownNameError):
    """A statistic key that the vocabulary does not define."""


@dataclass(frozen=True)
class Statistic:
    """One statistic of the vocabulary.

    Attributes
    ----------
    key
        The key (a table column or row, the last part of a metrics key).
    label
        Display label.
    format
        Format specification of its value (``""``: shown as is, e.g. a date).
    note
        What it is and its convention (annualized or not, which sample).
    """

    key: str
    label: str
    format: str
    note: str


_PCT = ".2%"

_ENTRIES: tuple[Statistic, ...] = (
    # information coefficient
    Statistic("ic_mean", "IC mean", ".4f", "mean of the per-period Pearson IC"),
    Statistic("ic_std", "IC std", ".4f", "sample standard deviation (ddof 1) of the IC"),
    Statistic("icir", "ICIR (not annualized)", ".2f", "mean / std of the IC, per period"),
    Statistic(
        "icir_annual",
        "ICIR (annualized)",
        ".2f",
        "mean / std of the IC times sqrt(periods per year)",
    ),
    Statistic(
        "ic_t",
        "IC t-stat",
        ".2f",
        "mean IC / (std / sqrt(n)); NaN below 2 periods or at zero std",
    ),
    Statistic("ic_positive", "Share of periods IC > 0", ".1%", "share of periods with IC > 0"),
    Statistic("rank_ic_mean", "Rank IC mean", ".4f", "mean of the per-period Spearman IC"),
    Statistic("rank_icir", "Rank ICIR (not annualized)", ".2f", "mean / std of the rank IC"),
    Statistic("rank_ic_t", "Rank IC t-stat", ".2f", "t-statistic of the mean rank IC"),
    Statistic("n_periods", "Periods", ",d", "number of periods with an IC"),
    Statistic("start", "First period", "", "first formation date with an IC"),
    Statistic("end", "Last period", "", "last formation date with an IC"),
    Statistic("ic_latest", "IC, latest period", ".4f", "IC of the last period with one"),
    Statistic("ic_1y", "IC, 1-year mean", ".4f", "mean IC of the last 12 periods"),
    Statistic("months_1y", "Periods in the 1-year mean", ",d", "at most 12"),
    # long-short (top minus bottom quantile, long the expected side)
    Statistic("ls_mean", "L-S mean return", _PCT, "mean periodic long-short return"),
    Statistic("ls_annual", "L-S ann. return", ".1%", "compounded annualized long-short return"),
    Statistic("ls_volatility", "L-S ann. volatility", ".1%", "std x sqrt(periods per year)"),
    Statistic(
        "ls_ir",
        "L-S IR",
        ".2f",
        "annualized mean / annualized std of the periodic long-short return (arithmetic)",
    ),
    Statistic(
        "ls_sharpe",
        "L-S Sharpe",
        ".2f",
        "compounded annualized L-S return / annualized volatility (risk-free 0)",
    ),
    Statistic("ls_max_drawdown", "L-S max drawdown", ".1%", "of the compounded L-S NAV"),
    Statistic(
        "win_rate",
        "Win rate",
        ".0%",
        "share of periods with a positive return: of the L-S portfolio in a factor's "
        "statistics, of the row's portfolio in a quantile table",
    ),
    Statistic("win_rate_12m", "Win rate 12m", ".0%", "win rate of the last 12 L-S periods"),
    Statistic("month_ls", "L-S this month", _PCT, "long-short return of the last period"),
    Statistic("ls_n_periods", "L-S periods", ",d", "number of periods with an L-S return"),
    Statistic("ls_start", "First L-S period", "", "first formation date with an L-S return"),
    Statistic("ls_end", "Last L-S period", "", "last formation date with an L-S return"),
    # top group (the long side's quantile)
    Statistic(
        "top_turnover",
        "Top-group turnover (one side)",
        ".2f",
        "mean one-side turnover of the top group per rebalance",
    ),
    Statistic("top_annual_return", "Top group: annualized return", _PCT, "compounded"),
    Statistic("top_volatility", "Top group: annualized volatility", _PCT, "std x sqrt(P)"),
    Statistic(
        "top_ir", "Top group: IR (return / volatility)", ".2f", "compounded return / volatility"
    ),
    Statistic("top_max_drawdown", "Top group: maximum drawdown", _PCT, "of the compounded NAV"),
    Statistic(
        "top_excess_return",
        "Top group: annualized excess return",
        _PCT,
        "relative NAV over the equal-weighted sample, compounded",
    ),
    # quantile table (one row per quantile group and the long-short portfolio)
    Statistic("mean_return", "Mean monthly return", _PCT, "mean periodic return"),
    Statistic("annual_return", "Annualized return", ".1%", "compounded"),
    Statistic("annual_volatility", "Annualized volatility", ".1%", "std x sqrt(P)"),
    Statistic("latest_return", "Return, latest period", _PCT, "return of the last period"),
    Statistic(
        "mean_turnover", "Mean turnover (one side)", ".2f", "mean one-side turnover per rebalance"
    ),
    Statistic("mean_stocks", "Stocks (mean)", ",.0f", "mean number of stocks per period"),
    Statistic("return_periods", "Periods with a return", ",d", "number of finite periods"),
    # by group (e.g. per industry)
    Statistic("excess_latest", "Excess, latest period", _PCT, "excess return of the last period"),
    Statistic("excess_1y", "Excess, 1-year mean", _PCT, "mean excess return of the last 12"),
    Statistic("n_stocks", "Stocks", ",d", "number of stocks with a value on the as-of date"),
    # pure factor return (risk-model regression)
    Statistic("pure_cum_return", "Cumulative pure return", ".1%", "compounded"),
    Statistic("pure_t", "Pure return t-stat", ".2f", "t-statistic of the mean pure return"),
    Statistic("pure_max_drawdown", "Pure return max drawdown", ".1%", "of the compounded NAV"),
)

#: The vocabulary: ``{key: Statistic}``.
STATISTICS: Mapping[str, Statistic] = MappingProxyType({s.key: s for s in _ENTRIES})


def _lookup(key: str) -> Statistic:
    try:
        return STATISTICS[key]
    except KeyError:
        raise UnknownStatisticError(
            f"statistic {key!r} is not in quantbook.evaluation.vocabulary.STATISTICS"
        ) from None


def statistic_labels(keys: Iterable[str]) -> dict[str, str]:
    """``{key: label}`` of ``keys`` (for a table's ``labels``).

    Raises
    ------
    UnknownStatisticError
        A key the vocabulary does not define.
    """
    return {k: _lookup(k).label for k in keys}


def statistic_formats(keys: Iterable[str]) -> dict[str, str]:
    """``{key: format}`` of ``keys`` that have a number format (for a table's ``formats``).

    Raises
    ------
    UnknownStatisticError
        A key the vocabulary does not define.
    """
    return {k: s.format for k in keys if (s := _lookup(k)).format}
