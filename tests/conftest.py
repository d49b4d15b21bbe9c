"""Shared fixtures: synthetic stores built once per test session in a temporary data root."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from quantbook.data import Store
from quantbook.data.sources.synthetic import build_store


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root for the session's synthetic stores (never the repository's data/)."""
    return tmp_path_factory.mktemp("synthetic_data")


@pytest.fixture(scope="session")
def smoke_store(synthetic_root: Path) -> Store:
    """The ``smoke`` synthetic store (about 7 s to build)."""
    return build_store(preset="smoke", name="smoke", progress=False, root=synthetic_root)


@pytest.fixture(scope="session")
def default_store(synthetic_root: Path) -> Store:
    """The ``default`` synthetic store (about a minute to build): the one planted effects are documented on."""
    return build_store(preset="default", name="default", progress=False, root=synthetic_root)


def real_sample_dir() -> Path:
    """Where the real A-share sample lies: ``$QUANTBOOK_REAL_SAMPLE`` or ``../shared/data/real``."""
    env = os.environ.get("QUANTBOOK_REAL_SAMPLE")
    return (
        Path(env)
        if env
        else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
    )


@pytest.fixture(scope="session")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The real A-share sample imported once per session (about 15 s); skips when absent."""
    folder = real_sample_dir()
    if not (folder / "ashare_daily_2020_2022.parquet").is_file():
        pytest.skip(f"real A-share sample not found at {folder} (set QUANTBOOK_REAL_SAMPLE)")
    from quantbook.data.sources.files import import_files

    root = tmp_path_factory.mktemp("real_data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return import_files([folder], name="real", progress=False, root=root)
