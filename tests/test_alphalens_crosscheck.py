"""Cross-check of quantbook.evaluation against alphalens-reloaded on one random panel.

The panel: 61 month-ends x 200 stocks (seeded), adjusted closes with suspensions (interior
NaN), a factor correlated with the next return with 5 % missing values, and a ``tradable``
mask with 3 % of the cells False. alphalens gets the factor with the untradable cells removed
(our ``tradable`` excludes a stock from the period, which is the same sample).

What is compared (all to 1e-10, the observed maximum difference is ~1e-16):

- forward returns: ``forward_returns(prices)`` vs the ``1D`` column of
  ``alphalens.utils.get_clean_factor_and_forward_returns(..., periods=(1,))``;
- rank IC: ``rank_ic_series`` vs ``alphalens.performance.factor_information_coefficient``;
- IC (Pearson): alphalens has no Pearson IC, so ``ic_series`` is compared with
  ``scipy.stats.pearsonr`` per date on alphalens' cleaned ``factor_data``;
- quantile labels: ``assign_groups`` / ``GroupReturns.labels`` vs ``factor_quantile``
  (both are ``pandas.qcut``);
- quantile mean returns per date and over time:
  ``alphalens.performance.mean_return_by_quantile(..., demeaned=False)``;
- long-short: ``GroupReturns.long_short`` = 2 x ``compute_mean_returns_spread(mean, 5, 1)``.
  Deliberate difference: alphalens 0.5.x halves the spread (100 % gross book), the SPEC's
  long-short is top minus bottom, not halved;
- turnover: ``GroupReturns.turnover`` vs ``alphalens.performance.quantile_turnover`` on the
  dates where the group has the same number of stocks as on the previous date. Deliberate
  difference: alphalens counts new names / current names, we measure the equal-weight
  one-side turnover 0.5 x sum |w_t - w_{t-1}|; the two coincide when the size is unchanged.

alphalens-reloaded 0.5.1 runs under pandas 3.1: every call used here works. It emits only
``pandas.errors.Pandas4Warning`` (a DeprecationWarning) from ``alphalens/utils.py``:
``DatetimeIndex.dayofweek`` in ``infer_trading_calendar`` (line 205) and
``DataFrame.set_index(..., inplace=True)`` in ``compute_forward_returns`` (line 356); both
will break under pandas 4. Its progress messages go to stdout (captured here).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from quantbook import evaluation as ev
from quantbook.evaluation._panel import evaluation_sample
from scipy import stats as sps

al = pytest.importorskip("alphalens")

N_DATES, N_STOCKS, N_GROUPS, TOL = 61, 200, 5, 1e-10


@dataclass
class Panel:
    prices: pd.DataFrame
    factor: pd.DataFrame
    tradable: pd.DataFrame
    fwd: pd.DataFrame
    factor_data: pd.DataFrame  # alphalens' cleaned factor data
    alphalens_warnings: list[warnings.WarningMessage]


def _stacked(frame: pd.DataFrame) -> pd.Series:
    s = frame.stack()
    s.index = s.index.set_names(["date", "asset"])
    return s


@pytest.fixture(scope="module")
def panel() -> Panel:
    rng = np.random.default_rng(20240131)
    dates = pd.date_range("2019-01-31", periods=N_DATES, freq="BME")
    codes = [f"{i:06d}.{'SH' if i % 2 else 'SZ'}" for i in range(N_STOCKS)]
    rets = rng.normal(0.005, 0.08, (N_DATES, N_STOCKS))
    close = 10 * np.exp(np.cumsum(rets, axis=0))
    close[rng.integers(1, N_DATES - 1, 40), rng.integers(0, N_STOCKS, 40)] = np.nan  # suspended
    prices = pd.DataFrame(close, index=dates, columns=codes)
    nxt = np.vstack([rets[1:], np.zeros((1, N_STOCKS))])
    factor = pd.DataFrame(
        0.3 * nxt / 0.08 + rng.normal(size=(N_DATES, N_STOCKS)), index=dates, columns=codes
    )
    factor = factor.mask(rng.random(factor.shape) < 0.05)
    tradable = pd.DataFrame(rng.random(factor.shape) > 0.03, index=dates, columns=codes)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with contextlib.redirect_stdout(io.StringIO()):
            factor_data = al.utils.get_clean_factor_and_forward_returns(
                _stacked(factor.where(tradable)),
                prices,
                quantiles=N_GROUPS,
                periods=(1,),
                max_loss=0.5,
            )
    return Panel(
        prices=prices,
        factor=factor,
        tradable=tradable,
        fwd=ev.forward_returns(prices),
        factor_data=factor_data,
        alphalens_warnings=list(caught),
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence alphalens' pandas-4 deprecation warnings (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="alphalens")
        yield


def test_alphalens_emits_only_deprecation_warnings(panel: Panel) -> None:
    assert panel.alphalens_warnings, "alphalens warnings changed: update the module docstring"
    for w in panel.alphalens_warnings:
        assert issubclass(w.category, DeprecationWarning), str(w.message)
        assert "alphalens" in w.filename


def test_sample_is_the_same(panel: Panel) -> None:
    fd = panel.factor_data
    _, _, mask = evaluation_sample(panel.factor, panel.fwd, panel.tradable)
    assert int(mask.sum()) == len(fd)
    # the last date has no forward return: alphalens drops it, we keep it as NaN
    assert fd.index.get_level_values("date").unique().equals(panel.factor.index[:-1])
    ours = _stacked(pd.DataFrame(mask, index=panel.factor.index, columns=panel.factor.columns))
    assert ours[ours].index.equals(fd.index)


def test_forward_returns_match(panel: Panel) -> None:
    fd = panel.factor_data
    ours = _stacked(panel.fwd).reindex(fd.index)
    diff = (ours - fd["1D"]).abs().max()
    assert ours.notna().all() and diff < TOL


def test_rank_ic_matches_factor_information_coefficient(panel: Panel) -> None:
    with _quiet():
        ref = al.performance.factor_information_coefficient(panel.factor_data)["1D"]
    ours = ev.rank_ic_series(panel.factor, panel.fwd, tradable=panel.tradable)
    assert np.isnan(ours.iloc[-1])
    ours = ours.iloc[:-1]
    assert ref.index.equals(ours.index)
    assert (ours - ref).abs().max() < TOL


def test_ic_matches_pearson_on_alphalens_sample(panel: Panel) -> None:
    fd = panel.factor_data
    ref = fd.groupby(level="date").apply(lambda g: sps.pearsonr(g["factor"], g["1D"])[0])
    ours = ev.ic_series(panel.factor, panel.fwd, tradable=panel.tradable).iloc[:-1]
    assert ref.index.equals(ours.index)
    assert (ours - ref).abs().max() < TOL


def test_quantile_labels_match(panel: Panel) -> None:
    fd = panel.factor_data
    res = ev.group_returns(panel.factor, panel.fwd, n_groups=N_GROUPS, tradable=panel.tradable)
    ours = _stacked(res.labels).reindex(fd.index)
    np.testing.assert_array_equal(ours.to_numpy(), fd["factor_quantile"].to_numpy(dtype=float))
    assert int(res.labels.notna().sum().sum()) == len(fd)
    # assign_groups on the factor masked to alphalens' sample gives the same labels
    sample = panel.fwd.notna() & panel.tradable
    lab = ev.assign_groups(panel.factor.where(sample), n_groups=N_GROUPS)
    pd.testing.assert_frame_equal(lab, res.labels)


def test_quantile_mean_returns_match(panel: Panel) -> None:
    fd = panel.factor_data
    with _quiet():
        by_date, _ = al.performance.mean_return_by_quantile(fd, by_date=True, demeaned=False)
        overall, _ = al.performance.mean_return_by_quantile(fd, by_date=False, demeaned=False)
    ref = by_date["1D"].unstack(level="factor_quantile")
    res = ev.group_returns(panel.factor, panel.fwd, n_groups=N_GROUPS, tradable=panel.tradable)
    ours = res.returns.iloc[:-1]
    assert ref.index.equals(ours.index) and list(ref.columns) == list(ours.columns)
    assert (ours - ref).abs().max().max() < TOL
    diff_overall = (ours.mean() - overall["1D"]).abs().max()
    assert diff_overall < TOL


def test_long_short_is_twice_alphalens_spread(panel: Panel) -> None:
    fd = panel.factor_data
    with _quiet():
        by_date, _ = al.performance.mean_return_by_quantile(fd, by_date=True, demeaned=False)
        spread, _ = al.performance.compute_mean_returns_spread(by_date, N_GROUPS, 1)
    res = ev.group_returns(panel.factor, panel.fwd, n_groups=N_GROUPS, tradable=panel.tradable)
    ours = res.long_short.iloc[:-1]
    assert ((ours - 2 * spread["1D"]).abs()).max() < TOL
    neg = ev.group_returns(
        panel.factor, panel.fwd, n_groups=N_GROUPS, tradable=panel.tradable, direction=-1
    )
    assert ((neg.long_short.iloc[:-1] + 2 * spread["1D"]).abs()).max() < TOL


def test_turnover_matches_where_group_size_is_unchanged(panel: Panel) -> None:
    res = ev.group_returns(panel.factor, panel.fwd, n_groups=N_GROUPS, tradable=panel.tradable)
    compared = 0
    for q in range(1, N_GROUPS + 1):
        with _quiet():
            ref = al.performance.quantile_turnover(panel.factor_data["factor_quantile"], q)
        counts = res.counts[q].iloc[:-1]
        same = (counts == counts.shift(1)).to_numpy()
        ours = res.turnover[q].iloc[:-1]
        assert ref.index.equals(ours.index)
        d = (ours[same] - ref[same]).abs()
        assert d.max() < TOL
        compared += int(same.sum())
        # elsewhere the definitions differ but stay close (sizes differ by a name or two)
        assert (ours - ref).abs().max() < 0.1
    assert compared >= 20


def test_evaluate_factor_matches_alphalens(panel: Panel) -> None:
    """The one factor evaluation: IC, rank IC, quantile returns and the IC summary."""
    fd = panel.factor_data
    with _quiet():
        ref_ric = al.performance.factor_information_coefficient(fd)["1D"]
        by_date, _ = al.performance.mean_return_by_quantile(fd, by_date=True, demeaned=False)
    res = ev.evaluate_factor(panel.factor, panel.fwd, quantiles=N_GROUPS, tradable=panel.tradable)
    assert (res.rank_ic.iloc[:-1] - ref_ric).abs().max() < TOL
    ours = res.groups.returns.iloc[:-1]
    assert (ours - by_date["1D"].unstack(level="factor_quantile")).abs().max().max() < TOL
    st = res.statistics()
    assert abs(st["rank_ic_mean"] - ref_ric.mean()) < TOL
    assert st["n_periods"] == len(ref_ric)
    # alphalens' t-statistic of the IC mean (scipy's one-sample t-test against 0)
    t_ref = sps.ttest_1samp(ref_ric, 0.0).statistic
    assert abs(st["rank_ic_t"] - t_ref) < 1e-8
