"""The site: generated pages, _toc.yml, and a strict jupyter-book build whose links resolve.

Uses the shared tiny book (three monthly runs of the market overview) and builds it once with
``build_book`` (``jupyter-book build -W --keep-going``: a warning fails the build).
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml
from fixtures_small import SharedBook
from quantbook import site
from quantbook.runner import BookBuildError, BookResult, build_book


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.title = ""
        self._a: str | None = None
        self._text: list[str] = []
        self._in_title = False
        self.imgs: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self._a, self._text = a["href"], []
        elif tag == "title":
            self._in_title = True
        elif tag == "img" and a.get("src"):
            self.imgs.append(str(a["src"]))
        elif tag == "table":
            self.tables += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._a is not None:
            self.links.append((self._a, "".join(self._text).strip()))
            self._a = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._a is not None:
            self._text.append(data)
        if self._in_title:
            self.title += data


def parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def resolve(page: Path, href: str) -> Path:
    target = unquote(urlparse(href).path)
    return (page.parent / target).resolve()


@pytest.fixture(scope="session")
def book(tmp_path_factory: pytest.TempPathFactory) -> SharedBook:
    return SharedBook.get(tmp_path_factory)


@pytest.fixture(scope="session")
def built(book: SharedBook) -> BookResult:
    t0 = time.perf_counter()
    res = book.site()
    print(f"\nsite built in {time.perf_counter() - t0:.1f} s at {res.html}")  # type: ignore[attr-defined]
    return res  # type: ignore[return-value]


def test_generated_pages_and_toc(book: SharedBook, built: BookResult) -> None:
    reports = book.root / "book" / "reports"
    assert (reports / "index.md").is_file() and (reports / "data.md").is_file()
    archive = (reports / "market_overview" / "index.md").read_text()
    # every as-of date, newest first, each linking its page
    pos = [archive.index(f"[{d}]({d}.ipynb)") for d in ("2024-03-29", "2024-02-29", "2024-01-31")]
    assert pos == sorted(pos)
    assert (
        "![Headline metrics" in archive
        and (reports / "market_overview" / "headline_metrics.png").is_file()
    )
    landing = (reports / "index.md").read_text()
    assert "[2024-03-29](market_overview/2024-03-29.ipynb)" in landing
    assert "{{" not in landing and "{{" not in (reports / "data.md").read_text()
    toc = yaml.safe_load((book.root / "_toc.yml").read_text())
    assert toc["root"] == "book/reports/index"
    chapters = toc["parts"][0]["chapters"]
    assert [s["file"] for s in chapters[0]["sections"]] == [
        f"book/reports/market_overview/{d}" for d in ("2024-03-29", "2024-02-29", "2024-01-31")
    ]


def test_generation_is_idempotent(book: SharedBook, built: BookResult) -> None:
    files = [book.root / "_toc.yml", *(book.root / "book" / "reports").rglob("*.md")]
    stamps = {p: p.stat().st_mtime_ns for p in files}
    with book.env():
        site.generate_site(root=book.root)
    assert {p: p.stat().st_mtime_ns for p in files} == stamps


def test_landing_links_latest_report_and_archive(built: BookResult) -> None:
    html = built.html
    assert (html / "index.html").is_file()
    landing = html / "book" / "reports" / "index.html"
    links = parse(landing).links
    hrefs = {
        text: resolve(landing, href) for href, text in links if not href.startswith(("http", "#"))
    }
    latest = html / "book" / "reports" / "market_overview" / "2024-03-29.html"
    archive = html / "book" / "reports" / "market_overview" / "index.html"
    assert hrefs.get("2024-03-29") == latest.resolve() and latest.is_file()
    assert hrefs.get("archive") == archive.resolve() and archive.is_file()
    # the archive links every run, and every internal link of the built pages resolves
    archive_links = {text for _h, text in parse(archive).links}
    assert {"2024-03-29", "2024-02-29", "2024-01-31"} <= archive_links
    for page in (
        landing,
        archive,
        latest,
        html / "book" / "reports" / "data.html",
        html / "book" / "methods.html",
    ):
        for href, _text in parse(page).links:
            if href.startswith(("http:", "https:", "#", "mailto:", "javascript:")):
                continue
            assert resolve(page, href).exists(), f"{page.name}: broken link {href}"


def test_report_page_content(built: BookResult) -> None:
    page = built.html / "book" / "reports" / "market_overview" / "2024-03-29.html"
    p = parse(page)
    assert "Market overview: 2024-03-29" in p.title
    assert p.tables >= 8
    assert sum(1 for s in p.imgs if s.endswith(".png")) >= 3
    text = page.read_text()
    assert "Synthetic data" in text and "Provenance" in text and "Data fingerprint" in text
    assert "Traceback" not in text
    data = (built.html / "book" / "reports" / "data.html").read_text()
    assert "tiny" in data and "minute_bars" in data


def test_warning_fails_the_build(book: SharedBook, built: BookResult, tmp_path: Path) -> None:
    """A broken link in a page is a Sphinx warning, and a warning fails the build."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(book.root, root, ignore=shutil.ignore_patterns("_build"))
    methods = root / "book" / "methods.md"
    methods.write_text(methods.read_text() + "\nSee [nowhere](no_such_page.md).\n")
    with book.env(), pytest.raises(BookBuildError, match="no_such_page"):
        build_book(root=root)


def test_data_page_names_stale_pages(
    book: SharedBook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the store is rebuilt with other data, the data page lists the pages made before."""
    import shutil

    from fixtures_small import build_small_store

    shutil.copytree(book.data, tmp_path / "data", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(book.root, tmp_path / "root", ignore=shutil.ignore_patterns("_build"))
    monkeypatch.setenv("QUANTBOOK_DATA", str(tmp_path / "data"))
    page = tmp_path / "root" / "book" / "reports" / "data.md"
    site.generate_site(root=tmp_path / "root")
    assert "Every report page made from this store (3) records this fingerprint" in page.read_text()
    build_small_store(tmp_path / "data", "tiny", seed=1)
    site.generate_site(root=tmp_path / "root")
    text = page.read_text()
    assert "3 of the 3 report pages made from this store are stale" in text
    for day in ("2024-01-31", "2024-02-29", "2024-03-29"):
        assert f"- `market_overview` {day}: fingerprint" in text
    assert "Every report page" not in text


def test_removed_page_leaves_the_site_and_no_crash_log(
    book: SharedBook, built: BookResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page removed from book/reports is gone from the rebuilt site; the build leaves no temp files."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(book.root, root)
    html = root / "book" / "_build" / "html" / "book" / "reports" / "market_overview"
    assert (html / "2024-01-31.html").is_file()
    for suffix in (".ipynb", ".metrics.json"):
        (root / "book" / "reports" / "market_overview" / f"2024-01-31{suffix}").unlink()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    with book.env():
        build_book(root=root)
    assert not (html / "2024-01-31.html").exists()
    assert (html / "2024-02-29.html").is_file()
    assert not list(tmp.iterdir())
    left = [p.name for p in (root / "book" / "_build").iterdir()]
    assert not [n for n in left if n.startswith(".next-") or n.endswith(".old")], left


def test_every_report_has_a_headline_chart_from_its_metrics_files(tmp_path: Path) -> None:
    """The archive page of every report (mhc_vs_mlp included) charts its headline metrics,
    read from the metrics files alone: labels, formats and values, no report module."""
    from quantbook.reports import Metrics
    from quantbook.reports.contract import SPECS

    reports = tmp_path / "book" / "reports"
    for name, spec in SPECS.items():
        for i, day in enumerate(("2024-01-31", "2024-02-29")):
            m = Metrics(headline=spec.headline)
            for j, key in enumerate(spec.headline):
                m.record(key, 0.01 * (i + j + 1))
            (reports / name).mkdir(parents=True, exist_ok=True)
            (reports / name / f"{day}.ipynb").write_text("{}")
            m.write(reports / name / f"{day}.metrics.json")
    site.generate_site(root=tmp_path)
    for name, spec in SPECS.items():
        assert (reports / name / "headline_metrics.png").is_file(), name
        archive = (reports / name / "index.md").read_text()
        assert "![Headline metrics" in archive, name
        first = next(iter(spec.headline.values()))
        assert first.label.replace("|", "\\|") in archive, name


def test_landing_shows_headline_numbers_sparklines_and_store(
    book: SharedBook, built: BookResult
) -> None:
    """Per report: the latest date, its first headline numbers in their formats, a sparkline
    of each across runs (images that load), and the store the site was built from."""
    import json

    from quantbook.tables import format_value

    reports = book.root / "book" / "reports"
    text = (reports / "index.md").read_text()
    m = json.loads((reports / "market_overview" / "2024-03-29.metrics.json").read_text())
    for i in range(3):
        key, label, fmt = (m[f"headline.{i}.{f}"] for f in ("key", "label", "format"))
        row = f"| {label} | {format_value(m[key], fmt)} | ![{label} across runs]"
        assert row in text, row
        assert (reports / "market_overview" / f"sparkline_{i}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Built from store `tiny`: synthetic market" in text
    assert "simulated, not market data" in text
    landing = built.html / "book" / "reports" / "index.html"
    imgs = [src for src in parse(landing).imgs if "sparkline_" in src]
    assert len(imgs) == 3 and all(resolve(landing, src).is_file() for src in imgs), imgs


def test_report_page_has_this_period_box_and_notebook_download(built: BookResult) -> None:
    page = built.html / "book" / "reports" / "market_overview" / "2024-03-29.html"
    html = page.read_text()
    words = " ".join(re.sub(r"<[^>]+>", "", html).split())
    assert "admonition" in html and "This period" in words
    assert "Changes are against the previous run, 2024-02-29." in words
    assert "quantbook run market_overview --as-of 2024-03-29 --data tiny" in words
    notebooks = [href for href, _t in parse(page).links if href.endswith("2024-03-29.ipynb")]
    assert notebooks and all(resolve(page, href).is_file() for href in notebooks), notebooks
