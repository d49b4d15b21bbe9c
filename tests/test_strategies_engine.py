"""The weekly ETF engine on toy markets with known prices, and the small rolling models.

Covers: the exact portfolio return of a one-week toy market (gross, costs, cash); weights that
sum to 1 (cash counted) every week whatever the targets, suspensions and listings; the rule
for a suspended or not yet listed ETF (never traded, frozen at its drifted weight, the rest
renormalized); drift and turnover; split adjustment; the logistic and ridge fits against
statsmodels; the walk-forward loop never using an outcome after the decision date; the cache.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from quantbook.data.cache import Cache
from quantbook.strategies.engine import CASH, Costs, backtest, period_return
from quantbook.strategies.market import adjust_splits
from quantbook.strategies.models import fit_logistic, fit_ridge, rolling_predict

WEEK = pd.to_datetime(["2024-01-05", "2024-01-12"])


def test_one_week_toy_market_exact_return() -> None:
    prices = pd.DataFrame({"A": [10.0, 11.0], "B": [20.0, 19.0]}, index=WEEK)
    targets = pd.DataFrame({"A": [0.6, 0.6], "B": [0.3, 0.3]}, index=WEEK)
    kappa = 0.001
    res = backtest(targets, prices=prices, cost_rates=kappa)
    gross = 0.6 * (11 / 10 - 1) + 0.3 * (19 / 20 - 1) + 0.1 * 0.0
    cost = kappa * (0.6 + 0.3)  # from all cash into A and B at the first close
    assert res.gross.iloc[0] == pytest.approx(gross, abs=1e-15)
    assert res.costs.iloc[0] == pytest.approx(cost, abs=1e-15)
    assert res.net.iloc[0] == pytest.approx((1 - cost) * (1 + gross) - 1, abs=1e-15)
    assert res.net.index[0] == WEEK[1]  # labelled by the week's end
    assert res.turnover.iloc[0] == pytest.approx(0.9)  # cash 1 -> 0.1
    # cash earning a rate, and a benchmark
    res2 = backtest(
        targets,
        prices=prices,
        cost_rates=0.0,
        cash_return=pd.Series([0.0, 0.002], index=WEEK),
        benchmark=pd.Series([0.01], index=WEEK[1:]),
    )
    assert res2.net.iloc[0] == pytest.approx(gross + 0.1 * 0.002, abs=1e-15)
    assert res2.excess.iloc[0] == pytest.approx(gross + 0.1 * 0.002 - 0.01, abs=1e-15)
    # drifted weights at the end of the week
    g = 1 + gross
    assert res.drifted.loc[WEEK[1], "A"] == pytest.approx(0.6 * 1.1 / g)
    assert res.drifted.loc[WEEK[1], CASH] == pytest.approx(0.1 / g)


def test_costs_by_category() -> None:
    info = pd.DataFrame({"category": ["broad", "bond", "money"]}, index=["A", "B", "M"])
    rates = Costs(equity_bps=8, by_category={"bond": 2, "money": 0}).rates(info)
    assert rates.to_dict() == {"A": 0.0008, "B": 0.0002, "M": 0.0}


def _three_weeks() -> pd.DatetimeIndex:
    return pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-19"])


def test_suspended_etf_keeps_its_weight_and_rest_is_renormalized() -> None:
    d = _three_weeks()
    prices = pd.DataFrame(
        {"A": [10.0, 12.0, 12.0], "B": [10.0, 10.0, 11.0], "C": [5.0, 5.0, 5.0]}, index=d
    )
    traded = pd.DataFrame(True, index=d, columns=prices.columns)
    traded.loc[d[1], "A"] = False  # A suspended on the second rebalance
    traded.loc[d[1], "C"] = False  # C suspended too, and not held
    targets = pd.DataFrame(
        {"A": [0.5, 0.0, 0.0], "B": [0.5, 0.5, 0.5], "C": [0.0, 0.5, 0.5]}, index=d
    )
    res = backtest(targets, prices=prices, traded=traded, cost_rates=0.001)
    w1 = res.weights.loc[d[1]]
    drift_a = 0.5 * 1.2 / (0.5 * 1.2 + 0.5 * 1.0)
    # A could not be sold: it keeps its drifted weight
    assert w1["A"] == pytest.approx(drift_a)
    # C could not be bought: its target goes to the tradable targets pro rata (B only)
    assert w1["C"] == 0.0
    assert w1["B"] == pytest.approx(1 - drift_a)
    assert w1.sum() == pytest.approx(1.0)
    # no cost is charged on A or C at d[1]
    assert res.costs.loc[d[1]] == pytest.approx(0.001 * abs(w1["B"] - res.drifted.loc[d[1], "B"]))
    blocked = res.blocked[res.blocked["date"] == d[1]].set_index("code")
    assert set(blocked.index) == {"A", "C"} and set(blocked["reason"]) == {"suspended"}
    # a week later both trade again and the targets are met
    assert res.weights.loc[d[2], "A"] == 0.0
    assert res.weights.loc[d[2], ["B", "C"]].tolist() == pytest.approx([0.5, 0.5])


def test_all_targets_untradable_goes_to_cash_and_unlisted_cannot_be_held() -> None:
    d = _three_weeks()
    prices = pd.DataFrame({"A": [np.nan, np.nan, 1.0], "B": [10.0, 10.0, 10.0]}, index=d)
    targets = pd.DataFrame({"A": [1.0, 1.0, 1.0], "B": [0.0, 0.0, 0.0]}, index=d)
    res = backtest(targets, prices=prices, cost_rates=0.0)
    assert res.weights.loc[d[0], CASH] == 1.0 and res.weights.loc[d[1], CASH] == 1.0
    assert res.weights.loc[d[2], "A"] == 1.0  # listed on the third week-end
    assert set(res.blocked["reason"]) == {"not listed"}
    assert res.net.tolist() == [0.0, 0.0]


def test_engine_rejects_bad_targets() -> None:
    d = _three_weeks()
    prices = pd.DataFrame({"A": [1.0, 1.0, 1.0]}, index=d)
    with pytest.raises(ValueError, match="above 1"):
        backtest(pd.DataFrame({"A": [1.2, 1.0, 1.0]}, index=d), prices=prices)
    with pytest.raises(ValueError, match="non-negative"):
        backtest(pd.DataFrame({"A": [-0.1, 1.0, 1.0]}, index=d), prices=prices)
    with pytest.raises(ValueError, match="increasing"):
        backtest(pd.DataFrame({"A": [1.0, 1.0, 1.0]}, index=d[::-1]), prices=prices)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_codes=st.integers(1, 5),
    n_weeks=st.integers(2, 12),
    p_susp=st.floats(0.0, 0.5),
)
def test_weights_sum_to_one_every_week(
    seed: int, n_codes: int, n_weeks: int, p_susp: float
) -> None:
    rng = np.random.default_rng(seed)
    d = pd.date_range("2024-01-05", periods=n_weeks, freq="7D")
    codes = [f"E{i}" for i in range(n_codes)]
    px = pd.DataFrame(
        np.exp(np.cumsum(rng.normal(0, 0.05, (n_weeks, n_codes)), axis=0)), index=d, columns=codes
    )
    listing = rng.integers(0, n_weeks, n_codes)
    for j in range(n_codes):
        px.iloc[: listing[j] if rng.random() < 0.3 else 0, j] = np.nan
    traded = px.notna() & (rng.random((n_weeks, n_codes)) > p_susp)
    raw = rng.random((n_weeks, n_codes)) * (rng.random((n_weeks, n_codes)) < 0.7)
    scale = rng.random(n_weeks)[:, None] / np.maximum(raw.sum(axis=1, keepdims=True), 1e-9)
    targets = pd.DataFrame(raw * scale, index=d, columns=codes)
    res = backtest(targets, prices=px, traded=traded, cost_rates=0.0005)
    assert np.allclose(res.weights.sum(axis=1), 1.0)
    assert np.allclose(res.drifted.sum(axis=1), 1.0)
    assert (res.weights >= -1e-12).all().all()
    # never traded where untradable: weight = drifted weight
    untradable = ~traded.reindex(index=d, columns=codes).to_numpy()
    w = res.weights[codes].to_numpy()
    dr = res.drifted[codes].to_numpy()
    assert np.allclose(w[untradable], dr[untradable])
    assert np.isfinite(res.net).all()


def test_period_return_and_splits() -> None:
    r = pd.Series([0.1, -0.1, 0.2], index=_three_weeks())
    assert period_return(r) == pytest.approx(1.1 * 0.9 * 1.2 - 1)
    assert period_return(r, start=_three_weeks()[0]) == pytest.approx(0.9 * 1.2 - 1)
    assert np.isnan(period_return(r, start=_three_weeks()[-1]))
    p = pd.DataFrame({"A": [1.0, 1.02, 0.255, 0.26], "B": [1.0, 1.1, 1.21, 1.0]})
    adj, events = adjust_splits(p)
    assert events["code"].tolist() == ["A"]
    assert adj["A"].pct_change().iloc[2] == pytest.approx(0.0)
    assert adj["A"].iloc[-1] == 0.26 and adj["B"].equals(p["B"])


def test_fits_match_statsmodels() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    z = 0.3 + X @ np.array([0.8, -0.4, 1.2])
    y = (rng.random(400) < 1 / (1 + np.exp(-z))).astype(float)
    m = fit_logistic(X, y, l2=0.0)
    ref = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    raw = m.coef / m.scale
    assert raw == pytest.approx(ref.params[1:], rel=1e-6)
    assert m.intercept - np.sum(raw * m.mean) == pytest.approx(ref.params[0], rel=1e-6)
    assert m.predict(X) == pytest.approx(ref.predict(sm.add_constant(X)), rel=1e-6)
    yr = z + rng.normal(size=400)
    r = fit_ridge(X, yr, l2=0.0)
    ols = sm.OLS(yr, sm.add_constant(X)).fit()
    assert r.predict(X) == pytest.approx(ols.fittedvalues, rel=1e-8)
    # the penalty shrinks
    assert np.abs(fit_ridge(X, yr, l2=1.0).coef).sum() < np.abs(r.coef).sum()


def test_rolling_predict_uses_only_known_outcomes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    idx = pd.date_range("2020-01-03", periods=120, freq="7D")
    X = pd.DataFrame(rng.normal(size=(120, 2)), index=idx, columns=["a", "b"])
    y = pd.Series(X["a"].to_numpy() * 0.5 + rng.normal(size=120), index=idx)
    base = rolling_predict(X, y, kind="ridge", window=40, min_train=20, retrain_every=3)
    k = 70
    y2 = y.copy()
    y2.iloc[k:] = rng.normal(size=120 - k) * 100  # outcomes of rows >= k are known after t_k
    X2 = X.copy()
    X2.iloc[k + 1 :] = 99.0
    alt = rolling_predict(X2, y2, kind="ridge", window=40, min_train=20, retrain_every=3)
    pd.testing.assert_series_equal(base.prediction.iloc[: k + 1], alt.prediction.iloc[: k + 1])
    assert not np.allclose(base.prediction.iloc[k + 2 :], alt.prediction.iloc[k + 2 :])
    assert base.prediction.iloc[:20].isna().all() and base.prediction.iloc[20:].notna().all()
    # the cache serves identical inputs and writes JSON (not Parquet) under its folder
    cache = Cache(tmp_path / "strategies", fingerprint="fp", version="v1")
    first = rolling_predict(
        X, y, kind="ridge", window=40, min_train=20, retrain_every=3, cache=cache
    )
    cache2 = Cache(tmp_path / "strategies", fingerprint="fp", version="v1")
    again = rolling_predict(
        X, y, kind="ridge", window=40, min_train=20, retrain_every=3, cache=cache2
    )
    assert cache2.misses == 0 and cache2.hits == len(first.models)
    pd.testing.assert_series_equal(first.prediction, again.prediction)
    assert list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.parquet"))
