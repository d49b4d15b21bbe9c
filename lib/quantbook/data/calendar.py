"""The SSE trading calendar (exchange-calendars' ``XSHG``), month-ends and week-ends.

exchange-calendars ships ``XSHG`` for a bounded range (the installed release's
:func:`xshg_coverage`; 4.13.2 covers 1990-12-03 .. 2026-12-31). Before its first and after its
last session the sessions come from the data itself: a store passes its data sessions as
``extra`` and they are checked with :func:`data_session_problems` (weekends and fixed-date
statutory holidays). A newer exchange-calendars release extends the range with no code change:
the bounds are read from the calendar object.

Examples
--------
>>> cal = TradingCalendar()
>>> cal.month_ends("2024-01-01", "2024-03-31").strftime("%Y-%m-%d").tolist()
['2024-01-31', '2024-02-29', '2024-03-29']

Sessions after the calendar's last one come from the data (here three January days of 2100):

>>> extra = pd.DatetimeIndex(["2100-01-04", "2100-01-05", "2100-01-29"])
>>> cal = TradingCalendar("2099-12-01", extra=extra)
>>> cal.range("2100-01-01").strftime("%Y-%m-%d").tolist()
['2100-01-04', '2100-01-05', '2100-01-29']
>>> cal.month_ends().strftime("%Y-%m-%d").tolist()[-1]  # January 2100 ends on a Friday: complete
'2100-01-29'
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import exchange_calendars as xcals
import numpy as np
import pandas as pd

DateLike = str | pd.Timestamp | np.datetime64

#: The exchange-calendars calendar used for the SSE.
XSHG = "XSHG"

#: Fixed-date statutory holidays on which the SSE is closed: ``(month, day, first year, last
#: year)`` (``None``: open-ended).
#:
#: Source: the State Council's *Measures on National Holidays and Memorial Days*
#: (全国年节及纪念日放假办法) of 1949 and its amendments of 1999 (1-3 May and 1-3 October,
#: from the National Day of 1999), 2007 (1 May only, from 2008) and 2024 (1-2 May, from 2025).
#: New Year's Day (1 January), Labour Day (1 May) and 1-2 October are statutory in every year.
#: Only these fixed dates are listed: the Spring Festival and the other lunar holidays, and the
#: bridge days the exchange adds around them, move from year to year.
FIXED_HOLIDAYS: tuple[tuple[int, int, int, int | None], ...] = (
    (1, 1, 1949, None),
    (5, 1, 1949, None),
    (5, 2, 2000, 2007),
    (5, 3, 2000, 2007),
    (5, 2, 2025, None),
    (10, 1, 1949, None),
    (10, 2, 1949, None),
    (10, 3, 1999, None),
)


class SnappedDateWarning(UserWarning):
    """A requested date was not a trading day and was moved to the previous trading day."""


@dataclass(frozen=True)
class CalendarCoverage:
    """Where the exchange calendar reaches.

    Attributes
    ----------
    source
        ``"exchange-calendars XSHG"``.
    version
        The installed exchange-calendars release.
    first, last
        The calendar's first and last session.
    """

    source: str
    version: str
    first: pd.Timestamp
    last: pd.Timestamp

    def describe(self) -> str:
        """``exchange-calendars XSHG 4.13.2 (1990-12-03 .. 2026-12-31)``."""
        return f"{self.source} {self.version} ({self.first.date()} .. {self.last.date()})"


@functools.lru_cache(maxsize=1)
def _xshg() -> Any:
    """The exchange-calendars XSHG calendar over the widest range the release supports."""
    with warnings.catch_warnings():
        # exchange-calendars 4.13 trips a pandas 4 deprecation inside its own constructor
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="exchange_calendars")
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        cls = type(xcals.get_calendar(XSHG))
        return xcals.get_calendar(XSHG, start=cls.bound_min())


@functools.lru_cache(maxsize=1)
def _xshg_sessions() -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(_xshg().sessions).tz_localize(None)
    return pd.DatetimeIndex(idx.values.astype("datetime64[ns]"), name="date")


def xshg_coverage() -> CalendarCoverage:
    """First and last session of the installed exchange-calendars' XSHG, and its version.

    Returns
    -------
    CalendarCoverage
        Read from the calendar object (its earliest supported start to the last year whose
        holidays the release records), never hard-coded.
    """
    s = _xshg_sessions()
    return CalendarCoverage(f"exchange-calendars {XSHG}", xcals.__version__, s[0], s[-1])


def fixed_holiday_mask(dates: pd.DatetimeIndex) -> np.ndarray:
    """Whether each date is a fixed-date statutory holiday (:data:`FIXED_HOLIDAYS`).

    Parameters
    ----------
    dates
        Dates to check.

    Returns
    -------
    numpy.ndarray
        Boolean, one per date.

    Examples
    --------
    >>> fixed_holiday_mask(pd.DatetimeIndex(["2027-10-01", "2011-05-03", "2003-05-03"])).tolist()
    [True, False, True]
    """
    month, day, year = (np.asarray(a) for a in (dates.month, dates.day, dates.year))
    out = np.zeros(len(dates), dtype=bool)
    for m, d, first, last in FIXED_HOLIDAYS:
        out |= (month == m) & (day == d) & (year >= first) & (year <= (last or 9999))
    return out


def data_session_problems(dates: pd.DatetimeIndex) -> dict[str, pd.DatetimeIndex]:
    """Data sessions (outside the exchange calendar) that cannot be SSE sessions.

    Parameters
    ----------
    dates
        Dates taken from the data, outside :func:`xshg_coverage`'s range.

    Returns
    -------
    dict
        ``{"weekend": dates, "holiday": dates}`` (empty indexes where none).

    Notes
    -----
    Both are hard errors for the importer. A weekend: the SSE has never opened on a Saturday
    or a Sunday in the whole range of the exchange calendar (from its first session of 1990),
    and China's five-day working week (1 May 1995) made weekends closed days by statute; a
    weekend date in an export is a shifted date (time zone, or a date parsed day-first), not a
    session. A fixed-date holiday: one of :data:`FIXED_HOLIDAYS`, closed by statute.
    """
    weekend = np.asarray(dates.day_of_week) >= 5
    holiday = fixed_holiday_mask(dates) & ~weekend
    return {"weekend": dates[weekend], "holiday": dates[holiday]}


def outside_coverage(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The distinct dates before the exchange calendar's first or after its last session."""
    cov = xshg_coverage()
    uniq = pd.DatetimeIndex(pd.unique(dates.normalize())).sort_values()
    return uniq[(uniq < cov.first) | (uniq > cov.last)]


class TradingCalendar:
    """Trading days of the Shanghai Stock Exchange.

    Parameters
    ----------
    start, end
        Optional bounds; sessions outside ``[start, end]`` are dropped.
    extra
        Sessions from the data; those before the exchange calendar's first or after its last
        session are added (the ones inside its range are ignored: there the exchange calendar
        decides).

    Notes
    -----
    A month or ISO week counts as complete (:meth:`period_ends`) when a later session is known,
    or when no weekday that is not a :data:`FIXED_HOLIDAYS` date is left in it after its last
    known session.
    """

    def __init__(
        self,
        start: DateLike | None = None,
        end: DateLike | None = None,
        *,
        extra: pd.Index | None = None,
    ) -> None:
        s = _xshg_sessions()
        add = pd.DatetimeIndex([], dtype="datetime64[ns]", name="date")
        if extra is not None and len(extra):
            add = pd.DatetimeIndex(outside_coverage(pd.DatetimeIndex(extra)), name="date")
            s = pd.DatetimeIndex(s.append(add).sort_values().values, name="date")
        #: Sessions taken from the data (outside the exchange calendar's range), all of them.
        self.data_sessions: pd.DatetimeIndex = add
        #: Every session, unrestricted by ``start`` and ``end``.
        self.all_sessions: pd.DatetimeIndex = s
        if start is not None:
            s = s[s >= pd.Timestamp(start)]
        if end is not None:
            s = s[s <= pd.Timestamp(end)]
        self.sessions: pd.DatetimeIndex = s

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def first(self) -> pd.Timestamp:
        return self.sessions[0]

    @property
    def last(self) -> pd.Timestamp:
        return self.sessions[-1]

    def range(self, start: DateLike | None = None, end: DateLike | None = None) -> pd.DatetimeIndex:
        """Sessions in ``[start, end]``."""
        s = self.sessions
        if start is not None:
            s = s[s >= pd.Timestamp(start)]
        if end is not None:
            s = s[s <= pd.Timestamp(end)]
        return s

    def is_session(self, date: DateLike) -> bool:
        return pd.Timestamp(date) in self.sessions

    def previous_or_same(self, date: DateLike, *, warn: bool = True) -> pd.Timestamp:
        """The trading day on or before ``date``; warns with :class:`SnappedDateWarning` if moved."""
        ts = pd.Timestamp(date).normalize()
        i = int(self.sessions.searchsorted(ts, side="right")) - 1
        if i < 0:
            raise ValueError(
                f"{ts.date()} is before the calendar's first session {self.first.date()}"
            )
        out = pd.Timestamp(self.sessions[i])
        if out != ts and warn:
            warnings.warn(
                f"{ts.date()} is not a trading day; using the previous trading day {out.date()}",
                SnappedDateWarning,
                stacklevel=2,
            )
        return out

    def offset(self, date: DateLike, n: int) -> pd.Timestamp:
        """The session ``n`` trading days after (n > 0) or before (n < 0) the session ``date``."""
        i = self.sessions.get_loc(pd.Timestamp(date))
        assert isinstance(i, int), "sessions are unique"
        j = i + n
        if not 0 <= j < len(self.sessions):
            raise IndexError(
                f"{n:+d} sessions from {pd.Timestamp(date).date()} is outside the calendar"
            )
        return self.sessions[j]

    def period_ends(
        self, freq: Literal["M", "W"], start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DatetimeIndex:
        """Last session of each month (``"M"``) or ISO week (``"W"``) within ``[start, end]``.

        A period is complete only if its last session is known: the calendar's own last
        month/week is included only when a later session is known or no open weekday is left
        in it (see the class Notes).
        """
        s = self.all_sessions
        key = _period_key(s, freq)
        is_end = np.r_[key[1:] != key[:-1], _period_closed(s[-1:], freq)]
        ends = s[is_end]
        lo = self.first if start is None else max(pd.Timestamp(start), self.first)
        hi = self.last if end is None else min(pd.Timestamp(end), self.last)
        return ends[(ends >= lo) & (ends <= hi)]

    def month_ends(
        self, start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DatetimeIndex:
        """Last trading day of each month in ``[start, end]``."""
        return self.period_ends("M", start, end)

    def week_ends(
        self, start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DatetimeIndex:
        """Last trading day of each week in ``[start, end]``."""
        return self.period_ends("W", start, end)


def _period_key(s: pd.DatetimeIndex, freq: str) -> np.ndarray:
    if freq == "M":
        return np.asarray(s.year * 100 + s.month)
    if freq == "W":
        iso = s.isocalendar()
        return np.asarray(iso["year"] * 100 + iso["week"])
    raise ValueError(f"freq must be 'M' or 'W', got {freq!r}")


def _period_closed(last: pd.DatetimeIndex, freq: str) -> bool:
    """Whether no open weekday follows ``last[0]`` within its month or ISO week."""
    day = pd.Timestamp(last[0])
    stop = day + (pd.offsets.MonthEnd(0) if freq == "M" else pd.offsets.Week(weekday=6))
    rest = pd.bdate_range(day + pd.Timedelta(days=1), stop)
    return bool(not len(rest) or fixed_holiday_mask(rest).all())


def calendar_record(data_sessions: pd.DatetimeIndex) -> dict[str, Any]:
    """What ``store.json`` records of the calendar a store was written with.

    Parameters
    ----------
    data_sessions
        The store's dates outside the exchange calendar's range.

    Returns
    -------
    dict
        ``{source, version, first, last, before, after, data_sessions}``: the exchange
        calendar's coverage, how many sessions of the store come from the data before its first
        and after its last session, and those sessions (ISO dates).

    Examples
    --------
    >>> rec = calendar_record(pd.DatetimeIndex(["2100-01-04"]))
    >>> rec["before"], rec["after"], rec["data_sessions"]
    (0, 1, ['2100-01-04'])
    """
    cov = xshg_coverage()
    data = outside_coverage(pd.DatetimeIndex(data_sessions))
    return {
        "source": cov.source,
        "version": cov.version,
        "first": str(cov.first.date()),
        "last": str(cov.last.date()),
        "before": int((data < cov.first).sum()),
        "after": int((data > cov.last).sum()),
        "data_sessions": [str(d.date()) for d in data],
    }
