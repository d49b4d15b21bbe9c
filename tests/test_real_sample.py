"""Import of the real A-share sample (validation only; skipped where the sample is absent).

The sample lives beside the checkout at ``../shared/data/real`` (override with the
``QUANTBOOK_REAL_SAMPLE`` environment variable). It is imported once per module into a
temporary data root; nothing derived from it is written into the repository.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import real_sample_dir
from quantbook.data.info import describe
from quantbook.data.sources.files import UnclassifiedIndustryWarning, import_files
from quantbook.data.store import Store, revalidate_store

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def real(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Store, float, list[warnings.WarningMessage]]:
    folder = real_sample_dir()
    if not (folder / "ashare_daily_2020_2022.parquet").is_file():
        pytest.skip(f"real A-share sample not found at {folder} (set QUANTBOOK_REAL_SAMPLE)")
    root = tmp_path_factory.mktemp("real_data")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnclassifiedIndustryWarning)
        store = import_files([folder], name="real", progress=False, root=root)
    return store, time.perf_counter() - t0, list(caught)


def counts(store: Store) -> dict[tuple[str, str], int]:
    r = store.validation_report()
    return r.groupby(["table", "rule"])["count"].sum().astype(int).to_dict()


def test_import_is_valid_and_quick(
    real: tuple[Store, float, list[warnings.WarningMessage]],
) -> None:
    store, seconds, _ = real
    assert store.meta["params"]["mapping"] == "real_sample"  # recognized without --mapping
    assert seconds < 120
    assert {"daily_bars", "instruments", "st_status", "industry", "index_bars", "index_members",
            "etf_bars", "etf_info", "index_info"} <= set(store.tables())  # fmt: skip
    report = revalidate_store(store)  # raises on any hard problem
    assert len(report)


def test_known_defects_are_reported(
    real: tuple[Store, float, list[warnings.WarningMessage]],
) -> None:
    store, _, _ = real
    c = counts(store)
    assert c[("daily_bars", "zero_volume")] > 0
    assert c[("daily_bars", "vwap_outside_range")] > 0
    assert c[("daily_bars", "beyond_price_limit")] > 0  # relistings
    assert c[("daily_bars", "suspended_rows_inserted")] > 0
    # Inconsistent OHLC: the stock file has none once read (checked independently below); the
    # index files do (closes a 0.001 above the high).
    raw = pd.read_parquet(
        real_sample_dir() / "ashare_daily_2020_2022.parquet",
        columns=["open", "high", "low", "close"],
    )
    raw_bad = int(
        (
            (raw["high"] < raw[["open", "close"]].max(axis=1))
            | (raw["low"] > raw[["open", "close"]].min(axis=1))
        ).sum()
    )
    assert c.get(("daily_bars", "ohlc_inconsistent"), 0) == raw_bad
    assert sum(n for (_, rule), n in c.items() if rule == "ohlc_inconsistent") > 0


def test_unavailable_items_are_recorded(
    real: tuple[Store, float, list[warnings.WarningMessage]],
) -> None:
    store, _, _ = real
    missing = store.unavailable()
    for item in (
        "daily_bars.num_trades",
        "daily_bars.price_1130",
        "minute_bars",
        "fundamentals",
        "bond_yields",
    ):
        assert item in missing and "source" in missing[item]
    assert not store.has("daily_bars", "num_trades")
    text = describe(store)
    assert "the source has no number of trades per day" in text


def test_derived_tables_are_consistent(
    real: tuple[Store, float, list[warnings.WarningMessage]],
) -> None:
    store, _, caught = real
    bars = store.read(
        "daily_bars", columns=["date", "code", "close", "prev_close", "adj_factor", "is_suspended"]
    )
    assert bars["code"].str.fullmatch(r"\d{6}\.(SH|SZ|BJ)").all()
    adj_ret = (bars["close"] * bars["adj_factor"]).groupby(bars["code"]).pct_change()
    ret = bars["close"] / bars["prev_close"] - 1
    first = bars.groupby("code").cumcount() == 0
    np.testing.assert_allclose(adj_ret[~first], ret[~first], atol=1e-9)
    members = store.read("index_members")
    csi300 = members[members["index_code"] == "000300.SH"]
    for day in pd.to_datetime(["2020-03-02", "2021-09-01", "2022-01-04"]):
        in_force = (csi300["start"] <= day) & (csi300["end"].isna() | (csi300["end"] > day))
        assert in_force.sum() == 300
    industry = store.read("industry")
    assert industry["value"].str.fullmatch(r"\d\d").all()
    assert all(issubclass(w.category, UnclassifiedIndustryWarning) for w in caught)
