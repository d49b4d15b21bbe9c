"""GAN_GRU: feature windows (no lookahead, preprocessing, exclusions), retraining without
lookahead, the model cache, the monthly factor, and recovery of the planted 40-day pattern."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from quantbook.data import Store, TradingCalendar
from quantbook.factors import gan_gru as gg
from quantbook.features import FEATURE_NAMES, FeatureSpec, build_windows, load_daily_panel
from quantbook.features.price_volume import daily_features, load_or_build_windows
from quantbook.models import ModelCache

torch.set_num_threads(1)

#: A tiny configuration for tests (seconds on the smoke store).
TINY = dataclasses.replace(
    gg.PRESETS["smoke"], name="tiny", max_epochs=2, train_dates=24, min_train_dates=12
)


@pytest.fixture(scope="module")
def smoke_windows(smoke_store: Store) -> gg.WindowSet:
    return load_or_build_windows(smoke_store, FeatureSpec())


def test_daily_features(smoke_store: Store) -> None:
    panel = load_daily_panel(smoke_store)
    f = daily_features(panel)
    assert f.shape == (len(panel.dates), len(panel.codes), len(FEATURE_NAMES)) == (*f.shape[:2], 18)
    assert np.isnan(f[panel.suspended]).all()
    traded = ~panel.suspended
    assert np.isfinite(f[traded][:, FEATURE_NAMES.index("return")]).all()
    ret = panel.bars["close"] / panel.bars["prev_close"] - 1
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


def test_training_dates_have_labels_known_by_the_retrain_date(smoke_windows: gg.WindowSet) -> None:
    ws = smoke_windows
    for r in gg.retrain_dates(ws.dates):
        td = ws.training_dates(r)
        ends = ws.label_end[ws.dates.get_indexer(td)]
        assert (ends <= r).all()
        assert ws.on_grid[ws.dates.get_indexer(td)].all()


def test_retrain_dates() -> None:
    sessions = TradingCalendar("2023-01-01", "2025-03-31").sessions
    got = [f"{d:%Y-%m-%d}" for d in gg.retrain_dates(sessions)]
    assert got == ["2023-06-30", "2023-12-29", "2024-06-28", "2024-12-31"]


def test_cached_model_gives_identical_predictions(
    smoke_store: Store, smoke_windows: gg.WindowSet, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ws = smoke_windows
    r = gg.retrain_dates(ws.dates)[2]
    cache = ModelCache(tmp_path / "models")
    first = gg.fit_window(ws, TINY, r, kind="gan_gru", cache=cache, fingerprint="fp")
    again = gg.fit_window(ws, TINY, r, kind="gan_gru", cache=cache, fingerprint="fp")
    assert first is not None and again is not None
    assert not first.cached and again.cached
    m = ws.dates[ws.dates > r][0]
    p1, p2 = gg.predict(first, ws, m), gg.predict(again, ws, m)
    pd.testing.assert_series_equal(p1, p2)
    assert p1.notna().all() and p1.std() > 0
    pd.testing.assert_frame_equal(first.history, again.history)
    assert first.train_end < first.valid_start <= first.valid_end
    assert ws.label_end[ws.dates.get_loc(first.valid_end)] <= r
    # retraining from scratch is bit-for-bit the same model
    fresh = gg.fit_window(ws, TINY, r, kind="gan_gru", cache=None)
    assert fresh is not None
    pd.testing.assert_series_equal(gg.predict(fresh, ws, m), p1)


def test_monthly_factor_is_neutral_and_standardized(smoke_store: Store) -> None:
    res = gg.gan_gru_factor(smoke_store, as_of="2026-09-30", preset=TINY, start="2026-01-01")
    for kind in gg.KINDS:
        f = res.factor[kind]
        assert list(f.index) == list(smoke_store.calendar().month_ends("2026-01-01", "2026-09-30"))
        np.testing.assert_allclose(f.mean(axis=1), 0.0, atol=1e-9)
        np.testing.assert_allclose(f.std(axis=1), 1.0, atol=1e-9)
        ind = gg.industry_labels(smoke_store, f.index, f.columns)
        cap = gg.float_cap(smoke_store, f.index, f.columns)
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
    cfg = gg.PRESETS["fast"]
    r = pd.Timestamp("2022-12-30")
    wm = gg.fit_window(ws, cfg, r, kind="gru")
    assert wm is not None
    ics = []
    for d in ws.dates[(ws.dates > r) & ws.on_grid][:24]:
        p = gg.predict(wm, ws, d)
        y = ws.raw_label[ws.rows(d)]
        ok = np.isfinite(y)
        ics.append(np.corrcoef(p.to_numpy()[ok], y[ok])[0, 1])
    assert np.mean(ics) > 0.04, ics
