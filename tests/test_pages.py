"""The top of a published page: "this period" sentences, changes, the rerun command, stores."""

from __future__ import annotations

import math
import shlex

import pytest
from quantbook.pages import (
    FIRST_RUN,
    PLACEHOLDER,
    Previous,
    TemplateError,
    change_phrase,
    missing_labels,
    period_sentences,
    rerun_command,
    sparkline_png,
    store_line,
    top_cell_source,
)
from quantbook.reports.contract import SPECS
from quantbook.runner import parse_overrides
from quantbook.tables import Headline

HEADS = {
    "ls": Headline("Long-short, month", ".1%"),
    "ic": Headline("Rank IC", ".3f"),
    "days": Headline("Limit-up stock-days", ",d"),
}
TEMPLATES = (
    "The long-short return was {ls} ({ls:change}).",
    "the rank IC is {ic} ({ic:change}).",
    "Limit-up closes: {days}.",
)


def test_sentences_use_the_headline_formats_and_changes() -> None:
    now = {"ls": 0.0523, "ic": 0.041, "days": 1234.4}
    before = Previous("2026-09-30", {"ls": 0.0123, "ic": 0.05, "days": 7})
    assert period_sentences(TEMPLATES, HEADS, now, before) == [
        "The long-short return was 5.2% (up 4.0 pp).",
        "The rank IC is 0.041 (down 0.009).",
        "Limit-up closes: 1,234.",
    ]


@pytest.mark.parametrize("missing", [None, math.nan, "n/a", True, "absent"])
def test_a_missing_headline_leaves_its_sentence_out(missing: object) -> None:
    now: dict[str, object] = {"ls": 0.05, "ic": 0.04, "days": 3}
    if missing == "absent":
        del now["ic"]
    else:
        now["ic"] = missing
    out = period_sentences(TEMPLATES, HEADS, now, None)
    assert out == ["The long-short return was 5.0% (first run).", "Limit-up closes: 3."]
    assert not any("nan" in s.lower() or "–" in s for s in out)
    assert missing_labels(HEADS, now) == ["Rank IC"]


def test_change_against_the_previous_run() -> None:
    h = HEADS["ls"]
    assert change_phrase(0.05, None, "ls", h) == FIRST_RUN
    before = Previous("2026-09-30", {"ls": 0.05, "days": 5})
    assert change_phrase(0.05, Previous("2026-09-30", {}), "ls", h) == "not in the previous run"
    assert change_phrase(0.0502, before, "ls", h) == "unchanged"
    assert change_phrase(0.0701, before, "ls", h) == "up 2.0 pp"
    assert change_phrase(2, before, "days", HEADS["days"]) == "down 3"


def test_a_sentence_naming_no_headline_metric_is_refused() -> None:
    with pytest.raises(TemplateError, match="'ir'"):
        period_sentences(("The IR is {ir}.",), HEADS, {"ir": 1.0}, None)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_report_declares_sentences_of_its_headline(name: str) -> None:
    spec = SPECS[name]
    assert spec.period, name
    named = {key for t in spec.period for key, _c in PLACEHOLDER.findall(t)}
    assert named and named <= set(spec.headline), named - set(spec.headline)
    assert set(spec.headline) <= named, "a headline metric no sentence shows"
    metrics = {k: 1.5 * (i + 1) for i, k in enumerate(spec.headline)}
    before = Previous("2026-09-30", {k: 0.0 for k in spec.headline})
    out = period_sentences(spec.period, spec.headline, metrics, before)
    assert len(out) == len(spec.period)
    assert not any("{" in s or "first run" in s for s in out)
    assert sum("(up " in s for s in out) == sum(":change}" in t for t in spec.period)


def test_rerun_command_reads_back_with_the_runner() -> None:
    overrides = {"windows": [12, 24], "universe": "000300.SH", "flag": True, "name": "a b"}
    cmd = rerun_command("mhc_vs_mlp", "2026-10-30", data="smoke", overrides=overrides)
    words = shlex.split(cmd)
    assert words[:7] == [
        "quantbook",
        "run",
        "mhc_vs_mlp",
        "--as-of",
        "2026-10-30",
        "--data",
        "smoke",
    ]
    items = [words[i + 1] for i, w in enumerate(words) if w == "-p"]
    assert parse_overrides(items) == overrides


def test_store_line_says_synthetic_or_real() -> None:
    synthetic = {"provenance.data": "default", "provenance.synthetic": True}
    assert "simulated, not market data" in store_line(synthetic)
    real = {"provenance.data": "cn", "provenance.synthetic": False, "provenance.source": "akshare"}
    assert store_line(real) == "store `cn`: real data imported from akshare"


def test_box_names_the_previous_run_once() -> None:
    args = {"report": "r", "as_of": "2026-10-30", "missing": [], "command": "quantbook run r"}
    text = top_cell_source(sentences=["A (up 1 pp)."], previous_as_of="2026-09-30", **args)
    assert text.count("2026-09-30") == 1 and "against the previous run, 2026-09-30" in text
    first = top_cell_source(sentences=["A (first run)."], previous_as_of=None, **args)
    assert "previous run" not in first
    empty = top_cell_source(sentences=[], previous_as_of=None, **{**args, "missing": ["IC"]})
    assert "No headline number" in empty and "Not recorded for this run: IC." in empty


def test_sparkline_is_a_png_with_gaps() -> None:
    assert sparkline_png([0.1, None, 0.3]).startswith(b"\x89PNG")
