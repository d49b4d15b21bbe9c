"""The top of a published page and the landing page's sparklines, from metrics alone.

A published report page opens, right after its title, with one markdown cell
(:func:`top_cell_source`): a "this period" box of the report's headline numbers written as the
sentences its spec declares (:attr:`quantbook.reports.contract.ReportSpec.period`), each
number with its change against the previous run of the report; the one command that reruns
the page; and a link to the executed notebook. The landing page draws each headline metric
across runs as a sparkline (:func:`sparkline_png`).

Everything here reads metrics mappings (a run's ``*.metrics.json``), never a report module; the
runner finds the files (:mod:`quantbook.runner`), the site draws the landing page
(:mod:`quantbook.site`).

Examples
--------
>>> from quantbook.tables import Headline
>>> heads = {"ret": Headline("Return", ".1%")}
>>> period_sentences(("It returned {ret} ({ret:change}).",), heads, {"ret": 0.05},
...                  Previous("2026-09-30", {"ret": 0.02}))
['It returned 5.0% (up 3.0 pp).']
>>> period_sentences(("It returned {ret}.",), heads, {"ret": None}, None)
[]
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure

from quantbook.errors import QuantbookError
from quantbook.plotting import png_bytes
from quantbook.tables import Headline, format_value

__all__ = [
    "FIRST_RUN",
    "PLACEHOLDER",
    "TOP_CELL_TAG",
    "Previous",
    "TemplateError",
    "change_phrase",
    "headline_number",
    "missing_labels",
    "period_sentences",
    "rerun_command",
    "sparkline_png",
    "store_line",
    "top_cell_source",
]

#: A template's placeholder: ``{metric key}`` (the value) or ``{metric key:change}``.
PLACEHOLDER = re.compile(r"\{([^{}:]+)(:change)?\}")
#: The change shown for a report's first run.
FIRST_RUN = "first run"
#: The tag of the cell the runner inserts after the title.
TOP_CELL_TAG = "quantbook-period"


class TemplateError(QuantbookError, ValueError):
    """A "this period" sentence names a metric the report declares no headline for."""


@dataclass(frozen=True)
class Previous:
    """The previous run of a report: its as-of date and its metrics."""

    as_of: str
    metrics: Mapping[str, Any]


def headline_number(metrics: Mapping[str, Any], key: str) -> float | None:
    """``metrics[key]`` as a finite float; None when it is absent, not a number or not finite."""
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _difference(diff: float, fmt: str) -> str:
    """``|diff|`` in the headline's unit: percentage points for a percent format."""
    spec = fmt.lstrip("+- ")
    if spec.endswith("%"):
        digits = re.search(r"\.(\d+)%$", spec)
        return f"{abs(diff) * 100:.{int(digits.group(1)) if digits else 2}f} pp"
    return format_value(abs(diff), spec)


def change_phrase(current: float, previous: Previous | None, key: str, headline: Headline) -> str:
    """How ``current`` moved since the previous run: ``"up 0.40 pp"``.

    Notes
    -----
    ``first run`` when there is no previous run; ``not in the previous run`` when the previous
    run lacks the metric; ``unchanged`` when the difference rounds to zero in the headline's
    format (percent formats give the change in percentage points). The box names the previous
    run's date once (:func:`top_cell_source`).

    Examples
    --------
    >>> h = Headline("IC", ".3f")
    >>> change_phrase(0.05, Previous("2026-09-30", {"ic": 0.062}), "ic", h)
    'down 0.012'
    >>> change_phrase(0.05, None, "ic", h)
    'first run'
    """
    if previous is None:
        return FIRST_RUN
    before = headline_number(previous.metrics, key)
    if before is None:
        return "not in the previous run"
    diff = current - before
    text = _difference(diff, headline.fmt)
    if float(re.sub(r"[^0-9.]", "", text) or 0) == 0:
        return "unchanged"
    return f"{'up' if diff > 0 else 'down'} {text}"


def _sentence(
    template: str,
    headline: Mapping[str, Headline],
    metrics: Mapping[str, Any],
    previous: Previous | None,
) -> str | None:
    """One template filled in; None when it names a metric the run did not record."""
    values: dict[str, float] = {}
    for key, _change in PLACEHOLDER.findall(template):
        if key not in headline:
            raise TemplateError(
                f"sentence {template!r} names {key!r}, which is not a headline metric "
                f"(headline: {', '.join(headline) or 'none'})"
            )
        value = headline_number(metrics, key)
        if value is None:
            return None
        values[key] = value

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if m.group(2):
            return change_phrase(values[key], previous, key, headline[key])
        return format_value(values[key], headline[key].fmt)

    text = PLACEHOLDER.sub(fill, template)
    return text[:1].upper() + text[1:]


def period_sentences(
    templates: Sequence[str],
    headline: Mapping[str, Headline],
    metrics: Mapping[str, Any],
    previous: Previous | None,
) -> list[str]:
    """The "this period" sentences of a run, generated from its metrics.

    Parameters
    ----------
    templates
        The report's sentences (:attr:`quantbook.reports.contract.ReportSpec.period`).
    headline
        ``{metric key: Headline}``: the labels and formats (the run's metrics file carries them).
    metrics, previous
        The run's metrics and the previous run of the report (None: this is the first).

    Returns
    -------
    list of str
        One per template, in order; a template naming a metric the run did not record (absent,
        not a number, NaN) is left out.

    Raises
    ------
    TemplateError
        A template names a metric that is not in ``headline``.
    """
    out = []
    for template in templates:
        text = _sentence(template, headline, metrics, previous)
        if text is not None:
            out.append(text)
    return out


def missing_labels(headline: Mapping[str, Headline], metrics: Mapping[str, Any]) -> list[str]:
    """Labels of the headline metrics the run did not record as a number."""
    return [h.label for key, h in headline.items() if headline_number(metrics, key) is None]


def _cli_value(value: Any) -> str:
    """A parameter value as ``-p key=VALUE`` reads it back (YAML): strings bare when safe."""
    if isinstance(value, str):
        try:
            plain = yaml.safe_load(value) == value
        except yaml.YAMLError:
            plain = False
        return value if plain and value.strip() == value and value else json.dumps(value)
    return json.dumps(value)


def rerun_command(report: str, as_of: str, *, data: str, overrides: Mapping[str, Any] = {}) -> str:
    """The one shell command that reruns a page: ``quantbook run R --as-of D --data S -p k=v``.

    ``overrides`` are the parameters that differ from ``params/R.yml`` (in their order).

    Examples
    --------
    >>> rerun_command("etf_weekly", "2026-10-30", data="smoke", overrides={"windows": [12, 24]})
    "quantbook run etf_weekly --as-of 2026-10-30 --data smoke -p 'windows=[12, 24]'"
    """
    words = ["quantbook", "run", report, "--as-of", as_of, "--data", data]
    for key, value in overrides.items():
        words += ["-p", f"{key}={_cli_value(value)}"]
    return shlex.join(words)


def top_cell_source(
    *,
    report: str,
    as_of: str,
    sentences: Sequence[str],
    missing: Sequence[str],
    command: str,
    previous_as_of: str | None,
) -> str:
    """The markdown of a page's top cell: the "this period" box, the rerun command, the link.

    The box is a MyST admonition; the link is a ``{download}`` of the executed notebook that
    the page was made from (``book/reports/R/D.ipynb``, beside the page).
    """
    body = " ".join(sentences) if sentences else "No headline number was recorded for this run."
    if previous_as_of is not None and sentences:
        body += f" Changes are against the previous run, {previous_as_of}."
    if missing:
        body += f"\n\nNot recorded for this run: {'; '.join(missing)}."
    return (
        ":::{admonition} This period\n"
        ":class: note\n"
        f"{body}\n"
        ":::\n\n"
        f"Rerun this page with `{command}`. The code behind every number is in the executed "
        f"notebook, {{download}}`book/reports/{report}/{as_of}.ipynb <{as_of}.ipynb>`."
    )


def store_line(metrics: Mapping[str, Any]) -> str:
    """Which store a run was made from, in words, from its ``provenance.*`` metrics.

    Examples
    --------
    >>> store_line({"provenance.data": "smoke", "provenance.synthetic": True,
    ...             "provenance.source": "synthetic", "provenance.store.preset": "smoke"})
    'store `smoke`: synthetic market (preset smoke) — simulated, not market data'
    >>> store_line({"provenance.data": "cn", "provenance.synthetic": False,
    ...             "provenance.source": "files", "provenance.store.folder": "/d/cn"})
    'store `cn`: real data imported from files (/d/cn)'
    """
    name = metrics.get("provenance.data", "?")
    if metrics.get("provenance.synthetic"):
        preset = metrics.get("provenance.store.preset")
        extra = f" (preset {preset})" if preset is not None else ""
        return f"store `{name}`: synthetic market{extra} — simulated, not market data"
    where = [
        str(v)
        for k, v in metrics.items()
        if k.startswith("provenance.store.") and isinstance(v, str) and ("/" in v or "\\" in v)
    ]
    origin = f" ({', '.join(where)})" if where else ""
    return (
        f"store `{name}`: real data imported from {metrics.get('provenance.source', '?')}{origin}"
    )


def sparkline_png(
    values: Sequence[float | None], *, size: tuple[float, float] = (1.6, 0.4)
) -> bytes:
    """A small line of ``values`` across runs (gaps for missing ones), the last point marked."""
    y = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    fig = Figure(figsize=size, dpi=100)
    ax = fig.add_axes((0.03, 0.12, 0.94, 0.76))
    ax.set_axis_off()
    x = np.arange(len(y))
    ax.plot(x, y, color="#1f4e79", linewidth=1.2)
    finite = np.flatnonzero(np.isfinite(y))
    if len(finite):
        ax.plot(x[finite[-1]], y[finite[-1]], "o", color="#c0392b", markersize=3)
    if len(y) == 1:
        ax.set_xlim(-1, 1)
    return png_bytes(fig, dpi=100)
