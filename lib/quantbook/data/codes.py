"""Security codes: parse vendor spellings into the store's ``600000.SH`` form, and boards.

The store writes every code as six digits, a dot and the exchange (``SH``, ``SZ`` or ``BJ``).
Vendors spell the same code in many ways; :func:`normalize_code` accepts them all:

=====================  ==============================  =============
spelling               example                         vendor
=====================  ==============================  =============
prefix                 ``sh600000``, ``SZ399001``      Sina, AKShare
suffix                 ``600000.SH``, ``430047.BJ``    Tushare, Wind
exchange MIC suffix    ``600000.XSHG``, ``000001.XSHE`` JoinQuant, RiceQuant
bare digits            ``600000``, ``1`` (an integer)  Excel exports
=====================  ==============================  =============

A code spelled with an exchange (prefix or suffix) must have all six digits: ``60012.SH``,
``SH60000`` or ``sz1`` are rejected as truncated (a leading digit lost, not a leading zero
dropped), since padding them would invent a code that does not exist (``060012.SH``). Only
bare digits are zero-padded: an Excel or CSV reader turns ``000001`` into the integer ``1``.

Bare codes carry no exchange, and the exchange cannot always be inferred: ``000001`` is Ping
An Bank in Shenzhen but also the SSE Composite index in Shanghai. The ``bare`` argument says
how to read them: ``"security"`` applies the stock / fund numbering rules (6xxxxx, 5xxxxx and
9xxxxx in Shanghai, 0/1/2/3xxxxx in Shenzhen, 4/8xxxxx and 920xxx in Beijing), ``"index"``
the index rules (399xxx Shenzhen, 899xxx Beijing, everything else Shanghai), and ``"SH"``,
``"SZ"`` or ``"BJ"`` force one exchange.

Examples
--------
>>> normalize_code("sh600000")
'600000.SH'
>>> normalize_code("000001.XSHE")
'000001.SZ'
>>> normalize_code("000300", bare="index")
'000300.SH'
>>> board_of("300750.SZ")
'chinext'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
import pandas as pd

Bare = Literal["security", "index", "SH", "SZ", "BJ"]
Board = Literal["main", "chinext", "star", "bse"]

#: Exchange spellings (upper case) -> store suffix.
EXCHANGE_ALIASES: dict[str, str] = {
    "SH": "SH",
    "SS": "SH",
    "SSE": "SH",
    "XSHG": "SH",
    "SZ": "SZ",
    "SZSE": "SZ",
    "XSHE": "SZ",
    "BJ": "BJ",
    "BSE": "BJ",
    "XBSE": "BJ",
}

_PATTERN = re.compile(
    r"^\s*(?:(?P<pre>[A-Za-z]{2})\s*)?(?P<num>\d{1,6})(?:\s*\.\s*(?P<suf>[A-Za-z]{2,4}))?\s*$"
)
_NORMALIZED = re.compile(r"^\d{6}\.(SH|SZ|BJ)$")
_TRUNCATED_HINT = (
    "fewer than 6 digits next to an exchange (a digit lost when the file was written?)"
)


class CodeFormatError(ValueError):
    """A code could not be parsed, or its exchange could not be determined.

    Attributes
    ----------
    values
        The distinct offending values (as given).
    """

    def __init__(self, message: str, values: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.values = list(values)


@overload
def normalize_code(code: str | int, *, bare: Bare = "security") -> str: ...


@overload
def normalize_code(code: pd.Series, *, bare: Bare = "security") -> pd.Series: ...


def normalize_code(code: str | int | pd.Series, *, bare: Bare = "security") -> str | pd.Series:
    """Return codes in the store's ``NNNNNN.EX`` form.

    Parameters
    ----------
    code
        One code (string or integer) or a Series of them. Vectorized: each distinct value is
        parsed once.
    bare
        How to read codes without an exchange: ``"security"`` (stock and fund numbering),
        ``"index"`` (index numbering) or a fixed exchange ``"SH"`` / ``"SZ"`` / ``"BJ"``.

    Returns
    -------
    str or pandas.Series
        The normalized code(s); a Series keeps the input's index and has the string dtype.

    Raises
    ------
    CodeFormatError
        Naming the first offending values and how many there are, for values that are not a
        code, carry two conflicting exchanges, or are bare with no inferable exchange.
    """
    if isinstance(code, pd.Series):
        if code.isna().any():
            raise CodeFormatError(f"{int(code.isna().sum())} missing code(s)")
        uniques, inverse = _factorize(code)
        parsed = np.array([_parse_one(u, bare) for u in uniques], dtype=object)
        bad = np.array([p is None for p in parsed])
        if bad.any():
            values = list(uniques[bad])
            n_rows = int(np.isin(inverse, np.flatnonzero(bad)).sum())
            truncated = [str(v) for v in values if _is_truncated(v)]
            if truncated:
                raise CodeFormatError(
                    f"{n_rows} value(s) are not recognizable security codes (bare={bare!r}); "
                    f"{len(truncated)} distinct code(s) among them truncated, with "
                    f"{_TRUNCATED_HINT}: {truncated[:5]}",
                    values,
                )
            raise CodeFormatError(
                f"{n_rows} value(s) are not recognizable security codes (bare={bare!r}); "
                f"first: {[str(v) for v in values[:5]]}",
                values,
            )
        return pd.Series(parsed[inverse], index=code.index, dtype="str", name=code.name)
    out = _parse_one(code, bare)
    if out is None:
        if _is_truncated(code):
            raise CodeFormatError(f"{code!r} is a truncated code: {_TRUNCATED_HINT}", [code])
        raise CodeFormatError(
            f"{code!r} is not a recognizable security code (bare={bare!r})", [code]
        )
    return out


def _is_truncated(value: object) -> bool:
    """Whether ``value`` is a code with an exchange prefix or suffix and fewer than 6 digits."""
    if not isinstance(value, str):
        return False
    m = _PATTERN.match(value)
    return m is not None and bool(m["pre"] or m["suf"]) and len(m["num"]) < 6


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(s)
    return np.asarray(uniques, dtype=object), codes


def _parse_one(value: object, bare: Bare) -> str | None:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        text = str(int(value))
    elif isinstance(value, str):
        text = value
    else:
        return None
    if _NORMALIZED.match(text):
        return text
    m = _PATTERN.match(text)
    if m is None:
        return None
    if (m["pre"] or m["suf"]) and len(m["num"]) < 6:
        return None  # truncated: only bare digits lost their leading zeros to a number reader
    num = m["num"].zfill(6)
    exchanges = {EXCHANGE_ALIASES.get(x.upper()) for x in (m["pre"], m["suf"]) if x}
    if None in exchanges or len(exchanges) > 1:
        return None
    exchange = exchanges.pop() if exchanges else _infer_exchange(num, bare)
    return None if exchange is None else f"{num}.{exchange}"


def _infer_exchange(num: str, bare: Bare) -> str | None:
    if bare in ("SH", "SZ", "BJ"):
        return bare
    if bare == "index":
        if num.startswith("399"):
            return "SZ"
        if num.startswith("899"):
            return "BJ"
        return "SH"
    if num.startswith("920"):
        return "BJ"
    first = num[0]
    if first in "569":
        return "SH"
    if first in "0123":
        return "SZ"
    if first in "48":
        return "BJ"
    return None


@overload
def board_of(code: str) -> Board: ...


@overload
def board_of(code: pd.Series) -> pd.Series: ...


def board_of(code: str | pd.Series) -> Board | pd.Series:
    """The listing board of normalized stock codes.

    Parameters
    ----------
    code
        One code or a Series of codes in the ``NNNNNN.EX`` form.

    Returns
    -------
    str or pandas.Series
        ``"star"`` (688xxx / 689xxx in Shanghai), ``"chinext"`` (300xxx-302xxx in Shenzhen),
        ``"bse"`` (Beijing) or ``"main"``.

    Raises
    ------
    CodeFormatError
        For values that are not normalized codes.
    """
    if isinstance(code, pd.Series):
        uniques, inverse = _factorize(code)
        boards = np.array([_board_one(u) for u in uniques], dtype=object)
        return pd.Series(boards[inverse], index=code.index, dtype="str", name="board")
    return _board_one(code)


def _board_one(code: object) -> Board:
    if not isinstance(code, str) or not _NORMALIZED.match(code):
        raise CodeFormatError(f"{code!r} is not a normalized code (NNNNNN.SH / .SZ / .BJ)")
    num, exchange = code[:6], code[7:]
    if exchange == "BJ":
        return "bse"
    if exchange == "SH" and num[:3] in ("688", "689"):
        return "star"
    if exchange == "SZ" and num[:3] in ("300", "301", "302"):
        return "chinext"
    return "main"
