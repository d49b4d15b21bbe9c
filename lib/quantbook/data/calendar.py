"""The SSE trading calendar (exchange-calendars' ``XSHG``), month-ends and week-ends.

Examples
--------
>>> cal = TradingCalendar()
>>> cal.month_ends("2024-01-01", "2024-03-31").strftime("%Y-%m-%d").tolist()
['2024-01-31', '2024-02-29', '2024-03-29']
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import exchange_calendars as xcals
import numpy as np
import pandas as pd

DateLike = str | pd.Timestamp | np.datetime64

#: Range of the XSHG calendar shipped with exchange-calendars.
_FIRST = "2005-01-04"


class SnappedDateWarning(UserWarning):
    """A requested date was not a trading day and was moved to the previous trading day."""


@functools.lru_cache(maxsize=1)
def _xshg_sessions() -> pd.DatetimeIndex:
    with warnings.catch_warnings():
        # exchange-calendars 4.13 trips a pandas 4 deprecation inside its own constructor
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="exchange_calendars")
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        cal = xcals.get_calendar("XSHG", start=_FIRST)
    idx = pd.DatetimeIndex(cal.sessions).tz_localize(None)
    return pd.DatetimeIndex(idx.values.astype("datetime64[ns]"), name="date")


class TradingCalendar:
    """Trading days of the Shanghai Stock Exchange.

    Parameters
    ----------
    start, end
        Optional bounds; sessions outside ``[start, end]`` are dropped.
    """

    def __init__(self, start: DateLike | None = None, end: DateLike | None = None) -> None:
        s = _xshg_sessions()
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
        month/week is included only when the calendar extends past it.
        """
        s = _xshg_sessions()
        key: np.ndarray
        if freq == "M":
            key = np.asarray(s.year * 100 + s.month)
        elif freq == "W":
            iso = s.isocalendar()
            key = np.asarray(iso["year"] * 100 + iso["week"])
        else:
            raise ValueError(f"freq must be 'M' or 'W', got {freq!r}")
        is_end = np.r_[key[1:] != key[:-1], False]
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
