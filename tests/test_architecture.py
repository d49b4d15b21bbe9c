"""The layers of ARCHITECTURE.md hold: the import-linter contract in pyproject.toml is kept.

``lint-imports`` (a dev dependency, installed next to the interpreter) checks that every
module imports only from its own layer and the layers below it, which also means there is no
import cycle between packages; ``make lint`` runs the same check.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.is_file(), (
        f"{lint_imports} is missing: install the dev extra (pip install -e '.[dev]')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def _defined_names() -> dict[str, list[tuple[str, object]]]:
    """``{public name: [(module, object), ...]}`` of what each module under quantbook defines.

    A module's public names are its ``__all__``, or without one its public top-level functions
    and classes whose ``__module__`` is the module itself. A name bound to the same object in
    several modules (a package ``__init__`` re-exporting it) is one definition.
    """
    import inspect
    import pkgutil

    import quantbook

    found: dict[str, list[tuple[str, object]]] = {}
    for info in pkgutil.walk_packages(quantbook.__path__, prefix="quantbook."):
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            names = list(module.__all__)
        else:
            names = [
                n
                for n, obj in vars(module).items()
                if not n.startswith("_")
                and (inspect.isfunction(obj) or inspect.isclass(obj))
                and obj.__module__ == module.__name__
            ]
        for name in names:
            obj = getattr(module, name)
            owner = getattr(obj, "__module__", None)
            if (
                (inspect.isfunction(obj) or inspect.isclass(obj))
                and isinstance(owner, str)
                and owner.startswith("quantbook.")
                and owner != module.__name__
            ):
                continue  # re-exported: counted where it is defined
            seen = found.setdefault(name, [])
            if not any(o is obj for _, o in seen):
                seen.append((module.__name__, obj))
    return found


#: Names that the report contract asks of every report module (``reports/<report>.py``): one
#: meaning, "this report's step", defined once per report: ``prepare`` (the state of the page),
#: ``unavailable_inputs`` (``{section: reason}`` of what the store cannot feed) and
#: ``show_unavailable`` (the page's one box that names them).
REPORT_PROTOCOL = frozenset({"prepare", "unavailable_inputs", "show_unavailable"})


def test_public_names_have_one_meaning() -> None:
    """No public name is defined in two modules of lib/quantbook (one name = one meaning)."""
    from quantbook.reports.contract import SPECS

    reports = {f"quantbook.reports.{name}" for name in SPECS}
    clashes = {}
    for name, defs in _defined_names().items():
        modules = [m for m, _ in defs]
        if name in REPORT_PROTOCOL:
            modules = [m for m in modules if m not in reports]
        if len(modules) > 1:
            clashes[name] = modules
    assert not clashes, f"public names defined in several modules: {clashes}"
