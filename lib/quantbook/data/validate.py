"""Validation of store tables on every write and import.

Two outcomes per rule:

- a *hard* error raises :class:`DataValidationError`, naming the table, column, rule and the
  first offending rows; the write or import stops and no store is changed;
- a *soft* finding (a known data-vendor defect that reports can live with) is returned as a
  :class:`Finding`, kept in the store's ``validation_report`` table and counted.

Schema rules (this module's first part) are always hard: required columns present, values
convertible to the column type, no nulls in non-nullable columns, no duplicated primary keys.
Domain rules (OHLC consistency, volumes, price limits, calendar gaps, spells) follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantbook.data.schema import TableSpec

#: How many offending rows an error message shows.
SHOW_ROWS = 5


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
        self, table: str, column: str | None, rule: str, message: str, rows: pd.DataFrame | None = None, count: int = 0
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
        return {"table": self.table, "rule": self.rule, "column": self.column, "count": self.count, "example": self.example}


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
            spec.name, missing[0], "required_column", f"missing required column(s) {missing}; have {list(df.columns)}"
        )
    extra = [c for c in df.columns if c not in spec.column_names]
    if extra:
        raise DataValidationError(spec.name, extra[0], "unknown_column", f"column(s) {extra} are not in the schema")
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
                    spec.name, col.name, "not_null", "null values in a non-nullable column", res[bad], int(bad.sum())
                )
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


def validate_table(spec: TableSpec, df: pd.DataFrame, *, context: dict[str, Any]) -> list[Finding]:
    """Run the domain rules of ``spec`` on an already coerced frame.

    Parameters
    ----------
    spec
        The table's spec.
    df
        Output of :func:`coerce`.
    context
        Optional cross-table information (e.g. ``{"instruments": frame}``) and rule switches.

    Returns
    -------
    list of Finding
        Soft findings; hard problems raise :class:`DataValidationError`.
    """
    rules = DOMAIN_RULES.get(spec.name, ())
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(rule(spec, df, context))
    return findings


#: Domain rules per table name; each takes (spec, frame, context) and returns findings or raises.
DOMAIN_RULES: dict[str, tuple[Any, ...]] = {}
