"""The walk-forward schedule (quantbook.models.walkforward): the no-lookahead rule on random
schedules, the fit calendar, and that the GAN_GRU retrainings, the Barra ML windows and the
ETF strategies' rolling models take their schedules from it."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quantbook.data import Store, TradingCalendar
from quantbook.factors import gan_gru as gg
from quantbook.features import FeatureSpec
from quantbook.features.price_volume import load_or_build_windows
from quantbook.models.walkforward import Fit, Schedule, WalkForward, calendar_fit_dates
from quantbook.strategies.models import rolling_predict


def _reference_fits(
    rule: WalkForward,
    samples: pd.DatetimeIndex,
    ends: pd.DatetimeIndex,
    usable: np.ndarray,
    candidates: pd.DatetimeIndex,
) -> list[tuple[pd.Timestamp, list[pd.Timestamp]]]:
    """The rule of the Notes, one sample at a time (before fits without predictions drop)."""
    out: list[tuple[pd.Timestamp, list[pd.Timestamp]]] = []
    last = None
    for j, c in enumerate(candidates):
        if last is not None and j - last < rule.every:
            continue
        known = [i for i in range(len(samples)) if not pd.isna(ends[i]) and ends[i] <= c]
        if rule.window is not None:
            known = known[len(known) - rule.window :] if len(known) > rule.window else known
        train = [samples[i] for i in known if usable[i]]
        if len(train) >= rule.min_train:
            out.append((c, train))
            last = j
    return out


@st.composite
def _cases(draw: st.DrawFn) -> tuple[WalkForward, dict[str, object]]:
    days = pd.bdate_range("2020-01-01", periods=400)
    n = draw(st.integers(0, 40))
    pos = sorted(draw(st.sets(st.integers(0, 399), min_size=n, max_size=n)))
    samples = days[pos]
    explicit = draw(st.booleans())
    rule = WalkForward(
        every=draw(st.integers(1, 4)),
        calendar=draw(st.sampled_from(["periods", "half-year", "year"])),
        window=draw(st.none() | st.integers(1, 15)),
        min_train=draw(st.integers(1, 8)),
        horizon=draw(st.integers(0, 5)),
    )
    kw: dict[str, object] = {"samples": samples}
    if explicit:  # a label known some days after its sample, or never (NaT)
        lags = draw(st.lists(st.integers(-1, 30), min_size=n, max_size=n))
        kw["label_end"] = pd.DatetimeIndex(
            [
                pd.NaT if lag < 0 else s + pd.Timedelta(days=lag)
                for s, lag in zip(samples, lags, strict=True)
            ]
        )
    if draw(st.booleans()):
        kw["usable"] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    m = draw(st.integers(0, 30))
    kw["predict"] = days[sorted(draw(st.sets(st.integers(0, 399), min_size=m, max_size=m)))]
    if draw(st.booleans()):
        kw["sessions"] = days
    return rule, kw


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_no_lookahead_and_latest_fit(case: tuple[WalkForward, dict[str, object]]) -> None:
    rule, kw = case
    sched = rule.schedule(**kw)  # type: ignore[arg-type]
    samples = pd.DatetimeIndex(kw["samples"])  # type: ignore[arg-type]
    predict = pd.DatetimeIndex(kw["predict"])  # type: ignore[arg-type]
    ends = pd.DatetimeIndex(kw.get("label_end", rule.label_ends(samples)))  # type: ignore[arg-type]
    usable = np.asarray(kw.get("usable", np.ones(len(samples), bool)))
    label_of = dict(zip(samples, ends, strict=True))
    # no lookahead: label end <= fit date <= every prediction date of the fit
    for f in sched.fits:
        assert len(f.predict) > 0 and len(f.train) >= rule.min_train
        assert all(label_of[d] <= f.date for d in f.train)
        assert (f.predict >= f.date).all()
        if rule.window is not None:
            assert len(f.train) <= rule.window
    # every prediction date uses the latest fit at or before it
    dates = pd.DatetimeIndex([f.date for f in sched.fits])
    assert dates.is_monotonic_increasing and dates.is_unique
    for p in predict:
        before = dates[dates <= p]
        expect = before[-1] if len(before) else pd.NaT
        assert sched.fit_for[p] == expect or (pd.isna(expect) and pd.isna(sched.fit_for[p]))
    assert sum(len(f.predict) for f in sched.fits) == int(sched.fit_for.notna().sum())
    # the window expands or rolls as configured, fits every `every` candidates (the reference)
    sessions = pd.DatetimeIndex(kw.get("sessions", predict))  # type: ignore[arg-type]
    cands = (
        predict
        if rule.calendar == "periods"
        else calendar_fit_dates(sessions, calendar=rule.calendar)
    )
    ref = _reference_fits(rule, samples, ends, usable, cands)
    used = {f.date for f in sched.fits}
    assert [(f.date, list(f.train)) for f in sched.fits] == [r for r in ref if r[0] in used]
    assert all((sched.fit_for != r[0]).all() for r in ref if r[0] not in used)


def test_expanding_and_rolling_windows() -> None:
    days = pd.date_range("2024-01-05", periods=12, freq="7D")
    grow = WalkForward(every=3, min_train=2).schedule(samples=days, predict=days)
    roll = WalkForward(every=3, window=4, min_train=2).schedule(samples=days, predict=days)
    assert [f.date for f in grow.fits] == [days[2], days[5], days[8], days[11]]
    for a, b in itertools.pairwise(grow.fits):
        assert a.train.isin(b.train).all() and b.train[0] == days[0]
    assert [len(f.train) for f in roll.fits] == [2, 4, 4, 4]
    assert [f.train[-1] for f in roll.fits] == [days[1], days[4], days[7], days[10]]
    assert grow.fits[0] == Fit(date=days[2], train=days[:2], predict=days[2:5])
    assert grow == WalkForward(every=3, min_train=2).schedule(samples=days, predict=days)
    assert list(grow.table()["train samples"]) == [2, 5, 8, 11]


def test_a_skipped_candidate_is_retried_and_the_previous_fit_kept() -> None:
    days = pd.date_range("2024-01-05", periods=10, freq="7D")
    usable = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1], bool)
    s = WalkForward(every=2, window=3, min_train=2).schedule(
        samples=days, predict=days, usable=usable
    )
    # at row 4 the window (rows 1-3) holds 2 usable rows; at 6 (3-5) none, at 7 (4-6) one,
    # at 8 (5-7) two: the fit of row 4 predicts rows 4-7
    assert [f.date for f in s.fits] == [days[2], days[4], days[8]]
    assert s.fits[1].predict.equals(days[4:8])


def test_calendar_fit_dates() -> None:
    sessions = TradingCalendar("2023-01-01", "2025-03-31").sessions
    half = [f"{d:%Y-%m-%d}" for d in calendar_fit_dates(sessions, calendar="half-year")]
    assert half == ["2023-06-30", "2023-12-29", "2024-06-28", "2024-12-31"]
    year = [f"{d:%Y-%m-%d}" for d in calendar_fit_dates(sessions, calendar="year")]
    assert year == ["2023-12-29", "2024-12-31"]
    assert calendar_fit_dates(sessions, calendar="periods").equals(sessions)


def test_invalid_rules() -> None:
    with pytest.raises(ValueError, match="window"):
        WalkForward(window=0)
    with pytest.raises(ValueError, match="rule"):
        WalkForward(every=0)


# -- the three users --------------------------------------------------------------------------
def test_etf_rolling_models_follow_the_schedule() -> None:
    rng = np.random.default_rng(3)
    idx = pd.date_range("2020-01-03", periods=150, freq="7D")
    X = pd.DataFrame(rng.normal(size=(150, 2)), index=idx, columns=["a", "b"])
    X.iloc[60:75] = np.nan  # a gap: fits are skipped while the window lacks complete rows
    y = pd.Series(rng.normal(size=150), index=idx)
    res = rolling_predict(X, y, kind="ridge", window=30, min_train=20, retrain_every=4)
    complete = X.notna().any(axis=1).to_numpy() & y.notna().to_numpy()
    rule = WalkForward(every=4, window=30, min_train=20, horizon=1)
    sched = rule.schedule(samples=idx, predict=idx, usable=complete)
    assert list(res.models) == [f.date for f in sched.fits]
    for f in sched.fits:
        assert res.models[f.date].n_obs == len(f.train)
    on = res.prediction.notna()
    pd.testing.assert_series_equal(
        res.trained_on[on], sched.fit_for[on], check_names=False, check_freq=False
    )


def _recording_executor() -> tuple[list[object], object]:
    seen: list[object] = []

    class _Stop(Exception):
        pass

    class Recorder:
        stop = _Stop

        def map(self, fn, tasks):  # type: ignore[no-untyped-def]
            seen.extend(tasks)
            raise _Stop

    return seen, Recorder()


def test_gan_gru_retrainings_are_the_schedule_s_fits(smoke_store: Store) -> None:
    cfg = gg.GAN_GRU_PRESETS["smoke"]
    ws = load_or_build_windows(smoke_store, FeatureSpec())
    as_of = pd.Timestamp("2026-09-30")
    months = ws.dates[np.isin(ws.dates, smoke_store.calendar().month_ends(end=as_of))]
    sessions = smoke_store.calendar().range(end=as_of)
    sched = gg.retrain_schedule(ws, cfg, sessions=sessions, predict=months)
    grid = np.asarray(ws.on_grid)
    explicit = WalkForward(calendar="half-year", window=40, min_train=20).schedule(
        samples=ws.dates[grid], label_end=ws.label_end[grid], predict=months, sessions=sessions
    )
    assert isinstance(sched, Schedule) and sched == explicit and len(sched.fits) >= 3
    seen, ex = _recording_executor()
    with pytest.raises(ex.stop):  # type: ignore[attr-defined]
        gg.gan_gru_factor(smoke_store, as_of=as_of, preset=cfg, executor=ex)  # type: ignore[arg-type]
    # one independent task per (model, retraining), in that order
    assert [(t.kind, t.fit) for t in seen] == [(k, f) for k in gg.KINDS for f in sched.fits]  # type: ignore[attr-defined]
