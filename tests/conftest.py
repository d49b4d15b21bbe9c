"""Shared fixtures: synthetic stores built once per test session in a temporary data root."""

from __future__ import annotations

import sys
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
