"""A-share market rules: boards, daily price limits, tick rounding, closes at a limit.

- :func:`board_index` / :func:`boards_for`: the listing board of stocks (positions in
  :data:`BOARDS`, or names from the instruments table with the code as fallback);
- :func:`limit_fraction`, :func:`limit_prices`, :func:`round_price`: the daily price limits by
  board and ST status (SPEC §0), rounded to the 0.01 CNY tick;
- :data:`LIMIT_TOL`, :func:`at_limit_up`, :func:`at_limit_down`: whether a close is at a
  recorded limit price; every comparison of a close with a limit price uses them.

Examples
--------
>>> import numpy as np
>>> at_limit_up(np.array([10.995, 10.99, 11.0]), np.array([11.0, 11.0, np.nan])).tolist()
[True, False, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantbook.data.codes import board_of
from quantbook.data.schema import BOARD_LIMITS, CHINEXT_REFORM_DATE, ST_LIMIT

__all__ = [
    "BOARDS",
    "LIMIT_TOL",
    "at_limit_down",
    "at_limit_up",
    "board_index",
    "boards_for",
    "limit_fraction",
    "limit_prices",
    "round_price",
]

#: The boards, in the order of :func:`board_index` positions.
BOARDS: tuple[str, ...] = tuple(BOARD_LIMITS)
_BOARD_INDEX = {b: i for i, b in enumerate(BOARDS)}

#: A close within half a cent of a limit price is "at the limit" (prices are quoted in cents).
LIMIT_TOL = 0.005


def at_limit_up(close: np.ndarray, limit_up: np.ndarray) -> np.ndarray:
    """Whether each close is at its upper limit price: ``close >= limit_up - LIMIT_TOL``.

    A missing limit (NaN: no limit applies, or unknown) is never reached.
    """
    lu = np.asarray(limit_up, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(lu) & (np.asarray(close, dtype=float) >= lu - LIMIT_TOL)


def at_limit_down(close: np.ndarray, limit_down: np.ndarray) -> np.ndarray:
    """Whether each close is at its lower limit price: ``close <= limit_down + LIMIT_TOL``."""
    ld = np.asarray(limit_down, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(ld) & (np.asarray(close, dtype=float) <= ld + LIMIT_TOL)


def board_index(board: np.ndarray | pd.Series) -> np.ndarray:
    """Integer positions in :data:`BOARDS` of board names (integers pass through).

    Parameters
    ----------
    board
        Board names or positions.

    Returns
    -------
    numpy.ndarray
        ``int64`` positions.

    Raises
    ------
    ValueError
        Naming unknown boards.
    """
    arr = np.asarray(board)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() >= len(BOARDS)):
            raise ValueError(f"board positions must lie in 0..{len(BOARDS) - 1}")
        return arr.astype(np.int64)
    codes, uniques = pd.factorize(arr.astype(object))
    lookup = np.array([_BOARD_INDEX.get(str(u), -1) for u in uniques], dtype=np.int64)
    if (lookup < 0).any():
        unknown = sorted(str(u) for u in np.asarray(uniques)[lookup < 0])
        raise ValueError(f"unknown board(s) {unknown}; expected one of {BOARDS}")
    return lookup[codes]


def boards_for(codes: pd.Index, instruments: pd.DataFrame | None) -> np.ndarray:
    """Board name per code: the instruments table's where known, else from the code.

    Parameters
    ----------
    codes
        Normalized stock codes.
    instruments
        The ``instruments`` table (``code``, ``board``), or None.

    Returns
    -------
    numpy.ndarray
        Object array of board names (:func:`quantbook.data.codes.board_of` for codes the
        instruments do not know).
    """
    if instruments is None or "board" not in instruments.columns:
        given = np.full(len(codes), None, dtype=object)
    else:
        known = instruments.set_index("code")["board"]
        known = known[~known.index.duplicated()]
        given = known.reindex(codes).to_numpy(dtype=object)
    missing = pd.isna(given)
    if missing.any():
        unknown = pd.Series(codes[missing].astype(str), dtype="str")
        given[missing] = board_of(unknown).to_numpy(dtype=object)
    return given


def limit_fraction(board: np.ndarray, dates: np.ndarray, is_st: np.ndarray) -> np.ndarray:
    """Daily price-limit fraction per row (SPEC §0).

    Parameters
    ----------
    board
        Board per row: the strings ``main``, ``chinext``, ``star``, ``bse``, or their integer
        positions in :data:`BOARDS` (faster on millions of rows).
    dates
        ``datetime64`` trading day per row.
    is_st
        Whether the stock is under special treatment on that day.

    Returns
    -------
    numpy.ndarray
        The fraction: main 0.10, ChiNext 0.20 (0.10 before 2020-08-24), STAR 0.20, BSE 0.30;
        ST stocks 0.05 on the main board (and on ChiNext before its reform).

    Notes
    -----
    The ST limit of 5 % applies where the exchanges apply it: ST stocks on ChiNext (after the
    reform), STAR and the BSE keep their board's limit.
    """
    idx = board_index(board)
    frac = np.array([BOARD_LIMITS[b] for b in BOARDS])[idx]
    before_reform = np.asarray(dates, dtype="datetime64[ns]") < np.datetime64(
        CHINEXT_REFORM_DATE, "ns"
    )
    chinext_old = (idx == _BOARD_INDEX["chinext"]) & before_reform
    frac = np.where(chinext_old, BOARD_LIMITS["main"], frac)
    st_tight = np.asarray(is_st, dtype=bool) & ((idx == _BOARD_INDEX["main"]) | chinext_old)
    return np.where(st_tight, ST_LIMIT, frac)


def round_price(x: np.ndarray) -> np.ndarray:
    """Round prices half up to 0.01 CNY, as the exchanges round limit prices.

    Parameters
    ----------
    x
        Prices.

    Returns
    -------
    numpy.ndarray
        Rounded prices (NaN stays NaN).
    """
    return np.floor(np.asarray(x, dtype=np.float64) * 100.0 + 0.5 + 1e-7) / 100.0


def limit_prices(prev_close: np.ndarray, fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower limit prices from the previous close, rounded to 0.01.

    Parameters
    ----------
    prev_close
        The exchange reference previous close.
    fraction
        The limit fraction per row (:func:`limit_fraction`).

    Returns
    -------
    tuple of numpy.ndarray
        ``(limit_up, limit_down)``.
    """
    pc = np.asarray(prev_close, dtype=np.float64)
    return round_price(pc * (1.0 + fraction)), round_price(pc * (1.0 - fraction))
