"""Bad inputs and environment faults: what a user did, what the command must say, what must not change.

Each row of :data:`CASES` is one thing a user (or the machine) did to the ``quantbook`` command:
the command line, an optional ``setup`` that lays the user's files or the fault, the exit status
and a fragment of the one-line message it must print. Every row runs the real command in a
subprocess (``python -m quantbook.cli``) inside a :class:`Sandbox`: a copy of a tiny store under
``data/``, a book root with three published ``market_overview`` pages (``tests/fixtures_small``)
and a folder of the user's own files. After the command the row checks that

- the exit status is ``rc`` and the output holds ``expect`` (case-insensitive) and no Python
  traceback;
- the data root, the published pages and the user's files are byte-identical to before, except
  the paths the row names in ``changes`` (relative to the sandbox base);
- nothing half-written is left behind (``.tmp-`` folders in the data root, ``.part`` files in the
  book root).

To add a case, append a :class:`Case` to the section it belongs to: its ``argv`` may use the
placeholders ``{data}``, ``{root}``, ``{files}`` and ``{base}`` for the sandbox's folders; a
``setup`` receives the :class:`Sandbox` and writes whatever the case needs (a broken CSV under
``sb.files``, a damaged ``store.json``...). Faults of the environment use ``interrupt_after``
(SIGINT after that many seconds), ``close_stdout`` (the output piped into a reader that closes
at once, as ``| head -1`` does) or a setup that mounts a full or read-only file system
(:func:`tiny_tmpfs`; such rows skip where mounting is not allowed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fixtures_small import SharedBook, tree_digest

REPO = Path(__file__).resolve().parents[1]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.M)


@dataclass
class Sandbox:
    """A data root, a book root and a folder of user files, all copies owned by one test."""

    base: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def files(self) -> Path:
        return self.base / "files"

    @property
    def store(self) -> Path:
        """The sandbox's store (``tiny``, source ``synthetic``)."""
        return self.data / "tiny"

    @property
    def reports(self) -> Path:
        return self.root / "book" / "reports"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "QUANTBOOK_DATA": str(self.data),
            "QUANTBOOK_ROOT": str(self.root),
            "MPLBACKEND": "Agg",
            "PYTHONHASHSEED": "0",
        }

    def digest(self) -> dict[str, tuple[str, int]]:
        """``{path relative to base: (sha256, mtime)}`` of the data, pages and user files."""
        out: dict[str, tuple[str, int]] = {}
        for folder in (self.data, self.reports, self.files):
            if folder.is_dir():
                rel = folder.relative_to(self.base)
                out.update({f"{rel}/{k}": v for k, v in tree_digest(folder).items()})
        return out


@dataclass(frozen=True)
class Case:
    """One bad input or fault: the command, what it must print, what it may change.

    Attributes
    ----------
    id
        Short name, shown by pytest.
    argv
        Arguments of ``quantbook`` (placeholders ``{data}``, ``{root}``, ``{files}``, ``{base}``).
    expect
        A fragment of the output (stderr and stdout), compared case-insensitively.
    rc
        Expected exit status (1 for a user error, 130 for Ctrl-C, 2 for argparse's usage errors).
    setup
        Prepares the sandbox before the command runs.
    changes
        Paths (relative to the sandbox base, prefixes allowed) the command may create or change.
    env
        Extra environment variables (placeholders allowed).
    interrupt_after
        Send SIGINT after this many seconds (the command must still be running then).
    close_stdout
        Pipe the output into a reader that closes after the first line.
    """

    id: str
    argv: tuple[str, ...]
    expect: str
    rc: int = 1
    setup: Callable[[Sandbox], None] | None = None
    changes: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    interrupt_after: float | None = None
    close_stdout: bool = False


def tiny_tmpfs(path: Path, *, size: str = "64k", readonly: bool = False) -> None:
    """Mount a small tmpfs at ``path`` (a full or read-only disk); skips where not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")


def _unmount_all(base: Path) -> None:
    mounts = Path("/proc/mounts").read_text().splitlines() if Path("/proc/mounts").exists() else []
    for line in mounts:
        target = line.split()[1]
        if target.startswith(str(base)):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)


# ================================================================================================
# The cases. Keep each section's rows together; one row per thing a user did.
# ================================================================================================

# -- store safety: import / build never replace what is not theirs ------------------------------
STORE_SAFETY: list[Case] = [
    Case(
        "validate-unknown-store",
        ("data", "validate", "nosuchstore"),
        "no data store 'nosuchstore'",
    ),
]

# -- validation: outliers, codes, units ---------------------------------------------------------
VALIDATION: list[Case] = []


# -- the calendar's ends --------------------------------------------------------------------------
def _tushare_days(days: list[str]) -> Callable[[Sandbox], None]:
    """A Tushare daily export of one stock on ``days`` (YYYYMMDD) in the user's files."""

    def setup(sb: Sandbox) -> None:
        lines = ["ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount"]
        lines += [f"600000.SH,{d},10.0,10.2,9.9,10.1,10.0,0.1,1.0,1000,1005.0" for d in days]
        (sb.files / "600000.SH.csv").write_text("\n".join(lines) + "\n")

    return setup


#: Weekdays of January 2027, after exchange-calendars 4.13's last session (2026-12-31).
_JAN_2027 = ["20270104", "20270105", "20270106", "20270107", "20270108"]

CALENDAR: list[Case] = [
    Case(
        "import-data-session-on-a-weekend",
        ("data", "import", "{files}", "--name", "late", "--quiet"),
        "fall on a weekend (e.g. 2027-01-09)",
        setup=_tushare_days([*_JAN_2027, "20270109"]),
    ),
    Case(
        "import-data-session-on-a-holiday",
        ("data", "import", "{files}", "--name", "late", "--quiet"),
        "fall on a statutory holiday (New Year's Day, Labour Day or National Day) (e.g. 2027-01-01)",
        setup=_tushare_days(["20261230", "20261231", "20270101", *_JAN_2027]),
    ),
]

# -- reports, pages and the site ------------------------------------------------------------------
PAGES: list[Case] = []

# -- unreadable inputs, parameters and environment faults -----------------------------------------
ERRORS: list[Case] = []

CASES: list[Case] = STORE_SAFETY + VALIDATION + CALENDAR + PAGES + ERRORS


# ================================================================================================
# The runner.
# ================================================================================================
@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> SharedBook:
    return SharedBook.get(tmp_path_factory)


@pytest.fixture
def sandbox(shared: SharedBook, tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox(tmp_path / "sb")
    shutil.copytree(shared.data, sb.data, ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(shared.root, sb.root, ignore=shutil.ignore_patterns("_build"))
    sb.files.mkdir(parents=True)
    yield sb
    _unmount_all(sb.base)


def _fill(text: str, sb: Sandbox) -> str:
    return text.format(data=sb.data, root=sb.root, files=sb.files, base=sb.base)


def run_case(case: Case, sb: Sandbox) -> tuple[int, str]:
    """Run the case's command in ``sb``; returns (exit status, stdout + stderr)."""
    argv = [_fill(a, sb) for a in case.argv]
    env = {**sb.env(), **{k: _fill(v, sb) for k, v in case.env.items()}}
    cmd = [sys.executable, "-m", "quantbook.cli", *argv]
    if case.close_stdout:
        proc = subprocess.Popen(
            cmd, cwd=sb.base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        return proc.wait(timeout=600), err
    if case.interrupt_after is not None:
        proc = subprocess.Popen(
            cmd, cwd=sb.base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        time.sleep(case.interrupt_after)
        assert proc.poll() is None, f"{case.id}: the command ended before the interrupt"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=600)
        return proc.returncode, out.decode(errors="replace")
    res = subprocess.run(cmd, cwd=sb.base, env=env, capture_output=True, timeout=600, check=False)
    return res.returncode, (res.stdout + res.stderr).decode(errors="replace")


def _leftovers(sb: Sandbox) -> list[str]:
    found = [p.name for p in sb.data.glob(".*.tmp-*")] if sb.data.is_dir() else []
    found += [str(p.relative_to(sb.root)) for p in sb.root.rglob("*.part")]
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, sandbox: Sandbox) -> None:
    if case.setup is not None:
        case.setup(sandbox)
    before = sandbox.digest()
    rc, out = run_case(case, sandbox)
    assert not TRACEBACK.search(out), f"{case.id}: printed a Python traceback:\n{out[-3000:]}"
    assert rc == case.rc, f"{case.id}: exit status {rc}, expected {case.rc}:\n{out[-3000:]}"
    assert case.expect.lower() in out.lower(), (
        f"{case.id}: expected {case.expect!r} in the output:\n{out[-3000:]}"
    )
    after = sandbox.digest()
    changed = sorted(
        k
        for k in set(before) | set(after)
        if before.get(k) != after.get(k) and not k.startswith(case.changes or ("\0",))
    )
    assert not changed, f"{case.id}: changed or removed the user's data or pages: {changed[:10]}"
    assert not _leftovers(sandbox), f"{case.id}: left behind {_leftovers(sandbox)}"


def test_every_case_has_a_unique_id() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
