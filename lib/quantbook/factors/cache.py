"""A cache of factor values under the store, keyed by data, code, factor and date.

One file per (store data fingerprint, factor, code version, date)::

    data/<store>/cache/<namespace>/<fingerprint>/<factor>/<version>/<YYYY-MM-DD>.arrow

Each file is an Arrow IPC table ``(code, value)`` whose schema metadata repeats the key; a
file whose metadata does not match the requested key is never served. Files are written to
a temporary sibling and renamed, so a reader never sees a half-written file. The files use
the ``.arrow`` suffix on purpose: :meth:`quantbook.data.Store.fingerprint` hashes the store's
``*.parquet`` files, and a cache must not change the fingerprint of the data it caches.

The fingerprint of :func:`data_fingerprint` covers every Parquet file of the store except
those under ``cache/`` (other caches), so any change to the data, anywhere in the store,
selects a new folder: a value computed from other data is never served. The code version is
chosen by the caller (e.g. a hash of the source of the modules that compute the factor and of
its parameters), so a change of code or parameters does the same.

Examples
--------
>>> from quantbook.data import open_store                                   # doctest: +SKIP
>>> cache = FactorCache.for_store(open_store("smoke"), namespace="behavior", version="v1")  # doctest: +SKIP
>>> cache.put("apm", "2024-01-31", values)                                 # doctest: +SKIP
>>> cache.get("apm", "2024-01-31")                                         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from quantbook.data.calendar import DateLike
from quantbook.data.store import Store

__all__ = ["CacheWriteWarning", "FactorCache", "data_fingerprint", "source_hash"]

CACHE_DIR = "cache"
SUFFIX = ".arrow"


class CacheWriteWarning(UserWarning):
    """A cache file could not be written (e.g. a read-only store); the value is recomputed next time."""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_fingerprint(store: Store) -> str:
    """SHA-256 (16 hex digits) over the names and contents of the store's data files.

    Every ``*.parquet`` file under the store folder counts, except those under ``cache/``
    (where this and other caches live), and so does ``store.json``'s ``params``.
    """
    h = hashlib.sha256()
    root = store.path
    for p in sorted(root.rglob("*.parquet")):
        rel = p.relative_to(root)
        if rel.parts and rel.parts[0] == CACHE_DIR:
            continue
        h.update(rel.as_posix().encode())
        h.update(_sha256_file(p).encode())
    h.update(repr(sorted(store.meta.get("params", {}).items())).encode())
    return h.hexdigest()[:16]


def source_hash(*paths: str | os.PathLike[str], extra: str = "") -> str:
    """SHA-256 (12 hex digits) of source files' bytes and an extra string (e.g. parameters)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    h.update(extra.encode())
    return h.hexdigest()[:12]


def _day(date: DateLike) -> str:
    return f"{pd.Timestamp(date):%Y-%m-%d}"


class FactorCache:
    """Factor values per (factor, date) for one store fingerprint and code version.

    Parameters
    ----------
    root
        The cache folder of the store (``data/<store>/cache``).
    namespace
        Sub-folder, e.g. ``"behavior"``.
    fingerprint
        The store's :func:`data_fingerprint`.
    version
        The code (and parameter) version of the values.
    """

    def __init__(self, root: Path, *, namespace: str, fingerprint: str, version: str) -> None:
        for name, value in (
            ("namespace", namespace),
            ("fingerprint", fingerprint),
            ("version", version),
        ):
            if not value or "/" in value or value.startswith("."):
                raise ValueError(f"invalid cache {name} {value!r}")
        self.root = Path(root)
        self.namespace = namespace
        self.fingerprint = fingerprint
        self.version = version
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._warned = False

    @classmethod
    def for_store(
        cls, store: Store, *, namespace: str, version: str, fingerprint: str | None = None
    ) -> FactorCache:
        """The cache under ``store.path / "cache"`` for the store's current data."""
        fp = fingerprint if fingerprint is not None else data_fingerprint(store)
        return cls(store.path / CACHE_DIR, namespace=namespace, fingerprint=fp, version=version)

    def __repr__(self) -> str:
        return f"FactorCache({self.folder}, hits={self.hits}, misses={self.misses}, writes={self.writes})"

    @property
    def folder(self) -> Path:
        """Folder of this fingerprint: ``<root>/<namespace>/<fingerprint>``."""
        return self.root / self.namespace / self.fingerprint

    def path(self, factor: str, date: DateLike) -> Path:
        """File of one (factor, date)."""
        if not factor or "/" in factor or factor.startswith("."):
            raise ValueError(f"invalid factor name {factor!r}")
        return self.folder / factor / self.version / f"{_day(date)}{SUFFIX}"

    def _meta(self, factor: str, date: DateLike) -> dict[bytes, bytes]:
        return {
            b"fingerprint": self.fingerprint.encode(),
            b"factor": factor.encode(),
            b"version": self.version.encode(),
            b"date": _day(date).encode(),
        }

    def get(self, factor: str, date: DateLike) -> pd.Series | None:
        """The cached values (``code -> value``, named ``factor``), or None if absent or stale."""
        path = self.path(factor, date)
        try:
            tab = feather.read_table(path)
        except (OSError, pa.ArrowInvalid):
            self.misses += 1
            return None
        meta = tab.schema.metadata or {}
        expected = self._meta(factor, date)
        if any(meta.get(k) != v for k, v in expected.items()):
            self.misses += 1
            return None
        self.hits += 1
        codes = tab.column("code").to_pylist()
        values = tab.column("value").to_numpy(zero_copy_only=False).astype(float)
        return pd.Series(values, index=pd.Index(codes, dtype=object, name="code"), name=factor)

    def put(self, factor: str, date: DateLike, values: pd.Series) -> Path | None:
        """Write the values of one (factor, date) atomically; None (with a warning) if it fails."""
        path = self.path(factor, date)
        codes = [str(c) for c in values.index]
        tab = pa.table(
            {
                "code": pa.array(codes, pa.string()),
                "value": pa.array(np.asarray(values, dtype=float)),
            }
        ).replace_schema_metadata(self._meta(factor, date))
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            feather.write_feather(tab, str(tmp), compression="zstd")
            os.replace(tmp, path)
        except OSError as e:
            if not self._warned:
                warnings.warn(
                    f"factor cache {self.folder} is not writable ({e}); values are not cached",
                    CacheWriteWarning,
                    stacklevel=2,
                )
                self._warned = True
            return None
        finally:
            tmp.unlink(missing_ok=True)
        self.writes += 1
        return path

    def clear(self) -> None:
        """Remove this namespace's cache for every fingerprint and version."""
        shutil.rmtree(self.root / self.namespace, ignore_errors=True)

    def prune(self) -> list[Path]:
        """Remove folders of other fingerprints (data that no longer exists); returns them."""
        base = self.root / self.namespace
        removed = []
        if base.is_dir():
            for p in base.iterdir():
                if p.is_dir() and p.name != self.fingerprint:
                    shutil.rmtree(p, ignore_errors=True)
                    removed.append(p)
        return removed
