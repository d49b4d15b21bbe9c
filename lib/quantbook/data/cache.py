"""One cache of derived results under the store and one code version.

Everything a computation derives from a store (factor values, trained models, model inputs,
risk-model fits) is kept in one folder convention::

    data/<store>/cache/<namespace>/<key>.<ext>

where ``key`` hashes the store's data fingerprint (:meth:`quantbook.data.Store.fingerprint`,
memoized per file signature), the code version of the modules that compute the result
(:func:`code_version`) and the configuration of the computation (a JSON-able mapping). Any
change of data, code or configuration selects a new file: an entry computed from something
else is never served. Entries are written with :func:`quantbook.data.atomic.atomic_write`, so a reader never sees
a half-written file. The store's ``cache/`` folder is left out of its fingerprint, so filling
the cache does not change the key of what it caches.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> cache = Cache(Path(tempfile.mkdtemp()) / "demo", fingerprint="fp", version="v1")
>>> cache.get_object({"window": 21}) is None
True
>>> _ = cache.put_object({"window": 21}, [1, 2, 3])
>>> cache.get_object({"window": 21}), cache.hits, cache.misses, cache.writes
([1, 2, 3], 1, 1, 1)
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from quantbook.data.atomic import atomic_write
from quantbook.data.store import CACHE_DIR, Store

if TYPE_CHECKING:
    import torch

__all__ = [
    "Cache",
    "CacheWriteWarning",
    "code_version",
    "config_key",
]

T = TypeVar("T")


class CacheWriteWarning(UserWarning):
    """A cache entry could not be written (e.g. a read-only store); it is recomputed next time."""


# -- keys --------------------------------------------------------------------------------------
def config_key(config: Mapping[str, Any]) -> str:
    """A 20-hex-digit key: SHA-256 of ``config`` as sorted JSON (non-JSON values as ``str``).

    Examples
    --------
    >>> config_key({"b": 1, "a": 2}) == config_key({"a": 2, "b": 1})
    True
    """
    blob = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _source_files(source: ModuleType | Path) -> list[Path]:
    if isinstance(source, ModuleType):
        file = getattr(source, "__file__", None)
        if file is None:
            raise ValueError(f"module {source.__name__} has no source file")
        path = Path(file)
        # a package stands for every module of its folder
        return sorted(path.parent.glob("*.py")) if path.name == "__init__.py" else [path]
    return sorted(source.glob("*.py")) if source.is_dir() else [source]


def code_version(
    sources: Iterable[ModuleType | Path], config: Mapping[str, Any] | None = None
) -> str:
    """A 12-hex-digit version of the code that computes a result, and of its configuration.

    Parameters
    ----------
    sources
        The modules (or source files) whose code determines the result; a package, or a
        folder, stands for every ``*.py`` file in it.
    config
        The configuration (JSON-able mapping; non-JSON values as ``str``).

    Notes
    -----
    SHA-256 over, for each source file in the given order, its name and bytes, then over
    ``config`` as sorted JSON. Any edit of those files changes the version (also a comment:
    a cache then recomputes, never serves a stale result).

    Examples
    --------
    >>> import quantbook.errors as m
    >>> code_version([m], {"a": 1}) != code_version([m], {"a": 2})
    True
    """
    h = hashlib.sha256()
    for source in sources:
        for p in _source_files(source):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    h.update(json.dumps(dict(config or {}), sort_keys=True, default=str).encode())
    return h.hexdigest()[:12]


# -- the cache -----------------------------------------------------------------------------------
class Cache:
    """Results of one namespace, keyed by (data fingerprint, code version, configuration).

    Parameters
    ----------
    folder
        The namespace's folder, normally ``<store>/cache/<namespace>`` (:meth:`for_store`).
    fingerprint
        Identifies the data (the store's :meth:`~quantbook.data.Store.fingerprint`, possibly
        followed by a digest of a subset of it).
    version
        The code version (:func:`code_version`, or a version string of the caller).

    Attributes
    ----------
    hits, misses, writes
        Counters of :meth:`read` / :meth:`write` (and the typed variants) since creation.

    Notes
    -----
    The entry of a configuration ``c`` is ``<folder>/<k>.<ext>`` with
    ``k = config_key({"fingerprint": fingerprint, "version": version, "config": c})``. An
    entry that cannot be read (absent, truncated, another format) is a miss; an entry that
    cannot be written gives one :class:`CacheWriteWarning` per cache and is recomputed next
    time.
    """

    def __init__(self, folder: str | os.PathLike[str], *, fingerprint: str, version: str) -> None:
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.version = version
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._warned = False

    @classmethod
    def for_store(cls, store: Store, namespace: str, *, version: str) -> Cache:
        """The cache ``<store>/cache/<namespace>`` for the store's current data.

        Notes
        -----
        The data's identity is :meth:`~quantbook.data.store.Store.fingerprint` (the table
        files) plus the source's record in ``store.json`` (``source``, ``params``,
        ``minute_source``): data regenerated on demand (a synthetic store's minute bars)
        depends on it too, so a store rebuilt with other source settings never serves stale
        entries.
        """
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise ValueError(f"invalid cache namespace {namespace!r}")
        source = {k: store.meta.get(k) for k in ("source", "params", "minute_source")}
        return cls(
            store.path / CACHE_DIR / namespace,
            fingerprint=f"{store.fingerprint()}-{config_key(source)[:12]}",
            version=version,
        )

    def __repr__(self) -> str:
        return f"Cache({self.folder}, hits={self.hits}, misses={self.misses}, writes={self.writes})"

    def key(self, config: Mapping[str, Any]) -> str:
        """The key of ``config`` (it also covers the fingerprint and the version)."""
        return config_key(
            {"fingerprint": self.fingerprint, "version": self.version, "config": dict(config)}
        )

    def path(self, config: Mapping[str, Any], ext: str) -> Path:
        """The file of ``config``'s entry with suffix ``ext`` (no dot)."""
        return self.folder / f"{self.key(config)}.{ext}"

    def read(
        self,
        config: Mapping[str, Any],
        ext: str,
        reader: Callable[[Path], T],
        *,
        errors: tuple[type[BaseException], ...] = (),
    ) -> T | None:
        """``reader(path)`` of the entry, or None when absent or ``reader`` raises ``errors``."""
        path = self.path(config, ext)
        if not path.is_file():
            self.misses += 1
            return None
        caught: tuple[type[BaseException], ...] = (OSError, EOFError, *errors)
        try:
            value = reader(path)
        except caught:
            self.misses += 1
            return None
        self.hits += 1
        return value

    def write(
        self, config: Mapping[str, Any], ext: str, writer: Callable[[Path], object]
    ) -> Path | None:
        """Write the entry with ``writer(tmp_path)`` atomically; None (one warning) on failure."""
        path = self.path(config, ext)
        try:
            atomic_write(path, writer)
        except OSError as e:
            if not self._warned:
                warnings.warn(
                    f"cache {self.folder} is not writable ({e}); results are not cached",
                    CacheWriteWarning,
                    stacklevel=3,
                )
                self._warned = True
            return None
        self.writes += 1
        return path

    # pickled objects
    def get_object(self, config: Mapping[str, Any]) -> Any | None:
        """The pickled object of ``config``, or None."""

        def load(p: Path) -> Any:
            with p.open("rb") as f:
                return pickle.load(f)

        return self.read(config, "pkl", load, errors=(pickle.UnpicklingError, AttributeError))

    def put_object(self, config: Mapping[str, Any], value: Any) -> Path | None:
        """Pickle ``value`` as the entry of ``config``."""

        def dump(p: Path) -> None:
            with p.open("wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)

        return self.write(config, "pkl", dump)

    # torch state dicts
    def get_states(
        self, config: Mapping[str, Any]
    ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]] | None:
        """``({name: state_dict}, meta)`` saved for ``config``, or None."""
        import torch  # only the model caches need torch

        def load(p: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
            payload = torch.load(p, map_location="cpu", weights_only=True)
            return dict(payload["states"]), dict(payload["meta"])

        return self.read(config, "pt", load, errors=(RuntimeError, KeyError))

    def put_states(
        self,
        config: Mapping[str, Any],
        states: Mapping[str, Mapping[str, torch.Tensor]],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Save ``{name: state_dict}`` (tensors copied to the CPU) and a JSON-safe ``meta``."""
        import torch

        payload = {
            "states": {
                k: {n: t.detach().cpu().clone() for n, t in v.items()} for k, v in states.items()
            },
            "meta": json.loads(json.dumps(dict(meta or {}), default=str)),
        }
        return self.write(config, "pt", lambda p: torch.save(payload, p))

    def clear(self) -> None:
        """Remove every entry of this namespace (all fingerprints and versions)."""
        shutil.rmtree(self.folder, ignore_errors=True)
