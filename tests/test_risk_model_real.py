"""The Barra-style risk model on the real A-share sample (validation only; skipped without it).

The sample (``../shared/data/real``, daily bars 2020-01-02 .. 2022-01-14, no fundamentals) is
imported once per session by the ``real_store`` fixture. Checked here:

- the price-based styles (Size, MidCap, Beta, Residual Volatility, Momentum, Short-Term
  Reversal, Liquidity) have a finite raw descriptor and a finite exposure for every stock with
  enough history, where "enough" is the longest window of those styles in
  :class:`~quantbook.risk.StyleConfig` (252 sessions: Beta, DASTD, CMRA, STOA);
- the eight fundamental styles are reported unavailable, with the reason;
- the monthly risk model runs on the seven others, and its 2021 Size factor returns sum to a
  negative number (small caps beat large caps in 2021), confirmed from the raw file by the
  return of the smallest minus the largest total-cap quintile.

Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import real_sample_dir
from quantbook import risk
from quantbook.data import Store
from quantbook.risk.styles import (
    FUNDAMENTAL_STYLES,
    PRICE_STYLES,
    StyleConfig,
    StyleDataWarning,
    descriptors,
)

pytestmark = pytest.mark.real

#: Raw descriptors behind the price styles (MidCap is built from Size).
PRICE_DESCRIPTORS = (
    "lncap",
    "hbeta",
    "hsigma",
    "dastd",
    "cmra",
    "rstr",
    "strev",
    "stom",
    "stoq",
    "stoa",
)

#: Late-2021 month-ends and the sample's last session (its only 2022 dates are 2022-01-04..14).
CHECK_DATES = pd.DatetimeIndex(["2021-11-30", "2021-12-31", "2022-01-14"])


def history_needed(cfg: StyleConfig) -> int:
    """Sessions of history after which every price descriptor has its full window.

    Momentum's full window (504 + 21 lag = 525 sessions) is longer than the whole sample
    (about 500 sessions); RSTR then uses what there is (at least ``min_obs['rstr']`` returns),
    so it is left out of "enough" and checked against the same 252 sessions.
    """
    return max(
        cfg.beta_window,
        cfg.dastd_window,
        cfg.cmra_months * cfg.month_days,
        cfg.liquidity_months[-1] * cfg.month_days,
        cfg.reversal_window,
        cfg.momentum_lag + cfg.min_obs["rstr"],
    )


@pytest.fixture(scope="module")
def exposures(real_store: Store) -> risk.StyleExposures:
    """Exposures at every month-end of the sample and at the check dates (one pass)."""
    ends = real_store.calendar().month_ends(start="2020-01-01", end="2021-12-31")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StyleDataWarning)
        return risk.compute_styles(real_store, ends.union(CHECK_DATES), progress=False)


@pytest.fixture(scope="module")
def late_descriptors(real_store: Store) -> dict[str, pd.DataFrame]:
    return descriptors(real_store, CHECK_DATES)


@pytest.fixture(scope="module")
def fitted(real_store: Store, exposures: risk.StyleExposures) -> risk.RiskModelResult:
    return risk.fit(
        real_store,
        start="2020-02-28",
        end="2021-12-31",
        freq="M",
        exposures=exposures,
        progress=False,
    )


def eligible(store: Store, date: pd.Timestamp, need: int) -> pd.Index:
    """Stocks with a traded bar on ``date``, listed ``need`` sessions and with as many in the sample."""
    cal = store.calendar()
    bars = store.read("daily_bars", columns=["date", "code", "is_suspended"], end=date)
    on = bars[(bars["date"] == date) & ~bars["is_suspended"].astype(bool)]["code"].astype(str)
    first = bars.groupby(bars["code"].astype(str))["date"].min().reindex(on)
    inst = store.read("instruments").drop_duplicates("code").set_index("code")
    list_date = pd.DatetimeIndex(inst["list_date"].reindex(on))
    here = cal.sessions.get_loc(date)
    since_first = here - cal.sessions.searchsorted(pd.DatetimeIndex(first))
    since_listing = here - cal.sessions.searchsorted(list_date)
    return pd.Index(on[(since_first >= need) & (since_listing >= need)].to_numpy(), name="code")


def test_price_styles_cover_every_stock_with_enough_history(
    real_store: Store,
    exposures: risk.StyleExposures,
    late_descriptors: dict[str, pd.DataFrame],
) -> None:
    cfg = StyleConfig()
    need = history_needed(cfg)
    assert need == 252
    assert set(PRICE_STYLES) <= set(exposures.styles)
    print(f"\n[risk/real] coverage of the price styles (enough history = {need} sessions)")
    for date in CHECK_DATES:
        codes = eligible(real_store, date, need)
        assert len(codes) > 3500
        cross = exposures.cross_section(date)
        expo = cross.reindex(codes)[list(PRICE_STYLES)]
        bad_expo = {s: int((~np.isfinite(expo[s])).sum()) for s in PRICE_STYLES}
        raw = pd.DataFrame(
            {d: late_descriptors[d].loc[date].reindex(codes) for d in PRICE_DESCRIPTORS}
        )
        bad_raw = {d: int((~np.isfinite(raw[d])).sum()) for d in PRICE_DESCRIPTORS}
        # descriptors of the whole cross-section: how many stocks (short histories) are filled
        all_raw = pd.DataFrame(
            {d: late_descriptors[d].loc[date].reindex(cross.index) for d in PRICE_DESCRIPTORS}
        )
        filled = int((~np.isfinite(all_raw)).any(axis=1).sum())
        print(
            f"  {date:%Y-%m-%d}: cross-section {len(cross)}, with >= {need} sessions and a traded "
            f"bar {len(codes)}; non-finite exposures {sum(bad_expo.values())}, non-finite raw "
            f"descriptors {sum(bad_raw.values())}; stocks with a descriptor filled from "
            f"industry and Size (short history) {filled}"
        )
        assert not any(bad_expo.values()), bad_expo
        assert not any(bad_raw.values()), bad_raw
        # the Barra standardization: cap-weighted mean 0, equal-weighted std 1
        fcap = (
            real_store.read(
                "daily_bars", start=date, end=date, columns=["code", "close", "float_shares"]
            )
            .assign(cap=lambda f: f["close"] * f["float_shares"])
            .set_index("code")["cap"]
            .reindex(cross.index)
        )
        for s in PRICE_STYLES:
            x = cross[s]
            assert abs(float(np.average(x, weights=fcap))) < 1e-8
            assert float(x.std(ddof=1)) == pytest.approx(1.0, abs=1e-8)


def test_fundamental_styles_are_unavailable_with_reason(
    real_store: Store, exposures: risk.StyleExposures
) -> None:
    reason = real_store.unavailable()["fundamentals"]
    assert set(exposures.unavailable) == set(FUNDAMENTAL_STYLES)
    assert set(exposures.styles) == set(PRICE_STYLES)
    print("\n[risk/real] styles unavailable on the real sample:")
    for style, why in exposures.unavailable.items():
        print(f"  {style}: {why}")
        assert "fundamentals" in why and reason in why


def _raw_size_spread() -> pd.DataFrame:
    """Smallest minus largest total-cap quintile, equal weights, each 2021 month, from the file.

    Independent of the store: the raw parquet, total returns from ``close / prev_close``.
    Universe at the formation month-end ``t-1`` (like the risk model's): a bar on ``t-1`` and on
    ``t``, not ST by name at ``t-1``, first bar at least 60 sessions before ``t-1``, no Beijing
    exchange stocks.
    """
    raw = pd.read_parquet(
        real_sample_dir() / "ashare_daily_2020_2022.parquet",
        columns=["date", "code", "name", "close", "prev_close", "total_mv"],
    )
    raw["date"] = pd.to_datetime(raw["date"])
    raw = raw[~raw["code"].astype(str).str.startswith("bj")]
    sessions = pd.DatetimeIndex(np.sort(raw["date"].unique()))
    month_ends = pd.DatetimeIndex(sessions.to_series().groupby(sessions.to_period("M")).max())
    pos = pd.Series(np.arange(len(sessions)), index=sessions)
    first = raw.groupby("code")["date"].min().map(pos)
    period = month_ends.searchsorted(raw["date"], side="left")  # (me[k-1], me[k]] -> k
    log_ret = np.log(raw["close"] / raw["prev_close"]).groupby([period, raw["code"]]).sum()
    rows = []
    for k, end in enumerate(month_ends):
        if end.year != 2021:
            continue
        start = month_ends[k - 1]
        a = raw[raw["date"] == start].set_index("code")
        b = raw[raw["date"] == end].set_index("code")
        ok = ~a["name"].astype(str).str.contains("ST") & (pos[start] - first.reindex(a.index) >= 60)
        codes = a.index[ok].intersection(b.index)
        ret = np.expm1(log_ret.loc[k].reindex(codes))
        q = pd.qcut(a["total_mv"].reindex(codes).rank(method="first"), 5, labels=False)
        small, big = float(ret[q == 0].mean()), float(ret[q == 4].mean())
        rows.append(
            {"month": end, "small": small, "big": big, "spread": small - big, "n": len(codes)}
        )
    return pd.DataFrame(rows).set_index("month")


def test_risk_model_2021_size_returns_are_negative(
    real_store: Store, fitted: risk.RiskModelResult
) -> None:
    fr = fitted.factor_returns
    assert set(PRICE_STYLES) <= set(fr.columns)
    assert not set(FUNDAMENTAL_STYLES) & set(fr.columns)
    # early 2020 periods start before Beta (63 returns), Momentum (21 lag + 21 returns) and
    # Residual Volatility (orthogonalized to Beta) have enough returns: those styles are left out
    # of those periods, nowhere else
    cfg = StyleConfig()
    min_sessions = max(cfg.min_obs["hbeta"], cfg.momentum_lag + cfg.min_obs["rstr"])
    sessions = real_store.calendar().sessions
    first_bar = real_store.read("daily_bars", columns=["date"])["date"].min()
    starts = fitted.period_starts
    lacking = {
        f"{d:%Y-%m-%d}": [s for s in PRICE_STYLES if not np.isfinite(fr.at[d, s])]
        for d in fr.index
        if not np.isfinite(fr.loc[d, list(PRICE_STYLES)].to_numpy(dtype=float)).all()
    }
    print(f"\n[risk/real] periods without some price styles (too little history): {lacking}")
    for d in lacking:
        start = starts[pd.Timestamp(d)]
        assert sessions.get_loc(start) - sessions.searchsorted(first_bar) < min_sessions
    assert fr.loc["2021", list(PRICE_STYLES)].notna().all().all()
    assert (fitted.n_stocks > 3000).all()
    assert np.isfinite(fitted.r2).all()

    size = fr.loc["2021", "size"]
    assert len(size) == 12
    spread = _raw_size_spread()
    assert list(spread.index) == list(size.index)
    idx = real_store.read(
        "index_bars",
        start="2020-12-31",
        end="2021-12-31",
        codes=["000300.SH", "000852.SH"],
        columns=["date", "code", "close"],
    )
    lv = idx.pivot(index="date", columns="code", values="close")
    y = lv.iloc[-1] / lv.iloc[0] - 1

    table = pd.DataFrame(
        {
            "size_f": size,
            "n_model": fitted.n_stocks.loc["2021"],
            "Q1_small": spread["small"],
            "Q5_big": spread["big"],
            "small-big": spread["spread"],
        }
    )
    corr = float(np.corrcoef(size, spread["spread"])[0, 1])
    agree = int((np.sign(size) == -np.sign(spread["spread"])).sum())
    print("[risk/real] 2021 monthly Size factor returns (pure, WLS sqrt float cap) and quintiles")
    print(table.to_string(float_format=lambda v: f"{v:+.4f}"))
    print(
        f"  sum of 2021 Size returns {size.sum():+.4f} ({(1 + size).prod() - 1:+.4f} compounded); "
        f"mean R2 {fitted.r2.loc['2021'].mean():.3f}"
    )
    print(
        f"  raw file, smallest minus largest total-cap quintile: sum {spread['spread'].sum():+.4f}, "
        f"compounded small {(1 + spread['small']).prod() - 1:+.4f} vs big "
        f"{(1 + spread['big']).prod() - 1:+.4f}; correlation with Size {corr:+.2f}, "
        f"opposite signs in {agree} of 12 months"
    )
    print(f"  index check 2021: CSI 1000 {y['000852.SH']:+.2%}, CSI 300 {y['000300.SH']:+.2%}")
    assert size.sum() < 0
    assert spread["spread"].sum() > 0
    assert corr < -0.5
    assert y["000852.SH"] > y["000300.SH"]
