"""The stock universe rules: who is eligible on a date, evaluated on a :class:`DailyPanel`.

Every universe of the project (the behaviour factors' monthly universe, the risk model's
estimation universe, the GAN_GRU feature filter) is a :class:`UniverseRules` value evaluated
by :meth:`UniverseRules.eligible`; each caller keeps its own defaults on its parameters.

Examples
--------
>>> rules = UniverseRules(min_listed_sessions=60, exclude_beijing=True)
>>> rules.describe()
'listed at least 60 sessions, traded that day (not suspended), not ST / *ST, not on the Beijing exchange'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quantbook.data.panel import DailyPanel

__all__ = ["UniverseRules"]


@dataclass(frozen=True)
class UniverseRules:
    """Eligibility rules of a stock on a date.

    Attributes
    ----------
    min_listed_sessions
        Fewest sessions since listing, counted 1 on the listing day
        (:meth:`DailyPanel.listed_sessions`).
    exclude_st
        Leave out stocks under an ST / *ST spell that day.
    exclude_suspended
        Leave out stocks suspended that day (else only a bar is required).
    exclude_beijing
        Leave out Beijing Stock Exchange stocks (board ``bse``).
    exclude_limit_up_close
        Leave out stocks that closed at the upper price limit (they could not be bought at
        the close).
    exclude_one_price_limit
        Leave out stocks that traded at one price all day at a price limit.

    Notes
    -----
    Eligible on :math:`t`: a bar on :math:`t` (and, by default, not suspended), listed sessions
    :math:`\\ge` ``min_listed_sessions``, and each exclusion that is switched on.
    """

    min_listed_sessions: int = 0
    exclude_st: bool = True
    exclude_suspended: bool = True
    exclude_beijing: bool = False
    exclude_limit_up_close: bool = False
    exclude_one_price_limit: bool = False

    def eligible(self, panel: DailyPanel, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """``(len(rows), N)`` bool: eligible on the panel's dates at ``rows`` (default all).

        Parameters
        ----------
        panel
            The daily panel (its instruments and ``st_status`` spells are used).
        rows
            Row positions of the dates (:meth:`DailyPanel.rows`).

        Returns
        -------
        numpy.ndarray
        """
        sel = slice(None) if rows is None else rows
        ok = panel.trading[sel] if self.exclude_suspended else panel.present[sel]
        ok = ok & (panel.listed_sessions(rows) >= self.min_listed_sessions)
        if self.exclude_st:
            ok &= ~panel.st[sel]
        if self.exclude_beijing:
            ok &= (panel.board != "bse")[None, :]
        if self.exclude_limit_up_close:
            ok &= ~panel.limit_up_close[sel]
        if self.exclude_one_price_limit:
            ok &= ~panel.one_price_limit[sel]
        out: np.ndarray = ok
        return out

    def describe(self) -> str:
        """The rules in words."""
        parts = [f"listed at least {self.min_listed_sessions} sessions"]
        parts.append("traded that day (not suspended)" if self.exclude_suspended else "a bar")
        if self.exclude_st:
            parts.append("not ST / *ST")
        if self.exclude_beijing:
            parts.append("not on the Beijing exchange")
        if self.exclude_limit_up_close:
            parts.append("not closing at the upper price limit")
        if self.exclude_one_price_limit:
            parts.append("not at a one-price limit")
        return ", ".join(parts)
