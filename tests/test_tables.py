"""HTML of :class:`quantbook.tables.Table`: a scroll box, a fixed first column, classed cells."""

from __future__ import annotations

import doctest
import re

import pandas as pd
import quantbook.tables as tables
from quantbook.tables import cell_class, table


def test_doctests() -> None:
    assert doctest.testmod(tables).failed == 0


def test_cell_class_numbers_right_text_wraps() -> None:
    for text in ("0.1234", "-1.23%", "+4.5%", "1,234,567", "2024-03-29", "–", "yes", "1e-05"):
        assert cell_class(text) == "qb-num", text
    for text in ("CSI 300", "needs 12 months of rank ICs", "12 months", "momentum"):
        assert cell_class(text) == "qb-text", text


def test_table_html_scrolls_in_its_box_with_classed_cells() -> None:
    frame = pd.DataFrame(
        {"ret": [0.0123, None], "reason": ["", "no minute bars in this store"]},
        index=pd.Index(["a", "b"], name="factor"),
    )
    out = table(frame, title="T", formats={"ret": ".2%"}, note="n")._repr_html_()
    assert out.startswith('<div class="qb-table')
    scroll = out.index('<div class="qb-table-scroll">')
    assert scroll < out.index("<table") < out.index("</table>") < out.index("</div>", scroll)
    cells = re.findall(r'<td class="(qb-\w+)">([^<]*)</td>', out)
    assert ("qb-num", "1.23%") in cells and ("qb-num", "–") in cells
    assert ("qb-text", "no minute bars in this store") in cells
    assert "<td>" not in out
    assert "position:sticky" in out and "overflow-x:auto" in out
