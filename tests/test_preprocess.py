"""Cross-sectional preprocessing: exact small examples, properties, statsmodels cross-check."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
import quantbook.preprocess as pp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from quantbook.evaluation import (
    DegenerateCrossSectionWarning,
    TooFewStocksWarning,
    cap_weighted_zscore,
    neutralize,
    preprocess_factor,
    winsorize,
    winsorize_mad,
    winsorize_sigma,
    zscore,
)

D1 = pd.to_datetime(["2024-01-31"])
D2 = pd.to_datetime(["2024-01-31", "2024-02-29"])
CODES = ["000001", "000002", "000003", "000004", "000005"]


def row(values: list[float], index: pd.Index = D1) -> pd.DataFrame:
    return pd.DataFrame([values], index=index, columns=CODES[: len(values)])


def test_doctests() -> None:
    result = doctest.testmod(pp)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------- winsorize


def test_winsorize_mad_exact() -> None:
    f = row([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, raw MAD 1
    assert winsorize_mad(f).iloc[0].tolist() == [1.0, 2.0, 3.0, 4.0, 8.0]
    assert winsorize_mad(f, k=1.0).iloc[0].tolist() == [2.0, 2.0, 3.0, 4.0, 4.0]
    scaled = winsorize_mad(f, k=1.0, scaled=True).iloc[0].to_numpy()
    c = pp.MAD_NORMAL_SCALE
    np.testing.assert_allclose(scaled, [3 - c, 2.0, 3.0, 4.0, 3 + c], rtol=0, atol=1e-15)
    assert c == pytest.approx(1 / 0.6744897501960817, abs=1e-15)


def test_winsorize_mad_keeps_nan_and_index() -> None:
    f = pd.DataFrame(
        [[1.0, np.nan, 3.0, 4.0, 100.0], [5.0, 5.0, 6.0, np.nan, -50.0]],
        index=D2,
        columns=CODES,
    )
    out = winsorize_mad(f, k=2.0)
    assert out.index.equals(f.index) and out.columns.equals(f.columns)
    # row 1: values 1,3,4,100 -> median 3.5, |dev| 2.5,.5,.5,96.5 -> MAD 1.5, band [0.5, 6.5]
    assert out.iloc[0].tolist()[:1] == [1.0] and np.isnan(out.iloc[0, 1])
    assert out.iloc[0, 4] == 6.5
    # row 2: 5,5,6,-50 -> median 5, |dev| 0,0,1,55 -> MAD 0.5, band [4, 6]
    assert out.iloc[1, [0, 1, 2, 4]].tolist() == [5.0, 5.0, 6.0, 4.0]


def test_winsorize_mad_zero_mad_left_unchanged_with_warning() -> None:
    f = pd.DataFrame([[1.0, 1.0, 1.0, 1.0, 9.0], [1.0, 2.0, 3.0, 4.0, 5.0]], index=D2)
    with pytest.warns(DegenerateCrossSectionWarning, match="2024-01-31"):
        out = winsorize_mad(f)
    assert out.iloc[0].tolist() == [1.0, 1.0, 1.0, 1.0, 9.0]


def test_winsorize_mad_within_groups() -> None:
    f = pd.DataFrame([[1.0, 2.0, 3.0, 100.0, 10.0, 20.0, 30.0, 7.0]], index=D1)
    g = pd.DataFrame([["A", "A", "A", "A", "B", "B", "B", None]], index=D1)
    out = winsorize_mad(f, k=1.0, groups=g).iloc[0]
    # A: median 2.5, MAD 1 -> [1.5, 3.5]; B: median 20, MAD 10 -> [10, 30]; no label -> NaN
    assert out.iloc[:7].tolist() == [1.5, 2.0, 3.0, 3.5, 10.0, 20.0, 30.0]
    assert np.isnan(out.iloc[7])


def test_winsorize_sigma_exact() -> None:
    f = row([-1.0, 0.0, 1.0, 0.0, 10.0])  # mean 2, std sqrt(20.5)
    out = winsorize_sigma(f, k=1.0).iloc[0].to_numpy()
    np.testing.assert_allclose(out, [-1, 0, 1, 0, 2 + np.sqrt(20.5)], rtol=0, atol=1e-14)
    # second pass recomputes the statistics from the clipped values
    x1 = out
    mu, sd = x1.mean(), x1.std(ddof=1)
    expected = np.clip(x1, mu - sd, mu + sd)
    out2 = winsorize_sigma(f, k=1.0, n_iter=2).iloc[0].to_numpy()
    np.testing.assert_allclose(out2, expected, rtol=0, atol=1e-14)
    assert winsorize_sigma(f).iloc[0].tolist() == f.iloc[0].tolist()  # nothing beyond 3 sd


def test_winsorize_dispatch() -> None:
    f = row([1.0, 2.0, 3.0, 4.0, 100.0])
    pd.testing.assert_frame_equal(winsorize(f), winsorize_mad(f, k=5.0))
    pd.testing.assert_frame_equal(winsorize(f, method="sigma"), winsorize_sigma(f, k=3.0))
    pd.testing.assert_frame_equal(winsorize(f, k=1.0), winsorize_mad(f, k=1.0))
    with pytest.raises(ValueError, match="method"):
        winsorize(f, method="iqr")  # type: ignore[arg-type]


# ---------------------------------------------------------------- standardize


def test_zscore_exact() -> None:
    assert zscore(row([1.0, 2.0, 3.0])).iloc[0].tolist() == [-1.0, 0.0, 1.0]
    z0 = zscore(row([1.0, 2.0, 3.0]), ddof=0).iloc[0].to_numpy()
    np.testing.assert_allclose(z0, [-np.sqrt(1.5), 0.0, np.sqrt(1.5)], rtol=0, atol=1e-15)
    z = zscore(row([1.0, np.nan, 3.0])).iloc[0]
    assert z.iloc[0] == pytest.approx(-np.sqrt(0.5), abs=1e-15) and np.isnan(z.iloc[1])


def test_zscore_constant_row_is_nan_with_warning() -> None:
    f = pd.DataFrame([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]], index=D2)
    with pytest.warns(DegenerateCrossSectionWarning, match="2024-01-31"):
        z = zscore(f)
    assert z.iloc[0].isna().all() and z.iloc[1].tolist() == [-1.0, 0.0, 1.0]


def test_zscore_within_groups() -> None:
    f = pd.DataFrame([[1.0, 2.0, 3.0, 10.0, 30.0]], index=D1)
    g = pd.DataFrame([["A", "A", "A", "B", "B"]], index=D1)
    z = zscore(f, groups=g).iloc[0].to_numpy()
    s = 10 / np.sqrt(200)  # B: mean 20, std sqrt(200)
    np.testing.assert_allclose(z, [-1, 0, 1, -s, s], rtol=0, atol=1e-15)


def test_cap_weighted_zscore_exact() -> None:
    f = row([1.0, 2.0, 3.0, 4.0])
    cap = row([1.0, 1.0, 2.0, np.nan])
    z = cap_weighted_zscore(f, cap).iloc[0]
    # valid: 1,2,3 with weights .25,.25,.5 -> cap mean 2.25, equal-weight std 1
    assert z.iloc[:3].tolist() == [-1.25, -0.25, 0.75] and np.isnan(z.iloc[3])


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (3, 12), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    arrays(np.float64, (3, 12), elements=st.floats(1.0, 1e4)),
)
def test_zscore_properties(x: np.ndarray, cap: np.ndarray) -> None:
    f = pd.DataFrame(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        z = zscore(f).to_numpy()
        zc = cap_weighted_zscore(f, pd.DataFrame(cap)).to_numpy()
    for t in range(x.shape[0]):
        if x[t].std() < 1e-6 * max(1.0, np.abs(x[t]).max()):
            continue
        assert abs(z[t].mean()) < 1e-9
        assert abs(z[t].std(ddof=1) - 1.0) < 1e-9
        w = cap[t] / cap[t].sum()
        assert abs((w * zc[t]).sum()) < 1e-9
        assert abs(zc[t].std(ddof=1) - 1.0) < 1e-9


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, 15, elements=st.floats(-100, 100, allow_nan=False)),
    st.floats(0.01, 100),
    st.floats(-100, 100),
)
def test_zscore_invariant_to_positive_affine(x: np.ndarray, a: float, b: float) -> None:
    if x.std() < 1e-3:
        return
    f = pd.DataFrame([x])
    np.testing.assert_allclose(zscore(a * f + b), zscore(f), rtol=0, atol=1e-8)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, 25, elements=st.floats(-1e3, 1e3, allow_nan=False)), st.floats(0.5, 8))
def test_winsorize_mad_band(x: np.ndarray, k: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        out = winsorize_mad(pd.DataFrame([x]), k=k).iloc[0].to_numpy()
    med = np.median(x)
    mad = np.median(np.abs(x - med))
    if mad == 0:
        np.testing.assert_array_equal(out, x)
        return
    assert np.all(out >= med - k * mad - 1e-9) and np.all(out <= med + k * mad + 1e-9)
    inside = np.abs(x - med) <= k * mad
    np.testing.assert_array_equal(out[inside], x[inside])
    # clipping preserves the order of the values
    assert np.all(np.diff(out[np.argsort(x, kind="stable")]) >= 0)


# ---------------------------------------------------------------- neutralize


def test_neutralize_industry_exact() -> None:
    f = pd.DataFrame([[1.0, 3.0, 10.0, 20.0, 5.0]], index=D1)
    ind = pd.DataFrame([["A", "A", "B", "B", None]], index=D1)
    out = neutralize(f, industry=ind).iloc[0].to_numpy()
    np.testing.assert_allclose(out[:4], [-1.0, 1.0, -5.0, 5.0], rtol=0, atol=1e-12)
    assert np.isnan(out[4])


def test_neutralize_industry_and_cap_recovers_planted_residual() -> None:
    ind = pd.DataFrame([["A", "A", "A", "B", "B", "B"]], index=D1)
    lncap = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    e = np.array([1.0, -2.0, 1.0, -1.0, 2.0, -1.0])  # orthogonal to dummies and ln cap
    y = np.array([5.0, 5.0, 5.0, -3.0, -3.0, -3.0]) + 0.7 * lncap + e
    out = neutralize(
        pd.DataFrame([y], index=D1),
        industry=ind,
        float_cap=pd.DataFrame([np.exp(lncap)], index=D1),
    )
    np.testing.assert_allclose(out.iloc[0].to_numpy(), e, rtol=0, atol=1e-12)


def test_neutralize_exposures_with_intercept_and_weights() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    e = np.array([1.0, -1.0, -1.0, 1.0])  # orthogonal to 1 and x
    y = 2.0 + 3.0 * x + e
    out = neutralize(pd.DataFrame([y]), exposures={"ret20": pd.DataFrame([x])})
    np.testing.assert_allclose(out.iloc[0].to_numpy(), e, rtol=0, atol=1e-12)
    # WLS: residual orthogonal to the regressors under the weights
    w = np.array([1.0, 2.0, 3.0, 4.0])
    res = neutralize(
        pd.DataFrame([y]), exposures={"x": pd.DataFrame([x])}, weights=pd.DataFrame([w])
    ).iloc[0]
    res_arr = res.to_numpy()
    assert abs((w * res_arr).sum()) < 1e-12 and abs((w * res_arr * x).sum()) < 1e-12


def test_neutralize_too_few_stocks_warns() -> None:
    f = pd.DataFrame([[1.0, 2.0, np.nan, np.nan], [1.0, 2.0, 3.0, 5.0]], index=D2)
    ind = pd.DataFrame([["A", "B", "A", "B"]] * 2, index=D2)
    with pytest.warns(TooFewStocksWarning, match="2024-01-31"):
        out = neutralize(f, industry=ind)
    assert out.iloc[0].isna().all()
    np.testing.assert_allclose(out.iloc[1].to_numpy(), [-1, -1.5, 1, 1.5], atol=1e-12)


def test_neutralize_matches_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(7)
    n_dates, n = 4, 60
    idx = pd.date_range("2024-01-31", periods=n_dates, freq="ME")
    labels = np.array(list("ABCDE"))[rng.integers(0, 5, (n_dates, n))]
    ind = pd.DataFrame(labels, index=idx)
    cap = pd.DataFrame(np.exp(rng.normal(22, 1, (n_dates, n))), index=idx)
    f = pd.DataFrame(rng.normal(size=(n_dates, n)), index=idx)
    f.iloc[1, 3] = np.nan
    w = pd.DataFrame(rng.uniform(0.5, 2.0, (n_dates, n)), index=idx)
    ours = neutralize(f, industry=ind, float_cap=cap)
    ours_w = neutralize(f, industry=ind, float_cap=cap, weights=w)
    for t in range(n_dates):
        ok = f.iloc[t].notna().to_numpy()
        dummies = pd.get_dummies(ind.iloc[t][ok]).astype(float)
        x = np.column_stack([dummies.to_numpy(), np.log(cap.iloc[t][ok].to_numpy())])
        y = f.iloc[t][ok].to_numpy()
        ref = sm.OLS(y, x).fit().resid
        np.testing.assert_allclose(ours.iloc[t][ok].to_numpy(), ref, rtol=0, atol=1e-12)
        ref_w = y - x @ sm.WLS(y, x, weights=w.iloc[t][ok].to_numpy()).fit().params
        np.testing.assert_allclose(ours_w.iloc[t][ok].to_numpy(), ref_w, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, 20, elements=st.floats(-10, 10, allow_nan=False)),
    arrays(np.int64, 20, elements=st.integers(0, 2)),
    arrays(np.float64, 20, elements=st.floats(1e8, 1e11)),
)
def test_neutralized_orthogonal_to_dummies_and_lncap(
    y: np.ndarray, codes: np.ndarray, cap: np.ndarray
) -> None:
    ind = pd.DataFrame([np.array(["X", "Y", "Z"])[codes]])
    out = neutralize(pd.DataFrame([y]), industry=ind, float_cap=pd.DataFrame([cap]))
    e = out.iloc[0].to_numpy()
    scale = max(1.0, np.abs(y).max())
    for c in np.unique(codes):
        assert abs(e[codes == c].sum()) < 1e-8 * scale
    lncap = np.log(cap)
    assert abs((e * (lncap - lncap.mean())).sum()) < 1e-7 * scale


def test_preprocess_factor_pipeline() -> None:
    rng = np.random.default_rng(3)
    f = pd.DataFrame(rng.standard_t(3, size=(2, 40)))
    ind = pd.DataFrame(np.array(list("AB"))[rng.integers(0, 2, (2, 40))])
    cap = pd.DataFrame(np.exp(rng.normal(20, 1, (2, 40))))
    out = preprocess_factor(f, industry=ind, float_cap=cap)
    expected = zscore(neutralize(zscore(winsorize_mad(f)), industry=ind, float_cap=cap))
    pd.testing.assert_frame_equal(out, expected)
    np.testing.assert_allclose(out.std(axis=1, ddof=1), 1.0, atol=1e-12)
    pd.testing.assert_frame_equal(preprocess_factor(f, winsorize_method=None), zscore(f))
