"""Headless Chromium opens the built report pages as a reader would see them at 1280 px.

Per report (its latest page): the title, a table and an image are there; no code cell input is
shown; no element is wider than the article's content area (except inside a box that scrolls
and itself fits); every image loaded; the report's tables scroll in their own box with the
first column fixed. A full-page screenshot of each is saved under the built site's
``book/_build/screenshots/<report>.png`` (path printed; ``QUANTBOOK_SCREENSHOT_DIR``
overrides).

The site is the one :class:`fixtures_small.SharedBook` builds (market overview pages); set
``QUANTBOOK_BROWSER_SITE`` to a built site's ``html`` folder (``book/_build/html`` after
``quantbook book``) to check every report page of that site instead.

Skipped (with the reason) when no Chromium is installed, except under CI (``CI`` set), where
it fails: ``.ci/run`` installs Debian's ``chromium`` so CI always runs it.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fixtures_small import SharedBook

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def _chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env and Path(env).is_file():
        return env
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
MISSING = "no Chromium installed (apt-get install -y chromium; .ci/run installs it)"


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> SharedBook:
    return SharedBook.get(tmp_path_factory)


def _chrome(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


#: Measures the page after load and writes the findings into ``<pre id="qb-probe">``.
PROBE = """
<script>
window.addEventListener("load", () => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  const right = article.getBoundingClientRect().right;
  const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const scrolls = (e) => ["auto", "scroll", "hidden"].includes(getComputedStyle(e).overflowX);
  const name = (e) => e.tagName.toLowerCase() + (e.className ? "." + String(e.className).trim().split(/\\s+/).join(".") : "")
    + " '" + (e.textContent || "").trim().slice(0, 40) + "'";
  const insideScrollBox = (e) => {
    for (let a = e.parentElement; a && a !== article; a = a.parentElement) {
      if (scrolls(a)) return true;
    }
    return false;
  };
  const wide = [];
  for (const e of article.querySelectorAll("*")) {
    if (!shown(e) || insideScrollBox(e)) continue;
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > right + 1) wide.push(name(e) + " right=" + Math.round(r.right));
  }
  const inputs = [...document.querySelectorAll(
    ".cell_input, .cell details.hide, .cell div.highlight"
  )].filter((e) => shown(e) && !e.closest(".cell_output")).map(name);
  const images = [...document.querySelectorAll("article img")].map((i) => ({
    src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0,
  }));
  const firstCells = [...document.querySelectorAll(".qb-table tbody tr > th:first-child")];
  const out = {
    content_right: right,
    wide: wide,
    inputs: inputs,
    toggles: (document.body.innerText.match(/Show code cell/g) || []).length,
    images: images,
    tables: document.querySelectorAll(".qb-table .qb-table-scroll > table").length,
    sticky: firstCells.filter((e) => getComputedStyle(e).position === "sticky").length,
    first_cells: firstCells.length,
    height: Math.ceil(document.documentElement.scrollHeight),
  };
  const pre = document.createElement("pre");
  pre.id = "qb-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _skip_without_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING}; CI must run the browser test")
        pytest.skip(MISSING)


def _latest_pages(html: Path) -> dict[str, Path]:
    """``{report: its latest page}`` of a built site (pages are named by date)."""
    pages: dict[str, Path] = {}
    for folder in sorted((html / "book" / "reports").iterdir()):
        dated = sorted(folder.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].html"))
        if dated:
            pages[folder.name] = dated[-1]
    return pages


def _probe(page: Path, profile: Path) -> dict[str, Any]:
    """The findings of :data:`PROBE` on ``page`` at 1280 px (a copy beside it carries it)."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", f"{PROBE}</body>"))
    try:
        dom = _chrome(
            [
                "--window-size=1280,2400",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.resolve().as_uri(),
            ],
            profile,
        )
    finally:
        probe.unlink()
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="qb-probe"[^>]*>(.*?)</pre>', dom.stdout, re.DOTALL)
    assert found, f"the probe found nothing on {page}: {dom.stderr[-2000:]}"
    return json.loads(html_lib.unescape(found.group(1)))


def _screenshot(page: Path, png: Path, height: int, profile: Path) -> None:
    png.unlink(missing_ok=True)
    shot = _chrome(
        [
            f"--screenshot={png}",
            f"--window-size=1280,{min(max(height, 800), 16000)}",
            page.resolve().as_uri(),
        ],
        profile,
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.is_file() and png.stat().st_size > 20_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _site(book: SharedBook) -> Path:
    given = os.environ.get("QUANTBOOK_BROWSER_SITE")
    if given:
        return Path(given)
    return Path(book.site().html)  # type: ignore[attr-defined]


def test_report_page_in_headless_chromium(book: SharedBook, tmp_path: Path) -> None:
    _skip_without_chromium()
    html = _site(book)
    page = html / "book" / "reports" / "market_overview" / "2024-03-29.html"
    if os.environ.get("QUANTBOOK_BROWSER_SITE"):
        page = _latest_pages(html)["market_overview"]
    assert page.is_file()
    dom = _chrome(["--dump-dom", page.resolve().as_uri()], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "<title>" in text and "Market overview: 20" in text
    assert "<table" in text and 'class="dataframe quantbook-table"' in text
    assert "<img" in text and ".png" in text
    assert "Synthetic data" in text
    assert "cell_input" not in text and "Show code cell" not in text
    assert "ctx = setup(" not in text and "# Parameters" not in text


def test_report_pages_fit_and_show_no_code(book: SharedBook, tmp_path: Path) -> None:
    _skip_without_chromium()
    html = _site(book)
    shots = Path(os.environ.get("QUANTBOOK_SCREENSHOT_DIR", str(html.parent / "screenshots")))
    shots.mkdir(parents=True, exist_ok=True)
    pages = _latest_pages(html)
    assert pages, f"no report pages under {html}"
    problems = []
    for report, page in pages.items():
        found = _probe(page, tmp_path / f"profile-{report}")
        where = f"{report} ({page.name})"
        if found["inputs"] or found["toggles"]:
            problems.append(f"{where}: code shown: {found['inputs']}, {found['toggles']} toggles")
        if found["wide"]:
            problems.append(f"{where}: wider than the content area: {found['wide'][:5]}")
        missing = [i["src"] for i in found["images"] if not i["loaded"]]
        if missing:
            problems.append(f"{where}: images not loaded: {missing}")
        if found["sticky"] != found["first_cells"]:
            problems.append(f"{where}: first column not fixed in every table row")
        png = shots / f"{report}.png"
        _screenshot(page, png, int(found["height"]), tmp_path / f"profile-shot-{report}")
        print(f"\nscreenshot: {png} ({found['tables']} tables, {len(found['images'])} images)")
    assert not problems, "\n".join(problems)


def test_probe_sees_shown_code_and_overflow(book: SharedBook, tmp_path: Path) -> None:
    """The checks can fail: a page with a code input and a too-wide element is caught."""
    _skip_without_chromium()
    page = _latest_pages(_site(book))["market_overview"]
    bad = page.with_name(".bad-page.html")
    planted = '<div style="width:3000px">wide</div><div class="cell_input">x = 1</div>'
    bad.write_text(re.sub(r"(<article[^>]*>)", rf"\1{planted}", page.read_text(), count=1))
    try:
        found = _probe(bad, tmp_path / "profile-bad")
    finally:
        bad.unlink()
    assert any("wide" in w for w in found["wide"]), found["wide"]
    assert any("x = 1" in i for i in found["inputs"]), found["inputs"]
