"""quantbook.evaluation: forward returns, IC, groups, long-short, turnover, statistics."""

from __future__ import annotations

import doctest
import importlib
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from quantbook import evaluation as ev
from scipy import stats as sps

ME = pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-29", "2024-04-30"])


@pytest.mark.parametrize(
    "module",
    [
        "quantbook.evaluation",
        "quantbook.evaluation.ic",
        "quantbook.evaluation.groups",
        "quantbook.evaluation.returns",
        "quantbook.evaluation.stats",
    ],
)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------- forward returns


def test_forward_returns_between_rebalance_dates() -> None:
    days = pd.to_datetime(
        ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-29", "2024-03-01", "2024-03-29"]
    )
    prices = pd.DataFrame(
        {
            "A": [9.0, 10.0, 11.0, 12.0, 13.0, 15.0],
            "S": [5.0, 4.0, 4.5, np.nan, np.nan, 6.0],  # suspended over Feb month-end
            "D": [8.0, 8.0, 8.8, 8.0, np.nan, np.nan],  # delisted after 2024-02-29
            "N": [np.nan, np.nan, np.nan, np.nan, 3.0, 3.3],  # listed in March
        },
        index=days,
    )
    rebal = ["2024-01-31", "2024-02-29", "2024-03-29"]
    fwd = ev.forward_returns(prices, rebal)
    assert fwd.index.equals(pd.DatetimeIndex(rebal)) and fwd.index.name == "date"
    np.testing.assert_allclose(fwd["A"].to_numpy()[:2], [0.2, 15 / 12 - 1], rtol=0, atol=1e-15)
    # S valued at its last close 4.5 on 2024-02-29
    np.testing.assert_allclose(fwd["S"].to_numpy()[:2], [0.125, 6 / 4.5 - 1], rtol=0, atol=1e-15)
    assert fwd["D"].iloc[0] == 0.0 and np.isnan(fwd["D"].iloc[1])  # no spurious 0 after delisting
    assert fwd["N"].isna().all()
    assert fwd.iloc[-1].isna().all()
    no_fill = ev.forward_returns(prices, rebal, fill_suspended=False)
    assert no_fill["S"].isna().iloc[:2].all()
    # without rebalance dates every row is one
    daily = ev.forward_returns(prices)
    assert daily.index.equals(prices.index) and daily["A"].iloc[0] == pytest.approx(1 / 9)


def test_forward_returns_unknown_rebalance_date_raises() -> None:
    prices = pd.DataFrame({"A": [1.0, 2.0]}, index=ME[:2])
    with pytest.raises(KeyError, match="2024-03-29"):
        ev.forward_returns(prices, ["2024-01-31", "2024-03-29"])


# ---------------------------------------------------------------- IC


def test_ic_exact_and_tradable() -> None:
    f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 5.0]], index=ME[:1], columns=list("ABCDE"))
    r = pd.DataFrame([[0.01, 0.03, 0.02, 0.04, -0.5]], index=ME[:1], columns=list("ABCDE"))
    tradable = pd.DataFrame([[True, True, True, True, False]], index=ME[:1], columns=f.columns)
    ic = ev.ic_series(f, r, tradable=tradable)
    assert ic.name == "IC" and ic.index.equals(f.index)
    assert ic.iloc[0] == pytest.approx(0.8, abs=1e-15)
    ric = ev.rank_ic_series(f, r, tradable=tradable)
    assert ric.name == "rank IC" and ric.iloc[0] == pytest.approx(0.8, abs=1e-15)
    # with E in the sample the IC is the plain Pearson correlation of the five pairs
    full = ev.ic_series(f, r).iloc[0]
    assert full == pytest.approx(sps.pearsonr(f.iloc[0], r.iloc[0])[0], abs=1e-14)
    # a missing tradable entry counts as not tradable
    partial = tradable.drop(columns="E")
    assert ev.ic_series(f, r, tradable=partial).iloc[0] == pytest.approx(0.8, abs=1e-15)


def test_ic_aligns_and_handles_missing() -> None:
    f = pd.DataFrame(
        [[1.0, 2.0, 3.0, np.nan], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]],
        index=ME[:3],
        columns=list("ABCD"),
    )
    # forward returns with columns in another order and without the last date
    r = pd.DataFrame(
        [[0.3, 0.1, 0.2, 0.3], [0.4, 0.1, 0.2, 0.3]], index=ME[:2], columns=list("DABC")
    )
    ic = ev.ic_series(f, r)
    assert ic.iloc[0] == pytest.approx(1.0) and ic.iloc[1] == pytest.approx(-1.0)
    assert np.isnan(ic.iloc[2])  # no forward returns: NaN, no warning


def test_ic_warnings_name_dates() -> None:
    f = pd.DataFrame([[1.0, 2.0, np.nan], [1.0, 1.0, 1.0]], index=ME[:2])
    r = pd.DataFrame([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], index=ME[:2])
    with pytest.warns(ev.TooFewStocksWarning, match="2024-01-31"):
        with pytest.warns(ev.DegenerateCrossSectionWarning, match="2024-02-29"):
            ic = ev.ic_series(f, r)
    assert ic.isna().all()
    with pytest.raises(ValueError, match="method"):
        ev.ic_series(f, r, method="kendall")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MultiIndex"):
        ev.ic_series(f.stack().to_frame(), r)


def test_rank_ic_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    f = pd.DataFrame(rng.integers(0, 4, (3, 30)).astype(float))
    r = pd.DataFrame(rng.normal(size=(3, 30)))
    f.iloc[1, :5] = np.nan
    ric = ev.rank_ic_series(f, r)
    for t in range(3):
        ok = f.iloc[t].notna()
        ref = sps.spearmanr(f.iloc[t][ok], r.iloc[t][ok])[0]
        assert ric.iloc[t] == pytest.approx(ref, abs=1e-14)


finite = st.floats(-100, 100, allow_nan=False, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (2, 15), elements=finite),
    arrays(np.float64, (2, 15), elements=finite),
    st.floats(0.01, 100),
    st.floats(-100, 100),
)
def test_ic_invariant_to_positive_affine(x: np.ndarray, y: np.ndarray, a: float, b: float) -> None:
    assume(np.all(x.std(axis=1) > 1e-2) and np.all(y.std(axis=1) > 1e-2))
    f, r = pd.DataFrame(x), pd.DataFrame(y)
    base = ev.ic_series(f, r).to_numpy()
    np.testing.assert_allclose(ev.ic_series(a * f + b, r).to_numpy(), base, atol=1e-9)
    np.testing.assert_allclose(ev.ic_series(-a * f + b, r).to_numpy(), -base, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int64, (2, 15), elements=st.integers(-50, 50)),
    arrays(np.float64, (2, 15), elements=finite),
)
def test_rank_ic_invariant_to_monotone_transform(k: np.ndarray, y: np.ndarray) -> None:
    x = k / 10.0  # a coarse grid: the transforms cannot merge distinct values into ties
    assume(np.all(np.ptp(x, axis=1) > 0) and np.all(np.ptp(y, axis=1) > 0))
    f, r = pd.DataFrame(x), pd.DataFrame(y)
    base = ev.rank_ic_series(f, r).to_numpy()
    for g in (np.exp, lambda v: v**3 + v, lambda v: np.arctan(v) * 7 - 3):
        np.testing.assert_allclose(ev.rank_ic_series(g(f), r).to_numpy(), base, atol=1e-12)


def test_icir_and_summary_exact() -> None:
    ic = pd.Series([0.1, 0.3, -0.1, 0.1, np.nan], index=ME.append(pd.DatetimeIndex(["2024-05-31"])))
    sd = math.sqrt(0.08 / 3)
    plain = ev.icir(ic, annualize=False)
    assert plain.value == pytest.approx(0.1 / sd, abs=1e-14)
    assert plain.label == "ICIR (not annualized)" and float(plain) == plain.value
    annual = ev.icir(ic, annualize=True, periods_per_year=52)
    assert annual.value == pytest.approx(0.1 / sd * math.sqrt(52), abs=1e-13)
    assert annual.label == "ICIR (annualized, x sqrt(52))"
    s = ev.ic_summary(ic.rename("rank IC"), annualize=True)
    assert (s.name, s.n_periods, s.share_positive) == ("rank IC", 4, 0.75)
    assert s.mean == pytest.approx(0.1, abs=1e-15) and s.std == pytest.approx(sd, abs=1e-15)
    assert s.t_stat == pytest.approx(0.1 / sd * 2, abs=1e-13)
    assert s.icir.value == pytest.approx(0.1 / sd * math.sqrt(12), abs=1e-13)
    assert (s.start, s.end) == (ME[0], ME[3])
    table = s.to_series()
    assert list(table.index) == [
        "rank IC mean",
        "rank IC std",
        "ICIR (annualized, x sqrt(12))",
        "t-stat",
        "rank IC > 0",
        "periods",
        "start",
        "end",
    ]
    assert s.to_frame().shape == (8, 1)
    empty = ev.ic_summary(pd.Series([np.nan]), annualize=False)
    assert empty.n_periods == 0 and math.isnan(empty.mean) and empty.start is None


def test_rolling_icir_uses_only_past_ic() -> None:
    ic = pd.Series([0.1, 0.3, 0.2, 0.4, -5.0])
    out = ev.rolling_icir(ic, window=2, annualize=False)
    expected = [
        np.nan,
        np.nan,
        0.2 / math.sqrt(0.02),
        0.25 / math.sqrt(0.005),
        0.3 / math.sqrt(0.02),
    ]
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-14, equal_nan=True)
    lag0 = ev.rolling_icir(ic, window=2, annualize=True, periods_per_year=4, lag=0)
    np.testing.assert_allclose(lag0.to_numpy()[1], 0.2 / math.sqrt(0.02) * 2, rtol=1e-14)


# ---------------------------------------------------------------- groups


def test_assign_groups_exact_and_matches_qcut() -> None:
    f = pd.DataFrame([[5.0, 1.0, 4.0, 2.0, 3.0, np.nan, 0.5, 9.0, 7.0, 8.0]], index=ME[:1])
    lab = ev.assign_groups(f, n_groups=5).iloc[0]
    # sorted 0.5,1,2,3,4,5,7,8,9 -> edges at positions 1.6, 3.2, 4.8, 6.4: 1.6, 3.2, 4.8, 7.4
    assert lab.tolist()[:5] == [4.0, 1.0, 3.0, 2.0, 2.0] and np.isnan(lab.iloc[5])
    assert lab.tolist()[6:] == [1.0, 5.0, 4.0, 5.0]
    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.normal(size=(6, 37)))
    x.iloc[2, :4] = np.nan
    x.iloc[4] = np.round(x.iloc[4], 1)  # ties
    for n in (3, 5, 10):
        ours = ev.assign_groups(x, n_groups=n)
        for t in range(len(x)):
            ok = x.iloc[t].notna()
            ref = pd.qcut(x.iloc[t][ok], n, labels=False) + 1
            np.testing.assert_array_equal(ours.iloc[t][ok].to_numpy(), ref.to_numpy())


def test_assign_groups_tradable_and_too_few() -> None:
    f = pd.DataFrame([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, np.nan, np.nan]], index=ME[:2])
    tradable = pd.DataFrame([[True, True, False, True, True], [True] * 5], index=ME[:2])
    with pytest.warns(ev.TooFewStocksWarning, match="2024-02-29"):
        lab = ev.assign_groups(f, n_groups=4, tradable=tradable)
    # date 1: 1, 2, 4, 5 valid -> edges 1.75, 3, 4.25
    assert lab.iloc[0].tolist()[:2] == [1.0, 2.0] and np.isnan(lab.iloc[0, 2])
    assert lab.iloc[0].tolist()[3:] == [3.0, 4.0] and lab.iloc[1].isna().all()
    lab3 = ev.assign_groups(f, n_groups=4, tradable=tradable, min_stocks=3)
    assert lab3.iloc[1].tolist()[:3] == [1.0, 2.0, 4.0]  # edges 1.5, 2, 2.5


def test_group_returns_exact() -> None:
    codes = [f"S{i}" for i in range(10)]
    f = pd.DataFrame(
        [list(range(10)), list(range(10))[::-1], list(range(10))],
        index=ME[:3],
        columns=codes,
        dtype=float,
    )
    r = pd.DataFrame(
        [np.arange(10) / 100, np.arange(10) / 100, [np.nan] * 10],
        index=ME[:3],
        columns=codes,
    )
    tradable = pd.DataFrame(True, index=ME[:3], columns=codes)
    tradable.iloc[0, 9] = False  # S9 closed limit-up at 2024-01-31: out of that period
    res = ev.group_returns(f, r, n_groups=5, tradable=tradable)
    # date 1: 9 stocks 0..8 -> groups {0,1},{2,3},{4},{5,6},{7,8} (qcut edges 1.6,3.2,4.8,6.4)
    np.testing.assert_allclose(
        res.returns.iloc[0].to_numpy(), [0.005, 0.025, 0.04, 0.055, 0.075], atol=1e-15
    )
    assert res.counts.iloc[0].tolist() == [2, 2, 1, 2, 2]
    # date 2: factor reversed -> group 1 holds the highest returns
    np.testing.assert_allclose(
        res.returns.iloc[1].to_numpy(), [0.085, 0.065, 0.045, 0.025, 0.005], atol=1e-15
    )
    assert res.returns.iloc[2].isna().all() and res.counts.iloc[2].sum() == 0
    np.testing.assert_allclose(res.long_short.iloc[:2].to_numpy(), [0.07, -0.08], atol=1e-15)
    assert np.isnan(res.long_short.iloc[2])
    assert res.win_rate == 0.5
    assert list(res.returns.columns) == [1, 2, 3, 4, 5]
    # turnover: top group {7,8} -> {0,1}: all replaced; middle group {4} -> {4,5}: half
    assert res.turnover.iloc[1].tolist() == [1.0, 1.0, 0.5, 1.0, 1.0]
    assert res.turnover.iloc[0].isna().all() and res.turnover.iloc[2].isna().all()
    neg = ev.group_returns(f, r, n_groups=5, tradable=tradable, direction=-1)
    np.testing.assert_allclose(neg.long_short.iloc[:2].to_numpy(), [-0.07, 0.08], atol=1e-15)
    table = res.to_frame()
    assert list(table.index) == [1, 2, 3, 4, 5, "long-short"]
    assert table.loc["long-short", "mean_return"] == pytest.approx(-0.005, abs=1e-15)
    assert table.loc[3, "mean_turnover"] == 0.5 and table.loc[1, "mean_stocks"] == 2.0
    assert res.ir(periods_per_year=12) == pytest.approx(
        -0.005 / np.std([0.07, -0.08], ddof=1) * math.sqrt(12), abs=1e-13
    )


def test_group_returns_too_few_stocks_warns_and_nan() -> None:
    f = pd.DataFrame([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], index=ME[:2])
    r = pd.DataFrame([[0.1, 0.2, 0.3], [0.1, np.nan, np.nan]], index=ME[:2])
    with pytest.warns(ev.TooFewStocksWarning, match="2024-02-29"):
        res = ev.group_returns(f, r, n_groups=2)
    assert res.returns.iloc[0].tolist() == pytest.approx([0.15, 0.3])
    assert res.returns.iloc[1].isna().all()
    with pytest.raises(ValueError, match="direction"):
        ev.group_returns(f, r, direction=2)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.int64, st.integers(10, 60), elements=st.integers(-1000, 1000), unique=True),
    st.integers(2, 10),
)
def test_groups_of_perfect_factor_are_increasing(k: np.ndarray, n_groups: int) -> None:
    assume(len(k) >= n_groups)
    y = k / 2000.0  # distinct returns in [-0.5, 0.5]
    r = pd.DataFrame([y])
    res = ev.group_returns(r, r, n_groups=n_groups)
    g = res.returns.iloc[0].to_numpy()
    # qcut's interpolated edges can leave a group empty when stocks < 2 x groups (NaN)
    assert np.all(np.diff(g[np.isfinite(g)]) > 0)
    assert res.counts.iloc[0].sum() == len(y) and res.long_short.iloc[0] > 0


def test_group_turnover_and_long_short_helpers() -> None:
    lab = pd.DataFrame(
        {"A": [1.0, 1.0, np.nan], "B": [1.0, 2.0, 1.0], "C": [2.0, 1.0, 1.0], "D": [2.0, 2.0, 2.0]}
    )
    to = ev.group_turnover(lab)
    assert to.iloc[1].tolist() == [0.5, 0.5]
    # group 1 {A,C} -> {B,C}: w 1/2 each; group 2 {B,D} -> {D}: 1/2 replaced
    assert to.iloc[2].tolist() == [0.5, 0.5]
    w = pd.DataFrame({"A": [0.2, 0.5], "B": [0.8, 0.0], "C": [np.nan, 0.5]})
    assert ev.one_side_turnover(w).iloc[1] == pytest.approx(0.8)
    g = pd.DataFrame({1: [0.01, 0.02], 2: [0.0, 0.0], 3: [0.03, -0.01]})
    np.testing.assert_allclose(ev.long_short_returns(g).to_numpy(), [0.02, -0.03], atol=1e-16)


# ---------------------------------------------------------------- statistics


def test_return_statistics_exact() -> None:
    r = pd.Series([0.1, -0.2, 0.05, 0.1], index=ME)
    growth = 1.1 * 0.8 * 1.05 * 1.1
    assert ev.annualized_return(r, periods_per_year=4) == pytest.approx(growth - 1, abs=1e-15)
    assert ev.annualized_return(r, periods_per_year=12) == pytest.approx(growth**3 - 1, abs=1e-14)
    vol = np.std(r, ddof=1)
    assert ev.annualized_volatility(r, periods_per_year=12) == pytest.approx(vol * math.sqrt(12))
    assert ev.sharpe_ratio(r, periods_per_year=12, risk_free=0.02) == pytest.approx(
        (growth**3 - 1 - 0.02) / (vol * math.sqrt(12)), abs=1e-14
    )
    assert ev.win_rate(r) == 0.75
    assert ev.long_short_ir(r) == pytest.approx(np.mean(r) / vol * math.sqrt(12), abs=1e-14)
    np.testing.assert_allclose(ev.net_value(r).to_numpy(), np.cumprod(1 + r.to_numpy()))
    assert ev.annualized_return(pd.Series([-1.0, 0.5])) == -1.0
    assert math.isnan(ev.annualized_return(pd.Series([], dtype=float)))


def test_max_drawdown_exact() -> None:
    r = pd.Series(
        [0.1, -0.1, -0.1, 0.3, -0.05], index=pd.date_range("2024-01-31", periods=5, freq="ME")
    )
    dd = ev.max_drawdown(r)
    assert dd.depth == pytest.approx(1 - 0.9 * 0.9, abs=1e-15)
    assert (dd.start, dd.end) == (r.index[1], r.index[2])
    assert dd.recovery == r.index[3]  # 1.1*.81*1.3 = 1.1583 >= 1.1
    first = ev.max_drawdown(pd.Series([-0.5, 0.1], index=["a", "b"]))
    assert (first.depth, first.start, first.end, first.recovery) == (0.5, "a", "a", None)
    flat = ev.max_drawdown(pd.Series([0.0, 0.1, 0.0]))
    assert (flat.depth, flat.start, flat.end) == (0.0, None, None)
    assert list(dd.to_series().index) == [
        "max drawdown",
        "drawdown start",
        "drawdown end",
        "recovery",
    ]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 0.5, allow_nan=False)))
def test_max_drawdown_of_increasing_nav_is_zero(r: np.ndarray) -> None:
    assert ev.max_drawdown(pd.Series(r)).depth == 0.0


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=st.floats(-0.5, 0.5, allow_nan=False)))
def test_max_drawdown_equals_loss_over_its_periods(r: np.ndarray) -> None:
    s = pd.Series(r)
    dd = ev.max_drawdown(s)
    nav = np.concatenate([[1.0], np.cumprod(1 + r)])
    brute = max(1 - nav[j] / nav[i] for i in range(len(nav)) for j in range(i, len(nav)))
    assert dd.depth == pytest.approx(brute, abs=1e-12)
    if dd.depth > 0:
        assert 1 - np.prod(1 + s.loc[dd.start : dd.end]) == pytest.approx(dd.depth, abs=1e-12)


def test_excess_return_methods() -> None:
    p = pd.Series([0.21, 0.0, 0.1], index=ME[:3])
    b = pd.Series([0.1, 0.0, 0.1, 0.5], index=ME)
    rel = ev.excess_return(p, b, periods_per_year=3)
    assert rel == pytest.approx((1.21 * 1.1) / (1.1 * 1.1) - 1, abs=1e-15)
    diff = ev.excess_return(p, b, periods_per_year=3, method="difference")
    assert diff == pytest.approx(1.21 * 1.1 - 1.1 * 1.1, abs=1e-15)
    hedged = ev.excess_return(p, b, periods_per_year=3, method="hedged")
    assert hedged == pytest.approx(0.11, abs=1e-15)
    with pytest.raises(ValueError, match="benchmark"):
        ev.excess_return(b, p)
    with pytest.raises(ValueError, match="method"):
        ev.excess_return(p, b, method="log")  # type: ignore[arg-type]


def test_portfolio_stats_result_object() -> None:
    r = pd.Series([0.1, -0.2, 0.05, 0.1], index=ME)
    b = pd.Series([0.05, -0.1, 0.0, 0.05], index=ME)
    s = ev.portfolio_stats(r, benchmark=b, turnover=pd.Series([np.nan, 0.4, 0.6, 0.5]))
    assert s.n_periods == 4 and (s.start, s.end) == (ME[0], ME[-1])
    assert s.total_return == pytest.approx(1.1 * 0.8 * 1.05 * 1.1 - 1, abs=1e-15)
    assert s.annual_return == pytest.approx(ev.annualized_return(r), abs=1e-15)
    assert s.sharpe == pytest.approx(s.annual_return / s.annual_volatility, abs=1e-15)
    assert s.max_drawdown.depth == pytest.approx(0.2, abs=1e-15) and s.win_rate == 0.75
    assert s.excess_return == pytest.approx(ev.excess_return(r, b), abs=1e-15)
    assert s.tracking_error == pytest.approx(np.std(r - b, ddof=1) * math.sqrt(12))
    assert s.information_ratio == pytest.approx(s.excess_return / s.tracking_error)
    assert s.mean_turnover == pytest.approx(0.5)
    table = s.to_series()
    assert "IR / Sharpe" in table.index and "annualized excess return (relative)" in table.index
    assert table["periods"] == 4 and table["start"] == ME[0]
    assert s.to_frame("top group").columns.tolist() == ["top group"]
    plain = ev.portfolio_stats(r, risk_free=0.03).to_series()
    assert "Sharpe (rf=0.03)" in plain.index and "tracking error" not in plain.index


def test_interior_nan_periods_warn() -> None:
    r = pd.Series([np.nan, 0.1, np.nan, 0.1, np.nan])
    with pytest.warns(ev.MissingPeriodsWarning, match="1 NaN period"):
        assert ev.annualized_return(r, periods_per_year=2) == pytest.approx(0.21)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ev.win_rate(pd.Series([np.nan, 0.1, 0.2, np.nan])) == 1.0  # edges: silent
