"""nbval: each committed notebook re-executes with its smoke parameters and gives the same outputs.

The committed ``notebooks/<report>.ipynb`` holds the outputs of a run with
``params/<report>.smoke.yml`` on the smoke store (``make notebooks-smoke`` regenerates them;
the smoke values stay in papermill's ``injected-parameters`` cell). nbval re-runs every cell
and compares outputs, after ``tests/nbval_sanitize.cfg`` masks volatile text (timestamps,
durations, paths, commit hashes, memory addresses, versions); the provenance cell is tagged
``nbval-ignore-output``.

What nbval compares must come out the same on any CPU. Figures of models trained in float32
differ between instruction sets (AVX-512, AVX2, none) in the last bits and training grows that
to the printed digits, so the GAN_GRU smoke preset trains in float64 (differences of about
1e-7 in the factor instead of 1e-2) and quantities at float32 rounding level are printed as
bounds ("< 1e-6"). A cell whose figures may still move by a rounding step is tagged
``nbval-tolerance`` as well as ``nbval-ignore-output``: :func:`test_tolerance_cells`
re-executes the notebook and checks each number of those cells against the committed one
within one unit of its last printed digit. That the same seed on the same machine gives
identical bits is tested apart (``tests/test_gan_gru.py``, ``tests/test_mhc.py``,
``tests/test_models_training.py``).

The smoke store is the session's fresh build (``smoke_store`` of ``tests/conftest.py``);
``make notebooks-smoke`` rebuilds ``data/smoke`` the same way before regenerating the outputs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from quantbook.data import Store, open_store
from quantbook.runner import load_yaml, resolve_as_of

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
SANITIZE = REPO / "tests" / "nbval_sanitize.cfg"
TOLERANCE_TAG = "nbval-tolerance"
#: A printed number: sign, digits with optional thousands separators, optional decimals.
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.(\d+))?")


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


def _tolerance_cells(nb: Path) -> list[int]:
    return [
        i
        for i, c in enumerate(_cells(nb))
        if TOLERANCE_TAG in c.get("metadata", {}).get("tags", [])
    ]


def _plain(cell: dict) -> str:  # type: ignore[type-arg]
    for o in cell.get("outputs", []):
        if "text/plain" in o.get("data", {}):
            return "".join(o["data"]["text/plain"])
    return ""


def numbers_differ(expected: str, actual: str) -> list[str]:
    """What differs between two printed tables beyond one unit of each number's last digit.

    Notes
    -----
    The texts are split into numbers and the text between them (runs of spaces collapsed: a
    column widens when a sign appears). The text must be equal, and each number must print
    with the same decimals as the committed one and lie within one unit of its last digit
    (0.0250 against 0.0251 passes, 0.0250 against 0.0252 does not; 61.97% against 61.98%
    passes): the rounding step a difference of about 1e-7 in the factor can cross.
    """
    e_nums, a_nums = list(NUMBER.finditer(expected)), list(NUMBER.finditer(actual))
    e_text = " ".join(NUMBER.sub("#", expected).split())
    a_text = " ".join(NUMBER.sub("#", actual).split())
    if e_text != a_text or len(e_nums) != len(a_nums):
        return [f"the text differs:\n{expected}\n---\n{actual}"]
    out = []
    for e, a in zip(e_nums, a_nums, strict=True):
        decimals = len(e.group(1) or "")
        unit = 10.0**-decimals
        ev, av = (float(m.group(0).replace(",", "")) for m in (e, a))
        if len(a.group(1) or "") != decimals or abs(ev - av) > unit * (1 + 1e-9):
            out.append(f"{a.group(0)} printed where {e.group(0)} is committed (tolerance {unit:g})")
    return out


def test_numbers_differ() -> None:
    assert numbers_differ("IC  0.0250  61.97%", "IC 0.0251  61.96%") == []
    assert numbers_differ("IC  0.0250", "IC -0.0001") != []
    assert numbers_differ("IC 0.0250", "IC 0.0252") != []
    assert numbers_differ("IC 0.0250", "IR 0.0250") != []
    assert numbers_differ("n 1,234", "n 1,235") == []


TOLERANCE_NOTEBOOKS = [nb for nb in NOTEBOOKS if _tolerance_cells(nb)]


@pytest.mark.parametrize("nb", TOLERANCE_NOTEBOOKS, ids=[p.stem for p in TOLERANCE_NOTEBOOKS])
def test_tolerance_cells(nb: Path, smoke_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cells nbval skips for their last digit: every number within one unit of it."""
    import papermill as pm

    monkeypatch.setenv("QUANTBOOK_DATA", str(smoke_data))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    executed = pm.execute_notebook(
        str(nb),
        None,
        parameters=_injected(nb),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(REPO),
    )
    committed = _cells(nb)
    fresh = [dict(c) for c in executed.cells]
    indices = _tolerance_cells(nb)
    assert len(indices) <= 2, f"{nb.name}: keep the cells compared with a tolerance few"
    for i in indices:
        src = "".join(committed[i]["source"])
        assert "".join(fresh[i]["source"]) == src, f"{nb.name}: cell {i} moved"
        expected = _plain(committed[i])
        assert expected, f"{nb.name}: cell {i} holds no committed text; make notebooks-smoke"
        bad = numbers_differ(expected, _plain(fresh[i]))
        assert not bad, f"{nb.name}, cell {i} ({src[:40]!r}):\n" + "\n".join(bad)
