"""Compare reports' ``metrics.json`` files key by key between two checkouts of the project.

A refactoring of the core must not change a published number unless a convention was unified on
purpose. This script runs the same (report, as-of date, parameters) jobs with two checkouts on
the same store and lists every metric that differs.

Usage (from the repository root)::

    # run the jobs with a checkout (its lib/ is imported) and keep their metrics files
    python tests/metrics_compare.py collect --root ../before --out /tmp/m_before \\
        --data default market_overview@2026-10-30 behavior_monthly@2026-10-30 \\
        gan_gru_monthly@2026-10-30:start=2026-04-30

    # compare two collections: one line per differing key, a summary at the end
    python tests/metrics_compare.py diff /tmp/m_before /tmp/m_after --rtol 1e-9

    # a key renamed on purpose: compare the value under its new name (regex => replacement)
    python tests/metrics_compare.py diff /tmp/m_before /tmp/m_after \
        --rename 'behavior_monthly:\\.n_months$=>.ls_n_periods'

A job is ``REPORT@YYYY-MM-DD`` with optional ``:key=value[,key=value]`` parameter overrides.
Both checkouts must read the same store (``QUANTBOOK_DATA`` names its folder). Numbers are
compared with ``|a - b| <= atol + rtol * |b|``; strings, booleans and nulls exactly; a key
present on one side only is a difference. ``--rename REPORT:REGEX=>REPLACEMENT`` renames the
before-side keys of REPORT's files (``re.sub``) before they are compared; ``--renames FILE``
reads such rules from a file (``tests/metrics_renames.txt`` lists the keys the statistics
vocabulary renamed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def parse_job(text: str) -> tuple[str, str, list[str]]:
    """``REPORT@DATE[:k=v,k=v]`` -> (report, date, ["k=v", ...])."""
    head, _, extra = text.partition(":")
    report, _, date = head.partition("@")
    if not report or not date:
        raise SystemExit(
            f"metrics_compare: bad job {text!r} (expected REPORT@YYYY-MM-DD[:k=v,...])"
        )
    return report, date, [p for p in extra.split(",") if p]


def collect(root: Path, out: Path, data: str, jobs: list[str]) -> int:
    """Run each job with the checkout at ``root`` and copy its metrics file under ``out``."""
    env = {**os.environ, "QUANTBOOK_ROOT": str(root), "PYTHONPATH": str(root / "lib")}
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONHASHSEED", "0")
    failed = 0
    for job in jobs:
        report, date, overrides = parse_job(job)
        cmd = [sys.executable, "-m", "quantbook.cli", "run", report, "--as-of", date]
        cmd += ["--data", data]
        for o in overrides:
            cmd += ["-p", o]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if proc.returncode != 0:
            failed += 1
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            print(f"FAILED {job} ({took:.0f} s): {' | '.join(tail)}", flush=True)
            continue
        src = root / "book" / "reports" / report / f"{date}.metrics.json"
        dst = out / report / f"{date}.metrics.json"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        print(f"ran {job} in {took:.0f} s -> {dst}", flush=True)
    return 1 if failed else 0


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of a JSON value as (dotted key, value); list items are indexed ``[i]``."""
    if isinstance(value, dict):
        for k in sorted(value):
            yield from flatten(value[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def same(a: Any, b: Any, *, rtol: float, atol: float) -> bool:
    """Whether two leaves agree (numbers within tolerance, NaN equals NaN)."""
    num = (int, float)
    if (
        isinstance(a, num)
        and isinstance(b, num)
        and not (isinstance(a, bool) or isinstance(b, bool))
    ):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return abs(fa - fb) <= atol + rtol * abs(fb)
    return bool(a == b)


#: Keys that record when or how fast a page was made, not what it says.
VOLATILE = (
    "generated",
    "seconds",
    "elapsed",
    "timestamp",
    "run_at",
    "run_time",
    "data_path",
    "code_version",
    "git",
)


def parse_rename(text: str) -> tuple[str, re.Pattern[str], str]:
    """``REPORT:REGEX=>REPLACEMENT`` -> (report, compiled regex, replacement)."""
    head, sep, repl = text.partition("=>")
    report, _, pattern = head.partition(":")
    if not sep or not report or not pattern:
        raise SystemExit(f"metrics_compare: bad rename {text!r} (expected REPORT:REGEX=>REPL)")
    return report, re.compile(pattern), repl


def diff(
    before: Path,
    after: Path,
    *,
    rtol: float,
    atol: float,
    renames: list[tuple[str, re.Pattern[str], str]] = [],  # noqa: B006
) -> int:
    """Print every differing key of the metrics files present in either collection."""
    files = sorted(
        {p.relative_to(before) for p in before.rglob("*.metrics.json")}
        | {p.relative_to(after) for p in after.rglob("*.metrics.json")}
    )
    n_keys = n_diff = 0
    for rel in files:
        pa, pb = before / rel, after / rel
        if not pa.is_file() or not pb.is_file():
            print(f"{rel}: only in {'after' if pb.is_file() else 'before'}")
            n_diff += 1
            continue
        a = dict(flatten(json.loads(pa.read_text())))
        for report, pattern, repl in renames:
            if rel.parts[0] == report:
                a = {pattern.sub(repl, k): v for k, v in a.items()}
        b = dict(flatten(json.loads(pb.read_text())))
        only: dict[tuple[str, str], list[str]] = {}
        for key in sorted(set(a) | set(b)):
            if any(v in key.lower() for v in VOLATILE):
                continue
            n_keys += 1
            if key not in a or key not in b:
                side = "after" if key in b else "before"
                only.setdefault((side, key.split(".")[0]), []).append(key)
                n_diff += 1
            elif not same(a[key], b[key], rtol=rtol, atol=atol):
                print(f"{rel}: {key}: before {a[key]!r} after {b[key]!r}")
                n_diff += 1
        for (side, prefix), keys in only.items():  # one line per group of added/removed keys
            example = keys[0]
            value = (b if side == "after" else a)[example]
            print(f"{rel}: {len(keys)} key(s) {prefix}.* only {side}, e.g. {example} = {value!r}")
    print(f"{len(files)} metrics file(s), {n_keys} key(s) compared, {n_diff} difference(s)")
    return 1 if n_diff else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="run jobs with a checkout and keep their metrics files")
    c.add_argument("--root", type=Path, required=True, help="checkout whose lib/ is imported")
    c.add_argument("--out", type=Path, required=True, help="folder for the metrics files")
    c.add_argument("--data", default="default", help="store name (default: default)")
    c.add_argument("jobs", nargs="+", help="REPORT@YYYY-MM-DD[:key=value,...]")
    d = sub.add_parser("diff", help="compare two collections key by key")
    d.add_argument("before", type=Path)
    d.add_argument("after", type=Path)
    d.add_argument("--rtol", type=float, default=1e-9)
    d.add_argument("--atol", type=float, default=1e-12)
    d.add_argument(
        "--rename", action="append", default=[], help="REPORT:REGEX=>REPLACEMENT (repeatable)"
    )
    d.add_argument(
        "--renames", type=Path, help="a file of --rename rules, one per line (# comments)"
    )
    args = parser.parse_args(argv)
    if args.cmd == "collect":
        return collect(args.root.resolve(), args.out.resolve(), args.data, args.jobs)
    rules = list(args.rename)
    if args.renames is not None:
        lines = args.renames.read_text(encoding="utf-8").splitlines()
        rules += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    renames = [parse_rename(r) for r in rules]
    return diff(args.before, args.after, rtol=args.rtol, atol=args.atol, renames=renames)


if __name__ == "__main__":
    raise SystemExit(main())
