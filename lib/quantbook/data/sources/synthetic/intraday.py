"""One-minute price and volume paths of the synthetic market.

A day's 240 minute bars are a deterministic function of that day's stored daily fields
(open, 11:30 price, close, limits, volume) and of two simulator state values per stock
(``sigma``: intraday volatility, ``spike_bias``: direction bias of thin-volume excursions),
plus a random stream seeded by ``(seed, day ordinal)``. The build uses the same function, so
daily bars are exact aggregates of the minute bars, and minute bars can be regenerated on
demand for any stored day instead of being stored.

Path construction (per stock, log prices)::

    x_0 = ln open,  x_120 = ln p_1130,  x_240 = ln close
    x_k = Brownian bridge between the anchors, increments sigma / sqrt(240) * z_k
    excursions: twice a day, 15 minutes of thin, jumpy trading in which the price is pushed
    by +-0.45 sigma (upwards with log-odds ``spike_bias``), then returns
    close_k = round(exp(x_k), 0.01) clipped to [limit_down, limit_up]

Minute volume is the daily volume spread over a U-shaped profile with log-normal noise, spike
minutes getting a small fraction of a normal minute's volume; lots of 100 shares are allocated
by largest remainder so the minutes sum exactly to the daily volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantbook.data.schema import MINUTE_1130, MINUTES_PER_DAY

TICK = 0.01
N_EXCURSIONS = 3
EXCURSION_MINUTES = 12
EXCURSION_SIZE = 0.6  # price offset, in units of the day's intraday volatility
EXCURSION_NOISE = 2.5  # extra one-minute noise inside an excursion, in one-minute volatilities
EXCURSION_VOLUME = 1.0  # volume inside an excursion relative to an ordinary minute


def day_rng(seed: int, day_ordinal: int) -> np.random.Generator:
    """The random stream of one trading day's minute paths."""
    return np.random.default_rng([int(seed), int(day_ordinal), 240])


def u_shape() -> np.ndarray:
    """Intraday volume profile over the 240 minutes (sums to 1): heavy open, lighter midday, busy close."""
    k = np.arange(MINUTES_PER_DAY)
    session_pos = np.where(k < 120, k / 119.0, (k - 120) / 119.0)
    morning = 1.0 + 2.2 * np.exp(-k / 12.0)
    afternoon = 1.0 + 0.6 * np.exp(-(k - 120) / 10.0) + 1.2 * np.exp(-(239 - k) / 15.0)
    prof = np.where(k < 120, morning, afternoon) * (0.85 + 0.15 * (session_pos - 0.5) ** 2)
    return prof / prof.sum()


_PROFILE = u_shape()


@dataclass(frozen=True)
class MinutePaths:
    """Minute bars of one day for a set of stocks: arrays of shape (n_stocks, 240)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    amount: np.ndarray


def _round_tick(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def _bridge(z: np.ndarray, start: np.ndarray, end: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Brownian bridge from ``start`` to ``end`` over ``z.shape[1]`` steps; returns the path after each step."""
    n = z.shape[1]
    w = np.cumsum(z * scale[:, None], axis=1)
    frac = np.arange(1, n + 1) / n
    return start[:, None] + w - frac[None, :] * w[:, -1:] + frac[None, :] * (end - start)[:, None]


def minute_paths(
    rng: np.random.Generator,
    *,
    open_: np.ndarray,
    p1130: np.ndarray,
    close: np.ndarray,
    limit_up: np.ndarray,
    limit_down: np.ndarray,
    volume: np.ndarray,
    sigma: np.ndarray,
    spike_bias: np.ndarray,
    one_price: np.ndarray,
) -> MinutePaths:
    """Build the 240 minute bars of one day for ``n`` stocks (all arrays of length ``n``).

    The random draws always have shape ``(n, ...)`` in a fixed order, so the same stocks in the
    same order with the same inputs give identical bars.

    Parameters
    ----------
    rng
        The day's stream, :func:`day_rng`.
    open_, p1130, close
        Anchors of the path (already on the 0.01 tick and inside the limits).
    limit_up, limit_down
        Price limits (NaN: none).
    volume
        Daily volume in shares (a multiple of 100).
    sigma
        Intraday volatility of the log price over the whole day.
    spike_bias
        Log-odds that a thin-volume spike points upwards.
    one_price
        Days that trade at a single price (one-price limit days).

    Returns
    -------
    MinutePaths
    """
    n = len(open_)
    m = MINUTES_PER_DAY
    z = rng.standard_normal((n, m))
    wig = np.abs(rng.standard_normal((n, m, 2)))
    vol_noise = rng.standard_normal((n, m))
    exc_u = rng.random((n, N_EXCURSIONS))
    exc_morning = rng.random((n, N_EXCURSIONS)) < 0.5
    exc_off = rng.integers(1, 120 - EXCURSION_MINUTES - 1, size=(n, N_EXCURSIONS))
    exc_noise = rng.standard_normal((n, m))

    step = sigma / np.sqrt(m)
    lo_, l1130, lc = np.log(open_), np.log(p1130), np.log(close)
    x = np.empty((n, m))
    x[:, : MINUTE_1130 + 1] = _bridge(z[:, : MINUTE_1130 + 1], lo_, l1130, step)
    x[:, MINUTE_1130 + 1 :] = _bridge(z[:, MINUTE_1130 + 1 :], l1130, lc, step)

    # thin-volume excursions: never over the 11:30 anchor or the close
    p_up = 1.0 / (1.0 + np.exp(-spike_bias))
    direction = np.where(exc_u < p_up[:, None], 1.0, -1.0)
    start = np.where(exc_morning, exc_off, 120 + exc_off)
    k = np.arange(m)[None, None, :]
    inside = (k >= start[:, :, None]) & (k < start[:, :, None] + EXCURSION_MINUTES)
    offset = (inside * direction[:, :, None]).sum(axis=1) * (EXCURSION_SIZE * sigma)[:, None]
    is_exc = inside.any(axis=1)
    x += offset + is_exc * EXCURSION_NOISE * step[:, None] * exc_noise

    lu = np.where(np.isnan(limit_up), np.inf, limit_up)[:, None]
    ld = np.where(np.isnan(limit_down), 0.0, limit_down)[:, None]
    c = np.clip(_round_tick(np.exp(x)), np.maximum(ld, TICK), lu)
    c[:, MINUTE_1130] = p1130
    c[:, -1] = close
    o = np.empty_like(c)
    o[:, 0] = open_
    o[:, 1:] = c[:, :-1]
    hi_raw = np.maximum(o, c) * np.exp(0.35 * step[:, None] * wig[:, :, 0])
    lo_raw = np.minimum(o, c) * np.exp(-0.35 * step[:, None] * wig[:, :, 1])
    h = np.clip(
        np.ceil(np.round(hi_raw / TICK, 6)) * TICK,
        np.maximum(o, c),
        np.maximum(lu, np.maximum(o, c)),
    )
    lw = np.clip(
        np.floor(np.round(lo_raw / TICK, 6)) * TICK,
        np.minimum(np.maximum(ld, TICK), np.minimum(o, c)),
        np.minimum(o, c),
    )
    h = np.round(h, 2)
    lw = np.round(lw, 2)

    op = one_price[:, None]
    o = np.where(op, close[:, None], o)
    c = np.where(op, close[:, None], c)
    h = np.where(op, close[:, None], h)
    lw = np.where(op, close[:, None], lw)

    weights = _PROFILE[None, :] * np.exp(0.35 * vol_noise) * np.where(is_exc, EXCURSION_VOLUME, 1.0)
    vol = _allocate_lots(volume, weights)
    typical = (o + h + lw + c) / 4.0
    amount = vol * typical
    return MinutePaths(open=o, high=h, low=lw, close=c, volume=vol, amount=amount)


def _allocate_lots(volume: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split each day's volume (shares, multiples of 100) into minutes by largest remainder."""
    lots = np.round(volume / 100.0)
    share = weights / weights.sum(axis=1, keepdims=True)
    raw = share * lots[:, None]
    base = np.floor(raw)
    rest = (lots - base.sum(axis=1)).astype(np.int64)
    frac = raw - base
    order = np.argsort(-frac, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(frac.shape[1])[None, :].repeat(len(frac), 0), axis=1)
    base += rank < rest[:, None]
    return base * 100.0


def aggregate(paths: MinutePaths) -> dict[str, np.ndarray]:
    """Daily high, low, volume and amount of the minute bars (the exact aggregates)."""
    return {
        "high": paths.high.max(axis=1),
        "low": paths.low.min(axis=1),
        "volume": paths.volume.sum(axis=1),
        "amount": paths.amount.sum(axis=1),
    }
