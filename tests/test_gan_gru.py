"""GAN_GRU: feature windows (no lookahead, preprocessing, exclusions), retraining without
lookahead, the model cache, the monthly factor, the whole factor's lookahead test (later bars
perturbed or removed), recovery of the planted 40-day pattern, and a run on the real A-share
sample (skipped where it is absent)."""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from quantbook.data import Store
from quantbook.data.cache import Cache
from quantbook.data.panel import load_daily_panel
from quantbook.evaluation import forward_returns, rank_ic_series
from quantbook.factors import gan_gru as gg
from quantbook.features import FEATURE_NAMES, FeatureSpec, build_windows
from quantbook.features import price_volume as pv
from quantbook.features.price_volume import daily_features, load_or_build_windows
from quantbook.models import LocalExecutor
from quantbook.models.walkforward import Fit, calendar_fit_dates

torch.set_num_threads(1)

#: A tiny configuration for tests (seconds on the smoke store).
TINY = dataclasses.replace(
    gg.GAN_GRU_PRESETS["smoke"], name="tiny", max_epochs=2, train_dates=24, min_train_dates=12
)


@pytest.fixture(scope="module")
def smoke_windows(smoke_store: Store) -> gg.WindowSet:
    return load_or_build_windows(smoke_store, FeatureSpec())


def test_daily_features(smoke_store: Store) -> None:
    panel = load_daily_panel(smoke_store)
    f = daily_features(panel)
    assert f.shape == (len(panel.dates), len(panel.codes), len(FEATURE_NAMES)) == (*f.shape[:2], 18)
    assert np.isnan(f[~panel.trading]).all()
    traded = panel.trading
    assert np.isfinite(f[traded][:, FEATURE_NAMES.index("return")]).all()
    ret = panel["close"] / panel["prev_close"] - 1
    np.testing.assert_allclose(
        f[..., FEATURE_NAMES.index("return")][traded], ret[traded], rtol=1e-6
    )


def test_windows_shape_preprocessing_and_exclusions(
    smoke_store: Store, smoke_windows: gg.WindowSet
) -> None:
    ws = smoke_windows
    assert ws.x.shape[1:] == (40, 18) and ws.x.dtype == np.float16
    assert len(ws) == ws.x.shape[0] == ws.offsets[-1]
    # grid dates every 5 sessions, plus month-ends
    sessions = smoke_store.calendar().sessions
    grid_pos = sessions.get_indexer(ws.dates[ws.on_grid])
    assert set(np.diff(grid_pos)) == {5}
    assert set(smoke_store.calendar().month_ends(ws.dates[0])) <= set(ws.dates)
    # cross-sectional z-score: each (day, feature) cell has mean 0 and std about 1 across stocks
    d = ws.dates[len(ws.dates) // 2]
    x, _ = ws.batch(d, labelled=False)
    assert np.isfinite(x).all()
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.02)
    assert np.median(x.std(axis=0)) == pytest.approx(1.0, abs=0.05)
    # labels: z-scored per date, known `horizon` sessions later
    y = ws.label[ws.rows(d)]
    assert np.nanmean(y) == pytest.approx(0.0, abs=1e-5)
    i = ws.dates.get_loc(d)
    assert ws.label_end[i] == sessions[sessions.get_loc(d) + 20]
    # exclusions on the date: ST, listed under 120 sessions, suspended, Beijing
    codes = set(ws.codes_at(d))
    inst = smoke_store.read("instruments").set_index("code")
    listed = sessions.searchsorted(d) - sessions.searchsorted(inst["list_date"]) + 1
    assert not codes & set(inst.index[listed < 120])
    assert not codes & set(inst.index[inst["board"] == "bse"])
    st = smoke_store.read("st_status")
    on = st[(st["start"] <= d) & (st["end"].isna() | (st["end"] > d))]
    assert not codes & set(on["code"])
    bars = smoke_store.read("daily_bars", start=d, end=d)
    assert not codes & set(bars.loc[bars["is_suspended"], "code"])


def test_windows_at_a_date_use_no_data_after_it(smoke_store: Store) -> None:
    full = load_daily_panel(smoke_store)
    dates = full.dates[[120, 200, 333]]
    a = build_windows(full, dates=dates)
    for d in dates:
        cut = build_windows(load_daily_panel(smoke_store, end=d), dates=pd.DatetimeIndex([d]))
        np.testing.assert_array_equal(cut.x[cut.rows(d)], a.x[a.rows(d)])
        assert list(cut.codes_at(d)) == list(a.codes_at(d))
        assert np.isnan(cut.label).all()  # the future return is unknown at d


def test_nanmedian_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        x = rng.standard_normal((6, int(rng.integers(1, 41)), 3)).astype(np.float32)
        x[rng.random(x.shape) < rng.random()] = np.nan  # some slices all NaN
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
            want = np.nanmedian(x, axis=1, keepdims=True)
        got = pv._nanmedian(x, axis=1)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_windows_restricted_to_a_universe(smoke_store: Store, smoke_windows: gg.WindowSet) -> None:
    codes = list(smoke_windows.codes[::3])
    spec = FeatureSpec()
    assert pv.windows_config(spec, codes=codes) != pv.windows_config(spec)
    assert pv.windows_config(spec, codes=codes[::-1]) == pv.windows_config(spec, codes=codes)
    ws = load_or_build_windows(smoke_store, spec, codes=codes, cache=False)
    assert set(ws.codes) <= set(codes) and list(ws.dates) == list(smoke_windows.dates)
    d = ws.dates[len(ws.dates) // 2]
    assert set(ws.codes_at(d)) == set(smoke_windows.codes_at(d)) & set(codes)
    x, y = ws.batch(d)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=0.02)  # z-scored within the subset
    assert np.nanmean(y) == pytest.approx(0.0, abs=1e-5)
    res = gg.gan_gru_factor(
        smoke_store, as_of="2026-07-31", start="2026-07-01", preset=TINY, codes=codes, cache=False
    )
    for kind in gg.KINDS:
        f = res.factor[kind]
        assert len(f) == 1 and set(f.columns) <= set(codes)
        assert f.iloc[0].notna().sum() == len(ws.codes_at(f.index[0]))


def _fit_at(store: Store, ws: gg.WindowSet, config: gg.GanGruConfig, r: pd.Timestamp) -> Fit:
    """The retraining of the schedule on the half-year end ``r``."""
    sched = gg.retrain_schedule(
        ws, config, sessions=store.calendar().sessions, predict=pd.DatetimeIndex([r])
    )
    (fit,) = sched.fits
    assert fit.date == r
    return fit


def test_training_dates_have_labels_known_by_the_retrain_date(
    smoke_store: Store, smoke_windows: gg.WindowSet
) -> None:
    ws = smoke_windows
    sessions = smoke_store.calendar().sessions
    sched = gg.retrain_schedule(ws, TINY, sessions=sessions, predict=ws.dates)
    assert [f.date for f in sched.fits] == [
        r
        for r in calendar_fit_dates(sessions, calendar="half-year")
        if len(ws.training_dates(r)) >= TINY.min_train_dates
    ]
    for fit in sched.fits:
        td = fit.train
        assert td.equals(ws.training_dates(fit.date)[-TINY.train_dates :])
        ends = ws.label_end[ws.dates.get_indexer(td)]
        assert (ends <= fit.date).all()
        assert ws.on_grid[ws.dates.get_indexer(td)].all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cached_model_gives_identical_predictions(
    smoke_store: Store, smoke_windows: gg.WindowSet, tmp_path, dtype: str
) -> None:  # type: ignore[no-untyped-def]
    """Same machine, same seed: identical bits (trained twice, or trained and loaded)."""
    ws = smoke_windows
    tiny = dataclasses.replace(TINY, dtype=dtype)
    r = calendar_fit_dates(ws.dates, calendar="half-year")[2]
    fit = _fit_at(smoke_store, ws, tiny, r)
    cache = Cache(tmp_path / "models", fingerprint="fp", version="t")
    first = gg.fit_window(ws, tiny, fit, kind="gan_gru", cache=cache, fingerprint="fp")
    again = gg.fit_window(ws, tiny, fit, kind="gan_gru", cache=cache, fingerprint="fp")
    assert next(first.gru.parameters()).dtype == getattr(torch, dtype)
    assert next(again.gru.parameters()).dtype == getattr(torch, dtype)
    assert not first.cached and again.cached
    m = ws.dates[ws.dates > r][0]
    p1, p2 = gg.predict(first, ws, m), gg.predict(again, ws, m)
    pd.testing.assert_series_equal(p1, p2)
    assert p1.notna().all() and p1.std() > 0
    pd.testing.assert_frame_equal(first.history, again.history)
    assert first.train_end < first.valid_start <= first.valid_end
    assert ws.label_end[ws.dates.get_loc(first.valid_end)] <= r
    # retraining from scratch is bit-for-bit the same model
    fresh = gg.fit_window(ws, tiny, fit, kind="gan_gru", cache=None)
    pd.testing.assert_series_equal(gg.predict(fresh, ws, m), p1)


def test_only_the_smoke_preset_trains_in_float64() -> None:
    """float64 is the smoke preset's (machine-independent notebook outputs); the other presets
    stay float32 with the cache keys they had before the dtype field existed."""
    assert gg.GAN_GRU_PRESETS["smoke"].dtype == "float64"
    assert gg.GAN_GRU_PRESETS["smoke"].key()["dtype"] == "float64"
    assert "precision" in gg.GAN_GRU_PRESETS["smoke"].describe()
    for name in ("paper", "fast"):
        cfg = gg.GAN_GRU_PRESETS[name]
        assert cfg.dtype == "float32" and cfg.torch_dtype == torch.float32
        assert "dtype" not in cfg.key() and "precision" not in cfg.describe()


def test_monthly_factor_is_neutral_and_standardized(smoke_store: Store) -> None:
    res = gg.gan_gru_factor(smoke_store, as_of="2026-09-30", preset=TINY, start="2026-01-01")
    for kind in gg.KINDS:
        f = res.factor[kind]
        assert list(f.index) == list(smoke_store.calendar().month_ends("2026-01-01", "2026-09-30"))
        np.testing.assert_allclose(f.mean(axis=1), 0.0, atol=1e-9)
        np.testing.assert_allclose(f.std(axis=1), 1.0, atol=1e-9)
        panel = load_daily_panel(smoke_store, end=f.index.max())
        rows = panel.rows(f.index)
        ind = panel.wide(panel.spell("industry", rows).labels(), rows=rows, codes=f.columns)
        cap = panel.wide(panel.float_cap[rows], rows=rows, codes=f.columns)
        last = f.iloc[-1].dropna()
        lncap = np.log(cap.iloc[-1][last.index])
        assert abs(np.corrcoef(last, lncap)[0, 1]) < 1e-8
        by_ind = last.groupby(ind.iloc[-1][last.index]).mean()
        np.testing.assert_allclose(by_ind, 0.0, atol=1e-8)
    assert (res.model_for <= res.model_for.index).all()
    assert set(res.training_table()["model"]) == set(gg.KINDS)


@pytest.mark.slow
def test_recovers_the_planted_40_day_pattern(default_store: Store) -> None:
    """Out of sample, the plain GRU of the fast preset (the site's model) predicts the next
    20-day return: the planted pattern's hand-made detector has an IC of +0.10."""
    ws = load_or_build_windows(default_store, FeatureSpec())
    cfg = gg.GAN_GRU_PRESETS["fast"]
    r = pd.Timestamp("2022-12-30")
    wm = gg.fit_window(ws, cfg, _fit_at(default_store, ws, cfg, r), kind="gru")
    ics = []
    for d in ws.dates[(ws.dates > r) & ws.on_grid][:24]:
        p = gg.predict(wm, ws, d)
        y = ws.raw_label[ws.rows(d)]
        ok = np.isfinite(y)
        ics.append(np.corrcoef(p.to_numpy()[ok], y[ok])[0, 1])
    assert np.mean(ics) > 0.04, ics


# -- lookahead of the whole factor: features + training + prediction + neutralization ----------
#: A retraining date and a month-end: its own model (labels known by that day) predicts it.
LOOKAHEAD_AS_OF = pd.Timestamp("2026-06-30")
#: Daily-bar columns scaled by a random factor per row after the as-of date (prices, volumes,
#: shares, adjustment factor); OHLC stays consistent since all prices of a row share a factor.
_PRICE_COLUMNS = ("open", "high", "low", "close", "prev_close", "price_1130")
_PRICE_COLUMNS += ("limit_up", "limit_down")


def _copy_store(store: Store, dest: Path) -> Store:
    """A copy of ``store``'s files (without its cache) that a test may change."""
    shutil.copytree(store.path, dest, ignore=shutil.ignore_patterns("cache"))
    return Store(dest)


def _rewrite_daily_bars(store: Store, change: str, after: pd.Timestamp) -> None:
    """Perturb (``perturb``) or drop (``truncate``) every daily bar dated after ``after``."""
    path = store.path / "daily_bars.parquet"
    table = pq.read_table(path)
    df = table.to_pandas()
    later = (df["date"] > after).to_numpy()
    assert later.any()
    if change == "truncate":
        df = df[~later]
    else:
        rng = np.random.default_rng(7)
        n = int(later.sum())
        price, volume = np.exp(rng.normal(0.0, 0.2, n)), np.exp(rng.normal(0.0, 0.5, n))
        for col in _PRICE_COLUMNS:
            df.loc[later, col] = df.loc[later, col].to_numpy() * price
        df.loc[later, "volume"] = df.loc[later, "volume"].to_numpy() * volume
        df.loc[later, "amount"] = df.loc[later, "amount"].to_numpy() * volume * price
        for col in ("float_shares", "total_shares", "adj_factor"):
            df.loc[later, col] = df.loc[later, col].to_numpy() * np.exp(rng.normal(0.0, 0.1, n))
    pq.write_table(pa.Table.from_pandas(df, schema=table.schema, preserve_index=False), path)


def _lookahead_run(store: Store) -> gg.GanGruResult:
    return gg.gan_gru_factor(
        store, as_of=LOOKAHEAD_AS_OF, preset=TINY, start="2026-04-01", cache=False
    )


@pytest.fixture(scope="module")
def lookahead_base(smoke_store: Store) -> gg.GanGruResult:
    return _lookahead_run(smoke_store)


@pytest.mark.parametrize("change", ["perturb", "truncate"])
def test_factor_at_as_of_uses_no_later_data(
    smoke_store: Store, lookahead_base: gg.GanGruResult, change: str, tmp_path: Path
) -> None:
    """End to end (windows, GAN, GRU, prediction, neutralization, z-score): the monthly
    factors up to the as-of month-end are bit-for-bit the same when every later daily bar is
    perturbed or removed (a copy of the smoke store)."""
    as_of = LOOKAHEAD_AS_OF
    sessions = smoke_store.calendar().sessions
    assert as_of in calendar_fit_dates(sessions, calendar="half-year")
    assert as_of in smoke_store.calendar().month_ends()
    changed = _copy_store(smoke_store, tmp_path / "changed")
    _rewrite_daily_bars(changed, change, as_of)
    assert changed.fingerprint() != smoke_store.fingerprint()
    base, other = lookahead_base, _lookahead_run(changed)

    months = smoke_store.calendar().month_ends("2026-04-01", as_of)
    for kind in gg.KINDS:
        f = base.factor[kind]
        assert list(f.index) == list(months)
        assert f.loc[as_of].notna().sum() > 50
        # stocks listed after the as-of date are columns of the full store only (all NaN)
        pd.testing.assert_frame_equal(
            other.raw[kind].reindex(columns=f.columns), base.raw[kind], check_exact=True
        )
        g = other.factor[kind].reindex(columns=f.columns)
        if change == "perturb":
            pd.testing.assert_frame_equal(g, f, check_exact=True)
        else:  # fewer (all-NaN) columns change the order of the cross-sectional sums: last bits
            assert g.isna().equals(f.isna())
            np.testing.assert_allclose(g.to_numpy(), f.to_numpy(), rtol=0, atol=1e-12)
        # the as-of month-end is predicted by the model retrained on it, and the label of its
        # last training sample (the last validation date) ends on or before the as-of date,
        # within one 5-day step of it (the boundary is exercised)
        assert base.model_for.loc[as_of] == as_of
        last = base.models[kind][-1]
        assert last.retrain_date == as_of
        for wm, wo in zip(base.models[kind], other.models[kind], strict=True):
            end = base.windows.label_end[base.windows.dates.get_loc(wm.valid_end)]
            assert wm.train_end < wm.valid_start and end <= wm.retrain_date <= as_of
            assert (wo.train_start, wo.valid_end) == (wm.train_start, wm.valid_end)
            cols = ["train_loss", "valid_loss"]
            pd.testing.assert_frame_equal(wo.history[cols], wm.history[cols], check_exact=True)
        end = base.windows.label_end[base.windows.dates.get_loc(last.valid_end)]
        assert sessions.get_loc(as_of) - sessions.get_loc(end) < TINY.features.step
    # the change did reach data the pipeline reads: the label of the as-of date differs
    rows_b, rows_o = base.windows.rows(as_of), other.windows.rows(as_of)
    np.testing.assert_array_equal(other.windows.x[rows_o], base.windows.x[rows_b])
    lab_b, lab_o = base.windows.raw_label[rows_b], other.windows.raw_label[rows_o]
    assert np.isfinite(lab_b).all()
    if change == "truncate":
        assert np.isnan(lab_o).all()
    else:
        assert not np.allclose(lab_o, lab_b)


# -- the real A-share sample (validation only; skipped where it is absent) ---------------------
#: Sample dates of the real-sample feature check (month-ends of 2020-2021).
REAL_DATES = pd.DatetimeIndex(["2020-06-30", "2021-03-31", "2021-12-31"])


def _real_subset(store: Store, every: int = 10) -> list[str]:
    """Every ``every``-th code of the sorted SH / SZ codes (deterministic, all boards)."""
    inst = store.read("instruments")
    return sorted(inst.loc[inst["board"] != "bse", "code"].astype(str))[::every]


@pytest.mark.real
def test_real_sample_feature_windows(real_store: Store) -> None:
    """The 40 x 18 windows compute on the real daily bars, finite, for the bulk of stocks."""
    panel = load_daily_panel(real_store)
    feats = daily_features(panel)
    ws = build_windows(panel, dates=REAL_DATES)
    for d in REAL_DATES:
        x, _ = ws.batch(d, labelled=False)
        i = panel.dates.get_loc(d)
        traded = int(panel.trading[i].sum())
        # eligible: the traded stocks less ST, BSE and those listed under 120 sessions
        assert x.shape[1:] == (40, 18) and len(x) >= 0.85 * traded
        assert np.isfinite(x).all()
        # the raw inputs behind the windows are finite on the traded days (every feature)
        cols = panel.codes.get_indexer(ws.codes_at(d))
        w = feats[i - 39 : i + 1][:, cols]
        on = panel.trading[i - 39 : i + 1][:, cols]
        finite = np.isfinite(w[on]).mean(axis=0)
        assert (finite > 0.99).all(), dict(zip(FEATURE_NAMES, finite.round(4), strict=True))
        # no feature is degenerate (an input missing from the store would be all zeros)
        assert (x.std(axis=(0, 1)) > 0.5).all()
        print(f"{d:%Y-%m-%d}: {len(x)} windows of {traded} traded stocks")


@pytest.mark.real
def test_real_sample_one_retrain_out_of_sample(real_store: Store) -> None:
    """One retraining (2021-06-30, the fast preset, GAN stage included, chronological 80 / 20
    split) on a deterministic subset of about 465 stocks; the models predict the month-ends
    July to November 2021 out of sample. Prints the rank IC against the month-end to
    month-end return; its sign on real data is not asserted."""
    t0 = time.perf_counter()
    codes = _real_subset(real_store)
    assert 400 <= len(codes) <= 500
    r = pd.Timestamp("2021-06-30")
    res = gg.gan_gru_factor(
        real_store, as_of="2021-11-30", start="2021-07-01", preset="fast", codes=codes, cache=False
    )
    months = real_store.calendar().month_ends("2021-07-01", "2021-11-30")
    assert len(months) == 5
    assert (res.model_for == r).all()
    ws = res.windows
    assert set(ws.codes) <= set(codes)
    prices = real_store.read(
        "daily_bars", codes=codes, end="2021-12-31", columns=["date", "code", "close", "adj_factor"]
    )
    adj = (prices["close"] * prices["adj_factor"]).rename("adj")
    wide = pd.concat([prices[["date", "code"]], adj], axis=1).pivot(
        index="date", columns="code", values="adj"
    )
    fwd = forward_returns(wide, months.append(pd.DatetimeIndex(["2021-12-31"]))).loc[months]
    lines = []
    for kind in gg.KINDS:
        (wm,) = res.models[kind]  # one retraining
        assert wm.retrain_date == r and not wm.cached
        assert wm.train_end < wm.valid_start <= wm.valid_end
        assert ws.label_end[ws.dates.get_loc(wm.valid_end)] <= r
        assert wm.n_valid == round(0.2 * (wm.n_train + wm.n_valid))
        f, raw = res.factor[kind], res.raw[kind]
        assert list(f.index) == list(months)
        for m in months:
            p = raw.loc[m, ws.codes_at(m)]
            assert np.isfinite(p).all() and p.std() > 0
            assert np.isfinite(f.loc[m].dropna()).all() and f.loc[m].notna().sum() >= 300
        ric = rank_ic_series(f, fwd.reindex(columns=f.columns)).dropna()
        assert len(ric) == len(months)
        lines.append(
            f"{kind}: out-of-sample rank IC mean {ric.mean():+.4f} over {len(ric)} months "
            f"({', '.join(f'{v:+.3f}' for v in ric)}); valid IC {-wm.history['valid_loss'].min():+.4f}, "
            f"{wm.n_train} / {wm.n_valid} train / valid dates, {wm.seconds:.0f} s"
        )
    print(
        f"\nreal sample, {len(ws.codes)} stocks, retrained {r:%Y-%m-%d}, month-ends "
        f"{months[0]:%Y-%m} .. {months[-1]:%Y-%m}, {time.perf_counter() - t0:.0f} s"
    )
    print("\n".join(lines))


def test_process_pool_gives_the_serial_factor(smoke_store: Store) -> None:
    """The retrainings are independent tasks: a process pool gives the serial bits."""
    kw = {"as_of": "2026-09-30", "preset": TINY, "start": "2026-08-01", "cache": False}
    serial = gg.gan_gru_factor(smoke_store, **kw)  # type: ignore[arg-type]
    pool = gg.gan_gru_factor(smoke_store, executor=LocalExecutor(2), **kw)  # type: ignore[arg-type]
    for kind in gg.KINDS:
        pd.testing.assert_frame_equal(pool.raw[kind], serial.raw[kind], check_exact=True)
        pd.testing.assert_frame_equal(pool.factor[kind], serial.factor[kind], check_exact=True)
    pd.testing.assert_series_equal(pool.model_for, serial.model_for)
