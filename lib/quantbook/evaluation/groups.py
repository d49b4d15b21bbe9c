"""Quantile groups: assignment, equal-weighted group returns, long-short, turnover."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quantbook.evaluation._panel import _check_wide, bool_mask, evaluation_sample, warn_dates
from quantbook.evaluation.stats import (
    annualized_return,
    annualized_volatility,
    long_short_ir,
    one_side_turnover,
    win_rate,
)
from quantbook.preprocess import TooFewStocksWarning, _values

__all__ = [
    "GroupReturns",
    "assign_groups",
    "group_returns",
    "group_turnover",
    "long_short_returns",
]


def _assign(values: np.ndarray, n_groups: int, min_stocks: int, dates: pd.Index) -> np.ndarray:
    """Group labels 1..n (float, NaN outside the sample) for a masked ``date x code`` array."""
    if n_groups < 1:
        raise ValueError("n_groups must be at least 1")
    n = np.isfinite(values).sum(axis=1)
    out = np.full(values.shape, np.nan)
    ok = n >= max(min_stocks, 1)
    few = (n > 0) & ~ok
    warn_dates(
        TooFewStocksWarning,
        f"fewer than {max(min_stocks, 1)} valid stocks for {n_groups} groups, groups are NaN",
        list(dates[few]),
        stacklevel=4,
    )
    if not ok.any():
        return out
    x = values[ok]
    probs = np.linspace(0.0, 1.0, n_groups + 1)[1:-1]
    edges = np.nanquantile(x, probs, axis=1).T if probs.size else np.empty((len(x), 0))
    labels = 1.0 + (x[:, :, None] > edges[:, None, :]).sum(axis=2)
    out[ok] = np.where(np.isfinite(x), labels, np.nan)
    return out


def assign_groups(
    factor: pd.DataFrame,
    *,
    n_groups: int = 5,
    tradable: pd.DataFrame | None = None,
    min_stocks: int | None = None,
) -> pd.DataFrame:
    """Quantile group of each stock on each date (1 = lowest factor, ``n_groups`` = highest).

    Parameters
    ----------
    factor
        Factor values, ``date x code``.
    n_groups
        Number of groups (5 = quintiles, the default; 10 = deciles).
    tradable
        Optional boolean ``date x code`` mask; stocks that cannot be bought at ``t`` get no
        group on that date (missing entries count as not tradable).
    min_stocks
        Minimum number of valid stocks on a date (default ``n_groups``); dates with fewer
        (but more than 0) get no groups and are named by a :class:`TooFewStocksWarning`.

    Returns
    -------
    pandas.DataFrame
        Float labels ``1..n_groups``, NaN where the stock is not in the sample.

    Notes
    -----
    The edges are the cross-sectional quantiles :math:`q_{j/n}` (linear interpolation, as
    :func:`pandas.qcut`) and stock :math:`i` is in group
    :math:`g_i = 1 + \\#\\{j \\in 1..n-1 : f_i > q_{j/n}\\}`; this is exactly
    ``pandas.qcut(f, n, labels=False) + 1`` (alphalens' ``quantize_factor``), and also defined
    when edges repeat (ties stay in the lower group; a group can then be empty).

    Examples
    --------
    >>> f = pd.DataFrame([[5.0, 1.0, 4.0, 2.0, 3.0, np.nan]])
    >>> assign_groups(f, n_groups=5).iloc[0].tolist()
    [5.0, 1.0, 4.0, 2.0, 3.0, nan]
    """
    _check_wide(factor, "factor")
    f = _values(factor)
    if tradable is not None:
        f = np.where(bool_mask(tradable, factor), f, np.nan)
    labels = _assign(f, n_groups, n_groups if min_stocks is None else min_stocks, factor.index)
    return pd.DataFrame(labels, index=factor.index, columns=factor.columns)


def _group_weights(labels: pd.DataFrame, group: int) -> pd.DataFrame:
    member = (labels == group).astype(float)
    count = member.sum(axis=1)
    return member.div(count.where(count > 0), axis=0)


def group_turnover(labels: pd.DataFrame, *, n_groups: int | None = None) -> pd.DataFrame:
    """One-side turnover of each equal-weighted group at each rebalance.

    Parameters
    ----------
    labels
        Group labels from :func:`assign_groups` (``date x code``, 1..n, NaN = not held).
    n_groups
        Number of groups (default: the largest label).

    Returns
    -------
    pandas.DataFrame
        ``date x group``; NaN on the first date and wherever the group is empty on the date
        or the previous date.

    Notes
    -----
    With equal weights :math:`w_{i,t} = 1 / N_{g,t}` on the group's members,
    :math:`\\tau_{g,t} = \\tfrac12 \\sum_i |w_{i,t} - w_{i,t-1}|`: the share of the group's
    weight replaced (one side), :math:`k / N` when :math:`k` of :math:`N` names change
    (alphalens' ``quantile_turnover`` when group sizes are constant). See
    :func:`quantbook.evaluation.one_side_turnover`.

    Examples
    --------
    >>> lab = pd.DataFrame({"A": [1.0, 1.0], "B": [1.0, 2.0], "C": [2.0, 1.0], "D": [2, 2]})
    >>> group_turnover(lab).iloc[1].tolist()
    [0.5, 0.5]
    """
    lab = labels.astype(float)
    n = int(np.nanmax(lab.to_numpy())) if n_groups is None else n_groups
    cols = {}
    for g in range(1, n + 1):
        w = _group_weights(lab, g)
        held = w.notna().any(axis=1)
        tau = one_side_turnover(w)
        cols[g] = tau.where(held & held.shift(1, fill_value=False))
    out = pd.DataFrame(cols, index=labels.index)
    out.columns.name = "group"
    return out


def long_short_returns(returns: pd.DataFrame, *, direction: Literal[1, -1] = 1) -> pd.Series:
    """Top minus bottom group return, signed so that the factor's expected direction is long.

    Parameters
    ----------
    returns
        Group returns, ``date x group`` with groups ``1..n`` as columns (lowest factor first).
    direction
        +1: the factor is expected to predict returns positively, long group ``n`` and short
        group 1; -1: long group 1 and short group ``n``.

    Returns
    -------
    pandas.Series
        :math:`d (R_n - R_1)`, named ``"long-short"`` (not halved: 100 % long and 100 % short).

    Examples
    --------
    >>> g = pd.DataFrame({1: [0.01], 2: [0.02], 3: [0.05]})
    >>> long_short_returns(g).round(6).tolist(), long_short_returns(g, direction=-1).round(6).tolist()
    ([0.04], [-0.04])
    """
    if direction not in (1, -1):
        raise ValueError("direction must be +1 or -1")
    top, bottom = returns.columns.max(), returns.columns.min()
    return (direction * (returns[top] - returns[bottom])).rename("long-short")


@dataclass(frozen=True)
class GroupReturns:
    """Equal-weighted quantile group returns of a factor and their long-short portfolio.

    Attributes
    ----------
    returns
        ``date x group`` mean forward return of each group (columns 1..n, lowest factor
        first), labelled by formation date.
    counts
        ``date x group`` number of stocks per group.
    labels
        ``date x code`` group labels (NaN = not in the sample).
    turnover
        ``date x group`` one-side turnover of each group (see :func:`group_turnover`).
    long_short
        Top minus bottom, signed by ``direction`` (see :func:`long_short_returns`).
    n_groups, direction
        The settings used.
    """

    returns: pd.DataFrame
    counts: pd.DataFrame
    labels: pd.DataFrame
    turnover: pd.DataFrame
    long_short: pd.Series
    n_groups: int
    direction: int

    @property
    def win_rate(self) -> float:
        """Share of periods with a positive long-short return (monthly win rate)."""
        return win_rate(self.long_short)

    def ir(self, *, periods_per_year: int = 12) -> float:
        """The long-short IR (Kaiyuan), see :func:`quantbook.evaluation.long_short_ir`."""
        return long_short_ir(self.long_short, periods_per_year=periods_per_year)

    def to_frame(self, *, periods_per_year: int = 12) -> pd.DataFrame:
        """Per-group (and long-short) table of period and annualized statistics.

        Columns (keys of :data:`quantbook.evaluation.STATISTICS`): ``mean_return`` (mean
        period return), ``annual_return`` (compounded), ``annual_volatility``, ``win_rate``,
        ``latest_return`` (the last finite period), ``mean_turnover`` (one side),
        ``mean_stocks``, ``return_periods``; rows: groups ``1..n`` and ``"long-short"``
        (turnover and stocks: NaN). Each row uses its own finite periods.
        """
        rows = {}
        series = {g: self.returns[g] for g in self.returns.columns}
        series["long-short"] = self.long_short
        for key, r in series.items():
            clean = r.dropna()
            in_groups = key != "long-short"
            rows[key] = {
                "mean_return": float(clean.mean()) if len(clean) else math.nan,
                "annual_return": annualized_return(clean, periods_per_year=periods_per_year),
                "annual_volatility": annualized_volatility(
                    clean, periods_per_year=periods_per_year
                ),
                "win_rate": win_rate(clean),
                "latest_return": float(clean.iloc[-1]) if len(clean) else math.nan,
                "mean_turnover": float(self.turnover[key].mean()) if in_groups else math.nan,
                "mean_stocks": float(self.counts[key][clean.index].mean())
                if in_groups
                else math.nan,
                "return_periods": len(clean),
            }
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "group"
        return out


def group_returns(
    factor: pd.DataFrame,
    forward_returns: pd.DataFrame,
    *,
    n_groups: int = 5,
    tradable: pd.DataFrame | None = None,
    direction: Literal[1, -1] = 1,
    min_stocks: int | None = None,
) -> GroupReturns:
    """Equal-weighted returns of factor quantile groups per date, long-short and turnover.

    Parameters
    ----------
    factor
        Factor values at the rebalance dates, ``date x code``.
    forward_returns
        Forward returns labelled by formation date, ``date x code`` (reindexed to
        ``factor``).
    n_groups
        Number of groups (quintiles by default; 10 for deciles).
    tradable
        Optional boolean mask of stocks that can be bought at ``t`` (not closed at the upper
        limit, not suspended); the others are excluded from the period: no group, no return
        (SPEC proposal). Missing entries count as not tradable.
    direction
        +1 (default) long the top group, -1 long the bottom group.
    min_stocks
        Minimum valid stocks per date (default ``n_groups``); dates with fewer (but more
        than 0) are NaN with a :class:`TooFewStocksWarning` naming them.

    Returns
    -------
    GroupReturns
        Group returns, counts, labels, turnover and the long-short series.

    Notes
    -----
    The sample of date :math:`t` is the stocks with a finite factor, a finite forward return
    and ``tradable``; groups are formed on that sample by :func:`assign_groups`, and

    .. math:: R_{g,t} = \\frac{1}{N_{g,t}} \\sum_{i \\in g} r_{i,t \\to t+1}

    Dropping stocks without a forward return (e.g. delisted during the period) before
    grouping follows alphalens; it uses the knowledge that the return exists, which is the
    usual convention for factor evaluation. Dates where no stock has a forward return (the
    last rebalance date) are NaN without warning.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]])
    >>> r = pd.DataFrame([[0.01, 0.02, 0.03, 0.06]])
    >>> res = group_returns(f, r, n_groups=2)
    >>> res.returns.round(6).iloc[0].tolist(), res.long_short.round(6).tolist()
    ([0.015, 0.045], [0.03])
    """
    if direction not in (1, -1):
        raise ValueError("direction must be +1 or -1")
    f, r, mask = evaluation_sample(factor, forward_returns, tradable)
    fm = np.where(mask, f, np.nan)
    labels = _assign(fm, n_groups, n_groups if min_stocks is None else min_stocks, factor.index)
    rets: dict[int, np.ndarray] = {}
    counts: dict[int, np.ndarray] = {}
    for g in range(1, n_groups + 1):
        member = labels == g
        c = member.sum(axis=1)
        s = np.where(member, r, 0.0).sum(axis=1)
        rets[g] = np.divide(s, c, out=np.full(len(c), np.nan), where=c > 0)
        counts[g] = c
    ret_frame = pd.DataFrame(rets, index=factor.index)
    ret_frame.columns.name = "group"
    count_frame = pd.DataFrame(counts, index=factor.index)
    count_frame.columns.name = "group"
    label_frame = pd.DataFrame(labels, index=factor.index, columns=factor.columns)
    return GroupReturns(
        returns=ret_frame,
        counts=count_frame,
        labels=label_frame,
        turnover=group_turnover(label_frame, n_groups=n_groups),
        long_short=long_short_returns(ret_frame, direction=direction),
        n_groups=n_groups,
        direction=direction,
    )
