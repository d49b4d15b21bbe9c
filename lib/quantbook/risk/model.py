"""The Barra-style cross-sectional risk model of SPEC §1.

Each period ``t`` (a day, week or month) the returns of the stocks in the estimation universe
over ``(t-1, t]`` are regressed on their exposures as of ``t-1``:

.. math:: r_n = f_c + \\sum_{i=1}^{P} X_{ni} f_i + \\sum_{s=1}^{Q} X_{ns} f_s + u_n

(country, P SW level-1 industries, Q styles) by weighted least squares with weights
:math:`v_n = \\sqrt{\\text{float cap}_n}`, under :math:`\\sum_i w_i f_i = 0` with :math:`w_i`
the industries' cap weights. The constraint is solved with a restriction matrix ``R``
(:func:`restriction_matrix`): :math:`f = R g`,
:math:`g = (R'X'VXR)^{-1} R'X'Vr`; the rows of
:math:`\\Omega = R (R'X'VXR)^{-1} R'X'V` are the pure factor portfolios.

Examples
--------
>>> from quantbook.data import open_store                                   # doctest: +SKIP
>>> res = fit(open_store("smoke"), freq="M")                                # doctest: +SKIP
>>> res.factor_returns[["country", "size"]].tail(2)                         # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from quantbook.data.cache import Cache, code_version
from quantbook.data.calendar import DateLike
from quantbook.data.panel import cap_shares_column, load_daily_panel
from quantbook.data.store import Store
from quantbook.data.universe import UniverseRules
from quantbook.risk._windows import require_bars
from quantbook.risk.styles import (
    StyleDataWarning,
    StyleExposures,
    cap_standardize,
    compute_styles,
    fill_missing,
    standardize_trim,
)

__all__ = [
    "ConstrainedWLS",
    "EstimationUniverse",
    "Frequency",
    "RiskFitConfig",
    "RiskModelResult",
    "constrained_wls",
    "fit",
    "fit_cached",
    "period_ends",
    "pure_factor_return",
    "restriction_matrix",
]

Frequency = Literal["D", "W", "M"]


# -- the constrained regression --------------------------------------------------------------------
def restriction_matrix(industry_weights: np.ndarray, n_styles: int) -> np.ndarray:
    """The ``K x (K-1)`` restriction matrix for columns ``[country | P industries | Q styles]``.

    Parameters
    ----------
    industry_weights
        Cap weights :math:`w_1..w_P` of the industries (positive; any scale).
    n_styles
        Number of style columns :math:`Q`.

    Notes
    -----
    ``R`` is the identity with the last industry's column removed and that industry's row
    set to :math:`-w_i / w_P` in the other industries' columns, so that every
    :math:`f = R g` satisfies :math:`\\sum_i w_i f_i = 0`.

    Examples
    --------
    >>> restriction_matrix(np.array([1.0, 1.0, 2.0]), 1)
    array([[ 1. ,  0. ,  0. ,  0. ],
           [ 0. ,  1. ,  0. ,  0. ],
           [ 0. ,  0. ,  1. ,  0. ],
           [ 0. , -0.5, -0.5,  0. ],
           [ 0. ,  0. ,  0. ,  1. ]])
    """
    w = np.asarray(industry_weights, dtype=float)
    P, Q = len(w), int(n_styles)
    if P < 1 or not (w > 0).all():
        raise ValueError("industry weights must be positive, at least one industry")
    K = 1 + P + Q
    R = np.zeros((K, K - 1))
    R[0, 0] = 1.0
    R[1:P, 1:P] = np.eye(P - 1)
    R[P, 1:P] = -w[:-1] / w[-1]
    R[P + 1 :, P:] = np.eye(Q)
    return R


@dataclass(frozen=True)
class ConstrainedWLS:
    """One period's constrained WLS solution.

    Attributes
    ----------
    f
        Factor returns :math:`f = R g` (K,).
    cov
        Their covariance :math:`\\hat\\sigma^2 R (R'AR)^{-1} R'` with :math:`A = X'VX`.
    residuals
        :math:`u = r - X f` (n,).
    r2
        Weighted R^2: :math:`1 - \\sum v u^2 / \\sum v (r - \\bar r_v)^2`.
    sigma2
        :math:`\\hat\\sigma^2 = \\sum v u^2 / (n - K + 1)`.
    restriction
        ``R`` (K, K-1).
    inv
        :math:`(R'AR)^{-1}` (K-1, K-1).
    """

    f: np.ndarray
    cov: np.ndarray
    residuals: np.ndarray
    r2: float
    sigma2: float
    restriction: np.ndarray
    inv: np.ndarray

    @property
    def stderr(self) -> np.ndarray:
        return np.sqrt(np.maximum(np.diag(self.cov), 0.0))

    @property
    def tstat(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.f / self.stderr

    def pure_portfolios(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """:math:`\\Omega = R (R'X'VXR)^{-1} R'X'V`, ``K x n``: row k's holdings earn ``f_k``."""
        R = self.restriction
        return R @ self.inv @ (R.T @ (X.T * weights))


def constrained_wls(
    X: np.ndarray, r: np.ndarray, weights: np.ndarray, *, industry_weights: np.ndarray
) -> ConstrainedWLS:
    """Solve one period's WLS with the industry sum-to-zero constraint.

    Parameters
    ----------
    X
        ``n x K`` exposures, columns ``[country | P industries | Q styles]`` where
        ``P = len(industry_weights)``.
    r
        Returns (n,).
    weights
        WLS weights :math:`v_n` (n,), e.g. :math:`\\sqrt{\\text{float cap}}`.
    industry_weights
        Industry cap weights :math:`w_i` (P,).

    Returns
    -------
    ConstrainedWLS

    Notes
    -----
    .. math:: g = (R'X'VXR)^{-1} R'X'Vr, \\quad f = Rg, \\quad u = r - Xf,

    .. math:: \\operatorname{Cov}(f) = \\hat\\sigma^2 R (R'X'VXR)^{-1} R', \\quad
       \\hat\\sigma^2 = \\frac{\\sum_n v_n u_n^2}{n - (K - 1)}

    the classical WLS covariance of the reparameterized regression of :math:`r` on
    :math:`XR` (what ``statsmodels.WLS(r, X @ R, weights=v)`` reports for ``g``).
    """
    P = len(industry_weights)
    K = X.shape[1]
    R = restriction_matrix(industry_weights, K - 1 - P)
    v = np.asarray(weights, dtype=float)
    v = v / v.sum()
    Xv = X.T * v
    A = Xv @ X
    b = Xv @ r
    M = R.T @ A @ R
    inv = np.linalg.inv(M)
    g = inv @ (R.T @ b)
    f = R @ g
    u = r - X @ f
    n = len(r)
    ssr = float(v @ (u * u))
    dof = n - (K - 1)
    sigma2 = ssr / dof if dof > 0 else np.nan
    cov = sigma2 * (R @ inv @ R.T)
    rbar = float(v @ r)
    sst = float(v @ ((r - rbar) ** 2))
    r2 = 1.0 - ssr / sst if sst > 0 else np.nan
    return ConstrainedWLS(f=f, cov=cov, residuals=u, r2=r2, sigma2=sigma2, restriction=R, inv=inv)


# -- periods and the estimation universe -------------------------------------------------------------
def period_ends(store: Store, freq: Frequency) -> pd.DatetimeIndex:
    """Period ends of the store: every session (``"D"``), week-ends (``"W"``), month-ends (``"M"``)."""
    cal = store.calendar()
    if freq == "D":
        return cal.sessions
    if freq in ("W", "M"):
        return cal.period_ends(freq)
    raise ValueError(f"freq must be 'D', 'W' or 'M', not {freq!r}")


@dataclass(frozen=True)
class EstimationUniverse:
    """Who enters the regression of a period (decided at ``t-1``, SPEC §0 filters).

    Attributes
    ----------
    min_listed_days
        Sessions since listing at ``t-1``, counted 1 on the listing day (default 60).
    exclude_st
        Leave out ST / *ST stocks at ``t-1`` (default True).

    Notes
    -----
    A stock enters period ``(t-1, t]`` when, at ``t-1``, it is listed for at least
    ``min_listed_days`` trading days, not ST (by default), not suspended, has a positive float
    cap, an industry and every style exposure of the period; it is also not suspended at ``t``
    and has adjusted closes at both ends.
    """

    min_listed_days: int = 60
    exclude_st: bool = True

    def rules(self) -> UniverseRules:
        """The universe rules evaluated at ``t-1`` (listing age, ST, suspension)."""
        return UniverseRules(min_listed_sessions=self.min_listed_days, exclude_st=self.exclude_st)


@dataclass(frozen=True)
class _Design:
    """Per-period inputs kept by the result (wide ``period x code`` arrays)."""

    codes: pd.Index
    dates: pd.DatetimeIndex
    prev_dates: pd.DatetimeIndex
    returns: np.ndarray
    fcap: np.ndarray
    include: np.ndarray
    industry: np.ndarray  # int, -1 = none
    industry_names: list[str]
    expo_rows: np.ndarray
    expo_cols: np.ndarray
    styles: tuple[str, ...]
    extra: np.ndarray | None


@dataclass(frozen=True)
class RiskModelResult:
    """Factor returns and residuals of every period.

    Attributes
    ----------
    factor_returns
        ``date x factor``: ``country``, ``ind_<SW code>``, the styles, the extra factor if any.
        The date is the period end ``t``; NaN where a factor is absent from a period.
    stderr, tstat
        WLS standard errors and t-statistics, same shape.
    r2
        Weighted R^2 per period.
    residuals
        Specific returns ``date x code`` (NaN outside the estimation universe).
    n_stocks
        Stocks in the regression per period.
    exposures
        The style exposures used (as of each period's start ``t-1``).
    freq
        ``"D"``, ``"W"`` or ``"M"``.
    universe
        The estimation-universe rules.
    extra_name
        Name of the appended extra style, or None.
    """

    factor_returns: pd.DataFrame
    stderr: pd.DataFrame
    tstat: pd.DataFrame
    r2: pd.Series
    residuals: pd.DataFrame
    n_stocks: pd.Series
    exposures: StyleExposures
    freq: Frequency
    universe: EstimationUniverse
    extra_name: str | None
    _design: _Design = field(repr=False)

    @property
    def styles(self) -> tuple[str, ...]:
        """Style factors of the model (without the extra factor)."""
        return self._design.styles

    @property
    def industries(self) -> list[str]:
        """Industry factor names, ``ind_<SW code>``."""
        return [f"ind_{c}" for c in self._design.industry_names]

    @property
    def period_starts(self) -> pd.Series:
        """``t-1`` of each period ``t`` (the exposures' as-of date)."""
        return pd.Series(self._design.prev_dates, index=self._design.dates, name="start")

    def design(self, date: DateLike) -> tuple[pd.DataFrame, pd.Series, pd.Series, np.ndarray]:
        """The regression inputs of the period ending ``date``.

        Returns
        -------
        X : DataFrame
            ``code x factor`` exposures of the estimation universe (present factors only).
        r : Series
            Returns over the period.
        v : Series
            WLS weights, :math:`\\sqrt{\\text{float cap}}` at ``t-1``.
        industry_weights : ndarray
            Cap weights of the present industries (the constraint).
        """
        k = int(self._design.dates.get_indexer(pd.DatetimeIndex([pd.Timestamp(date)]))[0])
        if k < 0:
            raise KeyError(f"no period ends on {pd.Timestamp(date).date()}")
        p = _period(self._design, self.exposures, k, extra=self._design.extra)
        if p is None:
            raise ValueError(f"no regression for the period ending {pd.Timestamp(date).date()}")
        codes = self._design.codes[p.idx]
        names = [self.extra_name or "extra" if c == "__extra__" else c for c in p.names]
        return (
            pd.DataFrame(p.dense(), index=codes, columns=names),
            pd.Series(p.r, index=codes, name="return"),
            pd.Series(p.v, index=codes, name="weight"),
            p.wi,
        )

    def solve(self, date: DateLike) -> ConstrainedWLS:
        """Re-solve the period ending ``date`` (the full solution object)."""
        X, r, v, wi = self.design(date)
        return constrained_wls(X.to_numpy(), r.to_numpy(), v.to_numpy(), industry_weights=wi)

    def pure_portfolios(self, date: DateLike) -> pd.DataFrame:
        """Pure factor portfolios of the period ending ``date``: ``factor x code`` weights.

        Row ``k`` holds the weights :math:`\\Omega_k` whose return is :math:`f_k`. A style
        portfolio has exposure 1 to its style and 0 to every other factor; an industry
        portfolio has zero net weight (no country exposure), exposure :math:`1 - w_i` to its
        industry and :math:`-w_j` to the others (long the industry, short the cap-weighted
        market); the country portfolio is fully invested with the market's industry weights.
        Exposures are unique only up to the constraint direction :math:`(0, w, 0)`, which
        earns nothing because :math:`\\sum_i w_i f_i = 0`.
        """
        X, r, v, wi = self.design(date)
        sol = constrained_wls(X.to_numpy(), r.to_numpy(), v.to_numpy(), industry_weights=wi)
        omega = sol.pure_portfolios(X.to_numpy(), v.to_numpy() / v.to_numpy().sum())
        return pd.DataFrame(omega, index=X.columns, columns=X.index)


# -- building one period's regression ------------------------------------------------------------------
@dataclass(frozen=True)
class _Period:
    """One period's regression inputs in compact form (industries as positions, not dummies)."""

    idx: np.ndarray  # stock positions in the design's codes
    pos: np.ndarray  # industry position of each stock, 0..P-1
    inds: np.ndarray  # industry codes present (into industry_names)
    S: np.ndarray  # n x Q style (and extra) exposures
    r: np.ndarray
    v: np.ndarray  # sqrt float cap
    wi: np.ndarray  # industry cap weights, sum 1
    names: list[str]

    def dense(self) -> np.ndarray:
        """The ``n x K`` design ``[country | industry dummies | styles]``."""
        n, P = len(self.idx), len(self.inds)
        X = np.zeros((n, 1 + P + self.S.shape[1]))
        X[:, 0] = 1.0
        X[np.arange(n), 1 + self.pos] = 1.0
        X[:, 1 + P :] = self.S
        return X


def _period(
    d: _Design, exposures: StyleExposures, k: int, *, extra: np.ndarray | None
) -> _Period | None:
    """The inputs of period ``k`` (None when it has too few stocks or no exposures)."""
    row = d.expo_rows[k]
    if row < 0:
        return None
    idx = np.flatnonzero(d.include[k])
    S = exposures.values[row][d.expo_cols[idx]]
    keep = np.isfinite(S.sum(axis=1))  # one pass: a row with any NaN sums to NaN
    present = np.ones(S.shape[1], dtype=bool)
    if not keep.all():
        fin = np.isfinite(S)
        present = fin.any(axis=0)
        if not present.all():
            S, fin = S[:, present], fin[:, present]
        keep = fin.all(axis=1)
    names_s = [s for s, p in zip(d.styles, present, strict=True) if p]
    if extra is not None:
        e = extra[k, idx]
        keep &= np.isfinite(e)
        S = np.column_stack([S, e])
        names_s.append("__extra__")
    if not keep.all():
        idx, S = idx[keep], S[keep]
    ind = d.industry[k, idx]
    counts = np.bincount(ind, minlength=len(d.industry_names))
    inds = np.flatnonzero(counts)
    n, P, Q = len(idx), len(inds), S.shape[1]
    if n <= 1 + P + Q:
        return None
    pos = (np.cumsum(counts > 0) - 1)[ind]
    cap = d.fcap[k, idx]
    wi = np.bincount(pos, cap, P)
    names = ["country", *[f"ind_{d.industry_names[i]}" for i in inds], *names_s]
    return _Period(idx, pos, inds, S, d.returns[k, idx], np.sqrt(cap), wi / wi.sum(), names)


@dataclass(frozen=True)
class _FastSolution:
    f: np.ndarray
    stderr: np.ndarray
    residuals: np.ndarray
    r2: float


def _solve_structured(p: _Period) -> _FastSolution:
    r""":func:`constrained_wls` without forming the dummy matrix (same numbers).

    With :math:`\rho_i = w_i / w_P` and the industries' weight sums
    :math:`a_i = \sum_{n \in i} v_n`, the blocks of :math:`M = R'X'VXR` are
    :math:`M_{cc} = \sum v`, :math:`M_{ci} = a_i - \rho_i a_P`,
    :math:`M_{ij} = \delta_{ij} a_i + \rho_i \rho_j a_P`,
    :math:`M_{is} = (D'VS)_i - \rho_i (D'VS)_P`, :math:`M_{ss} = S'VS`: the cost is
    :math:`O(nQ^2)` instead of :math:`O(nK^2)`. The returns ride along as an extra column of
    :math:`S` so that one pass gives :math:`S'Vr` and :math:`D'Vr` too.
    """
    pos, S, r = p.pos, p.S, p.r
    v = p.v / p.v.sum()
    P, Q, n = len(p.inds), S.shape[1], len(r)
    rho = p.wi[:-1] / p.wi[-1]
    Z = np.empty((n, Q + 1))
    Z[:, :Q] = S
    Z[:, Q] = r
    vZ = Z * v[:, None]
    cell = (pos[:, None] * (Q + 1) + np.arange(Q + 1)).ravel()
    ZI = np.bincount(cell, vZ.ravel(), P * (Q + 1)).reshape(P, Q + 1)
    a = np.bincount(pos, v, P)
    G = vZ.T @ Z
    K1 = P + Q
    M = np.empty((K1, K1))
    M[0, 0] = 1.0
    M[0, 1:P] = M[1:P, 0] = a[:-1] - rho * a[-1]
    tot = ZI.sum(axis=0)
    M[0, P:] = M[P:, 0] = tot[:Q]
    M[1:P, 1:P] = a[-1] * np.outer(rho, rho)
    M[1:P, 1:P].flat[::P] += a[:-1]
    B = ZI[:-1] - np.outer(rho, ZI[-1])
    M[1:P, P:] = B[:, :Q]
    M[P:, 1:P] = B[:, :Q].T
    M[P:, P:] = G[:Q, :Q]
    b = np.empty(K1)
    b[0] = tot[Q]
    b[1:P] = B[:, Q]
    b[P:] = G[:Q, Q]
    inv = np.linalg.inv(M)
    g = inv @ b
    f = np.empty(K1 + 1)
    f[0] = g[0]
    f[1:P] = g[1:P]
    f[P] = -rho @ g[1:P]
    f[P + 1 :] = g[P:]
    u = r - (g[0] + f[1 : P + 1][pos] + S @ g[P:])
    ssr = float(v @ (u * u))
    dof = n - K1
    sigma2 = ssr / dof if dof > 0 else np.nan
    var = np.empty(K1 + 1)
    dg = np.diag(inv)
    var[:P] = dg[:P]
    var[P] = rho @ inv[1:P, 1:P] @ rho
    var[P + 1 :] = dg[P:]
    sst = float(G[Q, Q] - tot[Q] ** 2)
    return _FastSolution(
        f=f,
        stderr=np.sqrt(np.maximum(sigma2 * var, 0.0)),
        residuals=u,
        r2=1.0 - ssr / sst if sst > 0 else np.nan,
    )


def _standardize_extra(factor: pd.DataFrame, d: _Design, exposures: StyleExposures) -> np.ndarray:
    """The extra factor at each period's start, standardized like a style over the universe.

    Trimmed and standardized (cap-weighted mean 0, std 1) over the period's estimation
    universe; missing values there are filled from industry and Size, like the styles.
    """
    wide = _as_wide(factor)
    vals = wide.reindex(index=d.prev_dates, columns=d.codes).to_numpy(dtype=float, na_value=np.nan)
    base = d.include.copy()
    size = np.full(vals.shape, np.nan)
    if "size" in d.styles:
        j = d.styles.index("size")
        ok = d.expo_rows >= 0
        sub = np.full((int(ok.sum()), len(d.codes)), np.nan)
        cols = d.expo_cols >= 0
        sub[:, cols] = exposures.values[d.expo_rows[ok]][:, d.expo_cols[cols], j]
        size[ok] = sub
    base &= np.isfinite(size)
    cap = np.where(base, d.fcap, np.nan)
    z = standardize_trim(np.where(base, vals, np.nan), cap)
    z = fill_missing(z, industry=d.industry, size=size, weights=np.sqrt(cap), universe=base)
    return cap_standardize(np.where(base, z, np.nan), cap)


def _as_wide(factor: pd.DataFrame) -> pd.DataFrame:
    """A wide ``date x code`` frame from a wide frame or a long one (date, code, value)."""
    if {"date", "code"} <= set(factor.columns):
        vcols = [c for c in factor.columns if c not in ("date", "code")]
        if len(vcols) != 1:
            raise ValueError(f"a long factor frame needs exactly one value column, got {vcols}")
        wide = factor.pivot(index="date", columns="code", values=vcols[0])
    elif isinstance(factor.index, pd.MultiIndex):
        wide = factor.iloc[:, 0].unstack("code")
    else:
        wide = factor
    wide = wide.copy()
    wide.index = pd.DatetimeIndex(wide.index)
    wide.columns = wide.columns.astype(str)
    return wide


def _rows(pos: np.ndarray) -> np.ndarray | slice:
    """Row positions as a slice when they are consecutive (daily periods: views, no copies)."""
    if len(pos) and (np.diff(pos) == 1).all():
        return slice(int(pos[0]), int(pos[-1]) + 1)
    return pos


def _prepare(
    store: Store,
    *,
    start: DateLike | None,
    end: DateLike | None,
    freq: Frequency,
    exposures: StyleExposures | None,
    universe: EstimationUniverse,
    progress: bool,
) -> tuple[_Design, StyleExposures]:
    ends = period_ends(store, freq)
    lo = ends.searchsorted(pd.Timestamp(start)) if start is not None else 1
    hi = ends.searchsorted(pd.Timestamp(end), side="right") if end is not None else len(ends)
    lo = max(int(lo), 1)
    if hi <= lo:
        raise ValueError(f"no complete {freq} period between {start} and {end}")
    dates = ends[lo:hi]
    prev = ends[lo - 1 : hi - 1]
    if exposures is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StyleDataWarning)
            exposures = compute_styles(store, prev, progress=progress)
    require_bars(store, ["close", "adj_factor", "is_suspended"])
    bars = load_daily_panel(
        store,
        start=prev[0],
        end=dates[-1],
        fields=["close", "adj_factor", "is_suspended", cap_shares_column(store)],
    )
    codes = bars.codes
    r_prev, r_now = _rows(bars.rows(prev)), _rows(bars.rows(dates))
    adj = bars.adj_close
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = adj[r_now] / adj[r_prev] - 1.0
    fcap = bars.float_cap[r_prev]
    grid = bars.spell("industry", r_prev)
    industry, names = grid.index, list(grid.values)
    include = (
        bars.listed(r_prev)
        & universe.rules().eligible(bars, r_prev)
        & ~bars.suspended_flag[r_now]
        & np.isfinite(returns)
        & np.isfinite(fcap)
        & (fcap > 0)
        & (industry >= 0)
    )
    expo_rows = exposures.dates.get_indexer(prev)
    include &= (exposures.codes.get_indexer(codes) >= 0)[None, :]
    if (expo_rows < 0).any():
        warnings.warn(
            f"{int((expo_rows < 0).sum())} of {len(prev)} periods have no exposures as of their "
            f"start (first: {prev[expo_rows < 0][0]:%Y-%m-%d}); their factor returns are NaN",
            StyleDataWarning,
            stacklevel=3,
        )
    expo_cols = exposures.codes.get_indexer(codes)
    design = _Design(
        codes=codes,
        dates=pd.DatetimeIndex(dates, name="date"),
        prev_dates=pd.DatetimeIndex(prev, name="start"),
        returns=returns,
        fcap=fcap,
        include=include,
        industry=industry,
        industry_names=names,
        expo_rows=expo_rows,
        expo_cols=expo_cols,
        styles=tuple(exposures.styles),
        extra=None,
    )
    return design, exposures


def _run(
    d: _Design,
    exposures: StyleExposures,
    *,
    extra_name: str | None,
    progress: bool,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    names = ["country", *[f"ind_{c}" for c in d.industry_names], *d.styles]
    if extra_name is not None:
        names.append(extra_name)
    col = {n: i for i, n in enumerate(names)}
    Pn, N = len(d.dates), len(d.codes)
    F = np.full((Pn, len(names)), np.nan)
    SE = np.full_like(F, np.nan)
    R2 = np.full(Pn, np.nan)
    NS = np.zeros(Pn, dtype=np.int64)
    U = np.full((Pn, N), np.nan)
    for k in tqdm(range(Pn), desc="risk model", unit="period", disable=not progress, leave=False):
        p = _period(d, exposures, k, extra=d.extra)
        if p is None:
            continue
        sol = _solve_structured(p)
        pos = [col[extra_name] if c == "__extra__" and extra_name else col[c] for c in p.names]
        F[k, pos] = sol.f
        SE[k, pos] = sol.stderr
        R2[k] = sol.r2
        NS[k] = len(p.idx)
        U[k, p.idx] = sol.residuals
    idx_dates = d.dates
    fr = pd.DataFrame(F, index=idx_dates, columns=names)
    se = pd.DataFrame(SE, index=idx_dates, columns=names)
    with np.errstate(invalid="ignore", divide="ignore"):
        ts = pd.DataFrame(F / SE, index=idx_dates, columns=names)
    return (
        fr,
        se,
        ts,
        pd.Series(R2, index=idx_dates, name="r2"),
        pd.DataFrame(U, index=idx_dates, columns=d.codes),
        pd.Series(NS, index=idx_dates, name="n_stocks"),
    )


def fit(
    store: Store,
    *,
    start: DateLike | None = None,
    end: DateLike | None = None,
    freq: Frequency = "M",
    exposures: StyleExposures | None = None,
    extra: pd.DataFrame | None = None,
    extra_name: str = "extra",
    universe: EstimationUniverse | None = None,
    progress: bool = True,
) -> RiskModelResult:
    """Fit the cross-sectional risk model over every period ending in ``[start, end]``.

    Parameters
    ----------
    store
        An open store.
    start, end
        First and last period end (default: the store's second period end, and its last).
    freq
        ``"D"`` (daily), ``"W"`` (week-ends) or ``"M"`` (month-ends).
    exposures
        Style exposures covering every period start ``t-1``; computed with
        :func:`~quantbook.risk.styles.compute_styles` when None.
    extra
        An additional factor (wide ``date x code`` or long ``date, code, value``) as of each
        period start; standardized like a style and appended as the last style column.
    extra_name
        Column name of the extra factor in the results.
    universe
        Estimation-universe rules (:class:`EstimationUniverse`).
    progress
        Show a progress bar over the periods.

    Returns
    -------
    RiskModelResult

    Notes
    -----
    Period ``t`` uses the exposures as of ``t-1`` and the return
    :math:`r_n = \\tilde P_{n,t} / \\tilde P_{n,t-1} - 1` on adjusted closes
    (:math:`\\tilde P = \\text{close} \\times \\text{adj\\_factor}`). See
    :func:`constrained_wls` for the estimator; an industry or style with no stock in a
    period is left out of that period (NaN).
    """
    uni = universe or EstimationUniverse()
    d, expo = _prepare(
        store, start=start, end=end, freq=freq, exposures=exposures, universe=uni, progress=progress
    )
    name: str | None = None
    if extra is not None:
        d = _with_extra(d, _standardize_extra(extra, d, expo))
        name = extra_name
    fr, se, ts, r2, resid, ns = _run(d, expo, extra_name=name, progress=progress)
    return RiskModelResult(fr, se, ts, r2, resid, ns, expo, freq, uni, name, d)


def _with_extra(d: _Design, extra: np.ndarray) -> _Design:
    return replace(d, extra=extra)


def pure_factor_return(
    store_or_result: Store | RiskModelResult,
    factor: pd.DataFrame,
    *,
    name: str = "extra",
    progress: bool = False,
    **fit_kwargs: object,
) -> pd.DataFrame:
    """Pure factor return of a new factor: appended as an extra style and re-solved.

    Parameters
    ----------
    store_or_result
        A fitted :class:`RiskModelResult` (its periods, universe and exposures are reused) or a
        store (then :func:`fit` runs with ``fit_kwargs``).
    factor
        Factor values as of each period start ``t-1``: wide ``date x code`` or long
        ``date, code, value``.
    name
        Name of the factor.
    progress
        Progress bar over the periods.

    Returns
    -------
    DataFrame
        Index: period end ``t``; columns ``f`` (pure factor return over ``(t-1, t]``),
        ``stderr``, ``t`` (WLS t-statistic).

    Notes
    -----
    The factor is trimmed at 3 standard deviations and standardized (cap-weighted mean 0,
    std 1) over the period's estimation universe, missing values are filled from industry
    and Size, and the regression of :func:`constrained_wls` is re-solved with it as the last
    style column: its :math:`f` is the return of a portfolio with unit exposure to the factor
    and none to the country, industries and styles.
    """
    if isinstance(store_or_result, RiskModelResult):
        res = store_or_result
        d = res._design
        d2 = _with_extra(d, _standardize_extra(factor, d, res.exposures))
        fr, se, ts, *_ = _run(d2, res.exposures, extra_name=name, progress=progress)
    else:
        res2 = fit(store_or_result, extra=factor, extra_name=name, progress=progress, **fit_kwargs)  # type: ignore[arg-type]
        fr, se, ts = res2.factor_returns, res2.stderr, res2.tstat
    out = pd.DataFrame({"f": fr[name], "stderr": se[name], "t": ts[name]})
    out.index.name = "date"
    return out


# -- the fit shared by every report: cached per (store, as-of, configuration) -----------------------
@dataclass(frozen=True)
class RiskFitConfig:
    """Everything besides the store and the as-of date that determines a fit of :func:`fit_cached`.

    Attributes
    ----------
    freq
        ``"D"``, ``"W"`` or ``"M"``.
    start
        First period end (None: the store's second period end).
    exposure_dates
        As-of dates of the style exposures (:func:`~quantbook.risk.styles.compute_styles`);
        None: each period's start ``t-1``, as :func:`fit` does.
    universe
        Estimation-universe rules.
    """

    freq: Frequency = "M"
    start: DateLike | None = None
    exposure_dates: tuple[DateLike, ...] | None = None
    universe: EstimationUniverse = field(default_factory=EstimationUniverse)


_Caught = list[tuple[type[Warning], str]]


def _caught(records: list[warnings.WarningMessage]) -> _Caught:
    out: _Caught = []
    for w in records:
        item = (w.category, str(w.message))
        if item not in out:
            out.append(item)
    return out


def fit_cached(
    store: Store,
    *,
    end: DateLike | None,
    config: RiskFitConfig,
    progress: bool = False,
    exposure_warnings: bool = False,
    cache: bool = True,
) -> RiskModelResult:
    """The risk model of ``store`` up to ``end`` with ``config``, fitted once and then served
    from the store's cache ``risk_fit`` (also to other reports and processes).

    Parameters
    ----------
    store
        An open store.
    end
        Last period end (the as-of date; default: the store's last period end).
    config
        Frequency, first period end, exposure dates and universe rules.
    progress
        Progress bars (only when fitting).
    exposure_warnings
        Issue the :class:`~quantbook.risk.styles.StyleDataWarning` messages of the style
        computation (False: silenced, as :func:`fit` does when it computes the exposures).
    cache
        False: fit without reading or writing the cache.

    Returns
    -------
    RiskModelResult
        The same as ``fit(store, start=..., end=..., freq=..., exposures=compute_styles(store,
        exposure dates), universe=...)``.

    Notes
    -----
    The key is the store fingerprint, the code version of :mod:`quantbook.risk` and the
    resolved configuration: the frequency, the first and last period ends that ``start`` and
    ``end`` select (so an ``end`` between two period ends shares the fit of the earlier one),
    the exposure dates (each period's start when None) and the universe rules. The warnings
    raised while fitting are kept with the entry and issued again when it is served.
    """
    ends = period_ends(store, config.freq)
    lo = max(
        int(ends.searchsorted(pd.Timestamp(config.start))) if config.start is not None else 1, 1
    )
    hi = int(ends.searchsorted(pd.Timestamp(end), side="right")) if end is not None else len(ends)
    if hi <= lo:  # nothing to fit: fit raises the error
        return fit(store, start=config.start, end=end, freq=config.freq, universe=config.universe)
    first, last = ends[lo], ends[hi - 1]
    dates = (
        pd.DatetimeIndex(ends[lo - 1 : hi - 1])
        if config.exposure_dates is None
        else pd.DatetimeIndex([pd.Timestamp(d) for d in config.exposure_dates])
    )
    key = {
        "freq": config.freq,
        "periods": [f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"],
        "exposure_dates": [f"{d:%Y-%m-%d}" for d in dates],
        "universe": asdict(config.universe),
    }
    store_cache = (
        Cache.for_store(store, "risk_fit", version=code_version([Path(__file__).parent]))
        if cache
        else None
    )
    entry = store_cache.get_object(key) if store_cache is not None else None
    if entry is None:
        with warnings.catch_warnings(record=True) as w_styles:
            warnings.simplefilter("always")
            expo = compute_styles(store, dates, progress=progress)
        with warnings.catch_warnings(record=True) as w_fit:
            warnings.simplefilter("always")
            result = fit(
                store,
                start=first,
                end=last,
                freq=config.freq,
                exposures=expo,
                universe=config.universe,
                progress=progress,
            )
        entry = (result, _caught(w_styles), _caught(w_fit))
        if store_cache is not None:
            store_cache.put_object(key, entry)
    result, from_styles, from_fit = entry
    for category, message in from_styles:
        if exposure_warnings or not issubclass(category, StyleDataWarning):
            warnings.warn(message, category, stacklevel=2)
    for category, message in from_fit:
        warnings.warn(message, category, stacklevel=2)
    return result
