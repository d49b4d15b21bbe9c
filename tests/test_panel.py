"""The daily panel, spells on a grid, market rules and universe rules (quantbook.data)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from quantbook.data.cache import Cache
from quantbook.data.market_rules import LIMIT_TOL, at_limit_down, at_limit_up
from quantbook.data.panel import (
    CAP_SHARE_COLUMNS,
    DailyPanel,
    cap_shares_column,
    clear_daily_panel_memo,
    load_daily_panel,
    spells_on,
)
from quantbook.data.store import Store, open_store
from quantbook.data.universe import UniverseRules
from quantbook.factors.behavior import BehaviorParams, behavior_version, factor_history
from quantbook.reports import behavior_monthly

DATES = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
CODES = pd.Index(["000001.SZ", "600000.SH", "830001.BJ"], dtype=object, name="code")


def _panel(
    fields: dict[str, np.ndarray],
    *,
    list_date: list[str] | None = None,
    spells: dict[str, pd.DataFrame] | None = None,
    board: list[Any] | None = None,
) -> DailyPanel:
    shape = (len(DATES), len(CODES))
    base = {"close": np.full(shape, 10.0), "is_suspended": np.zeros(shape)}
    base.update(fields)
    inst = pd.DataFrame(
        {
            "list_date": pd.to_datetime(list_date or ["2020-01-02"] * len(CODES)),
            "delist_date": pd.NaT,
            "board": board or ["main", "main", "bse"],
        },
        index=CODES,
    )
    return DailyPanel(
        dates=DATES,
        codes=CODES,
        fields=base,
        present=np.isfinite(base["close"]),
        sessions=pd.DatetimeIndex(["2023-12-29", *DATES]),
        instruments=inst,
        spells=spells or {},
    )


def test_spells_on_half_open_values_and_mask() -> None:
    sp = pd.DataFrame(
        {
            "code": ["A", "A", "B", "Z"],
            "start": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-01-03", "2024-01-02"]),
            "end": pd.to_datetime(["2024-01-03", pd.NaT, "2024-01-04", pd.NaT]),
            "value": ["x", "y", "x", "z"],
        }
    )
    codes = pd.Index(["A", "B"])
    g = spells_on(sp, DATES, codes)
    assert g.values == ("x", "y")  # values of the grid's codes only
    assert g.mask[:, 0].tolist() == [True, False, False, True]
    assert g.labels()[:, 0].tolist() == ["x", None, None, "y"]
    assert g.labels()[:, 1].tolist() == [None, "x", None, None]
    # without a value column only whether a spell is in force
    m = spells_on(sp.drop(columns="value"), DATES, codes)
    assert m.values == () and (m.mask == g.mask).all()
    assert not spells_on(sp.iloc[:0], DATES, codes).mask.any()


def test_limit_flags_use_one_tolerance() -> None:
    lu = np.array([11.0, 11.0, 11.0, np.nan])
    close = np.array([11.0 - LIMIT_TOL, 11.0 - 2 * LIMIT_TOL, 11.01, 11.0])
    assert at_limit_up(close, lu).tolist() == [True, False, True, False]
    assert at_limit_down(np.array([9.0 + LIMIT_TOL, 9.011]), np.array([9.0, 9.0])).tolist() == [
        True,
        False,
    ]
    shape = (len(DATES), len(CODES))
    close = np.full(shape, 11.0 - LIMIT_TOL / 2)
    high, low = close.copy(), close.copy()
    high[1] += 0.1  # traded in a range on day 2
    susp = np.zeros(shape)
    susp[2, 0] = 1.0
    p = _panel(
        {
            "close": close,
            "high": high,
            "low": low,
            "is_suspended": susp,
            "limit_up": np.full(shape, 11.0),
            "limit_down": np.full(shape, 9.0),
        }
    )
    assert p.limit_up_close[:, 0].tolist() == [True, True, False, True]  # not on suspension
    assert p.one_price_limit[:, 0].tolist() == [True, False, False, True]
    assert not p.limit_down_close.any()


def test_float_cap_falls_back_to_total_shares() -> None:
    shape = (len(DATES), len(CODES))
    fs, ts = np.full(shape, 2.0), np.full(shape, 3.0)
    assert CAP_SHARE_COLUMNS == ("float_shares", "total_shares")
    both = _panel({"float_shares": fs, "total_shares": ts})
    np.testing.assert_array_equal(both.float_cap, 20.0)
    total = _panel({"total_shares": ts})
    np.testing.assert_array_equal(total.float_cap, 30.0)
    assert np.isnan(_panel({}).float_cap).all()


def test_cap_shares_column(smoke_store: Store) -> None:
    assert cap_shares_column(smoke_store) == "float_shares"


def test_listed_sessions_count_one_on_the_listing_day() -> None:
    # sessions: 2023-12-29, then DATES; listed on 2024-01-03 (the third session)
    p = _panel({}, list_date=["2024-01-03", "2023-12-29", "2019-01-01"])
    ls = p.listed_sessions()
    assert ls[:, 0].tolist() == [0, 1, 2, 3]
    assert ls[:, 1].tolist() == [2, 3, 4, 5]
    assert ls[:, 2].tolist() == [2, 3, 4, 5]  # before the calendar: from its first session
    assert p.listed_sessions(np.array([3]))[0].tolist() == [3, 5, 5]


def test_universe_rules() -> None:
    shape = (len(DATES), len(CODES))
    susp = np.zeros(shape)
    susp[3, 1] = 1.0
    close = np.full(shape, 10.0)
    close[0, 1] = np.nan  # no bar
    st = pd.DataFrame(
        {
            "code": ["000001.SZ"],
            "start": pd.to_datetime(["2024-01-04"]),
            "end": [pd.NaT],
            "value": ["ST"],
        }
    )
    p = _panel(
        {"close": close, "is_suspended": susp},
        list_date=["2023-12-29", "2024-01-02", "2019-01-01"],
        spells={"st_status": st},
    )
    rules = UniverseRules(min_listed_sessions=2, exclude_beijing=True)
    assert rules.eligible(p).tolist() == [
        [True, False, False],  # 600000: no bar
        [True, True, False],
        [False, True, False],  # 000001: ST
        [False, False, False],  # 600000 suspended
    ]
    loose = UniverseRules(min_listed_sessions=3, exclude_st=False, exclude_suspended=False)
    assert loose.eligible(p, np.array([1, 3])).tolist() == [
        [True, False, True],
        [True, True, True],
    ]
    assert "not on the Beijing exchange" in rules.describe()


def test_board_from_code_where_instruments_lack_it() -> None:
    p = _panel({}, board=["main", None, None])
    assert p.board.tolist() == ["main", "main", "bse"]


def test_panel_matches_the_store(smoke_store: Store) -> None:
    end = smoke_store.end
    start = smoke_store.calendar().sessions[-30]
    p = load_daily_panel(smoke_store, start=start, end=end, fields=["close", "limit_up"])
    long = smoke_store.read("daily_bars", start=start, end=end, columns=["date", "code", "close"])
    wide = long.pivot(index="date", columns="code", values="close").reindex(
        index=p.dates, columns=p.codes
    )
    np.testing.assert_array_equal(p["close"], wide.to_numpy(dtype=float))
    assert (p.present == wide.notna().to_numpy()).all()
    assert p.dates.equals(smoke_store.calendar().range(start, end))
    assert not p.has("open")


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every ``Store.read`` table name (minute regeneration's included) from now on."""
    reads: list[str] = []
    original_read = Store.read

    def counting(self: Store, table_name: str, **kwargs: Any) -> pd.DataFrame:
        reads.append(table_name)
        return original_read(self, table_name, **kwargs)

    clear_daily_panel_memo()
    monkeypatch.setattr(Store, "read", counting)
    return reads


def test_cold_behaviour_factors_read_daily_bars_once(
    smoke_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The factor path reads ``daily_bars`` once, the synthetic minute regeneration included
    (one memoized panel serves the four factors and the regenerated minutes)."""
    reads = _count_reads(monkeypatch)
    p = BehaviorParams()
    cache = Cache(
        tmp_path / "cache", fingerprint=smoke_store.fingerprint(), version=behavior_version(p)
    )
    day = smoke_store.calendar().month_ends()[-2]
    hist = factor_history(smoke_store, [day], params=p, cache=cache)
    assert hist.computed and all(n == 1 for n in hist.computed.values())
    assert reads.count("daily_bars") == 1


def test_cold_behaviour_report_reads_daily_bars_once(
    smoke_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold ``behavior_monthly`` run (empty store cache: factors, monthly panel, first-bar
    date, the risk fit behind the style returns, regenerated minutes) reads ``daily_bars``
    once."""
    shutil.copytree(smoke_store.path, tmp_path / "smoke", ignore=shutil.ignore_patterns("cache"))
    store = open_store("smoke", root=tmp_path)
    day = store.calendar().month_ends()[-2]
    reads = _count_reads(monkeypatch)
    rep = behavior_monthly.prepare(store, as_of=day)
    styles = behavior_monthly.style_factor_returns(store, as_of=day)
    assert rep.history.computed and styles.available
    assert reads.count("daily_bars") == 1


def test_panels_are_read_only_slices_of_one_read(
    smoke_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later requests (other ranges, codes, fields) are slices of the memo, not new reads."""
    reads = _count_reads(monkeypatch)
    whole = load_daily_panel(smoke_store)
    end = whole.dates[-30]
    codes = list(whole.codes[::7])
    part = load_daily_panel(
        smoke_store, start=whole.dates[5], end=end, codes=codes, fields=["open"]
    )
    assert reads.count("daily_bars") == 1
    assert part.dates[-1] == end and list(part.codes) == sorted(part.codes)
    assert set(part.fields) == {"open", "close", "is_suspended"}
    col = whole.codes.get_indexer(part.codes)
    np.testing.assert_array_equal(part["open"], whole["open"][5 : len(whole.dates) - 29][:, col])
    with pytest.raises(ValueError, match="read-only"):
        whole["close"][0, 0] = 1.0
    clear_daily_panel_memo()
    load_daily_panel(smoke_store, end=end)
    assert reads.count("daily_bars") == 2


def test_unknown_panel_field_is_an_error(smoke_store: Store) -> None:
    """A field that is not a daily_bars column is named, not skipped."""
    with pytest.raises(ValueError, match="closing_price not column"):
        load_daily_panel(smoke_store, fields=["close", "closing_price"])
