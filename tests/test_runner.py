"""The report runner: papermill runs, atomic pages and metrics, run-due, failures, dates, params.

The papermill runs happen once per session in :class:`fixtures_small.SharedBook` (a tiny
store and a book root in a temporary folder); the tests here check what they left, plus a
failing run and a rerun on that same book.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from fixtures_small import SharedBook, build_small_store, tree_digest
from quantbook import cli
from quantbook.data import open_store
from quantbook.runner import (
    AsOfError,
    due_runs,
    load_schedule,
    page_tags,
    parse_overrides,
    resolve_as_of,
    resolve_params,
    run_report,
)


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> SharedBook:
    return SharedBook.get(tmp_path_factory)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_data")
    build_small_store(root)
    return root


def _reports(book: SharedBook) -> Path:
    return book.root / "book" / "reports" / "market_overview"


def _table_outputs(nb_path: Path) -> list[str]:
    """Text and HTML outputs of every cell that nbval compares (not the provenance cell)."""
    nb = nbformat.read(str(nb_path), as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            out += [
                str(data.get("text/plain", "")),
                str(data.get("text/html", "")),
                str(o.get("text", "")),
            ]
    return out


# -- what the shared runs left --------------------------------------------------------------------
def test_run_writes_page_and_metrics(book: SharedBook) -> None:
    res = book.first
    assert res.as_of == "2024-01-31"
    assert res.notebook == _reports(book) / "2024-01-31.ipynb" and res.notebook.is_file()
    assert res.metrics == _reports(book) / "2024-01-31.metrics.json" and res.metrics.is_file()
    m = json.loads(res.metrics.read_text())
    for key in (
        "universe.n_stocks",
        "index.000300.SH.ret_month",
        "index.801080.SI.ret_ytd",
        "breadth.share_up",
        "turnover.market_mean",
        "limits.up.stock_days",
        "pool.000300.SH.n_members",
        "provenance.as_of",
        "provenance.fingerprint",
        "provenance.git_commit",
        "provenance.params.universe",
        "provenance.versions.pandas",
    ):
        assert key in m, key
    assert m["universe.n_stocks"] == 11  # the IPO of 2024-02-19 is not listed yet
    assert m["provenance.as_of"] == "2024-01-31" and m["provenance.synthetic"] is True
    assert m["provenance.fingerprint"] == open_store("tiny", root=book.data).fingerprint()
    nb = nbformat.read(str(res.notebook), as_version=4)
    assert nb.cells[0].source.startswith("# Market overview: 2024-01-31")
    code = [c for c in nb.cells if c.cell_type == "code"]
    tags = [c.metadata.get("tags", []) for c in code]
    assert all(("remove-input" in t) != ("remove-cell" in t) for t in tags), tags
    assert not any("hide-input" in t for t in tags)
    assert any("injected-parameters" in t and "remove-cell" in t for t in tags)
    assert any("parameters" in t and "remove-cell" in t for t in tags)
    shown = [c for c in code if "remove-input" in c.metadata.tags]
    assert len(shown) >= 10 and all(c.outputs for c in shown)
    committed = nbformat.read(str(book.root / "notebooks" / "market_overview.ipynb"), as_version=4)
    assert not any("remove-input" in c.metadata.get("tags", []) for c in committed.cells), (
        "only the published copy is tagged"
    )
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    html = "".join(
        str(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", [])
    )
    assert "Synthetic data" in html and "Provenance" in html
    assert not list(_reports(book).glob(".*")), "temporary files left behind"


def test_new_date_leaves_other_pages_untouched(book: SharedBook) -> None:
    assert [r.as_of for r in book.due_feb.done] == ["2024-02-29"]
    assert [(d.report, d.as_of) for d in book.due_feb.due] == [("market_overview", "2024-02-29")]
    for path, digest in book.after_first.items():
        assert book.after_feb[path] == digest, f"{path} changed when another date ran"


def test_run_due_after_one_new_month_runs_only_it(book: SharedBook) -> None:
    assert [r.as_of for r in book.due_mar.done] == ["2024-03-29"]
    assert book.due_mar.ok
    with book.env():
        # store ends 2024-04-15: April is not complete, so nothing is due
        assert due_runs(data="tiny", root=book.root) == []


# -- failing run, rerun ---------------------------------------------------------------------------
def test_failing_run_exits_nonzero_and_changes_nothing(
    book: SharedBook, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_digest(book.root / "book")
    with book.env():
        rc = cli.main(
            [
                "run",
                "market_overview",
                "--as-of",
                "2024-01-31",
                "--data",
                "tiny",
                "-p",
                "universe=does_not_exist",
            ]
        )
    err = capsys.readouterr().err
    assert rc == 1
    assert "UnknownUniverseError" in err and "does_not_exist" in err
    assert (
        "failing cell" in err and 'setup("market_overview", globals(), prepare=mo.prepare)' in err
    )
    assert tree_digest(book.root / "book") == before
    assert not list(_reports(book).glob(".*"))


def test_rerun_gives_identical_tables(book: SharedBook) -> None:
    page = _reports(book) / "2024-02-29.ipynb"
    first_tables = _table_outputs(page)
    first_metrics = json.loads((_reports(book) / "2024-02-29.metrics.json").read_text())
    with book.env():
        res = run_report("market_overview", "2024-02-29", data="tiny", root=book.root)
    assert _table_outputs(res.notebook) == first_tables
    again = json.loads(res.metrics.read_text())
    volatile = {"provenance.run_time", "provenance.git_dirty", "provenance.git_commit"}
    assert {k: v for k, v in again.items() if k not in volatile} == {
        k: v for k, v in first_metrics.items() if k not in volatile
    }


# -- dates ------------------------------------------------------------------------------------------
def test_non_trading_day_snaps_with_notice(tiny: Path) -> None:
    store = open_store("tiny", root=tiny)
    notes: list[str] = []
    assert resolve_as_of(store, "2024-02-03", notify=notes.append) == pd.Timestamp("2024-02-02")
    assert notes and "2024-02-03 is not a trading day" in notes[0] and "2024-02-02" in notes[0]
    assert resolve_as_of(store, "2024-02-02", notify=notes.append) == pd.Timestamp("2024-02-02")
    assert len(notes) == 1
    assert resolve_as_of(store, "latest") == pd.Timestamp("2024-03-29")


def test_date_after_store_end_is_refused(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store("tiny", root=tiny)
    with pytest.raises(AsOfError, match=r"after the last date of store 'tiny' \(2024-04-15\)"):
        resolve_as_of(store, "2024-05-31")
    with pytest.raises(AsOfError, match="before the first date"):
        resolve_as_of(store, "2020-01-02")
    monkeypatch.setenv("QUANTBOOK_DATA", str(tiny))
    assert cli.main(["run", "market_overview", "--as-of", "2024-05-31", "--data", "tiny"]) == 1
    err = capsys.readouterr().err
    assert "2024-04-15" in err and "after the last date" in err


# -- parameters and schedule ----------------------------------------------------------------------
def test_page_tags_hide_every_input() -> None:
    assert page_tags([], has_outputs=True) == ["remove-input"]
    assert page_tags(["hide-input", "nbval-ignore-output"], has_outputs=True) == [
        "nbval-ignore-output",
        "remove-input",
    ]
    assert page_tags(["hide-input"], has_outputs=False) == ["remove-cell"]
    assert page_tags(["parameters"], has_outputs=False) == ["parameters", "remove-cell"]
    assert page_tags(["injected-parameters"], has_outputs=True) == [
        "injected-parameters",
        "remove-cell",
    ]
    assert page_tags(["remove-cell"], has_outputs=True) == ["remove-cell"]
    assert page_tags(["remove-input", "remove-input"], has_outputs=True) == ["remove-input"]


def test_parse_overrides_yaml_values() -> None:
    got = parse_overrides(
        ["n=5", "x=abc", "f=0.5", "flag=true", "d=2024-01-31", "lst=[1, 2]", "empty="]
    )
    assert got == {
        "n": 5,
        "x": "abc",
        "f": 0.5,
        "flag": True,
        "d": "2024-01-31",
        "lst": [1, 2],
        "empty": "",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["novalue"])


def test_params_merge_order(tmp_path: Path) -> None:
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "r.yml").write_text("a: 1\nb: 1\nc: 1\n")
    extra = tmp_path / "extra.yml"
    extra.write_text("b: 2\nc: 2\nwhen: 2024-01-31\n")
    got = resolve_params("r", params_file=extra, overrides=["c=3"], root=tmp_path)
    assert got == {"a": 1, "b": 2, "c": 3, "when": "2024-01-31"}


def test_unknown_parameter_is_refused(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTBOOK_DATA", str(tiny))
    with pytest.raises(ValueError, match="unknown parameter.*nope"):
        run_report("market_overview", "2024-01-31", data="tiny", overrides=["nope=1"])


def test_unknown_report_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match="market_overview"):
        run_report("no_such_report", "2024-01-31")


def test_weekly_schedule_and_last(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTBOOK_DATA", str(tiny))
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params" / "schedule.yml").write_text(
        "reports:\n  weekly_r:\n    calendar: weekly\n    start: 2024-03-01\n"
        "  monthly_r:\n    calendar: monthly\n    last: 2\n"
    )
    (tmp_path / "params" / "weekly_r.yml").write_text("data: tiny\n")
    (tmp_path / "params" / "monthly_r.yml").write_text("data: tiny\n")
    entries = load_schedule(tmp_path)
    assert [(e.report, e.calendar) for e in entries] == [
        ("weekly_r", "weekly"),
        ("monthly_r", "monthly"),
    ]
    due = due_runs(root=tmp_path, until="2024-03-31")
    weekly = [d.as_of for d in due if d.report == "weekly_r"]
    assert weekly == ["2024-03-01", "2024-03-08", "2024-03-15", "2024-03-22", "2024-03-29"]
    assert [d.as_of for d in due if d.report == "monthly_r"] == ["2024-02-29", "2024-03-29"]
    (tmp_path / "book" / "reports" / "weekly_r").mkdir(parents=True)
    (tmp_path / "book" / "reports" / "weekly_r" / "2024-03-08.ipynb").write_text("{}")
    later = due_runs(root=tmp_path, until="2024-03-31")
    assert [d.stale for d in later if d.as_of == "2024-03-08"] == [
        f"its metrics cannot be read: {tmp_path}/book/reports/weekly_r/2024-03-08.metrics.json is missing: "
        "the page 2024-03-08.ipynb has no metrics; rerun it (quantbook run weekly_r --as-of 2024-03-08) "
        "or remove 2024-03-08.ipynb"
    ]


def test_schedule_rejects_bad_calendar(tmp_path: Path) -> None:
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "schedule.yml").write_text("reports:\n  r:\n    calendar: daily\n")
    with pytest.raises(ValueError, match="monthly or weekly"):
        load_schedule(tmp_path)


def test_repository_schedule_and_params_are_valid() -> None:
    entries = load_schedule()
    assert "market_overview" in [e.report for e in entries]
    params = resolve_params("market_overview")
    assert params["universe"] == "all" and params["data"] == "default"


# -- provenance and stale pages -------------------------------------------------------------------
def test_provenance_records_the_folder_read(tmp_path: Path) -> None:
    """A copied store folder is recorded under the name it was read as, with its path."""
    import shutil

    from quantbook.provenance import collect

    build_small_store(tmp_path, "s1")
    shutil.copytree(tmp_path / "s1", tmp_path / "s1copy")
    prov = collect(open_store("s1copy", root=tmp_path), as_of="2024-01-31", report="x")
    assert prov.data == "s1copy"
    metrics = prov.to_metrics()
    assert metrics["provenance.data"] == "s1copy"
    assert Path(metrics["provenance.data_path"]) == (tmp_path / "s1copy").resolve()
    assert ("Data", "store 's1copy', source synthetic") in prov.rows()


def test_due_runs_lists_pages_of_a_rebuilt_store_as_stale(
    book: SharedBook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    shutil.copytree(book.data, tmp_path / "data", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(book.root, tmp_path / "root", ignore=shutil.ignore_patterns("_build"))
    monkeypatch.setenv("QUANTBOOK_DATA", str(tmp_path / "data"))
    assert due_runs(until="2024-03-31", data="tiny", root=tmp_path / "root") == []
    build_small_store(tmp_path / "data", "tiny", seed=1)
    due = due_runs(until="2024-03-31", data="tiny", root=tmp_path / "root")
    assert [d.as_of for d in due] == ["2024-01-31", "2024-02-29", "2024-03-29"]
    new = open_store("tiny", root=tmp_path / "data").fingerprint()
    for d in due:
        assert d.stale is not None and f"differs from store 'tiny''s current {new}" in d.stale


def test_parameter_types_follow_the_notebook_defaults() -> None:
    from quantbook.runner import ParameterError, check_parameter_types

    defaults = {"n": 5, "x": 0.5, "s": "all", "flag": True, "lst": [1], "anything": None}
    check_parameter_types(
        {"n": 3, "x": 2, "s": "csi300", "flag": False, "lst": [], "anything": [1, "a"]},
        defaults,
        report="r",
    )
    for bad, fragment in (
        ({"s": 123}, "parameter s=123 is an int, but report 'r' expects a str"),
        ({"n": 1.5}, "expects an int"),
        ({"n": True}, "is a bool"),
        ({"x": "fast"}, "expects a float"),
        ({"flag": "yes"}, "expects a bool"),
        ({"lst": "a"}, "expects a list"),
        ({"s": None}, "is null"),
    ):
        with pytest.raises(ParameterError, match=fragment):
            check_parameter_types(bad, defaults, report="r")


def test_closed_output_pipe_is_one_line(book: SharedBook) -> None:
    """``quantbook ... | head -1`` with the reader gone: exit 1, one line on stderr, no traceback."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader has gone before the command writes
    env = {
        **os.environ,
        "QUANTBOOK_DATA": str(book.data),
        "QUANTBOOK_ROOT": str(book.root),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "quantbook.cli", "run-due", "--dry-run", "--data", "tiny"],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
        timeout=300,
        check=False,
    )
    os.close(write)
    assert proc.returncode == cli.EXIT_BROKEN_PIPE == 1, proc.stderr.decode()
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and "quantbook: error: the output was closed" in err[0], err


def test_connection_files_of_killed_runs_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed with SIGKILL leaves its kernel's connection file (ports and an HMAC key);
    the next run removes the files of dead processes and nothing else."""
    import os
    import subprocess
    import sys
    import tempfile

    from quantbook.runner import kernel_folder, remove_dead_connection_files

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = kernel_folder()
    assert folder.parent == tmp_path and folder.stat().st_mode & 0o077 == 0
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = folder / f"kernel-{dead.pid}-0123456789ab.json"
    live = folder / f"kernel-{os.getpid()}-0123456789ab.json"
    other = folder / "notes.json"
    for f in (left, live, other):
        f.write_text("{}")
    assert remove_dead_connection_files() == [left]
    assert not left.exists() and live.exists() and other.exists()


def test_page_opens_with_this_period_box_rerun_command_and_link(book: SharedBook) -> None:
    """Right after the title: the headline sentences with their change against the previous
    run ("first run" on the first), the command that reruns the page, the notebook link."""
    from quantbook.pages import TOP_CELL_TAG
    from quantbook.tables import format_value

    key = "index.000300.SH.ret_month"
    changes = (("2024-01-31", "first run"), ("2024-02-29", r"(up|down) [\d.]+ pp|unchanged"))
    for day, change in changes:
        nb = nbformat.read(str(_reports(book) / f"{day}.ipynb"), as_version=4)
        top = nb.cells[1]
        assert TOP_CELL_TAG in top.metadata.get("tags", [])
        assert sum(TOP_CELL_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1
        text = top.source
        m = json.loads((_reports(book) / f"{day}.metrics.json").read_text())
        value = format_value(m[key], m["headline.0.format"])
        assert m["headline.0.key"] == key
        assert text.startswith(":::{admonition} This period")
        assert re.search(
            rf"The CSI 300 returned {re.escape(value)} this month \(({change})\)\.", text
        )
        assert "nan" not in text.lower()
        assert ("previous run, 2024-01-31." in text) == (day == "2024-02-29")
        assert f"`quantbook run market_overview --as-of {day} --data tiny`" in text
        assert f"{{download}}`book/reports/market_overview/{day}.ipynb <{day}.ipynb>`" in text
