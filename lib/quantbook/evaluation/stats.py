"""Portfolio statistics from periodic returns (compounded): return, risk, drawdown, excess."""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "Drawdown",
    "MissingPeriodsWarning",
    "PortfolioStats",
    "annualized_return",
    "annualized_volatility",
    "excess_return",
    "long_short_ir",
    "max_drawdown",
    "mean_t_stat",
    "net_value",
    "one_side_turnover",
    "portfolio_stats",
    "sharpe_ratio",
    "win_rate",
]

ExcessMethod = Literal["relative", "difference", "hedged"]


class MissingPeriodsWarning(UserWarning):
    """A return series has NaN periods inside its sample; they are dropped."""


def _clean(returns: pd.Series | pd.DataFrame | np.ndarray | list[float]) -> pd.Series:
    """Returns as a float series with NaN periods dropped (warning on interior gaps)."""
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise TypeError("pass a single return series, not a multi-column DataFrame")
        returns = returns.iloc[:, 0]
    s = pd.Series(returns, dtype=float)
    valid = s.notna().to_numpy()
    if valid.any():
        first, last = np.flatnonzero(valid)[[0, -1]]
        gaps = int((~valid[first : last + 1]).sum())
        if gaps:
            warnings.warn(
                f"{gaps} NaN period(s) inside the sample of {s.name or 'returns'} are dropped",
                MissingPeriodsWarning,
                stacklevel=3,
            )
    return s[valid]


def _growth(r: pd.Series) -> float:
    """Compounded growth factor :math:`\\prod_t (1 + r_t)`."""
    return float(np.prod(1.0 + r.to_numpy(dtype=float)))


def net_value(returns: pd.Series, *, start: float = 1.0) -> pd.Series:
    """Compounded net value (NAV) after each period.

    Parameters
    ----------
    returns
        Simple periodic returns; NaN periods are dropped.
    start
        Initial value before the first period.

    Returns
    -------
    pandas.Series
        :math:`V_t = V_0 \\prod_{s \\le t} (1 + r_s)`, labelled like ``returns``.

    Examples
    --------
    >>> net_value(pd.Series([0.1, -0.5])).round(6).tolist()
    [1.1, 0.55]
    """
    return start * (1.0 + _clean(returns)).cumprod()


def annualized_return(returns: pd.Series, *, periods_per_year: int = 12) -> float:
    """Compounded annualized return.

    Parameters
    ----------
    returns
        Simple periodic returns; NaN periods are dropped.
    periods_per_year
        12 for monthly, 52 for weekly, 252 for daily returns.

    Returns
    -------
    float
        :math:`(\\prod_t (1 + r_t))^{P / n} - 1`; NaN for an empty series, -1 if the NAV
        reached 0.

    Examples
    --------
    >>> round(annualized_return(pd.Series([0.1, 0.1]), periods_per_year=1), 6)
    0.1
    >>> round(annualized_return(pd.Series([0.01] * 12)), 6)
    0.126825
    """
    r = _clean(returns)
    if r.empty:
        return math.nan
    growth = _growth(r)
    if growth <= 0:
        return -1.0
    return growth ** (periods_per_year / len(r)) - 1.0


def annualized_volatility(
    returns: pd.Series, *, periods_per_year: int = 12, ddof: int = 1
) -> float:
    """Annualized volatility: periodic standard deviation times sqrt(periods per year).

    Parameters
    ----------
    returns
        Simple periodic returns; NaN periods are dropped.
    periods_per_year
        Periods per year.
    ddof
        Delta degrees of freedom (1 = sample standard deviation).

    Returns
    -------
    float
        :math:`s_r \\sqrt{P}`.

    Examples
    --------
    >>> round(annualized_volatility(pd.Series([0.01, 0.03]), periods_per_year=4), 6)
    0.028284
    """
    r = _clean(returns)
    if len(r) <= ddof:
        return math.nan
    return float(r.std(ddof=ddof)) * math.sqrt(periods_per_year)


def sharpe_ratio(
    returns: pd.Series, *, periods_per_year: int = 12, risk_free: float = 0.0
) -> float:
    """IR / Sharpe: (annualized return - risk-free rate) / annualized volatility.

    Parameters
    ----------
    returns
        Simple periodic returns; NaN periods are dropped.
    periods_per_year
        Periods per year.
    risk_free
        Annual risk-free rate (default 0, which gives the IR of the reports).

    Returns
    -------
    float
        :math:`(R_{ann} - r_f) / \\sigma_{ann}` with the compounded :math:`R_{ann}` of
        :func:`annualized_return`. This is the broker convention (e.g. the GAN_GRU report's
        IR 1.60 = 37.4 % / 23.4 %); it differs from the arithmetic
        :math:`\\bar r / s_r \\sqrt{P}` of :func:`long_short_ir`.

    Examples
    --------
    >>> round(sharpe_ratio(pd.Series([0.21, 0.0]), periods_per_year=2), 6)
    1.0
    """
    vol = annualized_volatility(returns, periods_per_year=periods_per_year)
    if not vol > 0:
        return math.nan
    return (annualized_return(returns, periods_per_year=periods_per_year) - risk_free) / vol


def long_short_ir(long_short: pd.Series, *, periods_per_year: int = 12) -> float:
    """Kaiyuan long-short "IR": annualized mean / annualized std of the periodic L-S return.

    Parameters
    ----------
    long_short
        Periodic top-minus-bottom group returns (e.g. ``GroupReturns.long_short``).
    periods_per_year
        12 for monthly.

    Returns
    -------
    float
        :math:`\\frac{P \\bar r}{\\sqrt{P} s_r} = \\sqrt{P} \\, \\bar r / s_r` (arithmetic mean,
        sample std with ddof = 1).

    Examples
    --------
    >>> round(long_short_ir(pd.Series([0.01, 0.03]), periods_per_year=4), 6)
    2.828427
    """
    r = _clean(long_short)
    if len(r) < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd * math.sqrt(periods_per_year) if sd > 0 else math.nan


def mean_t_stat(values: pd.Series) -> float:
    """t-statistic of the mean of a per-period series (an IC, a factor return).

    Parameters
    ----------
    values
        One value per period; NaN periods are dropped.

    Returns
    -------
    float
        :math:`t = \\bar x \\sqrt{n} / s_x` with the sample standard deviation
        (ddof = 1), as the one-sample t-test of statsmodels / scipy against 0; NaN with fewer
        than 2 periods or a zero standard deviation.

    Examples
    --------
    >>> round(mean_t_stat(pd.Series([0.1, 0.3, -0.1, 0.1])), 6)
    1.224745
    >>> mean_t_stat(pd.Series([0.1])), mean_t_stat(pd.Series([0.1, 0.1]))
    (nan, nan)
    """
    x = pd.Series(values, dtype=float).dropna()
    n = len(x)
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    return float(x.mean()) / sd * math.sqrt(n) if sd > 0 else math.nan


def win_rate(returns: pd.Series) -> float:
    """Share of periods with a strictly positive return (NaN periods dropped).

    Parameters
    ----------
    returns
        Periodic returns (for the monthly win rate: the monthly long-short return).

    Returns
    -------
    float
        :math:`\\#\\{t: r_t > 0\\} / n`; NaN for an empty series.

    Examples
    --------
    >>> win_rate(pd.Series([0.1, -0.1, 0.0, 0.2]))
    0.5
    """
    r = _clean(returns)
    return float((r > 0).mean()) if len(r) else math.nan


@dataclass(frozen=True)
class Drawdown:
    """The maximum drawdown of a compounded NAV.

    Attributes
    ----------
    depth
        Maximum drawdown as a positive fraction, :math:`1 - V_{trough} / V_{peak}` (0 if the
        NAV never falls below a previous peak).
    start
        Label of the first period of the decline (the period right after the peak); None if
        ``depth`` is 0.
    end
        Label of the trough period; None if ``depth`` is 0.
    recovery
        Label of the first period after the trough whose NAV is back at the peak, or None.
    """

    depth: float
    start: Hashable | None
    end: Hashable | None
    recovery: Hashable | None

    def to_series(self) -> pd.Series:
        """The drawdown as a labelled series (object dtype)."""
        return pd.Series(
            {
                "max drawdown": self.depth,
                "drawdown start": self.start,
                "drawdown end": self.end,
                "recovery": self.recovery,
            },
            dtype=object,
        )


def max_drawdown(returns: pd.Series) -> Drawdown:
    """Maximum drawdown of the compounded NAV, with its start and end periods.

    Parameters
    ----------
    returns
        Simple periodic returns; NaN periods are dropped. The NAV starts at 1 before the
        first period, so a loss in the first period is a drawdown.

    Returns
    -------
    Drawdown
        Depth (positive fraction), start, end and recovery labels.

    Notes
    -----
    .. math:: MDD = \\max_t \\left(1 - \\frac{V_t}{\\max(1, \\max_{s \\le t} V_s)}\\right)

    The decline spans the periods ``start`` .. ``end`` inclusive, so
    :math:`1 - \\prod_{t=start}^{end}(1 + r_t) = MDD`. If the peak was reached several
    times, the last time before the trough is used.

    Examples
    --------
    >>> dd = max_drawdown(pd.Series([0.1, -0.5, 0.2, 1.0], index=list("abcd")))
    >>> dd.depth, dd.start, dd.end, dd.recovery
    (0.5, 'b', 'b', 'd')
    """
    r = _clean(returns)
    if r.empty:
        return Drawdown(depth=math.nan, start=None, end=None, recovery=None)
    v = np.concatenate([[1.0], (1.0 + r.to_numpy()).cumprod()])
    peak = np.maximum.accumulate(v)
    dd = 1.0 - v / peak
    trough = int(np.argmax(dd))
    depth = float(dd[trough])
    if depth <= 0:
        return Drawdown(depth=0.0, start=None, end=None, recovery=None)
    peak_pos = int(np.flatnonzero(v[: trough + 1] == peak[trough])[-1])
    labels = r.index
    after = np.flatnonzero(v[trough + 1 :] >= peak[trough])
    recovery = labels[trough + after[0]] if after.size else None
    # position p in v is the NAV after period p - 1 of r
    return Drawdown(depth=depth, start=labels[peak_pos], end=labels[trough - 1], recovery=recovery)


def one_side_turnover(weights: pd.DataFrame) -> pd.Series:
    """One-side turnover between consecutive weight vectors (rows).

    Parameters
    ----------
    weights
        Target portfolio weights, ``rebalance date x code``, each row summing to 1 (NaN = 0).

    Returns
    -------
    pandas.Series
        :math:`\\tau_t = \\tfrac12 \\sum_i |w_{i,t} - w_{i,t-1}|`, the share of the portfolio's
        weight replaced at rebalance :math:`t`; NaN for the first row.

    Notes
    -----
    Weights are compared as targets, without drift from returns between rebalances. For an
    equal-weighted portfolio of constant size :math:`N` that replaces :math:`k` names,
    :math:`\\tau = k / N`.

    Examples
    --------
    >>> w = pd.DataFrame({"A": [0.5, 0.5], "B": [0.5, 0.0], "C": [0.0, 0.5]})
    >>> one_side_turnover(w).tolist()
    [nan, 0.5]
    """
    w = weights.astype(float).fillna(0.0)
    tau = 0.5 * w.diff().abs().sum(axis=1)
    tau.iloc[:1] = np.nan
    return tau.rename("turnover")


def excess_return(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    periods_per_year: int = 12,
    method: ExcessMethod = "relative",
) -> float:
    """Annualized excess return over a benchmark, compounded.

    Parameters
    ----------
    returns, benchmark
        Periodic returns of the portfolio and the benchmark (e.g. the equal-weighted
        universe); the benchmark must cover every period of ``returns``.
    periods_per_year
        Periods per year.
    method
        ``"relative"`` (default): annualized growth of the relative NAV
        :math:`V^p_t / V^b_t`; ``"difference"``: :math:`R^p_{ann} - R^b_{ann}`;
        ``"hedged"``: annualized compounded return of :math:`r^p_t - r^b_t` (long the
        portfolio, short the benchmark, rebalanced each period).

    Returns
    -------
    float
        The annualized excess return.

    Notes
    -----
    .. math:: \\text{relative: } \\left(\\frac{\\prod(1 + r^p)}{\\prod(1 + r^b)}\\right)^{P/n} - 1
       = \\frac{1 + R^p_{ann}}{1 + R^b_{ann}} - 1

    The three agree to first order; "relative" is consistent with compounding (it is the
    return of the portfolio measured in units of the benchmark).

    Examples
    --------
    >>> p, b = pd.Series([0.21, 0.0]), pd.Series([0.1, 0.0])
    >>> round(excess_return(p, b, periods_per_year=2), 6)
    0.1
    >>> round(excess_return(p, b, periods_per_year=2, method="difference"), 6)
    0.11
    >>> round(excess_return(p, b, periods_per_year=2, method="hedged"), 6)
    0.11
    """
    r, b = _aligned_benchmark(returns, benchmark)
    if method == "relative":
        growth = _growth(r) / _growth(b)
        return growth ** (periods_per_year / len(r)) - 1.0 if len(r) else math.nan
    if method == "difference":
        return annualized_return(r, periods_per_year=periods_per_year) - annualized_return(
            b, periods_per_year=periods_per_year
        )
    if method == "hedged":
        return annualized_return(r - b, periods_per_year=periods_per_year)
    raise ValueError(f"method must be 'relative', 'difference' or 'hedged', not {method!r}")


def _aligned_benchmark(returns: pd.Series, benchmark: pd.Series) -> tuple[pd.Series, pd.Series]:
    r = _clean(returns)
    b = pd.Series(benchmark, dtype=float).reindex(r.index)
    if b.isna().any():
        missing = list(r.index[b.isna().to_numpy()])
        raise ValueError(f"benchmark has no return for {len(missing)} period(s): {missing[:5]}")
    return r, b


@dataclass(frozen=True)
class PortfolioStats:
    """Statistics of a periodic return series (see :func:`portfolio_stats`).

    Attributes
    ----------
    total_return, annual_return, annual_volatility, sharpe
        Compounded total and annualized return, annualized volatility, and
        (annual_return - risk_free) / annual_volatility.
    max_drawdown
        The :class:`Drawdown` (depth as a positive fraction, start/end labels).
    win_rate
        Share of periods with a positive return.
    n_periods, start, end
        Number of periods and first / last period label.
    periods_per_year, risk_free
        Conventions used.
    benchmark_return, excess_return, excess_method, tracking_error, information_ratio
        Benchmark-relative figures (None without a benchmark); the information ratio is
        excess_return / tracking_error, tracking error = std(r - b) x sqrt(P).
    mean_turnover
        Mean one-side turnover per rebalance (None if no turnover series was given).
    """

    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    max_drawdown: Drawdown
    win_rate: float
    n_periods: int
    start: Hashable | None
    end: Hashable | None
    periods_per_year: int
    risk_free: float
    benchmark_return: float | None = None
    excess_return: float | None = None
    excess_method: str | None = None
    tracking_error: float | None = None
    information_ratio: float | None = None
    mean_turnover: float | None = None

    def to_series(self) -> pd.Series:
        """The statistics as a labelled series (object dtype), for tables."""
        rows: dict[str, object] = {
            "total return": self.total_return,
            "annualized return": self.annual_return,
            "annualized volatility": self.annual_volatility,
            "IR / Sharpe" if self.risk_free == 0 else f"Sharpe (rf={self.risk_free:g})": (
                self.sharpe
            ),
            "max drawdown": self.max_drawdown.depth,
            "drawdown start": self.max_drawdown.start,
            "drawdown end": self.max_drawdown.end,
            "win rate": self.win_rate,
        }
        if self.excess_return is not None:
            rows["benchmark annualized return"] = self.benchmark_return
            rows[f"annualized excess return ({self.excess_method})"] = self.excess_return
            rows["tracking error"] = self.tracking_error
            rows["information ratio"] = self.information_ratio
        if self.mean_turnover is not None:
            rows["mean turnover (one side)"] = self.mean_turnover
        rows["periods"] = self.n_periods
        rows["start"] = self.start
        rows["end"] = self.end
        return pd.Series(rows, dtype=object)

    def to_frame(self, name: str = "portfolio") -> pd.DataFrame:
        """One-column frame of :meth:`to_series`."""
        return self.to_series().rename(name).to_frame()


def portfolio_stats(
    returns: pd.Series,
    *,
    periods_per_year: int = 12,
    risk_free: float = 0.0,
    benchmark: pd.Series | None = None,
    excess_method: ExcessMethod = "relative",
    turnover: pd.Series | None = None,
) -> PortfolioStats:
    """All portfolio statistics of a periodic return series, compounded.

    Parameters
    ----------
    returns
        Simple periodic returns labelled by period (NaN periods dropped).
    periods_per_year
        12 for monthly, 52 for weekly.
    risk_free
        Annual risk-free rate for the Sharpe ratio (default 0: the reports' IR).
    benchmark
        Optional benchmark returns covering every period of ``returns``.
    excess_method
        How the annualized excess return is compounded, see :func:`excess_return`.
    turnover
        Optional one-side turnover per rebalance (e.g. from :func:`one_side_turnover`); its
        mean is reported.

    Returns
    -------
    PortfolioStats
        The statistics; ``.to_series()`` / ``.to_frame()`` for tables.

    Notes
    -----
    :math:`R_{ann} = (\\prod(1+r_t))^{P/n} - 1`, :math:`\\sigma_{ann} = s_r\\sqrt{P}`,
    Sharpe :math:`= (R_{ann} - r_f)/\\sigma_{ann}`, drawdown of
    :math:`V_t = \\prod_{s \\le t}(1 + r_s)` from :math:`V_0 = 1`.

    Examples
    --------
    >>> s = portfolio_stats(pd.Series([0.1, -0.1, 0.1, -0.1]), periods_per_year=4)
    >>> round(s.annual_return, 6), round(s.max_drawdown.depth, 6), s.win_rate, s.n_periods
    (-0.0199, 0.109, 0.5, 4)
    """
    r = _clean(returns)
    ann = annualized_return(r, periods_per_year=periods_per_year)
    vol = annualized_volatility(r, periods_per_year=periods_per_year)
    stats: dict[str, object] = {}
    if benchmark is not None:
        rr, b = _aligned_benchmark(r, benchmark)
        te = annualized_volatility(rr - b, periods_per_year=periods_per_year)
        ex = excess_return(rr, b, periods_per_year=periods_per_year, method=excess_method)
        stats = {
            "benchmark_return": annualized_return(b, periods_per_year=periods_per_year),
            "excess_return": ex,
            "excess_method": excess_method,
            "tracking_error": te,
            "information_ratio": ex / te if te > 0 else math.nan,
        }
    mean_turnover = None
    if turnover is not None:
        mean_turnover = float(pd.Series(turnover, dtype=float).mean())
    return PortfolioStats(
        total_return=_growth(r) - 1.0 if len(r) else math.nan,
        annual_return=ann,
        annual_volatility=vol,
        sharpe=(ann - risk_free) / vol if vol > 0 else math.nan,
        max_drawdown=max_drawdown(r),
        win_rate=win_rate(r),
        n_periods=len(r),
        start=r.index[0] if len(r) else None,
        end=r.index[-1] if len(r) else None,
        periods_per_year=periods_per_year,
        risk_free=risk_free,
        mean_turnover=mean_turnover,
        **stats,  # type: ignore[arg-type]
    )
