"""Run report notebooks with papermill, run what the schedule says is due, build the site.

One run of report ``R`` for an as-of date ``D``::

    notebooks/R.ipynb  --papermill (kernel python3, MPLBACKEND=Agg)-->  book/reports/R/D.ipynb
                                                                       book/reports/R/D.metrics.json

Parameters are merged, later winning: ``params/R.yml`` < ``--params FILE`` < ``-p key=value``
(values parsed as YAML) < ``--as-of`` / ``--data``. The notebook is never executed in place:
papermill runs a copy in memory; the executed notebook is written to a temporary file beside
its destination and renamed into place only when every cell succeeded and the notebook wrote
its metrics file (to the ``metrics_path`` parameter, a temporary path the runner moves next to
the page). A failing run raises :class:`ReportFailedError` with the failing cell's error and
leaves the existing pages and metrics as they were.

``params/schedule.yml`` names each report's calendar (``monthly`` = month-ends, ``weekly`` =
week-ends), its start date and optionally ``last: N`` (only the N most recent dates);
:func:`run_due` runs every scheduled date up to ``min(until, store end)`` that has no page yet,
and reruns the stale pages: those whose recorded data fingerprint differs from the store's
current one (:func:`quantbook.provenance.stale_reason`).
:func:`build_book` regenerates the generated pages (:mod:`quantbook.site`) and builds the
jupyter-book site with warnings as errors.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import yaml
from jupyter_client.manager import AsyncKernelManager

from quantbook import pages, site
from quantbook.book import (
    REPORT_NAME_RE,
    BookPaths,
    ParameterError,
    ScheduleEntry,
    load_schedule,
    load_yaml,
    plain_values,
)
from quantbook.data.atomic import atomic_replace_dir, atomic_write
from quantbook.data.store import Store, open_store, pid_alive
from quantbook.errors import QuantbookError
from quantbook.provenance import stale_reason
from quantbook.reports import headline_entries
from quantbook.reports.contract import POLICY_WORDS, AsOfPolicy, policy_date, report_spec
from quantbook.site import MetricsError, Run

__all__ = [
    "AsOfError",
    "BookBuildError",
    "BookPaths",
    "BookResult",
    "DueRun",
    "ReportFailedError",
    "RunDueResult",
    "RunResult",
    "ScheduleEntry",
    "build_book",
    "check_date_option",
    "check_parameter_types",
    "due_runs",
    "load_schedule",
    "page_tags",
    "parse_overrides",
    "refresh_committed_notebooks",
    "resolve_as_of",
    "resolve_params",
    "run_due",
    "run_report",
]

KERNEL = "python3"
#: Kernel options: quiet the kernel's own log (TCP transport notice, shutdown interrupt).
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
DATE_FMT = "%Y-%m-%d"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Notify = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- errors and results ---------------------------------------------------------------------------
class AsOfError(ValueError):
    """The as-of date is outside the store's span."""


class ReportFailedError(RuntimeError):
    """A report notebook raised in one of its cells; nothing was written.

    Attributes
    ----------
    report, as_of
        What was run.
    ename, evalue
        The exception's class name and message.
    cell_index, cell_source
        The failing cell (index in the executed notebook) and its code.
    traceback
        The kernel's traceback lines, colours stripped.
    """

    def __init__(
        self,
        report: str,
        as_of: str,
        *,
        ename: str,
        evalue: str,
        cell_index: int | None,
        cell_source: str,
        traceback: Sequence[str] = (),
    ) -> None:
        self.report, self.as_of = report, as_of
        self.ename, self.evalue = ename, evalue
        self.cell_index, self.cell_source = cell_index, cell_source
        self.traceback = list(traceback)
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"cell {self.cell_index}" if self.cell_index is not None else "a cell"
        src = "\n".join(f"    {line}" for line in self.cell_source.splitlines())
        tb = "\n".join(self.traceback[-20:])
        return (
            f"report {self.report!r} for {self.as_of} failed in {where}: {self.ename}: {self.evalue}\n"
            f"  failing cell:\n{src}\n"
            + (f"  traceback:\n{tb}\n" if tb else "")
            + "  nothing was written; existing pages are unchanged"
        )


class BookBuildError(RuntimeError):
    """jupyter-book failed (a warning is an error)."""


class PageWriteError(QuantbookError, OSError):
    """A page, metrics file or the site could not be written (disk full, read-only...)."""


@dataclass(frozen=True)
class RunResult:
    """One successful run."""

    report: str
    as_of: str
    notebook: Path
    metrics: Path
    params: dict[str, Any]
    seconds: float
    snapped_from: str | None = None


@dataclass(frozen=True)
class DueRun:
    """A scheduled run with no page yet, or whose page is stale.

    Attributes
    ----------
    report, as_of, data
        What to run, on which store.
    stale
        Why the existing page is stale (None: there is no page yet).
    """

    report: str
    as_of: str
    data: str
    stale: str | None = None


@dataclass
class RunDueResult:
    """What :func:`run_due` did."""

    due: list[DueRun] = field(default_factory=list)
    done: list[RunResult] = field(default_factory=list)
    failed: list[tuple[DueRun, Exception]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def stale(self) -> list[DueRun]:
        """The due runs that replace a stale page."""
        return [d for d in self.due if d.stale is not None]


@dataclass(frozen=True)
class BookResult:
    """A built site."""

    html: Path
    pages: list[Path]
    seconds: float


# -- parameters -----------------------------------------------------------------------------------
def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: yaml(v)}``: ``-p n=5`` gives 5, ``-p x=abc`` gives "abc"."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not REPORT_NAME_RE.match(key):
            raise ValueError(
                f"bad parameter {item!r}: expected key=value with a Python identifier as key"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key] = plain_values(value)
    return out


def notebook_parameters(path: Path) -> list[str]:
    """Names defined in the notebook's ``parameters`` cell."""
    return list(notebook_defaults(path))


_NOT_LITERAL = object()


def notebook_defaults(path: Path) -> dict[str, Any]:
    """``{name: default value}`` of the notebook's ``parameters`` cell (literals only).

    A default that is not a Python literal maps to a sentinel that :func:`check_parameter_types`
    accepts any value for.
    """
    import papermill as pm

    out: dict[str, Any] = {}
    for name, info in pm.inspect_notebook(str(path)).items():
        try:
            out[name] = ast.literal_eval(str(info.get("default", "")))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            out[name] = _NOT_LITERAL
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    for t, word in ((bool, "a bool"), (int, "an int"), (float, "a float"), (str, "a str")):
        if isinstance(value, t):
            return word
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _accepts(default: Any, value: Any) -> bool:
    if default is None or default is _NOT_LITERAL:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if isinstance(default, Mapping):
        return isinstance(value, Mapping)
    return True


def check_parameter_types(
    params: Mapping[str, Any], defaults: Mapping[str, Any], *, report: str
) -> None:
    """Refuse a parameter whose value's type differs from its default in the notebook.

    Notes
    -----
    The type of the default in the notebook's ``parameters`` cell is the parameter's type:
    bool, int, float, str, list or mapping. An int is accepted where a float is expected (not a
    bool: YAML's ``true`` is no number); a default of ``None`` (or one that is not a literal)
    accepts any value; ``null`` is accepted only where the default is ``None``. Values come from
    YAML (``-p key=value``, ``--params FILE``, ``params/REPORT.yml``), so ``-p universe=123`` is
    an int; quote it (``-p universe="'123'"``) to pass a string.

    Raises
    ------
    ParameterError
        Naming the parameter, its value and the expected type.
    """
    for name, value in params.items():
        if name not in defaults or _accepts(defaults[name], value):
            continue
        default = defaults[name]
        hint = " (quote it to pass a string)" if isinstance(default, str) else ""
        raise ParameterError(
            f"parameter {name}={value!r} is {_kind(value)}, but report {report!r} expects "
            f"{_kind(default)} (its default is {default!r}){hint}"
        )


def resolve_params(
    report: str,
    *,
    params_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Merged parameters of a run: ``params/REPORT.yml`` < ``params_file`` < ``overrides``."""
    paths = BookPaths.at(root)
    merged: dict[str, Any] = {}
    default = paths.params_file(report)
    if default.is_file():
        merged.update(load_yaml(default))
    if params_file is not None:
        merged.update(load_yaml(params_file))
    merged.update(overrides if isinstance(overrides, Mapping) else parse_overrides(overrides))
    return merged


# -- dates ------------------------------------------------------------------------------------------
def check_date_option(value: str | None, *, option: str) -> str | None:
    """``value`` of a date option (``--as-of``, ``--until``) if it is ``YYYY-MM-DD`` or ``latest``.

    Raises
    ------
    ParameterError
        Naming the option and the expected form (``03/04/2026`` is ambiguous, ``''`` empty).
    """
    if value is None:
        return None
    text = value.strip()
    if text.lower() == "latest":
        return "latest"
    if _DATE_RE.match(text):
        try:
            dt.date.fromisoformat(text)
        except ValueError as e:
            raise ParameterError(f"{option} {value!r} is not a valid date: {e}") from None
        return text
    raise ParameterError(
        f"{option} {value!r} is not a date: use YYYY-MM-DD (e.g. 2024-03-29) or 'latest'"
    )


def resolve_as_of(
    store: Store,
    as_of: str | pd.Timestamp | dt.date,
    *,
    policy: AsOfPolicy = "session",
    notify: Notify = _stderr,
) -> pd.Timestamp:
    """The day a run uses for ``as_of`` under a report's as-of ``policy``: the one resolution.

    Notes
    -----
    ``"latest"`` means the store's last complete month-end. A date moves to the last day at or
    before it that the policy allows (:func:`quantbook.reports.contract.policy_date`:
    ``session`` a trading day, ``month_end`` a month's last session, ``week_end`` a week's),
    with a notice; a date after the store's last date or before its first is refused with
    :class:`AsOfError`. The report's ``prepare`` never moves it again.
    """
    if isinstance(as_of, str) and as_of.strip().lower() == "latest":
        ends = store.calendar().month_ends()
        if not len(ends):
            raise AsOfError(
                f"store {store.name!r} ({store.start:%Y-%m-%d} to {store.end:%Y-%m-%d}) has no complete month"
            )
        return policy_date(store, pd.Timestamp(ends[-1]), policy)
    if isinstance(as_of, str) and not _DATE_RE.match(as_of.strip()):
        raise AsOfError(
            f"as-of {as_of!r} is not a date: use YYYY-MM-DD (e.g. 2024-03-29) or 'latest'"
        )
    if not isinstance(as_of, (str, dt.date)):
        raise AsOfError(
            f"as-of {as_of!r} is not a date: use YYYY-MM-DD (e.g. 2024-03-29) or 'latest'"
        )
    try:
        day = pd.Timestamp(as_of).normalize()
    except (ValueError, TypeError) as e:
        raise AsOfError(f"as-of {as_of!r} is not a valid date ({e})") from None
    if day > store.end:
        raise AsOfError(
            f"as-of {day:%Y-%m-%d} is after the last date of store {store.name!r} ({store.end:%Y-%m-%d}); "
            f"pick a date on or before {store.end:%Y-%m-%d} or extend the store"
        )
    if day < store.start:
        raise AsOfError(
            f"as-of {day:%Y-%m-%d} is before the first date of store {store.name!r} ({store.start:%Y-%m-%d})"
        )
    snapped = policy_date(store, day, policy)
    if snapped != day:
        word = POLICY_WORDS[policy]
        notify(
            f"note: {day:%Y-%m-%d} is not a {word}; using the previous {word} {snapped:%Y-%m-%d}"
        )
    return snapped


# -- one run ----------------------------------------------------------------------------------------
def page_tags(tags: Sequence[str], *, has_outputs: bool) -> list[str]:
    """The tags of a code cell on a published page: its input is never shown.

    A cell with outputs gets ``remove-input`` (its outputs stay); a cell without any, and the
    ``parameters`` and ``injected-parameters`` cells (the provenance table shows the values
    used), get ``remove-cell``. ``hide-input`` (a fold that still ships the code) is dropped.

    Examples
    --------
    >>> page_tags(["hide-input", "nbval-ignore-output"], has_outputs=True)
    ['nbval-ignore-output', 'remove-input']
    >>> page_tags(["injected-parameters"], has_outputs=False)
    ['injected-parameters', 'remove-cell']
    """
    out = [t for t in tags if t not in ("hide-input", "remove-input", "remove-cell")]
    params = "parameters" in tags or "injected-parameters" in tags
    removed = "remove-cell" in tags or params or not has_outputs
    out.append("remove-cell" if removed else "remove-input")
    return out


def _finalize(nb: nbformat.NotebookNode, *, report: str, as_of: str, paths: BookPaths) -> None:
    """Presentation touches on the executed copy: title with the date, no code shown.

    Every code cell is tagged for jupyter-book (:func:`page_tags`): the page shows outputs
    only. The committed notebook is not changed.
    """
    for cell in nb.cells:
        if cell.cell_type == "code":
            meta = cell.setdefault("metadata", {})
            meta["tags"] = page_tags(meta.get("tags", []), has_outputs=bool(cell.get("outputs")))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            if lines and lines[0].startswith("# ") and as_of not in lines[0]:
                lines[0] = f"{lines[0]}: {as_of}"
                cell.source = "\n".join(lines)
            break
    meta = nb.metadata.setdefault("papermill", {})
    meta["input_path"] = str(paths.notebook(report).relative_to(paths.root))
    meta["output_path"] = str(paths.output(report, as_of).relative_to(paths.root))
    nb.metadata["quantbook"] = {"report": report, "as_of": as_of}


def _previous_run(report: str, as_of: str, paths: BookPaths) -> pages.Previous | None:
    """The latest run of ``report`` dated before ``as_of``, with its metrics (None: none)."""
    earlier = [r for r in site.list_runs(report, root=paths.root) if r.as_of < as_of]
    return pages.Previous(earlier[-1].as_of, earlier[-1].metrics()) if earlier else None


def _insert_top_cell(
    nb: nbformat.NotebookNode,
    *,
    report: str,
    as_of: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, Any],
    paths: BookPaths,
) -> None:
    """Put the page's top cell after its title: this period's box, the rerun command, the link.

    The box's sentences are the spec's (:attr:`ReportSpec.period`) filled from ``metrics`` with
    the changes against the previous run of the report; the command names the parameters that
    differ from ``params/REPORT.yml``.
    """
    base = resolve_params(report, root=paths.root)
    overrides = {
        k: v
        for k, v in params.items()
        if k not in ("as_of", "data") and (k not in base or base[k] != v)
    }
    heads = headline_entries(metrics)
    previous = _previous_run(report, as_of, paths)
    source = pages.top_cell_source(
        report=report,
        as_of=as_of,
        sentences=pages.period_sentences(report_spec(report).period, heads, metrics, previous),
        previous_as_of=previous.as_of if previous else None,
        missing=pages.missing_labels(heads, metrics),
        command=pages.rerun_command(report, as_of, data=str(params["data"]), overrides=overrides),
    )
    cells = [c for c in nb.cells if pages.TOP_CELL_TAG not in c.get("metadata", {}).get("tags", [])]
    title = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), -1)
    top = nbformat.v4.new_markdown_cell(source, metadata={"tags": [pages.TOP_CELL_TAG]})
    if nb.get("nbformat_minor", 0) >= 5:
        top["id"] = pages.TOP_CELL_TAG  # a fixed id: a rerun gives the same notebook
    else:
        top.pop("id", None)
    cells.insert(title + 1, top)
    nb.cells = cells


_KERNELS: weakref.WeakSet[AsyncKernelManager] = weakref.WeakSet()


def kernel_folder() -> Path:
    """The folder of this user's run kernels' connection files (ports and an HMAC key).

    ``<tempdir>/quantbook-kernels-<uid>``, readable by its owner only. A file is named
    ``kernel-<pid>-<hex>.json`` after the process that started the kernel, so that files left by
    a run that was killed (SIGTERM, SIGKILL: no clean-up can run then) are recognized and
    removed by the next run (:func:`remove_dead_connection_files`).
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = Path(tempfile.gettempdir()) / f"quantbook-kernels-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def remove_dead_connection_files(folder: Path | None = None) -> list[Path]:
    """Remove the connection files of :func:`kernel_folder` whose run process no longer runs.

    Returns the removed files. Files of live processes and files not named
    ``kernel-<pid>-<hex>.json`` are left alone.
    """
    removed = []
    for f in (folder or kernel_folder()).glob("kernel-*-*.json"):
        pid = f.name.split("-")[1]
        if pid.isdigit() and not pid_alive(int(pid)):
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


class _RunKernelManager(AsyncKernelManager):
    """The kernel manager of a run: remembered, so that an interrupted run can stop its kernel;
    its connection file lies in :func:`kernel_folder` under the run's process id."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.connection_file:
            name = f"kernel-{os.getpid()}-{uuid.uuid4().hex[:12]}.json"
            self.connection_file = str(kernel_folder() / name)
        _KERNELS.add(self)


def _stop_kernels() -> None:
    """Kill the kernels this process started and remove their connection files (ports, key).

    Called when a run is interrupted (Ctrl-C): papermill's own clean-up does not run then, and
    the kernel's connection file (``tempfile.gettempdir()/tmp*.json``) would be left behind.
    """
    for km in list(_KERNELS):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a kernel that ignores SIGKILL
                pass
        try:
            km.cleanup_connection_file()
        except OSError:  # pragma: no cover - already gone
            pass
        _KERNELS.discard(km)


def _execute(
    source: Path, params: Mapping[str, Any], *, report: str, as_of: str, cwd: Path
) -> nbformat.NotebookNode:
    """papermill-execute ``source`` in memory (never in place); cell errors -> ReportFailedError.

    On an interruption (Ctrl-C) the kernel is killed and its connection file removed before the
    ``KeyboardInterrupt`` goes on.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError, strip_color

    os.environ["MPLBACKEND"] = "Agg"
    remove_dead_connection_files()
    try:
        nb: nbformat.NotebookNode = pm.execute_notebook(
            str(source),
            None,
            parameters=dict(params),
            kernel_name=KERNEL,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            extra_arguments=KERNEL_ARGS,
            kernel_manager_class=_RunKernelManager,
        )
    except PapermillExecutionError as e:
        raise ReportFailedError(
            report,
            as_of,
            ename=str(e.ename),
            evalue=strip_color(str(e.evalue)),
            cell_index=e.cell_index,
            cell_source=str(e.source),
            traceback=[strip_color(t) for t in (e.traceback or [])],
        ) from None
    except BaseException:  # KeyboardInterrupt, SystemExit, a dead kernel: stop it, then go on
        _stop_kernels()
        raise
    return nb


def _read_metrics(path: Path, *, report: str, as_of: str) -> dict[str, Any]:
    """The metrics file the notebook wrote (its own ``Metrics.write``: a JSON object)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ReportFailedError(
            report,
            as_of,
            ename="BadMetrics",
            evalue=f"{path} holds {type(data).__name__}, not an object of metrics",
            cell_index=None,
            cell_source="metrics.write(metrics_path)",
        )
    return data


def _write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.write(nb, str(path))


def _remove(*files: Path) -> None:
    for f in files:
        try:
            f.unlink()
        except FileNotFoundError:
            pass


def run_report(
    report: str,
    as_of: str | pd.Timestamp | dt.date | None = None,
    *,
    data: str | None = None,
    params_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
    root: str | os.PathLike[str] | None = None,
    notify: Notify = _stderr,
) -> RunResult:
    """Execute ``notebooks/REPORT.ipynb`` for ``as_of`` into ``book/reports/REPORT/<as_of>.ipynb``.

    Parameters
    ----------
    report
        Report name (a notebook under ``notebooks/``).
    as_of
        The as-of date (``YYYY-MM-DD`` or ``latest``); default: the merged parameters' ``as_of``.
    data
        Store name; default: the merged parameters' ``data``, else ``default``.
    params_file
        A YAML file of parameters merged over ``params/REPORT.yml``.
    overrides
        ``{key: value}`` or ``["key=value", ...]`` merged last.
    root
        Book root (default: the repository root).
    notify
        Where notices go (default: stderr).

    Returns
    -------
    RunResult

    Raises
    ------
    ReportFailedError
        A cell raised; nothing was written.
    AsOfError
        ``as_of`` is outside the store's span.
    """
    paths = BookPaths.at(root)
    source = paths.notebook(report)
    if not REPORT_NAME_RE.match(report) or not source.is_file():
        known = ", ".join(paths.report_names()) or "none"
        raise FileNotFoundError(f"no report notebook {source} (known reports: {known})")
    params = resolve_params(report, params_file=params_file, overrides=overrides, root=paths.root)
    if data is not None:
        params["data"] = data
    params.setdefault("data", "default")
    if as_of is None:
        as_of = params.get("as_of")
        if as_of is None:
            raise ValueError(f"no as-of date: pass --as-of or set as_of in params/{report}.yml")
    defaults = notebook_defaults(source)
    known_params = list(defaults)
    unknown = sorted(set(params) - set(known_params) - {"as_of", "data"})
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)} for report {report!r}; "
            f"its parameters are: {', '.join(known_params)}"
        )
    check_parameter_types(
        {k: v for k, v in params.items() if k != "as_of"}, defaults, report=report
    )
    store = open_store(str(params["data"]))
    day = resolve_as_of(
        store,
        as_of if not isinstance(as_of, dt.date) else pd.Timestamp(as_of),
        policy=report_spec(report).as_of_policy,
        notify=notify,
    )
    as_of_s = f"{day:{DATE_FMT}}"
    requested = str(as_of)[:10]
    params["as_of"] = as_of_s

    out_dir = paths.reports / report
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PageWriteError(
            f"cannot create the report folder {out_dir}: {e.strerror or e}"
        ) from None
    token = uuid.uuid4().hex[:8]
    tmp_metrics = out_dir / f".{as_of_s}.{token}.metrics.json.part"
    run_params = {**params, "requested_as_of": str(as_of), "metrics_path": str(tmp_metrics)}
    t0 = time.perf_counter()
    try:
        nb = _execute(source, run_params, report=report, as_of=as_of_s, cwd=paths.root)
        if not tmp_metrics.is_file():
            raise ReportFailedError(
                report,
                as_of_s,
                ename="MissingMetrics",
                evalue=f"the notebook did not write its metrics file (metrics_path={tmp_metrics})",
                cell_index=None,
                cell_source="metrics.write(metrics_path)",
            )
        _finalize(nb, report=report, as_of=as_of_s, paths=paths)
        _insert_top_cell(
            nb,
            report=report,
            as_of=as_of_s,
            params=params,
            metrics=_read_metrics(tmp_metrics, report=report, as_of=as_of_s),
            paths=paths,
        )
        try:
            atomic_write(paths.output(report, as_of_s), partial(_write_notebook, nb))
            os.replace(tmp_metrics, paths.metrics(report, as_of_s))
        except OSError as e:
            raise PageWriteError(
                f"cannot write the page {paths.output(report, as_of_s)}: {e.strerror or e}; "
                "nothing was written, existing pages are unchanged"
            ) from None
    finally:
        _remove(tmp_metrics)
    return RunResult(
        report=report,
        as_of=as_of_s,
        notebook=paths.output(report, as_of_s),
        metrics=paths.metrics(report, as_of_s),
        params={k: v for k, v in params.items()},
        seconds=time.perf_counter() - t0,
        snapped_from=requested if _DATE_RE.match(requested) and requested != as_of_s else None,
    )


def due_runs(
    *,
    until: str | pd.Timestamp | None = None,
    data: str | None = None,
    reports: Sequence[str] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> list[DueRun]:
    """Scheduled dates in ``[start, min(until, store end)]`` with no page yet or a stale page.

    A page is stale when its metrics record the same store with another data fingerprint than
    the store's current one (:func:`quantbook.provenance.stale_reason`).
    """

    paths = BookPaths.at(root)
    due: list[DueRun] = []
    entries = load_schedule(paths.root)
    scheduled = [e.report for e in entries]
    unknown = [r for r in reports or () if r not in scheduled]
    if unknown:
        raise ParameterError(
            f"unknown report(s) {', '.join(map(repr, unknown))}: not in {paths.schedule} "
            f"(scheduled reports: {', '.join(scheduled) or 'none'})"
        )
    if isinstance(until, str):
        until = check_date_option(until, option="until")
        until = None if until == "latest" else until
    fingerprints: dict[str, str] = {}
    for entry in entries:
        if reports and entry.report not in reports:
            continue
        name = data or str(resolve_params(entry.report, root=paths.root).get("data", "default"))
        store = open_store(name)
        end = store.end if until is None else min(pd.Timestamp(until), store.end)
        cal = store.calendar()
        start = entry.start if entry.start is not None else store.start
        dates = (
            cal.month_ends(start, end) if entry.calendar == "monthly" else cal.week_ends(start, end)
        )
        if entry.last is not None:
            dates = dates[-entry.last :]
        for d in dates:
            s = f"{d:{DATE_FMT}}"
            page = paths.output(entry.report, s)
            if not page.exists():
                due.append(DueRun(entry.report, s, name))
                continue
            if name not in fingerprints:
                fingerprints[name] = store.fingerprint()
            try:
                metrics = Run(entry.report, s, page, paths.metrics(entry.report, s)).metrics()
            except MetricsError as e:  # a page without readable metrics is rerun, not trusted
                due.append(DueRun(entry.report, s, name, stale=f"its metrics cannot be read: {e}"))
                continue
            why = stale_reason(metrics, data=name, fingerprint=fingerprints[name])
            if why is not None:
                due.append(DueRun(entry.report, s, name, stale=why))
    return due


def run_due(
    *,
    until: str | pd.Timestamp | None = None,
    data: str | None = None,
    reports: Sequence[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    progress: bool = True,
    notify: Notify = _stderr,
) -> RunDueResult:
    """Run every due report date (see :func:`due_runs`); failures are collected, not raised."""
    from tqdm.auto import tqdm

    result = RunDueResult(due=due_runs(until=until, data=data, reports=reports, root=root))
    if not result.due:
        notify("run-due: nothing to run; every scheduled date has an up-to-date page")
        return result
    if result.stale:
        notify(
            f"run-due: {len(result.stale)} stale page(s) to rerun: their data fingerprint differs "
            "from the store's current one (the store was rebuilt or re-imported since they ran)"
        )
    bar = tqdm(
        result.due,
        desc="run-due",
        unit="run",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    for item in bar:
        bar.set_postfix_str(f"{item.report} {item.as_of}")
        try:
            result.done.append(
                run_report(item.report, item.as_of, data=item.data, root=root, notify=tqdm.write)
            )
        except (ReportFailedError, AsOfError, ValueError, FileNotFoundError) as e:
            result.failed.append((item, e))
            tqdm.write(f"run-due: {item.report} {item.as_of} FAILED:\n{e}", file=sys.stderr)
    bar.close()
    return result


# -- committed notebooks (nbval reference outputs) ------------------------------------------------
def refresh_committed_notebooks(
    reports: Sequence[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    notify: Notify = _stderr,
) -> list[Path]:
    """Re-execute ``notebooks/R.ipynb`` with ``params/R.smoke.yml`` and store the outputs in place.

    The committed notebooks carry the outputs of a smoke run, which nbval re-executes and
    compares (``tests/test_notebooks.py``). The new notebook is written to a temporary file and
    renamed over the committed one only if every cell succeeded. The smoke parameters stay in
    the notebook as papermill's ``injected-parameters`` cell, so nbval re-runs exactly them.
    """
    paths = BookPaths.at(root)
    out = []
    for report in reports or paths.report_names():
        src = paths.notebook(report)
        smoke = paths.params_file(report, "smoke")
        params = load_yaml(smoke)
        store = open_store(str(params.get("data", "smoke")))
        if "as_of" in params:
            policy = report_spec(report).as_of_policy
            params["requested_as_of"] = str(params["as_of"])
            day = resolve_as_of(store, params["as_of"], policy=policy, notify=notify)
            params["as_of"] = f"{day:{DATE_FMT}}"
        params["metrics_path"] = ""
        nb = _execute(
            src, params, report=report, as_of=str(params.get("as_of", "")), cwd=paths.root
        )
        nb.metadata.pop("papermill", None)
        for cell in nb.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        atomic_write(src, partial(_write_notebook, nb))
        notify(f"refreshed {src.relative_to(paths.root)} with {smoke.relative_to(paths.root)}")
        out.append(src)
    return out


# -- the site -------------------------------------------------------------------------------------
def _jupyter_book() -> str:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.is_file():
        return str(exe)
    found = shutil.which("jupyter-book")
    if not found:
        raise BookBuildError("jupyter-book is not installed (pip install 'jupyter-book>=1,<2')")
    return found


def check_pages(paths: BookPaths) -> list[Path]:
    """Every published notebook under ``book/reports``, each read and validated with nbformat.

    Raises
    ------
    BookBuildError
        Naming the first notebook that is not valid JSON or not a valid notebook, before Sphinx
        runs (whose own message does not name it).
    """
    pages = sorted(paths.reports.glob("*/*.ipynb")) if paths.reports.is_dir() else []
    for page in pages:
        try:
            nb = nbformat.read(str(page), as_version=4)
            nbformat.validate(nb)
        except Exception as e:  # nbformat raises JSON, validation and reader errors alike
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BookBuildError(
                f"{page} is not a valid notebook ({type(e).__name__}: {first}); rerun the report "
                "or remove the page"
            ) from None
    return pages


def _swap_build(stage: Path, build: Path) -> None:
    """Move every entry of ``stage`` (html, doctrees...) into ``build``, replacing the old ones."""
    build.mkdir(parents=True, exist_ok=True)
    for entry in sorted(stage.iterdir()):
        atomic_replace_dir(entry, build / entry.name)


def build_book(
    *,
    root: str | os.PathLike[str] | None = None,
    data: str | None = None,
    build: bool = True,
    quiet: bool = True,
    notify: Notify = _stderr,
) -> BookResult:
    """Regenerate the landing, archive and data pages and ``_toc.yml``, then build the site.

    The build is ``jupyter-book build ROOT --path-output STAGE -W --keep-going``: every Sphinx
    warning is an error (all are reported before it fails), notebooks are not executed
    (``execute_notebooks: off``).

    Notes
    -----
    Each build is a clean one into a temporary folder beside the site (``book/_build/.next-*``,
    on the same file system), whose ``html`` (and Sphinx's caches) then replace those of
    ``book/_build`` by renames: a failed build (a warning, a full disk, Ctrl-C) leaves the
    previous site as it was, and the HTML of a page removed from ``book/reports`` is gone from
    the new site. Sphinx's crash log (``sphinx-err-*.log``, written to the temporary directory)
    goes into that folder too and is removed with it. Every published notebook is validated with
    nbformat first (:func:`check_pages`), so a corrupt one is named in one line.
    """

    paths = BookPaths.at(root)
    t0 = time.perf_counter()
    if data is not None:
        open_store(data)  # a store the user named must exist (the error lists the known ones)
    check_pages(paths)
    pages = site.generate_site(root=paths.root, data=data)
    if build:
        out = paths.book / "_build"
        stage = out / f".next-{uuid.uuid4().hex[:8]}"
        try:
            (stage / "tmp").mkdir(parents=True)
        except OSError as e:
            raise PageWriteError(f"cannot write the site under {out}: {e.strerror or e}") from None
        try:
            cmd = [
                _jupyter_book(),
                "build",
                str(paths.root),
                "--path-output",
                str(stage),
                "-W",
                "--keep-going",
            ]
            if quiet:
                cmd.append("-q")
            env = {**os.environ, "MPLBACKEND": "Agg", "TMPDIR": str(stage / "tmp")}
            proc = subprocess.run(
                cmd, cwd=paths.root, capture_output=True, text=True, env=env, check=False
            )
            output = proc.stdout + proc.stderr
            if proc.returncode != 0:
                if "No space left on device" in output or "Read-only file system" in output:
                    cause = "No space left on device" if "No space" in output else "read-only"
                    raise PageWriteError(
                        f"cannot write the site under {out}: {cause}; the previous site is unchanged"
                    )
                tail = output.replace(str(stage / "_build"), str(out))[-8000:]
                raise BookBuildError(
                    f"jupyter-book build failed (exit {proc.returncode}; warnings are errors; "
                    f"the previous site is unchanged):\n{tail}"
                )
            try:
                _swap_build(stage / "_build", out)
            except OSError as e:
                raise PageWriteError(
                    f"cannot move the new site into {out}: {e.strerror or e}"
                ) from None
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if not quiet and proc.stdout:
            notify(proc.stdout[-4000:])
    return BookResult(html=paths.html, pages=pages, seconds=time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m quantbook.runner refresh-notebooks [REPORT ...]`` (``make notebooks-smoke``)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m quantbook.runner")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "refresh-notebooks", help="re-execute notebooks/*.ipynb in place with params/*.smoke.yml"
    )
    r.add_argument("reports", nargs="*", help="reports (default: every notebook)")
    args = p.parse_args(argv)
    try:
        refresh_committed_notebooks(args.reports or None)
    except ReportFailedError as e:
        _stderr(str(e))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
