"""Cross-sectional preprocessing of factor panels: winsorize, standardize, neutralize.

Every function takes a wide ``date x code`` frame and works row by row (one cross-section per
date); the output has the input's index and columns. NaN in the input stays NaN in the output,
and a stock whose inputs (group label, cap, regressors) are missing on a date is NaN there.

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 100.0]], index=pd.to_datetime(["2024-01-31"]))
>>> winsorize_mad(f, k=5.0).iloc[0].tolist()
[1.0, 2.0, 3.0, 4.0, 8.0]
>>> zscore(f.iloc[:, :3]).iloc[0].tolist()
[-1.0, 0.0, 1.0]
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "MAD_NORMAL_SCALE",
    "DegenerateCrossSectionWarning",
    "TooFewStocksWarning",
    "cap_weighted_zscore",
    "neutralize",
    "preprocess_factor",
    "winsorize",
    "winsorize_mad",
    "winsorize_sigma",
    "zscore",
]

#: Factor that makes the MAD a consistent estimator of the standard deviation of a normal.
MAD_NORMAL_SCALE = 1.482602218505602

_Stat = Literal["median", "mean", "std", "count"]


class DegenerateCrossSectionWarning(UserWarning):
    """A cross-section has no dispersion (MAD or std is 0), so a statistic is undefined."""


class TooFewStocksWarning(UserWarning):
    """A date has too few valid stocks for the computation; the date's result is NaN."""


def _format_dates(dates: Sequence[Hashable], limit: int = 5) -> str:
    shown = [
        d.strftime("%Y-%m-%d") if isinstance(d, pd.Timestamp) else str(d) for d in dates[:limit]
    ]
    more = f" and {len(dates) - limit} more" if len(dates) > limit else ""
    return ", ".join(shown) + more


def _warn_dates(
    category: type[Warning], what: str, dates: Sequence[Hashable], *, stacklevel: int = 3
) -> None:
    """Emit one warning naming the affected dates (the first few and a count)."""
    if len(dates) == 0:
        return
    message = f"{what} on {len(dates)} date(s): {_format_dates(dates)}"
    warnings.warn(message, category, stacklevel=stacklevel)


def _values(frame: pd.DataFrame) -> np.ndarray:
    """The frame as a float array with NaN for missing values."""
    return frame.to_numpy(dtype=float, na_value=np.nan)


def _aligned(other: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    return other.reindex(index=like.index, columns=like.columns)


def _group_codes(groups: pd.DataFrame, like: pd.DataFrame) -> np.ndarray:
    """Integer codes (``-1`` = missing) of a wide frame of group labels aligned to ``like``."""
    g = _aligned(groups, like)
    flat = pd.Series(g.to_numpy(dtype=object).ravel())
    codes, _ = pd.factorize(flat, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64).reshape(g.shape)


def _row_stat(x: np.ndarray, how: _Stat, *, ddof: int = 1) -> np.ndarray:
    """Row statistic of ``x`` ignoring NaN, broadcast to the shape of ``x``."""
    frame = pd.DataFrame(x)
    if how == "median":
        s = frame.median(axis=1)
    elif how == "mean":
        s = frame.mean(axis=1)
    elif how == "std":
        s = frame.std(axis=1, ddof=ddof)
    else:
        s = frame.count(axis=1).astype(float)
    return np.broadcast_to(s.to_numpy(dtype=float)[:, None], x.shape).copy()


def _group_stat(x: np.ndarray, codes: np.ndarray, how: _Stat, *, ddof: int = 1) -> np.ndarray:
    """Statistic of ``x`` within each (row, group) cell, broadcast back; NaN where no group."""
    rows = np.repeat(np.arange(x.shape[0]), x.shape[1])
    flat_codes = codes.ravel()
    keep = flat_codes >= 0
    s = pd.Series(x.ravel()[keep])
    grouped = s.groupby([rows[keep], flat_codes[keep]], sort=False)
    if how == "std":
        stat = grouped.transform("std", ddof=ddof)
    else:
        stat = grouped.transform(how)
    out = np.full(x.size, np.nan)
    out[keep] = stat.to_numpy(dtype=float)
    return out.reshape(x.shape)


def _stat(x: np.ndarray, codes: np.ndarray | None, how: _Stat, *, ddof: int = 1) -> np.ndarray:
    if codes is None:
        return _row_stat(x, how, ddof=ddof)
    return _group_stat(x, codes, how, ddof=ddof)


def _prepare(
    factor: pd.DataFrame, groups: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray | None]:
    x = _values(factor)
    if groups is None:
        return x, None
    codes = _group_codes(groups, factor)
    x = np.where(codes >= 0, x, np.nan)
    return x, codes


def _frame(values: np.ndarray, like: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(values, index=like.index, columns=like.columns)


def _degenerate_rows(scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rows with at least two values whose (row-constant) scale statistic is 0 or undefined."""
    col = scale[:, 0] if scale.ndim == 2 else scale
    n = np.isfinite(x).sum(axis=1)
    return (n >= 2) & ~(np.isfinite(col) & (col > 0))


def winsorize_mad(
    factor: pd.DataFrame,
    *,
    k: float = 5.0,
    scaled: bool = False,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Clip each cross-section to ``median +- k x MAD`` (the SPEC default, k = 5).

    Parameters
    ----------
    factor
        Raw factor values, ``date x code``.
    k
        Width of the band in MADs.
    scaled
        If False (default), the raw MAD ``median(|x - median(x)|)`` is used, so the default
        band is about ``+-3.4`` standard deviations for normal data (the usual broker
        convention). If True, the MAD is multiplied by :data:`MAD_NORMAL_SCALE` (1.4826) to
        estimate the standard deviation, and the band is ``+-k`` sigma.
    groups
        Optional ``date x code`` frame of group labels (e.g. industry): the median and MAD are
        then computed within each (date, group). Stocks without a label become NaN.

    Returns
    -------
    pandas.DataFrame
        The clipped factor, same shape.

    Notes
    -----
    For each date (and group) with median :math:`m` and
    :math:`\\mathrm{MAD} = \\operatorname{median}_i |x_i - m|`,

    .. math:: x_i^{w} = \\min(\\max(x_i, m - k\\,c\\,\\mathrm{MAD}), m + k\\,c\\,\\mathrm{MAD})

    with :math:`c = 1` (``scaled=False``) or :math:`c = 1.4826`. Where the MAD is 0 (more than
    half the values equal), the band would collapse onto the median; the values are then left
    unchanged and, without ``groups``, a :class:`DegenerateCrossSectionWarning` names the dates.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 100.0]])
    >>> winsorize_mad(f, k=1.0).iloc[0].tolist()
    [2.0, 2.0, 3.0, 4.0, 4.0]
    """
    x, codes = _prepare(factor, groups)
    med = _stat(x, codes, "median")
    mad = _stat(np.abs(x - med), codes, "median")
    if scaled:
        mad = mad * MAD_NORMAL_SCALE
    if codes is None:
        bad = _degenerate_rows(mad, x)
        _warn_dates(
            DegenerateCrossSectionWarning,
            "MAD is 0, values left unclipped",
            list(factor.index[bad]),
        )
    ok = np.isfinite(mad) & (mad > 0)
    lo = np.where(ok, med - k * mad, -np.inf)
    hi = np.where(ok, med + k * mad, np.inf)
    return _frame(np.clip(x, lo, hi), factor)


def winsorize_sigma(
    factor: pd.DataFrame,
    *,
    k: float = 3.0,
    n_iter: int = 1,
    ddof: int = 1,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Clip each cross-section to ``mean +- k x std`` (3-sigma trimming, Barra descriptors).

    Parameters
    ----------
    factor
        Raw factor values, ``date x code``.
    k
        Width of the band in standard deviations.
    n_iter
        Number of passes; each pass recomputes mean and std from the clipped values (Barra
        USE4 repeats until nothing is beyond the band; one pass is the common shortcut).
    ddof
        Delta degrees of freedom of the standard deviation.
    groups
        Optional ``date x code`` frame of group labels; statistics per (date, group).

    Returns
    -------
    pandas.DataFrame
        The clipped factor (values are clipped to the band, not set to NaN).

    Notes
    -----
    .. math:: x_i^{w} = \\min(\\max(x_i, \\bar x - k s), \\bar x + k s)

    where :math:`\\bar x` and :math:`s` are the cross-sectional mean and standard deviation.
    Rows with zero or undefined std are left unchanged.

    Examples
    --------
    >>> f = pd.DataFrame([[-1.0, 0.0, 1.0, 0.0, 10.0]])
    >>> winsorize_sigma(f, k=1.0).round(6).iloc[0].tolist()
    [-1.0, 0.0, 1.0, 0.0, 6.527693]
    """
    x, codes = _prepare(factor, groups)
    for _ in range(n_iter):
        mu = _stat(x, codes, "mean")
        sd = _stat(x, codes, "std", ddof=ddof)
        ok = np.isfinite(sd) & (sd > 0)
        x = np.clip(x, np.where(ok, mu - k * sd, -np.inf), np.where(ok, mu + k * sd, np.inf))
    return _frame(x, factor)


def winsorize(
    factor: pd.DataFrame,
    *,
    method: Literal["mad", "sigma"] = "mad",
    k: float | None = None,
    groups: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Winsorize by ``method``: ``"mad"`` (:func:`winsorize_mad`, k = 5) or ``"sigma"``.

    Parameters
    ----------
    factor
        Raw factor values, ``date x code``.
    method
        ``"mad"`` (median +- k x raw MAD, default k = 5) or ``"sigma"`` (mean +- k x std,
        default k = 3).
    k
        Band width; None takes the method's default.
    groups
        Optional ``date x code`` frame of group labels.

    Returns
    -------
    pandas.DataFrame
        The winsorized factor.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 100.0]])
    >>> winsorize(f).iloc[0].tolist()
    [1.0, 2.0, 3.0, 4.0, 8.0]
    """
    if method == "mad":
        return winsorize_mad(factor, k=5.0 if k is None else k, groups=groups)
    if method == "sigma":
        return winsorize_sigma(factor, k=3.0 if k is None else k, groups=groups)
    raise ValueError(f"method must be 'mad' or 'sigma', not {method!r}")


def zscore(
    factor: pd.DataFrame, *, ddof: int = 1, groups: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Standardize each cross-section to mean 0 and standard deviation 1.

    Parameters
    ----------
    factor
        Factor values, ``date x code``.
    ddof
        Delta degrees of freedom of the standard deviation (1 = sample std, pandas' default).
    groups
        Optional ``date x code`` frame of group labels: standardize within each (date, group).

    Returns
    -------
    pandas.DataFrame
        The z-scores. A cross-section (or group) with fewer than ``ddof + 1`` values or zero
        std is NaN; without ``groups`` a :class:`DegenerateCrossSectionWarning` names the dates.

    Notes
    -----
    .. math:: z_i = (x_i - \\bar x) / s, \\quad
       s^2 = \\frac{1}{n - \\mathrm{ddof}} \\sum_i (x_i - \\bar x)^2

    Examples
    --------
    >>> zscore(pd.DataFrame([[1.0, 2.0, 3.0]])).iloc[0].tolist()
    [-1.0, 0.0, 1.0]
    """
    x, codes = _prepare(factor, groups)
    mu = _stat(x, codes, "mean")
    sd = _stat(x, codes, "std", ddof=ddof)
    if codes is None:
        bad = _degenerate_rows(sd, x)
        _warn_dates(
            DegenerateCrossSectionWarning,
            "zero standard deviation, z-score is NaN",
            list(factor.index[bad]),
        )
    ok = np.isfinite(sd) & (sd > 0)
    z = np.divide(x - mu, sd, out=np.full_like(x, np.nan), where=ok)
    return _frame(z, factor)


def cap_weighted_zscore(factor: pd.DataFrame, cap: pd.DataFrame, *, ddof: int = 1) -> pd.DataFrame:
    """Barra standardization: cap-weighted mean 0, equal-weighted standard deviation 1.

    Parameters
    ----------
    factor
        Descriptor values, ``date x code``.
    cap
        Market cap weights (float cap in the SPEC), ``date x code``; only stocks with a finite
        positive cap and a finite factor enter, all others are NaN in the output.
    ddof
        Delta degrees of freedom of the (equal-weighted) standard deviation.

    Returns
    -------
    pandas.DataFrame
        The standardized descriptor.

    Notes
    -----
    With weights :math:`w_i = \\mathrm{cap}_i / \\sum_j \\mathrm{cap}_j`,

    .. math:: z_i = \\frac{x_i - \\sum_j w_j x_j}{s}, \\quad
       s = \\sqrt{\\frac{1}{n - \\mathrm{ddof}} \\sum_j (x_j - \\bar x)^2}

    so that :math:`\\sum_i w_i z_i = 0` and the equal-weighted std of :math:`z` is 1.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0]])
    >>> cap = pd.DataFrame([[1.0, 1.0, 2.0]])
    >>> cap_weighted_zscore(f, cap).iloc[0].tolist()
    [-1.25, -0.25, 0.75]
    """
    x = _values(factor)
    w = _values(_aligned(cap, factor))
    valid = np.isfinite(x) & np.isfinite(w) & (w > 0)
    x = np.where(valid, x, np.nan)
    w = np.where(valid, w, 0.0)
    wsum = w.sum(axis=1)
    wx = np.where(valid, x, 0.0) * w
    mu_cap = np.divide(wx.sum(axis=1), wsum, out=np.full(len(x), np.nan), where=wsum > 0)
    sd = _row_stat(x, "std", ddof=ddof)[:, 0]
    bad = _degenerate_rows(sd, x)
    _warn_dates(
        DegenerateCrossSectionWarning,
        "zero standard deviation, z-score is NaN",
        list(factor.index[bad]),
    )
    ok = (np.isfinite(sd) & (sd > 0))[:, None]
    z = np.divide(x - mu_cap[:, None], sd[:, None], out=np.full_like(x, np.nan), where=ok)
    return _frame(z, factor)


def neutralize(
    factor: pd.DataFrame,
    *,
    industry: pd.DataFrame | None = None,
    float_cap: pd.DataFrame | None = None,
    exposures: Mapping[str, pd.DataFrame] | None = None,
    weights: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Residual of a per-date OLS (or WLS) of the factor on industry dummies, ln cap, others.

    Parameters
    ----------
    factor
        Factor values, ``date x code``.
    industry
        ``date x code`` frame of industry labels (e.g. SW level-1 codes). One dummy per
        industry present on the date, no separate intercept (the dummies span it).
    float_cap
        Float market cap, ``date x code``; ``ln(float_cap)`` enters as a regressor
        ("industry and market-cap neutral").
    exposures
        Further regressors by name, each ``date x code`` (e.g. Barra style exposures, or the
        20-day return for APM).
    weights
        Optional regression weights (e.g. ``sqrt(float_cap)``) for WLS; OLS when None.

    Returns
    -------
    pandas.DataFrame
        Residuals :math:`\\varepsilon = y - X\\hat\\beta`, NaN where the factor or any regressor
        is missing. A date with no more valid stocks than regressors is NaN and named by a
        :class:`TooFewStocksWarning`.

    Notes
    -----
    Per date, over stocks with all inputs valid,

    .. math:: \\hat\\beta = \\arg\\min_\\beta \\sum_i w_i (y_i - x_i'\\beta)^2, \\quad
       \\varepsilon_i = y_i - x_i'\\hat\\beta

    with :math:`x_i` = [industry dummies | ln cap | exposures] (an intercept replaces the
    dummies when no industry is given). The residual satisfies
    :math:`\\sum_i w_i \\varepsilon_i x_{ik} = 0` for every regressor :math:`k`; in particular
    its (weighted) mean within each industry is 0. Solved with :func:`numpy.linalg.lstsq`
    (minimum-norm solution if the regressors are collinear; the residual is unaffected). The
    residual is not re-standardized: call :func:`zscore` afterwards if needed.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 3.0, 10.0, 20.0]])
    >>> ind = pd.DataFrame([["A", "A", "B", "B"]])
    >>> neutralize(f, industry=ind).round(12).iloc[0].tolist()
    [-1.0, 1.0, -5.0, 5.0]
    """
    y_all = _values(factor)
    shape = y_all.shape
    valid = np.isfinite(y_all)
    continuous: list[np.ndarray] = []
    if float_cap is not None:
        cap = _values(_aligned(float_cap, factor))
        with np.errstate(divide="ignore", invalid="ignore"):
            continuous.append(np.where(cap > 0, np.log(cap), np.nan))
    for frame in (exposures or {}).values():
        continuous.append(_values(_aligned(frame, factor)))
    for c in continuous:
        valid &= np.isfinite(c)
    codes: np.ndarray | None = None
    if industry is not None:
        codes = _group_codes(industry, factor)
        valid &= codes >= 0
    w_all: np.ndarray | None = None
    if weights is not None:
        w_all = _values(_aligned(weights, factor))
        valid &= np.isfinite(w_all) & (w_all > 0)

    out = np.full(shape, np.nan)
    too_few: list[Hashable] = []
    for t in range(shape[0]):
        idx = np.flatnonzero(valid[t])
        if idx.size == 0:
            continue
        cols: list[np.ndarray] = []
        if codes is not None:
            _, inverse = np.unique(codes[t, idx], return_inverse=True)
            cols.append(np.eye(int(inverse.max()) + 1)[inverse])
        else:
            cols.append(np.ones((idx.size, 1)))
        cols.extend(c[t, idx][:, None] for c in continuous)
        x = np.hstack(cols)
        if idx.size <= x.shape[1]:
            too_few.append(factor.index[t])
            continue
        y = y_all[t, idx]
        if w_all is None:
            beta = np.linalg.lstsq(x, y, rcond=None)[0]
        else:
            sw = np.sqrt(w_all[t, idx])
            beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
        out[t, idx] = y - x @ beta
    _warn_dates(
        TooFewStocksWarning, "no more valid stocks than regressors, residual is NaN", too_few
    )
    return _frame(out, factor)


def preprocess_factor(
    factor: pd.DataFrame,
    *,
    winsorize_method: Literal["mad", "sigma"] | None = "mad",
    k: float | None = None,
    industry: pd.DataFrame | None = None,
    float_cap: pd.DataFrame | None = None,
    neutral: bool = True,
) -> pd.DataFrame:
    """The SPEC pipeline: winsorize, z-score, neutralize, z-score again.

    Parameters
    ----------
    factor
        Raw factor values, ``date x code``.
    winsorize_method
        ``"mad"`` (default, k = 5), ``"sigma"`` (k = 3) or None to skip.
    k
        Band width for the winsorization (None: the method's default).
    industry, float_cap
        Passed to :func:`neutralize` (industry dummies, ln float cap).
    neutral
        If False, or if neither ``industry`` nor ``float_cap`` is given, skip neutralization.

    Returns
    -------
    pandas.DataFrame
        The processed factor, z-scored per date.

    Notes
    -----
    ``zscore(neutralize(zscore(winsorize(x))))``; the first z-score makes the regression
    well scaled, the last restores unit standard deviation after neutralization.

    Examples
    --------
    >>> f = pd.DataFrame([[1.0, 2.0, 3.0]])
    >>> preprocess_factor(f).iloc[0].tolist()
    [-1.0, 0.0, 1.0]
    """
    x = factor if winsorize_method is None else winsorize(factor, method=winsorize_method, k=k)
    x = zscore(x)
    if neutral and (industry is not None or float_cap is not None):
        x = zscore(neutralize(x, industry=industry, float_cap=float_cap))
    return x
