"""The composite behaviour factor (SPEC §2.5): industry-wise standardized factors weighted by
their signed trailing ICIR, then neutralized against industry and size.

Examples
--------
>>> from quantbook.factors.behavior_composite import composite_factor   # doctest: +SKIP
>>> res = composite_factor(history.values, forward_returns=mp.forward, industry=mp.industry,
...                        float_cap=mp.float_cap, universe=mp.universe, tradable=mp.sample)  # doctest: +SKIP
>>> res.weights.tail()                                                   # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantbook.data.calendar import DateLike
from quantbook.evaluation.ic import rank_ic_series, rolling_icir
from quantbook.preprocess import (
    DegenerateCrossSectionWarning,
    TooFewStocksWarning,
    neutralize,
    winsorize_mad,
    zscore,
)

__all__ = ["CompositeResult", "composite_factor", "industry_standardize"]


def industry_standardize(
    factor: pd.DataFrame, *, industry: pd.DataFrame, universe: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Winsorize (median +- 5 MAD) and z-score a factor within each industry and date.

    Parameters
    ----------
    factor
        Raw values, ``date x code``.
    industry
        Industry labels, ``date x code`` (stocks without one are NaN in the output).
    universe
        Optional bool mask; stocks outside it are NaN before the statistics are taken.

    Returns
    -------
    pandas.DataFrame
        The standardized factor; an industry with fewer than two stocks on a date is NaN.

    Notes
    -----
    Within each (date, industry) group: :math:`x^w = \\mathrm{clip}(x, m - 5\\,MAD, m + 5\\,MAD)`,
    then :math:`z = (x^w - \\bar x^w) / s(x^w)`.
    """
    f = factor.reindex(index=industry.index, columns=industry.columns)
    if universe is not None:
        f = f.where(
            universe.reindex(index=f.index, columns=f.columns, fill_value=False).astype(bool)
        )
    w = winsorize_mad(f, k=5.0, groups=industry)
    return zscore(w, groups=industry)


@dataclass(frozen=True)
class CompositeResult:
    """The composite factor and how it was built.

    Attributes
    ----------
    values
        ``date x code`` composite: weighted sum, neutralized against industry dummies and
        ln float cap, z-scored; NaN before the first date with weights.
    components
        ``{factor: date x code}`` the industry-standardized factors.
    rank_ic
        ``date x factor`` rank IC of each component (labelled by formation date; the IC at
        :math:`t` uses the return to the next date).
    weights
        ``date x factor`` the signed ICIR weights used at each date: mean / std of the rank ICs
        labelled :math:`t-W .. t-1` (known at :math:`t`), not annualized.
    factors
        The factors combined.
    window, min_periods
        The ICIR window (months) and the minimum number of ICs in it.
    """

    values: pd.DataFrame
    components: dict[str, pd.DataFrame]
    rank_ic: pd.DataFrame
    weights: pd.DataFrame
    factors: tuple[str, ...]
    window: int
    min_periods: int

    def weights_at(self, date: DateLike) -> pd.Series:
        """The weights used at ``date``."""
        return pd.Series(self.weights.loc[pd.Timestamp(date)], dtype=float)


def composite_factor(
    factors: Mapping[str, pd.DataFrame],
    *,
    forward_returns: pd.DataFrame,
    industry: pd.DataFrame,
    float_cap: pd.DataFrame,
    universe: pd.DataFrame | None = None,
    tradable: pd.DataFrame | None = None,
    window: int = 12,
    min_periods: int | None = None,
) -> CompositeResult:
    """Combine factors with signed trailing-ICIR weights and neutralize (SPEC §2.5).

    Parameters
    ----------
    factors
        ``{name: date x code}`` raw factor values at the rebalance dates (consecutive).
    forward_returns
        Forward returns labelled by formation date (``date x code``).
    industry
        Industry labels, ``date x code``.
    float_cap
        Float market cap, ``date x code`` (for ln-cap neutralization).
    universe
        Optional bool mask of the eligible stocks at each date.
    tradable
        Optional bool mask of the evaluation sample for the rank ICs (stocks that can be
        bought at :math:`t`).
    window
        ICIR window in periods (12 months).
    min_periods
        Minimum number of ICs in the window (default ``window``).

    Returns
    -------
    CompositeResult

    Notes
    -----
    With :math:`z_{k}` the industry-wise winsorized and z-scored factor :math:`k`
    (:func:`industry_standardize`) and :math:`IC_{k,s}` its rank IC at formation date
    :math:`s`,

    .. math:: w_{k,t} = \\frac{\\operatorname{mean}(IC_{k,t-W}, \\dots, IC_{k,t-1})}
       {\\operatorname{std}(IC_{k,t-W}, \\dots, IC_{k,t-1})}, \\qquad
       C_t = \\sum_k w_{k,t} \\, z_{k,t}

    The IC labelled :math:`t-1` needs the return to :math:`t`, so every weight is known at
    :math:`t` (no lookahead). A stock missing a component counts 0 for it (its industry
    mean); a stock with no component is NaN; a factor without a weight yet (fewer than
    ``min_periods`` ICs, e.g. smart money on a short history) gets 0 while at least one
    factor has a weight. Finally :math:`C_t` is neutralized by OLS on industry dummies and
    :math:`\\ln` float cap and z-scored.
    """
    names = tuple(factors)
    if not names:
        raise ValueError("no factors to combine")
    mp = window if min_periods is None else min_periods
    dates = industry.index
    comps = {
        n: industry_standardize(factors[n], industry=industry, universe=universe) for n in names
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewStocksWarning)
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        ics = pd.DataFrame(
            {n: rank_ic_series(comps[n], forward_returns, tradable=tradable) for n in names},
            index=dates,
        )
    weights = pd.DataFrame(
        {
            n: rolling_icir(ics[n], window=window, annualize=False, min_periods=mp, lag=1)
            for n in names
        },
        index=dates,
    )
    any_weight = weights.notna().any(axis=1).to_numpy()
    w = weights.fillna(0.0).to_numpy()
    total = np.zeros(industry.shape)
    seen = np.zeros(industry.shape, dtype=bool)
    for j, n in enumerate(names):
        z = comps[n].to_numpy(dtype=float)
        fin = np.isfinite(z)
        seen |= fin
        total += np.where(fin, z, 0.0) * w[:, j][:, None]
    raw = np.where(seen & any_weight[:, None], total, np.nan)
    raw_frame = pd.DataFrame(raw, index=dates, columns=industry.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewStocksWarning)
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        neutral = neutralize(raw_frame, industry=industry, float_cap=float_cap)
        values = zscore(neutral)
    weights.columns.name = "factor"
    ics.columns.name = "factor"
    return CompositeResult(
        values=values,
        components=comps,
        rank_ic=ics,
        weights=pd.DataFrame(
            np.where(any_weight[:, None], w, np.nan), index=dates, columns=weights.columns
        ),
        factors=names,
        window=window,
        min_periods=mp,
    )
