"""The behaviour-factor report: its tables against their definitions, no lookahead, stores
that lack inputs, the risk-model section, and a run through the runner into the site."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_small import REPO, Env, perturb_after, small_tables
from quantbook.data import Store, StoreWriter
from quantbook.evaluation import evaluate_factor
from quantbook.reports import Metrics
from quantbook.reports import behavior_monthly as bm
from quantbook.reports.contract import SPECS
from quantbook.tables import Table


@pytest.fixture(scope="module")
def report(smoke_store: Store) -> bm.BehaviorMonthlyReport:
    return bm.prepare(smoke_store, as_of=smoke_store.calendar().month_ends()[-1])


def test_summary_table_and_metrics(report: bm.BehaviorMonthlyReport) -> None:
    m = Metrics()
    t = bm.summary_table(report, metrics=m)
    assert list(t.index) == ["Ideal reversal", "Smart money", "APM", "Ideal amplitude", "Composite"]
    for key in SPECS["behavior_monthly"].headline:
        assert m[key] is not None, key
    ev = report.evaluations["apm"]
    ls = ev.groups.long_short.dropna()
    assert t.loc["APM", "ls_n_periods"] == len(ls) == m["factor.apm.ls_n_periods"]
    assert t.loc["APM", "ic_mean"] == pytest.approx(ev.ic.dropna().mean())
    assert t.loc["APM", "ls_ir"] == pytest.approx(ls.mean() / ls.std() * np.sqrt(12))
    assert t.loc["APM", "win_rate"] == pytest.approx((ls > 0).mean())
    assert t.loc["APM", "win_rate_12m"] == pytest.approx((ls.iloc[-12:] > 0).mean())
    # history-wide: every month-end with a forward return, the last formed at the previous month-end
    assert ls.index[-1] == report.prev_month_end
    assert m["factor.apm.ls_end"] == f"{report.prev_month_end:%Y-%m-%d}"
    # expected signs on the synthetic market (planted effects)
    assert t.loc["Ideal reversal", "ic_mean"] < 0 < t.loc["APM", "ic_mean"]
    assert t.loc["Composite", "ls_ir"] > 0
    assert isinstance(bm.show_summary(t, report), Table)


def test_long_short_and_quintiles(report: bm.BehaviorMonthlyReport) -> None:
    f = bm.long_short_frame(report, "ideal_amplitude")
    assert f.index[-1] == report.as_of and f["formed"].iloc[-1] == report.prev_month_end
    np.testing.assert_allclose(f["net_value"], (1 + f["long_short"]).cumprod())
    np.testing.assert_allclose(f["long_short"], f["long"] - f["short"])
    q = bm.quintile_table(report, "ideal_amplitude")
    month_ls = report.evaluations["ideal_amplitude"].statistics()["month_ls"]
    assert q.loc["Q1", "latest_return"] - q.loc["Q5", "latest_return"] == pytest.approx(
        month_ls
    )  # long Q1
    assert list(q.index) == ["Q1", "Q2", "Q3", "Q4", "Q5"]


def test_pools_and_weights(report: bm.BehaviorMonthlyReport) -> None:
    m = Metrics()
    p = bm.pool_table(report, metrics=m)
    assert list(p.index) == ["All (universe)", "CSI 800", "CSI 1000", "CSI 2000"]
    assert p.loc["All (universe)", "ic_mean"] == pytest.approx(
        report.evaluations["composite"].ic.dropna().mean()
    )
    assert m["pool.csi1000.ls_n_periods"] == p.loc["CSI 1000", "ls_n_periods"]
    # groups inside a pool hold pool members only
    ev = evaluate_factor(
        report.composite.values,
        report.panel.forward,
        tradable=report.panel.sample & report.panel.pools["CSI 800"],
    )
    held = ev.groups.labels.notna()
    assert not (held & ~report.panel.pools["CSI 800"]).any().any()
    w = bm.composite_weights(report)
    assert len(w) == 12 and (w["Ideal reversal"] < 0).mean() > 0.5


def test_narrative_states_the_numbers(report: bm.BehaviorMonthlyReport) -> None:
    text = bm.narrative(report).markdown
    st = report.evaluations["composite"].statistics()
    assert f"{report.as_of:%B %Y}" in text
    assert f"{abs(st['month_ls']):.2%}" in text
    assert f"{st['ls_ir']:.2f}" in text
    for name in ("ideal_reversal", "composite"):
        assert "Definition" in bm.show_definition(report, name).markdown
    fig = bm.plot_long_short(report, "composite")
    assert fig.axes and bm.plot_quintiles(report, "apm").axes


def test_report_uses_no_data_after_as_of(smoke_store: Store, tmp_path: Path) -> None:
    as_of = pd.Timestamp("2024-02-29")  # the first month-end with composite weights
    copy = Store(perturb_after(smoke_store.path, tmp_path / "smoke", as_of))
    a = bm.prepare(smoke_store, as_of=as_of)
    b = bm.prepare(copy, as_of=as_of)
    assert b.history.cached == dict.fromkeys(b.history.available, 0)  # never served from a.'s cache
    pd.testing.assert_frame_equal(bm.summary_table(a), bm.summary_table(b))
    pd.testing.assert_frame_equal(bm.pool_table(a), bm.pool_table(b))
    pd.testing.assert_series_equal(a.composite.values.loc[as_of], b.composite.values.loc[as_of])
    assert a.composite.values.loc[as_of].notna().sum() > 100


def _bare_store(root: Path, *, industry: bool = True) -> Store:
    """The tiny store without num_trades, the 11:30 price and minute bars (and industry)."""
    tables = small_tables()
    tables["daily_bars"] = tables["daily_bars"].drop(columns=["num_trades", "price_1130"])
    if not industry:
        del tables["industry"]
    with StoreWriter("bare", source="files", params={}, root=root) as w:
        for t, df in tables.items():
            w.write(t, df)
        w.mark_unavailable("minute_bars", "the export has no minute bars")
        if not industry:
            w.mark_unavailable("industry", "the export has no industries")
        return w.commit()


def test_store_without_inputs(tmp_path: Path) -> None:
    rep = bm.prepare(_bare_store(tmp_path), as_of="2024-03-29")
    m = Metrics()
    t = bm.summary_table(rep, metrics=m)
    assert m["factor.smart_money.available"] is False and m["factor.ideal_amplitude.available"]
    assert t.loc["APM"].drop("ls_n_periods").isna().all()
    # one box names each missing factor once, with its reason
    box = bm.show_unavailable(rep)
    assert box is not None and "Not in this store" in box.markdown
    for label in ("Ideal reversal", "Smart money", "APM"):
        assert box.markdown.count(label) == 1, label
    assert "num_trades" in box.markdown and "Ideal amplitude" not in box.markdown
    # the unavailable factors' sections render nothing
    for name in ("ideal_reversal", "smart_money", "apm"):
        for show in (
            bm.show_definition,
            bm.show_factor_table,
            bm.plot_long_short,
            bm.show_quintiles,
            bm.plot_quintiles,
        ):
            assert show(rep, name) is None, (show.__name__, name)
    assert isinstance(bm.show_factor_table(rep, "ideal_amplitude"), Table)
    comp = bm.show_definition(rep, "composite")
    assert comp is not None and "Left out (unavailable)" in comp.markdown
    text = bm.narrative(rep).markdown
    assert "Not available in this store: Ideal reversal, Smart money, APM" in text
    # too short a history for the composite's weights, said with the months there are
    n = int(rep.evaluations["ideal_amplitude"].rank_ic.notna().sum())
    assert n < rep.icir_window and f"need {rep.icir_window} months" in text
    assert f"({n} so far)" in text


def test_store_without_industry_has_no_composite_and_says_why(tmp_path: Path) -> None:
    """Daily bars only: the composite is standardized within industries, so it is left out
    with that reason (not "needs 12 months of rank ICs")."""
    store = _bare_store(tmp_path, industry=False)
    rep = bm.prepare(store, as_of="2024-03-29")
    assert rep.evaluations["ideal_amplitude"] is not None
    assert rep.composite is None and rep.evaluations["composite"] is None
    box = bm.show_unavailable(rep)
    assert box is not None and "Composite (no SW industry assignments" in box.markdown
    assert "the export has no industries" in box.markdown
    text = bm.narrative(rep).markdown
    assert "rank ICs" not in text and "no SW industry assignments" in text
    for show in (bm.show_definition, bm.show_factor_table, bm.plot_long_short):
        assert show(rep, "composite") is None
    assert bm.show_weights(rep) is None
    assert bm.show_pool_composite(bm.pool_table(rep), rep) is None


def test_store_with_every_input_has_no_unavailable_box(report: bm.BehaviorMonthlyReport) -> None:
    assert bm.show_unavailable(report) is None
    assert isinstance(bm.show_definition(report, "apm"), bm.Text)


def test_blank_style_months_carry_their_reason() -> None:
    months = pd.DatetimeIndex(["2021-11-30", "2021-12-31", "2022-01-28", "2022-02-28"])
    frame = pd.DataFrame({"Size": [0.01, np.nan, np.nan, np.nan], "Value": 0.0}, index=months)
    note = bm.blank_reasons(frame, pd.Timestamp("2022-01-14"))
    assert note == (
        "– Size 2022-01 to 2022-02: no daily bars after 2022-01-14 in this store; "
        "Size 2021-12: no stock with both the style and the month's return."
    )
    assert bm.blank_reasons(frame.fillna(0.0), pd.Timestamp("2022-01-14")) == ""


def test_style_section_says_when_the_risk_model_is_missing(
    smoke_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantbook

    # hide the risk model even when an earlier test imported it (the package attribute too)
    monkeypatch.setitem(sys.modules, "quantbook.risk", None)
    monkeypatch.delattr(quantbook, "risk", raising=False)
    sr = bm.style_factor_returns(smoke_store, as_of=smoke_store.calendar().month_ends()[-1])
    assert not sr.available and "not available in this build" in sr.message
    assert "unavailable" in bm.show_style_returns(sr).markdown  # type: ignore[union-attr]


def test_run_renders_page(
    smoke_store: Store, report: bm.BehaviorMonthlyReport, tmp_path: Path
) -> None:
    from quantbook import site
    from quantbook.runner import run_report

    root = tmp_path / "book_root"
    for sub in ("notebooks", "params", "book/methods"):
        (root / sub).mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / "behavior_monthly.ipynb", root / "notebooks")
    shutil.copy(REPO / "params" / "behavior_monthly.yml", root / "params")
    (root / "params" / "schedule.yml").write_text(
        "reports:\n  behavior_monthly:\n    calendar: monthly\n    start: 2026-01-01\n    last: 12\n"
    )
    for md in ("intro.md", "data.md", "methods.md", "methods/behavior_factors.md"):
        shutil.copy(REPO / "book" / md, root / "book" / md)
    shutil.copy(REPO / "_config.yml", root)
    as_of = f"{report.as_of:%Y-%m-%d}"
    with Env(
        QUANTBOOK_DATA=str(smoke_store.path.parent), QUANTBOOK_ROOT=str(root), MPLBACKEND="Agg"
    ):
        res = run_report("behavior_monthly", as_of, data="smoke", root=root, notify=lambda _m: None)
        site.generate_site(root=root, data="smoke")
    assert res.notebook.is_file() and res.as_of == as_of
    metrics = json.loads(res.metrics.read_text())
    assert (
        metrics["factor.composite.ls_n_periods"]
        == report.evaluations["composite"].statistics()["ls_n_periods"]
    )
    assert metrics["provenance.report"] == "behavior_monthly"
    nb = json.loads(res.notebook.read_text())
    errors = [
        o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    toc = (root / "_toc.yml").read_text()
    assert (
        f"book/reports/behavior_monthly/{as_of}" in toc and "book/methods/behavior_factors" in toc
    )
