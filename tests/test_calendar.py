"""Tests of the SSE calendar: exchange-calendars' XSHG where it reaches, the data's sessions beyond."""

from __future__ import annotations

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
from quantbook.data.calendar import (
    TradingCalendar,
    calendar_record,
    data_session_problems,
    fixed_holiday_mask,
    xshg_coverage,
)

#: Two weeks of sessions after the exchange calendar's last one (2027 for exchange-calendars
#: 4.13), on weekdays that are not fixed-date holidays.
AFTER = pd.bdate_range(xshg_coverage().last + pd.Timedelta(days=1), periods=20)
AFTER = AFTER[~fixed_holiday_mask(AFTER)]


@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")
def test_coverage_is_read_from_the_calendar_object() -> None:
    cov = xshg_coverage()
    cls = type(xcals.get_calendar("XSHG"))
    widest = xcals.get_calendar("XSHG", start=cls.bound_min())
    assert cov.first == pd.Timestamp(widest.first_session).tz_localize(None)
    assert cov.last == pd.Timestamp(widest.last_session).tz_localize(None)
    assert cov.version == xcals.__version__
    assert cov.first <= pd.Timestamp("1990-12-19")  # the SSE's first day, not 2005-01-04
    assert TradingCalendar().is_session("2004-12-01")
    assert (
        cov.describe()
        == f"exchange-calendars XSHG {cov.version} ({cov.first.date()} .. {cov.last.date()})"
    )


def test_fixed_holidays_are_never_xshg_sessions() -> None:
    """The fixed-date holiday list agrees with exchange-calendars over its whole range."""
    sessions = TradingCalendar().sessions
    assert not fixed_holiday_mask(sessions).any()
    assert not (np.asarray(sessions.day_of_week) >= 5).any()
    days = pd.DatetimeIndex(["2027-01-01", "2027-05-01", "2027-10-01", "2027-10-03", "2028-05-02"])
    assert fixed_holiday_mask(days).all()
    # 2-3 May were trading days from 2008 to 2024 (the 2007 amendment)
    assert not fixed_holiday_mask(pd.DatetimeIndex(["2011-05-03", "2027-05-03"])).any()


def test_data_session_problems() -> None:
    dates = pd.DatetimeIndex(["2027-01-04", "2027-01-09", "2027-01-10", "2027-10-01", "1990-12-01"])
    found = data_session_problems(dates)
    assert found["weekend"].strftime("%Y-%m-%d").tolist() == [
        "2027-01-09",
        "2027-01-10",
        "1990-12-01",
    ]
    assert found["holiday"].strftime("%Y-%m-%d").tolist() == ["2027-10-01"]


def test_extra_sessions_extend_the_calendar_only_outside_its_range() -> None:
    cov = xshg_coverage()
    inside = cov.last - pd.Timedelta(days=1)  # inside the range: the exchange calendar decides
    cal = TradingCalendar(extra=AFTER.append(pd.DatetimeIndex([inside])))
    assert cal.last == AFTER[-1] and cal.data_sessions.equals(pd.DatetimeIndex(AFTER, name="date"))
    assert cal.is_session(AFTER[0]) and cal.is_session(cov.last)
    assert cal.is_session(inside) == TradingCalendar().is_session(inside)
    assert cal.offset(cov.last, 1) == AFTER[0]


def test_month_and_week_ends_across_the_seam() -> None:
    # data sessions 2027-01-04 .. 2027-02-10: January is complete, February is not
    after = pd.bdate_range("2027-01-04", "2027-02-10")
    after = after[~fixed_holiday_mask(after)]
    cal = TradingCalendar("2026-11-01", extra=after)
    if xshg_coverage().last >= pd.Timestamp("2027-02-10"):
        pytest.skip("the installed exchange-calendars reaches past the test's data sessions")
    ends = cal.month_ends().strftime("%Y-%m-%d").tolist()
    assert ends == ["2026-11-30", "2026-12-31", "2027-01-29"]
    weeks = cal.week_ends("2026-12-20").strftime("%Y-%m-%d").tolist()
    assert weeks[:3] == ["2026-12-25", "2026-12-31", "2027-01-08"]
    assert weeks[-1] == "2027-02-05"  # the week of 2027-02-10 is not over
    # a month whose last weekday is known is complete
    full = pd.bdate_range("2027-01-04", "2027-02-26")
    full = full[~fixed_holiday_mask(full)]
    assert TradingCalendar("2027-01-01", extra=full).month_ends()[-1] == pd.Timestamp("2027-02-26")


def test_calendar_record() -> None:
    before = pd.DatetimeIndex(["1990-11-26", "1990-11-27"])
    if xshg_coverage().first <= before[0]:
        pytest.skip("the installed exchange-calendars reaches before the test's data sessions")
    rec = calendar_record(before.append(AFTER))
    cov = xshg_coverage()
    assert (rec["first"], rec["last"], rec["version"]) == (
        str(cov.first.date()),
        str(cov.last.date()),
        cov.version,
    )
    assert (rec["before"], rec["after"]) == (2, len(AFTER))
    assert rec["data_sessions"][:2] == ["1990-11-26", "1990-11-27"]
