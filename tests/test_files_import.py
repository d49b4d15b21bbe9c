"""Tests of code normalization and of the files import with every shipped mapping.

Each vendor layout is exercised on a small generated export in ``tmp_path``; stores are
written under ``tmp_path`` (``root=`` or ``QUANTBOOK_DATA``), never under the repository.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fixtures_small import tree_digest
from quantbook.cli import main
from quantbook.data.calendar import TradingCalendar, fixed_holiday_mask, xshg_coverage
from quantbook.data.codes import CodeFormatError, board_of, normalize_code
from quantbook.data.info import describe
from quantbook.data.sources.files import (
    ImportLog,
    InputFileError,
    MappingError,
    UnclassifiedIndustryWarning,
    import_files,
    load_mapping,
    shipped_mappings,
    step_drop_unclassified,
    sw_industry_spells,
)
from quantbook.data.store import Store, open_store
from quantbook.data.validate import DataValidationError

SESSIONS = TradingCalendar("2021-03-01", "2021-04-30").sessions[:25]
CODES = ("600000.SH", "000001.SZ", "300750.SZ")
EX_DIV = 12  # session index of an ex-dividend day for 600000.SH
GAP = 15  # session index missing for 000001.SZ (suspended)


# ---------------------------------------------------------------------------------------------
# Codes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "bare", "expected"),
    [
        ("sh600000", "security", "600000.SH"),
        ("SH600000", "security", "600000.SH"),
        ("600000.SH", "security", "600000.SH"),
        ("600000.XSHG", "security", "600000.SH"),
        ("000001.XSHE", "security", "000001.SZ"),
        ("SZ399001", "security", "399001.SZ"),
        ("bj430047", "security", "430047.BJ"),
        ("430047.BJ", "security", "430047.BJ"),
        ("920001", "security", "920001.BJ"),
        ("830799", "security", "830799.BJ"),
        ("600000", "security", "600000.SH"),
        ("300750", "security", "300750.SZ"),
        ("000001", "security", "000001.SZ"),
        ("000001", "index", "000001.SH"),
        ("399006", "index", "399006.SZ"),
        ("510300", "security", "510300.SH"),
        ("159949", "security", "159949.SZ"),
        (1, "security", "000001.SZ"),
        ("000300", "SH", "000300.SH"),
    ],
)
def test_normalize_code(raw: str | int, bare: Any, expected: str) -> None:
    assert normalize_code(raw, bare=bare) == expected


def test_normalize_code_vectorized_keeps_index() -> None:
    s = pd.Series(["sz000001", "600000.XSHG", "sz000001", "bj430047"], index=[10, 11, 12, 13])
    out = normalize_code(s)
    assert out.tolist() == ["000001.SZ", "600000.SH", "000001.SZ", "430047.BJ"]
    assert out.index.tolist() == [10, 11, 12, 13]


@pytest.mark.parametrize("raw", ["hello", "sh000001.SZ", "700001", "60000x", "xx600000"])
def test_normalize_code_rejects(raw: str) -> None:
    with pytest.raises(CodeFormatError):
        normalize_code(raw)
    with pytest.raises(CodeFormatError, match="1 value"):
        normalize_code(pd.Series(["600000.SH", raw]))


@pytest.mark.parametrize("raw", ["60012.SH", "SH60000", "sz1", "00001.XSHE"])
def test_truncated_code_with_exchange_is_rejected(raw: str) -> None:
    with pytest.raises(CodeFormatError, match="truncated") as e:
        normalize_code(raw)
    assert raw in str(e.value)
    with pytest.raises(CodeFormatError, match=r"1 distinct code\(s\) among them truncated") as e:
        normalize_code(pd.Series(["600000.SH", raw, raw]))
    assert e.value.values == [raw] and "2 value(s)" in str(e.value)


@pytest.mark.parametrize(
    ("raw", "expected"), [(1, "000001.SZ"), ("1", "000001.SZ"), (600, "000600.SZ")]
)
def test_bare_digits_are_still_zero_padded(raw: str | int, expected: str) -> None:
    assert normalize_code(raw) == expected  # a number reader drops leading zeros, not digits


def test_board_of() -> None:
    codes = pd.Series(
        ["600000.SH", "688981.SH", "300750.SZ", "301001.SZ", "000001.SZ", "430047.BJ"]
    )
    assert board_of(codes).tolist() == ["main", "star", "chinext", "chinext", "main", "bse"]
    assert board_of("689009.SH") == "star"
    with pytest.raises(CodeFormatError):
        board_of("sh600000")


# ---------------------------------------------------------------------------------------------
# A small generated market in canonical units
# ---------------------------------------------------------------------------------------------
def canonical_panel(seed: int = 3, sessions: pd.DatetimeIndex = SESSIONS) -> pd.DataFrame:
    """Consistent daily bars (shares, CNY) for CODES; 000001.SZ has no row on session GAP."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, code in enumerate(CODES):
        close = 10.0 + 5 * k
        for i, d in enumerate(sessions):
            prev = close
            if code == "600000.SH" and i == EX_DIV:
                prev = round(close - 0.30, 2)  # cash dividend: reference price lowered
            close = round(prev * (1 + rng.uniform(-0.03, 0.03)), 2)
            opn = round(prev * (1 + rng.uniform(-0.01, 0.01)), 2)
            high = round(max(opn, close) * 1.01, 2)
            low = round(min(opn, close) * 0.99, 2)
            volume = float(rng.integers(1_000, 5_000) * 100)
            rows.append(
                {
                    "date": d, "code": code, "open": opn, "high": high, "low": low, "close": close,
                    "prev_close": prev, "volume": volume, "amount": round(volume * (opn + close) / 2, 2),
                }
            )  # fmt: skip
    df = pd.DataFrame(rows)
    return df[~((df["code"] == "000001.SZ") & (df["date"] == sessions[GAP]))].reset_index(drop=True)


def tushare_frame(panel: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts_code": panel["code"],
            "trade_date": panel["date"].dt.strftime("%Y%m%d").astype(int),
            "open": panel["open"], "high": panel["high"], "low": panel["low"], "close": panel["close"],
            "pre_close": panel["prev_close"],
            "change": panel["close"] - panel["prev_close"],
            "pct_chg": (panel["close"] / panel["prev_close"] - 1) * 100,
            "vol": panel["volume"] / 100,
            "amount": panel["amount"] / 1000,
        }
    )  # fmt: skip


def write_tushare(folder: Path, panel: pd.DataFrame | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    df = tushare_frame(canonical_panel() if panel is None else panel)
    for code, part in df.groupby("ts_code"):
        part.to_csv(folder / f"{code}.csv", index=False)
    return folder


def imported(paths: list[Path], root: Path, mapping: str | None, name: str = "t") -> Store:
    return import_files(paths, name=name, mapping=mapping, progress=False, root=root)


def report_counts(store: Store) -> dict[tuple[str, str], int]:
    r = store.validation_report()
    return {(t, rule): int(c) for t, rule, c in zip(r["table"], r["rule"], r["count"], strict=True)}


def test_shipped_mappings_load() -> None:
    names = shipped_mappings()
    assert {"real_sample", "tushare_daily", "joinquant_daily", "wind_daily"} <= set(names)
    for name in names:
        m = load_mapping(name)
        assert m.description and m.sources and m.detect


# ---------------------------------------------------------------------------------------------
# Vendor layouts
# ---------------------------------------------------------------------------------------------
def check_common(store: Store, panel: pd.DataFrame) -> pd.DataFrame:
    """Assertions shared by every vendor import of ``canonical_panel``."""
    bars = store.read("daily_bars")
    assert set(bars["code"]) == set(CODES)
    traded = bars[~bars["is_suspended"]].merge(panel, on=["date", "code"], suffixes=("", "_src"))
    assert len(traded) == len(panel)
    for c in ("open", "close", "prev_close", "volume", "amount"):
        np.testing.assert_allclose(traded[c], traded[f"{c}_src"], rtol=1e-9, err_msg=c)
    gap = bars[(bars["code"] == "000001.SZ") & (bars["date"] == SESSIONS[GAP])].iloc[0]
    before = bars[(bars["code"] == "000001.SZ") & (bars["date"] == SESSIONS[GAP - 1])].iloc[0]
    assert gap["is_suspended"] and gap["volume"] == 0 and gap["close"] == before["close"]
    pf = bars[bars["code"] == "600000.SH"].set_index("date")["adj_factor"]
    assert pf.iloc[0] == 1.0 and pf.iloc[EX_DIV - 1] == 1.0 and pf.iloc[EX_DIV] > 1.0
    adj_close = (bars["close"] * bars["adj_factor"]).groupby(bars["code"]).pct_change()
    total_return = bars["close"] / bars["prev_close"] - 1
    first = bars.groupby("code").cumcount() == 0
    np.testing.assert_allclose(adj_close[~first], total_return[~first], atol=1e-12)
    inst = store.read("instruments").set_index("code")
    assert inst.loc["300750.SZ", "board"] == "chinext"
    assert store.unavailable()["daily_bars.num_trades"]
    assert "minute_bars" in store.unavailable()
    return bars


def test_tushare_csv_with_detection(tmp_path: Path) -> None:
    panel = canonical_panel()
    folder = write_tushare(tmp_path / "tushare")
    store = imported([folder], tmp_path / "data", mapping=None)  # recognized by its columns
    assert store.meta["params"]["mapping"] == "tushare_daily"
    bars = check_common(store, panel)
    assert report_counts(store)[("daily_bars", "suspended_rows_inserted")] == 1
    # limit prices: no limit in the first 5 sessions (listing unknown), then +-10 % / +-20 %
    row = bars[(bars["code"] == "300750.SZ")].iloc[10]
    assert row["limit_up"] == pytest.approx(round(row["prev_close"] * 1.2 + 1e-9, 2))
    assert bars[bars["code"] == "600000.SH"]["limit_up"].iloc[:5].isna().all()
    assert "st_status" in store.unavailable() and "instruments.name" in store.unavailable()


def test_tushare_parquet_with_optional_columns(tmp_path: Path) -> None:
    panel = canonical_panel()
    df = tushare_frame(panel)
    df["trade_date"] = df["trade_date"].astype(str)
    df["float_share"] = 12_345.0  # in 10,000 shares
    df["name"] = np.where(df["ts_code"] == "000001.SZ", "ST平安", "x")
    (tmp_path / "in").mkdir()
    df.to_parquet(tmp_path / "in" / "daily.parquet")
    store = imported([tmp_path / "in"], tmp_path / "data", mapping="tushare_daily")
    bars = check_common(store, panel)
    assert (bars["float_shares"] == 123_450_000.0).all()
    st = store.read("st_status")
    assert st[["code", "value"]].values.tolist() == [["000001.SZ", "ST"]]
    assert pd.isna(st["end"].iloc[0])


def test_joinquant_parquet(tmp_path: Path) -> None:
    panel = canonical_panel()
    jq = pd.DataFrame(
        {
            "time": panel["date"], "code": panel["code"].str.replace(".SH", ".XSHG").str.replace(".SZ", ".XSHE"),
            "open": panel["open"], "close": panel["close"], "high": panel["high"], "low": panel["low"],
            "volume": panel["volume"], "money": panel["amount"], "factor": 1.0,
            "high_limit": (panel["prev_close"] * 1.1).round(2), "low_limit": (panel["prev_close"] * 0.9).round(2),
            "avg": panel["amount"] / panel["volume"], "pre_close": panel["prev_close"], "paused": 0.0,
        }
    )  # fmt: skip
    gap = panel[(panel["code"] == "000001.SZ") & (panel["date"] == SESSIONS[GAP - 1])].iloc[0]
    paused = {
        "time": SESSIONS[GAP], "code": "000001.XSHE", "open": gap["close"], "close": gap["close"],
        "high": gap["close"], "low": gap["close"], "volume": 0.0, "money": 0.0, "factor": 1.0,
        "high_limit": np.nan, "low_limit": np.nan, "avg": gap["close"], "pre_close": gap["close"], "paused": 1.0,
    }  # fmt: skip
    jq = pd.concat([jq, pd.DataFrame([paused])], ignore_index=True)
    path = tmp_path / "jq.parquet"
    jq.to_parquet(path)
    store = imported([path], tmp_path / "data", mapping=None)
    assert store.meta["params"]["mapping"] == "joinquant_daily"
    bars = check_common(store, panel)
    counts = report_counts(store)
    assert ("daily_bars", "suspended_rows_inserted") not in counts  # JoinQuant keeps paused rows
    assert ("daily_bars", "zero_volume") not in counts
    traded = bars[~bars["is_suspended"]].sort_values(["code", "date"])
    expected = (traded["prev_close"] * 1.1).round(2)  # JoinQuant's high_limit, kept as given
    np.testing.assert_allclose(traded["limit_up"], expected)
    assert bars.loc[bars["is_suspended"], "limit_up"].isna().all()  # source limits kept


def test_wind_csv(tmp_path: Path) -> None:
    panel = canonical_panel()
    wind = pd.DataFrame(
        {
            "S_INFO_WINDCODE": panel["code"], "TRADE_DT": panel["date"].dt.strftime("%Y%m%d"),
            "S_DQ_PRECLOSE": panel["prev_close"], "S_DQ_OPEN": panel["open"], "S_DQ_HIGH": panel["high"],
            "S_DQ_LOW": panel["low"], "S_DQ_CLOSE": panel["close"], "S_DQ_VOLUME": panel["volume"] / 100,
            "S_DQ_AMOUNT": panel["amount"] / 1000, "S_DQ_TRADESTATUS": "交易",
        }
    )  # fmt: skip
    prev = panel[(panel["code"] == "000001.SZ") & (panel["date"] == SESSIONS[GAP - 1])].iloc[0]
    halted = {
        "S_INFO_WINDCODE": "000001.SZ", "TRADE_DT": SESSIONS[GAP].strftime("%Y%m%d"),
        "S_DQ_PRECLOSE": prev["close"], "S_DQ_OPEN": prev["close"], "S_DQ_HIGH": prev["close"],
        "S_DQ_LOW": prev["close"], "S_DQ_CLOSE": prev["close"], "S_DQ_VOLUME": 0.0, "S_DQ_AMOUNT": 0.0,
        "S_DQ_TRADESTATUS": "停牌",
    }  # fmt: skip
    wind = pd.concat([wind, pd.DataFrame([halted])], ignore_index=True)
    wind.to_csv(tmp_path / "eod.csv", index=False)
    store = imported([tmp_path / "eod.csv"], tmp_path / "data", mapping="wind_daily")
    check_common(store, panel)
    counts = report_counts(store)
    assert ("daily_bars", "zero_volume") not in counts and (
        "daily_bars",
        "suspended_rows_inserted",
    ) not in counts


def write_real_layout(folder: Path) -> None:
    """A miniature of the real sample's layout (without the Shenwan .xls)."""
    panel = canonical_panel()
    daily = pd.DataFrame(
        {
            "date": panel["date"],
            "code": panel["code"].map(lambda c: c[-2:].lower() + c[:6]),
            "name": np.where(panel["code"] == "000001.SZ", "*ST平安", "浦发银行"),
            **{c: panel[c] for c in ("open", "high", "low", "close", "prev_close", "volume", "amount")},
            "float_mv": panel["close"] * 1e9, "total_mv": panel["close"] * 2e9,
        }
    )  # fmt: skip
    folder.mkdir(parents=True)
    daily.to_parquet(folder / "ashare_daily_2021.parquet")
    (folder / "index_daily").mkdir()
    idx = panel[panel["code"] == "600000.SH"][["date", "open", "high", "low", "close", "volume"]]
    idx.assign(date=idx["date"].dt.strftime("%Y-%m-%d")).to_csv(
        folder / "index_daily" / "SH000300.csv", index=False
    )
    (folder / "etf_daily").mkdir()
    etf = panel[panel["code"] == "300750.SZ"][
        ["date", "open", "high", "low", "close", "volume", "amount"]
    ]
    etf.assign(date=etf["date"].dt.strftime("%Y/%m/%d")).to_csv(
        folder / "etf_daily" / "510300.csv", index=False, header=False
    )
    (folder / "csi300_membership.txt").write_text(
        "SH600000\t2010-01-04\t2026-05-08\nSZ000001\t2010-01-04\t2020-12-14\nSZ000001\t2021-06-14\t2026-05-08\n"
    )
    weights = pd.DataFrame(
        {
            "date": list(SESSIONS[:3]) * 2,
            "code": ["600000.XSHG"] * 3 + ["000001.XSHE"] * 3,
            "weight": [0.5, 0.5, np.nan, 0.5, 0.5, 1.0],
        }
    )
    weights.to_parquet(folder / "csi500_weights_2021.parquet")
    (folder / "README.md").write_text("sample")


def test_real_sample_layout_miniature(tmp_path: Path) -> None:
    folder = tmp_path / "real"
    write_real_layout(folder)
    store = imported([folder], tmp_path / "data", mapping=None, name="mini")
    assert store.meta["params"]["mapping"] == "real_sample"
    assert "README.md" in " ".join(store.meta["params"]["ignored"])
    bars = check_common(store, canonical_panel())
    assert np.allclose(bars["float_shares"], 1e9) and np.allclose(bars["total_shares"], 2e9)
    st = store.read("st_status")
    assert st[["code", "value"]].values.tolist() == [["000001.SZ", "*ST"]]
    members = store.read("index_members").sort_values(["index_code", "code", "start"])
    csi300 = members[members["index_code"] == "000300.SH"]
    # "last review" ends: the spell ending 2020-12-14 really ends at the next review, 2021-06-14
    assert csi300["end"].isna().sum() == 2
    assert (csi300["end"].dropna() == pd.Timestamp("2021-06-14")).all()
    csi500 = members[members["index_code"] == "000905.SH"].set_index("code")
    assert csi500.loc["600000.SH", "end"] == SESSIONS[2] and pd.isna(csi500.loc["000001.SZ", "end"])
    etf = store.read("etf_info").iloc[0]
    assert (etf["code"], etf["tracked_index"], etf["list_date"]) == (
        "510300.SH",
        "000300.SH",
        SESSIONS[0],
    )
    assert store.read("index_bars")["code"].unique().tolist() == ["000300.SH"]
    assert store.read("index_info")["code"].tolist() == ["000300.SH", "000905.SH"]


def test_sw_industry_spells_crosswalk() -> None:
    recs = pd.DataFrame(
        {
            "code": ["600001.SH"] * 3 + ["600002.SH"] * 2 + ["600003.SH"] * 2 + ["600004.SH"],
            "start": pd.to_datetime(
                [
                    "2000-01-04",
                    "2014-02-21",
                    "2021-07-30",
                    "2015-03-02",
                    "2021-07-30",
                    "2016-01-04",
                    "2019-01-04",
                    "2017-01-04",
                ]
            ),
            "sw_code": [
                "210101",
                "210201",
                "740101",
                "210201",
                "740201",
                "220101",
                "220102",
                "210301",
            ],
        }
    )
    spells = sw_industry_spells(
        recs, {"scheme_switches": ["2014-02-21", "2021-07-30"]}, ImportLog()
    )
    by_code = {c: g["value"].tolist() for c, g in spells.groupby("code")}
    assert by_code["600001.SH"] == ["74"]  # 210101 -> 210201 at the 2014 switch -> 74 in 2021
    assert by_code["600002.SH"] == ["74"]  # 210201 (SW2014 coal) -> 74 by vote; merged with 740201
    assert by_code["600003.SH"] == ["22"]  # prefix fallback, two records merged
    assert pd.isna(by_code["600004.SH"][0])  # 210301: no vote, prefix 21 is no SW2021 industry
    assert spells.loc[spells["code"] == "600002.SH", "start"].iloc[0] == pd.Timestamp("2015-03-02")


def test_unclassified_industry_warns_and_is_reported(tmp_path: Path) -> None:
    from quantbook.data.sources.files import ImportState

    spells = pd.DataFrame(
        {
            "code": ["600001.SH", "600002.SH"],
            "start": pd.to_datetime(["2020-01-02"] * 2),
            "end": pd.NaT,
            "value": ["48", None],
        }
    )
    state = ImportState(
        tables={"industry": spells}, mapping=load_mapping("real_sample"), log=ImportLog()
    )
    with pytest.warns(UnclassifiedIndustryWarning, match="1 spell"):
        step_drop_unclassified(state, {"table": "industry"})
    assert state.tables["industry"]["code"].tolist() == ["600001.SH"]
    assert [f.rule for f in state.log.findings] == ["unclassified_spells"]


# ---------------------------------------------------------------------------------------------
# Failures: clear messages, nothing changed
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def good_store(tmp_path: Path) -> tuple[Store, Path]:
    root = tmp_path / "data"
    store = imported([write_tushare(tmp_path / "good")], root, mapping="tushare_daily")
    return store, root


def corrupt(tmp_path: Path, how: str) -> Path:
    folder = write_tushare(tmp_path / f"bad_{how}")
    path = folder / "600000.SH.csv"
    df = pd.read_csv(path, dtype={"ts_code": str})
    if how == "duplicated_rows":
        df = pd.concat([df, df.iloc[[3, 4]]])
    elif how == "text_price":
        df["close"] = df["close"].astype(object)
        df.loc[6, "close"] = "abc"
    elif how == "missing_column":
        df = df.drop(columns=["close"])
    elif how == "negative_price":
        df.loc[6, "low"] = -1.0
    elif how == "weekend_date":
        df.loc[6, "trade_date"] = 20210306
    elif how == "high_1e12":
        df.loc[9, "high"] = 1e12
    elif how == "close_1e12_new_listing":
        df.loc[2, "close"] = 1e12  # inside the first 5 sessions: no price limit, still an outlier
    elif how == "truncated_code":
        df["ts_code"] = "60000.SH"
    df.to_csv(path, index=False)
    return folder


@pytest.mark.parametrize(
    ("how", "rule", "column"),
    [
        ("duplicated_rows", "unique_key", "date,code"),
        ("text_price", "type", "close"),
        ("missing_column", "required_column", "close"),
        ("negative_price", "positive_price", "low"),  # fails while writing the new store
        ("weekend_date", "trading_day", "date"),
        ("high_1e12", "price_outlier", "high"),
        ("close_1e12_new_listing", "price_outlier", "close"),
        ("truncated_code", "code_format", "code"),
    ],
)
def test_corrupted_input_fails_and_leaves_store_untouched(
    tmp_path: Path, good_store: tuple[Store, Path], how: str, rule: str, column: str
) -> None:
    store, root = good_store
    before = store.fingerprint()
    with pytest.raises(DataValidationError) as e:
        imported([corrupt(tmp_path, how)], root, mapping="tushare_daily")
    assert (e.value.table, e.value.rule, e.value.column) == ("daily_bars", rule, column)
    assert "daily_bars" in str(e.value) and rule in str(e.value)
    assert open_store("t", root=root).fingerprint() == before
    assert sorted(p.name for p in root.iterdir()) == ["t"]  # no temporary folder left behind


def test_outlier_message_names_code_date_and_scale(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as e:
        imported([corrupt(tmp_path, "close_1e12_new_listing")], tmp_path / "data", "tushare_daily")
    assert f"close of 1e+12 on {SESSIONS[2].date()} for 600000.SH is" in str(e.value)
    assert "a unit or typing error?" in str(e.value) and e.value.count == 1
    assert not (tmp_path / "data" / "t").exists()  # no store, so no adj_factor derived from it


def test_truncated_code_names_file_and_rows(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as e:
        imported([corrupt(tmp_path, "truncated_code")], tmp_path / "data", "tushare_daily")
    assert "file '600000.SH.csv'" in str(e.value) and "'60000.SH'" in str(e.value)
    assert e.value.count == len(SESSIONS) and e.value.rows is not None
    assert (e.value.rows["code"] == "60000.SH").all() and "date" in e.value.rows.columns


def test_mixed_volume_units_are_a_units_error(tmp_path: Path) -> None:
    folder = write_tushare(tmp_path / "mixed")
    path = folder / "300750.SZ.csv"
    df = pd.read_csv(path, dtype={"ts_code": str})
    df["vol"] *= 100  # this stock's file was exported in shares, the others in lots
    df.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as e:
        imported([folder], tmp_path / "data", mapping="tushare_daily")
    assert (e.value.table, e.value.rule) == ("daily_bars", "units")
    assert "for 1 of 3 codes (300750.SZ; mixed units in the source?)" in str(e.value)
    assert "volume looks like shares, not lots" in str(e.value)


def test_unmatched_file_and_unknown_layout(tmp_path: Path) -> None:
    folder = write_tushare(tmp_path / "in")
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(MappingError, match="notes.txt"):
        imported([folder], tmp_path / "data", mapping="tushare_daily")
    other = tmp_path / "other"
    other.mkdir()
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(other / "x.csv", index=False)
    with pytest.raises(MappingError, match="no shipped mapping"):
        imported([other], tmp_path / "data", mapping=None)


def test_malformed_mapping(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("format: 1\nsources:\n  - {pattern: '*.csv', table: daily_bars, colums: {}}\n")
    with pytest.raises(MappingError, match="colums"):
        load_mapping(path)
    path.write_text(
        "format: 1\nsources:\n  - {pattern: '*.csv', table: daily_bars, columns: {vwap: avg}}\n"
    )
    with pytest.raises(MappingError, match="vwap"):
        load_mapping(path)
    path.write_text(
        "format: 1\nsources:\n  - {pattern: '*.csv', table: daily_bars}\n"
        "derive:\n  - {step: instruments, ipo_prefix: N}\n"
    )
    with pytest.raises(MappingError, match="ipo_prefix"):
        load_mapping(path)


def test_gbk_csv_is_read_and_its_encoding_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    df = tushare_frame(canonical_panel()).assign(name="浦发银行")
    df[df["ts_code"] == "600000.SH"].to_csv(folder / "600000.SH.csv", index=False, encoding="gbk")
    store = imported([folder], tmp_path / "data", mapping=None)
    assert store.read("instruments")["name"].tolist() == ["浦发银行"]
    assert store.meta["params"]["encodings"] == {str(folder / "600000.SH.csv"): "gb18030"}
    utf8 = imported([write_tushare(tmp_path / "utf8")], tmp_path / "data", mapping=None, name="u")
    assert "encodings" not in utf8.meta["params"]


def test_unreadable_files_are_named_with_the_cause(tmp_path: Path) -> None:
    folder = write_tushare(tmp_path / "in")
    (folder / "000001.SZ.csv").write_text(
        "ts_code,trade_date,open,high,low,close,pre_close,vol,amount\n"
    )
    with pytest.raises(InputFileError, match=r"000001\.SZ\.csv: header only, no rows"):
        imported([folder / "000001.SZ.csv"], tmp_path / "data", mapping="tushare_daily")
    (folder / "000001.SZ.csv").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"000001\.SZ\.csv: the file is empty"):
        imported([folder], tmp_path / "data", mapping=None)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_a_header_only_file_among_others_is_skipped_with_a_finding(tmp_path: Path) -> None:
    """A per-stock export of a stock suspended for the whole period holds only its header."""
    folder = write_tushare(tmp_path / "in")
    (folder / "000002.SZ.csv").write_text(
        "ts_code,trade_date,open,high,low,close,pre_close,vol,amount\n"
    )
    store = imported([folder], tmp_path / "data", mapping="tushare_daily")
    report = store.validation_report()
    row = report[report["rule"] == "header_only_file"]
    assert row["count"].tolist() == [1] and "000002.SZ.csv" in row["example"].iloc[0]
    assert "000002.SZ" not in set(store.read("daily_bars")["code"])


def test_detection_names_a_near_miss_mapping_and_its_missing_columns(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    tushare_frame(canonical_panel()).drop(columns=["vol"]).to_csv(folder / "x.csv", index=False)
    with pytest.raises(
        MappingError, match=r"'tushare_daily' export but lacks column\(s\) \['vol'\]"
    ):
        imported([folder], tmp_path / "data", mapping=None)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text("format: 1\nsources:\n  - {pattern: *.csv, table: daily_bars}\n")
    with pytest.raises(MappingError, match=r"m\.yml: not valid YAML \(line 3: "):
        load_mapping(path)


def test_user_mapping_with_headerless_file_units_and_constants(tmp_path: Path) -> None:
    panel = canonical_panel()
    idx = panel[panel["code"] == "600000.SH"]
    (tmp_path / "in").mkdir()
    idx.assign(date=idx["date"].dt.strftime("%d.%m.%Y"), volume=idx["volume"] / 1e4)[
        ["date", "open", "high", "low", "close", "volume"]
    ].to_csv(tmp_path / "in" / "csi300.txt", sep=";", header=False, index=False)
    mapping = tmp_path / "mine.yml"
    mapping.write_text(
        """
format: 1
name: mine
sources:
  - pattern: "csi300.txt"
    table: index_bars
    read: {format: csv, sep: ";", header: false, names: [d, o, h, l, c, v]}
    columns: {date: d, open: o, high: h, low: l, close: c, volume: v}
    dates: {date: "%d.%m.%Y"}
    units: {volume: 10000}
    constants: {code: "000300", amount: 0.0}
    code: {bare: index}
"""
    )
    store = imported([tmp_path / "in"], tmp_path / "data", mapping=str(mapping))
    bars = store.read("index_bars")
    assert bars["code"].unique().tolist() == ["000300.SH"]
    np.testing.assert_allclose(bars["volume"], idx["volume"])
    assert bars["date"].tolist() == idx["date"].tolist()


# ---------------------------------------------------------------------------------------------
# Command line and description
# ---------------------------------------------------------------------------------------------
def test_cli_import_info_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUANTBOOK_DATA", str(tmp_path / "data"))
    folder = write_tushare(tmp_path / "in")
    assert main(["data", "import", str(folder), "--name", "cli", "--quiet"]) == 0
    assert "suspended_rows_inserted" in capsys.readouterr().out
    assert main(["data", "info", "cli"]) == 0
    out = capsys.readouterr().out
    for text in (
        "source: files",
        "daily_bars",
        "instruments",
        "daily_bars.num_trades",
        "Tushare daily bars have no number of trades",
        "suspended_rows_inserted",
    ):
        assert text in out
    assert main(["data", "validate", "cli"]) == 0
    assert "store 'cli': valid" in capsys.readouterr().out
    shutil.rmtree(folder)
    folder = write_tushare(tmp_path / "in")
    (folder / "600000.SH.csv").write_text("ts_code,trade_date\n600000.SH,20210301\n")
    assert main(["data", "import", str(folder), "--name", "cli", "--quiet"]) == 1
    assert "required_column" in capsys.readouterr().err


def test_describe_mentions_everything(good_store: tuple[Store, Path]) -> None:
    store, _ = good_store
    text = describe(store)
    assert "span: 2021-03-01" in text and "fingerprint" in text
    assert "unavailable" in text and "fundamentals: not part of a Tushare daily export" in text
    assert "validation: 2 soft finding(s), 4 flagged row(s)" in text


# ---------------------------------------------------------------------------------------------
# Store safety: what an import or build may replace
# ---------------------------------------------------------------------------------------------
def _marked_temp(root: Path, name: str, pid: int) -> Path:
    import json
    import socket

    tmp = root / name
    tmp.mkdir(parents=True)
    (tmp / ".quantbook-writer.json").write_text(
        json.dumps({"pid": pid, "host": socket.gethostname()})
    )
    return tmp


def test_writer_removes_only_temp_folders_of_dead_writers(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "data"
    gone = _marked_temp(root, ".t.tmp-0000dead", dead.pid)
    live = _marked_temp(root, ".t.tmp-11111111", os.getpid())
    user = root / ".t.tmp-userfile"  # no marker: not made by a StoreWriter
    user.mkdir()
    (user / "keep.txt").write_text("mine")
    other = _marked_temp(root, ".u.tmp-0000dead", dead.pid)  # another store's
    imported([write_tushare(tmp_path / "in")], root, "tushare_daily", name="t")
    assert not gone.exists()
    assert live.is_dir() and (user / "keep.txt").read_text() == "mine" and other.is_dir()
    assert not (root / "t" / ".quantbook-writer.json").exists()


def test_import_refuses_before_reading_and_keeps_the_previous_store(tmp_path: Path) -> None:
    from fixtures_small import build_small_store
    from quantbook.data.store import StoreTargetError

    root = tmp_path / "data"
    build_small_store(root, "x")
    before = tree_digest(root / "x")
    with pytest.raises(StoreTargetError, match="holds data from source 'synthetic'.*--replace"):
        imported([tmp_path / "does-not-exist"], root, None, name="x")
    folder = write_tushare(tmp_path / "in")
    (folder / "600000.SH.csv").write_text("ts_code,trade_date\n600000.SH,20210301\n")
    with pytest.raises(DataValidationError):  # replacing is allowed, but the new data are bad
        import_files([folder], name="x", mapping="tushare_daily", progress=False, root=root,
                     replace=True)  # fmt: skip
    assert tree_digest(root / "x") == before and list(root.iterdir()) == [root / "x"]
    store = import_files([write_tushare(tmp_path / "in2")], name="x", progress=False, root=root,
                         replace=True)  # fmt: skip
    assert store.source == "files"


def test_build_checks_the_name_before_simulating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantbook.data.sources.synthetic import build as synthetic_build
    from quantbook.data.store import StoreTargetError

    def no_simulation(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the simulation ran before the store name was checked")

    monkeypatch.setattr(synthetic_build, "simulate", no_simulation)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    for name, message in (("a/b", "not a valid store name"), ("mine", "not a quantbook store")):
        with pytest.raises(StoreTargetError, match=message):
            synthetic_build.build_store(preset="full", name=name, progress=False, root=tmp_path)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_cli_validate_reports_the_import_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUANTBOOK_DATA", str(tmp_path / "data"))
    assert (
        main(["data", "import", str(write_tushare(tmp_path / "in")), "--name", "v", "--quiet"]) == 0
    )
    capsys.readouterr()
    assert main(["data", "info", "v"]) == 0
    info = capsys.readouterr().out
    assert main(["data", "validate", "v"]) == 0
    out = capsys.readouterr().out
    recorded = info.split("validation: ")[1].splitlines()[
        0
    ]  # "N soft finding(s), M flagged row(s)"
    assert (
        f"recorded when the store was written (shown by 'quantbook data info'): {recorded}" in out
    )
    assert "suspended_rows_inserted" in out


def test_sigterm_during_a_build_leaves_no_temporary_folder(tmp_path: Path) -> None:
    """A build stopped by SIGTERM while writing removes its temporary folder (exit status 143)."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "QUANTBOOK_DATA": str(tmp_path)}
    cmd = [sys.executable, "-m", "quantbook.cli", "data", "build", "--preset", "smoke"]
    proc = subprocess.Popen(
        [*cmd, "--name", "z", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 240
    while not list(tmp_path.glob(".z.tmp-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "the build never started writing"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, out.decode(errors="replace")[-2000:]
    assert list(tmp_path.iterdir()) == []


# The calendar beyond exchange-calendars' range: sessions from the data
# ---------------------------------------------------------------------------------------------
def data_days(start: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """``n`` weekdays from ``start`` that are not fixed-date holidays (sessions from the data)."""
    days = pd.bdate_range(start, periods=2 * n)
    return days[~fixed_holiday_mask(days)][:n]


def test_import_after_the_calendar_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cov = xshg_coverage()
    after = data_days(cov.last + pd.Timedelta(days=1), 14)  # 2027-01-04 .. with 4.13
    sessions = TradingCalendar(end=cov.last).sessions[-11:].append(after)
    monkeypatch.setenv("QUANTBOOK_DATA", str(tmp_path / "data"))
    folder = write_tushare(tmp_path / "in", canonical_panel(sessions=sessions))
    assert main(["data", "import", str(folder), "--name", "late", "--quiet"]) == 0
    store = open_store("late", root=tmp_path / "data")
    bars = store.read("daily_bars")
    assert bars["date"].max() == after[-1]
    # the gap on a data session is filled like any other
    gap = bars[(bars["code"] == "000001.SZ") & (bars["date"] == sessions[GAP])]
    assert sessions[GAP] > cov.last and gap["is_suspended"].tolist() == [True]
    counts = report_counts(store)
    assert counts[("daily_bars", "sessions_from_data")] == 3 * len(after)
    example = store.validation_report().set_index("rule").loc["sessions_from_data", "example"]
    assert f"{len(after)} session(s) after ({after[0].date()} .. {after[-1].date()})" in example
    rec = store.meta["calendar"]
    assert (rec["before"], rec["after"], rec["last"]) == (0, len(after), str(cov.last.date()))
    cal = store.calendar()
    assert cal.range(cov.last).tolist() == [cov.last, *after]
    assert cov.last in cal.month_ends()  # the exchange calendar's last month ends at the seam
    assert main(["data", "info", "late"]) == 0
    out = capsys.readouterr().out
    assert (
        f"calendar: exchange-calendars XSHG {cov.version} ({cov.first.date()} .. {cov.last.date()})"
        in out
    )
    assert (
        f"sessions from the data: 0 before, {len(after)} after ({after[0].date()} .. {after[-1].date()})"
        in out
    )
    assert "sessions_from_data" in out
    assert main(["data", "validate", "late"]) == 0  # revalidation sees the same calendar


def test_import_of_early_history(tmp_path: Path) -> None:
    """History before 2005 is XSHG's; before the calendar's first session it is the data's."""
    cov = xshg_coverage()
    sessions = TradingCalendar("2004-11-22").sessions[:25]  # across the old 2005-01-04 bound
    store = imported([write_tushare(tmp_path / "in2004", canonical_panel(sessions=sessions))],
                     tmp_path / "data", mapping="tushare_daily", name="y2004")  # fmt: skip
    assert store.read("daily_bars")["date"].min() == pd.Timestamp("2004-11-22")
    assert ("daily_bars", "sessions_from_data") not in report_counts(store)
    before = data_days(cov.first - pd.Timedelta(days=14), 10)
    before = before[before < cov.first]
    sessions = before.append(TradingCalendar().sessions[: 25 - len(before)])
    store = imported([write_tushare(tmp_path / "in1990", canonical_panel(sessions=sessions))],
                     tmp_path / "data", mapping="tushare_daily", name="y1990")  # fmt: skip
    assert report_counts(store)[("daily_bars", "sessions_from_data")] == 3 * len(before)
    assert store.meta["calendar"]["before"] == len(before) and store.meta["calendar"]["after"] == 0
    assert store.calendar().first == before[0]
    assert f"{len(before)} before ({before[0].date()} .. {before[-1].date()}), 0 after" in describe(
        store
    )


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (pd.Timestamp("2027-01-09"), "on a weekend"),
        (pd.Timestamp("2027-10-01"), "statutory holiday"),
    ],
)
def test_data_sessions_on_weekends_and_holidays_fail(
    tmp_path: Path, day: pd.Timestamp, message: str
) -> None:
    cov = xshg_coverage()
    if cov.last >= day:
        pytest.skip("the installed exchange-calendars covers the test's day")
    sessions = data_days(day - pd.Timedelta(days=40), 24).append(pd.DatetimeIndex([day]))
    with pytest.raises(DataValidationError) as e:
        imported([write_tushare(tmp_path / "in", canonical_panel(sessions=sessions))],
                 tmp_path / "data", mapping="tushare_daily")  # fmt: skip
    assert (e.value.table, e.value.rule, e.value.column) == ("daily_bars", "trading_day", "date")
    assert message in str(e.value) and str(day.date()) in str(e.value)
    assert f"outside the range of exchange-calendars XSHG {cov.version}" in str(e.value)
