"""Trading-behaviour factors (SPEC §2) on the real A-share sample (validation only).

The sample has daily bars (2020-01-02 .. 2022-01-14) but no number of trades, no minute bars
and no 11:30 price, so:

- ideal amplitude (daily bars only) is computed; it is checked against an independent
  computation from the raw file, and its mean monthly rank IC is compared with the published
  -0.073;
- ideal reversal (number of trades), smart money (minute bars) and APM (the 11:30 price, with
  either of the APM index variants the code has: CSI 300 members or the whole market) are
  reported unavailable with the reason, never substituted;
- the composite is built from ideal amplitude alone, and the behaviour report says so;
- the report's preparation runs for the 2022-01-28 month-end (the sample's bars end on
  2022-01-14, so the last formation date has no forward return and none is made up).

Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import real_sample_dir
from quantbook.data import Store
from quantbook.factors import behavior
from quantbook.reports import behavior_monthly as bm
from scipy import stats

pytestmark = pytest.mark.real

AS_OF = pd.Timestamp("2022-01-28")  # January 2022 month-end on the SSE calendar
PUBLISHED_RANK_IC = -0.073
UNAVAILABLE = {
    "ideal_reversal": "number of trades",
    "smart_money": "1-minute bars",
    "apm": "11:30 price",
}
INPUT = {
    "ideal_reversal": "daily_bars.num_trades",
    "smart_money": "minute_bars",
    "apm": "daily_bars.price_1130",
}


@pytest.fixture(scope="module")
def report(real_store: Store) -> bm.BehaviorMonthlyReport:
    return bm.prepare(real_store, as_of=AS_OF, cache=False)


def first_bar(store: Store) -> pd.Timestamp:
    return pd.Timestamp(store.read("daily_bars", columns=["date"])["date"].min())


def test_status_reports_what_the_sample_lacks(real_store: Store) -> None:
    print("\n[behaviour/real] factor availability")
    for index in ("000300.SH", "market"):  # the APM index variants the code supports
        status = behavior.factor_status(real_store, params=behavior.BehaviorParams(apm_index=index))
        assert status["ideal_amplitude"].available
        for name, needs in UNAVAILABLE.items():
            st = status[name]
            assert not st.available
            assert needs in st.reason and "unavailable in store 'real'" in st.reason
            assert real_store.unavailable()[INPUT[name]] in st.reason  # the store's own reason
        if index == "000300.SH":
            for name, st in status.items():
                print(f"  {name}: {'available' if st.available else 'UNAVAILABLE - ' + st.reason}")
    print("  (APM is unavailable with either index variant, CSI 300 members or 'market')")


def test_ideal_amplitude_matches_the_raw_file(real_store: Store) -> None:
    """Recompute ideal amplitude from the raw parquet with pandas and compare.

    Seasoned stocks only (first bar at least 25 sessions before the window): the store marks
    no price limit in a stock's first sessions after listing, which decides whether a new
    listing's one-price days count; the raw file has no limit prices to repeat that choice.
    """
    raw = pd.read_parquet(
        real_sample_dir() / "ashare_daily_2020_2022.parquet",
        columns=["date", "code", "high", "low", "close", "prev_close"],
    )
    raw["date"] = pd.to_datetime(raw["date"])
    raw["code"] = raw["code"].astype(str)
    sessions = pd.DatetimeIndex(np.sort(raw["date"].unique()))
    first = raw.groupby("code")["date"].min()
    for day in pd.DatetimeIndex(["2021-06-30", "2021-12-31"]):
        i = sessions.get_loc(day)
        w = raw[(raw["date"] > sessions[i - 20]) & (raw["date"] <= day)]
        w = w.sort_values(["code", "date"]).reset_index(drop=True)
        ret = w["close"] / w["prev_close"]
        last = w.groupby("code")["close"].shift(1)
        # adjusted close: the factor changes only on days whose reference price is not the
        # previous close (dividends, splits), so equal closes stay exactly equal (ties)
        step = (last / w["prev_close"]).where((last - w["prev_close"]).abs() > 1e-9, 1.0)
        w["adj"] = w["close"] * step.fillna(1.0).groupby(w["code"]).cumprod()
        w["amp"] = w["high"] / w["low"] - 1.0
        one_price = (w["high"] <= w["low"]) & ((ret - 1.0).abs() >= 0.045)  # at a 5/10/20 % limit
        w = w[~one_price & np.isfinite(w["amp"])].copy()
        n = w.groupby("code")["date"].transform("size")
        w = w[n >= 10].copy()
        k = np.floor(0.25 * n[w.index] + 0.5)
        hi = w.groupby("code")["adj"].rank(method="first", ascending=False)  # ties: earlier first
        lo = w.groupby("code")["adj"].rank(method="first", ascending=True)
        v = w[hi <= k].groupby("code")["amp"].mean() - w[lo <= k].groupby("code")["amp"].mean()
        v.index = [f"{c[2:]}.{c[:2].upper()}" for c in v.index]
        seasoned = pd.Index(
            [f"{c[2:]}.{c[:2].upper()}" for c in first.index[first <= sessions[i - 25]]]
        )
        lib = behavior.compute_factors(real_store, day, factors=["ideal_amplitude"]).at(day)
        lib_v = lib["ideal_amplitude"].dropna()
        mine, theirs = v.index.intersection(seasoned), lib_v.index.intersection(seasoned)
        assert set(mine) == set(theirs)
        diff = (v.reindex(mine) - lib_v.reindex(mine)).abs()
        share = float((diff < 1e-9).mean())
        print(
            f"\n[behaviour/real] ideal amplitude {day:%Y-%m-%d}: {len(lib_v)} stocks; vs raw "
            f"recomputation on {len(mine)} seasoned stocks: {share:.2%} equal, max |diff| "
            f"{diff.max():.2g}"
        )
        assert share > 0.995 and diff.max() < 0.01


def test_ideal_amplitude_rank_ic(real_store: Store, report: bm.BehaviorMonthlyReport) -> None:
    """Mean monthly rank IC of ideal amplitude, computed here with scipy on the raw values.

    Factor at month-end ``t`` against the return from the close of ``t`` to the close of the
    next month-end, over the report's evaluation sample (universe and tradable at ``t``).
    Formation month-ends count when their 20-session window lies in the sample and the next
    month-end has bars: 2020-02-28 .. 2021-11-30 (2020-01-23 is 15 sessions after the first
    bar; it is shown, and left out of the figure).
    """
    vals = report.history.values["ideal_amplitude"].reindex(columns=report.panel.codes)
    fwd, sample = report.panel.forward, report.panel.sample
    rows = {}
    for d in report.dates:
        keep = sample.loc[d] & vals.loc[d].notna() & fwd.loc[d].notna()
        if keep.sum() > 100:
            rows[d] = stats.spearmanr(vals.loc[d][keep], fwd.loc[d][keep]).statistic
    ric_all = pd.Series(rows, name="rank_ic")
    sessions = real_store.calendar().sessions
    start = sessions.searchsorted(first_bar(real_store))
    full = [d for d in ric_all.index if sessions.get_loc(d) - (report.params.window - 1) >= start]
    ric = ric_all.loc[full]

    # the report's own rank IC: the same up to the ties its 5-MAD clipping makes in the tails
    ev = report.evaluations["ideal_amplitude"]
    rep_ric = ev.rank_ic.dropna()
    assert list(rep_ric.index) == list(ric_all.index)
    assert (rep_ric - ric_all).abs().max() < 1e-3

    n = len(ric)
    mean, sd = float(ric.mean()), float(ric.std(ddof=1))
    t = mean / (sd / math.sqrt(n))
    mean_all = float(ric_all.mean())
    t_all = mean_all / (float(ric_all.std(ddof=1)) / math.sqrt(len(ric_all)))
    assert ev is not None
    st = ev.statistics()
    table = pd.DataFrame({"rank_ic": ric_all, "report_rank_ic": rep_ric})
    print("\n[behaviour/real] ideal amplitude monthly rank IC (factor at t, return t -> t+1)")
    print(table.to_string(float_format=lambda v: f"{v:+.4f}"))
    print(
        f"  {ric.index[0]:%Y-%m-%d} .. {ric.index[-1]:%Y-%m-%d}: mean rank IC {mean:+.4f}, "
        f"t = {t:+.2f}, {n} months, {int((ric < 0).sum())} negative "
        f"(published {PUBLISHED_RANK_IC:+.3f})"
    )
    print(
        f"  with 2020-01-23 (short window): {mean_all:+.4f}, t = {t_all:+.2f}, {len(ric_all)} months"
    )
    print(
        f"  report's history-wide figures: IC {st['ic_mean']:+.4f}, rank IC "
        f"{st['rank_ic_mean']:+.4f}, long-short IR {st['ls_ir']:.2f}, win rate "
        f"{st['win_rate']:.0%}, {st['ls_n_periods']} months (published -0.053, -0.073, 2.98, 83 %)"
    )
    assert n == 22 and ric.index[0] == pd.Timestamp("2020-02-28")
    assert ric.index[-1] == pd.Timestamp("2021-11-30")  # no bars after 2022-01-14
    # robustly negative on this sample: t far below -2
    assert mean < 0 and t < -3


def test_report_prepares_for_a_2022_month_end(
    real_store: Store, report: bm.BehaviorMonthlyReport
) -> None:
    assert report.as_of == AS_OF
    assert report.history.available == ["ideal_amplitude"]
    assert set(report.history.unavailable) == set(UNAVAILABLE)
    for name in UNAVAILABLE:
        assert report.evaluations[name] is None and report.unavailable_reason(name)
    comp = report.composite
    assert comp is not None and comp.factors == ("ideal_amplitude",)
    composite = report.evaluations[bm.COMPOSITE]
    assert composite is not None
    # the last formation month-end (2021-12-31) has no return: the bars end on 2022-01-14
    assert report.panel.forward.loc["2021-12-31"].notna().sum() == 0
    assert composite.long_short.index[-1] == pd.Timestamp("2021-11-30")

    narrative = bm.narrative(report).markdown
    shown = bm.show_definition(report, bm.COMPOSITE)
    assert shown is not None
    definition = shown.markdown
    print(f"\n[behaviour/real] narrative for {AS_OF:%Y-%m-%d}:\n  {narrative}")
    print(f"[behaviour/real] composite definition:\n  {definition}")
    assert "no long-short return for January 2022" in narrative
    assert "Not available in this store: Ideal reversal, Smart money, APM" in narrative
    assert "the composite combines the rest" in narrative
    assert "Factors combined here: Ideal amplitude." in definition
    for name, needs in UNAVAILABLE.items():
        label = behavior.FACTOR_INFO[name].label
        reason = report.history.status[name].reason
        assert f"{label} ({reason})" in definition and needs in reason
        assert bm.show_factor_table(report, name) is None
        assert bm.show_definition(report, name) is None
    box = bm.show_unavailable(report)
    assert box is not None
    for name in UNAVAILABLE:
        label = behavior.FACTOR_INFO[name].label
        assert box.markdown.count(f"{label} (") == 1, label
    avail = bm.show_availability(report)
    assert avail is not None
    summary = bm.summary_table(report)
    print(summary.to_string(float_format=lambda v: f"{v:+.4f}"))
    assert summary.loc["Ideal amplitude", "ls_n_periods"] > 0


def test_style_section_names_missing_styles(real_store: Store) -> None:
    sr = bm.style_factor_returns(real_store, as_of=AS_OF)
    print(f"\n[behaviour/real] style section: {sr.message}")
    print(sr.history.to_string(float_format=lambda v: f"{v:+.4f}"))
    assert sr.available and list(sr.history.columns) == ["Size"]
    assert "BookToPrice (needs point-in-time fundamentals" in sr.message
    assert "Growth (needs point-in-time fundamentals" in sr.message
    assert real_store.unavailable()["fundamentals"] in sr.message
    # January 2022 has no return (bars end 2022-01-14): said, not shown as a number
    assert sr.history.index[-1] == AS_OF and sr.history.iloc[-1].isna().all()
    assert f"No factor return for the month ending {AS_OF:%Y-%m-%d}" in sr.message
    assert sr.history.loc["2021-12-31", "Size"] < 0
