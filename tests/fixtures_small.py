"""A tiny, hand-made store for the runner, site and report tests.

Twelve stocks on three boards, four industries, two broad indices with member pools, a CSI
All-like index and three SW industry indices, from 2023-11-01 to 2024-04-15 (so month-ends
2024-01 .. 2024-03 are complete and April is not). Deterministic from ``seed``. It exercises
what the market overview needs: an IPO inside the sample, a suspension spell, an ST stock,
days closing at the upper and lower price limits.

Also :func:`perturb_after`, which writes a copy of a store with every row dated after a given
day changed (the lookahead test).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from quantbook.data import StoreWriter, TradingCalendar
from quantbook.data.schema import TABLES

START, END = "2023-11-01", "2024-04-15"

STOCKS = [
    # code, board, industry (SW L1), list_date
    ("600000.SH", "main", "48", "2010-01-04"),
    ("600001.SH", "main", "48", "2010-01-04"),
    ("600002.SH", "main", "27", "2012-03-01"),
    ("600003.SH", "main", "27", "2015-06-01"),
    ("000001.SZ", "main", "11", "2008-05-06"),
    ("000002.SZ", "main", "11", "2009-07-01"),
    ("000003.SZ", "main", "71", "2011-02-01"),
    ("000004.SZ", "main", "71", "2013-09-02"),
    ("300001.SZ", "chinext", "27", "2016-04-05"),
    ("300002.SZ", "chinext", "71", "2018-11-01"),
    ("688001.SH", "star", "27", "2020-07-01"),
    ("688002.SH", "star", "71", "2024-02-19"),  # IPO inside the sample
]
SUSPENDED = ("000004.SZ", "2024-01-15", "2024-01-19")
ST = ("000003.SZ", "2023-06-01")

INDICES = [
    # code, name, category, pool
    ("000300.SH", "CSI 300", "broad", "csi300"),
    ("000905.SH", "CSI 500", "broad", "csi500"),
    ("000985.CSI", "CSI All Share", "broad", None),
    ("801010.SI", "SW Agriculture", "industry", None),
    ("801080.SI", "SW Electronics", "industry", None),
    ("801750.SI", "SW Computers", "industry", None),
]
MEMBERS = {
    "000300.SH": ["600000.SH", "600001.SH", "600002.SH", "000001.SZ"],
    "000905.SH": ["600003.SH", "000002.SZ", "000003.SZ", "300001.SZ", "688001.SH"],
}


def _limit_frac(board: str, is_st: bool) -> float:
    if is_st:
        return 0.05
    return {"main": 0.10, "chinext": 0.20, "star": 0.20}[board]


def small_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    """The tables of the tiny store, as frames in the store schema."""
    rng = np.random.default_rng(seed)
    dates = TradingCalendar(START, END).sessions
    instruments = pd.DataFrame(
        {
            "code": [s[0] for s in STOCKS],
            "name": [f"Stock {i:02d}" for i in range(len(STOCKS))],
            "board": [s[1] for s in STOCKS],
            "list_date": pd.to_datetime([s[3] for s in STOCKS]),
            "delist_date": pd.NaT,
        }
    )
    industry = pd.DataFrame(
        {
            "code": [s[0] for s in STOCKS],
            "start": pd.to_datetime([s[3] for s in STOCKS]),
            "end": pd.NaT,
            "value": [s[2] for s in STOCKS],
        }
    )
    st_status = pd.DataFrame(
        {"code": [ST[0]], "start": [pd.Timestamp(ST[1])], "end": [pd.NaT], "value": ["ST"]}
    )

    rows = []
    sus_code, sus_a, sus_b = SUSPENDED
    for k, (code, board, _ind, list_date) in enumerate(STOCKS):
        price = 10.0 + 2 * k
        shares = 1e8 * (1 + k)
        lo = pd.Timestamp(list_date)
        for d in dates:
            if d < lo:
                continue
            first = d == lo
            prev = price
            suspended = code == sus_code and pd.Timestamp(sus_a) <= d <= pd.Timestamp(sus_b)
            frac = _limit_frac(board, code == ST[0])
            up, down = round(prev * (1 + frac), 2), round(prev * (1 - frac), 2)
            if first:  # no price limit on the first day of listing
                up = down = np.nan
            if suspended:
                o = h = low = c = prev
                vol = amt = 0.0
            else:
                r = rng.standard_t(4) * 0.02
                if k == 2 and d.day in (10, 11):  # some limit-up days
                    r = 0.5
                if k == 6 and d.day == 20:  # a limit-down day
                    r = -0.5
                c = round(prev * (1 + r), 2)
                if not np.isnan(up):
                    c = min(max(c, down), up)
                o = round(prev * (1 + rng.normal(0, 0.005)), 2)
                if not np.isnan(up):
                    o = min(max(o, down), up)
                h = max(o, c) * (1 + abs(rng.normal(0, 0.005)))
                low = min(o, c) * (1 - abs(rng.normal(0, 0.005)))
                if not np.isnan(up):
                    h, low = min(h, up), max(low, down)
                h, low = round(h, 2), round(low, 2)
                h, low = max(h, o, c), min(low, o, c)
                vol = float(rng.integers(1_000_000, 5_000_000))
                amt = vol * (o + c) / 2
            rows.append(
                {
                    "date": d,
                    "code": code,
                    "open": o,
                    "high": h,
                    "low": low,
                    "close": c,
                    "prev_close": prev,
                    "volume": vol,
                    "amount": amt,
                    "num_trades": vol / 500.0,
                    "price_1130": (o + c) / 2,
                    "float_shares": shares * 0.6,
                    "total_shares": shares,
                    "adj_factor": 1.0,
                    "is_suspended": suspended,
                    "limit_up": up,
                    "limit_down": down,
                }
            )
            price = c
    daily = pd.DataFrame(rows)

    index_info = pd.DataFrame(
        {
            "code": [i[0] for i in INDICES],
            "name": [i[1] for i in INDICES],
            "category": [i[2] for i in INDICES],
            "pool": [i[3] for i in INDICES],
        }
    )
    irows = []
    for j, (code, _n, _c, _p) in enumerate(INDICES):
        level = 1000.0 * (1 + j)
        for d in dates:
            prev = level
            level = prev * (1 + rng.normal(0.0005, 0.012))
            hi, lo_ = max(prev, level) * 1.004, min(prev, level) * 0.996
            irows.append(
                {
                    "date": d,
                    "code": code,
                    "open": prev,
                    "high": hi,
                    "low": lo_,
                    "close": level,
                    "volume": 1e9,
                    "amount": 1e10,
                }
            )
    index_bars = pd.DataFrame(irows)
    mrows = []
    for idx, codes in MEMBERS.items():
        for c in codes:
            mrows.append(
                {"index_code": idx, "code": c, "start": pd.Timestamp("2023-06-12"), "end": pd.NaT}
            )
    # a membership change inside the sample: 000002.SZ moves up into the CSI 300 in March
    mrows = [r for r in mrows if not (r["index_code"] == "000905.SH" and r["code"] == "000002.SZ")]
    mrows.append(
        {
            "index_code": "000905.SH",
            "code": "000002.SZ",
            "start": pd.Timestamp("2023-06-12"),
            "end": pd.Timestamp("2024-03-11"),
        }
    )
    mrows.append(
        {
            "index_code": "000300.SH",
            "code": "000002.SZ",
            "start": pd.Timestamp("2024-03-11"),
            "end": pd.NaT,
        }
    )
    index_members = pd.DataFrame(mrows)
    return {
        "instruments": instruments,
        "industry": industry,
        "st_status": st_status,
        "daily_bars": daily,
        "index_info": index_info,
        "index_bars": index_bars,
        "index_members": index_members,
    }


def build_small_store(root: Path, name: str = "tiny", *, seed: int = 0) -> Path:
    """Write the tiny store under ``root/name`` (source ``synthetic``) and return its folder."""
    with StoreWriter(
        name, source="synthetic", params={"preset": "tiny-test", "seed": seed}, root=root
    ) as w:
        for t, df in small_tables(seed).items():
            w.write(t, df)
        w.mark_unavailable("minute_bars", "the tiny test store has no minute bars")
        store = w.commit()
    return store.path


def perturb_after(src: Path, dst: Path, as_of: str | pd.Timestamp, *, seed: int = 1) -> Path:
    """Copy the store folder ``src`` to ``dst`` with every row dated after ``as_of`` changed.

    Panel tables: numeric columns of rows after ``as_of`` are scaled by random factors and
    booleans flipped. Spell tables: spells starting after ``as_of`` get another value / code,
    open ends after ``as_of`` are moved. Static tables: ``list_date`` / ``delist_date`` after
    ``as_of`` are moved. Files are rewritten directly (no validation), so the copy keeps the
    original store's metadata.
    """
    cut = pd.Timestamp(as_of)
    rng = np.random.default_rng(seed)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    for path in sorted(dst.glob("*.parquet")):
        name = path.stem
        if name not in TABLES:
            continue
        spec = TABLES[name]
        df = pq.read_table(path).to_pandas()
        changed = False
        if spec.kind in ("panel", "events") and spec.date_column:
            after = (df[spec.date_column] > cut).to_numpy()
            if after.any():
                for col in df.columns:
                    if col in spec.key or col == spec.date_column:
                        continue
                    if pd.api.types.is_bool_dtype(df[col]):
                        df.loc[after, col] = ~df.loc[after, col]
                    elif pd.api.types.is_float_dtype(df[col]):
                        df.loc[after, col] = df.loc[after, col] * rng.uniform(
                            0.5, 1.5, int(after.sum())
                        )
                changed = True
        elif spec.kind == "spells":
            late = (df["start"] > cut).to_numpy()
            if late.any():
                if "value" in df.columns:
                    df.loc[late, "value"] = "99"
                df = df[~late | (np.arange(len(df)) % 2 == 0)]
                changed = True
            ends_after = (df["end"].isna() | (df["end"] > cut)).to_numpy()
            df.loc[ends_after, "end"] = cut + pd.Timedelta(days=3)
            changed = True
        elif spec.kind == "static":
            for col in ("list_date", "delist_date"):
                if col in df.columns:
                    m = (df[col] > cut).to_numpy()
                    if m.any():
                        df.loc[m, col] = df.loc[m, col] + pd.Timedelta(days=30)
                        changed = True
        if changed:
            pq.write_table(
                pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False), path
            )
    return dst


# -- a small book with runs, shared by the runner, site and browser tests -----------------------
REPO = Path(__file__).resolve().parents[1]
SCHEDULE = """reports:
  market_overview:
    calendar: monthly
    start: 2024-01-01
"""


class Env:
    """Set environment variables inside a ``with`` block, restoring them after."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> Env:
        import os

        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v
        return self

    def __exit__(self, *exc: object) -> None:
        import os

        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_book_root(root: Path) -> Path:
    """A book root holding copies of the repository's notebook, params, pages and config."""
    (root / "notebooks").mkdir(parents=True)
    (root / "params").mkdir()
    (root / "book").mkdir()
    shutil.copy(REPO / "notebooks" / "market_overview.ipynb", root / "notebooks")
    shutil.copy(REPO / "params" / "market_overview.yml", root / "params")
    (root / "params" / "schedule.yml").write_text(SCHEDULE)
    for md in ("intro.md", "data.md", "methods.md"):
        shutil.copy(REPO / "book" / md, root / "book")
    shutil.copy(REPO / "_config.yml", root)
    shutil.copytree(REPO / "book" / "_static", root / "book" / "_static")
    return root


def tree_digest(folder: Path) -> dict[str, tuple[str, int]]:
    """``{relative path: (sha256, mtime_ns)}`` of every file under ``folder``."""
    import hashlib

    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = (
                hashlib.sha256(p.read_bytes()).hexdigest(),
                p.stat().st_mtime_ns,
            )
    return out


class SharedBook:
    """Built once per test session: a tiny store and a book root with three monthly runs.

    Steps (their results are kept for the runner tests to check):
    1. ``run_report`` 2024-01-31;
    2. ``run_due(until=2024-02-29)``: must run only 2024-02-29 (January has a page);
    3. ``run_due(until=2024-03-31)``: one new month, must run only 2024-03-29.
    """

    _instance: SharedBook | None = None

    def __init__(self, base: Path) -> None:
        from quantbook.runner import run_due, run_report

        self.base = base
        self.data = base / "data"
        build_small_store(self.data)
        self.root = make_book_root(base / "root")
        self.notices: list[str] = []
        with self.env():
            self.first = run_report(
                "market_overview",
                "2024-01-31",
                data="tiny",
                root=self.root,
                notify=self.notices.append,
            )
            self.after_first = tree_digest(self.root / "book" / "reports")
            self.due_feb = run_due(
                until="2024-02-29",
                data="tiny",
                root=self.root,
                progress=False,
                notify=self.notices.append,
            )
            self.after_feb = tree_digest(self.root / "book" / "reports")
            self.due_mar = run_due(
                until="2024-03-31",
                data="tiny",
                root=self.root,
                progress=False,
                notify=self.notices.append,
            )
        self._site: object | None = None

    def env(self) -> Env:
        return Env(QUANTBOOK_DATA=str(self.data), QUANTBOOK_ROOT=str(self.root), MPLBACKEND="Agg")

    def site(self) -> object:
        """Build the site once (``build_book``); returns its BookResult."""
        if self._site is None:
            from quantbook.runner import build_book

            with self.env():
                self._site = build_book(root=self.root)
        return self._site

    @classmethod
    def get(cls, tmp_path_factory: object) -> SharedBook:
        if cls._instance is None:
            cls._instance = cls(tmp_path_factory.mktemp("shared_book"))  # type: ignore[attr-defined]
        return cls._instance
