"""Barra ML factor pipeline (SPEC §4) on the smoke store with tiny models: shapes, the
orthogonality of the factor, the combination, the cache, and the process-pool executor."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from quantbook.data import Store
from quantbook.data.cache import Cache
from quantbook.models.barra_ml import BarraMLConfig, BarraMLResult, combine, run_barra_ml
from quantbook.models.executor import LocalExecutor, SerialExecutor
from quantbook.models.walkforward import WalkForward
from quantbook.risk import RiskModelResult, fit
from quantbook.risk.styles import PRICE_STYLES

torch.set_num_threads(1)

CFG = BarraMLConfig(windows=(6, 9), width=8, depth=2, max_epochs=3, patience=2, retrain_every=12)


@pytest.fixture(scope="module")
def risk(smoke_store: Store) -> RiskModelResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(smoke_store, freq="M", progress=False)


@pytest.fixture(scope="module")
def result(
    smoke_store: Store, risk: RiskModelResult, tmp_path_factory: pytest.TempPathFactory
) -> BarraMLResult:
    cache = Cache(tmp_path_factory.mktemp("barra_ml_cache"), fingerprint="t", version="t")
    return run_barra_ml(
        smoke_store, config=CFG, risk=risk, executor=SerialExecutor(), cache=cache, progress=False
    )


def test_pipeline_outputs(result: BarraMLResult) -> None:
    assert set(result.predictions) == {"mlp", "mhc"}
    for m in ("mlp", "mhc"):
        assert set(result.predictions[m]) == {6, 9}
        for method in ("equal", "ic"):
            fac = result.factor[m][method]
            assert fac.notna().sum(axis=1).min() > 20
            pure = result.pure[m][method]
            assert len(pure) == len(fac)
            assert np.isfinite(pure["f"]).all()
    # the 9-month window starts later than the 6-month one
    p6, p9 = result.predictions["mhc"][6], result.predictions["mhc"][9]
    assert p6.notna().any(axis=1).idxmax() < p9.notna().any(axis=1).idxmax()
    assert (result.trainings["epochs"] <= CFG.max_epochs).all()
    assert not result.missing_styles


def test_factor_is_orthogonal_to_styles(result: BarraMLResult) -> None:
    fac = result.factor["mhc"]["equal"]
    d = fac.index[-1]
    x = result.risk.exposures.cross_section(d)[list(result.styles)]
    f = fac.loc[d].dropna()
    x = x.reindex(f.index).dropna()
    f = f.reindex(x.index)
    for s in result.styles:
        assert abs(np.corrcoef(f, x[s])[0, 1]) < 1e-6, s


def test_combine_equal_and_ic() -> None:
    idx = pd.date_range("2020-01-31", periods=30, freq="ME")
    cols = [f"s{i}" for i in range(50)]
    rng = np.random.default_rng(0)
    fwd = pd.DataFrame(rng.standard_normal((30, 50)), index=idx, columns=cols)
    good = fwd + 0.3 * rng.standard_normal((30, 50))  # predicts the forward return
    bad = -fwd + 0.3 * rng.standard_normal((30, 50))  # anti-predicts it
    eq = combine([good, bad], method="equal")
    pd.testing.assert_frame_equal(eq, (good + bad) / 2)
    ic = combine([good, bad], method="ic", forward=fwd, lookback=12)
    # first month: no trailing IC -> equal weights; later: all weight on the good window
    np.testing.assert_allclose(ic.iloc[0], eq.iloc[0])
    np.testing.assert_allclose(ic.iloc[5:], good.iloc[5:])


def test_cache_reuses_trainings(
    smoke_store: Store, risk: RiskModelResult, result: BarraMLResult, tmp_path: Path
) -> None:
    cache = Cache(tmp_path, fingerprint="t", version="t")
    cfg = BarraMLConfig(
        windows=(6,), models=("mhc",), width=8, depth=2, max_epochs=2, retrain_every=24
    )
    a = run_barra_ml(
        smoke_store, config=cfg, risk=risk, executor=SerialExecutor(), cache=cache, progress=False
    )
    assert not a.trainings["cached"].any()
    b = run_barra_ml(
        smoke_store, config=cfg, risk=risk, executor=SerialExecutor(), cache=cache, progress=False
    )
    assert b.trainings["cached"].all()
    pd.testing.assert_frame_equal(a.predictions["mhc"][6], b.predictions["mhc"][6])
    pd.testing.assert_frame_equal(a.factor["mhc"]["ic"], b.factor["mhc"]["ic"])


def test_process_pool_gives_the_serial_results(smoke_store: Store, risk: RiskModelResult) -> None:
    cfg = BarraMLConfig(
        windows=(6,), models=("mlp", "mhc"), width=8, depth=2, max_epochs=2, retrain_every=24
    )
    kw = {"config": cfg, "risk": risk, "cache": False, "progress": False}
    a = run_barra_ml(smoke_store, executor=SerialExecutor(), **kw)  # type: ignore[arg-type]
    b = run_barra_ml(smoke_store, executor=LocalExecutor(2), **kw)  # type: ignore[arg-type]
    for m in ("mlp", "mhc"):
        pd.testing.assert_frame_equal(a.predictions[m][6], b.predictions[m][6])


@pytest.mark.real
def test_pipeline_runs_on_the_real_sample(real_store: Store) -> None:
    """End to end on the real A-share sample (daily bars 2020-2022, no statements): the
    models see the price-based styles only, the others are recorded as unavailable with the
    reason, and the report page names them. Small and fast: one 6-month window retrained every
    6 months, tiny models, few epochs. ``pytest -s`` prints the factor's IC."""
    from quantbook.reports import mhc_vs_mlp as mv
    from quantbook.risk import STYLE_NAMES

    dates = real_store.read("daily_bars", columns=["date"])["date"]
    first, last = dates.min(), dates.max()
    # risk-model periods inside the bars' span (the store's index data reach much further)
    start = first + pd.offsets.MonthEnd(1) + pd.Timedelta(days=1)
    res = mv.prepare(
        real_store,
        start=start,
        as_of=real_store.calendar().month_ends(end=last)[-1],
        windows="6",
        width=16,
        depth=2,
        max_epochs=5,
        retrain_every=6,
        processes=1,
    ).result
    assert set(res.styles) == set(PRICE_STYLES)
    assert set(res.missing_styles) == set(STYLE_NAMES) - set(PRICE_STYLES)
    assert all("fundamentals" in reason for reason in res.missing_styles.values())
    for m in ("mlp", "mhc"):
        fac = res.factor[m]["equal"]
        assert len(fac) >= 12 and fac.notna().sum(axis=1).min() > 1000
        assert np.isfinite(res.pure[m]["equal"]["f"]).all()
    # the page says which styles were unavailable, and why
    table = mv.comparison(res)
    for text in (
        mv.inputs_table(res).to_html(),
        mv.inputs_table(res).to_string(),
        mv.inputs_note(res),
        mv.conclusion(table),
    ):
        assert "unavailable" in text.lower()
        for s in res.missing_styles:
            assert s in text, s
        assert "fundamentals" in text
    eq = table.xs("equal", level="combination")
    print(
        f"\nreal sample {first:%Y-%m-%d}..{last:%Y-%m-%d}, {len(res.styles)} price-based "
        f"styles, window 6 months; IC of the combined (equal-weight) Barra ML factor with the "
        f"next month's residual return:\n{eq[['n_periods', 'ic_mean', 'ic_t', 'rank_ic_mean', 'icir']]}"
    )
    assert np.isfinite(eq["ic_mean"]).all()


def test_trainings_follow_the_walk_forward_schedule(
    result: BarraMLResult, risk: RiskModelResult
) -> None:
    """Each window's trainings are the fits of a WalkForward: first once the window's targets
    are known, then every ``retrain_every`` months; each month predicted by the latest one."""
    starts = pd.DatetimeIndex(risk.period_starts.to_numpy())
    ends = pd.DatetimeIndex(risk.residuals.index)
    for w in CFG.windows:
        rule = WalkForward(every=CFG.retrain_every, window=w, min_train=w)
        assert CFG.walk_forward(w) == rule
        sched = rule.schedule(samples=starts, label_end=ends, predict=starts)
        fits = [f.date for f in sched.fits]
        assert fits[0] == starts[w] and fits[1] == starts[w + CFG.retrain_every]
        for m in CFG.models:
            got = result.trainings.query("model == @m and window == @w")
            assert list(got["month"]) == fits
            live = result.predictions[m][w].notna().any(axis=1)
            assert live[sched.fit_for.notna()].all() and not live[sched.fit_for.isna()].any()
