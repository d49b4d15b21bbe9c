"""A book's layout and schedule: where notebooks, parameters and pages live, and which reports
run on which calendar.

Both :mod:`quantbook.site` (which writes the generated pages) and :mod:`quantbook.runner`
(which runs reports and builds the site) read these; they live here, below both, so that the
site does not import the runner.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from quantbook.data.store import repo_root
from quantbook.errors import QuantbookError

__all__ = [
    "REPORT_NAME_RE",
    "BookPaths",
    "ParameterError",
    "ScheduleEntry",
    "load_schedule",
    "load_yaml",
    "plain_values",
]

#: A report name: a Python identifier (it names a notebook and a module under reports/).
REPORT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ParameterError(QuantbookError, ValueError):
    """A report parameter is malformed, unknown or of the wrong type."""


# -- paths -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BookPaths:
    """Where a book's sources and outputs live, relative to its root (the repository root)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> BookPaths:
        return cls(Path(root).resolve() if root is not None else repo_root())

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def params(self) -> Path:
        return self.root / "params"

    @property
    def schedule(self) -> Path:
        return self.params / "schedule.yml"

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def reports(self) -> Path:
        return self.book / "reports"

    @property
    def html(self) -> Path:
        return self.book / "_build" / "html"

    def notebook(self, report: str) -> Path:
        return self.notebooks / f"{report}.ipynb"

    def params_file(self, report: str, variant: str | None = None) -> Path:
        return self.params / (f"{report}.{variant}.yml" if variant else f"{report}.yml")

    def output(self, report: str, as_of: str) -> Path:
        return self.reports / report / f"{as_of}.ipynb"

    def metrics(self, report: str, as_of: str) -> Path:
        return self.reports / report / f"{as_of}.metrics.json"

    def report_names(self) -> list[str]:
        """Reports with a notebook under ``notebooks/``."""
        return sorted(
            p.stem for p in self.notebooks.glob("*.ipynb") if REPORT_NAME_RE.match(p.stem)
        )


# -- parameter files ---------------------------------------------------------------------------
def plain_values(value: Any) -> Any:
    """YAML values as papermill can inject them: dates become ISO strings."""
    if isinstance(value, dt.datetime):
        return (
            value.date().isoformat()
            if value == dt.datetime.combine(value.date(), dt.time())
            else value.isoformat()
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    return value


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML mapping (empty file -> ``{}``), dates as ISO strings."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"parameter file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParameterError(f"{p}:{where}: malformed YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParameterError(f"cannot read parameter file {p}: {e}") from None
    if not isinstance(data, dict):
        raise ParameterError(
            f"{p}: expected a mapping of parameters (key: value lines), got {type(data).__name__}"
        )
    out: dict[str, Any] = plain_values(data)
    return out


# -- schedule -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleEntry:
    """One report's schedule."""

    report: str
    calendar: Literal["monthly", "weekly"]
    start: pd.Timestamp | None = None
    last: int | None = None


def load_schedule(root: str | os.PathLike[str] | None = None) -> list[ScheduleEntry]:
    """Entries of ``params/schedule.yml`` (``reports: {name: {calendar, start, last}}``)."""
    paths = BookPaths.at(root)
    raw = load_yaml(paths.schedule)
    reports = raw.get("reports") or {}
    if not isinstance(reports, dict):
        raise ValueError(
            f"{paths.schedule}: 'reports' must be a mapping of report name -> schedule"
        )
    out = []
    for name, spec in reports.items():
        spec = spec or {}
        cal = spec.get("calendar", "monthly")
        if cal not in ("monthly", "weekly"):
            raise ValueError(
                f"{paths.schedule}: report {name!r}: calendar must be monthly or weekly, not {cal!r}"
            )
        last = spec.get("last")
        if last is not None and (not isinstance(last, int) or last < 1):
            raise ValueError(f"{paths.schedule}: report {name!r}: last must be a positive integer")
        start = pd.Timestamp(spec["start"]) if spec.get("start") else None
        out.append(ScheduleEntry(report=str(name), calendar=cal, start=start, last=last))
    return out
