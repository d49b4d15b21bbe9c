"""The ``quantbook`` command line.

Data commands::

    quantbook data build --source synthetic --preset default [--name default] [--seed 7]
    quantbook data import PATH... --name NAME [--mapping MAPPING]
    quantbook data validate NAME
    quantbook data info NAME
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from quantbook.data.store import StoreNotFoundError, open_store
from quantbook.data.validate import DataValidationError


def _cmd_data_build(args: argparse.Namespace) -> int:
    if args.source != "synthetic":
        print(f"quantbook data build: source {args.source!r} is not buildable offline; "
              "use 'quantbook data import' for files", file=sys.stderr)
        return 2
    from quantbook.data.sources.synthetic import build_store

    t0 = time.perf_counter()
    store = build_store(preset=args.preset, name=args.name or args.preset, seed=args.seed, progress=not args.quiet)
    dt = time.perf_counter() - t0
    print(f"built store {store.name!r} ({args.preset}, seed {store.meta['params']['seed']}) at {store.path} "
          f"in {dt:.1f} s; fingerprint {store.fingerprint()}")
    return 0


def _cmd_data_import(args: argparse.Namespace) -> int:
    from quantbook.data.sources.files import import_files

    store = import_files(args.paths, name=args.name, mapping=args.mapping, progress=not args.quiet)
    report = store.validation_report()
    print(f"imported store {store.name!r} at {store.path}; fingerprint {store.fingerprint()}")
    if len(report):
        print(f"validation: {len(report)} soft finding(s), {int(report['count'].sum())} flagged row(s):")
        print(report.to_string(index=False))
    return 0


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from quantbook.data.validate import revalidate_store

    store = open_store(args.name)
    report = revalidate_store(store)
    if len(report):
        print(report.to_string(index=False))
    print(f"store {store.name!r}: valid; {len(report)} soft finding(s), "
          f"{int(report['count'].sum()) if len(report) else 0} flagged row(s)")
    return 0


def _cmd_data_info(args: argparse.Namespace) -> int:
    from quantbook.data.info import describe

    print(describe(open_store(args.name)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``quantbook`` command."""
    p = argparse.ArgumentParser(prog="quantbook", description="Reproducible A-share research reports.")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, import, validate and describe data stores")
    dsub = data.add_subparsers(dest="data_command", required=True)

    b = dsub.add_parser("build", help="build a store from a source")
    b.add_argument("--source", default="synthetic", choices=["synthetic"])
    b.add_argument("--preset", default="default", choices=["smoke", "default", "full"])
    b.add_argument("--name", default=None, help="store name (default: the preset's name)")
    b.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_cmd_data_build)

    i = dsub.add_parser("import", help="import CSV / Parquet exports through a column mapping")
    i.add_argument("paths", nargs="+", help="files or folders to import")
    i.add_argument("--name", required=True, help="store name")
    i.add_argument("--mapping", default=None, help="mapping YAML (path or shipped name); default: recognized")
    i.add_argument("--quiet", action="store_true", help="no progress bars")
    i.set_defaults(func=_cmd_data_import)

    v = dsub.add_parser("validate", help="re-run validation on a store and print its report")
    v.add_argument("name")
    v.set_defaults(func=_cmd_data_validate)

    n = dsub.add_parser("info", help="coverage, tables and unavailable items of a store")
    n.add_argument("name")
    n.set_defaults(func=_cmd_data_info)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quantbook`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (StoreNotFoundError, DataValidationError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"quantbook: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
