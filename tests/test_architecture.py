"""The layers of ARCHITECTURE.md hold: the import-linter contract in pyproject.toml is kept.

``lint-imports`` (a dev dependency, installed next to the interpreter) checks that every
module imports only from its own layer and the layers below it, which also means there is no
import cycle between packages; ``make lint`` runs the same check.
"""

from __future__ import annotations

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
