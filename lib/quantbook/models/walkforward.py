"""The walk-forward schedule: when models are fitted, on which samples, and what each predicts.

A :class:`WalkForward` is the rule (fit calendar and frequency, training window, minimum
sample, label horizon); :meth:`WalkForward.schedule` applies it to the dates of a pipeline
and returns a :class:`Schedule` of :class:`Fit` records. Every model of the project that is
refitted through time (the GAN_GRU retrainings, the Barra ML windows, the ETF strategies'
linear models) takes its fit dates, training samples and prediction dates from here, so the
no-lookahead rule is written and tested once.

Examples
--------
Weekly samples whose label is the next week's outcome, a model refitted every 2 weeks on at
most the 3 latest samples, once at least 2 are known:

>>> dates = pd.date_range("2024-01-05", periods=6, freq="7D")
>>> s = WalkForward(every=2, window=3, min_train=2).schedule(samples=dates, predict=dates)
>>> for f in s.fits:
...     print(f"{f.date:%m-%d}", [f"{d:%m-%d}" for d in f.train], [f"{d:%m-%d}" for d in f.predict])
01-19 ['01-05', '01-12'] ['01-19', '01-26']
02-02 ['01-12', '01-19', '01-26'] ['02-02', '02-09']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["Fit", "FitCalendar", "Schedule", "WalkForward", "calendar_fit_dates"]

#: Where fits may happen: on the prediction dates (``periods``), or on the last session on or
#: before each June 30 and December 31 (``half-year``) or each December 31 (``year``).
FitCalendar = Literal["periods", "half-year", "year"]

_CALENDAR_ENDS: dict[str, tuple[tuple[int, int], ...]] = {
    "half-year": ((6, 30), (12, 31)),
    "year": ((12, 31),),
}


def calendar_fit_dates(sessions: pd.DatetimeIndex, *, calendar: FitCalendar) -> pd.DatetimeIndex:
    """The last session on or before each half-year or year end covered by ``sessions``.

    Parameters
    ----------
    sessions
        Trading days, sorted.
    calendar
        ``half-year`` (June 30 and December 31) or ``year`` (December 31); ``periods``
        returns ``sessions`` itself.

    Returns
    -------
    DatetimeIndex

    Notes
    -----
    Only period ends :math:`e` with :math:`s_0 \\le e \\le s_{-1}` are included; the fit date
    of :math:`e` is :math:`\\max\\{s \\in \\text{sessions} : s \\le e\\}`, each day once (with
    sessions sparser than the calendar, two period ends may share their last session).

    Examples
    --------
    >>> days = pd.bdate_range("2023-06-01", "2024-07-05")
    >>> [f"{d:%Y-%m-%d}" for d in calendar_fit_dates(days, calendar="half-year")]
    ['2023-06-30', '2023-12-29', '2024-06-28']
    """
    s = pd.DatetimeIndex(sessions)
    if calendar == "periods" or len(s) == 0:
        return s
    ends = [
        pd.Timestamp(year, month, day)
        for year in range(s[0].year, s[-1].year + 1)
        for month, day in _CALENDAR_ENDS[calendar]
    ]
    e = pd.DatetimeIndex([d for d in ends if s[0] <= d <= s[-1]])
    return s[s.searchsorted(e, side="right") - 1].unique()  # sparse sessions: one fit per day


@dataclass(frozen=True, eq=False)
class Fit:
    """One fit of a walk-forward schedule.

    Attributes
    ----------
    date
        The fit date :math:`F`: every training label is known by then.
    train
        The training sample dates (sorted).
    predict
        The prediction dates this fit's model predicts (those whose latest fit is this one).
    """

    date: pd.Timestamp
    train: pd.DatetimeIndex
    predict: pd.DatetimeIndex

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fit):
            return NotImplemented
        return (
            self.date == other.date
            and self.train.equals(other.train)
            and self.predict.equals(other.predict)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class Schedule:
    """The fits of a walk-forward schedule and the fit behind each prediction date.

    Attributes
    ----------
    fits
        The fits, by date; each predicts at least one date.
    fit_for
        ``prediction date -> fit date`` (NaT where no fit precedes the date).
    """

    fits: tuple[Fit, ...]
    fit_for: pd.Series

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.fits == other.fits and self.fit_for.equals(other.fit_for)

    __hash__ = None  # type: ignore[assignment]

    def table(self) -> pd.DataFrame:
        """One row per fit: date, first and last training date, training size, predictions."""
        return pd.DataFrame(
            [
                {
                    "fit date": f.date,
                    "train from": f.train[0],
                    "train to": f.train[-1],
                    "train samples": len(f.train),
                    "predict from": f.predict[0],
                    "predict to": f.predict[-1],
                    "predictions": len(f.predict),
                }
                for f in self.fits
            ]
        )


@dataclass(frozen=True)
class WalkForward:
    """A walk-forward rule: fit calendar and frequency, training window, minimum sample.

    Attributes
    ----------
    every
        Fit at most every ``every`` candidate fit dates (1: at each one).
    calendar
        The candidate fit dates (:data:`FitCalendar`): the prediction dates (``periods``) or
        the last session of each half-year or year.
    window
        Rolling window: the latest ``window`` samples whose label is known; None: expanding.
    min_train
        Fewest usable training samples of a fit (at least 1); a candidate with fewer is skipped (the
        previous fit, if any, keeps predicting) and the next candidate is tried.
    horizon
        Label horizon in samples, when no explicit label end is given: the label of sample
        :math:`i` is known at sample date :math:`i + h`.

    Notes
    -----
    With samples :math:`s_1 < \\dots < s_n`, label ends :math:`e_i` (the date the label of
    :math:`s_i` is known), candidate fit dates :math:`c_1 < c_2 < \\dots` and prediction dates
    :math:`p`:

    - known at :math:`c`: :math:`K(c) = \\{i : e_i \\le c\\}`; window
      :math:`W(c)` = the last ``window`` elements of :math:`K(c)` (all when expanding);
      training set :math:`T(c) = W(c) \\cap U` with :math:`U` the usable samples;
    - candidate :math:`c_j` is a fit :math:`F` iff :math:`|T(c_j)| \\ge` ``min_train`` and
      :math:`j - j' \\ge` ``every`` for the previous fit :math:`c_{j'}` (if any);
    - prediction date :math:`p` uses the latest fit :math:`F \\le p`; a fit that no prediction
      date uses is dropped.

    Hence no lookahead: :math:`e_i \\le F \\le p` for every training sample :math:`i` and
    prediction date :math:`p` of a fit :math:`F`.
    """

    every: int = 1
    calendar: FitCalendar = "periods"
    window: int | None = None
    min_train: int = 1
    horizon: int = 1

    def __post_init__(self) -> None:
        if self.every < 1 or self.min_train < 1 or self.horizon < 0:
            raise ValueError(
                f"invalid walk-forward rule {self!r}: every and min_train must be at least 1 "
                "(a fit needs a training sample), horizon at least 0"
            )
        if self.window is not None and self.window < 1:
            raise ValueError(f"walk-forward window must be positive or None, not {self.window}")

    def label_ends(self, samples: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """:math:`e_i = s_{i+h}` (NaT beyond the last sample) for the rule's ``horizon``."""
        s = pd.DatetimeIndex(samples)
        h = self.horizon
        pos = np.arange(len(s)) + h
        out = np.full(len(s), np.datetime64("NaT"), dtype=s.values.dtype)
        ok = pos < len(s)
        out[ok] = s.values[pos[ok]]
        return pd.DatetimeIndex(out)

    def training(
        self,
        date: pd.Timestamp,
        *,
        samples: pd.DatetimeIndex,
        label_end: pd.DatetimeIndex | None = None,
        usable: np.ndarray | None = None,
    ) -> pd.DatetimeIndex:
        """:math:`T(c)`: the training sample dates of a fit on ``date`` (see Notes above)."""
        s = pd.DatetimeIndex(samples)
        ends = self.label_ends(s) if label_end is None else pd.DatetimeIndex(label_end)
        return s[self._train_pos(pd.Timestamp(date), ends, _usable(usable, len(s)))]

    def _train_pos(
        self, date: pd.Timestamp, ends: pd.DatetimeIndex, usable: np.ndarray
    ) -> np.ndarray:
        known = np.flatnonzero(np.asarray(ends <= date))  # NaT compares False
        if self.window is not None:
            known = known[-self.window :]
        return known[usable[known]]

    def schedule(
        self,
        *,
        samples: pd.DatetimeIndex,
        predict: pd.DatetimeIndex,
        label_end: pd.DatetimeIndex | None = None,
        usable: np.ndarray | None = None,
        sessions: pd.DatetimeIndex | None = None,
    ) -> Schedule:
        """The fits of this rule on the given dates.

        Parameters
        ----------
        samples
            Training sample dates, sorted.
        predict
            Prediction dates, sorted.
        label_end
            Date each sample's label is known (NaT: not known); default
            :meth:`label_ends` (``horizon`` samples later).
        usable
            Boolean mask of the samples with complete data (default: all).
        sessions
            Trading days from which ``half-year`` / ``year`` fit dates are taken (default:
            the prediction dates).

        Returns
        -------
        Schedule
        """
        s = pd.DatetimeIndex(samples)
        p = pd.DatetimeIndex(predict)
        ends = self.label_ends(s) if label_end is None else pd.DatetimeIndex(label_end)
        if len(ends) != len(s):
            raise ValueError(f"{len(ends)} label ends for {len(s)} samples")
        ok = _usable(usable, len(s))
        candidates = (
            p
            if self.calendar == "periods"
            else calendar_fit_dates(p if sessions is None else sessions, calendar=self.calendar)
        )
        dates: list[pd.Timestamp] = []
        trains: list[pd.DatetimeIndex] = []
        last = -self.every
        for j, c in enumerate(candidates):
            if dates and j - last < self.every:
                continue
            pos = self._train_pos(c, ends, ok)
            if len(pos) < self.min_train:
                continue
            dates.append(pd.Timestamp(c))
            trains.append(s[pos])
            last = j
        fit_dates = pd.DatetimeIndex(dates)
        which = fit_dates.searchsorted(p, side="right") - 1
        fit_for = pd.Series(
            fit_dates[np.maximum(which, 0)].where(which >= 0) if len(fit_dates) else pd.NaT,
            index=p,
            name="fit date",
            dtype="datetime64[ns]",
        )
        fits = tuple(
            Fit(date=d, train=t, predict=p[which == i])
            for i, (d, t) in enumerate(zip(dates, trains, strict=True))
            if (which == i).any()
        )
        return Schedule(fits=fits, fit_for=fit_for)


def _usable(usable: np.ndarray | None, n: int) -> np.ndarray:
    if usable is None:
        return np.ones(n, dtype=bool)
    u = np.asarray(usable, dtype=bool)
    if u.shape != (n,):
        raise ValueError(f"usable mask of shape {u.shape} for {n} samples")
    return u
