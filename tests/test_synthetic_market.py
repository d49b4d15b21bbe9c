"""The synthetic market: determinism, exact minute aggregation, A-share rules, point-in-time
fundamentals, atomic writes, and every planted effect at its documented strength.

The planted-effect tests measure each effect with the small independent calculations of
``tests/planted.py`` on the ``default`` store, where ``data/README.md`` documents the targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import planted
import pytest
from quantbook.data import Store, open_store
from quantbook.data.market_rules import limit_fraction, round_price
from quantbook.data.sources.synthetic import build as synth_build
from quantbook.data.sources.synthetic import build_store


# -- determinism and atomicity ---------------------------------------------------------------
def test_same_seed_gives_byte_identical_tables(smoke_store: Store, synthetic_root: Path) -> None:
    again = build_store(preset="smoke", name="smoke_again", progress=False, root=synthetic_root)
    assert again.fingerprint() == smoke_store.fingerprint()
    files = sorted(p.relative_to(smoke_store.path) for p in smoke_store.path.rglob("*.parquet"))
    assert len(files) >= 15
    for rel in files:
        assert (smoke_store.path / rel).read_bytes() == (again.path / rel).read_bytes(), rel


def test_other_seed_gives_other_market(smoke_store: Store, synthetic_root: Path) -> None:
    other = build_store(
        preset="smoke", name="smoke_seed2", seed=2, progress=False, root=synthetic_root
    )
    assert other.fingerprint() != smoke_store.fingerprint()


def test_failed_build_leaves_previous_store(
    smoke_store: Store, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = smoke_store.fingerprint()

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("interrupted")

    import quantbook.data.sources.synthetic.etfs as etfs

    monkeypatch.setattr(etfs, "build_etf_tables", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        build_store(preset="smoke", name="smoke", progress=False, root=synthetic_root)
    assert open_store("smoke", root=synthetic_root).fingerprint() == before
    assert not [p for p in synthetic_root.iterdir() if p.name.startswith(".smoke.tmp")]


def test_every_table_present_and_strictly_valid(smoke_store: Store) -> None:
    for name in (
        "instruments",
        "st_status",
        "industry",
        "daily_bars",
        "fundamentals",
        "index_info",
        "index_bars",
        "index_members",
        "etf_info",
        "etf_bars",
        "bond_yields",
        "bond_index_bars",
    ):
        assert smoke_store.has(name), name
        assert len(smoke_store.read(name)) > 0, name
    assert smoke_store.has("minute_bars")
    assert smoke_store.unavailable() == {}
    assert len(smoke_store.validation_report()) == 0  # strict build: no soft findings either
    assert smoke_store.read("industry")["value"].nunique() == 31


# -- minute bars -----------------------------------------------------------------------------
def _check_aggregates(store: Store, day: pd.Timestamp) -> int:
    mb = store.minute_bars([day])
    bars = store.read("daily_bars", start=day, end=day).set_index("code")
    traded = bars[~bars["is_suspended"]]
    assert set(mb["code"]) == set(traded.index)
    assert (mb.groupby("code").size() == 240).all()
    g = mb.sort_values(["code", "minute"]).groupby("code")
    agg = pd.DataFrame(
        {
            "open": g["open"].first(),
            "close": g["close"].last(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "volume": g["volume"].sum(),
            "amount": g["amount"].sum(),
            "price_1130": mb[mb["minute"] == 119].set_index("code")["close"],
        }
    ).loc[traded.index]
    for col in ("open", "close", "high", "low", "volume", "price_1130"):
        np.testing.assert_array_equal(agg[col].to_numpy(), traded[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(agg["amount"].to_numpy(), traded["amount"].to_numpy(), rtol=1e-12)
    assert (mb["volume"] % 100 == 0).all()
    assert (mb["low"] <= mb[["open", "close"]].min(axis=1)).all()
    assert (mb["high"] >= mb[["open", "close"]].max(axis=1)).all()
    return len(traded)


def test_daily_bars_are_exact_aggregates_of_minute_bars(smoke_store: Store) -> None:
    d = smoke_store.read("daily_bars")
    limit_day = d.loc[(d["close"] == d["limit_up"]), "date"].iloc[0]
    one_price_day = d.loc[(~d["is_suspended"]) & (d["high"] == d["low"]), "date"].iloc[0]
    days = [smoke_store.start, limit_day, one_price_day, smoke_store.end]
    assert sum(_check_aggregates(smoke_store, day) for day in days) > 400


def test_minute_bars_regenerate_identically_and_for_a_subset(smoke_store: Store) -> None:
    day = smoke_store.calendar().sessions[300]
    a = smoke_store.minute_bars([day])
    b = smoke_store.minute_bars([day])
    pd.testing.assert_frame_equal(a, b)
    codes = list(a["code"].unique()[:3])
    sub = smoke_store.minute_bars([day], codes=codes)
    pd.testing.assert_frame_equal(
        sub.reset_index(drop=True), a[a["code"].isin(codes)].reset_index(drop=True)
    )


# -- A-share rules ---------------------------------------------------------------------------
def test_price_limits_suspensions_and_listing_days(default_store: Store) -> None:
    d = default_store.read("daily_bars")
    inst = default_store.read("instruments").set_index("code")
    st = default_store.read("st_status")
    traded = d[~d["is_suspended"]]
    lim = traded["limit_up"].notna()
    assert (traded.loc[lim, "close"] <= traded.loc[lim, "limit_up"]).all()
    assert (traded.loc[lim, "close"] >= traded.loc[lim, "limit_down"]).all()
    assert (traded["close"] == traded["limit_up"]).sum() > 100
    assert (traded["close"] == traded["limit_down"]).sum() > 100
    # limits follow the board, the ChiNext reform and ST, rounded half up
    is_st = np.zeros(len(d), dtype=bool)
    for row in st.itertuples():
        m = (d["code"] == row.code) & (d["date"] >= row.start) & (row.end is pd.NaT or True)
        m &= d["date"] < row.end if pd.notna(row.end) else True
        is_st |= m.to_numpy()
    board = inst.loc[d["code"], "board"].to_numpy()
    frac = limit_fraction(board, d["date"].to_numpy(), is_st)
    has = d["limit_up"].notna().to_numpy()
    np.testing.assert_allclose(
        d["limit_up"].to_numpy()[has], round_price(d["prev_close"].to_numpy() * (1 + frac))[has]
    )
    chinext_2019 = has & (board == "chinext") & (d["date"] < "2020-08-24").to_numpy() & ~is_st
    assert chinext_2019.sum() > 0
    np.testing.assert_allclose(frac[chinext_2019], 0.10)
    assert (frac[has & is_st & (board == "main")] == 0.05).all() and (
        has & is_st & (board == "main")
    ).sum() > 0
    # suspended days: no trading, price frozen at the previous close
    s = d[d["is_suspended"]]
    assert len(s) > 0
    assert (s["volume"] == 0).all() and (s["amount"] == 0).all()
    assert (s[["open", "high", "low", "close"]].to_numpy() == s[["prev_close"]].to_numpy()).all()
    # IPO days have no limit
    first_rows = d.sort_values("date").groupby("code").head(1).set_index("code")
    ipo = inst[inst["list_date"] >= default_store.start].index
    assert len(ipo) > 20
    assert first_rows.loc[ipo, "limit_up"].isna().all()


def test_fundamentals_are_point_in_time(default_store: Store) -> None:
    f = default_store.read("fundamentals")
    assert (f["ann_date"] > f["report_period"]).all()
    lag = (f["ann_date"] - f["report_period"]).dt.days
    annual = f["report_period"].dt.month == 12
    inst = default_store.read("instruments").set_index("code")
    normal = (
        f["ann_date"] > inst.loc[f["code"], "list_date"].to_numpy()
    )  # not a pre-listing statement
    assert lag[normal & ~annual].max() <= 62 and lag[normal & annual].max() <= 121
    for d in default_store.calendar().month_ends()[::17]:
        seen = default_store.read("fundamentals", end=d)
        assert len(seen) > 0 and (seen["ann_date"] <= d).all()
        assert len(seen) == int((f["ann_date"] <= d).sum())


# -- planted effects (targets: data/README.md) -----------------------------------------------
@pytest.fixture(scope="module")
def panel(default_store: Store) -> planted.Panel:
    return planted.load_panel(default_store)


@pytest.mark.parametrize(
    ("name", "target", "tolerance"),
    [("ideal_reversal", -0.05, 0.015), ("apm", 0.03, 0.015), ("ideal_amplitude", -0.05, 0.015)],
)
def test_behaviour_channels(
    panel: planted.Panel, name: str, target: float, tolerance: float
) -> None:
    mean, se, n = planted.monthly_ic(panel, getattr(planted, name)(panel))
    assert n >= 80
    assert abs(mean - target) <= tolerance, (name, mean)
    assert abs(mean / se) > 4, (name, mean, se)


def test_smart_money_channel(default_store: Store, panel: planted.Panel) -> None:
    month_ends = panel.month_ends[-49:-1]
    mean, se, n = planted.monthly_ic(panel, planted.smart_money(default_store, panel, month_ends))
    assert n == 48
    assert abs(mean - (-0.04)) <= 0.015, mean
    assert mean / se < -3


def test_nonlinear_style_effect(default_store: Store, panel: planted.Panel) -> None:
    mean, se, _ = planted.monthly_ic(panel, planted.nonlinear(default_store, panel))
    assert 0.04 <= mean <= 0.08, mean
    assert mean / se > 3


def test_forty_day_sequence_pattern(panel: planted.Panel) -> None:
    mean, se, n = planted.episode_pattern(panel)
    assert n > 300
    assert 0.07 <= mean <= 0.15, mean
    assert mean / se > 5


def test_predictable_style_and_industry_drifts(default_store: Store) -> None:
    for kind in ("styles", "industries"):
        rho = planted.factor_drift_autocorr(default_store, kind)
        assert 0.05 <= rho <= 0.2, (kind, rho)


def test_large_small_spread_is_predictable_from_index_levels(default_store: Store) -> None:
    bars = default_store.read("index_bars", columns=["date", "code", "close"])
    lv = bars.pivot(index="date", columns="code", values="close")
    spread = np.log(lv["399314.SZ"]).diff() - np.log(lv["399316.SZ"]).diff()
    past = spread.rolling(20).sum()
    nxt = spread[::-1].rolling(5).sum()[::-1].shift(-1)
    rows = np.arange(20, len(spread) - 6, 5)
    rho = np.corrcoef(past.iloc[rows], nxt.iloc[rows])[0, 1]
    assert rho > 0.03, rho


def test_regenerate_refuses_a_non_trading_day(smoke_store: Store) -> None:
    with pytest.raises(ValueError, match="not a trading day"):
        synth_build.regenerate_minutes(smoke_store, [pd.Timestamp("2024-01-06")])
