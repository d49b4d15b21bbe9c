"""Indices, ETFs and bonds of the synthetic market, checked on a small hand-built stock panel.

The panel (300 stocks x 500 sessions) is random but has what the builders must handle: IPOs
and delistings inside the span, Beijing stocks, suspensions, ST spells, industry changes and
changing float shares. Expected values are recomputed here independently (pandas, long
frames) from the documented rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from quantbook.data import TradingCalendar
from quantbook.data.schema import TABLES
from quantbook.data.sources.synthetic import bonds, etfs, indices
from quantbook.data.vocabulary import SW_L1

N_STOCKS = 300
N_SESSIONS = 500
SEED = 11
CHAR_COLUMNS = [
    "size",
    "beta",
    "momentum",
    "volatility",
    "liquidity",
    "value",
    "growth",
    "dividend",
    "profitability",
    "leverage",
]


# ---------------------------------------------------------------------------------------------
# the fake stock panel
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """The inputs of :func:`indices.build_index_tables`."""

    daily: pd.DataFrame
    instruments: pd.DataFrame
    industry: pd.DataFrame
    st_status: pd.DataFrame
    chars: pd.DataFrame
    sessions: pd.DatetimeIndex


def make_panel(
    seed: int = 0, n_stocks: int = N_STOCKS, n_sessions: int = N_SESSIONS, start: str = "2021-01-04"
) -> Panel:
    """A random stock panel in the store schema (daily, instruments, spells, chars)."""
    rng = np.random.default_rng(seed)
    sessions = TradingCalendar(start).sessions[:n_sessions]
    T, N = len(sessions), n_stocks
    boards = np.where(np.arange(N) < 10, "bse", "main")
    codes = np.array(
        [f"{830000 + i}.BJ" if b == "bse" else f"{600000 + i}.SH" for i, b in enumerate(boards)]
    )

    pre = rng.random(N) < 0.8
    list_pos = np.where(pre, 0, rng.integers(1, T - 100, size=N))
    list_date = pd.DatetimeIndex(
        np.where(
            pre,
            sessions[0]
            - pd.Timedelta(days=1)
            - pd.to_timedelta(rng.integers(0, 3000, size=N), unit="D"),
            sessions[list_pos],
        )
    )
    delisted = rng.random(N) < 0.05
    delist_pos = np.where(delisted, rng.integers(list_pos + 30, T), T)
    delist_date = pd.DatetimeIndex([sessions[p] if p < T else pd.NaT for p in delist_pos])

    ret = 0.0003 + 0.012 * rng.standard_normal((T, 1)) + 0.02 * rng.standard_normal((T, N))
    susp = rng.random((T, N)) < 0.01
    ret[susp] = 0.0
    close = 10.0 * np.exp(rng.normal(0, 0.8, size=N)) * np.cumprod(1.0 + ret, axis=0)
    prev_close = close / (1.0 + ret)
    open_ = prev_close * (1.0 + 0.008 * rng.standard_normal((T, N)))
    high = np.maximum(open_, close) * (1.0 + 0.01 * np.abs(rng.standard_normal((T, N))))
    low = np.minimum(open_, close) * (1.0 - 0.01 * np.abs(rng.standard_normal((T, N))))
    for a in (open_, high, low):
        a[susp] = prev_close[susp]
    float_shares = np.exp(rng.normal(20, 1.0, size=N)) * np.ones((T, 1))
    step = rng.integers(0, T, size=N)
    float_shares[np.arange(T)[:, None] >= step[None, :]] *= 1.3  # lock-up expiries
    volume = np.where(susp, 0.0, np.exp(rng.normal(15, 1, size=(T, N))))
    amount = volume * (open_ + close) / 2.0

    t_idx, n_idx = np.nonzero(
        (np.arange(T)[:, None] >= list_pos) & (np.arange(T)[:, None] < delist_pos)
    )
    daily = pd.DataFrame(
        {
            "date": sessions[t_idx],
            "code": codes[n_idx],
            "open": open_[t_idx, n_idx],
            "high": high[t_idx, n_idx],
            "low": low[t_idx, n_idx],
            "close": close[t_idx, n_idx],
            "prev_close": prev_close[t_idx, n_idx],
            "volume": volume[t_idx, n_idx],
            "amount": amount[t_idx, n_idx],
            "float_shares": float_shares[t_idx, n_idx],
            "total_shares": 1.5 * float_shares[t_idx, n_idx],
            "is_suspended": susp[t_idx, n_idx],
        }
    )
    instruments = pd.DataFrame(
        {
            "code": codes,
            "name": [f"S{i}" for i in range(N)],
            "board": boards,
            "list_date": list_date,
            "delist_date": delist_date,
        }
    )
    sw = np.array(sorted(SW_L1))
    ind = sw[rng.integers(0, len(sw), size=N)]
    rows: list[tuple[object, ...]] = []
    for i in range(N):
        if rng.random() < 0.1:
            cut = sessions[int(rng.integers(50, T - 50))]
            rows.append((codes[i], list_date[i], cut, ind[i]))
            rows.append((codes[i], cut, pd.NaT, sw[(np.searchsorted(sw, ind[i]) + 1) % len(sw)]))
        else:
            rows.append((codes[i], list_date[i], pd.NaT, ind[i]))
    industry = pd.DataFrame(rows, columns=["code", "start", "end", "value"])
    st_rows: list[tuple[object, ...]] = []
    for i in np.flatnonzero(rng.random(N) < 0.08).tolist():
        t0 = int(rng.integers(0, T - 60))
        t1 = t0 + int(rng.integers(20, 200))
        st_rows.append((codes[i], sessions[t0], sessions[t1] if t1 < T else pd.NaT, "ST"))
    st_status = pd.DataFrame(st_rows, columns=["code", "start", "end", "value"])
    month_ends = TradingCalendar(sessions[0], sessions[-1]).month_ends()
    chars = pd.DataFrame(
        {
            "date": np.repeat(month_ends, N),
            "code": np.tile(codes, len(month_ends)),
            **{c: rng.standard_normal(len(month_ends) * N) for c in CHAR_COLUMNS},
        }
    )
    return Panel(daily, instruments, industry, st_status, chars, sessions)


def build_indices(panel: Panel, seed: int = SEED) -> dict[str, pd.DataFrame]:
    return indices.build_index_tables(
        panel.daily,
        panel.instruments,
        panel.industry,
        panel.st_status,
        panel.chars,
        sessions=panel.sessions,
        seed=seed,
    )


@pytest.fixture(scope="module")
def panel() -> Panel:
    return make_panel()


@pytest.fixture(scope="module")
def tables(panel: Panel) -> dict[str, pd.DataFrame]:
    sessions = panel.sessions
    out = build_indices(panel)
    out.update(bonds.build_bond_tables(sessions=sessions, seed=SEED))
    out.update(
        etfs.build_etf_tables(
            out["index_info"],
            out["index_bars"],
            out["bond_yields"],
            out["bond_index_bars"],
            sessions=sessions,
            seed=SEED,
        )
    )
    return out


# ---------------------------------------------------------------------------------------------
# independent helpers
# ---------------------------------------------------------------------------------------------


def rebalance_dates(sessions: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(rank date, effective date) of each regular rebalance inside the span."""
    out = []
    for year in sorted(set(sessions.year)):
        for month in (6, 12):
            first = pd.Timestamp(year=year, month=month, day=1)
            fridays = pd.date_range(first, first + pd.Timedelta(days=20), freq="W-FRI")
            eff = sessions[sessions > fridays[1]]
            rank = sessions[(sessions < first) & (sessions.month == month - 1)]
            if len(eff) and len(rank) and rank[-1].year == year:
                out.append((rank[-1], eff[0]))
    return out


def listed_on(panel: Panel, codes: list[str], date: pd.Timestamp) -> set[str]:
    """The subset of ``codes`` not yet delisted on ``date``."""
    delist = panel.instruments.set_index("code").loc[codes, "delist_date"]
    return set(delist.index[delist.isna() | (delist > date)])


def members_on(spells: pd.DataFrame, index_code: str, date: pd.Timestamp) -> set[str]:
    s = spells[spells["index_code"] == index_code]
    on = (s["start"] <= date) & (s["end"].isna() | (s["end"] > date))
    return set(s.loc[on, "code"])


def eligible_ranking(panel: Panel, rank_date: pd.Timestamp) -> list[str]:
    """Eligible codes on ``rank_date`` by float cap, largest first (recomputed from the rules)."""
    daily = panel.daily
    inst = panel.instruments
    st = panel.st_status
    sessions = panel.sessions
    day = daily[(daily["date"] == rank_date) & ~daily["is_suspended"]].merge(inst, on="code")
    n_in = np.array([((sessions >= d) & (sessions <= rank_date)).sum() for d in day["list_date"]])
    before = np.array(
        [
            np.busday_count(d.date(), sessions[0].date()) if d < sessions[0] else 0
            for d in day["list_date"]
        ]
    )
    on_st = (st["start"] <= rank_date) & (st["end"].isna() | (st["end"] > rank_date))
    ok = (
        (n_in + before >= 60)
        & ~day["code"].isin(st.loc[on_st, "code"])
        & (day["board"] != "bse")
        & (day["delist_date"].isna() | (day["delist_date"] > rank_date))
    )
    day = day[ok.to_numpy()].assign(cap=lambda d: d["close"] * d["float_shares"])
    return list(day.sort_values(["cap", "code"], ascending=[False, True])["code"])


def cap_weighted_returns(panel: Panel, spells: pd.DataFrame, index_code: str) -> pd.Series:
    daily = panel.daily
    s = spells[spells["index_code"] == index_code]
    m = daily.merge(s[["code", "start", "end"]], on="code")
    m = m[(m["date"] >= m["start"]) & (m["end"].isna() | (m["date"] < m["end"]))]
    w = m["prev_close"] * m["float_shares"]
    r = (m["close"] / m["prev_close"] - 1.0).where(~m["is_suspended"], 0.0)
    g = pd.DataFrame({"date": m["date"], "wr": w * r, "w": w}).groupby("date").sum()
    return g["wr"] / g["w"]


# ---------------------------------------------------------------------------------------------
# indices
# ---------------------------------------------------------------------------------------------


def test_schema_columns(tables: dict[str, pd.DataFrame]) -> None:
    for name in (
        "index_info",
        "index_members",
        "index_bars",
        "etf_info",
        "etf_bars",
        "bond_yields",
        "bond_index_bars",
    ):
        assert list(tables[name].columns) == TABLES[name].column_names, name
        key = list(TABLES[name].key)
        assert not tables[name].duplicated(key).any(), name


def test_index_info(tables: dict[str, pd.DataFrame]) -> None:
    info = tables["index_info"]
    cats = info["category"].value_counts()
    assert (
        cats["broad"] == 6 and cats["size"] == 2 and cats["industry"] == 31 and cats["style"] == 5
    )
    broad = info[info["category"] == "broad"].set_index("code")["pool"].to_dict()
    assert broad == {
        "000300.SH": "csi300",
        "000905.SH": "csi500",
        "000906.SH": "csi800",
        "000852.SH": "csi1000",
        "932000.CSI": "csi2000",
        "000985.CSI": "csi_all",
    }
    ind = info[info["category"] == "industry"]["code"]
    assert ind.str.match(r"^801\d{3}\.SI$").all() and ind.is_unique
    assert info[info["category"] == "style"]["code"].str.endswith(".CSI").all()


def test_pools_follow_scaled_cutoffs(panel: Panel, tables: dict[str, pd.DataFrame]) -> None:
    sessions = panel.sessions
    spells = tables["index_members"]
    schedule = [(sessions[0], sessions[0]), *rebalance_dates(sessions)]
    assert len(schedule) >= 4
    bands = {
        "000300.SH": (0, 300),
        "000905.SH": (300, 800),
        "000906.SH": (0, 800),
        "000852.SH": (800, 1800),
        "932000.CSI": (1800, 3800),
        "399314.SZ": (0, 100),
        "399316.SZ": (1000, 3000),
    }
    for rank_date, eff in schedule:
        order = eligible_ranking(panel, rank_date)
        n = len(order)
        alive = listed_on(panel, order, eff)
        for code, (lo, hi) in bands.items():
            a, b = (int(np.floor(x * n / 5000 + 0.5)) for x in (lo, hi))
            assert members_on(spells, code, eff) == set(order[a:b]) & alive, (code, eff)
        assert members_on(spells, "000985.CSI", eff) == alive


def test_pools_are_point_in_time(panel: Panel, tables: dict[str, pd.DataFrame]) -> None:
    sessions = panel.sessions
    rank_date, eff = rebalance_dates(sessions)[1]
    daily: pd.DataFrame = panel.daily.copy()
    later = daily["date"] > rank_date
    rng = np.random.default_rng(5)
    for col in ("close", "float_shares", "prev_close"):
        daily.loc[later, col] = daily.loc[later, col] * rng.uniform(0.2, 5.0, size=int(later.sum()))
    daily.loc[later, "is_suspended"] = rng.random(int(later.sum())) < 0.2
    chars: pd.DataFrame = panel.chars.copy()
    chars.loc[chars["date"] > rank_date, "value"] = rng.standard_normal(
        int((chars["date"] > rank_date).sum())
    )
    perturbed = build_indices(dataclasses.replace(panel, daily=daily, chars=chars))
    codes = tables["index_info"].query("category in ['broad', 'size', 'style']")["code"]
    changed_later = False
    next_eff = rebalance_dates(sessions)[2][1]
    for code in codes:
        assert members_on(tables["index_members"], code, eff) == members_on(
            perturbed["index_members"], code, eff
        ), code
        changed_later |= members_on(tables["index_members"], code, next_eff) != members_on(
            perturbed["index_members"], code, next_eff
        )
    assert changed_later  # the perturbation does reach the next rebalance


def test_csi300_and_csi500_partition_csi800(panel: Panel, tables: dict[str, pd.DataFrame]) -> None:
    sessions = panel.sessions
    spells = tables["index_members"]
    for date in sessions[::7]:
        a, b, c = (members_on(spells, x, date) for x in ("000300.SH", "000905.SH", "000906.SH"))
        assert a and b and not a & b and a | b == c


def test_style_indices_select_top_fifth_of_csi800(
    panel: Panel, tables: dict[str, pd.DataFrame]
) -> None:
    sessions = panel.sessions
    chars = panel.chars
    spells = tables["index_members"]
    rank_date, eff = rebalance_dates(sessions)[0]
    order = eligible_ranking(panel, rank_date)
    csi800 = order[: int(np.floor(800 * len(order) / 5000 + 0.5))]
    alive = listed_on(panel, csi800, eff)
    snap = chars[chars["date"] == chars.loc[chars["date"] <= rank_date, "date"].max()].set_index(
        "code"
    )
    snap = snap.loc[sorted(csi800)]
    k = int(np.floor(0.2 * len(snap) + 0.5))
    value = set(snap["value"].sort_values(ascending=False).index[:k])
    low_vol = set(snap["volatility"].sort_values().index[:k])
    assert members_on(spells, "930910.CSI", eff) == value & alive
    assert members_on(spells, "930913.CSI", eff) == low_vol & alive


@pytest.mark.parametrize(
    "code", ["000300.SH", "932000.CSI", "000985.CSI", "801780.SI", "801080.SI", "930914.CSI"]
)
def test_index_return_is_cap_weighted_member_return(
    panel: Panel, tables: dict[str, pd.DataFrame], code: str
) -> None:
    sessions = panel.sessions
    expected = cap_weighted_returns(panel, tables["index_members"], code).reindex(
        sessions, fill_value=0.0
    )
    bars = tables["index_bars"]
    close = bars[bars["code"] == code].set_index("date")["close"].reindex(sessions)
    assert close.iloc[0] == pytest.approx(1000.0)
    got = close.pct_change().iloc[1:]
    np.testing.assert_allclose(got.to_numpy(), expected.iloc[1:].to_numpy(), rtol=1e-10, atol=1e-13)


def test_index_bars_are_consistent(tables: dict[str, pd.DataFrame]) -> None:
    b = tables["index_bars"]
    assert len(b) == N_SESSIONS * len(tables["index_info"])
    assert (b["low"] <= b[["open", "close"]].min(axis=1)).all()
    assert (b["high"] >= b[["open", "close"]].max(axis=1)).all()
    assert (b["volume"] >= 0).all() and (b["amount"] >= 0).all()


def test_delisted_stock_leaves_on_delisting_date(
    panel: Panel, tables: dict[str, pd.DataFrame]
) -> None:
    inst = panel.instruments
    spells = tables["index_members"].merge(inst[["code", "delist_date"]], on="code")
    gone = spells[spells["delist_date"].notna()]
    assert len(gone)
    assert (gone["start"] < gone["delist_date"]).all()
    assert (gone["end"].notna() & (gone["end"] <= gone["delist_date"])).all()


def test_determinism(panel: Panel, tables: dict[str, pd.DataFrame]) -> None:
    sessions = panel.sessions
    again = build_indices(panel)
    again.update(bonds.build_bond_tables(sessions=sessions, seed=SEED))
    again.update(
        etfs.build_etf_tables(
            again["index_info"],
            again["index_bars"],
            again["bond_yields"],
            again["bond_index_bars"],
            sessions=sessions,
            seed=SEED,
        )
    )
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again[name], check_exact=True, obj=name)
    other = bonds.build_bond_tables(sessions=sessions, seed=SEED + 1)
    assert not other["bond_yields"].equals(tables["bond_yields"])


# ---------------------------------------------------------------------------------------------
# ETFs
# ---------------------------------------------------------------------------------------------


def test_etf_universe(tables: dict[str, pd.DataFrame]) -> None:
    info = tables["etf_info"].set_index("code")
    cats = info["category"].value_counts()
    assert cats["industry"] == 31 and cats["style"] == 5 and cats["theme"] >= 5
    assert cats["bond"] == 3 and cats["money"] == 1 and cats["size"] == 2 and cats["broad"] == 6
    for etf, index in {
        "510300.SH": "000300.SH",
        "510500.SH": "000905.SH",
        "512100.SH": "000852.SH",
        "563300.SH": "932000.CSI",
    }.items():
        assert info.at[etf, "tracked_index"] == index
    known = set(tables["index_info"]["code"]) | set(tables["bond_index_bars"]["code"])
    assert set(info["tracked_index"].dropna()) <= known
    first = tables["etf_bars"].groupby("code")["date"].min()
    sessions0 = tables["index_bars"]["date"].min()
    late = info["list_date"] > sessions0
    assert late.sum() >= 3
    assert (first[late.index[late]] == info.loc[late, "list_date"]).all()
    assert (first[late.index[~late]] == sessions0).all()


def test_etf_nav_tracks_index(tables: dict[str, pd.DataFrame]) -> None:
    info = tables["etf_info"].set_index("code")
    bars = tables["etf_bars"]
    levels = pd.concat(
        [
            tables["index_bars"].pivot(index="date", columns="code", values="close"),
            tables["bond_index_bars"].pivot(index="date", columns="code", values="close"),
        ],
        axis=1,
    )
    checked = 0
    for code, row in info.iterrows():
        if row["category"] in ("theme", "money"):
            continue
        nav = bars[bars["code"] == code].set_index("date")["nav"]
        idx = levels[row["tracked_index"]].reindex(nav.index)
        diff = (idx.pct_change() - nav.pct_change()).iloc[1:]
        years = (nav.index[-1] - nav.index[0]).days / 365.0
        te = diff.std() * np.sqrt(252.0)
        drag = diff.sum() / years
        assert te < etfs.TE_BOUND, (code, te)
        assert abs(drag - row["fee"]) < 3.0 * te / np.sqrt(years) + 0.001, (code, drag, row["fee"])
        checked += 1
    assert checked >= 45
    money = bars[bars["code"] == "511880.SH"]
    assert money["close"].between(99.0, 120.0).all()
    assert (money["nav"].diff().iloc[1:] > 0).all()


def test_etf_bars_are_consistent(tables: dict[str, pd.DataFrame]) -> None:
    b = tables["etf_bars"]
    lo, hi = b[["open", "close"]].min(axis=1), b[["open", "close"]].max(axis=1)
    assert (b["low"] <= lo).all() and (hi <= b["high"]).all() and (b["low"] > 0).all()
    for col in ("open", "high", "low", "close"):
        ticks = b[col] * 1000.0
        assert np.allclose(ticks, np.round(ticks), atol=1e-6), col
    trade = b[b["volume"] > 0]
    vwap = trade["amount"] / trade["volume"]
    assert ((vwap >= trade["low"] - 1e-9) & (vwap <= trade["high"] + 1e-9)).all()
    assert (trade["volume"] % 100 == 0).all()
    s = b[b["is_suspended"]]
    assert 3 <= len(s) and (s["volume"] == 0).all() and (s["amount"] == 0).all()
    prev_close = b.sort_values(["code", "date"]).groupby("code")["close"].shift().reindex(s.index)
    for col in ("open", "high", "low", "close"):
        assert (s[col] == prev_close).all(), col
    assert (b.loc[~b["is_suspended"], "volume"] > 0).all()
    mean_amount = b.merge(tables["etf_info"], on="code").groupby("category")["amount"].mean()
    assert mean_amount["broad"] > mean_amount["industry"]


def test_theme_bursts_raise_volume(tables: dict[str, pd.DataFrame]) -> None:
    info = tables["etf_info"]
    theme = info.loc[info["category"] == "theme", "code"]
    b = tables["etf_bars"][tables["etf_bars"]["code"].isin(theme)]
    ratio = b.groupby("code")["amount"].apply(lambda a: a.quantile(0.99) / a.median())
    assert (ratio > 3.0).all()


# ---------------------------------------------------------------------------------------------
# bonds
# ---------------------------------------------------------------------------------------------


def test_bond_curve_and_indices(tables: dict[str, pd.DataFrame]) -> None:
    y = tables["bond_yields"].pivot(index="date", columns="tenor", values="yield")
    assert list(y.columns) == [1.0, 2.0, 3.0, 5.0, 7.0, 10.0]
    assert ((y.to_numpy() > 0.004) & (y.to_numpy() < 0.05)).all()
    assert 0.012 < y[1.0].mean() < 0.03 and 0.02 < y[10.0].mean() < 0.035
    assert y.diff()[10.0].std() < 0.0005
    levels = tables["bond_index_bars"].pivot(index="date", columns="code", values="close")
    assert set(levels.columns) == {"CBA00101.CS", "CBA00621.CS", "CBA00631.CS", "CBA00651.CS"}
    vol = levels.pct_change().std()
    assert vol["CBA00621.CS"] < vol["CBA00631.CS"] < vol["CBA00651.CS"]
    assert (levels.iloc[0] == 100.0).all()


def planted_correlation(yields: pd.DataFrame) -> tuple[float, int]:
    """corr(signal at week-end w, change of the 10-year yield over week w+1), from yields only."""
    y = yields.pivot(index="date", columns="tenor", values="yield")
    iso = pd.DatetimeIndex(y.index).isocalendar()
    week = (iso["year"] * 100 + iso["week"]).to_numpy()
    weekly = y.groupby(week).last()  # the last session of each ISO week
    y10, y1 = weekly[10.0], weekly[1.0]
    signal = -(y10 - y10.rolling(20).mean()) + y1.diff(4)
    nxt = y10.shift(-1) - y10
    ok = signal.notna() & nxt.notna()
    return float(np.corrcoef(signal[ok], nxt[ok])[0, 1]), int(ok.sum())


def test_planted_ten_year_yield_effect() -> None:
    sessions = TradingCalendar("2006-01-01", "2025-12-31").sessions  # ~4,900 sessions
    corrs = []
    for seed in range(SEED, SEED + 8):
        corr, n = planted_correlation(
            bonds.build_bond_tables(sessions=sessions, seed=seed)["bond_yields"]
        )
        assert n > 900
        lo, hi = bonds.sample_band(n)
        assert lo <= corr <= hi, (seed, corr)
        corrs.append(corr)
    lo, hi = bonds.CORR_BAND
    assert lo <= float(np.mean(corrs)) <= hi, corrs
