"""The one factor evaluation (quantbook.evaluation.factor) and the statistics vocabulary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from quantbook import evaluation as ev
from quantbook.evaluation import STATISTICS, compare, evaluate_factor, mean_t_stat
from quantbook.evaluation.vocabulary import UnknownStatisticError
from quantbook.reports import behavior_monthly as bm
from quantbook.reports import gan_gru_monthly as gg
from quantbook.reports import mhc_vs_mlp as mv


def _panel(seed: int = 0, t: int = 8, n: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-31", periods=t, freq="ME")
    codes = [f"S{i:02d}" for i in range(n)]
    f = pd.DataFrame(rng.standard_normal((t, n)), index=dates, columns=codes)
    r = 0.02 * f + 0.05 * pd.DataFrame(rng.standard_normal((t, n)), index=dates, columns=codes)
    r.iloc[-1] = np.nan  # the last formation date has no forward return yet
    return f, r


def test_evaluate_factor_against_a_hand_computation() -> None:
    f, r = _panel()
    res = evaluate_factor(f, r, quantiles=5)
    st = res.statistics()
    ic = pd.Series([np.corrcoef(f.iloc[i], r.iloc[i])[0, 1] for i in range(len(f) - 1)])
    n = len(ic)
    assert st["n_periods"] == n == 7
    assert st["ic_mean"] == pytest.approx(ic.mean())
    assert st["ic_std"] == pytest.approx(ic.std(ddof=1))
    assert st["icir"] == pytest.approx(ic.mean() / ic.std(ddof=1))
    assert st["icir_annual"] == pytest.approx(ic.mean() / ic.std(ddof=1) * math.sqrt(12))
    assert st["ic_t"] == pytest.approx(ic.mean() / ic.std(ddof=1) * math.sqrt(n))
    assert st["ic_positive"] == pytest.approx((ic > 0).mean())
    # quintiles of 30 stocks: 6 each; top minus bottom, long-short statistics
    top = [r.iloc[i][f.iloc[i].rank() > 24].mean() for i in range(n)]
    bottom = [r.iloc[i][f.iloc[i].rank() <= 6].mean() for i in range(n)]
    ls = pd.Series(np.subtract(top, bottom), index=f.index[:n])
    pd.testing.assert_series_equal(res.long_short, ls, check_names=False)
    assert st["ls_ir"] == pytest.approx(ls.mean() / ls.std() * math.sqrt(12))
    assert st["ls_annual"] == pytest.approx(np.prod(1 + ls) ** (12 / n) - 1)
    assert st["win_rate"] == pytest.approx((ls > 0).mean())
    assert st["month_ls"] == pytest.approx(ls.iloc[-1])
    assert st["ls_n_periods"] == n and st["ls_end"] == f.index[n - 1]
    # top group against the equal-weighted sample
    bench = r.iloc[:n].mean(axis=1)
    rel = (np.prod(1 + np.array(top)) / np.prod(1 + bench)) ** (12 / n) - 1
    assert st["top_excess_return"] == pytest.approx(rel)
    assert st["top_turnover"] == pytest.approx(res.groups.turnover[5].mean())
    assert res.by_group_ic.empty and res.by_group_excess.empty


def test_direction_minus_one_is_long_the_bottom_group() -> None:
    f, r = _panel(1)
    up, down = evaluate_factor(f, r), evaluate_factor(f, r, direction=-1)
    pd.testing.assert_series_equal(up.long_short, -down.long_short)
    assert down.top_group == 1 and up.top_group == 5
    pd.testing.assert_series_equal(down.top_returns, up.groups.returns[1].dropna())


def test_by_group_ic_and_excess() -> None:
    f, r = _panel(2, n=40)
    industry = pd.DataFrame(
        np.where(np.arange(40) < 20, "A", "B")[None, :].repeat(len(f), axis=0),
        index=f.index,
        columns=f.columns,
    )
    res = evaluate_factor(f, r, groups=industry, group_min_stocks=5)
    assert list(res.by_group_ic.columns) == ["A", "B"]
    a = f.columns[:20]
    ic_a = ev.ic_series(f[a], r[a], min_stocks=5)
    pd.testing.assert_series_equal(res.by_group_ic["A"], ic_a, check_names=False)
    lab = ev.assign_groups(f[a].where(r[a].notna()), n_groups=5, min_stocks=5)
    exc = r[a].where(lab == 5).mean(axis=1) - r[a].mean(axis=1)
    pd.testing.assert_series_equal(
        res.by_group_excess["A"].iloc[:-1], exc.iloc[:-1], check_names=False
    )
    assert np.isnan(res.by_group_excess["A"].iloc[-1])


def test_t_statistic_guard() -> None:
    assert math.isnan(mean_t_stat(pd.Series([0.1])))  # fewer than 2 periods
    assert math.isnan(mean_t_stat(pd.Series([0.1, 0.1, np.nan])))  # zero std
    # two periods are enough: mean 0.2, std 0.1 * sqrt(2), t = 0.2 * sqrt(2) / (0.1 * sqrt(2))
    assert mean_t_stat(pd.Series([0.1, 0.3])) == pytest.approx(2.0)
    s = ev.ic_summary(pd.Series([0.1, 0.3, -0.1, 0.1]), annualize=False)
    assert s.t_stat == mean_t_stat(pd.Series([0.1, 0.3, -0.1, 0.1]))
    f, r = _panel(3, t=2)  # one period with an IC
    assert math.isnan(evaluate_factor(f, r).statistics()["ic_t"])


def test_compare_shape_and_labels() -> None:
    f, r = _panel()
    a, b = evaluate_factor(f, r), evaluate_factor(-f, r)
    keys = ["ic_mean", "ic_t", "n_periods", "start"]
    out = compare({"a": a, "b": b}, keys=keys)
    assert out.shape == (4, 2) and list(out.columns) == ["a", "b"]
    assert list(out.index) == keys
    assert out.loc["ic_mean", "a"] == pytest.approx(-out.loc["ic_mean", "b"])
    labelled = compare({"a": a}, keys=keys, labels=True)
    assert list(labelled.index) == ["IC mean", "IC t-stat", "Periods", "First period"]
    full = compare({"a": a})
    assert list(full.index) == list(a.statistics().index)
    with pytest.raises(UnknownStatisticError, match="not_a_statistic"):
        compare({"a": a}, keys=["not_a_statistic"])


def test_vocabulary_covers_every_statistic_the_reports_use() -> None:
    f, r = _panel()
    used = set(evaluate_factor(f, r).statistics().index)
    used |= set(bm._SUMMARY_COLS)
    used |= {"ic_mean", "rank_ic_mean", "ls_ir", "ls_annual", "ls_sharpe", "win_rate"}
    used |= set(gg._STATISTIC_KEYS) | {"end", "ic_latest", "ic_1y", "months_1y"}
    used |= set(mv._IC_KEYS) | {"pure_cum_return", "pure_t", "top_turnover", "pure_max_drawdown"}
    used |= set(evaluate_factor(f, r).quantile_table().columns) | set(bm._QUINTILE_COLS)
    used |= {"excess_latest", "excess_1y", "n_stocks"}  # gan_gru per-industry tables
    missing = used - set(STATISTICS)
    assert not missing, missing
    for key, stat in STATISTICS.items():
        assert stat.key == key and stat.label and stat.note
        if stat.format:
            format(1.0 if "d" not in stat.format else 1, stat.format)
    assert len({s.label for s in STATISTICS.values()}) == len(STATISTICS)


def test_report_tables_show_the_vocabulary_labels() -> None:
    frame = pd.DataFrame(
        [[24.0, 0.05, 2.5, 0.04, 0.3, 0.1, 1.8, 0.7, -0.05]],
        columns=[*mv._IC_KEYS, "pure_cum_return", "pure_t", "top_turnover", "pure_max_drawdown"],
    )
    shown = mv.show_comparison(frame)
    assert shown.labels == {k: STATISTICS[k].label for k in frame.columns}
    assert shown.formats["ic_t"] == STATISTICS["ic_t"].format
    assert mv.show_per_window(frame[list(mv._IC_KEYS)]).labels["n_periods"] == "Periods"
    text = repr(shown)
    assert "IC t-stat" in text and "ic_t" not in text
