"""Validation of store tables on every write and import.

Two outcomes per rule:

- a *hard* error raises :class:`DataValidationError`, naming the table, column, rule and the
  first offending rows; the write or import stops and no store is changed;
- a *soft* finding (a known data-vendor defect that reports can live with) is returned as a
  :class:`Finding`, kept in the store's ``validation_report`` table and counted.
  ``context["strict"] = True`` turns every soft rule into a hard error (the synthetic market
  must be perfect).

Schema rules (:func:`coerce`) are always hard: required columns present, values convertible to
the column type, no nulls in non-nullable columns, no duplicated primary keys.

Domain rules (:data:`DOMAIN_RULES`, vectorized; a few seconds on ten million rows):

=====================  ====  ================================================================
rule                   kind  what
=====================  ====  ================================================================
trading_day            hard  panel dates are SSE trading days: exchange-calendars' XSHG
                             sessions inside its range; outside it, no weekend and no
                             fixed-date statutory holiday (:func:`~quantbook.data.calendar.
                             data_session_problems`)
positive_price         hard  prices finite and > 0 on rows not suspended
non_negative           hard  volume, amount, trade and share counts >= 0 and finite
units                  hard  median amount / volume / close within [0.5, 2] (lots, thousands),
                             over all rows and per code (mixed units in one source)
price_outlier          hard  open, high, low, close, prev_close within 1/20 .. 20 times the
                             median close of the code's 41 surrounding rows (typing, units)
price_outlier          soft  ... within 1/5 .. 5 times it
end_after_start        hard  spell end after start (st_status, industry, index_members)
spell_overlap          hard  no overlapping spells per code (per index and code)
st_value, sw_l1_code,  hard  values in their documented sets
board_value
ohlc_inconsistent      soft  low <= min(open, close) <= max(open, close) <= high
zero_volume            soft  zero volume on a row not flagged suspended
vwap_outside_range     soft  amount / volume within [low, high] (+- max(0.5 %, 0.01))
beyond_price_limit     soft  close within the board / ST limit around prev_close
calendar_gap           soft  no missing sessions between a code's first and last row
sessions_from_data     soft  dates before the exchange calendar's first or after its last
                             session: sessions taken from the data (counted, with the range)
=====================  ====  ================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quantbook.data.calendar import (
    TradingCalendar,
    data_session_problems,
    xshg_coverage,
)
from quantbook.data.market_rules import (
    BOARDS,
    board_index,
    boards_for,
    limit_fraction,
    limit_prices,
)
from quantbook.data.schema import MINUTES_PER_DAY, TableSpec
from quantbook.data.vocabulary import SW_L1

#: How many offending rows an error message shows.
SHOW_ROWS = 5
#: Columns of a validation report.
REPORT_COLUMNS = ("table", "rule", "column", "count", "example")


class DataValidationError(ValueError):
    """A table failed a hard validation rule.

    Attributes
    ----------
    table, column, rule
        Where and what.
    rows
        The first offending rows (at most :data:`SHOW_ROWS`).
    count
        How many rows offend.
    """

    def __init__(
        self,
        table: str,
        column: str | None,
        rule: str,
        message: str,
        rows: pd.DataFrame | None = None,
        count: int = 0,
    ) -> None:
        self.table, self.column, self.rule, self.rows, self.count = table, column, rule, rows, count
        where = f"table {table!r}" + (f", column {column!r}" if column else "")
        text = f"{where}: rule {rule!r} failed: {message}"
        if count:
            text += f" ({count} row{'s' if count != 1 else ''})"
        if rows is not None and len(rows):
            text += "\nfirst offending rows:\n" + rows.head(SHOW_ROWS).to_string()
        super().__init__(text)


@dataclass(frozen=True)
class Finding:
    """A soft validation finding: rows kept but flagged."""

    table: str
    rule: str
    column: str
    count: int
    example: str

    def as_row(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rule": self.rule,
            "column": self.column,
            "count": self.count,
            "example": self.example,
        }


def _example(rows: pd.DataFrame) -> str:
    return rows.head(3).to_csv(index=False).strip().replace("\n", " | ")


def coerce(spec: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the spec's columns, in order, with the spec's dtypes, sorted by key.

    Optional columns that are absent are added as nulls. Raises :class:`DataValidationError` for
    a missing required column, an unknown column, or values that cannot be converted.
    """
    missing = [c for c in spec.required_columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            spec.name,
            missing[0],
            "required_column",
            f"missing required column(s) {missing}; have {list(df.columns)}",
        )
    extra = [c for c in df.columns if c not in spec.column_names]
    if extra:
        raise DataValidationError(
            spec.name, extra[0], "unknown_column", f"column(s) {extra} are not in the schema"
        )
    out: dict[str, Any] = {}
    n = len(df)
    for col in spec.columns:
        if col.name not in df.columns:
            out[col.name] = _null_series(col.dtype, n)
            continue
        s = df[col.name].reset_index(drop=True)
        out[col.name] = _convert(spec.name, col.name, col.dtype, s)
    res = pd.DataFrame(out)
    for col in spec.columns:
        if not col.nullable and col.name in df.columns:
            bad = res[col.name].isna()
            if bad.any():
                raise DataValidationError(
                    spec.name,
                    col.name,
                    "not_null",
                    "null values in a non-nullable column",
                    res[bad],
                    int(bad.sum()),
                )
    if _strictly_sorted(res, list(spec.key)):
        return res
    dup = res.duplicated(list(spec.key), keep=False)
    if dup.any():
        raise DataValidationError(
            spec.name,
            ",".join(spec.key),
            "unique_key",
            f"duplicated primary key {spec.key}",
            res[dup].sort_values(list(spec.key)),
            int(dup.sum()),
        )
    return res.sort_values(list(spec.key), kind="mergesort").reset_index(drop=True)


def _strictly_sorted(df: pd.DataFrame, key: list[str]) -> bool:
    """Whether the rows are in strictly increasing key order (hence sorted and unique).

    A fast path for frames that arrive sorted: comparisons run in Arrow, without a sort.
    """
    n = len(df)
    if n < 2:
        return True
    greater = np.zeros(n - 1, dtype=bool)
    equal = np.ones(n - 1, dtype=bool)
    for k in key:
        arr = pa.array(df[k], from_pandas=True)
        nxt, prev = arr.slice(1), arr.slice(0, n - 1)
        gt = pc.greater(nxt, prev).to_numpy(zero_copy_only=False)
        eq = pc.equal(nxt, prev).to_numpy(zero_copy_only=False)
        lt = ~gt & ~eq
        if (equal & lt).any():
            return False
        greater |= equal & gt
        equal &= eq
    return bool(greater.all())


def _null_series(dtype: str, n: int) -> pd.Series:
    if dtype == "date":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    if dtype == "str":
        return pd.Series([None] * n, dtype="string[pyarrow]")
    if dtype == "bool":
        return pd.Series(False, index=range(n), dtype=bool)
    return pd.Series(np.nan, index=range(n), dtype="float64")


def _convert(table: str, column: str, dtype: str, s: pd.Series) -> pd.Series:
    try:
        if dtype == "date":
            if pd.api.types.is_datetime64_any_dtype(s):
                out = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
                return out.astype("datetime64[ns]")
            conv = pd.to_datetime(s, errors="coerce")
            bad = conv.isna() & s.notna()
            if bad.any():
                raise _TypeProblem(s[bad])
            return conv.astype("datetime64[ns]")
        if dtype == "str":
            return s.astype("string[pyarrow]")
        if dtype == "bool":
            if s.dtype == bool:
                return s
            if s.isna().any() or not s.isin([0, 1, True, False]).all():
                raise _TypeProblem(s[~s.isin([0, 1, True, False])])
            return s.astype(bool)
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            raise _TypeProblem(s[bad])
        if dtype == "int":
            if num.isna().any() or (num != np.round(num)).any():
                raise _TypeProblem(s[num.isna() | (num != np.round(num))])
            return num.astype(np.int64)
        return num.astype("float64")
    except _TypeProblem as e:
        rows = pd.DataFrame({column: e.values})
        raise DataValidationError(
            table, column, "type", f"values that are not {dtype}", rows, len(e.values)
        ) from None


class _TypeProblem(Exception):
    def __init__(self, values: pd.Series) -> None:
        self.values = values


# ---------------------------------------------------------------------------------------------
# Domain rules
# ---------------------------------------------------------------------------------------------

#: Trading days after listing during which no price limit applies (and the limit rule is skipped).
NEW_LISTING_DAYS = 5
#: Relative tolerance of the amount / volume rule, and its absolute floor (one 0.01 tick).
VWAP_REL_TOL = 0.005
VWAP_ABS_TOL = 0.01
#: Absolute tolerance of the price-limit validation rule, a close against the limit prices
#: recomputed from ``prev_close`` (float noise only; the at-limit test of a close against a
#: recorded limit price is :data:`quantbook.data.market_rules.LIMIT_TOL`).
RECORDED_LIMIT_TOL = 1e-6
#: Relative tolerance of the OHLC ordering rule (float noise from unit conversions).
OHLC_REL_TOL = 1e-9

#: Accepted range of the median of amount / (volume * close) (1 in shares and CNY).
UNITS_RANGE = (0.5, 2.0)
#: Traded rows a code needs before its own units are judged.
UNITS_MIN_ROWS = 5
#: Half-width (rows) of the centered window of a code's closes whose median is the reference of
#: the outlier rule: 41 rows, about two months of sessions.
OUTLIER_HALF_WINDOW = 20
#: A price this many times its reference (or below its reference over this) is a hard error; no
#: real move gets there and back within two months, a lost decimal point or a unit does.
OUTLIER_HARD = 20.0
#: A price this many times its reference (or below over this) is a soft finding.
OUTLIER_SOFT = 5.0

PRICE_COLUMNS = ("open", "high", "low", "close", "prev_close")
NONNEGATIVE_COLUMNS = ("volume", "amount", "num_trades", "float_shares", "total_shares")
ST_VALUES = ("ST", "*ST")


class RuleContext:
    """What a domain rule may use besides the frame: cross-table data, switches and caches.

    Parameters
    ----------
    options
        The ``context`` mapping given to :func:`validate_table`. Recognized keys:
        ``strict`` (bool: every soft rule raises), ``instruments`` (frame with ``code``, and
        optionally ``board`` and ``list_date``), ``st_status`` (the ST spell frame),
        ``data_sessions`` (the store's sessions outside the exchange calendar's range).
    df
        The table being validated; per-row helpers (code index, session positions) are
        computed once and shared by the rules.
    """

    def __init__(self, options: Mapping[str, Any], df: pd.DataFrame) -> None:
        self.options = options
        self.strict = bool(options.get("strict", False))
        self.df = df
        self._cache: dict[str, Any] = {}

    def get_frame(self, key: str) -> pd.DataFrame | None:
        """A frame passed in the context under ``key``, or None."""
        value = self.options.get(key)
        return value if isinstance(value, pd.DataFrame) else None

    def code_index(self) -> tuple[np.ndarray, pd.Index]:
        """``(row -> code number, distinct codes)`` for the frame's ``code`` column."""
        if "codes" not in self._cache:
            idx, uniques = pd.factorize(self.df["code"])
            self._cache["codes"] = (idx, pd.Index(uniques))
        out: tuple[np.ndarray, pd.Index] = self._cache["codes"]
        return out

    def calendar(self) -> TradingCalendar:
        """The SSE calendar plus the data sessions outside its range (context and frame)."""
        if "calendar" not in self._cache:
            extra = pd.DatetimeIndex(self.options.get("data_sessions", []), dtype="datetime64[ns]")
            if "date" in self.df.columns:
                extra = pd.DatetimeIndex(extra.append(pd.DatetimeIndex(self.df["date"].unique())))
            self._cache["calendar"] = TradingCalendar(extra=extra)
        out: TradingCalendar = self._cache["calendar"]
        return out

    def positions(self, column: str = "date") -> np.ndarray:
        """Index of each row's date in :meth:`calendar` (valid after the trading-day rule)."""
        key = f"pos:{column}"
        if key not in self._cache:
            sessions = self.calendar().all_sessions
            self._cache[key] = session_positions(self.df[column].to_numpy(), sessions=sessions)
        out: np.ndarray = self._cache[key]
        return out

    def reference_close(self) -> np.ndarray:
        """Per row: the median close of the code's rows within :data:`OUTLIER_HALF_WINDOW`.

        The window is centered and counted in rows of the code ordered by date; suspended
        rows and non-positive closes do not count. The median is taken of log prices, so that
        a window with an even count takes the geometric mean of its two middle closes (a level
        shift by a factor ``F`` then leaves its edge rows ``sqrt(F)`` from the reference). NaN
        where the window holds no traded close.
        """
        if "ref_close" not in self._cache:
            code_idx, _ = self.code_index()
            close = _float(self.df, "close")
            with np.errstate(invalid="ignore", divide="ignore"):
                log_close = np.where(self.suspended() | ~(close > 0), np.nan, np.log(close))
            self._cache["ref_close"] = np.exp(
                rolling_median_by_group(
                    log_close,
                    code_idx,
                    self.df["date"].to_numpy(),
                    half_window=OUTLIER_HALF_WINDOW,
                )
            )
        out: np.ndarray = self._cache["ref_close"]
        return out

    def suspended(self) -> np.ndarray:
        """Boolean suspended flag per row (all False when the table has no such column)."""
        if "is_suspended" in self.df.columns:
            return self.df["is_suspended"].to_numpy(dtype=bool)
        return np.zeros(len(self.df), dtype=bool)


Rule = Callable[[TableSpec, pd.DataFrame, RuleContext], list[Finding]]


def session_positions(dates: np.ndarray, *, sessions: pd.DatetimeIndex | None = None) -> np.ndarray:
    """Position of each date in the full SSE session list (the insertion point if not a session).

    Parameters
    ----------
    dates
        ``datetime64`` values.
    sessions
        The session list (default: :class:`~quantbook.data.calendar.TradingCalendar`
        ``().all_sessions``, the exchange calendar alone).

    Returns
    -------
    numpy.ndarray
        ``int64`` positions into ``sessions``.
    """
    s = TradingCalendar().all_sessions if sessions is None else sessions
    return np.searchsorted(s.to_numpy(), np.asarray(dates, dtype="datetime64[ns]")).astype(np.int64)


def rolling_median_by_group(
    values: np.ndarray, group: np.ndarray, order: np.ndarray, *, half_window: int
) -> np.ndarray:
    """Centered rolling median of ``values`` within each group, rows ranked by ``order``.

    Parameters
    ----------
    values
        One float per row (NaN values are skipped).
    group
        Group number per row (``0 .. k - 1``, e.g. from :func:`pandas.factorize`).
    order
        Sort key within a group (e.g. the date).
    half_window
        Rows on each side of a row; the window holds ``2 * half_window + 1`` rows of one group.

    Returns
    -------
    numpy.ndarray
        The median per row, in the input's row order; NaN where the window has no value.

    Notes
    -----
    One vectorized pass: rows are sorted by (group, order) and laid into one array with
    ``half_window`` NaN slots between consecutive groups, so that no window reaches into a
    neighbouring group; pandas' rolling median skips the NaN slots.

    Examples
    --------
    >>> rolling_median_by_group(
    ...     np.array([1.0, 9.0, 2.0, 5.0]), np.array([0, 0, 0, 1]), np.arange(4), half_window=1
    ... )
    array([5. , 2. , 5.5, 5. ])
    """
    n = len(values)
    if not n:
        return np.zeros(0, dtype=np.float64)
    grp = np.asarray(group, dtype=np.int64)
    rows = np.lexsort((np.asarray(order), grp))
    _, dense = np.unique(grp[rows], return_inverse=True)
    slot = np.arange(n, dtype=np.int64) + dense.astype(np.int64) * half_window
    laid = np.full(int(slot[-1]) + half_window + 1, np.nan)
    laid[slot] = np.asarray(values, dtype=np.float64)[rows]
    window = 2 * half_window + 1
    med = pd.Series(laid).rolling(window, center=True, min_periods=1).median().to_numpy()
    out = np.empty(n, dtype=np.float64)
    out[rows] = med[slot]
    return out


# -- reporting helpers ---------------------------------------------------------------------------
def _hard(
    spec: TableSpec, column: str | None, rule: str, message: str, df: pd.DataFrame, mask: np.ndarray
) -> None:
    """Raise :class:`DataValidationError` for the rows selected by ``mask`` (if any)."""
    count = int(np.count_nonzero(mask))
    if count:
        rows = df.loc[mask].head(SHOW_ROWS)
        raise DataValidationError(spec.name, column, rule, message, rows, count)


def _soft(
    spec: TableSpec,
    column: str,
    rule: str,
    message: str,
    df: pd.DataFrame,
    mask: np.ndarray,
    ctx: RuleContext,
    show: Sequence[str] = (),
) -> list[Finding]:
    """A :class:`Finding` for the rows selected by ``mask``; raises instead in strict mode."""
    count = int(np.count_nonzero(mask))
    if not count:
        return []
    cols = [c for c in (*spec.key, *show) if c in df.columns]
    cols = list(dict.fromkeys(cols))
    rows = df.loc[mask, cols].head(SHOW_ROWS)
    if ctx.strict:
        raise DataValidationError(spec.name, column, rule, f"{message} (strict mode)", rows, count)
    return [Finding(spec.name, rule, column, count, _example(rows))]


def _float(df: pd.DataFrame, column: str) -> np.ndarray:
    return df[column].to_numpy(dtype=np.float64, na_value=np.nan)


# -- panel rules -----------------------------------------------------------------------------------
def check_trading_days(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: every date of a panel table is an SSE trading day; SOFT: sessions from the data.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        ``sessions_from_data`` when dates lie outside the exchange calendar's range: its count
        is the number of such rows, its example the number of sessions and their range before
        and after the calendar.

    Notes
    -----
    Inside exchange-calendars' XSHG range (:func:`~quantbook.data.calendar.xshg_coverage`) a
    date must be an XSHG session. Outside it the data's own dates are the sessions, except a
    weekend or a fixed-date statutory holiday
    (:func:`~quantbook.data.calendar.data_session_problems`), which is a hard error.
    """
    column = spec.date_column or "date"
    if column not in df.columns or not len(df):
        return []
    dates = df[column]
    uniq = pd.DatetimeIndex(dates.unique())
    cov = xshg_coverage()
    outside = (uniq < cov.first) | (uniq > cov.last)
    bad = uniq[~outside & ~uniq.isin(TradingCalendar().all_sessions)]
    where = f"outside the range of {cov.describe()}"
    for dates_bad, message in (
        (bad, "dates that are not SSE trading days"),
        (data_session_problems(uniq[outside])["weekend"], f"dates {where} fall on a weekend"),
        (
            data_session_problems(uniq[outside])["holiday"],
            f"dates {where} fall on a statutory holiday (New Year's Day, Labour Day or "
            "National Day)",
        ),
    ):
        if len(dates_bad):
            shown = ", ".join(str(d.date()) for d in dates_bad.sort_values()[:5])
            mask = dates.isin(dates_bad).to_numpy()
            _hard(spec, column, "trading_day", f"{message} (e.g. {shown})", df, mask)
    if not outside.any():
        return []
    return [_data_sessions_finding(spec, column, dates, uniq[outside], ctx)]


def _data_sessions_finding(
    spec: TableSpec, column: str, dates: pd.Series, data: pd.DatetimeIndex, ctx: RuleContext
) -> Finding:
    """The ``sessions_from_data`` finding for the dates ``data`` outside the exchange calendar."""
    cov = xshg_coverage()
    data = data.sort_values()
    parts = []
    for side, part in (("before", data[data < cov.first]), ("after", data[data > cov.last])):
        if len(part):
            parts.append(f"{len(part)} session(s) {side} ({part[0].date()} .. {part[-1].date()})")
    message = f"{' and '.join(parts)} taken from the data, outside the range of {cov.describe()}"
    count = int(dates.isin(data).sum())
    if ctx.strict:
        raise DataValidationError(
            spec.name, column, "sessions_from_data", f"{message} (strict mode)", None, count
        )
    return Finding(spec.name, "sessions_from_data", column, count, message)


def check_prices(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: prices are finite and positive on rows that are not suspended.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard).
    """
    live = ~ctx.suspended()
    for column in PRICE_COLUMNS:
        if column not in df.columns:
            continue
        x = _float(df, column)
        with np.errstate(invalid="ignore"):
            bad = live & ~(np.isfinite(x) & (x > 0))
        if spec.column(column).nullable:
            bad &= ~np.isnan(x)
        _hard(
            spec, column, "positive_price", "prices that are negative, zero or not finite", df, bad
        )
    return []


def check_nonnegative(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: volume, amount, trade counts and share counts are finite and not negative.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard). Missing values of nullable columns are allowed.
    """
    for column in NONNEGATIVE_COLUMNS:
        if column not in df.columns:
            continue
        x = _float(df, column)
        with np.errstate(invalid="ignore"):
            bad = (x < 0) | np.isinf(x)
        _hard(spec, column, "non_negative", "negative or infinite values", df, bad)
    return []


def check_finite(column: str) -> Rule:
    """A HARD rule: ``column`` holds finite numbers.

    Parameters
    ----------
    column
        The column to check.

    Returns
    -------
    Rule
        The rule function.
    """

    def rule(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
        if column in df.columns:
            bad = ~np.isfinite(_float(df, column))
            _hard(spec, column, "finite", "values that are not finite", df, bad)
        return []

    rule.__name__ = f"check_finite_{column}"
    return rule


def check_minute_index(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: minute indices lie in ``0 .. MINUTES_PER_DAY - 1``.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard).
    """
    m = df["minute"].to_numpy()
    bad = (m < 0) | (m >= MINUTES_PER_DAY)
    _hard(spec, "minute", "minute_range", f"minute index outside 0..{MINUTES_PER_DAY - 1}", df, bad)
    return []


def check_units(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: amount / volume is of the order of the price, over all rows and for each code.

    The median of ``amount / volume / close`` over traded rows must lie in :data:`UNITS_RANGE`,
    over the whole table and over each code's rows (codes with at least
    :data:`UNITS_MIN_ROWS` traded rows): a vendor's volume in lots (100 shares) or amount in
    thousands of CNY moves it by 100 or 1000, and a source that mixes units (some stocks' files
    in shares, the others in lots) moves it for those codes only.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard).

    Notes
    -----
    Per code ``c``: :math:`m_c = \\operatorname{median}_t\\, A_{ct} / (V_{ct} P_{ct})`, which is
    1 within a few per cent when volume is in shares and amount in CNY. The message names the
    nearest power of ten of the offending medians and its likely cause.
    """
    vol, amt, close = _float(df, "volume"), _float(df, "amount"), _float(df, "close")
    with np.errstate(invalid="ignore", divide="ignore"):
        traded = (vol > 0) & (amt > 0) & (close > 0)
        ratio = amt[traded] / vol[traded] / close[traded]
    if len(ratio) < 10:
        return []
    lo, hi = UNITS_RANGE
    code_idx, uniques = ctx.code_index()
    per = pd.Series(ratio).groupby(code_idx[traded]).agg(["median", "size"])
    judged = per[per["size"] >= UNITS_MIN_ROWS]
    off = judged[~judged["median"].between(lo, hi)]
    med = float(np.median(ratio))
    if not len(off) and lo <= med <= hi:
        return []
    if not len(off):  # no code has enough rows alone: judge the table
        off = pd.DataFrame({"median": [med], "size": [len(ratio)]}, index=[-1])
    scale = float(np.median(off["median"]))
    codes = [str(uniques[i]) for i in off.index if i >= 0]
    shown = ", ".join(codes[:8]) + (", ..." if len(codes) > 8 else "")
    n_codes = len(uniques)
    where = (
        f"for {len(codes)} of {n_codes} codes ({shown}; mixed units in the source?)"
        if 0 < len(codes) < n_codes
        else f"for {'all ' if codes else ''}{n_codes} codes" + (f" ({shown})" if codes else "")
    )
    hint = (
        f"amount / volume is about {scale:.3g} x the close price {where}: {_unit_cause(scale)}; "
        "the store holds volume in shares and amount in CNY"
    )
    rows = pd.DataFrame(
        {
            "code": [str(uniques[i]) if i >= 0 else "(all)" for i in off.index],
            "median amount / (volume x close)": off["median"].to_numpy(),
            "traded rows": off["size"].to_numpy(),
        }
    )
    raise DataValidationError(
        spec.name, "volume,amount", "units", hint, rows, int(off["size"].sum())
    )


def _unit_cause(scale: float) -> str:
    """The likely cause of ``amount / (volume * close)`` being ``scale`` instead of 1."""
    power = round(float(np.log10(scale))) if scale > 0 else 0
    causes = {
        -2: "volume looks like shares, not lots (100 times too large once converted from lots)",
        2: "volume looks like lots, not shares (100 times too small)",
        3: "amount looks like CNY, not thousands of CNY (1000 times too large once converted)",
        -3: "amount looks like thousands of CNY, not CNY (1000 times too small)",
        4: "volume looks like 10,000 shares, not shares",
        -4: "volume looks like shares, not 10,000 shares",
    }
    return causes.get(power, f"volume or amount is off by a factor of about {10.0 ** abs(power):g}")


def check_price_outliers(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD / SOFT: prices lie near the code's median close of the surrounding two months.

    Each of ``open``, ``high``, ``low``, ``close`` and ``prev_close`` (those the table has) is
    compared with :meth:`RuleContext.reference_close`, the median close of the code's
    ``2 * OUTLIER_HALF_WINDOW + 1`` rows around it. A price :data:`OUTLIER_HARD` times its
    reference or more (or as far below) is a hard error (a lost decimal point, a unit, a typing
    error: it would also poison the adjustment factor derived from it); :data:`OUTLIER_SOFT`
    times or more is a soft finding. New listings get no exemption: an IPO day's move is
    large against its issue price, not against the closes of the weeks that follow; only the
    ``prev_close`` of a code's first row (the issue price on a listing day) is not checked.
    Suspended rows are skipped.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One soft finding per price column with moderate outliers.

    Notes
    -----
    Deviation of a price :math:`x` from its reference :math:`m`:
    :math:`d = \\max(x / m, m / x)`; hard when :math:`d \\ge 20`, soft when :math:`d \\ge 5`.
    A level shift (a split, a relisting) moves the median with it and is not flagged; a price
    that stays wrong for more than half the window becomes its own reference, which the
    price-limit rule then reports at its edges.
    """
    if not len(df):
        return []
    ref = ctx.reference_close()
    live = ~ctx.suspended()
    findings: list[Finding] = []
    for column in PRICE_COLUMNS:
        if column not in df.columns:
            continue
        x = _float(df, column)
        checked = live & ~_first_rows(ctx) if column == "prev_close" else live
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = np.fmax(x / ref, ref / x)
            hard = checked & (dev >= OUTLIER_HARD)
            soft = checked & (dev >= OUTLIER_SOFT) & ~hard
        if hard.any():
            _raise_outliers(spec, df, column, x, ref, dev, hard)
        findings += _soft(
            spec,
            column,
            "price_outlier",
            f"{column} {OUTLIER_SOFT:g} times (or 1/{OUTLIER_SOFT:g}) its median close over "
            f"{2 * OUTLIER_HALF_WINDOW + 1} rows of the code or more",
            df,
            soft,
            ctx,
            (column,),
        )
    return findings


def _first_rows(ctx: RuleContext) -> np.ndarray:
    """Whether each row is its code's first (by date)."""
    code_idx, uniques = ctx.code_index()
    day = ctx.df["date"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    first = np.full(len(uniques), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, code_idx, day)
    out: np.ndarray = day == first[code_idx]
    return out


def _raise_outliers(
    spec: TableSpec,
    df: pd.DataFrame,
    column: str,
    x: np.ndarray,
    ref: np.ndarray,
    dev: np.ndarray,
    mask: np.ndarray,
) -> None:
    """Raise the hard :func:`check_price_outliers` error for ``column``, worst rows first."""
    idx = np.flatnonzero(mask)
    idx = idx[np.argsort(-dev[idx], kind="stable")]
    rows = pd.DataFrame(
        {
            "date": df["date"].to_numpy()[idx],
            "code": df["code"].to_numpy()[idx],
            column: x[idx],
            "median close": ref[idx],
            "times": x[idx] / ref[idx],
        },
        index=df.index[idx],
    )
    worst = rows.iloc[0]
    n_codes = rows["code"].nunique()
    message = (
        f"{column} of {worst[column]:.6g} on {pd.Timestamp(worst['date']).date()} for "
        f"{worst['code']} is {worst['times']:.3g} times its median close ({worst['median close']:.4g}) "
        f"over the surrounding {2 * OUTLIER_HALF_WINDOW + 1} rows: a unit or typing error? "
        f"({n_codes} code{'s' if n_codes != 1 else ''} with {column} beyond {OUTLIER_HARD:g} times "
        "or 1/"
        f"{OUTLIER_HARD:g} of the median)"
    )
    raise DataValidationError(spec.name, column, "price_outlier", message, rows, len(idx))


def check_ohlc(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """SOFT: ``low <= min(open, close)``, ``max(open, close) <= high`` and ``low <= high``.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One finding counting the rows that break any of the three inequalities.
    """
    o, h, lo, c = (_float(df, k) for k in ("open", "high", "low", "close"))
    tol = OHLC_REL_TOL * np.abs(h)
    with np.errstate(invalid="ignore"):
        bad = (h + tol < np.fmax(o, c)) | (lo - tol > np.fmin(o, c)) | (lo - tol > h)
    bad &= ~ctx.suspended()
    return _soft(
        spec,
        "open,high,low,close",
        "ohlc_inconsistent",
        "high below open/close, low above open/close, or low above high",
        df,
        bad,
        ctx,
        ("open", "high", "low", "close"),
    )


def check_zero_volume(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """SOFT: a row that is not flagged suspended has a positive volume.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One finding counting zero-volume rows that are not flagged suspended.
    """
    bad = (_float(df, "volume") == 0) & ~ctx.suspended()
    return _soft(
        spec,
        "volume",
        "zero_volume",
        "zero volume on a row not flagged suspended",
        df,
        bad,
        ctx,
        ("close", "volume", "amount"),
    )


def check_vwap(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """SOFT: the average trade price ``amount / volume`` lies in ``[low, high]``.

    A tolerance of ``max(VWAP_REL_TOL * price, VWAP_ABS_TOL)`` (0.5 % or one 0.01 tick) is
    allowed on each side.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One finding counting traded rows whose average price is outside the day's range.
    """
    vol, amt = _float(df, "volume"), _float(df, "amount")
    lo, hi = _float(df, "low"), _float(df, "high")
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = amt / vol
        tol_lo = np.fmax(VWAP_REL_TOL * lo, VWAP_ABS_TOL)
        tol_hi = np.fmax(VWAP_REL_TOL * hi, VWAP_ABS_TOL)
        bad = (vol > 0) & ((vwap < lo - tol_lo) | (vwap > hi + tol_hi))
    return _soft(
        spec,
        "amount,volume",
        "vwap_outside_range",
        "amount / volume outside [low, high]",
        df,
        bad,
        ctx,
        ("low", "high", "volume", "amount"),
    )


def check_calendar_gaps(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """SOFT: every session between a code's first and last row has a row.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One finding whose count is the number of missing (code, session) rows; the example
        lists codes with gaps.
    """
    if not len(df):
        return []
    code_idx, uniques = ctx.code_index()
    pos = ctx.positions()
    g = pd.DataFrame({"c": code_idx, "p": pos}).groupby("c")["p"].agg(["min", "max", "size"])
    missing = (g["max"] - g["min"] + 1 - g["size"]).to_numpy()
    count = int(missing.sum())
    if not count:
        return []
    sessions = ctx.calendar().all_sessions
    gap = pd.DataFrame(
        {
            "code": uniques[g.index.to_numpy()],
            "first": sessions[g["min"].to_numpy()],
            "last": sessions[g["max"].to_numpy()],
            "missing_sessions": missing,
        }
    )
    gap = gap[gap["missing_sessions"] > 0]
    message = f"{count} session(s) missing between first and last rows of {len(gap)} code(s)"
    if ctx.strict:
        raise DataValidationError(
            spec.name, "date", "calendar_gap", message, gap.head(SHOW_ROWS), count
        )
    return [Finding(spec.name, "calendar_gap", "date", count, _example(gap))]


# -- price limits ----------------------------------------------------------------------------------
def in_spells(
    codes: pd.Series,
    dates: pd.Series,
    spells: pd.DataFrame | None,
    *,
    factorized: tuple[np.ndarray, pd.Index] | None = None,
) -> np.ndarray:
    """Whether each (code, date) row falls in one of the half-open spells ``[start, end)``.

    Parameters
    ----------
    codes, dates
        Per-row code and date.
    spells
        Frame with ``code``, ``start`` and ``end`` (NaT = open), non-overlapping per code.
    factorized
        ``pd.factorize(codes)`` if already computed (saves time on millions of rows).

    Returns
    -------
    numpy.ndarray
        Boolean per row.
    """
    n = len(codes)
    if spells is None or not len(spells) or not n:
        return np.zeros(n, dtype=bool)
    row_c, uniques = factorized if factorized is not None else pd.factorize(codes)
    sp_c = pd.Index(uniques).get_indexer(spells["code"])
    keep = sp_c >= 0
    if not keep.any():
        return np.zeros(n, dtype=bool)
    row_d = _days(dates.to_numpy())
    start = _days(spells["start"].to_numpy()[keep])
    end_raw = spells["end"].to_numpy()[keep].astype("datetime64[ns]")
    end = np.where(np.isnat(end_raw), np.iinfo(np.int64).max, _days(end_raw))
    sp_c = sp_c[keep]
    base = min(int(row_d.min()), int(start.min()))
    width = max(int(row_d.max()), int(start.max())) - base + 2
    row_key = row_c.astype(np.int64) * width + (row_d - base)
    sp_key = sp_c.astype(np.int64) * width + (start - base)
    order = np.argsort(sp_key, kind="stable")
    sp_key, sp_c, end = sp_key[order], sp_c[order], end[order]
    i = np.searchsorted(sp_key, row_key, side="right") - 1
    j = np.clip(i, 0, None)
    return (i >= 0) & (sp_c[j] == row_c) & (row_d < end[j])


def _days(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def check_price_limits(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """SOFT: the close lies within the board's daily price limits around ``prev_close``.

    The board comes from ``context["instruments"]`` where given, else from the code
    (:func:`quantbook.data.codes.board_of`); ST status from ``context["st_status"]`` where
    given. Suspended rows and a stock's first :data:`NEW_LISTING_DAYS` trading days after
    listing (``list_date`` from the instruments, else the stock's first row) are skipped.
    Both the rounded and the unrounded limit price are accepted.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One finding counting closes beyond the limit.
    """
    if not len(df):
        return []
    code_idx, uniques = ctx.code_index()
    board = board_index(boards_for(uniques, ctx.get_frame("instruments")))[code_idx]
    dates = df["date"]
    is_st = in_spells(df["code"], dates, ctx.get_frame("st_status"), factorized=(code_idx, uniques))
    frac = limit_fraction(board, dates.to_numpy(), is_st)
    pc, close = _float(df, "prev_close"), _float(df, "close")
    up, down = limit_prices(pc, frac)
    with np.errstate(invalid="ignore"):
        up = np.fmax(up, pc * (1 + frac))
        down = np.fmin(down, pc * (1 - frac))
        beyond = (close > up + RECORDED_LIMIT_TOL) | (close < down - RECORDED_LIMIT_TOL)
    new = ctx.positions() - _listing_positions(df, ctx)[code_idx] < NEW_LISTING_DAYS
    bad = beyond & ~new & ~ctx.suspended() & (pc > 0)
    return _soft(
        spec,
        "close",
        "beyond_price_limit",
        "close beyond the daily price limit (board, ST) around prev_close",
        df,
        bad,
        ctx,
        ("prev_close", "close"),
    )


def _listing_positions(df: pd.DataFrame, ctx: RuleContext) -> np.ndarray:
    """Session position of each distinct code's listing date (instruments, else first row)."""
    code_idx, uniques = ctx.code_index()
    pos = ctx.positions()
    first = np.full(len(uniques), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, code_idx, pos)
    instruments = ctx.get_frame("instruments")
    if instruments is None or "list_date" not in instruments.columns:
        return first
    listed = instruments.drop_duplicates("code").set_index("code")["list_date"].reindex(uniques)
    known = listed.notna().to_numpy()
    sessions = ctx.calendar().all_sessions
    lpos = session_positions(listed.to_numpy(), sessions=sessions)
    before_calendar = listed.to_numpy() < sessions[0].to_datetime64()
    lpos = np.where(before_calendar, -(10**6), lpos)
    return np.where(known, lpos, first)


# -- spell rules ------------------------------------------------------------------------------------
def _spell_groups(spec: TableSpec) -> list[str]:
    return [k for k in spec.key if k != "start"]


def check_spell_order(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: a spell's ``end`` (when set) is after its ``start``.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard).
    """
    bad = (df["end"].notna() & (df["end"] <= df["start"])).to_numpy()
    _hard(spec, "end", "end_after_start", "spells whose end is on or before their start", df, bad)
    return []


def check_spell_overlap(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: spells of one code (one index and code for memberships) do not overlap.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard).
    """
    if len(df) < 2:
        return []
    keys = _spell_groups(spec)
    group = df.groupby(keys, sort=False).ngroup().to_numpy()
    start = df["start"].to_numpy().astype("datetime64[ns]").astype(np.int64)
    end_raw = df["end"].to_numpy().astype("datetime64[ns]")
    end = np.where(np.isnat(end_raw), np.iinfo(np.int64).max, end_raw.astype(np.int64))
    order = np.lexsort((start, group))
    g, s, e = group[order], start[order], end[order]
    clash = (g[1:] == g[:-1]) & (s[1:] < e[:-1])
    if clash.any():
        mask = np.zeros(len(df), dtype=bool)
        mask[order[1:][clash]] = True
        mask[order[:-1][clash]] = True
        rows = df.loc[mask].sort_values([*keys, "start"])
        count = int(clash.sum())
        raise DataValidationError(
            spec.name,
            "start,end",
            "spell_overlap",
            f"overlapping spells per {tuple(keys)}",
            rows,
            count,
        )
    return []


def check_values(column: str, allowed: Sequence[str], rule: str) -> Rule:
    """A HARD rule: ``column`` takes only the ``allowed`` values.

    Parameters
    ----------
    column
        The column to check.
    allowed
        The permitted values.
    rule
        The rule's name in error messages.

    Returns
    -------
    Rule
        The rule function.
    """

    def check(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
        bad = (~df[column].isin(list(allowed))).to_numpy()
        shown = ", ".join(list(allowed)[:8]) + (" ..." if len(allowed) > 8 else "")
        _hard(spec, column, rule, f"values outside the allowed set ({shown})", df, bad)
        return []

    check.__name__ = f"check_{rule}"
    return check


def check_listing_order(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """HARD: an instrument's ``delist_date`` (when set) is after its ``list_date``.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        Always empty (the rule is hard).
    """
    bad = (df["delist_date"].notna() & (df["delist_date"] <= df["list_date"])).to_numpy()
    _hard(spec, "delist_date", "delist_after_list", "delist_date on or before list_date", df, bad)
    return []


def check_announcement_lag(spec: TableSpec, df: pd.DataFrame, ctx: RuleContext) -> list[Finding]:
    """SOFT: a statement is announced after the end of the period it covers.

    Parameters
    ----------
    spec, df, ctx
        The table spec, its coerced frame and the rule context.

    Returns
    -------
    list of Finding
        One finding counting statements announced on or before their period end.
    """
    bad = (df["ann_date"] <= df["report_period"]).to_numpy()
    return _soft(
        spec,
        "ann_date",
        "announced_before_period_end",
        "announcement on or before the report period end",
        df,
        bad,
        ctx,
        ("ann_date",),
    )


# -- driver ------------------------------------------------------------------------------------------
def validate_table(
    spec: TableSpec, df: pd.DataFrame, *, context: Mapping[str, Any]
) -> list[Finding]:
    """Run the domain rules of ``spec`` on an already coerced frame.

    Parameters
    ----------
    spec
        The table's spec.
    df
        Output of :func:`coerce`.
    context
        Optional cross-table information and switches: ``instruments`` and ``st_status``
        frames (boards, listing dates and ST spells for the price-limit rule) and ``strict``
        (``True`` turns every soft rule into a hard error).

    Returns
    -------
    list of Finding
        Soft findings; hard problems raise :class:`DataValidationError`.
    """
    ctx = RuleContext(context, df)
    findings: list[Finding] = []
    for rule in DOMAIN_RULES.get(spec.name, ()):
        findings.extend(rule(spec, df, ctx))
    return findings


def findings_frame(findings: Sequence[Finding]) -> pd.DataFrame:
    """Findings as a frame with columns ``table, rule, column, count, example``.

    Parameters
    ----------
    findings
        Findings from :func:`validate_table` or an import.

    Returns
    -------
    pandas.DataFrame
        One row per finding (``count`` is ``int64``).
    """
    out = pd.DataFrame([f.as_row() for f in findings], columns=list(REPORT_COLUMNS))
    out["count"] = out["count"].astype(np.int64)
    return out


_BAR_RULES: tuple[Rule, ...] = (check_trading_days, check_prices, check_nonnegative)

#: Domain rules per table name; each takes (spec, frame, context) and returns findings or raises.
#: Hard rules come first so that soft rules may rely on them (e.g. dates are sessions).
DOMAIN_RULES: dict[str, tuple[Rule, ...]] = {
    "instruments": (check_values("board", BOARDS, "board_value"), check_listing_order),
    "st_status": (
        check_spell_order,
        check_spell_overlap,
        check_values("value", ST_VALUES, "st_value"),
    ),
    "industry": (
        check_spell_order,
        check_spell_overlap,
        check_values("value", tuple(SW_L1), "sw_l1_code"),
    ),
    "index_members": (check_spell_order, check_spell_overlap),
    "daily_bars": (
        *_BAR_RULES,
        check_units,
        check_price_outliers,
        check_ohlc,
        check_zero_volume,
        check_vwap,
        check_price_limits,
        check_calendar_gaps,
    ),
    "minute_bars": (*_BAR_RULES, check_minute_index, check_ohlc, check_vwap),
    "index_bars": (*_BAR_RULES, check_price_outliers, check_ohlc, check_calendar_gaps),
    "etf_bars": (
        *_BAR_RULES,
        check_units,
        check_price_outliers,
        check_ohlc,
        check_zero_volume,
        check_vwap,
        check_calendar_gaps,
    ),
    "bond_yields": (check_trading_days, check_finite("yield")),
    "bond_index_bars": (check_trading_days, check_prices),
    "fundamentals": (check_announcement_lag,),
}
