"""Shared table styling: frames shown with fixed decimals, the same in HTML and in plain text.

Reports return plain frames; :func:`table` wraps one for display. The wrapper formats every
number with a fixed format (so an executed notebook's outputs are byte-stable and nbval can
compare them) and renders the same strings as HTML (the site) and as text (terminals, nbval).

Examples
--------
>>> import pandas as pd
>>> t = table(pd.DataFrame({"ret": [0.01234, -0.5]}, index=["a", "b"]), formats={"ret": ".2%"})
>>> print(t)
       ret
a    1.23%
b  -50.00%
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantbook.evaluation.vocabulary import statistic_formats, statistic_labels

__all__ = [
    "NA",
    "Headline",
    "Table",
    "Text",
    "blank_footnote",
    "cell_class",
    "format_frame",
    "format_value",
    "show_headline",
    "statistics_table",
    "table",
    "unavailable_box",
]

#: How missing values are shown.
NA = "–"

#: Table CSS, embedded with every HTML table (notebook outputs carry no stylesheet of their own;
#: the site's ``book/_static/quantbook.css`` only sizes the page). A table scrolls inside its own
#: box (``qb-table-scroll``) when wider than the page, its first column (the row labels) fixed;
#: numbers are right-aligned and never wrap, text cells wrap.
CSS = (
    "<style>"
    ".qb-table{max-width:100%;margin:0.4em 0}"
    ".qb-table-scroll{max-width:100%;overflow-x:auto}"
    "table.quantbook-table{font-size:0.85em;border-collapse:separate;border-spacing:0;margin:0}"
    "table.quantbook-table th,table.quantbook-table td{padding:0.15em 0.6em}"
    "table.quantbook-table th{white-space:nowrap;text-align:left}"
    "table.quantbook-table thead th{text-align:right}"
    "table.quantbook-table tr>th:first-child{position:sticky;left:0;z-index:1;"
    "background:var(--pst-color-background,#fff)}"
    "table.quantbook-table td.qb-num{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}"
    "table.quantbook-table td.qb-text{text-align:left;white-space:normal;min-width:8em;"
    "max-width:36em;overflow-wrap:anywhere}"
    "</style>"
)

#: A formatted cell that reads as a number (or a date, or missing): right-aligned.
_NUMERIC = re.compile(
    r"^(?:[+\-\u2212]?[\d,]*\.?\d+(?:e[+\-]?\d+)?(?:%|bp|x|×)?|\d{4}-\d{2}-\d{2}|"
    + re.escape(NA)
    + r"|yes|no)$"
)
_TD = re.compile(r"<td>(.*?)</td>", re.DOTALL)


def cell_class(text: str) -> str:
    """The class of a formatted table cell: ``qb-num`` (right-aligned) or ``qb-text`` (wraps).

    Examples
    --------
    >>> [cell_class(t) for t in ("-1.23%", "1,235", "2024-03-29", "–", "needs 12 months of ICs")]
    ['qb-num', 'qb-num', 'qb-num', 'qb-num', 'qb-text']
    """
    return "qb-num" if _NUMERIC.match(html.unescape(text).strip()) else "qb-text"


def _classed_cells(body: str) -> str:
    """``body`` (``DataFrame.to_html``) with each ``<td>`` classed by :func:`cell_class`."""
    return _TD.sub(lambda m: f'<td class="{cell_class(m.group(1))}">{m.group(1)}</td>', body)


#: Default formats by dtype kind.
DEFAULT_FLOAT = ".4f"
DEFAULT_INT = ",d"


def format_value(value: object, spec: str) -> str:
    """One value as shown in tables, headlines and the site's archive pages.

    Notes
    -----
    Missing values (None, NaT, NaN, inf) print as :data:`NA`; dates as ``YYYY-MM-DD``; bools
    as ``yes`` / ``no``; numbers with the format ``spec`` (an integer spec such as ``",d"``
    rounds first); anything else as ``str``.

    Examples
    --------
    >>> format_value(0.01234, ".2%"), format_value(1234.6, ",d"), format_value(None, ".2f")
    ('1.23%', '1,235', '–')
    """
    if value is None or value is pd.NaT:
        return NA
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return NA
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        if spec.endswith("d"):
            return format(round(float(value)), spec)
        return format(float(value), spec)
    return str(value)


def format_frame(
    frame: pd.DataFrame, formats: Mapping[str, str] | None = None, *, default: str = DEFAULT_FLOAT
) -> pd.DataFrame:
    """A frame of strings: each column formatted with ``formats[column]`` (a format spec).

    Integer columns default to ``",d"``, other numeric columns to ``default``; dates print as
    ``YYYY-MM-DD``; missing values as :data:`NA`.
    """
    formats = dict(formats or {})
    out = {}
    for col in frame.columns:
        s = frame[col]
        if col in formats:
            spec = formats[str(col)]
        elif pd.api.types.is_integer_dtype(s):
            spec = DEFAULT_INT
        else:
            spec = default
        out[col] = [format_value(v, spec) for v in s.tolist()]
    res = pd.DataFrame(out, index=frame.index, columns=frame.columns)
    if isinstance(res.index, pd.DatetimeIndex):
        res.index = res.index.strftime("%Y-%m-%d")
    return res


@dataclass(frozen=True)
class Text:
    """A paragraph of Markdown for a notebook output (plain text in terminals and nbval)."""

    markdown: str

    def __repr__(self) -> str:
        return self.markdown

    def _repr_markdown_(self) -> str:
        return self.markdown


def unavailable_box(store_name: str, missing: Mapping[str, str], *, left_out: str) -> Text | None:
    """One box naming each input a store cannot feed, with its reason (None when none).

    Parameters
    ----------
    store_name
        The store's name.
    missing
        ``{label: reason}``.
    left_out
        What the page leaves out for them (a sentence).
    """
    if not missing:
        return None
    items = "; ".join(f"{label} ({why})" for label, why in missing.items())
    return Text(f"**Not in this store (`{store_name}`):** {items}. {left_out}")


def blank_footnote(reasons: Mapping[str, str]) -> str:
    """The footnote of a table's blank cells: ``{cells: reason}`` as one "– ..." line ("" if none)."""
    parts = [f"{cells}: {why}" for cells, why in reasons.items()]
    return f"– {'; '.join(parts)}." if parts else ""


@dataclass(frozen=True)
class Headline:
    """How one headline metric is shown: its label and its format spec.

    A report declares ``{metric key: Headline}`` in its spec
    (:class:`quantbook.reports.contract.ReportSpec`); the run's metrics file carries the
    declaration, and the site charts those metrics across dates on the report's archive page.
    """

    label: str
    fmt: str = ",.4f"


@dataclass
class Table:
    """A frame with its display formats, title and note (sample period, counts).

    ``repr`` gives fixed-width text; ``_repr_html_`` an HTML table of the same strings.
    """

    frame: pd.DataFrame
    title: str = ""
    formats: dict[str, str] = field(default_factory=dict)
    default: str = DEFAULT_FLOAT
    note: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    transpose: bool = False

    def formatted(self) -> pd.DataFrame:
        """The frame as formatted strings, columns renamed by ``labels`` (then transposed)."""
        out = format_frame(self.frame, self.formats, default=self.default)
        out = out.rename(columns=self.labels) if self.labels else out
        return out.T if self.transpose else out

    def __repr__(self) -> str:
        body = self.formatted().to_string() if len(self.frame.columns) else "(empty)"
        head = f"{self.title}\n" if self.title else ""
        tail = f"\n{self.note}" if self.note else ""
        return f"{head}{body}{tail}"

    def _repr_html_(self) -> str:
        f = self.formatted()
        body = f.to_html(classes="quantbook-table", border=0, escape=True, na_rep=NA)
        cap = f"<p><strong>{html.escape(self.title)}</strong></p>\n" if self.title else ""
        note = (
            f'\n<p class="quantbook-table-note"><em>{html.escape(self.note)}</em></p>'
            if self.note
            else ""
        )
        body = _classed_cells(body)
        return (
            f'<div class="qb-table quantbook-table-wrap">\n{CSS}\n{cap}'
            f'<div class="qb-table-scroll">\n{body}\n</div>{note}\n</div>'
        )


def table(
    frame: pd.DataFrame,
    *,
    title: str = "",
    formats: Mapping[str, str] | None = None,
    default: str = DEFAULT_FLOAT,
    note: str = "",
    labels: Mapping[str, str] | None = None,
    transpose: bool = False,
) -> Table:
    """Wrap ``frame`` for display with fixed number formats (see :class:`Table`).

    Parameters
    ----------
    frame
        The numbers.
    title
        Shown above the table.
    formats
        ``{column: format spec}``, e.g. ``{"ret_month": ".2%", "close": ",.2f"}``.
    default
        Format of float columns not in ``formats``.
    note
        Shown below the table (sample period, number of stocks...).
    labels
        Display names of columns (``{"ret_month": "Month"}``); formats use the original names.
    transpose
        Show columns as rows (after formatting: a one-row summary reads better upright).
    """
    return Table(
        frame=frame,
        title=title,
        formats=dict(formats or {}),
        default=default,
        note=note,
        labels=dict(labels or {}),
        transpose=transpose,
    )


def statistics_table(
    frame: pd.DataFrame, *, title: str = "", note: str = "", transpose: bool = False
) -> Table:
    """:func:`table` of a frame whose columns are statistics-vocabulary keys, labelled and
    formatted by the vocabulary (:data:`quantbook.evaluation.vocabulary.STATISTICS`).

    Raises
    ------
    UnknownStatisticError
        A column is not a key of the vocabulary.
    """
    keys = [str(c) for c in frame.columns]
    return table(
        frame,
        title=title,
        formats=statistic_formats(keys),
        labels=statistic_labels(keys),
        note=note,
        transpose=transpose,
    )


def show_headline(values: Mapping[str, object], headline: Mapping[str, Headline]) -> Table:
    """The recorded headline metrics of a run as a two-column table (label, formatted value).

    Parameters
    ----------
    values
        The run's metrics (``{key: value}``); keys of ``headline`` not recorded are left out.
    headline
        ``{metric key: Headline}``, in display order.
    """
    labels = [h.label for k, h in headline.items() if k in values]
    shown = [format_value(values[k], h.fmt) for k, h in headline.items() if k in values]
    frame = pd.DataFrame({"value": shown}, index=pd.Index(labels, name="metric"))
    return table(frame, title="Headline metrics", labels={"value": "Value"})
