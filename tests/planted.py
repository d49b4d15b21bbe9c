"""Small independent measurements of the synthetic market's planted effects.

Written apart from ``lib/`` on purpose (plain numpy / pandas, brute force where cheap), so the
tests check the simulator against the documented truth without trusting the project's own
factor code. ``python tests/planted.py STORE`` prints every measurement.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd
from quantbook.data import Store, open_store


@dataclass
class Panel:
    """Wide date x code frames of a store's daily bars and its month-ends."""

    bars: dict[str, pd.DataFrame]
    month_ends: pd.DatetimeIndex
    fwd: pd.DataFrame  # month-end to next month-end adjusted return, labelled at the start

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.bars["close"].index)


def load_panel(store: Store) -> Panel:
    d = store.read("daily_bars")
    d["adj_close"] = d["close"] * d["adj_factor"]
    d["ret"] = d["close"] / d["prev_close"] - 1
    cols = [
        "open",
        "high",
        "low",
        "close",
        "prev_close",
        "volume",
        "amount",
        "num_trades",
        "price_1130",
        "float_shares",
        "adj_close",
        "ret",
        "is_suspended",
    ]
    bars = {c: d.pivot(index="date", columns="code", values=c) for c in cols}
    bars["is_suspended"] = bars["is_suspended"].fillna(True).astype(bool)
    me = store.calendar().month_ends()
    adj = bars["adj_close"].reindex(me)
    fwd = adj.shift(-1) / adj - 1
    return Panel(bars, me, fwd)


def monthly_ic(panel: Panel, factor: dict[pd.Timestamp, pd.Series]) -> tuple[float, float, int]:
    """Mean Pearson IC of factor_t with the next month's return (stocks tradable at t), its standard error, n."""
    ics = []
    for d, x in factor.items():
        if d not in panel.fwd.index:
            continue
        y = panel.fwd.loc[d]
        x = x.reindex(y.index)
        ok = np.isfinite(x) & np.isfinite(y) & ~panel.bars["is_suspended"].loc[d]
        if ok.sum() > 30:
            ics.append(np.corrcoef(x[ok], y[ok])[0, 1])
    a = np.asarray(ics)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(len(a))), len(a)


def _window(panel: Panel, d: pd.Timestamp, n: int) -> slice:
    i = panel.dates.get_loc(d)
    return slice(i - n + 1, i + 1)


def ideal_reversal(panel: Panel) -> dict[pd.Timestamp, pd.Series]:
    """M = sum of returns on the 10 days of largest average trade size minus the other 10 (20 days)."""
    out = {}
    for d in panel.month_ends[1:]:
        w = _window(panel, d, 20)
        if w.start < 0:
            continue
        r = panel.bars["ret"].iloc[w]
        size = (panel.bars["amount"].iloc[w] / panel.bars["num_trades"].iloc[w]).where(
            ~panel.bars["is_suspended"].iloc[w]
        )
        full = size.notna().sum() == 20
        rank = size.rank(ascending=False, method="first")
        m = r.where(rank <= 10).sum() - r.where(rank > 10).sum()
        out[d] = m.where(full)
    return out


def ideal_amplitude(panel: Panel) -> dict[pd.Timestamp, pd.Series]:
    """V = mean amplitude on the 25 % highest-close valid days minus on the 25 % lowest (20 days)."""
    b = panel.bars
    amp = b["high"] / b["low"] - 1
    valid = ~b["is_suspended"] & (b["high"] > b["low"])
    out = {}
    for d in panel.month_ends[1:]:
        w = _window(panel, d, 20)
        if w.start < 0:
            continue
        a = amp.iloc[w].where(valid.iloc[w])
        c = b["adj_close"].iloc[w].where(valid.iloc[w])
        n = a.notna().sum()
        k = np.floor(0.25 * n + 0.5)
        hi = a.where(c.rank(ascending=False, method="first") <= k).mean()
        lo = a.where(c.rank(ascending=True, method="first") <= k).mean()
        out[d] = (hi - lo).where(n >= 10)
    return out


def apm(panel: Panel) -> dict[pd.Timestamp, pd.Series]:
    """APM against the float-cap-weighted all-stock index, one pooled OLS per stock (closed form)."""
    b = panel.bars
    on = b["open"] / b["prev_close"] - 1
    aft = b["close"] / b["price_1130"] - 1
    w = (b["float_shares"] * b["prev_close"]).where(~b["is_suspended"])
    idx_on = (on * w).sum(axis=1) / w.where(on.notna()).sum(axis=1)
    idx_aft = (aft * w).sum(axis=1) / w.where(aft.notna()).sum(axis=1)
    out = {}
    for d in panel.month_ends[1:]:
        win = _window(panel, d, 20)
        if win.start < 0:
            continue
        y = np.vstack([on.iloc[win].to_numpy(), aft.iloc[win].to_numpy()])  # 40 x N
        x = np.r_[idx_on.iloc[win].to_numpy(), idx_aft.iloc[win].to_numpy()]  # 40
        sus = b["is_suspended"].iloc[win].to_numpy()
        full = ~sus.any(axis=0) & np.isfinite(y).all(axis=0)
        xm = x - x.mean()
        beta = (xm[:, None] * (y - y.mean(axis=0))).sum(axis=0) / (xm**2).sum()
        e = y - y.mean(axis=0) - beta * xm[:, None]
        delta = e[:20] - e[20:]
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = delta.mean(axis=0) / (delta.std(axis=0, ddof=1) / np.sqrt(20))
        ret20 = (
            b["adj_close"].iloc[win.stop - 1] / b["adj_close"].iloc[win.start - 1] - 1
        ).to_numpy()
        ok = full & np.isfinite(stat) & np.isfinite(ret20)
        coef = np.polyfit(ret20[ok], stat[ok], 1)
        res = np.full(len(stat), np.nan)
        res[ok] = stat[ok] - np.polyval(coef, ret20[ok])
        out[d] = pd.Series(res, index=b["close"].columns)
    return out


def smart_money(
    store: Store, panel: Panel, month_ends: pd.DatetimeIndex
) -> dict[pd.Timestamp, pd.Series]:
    """Q = VWAP of the smart minutes / VWAP of all minutes over the last 10 days (1-minute bars)."""
    out = {}
    for d in month_ends:
        days = panel.dates[_window(panel, d, 10)]
        mb = store.minute_bars(days).sort_values(["code", "date", "minute"])
        counts = mb.groupby("code").size()
        mb = mb[mb["code"].isin(counts.index[counts == 2400])]
        codes = mb["code"].unique()
        n = len(codes)
        close = mb["close"].to_numpy().reshape(n, 10, 240)
        opn = mb["open"].to_numpy().reshape(n, 10, 240)
        vol = mb["volume"].to_numpy().reshape(n, 2400)
        amt = mb["amount"].to_numpy().reshape(n, 2400)
        prev = np.concatenate([opn[:, :, :1], close[:, :, :-1]], axis=2)
        r = (close / prev - 1).reshape(n, 2400)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(vol > 0, np.abs(r) / vol**0.25, -np.inf)
        order = np.argsort(-s, axis=1, kind="stable")
        v_sorted = np.take_along_axis(vol, order, axis=1)
        a_sorted = np.take_along_axis(amt, order, axis=1)
        before = np.cumsum(v_sorted, axis=1) - v_sorted
        smart = (before < 0.2 * vol.sum(axis=1, keepdims=True)) & (v_sorted > 0)
        q = (a_sorted * smart).sum(1) / (v_sorted * smart).sum(1) / (amt.sum(1) / vol.sum(1))
        out[d] = pd.Series(q, index=codes)
    return out


def nonlinear(store: Store, panel: Panel) -> dict[pd.Timestamp, pd.Series]:
    """The documented g(X) = BP x MOM - (LIQ^2 - 1)/sqrt(2), from the true exposures at each as-of month-end."""
    ex = store.read_extra("synthetic/exposures")
    out = {}
    for d, grp in ex.groupby("date"):
        if d not in panel.fwd.index:
            continue
        g = grp["book_to_price"] * grp["momentum"] - (grp["liquidity"] ** 2 - 1) / np.sqrt(2)
        out[pd.Timestamp(d)] = pd.Series(g.to_numpy(), index=grp["code"].to_numpy())
    return out


def episode_pattern(panel: Panel, *, step: int = 5) -> tuple[float, float, int]:
    """IC of a hand-made 40-day sequence signal with the next 20-day return, every 5 trading days.

    signal = volume trend x (-corr(sign of daily return, log volume)) over the last 40 days:
    rising volume that leans to down days (accumulation) precedes a rally; leaning to up days
    (distribution) precedes a decline.
    """
    b = panel.bars
    lv = np.log(b["volume"].where(~b["is_suspended"]).to_numpy())
    r = b["ret"].to_numpy()
    adj = b["adj_close"].to_numpy()
    T = len(lv)
    tt = np.arange(40) - 19.5
    ics = []
    for t in range(60, T - 20, step):
        v = lv[t - 39 : t + 1]
        sg = np.sign(r[t - 39 : t + 1] - np.nanmean(r[t - 39 : t + 1], axis=1, keepdims=True))
        ok = np.isfinite(v).all(axis=0)
        slope = (tt[:, None] * (v - v.mean(axis=0))).sum(axis=0) / (tt**2).sum()
        vd = v - v.mean(axis=0) - slope * tt[:, None]
        lean = (sg * vd).mean(axis=0) / (vd.std(axis=0) + 1e-12)
        sig = -lean * np.clip(slope * 40, 0, None)
        fut = adj[t + 20] / adj[t] - 1
        ok &= np.isfinite(fut) & np.isfinite(sig)
        if ok.sum() > 30:
            ics.append(np.corrcoef(sig[ok], fut[ok])[0, 1])
    a = np.asarray(ics)
    return float(a.mean()), float(a.std(ddof=1) / np.sqrt(len(a)) * np.sqrt(4)), len(a)


STYLE_COLUMNS = (
    "size",
    "midcap",
    "beta",
    "residual_volatility",
    "momentum",
    "short_term_reversal",
    "liquidity",
    "book_to_price",
    "earnings_yield",
    "dividend_yield",
    "growth",
    "leverage",
    "profitability",
    "investment",
    "earnings_variability",
)


def factor_drift_autocorr(store: Store, kind: str) -> float:
    """Pooled correlation of the past 20-day and next 5-day true factor returns (every 5 days).

    ``kind`` is ``"styles"`` (the 15 styles) or ``"industries"`` (the 31 industries).
    """
    fr = store.read_extra("synthetic/factor_returns").set_index("date")
    cols = (
        list(STYLE_COLUMNS) if kind == "styles" else [c for c in fr.columns if c.startswith("ind_")]
    )
    x = fr[cols]
    past = x.rolling(20).sum()
    nxt = x[::-1].rolling(5).sum()[::-1].shift(-1)
    rows = np.arange(20, len(x) - 6, 5)
    a, b = past.iloc[rows].to_numpy().ravel(), nxt.iloc[rows].to_numpy().ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def main(name: str) -> None:
    store = open_store(name)
    panel = load_panel(store)
    print("ideal reversal IC", monthly_ic(panel, ideal_reversal(panel)))
    print("APM IC", monthly_ic(panel, apm(panel)))
    print("ideal amplitude IC", monthly_ic(panel, ideal_amplitude(panel)))
    print("non-linear g IC", monthly_ic(panel, nonlinear(store, panel)))
    print("episode pattern IC", episode_pattern(panel))
    print(
        "drift autocorr",
        factor_drift_autocorr(store, "styles"),
        factor_drift_autocorr(store, "industries"),
    )
    me = panel.month_ends[-49:-1]
    print("smart money IC", monthly_ic(panel, smart_money(store, panel, me)))


if __name__ == "__main__":
    main(sys.argv[1])
