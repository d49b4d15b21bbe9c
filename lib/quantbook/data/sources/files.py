"""Import a user's own CSV / Parquet / Excel exports into a store, through a YAML mapping.

A *mapping* (``lib/quantbook/data/mappings/*.yml``, or any YAML file) says which input files
feed which store table and how their columns translate. Its top-level keys:

``format``
    Mapping format version (1).
``name``, ``description``
    What the mapping is for.
``detect``
    How to recognize the layout when no mapping is given: ``files`` (globs that must each
    match an input file) and/or ``columns`` (names that one input file must all have).
``ignore``
    ``[{pattern, reason}]``: input files that are deliberately not imported (recorded in the
    store's metadata with the reason). Any other file that no source matches is an error.
``sources``
    One entry per kind of input file:

    ``pattern``   glob(s) matched against the file's name and trailing path parts
    ``table``     target store table
    ``read``      ``format`` (csv / parquet / xls; default from the extension), ``header``
                  (false for headerless files, with ``names``), ``sep``, ``encoding``, ``sheet``
    ``columns``   ``target: source`` renames (a list gives alternative source names)
    ``optional``  like ``columns``, but taken only when the file has the column
    ``code``      ``from: column | filename`` and ``bare:`` how to read bare codes
                  (see :func:`quantbook.data.codes.normalize_code`)
    ``dates``     ``target: strftime format`` (e.g. ``"%Y%m%d"``)
    ``units``     ``target: factor`` to reach the store's units (lots -> shares: 100,
                  thousands of CNY -> CNY: 1000)
    ``constants`` ``target: value`` columns with one value
    ``flags``     ``target: {column, values, optional}`` booleans: true where the status
                  column holds one of ``values`` (``optional``: skip when the file lacks it)
    ``compute``   ``target: expression`` evaluated on the renamed frame (``float_mv / close``)
    ``drop_null`` targets whose missing values drop the row (counted in the report)
    ``transform`` ``{name, ...options}``: a reshaping step (:data:`TRANSFORMS`)
``derive``
    Ordered ``[{step, ...options}]`` run on the staged tables after reading (:data:`STEPS`):
    suspended rows, instruments, ST spells, adjustment factors, price limits...
``static``
    Small literal tables (``index_info``, ``etf_info`` metadata).
``unavailable``
    ``"table"`` or ``"table.column"``: reason, for what the source cannot provide.

Staging columns that are not in the store schema (``name``, ``float_mv``, ``weight``...) may be
mapped for the derive steps; they are dropped before writing. Every table is validated on
write (:mod:`quantbook.data.validate`); nothing is changed unless the whole import succeeds.
"""

from __future__ import annotations

import csv
import fnmatch
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from tqdm.auto import tqdm

from quantbook.data.calendar import TradingCalendar
from quantbook.data.codes import Bare, CodeFormatError, board_of, normalize_code
from quantbook.data.market_rules import limit_fraction, limit_prices
from quantbook.data.schema import TABLES, TableSpec, table_spec
from quantbook.data.store import Store, StoreWriter, check_target, one_line
from quantbook.data.validate import (
    NEW_LISTING_DAYS,
    SHOW_ROWS,
    DataValidationError,
    Finding,
    in_spells,
    session_positions,
)
from quantbook.data.vocabulary import SW_L1
from quantbook.errors import QuantbookError

#: Folder of the mappings shipped with the package.
MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"
MAPPING_FORMAT = 1
#: Encodings tried, in order, for a CSV file whose mapping names none: UTF-8 (with or without
#: a byte-order mark), then GB18030, the superset of GBK / GB2312 that Chinese vendor tools and
#: Excel on a Chinese Windows write. The one that decodes the file is recorded in the store.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")

#: Columns that a mapping may stage for the derive steps although the schema lacks them.
STAGING_COLUMNS: dict[str, str] = {
    "name": "str",
    "float_mv": "float",
    "total_mv": "float",
    "weight": "float",
    "sw_code": "str",
}
#: Columns holding codes (normalized on read); index codes use the index numbering rules.
CODE_COLUMNS = ("code", "index_code", "tracked_index")

_SOURCE_KEYS = {
    "pattern", "table", "read", "columns", "optional", "code", "dates", "units", "constants",
    "flags", "compute", "drop_null", "transform",
}  # fmt: skip
_TOP_KEYS = {
    "format", "name", "description", "detect", "ignore", "sources", "derive", "static",
    "unavailable",
}  # fmt: skip


class MappingError(ValueError):
    """A mapping file is malformed, or input files do not fit the mapping."""


class InputFileError(QuantbookError):
    """An input file cannot be read: empty, header only, damaged, or in an unknown encoding."""


class HeaderOnlyFileError(InputFileError):
    """An input file holds a header and no rows (skipped, with a finding, when others have rows)."""


class UnclassifiedIndustryWarning(UserWarning):
    """Industry records whose code maps to no SW2021 level-1 industry were left unclassified."""


# ---------------------------------------------------------------------------------------------
# The mapping
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceSpec:
    """One ``sources`` entry of a mapping: how one kind of input file becomes table rows."""

    patterns: tuple[str, ...]
    table: str
    read: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    optional: dict[str, tuple[str, ...]] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    dates: dict[str, str] = field(default_factory=dict)
    units: dict[str, float] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    compute: dict[str, str] = field(default_factory=dict)
    drop_null: tuple[str, ...] = ()
    transform: dict[str, Any] | None = None

    def matches(self, path: Path) -> bool:
        """Whether ``path`` matches one of the source's patterns."""
        return _matches(path, self.patterns)


@dataclass(frozen=True)
class MappingSpec:
    """A parsed mapping file (see the module documentation for the format)."""

    name: str
    description: str
    path: Path
    detect: dict[str, list[str]]
    ignore: tuple[tuple[str, str], ...]
    sources: tuple[SourceSpec, ...]
    derive: tuple[dict[str, Any], ...]
    static: dict[str, list[dict[str, Any]]]
    unavailable: dict[str, str]


def _matches(path: Path, patterns: Sequence[str]) -> bool:
    parts = path.parts
    tails = ["/".join(parts[i:]) for i in range(len(parts) - 1, -1, -1)]
    return any(fnmatch.fnmatchcase(t, p) for p in patterns for t in tails)


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped in :data:`MAPPINGS_DIR`.

    Returns
    -------
    list of str
        Mapping names (file stems), sorted.
    """
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yml"))


def load_mapping(mapping: str | Path) -> MappingSpec:
    """Load and check a mapping: a shipped mapping's name or a YAML file's path.

    Parameters
    ----------
    mapping
        ``"tushare_daily"`` (a shipped name) or a path to a ``.yml`` file.

    Returns
    -------
    MappingSpec
        The parsed mapping.

    Raises
    ------
    MappingError
        If the file is missing or malformed (unknown keys, unknown tables or columns).
    """
    path = Path(mapping)
    if not path.suffix and not path.exists():
        path = MAPPINGS_DIR / f"{mapping}.yml"
    if not path.is_file():
        raise MappingError(
            f"mapping {str(mapping)!r} not found: give a YAML path or one of {shipped_mappings()}"
        )
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: a mapping must be a YAML mapping at the top level")
    return _parse_mapping(raw, path)


def _read_yaml(path: Path) -> Any:
    """The YAML document of a mapping file; :class:`MappingError` with the line if malformed."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise MappingError(
            f"mapping {path}: not UTF-8 text (byte {e.start}); re-save it as UTF-8"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or one_line(e)
        raise MappingError(f"mapping {path}: not valid YAML ({where}{problem})") from None


def _parse_mapping(raw: dict[str, Any], path: Path) -> MappingSpec:
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise MappingError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    if raw.get("format", MAPPING_FORMAT) != MAPPING_FORMAT:
        raise MappingError(f"{path}: mapping format {raw.get('format')!r} is not {MAPPING_FORMAT}")
    sources = tuple(_parse_source(s, path, i) for i, s in enumerate(raw.get("sources") or []))
    if not sources:
        raise MappingError(f"{path}: the mapping has no sources")
    derive = tuple(raw.get("derive") or [])
    for step in derive:
        if not isinstance(step, dict) or step.get("step") not in STEPS:
            raise MappingError(
                f"{path}: derive entry {step!r}: step must be one of {sorted(STEPS)}"
            )
        unknown_opts = set(step) - {"step"} - STEP_OPTIONS[str(step["step"])]
        if unknown_opts:
            raise MappingError(
                f"{path}: derive step {step['step']!r} has unknown option(s) {sorted(unknown_opts)}; "
                f"it takes {sorted(STEP_OPTIONS[str(step['step'])])}"
            )
    unavailable = {str(k): str(v) for k, v in (raw.get("unavailable") or {}).items()}
    for item in unavailable:
        _check_item(item, path)
    detect = {k: [str(x) for x in v] for k, v in (raw.get("detect") or {}).items()}
    if set(detect) - {"files", "columns"}:
        raise MappingError(f"{path}: detect takes 'files' and 'columns' only")
    ignore = tuple(
        (str(e["pattern"]), str(e.get("reason", "ignored by the mapping")))
        for e in (raw.get("ignore") or [])
    )
    static = {str(k): list(v) for k, v in (raw.get("static") or {}).items()}
    for name in static:
        table_spec(name)
    return MappingSpec(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")).strip(),
        path=path,
        detect=detect,
        ignore=ignore,
        sources=sources,
        derive=derive,
        static=static,
        unavailable=unavailable,
    )


def _check_item(item: str, path: Path) -> None:
    name, _, column = item.partition(".")
    try:
        spec = table_spec(name)
    except KeyError as e:
        raise MappingError(f"{path}: unavailable item {item!r}: {e.args[0]}") from None
    if column and column not in spec.column_names:
        raise MappingError(f"{path}: unavailable item {item!r}: no column {column!r}")


def _alternatives(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _parse_source(raw: Any, path: Path, i: int) -> SourceSpec:
    where = f"{path}: sources[{i}]"
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: must be a mapping")
    unknown = set(raw) - _SOURCE_KEYS
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {sorted(unknown)}")
    for key in ("pattern", "table"):
        if key not in raw:
            raise MappingError(f"{where}: missing {key!r}")
    try:
        spec = table_spec(str(raw["table"]))
    except KeyError as e:
        raise MappingError(f"{where}: {e.args[0]}") from None
    src = SourceSpec(
        patterns=_alternatives(raw["pattern"]),
        table=spec.name,
        read=dict(raw.get("read") or {}),
        columns={str(k): _alternatives(v) for k, v in (raw.get("columns") or {}).items()},
        optional={str(k): _alternatives(v) for k, v in (raw.get("optional") or {}).items()},
        code=dict(raw.get("code") or {}),
        dates={str(k): str(v) for k, v in (raw.get("dates") or {}).items()},
        units={str(k): float(v) for k, v in (raw.get("units") or {}).items()},
        constants={str(k): v for k, v in (raw.get("constants") or {}).items()},
        flags={str(k): dict(v) for k, v in (raw.get("flags") or {}).items()},
        compute={str(k): str(v) for k, v in (raw.get("compute") or {}).items()},
        drop_null=tuple(str(v) for v in (raw.get("drop_null") or [])),
        transform=dict(raw["transform"]) if raw.get("transform") else None,
    )
    targets = [*src.columns, *src.optional, *src.constants, *src.flags, *src.compute]
    allowed = set(spec.column_names) | set(STAGING_COLUMNS) | _transform_inputs(src)
    bad = [t for t in targets if t not in allowed]
    if bad:
        raise MappingError(
            f"{where}: target column(s) {bad} are neither columns of {spec.name!r} "
            f"{spec.column_names} nor staging columns {sorted(STAGING_COLUMNS)}"
        )
    for target, flag in src.flags.items():
        if set(flag) - {"column", "values", "optional"} or "column" not in flag:
            raise MappingError(
                f"{where}: flag {target!r} takes 'column', 'values' and 'optional', got {sorted(map(str, flag))}"
            )
    if src.transform is not None:
        name = src.transform.get("name")
        if name not in TRANSFORMS:
            raise MappingError(f"{where}: transform name must be one of {sorted(TRANSFORMS)}")
        unknown_opts = set(src.transform) - {"name"} - TRANSFORM_OPTIONS[str(name)]
        if unknown_opts:
            raise MappingError(
                f"{where}: transform {name!r} has unknown option(s) {sorted(unknown_opts)}"
            )
    return src


def _transform_inputs(src: SourceSpec) -> set[str]:
    """Extra input columns a source transform consumes (e.g. ``date`` for daily memberships)."""
    if src.transform is None:
        return set()
    return set(TRANSFORM_INPUTS.get(str(src.transform.get("name")), ()))


# ---------------------------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------------------------
def collect_files(paths: Sequence[str | Path]) -> list[Path]:
    """Files named directly or found under folders (recursively; hidden files skipped).

    Parameters
    ----------
    paths
        Files and folders.

    Returns
    -------
    list of Path
        Distinct files, folder contents sorted.

    Raises
    ------
    FileNotFoundError
        For a path that does not exist, or when no file is found.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and not _hidden(f.relative_to(p)))
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"input path {str(p)!r} does not exist")
    if not out:
        raise FileNotFoundError(f"no input files under {[str(p) for p in paths]}")
    return list(dict.fromkeys(out))


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _file_format(path: Path, read: Mapping[str, Any]) -> str:
    fmt = str(read.get("format") or path.suffix.lstrip(".").lower())
    aliases = {"csv": "csv", "txt": "csv", "tsv": "csv", "parquet": "parquet", "pq": "parquet"}
    if fmt in aliases:
        return aliases[fmt]
    if fmt == "xls":
        return "xls"
    raise MappingError(f"{path}: unsupported file format {fmt!r} (csv, parquet or xls)")


def file_columns(path: Path) -> list[str]:
    """Column names of a CSV (header line) or Parquet file, without reading its rows.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    list of str
        The names; empty for other formats.

    Raises
    ------
    InputFileError
        For an empty, damaged or undecodable file (naming it and the cause).
    """
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return list(_parquet_schema(path).names)
    if suffix in (".csv", ".txt", ".tsv"):
        header, _ = _read_csv(path, {}, nrows=0, sniff=True)
        return [str(c) for c in header.columns]
    return []


def detect_mapping(files: Sequence[Path]) -> MappingSpec:
    """The shipped mapping whose ``detect`` rules the input files satisfy.

    Parameters
    ----------
    files
        The input files.

    Returns
    -------
    MappingSpec
        The only matching mapping.

    Raises
    ------
    InputFileError
        When no mapping matches and an input file could not be read (the real cause).
    MappingError
        When none or several mappings match (pass ``mapping=`` then); when a mapping's
        detection columns are mostly present in a file, the message names the mapping, the
        file and the missing columns.

    Notes
    -----
    A *near miss* is a mapping whose ``files`` rules hold and whose ``columns`` rule a file
    meets for at least half of the names (and at least two); the one missing the fewest
    names is reported.
    """
    columns: dict[Path, set[str]] = {}
    unreadable: list[InputFileError] = []
    for f in files:
        try:
            columns[f] = set(file_columns(f))
        except InputFileError as e:
            unreadable.append(e)
    mappings = [load_mapping(name) for name in shipped_mappings()]
    found = [m for m in mappings if m.detect and _detected(m.detect, files, columns)]
    if len(found) == 1:
        return found[0]
    if found:
        raise MappingError(
            f"several mappings fit these files: {[m.name for m in found]}; pass --mapping"
        )
    if unreadable:
        more = (
            f" (and {len(unreadable) - 1} other unreadable file(s))" if len(unreadable) > 1 else ""
        )
        raise InputFileError(f"{unreadable[0]}{more}")
    miss = _near_miss(mappings, files, columns)
    if miss is not None:
        m, f, missing = miss
        raise MappingError(
            f"{f} looks like a {m.name!r} export but lacks column(s) {missing} "
            f"(it has {sorted(columns[f])}); fix the file or pass --mapping"
        )
    raise MappingError(
        "no shipped mapping recognizes these files; pass --mapping with one of "
        f"{shipped_mappings()} or a YAML file of your own (the format is documented in "
        "quantbook.data.sources.files)"
    )


def _near_miss(
    mappings: Sequence[MappingSpec], files: Sequence[Path], cols: Mapping[Path, set[str]]
) -> tuple[MappingSpec, Path, list[str]] | None:
    """The mapping, file and missing detection columns of the closest near miss, if any."""
    best: tuple[MappingSpec, Path, list[str]] | None = None
    for m in mappings:
        need = set(m.detect.get("columns", []))
        if not need or not _detected({"files": m.detect.get("files", [])}, files, cols):
            continue
        for f, have in cols.items():
            missing = sorted(need - have)
            present = len(need) - len(missing)
            if present >= max(2, len(need) / 2) and (best is None or len(missing) < len(best[2])):
                best = (m, f, missing)
    return best


def _detected(
    detect: Mapping[str, list[str]], files: Sequence[Path], cols: Mapping[Path, set[str]]
) -> bool:
    for pattern in detect.get("files", []):
        if not any(_matches(f, [pattern]) for f in files):
            return False
    need = set(detect.get("columns", []))
    return not need or any(need <= c for c in cols.values())


# ---------------------------------------------------------------------------------------------
# Reading one file
# ---------------------------------------------------------------------------------------------
def read_source_file(path: Path, src: SourceSpec, *, log: ImportLog | None = None) -> pd.DataFrame:
    """Read one input file and map it onto the target table's columns and units.

    Parameters
    ----------
    path
        The file.
    src
        The mapping entry that matched it.
    log
        Where the encoding of a CSV file that is not UTF-8 is recorded (``encodings``).

    Returns
    -------
    pandas.DataFrame
        Target (and staging) columns, typed, codes normalized, units converted.

    Raises
    ------
    DataValidationError
        For a missing mapped column or values that cannot be converted (naming the file).
    InputFileError
        For a file that is empty, holds no rows, is damaged or is not in a known encoding.
    """
    raw, encoding = _read_raw(path, src)
    if raw.empty:
        what = "no rows" if len(raw.columns) else "no columns and no rows"
        if encoding and len(raw.columns):
            raise HeaderOnlyFileError(f"{path}: header only, no rows")
        raise InputFileError(f"{path}: header only, {what}" if encoding else f"{path}: {what}")
    if log is not None and encoding is not None and encoding not in ("utf-8-sig", "utf-8"):
        log.encodings[str(path)] = encoding
    df = _rename(raw, src, path)
    df = _add_code_from_filename(df, src, path)
    for target, value in src.constants.items():
        df[target] = value
    df = _apply_flags(df, raw, src, path)
    df = _convert_types(df, src, path)
    for target, factor in src.units.items():
        if target in df.columns:
            df[target] = df[target] * factor
    for target, expr in src.compute.items():
        df[target] = _evaluate(df, expr, src, target, path)
    return df


def _read_raw(path: Path, src: SourceSpec) -> tuple[pd.DataFrame, str | None]:
    """The file's rows as read (CSV: also the encoding that decoded it)."""
    fmt = _file_format(path, src.read)
    headerless = src.read.get("header", True) is False
    names = [str(n) for n in src.read.get("names", [])] or None
    if headerless and not names:
        raise MappingError(f"{path}: a headerless file needs read.names")
    if fmt == "parquet":
        wanted = _wanted_columns(src, list(_parquet_schema(path).names))
        return _read_parquet_rows(path, wanted), None
    if fmt == "xls":
        return _read_xls(path, int(src.read.get("sheet", 0))), None
    code_cols = {c: str for c in _code_source_columns(src)}
    return _read_csv(
        path,
        src.read,
        header=None if headerless else 0,
        names=names,
        dtype=code_cols or None,
        skipinitialspace=True,
    )


def _read_csv(
    path: Path, read: Mapping[str, Any], *, sniff: bool = False, **options: Any
) -> tuple[pd.DataFrame, str]:
    """Read a CSV file in the mapping's encoding, else the first of :data:`CSV_ENCODINGS`.

    ``sniff`` guesses the separator (for a header read during detection); otherwise the
    mapping's ``read.sep`` (default ``,``) is used. Returns the frame and the encoding.
    """
    _check_not_empty(path)
    declared = read.get("encoding")
    encodings = (str(declared),) if declared else CSV_ENCODINGS
    sep = None if sniff else read.get("sep", ",")
    error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            frame = _parse_csv(path, sep=sep, encoding=encoding, **options)
        except UnicodeDecodeError as e:
            error = e
            continue
        except LookupError:
            raise MappingError(
                f"{path}: read.encoding {declared!r} is not a known encoding"
            ) from None
        return frame, encoding
    assert error is not None
    at = f"byte 0x{error.object[error.start]:02x} at position {error.start}"
    if declared:
        raise InputFileError(
            f"{path}: not {declared} text as the mapping's read.encoding says ({at})"
        )
    raise InputFileError(
        f"{path}: neither UTF-8 nor GBK / GB18030 text ({at}); re-save it as UTF-8 "
        "or set read.encoding in a mapping of your own"
    )


def _parse_csv(path: Path, *, sep: str | None, encoding: str, **options: Any) -> pd.DataFrame:
    engine: Literal["python", "c"] = "python" if sep is None else "c"
    try:
        return pd.read_csv(path, sep=sep, encoding=encoding, engine=engine, **options)
    except csv.Error:  # the sniffer found no separator: a one-column header
        return pd.read_csv(path, encoding=encoding, **options)
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{path}: the file is empty (no header line)") from None
    except pd.errors.ParserError as e:
        raise InputFileError(f"{path}: not a readable CSV file ({one_line(e)})") from None


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty")


def _parquet_schema(path: Path) -> pa.Schema:
    _check_not_empty(path)
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise _parquet_error(path, e) from None


def _read_parquet_rows(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as e:
        raise _parquet_error(path, e) from None


def _parquet_error(path: Path, e: Exception) -> InputFileError:
    if isinstance(e, OSError) and e.errno is not None:
        return InputFileError(f"{path}: cannot read the file ({e.strerror})")
    return InputFileError(
        f"{path}: not a readable Parquet file (truncated or damaged: {one_line(e)})"
    )


def _wanted_columns(src: SourceSpec, have: list[str]) -> list[str]:
    want: list[str] = []
    for alts in [*src.columns.values(), *src.optional.values()]:
        found = _find_column(have, alts)
        if found is not None:
            want.append(found)
    for spec in src.flags.values():
        found = _find_column(have, _alternatives(spec.get("column")))
        if found is not None:
            want.append(found)
    return list(dict.fromkeys(want)) or have


def _code_source_columns(src: SourceSpec) -> list[str]:
    return [a for t in CODE_COLUMNS for a in src.columns.get(t, ())]


def _read_xls(path: Path, sheet: int) -> pd.DataFrame:
    """Read a legacy ``.xls`` sheet with xlrd (header in the first row; date cells converted)."""
    import xlrd

    book = xlrd.open_workbook(str(path))
    sh = book.sheet_by_index(sheet)
    if sh.nrows < 1:
        return pd.DataFrame()
    header = [str(v).strip() for v in sh.row_values(0)]
    out: dict[str, Any] = {}
    origin = "1904-01-01" if book.datemode else "1899-12-30"
    for c, name in enumerate(header):
        values = sh.col_values(c, start_rowx=1)
        types = sh.col_types(c, start_rowx=1)
        if values and all(t == xlrd.XL_CELL_DATE for t in types):
            out[name] = pd.to_datetime(np.asarray(values, dtype=float), unit="D", origin=origin)
        elif values and all(t == xlrd.XL_CELL_NUMBER for t in types):
            arr = np.asarray(values, dtype=float)
            out[name] = arr.astype(np.int64) if np.all(arr == np.round(arr)) else arr
        else:
            out[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(out)


def _find_column(have: Sequence[str], alternatives: Sequence[str]) -> str | None:
    for a in alternatives:
        if a in have:
            return a
    lower = {str(h).lower(): h for h in have}
    for a in alternatives:
        if a.lower() in lower:
            return str(lower[a.lower()])
    return None


def _rename(raw: pd.DataFrame, src: SourceSpec, path: Path) -> pd.DataFrame:
    have = [str(c) for c in raw.columns]
    out: dict[str, pd.Series] = {}
    for target, alts in src.columns.items():
        found = _find_column(have, alts)
        if found is None:
            raise DataValidationError(
                src.table,
                target,
                "required_column",
                f"file {path.name!r} has no column {' or '.join(map(repr, alts))} for {target!r}; "
                f"it has {have}",
            )
        out[target] = raw[found]
    for target, alts in src.optional.items():
        found = _find_column(have, alts)
        if found is not None:
            out[target] = raw[found]
    return pd.DataFrame(out, index=raw.index)


def _add_code_from_filename(df: pd.DataFrame, src: SourceSpec, path: Path) -> pd.DataFrame:
    if src.code.get("from", "column") != "filename":
        return df
    stem = path.stem
    pattern = src.code.get("pattern")
    if pattern:
        m = re.search(str(pattern), stem)
        if m is None:
            raise MappingError(f"{path}: file name does not match code pattern {pattern!r}")
        stem = m.group("code") if "code" in m.groupdict() else m.group(0)
    df["code"] = stem
    return df


def _apply_flags(df: pd.DataFrame, raw: pd.DataFrame, src: SourceSpec, path: Path) -> pd.DataFrame:
    for target, spec in src.flags.items():
        column = _find_column([str(c) for c in raw.columns], _alternatives(spec.get("column")))
        if column is None:
            if spec.get("optional", False):
                continue
            raise DataValidationError(
                src.table, target, "required_column",
                f"file {path.name!r} has no column {spec.get('column')!r} for flag {target!r}",
            )  # fmt: skip
        true_values = [str(v) for v in spec.get("values", [])]
        df[target] = raw[column].astype("str").str.strip().isin(true_values).to_numpy()
    return df


def _convert_types(df: pd.DataFrame, src: SourceSpec, path: Path) -> pd.DataFrame:
    spec = table_spec(src.table)
    types = {c.name: c.dtype for c in spec.columns} | STAGING_COLUMNS | _transform_types(src)
    for column in list(df.columns):
        dtype = types.get(column)
        if dtype is None:
            continue
        df[column] = _convert_column(df[column], dtype, src, column, path)
    if "code" in df.columns or "index_code" in df.columns:
        df = _normalize_codes(df, src, path)
    return df


def _transform_types(src: SourceSpec) -> dict[str, str]:
    return dict.fromkeys(_transform_inputs(src), "date")


def _convert_column(
    s: pd.Series, dtype: str, src: SourceSpec, column: str, path: Path
) -> pd.Series:
    if dtype == "date":
        return _to_dates(s, src.dates.get(column), src, column, path)
    if dtype in ("float", "int"):
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        if bad.any():
            raise DataValidationError(
                src.table, column, "type",
                f"file {path.name!r}: values that are not numbers", s[bad].to_frame(), int(bad.sum()),
            )  # fmt: skip
        return num.astype(np.float64) if dtype == "float" else num
    if dtype == "str":
        return s.astype("str")
    return s


def _to_dates(s: pd.Series, fmt: str | None, src: SourceSpec, column: str, path: Path) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
    else:
        text = s.astype("str") if fmt else s
        out = pd.to_datetime(text, format=fmt, errors="coerce")
        bad = out.isna() & s.notna()
        if bad.any():
            raise DataValidationError(
                src.table, column, "type",
                f"file {path.name!r}: values that are not dates (format {fmt or 'inferred'})",
                s[bad].to_frame(), int(bad.sum()),
            )  # fmt: skip
    return out.astype("datetime64[ns]").dt.normalize()


def _normalize_codes(df: pd.DataFrame, src: SourceSpec, path: Path) -> pd.DataFrame:
    bare: Bare = src.code.get("bare", "security")
    for column in CODE_COLUMNS:
        if column not in df.columns:
            continue
        col_bare: Bare = "index" if column != "code" and bare == "security" else bare
        try:
            df[column] = normalize_code(df[column].astype("str"), bare=col_bare)
        except CodeFormatError as e:
            bad = df[column].astype("str").isin([str(v) for v in e.values])
            shown = [c for c in (column, "date", "start") if c in df.columns]
            rows = df.loc[bad, shown].rename_axis("data row")
            raise DataValidationError(
                src.table, column, "code_format", f"file {path.name!r}: {e}", rows, int(bad.sum())
            ) from None
    return df


def _evaluate(df: pd.DataFrame, expr: str, src: SourceSpec, target: str, path: Path) -> pd.Series:
    try:
        out = df.eval(expr, engine="python")
    except Exception as e:
        raise MappingError(f"{path}: compute {target!r} = {expr!r} failed: {e}") from None
    return pd.Series(np.asarray(out, dtype=np.float64), index=df.index)


# ---------------------------------------------------------------------------------------------
# Source transforms (reshape one source's rows into table rows)
# ---------------------------------------------------------------------------------------------
def review_spells(df: pd.DataFrame, options: Mapping[str, Any], log: ImportLog) -> pd.DataFrame:
    """Index membership spells from a file of ``code, start, end`` records.

    Parameters
    ----------
    df
        Rows with ``index_code``, ``code``, ``start``, ``end``.
    options
        ``end``: ``exclusive`` (``end`` is the first day out, the store's convention) or
        ``last_review`` (``end`` is the first day of the last review period in which the code
        was a member; the exclusive end is then the next review date, a review date being any
        ``start`` of the file). ``open_end_at_max``: spells ending on the file's latest date
        are still in force (``end`` = NaT).
    log
        Collects findings.

    Returns
    -------
    pandas.DataFrame
        ``index_code, code, start, end`` spells.
    """
    out = df[["index_code", "code", "start", "end"]].copy()
    end = out["end"].to_numpy(dtype="datetime64[ns]")
    open_end = np.zeros(len(out), dtype=bool)
    if options.get("open_end_at_max", False):
        open_end = end == end.max()
    convention = options.get("end", "exclusive")
    if convention == "last_review":
        reviews = np.unique(out["start"].to_numpy(dtype="datetime64[ns]"))
        i = np.searchsorted(reviews, end, side="right")
        nxt = np.where(
            i < len(reviews), reviews[np.clip(i, 0, len(reviews) - 1)], np.datetime64("NaT")
        )
        end = nxt
    elif convention != "exclusive":
        raise MappingError(
            f"review_spells: end must be 'exclusive' or 'last_review', got {convention!r}"
        )
    out["end"] = np.where(open_end, np.datetime64("NaT"), end).astype("datetime64[ns]")
    return out


def daily_members_to_spells(
    df: pd.DataFrame, options: Mapping[str, Any], log: ImportLog
) -> pd.DataFrame:
    """Membership spells from daily constituent lists (e.g. daily index weights).

    A code is a member on the dates where it has a row with a positive weight; consecutive
    dates of the file's own date list form one spell, which ends (exclusive) on the file's next
    date, or stays open (NaT) when it reaches the file's last date.

    Parameters
    ----------
    df
        Rows with ``index_code``, ``date``, ``code`` and ``weight``.
    options
        Unused.
    log
        Collects findings.

    Returns
    -------
    pandas.DataFrame
        ``index_code, code, start, end`` spells.
    """
    frames = []
    for index_code, part in df.groupby("index_code", sort=True):
        dates = np.unique(part["date"].to_numpy(dtype="datetime64[ns]"))
        member = part[part["weight"].fillna(0) > 0]
        code_idx, codes = pd.factorize(member["code"])
        pos = np.searchsorted(dates, member["date"].to_numpy(dtype="datetime64[ns]"))
        order = np.lexsort((pos, code_idx))
        c, p = code_idx[order], pos[order]
        new_run = np.r_[True, (c[1:] != c[:-1]) | (p[1:] != p[:-1] + 1)]
        starts = np.flatnonzero(new_run)
        lasts = np.r_[starts[1:] - 1, len(p) - 1]
        end_pos = p[lasts] + 1
        end = np.where(
            end_pos < len(dates), dates[np.clip(end_pos, 0, len(dates) - 1)], np.datetime64("NaT")
        )
        frames.append(
            pd.DataFrame(
                {
                    "index_code": index_code,
                    "code": np.asarray(codes)[c[starts]],
                    "start": dates[p[starts]],
                    "end": end.astype("datetime64[ns]"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else df.iloc[:0]


def sw_industry_spells(
    df: pd.DataFrame, options: Mapping[str, Any], log: ImportLog
) -> pd.DataFrame:
    """SW2021 level-1 industry spells from Shenwan point-in-time assignment records.

    Records (``code, start, sw_code``) are read as "from ``start`` on, the stock is in
    ``sw_code``" until its next record. The first two digits of a SW2021 code are its level-1
    industry. Records of older schemes (that started before the last of ``scheme_switches``,
    the dates each new scheme took effect) are mapped to the *nearest* SW2021 level-1
    industry: the one most of the stocks holding that old code were moved to when a newer
    scheme took effect (newest switch first); failing that, the code's first two digits when
    they name a SW2021 industry. Records that map nowhere give spells with a
    missing value, which the derive step ``drop_unclassified`` removes (with a warning and a
    finding) once the spells are clipped to the data's span.

    Parameters
    ----------
    df
        Rows with ``code``, ``start`` and ``sw_code``.
    options
        ``scheme_switches``: list of dates.
    log
        Collects findings.

    Returns
    -------
    pandas.DataFrame
        ``code, start, end, value`` spells (consecutive records with one industry merged;
        ``value`` missing where unclassified).
    """
    recs = df[["code", "start", "sw_code"]].copy()
    recs["sw_code"] = recs["sw_code"].astype("str").str.strip().str.zfill(6)
    recs = recs.sort_values(["code", "start"], kind="mergesort")
    recs = recs.drop_duplicates(["code", "start"], keep="last").reset_index(drop=True)
    switches = np.array(
        sorted(pd.Timestamp(s) for s in options.get("scheme_switches", [])), dtype="datetime64[ns]"
    )
    recs["value"] = _resolve_sw_level1(recs, switches)
    return _runs_to_spells(recs, "value")


def _resolve_sw_level1(recs: pd.DataFrame, switches: np.ndarray) -> pd.Series:
    """Level-1 code per record: SW2021 prefix, or the crosswalk vote for older records.

    A record that started before the last scheme switch is *legacy*. For each switch, newest
    first, the legacy records replaced exactly on the switch date vote: old 6-digit code ->
    level-1 industry of the replacing record (already resolved); the most frequent answer per
    old code wins, and votes at newer switches take precedence. Legacy codes without votes
    fall back to their first two digits when these name a SW2021 industry.
    """
    prefix = recs["sw_code"].str[:2]
    valid = prefix.isin(list(SW_L1))
    starts = recs["start"].to_numpy(dtype="datetime64[ns]")
    legacy = starts < switches[-1] if len(switches) else np.zeros(len(recs), dtype=bool)
    value = prefix.where(~legacy & valid.to_numpy())
    same_next = (recs["code"].shift(-1) == recs["code"]).to_numpy()
    next_start = recs["start"].shift(-1).to_numpy(dtype="datetime64[ns]")
    crosswalk: dict[str, str] = {}
    for switch in switches[::-1]:
        crossing = legacy & same_next & (next_start == switch)
        votes = pd.DataFrame(
            {"old": recs["sw_code"][crossing], "new": value.shift(-1)[crossing]}
        ).dropna()
        for old, new in votes.groupby("old")["new"].agg(_mode).items():
            crosswalk.setdefault(str(old), str(new))
        value = value.where(~legacy, recs["sw_code"].map(crosswalk))
    return value.where(~legacy | value.notna(), prefix.where(valid))


def _mode(s: pd.Series) -> str:
    return str(s.value_counts().index[0])


def _runs_to_spells(recs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Merge consecutive records with equal ``column`` per code into ``[start, end)`` spells."""
    code = recs["code"].to_numpy()
    val = recs[column].fillna("\0").to_numpy()
    first = np.r_[True, (code[1:] != code[:-1]) | (val[1:] != val[:-1])]
    idx = np.flatnonzero(first)
    starts = recs["start"].to_numpy(dtype="datetime64[ns]")
    next_same_code = np.r_[idx[1:], len(recs)]
    has_next = next_same_code < len(recs)
    nxt = np.clip(next_same_code, 0, len(recs) - 1)
    end = np.where(has_next & (code[nxt] == code[idx]), starts[nxt], np.datetime64("NaT"))
    return pd.DataFrame(
        {
            "code": code[idx],
            "start": starts[idx],
            "end": end.astype("datetime64[ns]"),
            "value": recs[column].to_numpy()[idx],
        }
    )


#: Source transforms by name.
TRANSFORMS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any], ImportLog], pd.DataFrame]] = {
    "review_spells": review_spells,
    "daily_members_to_spells": daily_members_to_spells,
    "sw_industry_spells": sw_industry_spells,
}
#: Options each transform takes.
TRANSFORM_OPTIONS: dict[str, set[str]] = {
    "review_spells": {"end", "open_end_at_max"},
    "daily_members_to_spells": set(),
    "sw_industry_spells": {"scheme_switches"},
}
#: Input columns of each transform that the target table lacks, with their types (dates).
TRANSFORM_INPUTS: dict[str, tuple[str, ...]] = {"daily_members_to_spells": ("date",)}


# ---------------------------------------------------------------------------------------------
# Import state and derive steps
# ---------------------------------------------------------------------------------------------
@dataclass
class ImportLog:
    """What an import learned besides the tables: findings and unavailable items."""

    findings: list[Finding] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    #: ``{file: encoding}`` of the CSV files that were not UTF-8 (e.g. GB18030).
    encodings: dict[str, str] = field(default_factory=dict)

    def finding(
        self, table_name: str, rule: str, column: str, rows: pd.DataFrame, note: str
    ) -> None:
        """Record a soft finding with the first rows as example."""
        if len(rows):
            example = rows.head(3).to_csv(index=False).strip().replace("\n", " | ")
            self.findings.append(Finding(table_name, rule, column, len(rows), f"{note}: {example}"))


@dataclass
class ImportState:
    """Staged tables (with staging columns) while an import runs.

    ``calendar`` is the SSE calendar plus the staged dates outside its range
    (:func:`data_calendar`).
    """

    tables: dict[str, pd.DataFrame]
    mapping: MappingSpec
    log: ImportLog
    calendar: TradingCalendar = field(default_factory=TradingCalendar)

    def need(self, name: str, columns: Sequence[str], step: str) -> pd.DataFrame:
        """The staged table ``name``, checked to hold ``columns`` for ``step``."""
        if name not in self.tables:
            raise MappingError(
                f"derive step {step!r} needs table {name!r}, which no source provides"
            )
        df = self.tables[name]
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataValidationError(
                name,
                missing[0],
                "required_column",
                f"derive step {step!r} needs column(s) {missing}",
            )
        return df


def _sorted_by_code(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["code", "date"], kind="mergesort").reset_index(drop=True)


def step_fill_suspended(state: ImportState, options: Mapping[str, Any]) -> None:
    """Insert suspended rows for sessions missing between a code's first and last row.

    Inserted rows have ``is_suspended=True``, ``open = high = low = close = prev_close`` = the
    previous close, zero volume and amount; other staged columns (name, market values, share
    counts) carry the previous row's value. The count is recorded as a finding.

    Parameters
    ----------
    state
        The import state.
    options
        ``table``: the bar table (default ``daily_bars``).
    """
    name = str(options.get("table", "daily_bars"))
    if name not in state.tables:
        return
    df = state.need(name, ["date", "code", "close"], "fill_suspended")
    if "is_suspended" not in df.columns:
        df = df.assign(is_suspended=False)
    new = _missing_sessions(df, state.calendar.all_sessions)
    if len(new):
        new["is_suspended"] = True
        new["_inserted"] = True
        df = _sorted_by_code(pd.concat([df.assign(_inserted=False), new], ignore_index=True))
        inserted = df.pop("_inserted").to_numpy(dtype=bool)
        _fill_inserted(df, inserted)
        state.log.finding(
            name, "suspended_rows_inserted", "is_suspended",
            df.loc[inserted, ["date", "code"]], "no source row on these sessions; inserted as suspended",
        )  # fmt: skip
    else:
        df = _sorted_by_code(df)
    state.tables[name] = df


def _missing_sessions(df: pd.DataFrame, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """``(date, code)`` of the sessions missing between each code's first and last row."""
    code_idx, codes = pd.factorize(df["code"])
    pos = session_positions(df["date"].to_numpy(), sessions=sessions)
    g = pd.DataFrame({"c": code_idx, "p": pos}).groupby("c")["p"].agg(["min", "max", "size"])
    span = (g["max"] - g["min"] + 1).to_numpy()
    if int(span.sum()) == len(df):
        return pd.DataFrame(
            {"date": pd.Series(dtype="datetime64[ns]"), "code": pd.Series(dtype="str")}
        )
    full_c = np.repeat(g.index.to_numpy(), span)
    offsets = np.arange(len(full_c)) - np.repeat(np.cumsum(span) - span, span)
    full_p = np.repeat(g["min"].to_numpy(), span) + offsets
    width = int(pos.max()) + 1
    have = np.unique(code_idx.astype(np.int64) * width + pos)
    full = full_c.astype(np.int64) * width + full_p
    missing = ~np.isin(full, have, assume_unique=True)
    return pd.DataFrame(
        {
            "date": sessions[full_p[missing]].to_numpy(),
            "code": pd.Series(np.asarray(codes)[full_c[missing]], dtype="str"),
        }
    )


def _fill_inserted(df: pd.DataFrame, inserted: np.ndarray) -> None:
    """Fill inserted suspended rows in place (``df`` sorted by code, date)."""
    last_close = df["close"].ffill()
    for column in ("open", "high", "low", "close", "prev_close", "price_1130"):
        if column in df.columns:
            df.loc[inserted, column] = last_close[inserted]
    for column in ("volume", "amount", "num_trades"):
        if column in df.columns:
            df.loc[inserted, column] = 0.0
    skip = {"date", "code", "is_suspended", "limit_up", "limit_down", "open", "high", "low",
            "close", "prev_close", "price_1130", "volume", "amount", "num_trades"}  # fmt: skip
    for column in [c for c in df.columns if c not in skip]:
        df[column] = df[column].where(~inserted, df[column].ffill())


def step_instruments(state: ImportState, options: Mapping[str, Any]) -> None:
    """Derive the ``instruments`` table from the daily bars.

    ``list_date``: the first row's date, except where the industry records show an earlier
    listing (``listing_from_industry``): for a stock present on the data's first day, its
    earliest industry record when earlier; for one that appears later, its earliest record
    when that is more than ``industry_listing_gap_days`` (365) before the first row (a
    resumption after a long suspension; a recent record is an IPO's classification). A first
    row whose name carries ``ipo_name_prefix`` (``N``) is always the listing day. Codes whose
    listing date stays a guess are counted in the finding ``list_date_uncertain``.

    ``delist_date``: the session after the last row for codes whose rows stop before the data's
    last day and (when ``delisted_name_contains`` is set) whose last name carries that marker
    (``退``); other codes whose rows stop early are kept listed and counted in the finding
    ``rows_end_early``. Without names, the code stands in for the name.

    Parameters
    ----------
    state
        The import state.
    options
        ``ipo_name_prefix``, ``listing_from_industry``, ``industry_listing_gap_days``,
        ``delisted_name_contains``.
    """
    bars = state.need("daily_bars", ["date", "code"], "instruments")
    has_name = "name" in bars.columns
    g = bars.groupby("code", sort=True)
    inst = pd.DataFrame({"first": g["date"].min(), "last": g["date"].max()})
    inst["first_name"] = g["name"].first() if has_name else inst.index
    inst["name"] = g["name"].last() if has_name else inst.index
    if not has_name:
        state.log.unavailable["instruments.name"] = (
            "the source has no stock names; the code stands in"
        )
    data_first, data_last = bars["date"].min(), bars["date"].max()
    inst["list_date"] = _list_dates(state, inst, options, has_name, data_first)
    inst["delist_date"] = _delist_dates(state, inst, options, has_name, data_last)
    inst = inst.reset_index()
    inst["board"] = board_of(inst["code"].astype("str"))
    state.tables["instruments"] = inst[["code", "name", "board", "list_date", "delist_date"]]


def _list_dates(
    state: ImportState,
    inst: pd.DataFrame,
    options: Mapping[str, Any],
    has_name: bool,
    data_first: Any,
) -> pd.Series:
    first = inst["first"]
    prefix = options.get("ipo_name_prefix")
    ipo = pd.Series(False, index=inst.index)
    if prefix and has_name:
        ipo = inst["first_name"].astype("str").str.startswith(str(prefix))
    earlier = pd.Series(False, index=inst.index)
    earliest = pd.Series(pd.NaT, index=inst.index, dtype="datetime64[ns]")
    if options.get("listing_from_industry") and "industry" in state.tables:
        earliest = state.tables["industry"].groupby("code")["start"].min().reindex(inst.index)
        gap = pd.Timedelta(days=int(options.get("industry_listing_gap_days", 365)))
        late = first > data_first
        # A stock present on the data's first day was listed before; one that appears later is
        # an IPO unless it was classified long before (then it resumed after a suspension).
        lag = pd.Series(gap, index=inst.index).where(late, pd.Timedelta(0))
        earlier = ~ipo & earliest.notna() & (earliest < first - lag)
    list_date = first.where(~earlier, earliest)
    uncertain = ~ipo & ~earlier & ((first == data_first) | earliest.isna())
    state.log.finding(
        "instruments", "list_date_uncertain", "list_date",
        inst.loc[uncertain, ["first"]].reset_index(),
        "listing date unknown; the first row's date is used (true listing may be earlier)",
    )  # fmt: skip
    return list_date


def _delist_dates(
    state: ImportState,
    inst: pd.DataFrame,
    options: Mapping[str, Any],
    has_name: bool,
    data_last: Any,
) -> pd.Series:
    early = inst["last"] < data_last
    marker = options.get("delisted_name_contains")
    if marker and has_name:
        delisted = early & inst["name"].astype("str").str.contains(str(marker), regex=False)
    else:
        delisted = early
    state.log.finding(
        "instruments", "rows_end_early", "delist_date",
        inst.loc[early & ~delisted, ["last", "name"]].reset_index(),
        "rows stop before the data's last day without a delisting marker; kept as listed",
    )  # fmt: skip
    sessions = state.calendar.all_sessions
    nxt = sessions.searchsorted(inst["last"].to_numpy(), side="right")
    after = pd.Series(
        np.where(
            nxt < len(sessions),
            sessions.to_numpy()[np.clip(nxt, 0, len(sessions) - 1)],
            np.datetime64("NaT"),
        ),
        index=inst.index,
        dtype="datetime64[ns]",
    )
    return after.where(delisted)


#: Name prefixes that mark special treatment (after the XD / XR / DR and S markers).
ST_NAME_PATTERN = r"^(?:XD|XR|DR)?S?(?P<st>\*ST|ST)"


def step_st_status_from_names(state: ImportState, options: Mapping[str, Any]) -> None:
    """ST spells from daily names: a name starting with ``ST`` or ``*ST`` marks an ST day.

    Ex-dividend / ex-rights markers (``XD``, ``XR``, ``DR``) and the old ``S`` prefix before
    the ST marker are allowed. A spell ends (exclusive) on the first row without the marker,
    or stays open at the code's last row. Without names, ``st_status`` is recorded as
    unavailable.

    Parameters
    ----------
    state
        The import state.
    options
        ``pattern``: a regular expression with a named group ``st`` (default
        :data:`ST_NAME_PATTERN`).
    """
    bars = state.need("daily_bars", ["date", "code"], "st_status_from_names")
    if "name" not in bars.columns:
        state.log.unavailable["st_status"] = (
            "the source has no stock names to derive ST spells from"
        )
        return
    bars = _sorted_by_code(bars)
    pattern = str(options.get("pattern", ST_NAME_PATTERN))
    names = bars["name"].astype("str")
    uniq, inverse = np.unique(names.to_numpy(dtype=object).astype(str), return_inverse=True)
    st_u = pd.Series(uniq).str.extract(pattern)["st"]
    recs = pd.DataFrame(
        {
            "code": bars["code"].to_numpy(),
            "start": bars["date"].to_numpy(),
            "st": st_u.to_numpy()[inverse],
        }
    )
    spells = _runs_to_spells(recs, "st")
    state.tables["st_status"] = spells[spells["value"].notna()].reset_index(drop=True)


def step_adj_factor(state: ImportState, options: Mapping[str, Any]) -> None:
    """Back-adjustment factors from the prev_close chain, unless the source provides them.

    ``adj_t = adj_{t-1} * close_{t-1} / prev_close_t``, 1 on each code's first row; with the
    exchange's ex-rights ``prev_close`` this makes ``close * adj_factor`` a total-return price.

    Parameters
    ----------
    state
        The import state.
    options
        ``table`` (default ``daily_bars``).
    """
    name = str(options.get("table", "daily_bars"))
    bars = state.need(name, ["date", "code", "close", "prev_close"], "adj_factor")
    if "adj_factor" in bars.columns:
        return
    bars = _sorted_by_code(bars)
    code = bars["code"]
    same = (code == code.shift(1)).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            same, bars["close"].shift(1).to_numpy() / bars["prev_close"].to_numpy(), 1.0
        )
    code_idx, _ = pd.factorize(code)
    bars["adj_factor"] = pd.Series(ratio).groupby(code_idx).cumprod().to_numpy()
    state.tables[name] = bars


def step_price_limits(state: ImportState, options: Mapping[str, Any]) -> None:
    """Limit-up / limit-down prices from prev_close, board and ST, unless the source has them.

    NaN during a code's first :data:`~quantbook.data.validate.NEW_LISTING_DAYS` sessions after
    its listing date (no limit on new listings).

    Parameters
    ----------
    state
        The import state.
    options
        Unused.
    """
    bars = state.need("daily_bars", ["date", "code", "prev_close"], "price_limits")
    if "limit_up" in bars.columns and "limit_down" in bars.columns:
        return
    inst = state.need("instruments", ["code", "board", "list_date"], "price_limits").set_index(
        "code"
    )
    code_idx, codes = pd.factorize(bars["code"])
    board = inst["board"].reindex(codes).to_numpy(dtype=object)[code_idx]
    is_st = in_spells(
        bars["code"],
        bars["date"],
        state.tables.get("st_status"),
        factorized=(code_idx, pd.Index(codes)),
    )
    frac = limit_fraction(board, bars["date"].to_numpy(), is_st)
    up, down = limit_prices(bars["prev_close"].to_numpy(), frac)
    list_pos = session_positions(inst["list_date"].reindex(codes).to_numpy())[code_idx]
    new = session_positions(bars["date"].to_numpy()) - list_pos < NEW_LISTING_DAYS
    bars = bars.assign(limit_up=np.where(new, np.nan, up), limit_down=np.where(new, np.nan, down))
    state.tables["daily_bars"] = bars


def step_clip_spells(state: ImportState, options: Mapping[str, Any]) -> None:
    """Drop spells that ended before the first date of a reference table.

    Parameters
    ----------
    state
        The import state.
    options
        ``tables``: spell tables to clip; ``start_from``: the reference panel table.
    """
    ref = state.need(str(options.get("start_from", "daily_bars")), ["date"], "clip_spells")
    first = ref["date"].min()
    for name in options.get("tables", []):
        if name in state.tables:
            sp = state.tables[name]
            state.tables[name] = sp[sp["end"].isna() | (sp["end"] > first)].reset_index(drop=True)


def step_drop_unclassified(state: ImportState, options: Mapping[str, Any]) -> None:
    """Remove spells without a value, with an :class:`UnclassifiedIndustryWarning` and a finding.

    Parameters
    ----------
    state
        The import state.
    options
        ``table`` (default ``industry``).
    """
    name = str(options.get("table", "industry"))
    if name not in state.tables:
        return
    spells = state.tables[name]
    bad = spells["value"].isna()
    if bad.any():
        warnings.warn(
            f"{name}: {int(bad.sum())} spell(s) of {spells.loc[bad, 'code'].nunique()} code(s) map "
            "to no SW2021 level-1 industry and are left unclassified (see the validation report)",
            UnclassifiedIndustryWarning,
            stacklevel=2,
        )
        state.log.finding(
            name, "unclassified_spells", "value", spells.loc[bad, ["code", "start", "end"]],
            "no SW2021 level-1 industry; spells dropped",
        )  # fmt: skip
    state.tables[name] = spells[~bad].reset_index(drop=True)


def step_etf_info(state: ImportState, options: Mapping[str, Any]) -> None:
    """``etf_info`` for every ETF with bars: the mapping's static metadata and the first bar date.

    ETFs without metadata get their code as name and category ``unknown`` (counted as a
    finding ``missing_metadata``).

    Parameters
    ----------
    state
        The import state.
    options
        Unused.
    """
    if "etf_bars" not in state.tables:
        return
    bars = state.tables["etf_bars"]
    info = bars.groupby("code", sort=True)["date"].min().rename("list_date").reset_index()
    meta = pd.DataFrame(state.mapping.static.get("etf_info", []))
    if len(meta):
        meta["code"] = normalize_code(meta["code"].astype("str"))
        for c in ("tracked_index",):
            if c in meta.columns:
                known = meta[c].notna()
                meta.loc[known, c] = normalize_code(meta.loc[known, c].astype("str"), bare="index")
        info = info.merge(meta.drop(columns=["list_date"], errors="ignore"), on="code", how="left")
    for c, default in (
        ("name", None),
        ("category", "unknown"),
        ("tracked_index", None),
        ("fee", np.nan),
    ):
        if c not in info.columns:
            info[c] = default
    missing = info["category"].isna() | (info["category"] == "unknown")
    state.log.finding(
        "etf_info",
        "missing_metadata",
        "category",
        info.loc[missing, ["code"]],
        "no metadata in the mapping",
    )
    info["category"] = info["category"].fillna("unknown")
    info["name"] = info["name"].fillna(info["code"])
    state.tables["etf_info"] = info


#: Derive steps by name.
STEPS: dict[str, Callable[[ImportState, Mapping[str, Any]], None]] = {
    "fill_suspended": step_fill_suspended,
    "instruments": step_instruments,
    "st_status_from_names": step_st_status_from_names,
    "adj_factor": step_adj_factor,
    "price_limits": step_price_limits,
    "clip_spells": step_clip_spells,
    "drop_unclassified": step_drop_unclassified,
    "etf_info": step_etf_info,
}
#: Options each derive step takes.
STEP_OPTIONS: dict[str, set[str]] = {
    "fill_suspended": {"table"},
    "instruments": {
        "ipo_name_prefix", "listing_from_industry", "industry_listing_gap_days", "delisted_name_contains",
    },
    "st_status_from_names": {"pattern"},
    "adj_factor": {"table"},
    "price_limits": set(),
    "clip_spells": {"tables", "start_from"},
    "drop_unclassified": {"table"},
    "etf_info": set(),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------
#: Write order: tables used as validation context first.
WRITE_ORDER = ("instruments", "st_status", "industry", "index_info", "index_members", "etf_info")


def import_files(
    paths: Sequence[str | Path],
    *,
    name: str,
    mapping: str | Path | None = None,
    progress: bool = True,
    root: Path | None = None,
    replace: bool = False,
) -> Store:
    """Import CSV / Parquet / Excel exports into the store ``name``.

    Parameters
    ----------
    paths
        Files and folders (searched recursively).
    name
        The store's name (a folder under ``root``).
    mapping
        A shipped mapping's name (:func:`shipped_mappings`) or a YAML path; ``None``
        recognizes the layout from the files (:func:`detect_mapping`).
    progress
        Show tqdm progress bars (files read, tables built and written).
    root
        Data root (default :func:`quantbook.data.store.data_root`).
    replace
        Allow replacing a store of another source (``--replace``); a folder that is not a
        store is never replaced.

    Returns
    -------
    Store
        The new store. Import findings (inserted suspended rows, dropped rows...) and the
        validation's soft findings are in its validation report.

    Raises
    ------
    StoreTargetError
        Before any input is read, if ``name`` is not a plain folder name or its folder is not a
        ``files`` store (:func:`quantbook.data.store.check_target`).
    MappingError
        For a malformed mapping or input files it does not cover.
    DataValidationError
        For data that break a hard rule (naming table, column, rule and rows). An existing
        store of that name is left untouched.

    Examples
    --------
    >>> store = import_files(["exports/"], name="mine", mapping="tushare_daily")  # doctest: +SKIP
    """
    check_target(name, source="files", replace=replace, root=root)
    files = collect_files(paths)
    spec = load_mapping(mapping) if mapping is not None else detect_mapping(files)
    assigned, ignored = _assign_files(files, spec)
    log = ImportLog(unavailable=dict(spec.unavailable))
    staged = _read_all(assigned, spec, log, progress)
    state = ImportState(tables=staged, mapping=spec, log=log, calendar=data_calendar(staged))
    _add_static(state)
    steps = _progress(list(spec.derive), progress, "deriving", "step")
    for step in steps:
        steps.set_postfix_str(str(step["step"]))
        STEPS[str(step["step"])](state, step)
    params = {
        "paths": [str(p) for p in paths],
        "mapping": spec.name,
        "mapping_file": str(spec.path),
        "files": len(assigned),
        "ignored": {str(f): reason for f, reason in ignored.items()},
    }
    if log.encodings:
        params["encodings"] = dict(log.encodings)
    return _write_store(
        state, name=name, params=params, root=root, progress=progress, replace=replace
    )


def data_calendar(tables: Mapping[str, pd.DataFrame]) -> TradingCalendar:
    """The SSE calendar plus the panel tables' dates outside the exchange calendar's range.

    Parameters
    ----------
    tables
        Staged tables by name.

    Returns
    -------
    TradingCalendar
        exchange-calendars' XSHG sessions and, before its first and after its last session,
        the data's own dates (checked and counted when the tables are written).
    """
    dates = [
        pd.DatetimeIndex(df[spec.date_column].dropna().unique())
        for name, df in tables.items()
        if (spec := table_spec(name)).kind == "panel"
        and spec.date_column is not None
        and spec.date_column in df.columns
    ]
    extra = pd.DatetimeIndex([], dtype="datetime64[ns]").append(dates) if dates else None
    return TradingCalendar(extra=extra)


def _progress(items: list[Any], progress: bool, desc: str, unit: str) -> Any:
    return tqdm(items, desc=desc, unit=unit, disable=not progress, leave=False)


def _assign_files(
    files: Sequence[Path], spec: MappingSpec
) -> tuple[dict[Path, SourceSpec], dict[Path, str]]:
    assigned: dict[Path, SourceSpec] = {}
    ignored: dict[Path, str] = {}
    unmatched: list[str] = []
    for f in files:
        src = next((s for s in spec.sources if s.matches(f)), None)
        if src is not None:
            assigned[f] = src
            continue
        reason = next((r for p, r in spec.ignore if _matches(f, [p])), None)
        if reason is not None:
            ignored[f] = reason
        else:
            unmatched.append(str(f))
    if unmatched:
        raise MappingError(
            f"mapping {spec.name!r} has no source or ignore entry for {len(unmatched)} file(s): "
            f"{unmatched[:5]}"
        )
    if not assigned:
        raise MappingError(f"mapping {spec.name!r}: no input file matches any source pattern")
    return assigned, ignored


def _read_all(
    assigned: Mapping[Path, SourceSpec], spec: MappingSpec, log: ImportLog, progress: bool
) -> dict[str, pd.DataFrame]:
    by_source: dict[int, list[pd.DataFrame]] = {}
    header_only: dict[str, list[HeaderOnlyFileError]] = {}
    bar = _progress(list(assigned), progress, "reading", "file")
    for f in bar:
        bar.set_postfix_str(f.name)
        src = assigned[f]
        try:
            df = read_source_file(f, src, log=log)
        except HeaderOnlyFileError as e:  # e.g. a stock suspended for the whole export
            header_only.setdefault(src.table, []).append(e)
            continue
        df["_file"] = f.name
        by_source.setdefault(spec.sources.index(src), []).append(df)
    if header_only and not by_source:
        raise next(iter(header_only.values()))[0]
    for table_name, errors in header_only.items():
        names = ", ".join(str(e).split(": header only")[0] for e in errors[:5])
        log.findings.append(
            Finding(table_name, "header_only_file", "", len(errors), f"no rows, skipped: {names}")
        )
    by_table: dict[str, list[pd.DataFrame]] = {}
    for i, frames in sorted(by_source.items()):
        src = spec.sources[i]
        df = pd.concat(frames, ignore_index=True)
        df = _drop_null_rows(df, src, log)
        if src.transform is not None:
            transform = TRANSFORMS[str(src.transform["name"])]
            df = transform(df, src.transform, log)
        by_table.setdefault(src.table, []).append(df)
    tables = {t: pd.concat(frames, ignore_index=True) for t, frames in by_table.items()}
    for t, df in tables.items():
        _check_unique_key(table_spec(t), df)
    return {t: df.drop(columns=["_file"], errors="ignore") for t, df in tables.items()}


def _drop_null_rows(df: pd.DataFrame, src: SourceSpec, log: ImportLog) -> pd.DataFrame:
    for column in src.drop_null:
        if column not in df.columns:
            continue
        bad = df[column].isna()
        if bad.any():
            shown = [c for c in ("_file", "date", "code", column) if c in df.columns]
            log.finding(
                src.table,
                "source_rows_dropped",
                column,
                df.loc[bad, shown],
                f"rows without {column}",
            )
            df = df[~bad]
    return df.reset_index(drop=True)


def _check_unique_key(spec: TableSpec, df: pd.DataFrame) -> None:
    key = list(spec.key)
    if not all(k in df.columns for k in key):
        return
    dup = df.duplicated(key, keep=False)
    if dup.any():
        shown = [*key, *(c for c in ("_file",) if c in df.columns)]
        rows = df.loc[dup, shown].sort_values(key).head(SHOW_ROWS)
        raise DataValidationError(
            spec.name, ",".join(key), "unique_key",
            f"duplicated primary key {spec.key} in the input files", rows, int(dup.sum()),
        )  # fmt: skip


def _add_static(state: ImportState) -> None:
    for name, rows in state.mapping.static.items():
        if name == "etf_info" or not rows:
            continue
        df = pd.DataFrame(rows)
        for column in CODE_COLUMNS:
            if column in df.columns:
                df[column] = normalize_code(df[column].astype("str"), bare="index")
        if name == "index_info" and "index_bars" in state.tables:
            used = set(state.tables["index_bars"]["code"])
            if "index_members" in state.tables:
                used |= set(state.tables["index_members"]["index_code"])
            df = df[df["code"].isin(used)]
        state.tables[name] = df.reset_index(drop=True)


def _schema_frame(spec: TableSpec, df: pd.DataFrame) -> pd.DataFrame:
    """The frame's schema columns (staging columns dropped), sorted by the table key."""
    out = df[[c for c in spec.column_names if c in df.columns]]
    return out.sort_values(list(spec.key), kind="mergesort").reset_index(drop=True)


def _write_store(
    state: ImportState,
    *,
    name: str,
    params: dict[str, Any],
    root: Path | None,
    progress: bool,
    replace: bool = False,
) -> Store:
    order = [t for t in WRITE_ORDER if t in state.tables]
    order += [t for t in TABLES if t in state.tables and t not in order]
    with StoreWriter(name, source="files", params=params, root=root, replace=replace) as writer:
        for item, reason in state.log.unavailable.items():
            writer.mark_unavailable(item, reason)
        context: dict[str, Any] = {"data_sessions": state.calendar.data_sessions}
        bar = _progress(order, progress, "writing", "table")
        for t in bar:
            bar.set_postfix_str(t)
            written = writer.write(
                t, _schema_frame(table_spec(t), state.tables.pop(t)), context=context
            )
            if t in ("instruments", "st_status"):
                context[t] = written
        writer.findings[:0] = state.log.findings
        return writer.commit()
