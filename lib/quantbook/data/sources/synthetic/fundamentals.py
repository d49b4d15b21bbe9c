"""Quarterly statements of the synthetic market, announced with realistic lags.

Statements are driven by each stock's latent characteristics (standardized, slowly moving):

- book equity starts at ``mcap_0 * exp(0.45 * value - 0.65)`` and accumulates earnings less dividends;
- total assets = book equity / (1 - leverage ratio), leverage ratio = clip(0.45 + 0.15 * leverage, 0.08, 0.9);
- quarterly ROE = 0.022 + 0.01 * profitability + 0.006 * earnings_yield, with noise whose size
  grows with earnings_variability;
- asset growth per quarter = 0.018 + 0.012 * growth - 0.01 * investment; revenue = assets x turnover;
- annual dividends (declared with the Q4 report) = payout x annual earnings, payout from ``dividend``.

Announcement lags: Q1 by April 30, H1 by August 31, Q3 by October 31, the annual report by April
30 of the next year, each on a random trading day inside the legal window.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    roe_mu = 0.022 + 0.010 * lat["profitability"] + 0.006 * lat["earnings_yield"]
    roe_sd = 0.004 * np.exp(0.5 * lat["earnings_variability"])
    g_assets = 0.018 + 0.012 * lat["growth"] - 0.010 * lat["investment"]
    turnover = np.exp(np.log(0.16) + 0.25 * lat["profitability"] + 0.2 * rng.standard_normal(n))
    margin = np.clip(0.26 + 0.07 * lat["profitability"] + 0.03 * rng.standard_normal(n), 0.03, 0.8)
    payout = np.clip(0.3 + 0.18 * lat["dividend"], 0.0, 0.9)

    # book equity six years back such that it reaches about mcap0 * exp(0.45 value - 0.65) at the start
    be_start = mcap0 * np.exp(0.45 * lat["value"] - 0.65)
    q_start = int(periods.searchsorted(start)) - 1
    be0 = be_start / np.exp(np.clip(roe_mu * 0.7, -0.02, 0.05) * max(q_start, 0))

    be = np.empty((n, q))
    ta = np.empty((n, q))
    ni = np.empty((n, q))
    rev = np.empty((n, q))
    div = np.zeros((n, q))
    be_prev = be0
    annual_ni = np.zeros(n)
    for k, p in enumerate(periods):
        shock = roe_sd * rng.standard_normal(n)
        roe = roe_mu + shock
        ta_k = be_prev / (1 - lev) * np.exp(g_assets + 0.01 * rng.standard_normal(n))
        rev[:, k] = (
            ta_k * turnover * (1.0 + 0.08 * (p.month == 12)) * np.exp(0.05 * rng.standard_normal(n))
        )
        ni[:, k] = be_prev * roe
        annual_ni = ni[:, k] if p.month == 3 else annual_ni + ni[:, k]
        if p.month == 12:
            div[:, k] = payout * np.maximum(annual_ni, 0.0)
        be_k = be_prev + ni[:, k] - div[:, k]
        be_k = np.maximum(be_k, 0.05 * np.abs(be_prev))
        be[:, k] = be_k
        ta[:, k] = np.maximum(ta_k, be_k * 1.05)
        be_prev = be_k
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
    return Statements(periods=periods, ann=ann, items=items)


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
