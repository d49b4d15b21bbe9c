"""The one cache: atomic writes, the memoized store fingerprint, keys, and the shared risk fit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from quantbook.data import Store
from quantbook.data import store as store_module
from quantbook.data.atomic import atomic_write
from quantbook.data.cache import Cache, code_version, config_key
from quantbook.data.store import open_store
from quantbook.reports import behavior_monthly, risk_model
from quantbook.risk import RiskFitConfig, fit_cached
from quantbook.risk import model as risk_model_module


class Boom(Exception):
    pass


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write(target, lambda p: p.write_text("old"))
    assert target.read_text() == "old"

    def fail(p: Path) -> None:
        p.write_text("half")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(target, fail)
    assert target.read_text() == "old"  # the old file is kept
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # no temporary file left
    atomic_write(target, lambda p: p.write_text("new"))
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_cache_hits_misses_and_keys(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "ns", fingerprint="f1", version="v1")
    config = {"window": 21, "dates": ["2024-01-31"]}
    assert cache.get_object(config) is None and cache.misses == 1
    path = cache.put_object(config, {"x": 1})
    assert path is not None and path.parent == tmp_path / "ns" and path.suffix == ".pkl"
    assert cache.get_object(dict(reversed(list(config.items())))) == {"x": 1}  # order-free key
    assert (cache.hits, cache.misses, cache.writes) == (1, 1, 1)
    # another fingerprint, version or configuration is another key
    assert Cache(tmp_path / "ns", fingerprint="f2", version="v1").get_object(config) is None
    assert Cache(tmp_path / "ns", fingerprint="f1", version="v2").get_object(config) is None
    assert cache.get_object({**config, "window": 22}) is None
    assert cache.key(config) != config_key(config)
    # an unreadable entry is a miss, not an error
    path.write_bytes(b"not a pickle")
    assert cache.get_object(config) is None
    # a frame through the generic read / write
    frame = pd.DataFrame({"a": [1.0, np.nan]})
    cache.write({"f": 1}, "parquet", lambda p: frame.to_parquet(p))
    pd.testing.assert_frame_equal(cache.read({"f": 1}, "parquet", pd.read_parquet), frame)


def test_cache_for_store_folder_and_unwritable(smoke_store: Store, tmp_path: Path) -> None:
    cache = Cache.for_store(smoke_store, "test-ns", version="v")
    assert cache.folder == smoke_store.path / "cache" / "test-ns"
    assert cache.fingerprint.startswith(f"{smoke_store.fingerprint()}-")
    blocked = tmp_path / "file"
    blocked.write_text("")
    ro = Cache(blocked / "ns", fingerprint="f", version="v")  # its folder cannot be created
    with pytest.warns(UserWarning, match="not writable"):
        assert ro.put_object({"a": 1}, 1) is None


def test_code_version_follows_sources_and_config(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("x = 1\n")
    v1 = code_version([src], {"a": 1})
    assert v1 == code_version([src], {"a": 1}) and v1 != code_version([src], {"a": 2})
    src.write_text("x = 2\n")
    assert code_version([src], {"a": 1}) != v1
    assert code_version([tmp_path]) == code_version([src])  # a folder: its *.py files


def _copy_store(store: Store, dest: Path) -> Store:
    shutil.copytree(store.path, dest, ignore=shutil.ignore_patterns("cache"))
    return Store(dest)


def test_fingerprint_is_memoized_and_follows_the_files(
    smoke_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _copy_store(smoke_store, tmp_path / "s")
    calls = 0
    real = store_module._file_sha256

    def counting(path: Path) -> str:
        nonlocal calls
        calls += 1
        return real(path)

    monkeypatch.setattr(store_module, "_file_sha256", counting)
    first = store.fingerprint()
    assert first == smoke_store.fingerprint()  # same files, same value
    hashed = calls
    assert hashed > 0
    assert Store(store.path).fingerprint() == first and calls == hashed  # a stat, not a hash
    # a file written under cache/ does not count
    (store.path / "cache").mkdir(exist_ok=True)
    pd.DataFrame({"a": [1]}).to_parquet(store.path / "cache" / "x.parquet")
    assert store.fingerprint() == first and calls == hashed
    # a changed data file is hashed again and changes the fingerprint
    table = next(p for p in sorted(store.path.rglob("*.parquet")) if "cache" not in p.parts)
    t = pq.read_table(table)
    pq.write_table(t.slice(0, max(1, t.num_rows - 1)), table)
    assert store.fingerprint() != first and calls > hashed


def test_risk_fit_shared_by_two_reports(
    smoke_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _copy_store(smoke_store, tmp_path / "s")
    fits = 0
    real = risk_model_module.fit

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal fits
        fits += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(risk_model_module, "fit", counting)
    ends = store.calendar().month_ends()
    as_of = ends[-2]
    months = 3
    start = ends[ends <= as_of][-(months + 1)]
    # the behaviour report's style returns, then the Barra+ML pipeline's fit of the same
    # (store, as-of, configuration): one fit
    style = behavior_monthly.style_factor_returns(store, as_of=as_of, months=months)
    assert fits == 1 and style.available
    fr = fit_cached(store, end=as_of, config=RiskFitConfig(freq="M", start=start)).factor_returns
    assert fits == 1
    pd.testing.assert_frame_equal(
        fr, real(store, start=start, end=as_of, freq="M", progress=False).factor_returns
    )
    # the risk-model report also wants the exposures as of its month-end: its own entry,
    # fitted once across its runs (and processes: the entry is on disk)
    rep = risk_model.prepare(store, as_of=as_of, start=start)
    assert fits == 2
    pd.testing.assert_frame_equal(rep.result.factor_returns, fr)
    assert risk_model.prepare(store, as_of=as_of, start=start).result.exposures.dates.equals(
        rep.exposures.dates
    )
    assert fits == 2
    # an as-of inside the next month resolves to the same periods: served, same result
    again = fit_cached(store, end=as_of + pd.Timedelta(days=3), config=RiskFitConfig(start=start))
    assert fits == 2
    pd.testing.assert_frame_equal(again.factor_returns, fr)
    # another configuration fits again
    fit_cached(store, end=as_of, config=RiskFitConfig(start=ends[ends <= as_of][-3]))
    assert fits == 3
    fit_cached(store, end=as_of, config=RiskFitConfig(start=start, freq="W"))
    assert fits == 4
    # a changed data file fits again
    before = store.fingerprint()
    table = next(p for p in sorted(store.path.rglob("*.parquet")) if "cache" not in p.parts)
    t = pq.read_table(table)
    pq.write_table(t, table, compression="gzip")  # same rows, other bytes
    assert store.fingerprint() != before
    fit_cached(store, end=as_of, config=RiskFitConfig(start=start))
    assert fits == 5


def test_store_cache_key_covers_the_source_record(smoke_store: Store, tmp_path: Path) -> None:
    """Data regenerated on demand depends on store.json's source record: it is in the key."""
    copy = tmp_path / "smoke"
    shutil.copytree(smoke_store.path, copy, ignore=shutil.ignore_patterns("cache"))
    meta = json.loads((copy / "store.json").read_text())
    before = Cache.for_store(open_store("smoke", root=tmp_path), "ns", version="v").key({"a": 1})
    meta["params"] = {**meta.get("params", {}), "seed": -1}
    (copy / "store.json").write_text(json.dumps(meta))
    after = Cache.for_store(open_store("smoke", root=tmp_path), "ns", version="v").key({"a": 1})
    assert (
        open_store("smoke", root=tmp_path).fingerprint() == smoke_store.fingerprint()
    )  # same table files
    assert before != after
