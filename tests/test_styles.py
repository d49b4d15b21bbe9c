"""Style exposures (quantbook.risk.styles): standardization, filling, orthogonalization,
descriptors against plain recomputations, the simulator's truth, no lookahead, and styles a
store cannot support."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_small import perturb_after, small_tables
from quantbook.data import Store, StoreWriter, open_store
from quantbook.data.sources.synthetic.market import STYLES as SIM_STYLES
from quantbook.data.store import DataUnavailableError
from quantbook.risk import STYLE_NAMES, StyleExposures, compute_styles, fit
from quantbook.risk.styles import (
    FUNDAMENTAL_STYLES,
    PRICE_STYLES,
    StyleDataWarning,
    cap_standardize,
    descriptors,
    fill_missing,
    standardize_trim,
    wls_residual,
)


@pytest.fixture(scope="module")
def smoke_dates(smoke_store: Store) -> pd.DatetimeIndex:
    return smoke_store.calendar().month_ends()[-6:]


@pytest.fixture(scope="module")
def smoke_expo(smoke_store: Store, smoke_dates: pd.DatetimeIndex) -> StyleExposures:
    return compute_styles(smoke_store, smoke_dates, progress=False)


def _fcap(store: Store, dates: pd.DatetimeIndex, codes: pd.Index) -> pd.DataFrame:
    b = store.read("daily_bars", start=dates[0], columns=["date", "code", "close", "float_shares"])
    b = b[b["date"].isin(dates)]
    cap = b.assign(cap=b["close"] * b["float_shares"]).pivot(
        index="date", columns="code", values="cap"
    )
    return cap.reindex(index=dates, columns=codes)


def test_style_names_match_the_simulator() -> None:
    assert STYLE_NAMES == SIM_STYLES
    assert len(STYLE_NAMES) == 15


# -- cross-sectional tools ---------------------------------------------------------------------------
def test_cap_standardize_moments() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 50)) * 3 + 1
    cap = rng.lognormal(size=(4, 50))
    x[0, :5] = np.nan
    z = cap_standardize(x, cap)
    ok = np.isfinite(z)
    assert (ok == np.isfinite(x)).all()
    for d in range(4):
        assert np.average(z[d, ok[d]], weights=cap[d, ok[d]]) == pytest.approx(0, abs=1e-12)
        assert np.std(z[d, ok[d]], ddof=1) == pytest.approx(1, abs=1e-12)
    const = cap_standardize(np.ones((1, 5)), np.ones((1, 5)))
    assert np.isnan(const).all()


def test_standardize_trim_bounds_heavy_tails() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_t(2, size=(3, 400))
    x[:, 0] = 1e4  # one huge outlier
    cap = np.ones_like(x)
    z = standardize_trim(x, cap)
    assert np.nanmax(np.abs(z)) <= 3.0 * (1 + 1e-3)
    assert np.nanstd(z, axis=1, ddof=1) == pytest.approx(np.ones(3), abs=1e-12)
    # ranks are kept
    assert (np.argsort(np.argsort(z[0])) == np.argsort(np.argsort(x[0]))).mean() > 0.9


def test_fill_missing_reproduces_an_exact_model() -> None:
    rng = np.random.default_rng(2)
    D, N = 3, 60
    ind = rng.integers(0, 4, size=(D, N))
    size = rng.standard_normal((D, N))
    a = np.array([0.5, -1.0, 2.0, 0.0])
    x = a[ind] + 0.7 * size
    missing = rng.random((D, N)) < 0.2
    missing[:, ind[0] == 3] &= False
    x_obs = np.where(missing, np.nan, x)
    w = rng.lognormal(size=(D, N))
    out = fill_missing(x_obs, industry=ind, size=size, weights=w, universe=np.ones((D, N), bool))
    np.testing.assert_allclose(out, x, atol=1e-12)
    # an industry with no observed stock takes the pooled intercept
    x2 = x_obs.copy()
    x2[ind == 2] = np.nan
    out2 = fill_missing(x2, industry=ind, size=size, weights=w, universe=np.ones((D, N), bool))
    assert np.isfinite(out2).all()


def test_wls_residual_is_orthogonal() -> None:
    rng = np.random.default_rng(3)
    y, r1, r2 = rng.standard_normal((3, 2, 80))
    w = rng.lognormal(size=(2, 80))
    e = wls_residual(y, [r1, r2], w)
    for d in range(2):
        for reg in (np.ones(80), r1[d], r2[d]):
            assert abs(np.sum(w[d] * e[d] * reg)) < 1e-10


# -- styles on the smoke store --------------------------------------------------------------------------
def test_exposure_frame_shape(smoke_expo: StyleExposures, smoke_dates: pd.DatetimeIndex) -> None:
    f = smoke_expo.frame
    assert list(f.columns[:2]) == ["date", "code"]
    assert tuple(f.columns[2:]) == smoke_expo.styles == STYLE_NAMES
    assert smoke_expo.unavailable == {}
    assert set(f["date"]) == set(smoke_dates)
    assert not f.duplicated(["date", "code"]).any()
    xs = smoke_expo.cross_section(smoke_dates[-1])
    assert xs.notna().all().all()  # every listed stock gets every exposure (missing ones filled)
    assert smoke_expo.wide("size").shape == (len(smoke_dates), len(smoke_expo.codes))


def test_exposures_are_standardized(
    smoke_store: Store, smoke_expo: StyleExposures, smoke_dates: pd.DatetimeIndex
) -> None:
    cap = _fcap(smoke_store, smoke_dates, smoke_expo.codes)
    for s in smoke_expo.styles:
        w = smoke_expo.wide(s)
        for d in smoke_dates:
            v, c = w.loc[d], cap.loc[d]
            ok = v.notna()
            assert np.average(v[ok], weights=c[ok]) == pytest.approx(0.0, abs=1e-10), s
            assert v[ok].std() == pytest.approx(1.0, abs=1e-10), s


def test_orthogonalizations(
    smoke_store: Store, smoke_expo: StyleExposures, smoke_dates: pd.DatetimeIndex
) -> None:
    """MidCap has no linear dependence on Size, Residual Volatility none on Beta and Size
    (sqrt-cap WLS with an intercept), on dates where no Residual Volatility was filled."""
    cap = _fcap(smoke_store, smoke_dates, smoke_expo.codes)
    d = smoke_dates[-1]
    xs = smoke_expo.cross_section(d)
    w = np.sqrt(cap.loc[d].reindex(xs.index).to_numpy())

    def slopes(y: str, regs: list[str]) -> np.ndarray:
        X = np.column_stack([np.ones(len(xs)), xs[regs].to_numpy()])
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(X * sw[:, None], xs[y].to_numpy() * sw, rcond=None)[0]
        return beta[1:]

    # SPEC §1 winsorizes MidCap after orthogonalizing it: exact where the cube's tails were not
    # clipped, a small dependence where they were
    size = xs["size"].to_numpy()
    mid = wls_residual(size[None, :] ** 3, [size[None, :]], w[None, :])[0]
    clipped = (
        np.abs(
            cap_standardize(mid[None, :], cap.loc[d].reindex(xs.index).to_numpy()[None, :])
        ).max()
        > 3
    )
    assert np.abs(slopes("midcap", ["size"])).max() < (0.02 if clipped else 1e-10)
    raw = descriptors(smoke_store, [d])
    all_rv = all(raw[k].loc[d].reindex(xs.index).notna().all() for k in ("dastd", "cmra", "hsigma"))
    if all_rv:
        assert np.abs(slopes("residual_volatility", ["beta", "size"])).max() < 1e-10


def test_descriptors_match_plain_recomputations(smoke_store: Store) -> None:
    d = smoke_store.calendar().month_ends()[-2]
    raw = descriptors(smoke_store, [d])
    bars = smoke_store.read(
        "daily_bars",
        end=d,
        columns=[
            "date",
            "code",
            "close",
            "prev_close",
            "volume",
            "float_shares",
            "total_shares",
            "is_suspended",
        ],
    )
    code = raw["hbeta"].loc[d].dropna().index[3]
    b = bars[bars["code"] == code].set_index("date").sort_index()
    # size: log total cap
    assert raw["lncap"].loc[d, code] == pytest.approx(
        np.log(b["close"].iloc[-1] * b["total_shares"].iloc[-1]), rel=1e-12
    )
    # short-term reversal: minus EW (half-life 5) sum of the last 21 log returns
    lr = np.log(b["close"] / b["prev_close"])
    last = lr.iloc[-21:].to_numpy()[::-1]
    strev = -np.sum(0.5 ** (np.arange(21) / 5) * last)
    assert raw["strev"].loc[d, code] == pytest.approx(strev, rel=1e-9)
    # momentum: EW (half-life 126) sum of 504 log returns lagged 21 (fewer in a short store)
    lagged = lr.iloc[: len(lr) - 21].to_numpy()[::-1][:504]
    rstr = np.sum(0.5 ** (np.arange(len(lagged)) / 126) * lagged)
    assert raw["rstr"].loc[d, code] == pytest.approx(rstr, rel=1e-9)
    # STOM: log of 21 x mean daily turnover over the last 21 days
    turn = (b["volume"] / b["float_shares"]).iloc[-21:]
    assert raw["stom"].loc[d, code] == pytest.approx(np.log(21 * turn.mean()), rel=1e-9)
    # beta: EW (half-life 63) regression on the float-cap-weighted market over 252 days
    allb = bars.assign(ret=bars["close"] / bars["prev_close"] - 1)
    allb["cap"] = allb.groupby("code")["close"].shift(1) * allb.groupby("code")[
        "float_shares"
    ].shift(1)
    allb["cap"] = allb["cap"].fillna(allb["close"] * allb["float_shares"])
    inst = smoke_store.read("instruments").set_index("code")["list_date"]
    traded = (~allb["is_suspended"]) & (allb["date"] != allb["code"].map(inst))
    mk = allb[traded].groupby("date").apply(lambda g: np.average(g["ret"], weights=g["cap"]))
    own = allb[(allb["code"] == code) & traded].set_index("date")["ret"]
    days = smoke_store.calendar().range(end=d)[-252:]
    own = own.reindex(days).dropna()
    age = np.array([len(days) - 1 - days.get_loc(t) for t in own.index])
    wts = 0.5 ** (age / 63)
    X = np.column_stack([np.ones(len(own)), mk.reindex(own.index).to_numpy()])
    sw = np.sqrt(wts)
    beta = np.linalg.lstsq(X * sw[:, None], own.to_numpy() * sw, rcond=None)[0][1]
    assert raw["hbeta"].loc[d, code] == pytest.approx(beta, rel=1e-8)
    # book-to-price: latest announced book equity over total cap
    fund = smoke_store.read("fundamentals", end=d, codes=[code])
    be = fund.sort_values("report_period")["book_equity"].iloc[-1]
    cap = b["close"].iloc[-1] * b["total_shares"].iloc[-1]
    assert raw["btop"].loc[d, code] == pytest.approx(be / cap, rel=1e-12)


def test_market_styles_match_the_simulator_truth(
    smoke_store: Store, smoke_expo: StyleExposures
) -> None:
    """Size, MidCap, Momentum and Short-Term Reversal are computed from the same data as the
    simulator's true exposures (data/README.md), so they agree almost exactly."""
    truth = smoke_store.read_extra("synthetic/exposures")
    d = smoke_expo.dates[-2]  # the last month-end starts no simulated month
    t = truth[truth["date"] == d].set_index("code")
    xs = smoke_expo.cross_section(d)
    common = xs.index.intersection(t.index)
    for s, floor in {
        "size": 0.99,
        "midcap": 0.95,
        "momentum": 0.98,
        "short_term_reversal": 0.99,
    }.items():
        assert np.corrcoef(xs.loc[common, s], t.loc[common, s])[0, 1] > floor, s


def test_no_lookahead(smoke_store: Store, tmp_path: Path) -> None:
    """Perturbing every row after the as-of date changes no exposure at or before it."""
    ends = smoke_store.calendar().month_ends()
    as_of = ends[len(ends) // 2]
    perturb_after(smoke_store.path, tmp_path / "smoke", as_of)
    pert = open_store("smoke", root=tmp_path)
    assert pert.fingerprint() != smoke_store.fingerprint()
    dates = ends[(ends <= as_of)][-3:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StyleDataWarning)
        a = compute_styles(smoke_store, dates, progress=False)
        b = compute_styles(pert, dates, progress=False)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.values, b.values)


def _without_fundamentals(store: Store, root: Path) -> Store:
    dst = root / store.name
    shutil.copytree(store.path, dst)
    (dst / "fundamentals.parquet").unlink()
    meta = json.loads((dst / "store.json").read_text())
    meta["tables"].pop("fundamentals")
    meta["unavailable"]["fundamentals"] = "the source has no statements (test copy)"
    (dst / "store.json").write_text(json.dumps(meta))
    return open_store(store.name, root=root)


def test_styles_without_fundamentals_are_unavailable(smoke_store: Store, tmp_path: Path) -> None:
    store = _without_fundamentals(smoke_store, tmp_path)
    dates = store.calendar().month_ends()[-4:]
    expo = compute_styles(store, dates, progress=False)
    assert set(expo.unavailable) == set(FUNDAMENTAL_STYLES)
    assert all("no statements (test copy)" in r for r in expo.unavailable.values())
    assert expo.styles == tuple(s for s in STYLE_NAMES if s not in FUNDAMENTAL_STYLES)
    res = fit(store, start=dates[1], freq="M", progress=False)
    assert "book_to_price" not in res.factor_returns.columns
    assert res.factor_returns[["size", "beta", "momentum"]].notna().all().all()
    assert set(res.exposures.unavailable) == set(FUNDAMENTAL_STYLES)


def test_price_styles_are_the_issue_list() -> None:
    """The styles daily bars alone support (issue 4): Size, MidCap, Beta, Momentum, Residual
    Volatility, Liquidity and Short-Term Reversal; every other style needs statements."""
    spec = "size midcap beta momentum residual_volatility liquidity short_term_reversal"
    assert set(PRICE_STYLES) == set(spec.split())
    assert set(PRICE_STYLES) | set(FUNDAMENTAL_STYLES) == set(STYLE_NAMES)


def test_dates_without_daily_bars_say_so(tmp_path: Path) -> None:
    """A store whose daily bars start after the requested date: one line naming store and date."""
    tables = small_tables()
    bars = tables["daily_bars"]
    tables["daily_bars"] = bars[bars["date"] >= pd.Timestamp("2024-02-01")]
    with StoreWriter("late", source="files", params={}, root=tmp_path) as w:
        for name, df in tables.items():
            w.write(name, df)
        store = w.commit()
    with pytest.raises(DataUnavailableError, match=r"store 'late' .* on 2023-12-29: no style"):
        compute_styles(store, ["2023-12-29"], progress=False)
    assert compute_styles(store, ["2024-03-29"], progress=False).styles
