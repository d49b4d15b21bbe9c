"""The report contract, checked for every report with a notebook under ``notebooks/``.

Each report declares its contract in :data:`quantbook.reports.contract.SPECS` (as-of policy,
parameters, headline metrics); its notebook's parameters cell has exactly those parameters,
its setup cell is the one setup call (three lines at most); ``params/<name>.yml`` and its
smoke variant exist; and the runner is the only place that moves an as-of date: ``prepare``
refuses a date its policy does not allow.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fixtures_small import build_small_store
from quantbook.book import BookPaths, load_yaml
from quantbook.data.store import Store, open_store
from quantbook.provenance import collect
from quantbook.reports import Metrics, headline_entries
from quantbook.reports.contract import (
    SPECS,
    AsOfPolicyError,
    UnknownReportError,
    check_as_of,
    policy_date,
    report_spec,
)
from quantbook.runner import resolve_as_of
from quantbook.tables import Headline, format_value, show_headline

PATHS = BookPaths.at()
REPORTS = PATHS.report_names()


def _cells(report: str) -> list[dict[str, object]]:
    cells: list[dict[str, object]] = json.loads(PATHS.notebook(report).read_text())["cells"]
    return cells


def _tags(cell: dict[str, object]) -> list[str]:
    meta = cell.get("metadata")
    tags = meta.get("tags", []) if isinstance(meta, dict) else []
    return [str(t) for t in tags]


def _source(cell: dict[str, object]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else str(src)


def _tagged(report: str, tag: str) -> dict[str, object]:
    found = [c for c in _cells(report) if tag in c.get("metadata", {}).get("tags", [])]  # type: ignore[union-attr]
    assert len(found) == 1, f"{report}: expected one {tag!r} cell"
    return found[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("contract_data")
    build_small_store(root)
    return open_store("tiny", root=root)


def test_every_report_has_a_module_a_spec_and_params() -> None:
    assert REPORTS and set(REPORTS) == set(SPECS)
    for name in REPORTS:
        spec = report_spec(name)
        assert spec.name == name
        assert spec.as_of_policy in ("session", "month_end", "week_end")
        assert spec.headline and all(isinstance(h, Headline) for h in spec.headline.values())
        module = importlib.import_module(f"quantbook.reports.{name}")
        assert callable(module.prepare), name
        assert not hasattr(module, "HEADLINE"), f"{name}: headline is declared in SPECS only"
        assert PATHS.params_file(name).is_file() and PATHS.params_file(name, "smoke").is_file()
        for variant in (None, "smoke"):
            keys = set(load_yaml(PATHS.params_file(name, variant)))
            assert keys <= set(spec.notebook_parameters), (name, variant)


def test_parameters_cell_has_the_declared_parameters() -> None:
    for name in REPORTS:
        tree = ast.parse(_source(_tagged(name, "parameters")))
        names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]  # type: ignore[attr-defined]
        assert sorted(names) == sorted(SPECS[name].notebook_parameters), name


def test_setup_cell_is_the_one_setup_call() -> None:
    for name in REPORTS:
        setup_cells = [c for c in _cells(name) if "setup(" in _source(c)]
        assert len(setup_cells) == 1, name
        src = _source(setup_cells[0]).strip()
        assert len(src.splitlines()) <= 3, (name, src)
        assert src.startswith(f'ctx = setup("{name}", globals(), prepare='), (name, src)
        # the report's own code: papermill's injected cell records the run's parameters (a
        # requested "latest" there is what the runner resolved, not a branch in the notebook)
        code = "\n".join(
            _source(c)
            for c in _cells(name)
            if c["cell_type"] == "code" and "injected-parameters" not in _tags(c)
        )
        for banned in ("open_store(", "provenance.collect(", "Metrics(", '"latest"'):
            assert banned not in code, (name, banned)


def test_prepare_refuses_a_date_its_policy_does_not_allow(tiny: Store) -> None:
    cal = tiny.calendar()
    month_end = pd.Timestamp(cal.month_ends()[-1])
    bad = {
        "session": pd.Timestamp("2024-02-03"),  # a Saturday
        "month_end": pd.Timestamp("2024-02-21"),  # a mid-month session
        "week_end": pd.Timestamp("2024-02-21"),  # a Wednesday session
    }
    assert not cal.is_session(bad["session"]) and cal.is_session(bad["month_end"])
    for name in REPORTS:
        policy = SPECS[name].as_of_policy
        module = importlib.import_module(f"quantbook.reports.{name}")
        with pytest.raises(AsOfPolicyError, match=name):
            module.prepare(tiny, as_of=bad[policy])
        with pytest.raises(AsOfPolicyError, match="outside store"):
            module.prepare(tiny, as_of=tiny.end + pd.Timedelta(days=40))
    assert check_as_of(tiny, month_end, report="behavior_monthly") == month_end


def test_runner_resolves_with_the_policy(tiny: Store) -> None:
    notes: list[str] = []
    day = "2024-02-21"
    assert resolve_as_of(tiny, day, policy="session", notify=notes.append) == pd.Timestamp(day)
    assert not notes
    assert resolve_as_of(tiny, day, policy="month_end", notify=notes.append) == pd.Timestamp(
        "2024-01-31"
    )
    assert "not a month-end" in notes[-1] and "2024-01-31" in notes[-1]
    week_end = resolve_as_of(tiny, day, policy="week_end", notify=notes.append)
    assert week_end == pd.Timestamp("2024-02-08") == policy_date(tiny, day, "week_end")
    with pytest.raises(UnknownReportError, match="no_such_report"):
        report_spec("no_such_report")


def test_moved_date_is_stated_in_the_provenance(tiny: Store) -> None:
    prov = collect(
        tiny,
        as_of="2024-01-31",
        report="behavior_monthly",
        as_of_note="requested 2024-02-21, moved to the report's month-end",
    )
    assert dict(prov.rows())["As of"] == (
        "2024-01-31 (requested 2024-02-21, moved to the report's month-end)"
    )
    assert prov.to_metrics()["provenance.as_of_note"].startswith("requested 2024-02-21")


def test_metrics_file_carries_the_headline(tmp_path: Path) -> None:
    spec = SPECS["market_overview"]
    m = Metrics(headline=spec.headline)
    m.record("breadth.share_up", 0.5)
    m.record("limits.up.stock_days", 12)
    path = m.write(tmp_path / "m.json")
    assert path is not None
    data = json.loads(path.read_text())
    assert headline_entries(data) == dict(spec.headline)
    assert data["headline.1.key"] == "breadth.share_up" and data["headline.1.value"] == 0.5
    assert data["headline.0.value"] is None  # declared, not recorded
    shown = show_headline(m, m.headline).frame
    assert list(shown["value"]) == ["50.00%", "12"]
    assert format_value(float("nan"), ".2%") == "–"


def test_etf_headline_names_every_strategy() -> None:
    from quantbook.strategies import STRATEGIES

    assert set(SPECS["etf_weekly"].headline) == {
        f"strategy.{k}.excess_since_start" for k in STRATEGIES
    }
    assert [h.label for h in SPECS["etf_weekly"].headline.values()] == [
        f"{cls.title}: excess since start" for cls in STRATEGIES.values()
    ]


def test_runner_and_site_import_no_report_module() -> None:
    code = (
        "import sys, quantbook.runner, quantbook.site\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or (m.startswith('quantbook.reports.')"
        " and m != 'quantbook.reports.contract'))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
