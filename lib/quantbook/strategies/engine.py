"""The weekly ETF portfolio engine: target weights in, holdings, turnover and returns out.

Timing. Rebalance dates :math:`t_0 < t_1 < \\dots < t_K` are week-ends (the last trading day
of each week). At the close of :math:`t_k` the portfolio trades from its drifted weights
:math:`w^-_k` to new weights :math:`w_k` (the targets, after the rules below) at the closing
prices, and holds them until the close of :math:`t_{k+1}`. The portfolio starts in cash
before :math:`t_0`.

Returns of the week :math:`(t_k, t_{k+1}]`, labelled by its end :math:`t_{k+1}`:

.. math::

    r^{gross}_{k+1} = \\sum_i w_{k,i} \\left(\\frac{P_{i,t_{k+1}}}{P_{i,t_k}} - 1\\right)
        + w_{k,cash} \\, r^{cash}_{k+1}, \\qquad
    r^{net}_{k+1} = (1 - c_k)(1 + r^{gross}_{k+1}) - 1,

with :math:`c_k = \\sum_{i \\ne cash} \\kappa_i |w_{k,i} - w^-_{k,i}|` the cost of the trades
at :math:`t_k` (:math:`\\kappa_i` the one-way cost rate of ETF :math:`i`) as a fraction of
the portfolio's value. Drift: :math:`w^-_{k+1,i} = w_{k,i} (1 + r_{i}) / (1 + r^{gross}_{k+1})`.
One-side turnover :math:`\\tau_k = \\tfrac12 \\sum_i |w_{k,i} - w^-_{k,i}|` (cash included,
so buys = sells).

Rules at each rebalance (prices are raw closes of ETFs, which pay no dividends here):

- **Cash** is a position (:data:`CASH`) earning ``cash_return`` (default 0); the targets'
  shortfall from 1 is cash, so the weights of every week sum to 1.
- **Untradable ETF** (suspended on :math:`t_k`, or no bar: not yet listed): it cannot be
  traded either way. A held one keeps its drifted weight :math:`w^-_{k,i}` (frozen); one not
  held cannot be bought (weight 0). The rest of the portfolio, :math:`1 - \\sum_{frozen}
  w^-_{k,i}`, is shared among the tradable targets (cash included) in proportion to their
  target weights; if no tradable target has weight, it goes to cash. Each such case is
  recorded in :attr:`BacktestResult.blocked`.
- A held ETF whose price is missing at the end of a week (it stopped trading) is valued at
  its last close (return 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantbook.evaluation import PortfolioStats, net_value, portfolio_stats

__all__ = [
    "CASH",
    "BacktestResult",
    "Costs",
    "backtest",
    "period_return",
]

#: Column name of the cash position.
CASH = "CASH"


@dataclass(frozen=True)
class Costs:
    """One-way transaction costs by ETF category, in basis points of the value traded.

    Attributes
    ----------
    equity_bps
        Default one-way cost (commission + half spread + impact) of equity ETFs.
    by_category
        Overrides by ``etf_info.category`` (bond and money-market ETFs trade cheaper).

    Examples
    --------
    >>> info = pd.DataFrame({"category": ["broad", "bond"]}, index=["A", "B"])
    >>> Costs(equity_bps=8).rates(info).tolist()
    [0.0008, 0.0001]
    """

    equity_bps: float = 5.0
    by_category: Mapping[str, float] = field(default_factory=lambda: {"bond": 1.0, "money": 0.0})

    def rates(self, info: pd.DataFrame) -> pd.Series:
        """One-way cost rate (a fraction) of each ETF of ``info`` (indexed by code)."""
        cat = info["category"].astype(str)
        bps = cat.map(lambda c: float(self.by_category.get(c, self.equity_bps)))
        return (bps / 1e4).astype(float).rename("cost_rate")


@dataclass(frozen=True)
class BacktestResult:
    """A weekly backtest (see the module docstring for the definitions).

    Attributes
    ----------
    name
        Strategy label.
    targets
        Requested weights, ``rebalance date x code`` with :data:`CASH` (rows sum to 1).
    weights
        Weights after trading at each rebalance date (rows sum to 1).
    drifted
        Weights just before trading at each rebalance date (rows sum to 1).
    turnover
        One-side turnover at each rebalance date.
    costs
        Transaction costs paid at each rebalance date, as a fraction of the portfolio.
    gross, net
        Weekly returns before / after costs, labelled by the week's end date.
    benchmark
        Benchmark returns over the same weeks (None without a benchmark).
    blocked
        ``date, code, target, weight, reason`` for every trade the rules prevented.
    """

    name: str
    targets: pd.DataFrame
    weights: pd.DataFrame
    drifted: pd.DataFrame
    turnover: pd.Series
    costs: pd.Series
    gross: pd.Series
    net: pd.Series
    benchmark: pd.Series | None = None
    blocked: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["date", "code", "target", "weight", "reason"])
    )

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The rebalance dates."""
        return pd.DatetimeIndex(self.weights.index)

    @property
    def excess(self) -> pd.Series:
        """Weekly net return minus the benchmark's (NaN without a benchmark)."""
        if self.benchmark is None:
            return pd.Series(np.nan, index=self.net.index, name="excess")
        return (self.net - self.benchmark.reindex(self.net.index)).rename("excess")

    def nav(self) -> pd.DataFrame:
        """Net value of the strategy (and the benchmark), 1 at the first rebalance date."""
        base = self.dates[:1]
        out = pd.DataFrame(
            {"strategy": pd.concat([pd.Series(1.0, index=base), net_value(self.net)])}
        )
        if self.benchmark is not None:
            b = self.benchmark.reindex(self.net.index)
            out["benchmark"] = pd.concat([pd.Series(1.0, index=base), net_value(b)])
        return out

    def holdings(self, date: object | None = None, *, min_weight: float = 1e-9) -> pd.Series:
        """Weights held after the rebalance at ``date`` (default the last), zeros dropped."""
        ts = self.dates[-1] if date is None else pd.Timestamp(date)  # type: ignore[arg-type]
        row = pd.Series(self.weights.loc[ts], dtype=float)
        return row[(row.abs() > min_weight).to_numpy()].rename("weight")

    def stats(self, *, periods_per_year: int = 52) -> PortfolioStats:
        """:func:`quantbook.evaluation.portfolio_stats` of the net weekly returns."""
        bench = None if self.benchmark is None else self.benchmark.reindex(self.net.index)
        return portfolio_stats(
            self.net,
            periods_per_year=periods_per_year,
            benchmark=bench,
            turnover=self.turnover.iloc[1:] if len(self.turnover) > 1 else None,
        )


def _sample(frame: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Last value on or before each date (rows of ``frame`` forward-filled)."""
    full = frame.sort_index()
    union = full.index.union(dates)
    return full.reindex(union).ffill().reindex(dates)


def backtest(
    targets: pd.DataFrame,
    *,
    prices: pd.DataFrame,
    traded: pd.DataFrame | None = None,
    cost_rates: pd.Series | float = 5e-4,
    cash_return: pd.Series | None = None,
    benchmark: pd.Series | None = None,
    name: str = "",
) -> BacktestResult:
    """Simulate holding the target weights from each rebalance date to the next.

    Parameters
    ----------
    targets
        ``rebalance date x code`` target weights, each row with non-negative weights summing to
        at most 1 (the rest is cash; a :data:`CASH` column may be given explicitly). Rows are
        the rebalance dates; the last row's holdings have no return yet.
    prices
        ``date x code`` closes (daily or on the rebalance dates); the price of a date is the
        last one on or before it. NaN before an ETF's first close.
    traded
        ``date x code``: whether the ETF can trade on that date (has a bar and is not
        suspended). Default: it has a price on that exact date.
    cost_rates
        One-way cost rate per code (a Series; missing codes cost 0) or one rate for all.
    cash_return
        Return of cash over each week, labelled by the week's end date (default 0).
    benchmark
        Benchmark returns over each week, labelled by the week's end date.
    name
        Label of the strategy.

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> d = pd.to_datetime(["2024-01-05", "2024-01-12"])
    >>> px = pd.DataFrame({"A": [10.0, 11.0], "B": [20.0, 19.0]}, index=d)
    >>> res = backtest(pd.DataFrame({"A": [0.5, 0.5], "B": [0.5, 0.5]}, index=d), prices=px,
    ...                cost_rates=0.0)
    >>> round(float(res.net.iloc[0]), 6)
    0.025
    """
    if not targets.index.is_monotonic_increasing or not targets.index.is_unique:
        raise ValueError("targets must have unique, increasing rebalance dates")
    dates = pd.DatetimeIndex(targets.index)
    tgt = targets.astype(float).fillna(0.0)
    if (tgt < -1e-12).any().any():
        raise ValueError("target weights must be non-negative (the engine is long-only)")
    codes = [c for c in tgt.columns if c != CASH]
    risky = tgt[codes]
    total = risky.sum(axis=1)
    if (total > 1 + 1e-9).any():
        bad = total[total > 1 + 1e-9]
        raise ValueError(
            f"target weights sum above 1 on {len(bad)} date(s), e.g. {bad.index[0]:%Y-%m-%d}"
        )
    cash_t = (1.0 - total).clip(lower=0.0)
    tgt_full = risky.copy()
    tgt_full[CASH] = cash_t
    cols = [*codes, CASH]

    px = _sample(prices.reindex(columns=codes), dates).to_numpy(dtype=float)
    if traded is None:
        tr = prices.reindex(index=dates, columns=codes).notna().to_numpy()
    else:
        tr = traded.reindex(index=dates, columns=codes).fillna(False).to_numpy(dtype=bool)
    tr = tr & np.isfinite(px)
    if isinstance(cost_rates, pd.Series):
        kappa = cost_rates.reindex(codes).fillna(0.0).to_numpy(dtype=float)
    else:
        kappa = np.full(len(codes), float(cost_rates))
    cret = (
        np.zeros(len(dates))
        if cash_return is None
        else cash_return.reindex(dates).fillna(0.0).to_numpy(dtype=float)
    )

    K, N = len(dates), len(codes)
    T = tgt_full[cols].to_numpy(dtype=float)
    W = np.zeros((K, N + 1))
    D = np.zeros((K, N + 1))
    cost = np.zeros(K)
    gross = np.full(K, np.nan)
    blocked: list[dict[str, object]] = []
    prev = np.zeros(N + 1)
    prev[N] = 1.0  # start in cash
    for k in range(K):
        if k > 0:
            # drift over (t_{k-1}, t_k]
            p0, p1 = px[k - 1], px[k]
            ratio = np.where(np.isfinite(p0) & np.isfinite(p1) & (p0 > 0), p1 / p0, 1.0)
            grow = np.append(prev[:N] * ratio, prev[N] * (1.0 + cret[k]))
            g = grow.sum()
            gross[k] = g - 1.0
            drift = grow / g if g > 0 else grow
        else:
            drift = prev
        D[k] = drift
        target = T[k]
        can = np.append(tr[k], True)
        frozen = ~can & (drift > 1e-12)
        budget = 1.0 - drift[frozen].sum()
        share = np.where(can, target, 0.0)
        s = share.sum()
        new = np.zeros(N + 1)
        new[frozen] = drift[frozen]
        if s > 1e-12:
            new[can] = budget * share[can] / s
        else:
            new[N] += budget
        for i in np.flatnonzero(~can[:N] & ((target[:N] > 1e-12) | frozen[:N])):
            if abs(target[i] - drift[i]) > 1e-12:
                reason = "suspended" if np.isfinite(px[k, i]) else "not listed"
                blocked.append(
                    {
                        "date": dates[k],
                        "code": codes[i],
                        "target": float(target[i]),
                        "weight": float(new[i]),
                        "reason": reason,
                    }
                )
        W[k] = new
        cost[k] = float(np.sum(kappa * np.abs(new[:N] - drift[:N])))
        prev = new
    turnover = 0.5 * np.abs(W - D).sum(axis=1)
    net = np.full(K, np.nan)
    net[1:] = (1.0 - cost[:-1]) * (1.0 + gross[1:]) - 1.0
    end_labels = dates[1:]
    bench = None
    if benchmark is not None:
        bench = benchmark.reindex(end_labels).astype(float).rename("benchmark")
    return BacktestResult(
        name=name,
        targets=pd.DataFrame(T, index=dates, columns=cols),
        weights=pd.DataFrame(W, index=dates, columns=cols),
        drifted=pd.DataFrame(D, index=dates, columns=cols),
        turnover=pd.Series(turnover, index=dates, name="turnover"),
        costs=pd.Series(cost, index=dates, name="cost"),
        gross=pd.Series(gross[1:], index=end_labels, name="gross"),
        net=pd.Series(net[1:], index=end_labels, name="net"),
        benchmark=bench,
        blocked=pd.DataFrame(blocked, columns=["date", "code", "target", "weight", "reason"]),
    )


def period_return(
    returns: pd.Series, *, start: object | None = None, end: object | None = None
) -> float:
    """Compounded return of the weeks ending in ``(start, end]``: :math:`\\prod (1 + r) - 1`.

    Parameters
    ----------
    returns
        Weekly returns labelled by the week's end date.
    start
        Exclusive lower bound (the base date); None = from the first week.
    end
        Inclusive upper bound; None = to the last week.

    Examples
    --------
    >>> r = pd.Series([0.1, 0.1], index=pd.to_datetime(["2024-01-05", "2024-01-12"]))
    >>> round(period_return(r, start="2024-01-05"), 6)
    0.1
    """
    r = returns.dropna()
    if start is not None:
        r = r[r.index > pd.Timestamp(start)]  # type: ignore[arg-type]
    if end is not None:
        r = r[r.index <= pd.Timestamp(end)]  # type: ignore[arg-type]
    return float(np.prod(1.0 + r.to_numpy(dtype=float)) - 1.0) if len(r) else math.nan
