"""data/README.md documents every column of the schema (generated from quantbook.data.schema)."""

from __future__ import annotations

from pathlib import Path

from quantbook.data.schema import TABLES, schema_markdown

README = Path(__file__).resolve().parents[1] / "data" / "README.md"


def test_readme_holds_the_current_schema() -> None:
    text = README.read_text()
    assert schema_markdown() in text, (
        "regenerate the schema section: python -m quantbook.data.schema"
    )
    for t in TABLES.values():
        for c in t.columns:
            assert f"`{c.name}`" in text


def test_readme_states_measured_planted_effects() -> None:
    text = README.read_text()
    assert "MEASURED_" not in text
    for effect in (
        "Ideal reversal",
        "Smart money",
        "APM",
        "Ideal amplitude",
        "Non-linear",
        "40-day",
    ):
        assert effect in text
