"""Behaviour factors (SPEC §2): the definitions pinned against brute force, invariances, no
lookahead, unavailable inputs, the cache, and recovery of the planted effects.

The brute-force references below are written apart from ``lib/`` on purpose: one stock at a
time, plain Python sorting, statsmodels for the per-stock regressions.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from fixtures_small import perturb_after, small_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quantbook.data import Store, StoreWriter, open_store
from quantbook.data.cache import Cache
from quantbook.factors import behavior as bh
from quantbook.factors.behavior_composite import composite_factor
from quantbook.factors.behavior_data import load_monthly_panel

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- brute-force references ----------------------------------------------------------------------
def brute_reversal(
    ret: np.ndarray, size: np.ndarray, valid: np.ndarray, min_days: int
) -> list[float]:
    w, n_stocks = ret.shape
    out = []
    for j in range(n_stocks):
        days = [
            t
            for t in range(w)
            if valid[t, j] and math.isfinite(ret[t, j]) and math.isfinite(size[t, j])
        ]
        n = len(days)
        k = n // 2
        if n < min_days or k == 0:
            out.append(math.nan)
            continue
        ranked = sorted(days, key=lambda t: (-size[t, j], t))
        high = sum(ret[t, j] for t in ranked[:k])
        low = sum(ret[t, j] for t in ranked[n - k :])
        out.append((high - low) * (w / 2) / k)
    return out


def brute_amplitude(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, valid: np.ndarray, min_days: int
) -> list[float]:
    w, n_stocks = high.shape
    out = []
    for j in range(n_stocks):
        days = [t for t in range(w) if valid[t, j]]
        n = len(days)
        k = int(math.floor(0.25 * n + 0.5))
        if n < min_days or k == 0:
            out.append(math.nan)
            continue
        amp = {t: high[t, j] / low[t, j] - 1 for t in days}
        top = sorted(days, key=lambda t: (-close[t, j], t))[:k]
        bottom = sorted(days, key=lambda t: (close[t, j], t))[:k]
        out.append(sum(amp[t] for t in top) / k - sum(amp[t] for t in bottom) / k)
    return out


def brute_smart_money(
    open_: np.ndarray, close: np.ndarray, vol: np.ndarray, amt: np.ndarray, min_days: int
) -> list[float]:
    n_stocks, n_days, n_min = close.shape
    out = []
    for i in range(n_stocks):
        minutes = []  # (S, time, volume, amount)
        days_with_bars = 0
        for d in range(n_days):
            if not np.isfinite(close[i, d]).all():
                continue
            day_ok = False
            for m in range(n_min):
                prev = open_[i, d, 0] if m == 0 else close[i, d, m - 1]
                r = close[i, d, m] / prev - 1
                v = vol[i, d, m]
                if v > 0:
                    day_ok = True
                    minutes.append((abs(r) / v**0.25, d * n_min + m, v, amt[i, d, m]))
            days_with_bars += day_ok
        if days_with_bars < min_days or not minutes:
            out.append(math.nan)
            continue
        total_v = sum(x[2] for x in minutes)
        total_a = sum(x[3] for x in minutes)
        ranked = sorted(minutes, key=lambda x: (-x[0], x[1]))
        cum, sv, sa = 0.0, 0.0, 0.0
        for _s, _t, v, a in ranked:
            if cum >= 0.2 * total_v:
                break
            sv += v
            sa += a
            cum += v
        out.append((sa / sv) / (total_a / total_v))
    return out


def brute_apm_stat(
    on: np.ndarray, aft: np.ndarray, R_on: np.ndarray, R_aft: np.ndarray, valid: np.ndarray
) -> list[float]:
    out = []
    for j in range(on.shape[1]):
        days = np.flatnonzero(valid[:, j])
        n = len(days)
        x = np.r_[R_on[days], R_aft[days]]
        y = np.r_[on[days, j], aft[days, j]]
        res = sm.OLS(y, sm.add_constant(x)).fit().resid
        delta = res[:n] - res[n:]
        out.append(delta.mean() / (delta.std(ddof=1) / math.sqrt(n)))
    return out


# -- strategies ----------------------------------------------------------------------------------
def _daily_window(args: tuple[int, int, int, bool, float]) -> dict[str, np.ndarray]:
    w, n, seed, ties, p_invalid = args
    rng = np.random.default_rng(seed)
    size = rng.integers(1, 4, (w, n)).astype(float) if ties else rng.lognormal(8, 1, (w, n))
    if ties:  # few distinct closes: ties in the ranking by price
        close = rng.integers(10, 13, (w, n)).astype(float)
    else:
        close = 10 * np.exp(rng.normal(0, 0.02, (w, n)).cumsum(0))
    return {
        "ret": rng.normal(0, 0.02, (w, n)),
        "size": size,
        "close": close,
        "high": close * (1 + rng.uniform(0.0, 0.05, (w, n))),
        "low": close * (1 - rng.uniform(0.0, 0.05, (w, n))),
        "valid": rng.random((w, n)) > p_invalid,
    }


daily_window = st.tuples(
    st.integers(12, 20),
    st.integers(1, 5),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.sampled_from([0.0, 0.2, 0.5]),
).map(_daily_window)


def _minute_cube(args: tuple[int, int, int, int, bool]) -> dict[str, np.ndarray]:
    n, d, m, seed, ticks = args
    rng = np.random.default_rng(seed)
    # coarse prices: many equal returns, so ties in S
    steps = rng.integers(-2, 3, (n, d, m)) * 0.01 if ticks else rng.normal(0, 0.002, (n, d, m))
    close = np.round(10 * np.exp(np.cumsum(steps, axis=2)), 2 if ticks else 6)
    first = np.round(close[:, :, :1] * (1 + rng.normal(0, 0.003, (n, d, 1))), 2)
    open_ = first * np.ones((1, 1, m))
    vol = rng.integers(0, 5, (n, d, m)).astype(float) * 100
    amt = vol * close
    missing = rng.random((n, d)) < 0.25
    for arr in (open_, close, vol, amt):
        arr[missing] = np.nan
    return {"open_": open_, "close": close, "volume": vol, "amount": amt}


minute_cube = st.tuples(
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(2, 12),
    st.integers(0, 2**32 - 1),
    st.booleans(),
).map(_minute_cube)


# -- definitions against brute force ---------------------------------------------------------------
@SETTINGS
@given(daily_window)
def test_ideal_reversal_equals_brute_force(x: dict[str, np.ndarray]) -> None:
    got = bh.ideal_reversal_values(x["ret"], x["size"], valid=x["valid"], min_days=6)
    want = brute_reversal(x["ret"], x["size"], x["valid"], min_days=6)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(daily_window)
def test_ideal_amplitude_equals_brute_force(x: dict[str, np.ndarray]) -> None:
    got = bh.ideal_amplitude_values(x["high"], x["low"], x["close"], valid=x["valid"], min_days=6)
    want = brute_amplitude(x["high"], x["low"], x["close"], x["valid"], min_days=6)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(minute_cube)
def test_smart_money_equals_brute_force(x: dict[str, np.ndarray]) -> None:
    got = bh.smart_money_values(**x, min_days=1, chunk=2)
    want = brute_smart_money(x["open_"], x["close"], x["volume"], x["amount"], min_days=1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@SETTINGS
@given(minute_cube, st.integers(-12, 12))
def test_smart_money_unchanged_when_volumes_scaled(x: dict[str, np.ndarray], k: int) -> None:
    """Exact for powers of two (no rounding in the scaled sums)."""
    base = bh.smart_money_values(**x, min_days=1)
    scaled = bh.smart_money_values(**{**x, "volume": x["volume"] * 2.0**k}, min_days=1)
    np.testing.assert_array_equal(base, scaled)


def test_smart_money_unchanged_by_any_volume_scale() -> None:
    rng = np.random.default_rng(3)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.002, (20, 10, 240)), axis=2))
    vol = rng.lognormal(10, 1, close.shape)
    x = {
        "open_": close * (1 + rng.normal(0, 0.001, close.shape)),
        "close": close,
        "volume": vol,
        "amount": vol * close,
    }
    base = bh.smart_money_values(**x)
    for c in (1e-3, 3.7, 12345.0):
        np.testing.assert_allclose(
            bh.smart_money_values(**{**x, "volume": vol * c}), base, rtol=1e-12
        )
    assert np.isfinite(base).all() and np.abs(base - 1).max() < 0.05


def test_apm_statistic_equals_per_stock_ols() -> None:
    rng = np.random.default_rng(7)
    w, n = 20, 8
    R_on, R_aft = rng.normal(0, 0.01, w), rng.normal(0, 0.01, w)
    on = 1.2 * R_on[:, None] + rng.normal(0.001, 0.01, (w, n))
    aft = 0.8 * R_aft[:, None] + rng.normal(0, 0.01, (w, n))
    valid = rng.random((w, n)) > 0.2
    got = bh.apm_statistic(on, aft, R_on, R_aft, valid=valid, min_days=5)
    np.testing.assert_allclose(got, brute_apm_stat(on, aft, R_on, R_aft, valid), rtol=1e-9)
    few = valid.copy()
    few[:, 0] = False
    few[:3, 0] = True
    assert np.isnan(bh.apm_statistic(on, aft, R_on, R_aft, valid=few, min_days=5)[0])


@SETTINGS
@given(st.integers(3, 200), st.integers(0, 2**32 - 1))
def test_apm_residual_orthogonal_to_20_day_return(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ret20 = rng.normal(0, 0.1, n)
    stat = 2 * ret20 + rng.standard_t(3, n)
    stat[rng.random(n) < 0.1] = np.nan
    res = bh.apm_residual(stat, ret20)
    ok = np.isfinite(res)
    if np.isfinite(stat).sum() < 3:
        assert not ok.any()
        return
    assert (ok == np.isfinite(stat)).all()
    if np.ptp(ret20[ok]) > 0:
        scale = np.abs(stat[ok]).sum() + 1
        assert abs(res[ok].sum()) < 1e-9 * scale
        assert abs((res[ok] * ret20[ok]).sum()) < 1e-9 * scale


# -- on the synthetic smoke store ------------------------------------------------------------------
def test_factors_need_only_data_up_to_as_of(smoke_store: Store, tmp_path: Path) -> None:
    """Every row after the as-of date perturbed: no factor value at the as-of date changes."""
    as_of = smoke_store.calendar().month_ends()[20]
    copy = perturb_after(smoke_store.path, tmp_path / "smoke", as_of)
    a = bh.compute_factors(smoke_store, as_of).at(as_of)
    b = bh.compute_factors(Store(copy), as_of).at(as_of)
    assert set(a.columns) == set(bh.FACTORS)
    assert (a.notna().sum() > 100).all()
    pd.testing.assert_frame_equal(a, b)


def test_history_equals_one_date_and_uses_cache(smoke_store: Store) -> None:
    ends = smoke_store.calendar().month_ends()[-4:]
    cache = Cache.for_store(smoke_store, "behavior-test", version="t1")
    cache.clear()
    first = bh.factor_history(smoke_store, ends, cache=cache)
    assert first.computed == dict.fromkeys(bh.FACTORS, 4) and cache.writes == 16
    again = bh.factor_history(smoke_store, ends, cache=cache)
    assert again.computed == dict.fromkeys(bh.FACTORS, 0)
    assert again.cached == dict.fromkeys(bh.FACTORS, 4)
    for n in bh.FACTORS:
        pd.testing.assert_frame_equal(first.values[n], again.values[n])
    one = bh.compute_factors(smoke_store, ends[-1]).at(ends[-1])
    for n in bh.FACTORS:
        got = first.values[n].loc[ends[-1]].dropna()
        pd.testing.assert_series_equal(got, one[n].dropna().reindex(got.index), check_names=False)
    # a new month-end computes only that date
    more = bh.factor_history(smoke_store, smoke_store.calendar().month_ends()[-5:], cache=cache)
    assert more.computed == dict.fromkeys(bh.FACTORS, 1)
    assert not list(cache.folder.rglob("*.part"))
    cache.clear()


def test_cache_never_serves_other_data_or_code(smoke_store: Store, tmp_path: Path) -> None:
    day = "2024-05-31"
    values = pd.Series([1.0, 2.0], index=["600000.SH", "000001.SZ"])
    cache = Cache(tmp_path / "b", fingerprint="f1", version="v1")
    bh.write_cached_values(cache, "apm", day, values)
    pd.testing.assert_series_equal(
        bh.read_cached_values(cache, "apm", day),
        values,
        check_names=False,
        check_index_type=False,
    )
    assert (
        bh.read_cached_values(Cache(tmp_path / "b", fingerprint="f2", version="v1"), "apm", day)
        is None
    )
    assert (
        bh.read_cached_values(Cache(tmp_path / "b", fingerprint="f1", version="v2"), "apm", day)
        is None
    )
    # a file moved under another key is refused (its metadata names its own key)
    other = Cache(tmp_path / "b", fingerprint="f3", version="v1")
    config = {"factor": "apm", "date": day}
    cache.path(config, "arrow").rename(other.path(config, "arrow"))
    assert bh.read_cached_values(other, "apm", day) is None
    # the data fingerprint ignores caches and follows the data
    fp = smoke_store.fingerprint()
    bh.factor_history(
        smoke_store, smoke_store.calendar().month_ends()[-2:], factors=["ideal_amplitude"]
    )
    assert smoke_store.fingerprint() == fp and Store(smoke_store.path).fingerprint() == fp
    copy = perturb_after(smoke_store.path, tmp_path / "smoke", "2026-06-30")
    assert Store(copy).fingerprint() != fp
    assert bh.behavior_version(bh.BehaviorParams()) != bh.behavior_version(
        bh.BehaviorParams(window=21)
    )


def _store_without(root: Path, name: str, drop: tuple[str, ...]) -> Store:
    tables = small_tables()
    tables["daily_bars"] = tables["daily_bars"].drop(columns=list(drop))
    with StoreWriter(name, source="files", params={"note": "test"}, root=root) as w:
        for t, df in tables.items():
            w.write(t, df)
        w.mark_unavailable("minute_bars", "the vendor export has no minute bars")
        return w.commit()


def test_unavailable_inputs_are_reported_not_substituted(tmp_path: Path) -> None:
    store = _store_without(tmp_path, "bare", ("num_trades", "price_1130"))
    status = bh.factor_status(store)
    assert [n for n, s in status.items() if s.available] == ["ideal_amplitude"]
    assert "num_trades" in status["ideal_reversal"].reason
    assert "no minute bars" in status["smart_money"].reason
    assert "price_1130" in status["apm"].reason
    hist = bh.factor_history(store, ["2024-01-31", "2024-02-29"], cache=False)
    assert list(hist.values) == ["ideal_amplitude"]
    assert set(hist.unavailable) == {"ideal_reversal", "smart_money", "apm"}
    assert hist.values["ideal_amplitude"].notna().sum(axis=1).min() >= 8
    # APM without the index's members is unavailable, and "market" makes it available
    full = open_store("tiny2", root=_tiny_root(tmp_path))
    assert not bh.factor_status(full, params=bh.BehaviorParams(apm_index="000906.SH"))[
        "apm"
    ].available
    assert bh.factor_status(full, params=bh.BehaviorParams(apm_index="market"))["apm"].available


def _tiny_root(tmp_path: Path) -> Path:
    from fixtures_small import build_small_store

    root = tmp_path / "tiny_root"
    build_small_store(root, name="tiny2")
    return root


def test_composite_weights_use_only_past_ics(smoke_store: Store) -> None:
    """The weights at t are the ICIR of the rank ICs formed at t-12 .. t-1."""
    ends = smoke_store.calendar().month_ends()
    hist = bh.factor_history(smoke_store, ends, factors=["ideal_reversal", "ideal_amplitude"])
    mp = load_monthly_panel(smoke_store, ends)
    res = composite_factor(
        hist.values,
        forward_returns=mp.forward,
        industry=mp.industry,
        float_cap=mp.float_cap,
        universe=mp.universe,
        tradable=mp.sample,
    )
    t = 20
    ic = res.rank_ic["ideal_reversal"].iloc[t - 12 : t]
    assert res.weights["ideal_reversal"].iloc[t] == pytest.approx(ic.mean() / ic.std(ddof=1))
    assert res.weights.iloc[:13].isna().all().all() and res.weights.iloc[13:].notna().all().all()
    v = res.values.iloc[-1].dropna()
    assert abs(v.mean()) < 1e-9 and v.std() == pytest.approx(1.0)
    # neutral to industry: zero mean within each industry before the final z-score
    ind = mp.industry.iloc[-1].reindex(v.index)
    assert v.groupby(ind).mean().abs().max() < 1e-8


# -- recovery of the planted effects (default store) -----------------------------------------------
@pytest.mark.slow
def test_planted_effects_recovered(default_store: Store) -> None:
    """Each factor's monthly IC has the planted sign and size (data/README.md, tests/planted.py)."""
    import planted
    from quantbook.evaluation import evaluate_factor
    from quantbook.preprocess import (
        DegenerateCrossSectionWarning,
        TooFewStocksWarning,
        winsorize_mad,
    )

    ends = default_store.calendar().month_ends()
    daily = ["ideal_reversal", "apm", "ideal_amplitude"]
    hist = bh.factor_history(default_store, ends, factors=daily, cache=False)
    sm_hist = bh.factor_history(default_store, ends[-25:], factors=["smart_money"], cache=False)
    mp = load_monthly_panel(default_store, ends)
    targets = {  # (low, high) bounds around the documented measured values
        "ideal_reversal": (-0.070, -0.035),
        "apm": (0.018, 0.045),
        "ideal_amplitude": (-0.065, -0.032),
        "smart_money": (-0.075, -0.030),
    }
    ics = {}
    for n, (lo, hi) in targets.items():
        values = sm_hist.values[n] if n == "smart_money" else hist.values[n]
        # the report's evaluation: the sample's values, clipped to median +- 5 MAD
        v = values.reindex(index=mp.sample.index, columns=mp.sample.columns).where(mp.sample)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TooFewStocksWarning)
            warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
            ev = evaluate_factor(
                winsorize_mad(v, k=5.0),
                mp.forward,
                tradable=mp.sample,
                direction=bh.FACTOR_INFO[n].direction,
            )
        ic = ev.ic.dropna()
        ics[n] = ic.mean()
        assert lo < ic.mean() < hi, (n, ic.mean())
        assert abs(ic.mean() / ic.std() * math.sqrt(len(ic))) > 4
        assert ev.statistics()["ls_ir"] > 1.0
    # same sign and size as the independent measurement of tests/planted.py
    panel = planted.load_panel(default_store)
    for n, fn in (
        ("ideal_reversal", planted.ideal_reversal),
        ("ideal_amplitude", planted.ideal_amplitude),
    ):
        ref = planted.monthly_ic(panel, fn(panel))[0]
        assert abs(ics[n] - ref) < 0.01, (n, ics[n], ref)


class _MinuteStub:
    """A store stand-in whose minute bars come in a given row order."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def minute_bars(
        self, days: object, *, codes: object = None, columns: object = None
    ) -> pd.DataFrame:
        d = pd.DatetimeIndex(days)  # type: ignore[arg-type]
        return self.frame[self.frame["date"].isin(d)]


def test_minute_cube_does_not_depend_on_row_order(smoke_store: Store) -> None:
    from quantbook.factors.behavior_data import load_minute_cube

    days = smoke_store.calendar().range("2025-03-03", "2025-03-05")
    frame = smoke_store.minute_bars(days)
    codes = pd.Index(sorted(frame["code"].unique())[:40] + ["999999.SH"], dtype=object)
    ordered = load_minute_cube(_MinuteStub(frame), days, codes=codes)  # type: ignore[arg-type]
    shuffled = frame.sample(frac=1.0, random_state=0)
    other = load_minute_cube(_MinuteStub(shuffled), days, codes=codes, max_rows=1)  # type: ignore[arg-type]
    for f in ("open", "close", "volume", "amount"):
        np.testing.assert_array_equal(getattr(ordered, f), getattr(other, f))
    assert np.isnan(ordered.close[-1]).all() and np.isfinite(ordered.close[:-1]).any()
