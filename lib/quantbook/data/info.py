"""A readable summary of a store: source, span, tables, unavailable items, validation.

Examples
--------
>>> print(describe(open_store("smoke")))                          # doctest: +SKIP
store 'smoke' (source: synthetic) at data/smoke
...
"""

from __future__ import annotations

import pandas as pd

from quantbook.data.calendar import xshg_coverage
from quantbook.data.schema import table_spec
from quantbook.data.store import Store, read_parquet


def table_summary(store: Store) -> pd.DataFrame:
    """Rows, distinct codes and date range of every table of a store.

    Only the ``code`` and date columns are read, so this is cheap on large tables; a damaged
    table file raises :class:`~quantbook.data.store.StoreDamagedError` naming it.

    Parameters
    ----------
    store
        An open store.

    Returns
    -------
    pandas.DataFrame
        One row per table: ``table, rows, codes, start, end`` (``codes`` is missing for tables
        without a code column, ``start``/``end`` for tables without dates).
    """
    rows = []
    for name in store.tables():
        spec = table_spec(name)
        path = store.path / f"{name}.parquet"
        cols = [c for c in ("code", spec.date_column) if c is not None and c in spec.column_names]
        df = read_parquet(path, store=store.name, columns=cols or None)
        dates = (
            df[spec.date_column]
            if spec.date_column in df.columns
            else pd.Series(dtype="datetime64[ns]")
        )
        rows.append(
            {
                "table": name,
                "rows": len(df),
                "codes": df["code"].nunique() if "code" in df.columns else None,
                "start": _day(dates.min()),
                "end": _day(dates.max()),
            }
        )
    return pd.DataFrame(rows, columns=["table", "rows", "codes", "start", "end"])


def validation_summary(store: Store) -> pd.DataFrame:
    """Counts per table and rule from the store's validation report.

    Parameters
    ----------
    store
        An open store.

    Returns
    -------
    pandas.DataFrame
        ``table, rule, column, count``, largest counts first within each table.
    """
    report = store.validation_report()
    if not len(report):
        return pd.DataFrame(columns=["table", "rule", "column", "count"])
    out: pd.DataFrame = report.groupby(["table", "rule", "column"], as_index=False, sort=False)[
        ["count"]
    ].sum()
    return out.sort_values(["table", "count"], ascending=[True, False]).reset_index(drop=True)


def calendar_lines(store: Store) -> list[str]:
    """Where the exchange calendar reaches and how many of the store's sessions are the data's.

    Parameters
    ----------
    store
        An open store.

    Returns
    -------
    list of str
        ``calendar: exchange-calendars XSHG <version>: <first> .. <last>`` (the installed
        release), then the store's sessions from the data before and after that range (with
        their ranges), and the release the store was written with when it differs.
    """
    cov = xshg_coverage()
    data = store.data_sessions()
    before, after = data[data < cov.first], data[data > cov.last]
    parts = [
        f"{len(part)} {side}" + (f" ({part[0].date()} .. {part[-1].date()})" if len(part) else "")
        for side, part in (("before", before), ("after", after))
    ]
    lines = [
        f"calendar: {cov.describe()}",
        "  sessions from the data: " + ", ".join(parts),
    ]
    recorded = store.meta.get("calendar") or {}
    if recorded and recorded.get("version") != cov.version:
        lines.append(
            f"  store written with exchange-calendars {recorded.get('version')} "
            f"({recorded.get('first')} .. {recorded.get('last')})"
        )
    return lines


def describe(store: Store) -> str:
    """A text description of a store, for ``quantbook data info``.

    Parameters
    ----------
    store
        An open store.

    Returns
    -------
    str
        Source and parameters, span, fingerprint, the calendar's coverage and the sessions
        taken from the data (:func:`calendar_lines`), a table of tables (rows, codes, date
        range), unavailable items with reasons and the validation summary.
    """
    meta = store.meta
    span = meta.get("span", {})
    lines = [
        f"store {store.name!r} (source: {store.source}) at {store.path}",
        f"span: {span.get('start', '?')} .. {span.get('end', '?')}",
        f"fingerprint: {store.fingerprint()}",
        *calendar_lines(store),
    ]
    params = meta.get("params") or {}
    if params:
        shown = {k: v for k, v in params.items() if k != "ignored"}
        lines.append("parameters: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        for path, reason in (params.get("ignored") or {}).items():
            lines.append(f"  ignored file {path}: {reason}")
    if store.is_synthetic:
        lines.append("NOTE: synthetic data (a simulated market), not real prices")
    tables = table_summary(store).astype(object).fillna("-")
    lines += ["", "tables:", _indent(tables.to_string(index=False))]
    unavailable = store.unavailable()
    lines += ["", f"unavailable ({len(unavailable)}):"]
    lines += [f"  {item}: {reason}" for item, reason in unavailable.items()] or ["  nothing"]
    summary = validation_summary(store)
    total = int(summary["count"].sum()) if len(summary) else 0
    lines += ["", f"validation: {len(summary)} soft finding(s), {total} flagged row(s)"]
    if len(summary):
        lines.append(_indent(summary.to_string(index=False)))
    return "\n".join(lines)


def _day(value: pd.Timestamp | None) -> str | None:
    if value is None or value is pd.NaT or pd.isna(value):
        return None
    return str(value.date())


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
