"""Information coefficients: IC and rank IC series, ICIR and the IC summary table."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quantbook.evaluation._panel import evaluation_sample, warn_dates
from quantbook.evaluation.stats import mean_t_stat
from quantbook.preprocess import DegenerateCrossSectionWarning, TooFewStocksWarning

__all__ = [
    "ICIR",
    "ICSummary",
    "ic_series",
    "ic_summary",
    "icir",
    "rank_ic_series",
    "rolling_icir",
]


def _row_pearson(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``x`` and ``y`` in each row over the entries where ``mask``."""
    n = mask.sum(axis=1)
    xz = np.where(mask, x, 0.0)
    yz = np.where(mask, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xd = np.where(mask, xz - (xz.sum(axis=1) / n)[:, None], 0.0)
        yd = np.where(mask, yz - (yz.sum(axis=1) / n)[:, None], 0.0)
        sxx = (xd * xd).sum(axis=1)
        syy = (yd * yd).sum(axis=1)
        sxy = (xd * yd).sum(axis=1)
        return sxy / np.sqrt(sxx * syy)


def _row_ranks(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average ranks (1..n, ties averaged) within each row over the entries where ``mask``."""
    return pd.DataFrame(np.where(mask, x, np.nan)).rank(axis=1, method="average").to_numpy()


def ic_series(
    factor: pd.DataFrame,
    forward_returns: pd.DataFrame,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
    tradable: pd.DataFrame | None = None,
    min_stocks: int = 3,
) -> pd.Series:
    """IC per date: the cross-sectional correlation of factor_t and the forward return.

    Parameters
    ----------
    factor
        Factor values at the rebalance dates, ``date x code``.
    forward_returns
        Forward returns labelled by formation date (see
        :func:`quantbook.evaluation.forward_returns`), ``date x code``; reindexed to
        ``factor``'s dates and codes.
    method
        ``"pearson"`` (IC) or ``"spearman"`` (rank IC: Pearson correlation of the average
        ranks, as :func:`scipy.stats.spearmanr`).
    tradable
        Optional boolean ``date x code`` mask of stocks that can be bought at ``t``; stocks
        that cannot (limit-up close, suspended) are excluded from the period (SPEC proposal).
        Missing entries count as not tradable.
    min_stocks
        Fewer valid stocks than this on a date (but more than 0) gives NaN for that date and
        a :class:`TooFewStocksWarning` naming it.

    Returns
    -------
    pandas.Series
        The IC per date of ``factor`` (name ``"IC"`` or ``"rank IC"``); NaN where no stock has
        both a factor value and a forward return (e.g. the last rebalance date) or where the
        factor or the return is constant across stocks (with a
        :class:`DegenerateCrossSectionWarning`).

    Notes
    -----
    On date :math:`t`, over the :math:`n_t` stocks with a factor value, a forward return and
    (if given) ``tradable``,

    .. math:: IC_t = \\frac{\\sum_i (f_i - \\bar f)(r_i - \\bar r)}
       {\\sqrt{\\sum_i (f_i - \\bar f)^2 \\sum_i (r_i - \\bar r)^2}}

    and the rank IC is the same formula applied to the ranks of :math:`f` and :math:`r`.
    Computed for all dates at once (no per-date loop).

    Examples
    --------
    >>> d = pd.to_datetime(["2024-01-31"])
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], index=d)
    >>> r = pd.DataFrame([[0.01, 0.03, 0.02, 0.04]], index=d)
    >>> ic_series(f, r).round(6).tolist()
    [0.8]
    >>> ic_series(f, r ** 3, method="spearman").round(6).tolist()
    [0.8]
    """
    return _ic(factor, forward_returns, method, tradable, min_stocks)


def _ic(
    factor: pd.DataFrame,
    forward_returns: pd.DataFrame,
    method: str,
    tradable: pd.DataFrame | None,
    min_stocks: int,
) -> pd.Series:
    """Shared body of :func:`ic_series` and :func:`rank_ic_series` (warnings point at the caller)."""
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', not {method!r}")
    f, r, mask = evaluation_sample(factor, forward_returns, tradable)
    n = mask.sum(axis=1)
    if method == "spearman":
        f, r = _row_ranks(f, mask), _row_ranks(r, mask)
    ic = _row_pearson(f, r, mask)
    few = (n > 0) & (n < min_stocks)
    ic[few] = np.nan
    warn_dates(
        TooFewStocksWarning,
        f"fewer than {min_stocks} valid stocks, IC is NaN",
        list(factor.index[few]),
        stacklevel=4,
    )
    degenerate = (n >= min_stocks) & ~np.isfinite(ic)
    warn_dates(
        DegenerateCrossSectionWarning,
        "factor or forward return constant across stocks, IC is NaN",
        list(factor.index[degenerate]),
        stacklevel=4,
    )
    return pd.Series(ic, index=factor.index, name="IC" if method == "pearson" else "rank IC")


def rank_ic_series(
    factor: pd.DataFrame,
    forward_returns: pd.DataFrame,
    *,
    tradable: pd.DataFrame | None = None,
    min_stocks: int = 3,
) -> pd.Series:
    """Rank IC per date: :func:`ic_series` with ``method="spearman"``.

    Parameters
    ----------
    factor, forward_returns, tradable, min_stocks
        As in :func:`ic_series`.

    Returns
    -------
    pandas.Series
        Spearman correlation per date, named ``"rank IC"``.

    Notes
    -----
    :math:`RankIC_t = \\operatorname{corr}(\\operatorname{rank}(f_t),
    \\operatorname{rank}(r_{t \\to t+1}))` with average ranks for ties.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0]])
    >>> rank_ic_series(f, pd.DataFrame([[0.1, 0.2, 0.9]])).tolist()
    [1.0]
    """
    return _ic(factor, forward_returns, "spearman", tradable, min_stocks)


def _icir_label(annualize: bool, periods_per_year: int) -> str:
    if annualize:
        return f"ICIR (annualized, x sqrt({periods_per_year}))"
    return "ICIR (not annualized)"


@dataclass(frozen=True)
class ICIR:
    """An ICIR value with the convention it was computed under.

    Attributes
    ----------
    value
        mean(IC) / std(IC), times ``sqrt(periods_per_year)`` if ``annualized``.
    annualized
        Whether the value is annualized.
    periods_per_year
        Periods per year used (or that would be used) for annualization.
    """

    value: float
    annualized: bool
    periods_per_year: int

    @property
    def label(self) -> str:
        """Table label, e.g. ``"ICIR (annualized, x sqrt(12))"``."""
        return _icir_label(self.annualized, self.periods_per_year)

    def __float__(self) -> float:
        return float(self.value)

    def to_series(self) -> pd.Series:
        """One-element series ``{label: value}``."""
        return pd.Series({self.label: self.value}, dtype=float)


def _clean_ic(ic: pd.Series) -> pd.Series:
    return pd.Series(ic, dtype=float).dropna()


def icir(ic: pd.Series, *, annualize: bool, periods_per_year: int = 12) -> ICIR:
    """ICIR = mean(IC) / std(IC), annualized on request (always labelled).

    Parameters
    ----------
    ic
        IC (or rank IC) per period; NaN periods are dropped.
    annualize
        Required: True multiplies by ``sqrt(periods_per_year)``; the result's ``label``
        says which convention was used.
    periods_per_year
        12 for monthly rebalancing (default), 52 for weekly.

    Returns
    -------
    ICIR
        Value and convention; ``float(result)`` gives the number.

    Notes
    -----
    .. math:: ICIR = \\frac{\\overline{IC}}{s_{IC}} \\cdot
       \\begin{cases}\\sqrt{P} & \\text{annualized} \\\\ 1 & \\text{otherwise}\\end{cases}

    with :math:`s_{IC}` the sample standard deviation (ddof = 1) and :math:`P` periods per
    year.

    Examples
    --------
    >>> r = icir(pd.Series([0.1, 0.3]), annualize=False)
    >>> round(r.value, 6), r.label
    (1.414214, 'ICIR (not annualized)')
    >>> round(float(icir(pd.Series([0.1, 0.3]), annualize=True, periods_per_year=4)), 6)
    2.828427
    """
    x = _clean_ic(ic)
    sd = float(x.std(ddof=1)) if len(x) > 1 else math.nan
    value = float(x.mean()) / sd if sd > 0 else math.nan
    if annualize:
        value *= math.sqrt(periods_per_year)
    return ICIR(value=value, annualized=annualize, periods_per_year=periods_per_year)


def rolling_icir(
    ic: pd.Series,
    *,
    window: int = 12,
    annualize: bool,
    periods_per_year: int = 12,
    min_periods: int | None = None,
    lag: int = 1,
) -> pd.Series:
    """Trailing ICIR usable at each date (e.g. factor weights from the past 12 months).

    Parameters
    ----------
    ic
        IC per formation date (the IC labelled :math:`t` uses the return over
        :math:`(t, t_{+1}]` and is known only at the next rebalance date).
    window
        Number of IC periods in the trailing window.
    annualize
        Whether to multiply by ``sqrt(periods_per_year)``.
    periods_per_year
        Periods per year for annualization.
    min_periods
        Minimum number of non-NaN ICs in the window (default: ``window``).
    lag
        Shift of the result in periods. The default 1 makes the value at :math:`t` use ICs
        labelled up to the previous rebalance date only, i.e. returns realized by :math:`t`
        (no lookahead). Use 0 to label the ICIR by the last IC it contains.

    Returns
    -------
    pandas.Series
        Trailing ICIR per date, named ``"rolling ICIR"``.

    Notes
    -----
    .. math:: ICIR_t = \\frac{\\operatorname{mean}(IC_{t-L-W+1}, \\dots, IC_{t-L})}
       {\\operatorname{std}(IC_{t-L-W+1}, \\dots, IC_{t-L})}

    with :math:`W` = ``window`` and :math:`L` = ``lag``, in periods (rows of ``ic``).

    Examples
    --------
    >>> ic = pd.Series([0.1, 0.3, 0.2, 0.4])
    >>> rolling_icir(ic, window=2, annualize=False).round(6).tolist()
    [nan, nan, 1.414214, 3.535534]
    """
    x = pd.Series(ic, dtype=float)
    roll = x.rolling(window, min_periods=window if min_periods is None else min_periods)
    sd = roll.std(ddof=1)
    out = roll.mean() / sd.where(sd > 0)
    if annualize:
        out = out * math.sqrt(periods_per_year)
    return out.shift(lag).rename("rolling ICIR")


@dataclass(frozen=True)
class ICSummary:
    """Summary statistics of an IC series over its sample.

    Attributes
    ----------
    name
        ``"IC"`` or ``"rank IC"`` (or the series' name).
    mean, std
        Mean and sample standard deviation (ddof = 1) of the IC.
    icir
        The ICIR, with its convention (see :class:`ICIR`).
    t_stat
        :math:`\\overline{IC} / (s_{IC} / \\sqrt{n})`.
    share_positive
        Share of periods with IC > 0.
    n_periods
        Number of periods with an IC.
    start, end
        First and last period label (formation dates) with an IC.
    """

    name: str
    mean: float
    std: float
    icir: ICIR
    t_stat: float
    share_positive: float
    n_periods: int
    start: Hashable | None
    end: Hashable | None

    def to_series(self) -> pd.Series:
        """The summary as a labelled series (object dtype), for tables."""
        return pd.Series(
            {
                f"{self.name} mean": self.mean,
                f"{self.name} std": self.std,
                self.icir.label: self.icir.value,
                "t-stat": self.t_stat,
                f"{self.name} > 0": self.share_positive,
                "periods": self.n_periods,
                "start": self.start,
                "end": self.end,
            },
            dtype=object,
            name=self.name,
        )

    def to_frame(self) -> pd.DataFrame:
        """One-column frame of :meth:`to_series`."""
        return self.to_series().to_frame()


def ic_summary(
    ic: pd.Series, *, annualize: bool, periods_per_year: int = 12, name: str | None = None
) -> ICSummary:
    """Mean, std, ICIR, t-stat, share positive, number of periods and sample of an IC series.

    Parameters
    ----------
    ic
        IC (or rank IC) per period; NaN periods are dropped.
    annualize
        Whether the ICIR is annualized (required, see :func:`icir`).
    periods_per_year
        12 for monthly, 52 for weekly.
    name
        Label of the statistic (default: the series' name, else ``"IC"``).

    Returns
    -------
    ICSummary
        The summary; ``.to_series()`` for tables.

    Notes
    -----
    :math:`t = \\overline{IC} \\sqrt{n} / s_{IC}`, i.e. the non-annualized ICIR times
    :math:`\\sqrt{n}` (:func:`quantbook.evaluation.stats.mean_t_stat`: NaN with fewer than 2
    periods or a zero standard deviation).

    Examples
    --------
    >>> s = ic_summary(pd.Series([0.1, 0.3, -0.1, 0.1]), annualize=False)
    >>> round(s.mean, 6), round(s.t_stat, 6), s.share_positive, s.n_periods
    (0.1, 1.224745, 0.75, 4)
    """
    x = _clean_ic(ic)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    label = name if name is not None else (str(ic.name) if ic.name is not None else "IC")
    return ICSummary(
        name=label,
        mean=mean,
        std=sd,
        icir=icir(x, annualize=annualize, periods_per_year=periods_per_year),
        t_stat=mean_t_stat(x),
        share_positive=float((x > 0).mean()) if n else math.nan,
        n_periods=n,
        start=x.index[0] if n else None,
        end=x.index[-1] if n else None,
    )
