"""Wide ``date x code`` arrays read from a store, shared by the styles and the risk model.

Everything here is point in time: a panel row for day ``t`` holds only what is known on ``t``
(bars of ``t``, spells in force on ``t``, instruments listed on ``t``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.signal import lfilter

from quantbook.data.store import DataUnavailableError, Store

__all__ = [
    "BarPanels",
    "ew_window_sum",
    "listed_days",
    "load_bars",
    "rolling_sum",
    "spell_codes",
    "spell_values",
]


@dataclass(frozen=True)
class BarPanels:
    """Daily bars as ``(T, N)`` float arrays on ``sessions x codes`` (NaN where no row).

    Attributes
    ----------
    sessions
        Trading days of the panel (a contiguous stretch of the store's calendar).
    codes
        Stock codes (every code with a row in the stretch), sorted.
    fields
        ``{column: array}``; ``is_suspended`` is 1.0 / 0.0 / NaN (no row).
    """

    sessions: pd.DatetimeIndex
    codes: pd.Index
    fields: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.fields[key]

    def rows(self, dates: Sequence[pd.Timestamp] | pd.DatetimeIndex) -> np.ndarray:
        """Row positions of ``dates`` (which must be sessions of the panel)."""
        idx = pd.DatetimeIndex(list(dates))
        pos = self.sessions.get_indexer(idx)
        if (pos < 0).any():
            missing = idx[pos < 0]
            raise ValueError(f"dates not in the panel's sessions: {list(missing[:5].date)}")
        return pos


def load_bars(
    store: Store,
    columns: Sequence[str],
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    products: Mapping[str, tuple[str, str]] | None = None,
    flags: Sequence[str] = (),
) -> BarPanels:
    """Read ``daily_bars`` columns into wide arrays over the store's sessions in ``[start, end]``.

    Optional columns the store lacks (``store.has("daily_bars", col)`` is False) are left out
    of ``fields``; the caller checks what it got. ``products`` adds fields that are products
    of two columns (``{"adj": ("close", "adj_factor")}``), computed on the rows before they are
    spread out; ``flags`` are boolean columns kept as boolean arrays (False where no row).
    Columns used only by products or flags are not spread out themselves.

    Notes
    -----
    The table is read with :mod:`pyarrow` directly (the same file and filters as
    :meth:`Store.read`), with the codes dictionary-encoded and the dates as integers, so that
    millions of rows are placed into the arrays without hashing a string per row.
    """
    store.require("daily_bars")
    products = dict(products or {})
    cols = [c for c in columns if store.has("daily_bars", c)]
    needed = list(dict.fromkeys([*cols, *(c for ab in products.values() for c in ab), *flags]))
    needed = [c for c in needed if store.has("daily_bars", c)]
    filters: list[tuple[str, str, object]] = []
    if start is not None:
        filters.append(("date", ">=", pd.Timestamp(start)))
    if end is not None:
        filters.append(("date", "<=", pd.Timestamp(end)))
    tbl = pq.read_table(
        store.path / "daily_bars.parquet",
        columns=["date", "code", *needed],
        filters=filters or None,
        read_dictionary=["code"],
    )
    sessions = store.calendar().range(start, end)
    code_col = tbl.column("code").combine_chunks()
    if not isinstance(code_col, pa.DictionaryArray):  # pragma: no cover - defensive
        code_col = code_col.dictionary_encode()
    names = np.asarray(code_col.dictionary.to_pylist(), dtype=object).astype(str)
    order = np.argsort(names)
    codes = pd.Index(names[order], name="code")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    ci = rank[code_col.indices.to_numpy(zero_copy_only=False)]
    # dates to session positions through a day-number lookup table (no per-row search)
    day = tbl.column("date").to_numpy().astype("datetime64[D]").astype(np.int64)
    sday = sessions.values.astype("datetime64[D]").astype(np.int64)
    ti = np.full(len(day), -1, dtype=np.int64)
    if len(sday) and len(day):
        lo = int(sday[0])
        lookup = np.full(int(sday[-1]) - lo + 1, -1, dtype=np.int64)
        lookup[sday - lo] = np.arange(len(sday))
        inside = (day >= lo) & (day <= int(sday[-1]))
        ti[inside] = lookup[day[inside] - lo]
    ok = ti >= 0
    every = bool(ok.all())
    flat = ti * len(codes) + ci if every else ti[ok] * len(codes) + ci[ok]
    size = len(sessions) * len(codes)
    shape = (len(sessions), len(codes))

    def spread(vals: np.ndarray) -> np.ndarray:
        arr = np.full(size, np.nan)
        arr[flat] = vals if every else vals[ok]
        return arr.reshape(shape)

    def column(c: str) -> np.ndarray:
        return np.asarray(tbl.column(c).to_numpy(), dtype=float)

    fields: dict[str, np.ndarray] = {c: spread(column(c)) for c in cols}
    for name, (a, b) in products.items():
        if a in needed and b in needed:
            fields[name] = spread(column(a) * column(b))
    for c in flags:
        if c in needed:
            arr = np.zeros(size, dtype=bool)
            vals = np.asarray(tbl.column(c).to_numpy(), dtype=bool)
            arr[flat] = vals if every else vals[ok]
            fields[c] = arr.reshape(shape)
    return BarPanels(sessions=sessions, codes=codes, fields=fields)


def spell_codes(
    store: Store,
    table_name: str,
    dates: pd.DatetimeIndex,
    codes: pd.Index,
) -> tuple[np.ndarray, list[str]]:
    """Spell values in force on each date as integer codes, ``(D, N)`` with -1 for none.

    Returns the codes and the sorted distinct values they index (empty when the store has no
    such table).
    """
    out = np.full((len(dates), len(codes)), -1, dtype=np.int32)
    if not store.has(table_name) or not len(dates):
        return out, []
    sp = store.read(table_name, end=dates.max())
    ci = codes.get_indexer(pd.Index(sp["code"].astype(str)))
    sp = sp[ci >= 0]
    ci = ci[ci >= 0]
    if not len(sp):
        return out, []
    values, cats = pd.factorize(sp["value"].astype(str), sort=True)
    d = dates.to_numpy()
    start = sp["start"].to_numpy(dtype="datetime64[ns]")
    end = sp["end"].to_numpy(dtype="datetime64[ns]")
    end = np.where(np.isnat(end), np.datetime64("2262-01-01"), end)
    lo = d.searchsorted(start, side="left")  # first date >= start
    hi = d.searchsorted(end, side="left")  # first date >= end (exclusive)
    for j in np.flatnonzero(hi > lo):
        out[lo[j] : hi[j], ci[j]] = values[j]
    return out, [str(c) for c in cats]


def spell_values(
    store: Store,
    table_name: str,
    dates: pd.DatetimeIndex,
    codes: pd.Index,
) -> np.ndarray:
    """Value of a spell table (``industry``, ``st_status``) in force on each date, ``(D, N)``.

    Returns an object array of strings with ``None`` where no spell is in force (or the store
    has no such table).
    """
    idx, cats = spell_codes(store, table_name, dates, codes)
    lookup = np.array([*cats, None], dtype=object)
    return lookup[np.where(idx >= 0, idx, len(cats))]


def listed_days(
    store: Store, dates: pd.DatetimeIndex, codes: pd.Index
) -> tuple[np.ndarray, np.ndarray]:
    """Trading days since listing (0 on the listing day) and the listed flag, ``(D, N)`` each.

    A stock is listed on ``d`` when ``list_date <= d < delist_date``; listing dates before the
    calendar's first session count from that session. Codes missing from ``instruments`` are
    treated as listed long ago.
    """
    inst = store.read("instruments").set_index("code")
    inst = inst[~inst.index.duplicated()]
    ld = pd.DatetimeIndex(inst["list_date"].reindex(codes))
    dd = pd.DatetimeIndex(inst["delist_date"].reindex(codes))
    sessions = store.calendar().all_sessions
    li = sessions.searchsorted(ld.fillna(pd.Timestamp("1990-01-01")))
    di = sessions.searchsorted(dates)
    age = di[:, None] - li[None, :]
    d64 = dates.to_numpy()[:, None]
    lo = ld.fillna(pd.Timestamp("1990-01-01")).to_numpy()[None, :]
    hi = dd.fillna(pd.Timestamp("2262-01-01")).to_numpy()[None, :]
    listed = (lo <= d64) & (hi > d64)
    return age.astype(np.int64), listed


def ew_window_sum(x: np.ndarray, *, halflife: float | None, window: int) -> np.ndarray:
    """Exponentially weighted trailing-window sums along axis 0; NaN counts as 0.

    Notes
    -----
    With :math:`\\lambda = 0.5^{1/h}` (1 when ``halflife`` is None) and window :math:`L`,

    .. math:: S_t = \\sum_{k=0}^{L-1} \\lambda^k x_{t-k}
       = Y_t - \\lambda^L Y_{t-L}, \\quad Y_t = \\lambda Y_{t-1} + x_t

    computed with an IIR filter (:func:`scipy.signal.lfilter`) in one pass over all columns.
    """
    z = np.nan_to_num(np.asarray(x, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    if halflife is None:
        return rolling_sum(z, window=window)
    lam = 0.5 ** (1.0 / halflife)
    y = lfilter([1.0], [1.0, -lam], z, axis=0)
    out = y.copy()
    if window < len(z):
        out[window:] -= lam**window * y[:-window]
    return out


def rolling_sum(x: np.ndarray, *, window: int) -> np.ndarray:
    """Plain trailing-window sums along axis 0 (NaN counts as 0)."""
    z = np.nan_to_num(np.asarray(x, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
    c = np.cumsum(z, axis=0)
    out = c.copy()
    if window < len(z):
        out[window:] -= c[:-window]
    return out


def require_bars(store: Store, columns: Sequence[str]) -> None:
    """Raise :class:`DataUnavailableError` unless every column of ``daily_bars`` is available."""
    for c in columns:
        if not store.has("daily_bars", c):
            raise DataUnavailableError(
                f"store {store.name!r}: daily_bars.{c} is unavailable: "
                f"{store.unavailable().get(f'daily_bars.{c}', 'not in this store')}"
            )
