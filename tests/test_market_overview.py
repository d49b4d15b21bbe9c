"""The market overview's numbers (against plain recomputations), no lookahead, and its helpers.

The lookahead test writes a copy of the store with every row dated after the as-of date
perturbed and checks that every table of the report is unchanged. It runs on the tiny test
store and on the synthetic smoke store.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_small import build_small_store, perturb_after
from quantbook import provenance
from quantbook.data import Store, open_store
from quantbook.reports import Metrics, flatten, read_metrics
from quantbook.reports import market_overview as mo
from quantbook.reports.contract import AsOfPolicyError, policy_date
from quantbook.tables import table


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mo_data")
    build_small_store(root)
    return root


@pytest.fixture(scope="module")
def store(tiny_root: Path):  # type: ignore[no-untyped-def]
    return open_store("tiny", root=tiny_root)


# -- numbers against plain recomputations --------------------------------------------------------------
def test_universe_counts(store) -> None:  # type: ignore[no-untyped-def]
    m = Metrics()
    feb = mo.universe_summary(mo.prepare(store, as_of="2024-02-29"), metrics=m)
    assert feb.loc["Stocks in the universe", "stocks"] == 12
    assert feb.loc["Listed this month", "stocks"] == 1  # 688002.SH, 2024-02-19
    assert feb.loc["ST / *ST", "stocks"] == 1
    assert m["universe.board.star"] == 2
    jan = mo.universe_summary(mo.prepare(store, as_of="2024-01-31"))
    assert jan.loc["Stocks in the universe", "stocks"] == 11


def test_pools_are_point_in_time(store) -> None:  # type: ignore[no-untyped-def]
    feb = mo.prepare(store, as_of="2024-02-29", universe="csi300")
    mar = mo.prepare(store, as_of="2024-03-29", universe="000300.SH")
    assert "000002.SZ" not in feb.codes and "000002.SZ" in mar.codes  # joined 2024-03-11
    pools = mo.pool_sizes(mo.prepare(store, as_of="2024-03-29"))
    assert pools.loc["000300.SH", "members"] == 5 and pools.loc["000905.SH", "members"] == 4
    with pytest.raises(mo.UnknownUniverseError, match="csi300"):
        mo.prepare(store, as_of="2024-03-29", universe="csi9999")


def test_index_returns_match_closes(store) -> None:  # type: ignore[no-untyped-def]
    md = mo.prepare(store, as_of="2024-02-29")
    got = mo.index_returns(md, categories=("broad", "size", "industry"))
    bars = store.read("index_bars").pivot(index="date", columns="code", values="close")
    for code in ("000300.SH", "000985.CSI", "801080.SI"):
        c = bars[code]
        assert got.loc[code, "ret_month"] == pytest.approx(
            c["2024-02-29"] / c["2024-01-31"] - 1, rel=1e-12
        )
        assert got.loc[code, "ret_ytd"] == pytest.approx(
            c["2024-02-29"] / c["2023-12-29"] - 1, rel=1e-12
        )
    assert list(got.index[:3]) == ["000300.SH", "000905.SH", "000985.CSI"]
    levels = mo.index_levels(md)
    assert levels.index[0] == pd.Timestamp("2023-12-29") and (levels.iloc[0] == 1.0).all()


def test_breadth_and_daily_activity_match_loops(store) -> None:  # type: ignore[no-untyped-def]
    md = mo.prepare(store, as_of="2024-02-29")
    bars = store.read("daily_bars", start="2024-01-31", end="2024-02-29")
    rets = {}
    for code, g in bars.groupby("code"):
        g = g.set_index("date")
        if pd.Timestamp("2024-01-31") in g.index:
            rets[code] = (
                g.loc["2024-02-29", "close"]
                * g.loc["2024-02-29", "adj_factor"]
                / (g.loc["2024-01-31", "close"] * g.loc["2024-01-31", "adj_factor"])
                - 1
            )
    b = mo.breadth(md)
    assert b["stocks"].iloc[0] == len(rets) == 11
    assert b["up"].iloc[0] == sum(r > 0 for r in rets.values())
    assert b["share_up"].iloc[0] == pytest.approx(sum(r > 0 for r in rets.values()) / len(rets))
    assert b["median_ret"].iloc[0] == pytest.approx(float(np.median(list(rets.values()))))

    daily = mo.daily_activity(md)
    month = bars[bars["date"] >= "2024-02-01"]
    for day, g in month.groupby("date"):
        t = g[~g["is_suspended"]]
        assert daily.loc[day, "advancers"] == int((t["close"] > t["prev_close"]).sum())
        assert daily.loc[day, "decliners"] == int((t["close"] < t["prev_close"]).sum())
        turn = t["amount"].sum() / (t["close"] * t["float_shares"]).sum()
        assert daily.loc[day, "turnover"] == pytest.approx(turn, rel=1e-12)
    assert list(daily.index) == list(md.sessions)


def test_limits_and_suspensions(store) -> None:  # type: ignore[no-untyped-def]
    bars = store.read("daily_bars", start="2024-01-02", end="2024-01-31")
    up = down = 0
    for row in bars.itertuples():
        if row.is_suspended or math.isnan(row.limit_up):
            continue
        up += row.close >= row.limit_up - 0.005
        down += row.close <= row.limit_down + 0.005
    m = Metrics()
    lim = mo.limit_summary(mo.prepare(store, as_of="2024-01-31"), metrics=m)
    assert lim.loc["Limit-up close", "stock_days"] == up and up >= 1
    assert lim.loc["Limit-down close", "stock_days"] == down
    assert (
        lim.loc["Suspended", "stock_days"] == 5 and lim.loc["Suspended", "stocks"] == 1
    )  # 2024-01-15..19
    assert m["suspensions.stock_days"] == 5 and m["limits.up.stock_days"] == up


def test_turnover_by_board(store) -> None:  # type: ignore[no-untyped-def]
    md = mo.prepare(store, as_of="2024-02-29")
    t = mo.turnover(md)
    assert list(t.index) == ["chinext", "main", "star", "all"]
    assert t.loc["all", "stocks"] == 12
    assert t.loc["all", "amount_bn"] == pytest.approx(
        t.loc[["chinext", "main", "star"], "amount_bn"].sum()
    )


def test_refuses_non_trading_day_and_date_after_end(store) -> None:  # type: ignore[no-untyped-def]
    # the runner moves a non-trading day to the previous session; prepare refuses it
    with pytest.raises(AsOfPolicyError, match="not a trading day"):
        mo.prepare(store, as_of="2024-03-31")
    assert policy_date(store, "2024-03-31", "session") == pd.Timestamp("2024-03-29")
    with pytest.raises(AsOfPolicyError, match="2024-04-15"):
        mo.prepare(store, as_of="2024-06-28")


# -- no lookahead ----------------------------------------------------------------------------------
def _assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.mark.parametrize("as_of", ["2024-01-31", "2024-02-29", "2024-02-20"])
def test_no_lookahead_tiny(tiny_root: Path, tmp_path: Path, as_of: str) -> None:
    orig = open_store("tiny", root=tiny_root)
    perturbed_root = tmp_path / "perturbed"
    perturb_after(orig.path, perturbed_root / "tiny", as_of)
    pert = open_store("tiny", root=perturbed_root)
    assert pert.fingerprint() != orig.fingerprint()  # the copy did change
    for universe in ("all", "csi300"):
        _assert_same_tables(
            mo.compute_tables(orig, as_of=as_of, universe=universe),
            mo.compute_tables(pert, as_of=as_of, universe=universe),
        )


def test_no_lookahead_smoke_store(smoke_store: Store, tmp_path: Path) -> None:
    """The same on the synthetic smoke store (``tests/conftest.py``), at a mid-sample month-end."""
    ends = smoke_store.calendar().month_ends()
    as_of = ends[len(ends) // 2]
    perturb_after(smoke_store.path, tmp_path / "smoke", as_of)
    pert = open_store("smoke", root=tmp_path)
    assert pert.fingerprint() != smoke_store.fingerprint()
    _assert_same_tables(
        mo.compute_tables(smoke_store, as_of=as_of), mo.compute_tables(pert, as_of=as_of)
    )


# -- presentation ------------------------------------------------------------------------------------
def test_tables_have_fixed_formats(store) -> None:  # type: ignore[no-untyped-def]
    md = mo.prepare(store, as_of="2024-02-29")
    t = mo.show_index_returns(mo.index_returns(md), md, title="Broad")
    text = repr(t)
    assert "Broad" in text and "%" in text and "Year to date" in text
    assert (
        t._repr_html_()
        == mo.show_index_returns(mo.index_returns(md), md, title="Broad")._repr_html_()
    )
    for frame in mo.compute_tables(store, as_of="2024-02-29").values():
        assert len(frame) > 0
    shown = table(pd.DataFrame({"x": [1.0, np.nan], "n": [1, 2]}), formats={"x": ".1%"})
    assert repr(shown).split("\n") == ["        x  n", "0  100.0%  1", "1       –  2"]


def test_figures_are_returned_not_shown(store) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    md = mo.prepare(store, as_of="2024-02-29")
    for fig in (
        mo.plot_index_levels(mo.index_levels(md)),
        mo.plot_industry_returns(mo.index_returns(md, categories=("industry",))),
        mo.plot_daily_activity(mo.daily_activity(md)),
    ):
        assert isinstance(fig, Figure) and fig.axes


# -- metrics and provenance --------------------------------------------------------------------------
def test_metrics_flat_and_atomic(tmp_path: Path) -> None:
    m = Metrics()
    m.record("a.b", np.float64(0.5))
    m.update(
        {"c": {"d": np.int64(2)}, "nan": float("nan"), "day": pd.Timestamp("2024-01-31")},
        prefix="x",
    )
    assert m.to_dict() == {"a.b": 0.5, "x.c.d": 2, "x.day": "2024-01-31", "x.nan": None}
    assert flatten({"a": {"b": [1, 2]}}) == {"a.b": "1, 2"}
    path = m.write(tmp_path / "sub" / "m.json")
    assert path is not None and read_metrics(path) == m.to_dict()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["m.json"]
    assert m.write("") is None
    with pytest.raises(ValueError):
        m.record(".bad", 1)


def test_provenance(store) -> None:  # type: ignore[no-untyped-def]
    prov = provenance.collect(
        store, as_of="2024-02-29", report="market_overview", params={"universe": "all"}
    )
    assert prov.is_synthetic and "simulated" in (prov.banner_text() or "")
    html = prov._repr_html_()
    assert "admonition warning" in html and "Synthetic data" in html and store.fingerprint() in html
    flat = prov.to_metrics()
    assert flat["provenance.params.universe"] == "all"
    assert flat["provenance.fingerprint"] == store.fingerprint()
    assert "provenance.versions.python" in flat and "provenance.versions.pandas" in flat
    assert json.dumps(flat)  # JSON-safe
    assert "Data fingerprint" in repr(prov)
    git = provenance.git_state()
    assert git.commit == "unknown" or len(git.commit) == 40
