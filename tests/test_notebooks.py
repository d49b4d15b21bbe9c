"""nbval: each committed notebook re-executes with its smoke parameters and gives the same outputs.

The committed ``notebooks/<report>.ipynb`` holds the outputs of a run with
``params/<report>.smoke.yml`` on the smoke store (``make notebooks-smoke`` regenerates them;
the smoke values stay in papermill's ``injected-parameters`` cell). nbval re-runs every cell
and compares outputs, after ``tests/nbval_sanitize.cfg`` masks volatile text (timestamps,
durations, paths, commit hashes, memory addresses, versions); the provenance cell is tagged
``nbval-ignore-output``.

The smoke store is the session's fresh build (``smoke_store`` of ``tests/conftest.py``);
``make notebooks-smoke`` rebuilds ``data/smoke`` the same way before regenerating the outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from quantbook.data import Store, open_store
from quantbook.runner import load_yaml, resolve_as_of

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SANITIZE = REPO / "tests" / "nbval_sanitize.cfg"


@pytest.fixture(scope="module")
def smoke_data(smoke_store: Store) -> Path:
    """The data root of the session's ``smoke`` store (``tests/conftest.py``), built now by the
    current synthetic source rather than reusing ``data/smoke``, which may predate a change."""
    return smoke_store.path.parent


def _cells(nb: Path) -> list[dict]:  # type: ignore[type-arg]
    return list(json.loads(nb.read_text())["cells"])


def _injected(nb: Path) -> dict[str, object]:
    for cell in _cells(nb):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            ns: dict[str, object] = {}
            exec("".join(cell["source"]), {}, ns)  # literals only
            return ns
    return {}


def _has_outputs(nb: Path) -> bool:
    return any(c.get("outputs") for c in _cells(nb) if c["cell_type"] == "code")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_cells_only_call_lib(nb: Path) -> None:
    """No def / class in a notebook; the parameters cell holds literals only."""
    import ast

    params_cells = 0
    for cell in _cells(nb):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith("%"))
        tree = ast.parse(code)
        assert not any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            for n in ast.walk(tree)
        ), f"{nb.name}: logic in a cell belongs in lib/: {src[:80]!r}"
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            params_cells += "parameters" in tags
            for stmt in tree.body:
                assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant), (
                    f"{nb.name}: the parameters cell must hold literals only"
                )
    assert params_cells == 1


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_outputs_come_from_smoke_params(
    nb: Path, smoke_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTBOOK_DATA", str(smoke_data))
    hint = "regenerate the committed outputs with: make notebooks-smoke"
    assert _has_outputs(nb), f"{nb.name} holds no outputs; {hint}"
    smoke = load_yaml(REPO / "params" / f"{nb.stem}.smoke.yml")
    if "as_of" in smoke:
        smoke["as_of"] = (
            f"{resolve_as_of(open_store(str(smoke.get('data', 'smoke'))), smoke['as_of']):%Y-%m-%d}"
        )
    injected = _injected(nb)
    for key, value in smoke.items():
        assert injected.get(key) == value, (
            f"{nb.name}: {key}={injected.get(key)!r}, smoke params say {value!r}; {hint}"
        )
    errors = [
        o for c in _cells(nb) for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors, f"{nb.name} holds an error output; {hint}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_nbval(nb: Path, smoke_data: Path) -> None:
    if not _has_outputs(nb):
        pytest.skip(
            f"{nb.name} holds no outputs yet (see test_committed_outputs_come_from_smoke_params)"
        )
    env = {
        **os.environ,
        "QUANTBOOK_DATA": str(smoke_data),
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        str(nb.relative_to(REPO)),
        "--nbval-sanitize-with",
        str(SANITIZE.relative_to(REPO)),
        "--nbval-kernel-name",
        "python3",
        "--nbval-cell-timeout",
        "600",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    assert proc.returncode == 0, (
        f"nbval failed for {nb.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    )
