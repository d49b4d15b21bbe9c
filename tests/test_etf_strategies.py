"""The six ETF strategies on synthetic stores (and the real sample where present).

- every strategy runs on the smoke store; weights sum to 1 (cash counted) every week;
- lookahead: perturbing every input after a rebalance date changes no weight at or before it,
  and loading the store only up to that date gives the same weights;
- a suspended ETF is not traded inside a strategy's backtest;
- on the default store, the strategies that target a planted predictable component (size
  rotation, SmartBeta style timing, bond duration) beat their benchmarks;
- on the real A-share sample, the strategies whose inputs exist run on the real ETFs, and the
  others say what they lack;
- the report's summary and metrics.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from quantbook.data import Store
from quantbook.data.calendar import SnappedDateWarning
from quantbook.data.store import DataUnavailableError
from quantbook.reports import Metrics
from quantbook.reports import etf_weekly as ew
from quantbook.reports.contract import AsOfPolicyError, policy_date
from quantbook.strategies import (
    CASH,
    Inputs,
    StrategyResult,
    default_strategies,
    load_inputs,
    run_all,
)
from quantbook.strategies import styles as style_inputs
from quantbook.strategies.market import load_market
from quantbook.strategies.styles import StyleInputs, load_style_inputs

SMOKE_TRAINING = {"window": 104, "min_train": 39}
TRAINED = ("rotation", "balance", "bond")


def smoke_strategies():  # type: ignore[no-untyped-def]
    return default_strategies({k: SMOKE_TRAINING for k in TRAINED})


@pytest.fixture(scope="module")
def smoke_inputs(smoke_store: Store) -> Inputs:
    return load_inputs(smoke_store, cache=False)


@pytest.fixture(scope="module")
def smoke_results(smoke_inputs: Inputs) -> dict[str, StrategyResult]:
    return run_all(smoke_inputs, smoke_strategies())


def test_all_six_run_on_smoke(
    smoke_inputs: Inputs, smoke_results: dict[str, StrategyResult]
) -> None:
    assert list(smoke_results) == [
        "rotation",
        "smartbeta",
        "industry",
        "balance",
        "hotspot",
        "bond",
    ]
    for key, res in smoke_results.items():
        assert res.ok, (key, res.missing)
        bt = res.backtest
        assert bt is not None and len(bt.net) > 50
        assert np.allclose(bt.weights.sum(axis=1), 1.0), key
        assert np.allclose(bt.drifted.sum(axis=1), 1.0), key
        assert (bt.weights >= -1e-12).all().all(), key
        assert np.isfinite(bt.net).all() and np.isfinite(bt.benchmark).all(), key
        # every week-end from the first decision is a rebalance date
        week_ends = smoke_inputs.market.rebalance_dates
        assert bt.dates.equals(week_ends[week_ends >= bt.dates[0]]), key
        assert not res.signals.empty


def _perturb(frame: pd.DataFrame, after: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    if frame.empty:
        return frame
    out = frame.copy()
    rows = out.index > after
    num = out.select_dtypes("number").columns
    noise = np.exp(rng.normal(0, 0.3, (int(rows.sum()), len(num))))
    out.loc[rows, num] = out.loc[rows, num].to_numpy(dtype=float) * noise
    return out


def _perturb_long(
    frame: pd.DataFrame, after: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    out = frame.copy()
    rows = out["date"] > after
    num = [c for c in out.select_dtypes("number").columns if c != "n_members"]
    out.loc[rows, num] = out.loc[rows, num].to_numpy(dtype=float) + rng.normal(
        0, 1, (int(rows.sum()), len(num))
    )
    return out


def perturbed_after(inputs: Inputs, after: pd.Timestamp, seed: int = 0) -> Inputs:
    """Every input with its values after ``after`` scrambled (prices, volumes, traded flags,
    index levels, yields, style returns and exposures, industry fundamentals, breadth)."""
    rng = np.random.default_rng(seed)
    m = inputs.market
    traded = m.traded.copy()
    rows = traded.index > after
    traded.loc[rows] = rng.random((int(rows.sum()), traded.shape[1])) > 0.3
    market = replace(
        m,
        close=_perturb(m.close, after, rng),
        volume=_perturb(m.volume, after, rng),
        amount=_perturb(m.amount, after, rng),
        traded=traded,
        index_close=_perturb(m.index_close, after, rng),
        index_amount=_perturb(m.index_amount, after, rng),
        yields=_perturb(m.yields, after, rng),
        bond_index=_perturb(m.bond_index, after, rng),
    )
    styles = inputs.styles
    if styles is not None and styles.ok:
        fr = styles.factor_returns.copy()
        r = fr.index > after
        fr.loc[r] = rng.normal(0, 0.02, (int(r.sum()), fr.shape[1]))
        styles = StyleInputs(
            fr, _perturb_long(styles.etf_exposures, after, rng), None, styles.source
        )
    industry = {k: _perturb(v, after, rng) for k, v in inputs.industry.items()}
    return replace(
        inputs,
        market=market,
        styles=styles,
        industry=industry,
        breadth=_perturb(inputs.breadth, after, rng),
    )


def _weights_until(res: StrategyResult, day: pd.Timestamp) -> pd.DataFrame:
    assert res.backtest is not None
    return res.backtest.weights.loc[:day]


def test_changing_data_after_a_rebalance_date_changes_no_weight(
    smoke_inputs: Inputs, smoke_results: dict[str, StrategyResult]
) -> None:
    dates = smoke_inputs.market.rebalance_dates
    for t in (dates[-40], dates[-3]):
        alt = run_all(
            perturbed_after(smoke_inputs, t, seed=int(t.strftime("%d"))), smoke_strategies()
        )
        for key, res in smoke_results.items():
            before = _weights_until(res, t)
            after = _weights_until(alt[key], t)
            pd.testing.assert_frame_equal(before, after, obj=f"{key} weights up to {t:%Y-%m-%d}")
            # the perturbation bites: returns after t differ
            assert not res.backtest.net.equals(alt[key].backtest.net)  # type: ignore[union-attr]


def test_loading_only_up_to_a_date_gives_the_same_weights(
    smoke_store: Store, smoke_results: dict[str, StrategyResult]
) -> None:
    t = smoke_results["bond"].backtest.dates[-30]  # type: ignore[union-attr]
    early = run_all(load_inputs(smoke_store, end=t, cache=False), smoke_strategies())
    for key, res in smoke_results.items():
        pd.testing.assert_frame_equal(
            _weights_until(res, t),
            _weights_until(early[key], t),
            obj=f"{key} weights up to {t:%Y-%m-%d}",
        )


def test_a_suspended_etf_is_not_traded(
    smoke_results: dict[str, StrategyResult], smoke_inputs: Inputs
) -> None:
    traded = smoke_inputs.market.traded
    n_checked = 0
    for res in smoke_results.values():
        bt = res.backtest
        assert bt is not None
        codes = [c for c in bt.weights.columns if c != CASH]
        tr = traded.reindex(index=bt.dates, columns=codes).fillna(False)
        w, d = bt.weights[codes], bt.drifted[codes]
        untradable = ~tr.to_numpy()
        assert np.allclose(w.to_numpy()[untradable], d.to_numpy()[untradable])
        n_checked += int((untradable & (d.to_numpy() > 0)).sum())
        blocked = bt.blocked
        if len(blocked):
            assert not tr.to_numpy()[
                bt.dates.get_indexer(blocked["date"]), [codes.index(c) for c in blocked["code"]]
            ].any()
    assert n_checked > 0, (
        "no held ETF was ever suspended on a rebalance date: the test checked nothing"
    )


def _style_pool(store: Store) -> tuple[list[pd.Timestamp], pd.DataFrame]:
    market = load_market(store)
    pool = market.info[market.info["category"].astype(str).isin(["broad", "size", "style"])]
    return list(market.rebalance_dates), pool


def test_style_inputs_say_what_the_risk_model_could_not_read(
    smoke_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot feed the risk model gives unavailable inputs naming the store."""
    dates, pool = _style_pool(smoke_store)

    def no_bars(*args: object, **kwargs: object) -> None:
        raise DataUnavailableError("store 'smoke': daily_bars.float_shares is unavailable")

    monkeypatch.setattr(style_inputs, "fit_cached", no_bars)
    got = load_style_inputs(smoke_store, dates=dates, end=dates[-1], etfs=pool)
    assert not got.ok and got.factor_returns.empty
    assert got.unavailable is not None
    assert "risk model cannot run on store 'smoke'" in got.unavailable
    assert "float_shares is unavailable" in got.unavailable


def test_style_inputs_let_a_bug_of_the_risk_model_through(
    smoke_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the project's named data errors become "unavailable"; anything else propagates."""
    dates, pool = _style_pool(smoke_store)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(style_inputs, "fit_cached", broken)
    with pytest.raises(ZeroDivisionError):
        load_style_inputs(smoke_store, dates=dates, end=dates[-1], etfs=pool)


def test_style_inputs_need_a_complete_period(smoke_store: Store) -> None:
    dates, pool = _style_pool(smoke_store)
    first_week = smoke_store.calendar().period_ends("W")[0]
    got = load_style_inputs(smoke_store, dates=dates, end=first_week, etfs=pool)
    assert got.unavailable == (
        f"store 'smoke' has no complete 'W' period of factor returns up to {first_week:%Y-%m-%d}"
    )


def test_report_summary_and_metrics(smoke_store: Store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SnappedDateWarning)
        book = ew.prepare(smoke_store, as_of="2026-10-30", train_window=104, min_train=39)
    m = Metrics()
    frame = ew.summary(book, metrics=m)
    assert book.start_date == pd.Timestamp("2025-01-02") and book.start_base == pd.Timestamp(
        "2024-12-27"
    )
    assert frame["status"].eq("ok").all()
    for key, res in book.results.items():
        bt = res.backtest
        assert bt is not None
        r, b = bt.net, bt.benchmark
        assert m[f"strategy.{key}.week"] == pytest.approx(r.iloc[-1])
        assert m[f"strategy.{key}.excess_week"] == pytest.approx(r.iloc[-1] - b.iloc[-1])
        since = r.index > book.start_base
        expect = np.prod(1 + r[since]) - np.prod(1 + b[since])
        assert m[f"strategy.{key}.excess_since_start"] == pytest.approx(expect)
        h = ew.holdings(book, key)
        assert h["weight"].sum() == pytest.approx(1.0)
        assert set(ew.changes(book, key).index) >= set(h.index)
    # the runner moves a mid-week date to the week-end; prepare refuses it
    with pytest.raises(AsOfPolicyError, match="not a week-end"):
        ew.prepare(smoke_store, as_of="2026-10-28", strategies=["hotspot"])
    assert policy_date(smoke_store, "2026-10-28", "week_end") == pd.Timestamp("2026-10-23")


@pytest.mark.slow
def test_planted_components_earn_positive_excess_on_default(default_store: Store) -> None:
    """Size rotation (the size factor's premium and drift), SmartBeta (style drifts timed from
    the risk model's style returns) and bond duration (the 10-year yield signal)."""
    inputs = load_inputs(default_store, cache=False)
    results = run_all(inputs, default_strategies(keys=["rotation", "smartbeta", "bond"]))
    for key in ("rotation", "smartbeta", "bond"):
        res = results[key]
        assert res.ok, (key, res.missing)
        stats = res.backtest.stats()  # type: ignore[union-attr]
        assert stats.n_periods > 300
        assert stats.excess_return > 0, f"{key}: annualized excess {stats.excess_return:.4f}"


@pytest.mark.real
def test_real_sample_runs_what_it_can(real_store: Store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = load_inputs(real_store, end="2024-09-30", cache=False)
    assert len(inputs.market.info) == 25
    assert inputs.market.end == pd.Timestamp("2024-09-30")
    assert len(inputs.market.splits) >= 3  # share splits of real ETFs are taken out of returns
    results = run_all(inputs)
    ran = {k for k, r in results.items() if r.ok}
    assert ran == {"industry", "hotspot"}
    for key in ("rotation", "smartbeta", "balance", "bond"):
        assert results[key].missing, key
    assert "bond_yields" in results["bond"].missing
    assert any("substitute" in n or "instead" in n for n in results["industry"].notes)
    for key in ran:
        bt = results[key].backtest
        assert bt is not None and len(bt.net) > 100
        assert np.allclose(bt.weights.sum(axis=1), 1.0)
        assert np.isfinite(bt.net).all() and bt.net.abs().max() < 0.3
