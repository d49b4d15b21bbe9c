"""The 15 Barra-style style factors of SPEC §1, from daily bars and point-in-time statements.

Pipeline, for every requested as-of date ``d`` and using data up to ``d`` only:

1. **Descriptors** are computed as wide ``session x code`` arrays once for the whole history
   (exponentially weighted windows by an IIR filter, plain windows by cumulative sums) and cut
   at the requested dates; statement items enter on their announcement date.
2. **Standardization** of each descriptor over the cross-section ``U_d`` (stocks listed on
   ``d`` with a bar and a positive float cap): cap-weighted mean 0, equal-weighted standard
   deviation 1, values beyond +-3 clipped (3-sigma trimming), then standardized again.
3. **Combination** of a style's descriptors with the weights of :data:`STYLE_DESCRIPTORS`,
   renormalized over the descriptors a stock has; the style is standardized and trimmed.
4. **Missing exposures** are filled from a per-date WLS regression (weights sqrt(float cap))
   of the style on industry dummies and Size over the stocks that have it.
5. **Orthogonalizations**: MidCap is the cube of Size orthogonalized to Size; Residual
   Volatility is orthogonalized to Beta and Size (both sqrt-cap WLS with an intercept).
6. Every style is standardized a last time (cap-weighted mean 0, std 1 over ``U_d``).

Styles whose inputs the store lacks (statement items in an imported real store, for example)
are reported in :attr:`StyleExposures.unavailable` with the reason; the others are computed.

Examples
--------
>>> from quantbook.data import open_store                                   # doctest: +SKIP
>>> store = open_store("smoke")                                             # doctest: +SKIP
>>> expo = compute_styles(store, store.calendar().month_ends()[-3:])        # doctest: +SKIP
>>> expo.frame.columns[:4].tolist()                                         # doctest: +SKIP
['date', 'code', 'size', 'midcap']
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from quantbook.data.calendar import DateLike
from quantbook.data.panel import DailyPanel, cap_shares_column, load_daily_panel
from quantbook.data.store import DataUnavailableError, Store
from quantbook.data.vocabulary import STYLE_NAMES
from quantbook.risk._windows import ew_window_sum, require_bars, rolling_sum

__all__ = [
    "FUNDAMENTAL_STYLES",
    "PRICE_STYLES",
    "STYLE_DESCRIPTORS",
    "STYLE_NAMES",
    "StyleConfig",
    "StyleDataWarning",
    "StyleExposures",
    "cap_standardize",
    "compute_styles",
    "descriptors",
    "fill_missing",
    "standardize_trim",
    "wls_residual",
]


#: Descriptors of each style and their combination weights (CNE5 weights where CNE5 gives
#: them, renormalized over the descriptors we have; equal weights otherwise).
STYLE_DESCRIPTORS: dict[str, tuple[tuple[str, float], ...]] = {
    "size": (("lncap", 1.0),),
    "midcap": (("nlsize", 1.0),),
    "beta": (("hbeta", 1.0),),
    "residual_volatility": (("dastd", 0.74), ("cmra", 0.16), ("hsigma", 0.10)),
    "momentum": (("rstr", 1.0),),
    "short_term_reversal": (("strev", 1.0),),
    "liquidity": (("stom", 0.35), ("stoq", 0.35), ("stoa", 0.30)),
    "book_to_price": (("btop", 1.0),),
    "earnings_yield": (("etop", 0.66), ("cetop", 0.34)),
    "dividend_yield": (("dtop", 1.0),),
    "growth": (("egro", 0.34), ("sgro", 0.66)),
    "leverage": (("mlev", 0.38), ("dtoa", 0.35), ("blev", 0.27)),
    "profitability": (("roa", 1 / 3), ("gpm", 1 / 3), ("ato", 1 / 3)),
    "investment": (("agro", 0.5), ("igro", 0.5)),
    "earnings_variability": (("vsal", 0.5), ("vern", 0.5)),
}

#: Styles built from the ``fundamentals`` table, with the statement items each needs.
FUNDAMENTAL_STYLES: dict[str, tuple[str, ...]] = {
    "book_to_price": ("book_equity",),
    "earnings_yield": ("net_profit", "operating_cash_flow"),
    "dividend_yield": ("dividends", "shares"),
    "growth": ("net_profit", "revenue", "shares"),
    "leverage": ("total_assets", "total_liabilities", "long_term_debt", "book_equity"),
    "profitability": ("net_profit", "gross_profit", "revenue", "total_assets"),
    "investment": ("total_assets", "shares"),
    "earnings_variability": ("revenue", "net_profit"),
}

#: Styles computed from daily bars alone (what a store without statements still supports).
PRICE_STYLES: tuple[str, ...] = tuple(s for s in STYLE_NAMES if s not in FUNDAMENTAL_STYLES)

_STATEMENT_ITEMS = (
    "revenue",
    "gross_profit",
    "net_profit",
    "operating_cash_flow",
    "dividends",
    "total_assets",
    "total_liabilities",
    "long_term_debt",
    "book_equity",
    "shares",
)


class StyleDataWarning(UserWarning):
    """A style could not be computed on some dates (too little history or data)."""


@dataclass(frozen=True)
class StyleConfig:
    """Windows, half-lives and thresholds of the descriptors (SPEC §1 defaults).

    Attributes
    ----------
    beta_window, beta_halflife
        Beta (and HSIGMA) regression: 252 trading days, half-life 63.
    dastd_window, dastd_halflife
        DASTD: 252 days, half-life 42.
    cmra_months, month_days
        CMRA over 12 months of 21 trading days.
    momentum_window, momentum_halflife, momentum_lag
        RSTR: 504 days, half-life 126, lagged 21 days.
    reversal_window, reversal_halflife
        Short-term reversal: 21 days, half-life 5.
    liquidity_months
        STOM, STOQ, STOA: 1, 3 and 12 months.
    growth_years
        Yearly points (TTM values 4 quarters apart) for growth, investment and variability.
    trim
        Clipping bound (in standard deviations) of the 3-sigma trimming.
    min_obs
        Minimum valid observations in a window: ``{descriptor: n}``.
    """

    beta_window: int = 252
    beta_halflife: float = 63.0
    dastd_window: int = 252
    dastd_halflife: float = 42.0
    cmra_months: int = 12
    month_days: int = 21
    momentum_window: int = 504
    momentum_halflife: float = 126.0
    momentum_lag: int = 21
    reversal_window: int = 21
    reversal_halflife: float = 5.0
    liquidity_months: tuple[int, int, int] = (1, 3, 12)
    growth_years: int = 5
    trim: float = 3.0
    min_obs: Mapping[str, int] = field(
        default_factory=lambda: {
            "hbeta": 63,
            "dastd": 42,
            "cmra": 3,
            "rstr": 21,
            "strev": 5,
            "stom": 5,
            "stoq": 15,
            "stoa": 42,
        }
    )

    @property
    def lookback(self) -> int:
        """Trading days of history needed before the first as-of date."""
        return max(
            self.momentum_window + self.momentum_lag,
            self.beta_window,
            self.dastd_window,
            self.cmra_months * self.month_days,
            self.liquidity_months[-1] * self.month_days,
        )


@dataclass(frozen=True)
class StyleExposures:
    """Style exposures at a set of as-of dates.

    Attributes
    ----------
    dates
        As-of dates (trading days).
    codes
        Stock codes (the columns of :attr:`values`' second axis).
    values
        ``(date, code, style)`` array; NaN where the stock is not in the date's cross-section.
    styles
        The available styles (the third axis), in :data:`STYLE_NAMES` order.
    unavailable
        ``{style: reason}`` for styles that could not be computed.
    industry
        ``(date, code)`` object array of SW level-1 codes used for the filling (None if none).
    """

    dates: pd.DatetimeIndex
    codes: pd.Index
    values: np.ndarray
    styles: tuple[str, ...]
    unavailable: dict[str, str] = field(default_factory=dict)
    industry: np.ndarray | None = None

    def __post_init__(self) -> None:
        expected = (len(self.dates), len(self.codes), len(self.styles))
        if self.values.shape != expected:
            raise ValueError(f"values has shape {self.values.shape}, expected {expected}")

    def __repr__(self) -> str:
        span = (
            f"{self.dates[0]:%Y-%m-%d}..{self.dates[-1]:%Y-%m-%d}" if len(self.dates) else "empty"
        )
        return (
            f"StyleExposures({len(self.dates)} dates {span}, {len(self.codes)} codes, "
            f"{len(self.styles)} styles, unavailable={sorted(self.unavailable)})"
        )

    @cached_property
    def frame(self) -> pd.DataFrame:
        """Long frame: ``date, code`` and one column per available style (rows with any value)."""
        d, n = np.nonzero(np.isfinite(self.values).any(axis=2))
        out = pd.DataFrame({"date": self.dates[d], "code": self.codes[n]})
        vals = self.values[d, n, :]
        for j, s in enumerate(self.styles):
            out[s] = vals[:, j]
        return out

    def cross_section(self, date: DateLike) -> pd.DataFrame:
        """Exposures on one date: ``code x style`` (stocks in that date's cross-section)."""
        i = self.dates.get_loc(pd.Timestamp(date))
        v = self.values[i]
        keep = np.isfinite(v).any(axis=1)
        return pd.DataFrame(v[keep], index=self.codes[keep], columns=list(self.styles))

    def wide(self, style: str) -> pd.DataFrame:
        """One style as a wide ``date x code`` frame."""
        j = self.styles.index(style)
        return pd.DataFrame(self.values[:, :, j], index=self.dates, columns=self.codes)

    def aligned(self, dates: pd.DatetimeIndex, codes: pd.Index) -> np.ndarray:
        """``(len(dates), len(codes), n_styles)`` array; NaN for unknown dates or codes."""
        di = self.dates.get_indexer(dates)
        ci = self.codes.get_indexer(codes)
        out = np.full((len(dates), len(codes), len(self.styles)), np.nan)
        rows, cols = di >= 0, ci >= 0
        out[np.ix_(rows, cols)] = self.values[np.ix_(di[rows], ci[cols])]
        return out

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        styles: Iterable[str] | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> StyleExposures:
        """Build from a long frame with ``date``, ``code`` and style columns (e.g. the truth)."""
        names = tuple(styles) if styles is not None else tuple(s for s in STYLE_NAMES if s in frame)
        dates = pd.DatetimeIndex(np.sort(pd.to_datetime(frame["date"]).unique()), name="date")
        codes = pd.Index(np.sort(frame["code"].astype(str).unique()), name="code")
        di = dates.get_indexer(pd.DatetimeIndex(pd.to_datetime(frame["date"])))
        ci = codes.get_indexer(pd.Index(frame["code"].astype(str)))
        values = np.full((len(dates), len(codes), len(names)), np.nan)
        for j, s in enumerate(names):
            values[di, ci, j] = frame[s].to_numpy(dtype=float, na_value=np.nan)
        return cls(dates, codes, values, names, dict(unavailable or {}))


# -- cross-sectional tools (rows = dates) --------------------------------------------------------
def cap_standardize(x: np.ndarray, cap: np.ndarray, *, min_n: int = 3) -> np.ndarray:
    """Row-wise Barra standardization: cap-weighted mean 0, equal-weighted std 1.

    Parameters
    ----------
    x
        ``(D, N)`` values; NaN = missing.
    cap
        ``(D, N)`` cap weights; entries with a non-positive or missing cap are left out (NaN).
    min_n
        Rows with fewer valid values (or zero dispersion) are all NaN.

    Notes
    -----
    .. math:: z_i = \\frac{x_i - \\sum_j w_j x_j}{s}, \\quad w_j = \\frac{c_j}{\\sum_k c_k},
       \\quad s^2 = \\frac{1}{n-1} \\sum_j (x_j - \\bar x)^2
    """
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & (cap > 0)
    xv = np.where(ok, x, 0.0)
    w = np.where(ok, cap, 0.0)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_cap = np.einsum("ij,ij->i", w, xv) / w.sum(axis=1)
        mu = xv.sum(axis=1) / n
        dev = np.where(ok, xv - mu[:, None], 0.0)
        sd = np.sqrt(np.einsum("ij,ij->i", dev, dev) / (n - 1))
        good = (n >= min_n) & np.isfinite(sd) & (sd > 1e-12 * np.maximum(1.0, np.abs(mu)))
        z = (xv - mu_cap[:, None]) / np.where(good, sd, 1.0)[:, None]
    return np.where(ok & good[:, None], z, np.nan)


def standardize_trim(
    x: np.ndarray, cap: np.ndarray, *, trim: float = 3.0, max_iter: int = 25, tol: float = 1e-3
) -> np.ndarray:
    r"""Standardize with 3-sigma trimming, repeated until nothing lies beyond ``trim``.

    Notes
    -----
    :math:`z \leftarrow \mathrm{std}(x)`; then, for the dates where some
    :math:`|z_i| > k (1 + \mathrm{tol})` (at most ``max_iter`` passes),
    :math:`z \leftarrow \mathrm{std}(\mathrm{clip}(z, -k, k))`, where std is
    :func:`cap_standardize`. One pass is not enough with heavy tails: a few extreme values
    inflate the first standard deviation, and once they are clipped the others spread out again
    beyond :math:`k`.
    """
    z = cap_standardize(x, cap)
    limit = trim * (1 + tol)
    rows = np.flatnonzero((np.abs(np.nan_to_num(z)) > limit).any(axis=1))
    for _ in range(max_iter):
        if not rows.size:
            break
        zr = cap_standardize(np.clip(z[rows], -trim, trim), cap[rows])
        z[rows] = zr
        rows = rows[(np.abs(np.nan_to_num(zr)) > limit).any(axis=1)]
    return z


def wls_residual(y: np.ndarray, regressors: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Row-wise WLS residual of ``y`` on an intercept and ``regressors`` (all ``(D, N)``).

    Stocks missing ``y``, a regressor or a positive weight are NaN; a row whose normal matrix
    is singular is NaN.

    Notes
    -----
    Per row, :math:`\\hat\\beta = (X'WX)^{-1} X'Wy` with :math:`X = [1, x_1, \\dots]` and
    :math:`W = \\mathrm{diag}(w)`; the residual :math:`y - X\\hat\\beta` is weighted-orthogonal
    to every regressor and to the constant.
    """
    ok = np.isfinite(y) & np.isfinite(weights) & (weights > 0)
    for r in regressors:
        ok &= np.isfinite(r)
    cols = [np.ones_like(y), *regressors]
    p = len(cols)
    X = np.stack([np.where(ok, c, 0.0) for c in cols], axis=2)  # (D, N, p)
    w = np.where(ok, weights, 0.0)
    yv = np.where(ok, y, 0.0)
    A = np.einsum("dnp,dn,dnq->dpq", X, w, X)
    b = np.einsum("dnp,dn,dn->dp", X, w, yv)
    out = np.full_like(yv, np.nan)
    for d in range(len(y)):  # p <= 3: a tiny solve per date
        if ok[d].sum() <= p:
            continue
        try:
            beta = np.linalg.solve(A[d], b[d])
        except np.linalg.LinAlgError:
            continue
        out[d, ok[d]] = (yv[d] - X[d] @ beta)[ok[d]]
    return out


def fill_missing(
    x: np.ndarray,
    *,
    industry: np.ndarray,
    size: np.ndarray,
    weights: np.ndarray,
    universe: np.ndarray,
) -> np.ndarray:
    """Fill missing exposures in ``universe`` from a regression on industry dummies and Size.

    Parameters
    ----------
    x
        ``(D, N)`` exposures (NaN = missing).
    industry
        ``(D, N)`` integer industry codes, -1 = unknown.
    size
        ``(D, N)`` Size exposures.
    weights
        ``(D, N)`` regression weights (sqrt float cap).
    universe
        ``(D, N)`` bool: the stocks to fill.

    Notes
    -----
    Per date, over stocks with an exposure, fit :math:`x_n = a_{i(n)} + b\\,\\mathrm{size}_n`
    by WLS (the within-industry slope
    :math:`b = \\sum w (x - \\bar x_i)(s - \\bar s_i) / \\sum w (s - \\bar s_i)^2` with weighted
    industry means), and set a missing :math:`x_n` to :math:`a_{i(n)} + b\\,s_n`. An industry
    with no observed stock (or a stock without industry) takes the pooled intercept
    :math:`\\bar x - b \\bar s`. Computed for all dates at once with group sums.
    """
    D, N = x.shape
    obs = universe & np.isfinite(x) & np.isfinite(size) & np.isfinite(weights) & (weights > 0)
    miss = universe & ~np.isfinite(x) & np.isfinite(size)
    if not miss.any():
        return x
    G = int(industry.max()) + 2 if industry.size else 1
    g = np.where(industry >= 0, industry, G - 1)
    key = (np.arange(D)[:, None] * G + g).ravel()
    w = np.where(obs, weights, 0.0).ravel()
    xv = np.where(obs, x, 0.0).ravel()
    sv = np.where(obs, size, 0.0).ravel()
    W = np.bincount(key, w, D * G)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.bincount(key, w * xv, D * G) / W
        ms = np.bincount(key, w * sv, D * G) / W
        dx = np.where(obs.ravel(), xv - mx[key], 0.0)
        ds = np.where(obs.ravel(), sv - ms[key], 0.0)
        sxy = np.bincount(np.repeat(np.arange(D), N), w * dx * ds, D)
        sxx = np.bincount(np.repeat(np.arange(D), N), w * ds * ds, D)
        b = np.where(sxx > 0, sxy / sxx, 0.0)
        Wr = np.where(obs, weights, 0.0).sum(axis=1)
        mx_all = (np.where(obs, weights * x, 0.0)).sum(axis=1) / Wr
        ms_all = (np.where(obs, weights * size, 0.0)).sum(axis=1) / Wr
    a = (mx - np.repeat(b, G) * ms).reshape(D, G)
    a_pool = mx_all - b * ms_all
    has = (W.reshape(D, G) > 0) & (np.arange(G) < G - 1)[None, :]
    a = np.where(has, a, a_pool[:, None])
    pred = np.take_along_axis(a, g, axis=1) + b[:, None] * size
    return np.where(miss, pred, x)


# -- descriptors from bars -----------------------------------------------------------------------
def _market_return(ret: np.ndarray, fcap_prev: np.ndarray, traded: np.ndarray) -> np.ndarray:
    """Float-cap-weighted (previous close) return of the traded stocks, per day."""
    w = np.where(traded & np.isfinite(fcap_prev) & (fcap_prev > 0), fcap_prev, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * np.where(traded, ret, 0.0)).sum(axis=1) / w.sum(axis=1)


def _bar_descriptors(
    bars: DailyPanel, listed: np.ndarray, rows: np.ndarray, cfg: StyleConfig
) -> dict[str, np.ndarray]:
    """Market-data descriptors at the panel rows ``rows``: ``{name: (D, N)}``.

    ``listed`` holds the listed sessions of every panel row (1 on the listing day).
    """
    close, prev = bars["close"], bars["prev_close"]
    susp = bars["is_suspended"] == 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close / prev - 1.0
    ret[(listed <= 1) | ~np.isfinite(ret)] = np.nan  # no return on the listing day
    lr = np.log1p(ret)
    has_lr = np.isfinite(lr)
    lr0 = np.where(has_lr, lr, 0.0)
    traded = has_lr & ~susp
    fcap = bars.float_cap
    fcap_prev = np.vstack([fcap[:1], fcap[:-1]])
    m = _market_return(ret, fcap_prev, traded)
    v = (traded & np.isfinite(m)[:, None]).astype(float)
    out: dict[str, np.ndarray] = {}
    mo = cfg.min_obs

    # Beta and HSIGMA: EW regression of r on the market, with intercept
    mm = np.where(v > 0, m[:, None], 0.0)
    rr = np.where(v > 0, ret, 0.0)

    def ew(x: np.ndarray, hl: float, win: int) -> np.ndarray:
        return ew_window_sum(x, halflife=hl, window=win)[rows]

    hl, win = cfg.beta_halflife, cfg.beta_window
    W = ew(v, hl, win)
    Sx, Sy = ew(mm, hl, win), ew(rr, hl, win)
    Sxx, Sxy, Syy = ew(mm * mm, hl, win), ew(mm * rr, hl, win), ew(rr * rr, hl, win)
    cnt = rolling_sum(v, window=win)[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = Sxy / W - Sx * Sy / W**2
        varm = Sxx / W - (Sx / W) ** 2
        beta = cov / varm
        resvar = (Syy / W - (Sy / W) ** 2) - beta * cov
    enough = cnt >= mo["hbeta"]
    out["hbeta"] = np.where(enough, beta, np.nan)
    out["hsigma"] = np.where(enough, np.sqrt(np.maximum(resvar, 0.0)), np.nan)

    # DASTD: EW standard deviation of daily returns
    hl, win = cfg.dastd_halflife, cfg.dastd_window
    W2, S1, S2 = ew(v, hl, win), ew(rr, hl, win), ew(rr * rr, hl, win)
    cnt = rolling_sum(v, window=win)[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = S2 / W2 - (S1 / W2) ** 2
    out["dastd"] = np.where(cnt >= mo["dastd"], np.sqrt(np.maximum(var, 0.0)), np.nan)

    # CMRA: range of the cumulative log return over the last 1..12 months
    c0 = np.vstack([np.zeros((1, lr0.shape[1])), np.cumsum(lr0, axis=0)])
    first = np.where(has_lr.any(axis=0), np.argmax(has_lr, axis=0), len(lr0))
    end = c0[rows + 1]
    zmax = np.full(end.shape, -np.inf)
    zmin = np.full(end.shape, np.inf)
    nval = np.zeros(end.shape, dtype=int)
    for k in range(1, cfg.cmra_months + 1):
        start = rows + 1 - k * cfg.month_days
        valid = (start[:, None] >= first[None, :]) & (start[:, None] >= 0)
        z = end - c0[np.maximum(start, 0)]
        zmax = np.where(valid, np.maximum(zmax, z), zmax)
        zmin = np.where(valid, np.minimum(zmin, z), zmin)
        nval += valid
    out["cmra"] = np.where(nval >= mo["cmra"], zmax - zmin, np.nan)

    # Momentum (RSTR) and short-term reversal: EW sums of log returns
    lag, win = cfg.momentum_lag, cfg.momentum_window
    s = ew_window_sum(lr0, halflife=cfg.momentum_halflife, window=win)
    n = rolling_sum(has_lr.astype(float), window=win)
    lagged = rows - lag
    ok = lagged >= 0
    rstr = np.full((len(rows), lr0.shape[1]), np.nan)
    rstr[ok] = np.where(n[lagged[ok]] >= mo["rstr"], s[lagged[ok]], np.nan)
    out["rstr"] = rstr
    win = cfg.reversal_window
    s = ew_window_sum(lr0, halflife=cfg.reversal_halflife, window=win)[rows]
    n = rolling_sum(has_lr.astype(float), window=win)[rows]
    out["strev"] = np.where(n >= mo["strev"], -s, np.nan)

    # Liquidity: log of the monthly turnover over 1, 3, 12 months (mean over days with a bar)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = bars["volume"] / bars.cap_shares
    has_tau = np.isfinite(tau) & (listed >= 1)
    tau0 = np.where(has_tau, tau, 0.0)
    for name, months in zip(("stom", "stoq", "stoa"), cfg.liquidity_months, strict=True):
        win = months * cfg.month_days
        tot = rolling_sum(tau0, window=win)[rows]
        cnt = rolling_sum(has_tau.astype(float), window=win)[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            val = np.log(cfg.month_days * tot / cnt)
        out[name] = np.where((cnt >= mo[name]) & np.isfinite(val), val, np.nan)
    return out


# -- descriptors from statements -------------------------------------------------------------------
def _quarter_index(periods: pd.Series) -> np.ndarray:
    p = pd.DatetimeIndex(periods)
    return np.asarray(p.year * 4 + (p.month - 1) // 3, dtype=np.int64)


def _latest_known(eff: np.ndarray, n_sessions: int, rows: np.ndarray) -> np.ndarray:
    """Per (row, stock): the latest quarter whose value is known on that row's session (-1: none).

    ``eff`` is ``(N, Q)``: the session position from which a quarter's value is known (a
    position >= ``n_sessions`` means never). The latest quarter is the largest quarter index
    among the known ones, so a statement announced out of order never replaces a later one.
    """
    N, Q = eff.shape
    known = np.full((n_sessions, N), -1, dtype=np.int32)
    n_idx, q_idx = np.nonzero(eff < n_sessions)
    np.maximum.at(known, (eff[n_idx, q_idx], n_idx), q_idx.astype(np.int32))
    return np.maximum.accumulate(known, axis=0)[rows]


def _gather(grid: np.ndarray, latest: np.ndarray) -> np.ndarray:
    """``grid[n, latest[d, n]]`` with NaN where ``latest`` is -1."""
    N = grid.shape[0]
    vals = grid[np.arange(N)[None, :], np.maximum(latest, 0)]
    return np.where(latest >= 0, vals, np.nan)


def _slope_over_mean(y: np.ndarray) -> np.ndarray:
    """Slope of ``y`` (last axis, equally spaced years) over the mean of ``|y|``."""
    k = y.shape[-1]
    t = np.arange(k) - (k - 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (y * t).sum(axis=-1) / (t * t).sum()
        return slope / np.abs(y).mean(axis=-1)


def _cv(y: np.ndarray) -> np.ndarray:
    """Standard deviation over the absolute mean (last axis)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return y.std(axis=-1) / np.abs(y.mean(axis=-1))


def _statement_descriptors(
    store: Store,
    bars: DailyPanel,
    rows: np.ndarray,
    cfg: StyleConfig,
    items: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Statement descriptors at the panel rows ``rows`` (point in time by ``ann_date``)."""
    end = bars.dates[rows].max()
    fund = store.read(
        "fundamentals", end=end, columns=["code", "report_period", "ann_date", *items]
    )
    codes = bars.codes
    ci = codes.get_indexer(pd.Index(fund["code"].astype(str)))
    fund = fund[ci >= 0]
    ci = ci[ci >= 0]
    N = len(codes)
    out: dict[str, np.ndarray] = {}
    if not len(fund):
        return out
    qi = _quarter_index(fund["report_period"])
    q0 = int(qi.min())
    Q = int(qi.max()) - q0 + 1
    qj = qi - q0
    T = len(bars.dates)
    never = np.int64(T + 10**6)
    ann = np.full((N, Q), never, dtype=np.int64)
    pos = bars.dates.searchsorted(pd.DatetimeIndex(fund["ann_date"]), side="left")
    ann[ci, qj] = pos
    grid: dict[str, np.ndarray] = {}
    for it in items:
        g = np.full((N, Q), np.nan)
        g[ci, qj] = fund[it].to_numpy(dtype=float, na_value=np.nan)
        grid[it] = g

    def window_max(a: np.ndarray, k: int) -> np.ndarray:
        padded = np.concatenate([np.full((N, k - 1), never), a], axis=1)
        return sliding_window_view(padded, k, axis=1).max(axis=-1)

    def ttm(a: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.full((N, 3), np.nan), a], axis=1)
        return sliding_window_view(padded, 4, axis=1).sum(axis=-1)

    years = cfg.growth_years
    eff_point = ann
    eff_ttm = window_max(ann, 4)
    eff_hist = window_max(ann, 4 * years)
    latest_point = _latest_known(eff_point, T, rows)
    latest_ttm = _latest_known(eff_ttm, T, rows)
    latest_hist = _latest_known(eff_hist, T, rows)

    close = bars["close"][rows]
    tshares = bars.fields.get("total_shares", bars.fields.get("float_shares"))
    assert tshares is not None
    mcap = close * tshares[rows]
    g_ttm = {
        k: ttm(grid[k])
        for k in ("net_profit", "operating_cash_flow", "revenue", "gross_profit", "dividends")
        if k in grid
    }

    def annual(a: np.ndarray) -> np.ndarray:
        """(N, Q, years): values 0, 4, 8, ... quarters back, oldest first."""
        padded = np.concatenate([np.full((N, 4 * (years - 1)), np.nan), a], axis=1)
        win = sliding_window_view(padded, 4 * (years - 1) + 1, axis=1)
        return win[:, :, ::4]

    with np.errstate(invalid="ignore", divide="ignore"):
        if "book_equity" in grid:
            be = _gather(grid["book_equity"], latest_point)
            out["btop"] = be / mcap
        if "net_profit" in g_ttm:
            out["etop"] = _gather(g_ttm["net_profit"], latest_ttm) / mcap
        if "operating_cash_flow" in g_ttm:
            out["cetop"] = _gather(g_ttm["operating_cash_flow"], latest_ttm) / mcap
        if "dividends" in g_ttm and "shares" in grid:
            dps = g_ttm["dividends"] / grid["shares"]
            out["dtop"] = _gather(dps, latest_ttm) / close
        if {"total_assets", "total_liabilities", "long_term_debt", "book_equity"} <= grid.keys():
            ld = _gather(grid["long_term_debt"], latest_point)
            be = _gather(grid["book_equity"], latest_point)
            out["mlev"] = (mcap + ld) / mcap
            out["dtoa"] = _gather(grid["total_liabilities"] / grid["total_assets"], latest_point)
            out["blev"] = np.where(be > 0, (be + ld) / be, np.nan)
        if {"net_profit", "gross_profit", "revenue", "total_assets"} <= grid.keys():
            ta = grid["total_assets"]
            out["roa"] = _gather(g_ttm["net_profit"] / ta, latest_ttm)
            out["gpm"] = _gather(g_ttm["gross_profit"] / g_ttm["revenue"], latest_ttm)
            out["ato"] = _gather(g_ttm["revenue"] / ta, latest_ttm)
        if {"net_profit", "revenue", "shares"} <= grid.keys():
            eps = annual(g_ttm["net_profit"] / grid["shares"])
            sps = annual(g_ttm["revenue"] / grid["shares"])
            out["egro"] = _gather(_slope_over_mean(eps), latest_hist)
            out["sgro"] = _gather(_slope_over_mean(sps), latest_hist)
        if {"total_assets", "shares"} <= grid.keys():
            out["agro"] = -_gather(_slope_over_mean(annual(grid["total_assets"])), latest_hist)
            out["igro"] = -_gather(_slope_over_mean(annual(grid["shares"])), latest_hist)
        if {"revenue", "net_profit"} <= grid.keys():
            out["vsal"] = _gather(_cv(annual(g_ttm["revenue"])), latest_hist)
            out["vern"] = _gather(_cv(annual(g_ttm["net_profit"])), latest_hist)
    return {k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()}


# -- the pipeline --------------------------------------------------------------------------------
def _as_sessions(store: Store, dates: Iterable[DateLike]) -> pd.DatetimeIndex:
    cal = store.calendar()
    idx = pd.DatetimeIndex([pd.Timestamp(d) for d in dates]).normalize()
    if not len(idx):
        raise ValueError("no dates given")
    if idx.min() < store.start or idx.max() > store.end:
        raise ValueError(
            f"dates must lie in the store's span {store.start:%Y-%m-%d}..{store.end:%Y-%m-%d}"
        )
    snapped = [cal.previous_or_same(d, warn=False) for d in idx]
    return pd.DatetimeIndex(sorted(set(snapped)), name="date")


def compute_styles(
    store: Store,
    dates: Iterable[DateLike],
    *,
    progress: bool = True,
    config: StyleConfig | None = None,
) -> StyleExposures:
    """Style exposures of every stock as of each date, from data up to that date only.

    Parameters
    ----------
    store
        An open store.
    dates
        As-of dates; a non-trading day moves to the previous trading day.
    progress
        Show a progress bar over the computation steps.
    config
        Windows, half-lives and thresholds (default :class:`StyleConfig`).

    Returns
    -------
    StyleExposures
        Exposures of the stocks in each date's cross-section (listed, with a bar and a
        positive cap), for the styles the store's data allow; the others are in
        ``.unavailable`` with the reason.

    Raises
    ------
    DataUnavailableError
        The store has neither ``float_shares`` nor ``total_shares`` (no market cap), or no
        listed stock has a daily bar and a market cap on any of ``dates``.

    Notes
    -----
    Descriptors (CNE5 / CNE6 names; :math:`\\lambda_h = 0.5^{1/h}`, returns are total daily
    returns ``close / prev_close - 1``, no risk-free rate is subtracted):

    - Size: LNCAP :math:`= \\ln(\\text{close} \\times \\text{total shares})`.
    - MidCap: :math:`\\text{Size}^3` WLS-orthogonalized to Size (weights
      :math:`\\sqrt{\\text{float cap}}`), trimmed and standardized.
    - Beta: HBETA, the slope of :math:`r_t = \\alpha + \\beta R_t + e_t` over 252 days with
      weights :math:`\\lambda_{63}^{k}`, :math:`R` the float-cap-weighted market return.
    - Residual volatility: 0.74 DASTD (EW std of returns, 252 d, HL 42) + 0.16 CMRA
      (:math:`\\max_T Z(T) - \\min_T Z(T)`, :math:`Z(T)` the log return over the last
      :math:`T = 1..12` months) + 0.10 HSIGMA (std of :math:`e_t` of the Beta regression),
      orthogonalized to Beta and Size.
    - Momentum: RSTR :math:`= \\sum_{k=0}^{503} \\lambda_{126}^{k} \\ln(1+r_{t-21-k})`.
    - Short-term reversal: :math:`-\\sum_{k=0}^{20} \\lambda_5^{k} \\ln(1+r_{t-k})`.
    - Liquidity: 0.35 STOM + 0.35 STOQ + 0.30 STOA,
      :math:`\\mathrm{STO}_M = \\ln(21 \\cdot \\overline{\\text{volume}/\\text{float shares}})`
      over the last :math:`21 M` days (M = 1, 3, 12).
    - Book-to-price: book equity / total market cap.
    - Earnings yield: 0.66 ETOP (TTM net profit / cap) + 0.34 CETOP (TTM operating cash
      flow / cap).
    - Dividend yield: TTM dividends per share / close.
    - Growth: 0.34 EGRO + 0.66 SGRO, slope of TTM EPS (sales per share) over 5 yearly points
      divided by the mean of their absolute values.
    - Leverage: 0.38 MLEV :math:`(ME+LD)/ME` + 0.35 DTOA :math:`TL/TA` + 0.27 BLEV
      :math:`(BE+LD)/BE`.
    - Profitability: equal weights of ROA (TTM net profit / assets), gross margin (TTM gross
      profit / revenue) and asset turnover (TTM revenue / assets).
    - Investment: minus the 5-year slope-over-mean of total assets and of shares (equal
      weights).
    - Earnings variability: std / |mean| of 5 yearly TTM revenues and of 5 yearly TTM net
      profits (equal weights).

    A statement's items are known from its announcement date; a TTM value from the latest
    announcement among its four quarters, a 5-year descriptor from the latest among its twenty.
    """
    cfg = config or StyleConfig()
    ctx = _context(store, dates, cfg)
    steps = tqdm(total=3, desc="styles", disable=not progress, leave=False)
    desc, unavailable = _descriptors(store, ctx, cfg)
    steps.update()
    universe, cap, sqrt_cap = ctx.universe, ctx.cap, ctx.sqrt_cap

    # standardize descriptors, combine into styles
    trim = cfg.trim
    raw: dict[str, np.ndarray] = {}
    for style, parts in STYLE_DESCRIPTORS.items():
        if style in unavailable or style == "midcap":
            continue
        num = np.zeros(universe.shape)
        den = np.zeros(universe.shape)
        for name, wt in parts:
            d = desc.pop(name, None)  # free each descriptor once used (large daily panels)
            if d is None:
                continue
            z = standardize_trim(np.where(universe, d, np.nan), cap, trim=trim)
            del d
            ok = np.isfinite(z)
            num += np.where(ok, wt * z, 0.0)
            den += np.where(ok, wt, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            combined = np.where(den > 0, num / den, np.nan)
        raw[style] = standardize_trim(combined, cap, trim=trim)
    steps.update()

    size = cap_standardize(raw["size"], cap)

    def fill(x: np.ndarray) -> np.ndarray:
        filled = fill_missing(
            x, industry=ctx.industry, size=size, weights=sqrt_cap, universe=universe
        )
        return cap_standardize(filled, cap)

    out: dict[str, np.ndarray] = {"size": size}
    for style in STYLE_NAMES:
        if style in ("size", "midcap", "residual_volatility") or style not in raw:
            continue
        out[style] = fill(raw[style])
    mid = wls_residual(size**3, [size], sqrt_cap)
    out["midcap"] = fill(standardize_trim(mid, cap, trim=trim))
    if "residual_volatility" in raw:
        regs = [out["beta"], size] if "beta" in out else [size]
        rv = wls_residual(raw["residual_volatility"], regs, sqrt_cap)
        out["residual_volatility"] = fill(standardize_trim(rv, cap, trim=trim))
    steps.update()
    steps.close()

    empty = [s for s, v in out.items() if not np.isfinite(v).any()]
    for s in empty:
        unavailable[s] = "no stock has enough history for its descriptors on any requested date"
        del out[s]
    partial = [
        s for s, v in out.items() if (np.isfinite(v).sum(axis=1) == 0)[universe.any(axis=1)].any()
    ]
    if partial:
        warnings.warn(
            f"styles without values on some dates (too little history): {', '.join(partial)}",
            StyleDataWarning,
            stacklevel=2,
        )
    names = tuple(s for s in STYLE_NAMES if s in out)
    values = np.stack([np.where(universe, out[s], np.nan) for s in names], axis=2)
    return StyleExposures(
        dates=ctx.dates,
        codes=ctx.codes,
        values=values,
        styles=names,
        unavailable={s: unavailable[s] for s in STYLE_NAMES if s in unavailable},
        industry=ctx.industry_labels,
    )


@dataclass(frozen=True)
class _Context:
    """Bars and the cross-section of each requested date."""

    dates: pd.DatetimeIndex
    codes: pd.Index
    bars: DailyPanel
    rows: np.ndarray
    listed_all: np.ndarray
    universe: np.ndarray
    cap: np.ndarray
    sqrt_cap: np.ndarray
    tcap: np.ndarray
    industry: np.ndarray
    industry_labels: np.ndarray


def _context(store: Store, dates: Iterable[DateLike], cfg: StyleConfig) -> _Context:
    d_idx = _as_sessions(store, dates)
    if not store.has("daily_bars", cap_shares_column(store)):
        raise DataUnavailableError(
            f"store {store.name!r} has neither daily_bars.float_shares nor total_shares: "
            "no market cap, no style can be computed"
        )
    require_bars(store, ["close", "prev_close", "volume", "is_suspended"])
    sessions = store.calendar().sessions
    first = max(0, int(sessions.searchsorted(d_idx[0])) - cfg.lookback - 5)
    bars = load_daily_panel(
        store,
        start=sessions[first],
        end=d_idx[-1],
        fields=["close", "prev_close", "volume", "is_suspended", "float_shares", "total_shares"],
    )
    rows = bars.rows(d_idx)
    codes = bars.codes
    listed_all = bars.listed_sessions()
    listed = bars.listed(rows)
    close = bars["close"][rows]
    tshares = bars.fields.get("total_shares", bars.fields.get("float_shares"))
    assert tshares is not None
    fcap = bars.float_cap[rows]
    tcap = close * tshares[rows]
    universe = listed & np.isfinite(close) & (fcap > 0) & (tcap > 0) & (listed_all[rows] >= 1)
    if not universe.any():
        span = f"{d_idx[0]:%Y-%m-%d}" + (f" to {d_idx[-1]:%Y-%m-%d}" if len(d_idx) > 1 else "")
        raise DataUnavailableError(
            f"store {store.name!r} has no listed stock with a daily bar and a market cap on "
            f"{span}: no style can be computed"
        )
    grid = bars.spell("industry", rows)
    ind_codes = np.where(universe, grid.index, -1).astype(np.int64)
    lookup = np.array([*grid.values, None], dtype=object)
    labels = lookup[np.where(ind_codes >= 0, ind_codes, len(grid.values))]
    return _Context(
        dates=d_idx,
        codes=codes,
        bars=bars,
        rows=rows,
        listed_all=listed_all,
        universe=universe,
        cap=np.where(universe, fcap, np.nan),
        sqrt_cap=np.sqrt(np.where(universe, fcap, np.nan)),
        tcap=tcap,
        industry=ind_codes,
        industry_labels=labels,
    )


def _descriptors(
    store: Store, ctx: _Context, cfg: StyleConfig
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    unavailable: dict[str, str] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        desc: dict[str, np.ndarray] = {"lncap": np.log(ctx.tcap)}
    desc.update(_bar_descriptors(ctx.bars, ctx.listed_all, ctx.rows, cfg))
    if store.has("fundamentals"):
        items = tuple(c for c in _STATEMENT_ITEMS if store.has("fundamentals", c))
        desc.update(_statement_descriptors(store, ctx.bars, ctx.rows, cfg, items))
        for style, need in FUNDAMENTAL_STYLES.items():
            lacking = [c for c in need if c not in items]
            if lacking:
                unavailable[style] = f"fundamentals lack {', '.join(lacking)}: " + "; ".join(
                    store.unavailable().get(f"fundamentals.{c}", "not in this store")
                    for c in lacking
                )
    else:
        reason = store.unavailable().get("fundamentals", "not in this store")
        for style in FUNDAMENTAL_STYLES:
            unavailable[style] = f"needs point-in-time fundamentals: {reason}"
    return desc, unavailable


def descriptors(
    store: Store, dates: Iterable[DateLike], *, config: StyleConfig | None = None
) -> dict[str, pd.DataFrame]:
    """Raw (unstandardized) descriptors as of each date: ``{name: date x code}``.

    The names are those of :data:`STYLE_DESCRIPTORS` (``lncap``, ``hbeta``, ``dastd``...);
    values are NaN outside each date's cross-section. See :func:`compute_styles` for the
    definitions.
    """
    cfg = config or StyleConfig()
    ctx = _context(store, dates, cfg)
    desc, _ = _descriptors(store, ctx, cfg)
    return {
        k: pd.DataFrame(np.where(ctx.universe, v, np.nan), index=ctx.dates, columns=ctx.codes)
        for k, v in desc.items()
    }
