"""The canonical store schema: every table, its columns, types and primary key.

Every source (synthetic, files, akshare) writes exactly these tables; every reader relies on
them. Column documentation here is the single source for ``data/README.md``.

Conventions
-----------
- Codes are exchange-suffixed strings: ``600000.SH``, ``000001.SZ``, ``430047.BJ``; index and
  ETF codes use the same form (``000300.SH``, ``510300.SH``).
- Dates are ``datetime64[ns]`` midnight timestamps (no time zone), trading days of the SSE
  calendar for panel tables.
- Prices are raw (unadjusted) CNY; ``adj_factor`` turns them into back-adjusted prices
  (``close * adj_factor``). ``volume`` is in shares, ``amount`` in CNY.
- Spell tables (``st_status``, ``industry``, ``index_members``) hold half-open validity
  intervals ``[start, end)``; ``end`` is NaT while the spell is still in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DType = Literal["date", "str", "float", "int", "bool"]
Kind = Literal["static", "panel", "spells", "events"]


@dataclass(frozen=True)
class Column:
    """One column of a store table."""

    name: str
    dtype: DType
    doc: str
    required: bool = True
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A store table: columns, primary key and the column that dates each row."""

    name: str
    kind: Kind
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    date_column: str | None = None
    required: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


def _spells(name: str, doc: str, value_doc: str) -> TableSpec:
    return TableSpec(
        name=name,
        kind="spells",
        doc=doc,
        columns=(
            Column("code", "str", "instrument code"),
            Column("start", "date", "first day the value holds (inclusive)"),
            Column(
                "end",
                "date",
                "first day it no longer holds (exclusive); NaT = still in force",
                nullable=True,
            ),
            Column("value", "str", value_doc),
        ),
        key=("code", "start"),
        date_column="start",
    )


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            name="instruments",
            kind="static",
            doc="Every stock that was listed at any time in the store's span (survivorship-free).",
            columns=(
                Column("code", "str", "stock code, e.g. 600000.SH"),
                Column("name", "str", "short name"),
                Column("board", "str", "main | chinext | star | bse"),
                Column("list_date", "date", "first trading day"),
                Column(
                    "delist_date",
                    "date",
                    "first day no longer listed; NaT while listed",
                    nullable=True,
                ),
            ),
            key=("code",),
        ),
        _spells("st_status", "Special-treatment spells.", "ST or *ST"),
        _spells(
            "industry",
            "Shenwan 2021 level-1 industry spells.",
            "2-digit SW2021 level-1 code, see SW_L1",
        ),
        TableSpec(
            name="daily_bars",
            kind="panel",
            doc="Daily stock bars, one row per listed stock and trading day (suspended days included, flagged).",
            columns=(
                Column("date", "date", "trading day"),
                Column("code", "str", "stock code"),
                Column("open", "float", "open price, CNY (suspended: previous close)"),
                Column("high", "float", "high price, CNY"),
                Column("low", "float", "low price, CNY"),
                Column("close", "float", "close price, CNY"),
                Column(
                    "prev_close",
                    "float",
                    "exchange reference previous close (ex-rights adjusted), CNY",
                ),
                Column("volume", "float", "shares traded"),
                Column("amount", "float", "value traded, CNY"),
                Column("num_trades", "float", "number of trades", required=False, nullable=True),
                Column(
                    "price_1130",
                    "float",
                    "last price of the morning session (11:30)",
                    required=False,
                    nullable=True,
                ),
                Column("float_shares", "float", "free-float shares", required=False, nullable=True),
                Column("total_shares", "float", "total shares", required=False, nullable=True),
                Column(
                    "adj_factor",
                    "float",
                    "cumulative back-adjustment factor (close * adj_factor is the adjusted close)",
                ),
                Column("is_suspended", "bool", "no trading on this day"),
                Column(
                    "limit_up",
                    "float",
                    "upper price limit; NaN when no limit applies",
                    nullable=True,
                ),
                Column(
                    "limit_down",
                    "float",
                    "lower price limit; NaN when no limit applies",
                    nullable=True,
                ),
            ),
            key=("date", "code"),
            date_column="date",
        ),
        TableSpec(
            name="minute_bars",
            kind="panel",
            doc=(
                "One-minute stock bars: 240 per day, minute 0-119 = 09:31-11:30, 120-239 = 13:01-15:00 "
                "(bar end times). May be generated on demand by the source instead of stored."
            ),
            columns=(
                Column("date", "date", "trading day"),
                Column("code", "str", "stock code"),
                Column("minute", "int", "minute index 0..239"),
                Column("open", "float", "open price"),
                Column("high", "float", "high price"),
                Column("low", "float", "low price"),
                Column("close", "float", "close price"),
                Column("volume", "float", "shares"),
                Column("amount", "float", "CNY"),
            ),
            key=("date", "code", "minute"),
            date_column="date",
            required=False,
        ),
        TableSpec(
            name="fundamentals",
            kind="events",
            doc=(
                "Quarterly statements, point in time: a row is usable from ann_date on, never from its "
                "report_period. Flow items are single-quarter values; balance items are period-end."
            ),
            columns=(
                Column("code", "str", "stock code"),
                Column("report_period", "date", "quarter end the statement covers"),
                Column("ann_date", "date", "announcement date (first day the numbers are known)"),
                Column("revenue", "float", "single-quarter operating revenue, CNY"),
                Column("gross_profit", "float", "single-quarter gross profit, CNY"),
                Column(
                    "net_profit", "float", "single-quarter net profit attributable to parent, CNY"
                ),
                Column("operating_cash_flow", "float", "single-quarter operating cash flow, CNY"),
                Column("dividends", "float", "cash dividends declared in the quarter, CNY"),
                Column("total_assets", "float", "period-end total assets, CNY"),
                Column("total_liabilities", "float", "period-end total liabilities, CNY"),
                Column("long_term_debt", "float", "period-end long-term debt, CNY"),
                Column("book_equity", "float", "period-end equity attributable to parent, CNY"),
                Column("shares", "float", "period-end total shares"),
            ),
            key=("code", "report_period"),
            date_column="ann_date",
            required=False,
        ),
        TableSpec(
            name="index_info",
            kind="static",
            doc="Indices: broad pools, SW industry indices, size and style indices, bond indices.",
            columns=(
                Column("code", "str", "index code, e.g. 000300.SH"),
                Column("name", "str", "index name"),
                Column("category", "str", "broad | size | industry | style | bond"),
                Column(
                    "pool",
                    "str",
                    "pool id used by index_members (e.g. csi300), empty if none",
                    nullable=True,
                ),
            ),
            key=("code",),
            required=False,
        ),
        TableSpec(
            name="index_bars",
            kind="panel",
            doc="Daily index levels.",
            columns=(
                Column("date", "date", "trading day"),
                Column("code", "str", "index code"),
                Column("open", "float", "open level"),
                Column("high", "float", "high level"),
                Column("low", "float", "low level"),
                Column("close", "float", "close level"),
                Column(
                    "volume",
                    "float",
                    "shares traded by constituents",
                    required=False,
                    nullable=True,
                ),
                Column(
                    "amount",
                    "float",
                    "value traded by constituents, CNY",
                    required=False,
                    nullable=True,
                ),
            ),
            key=("date", "code"),
            date_column="date",
            required=False,
        ),
        TableSpec(
            name="index_members",
            kind="spells",
            doc="Index pool membership spells (point in time).",
            columns=(
                Column("index_code", "str", "index code"),
                Column("code", "str", "member stock code"),
                Column("start", "date", "first day of membership"),
                Column(
                    "end",
                    "date",
                    "first day no longer a member; NaT = still a member",
                    nullable=True,
                ),
            ),
            key=("index_code", "code", "start"),
            date_column="start",
            required=False,
        ),
        TableSpec(
            name="etf_info",
            kind="static",
            doc="Exchange-traded funds.",
            columns=(
                Column("code", "str", "ETF code, e.g. 510300.SH"),
                Column("name", "str", "ETF name"),
                Column("tracked_index", "str", "code of the tracked index", nullable=True),
                Column("category", "str", "broad | size | industry | theme | style | bond | money"),
                Column("fee", "float", "annual management + custody fee, fraction", nullable=True),
                Column("list_date", "date", "first trading day"),
            ),
            key=("code",),
            required=False,
        ),
        TableSpec(
            name="etf_bars",
            kind="panel",
            doc="Daily ETF bars (raw prices).",
            columns=(
                Column("date", "date", "trading day"),
                Column("code", "str", "ETF code"),
                Column("open", "float", "open price"),
                Column("high", "float", "high price"),
                Column("low", "float", "low price"),
                Column("close", "float", "close price"),
                Column("volume", "float", "shares traded"),
                Column("amount", "float", "value traded, CNY"),
                Column("nav", "float", "net asset value per share", required=False, nullable=True),
                Column("is_suspended", "bool", "no trading on this day"),
            ),
            key=("date", "code"),
            date_column="date",
            required=False,
        ),
        TableSpec(
            name="bond_yields",
            kind="panel",
            doc="Government bond yield curve.",
            columns=(
                Column("date", "date", "trading day"),
                Column("tenor", "float", "maturity in years"),
                Column("yield", "float", "yield to maturity, decimal (0.025 = 2.5 %)"),
            ),
            key=("date", "tenor"),
            date_column="date",
            required=False,
        ),
        TableSpec(
            name="bond_index_bars",
            kind="panel",
            doc="Bond index levels (total return).",
            columns=(
                Column("date", "date", "trading day"),
                Column("code", "str", "bond index code"),
                Column("close", "float", "index level"),
            ),
            key=("date", "code"),
            date_column="date",
            required=False,
        ),
    )
}


#: Boards and their daily price-limit fraction (SPEC §0). ChiNext was +-10 % before 2020-08-24.
BOARD_LIMITS: dict[str, float] = {"main": 0.10, "chinext": 0.20, "star": 0.20, "bse": 0.30}
ST_LIMIT = 0.05
CHINEXT_REFORM_DATE = "2020-08-24"

#: Minutes per trading day and the index of the 11:30 bar.
MINUTES_PER_DAY = 240
MINUTE_1130 = 119


def minute_times() -> list[str]:
    """Bar-end clock times of the 240 one-minute bars (09:31 .. 11:30, 13:01 .. 15:00)."""
    out = []
    for start_h, start_m in ((9, 30), (13, 0)):
        for k in range(1, 121):
            t = start_h * 60 + start_m + k
            out.append(f"{t // 60:02d}:{t % 60:02d}")
    return out


def table_spec(name: str) -> TableSpec:
    """Return the spec of table ``name``; raises a KeyError naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None


def schema_markdown() -> str:
    """The schema as markdown tables (the generated part of ``data/README.md``)."""
    out = []
    for t in TABLES.values():
        key = ", ".join(t.key)
        out.append(f"### `{t.name}`\n\n{t.doc} Key: ({key}).{'' if t.required else ' Optional.'}\n")
        out.append("| column | type | required | nullable | meaning |\n|---|---|---|---|---|")
        for c in t.columns:
            out.append(
                f"| `{c.name}` | {c.dtype} | {'yes' if c.required else 'no'} | {'yes' if c.nullable else 'no'} | {c.doc} |"
            )
        out.append("")
    return "\n".join(out)


if (
    __name__ == "__main__"
):  # python -m quantbook.data.schema  -> the schema section of data/README.md
    print(schema_markdown())
