"""The day-by-day simulation of the synthetic A-share stock market.

Daily log return of stock i on day t (listed, not suspended)::

    r_it = m_t + f_ind(i),t + sum_s X_is f_st                    systematic (country, industry, 15 styles)
         + sigma_it e_it                                          idiosyncratic, Student-t(5), GARCH(1,1)
         + k s_it sigma_i 1[flow day] - lambda P_i,t-1            transient flow pressure and its decay
         + (a_D D_i,m-1 + a_I I_i,m-1 + a_H H_i,m-1 + a_g g(X)_im) / 21   next-month alphas of the latent signals
         + episode drift                                          40-day accumulation / distribution episodes

The latent signals shape what is observable in the month they belong to:

- D (distribution by informed holders): thin-volume one-minute price spikes point up with
  log-odds ``spike_bias * D`` (smart money's VWAP of high-impact minutes rises above the day's VWAP);
- I (informed overnight demand): the overnight gap carries ``+apm_overnight * I * sigma_i`` and
  the afternoon gives it back (APM);
- H (speculative froth): intraday volatility scales with ``exp(froth_slope * H * z)``, z = the
  close's position against its 20-day mean (wide ranges on high-price days: ideal amplitude);
- flow days: large average trade size (amount / number of trades) with price pressure that
  reverts over the next weeks (ideal reversal).

Style and industry factor returns carry a persistent drift (daily AR(1)) that makes them
predictable from their own recent history (ETF strategies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from quantbook.data.market_rules import board_index, limit_fraction, round_price
from quantbook.data.schema import TABLES
from quantbook.data.sources.synthetic.fundamentals import Statements, build_statements
from quantbook.data.sources.synthetic.intraday import aggregate, day_rng, minute_paths
from quantbook.data.sources.synthetic.presets import Effects
from quantbook.data.sources.synthetic.universe import INDUSTRIES, Universe
from quantbook.data.vocabulary import STYLE_NAMES

#: The 15 styles in model order (the risk model's names, so truth and estimates line up).
STYLES: tuple[str, ...] = STYLE_NAMES
#: Daily volatility of each style's factor return (per unit exposure): large enough that a
#: 1,000-stock month (the default preset) pins every style's return well above the regression's own noise.
STYLE_VOL = np.array(
    [
        0.0050,  # size
        0.0045,  # midcap
        0.0050,  # beta
        0.0052,  # residual_volatility
        0.0050,  # momentum
        0.0038,  # short_term_reversal
        0.0038,  # liquidity
        0.0042,  # book_to_price
        0.0048,  # earnings_yield
        0.0040,  # dividend_yield
        0.0036,  # growth
        0.0036,  # leverage
        0.0036,  # profitability
        0.0036,  # investment
        0.0036,  # earnings_variability
    ]
)
#: Latent characteristics that move month to month (AR(1), phi = 0.985); the residual-volatility
#: latent sets the stock's long-run idiosyncratic volatility (:func:`_idio_vol_level`).
DYNAMIC_LATENTS = ("beta", "residual_volatility", "liquidity")
#: Latent characteristics fixed per stock that drive its statements.
STATIC_LATENTS = (
    "value",
    "leverage",
    "profitability",
    "earnings_yield",
    "growth",
    "investment",
    "dividend",
    "earnings_variability",
)
#: The daily_bars columns the simulation fills as (T, N) arrays: every float column of the schema.
DAILY_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in TABLES["daily_bars"].columns if c.dtype == "float"
)
BETA_LOADING = 0.35  # beta style return = BETA_LOADING * market return + noise
NEWS_PROB = 0.002  # daily probability of an overnight news gap per stock


@dataclass
class SimOutput:
    """Everything the simulation produces, as (T, N) arrays plus truth frames."""

    arrays: dict[str, np.ndarray]
    statements: Statements
    factor_returns: pd.DataFrame
    exposures: pd.DataFrame
    signals: pd.DataFrame
    chars: pd.DataFrame
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def _standardize(x: np.ndarray, cap: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cap-weighted mean 0, equal-weighted std 1 over ``mask``, with 3-sigma trimming repeated
    until nothing lies beyond +-3 (missing values take the median); 0 outside ``mask``."""
    out = np.zeros_like(x)
    v = x[mask]
    w = cap[mask]
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return out
    v = np.where(ok, v, np.nanmedian(v))
    for _ in range(30):
        sd = np.std(v)
        v = (v - np.sum(w * v) / np.sum(w)) / (sd if sd > 0 else 1.0)
        if np.abs(v).max() <= 3.0 * (1 + 1e-3):
            break
        v = np.clip(v, -3.0, 3.0)
    out[mask] = v
    return out


def _combine(
    parts: list[tuple[np.ndarray, float]], cap: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Weighted sum of standardized descriptors, standardized again."""
    total = sum(wt * _standardize(x, cap, mask) for x, wt in parts)
    return _standardize(np.asarray(total, dtype=float), cap, mask)


def _idio_vol_level(latent: np.ndarray) -> np.ndarray:
    """Long-run daily idiosyncratic volatility, ``0.02 exp(0.5 z - 0.12)`` for the residual-volatility
    latent ``z`` (the shift keeps the average variance near 0.02^2)."""
    return np.exp(np.log(0.02) - 0.12 + 0.5 * latent)


def _ar1_paths(rng: np.random.Generator, T: int, k: int, phi: float, sd: float) -> np.ndarray:
    eps = rng.standard_normal((T, k)) * sd * np.sqrt(1 - phi**2)
    out = np.empty((T, k))
    prev = rng.standard_normal(k) * sd
    for t in range(T):
        prev = phi * prev + eps[t]
        out[t] = prev
    return out


def factor_returns(sessions: pd.DatetimeIndex, seed: int, eff: Effects) -> pd.DataFrame:
    """True daily factor returns: market (regimes + GARCH), 31 industries, 15 styles, with persistent drifts."""
    rng = np.random.default_rng([seed, 2])
    T = len(sessions)
    # market: three regimes (calm, bull, bear), GARCH(1,1) volatility
    drift = np.array([0.0001, 0.0009, -0.0008])
    vol = np.array([0.009, 0.013, 0.017])
    trans = np.array([[0.992, 0.005, 0.003], [0.008, 0.988, 0.004], [0.010, 0.004, 0.986]])
    state = 0
    h = vol[0] ** 2
    m = np.empty(T)
    eps = rng.standard_t(5, size=T) / np.sqrt(5 / 3)
    u = rng.random(T)
    regime = np.empty(T, dtype=int)
    for t in range(T):
        state = int(np.searchsorted(np.cumsum(trans[state]), u[t]))
        state = min(state, 2)
        regime[t] = state
        omega = vol[state] ** 2 * 0.06
        h = (
            omega + 0.08 * (m[t - 1] - drift[regime[t - 1]]) ** 2 + 0.86 * h
            if t
            else vol[state] ** 2
        )
        m[t] = drift[state] + np.sqrt(h) * eps[t]
    n_ind = len(INDUSTRIES)
    share = eff.drift_share
    ind_vol = 0.006
    ind_mu = _ar1_paths(
        rng, T, n_ind, eff.drift_persistence, ind_vol * np.sqrt(share / (1 - share))
    )
    ind = ind_mu + ind_vol * rng.standard_normal((T, n_ind))
    sty_share = np.full(len(STYLES), share)
    sty_share[STYLES.index("size")] = eff.size_drift_share
    sty_mu = (
        _ar1_paths(rng, T, len(STYLES), eff.drift_persistence, 1.0)
        * STYLE_VOL
        * np.sqrt(sty_share / (1 - sty_share))
    )
    sty = sty_mu + STYLE_VOL * rng.standard_normal((T, len(STYLES)))
    # beta style return loads on the market; size carries a small premium for small caps
    sty[:, STYLES.index("beta")] += BETA_LOADING * (m - m.mean())
    sty[:, STYLES.index("size")] -= 0.0002
    cols = ["market"] + [f"ind_{c}" for c in INDUSTRIES] + list(STYLES)
    df = pd.DataFrame(np.column_stack([m, ind, sty]), index=sessions, columns=cols)
    df["regime"] = regime
    mu = pd.DataFrame(
        np.column_stack([ind_mu, sty_mu]),
        index=sessions,
        columns=[f"mu_ind_{c}" for c in INDUSTRIES] + [f"mu_{s}" for s in STYLES],
    )
    return pd.concat([df, mu], axis=1)


def simulate(u: Universe, *, seed: int, eff: Effects, progress: bool = True) -> SimOutput:
    """Run the market day by day over ``u.sessions``; see the module docstring for the model."""
    rng = np.random.default_rng([seed, 4])
    sessions = u.sessions
    T, N = len(sessions), len(u.codes)
    fr = factor_returns(sessions, seed, eff)
    m_ret = fr["market"].to_numpy()
    ind_ret = fr[[f"ind_{c}" for c in INDUSTRIES]].to_numpy()
    sty_ret = fr[list(STYLES)].to_numpy()
    listed_all = u.listed
    board_pos = board_index(u.board)

    # static per-stock parameters and latent characteristics
    lat = {k: rng.standard_normal(N) for k in (*DYNAMIC_LATENTS, *STATIC_LATENTS)}
    price0 = np.round(np.exp(np.log(12.0) + 0.6 * rng.standard_normal(N)), 2)
    mcap0 = np.exp(np.log(6e9) + 1.0 * rng.standard_normal(N))
    ipo = u.list_idx >= 0
    mcap0 = np.where(ipo, mcap0 * 0.5, mcap0)
    total_shares = np.round(mcap0 / price0, -4)
    float_ratio = np.where(ipo, 0.25, rng.uniform(0.45, 1.0, N))
    float_after = rng.uniform(0.55, 0.95, N)
    trade_size0 = 4000.0 * np.exp(
        0.35 * (np.log(mcap0) - np.log(mcap0).mean()) + 0.2 * rng.standard_normal(N)
    )

    full_cal = pd.DatetimeIndex(
        pd.concat(
            [
                pd.Series(pd.bdate_range("1994-01-03", sessions[0] - pd.Timedelta(days=1))),
                pd.Series(sessions),
            ]
        )
    )
    first = len(full_cal) - T
    list_dates = full_cal[np.clip(first + u.list_idx, 0, len(full_cal) - 1)]
    delist_dates = np.array(
        [sessions[d] if d < T else pd.Timestamp("2262-01-01") for d in u.delist_idx],
        dtype="datetime64[ns]",
    )
    stm = build_statements(
        latents={k: lat[k] for k in STATIC_LATENTS},
        mcap0=mcap0,
        shares=total_shares,
        list_dates=list_dates.values.astype("datetime64[ns]"),
        delist_dates=delist_dates,
        start=sessions[0],
        end=sessions[-1],
        seed=seed,
    )
    # dividends: ex-date 40 sessions after the annual report
    ex_div = np.zeros((T, N))
    div = stm.items["dividends"]
    for q in np.flatnonzero(stm.periods.month == 12):
        ann = stm.ann[:, q]
        ok = ~np.isnat(ann) & (div[:, q] > 0)
        pos = sessions.searchsorted(ann[ok]) + 40
        j = np.flatnonzero(ok)
        keep = pos < T
        ex_div[pos[keep], j[keep]] += div[j[keep], q] / total_shares[j[keep]]

    out = {k: np.full((T, N), np.nan) for k in (*DAILY_COLUMNS, "sigma", "spike_bias")}
    one_price_arr = np.zeros((T, N), dtype=bool)
    month = sessions.year * 12 + sessions.month - 1
    month_start = np.r_[True, month[1:] != month[:-1]]
    is_month_end = np.r_[month[1:] != month[:-1], True]
    month_end = pd.Series(sessions.where(is_month_end)).bfill().to_numpy()

    close_prev = price0.copy()
    adj = np.ones(N)
    sig_bar = _idio_vol_level(lat["residual_volatility"])
    h2 = sig_bar**2
    e_prev = np.zeros(N)
    pressure = np.zeros(N)
    logret = np.zeros((T, N), dtype=np.float32)
    closes20 = np.tile(price0[:, None], (1, 20))
    ep_day = np.full(N, -1)
    ep_type = np.zeros(N)
    X = np.zeros((N, len(STYLES)))
    alpha_day = np.zeros(N)
    sig = {k: np.zeros(N) for k in ("D", "I", "H")}
    expo_rows: list[pd.DataFrame] = []
    signal_rows: list[pd.DataFrame] = []
    char_rows: list[pd.DataFrame] = []
    hl_mom = 0.5 ** (1 / 126)
    hl_str = 0.5 ** (1 / 5)
    w_mom = hl_mom ** np.arange(504 - 21)[::-1]
    w_str = hl_str ** np.arange(21)[::-1]
    months_days = pd.Series(month).value_counts().to_dict()

    it = tqdm(range(T), desc="simulating days", unit="day", disable=not progress, mininterval=1.0)
    for t in it:
        date = sessions[t]
        listed = listed_all[t]
        newly = listed & (u.list_idx == t)
        if newly.any():
            close_prev[newly] = price0[newly]
        fs = np.round(
            np.where((u.list_idx >= 0) & (t - u.list_idx >= 244), float_after, float_ratio)
            * total_shares,
            -2,
        )
        cap = close_prev * total_shares

        if month_start[t]:
            X, alpha_day = _month_update(
                t,
                sessions[max(t - 1, 0)],
                month_end[t],
                rng,
                lat,
                X,
                sig,
                stm,
                cap,
                close_prev * fs,
                listed,
                logret,
                w_mom,
                w_str,
                eff,
                months_days[month[t]],
                expo_rows,
                signal_rows,
                char_rows,
                u.codes,
                pressure,
                ep_day,
                ep_type,
            )
            sig_bar = _idio_vol_level(lat["residual_volatility"])

        susp = u.suspended[t] & listed
        trade = listed & ~susp
        lf = limit_fraction(board_pos, np.full(N, date.to_datetime64()), u.st[t])
        age = t - u.list_idx
        no_limit = (age == 0) | ((u.board != "main") & (age < 5) & (u.list_idx >= 0))
        dps = np.minimum(
            ex_div[t], 0.06 * close_prev
        )  # a cash dividend of at most 6 % of the price
        prev_close = np.where(dps > 0, np.maximum(np.round(close_prev - dps, 2), 0.01), close_prev)
        prev_close = np.where(newly, price0, prev_close)
        lu = np.where(no_limit, np.nan, round_price(prev_close * (1 + lf)))
        ld = np.where(no_limit, np.nan, round_price(prev_close * (1 - lf)))

        # idiosyncratic volatility (GARCH) and shocks
        h2 = sig_bar**2 * 0.04 + 0.05 * e_prev**2 + 0.91 * h2
        sig_t = np.sqrt(h2)
        e = rng.standard_t(5, size=N) / np.sqrt(5 / 3) * sig_t
        flow = rng.random(N) < eff.flow_prob
        flow_sign = np.where(rng.random(N) < 0.5, 1.0, -1.0)
        shock = np.where(flow, eff.flow_pressure * sig_bar * flow_sign, 0.0)
        noise_gap, noise_morn, noise_vol, noise_ts = rng.standard_normal((4, N))
        one_u = rng.random(N)
        # overnight news: a rare large gap that often opens at, and stays at, the price limit
        news = (
            (rng.random(N) < NEWS_PROB)
            * np.where(rng.random(N) < 0.55, 1.0, -1.0)
            * rng.uniform(0.05, 0.2, N)
        )

        # 40-day episodes
        start_ep = trade & (ep_day < 0) & (rng.random(N) < eff.episode_hazard) & (age > 60)
        ep_type = np.where(start_ep, np.where(rng.random(N) < 0.5, 1.0, -1.0), ep_type)
        ep_day = np.where(start_ep, 0, ep_day)
        B, P = eff.episode_build_days, eff.episode_payoff_days
        build = (ep_day >= 0) & (ep_day < B)
        payoff = (ep_day >= B) & (ep_day < B + P)
        frac = np.clip(ep_day / B, 0, 1)
        ep_drift = np.where(build, -ep_type * 0.0006, 0.0) + np.where(
            payoff, ep_type * eff.episode_payoff_drift, 0.0
        )
        ep_vol = np.where(build, 1.0 - 0.35 * frac, 1.0)
        ep_volume = np.where(build, 1.0 + 1.6 * frac, np.where(payoff, 1.6, 1.0))

        ind_idx = u.industry[t]
        r_sys = m_ret[t] + ind_ret[t, ind_idx] + X @ sty_ret[t]
        r = (
            r_sys
            + e
            + shock
            - eff.pressure_decay * pressure
            + alpha_day
            + ep_drift
            + news
            + 0.5 * (sig_t**2 + 1.5e-4)
        )
        r = np.where(newly & (u.list_idx >= 0), 0.25 + 0.15 * noise_gap, r)

        lu_c = np.where(np.isnan(lu), np.inf, lu)
        ld_c = np.where(np.isnan(ld), 0.01, ld)
        close = np.clip(np.round(prev_close * np.exp(r), 2), ld_c, lu_c)
        close = np.maximum(close, 0.01)
        apm = eff.apm_overnight * sig["I"] * sig_bar
        g = 0.35 * (r_sys + ep_drift) + 0.3 * sig_t * noise_gap + apm + news
        open_ = np.clip(np.round(prev_close * np.exp(g), 2), ld_c, lu_c)
        open_ = np.maximum(open_, 0.01)
        d = np.log(close) - np.log(open_)
        p1130 = np.clip(
            np.round(open_ * np.exp(0.5 * (d + apm) + 0.3 * sig_t * noise_morn), 2),
            np.maximum(ld_c, 0.01),
            lu_c,
        )
        at_limit = ((close == lu) & (open_ == lu)) | ((close == ld) & (open_ == ld))
        one_price = at_limit & (one_u < 0.5)
        p1130 = np.where(one_price, close, p1130)

        # froth: intraday volatility rises with the close's position against its 20-day mean
        ma20 = closes20.mean(axis=1)
        z = np.clip(np.log(close / ma20) / (sig_bar * np.sqrt(10)), -2.5, 2.5)
        sigma_intra = 0.9 * sig_t * ep_vol * np.exp(eff.froth_slope * sig["H"] * z)
        bias = eff.spike_bias * sig["D"]

        turn = np.exp(np.log(0.012) + 0.45 * lat["liquidity"] + 0.3 * noise_vol)
        # in a build phase, volume leans to down days (accumulation) or up days (distribution)
        lean = np.where(build, np.exp(-ep_type * eff.episode_volume_lean * np.sign(r - r_sys)), 1.0)
        turn *= (
            (1 + 0.16 * np.abs(e / sig_t))
            * np.where(flow, 1.25, 1.0)
            * ep_volume
            * lean
            * np.where(one_price, 0.15, 1.0)
        )
        turn *= np.where(newly, 6.0, 1.0)
        vol = np.maximum(np.round(turn * fs / 100.0), 1.0) * 100.0
        tsize = trade_size0 * np.exp(0.25 * noise_ts) * np.where(flow, eff.flow_trade_size, 1.0)
        ntr = np.maximum(np.round(vol / tsize), 1.0)

        idx = np.flatnonzero(trade)
        paths = minute_paths(
            day_rng(seed, t),
            open_=open_[idx],
            p1130=p1130[idx],
            close=close[idx],
            limit_up=lu[idx],
            limit_down=ld[idx],
            volume=vol[idx],
            sigma=sigma_intra[idx],
            spike_bias=bias[idx],
            one_price=one_price[idx],
        )
        agg = aggregate(paths)

        # write the day
        sl = listed
        out["prev_close"][t, sl] = prev_close[sl]
        out["limit_up"][t, sl] = lu[sl]
        out["limit_down"][t, sl] = ld[sl]
        out["float_shares"][t, sl] = fs[sl]
        out["total_shares"][t, sl] = total_shares[sl]
        for k, v in (
            ("open", open_),
            ("close", close),
            ("price_1130", p1130),
            ("num_trades", ntr),
            ("sigma", sigma_intra),
            ("spike_bias", bias),
        ):
            out[k][t, idx] = v[idx]
        out["high"][t, idx] = agg["high"]
        out["low"][t, idx] = agg["low"]
        out["volume"][t, idx] = agg["volume"]
        out["amount"][t, idx] = agg["amount"]
        one_price_arr[t, idx] = one_price[idx]
        s_idx = np.flatnonzero(susp)
        for k in ("open", "high", "low", "close", "price_1130"):
            out[k][t, s_idx] = prev_close[s_idx]
        for k in ("volume", "amount", "num_trades"):
            out[k][t, s_idx] = 0.0

        # state update
        new_close = np.where(trade, close, prev_close)
        adj = np.where(sl & (prev_close != close_prev) & ~newly, adj * close_prev / prev_close, adj)
        out["adj_factor"][t, sl] = adj[sl]
        lr = np.where(sl & ~newly, np.log(new_close / prev_close), 0.0)
        logret[t] = lr
        e_prev = np.where(trade, e, e_prev)
        pressure = np.where(trade, (1 - eff.pressure_decay) * pressure + shock, pressure)
        closes20 = np.where(
            sl[:, None] & ~newly[:, None],
            np.c_[closes20[:, 1:], new_close],
            np.where(newly[:, None], price0[:, None], closes20),
        )
        ep_day = np.where(trade & (ep_day >= 0), ep_day + 1, ep_day)
        ep_day = np.where(ep_day >= B + P, -1, ep_day)
        close_prev = np.where(sl, new_close, close_prev)

    expo = pd.concat(expo_rows, ignore_index=True)
    signals = pd.concat(signal_rows, ignore_index=True)
    chars = pd.concat(char_rows, ignore_index=True)
    return SimOutput(
        out,
        stm,
        fr,
        expo,
        signals,
        chars,
        extra={"one_price": one_price_arr, "list_dates": list_dates.values},
    )


def _month_update(
    t: int,
    date: pd.Timestamp,
    month_end: pd.Timestamp,
    rng: np.random.Generator,
    lat: dict[str, np.ndarray],
    X: np.ndarray,
    sig: dict[str, np.ndarray],
    stm: Statements,
    cap: np.ndarray,
    float_cap: np.ndarray,
    listed: np.ndarray,
    logret: np.ndarray,
    w_mom: np.ndarray,
    w_str: np.ndarray,
    eff: Effects,
    n_days: int,
    expo_rows: list[pd.DataFrame],
    signal_rows: list[pd.DataFrame],
    char_rows: list[pd.DataFrame],
    codes: np.ndarray,
    pressure: np.ndarray,
    ep_day: np.ndarray,
    ep_type: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Start a month: move the latents, recompute true exposures from data up to yesterday, set alphas.

    ``date`` is the last session before the month (the as-of date of the exposures and
    characteristics); ``month_end`` labels the month's latent signals D, I, H (they shape the
    month's observables and earn their alpha in the next month).
    """
    N = len(codes)
    phi = 0.985
    for k in DYNAMIC_LATENTS:
        lat[k] = phi * lat[k] + np.sqrt(1 - phi**2) * rng.standard_normal(N)
    prev = {k: v.copy() for k, v in sig.items()}
    for k in ("D", "I", "H"):
        sig[k] = 0.3 * sig[k] + np.sqrt(1 - 0.09) * rng.standard_normal(N)

    mask = listed
    last = stm.latest(date)
    be = stm.point("book_equity", last)
    ta = stm.point("total_assets", last)
    tl = stm.point("total_liabilities", last)
    ni = stm.ttm("net_profit", last)
    dv = stm.ttm("dividends", last)
    hist = logret[max(0, t - 504) : t]
    lr_mom = hist[: max(0, len(hist) - 21)]
    mom = lr_mom.T @ w_mom[-len(lr_mom) :] if len(lr_mom) else np.zeros(N)
    lr_str = hist[-21:]
    strev = -(lr_str.T @ w_str[-len(lr_str) :]) if len(lr_str) else np.zeros(N)
    size = np.log(cap)
    ocf = stm.ttm("operating_cash_flow", last)
    ltd = stm.point("long_term_debt", last)
    rev = stm.ttm("revenue", last)
    gp = stm.ttm("gross_profit", last)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = {
            "size": size,
            "beta": lat["beta"],
            "residual_volatility": lat["residual_volatility"],
            "momentum": mom,
            "short_term_reversal": strev,
            "liquidity": lat["liquidity"],
            "book_to_price": be / cap,
            "dividend_yield": dv / cap,
            "growth": stm.rates["sales_growth"],
            "investment": -stm.rates["asset_growth"],
            "earnings_variability": stm.rates["variability"],
        }
        # statement styles: the SPEC's descriptors on the published statements
        combos = {
            "earnings_yield": [(ni / cap, 0.66), (ocf / cap, 0.34)],
            "leverage": [
                ((cap + ltd) / cap, 0.38),
                (tl / ta, 0.35),
                (np.where(be > 0, (be + ltd) / be, np.nan), 0.27),
            ],
            "profitability": [(ni / ta, 1 / 3), (gp / rev, 1 / 3), (rev / ta, 1 / 3)],
        }
    Xn = np.zeros((N, len(STYLES)))
    for k, v in raw.items():
        Xn[:, STYLES.index(k)] = _standardize(v.astype(float), float_cap, mask)
    for k, parts in combos.items():
        Xn[:, STYLES.index(k)] = _combine(parts, float_cap, mask)
    s = Xn[:, 0]
    cube = s**3
    w = np.sqrt(np.where(mask, float_cap, 0.0))
    beta_c = np.sum(w * cube * s) / max(np.sum(w * s * s), 1e-12)
    Xn[:, 1] = _standardize(cube - beta_c * s, float_cap, mask)

    # non-linear effect of the exposures known at the start of the month
    g = Xn[:, STYLES.index("book_to_price")] * Xn[:, STYLES.index("momentum")] - (
        Xn[:, STYLES.index("liquidity")] ** 2 - 1
    ) / np.sqrt(2)
    g = np.where(mask, g, 0.0)
    if mask.sum() > 2:
        g[mask] = (g[mask] - g[mask].mean()) / max(g[mask].std(), 1e-12)
    alpha = (
        eff.alpha_distribution * prev["D"]
        + eff.alpha_informed * prev["I"]
        + eff.alpha_froth * prev["H"]
        + eff.alpha_nonlinear * g
    ) / n_days

    idx = np.flatnonzero(mask)
    expo_rows.append(
        pd.DataFrame(Xn[idx], columns=list(STYLES)).assign(date=date, code=codes[idx], g=g[idx])
    )
    signal_rows.append(
        pd.DataFrame(
            {
                "date": month_end,
                "code": codes[idx],
                "D": sig["D"][idx],
                "I": sig["I"][idx],
                "H": sig["H"][idx],
                "episode_day": ep_day[idx],
                "episode_type": ep_type[idx],
            }
        )
    )
    char_rows.append(
        pd.DataFrame(
            {
                "date": date,
                "code": codes[idx],
                "size": Xn[idx, 0],
                "beta": Xn[idx, STYLES.index("beta")],
                "momentum": Xn[idx, STYLES.index("momentum")],
                "volatility": Xn[idx, STYLES.index("residual_volatility")],
                "liquidity": Xn[idx, STYLES.index("liquidity")],
                "value": Xn[idx, STYLES.index("book_to_price")],
                "growth": Xn[idx, STYLES.index("growth")],
                "dividend": Xn[idx, STYLES.index("dividend_yield")],
                "profitability": Xn[idx, STYLES.index("profitability")],
                "leverage": Xn[idx, STYLES.index("leverage")],
            }
        )
    )
    return Xn, alpha
