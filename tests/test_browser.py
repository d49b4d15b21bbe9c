"""Headless Chromium opens the built report page: title, a table and an image are there.

Skipped (with the reason) when no Chromium is installed, except under CI (``CI`` set), where
it fails: ``.ci/run`` installs Debian's ``chromium`` so CI always runs it. The screenshot is saved under the built site's
``book/_build/screenshots/`` (path printed; ``QUANTBOOK_SCREENSHOT_DIR`` overrides).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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


def test_report_page_in_headless_chromium(book: SharedBook, tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING}; CI must run the browser test")
        pytest.skip(MISSING)
    res = book.site()
    html = res.html  # type: ignore[attr-defined]
    page = html / "book" / "reports" / "market_overview" / "2024-03-29.html"
    assert page.is_file()
    url = page.resolve().as_uri()

    dom = _chrome(["--dump-dom", url], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "<title>" in text and "Market overview: 2024-03-29" in text
    assert "<table" in text and 'class="dataframe quantbook-table"' in text
    assert "<img" in text and ".png" in text
    assert "Synthetic data" in text

    shots = Path(os.environ.get("QUANTBOOK_SCREENSHOT_DIR", str(html.parent / "screenshots")))
    shots.mkdir(parents=True, exist_ok=True)
    png = shots / "market_overview_2024-03-29.png"
    png.unlink(missing_ok=True)
    shot = _chrome(
        [f"--screenshot={png}", "--window-size=1280,2400", url], tmp_path / "profile-shot"
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert png.is_file() and png.stat().st_size > 20_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot: {png}")
