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
``sb.files``, a damaged ``store.json``...). Faults of the environment use ``interrupt_when``
(a signal, SIGINT or ``interrupt_with``, sent once a file such as a kernel's connection file
appears) or a setup that mounts a full or read-only file system (:func:`tiny_tmpfs`; such rows
skip where mounting is not allowed). A closed output pipe (``| head -1``) is a focused test in
``tests/test_runner.py``: a pipe closed before the command writes is deterministic, a reader
closing after the first line is not.
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

import numpy as np
import pandas as pd
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
    interrupt_when
        Send SIGINT as soon as a file matching this glob (relative to the sandbox base) exists,
        e.g. a kernel's connection file: the interrupt then lands at a known step.
    interrupt_with
        The signal sent (default SIGINT, as Ctrl-C; SIGTERM as ``kill``).
    """

    id: str
    argv: tuple[str, ...]
    expect: str
    rc: int = 1
    setup: Callable[[Sandbox], None] | None = None
    changes: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    interrupt_when: str | None = None
    interrupt_with: signal.Signals = signal.SIGINT


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
#: A small Tushare daily export (two stocks, three days) that imports cleanly.
TUSHARE_CSV = """ts_code,trade_date,open,high,low,close,pre_close,change,pct_chg,vol,amount
600000.SH,20210301,10.00,10.20,9.90,10.10,10.00,0.10,1.0,1000.0,1010.0
600000.SH,20210302,10.10,10.30,10.00,10.20,10.10,0.10,0.990099,1200.0,1230.0
600000.SH,20210303,10.20,10.40,10.10,10.30,10.20,0.10,0.980392,1100.0,1140.0
000001.SZ,20210301,20.00,20.40,19.80,20.20,20.00,0.20,1.0,2000.0,4040.0
000001.SZ,20210302,20.20,20.60,20.00,20.40,20.20,0.20,0.990099,2100.0,4300.0
000001.SZ,20210303,20.40,20.80,20.20,20.60,20.40,0.20,0.980392,1900.0,3930.0
"""


def _export_csv(sb: Sandbox) -> None:
    (sb.files / "tushare_2021q1.csv").write_text(TUSHARE_CSV)


def _exports_under_data(sb: Sandbox) -> None:
    """The user keeps exports and notes in ``data/myexports`` (a folder, not a store)."""
    folder = sb.data / "myexports"
    folder.mkdir()
    (folder / "tushare_2021q1.csv").write_text(TUSHARE_CSV)
    (folder / "notes_keep.txt").write_text("my notes: keep\n")


def _readme_under_data(sb: Sandbox) -> None:
    _export_csv(sb)
    (sb.data / "README.md").write_text("# the data folder's own README\n")


def _imported_victim(sb: Sandbox) -> None:
    """``data/victim``: a store imported from files, with trained models in its cache."""
    import json

    shutil.copytree(sb.store, sb.data / "victim")
    meta_path = sb.data / "victim" / "store.json"
    meta = json.loads(meta_path.read_text())
    meta.update(name="victim", source="files", params={"paths": ["exports/"]})
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    (sb.data / "victim" / "cache").mkdir()
    (sb.data / "victim" / "cache" / "gan_gru.pt").write_bytes(b"trained weights")


def _tiny_rebuilt(sb: Sandbox) -> None:
    """The store ``tiny`` rebuilt with other data after the pages were published."""
    from fixtures_small import build_small_store

    build_small_store(sb.data, "tiny", seed=1)


def _one_page_stale(sb: Sandbox) -> None:
    """The 2024-01-31 page records another fingerprint than the store's (made from older data)."""
    import json

    path = sb.reports / "market_overview" / "2024-01-31.metrics.json"
    metrics = json.loads(path.read_text())
    metrics["provenance.fingerprint"] = "0123456789abcdef"
    path.write_text(json.dumps(metrics, indent=2) + "\n")


def _imported_store_m(sb: Sandbox) -> None:
    """``data/m``: a store imported from files (its import recorded findings)."""
    from quantbook.data.sources.files import import_files

    _export_csv(sb)
    import_files([sb.files / "tushare_2021q1.csv"], name="m", progress=False, root=sb.data)


def _dead_writer_leftover(sb: Sandbox) -> None:
    """A temporary folder of an import of ``m`` killed by SIGKILL: its writer's pid is dead."""
    import json
    import socket

    _export_csv(sb)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp = sb.data / ".m.tmp-0000dead"
    tmp.mkdir()
    (tmp / ".quantbook-writer.json").write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname()})
    )
    (tmp / "daily_bars.parquet").write_bytes(b"half-written")


STORE_SAFETY: list[Case] = [
    Case(
        "validate-unknown-store",
        ("data", "validate", "nosuchstore"),
        "no data store 'nosuchstore'",
    ),
    Case(
        "import-into-a-user-folder-under-data",
        ("data", "import", "{data}/myexports/tushare_2021q1.csv", "--name", "myexports", "--quiet"),
        "is a folder that is not a quantbook store",
        setup=_exports_under_data,
    ),
    Case(
        "import-over-a-file-under-data",
        ("data", "import", "{files}/tushare_2021q1.csv", "--name", "README.md", "--quiet"),
        "is a file, not a store",
        setup=_readme_under_data,
    ),
    Case(
        "build-into-a-user-folder-under-data",
        ("data", "build", "--preset", "smoke", "--name", "myexports", "--quiet"),
        "is a folder that is not a quantbook store",
        setup=_exports_under_data,
    ),
    Case(
        "build-over-an-imported-store",
        ("data", "build", "--preset", "smoke", "--name", "victim", "--quiet"),
        "pass --replace",
        setup=_imported_victim,
    ),
    Case(
        "import-over-a-synthetic-store",
        ("data", "import", "{files}/tushare_2021q1.csv", "--name", "tiny", "--quiet"),
        "holds data from source 'synthetic', not 'files'",
        setup=lambda sb: _export_csv(sb),
    ),
    Case(
        "import-replace-a-synthetic-store",
        ("data", "import", "{files}/tushare_2021q1.csv", "--name", "tiny", "--replace", "--quiet"),
        "replaced the previous store 'tiny'",
        rc=0,
        setup=lambda sb: _export_csv(sb),
        changes=("data/tiny/",),
    ),
    Case(
        "run-due-lists-pages-of-a-rebuilt-store-as-stale",
        ("run-due", "--data", "tiny", "--dry-run"),
        "3 run(s) due, 3 of them stale",
        rc=0,
        setup=_tiny_rebuilt,
    ),
    Case(
        "run-due-reruns-a-stale-page",
        ("run-due", "--data", "tiny", "--quiet"),
        "1 stale page(s) to rerun",
        rc=0,
        setup=_one_page_stale,
        changes=("root/book/reports/market_overview/2024-01-31.",),
    ),
    Case(
        "build-invalid-name",
        ("data", "build", "--preset", "smoke", "--name", "a/b", "--quiet"),
        "'a/b' is not a valid store name",
    ),
    Case(
        "import-invalid-name-before-reading-inputs",
        ("data", "import", "{files}/nosuch.csv", "--name", ".hidden", "--quiet"),
        "'.hidden' is not a valid store name",
    ),
    Case(
        "build-negative-seed",
        ("data", "build", "--preset", "smoke", "--seed", "-5", "--name", "s", "--quiet"),
        "argument --seed: must be a non-negative integer",
        rc=2,
    ),
    Case(
        "validate-shows-the-import-findings",
        ("data", "validate", "m"),
        "recorded when the store was written (shown by 'quantbook data info'): 1 soft finding(s)",
        rc=0,
        setup=_imported_store_m,
    ),
    Case(
        "import-removes-a-dead-writers-temp-folder",
        ("data", "import", "{files}/tushare_2021q1.csv", "--name", "m", "--quiet"),
        "imported store 'm'",
        rc=0,
        setup=_dead_writer_leftover,
        changes=("data/m/", "data/.m.tmp-0000dead/"),
    ),
]


# -- validation: outliers, codes, units ---------------------------------------------------------
def _tushare_daily(codes: list[str], *, days: int = 25, seed: int = 5) -> pd.DataFrame:
    """Clean Tushare ``daily`` rows (vol in lots, amount in thousands of CNY) for ``codes``."""
    from quantbook.data.calendar import TradingCalendar

    sessions = TradingCalendar("2021-03-01", "2021-04-30").sessions[:days]
    rng = np.random.default_rng(seed)
    frames = []
    for k, code in enumerate(codes):
        ret = rng.uniform(-0.03, 0.03, days)
        close = np.round((8.0 + k) * np.cumprod(1 + ret), 2)
        prev = np.r_[close[0], close[:-1]]
        high, low = (
            np.round(np.fmax(prev, close) * 1.01, 2),
            np.round(np.fmin(prev, close) * 0.99, 2),
        )
        lots = rng.integers(1_000, 5_000, days).astype(float)
        frames.append(pd.DataFrame({
            "ts_code": code, "trade_date": sessions.strftime("%Y%m%d"), "open": prev, "high": high,
            "low": low, "close": close, "pre_close": prev, "vol": lots,
            "amount": np.round(lots * 100 * (prev + close) / 2 / 1000, 3),
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _write_tushare(
    edit: Callable[[pd.DataFrame], None], codes: int = 3
) -> Callable[[Sandbox], None]:
    """A setup writing ``{files}/x.csv``: Tushare daily bars of ``codes`` stocks, then ``edit``."""
    names = [f"{600000 + i}.SH" for i in range(codes // 2)]
    names += [f"{i + 1:06d}.SZ" for i in range(codes - len(names))]

    def setup(sb: Sandbox) -> None:
        df = _tushare_daily(names)
        edit(df)
        df.to_csv(sb.files / "x.csv", index=False)

    return setup


def _high_1e12(df: pd.DataFrame) -> None:
    df.loc[(df["ts_code"] == "000001.SZ") & (df["trade_date"] == "20210305"), "high"] = 1e12


def _close_1e12_early(df: pd.DataFrame) -> None:
    df.loc[df["trade_date"] == "20210303", "close"] = 1e12  # the 3rd session of every stock


def _truncated_code(df: pd.DataFrame) -> None:
    df.loc[df["ts_code"] == "600000.SH", "ts_code"] = "60012.SH"


def _shares_for_ten(df: pd.DataFrame) -> None:
    shares = df["ts_code"].isin(sorted(df["ts_code"].unique())[:10])
    df.loc[shares, "vol"] *= 100  # these stocks' files were exported in shares, not lots


def _real_layout_membership(sb: Sandbox) -> None:
    """The real sample's layout: daily bars and a CSI 300 membership file with ``SH60000``."""
    df = _tushare_daily(["600000.SH", "000001.SZ"])
    pd.DataFrame({
        "date": pd.to_datetime(df["trade_date"]),
        "code": df["ts_code"].str[-2:].str.lower() + df["ts_code"].str[:6],
        "name": "x", "open": df["open"], "high": df["high"], "low": df["low"],
        "close": df["close"], "prev_close": df["pre_close"], "volume": df["vol"] * 100,
        "amount": df["amount"] * 1000, "float_mv": df["close"] * 1e9, "total_mv": df["close"] * 2e9,
    }).to_parquet(sb.files / "ashare_daily_2021.parquet")  # fmt: skip
    (sb.files / "csi300_membership.txt").write_text(
        "SH600000\t2010-01-04\t2026-05-08\nSH60000\t2010-01-04\t2026-05-08\n"
    )


VALIDATION: list[Case] = [
    Case(
        "valid-high-1e12",
        ("data", "import", "{files}/x.csv", "--name", "imp", "--quiet"),
        "high of 1e+12 on 2021-03-05 for 000001.SZ is 1.12e+11 times its median close",
        setup=_write_tushare(_high_1e12),
    ),
    Case(
        "valid-close-1e12-new-listings",
        ("data", "import", "{files}/x.csv", "--name", "imp", "--quiet"),
        "rule 'price_outlier' failed: close of 1e+12 on 2021-03-03",
        setup=_write_tushare(_close_1e12_early),
    ),
    Case(
        "valid-truncated-code",
        ("data", "import", "{files}/x.csv", "--name", "imp", "--quiet"),
        "file 'x.csv': 25 value(s) are not recognizable security codes (bare='security'); 1 "
        "distinct code(s) among them truncated, with fewer than 6 digits next to an exchange "
        "(a digit lost when the file was written?): ['60012.SH']",
        setup=_write_tushare(_truncated_code),
    ),
    Case(
        "valid-truncated-code-in-membership",
        ("data", "import", "{files}", "--name", "imp", "--quiet"),
        "file 'csi300_membership.txt': 1 value(s) are not recognizable security codes",
        setup=_real_layout_membership,
    ),
    Case(
        "valid-mixed-volume-units",
        ("data", "import", "{files}/x.csv", "--name", "imp", "--quiet"),
        "for 10 of 30 codes (000001.SZ, 000002.SZ",
        setup=_write_tushare(_shares_for_ten, codes=30),
    ),
]


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
MO = "root/book/reports/market_overview"
#: What ``quantbook book`` regenerates (allowed to change in rows that get that far).
GENERATED = (
    "root/book/reports/index.md",
    "root/book/reports/data.md",
    f"{MO}/index.md",
    f"{MO}/headline",
    f"{MO}/sparkline_",  # the landing page's sparklines, generated with the pages
)


def _drop_metrics(sb: Sandbox) -> None:
    (sb.reports / "market_overview" / "2024-02-29.metrics.json").unlink()


def _truncate_metrics(sb: Sandbox) -> None:
    m = sb.reports / "market_overview" / "2024-02-29.metrics.json"
    m.write_bytes(m.read_bytes()[:100])


def _corrupt_page(sb: Sandbox) -> None:
    page = sb.reports / "market_overview" / "2024-02-29.ipynb"
    page.write_bytes(page.read_bytes()[:5000])


def full_disk_at(sb: Sandbox, rel: str, *, spare: int) -> None:
    """Mount a tmpfs at ``sb.base / rel`` holding the folder's files and ``spare`` bytes more."""
    folder = sb.base / rel
    keep = sb.base / ".keep"
    if folder.is_dir():
        shutil.move(str(folder), keep)
    size = (
        sum(p.stat().st_size + 4096 for p in keep.rglob("*") if p.is_file()) if keep.exists() else 0
    )
    tiny_tmpfs(folder, size=f"{(size + spare) // 1024 + 4}k")
    if keep.exists():
        for p in keep.iterdir():
            (shutil.copytree if p.is_dir() else shutil.copy2)(p, folder / p.name)
        shutil.rmtree(keep)


PAGES: list[Case] = [
    Case(
        "book-missing-metrics",
        ("book", "--no-build"),
        "2024-02-29.metrics.json is missing",
        setup=_drop_metrics,
    ),
    Case(
        "book-truncated-metrics",
        ("book", "--no-build"),
        "2024-02-29.metrics.json is not valid json",
        setup=_truncate_metrics,
    ),
    Case(
        "book-corrupt-notebook",
        ("book", "--no-build"),
        "2024-02-29.ipynb is not a valid notebook",
        setup=_corrupt_page,
    ),
    Case(
        "book-unknown-store",
        ("book", "--data", "tinyy", "--no-build"),
        "no data store 'tinyy'",
    ),
    Case(
        "book-disk-full-pages",
        ("book", "--no-build"),
        "no space left on device",
        setup=lambda sb: full_disk_at(sb, MO, spare=0),
        changes=GENERATED,
    ),
    Case(
        "book-disk-full-site",
        ("book",),
        "no space left on device",
        setup=lambda sb: full_disk_at(sb, "root/book/_build", spare=16 * 1024),
        changes=GENERATED,
    ),
]


# -- unreadable inputs, parameters and environment faults -----------------------------------------
RUN = ("run", "market_overview", "--data", "tiny")


def _bad_params_yml(sb: Sandbox) -> None:
    (sb.root / "params" / "market_overview.yml").write_text("data: tiny\nuniverse: [all\n")


def _bad_user_yml(sb: Sandbox) -> None:
    (sb.files / "p.yml").write_text("universe: all\n  as_of: 2024-01-31\n")


def _tmpdir(sb: Sandbox) -> None:
    (sb.files / "tmp").mkdir()


# -- report runs and the command as a whole (ids run-, env-)
RUN_ERRORS: list[Case] = [
    Case(
        "run-as-of-slashes",
        (*RUN, "--as-of", "03/04/2026"),
        "--as-of '03/04/2026' is not a date: use YYYY-MM-DD",
    ),
    Case("run-as-of-empty", (*RUN, "--as-of", ""), "--as-of '' is not a date"),
    Case(
        "run-due-until-slashes",
        ("run-due", "--until", "03/04/2026", "--dry-run"),
        "--until '03/04/2026'",
    ),
    Case(
        "run-due-unknown-report",
        ("run-due", "--report", "market_overveiw", "--dry-run"),
        "unknown report(s) 'market_overveiw'",
    ),
    Case(
        "run-param-wrong-type",
        (*RUN, "--as-of", "2024-01-31", "-p", "universe=123"),
        "parameter universe=123 is an int, but report 'market_overview' expects a str",
    ),
    Case(
        "run-params-file-malformed",
        (*RUN, "--as-of", "2024-01-31", "--params", "{files}/p.yml"),
        "p.yml: line 2",
        setup=_bad_user_yml,
    ),
    Case(
        "run-report-yml-malformed",
        (*RUN, "--as-of", "2024-01-31"),
        "market_overview.yml: line 3",
        setup=_bad_params_yml,
    ),
    Case(
        "run-disk-full",
        (*RUN, "--as-of", "2024-02-08"),
        "no space left on device",
        setup=lambda sb: full_disk_at(sb, MO, spare=16 * 1024),
    ),
    Case(
        "env-ctrl-c-run",
        (*RUN, "--as-of", "2024-02-08"),
        "interrupted",
        rc=130,
        interrupt_when="files/tmp/quantbook-kernels-*/*.json",  # the kernel has started
        env={"TMPDIR": "{files}/tmp"},  # a kernel connection file left there is a change
        setup=_tmpdir,
    ),
    Case(
        "env-sigterm-run",
        (*RUN, "--as-of", "2024-02-08"),
        "terminated",
        rc=143,
        interrupt_with=signal.SIGTERM,
        interrupt_when="files/tmp/quantbook-kernels-*/*.json",  # the kernel has started
        env={"TMPDIR": "{files}/tmp"},  # a kernel connection file left there is a change
        setup=_tmpdir,
    ),
]


TUSHARE_HEADER = "ts_code,trade_date,open,high,low,close,pre_close,vol,amount,name\n"
TUSHARE_ROW = "600000.SH,20210301,10.0,10.2,9.9,10.1,10.0,1200,1212.0,浦发银行\n"


def _user_file(name: str, content: str | bytes) -> Callable[[Sandbox], None]:
    """A setup writing one of the user's files (text as UTF-8)."""

    def setup(sb: Sandbox) -> None:
        data = content.encode() if isinstance(content, str) else content
        (sb.files / name).write_bytes(data)

    return setup


def _parquet_file(sb: Sandbox, name: str, *, damage: str) -> None:
    """A one-row Tushare Parquet export, ``truncated`` (no footer) or with ``pages`` overwritten."""
    import io

    import pandas as pd

    df = pd.read_csv(io.StringIO(TUSHARE_HEADER + TUSHARE_ROW * 50), dtype={"ts_code": str})
    path = sb.files / name
    df.to_parquet(path, compression="zstd")
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    else:
        raw[4:40] = b"\xff" * 36
    path.write_bytes(bytes(raw))


def _damage_table(sb: Sandbox) -> None:
    path = sb.store / "daily_bars.parquet"
    raw = bytearray(path.read_bytes())
    raw[4:40] = b"\xff" * 36
    path.write_bytes(bytes(raw))


def _data_on_tmpfs(sb: Sandbox, *, free: int) -> None:
    """Move the data root onto a tmpfs with about ``free`` bytes left (a nearly full disk)."""
    used = sum(f.stat().st_size for f in sb.data.rglob("*") if f.is_file())
    aside = sb.base / "data-aside"
    sb.data.rename(aside)
    tiny_tmpfs(sb.data, size=str(used + free + 1024 * 1024))
    shutil.copytree(aside, sb.data, dirs_exist_ok=True)
    shutil.rmtree(aside)
    left = os.statvfs(sb.data).f_bavail * os.statvfs(sb.data).f_frsize
    with (sb.data / "filler").open("wb") as f:  # the rest of the disk, used by another program
        f.write(b"\0" * max(left - free, 0))


def _data_read_only(sb: Sandbox) -> None:
    """Bind-mount the data root read-only over itself (root ignores permissions, not mounts)."""
    for cmd in (
        ["mount", "--bind", str(sb.data), str(sb.data)],
        ["mount", "-o", "remount,ro,bind", str(sb.data)],
    ):
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"cannot bind-mount read-only here: {proc.stderr.decode().strip()}")


def _tushare_csv(sb: Sandbox) -> None:
    (sb.files / "600000.SH.csv").write_text(TUSHARE_HEADER + TUSHARE_ROW)


def _two_setups(*steps: Callable[[Sandbox], None]) -> Callable[[Sandbox], None]:
    def setup(sb: Sandbox) -> None:
        for step in steps:
            step(sb)

    return setup


IMPORT = ("data", "import", "{files}", "--name", "mine", "--quiet")
TUSHARE = ("--mapping", "tushare_daily")

# -- data commands: unreadable inputs, damaged stores, full or read-only disks (ids import-, data-)
DATA_ERRORS: list[Case] = [
    Case("import-empty-csv", IMPORT, "x.csv: the file is empty", setup=_user_file("x.csv", "")),
    Case(
        "import-empty-csv-with-mapping",
        (*IMPORT, *TUSHARE),
        "x.csv: the file is empty",
        setup=_user_file("x.csv", ""),
    ),
    Case(
        "import-header-only-csv",
        IMPORT,
        "x.csv: header only, no rows",
        setup=_user_file("x.csv", TUSHARE_HEADER),
    ),
    Case(
        "import-truncated-parquet",
        IMPORT,
        "p.parquet: not a readable Parquet file (truncated or damaged: parquet magic bytes",
        setup=lambda sb: _parquet_file(sb, "p.parquet", damage="truncated"),
    ),
    Case(
        "import-damaged-parquet-pages",
        IMPORT,
        "p.parquet: not a readable Parquet file (truncated or damaged: couldn't deserialize",
        setup=lambda sb: _parquet_file(sb, "p.parquet", damage="pages"),
    ),
    Case(
        "import-gbk-csv",
        IMPORT,
        "imported store 'mine'",
        rc=0,
        setup=_user_file("600000.SH.csv", (TUSHARE_HEADER + TUSHARE_ROW).encode("gbk")),
        changes=("data/mine",),
    ),
    Case(
        "import-undecodable-csv",
        (*IMPORT, *TUSHARE),
        "x.csv: neither UTF-8 nor GBK / GB18030 text (byte 0xff",
        setup=_user_file("x.csv", TUSHARE_HEADER.encode() + b"600000.SH,\xff\xfe\n"),
    ),
    Case(
        "import-missing-detected-column",
        IMPORT,
        "x.csv looks like a 'tushare_daily' export but lacks column(s) ['vol']",
        setup=_user_file("x.csv", "ts_code,trade_date,pre_close,amount\n600000.SH,20210301,1,1\n"),
    ),
    Case(
        "import-malformed-yaml-mapping",
        (*IMPORT, "--mapping", "{files}/m.yml"),
        "m.yml: not valid YAML (line 3:",
        setup=_two_setups(
            _tushare_csv, _user_file("m.yml", "format: 1\nsources:\n  - {pattern: *.csv}\n")
        ),
    ),
    Case(
        "data-corrupt-store-json",
        ("data", "validate", "tiny"),
        "store.json of store 'tiny' at",
        setup=lambda sb: (sb.store / "store.json").write_text('{\n  "name": "tiny",\n'),
    ),
    Case(
        "data-corrupt-store-json-line",
        ("data", "info", "tiny"),
        "is damaged (line 1: Expecting value); rebuild or restore it",
        setup=lambda sb: (sb.store / "store.json").write_text("\x00garbage"),
    ),
    Case(
        "data-root-is-a-file",
        IMPORT,
        "is a file, not a folder",
        setup=_two_setups(_tushare_csv, lambda sb: (sb.base / "datafile").write_text("x")),
        env={"QUANTBOOK_DATA": "{base}/datafile"},
    ),
    Case(
        "data-validate-damaged-table",
        ("data", "validate", "tiny"),
        "daily_bars.parquet of store 'tiny' is not a readable Parquet file",
        setup=_damage_table,
    ),
    Case(
        "data-info-damaged-table",
        ("data", "info", "tiny"),
        "daily_bars.parquet of store 'tiny' is not a readable Parquet file",
        setup=_damage_table,
    ),
    Case(
        "data-build-disk-full",
        ("data", "build", "--preset", "smoke", "--name", "smoke", "--quiet"),
        "smoke: no space left on device; no store was written",
        setup=lambda sb: _data_on_tmpfs(sb, free=256 * 1024),
    ),
    Case(
        "import-disk-full",
        IMPORT,
        "mine: no space left on device; no store was written",
        setup=_two_setups(_tushare_csv, lambda sb: _data_on_tmpfs(sb, free=0)),
    ),
    Case(
        "import-read-only-data",
        IMPORT,
        "mine: read-only file system; no store was written",
        setup=_two_setups(_tushare_csv, _data_read_only),
    ),
]

ERRORS: list[Case] = RUN_ERRORS + DATA_ERRORS

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
    if case.interrupt_when is not None:
        proc = subprocess.Popen(
            cmd, cwd=sb.base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 300
        while not list(sb.base.glob(case.interrupt_when)) and proc.poll() is None:
            assert time.monotonic() < deadline, f"{case.id}: {case.interrupt_when} never appeared"
            time.sleep(0.05)
        assert proc.poll() is None, f"{case.id}: the command ended before the interrupt"
        proc.send_signal(case.interrupt_with)
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
