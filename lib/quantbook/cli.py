"""The ``quantbook`` command line.

Data commands::

    quantbook data build --source synthetic --preset default [--name default] [--seed 7] [--replace]
    quantbook data import PATH... --name NAME [--mapping MAPPING] [--replace]

A build or import writes ``data/NAME`` only if that is absent or a store of the same source
(``synthetic`` / ``files``); a store of another source needs ``--replace``; a file or a folder
that is not a store is never replaced (:func:`quantbook.data.store.check_target`). The name is
checked before anything is simulated or read.
    quantbook data validate NAME
    quantbook data info NAME

Report commands::

    quantbook run REPORT [--as-of DATE] [--data NAME] [--params FILE] [-p key=value ...]
    quantbook run-due [--until DATE] [--data NAME] [--report REPORT ...] [--dry-run]
    quantbook book [--data NAME] [--no-build]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quantbook.errors import QuantbookError

#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130
#: Exit status after SIGTERM (128 + SIGTERM), as a shell reports it.
EXIT_TERMINATED = 143
#: Exit status when the reader of the output went away (``quantbook ... | head -1``): an
#: environment fault like a full disk, said in one line on stderr.
EXIT_BROKEN_PIPE = 1

if TYPE_CHECKING:
    import pandas as pd


def _seed(text: str) -> int:
    """argparse type of ``--seed``: a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, not {text!r}")
    return value


def _replacement_note(previous: Path | None) -> str | None:
    """What replacing the store at ``previous`` dropped (None if nothing was replaced)."""
    from quantbook.data.store import CACHE_DIR

    if previous is None:
        return None
    return (
        f"replaced the previous store {previous.name!r}: its {CACHE_DIR}/ (models and factor "
        "histories of the old data) is gone, and pages made from the old data are stale "
        "('quantbook run-due' reruns them)"
    )


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``): raised in the main thread like Ctrl-C, so that the same clean-up runs
    (a store writer removes its temporary folder, a run stops its kernel)."""


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated()


def _cmd_data_build(args: argparse.Namespace) -> int:
    if args.source != "synthetic":
        print(
            f"quantbook data build: source {args.source!r} is not buildable offline; "
            "use 'quantbook data import' for files",
            file=sys.stderr,
        )
        return 2
    from quantbook.data.store import check_target

    name = args.name or args.preset
    previous = check_target(name, source="synthetic", replace=args.replace)
    from quantbook.data.sources.synthetic import build_store

    t0 = time.perf_counter()
    store = build_store(
        preset=args.preset,
        name=name,
        seed=args.seed,
        progress=not args.quiet,
        replace=args.replace,
    )
    dt = time.perf_counter() - t0
    note = _replacement_note(previous)
    if note:
        print(note)
    print(
        f"built store {store.name!r} ({args.preset}, seed {store.meta['params']['seed']}) at {store.path} "
        f"in {dt:.1f} s; fingerprint {store.fingerprint()}"
    )
    return 0


def _cmd_data_import(args: argparse.Namespace) -> int:
    from quantbook.data.store import check_target

    previous = check_target(args.name, source="files", replace=args.replace)
    from quantbook.data.sources.files import import_files

    store = import_files(
        args.paths,
        name=args.name,
        mapping=args.mapping,
        progress=not args.quiet,
        replace=args.replace,
    )
    report = store.validation_report()
    note = _replacement_note(previous)
    if note:
        print(note)
    print(f"imported store {store.name!r} at {store.path}; fingerprint {store.fingerprint()}")
    if len(report):
        print(
            f"validation: {len(report)} soft finding(s), {int(report['count'].sum())} flagged row(s):"
        )
        print(report.to_string(index=False))
    return 0


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from quantbook.data.store import open_store, revalidate_store

    store = open_store(args.name)
    report = revalidate_store(store)
    recorded = store.validation_report()
    if len(report):
        print(report.to_string(index=False))
    print(f"re-run on the stored tables: {_findings(report)}")
    if len(recorded):
        print(
            f"recorded when the store was written (shown by 'quantbook data info'): "
            f"{_findings(recorded)}: the validation at write time and the import's own "
            "findings (inserted or dropped rows, guessed listing dates...), which describe the "
            "input files and cannot be re-run on the stored tables:"
        )
        print(recorded.drop(columns=["example"], errors="ignore").to_string(index=False))
    print(
        f"store {store.name!r}: valid; {_findings(report)} on re-run, "
        f"{_findings(recorded)} recorded when written"
    )
    return 0


def _findings(report: pd.DataFrame) -> str:
    """``"N soft finding(s), M flagged row(s)"`` of a validation report."""
    rows = int(report["count"].sum()) if len(report) else 0
    return f"{len(report)} soft finding(s), {rows} flagged row(s)"


def _cmd_data_info(args: argparse.Namespace) -> int:
    from quantbook.data.info import describe
    from quantbook.data.store import open_store

    print(describe(open_store(args.name)))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from quantbook.runner import ReportFailedError, check_date_option, run_report

    try:
        res = run_report(
            args.report,
            check_date_option(args.as_of, option="--as-of"),
            data=args.data,
            params_file=args.params,
            overrides=args.param or [],
        )
    except ReportFailedError as e:
        print(f"quantbook run: {e}", file=sys.stderr)
        return 1
    print(
        f"{res.report} {res.as_of}: wrote {res.notebook} and {res.metrics.name} in {res.seconds:.1f} s"
    )
    return 0


def _cmd_run_due(args: argparse.Namespace) -> int:
    from quantbook.runner import check_date_option, due_runs, run_due

    args.until = check_date_option(args.until, option="--until")

    if args.dry_run:
        due = due_runs(until=args.until, data=args.data, reports=args.report)
        for d in due:
            print(
                f"{d.report} {d.as_of} (data {d.data})" + (f" stale: {d.stale}" if d.stale else "")
            )
        stale = sum(d.stale is not None for d in due)
        print(f"{len(due)} run(s) due" + (f", {stale} of them stale page(s)" if stale else ""))
        return 0
    res = run_due(until=args.until, data=args.data, reports=args.report, progress=not args.quiet)
    print(
        f"run-due: {len(res.done)} run(s) done, {len(res.failed)} failed, {len(res.due)} due"
        + (f" ({len(res.stale)} of them stale pages)" if res.stale else "")
    )
    for item, _err in res.failed:
        print(f"  FAILED {item.report} {item.as_of}", file=sys.stderr)
    return 0 if res.ok else 1


def _cmd_book(args: argparse.Namespace) -> int:
    from quantbook.runner import BookBuildError, build_book

    try:
        res = build_book(data=args.data, build=not args.no_build, quiet=not args.verbose)
    except BookBuildError as e:
        print(f"quantbook book: {e}", file=sys.stderr)
        return 1
    what = "generated pages" if args.no_build else f"built the site in {res.html}"
    print(f"quantbook book: {what} ({len(res.pages)} generated page(s), {res.seconds:.1f} s)")
    return 0


REPLACE_HELP = (
    "replace an existing store of another source (its tables and cache/ are lost); "
    "a folder that is not a store is never replaced"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``quantbook`` command."""
    p = argparse.ArgumentParser(
        prog="quantbook", description="Reproducible A-share research reports."
    )
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, import, validate and describe data stores")
    dsub = data.add_subparsers(dest="data_command", required=True)

    b = dsub.add_parser("build", help="build a store from a source")
    b.add_argument("--source", default="synthetic", choices=["synthetic"])
    b.add_argument("--preset", default="default", choices=["smoke", "default", "full"])
    b.add_argument("--name", default=None, help="store name (default: the preset's name)")
    b.add_argument(
        "--seed", type=_seed, default=None, help="random seed, >= 0 (default: the preset's)"
    )
    b.add_argument("--replace", action="store_true", help=REPLACE_HELP)
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_cmd_data_build)

    i = dsub.add_parser("import", help="import CSV / Parquet exports through a column mapping")
    i.add_argument("paths", nargs="+", help="files or folders to import")
    i.add_argument("--name", required=True, help="store name")
    i.add_argument(
        "--mapping", default=None, help="mapping YAML (path or shipped name); default: recognized"
    )
    i.add_argument("--replace", action="store_true", help=REPLACE_HELP)
    i.add_argument("--quiet", action="store_true", help="no progress bars")
    i.set_defaults(func=_cmd_data_import)

    v = dsub.add_parser("validate", help="re-run validation on a store and print its report")
    v.add_argument("name")
    v.set_defaults(func=_cmd_data_validate)

    n = dsub.add_parser("info", help="coverage, tables and unavailable items of a store")
    n.add_argument("name")
    n.set_defaults(func=_cmd_data_info)

    r = sub.add_parser("run", help="execute a report notebook for an as-of date (papermill)")
    r.add_argument("report", help="report name: a notebook under notebooks/ (e.g. market_overview)")
    r.add_argument(
        "--as-of",
        dest="as_of",
        default=None,
        help="as-of date YYYY-MM-DD or 'latest' (default: from the parameters)",
    )
    r.add_argument(
        "--data", default=None, help="store name (default: the report's params/REPORT.yml)"
    )
    r.add_argument(
        "--params", default=None, help="YAML file of parameters merged over params/REPORT.yml"
    )
    r.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="one parameter, value parsed as YAML (repeatable)",
    )
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser(
        "run-due", help="run every scheduled report date (params/schedule.yml) without a page"
    )
    d.add_argument(
        "--until",
        default=None,
        help="last date to consider, YYYY-MM-DD or 'latest' (default: the store's last date)",
    )
    d.add_argument(
        "--data", default=None, help="store name for every report (default: each report's params)"
    )
    d.add_argument("--report", action="append", default=None, help="only this report (repeatable)")
    d.add_argument("--dry-run", action="store_true", help="list the due runs, run nothing")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_run_due)

    k = sub.add_parser(
        "book", help="regenerate the landing, archive and data pages and build the site"
    )
    k.add_argument("--data", default=None, help="also describe this store on the data page")
    k.add_argument("--no-build", action="store_true", help="only regenerate the pages and _toc.yml")
    k.add_argument("--verbose", action="store_true", help="show jupyter-book's output")
    k.set_defaults(func=_cmd_book)

    return p


def _error_types() -> tuple[type[BaseException], ...]:
    """Exceptions reported as one line: the project's own and the standard ones it raises."""
    from quantbook.data.store import StoreNotFoundError
    from quantbook.data.validate import DataValidationError

    return (
        QuantbookError,
        StoreNotFoundError,
        DataValidationError,
        FileNotFoundError,
        ValueError,
        KeyError,
    )


def _quiet_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout has no file descriptor (tests): nothing to redirect
        pass
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quantbook`` command.

    Notes
    -----
    Exit status: 0 on success; 1 with one line ``quantbook: error: ...`` for a user's mistake or
    an environment fault (a missing file, a full or read-only disk, the reader of the output gone
    as in ``quantbook ... | head -1``); 2 for a usage error (argparse); 130 after Ctrl-C and 143
    after SIGTERM (the work in progress is abandoned, a run's kernel stopped, a store's temporary
    folder removed, nothing half-written kept).
    """
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return int(args.func(args))
        except _error_types() as e:
            print(f"quantbook: error: {e}", file=sys.stderr)
            return 1
        except OSError as e:  # a disk or permission fault the command did not name itself
            if isinstance(e, BrokenPipeError):
                raise
            print(f"quantbook: error: {e}", file=sys.stderr)
            return 1
        finally:
            sys.stdout.flush()
    except Terminated:
        print("quantbook: terminated; nothing was left half-written", file=sys.stderr, flush=True)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("quantbook: interrupted; nothing was left half-written", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        print(
            "quantbook: error: the output was closed before the command finished writing it "
            "(broken pipe, e.g. '| head'); what the command wrote to disk is complete",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
