"""One factor evaluation: IC, rank IC, quantile groups, long-short, top group, by group.

:func:`evaluate_factor` combines the primitives of :mod:`quantbook.evaluation` (``ic``,
``groups``, ``stats``) into one result object, :class:`FactorEvaluation`, whose
:meth:`~FactorEvaluation.statistics` are keyed by the vocabulary of
:mod:`quantbook.evaluation.vocabulary`; :func:`compare` puts several evaluations side by side
(in the manner of ``linearmodels.panel.compare``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> dates = pd.date_range("2024-01-31", periods=6, freq="ME")
>>> f = pd.DataFrame(rng.standard_normal((6, 20)), index=dates)
>>> r = 0.01 * f + 0.01 * pd.DataFrame(rng.standard_normal((6, 20)), index=dates)
>>> ev = evaluate_factor(f, r)
>>> ev.ic_summary.n_periods, bool(ev.ic_summary.mean > 0), ev.groups.n_groups
(6, True, 5)
>>> compare({"f": ev, "g": ev}, keys=["ic_mean", "n_periods"]).shape
(2, 2)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from quantbook.evaluation._panel import bool_mask, evaluation_sample
from quantbook.evaluation.groups import GroupReturns, assign_groups, group_returns
from quantbook.evaluation.ic import ICSummary, ic_series, ic_summary, rank_ic_series
from quantbook.evaluation.stats import PortfolioStats, long_short_ir, portfolio_stats, win_rate
from quantbook.evaluation.vocabulary import statistic_labels

__all__ = ["FactorEvaluation", "compare", "evaluate_factor"]


@dataclass(frozen=True)
class FactorEvaluation:
    """The evaluation of one factor against forward returns (see :func:`evaluate_factor`).

    Attributes
    ----------
    ic, rank_ic
        Pearson and Spearman IC per formation date (NaN where there is none, e.g. the last
        date without a forward return).
    ic_summary, rank_ic_summary
        Their summaries (mean, std, ICIR not annualized, t-statistic, share positive,
        periods, first and last date).
    groups
        Quantile groups: returns, counts, labels, turnover and the long-short series.
    long_short_stats
        Portfolio statistics of the finite long-short returns.
    top_stats
        Portfolio statistics of the top group (the long side's quantile) against the
        equal-weighted return of the evaluation sample, with its turnover.
    benchmark
        Equal-weighted forward return of the evaluation sample per date.
    by_group_ic
        ``date x group`` IC within each group of ``groups`` (e.g. each industry); empty
        without groups.
    by_group_excess
        ``date x group`` return of the top quantile within each group minus the group's
        equal-weighted return; empty without groups.
    periods_per_year, recent
        Conventions: periods per year (annualization), periods of the "recent" statistics.
    """

    ic: pd.Series
    rank_ic: pd.Series
    ic_summary: ICSummary
    rank_ic_summary: ICSummary
    groups: GroupReturns
    long_short_stats: PortfolioStats
    top_stats: PortfolioStats
    benchmark: pd.Series
    by_group_ic: pd.DataFrame
    by_group_excess: pd.DataFrame
    periods_per_year: int
    recent: int

    @property
    def direction(self) -> int:
        """+1: long the top quantile; -1: long the bottom quantile."""
        return self.groups.direction

    @property
    def top_group(self) -> int:
        """The long side's quantile: ``n_groups`` for direction +1, 1 for -1."""
        return self.groups.n_groups if self.direction > 0 else 1

    @property
    def long_short(self) -> pd.Series:
        """Long-short return per formation date, finite periods only."""
        return self.groups.long_short.dropna()

    @property
    def top_returns(self) -> pd.Series:
        """The top group's return per formation date, finite periods only."""
        return self.groups.returns[self.top_group].dropna()

    @property
    def top_turnover(self) -> pd.Series:
        """One-side turnover of the top group per rebalance (NaN where undefined)."""
        return self.groups.turnover[self.top_group]

    def quantile_table(self) -> pd.DataFrame:
        """Per quantile (and long-short): mean and annualized return, volatility, win rate,
        latest return, turnover, stocks, periods (:meth:`GroupReturns.to_frame`; columns are
        vocabulary keys)."""
        return self.groups.to_frame(periods_per_year=self.periods_per_year)

    def statistics(self) -> pd.Series:
        """Every statistic of the evaluation, keyed by the vocabulary (object dtype).

        Notes
        -----
        ``ic_*`` / ``rank_ic_*`` / ``n_periods`` / ``start`` / ``end``: the IC sample;
        ``ls_*``, ``win_rate*``, ``month_ls``: the finite long-short periods, ``ls_ir`` the
        arithmetic :func:`~quantbook.evaluation.long_short_ir` and ``ls_sharpe`` the compounded
        annualized return over the annualized volatility; ``top_*``: the top group's
        :func:`~quantbook.evaluation.portfolio_stats` against :attr:`benchmark` (relative
        excess). "Recent" statistics (``ic_1y``, ``win_rate_12m``) use the last
        :attr:`recent` periods.
        """
        ics, rics = self.ic_summary, self.rank_ic_summary
        ic = self.ic.dropna()
        ls, lss, top = self.long_short, self.long_short_stats, self.top_stats
        n, nls = len(ic), len(ls)
        values: dict[str, object] = {
            "ic_mean": ics.mean,
            "ic_std": ics.std,
            "icir": ics.icir.value,
            "icir_annual": ics.icir.value * math.sqrt(self.periods_per_year),
            "ic_t": ics.t_stat,
            "ic_positive": ics.share_positive,
            "rank_ic_mean": rics.mean,
            "rank_icir": rics.icir.value,
            "rank_ic_t": rics.t_stat,
            "n_periods": ics.n_periods,
            "start": ics.start,
            "end": ics.end,
            "ic_latest": float(ic.iloc[-1]) if n else math.nan,
            "ic_1y": float(ic.iloc[-self.recent :].mean()) if n else math.nan,
            "months_1y": min(n, self.recent),
            "ls_mean": float(ls.mean()) if nls else math.nan,
            "ls_annual": lss.annual_return,
            "ls_volatility": lss.annual_volatility,
            "ls_ir": long_short_ir(ls, periods_per_year=self.periods_per_year),
            "ls_sharpe": lss.sharpe,
            "ls_max_drawdown": lss.max_drawdown.depth,
            "win_rate": lss.win_rate,
            "win_rate_12m": win_rate(ls.iloc[-self.recent :]),
            "month_ls": float(ls.iloc[-1]) if nls else math.nan,
            "ls_n_periods": nls,
            "ls_start": ls.index[0] if nls else None,
            "ls_end": ls.index[-1] if nls else None,
            "top_turnover": top.mean_turnover,
            "top_annual_return": top.annual_return,
            "top_volatility": top.annual_volatility,
            "top_ir": top.sharpe,
            "top_max_drawdown": top.max_drawdown.depth,
            "top_excess_return": top.excess_return,
        }
        return pd.Series(values, dtype=object, name="statistic")

    def to_frame(self, name: str = "factor") -> pd.DataFrame:
        """One-column frame of :meth:`statistics`, rows labelled by the vocabulary."""
        return compare({name: self}, labels=True)


def _by_group(
    factor: pd.DataFrame,
    forward: pd.DataFrame,
    tradable: pd.DataFrame | None,
    groups: pd.DataFrame,
    *,
    n_groups: int,
    top: int,
    min_stocks: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """IC and top-quantile excess return within each group (columns: group labels, sorted)."""
    lab = groups.reindex(index=factor.index, columns=factor.columns)
    names = sorted(str(v) for v in pd.unique(lab.to_numpy().ravel()) if isinstance(v, str))
    sample = forward.notna()
    if tradable is not None:
        sample &= pd.DataFrame(
            bool_mask(tradable, factor), index=factor.index, columns=factor.columns
        )
    ics, excess = {}, {}
    for g in names:  # one vectorized pass per group (e.g. 31 industries), not per date
        f = factor.where(lab == g)
        ics[g] = ic_series(f, forward, tradable=tradable, min_stocks=min_stocks)
        f = f.where(sample)
        labels = assign_groups(f, n_groups=n_groups, min_stocks=min_stocks)
        r = forward.where(f.notna())
        top_r = r.where(labels == top).mean(axis=1)
        excess[g] = (top_r - r.mean(axis=1)).where(labels.notna().any(axis=1))
    out_ic = pd.DataFrame(ics, index=factor.index)
    out_ex = pd.DataFrame(excess, index=factor.index)
    out_ic.columns.name = out_ex.columns.name = "group"
    return out_ic, out_ex


def evaluate_factor(
    factor: pd.DataFrame,
    forward_returns: pd.DataFrame,
    *,
    quantiles: int = 5,
    tradable: pd.DataFrame | None = None,
    direction: Literal[1, -1] = 1,
    groups: pd.DataFrame | None = None,
    periods_per_year: int = 12,
    min_stocks: int = 3,
    group_min_stocks: int = 5,
    recent: int = 12,
) -> FactorEvaluation:
    """Evaluate a factor: IC and rank IC, quantile groups, long-short, top group, by group.

    Parameters
    ----------
    factor
        Factor values at the rebalance dates, ``date x code``.
    forward_returns
        Forward returns labelled by formation date, ``date x code`` (reindexed to
        ``factor``).
    quantiles
        Number of quantile groups (5: quintiles).
    tradable
        Optional boolean mask of the stocks that can be bought at ``t``; the others are out
        of that date's sample (IC, groups, benchmark). Missing entries count as not tradable.
    direction
        +1: the long-short portfolio is long the top quantile; -1: long the bottom one.
    groups
        Optional ``date x code`` labels (e.g. SW industries) for the IC and the top-quantile
        excess return within each group.
    periods_per_year
        12 for monthly rebalancing (annualization of returns and of ``icir_annual``).
    min_stocks
        Minimum stocks of a date's IC (fewer: NaN with a ``TooFewStocksWarning``).
    group_min_stocks
        Minimum stocks of a group on a date for its IC and its quantiles.
    recent
        Periods of the "recent" statistics (latest-year IC mean, 12-month win rate).

    Returns
    -------
    FactorEvaluation
        The result; ``.statistics()`` for the vocabulary's statistics.

    Notes
    -----
    The sample of date :math:`t` is the stocks with a finite factor, a finite forward return
    and ``tradable``. :math:`IC_t` / :math:`RankIC_t` are the Pearson / Spearman correlations
    over it (:func:`~quantbook.evaluation.ic_series`); the IC t-statistic is
    :math:`\\overline{IC}\\sqrt{n}/s_{IC}`, NaN with fewer than 2 periods or zero std
    (:func:`~quantbook.evaluation.stats.mean_t_stat`). Quantiles are formed on the sample
    (:func:`~quantbook.evaluation.group_returns`); the long-short return is
    :math:`d(R_n - R_1)`. The benchmark of the top group is the equal-weighted mean return
    of the sample, :math:`\\bar r_t = \\frac{1}{N_t}\\sum_i r_{i,t}`, and its excess return
    is relative (:func:`~quantbook.evaluation.excess_return`). Within a group :math:`G`, the
    IC uses the group's members only (at least ``group_min_stocks``), and the excess return
    is the top quantile of the members with a forward return (and tradable) minus their
    equal-weighted mean.
    """
    mask = evaluation_sample(factor, forward_returns, tradable)[2]
    fwd = forward_returns.reindex(index=factor.index, columns=factor.columns)
    ic = ic_series(factor, fwd, tradable=tradable, min_stocks=min_stocks)
    ric = rank_ic_series(factor, fwd, tradable=tradable, min_stocks=min_stocks)
    g = group_returns(factor, fwd, n_groups=quantiles, tradable=tradable, direction=direction)
    bench = fwd.where(pd.DataFrame(mask, index=factor.index, columns=factor.columns)).mean(axis=1)
    top_group = quantiles if direction > 0 else 1
    top = g.returns[top_group]
    keep = top.notna()
    top_stats = portfolio_stats(
        top[keep],
        periods_per_year=periods_per_year,
        benchmark=bench[keep],
        turnover=g.turnover[top_group][keep],
    )
    ls = g.long_short.dropna()
    if groups is None:
        empty = pd.DataFrame(index=factor.index, columns=pd.Index([], name="group"), dtype=float)
        by_ic, by_ex = empty, empty
    else:
        by_ic, by_ex = _by_group(
            factor,
            fwd,
            tradable,
            groups,
            n_groups=quantiles,
            top=top_group,
            min_stocks=group_min_stocks,
        )
    return FactorEvaluation(
        ic=ic,
        rank_ic=ric,
        ic_summary=ic_summary(ic, annualize=False, periods_per_year=periods_per_year),
        rank_ic_summary=ic_summary(ric, annualize=False, periods_per_year=periods_per_year),
        groups=g,
        long_short_stats=portfolio_stats(ls, periods_per_year=periods_per_year),
        top_stats=top_stats,
        benchmark=bench.rename("benchmark"),
        by_group_ic=by_ic,
        by_group_excess=by_ex,
        periods_per_year=periods_per_year,
        recent=recent,
    )


def compare(
    evaluations: Mapping[str, FactorEvaluation],
    *,
    keys: Sequence[str] | None = None,
    labels: bool = False,
) -> pd.DataFrame:
    """Several evaluations side by side: rows = statistics, columns = factors.

    Parameters
    ----------
    evaluations
        ``{name: FactorEvaluation}`` (column order kept).
    keys
        Statistics to show (vocabulary keys, in this order); default every key of
        :meth:`FactorEvaluation.statistics`.
    labels
        Index the rows by the vocabulary's labels instead of the keys.

    Returns
    -------
    pandas.DataFrame
        ``statistic x factor`` (object dtype where a row holds dates).

    Raises
    ------
    UnknownStatisticError
        A key that the vocabulary does not define.
    """
    stats = {name: ev.statistics() for name, ev in evaluations.items()}
    first = next(iter(stats.values()), pd.Series(dtype=object))
    rows = list(first.index) if keys is None else list(keys)
    names = statistic_labels(rows)
    out = pd.DataFrame(
        {name: s.reindex(rows) for name, s in stats.items()},
        index=pd.Index(rows, name="statistic"),
        dtype=object,
    )
    if labels:
        out.index = pd.Index([names[k] for k in rows], name="statistic")
    return out
