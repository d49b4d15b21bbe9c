"""Quarterly statements of the synthetic market, announced with realistic lags.

Statements are driven by each stock's latent characteristics (standardized, static). Items are
trend-stationary around per-stock growth paths (quarter ``k``, ``k_0`` = the quarter before the
simulation starts, ``k_m`` = the middle quarter of the simulated span):

- total assets ``A_k = A_0 exp(g_A (k - k_0) + 0.015 e)``, ``g_A = -0.008 investment`` (log per
  quarter), ``A_0 = BE_0 / (1 - lev)`` with ``BE_0 = mcap_0 exp(0.8 value - 0.85)``;
- leverage ratio ``lev = clip(0.45 + 0.15 leverage, 0.08, 0.9)`` (+ small noise); book equity
  ``BE_k = A_k (1 - lev_k)``;
- revenue ``S_k = S*_k exp(0.1 v e)`` around the trend
  ``S*_k = A_0 e^{g_A (k_m - k_0)} ATO exp(g_S (k - k_m)) (1 + 0.08 [Q4])``: sales growth
  ``g_S = 0.008 growth``, asset turnover at ``k_m`` ``ATO = exp(ln 0.16 + 0.25 profitability + 0.1 e)``,
  relative variability ``v = exp(0.6 earnings_variability)``;
- net profit ``NI_k = m_N S*_k (1 + 0.25 v e)``, the net margin ``m_N`` set so that quarterly
  earnings at ``k_0`` are ``mcap_0 exp(ln 0.011 + 0.8 earnings_yield + 0.15 profitability)``;
  gross margin from profitability (and at least 1.25 x the net margin);
- annual dividends (declared with the Q4 report) = payout x annual earnings, payout
  ``0.9 / (1 + exp(0.3 - 1.6 dividend))``, none below ``dividend = -1.2``.

:attr:`Statements.rates` holds the per-stock expected rates (sales growth, asset growth and the
relative variability ``exp(0.6 earnings_variability)``): the characteristics the growth,
investment and earnings-variability styles measure.

Announcement lags: Q1 by April 30, H1 by August 31, Q3 by October 31, the annual report by April
30 of the next year, each on a random trading day inside the legal window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantbook.data.calendar import TradingCalendar

#: Legal announcement windows (month, day) after each quarter end: Q1, Q2, Q3, Q4 (next year).
_WINDOWS = {
    3: ((4, 10), (4, 30)),
    6: ((7, 15), (8, 31)),
    9: ((10, 10), (10, 31)),
    12: ((3, 1), (4, 30)),
}


@dataclass
class Statements:
    """Arrays of shape (N, Q) aligned with ``periods`` (quarter ends)."""

    periods: pd.DatetimeIndex
    ann: np.ndarray  # datetime64[ns], NaT where not published
    items: dict[str, np.ndarray]
    #: Per-stock expected rates (N,): ``sales_growth``, ``asset_growth`` (log per quarter) and
    #: ``variability`` (relative size of the sales and earnings noise).
    rates: dict[str, np.ndarray] = field(default_factory=dict)

    def latest(self, date: pd.Timestamp) -> np.ndarray:
        """Index of the latest quarter announced on or before ``date`` per stock (-1: none)."""
        known = self.ann <= np.datetime64(date)
        q = known.shape[1]
        last = q - 1 - np.argmax(known[:, ::-1], axis=1)
        return np.where(known.any(axis=1), last, -1)

    def ttm(self, item: str, latest: np.ndarray) -> np.ndarray:
        """Sum of the last four quarters up to ``latest`` (NaN without four quarters)."""
        x = self.items[item]
        n = len(latest)
        out = np.full(n, np.nan)
        ok = latest >= 3
        rows = np.flatnonzero(ok)
        for k in range(4):
            v = x[rows, latest[rows] - k]
            out[rows] = np.where(k == 0, v, out[rows] + v)
        return out

    def point(self, item: str, latest: np.ndarray) -> np.ndarray:
        """Value of a balance item at the latest announced quarter (NaN: none)."""
        x = self.items[item]
        out = np.full(len(latest), np.nan)
        ok = latest >= 0
        out[ok] = x[np.flatnonzero(ok), latest[ok]]
        return out


def _ann_dates(
    rng: np.random.Generator, periods: pd.DatetimeIndex, n: int, cal: TradingCalendar
) -> np.ndarray:
    sessions = cal.sessions
    out = np.empty((n, len(periods)), dtype="datetime64[ns]")
    for q, p in enumerate(periods):
        (m0, d0), (m1, d1) = _WINDOWS[p.month]
        year = p.year + 1 if p.month == 12 else p.year
        lo = sessions.searchsorted(pd.Timestamp(year, m0, d0))
        hi = sessions.searchsorted(pd.Timestamp(year, m1, d1), side="right") - 1
        if hi < lo:  # beyond the calendar: announce at the window's end in calendar days
            out[:, q] = np.datetime64(pd.Timestamp(year, m1, d1))
            continue
        # skewed towards the end of the window, as in practice
        pos = lo + np.floor((hi - lo + 1) * rng.beta(2.2, 1.3, size=n)).astype(int)
        out[:, q] = sessions.values[np.minimum(pos, hi)]
    return out


def build_statements(
    *,
    latents: dict[str, np.ndarray],
    mcap0: np.ndarray,
    shares: np.ndarray,
    list_dates: np.ndarray,
    delist_dates: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
) -> Statements:
    """Simulate quarterly statements for every stock from six years before ``start`` to ``end``.

    Parameters
    ----------
    latents
        Standardized characteristics of shape (N,): value, leverage, profitability,
        earnings_yield, growth, investment, dividend, earnings_variability.
    mcap0
        Total market cap at the start of the span (or at listing), CNY.
    shares
        Total shares (N,).
    list_dates, delist_dates
        datetime64 arrays; statements before listing are announced on the listing day;
        statements announced on or after delisting are dropped.
    """
    rng = np.random.default_rng([seed, 3])
    n = len(mcap0)
    periods = pd.date_range(pd.Timestamp(start.year - 6, 3, 31), end, freq="QE")
    cal = TradingCalendar()
    ann = _ann_dates(rng, periods, n, cal)
    ann = np.maximum(ann, list_dates[:, None])
    ann = np.where(ann >= delist_dates[:, None], np.datetime64("NaT"), ann)
    ann = np.where(ann > np.datetime64(end), np.datetime64("NaT"), ann)

    q = len(periods)
    lat = latents
    lev = np.clip(0.45 + 0.15 * lat["leverage"], 0.08, 0.9)
    g_a = -0.008 * lat["investment"]
    g_s = 0.008 * lat["growth"]
    var_rel = np.exp(0.6 * lat["earnings_variability"])
    turnover = np.exp(np.log(0.16) + 0.25 * lat["profitability"] + 0.1 * rng.standard_normal(n))
    margin = np.clip(0.26 + 0.07 * lat["profitability"] + 0.03 * rng.standard_normal(n), 0.03, 0.8)
    # payout ratio: logistic in the dividend latent, no dividend at all below -1.2
    payout = np.where(
        lat["dividend"] < -1.2, 0.0, 0.9 / (1.0 + np.exp(-(1.6 * lat["dividend"] - 0.3)))
    )

    # total assets at the quarter before the start such that book equity is about
    # mcap0 * exp(0.8 value - 0.85) there; quarterly earnings there about
    # mcap0 * exp(ln 0.011 + 0.6 earnings_yield + 0.15 profitability)
    k0 = max(int(periods.searchsorted(start)) - 1, 0)
    km = (k0 + q - 1) // 2
    ta0 = mcap0 * np.exp(0.8 * lat["value"] - 0.85) / (1 - lev)
    sales_mid = ta0 * np.exp(g_a * (km - k0)) * turnover
    sales_k0 = sales_mid * np.exp(g_s * (k0 - km))
    ni_k0 = mcap0 * np.exp(
        np.log(0.011) + 0.8 * lat["earnings_yield"] + 0.15 * lat["profitability"]
    )
    net_margin = ni_k0 / sales_k0
    margin = np.minimum(np.maximum(margin, 1.25 * net_margin), 0.95)  # gross above net margin

    k = np.arange(q)
    e_a, e_l, e_s, e_n = rng.standard_normal((4, n, q))
    ta = ta0[:, None] * np.exp(g_a[:, None] * (k - k0) + 0.015 * e_a)
    lev_k = np.clip(lev[:, None] + 0.01 * e_l, 0.05, 0.92)
    be = ta * (1 - lev_k)
    q4 = 1.0 + 0.08 * (periods.month == 12)
    sales_trend = sales_mid[:, None] * np.exp(g_s[:, None] * (k - km)) * q4
    rev = sales_trend * np.exp(0.1 * var_rel[:, None] * e_s)
    ni = net_margin[:, None] * sales_trend * (1.0 + 0.25 * var_rel[:, None] * e_n)
    div = np.zeros((n, q))
    annual_ni = np.zeros(n)
    for j, p in enumerate(periods):
        annual_ni = ni[:, j] if p.month == 3 else annual_ni + ni[:, j]
        if p.month == 12:
            div[:, j] = payout * np.maximum(annual_ni, 0.0)
    tl = ta - be
    items = {
        "revenue": rev,
        "gross_profit": rev * margin[:, None],
        "net_profit": ni,
        "operating_cash_flow": ni * (1.0 + 0.4 * rng.standard_normal((n, q))),
        "dividends": div,
        "total_assets": ta,
        "total_liabilities": tl,
        "long_term_debt": tl * np.clip(0.3 + 0.1 * rng.standard_normal(n), 0.05, 0.8)[:, None],
        "book_equity": be,
        "shares": np.repeat(shares[:, None], q, axis=1),
    }
    rates = {"sales_growth": g_s, "asset_growth": g_a, "variability": var_rel}
    return Statements(periods=periods, ann=ann, items=items, rates=rates)


def statements_frame(st: Statements, codes: np.ndarray) -> pd.DataFrame:
    """The ``fundamentals`` table (only published statements)."""
    n, q = st.ann.shape
    published = ~np.isnat(st.ann)
    rows, cols = np.nonzero(published)
    df = pd.DataFrame(
        {
            "code": codes[rows],
            "report_period": st.periods.values[cols],
            "ann_date": st.ann[rows, cols],
        }
    )
    for k, v in st.items.items():
        df[k] = v[rows, cols]
    return df
