"""The cross-sectional risk model (quantbook.risk.model) and its report.

- the constrained WLS against two independent computations (statsmodels WLS on the
  reparameterized design X R, and a Lagrangian / KKT solve), to 1e-8;
- pure factor portfolios: unit exposure to their factor, none to the others;
- pure factor returns of an added factor;
- recovery on the default synthetic market: the true style factor returns, and the planted
  non-linear effect in the residual returns (data/README.md);
- no lookahead in the report.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from fixtures_small import perturb_after
from quantbook.data import Store, open_store
from quantbook.evaluation import ic_series
from quantbook.reports import Metrics
from quantbook.reports import risk_model as rm
from quantbook.reports.contract import SPECS
from quantbook.risk import (
    STYLE_NAMES,
    RiskModelResult,
    StyleExposures,
    constrained_wls,
    fit,
    pure_factor_return,
    restriction_matrix,
)
from quantbook.risk.styles import StyleDataWarning


@pytest.fixture(scope="module")
def smoke_fit(smoke_store: Store) -> RiskModelResult:
    return fit(smoke_store, freq="M", progress=False)


# -- the constrained regression ---------------------------------------------------------------------
def test_restriction_matrix_spans_the_constraint() -> None:
    w = np.array([0.2, 0.5, 0.1, 0.2])
    R = restriction_matrix(w, 3)
    c = np.r_[0.0, w, np.zeros(3)]
    assert R.shape == (8, 7)
    assert np.abs(c @ R).max() < 1e-15
    assert np.linalg.matrix_rank(R) == 7


def _kkt(X: np.ndarray, r: np.ndarray, v: np.ndarray, c: np.ndarray) -> np.ndarray:
    """min sum v (r - X f)^2 subject to c'f = 0, by the Lagrangian's first-order conditions."""
    K = X.shape[1]
    A = (X.T * v) @ X
    M = np.block([[A, c[:, None]], [c[None, :], np.zeros((1, 1))]])
    return np.linalg.solve(M, np.r_[(X.T * v) @ r, 0.0])[:K]


def test_constrained_solution_matches_statsmodels_and_kkt(smoke_fit: RiskModelResult) -> None:
    worst = {"f_sm": 0.0, "f_kkt": 0.0, "se": 0.0, "resid": 0.0, "r2": 0.0}
    for d in smoke_fit.factor_returns.index[[5, 20, -1]]:
        X, r, v, wi = smoke_fit.design(d)
        Xa, ra, va = X.to_numpy(), r.to_numpy(), v.to_numpy()
        P = len(wi)
        R = restriction_matrix(wi, Xa.shape[1] - 1 - P)
        ols = sm.WLS(ra, Xa @ R, weights=va).fit()
        f_sm = R @ ols.params
        se_sm = np.sqrt(np.diag(R @ ols.cov_params() @ R.T))
        c = np.r_[0.0, wi, np.zeros(Xa.shape[1] - 1 - P)]
        f_kkt = _kkt(Xa, ra, va, c)
        f = smoke_fit.factor_returns.loc[d, X.columns].to_numpy(dtype=float)
        se = smoke_fit.stderr.loc[d, X.columns].to_numpy(dtype=float)
        u = smoke_fit.residuals.loc[d, X.index].to_numpy(dtype=float)
        worst["f_sm"] = max(worst["f_sm"], np.abs(f - f_sm).max())
        worst["f_kkt"] = max(worst["f_kkt"], np.abs(f - f_kkt).max())
        worst["se"] = max(worst["se"], np.abs(se - se_sm).max())
        worst["resid"] = max(worst["resid"], np.abs(u - ols.resid).max())
        worst["r2"] = max(worst["r2"], abs(smoke_fit.r2.loc[d] - ols.rsquared))
        assert abs(c @ f) < 1e-12  # the constraint holds
    print(f"constrained WLS: max abs differences {worst}")
    assert max(worst.values()) < 1e-8, worst


def test_pure_factor_portfolios(smoke_fit: RiskModelResult) -> None:
    d = smoke_fit.factor_returns.index[-1]
    X, r, _, wi = smoke_fit.design(d)
    omega = smoke_fit.pure_portfolios(d)
    assert list(omega.index) == list(X.columns) and list(omega.columns) == list(X.index)
    E = omega.to_numpy() @ X.to_numpy()  # exposures of the portfolios (factor x factor)
    K, P = E.shape[0], len(wi)
    eye = np.eye(K)
    c = np.r_[0.0, wi, np.zeros(K - 1 - P)]
    # styles: unit exposure to their own style, zero to everything else
    assert np.abs(E[1 + P :] - eye[1 + P :]).max() < 1e-10
    # industries: unit to their own industry and zero to every other factor, up to the
    # constraint direction c (which earns nothing): exactly e_i - c
    assert np.abs(E[1 : 1 + P] - (eye[1 : 1 + P] - c)).max() < 1e-10
    # country: fully invested, the market's industry weights: e_0 + c
    assert np.abs(E[0] - (eye[0] + c)).max() < 1e-10
    # every portfolio earns its factor return
    f = smoke_fit.factor_returns.loc[d, X.columns].to_numpy(dtype=float)
    assert np.abs(omega.to_numpy() @ r.to_numpy() - f).max() < 1e-12
    net = omega.sum(axis=1)
    assert net.iloc[0] == pytest.approx(1.0) and np.abs(net.iloc[1:]).max() < 1e-10


def test_constrained_wls_random_design() -> None:
    rng = np.random.default_rng(5)
    n, P, Q = 300, 5, 3
    ind = rng.integers(0, P, n)
    X = np.column_stack([np.ones(n), np.eye(P)[ind], rng.standard_normal((n, Q))])
    v = rng.lognormal(size=n)
    wi = np.bincount(ind, rng.lognormal(size=n), P)
    wi /= wi.sum()
    f_true = np.r_[0.01, rng.standard_normal(P) * 0.02, rng.standard_normal(Q) * 0.01]
    f_true[1 : 1 + P] -= wi @ f_true[1 : 1 + P]
    r = X @ f_true + rng.standard_normal(n) * 1e-3
    sol = constrained_wls(X, r, v, industry_weights=wi)
    assert abs(wi @ sol.f[1 : 1 + P]) < 1e-14
    assert np.abs(sol.f - _kkt(X, r, v, np.r_[0, wi, np.zeros(Q)])).max() < 1e-12
    assert np.abs(sol.f - f_true).max() < 1e-3
    assert 0.99 < sol.r2 <= 1.0


# -- the fit --------------------------------------------------------------------------------------------
def test_fit_layout(smoke_store: Store, smoke_fit: RiskModelResult) -> None:
    fr = smoke_fit.factor_returns
    assert fr.columns[0] == "country"
    inds = [c for c in fr.columns if c.startswith("ind_")]
    assert len(inds) == 31 and all(len(c) == 6 for c in inds)
    assert tuple(fr.columns[32:]) == STYLE_NAMES
    ends = smoke_store.calendar().month_ends()
    assert list(fr.index) == list(ends[1:])
    for frame in (smoke_fit.stderr, smoke_fit.tstat):
        assert frame.shape == fr.shape
    n = smoke_fit.residuals.notna().sum(axis=1)
    assert (n == smoke_fit.n_stocks).all()
    assert (smoke_fit.n_stocks.iloc[-12:] > 150).all()
    assert smoke_fit.r2.between(0, 1).all()
    assert list(smoke_fit.period_starts) == list(ends[:-1])
    # the country factor is close to the cap-weighted return of the estimation universe
    d = fr.index[-1]
    X, r, v, _ = smoke_fit.design(d)
    b = smoke_store.read(
        "daily_bars", start=smoke_fit.period_starts[d], end=smoke_fit.period_starts[d]
    )
    cap = b.set_index("code").reindex(X.index).eval("close * float_shares")
    assert abs(np.average(r, weights=cap) - fr.loc[d, "country"]) < 0.01


def test_other_frequencies(smoke_store: Store) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StyleDataWarning)
        daily = fit(smoke_store, start="2026-09-01", end="2026-09-30", freq="D", progress=False)
        weekly = fit(smoke_store, start="2026-08-01", end="2026-09-30", freq="W", progress=False)
    assert len(daily.factor_returns) == len(
        smoke_store.calendar().range("2026-09-01", "2026-09-30")
    )
    assert daily.factor_returns["size"].notna().all()
    assert list(weekly.factor_returns.index) == list(
        smoke_store.calendar().week_ends("2026-08-01", "2026-09-30")
    )


def test_pure_factor_return(smoke_store: Store, smoke_fit: RiskModelResult) -> None:
    # a factor that knows the period's residual return earns a large positive pure return
    resid = smoke_fit.residuals
    peek = resid.copy()
    peek.index = smoke_fit.period_starts.reindex(resid.index).to_numpy()
    peek = peek.iloc[12:]
    out = pure_factor_return(smoke_fit, peek, name="peek")
    assert list(out.columns) == ["f", "stderr", "t"]
    assert (out["f"].dropna() > 0).all() and out["t"].dropna().min() > 3
    # the same from the store (fit runs again), and from a long frame
    long = peek.stack().rename("value").reset_index()
    long.columns = ["date", "code", "value"]
    again = pure_factor_return(smoke_store, long, name="peek", freq="M")
    pd.testing.assert_frame_equal(out, again, atol=1e-12)
    # noise has no pure return
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.standard_normal(peek.shape), index=peek.index, columns=peek.columns)
    t = pure_factor_return(smoke_fit, noise)["t"].dropna()
    assert abs(t.mean()) < 1.0 and len(t) == len(peek)
    # appended as the last style column, the other factors are re-estimated
    res2 = fit(smoke_store, freq="M", extra=peek, extra_name="peek", progress=False)
    assert res2.factor_returns.columns[-1] == "peek"
    assert res2.exposures is not None


# -- the synthetic market's truth (default store) -----------------------------------------------------------
def _monthly_truth(store: Store, res: RiskModelResult) -> pd.DataFrame:
    daily = store.read_extra("synthetic/factor_returns").set_index("date")
    rows = []
    for t, p in zip(res.factor_returns.index, res.period_starts, strict=True):
        m = (daily.index > p) & (daily.index <= t)
        rows.append(daily.loc[m, list(STYLE_NAMES)].sum())
    return pd.DataFrame(rows, index=res.factor_returns.index)


@pytest.fixture(scope="module")
def default_fits(default_store: Store) -> dict[str, RiskModelResult]:
    truth = StyleExposures.from_frame(default_store.read_extra("synthetic/exposures"))
    return {
        "true": fit(default_store, freq="M", exposures=truth, progress=False),
        "ours": fit(default_store, freq="M", progress=False),
    }


def _corr(res: RiskModelResult, truth: pd.DataFrame, style: str) -> float:
    a = res.factor_returns[style]
    ok = a.notna()
    return float(np.corrcoef(a[ok], truth.loc[ok, style])[0, 1])


def test_estimator_recovers_true_returns_given_true_exposures(
    default_store: Store, default_fits: dict[str, RiskModelResult]
) -> None:
    """With the simulator's exposures, the correlation with the true returns reaches the bound
    set by the regression's own noise: sd(f) / sqrt(sd(f)^2 + mean stderr^2)."""
    res = default_fits["true"]
    truth = _monthly_truth(default_store, res)
    lines = []
    for s in STYLE_NAMES:
        c = _corr(res, truth, s)
        sd = truth[s].std()
        bound = sd / np.sqrt(sd**2 + (res.stderr[s] ** 2).mean())
        lines.append(f"{s}: corr {c:.3f}, noise bound {bound:.3f}")
        assert c > bound - 0.1, lines[-1]
        if bound > 0.95:
            assert c > 0.9, lines[-1]
    print("true exposures: " + "; ".join(lines))


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_style_returns_recovered(
    default_store: Store, default_fits: dict[str, RiskModelResult], style: str
) -> None:
    """Estimated monthly style returns correlate above 0.9 with the true ones (summed daily
    returns over the month), over the default store's months."""
    res = default_fits["ours"]
    c = _corr(res, _monthly_truth(default_store, res), style)
    print(f"{style}: correlation with the true monthly returns {c:.3f}")
    assert c > 0.9


def test_nonlinear_effect_in_residuals(default_fits: dict[str, RiskModelResult]) -> None:
    """g = BP x MOM - (LIQ^2 - 1) / sqrt(2) from our exposures at t-1 predicts the residual
    returns over (t-1, t] (the planted non-linear effect, data/README.md)."""
    res = default_fits["ours"]
    ex = res.exposures
    g = ex.wide("book_to_price") * ex.wide("momentum") - (ex.wide("liquidity") ** 2 - 1) / np.sqrt(
        2
    )
    g = g.reindex(res.period_starts.to_numpy())
    g.index = res.factor_returns.index
    ic = ic_series(g, res.residuals).dropna()
    t = ic.mean() / ic.std() * np.sqrt(len(ic))
    print(f"non-linear effect: mean IC {ic.mean():.4f}, t {t:.1f}, {len(ic)} months")
    assert ic.mean() > 0.03 and t > 4


# -- the report -------------------------------------------------------------------------------------------
def test_report_sections_and_metrics(smoke_store: Store) -> None:
    rep = rm.prepare(smoke_store, as_of="2026-10-30")
    m = Metrics()
    month = rm.month_factor_returns(rep, metrics=m)
    assert month.loc["size", "f"] == rep.result.factor_returns.iloc[-1]["size"]
    vol = rm.factor_volatility(rep, metrics=m)
    assert {"vol_12m", "vol_36m", "vol_all"} <= set(vol.columns)
    ex = rm.exposure_distribution(rep, metrics=m)
    assert len(ex) == 15 and ex["cap_mean"].abs().max() < 1e-8
    pure = rm.pure_portfolio_check(rep, metrics=m)
    assert (pure["own"] - 1).abs().max() < 1e-10 and pure["max_other"].max() < 1e-10
    assert m["pure.max_exposure_error"] < 1e-10
    for key in SPECS["risk_model"].headline:
        assert key in m, key
    assert rm.style_correlation(rep).shape == (15, 15)
    assert rm.cumulative_returns(rep, group="industry").shape[1] == 31
    assert len(rm.unavailable_styles(rep)) == 0
    assert "2026-10" in repr(rm.show_month_returns(month, rep, group="style"))
    mid = rm.prepare(smoke_store, as_of="2026-10-20")  # mid-month: the last complete month
    assert mid.month_end == pd.Timestamp("2026-09-30")


def test_report_no_lookahead(smoke_store: Store, tmp_path: Path) -> None:
    ends = smoke_store.calendar().month_ends()
    as_of = ends[len(ends) // 2]
    perturb_after(smoke_store.path, tmp_path / "smoke", as_of)
    pert = open_store("smoke", root=tmp_path)
    a, b = rm.prepare(smoke_store, as_of=as_of), rm.prepare(pert, as_of=as_of)
    pd.testing.assert_frame_equal(
        a.result.factor_returns, b.result.factor_returns, check_exact=True
    )
    pd.testing.assert_frame_equal(a.result.residuals, b.result.residuals, check_exact=True)
    pd.testing.assert_frame_equal(
        rm.exposure_distribution(a), rm.exposure_distribution(b), check_exact=True
    )


def _store_without_fundamentals(smoke_store: Store, root: Path) -> Store:
    """A copy of the smoke store with its fundamentals table dropped (marked unavailable)."""
    target = root / "nofund"
    shutil.copytree(smoke_store.path, target, ignore=shutil.ignore_patterns("cache"))
    (target / "fundamentals.parquet").unlink()
    meta = json.loads((target / "store.json").read_text())
    meta["name"] = "nofund"
    del meta["tables"]["fundamentals"]
    meta["unavailable"]["fundamentals"] = "the export has no statements"
    (target / "store.json").write_text(json.dumps(meta, indent=2))
    return open_store("nofund", root=root)


def test_store_without_fundamentals_says_so_once(smoke_store: Store, tmp_path: Path) -> None:
    store = _store_without_fundamentals(smoke_store, tmp_path)
    rep = rm.prepare(store, as_of="2026-10-30", start="2026-04-30")
    box = rm.show_unavailable(rep)
    assert box is not None and box.markdown.startswith("**Not in this store (`nofund`):**")
    for style in ("Book-to-price", "Earnings yield", "Growth", "Leverage"):
        assert box.markdown.count(style) == 1, style
    assert "Momentum" not in box.markdown
    # the missing styles are left out of the tables, not shown as rows of dashes
    month = rm.month_factor_returns(rep)
    assert "book_to_price" not in month.index and "momentum" in month.index
    assert "book_to_price" not in rm.exposure_distribution(rep).index
    # 6 months of returns: every 36-month volatility is blank, and the footnote says why
    vol = rm.factor_volatility(rep)
    assert vol["vol_36m"].isna().all() and vol["vol_12m"].notna().all()
    note = rm.show_volatility(vol, rep).note
    assert note.endswith(
        "– Last 36 months of Country, Size, MidCap, Beta, Residual volatility, Momentum, "
        "Short-term reversal, Liquidity: 7 monthly returns, 18 needed."
    )
    assert "Last 12 months" not in note
    assert rm.show_unavailable(rm.prepare(smoke_store, as_of="2026-10-30")) is None


def test_blank_month_returns_carry_their_reason(smoke_store: Store) -> None:
    rep = rm.prepare(smoke_store, as_of="2026-10-30")
    month = rm.month_factor_returns(rep)
    assert "–" not in rm.show_month_returns(month, rep, group="style").note
    month.loc["beta", "f"] = np.nan
    note = rm.show_month_returns(month, rep, group="style").note
    assert note.endswith(
        "– Beta: no stock with the exposure (too little history for its descriptors)."
    )
