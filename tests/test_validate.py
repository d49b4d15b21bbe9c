"""Unit tests of the validation rules (quantbook.data.validate) on small frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from quantbook.data.calendar import TradingCalendar
from quantbook.data.market_rules import limit_fraction, limit_prices
from quantbook.data.schema import table_spec
from quantbook.data.store import StoreWriter, revalidate_store
from quantbook.data.validate import (
    DataValidationError,
    Finding,
    coerce,
    in_spells,
    rolling_median_by_group,
    validate_table,
)

SESSIONS = TradingCalendar("2021-03-01", "2021-04-30").sessions


def bars(codes: tuple[str, ...] = ("600000.SH", "000001.SZ"), n: int = 10) -> pd.DataFrame:
    """Clean daily bars: flat prices, consistent OHLC and amounts, within every limit."""
    dates = SESSIONS[:n]
    rows = []
    for code in codes:
        for d in dates:
            rows.append(
                {
                    "date": d, "code": code, "open": 10.0, "high": 10.2, "low": 9.8, "close": 10.0,
                    "prev_close": 10.0, "volume": 1000.0, "amount": 10000.0, "adj_factor": 1.0,
                    "is_suspended": False, "limit_up": 11.0, "limit_down": 9.0,
                }
            )  # fmt: skip
    return pd.DataFrame(rows)


def run(name: str, df: pd.DataFrame, **context: Any) -> list[Finding]:
    spec = table_spec(name)
    return validate_table(spec, coerce(spec, df), context=context)


def only(findings: list[Finding], rule: str) -> Finding:
    hits = [f for f in findings if f.rule == rule]
    assert len(hits) == 1, findings
    return hits[0]


def set_rows(df: pd.DataFrame, rows: list[int], **values: Any) -> pd.DataFrame:
    out = df.copy()
    for column, value in values.items():
        out.loc[rows, column] = value
    return out


def test_clean_bars_have_no_findings_even_strict() -> None:
    assert run("daily_bars", bars()) == []
    assert run("daily_bars", bars(), strict=True) == []


# -- hard rules ------------------------------------------------------------------------------
def test_non_trading_day_is_hard() -> None:
    df = set_rows(bars(), [3], date=pd.Timestamp("2021-03-06"))  # a Saturday
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df)
    err = e.value
    assert (err.table, err.column, err.rule, err.count) == ("daily_bars", "date", "trading_day", 1)
    assert "daily_bars" in str(err) and "trading_day" in str(err) and "2021-03-06" in str(err)


@pytest.mark.parametrize(("column", "value"), [("close", -1.0), ("open", np.inf), ("low", 0.0)])
def test_bad_price_is_hard(column: str, value: float) -> None:
    df = set_rows(bars(), [2, 5], **{column: value})
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df)
    assert (e.value.column, e.value.rule, e.value.count) == (column, "positive_price", 2)
    assert f"column {column!r}" in str(e.value)


def test_bad_price_on_suspended_row_is_allowed() -> None:
    df = set_rows(bars(), [2], close=0.0, open=0.0, high=0.0, low=0.0, volume=0.0, amount=0.0)
    df.loc[2, "is_suspended"] = True
    assert run("daily_bars", df) == []


@pytest.mark.parametrize("column", ["volume", "amount"])
def test_negative_volume_or_amount_is_hard(column: str) -> None:
    df = set_rows(bars(), [4], **{column: -5.0})
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df)
    assert (e.value.table, e.value.column, e.value.rule, e.value.count) == (
        "daily_bars",
        column,
        "non_negative",
        1,
    )


def test_volume_in_lots_is_a_units_error() -> None:
    df = bars()
    df["volume"] = df["volume"] / 100  # a vendor's lots left unconverted
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df)
    assert e.value.rule == "units" and "lots" in str(e.value)


def test_units_are_judged_per_code() -> None:
    df = bars(("600000.SH", "000001.SZ", "000002.SZ"))
    df.loc[df["code"] == "000002.SZ", "volume"] *= 100  # shares where lots were expected
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df)
    assert (e.value.rule, e.value.column, e.value.count) == ("units", "volume,amount", 10)
    text = str(e.value)
    assert "about 0.01 x the close price for 1 of 3 codes (000002.SZ;" in text
    assert "volume looks like shares, not lots" in text


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
def test_price_outlier_is_hard_on_every_price(column: str) -> None:
    df = set_rows(bars(n=20), [11], **{column: 1e12})  # row 11: 600000.SH, 12th session
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df)
    err = e.value
    assert (err.table, err.column, err.rule, err.count) == (
        "daily_bars",
        column,
        "price_outlier",
        1,
    )
    assert f"{column} of 1e+12 on 2021-03-16 for 600000.SH is 1e+11 times its median" in str(err)
    assert err.rows is not None and err.rows["code"].tolist() == ["600000.SH"]


def test_price_outlier_of_a_new_listing_is_hard() -> None:
    inst = pd.DataFrame(
        {"code": ["600000.SH"], "board": ["star"], "list_date": [SESSIONS[0]]}
    )  # listed on the first day: no price limit for 5 sessions, but no outlier either
    df = set_rows(bars(("600000.SH",), 20), [2], close=1e12, high=1e12)
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df, instruments=inst)
    assert (e.value.column, e.value.rule) == ("high", "price_outlier")


def test_moderate_price_outlier_is_soft_and_level_shifts_pass() -> None:
    df = set_rows(bars(n=20), [11], high=60.0)  # 6 times the median close
    f = only(run("daily_bars", df), "price_outlier")
    assert (f.column, f.count) == ("high", 1) and "2021-03-16,600000.SH" in f.example
    with pytest.raises(DataValidationError, match="price_outlier"):
        run("daily_bars", df, strict=True)
    shifted = bars(("600000.SH",), 40)  # a 1:10 split: the level moves, the median with it
    later = shifted.index >= 20
    for c in ("open", "high", "low", "close", "prev_close"):
        shifted.loc[later, c] /= 10
    shifted.loc[later, "amount"] /= 10
    assert "price_outlier" not in {f.rule for f in run("daily_bars", shifted)}


def test_rolling_median_by_group_matches_pandas() -> None:
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame(
        {"g": rng.integers(0, 7, n), "t": rng.permutation(n), "v": rng.normal(size=n)}
    )
    frame.loc[rng.choice(n, 40, replace=False), "v"] = np.nan
    got = rolling_median_by_group(
        frame["v"].to_numpy(), frame["g"].to_numpy(), frame["t"].to_numpy(), half_window=3
    )
    expected = (
        frame.sort_values("t")
        .groupby("g")["v"]
        .transform(lambda s: s.rolling(7, center=True, min_periods=1).median())
        .reindex(frame.index)
    )
    np.testing.assert_allclose(got, expected.to_numpy())


def spells(rows: list[tuple[str, str, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "code": c,
                "start": pd.Timestamp(s),
                "end": pd.Timestamp(e) if e else pd.NaT,
                "value": v,
            }
            for c, s, e, v in rows
        ]
    )


@pytest.mark.parametrize("name", ["st_status", "industry"])
def test_spell_end_before_start_is_hard(name: str) -> None:
    value = "ST" if name == "st_status" else "48"
    df = spells([("600000.SH", "2021-03-10", "2021-03-10", value)])
    with pytest.raises(DataValidationError) as e:
        run(name, df)
    assert (e.value.table, e.value.column, e.value.rule) == (name, "end", "end_after_start")


@pytest.mark.parametrize("name", ["st_status", "industry"])
def test_overlapping_spells_are_hard(name: str) -> None:
    value = "ST" if name == "st_status" else "48"
    df = spells(
        [
            ("600000.SH", "2021-01-04", "2021-03-01", value),
            ("600000.SH", "2021-02-01", None, value),
            ("000001.SZ", "2021-01-04", "2021-02-01", value),
            ("000001.SZ", "2021-02-01", None, value),  # touching, not overlapping
        ]
    )
    with pytest.raises(DataValidationError) as e:
        run(name, df)
    assert (e.value.table, e.value.rule, e.value.count) == (name, "spell_overlap", 1)
    assert e.value.rows is not None and set(e.value.rows["code"]) == {"600000.SH"}


def test_open_spell_followed_by_another_overlaps() -> None:
    df = spells([("600000.SH", "2021-01-04", None, "ST"), ("600000.SH", "2021-06-01", None, "*ST")])
    with pytest.raises(DataValidationError, match="spell_overlap"):
        run("st_status", df)


def test_index_member_overlap_is_per_index_and_code() -> None:
    def members(index_2: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "index_code": ["000300.SH", index_2],
                "code": ["600000.SH", "600000.SH"],
                "start": pd.to_datetime(["2021-01-04", "2021-02-01"]),
                "end": pd.to_datetime(["2021-06-01", None]),
            }
        )

    assert run("index_members", members("000905.SH")) == []
    with pytest.raises(DataValidationError) as e:
        run("index_members", members("000300.SH"))
    assert (e.value.table, e.value.rule) == ("index_members", "spell_overlap")


@pytest.mark.parametrize(
    ("name", "value", "rule"), [("st_status", "PT", "st_value"), ("industry", "21", "sw_l1_code")]
)
def test_spell_values_outside_their_set_are_hard(name: str, value: str, rule: str) -> None:
    with pytest.raises(DataValidationError) as e:
        run(name, spells([("600000.SH", "2021-01-04", None, value)]))
    assert (e.value.column, e.value.rule) == ("value", rule)


def test_instrument_board_and_dates_are_checked() -> None:
    inst = pd.DataFrame(
        {
            "code": ["600000.SH"], "name": ["x"], "board": ["sme"],
            "list_date": [pd.Timestamp("2000-01-04")], "delist_date": [pd.NaT],
        }
    )  # fmt: skip
    with pytest.raises(DataValidationError, match="board_value"):
        run("instruments", inst)
    inst["board"] = "main"
    inst["delist_date"] = pd.Timestamp("1999-01-04")
    with pytest.raises(DataValidationError, match="delist_after_list"):
        run("instruments", inst)


# -- soft rules ------------------------------------------------------------------------------
def test_ohlc_inconsistency_is_soft() -> None:
    df = set_rows(bars(), [1], high=9.9)  # high below open and close
    df = set_rows(df, [7], low=10.1)  # low above open and close
    f = only(run("daily_bars", df), "ohlc_inconsistent")
    assert (f.table, f.count) == ("daily_bars", 2)


def test_zero_volume_on_traded_row_is_soft() -> None:
    df = set_rows(bars(), [3, 4], volume=0.0, amount=0.0)
    f = only(run("daily_bars", df), "zero_volume")
    assert (f.column, f.count) == ("volume", 2)
    df.loc[[3, 4], "is_suspended"] = True
    assert run("daily_bars", df) == []


def test_vwap_outside_range_is_soft_with_tolerance() -> None:
    df = set_rows(bars(), [2], amount=1000.0 * 10.2 * 1.004)  # within 0.5 % above the high
    assert run("daily_bars", df) == []
    df = set_rows(df, [3, 4], amount=1000.0 * 10.5)
    f = only(run("daily_bars", df), "vwap_outside_range")
    assert f.count == 2


def move(df: pd.DataFrame, row: int, prev: float, close: float) -> pd.DataFrame:
    hi, lo = max(prev, close), min(prev, close)
    return set_rows(
        df,
        [row],
        prev_close=prev,
        open=prev,
        close=close,
        high=hi,
        low=lo,
        amount=1000.0 * (hi + lo) / 2,
    )


def test_move_beyond_main_board_limit_is_soft() -> None:
    df = move(bars(), 8, 10.0, 11.0)  # exactly +10 %
    cheap = bars(("600001.SH",))
    cheap[["open", "high", "low", "close", "prev_close", "amount"]] *= 0.115  # a 1.15 stock
    cheap = move(cheap, 2, 1.15, 1.27)  # +10.4 %, but 1.265 rounds half up to 1.27
    df = pd.concat([df, cheap], ignore_index=True)
    assert run("daily_bars", df) == []
    df = move(df, 9, 10.0, 11.02)
    f = only(run("daily_bars", df), "beyond_price_limit")
    assert (f.column, f.count) == ("close", 1)


def test_chinext_limit_changes_on_reform_date() -> None:
    dates = TradingCalendar("2020-08-10", "2020-09-10").sessions
    df = pd.DataFrame(
        {
            "date": dates, "code": "300001.SZ", "open": 10.0, "high": 10.2, "low": 9.8,
            "close": 10.0, "prev_close": 10.0, "volume": 1000.0, "amount": 10000.0,
            "adj_factor": 1.0, "is_suspended": False, "limit_up": np.nan, "limit_down": np.nan,
        }
    )  # fmt: skip
    before = int(np.flatnonzero(dates < "2020-08-24")[-1])
    after = int(np.flatnonzero(dates >= "2020-08-24")[3])
    df = move(df, after, 10.0, 11.9)  # +19 % after the reform: fine
    assert run("daily_bars", df) == []
    df = move(df, before, 10.0, 11.5)  # +15 % before the reform: beyond the 10 % limit
    assert only(run("daily_bars", df), "beyond_price_limit").count == 1


def test_st_limit_from_context_and_new_listing_skip() -> None:
    df = move(bars(("600000.SH",), 20), 10, 10.0, 10.8)  # +8 %
    assert run("daily_bars", df) == []
    st = spells([("600000.SH", "2021-03-01", None, "ST")])
    assert only(run("daily_bars", df, st_status=st), "beyond_price_limit").count == 1
    df = move(df, 2, 10.0, 14.0)  # +40 % on the third day: a new listing has no limit
    assert [f.rule for f in run("daily_bars", df)] == []
    inst = pd.DataFrame(
        {"code": ["600000.SH"], "board": ["main"], "list_date": [pd.Timestamp("2010-01-04")]}
    )
    assert only(run("daily_bars", df, instruments=inst), "beyond_price_limit").count == 1


def test_board_from_instruments_overrides_the_code() -> None:
    df = move(bars(("600000.SH",), 20), 12, 10.0, 11.5)  # +15 %
    assert only(run("daily_bars", df), "beyond_price_limit").count == 1
    inst = pd.DataFrame(
        {"code": ["600000.SH"], "board": ["star"], "list_date": [pd.Timestamp("2019-07-22")]}
    )
    assert run("daily_bars", df, instruments=inst) == []


def test_calendar_gaps_are_soft() -> None:
    df = bars(n=12).drop(index=[4, 5, 6]).reset_index(drop=True)  # 600000.SH misses 3 sessions
    f = only(run("daily_bars", df), "calendar_gap")
    assert (f.column, f.count) == ("date", 3) and "600000.SH" in f.example


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("ohlc_inconsistent", {"high": 9.0}),
        ("zero_volume", {"volume": 0.0, "amount": 0.0}),
        ("vwap_outside_range", {"amount": 50_000.0}),
        ("beyond_price_limit", {"close": 12.0, "high": 12.0, "amount": 11_000.0}),
    ],
)
def test_strict_mode_makes_soft_rules_hard(rule: str, change: dict[str, float]) -> None:
    df = set_rows(bars(), [9], **change)
    assert only(run("daily_bars", df), rule).count == 1
    with pytest.raises(DataValidationError) as e:
        run("daily_bars", df, strict=True)
    assert e.value.rule == rule and "strict" in str(e.value)


def test_strict_mode_makes_gaps_hard() -> None:
    df = bars(n=12).drop(index=[4]).reset_index(drop=True)
    with pytest.raises(DataValidationError, match="calendar_gap"):
        run("daily_bars", df, strict=True)


def test_etf_and_index_bars_get_their_rules() -> None:
    etf = bars(("510300.SH",)).drop(columns=["prev_close", "adj_factor", "limit_up", "limit_down"])
    etf = set_rows(etf, [2], volume=0.0, amount=0.0)
    assert only(run("etf_bars", etf), "zero_volume").count == 1
    idx = bars(("000300.SH",))[["date", "code", "open", "high", "low", "close", "volume"]]
    idx = set_rows(idx, [1], high=9.0)
    assert only(run("index_bars", idx), "ohlc_inconsistent").count == 1


# -- helpers ----------------------------------------------------------------------------------
def test_limit_fraction_and_prices() -> None:
    boards = np.array(["main", "chinext", "chinext", "star", "bse", "main", "star"])
    dates = pd.to_datetime(
        [
            "2021-01-04",
            "2020-08-21",
            "2020-08-24",
            "2021-01-04",
            "2022-01-04",
            "2021-01-04",
            "2021-01-04",
        ]
    )
    st = np.array([False, False, False, False, False, True, True])
    frac = limit_fraction(boards, dates.to_numpy(), st)
    np.testing.assert_allclose(frac, [0.10, 0.10, 0.20, 0.20, 0.30, 0.05, 0.20])
    up, down = limit_prices(np.array([1.15, 10.0]), np.array([0.10, 0.05]))
    np.testing.assert_allclose(up, [1.27, 10.5])
    np.testing.assert_allclose(down, [1.04, 9.5])
    with pytest.raises(ValueError, match="unknown board"):
        limit_fraction(np.array(["sme"]), dates[:1].to_numpy(), st[:1])


def test_in_spells_half_open() -> None:
    sp = spells(
        [("600000.SH", "2021-03-02", "2021-03-04", "ST"), ("000001.SZ", "2021-03-03", None, "ST")]
    )
    codes = pd.Series(["600000.SH"] * 4 + ["000001.SZ"] * 2 + ["000002.SZ"])
    dates = pd.Series(
        pd.to_datetime(
            [
                "2021-03-01",
                "2021-03-02",
                "2021-03-03",
                "2021-03-04",
                "2021-03-02",
                "2021-03-10",
                "2021-03-10",
            ]
        )
    )
    assert in_spells(codes, dates, sp).tolist() == [False, True, True, False, False, True, False]


def test_coerce_sorts_and_rejects_duplicates_on_both_paths() -> None:
    spec = table_spec("daily_bars")
    df = bars()
    shuffled = df.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(
        coerce(spec, shuffled), coerce(spec, df.sort_values(["date", "code"]))
    )
    with pytest.raises(DataValidationError, match="unique_key"):
        coerce(spec, pd.concat([df, df.iloc[[3]]]))


def test_revalidate_store(tmp_path: Path) -> None:
    df = move(bars(n=12), 9, 10.0, 12.0)
    with StoreWriter("t", source="files", root=tmp_path) as w:
        w.write("daily_bars", df)
        store = w.commit()
    report = revalidate_store(store)
    assert list(report.columns) == ["table", "rule", "column", "count", "example"]
    assert report.set_index("rule").loc["beyond_price_limit", "count"] == 1
    assert report["count"].dtype == np.int64
