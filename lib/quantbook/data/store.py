"""The data store: Parquet tables under ``data/<name>/`` with one read API.

Layout of a store folder::

    data/<name>/
        store.json                 metadata: source, parameters, span, tables, unavailable items
        <table>.parquet            one file per table of :mod:`quantbook.data.schema`
        validation_report.parquet  soft findings of the validation (table, rule, column, count, example)

Writes go through :class:`StoreWriter`, which validates every table, writes into a temporary
sibling folder and swaps it in only when everything succeeded: an interrupted build or import
leaves the previous store as it was.

A build or import replaces only what is its own to replace (:func:`check_target`): the folder
``data/<name>`` must be absent or a store of the same source (``synthetic`` for ``data build``,
``files`` for ``data import``, whatever the files or the preset were). A store of another source
is replaced only with ``replace=True`` (``--replace``); a file, a link or a folder that is not a
store (no ``store.json``) is never replaced. Replacing a store drops its ``cache/`` (trained
models, factor histories), which was derived from the old data.

The temporary folder ``data/.<name>.tmp-<hex>`` holds a marker (:data:`WRITER_MARKER`) with the
writer's process id and host; a later writer of the same name removes the temporary folders
whose marker names a dead process of this host (a build killed by SIGTERM or SIGKILL), and
nothing else.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantbook.data.atomic import atomic_replace_dir
from quantbook.data.calendar import DateLike, TradingCalendar, calendar_record, outside_coverage
from quantbook.data.schema import TABLES, TableSpec, table_spec
from quantbook.data.validate import Finding, coerce, findings_frame, validate_table
from quantbook.errors import QuantbookError

FORMAT_VERSION = 1
META_FILE = "store.json"
REPORT_TABLE = "validation_report"
#: Sub-folder of a store where derived results (factor histories, models) are cached.
CACHE_DIR = "cache"
#: A store name: a plain folder name (letters, digits, ``_``, ``-``, ``.``; ``.`` / ``-`` not first).
STORE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: File in a writer's temporary folder naming its process (``{"pid": ..., "host": ...}``).
WRITER_MARKER = ".quantbook-writer.json"


class StoreNotFoundError(FileNotFoundError):
    """No store of that name exists under the data root."""


class DataUnavailableError(LookupError):
    """A table or column is not available in this store (the reason is in the message)."""


class StoreTargetError(QuantbookError):
    """The store name is not a plain folder name, or its folder is not this command's to replace."""


class DataRootError(QuantbookError):
    """The data root (``QUANTBOOK_DATA``) is not a folder."""


class StoreDamagedError(QuantbookError):
    """A store's ``store.json`` or one of its table files cannot be read."""


class StoreWriteError(QuantbookError):
    """The file system refused a store's files (full, read-only, no permission)."""


#: ``errno`` codes of a write the file system refused, with the cause a user is told.
WRITE_FAULTS: dict[int, str] = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def one_line(error: BaseException) -> str:
    """An exception's message on one line (pyarrow's messages span several)."""
    return " ".join(str(error).split())


def read_parquet(
    path: Path,
    *,
    store: str,
    columns: Sequence[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
) -> pd.DataFrame:
    """Read a store's Parquet file; a damaged file raises :class:`StoreDamagedError` naming it.

    Parameters
    ----------
    path
        The table file.
    store
        The store's name (for the message).
    columns, filters
        As :func:`pyarrow.parquet.read_table`.

    Returns
    -------
    pandas.DataFrame
        The table.
    """
    try:
        return pq.read_table(
            path, columns=list(columns) if columns else None, filters=filters or None
        ).to_pandas()
    except (pa.ArrowInvalid, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise StoreDamagedError(f"cannot read {path} of store {store!r}: {e.strerror}") from e
        raise StoreDamagedError(
            f"table file {path} of store {store!r} is not a readable Parquet file "
            f"(truncated or damaged: {one_line(e)}); rebuild or restore the store"
        ) from e


def repo_root() -> Path:
    """The repository root (``QUANTBOOK_ROOT`` overrides): the folder holding ``pyproject.toml``."""
    env = os.environ.get("QUANTBOOK_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "lib" / "quantbook").is_dir():
            return parent
    return Path.cwd()


def data_root() -> Path:
    """Folder holding the stores: ``QUANTBOOK_DATA`` or ``<repo>/data``."""
    env = os.environ.get("QUANTBOOK_DATA")
    if not env:
        return repo_root() / "data"
    root = Path(env).resolve()
    if root.exists() and not root.is_dir():
        raise DataRootError(
            f"QUANTBOOK_DATA={env} is a file, not a folder (it must name the folder of the stores)"
        )
    return root


def list_stores(root: Path | None = None) -> list[str]:
    """Names of the stores under ``root`` (default :func:`data_root`)."""
    root = root or data_root()
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if (p / META_FILE).is_file() and not p.name.startswith(".")
    )


#: Store fingerprints of this process by (folder, the files' (name, size, mtime_ns)).
_FINGERPRINTS: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Store:
    """A read-only view of one store.

    Parameters
    ----------
    path
        The store folder (``data/<name>``).

    Examples
    --------
    >>> store = open_store("smoke")                                     # doctest: +SKIP
    >>> bars = store.read("daily_bars", start="2024-01-01", codes=["600000.SH"])  # doctest: +SKIP
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        meta_path = self.path / META_FILE
        if not meta_path.is_file():
            raise StoreNotFoundError(f"no store at {self.path} (missing {META_FILE})")
        self.meta: dict[str, Any] = _read_meta(meta_path)
        #: The folder's name: the name the store is opened under (``store.json`` keeps the name
        #: it was written as, which differs for a copied or renamed folder).
        self.name: str = self.path.name
        self._cache: dict[str, pd.DataFrame] = {}

    def __repr__(self) -> str:
        span = self.meta.get("span", {})
        return (
            f"Store({self.name!r}, source={self.source!r}, {span.get('start')}..{span.get('end')})"
        )

    # -- metadata -------------------------------------------------------------------------
    @property
    def source(self) -> str:
        return str(self.meta.get("source", "unknown"))

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta["span"]["start"])

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.meta["span"]["end"])

    def tables(self) -> list[str]:
        """Tables stored as files (minute bars generated on demand are not listed)."""
        return sorted(self.meta.get("tables", {}))

    def unavailable(self) -> dict[str, str]:
        """``{"table" or "table.column": reason}`` for everything this store cannot provide."""
        return dict(self.meta.get("unavailable", {}))

    def has(self, table_name: str, column: str | None = None) -> bool:
        """Whether the table (and column) holds data in this store."""
        if table_name == "minute_bars" and column is None:
            return "minute_bars" in self.meta.get("tables", {}) or bool(
                self.meta.get("minute_source")
            )
        if table_name not in self.meta.get("tables", {}):
            return False
        return column is None or f"{table_name}.{column}" not in self.meta.get("unavailable", {})

    def require(self, table_name: str, column: str | None = None) -> None:
        """Raise :class:`DataUnavailableError` with the recorded reason unless available."""
        if self.has(table_name, column):
            return
        key = table_name if column is None else f"{table_name}.{column}"
        reason = (
            self.unavailable().get(key) or self.unavailable().get(table_name) or "not in this store"
        )
        raise DataUnavailableError(f"store {self.name!r}: {key} is unavailable: {reason}")

    def data_sessions(self) -> pd.DatetimeIndex:
        """The store's sessions taken from its data (outside the exchange calendar's range).

        Recorded in ``store.json`` (``calendar.data_sessions``) when the store was written;
        empty for a store written before the record existed (its dates were all XSHG sessions).
        """
        recorded = (self.meta.get("calendar") or {}).get("data_sessions", [])
        return pd.DatetimeIndex(pd.to_datetime(recorded).astype("datetime64[ns]"), name="date")

    def calendar(self) -> TradingCalendar:
        """The SSE calendar plus the store's data sessions, restricted to the store's span."""
        return TradingCalendar(self.start, self.end, extra=self.data_sessions())

    def fingerprint(self) -> str:
        """SHA-256 over the table files' names and contents (16 hex digits), for provenance.

        Files under ``cache/`` (derived results) are not part of the data and are left out.

        Notes
        -----
        Memoized in the process per (store folder, every file's (name, size, mtime_ns)): a
        second call costs one ``stat`` per file, not a hash of its content; a file written,
        added or removed since changes the signature and the files are hashed again.
        """
        files = [
            p
            for p in sorted(self.path.rglob("*.parquet"))
            if p.relative_to(self.path).parts[0] != CACHE_DIR  # derived results, not data
        ]
        signature = []
        for p in files:
            st = p.stat()
            signature.append((p.relative_to(self.path).as_posix(), st.st_size, st.st_mtime_ns))
        memo_key = (str(self.path.resolve()), tuple(signature))
        known = _FINGERPRINTS.get(memo_key)
        if known is not None:
            return known
        h = hashlib.sha256()
        for p, (rel, _, _) in zip(files, signature, strict=True):
            h.update(rel.encode())
            h.update(_file_sha256(p).encode())
        value = h.hexdigest()[:16]
        _FINGERPRINTS[memo_key] = value
        return value

    def read_extra(self, relpath: str) -> pd.DataFrame:
        """Read a source-specific table written with :meth:`StoreWriter.write_extra`."""
        path = self.path / f"{relpath}.parquet"
        if not path.is_file():
            raise DataUnavailableError(f"store {self.name!r} has no table {relpath!r}")
        return read_parquet(path, store=self.name)

    def validation_report(self) -> pd.DataFrame:
        """Soft findings recorded when the store was written."""
        p = self.path / f"{REPORT_TABLE}.parquet"
        if not p.exists():
            return pd.DataFrame(columns=["table", "rule", "column", "count", "example"])
        return read_parquet(p, store=self.name)

    # -- reading --------------------------------------------------------------------------
    def read(
        self,
        table_name: str,
        *,
        start: DateLike | None = None,
        end: DateLike | None = None,
        codes: Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Read a table, filtered by date range, codes and columns.

        Parameters
        ----------
        table_name
            A table of :data:`quantbook.data.schema.TABLES`.
        start, end
            Inclusive bounds on the table's date column. For spell tables, spells that overlap
            ``[start, end]`` are returned.
        codes
            Keep only these codes (the ``code`` column).
        columns
            Columns to return (default: all).
        """
        spec = table_spec(table_name)
        if table_name == "minute_bars" and "minute_bars" not in self.meta.get("tables", {}):
            return self.minute_bars(self.calendar().range(start, end), codes=codes, columns=columns)
        self.require(table_name)
        if columns is not None:
            missing = [c for c in columns if c not in spec.column_names]
            if missing:
                raise KeyError(f"table {table_name!r} has no column(s) {missing}")
            for c in columns:
                self.require(table_name, c)
        filters: list[tuple[str, str, Any]] = []
        if spec.kind == "spells":
            if end is not None:
                filters.append(("start", "<=", pd.Timestamp(end)))
        elif spec.date_column is not None:
            if start is not None:
                filters.append((spec.date_column, ">=", pd.Timestamp(start)))
            if end is not None:
                filters.append((spec.date_column, "<=", pd.Timestamp(end)))
        code_list = None if codes is None else list(dict.fromkeys(codes))
        if code_list is not None:
            filters.append(("code", "in", code_list))
        path = self.path / f"{table_name}.parquet"
        df = read_parquet(path, store=self.name, columns=columns, filters=filters)
        if spec.kind == "spells" and start is not None and "end" in df.columns:
            df = df[df["end"].isna() | (df["end"] > pd.Timestamp(start))]
        return df.reset_index(drop=True)

    def panel(
        self,
        field: str,
        *,
        table_name: str = "daily_bars",
        start: DateLike | None = None,
        end: DateLike | None = None,
        codes: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """A wide ``date x code`` frame of one field (NaN where a stock has no row)."""
        df = self.read(
            table_name, start=start, end=end, codes=codes, columns=["date", "code", field]
        )
        return df.pivot(index="date", columns="code", values=field).sort_index()

    def minute_bars(
        self,
        dates: Iterable[DateLike],
        *,
        codes: Iterable[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One-minute bars for the given days: read if stored, else regenerated by the source."""
        date_list = [pd.Timestamp(d) for d in dates]
        if "minute_bars" in self.meta.get("tables", {}):
            df = self.read(
                "minute_bars",
                start=min(date_list),
                end=max(date_list),
                codes=codes,
                columns=columns,
            )
            return df[df["date"].isin(date_list)].reset_index(drop=True)
        gen = self.meta.get("minute_source")
        if not gen:
            self.require("minute_bars")
            raise DataUnavailableError(f"store {self.name!r}: minute_bars are unavailable")
        module = importlib.import_module(gen["module"])
        out: pd.DataFrame = module.regenerate_minutes(self, date_list, codes=codes)
        return out if columns is None else out[list(columns)]


def _read_meta(path: Path) -> dict[str, Any]:
    """A store's ``store.json``; :class:`StoreDamagedError` if it is not a JSON object."""
    where = f"{META_FILE} of store {path.parent.name!r} at {path.parent}"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise StoreDamagedError(
            f"{where} is damaged (line {e.lineno}: {e.msg}); rebuild or restore it"
        ) from None
    except UnicodeDecodeError as e:
        raise StoreDamagedError(
            f"{where} is damaged (not UTF-8 text at byte {e.start}); rebuild or restore it"
        ) from None
    if not isinstance(meta, dict):
        raise StoreDamagedError(
            f"{where} is damaged (a JSON object was expected, found {type(meta).__name__}); "
            "rebuild or restore it"
        )
    return meta


def open_store(name: str = "default", *, root: Path | None = None) -> Store:
    """Open the store ``name`` under ``root`` (default :func:`data_root`).

    Raises
    ------
    StoreNotFoundError
        With the command that builds it, if it does not exist.
    """
    path = (root or data_root()) / name
    if not (path / META_FILE).is_file():
        known = list_stores(root)
        raise StoreNotFoundError(
            f"no data store {name!r} under {path.parent} (known: {', '.join(known) or 'none'}). "
            f"Build one with: quantbook data build --source synthetic --preset default --name {name}"
        )
    return Store(path)


# -- what a build or import may replace ----------------------------------------------------------
def check_store_name(name: str) -> str:
    """Return ``name`` if it is a plain folder name, else raise :class:`StoreTargetError`.

    Notes
    -----
    A store name matches :data:`STORE_NAME_RE`: 1 to 128 letters, digits, ``_``, ``-`` and
    ``.``, the first neither ``.`` nor ``-`` (no paths, no hidden folders, no options).
    """
    if not isinstance(name, str) or not STORE_NAME_RE.match(name):
        raise StoreTargetError(
            f"{name!r} is not a valid store name: a store name is a plain folder name under the "
            "data root (letters, digits, '_', '-' and '.', not starting with '.' or '-')"
        )
    return name


def _meta_source(path: Path) -> str | None:
    """The ``source`` recorded in ``path/store.json``; None if absent or unreadable."""
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    source = meta.get("source") if isinstance(meta, dict) else None
    return str(source) if source is not None else None


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def check_target(
    name: str, *, source: str, replace: bool = False, root: Path | None = None
) -> Path | None:
    """Check that writing store ``name`` from ``source`` replaces only what it may replace.

    Parameters
    ----------
    name
        Store name (checked by :func:`check_store_name`).
    source
        The writer's source (``synthetic``, ``files``...).
    replace
        Allow replacing a store of another source.
    root
        Data root (default :func:`data_root`).

    Returns
    -------
    Path or None
        The existing store that the write will replace, or None if there is none.

    Raises
    ------
    StoreTargetError
        If ``data/<name>`` is a file, a link, a folder without a readable ``store.json`` (not a
        store: never replaced), or a store of another source and ``replace`` is false.

    Notes
    -----
    A store is "of this source" when its ``store.json`` records the same ``source``, whatever
    its parameters (preset, seed, imported paths, mapping): rebuilding or re-importing under the
    same name replaces it, and the pages made from it become stale (``quantbook run-due``
    reruns them).
    """
    check_store_name(name)
    path = (root or data_root()) / name
    if path.is_symlink():
        raise StoreTargetError(
            f"{path} is a symbolic link, not a store folder; refusing to replace it "
            "(choose another --name)"
        )
    if not path.exists():
        return None
    if not path.is_dir():
        raise StoreTargetError(
            f"{path} is a file, not a store; refusing to replace it (choose another --name)"
        )
    old = _meta_source(path)
    if old is None:
        n = _count_files(path)
        shown = ", ".join(sorted(p.name for p in path.iterdir())[:3])
        raise StoreTargetError(
            f"{path} is a folder that is not a quantbook store (no readable {META_FILE}; "
            f"{n} file(s){f': {shown}' if shown else ''}); refusing to replace it: choose another "
            "--name, or move the folder away"
        )
    if old != source and not replace:
        cached = _count_files(path / CACHE_DIR)
        raise StoreTargetError(
            f"store {name!r} at {path} holds data from source {old!r}, not {source!r}; replacing it "
            f"would delete its tables and its {CACHE_DIR}/ ({cached} file(s): trained models and "
            "factor histories derived from those data), and pages made from it could no longer be "
            "reproduced; pass --replace to replace it, or choose another --name"
        )
    return path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a process of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temp_folders(name: str, *, root: Path | None = None) -> list[Path]:
    """Temporary folders ``.<name>.tmp-*`` left by a writer process that no longer runs.

    Notes
    -----
    Only folders holding a :data:`WRITER_MARKER` that names a dead process of this host are
    returned: a folder without the marker (not made by :class:`StoreWriter`), or of a live
    process, or of another host, is never listed.
    """
    root = root or data_root()
    if not root.is_dir():
        return []
    host = socket.gethostname()
    out = []
    for p in sorted(root.glob(f".{name}.tmp-*")):
        try:
            mark = json.loads((p / WRITER_MARKER).read_text())
            pid, mark_host = int(mark["pid"]), str(mark["host"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if p.is_dir() and not p.is_symlink() and mark_host == host and not pid_alive(pid):
            out.append(p)
    return out


class StoreWriter:
    """Write a store atomically: validate every table, then swap the folder in at commit.

    Use as a context manager; leaving the block without :meth:`commit` (or with an
    exception) discards everything written, and an existing store of the same name stays.
    The target is checked by :func:`check_target` when the writer is made and again at commit;
    entering removes the temporary folders of dead writers of the same name
    (:func:`stale_temp_folders`).

    Parameters
    ----------
    name
        Store name (folder under the data root).
    source
        ``synthetic``, ``files`` or ``akshare``.
    params
        Source parameters recorded in ``store.json`` (preset, seed, paths, mapping...).
    root
        Data root (default :func:`data_root`).
    replace
        Allow replacing a store of another source (see :func:`check_target`).
    """

    def __init__(
        self,
        name: str,
        *,
        source: str,
        params: dict[str, Any] | None = None,
        root: Path | None = None,
        replace: bool = False,
    ) -> None:
        self.root = root or data_root()
        self.replace = replace
        self.source = source
        self.replaces = check_target(name, source=source, replace=replace, root=self.root)
        self.name = name
        self.final = self.root / name
        self.tmp = self.root / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
        self.meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "source": source,
            "params": params or {},
            "tables": {},
            "unavailable": {},
        }
        self.findings: list[Finding] = []
        self._committed = False
        self._span: list[pd.Timestamp] = []
        self._data_sessions = pd.DatetimeIndex([], dtype="datetime64[ns]")

    def __enter__(self) -> StoreWriter:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for left in stale_temp_folders(self.name, root=self.root):
                shutil.rmtree(left, ignore_errors=True)
            self.tmp.mkdir()
            marker = {"pid": os.getpid(), "host": socket.gethostname()}
            (self.tmp / WRITER_MARKER).write_text(json.dumps(marker) + "\n")
        except OSError as e:
            # __exit__ does not run when __enter__ fails: remove the temporary folder here
            shutil.rmtree(self.tmp, ignore_errors=True)
            error = self._write_error(e)
            if error is None:
                raise
            raise error from e
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            error = self._write_error(exc)
            if error is not None:
                raise error from exc

    def _write_error(self, exc: OSError) -> StoreWriteError | None:
        """A :class:`StoreWriteError` for a write the file system refused, else ``None``."""
        cause = WRITE_FAULTS.get(exc.errno or 0)
        if cause is None:
            return None
        kept = (
            "the previous store is unchanged"
            if (self.final / META_FILE).is_file()
            else "no store was written"
        )
        return StoreWriteError(f"cannot write {self.final}: {cause}; {kept}")

    def mark_unavailable(self, item: str, reason: str) -> None:
        """Record a table (``"minute_bars"``) or column (``"daily_bars.num_trades"``) as unavailable."""
        self.meta["unavailable"][item] = reason

    def write(
        self, table_name: str, df: pd.DataFrame, *, context: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Coerce ``df`` to the schema, validate it (hard errors raise), and write it.

        Optional columns absent from ``df`` are recorded as unavailable. Returns the coerced frame.
        """
        spec: TableSpec = table_spec(table_name)
        missing_optional = [
            c.name for c in spec.columns if not c.required and c.name not in df.columns
        ]
        data = coerce(spec, df)
        for c in missing_optional:
            key = f"{table_name}.{c}"
            self.meta["unavailable"].setdefault(key, "not provided by the source")
        self.findings.extend(validate_table(spec, data, context=context or {}))
        path = self.tmp / f"{table_name}.parquet"
        arrow = pa.Table.from_pandas(data, preserve_index=False)
        pq.write_table(
            arrow, path, compression="zstd", row_group_size=256 * 1024, write_statistics=True
        )
        self.meta["tables"][table_name] = {"rows": len(data), "columns": list(data.columns)}
        if spec.date_column and spec.kind == "panel" and len(data):
            self._span += [data[spec.date_column].min(), data[spec.date_column].max()]
            dates = pd.DatetimeIndex(data[spec.date_column].unique())
            self._data_sessions = self._data_sessions.union(outside_coverage(dates))
        return data

    def write_extra(self, relpath: str, df: pd.DataFrame) -> None:
        """Write a source-specific table outside the schema (e.g. a simulator's ground truth).

        Such tables live in sub-folders of the store, are covered by the fingerprint, and are
        never read by reports.
        """
        path = self.tmp / f"{relpath}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, compression="zstd")
        self.meta.setdefault("extra_tables", []).append(relpath)

    def commit(self, *, extra_meta: dict[str, Any] | None = None) -> Store:
        """Write metadata and the validation report, then swap the new store in."""
        if extra_meta:
            self.meta.update(extra_meta)
        self.meta["calendar"] = calendar_record(self._data_sessions)
        if "span" not in self.meta and self._span:
            self.meta["span"] = {
                "start": str(min(self._span).date()),
                "end": str(max(self._span).date()),
            }
        for t in TABLES.values():
            if t.name not in self.meta["tables"] and t.name not in self.meta["unavailable"]:
                if t.name == "minute_bars" and self.meta.get("minute_source"):
                    continue
                self.meta["unavailable"][t.name] = "not provided by the source"
        report = pd.DataFrame(
            [f.as_row() for f in self.findings],
            columns=["table", "rule", "column", "count", "example"],
        )
        report["count"] = report["count"].astype(np.int64)
        pq.write_table(
            pa.Table.from_pandas(report, preserve_index=False), self.tmp / f"{REPORT_TABLE}.parquet"
        )
        self.meta["validation"] = {
            "findings": len(self.findings),
            "flagged_rows": int(report["count"].sum()),
        }
        self.meta["unavailable"] = dict(sorted(self.meta["unavailable"].items()))
        (self.tmp / META_FILE).write_text(
            json.dumps(self.meta, indent=2, ensure_ascii=False, default=str) + "\n"
        )
        check_target(self.name, source=self.source, replace=self.replace, root=self.root)
        (self.tmp / WRITER_MARKER).unlink()
        atomic_replace_dir(self.tmp, self.final)
        self._committed = True
        return Store(self.final)


# -- validation of a whole store -------------------------------------------------------------------
def store_context(store: Store) -> dict[str, Any]:
    """The validation context of a store: its instruments and ST spells where it has them.

    Parameters
    ----------
    store
        An open store.

    Returns
    -------
    dict
        ``{"instruments": frame, "st_status": frame}`` for the tables the store holds, and
        ``data_sessions``: the store's sessions outside the exchange calendar's range.
    """
    context: dict[str, Any] = {"data_sessions": store.data_sessions()}
    for name in ("instruments", "st_status"):
        if name in store.tables():
            context[name] = store.read(name)
    return context


def revalidate_store(store: Store) -> pd.DataFrame:
    """Re-read every table of a store, re-run the schema and domain rules, and report.

    Parameters
    ----------
    store
        An open store.

    Returns
    -------
    pandas.DataFrame
        The soft findings (columns ``table, rule, column, count, example``).

    Raises
    ------
    DataValidationError
        If a table breaks a hard rule.
    """
    context = store_context(store)
    findings: list[Finding] = []
    for name in store.tables():
        spec = table_spec(name)
        data = coerce(spec, read_parquet(store.path / f"{name}.parquet", store=store.name))
        findings.extend(validate_table(spec, data, context=context))
    return findings_frame(findings)
