"""Build a synthetic store, and regenerate its minute bars on demand."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantbook.data.calendar import DateLike, TradingCalendar
from quantbook.data.panel import load_daily_panel
from quantbook.data.schema import MINUTES_PER_DAY
from quantbook.data.sources.synthetic.fundamentals import statements_frame
from quantbook.data.sources.synthetic.intraday import day_rng, minute_paths
from quantbook.data.sources.synthetic.market import DAILY_COLUMNS, SimOutput, simulate
from quantbook.data.sources.synthetic.presets import Preset, get_preset
from quantbook.data.sources.synthetic.universe import (
    INDUSTRIES,
    Universe,
    build_universe,
    instruments_frame,
    spells_frame,
)
from quantbook.data.store import Store, StoreWriter, check_target

#: Bump when the simulator changes in a way that changes its output (cache keys use it).
SOURCE_VERSION = "1"


def _daily_frame(u: Universe, sim: SimOutput) -> tuple[pd.DataFrame, pd.DataFrame]:
    listed = u.listed
    t_idx, j_idx = np.nonzero(listed)
    base = {"date": u.sessions.values[t_idx], "code": u.codes[j_idx]}
    daily = pd.DataFrame({**base, **{k: sim.arrays[k][t_idx, j_idx] for k in DAILY_COLUMNS}})
    daily["is_suspended"] = u.suspended[t_idx, j_idx]
    state = pd.DataFrame(
        {
            **base,
            "sigma": sim.arrays["sigma"][t_idx, j_idx],
            "spike_bias": sim.arrays["spike_bias"][t_idx, j_idx],
            "one_price": sim.extra["one_price"][t_idx, j_idx],
        }
    )
    state = state[~daily["is_suspended"].to_numpy()].reset_index(drop=True)
    return daily, state


def _tables(u: Universe, sim: SimOutput) -> dict[str, pd.DataFrame]:
    T = len(u.sessions)
    listed = u.listed
    delisting = (u.delist_idx < T)[None, :]
    st_value = np.where(delisting, "*ST", "ST")
    st_value = np.broadcast_to(st_value, u.st.shape)
    tables = {
        "instruments": instruments_frame(u, pd.DatetimeIndex(sim.extra["list_dates"])),
        "st_status": spells_frame(u.codes, st_value, u.st, u.sessions),
        "industry": spells_frame(u.codes, INDUSTRIES[u.industry], listed, u.sessions),
        "fundamentals": statements_frame(sim.statements, u.codes),
    }
    return tables


def build_store(
    *,
    preset: str | Preset = "default",
    name: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    root: Path | None = None,
    replace: bool = False,
) -> Store:
    """Simulate the synthetic A-share market and write it as store ``name``.

    Parameters
    ----------
    preset
        ``smoke``, ``default``, ``full`` or a :class:`Preset`.
    name
        Store name (default: the preset's name).
    seed
        Random seed (default: the preset's); the same seed gives byte-identical tables.
    progress
        Show progress bars.
    root
        Data root (default: :func:`quantbook.data.store.data_root`).
    replace
        Allow replacing a store of another source (``--replace``).

    Returns
    -------
    Store
        The committed store.

    Raises
    ------
    StoreTargetError
        Before anything is simulated, if ``name`` is not a plain folder name or its folder is
        not a synthetic store (:func:`quantbook.data.store.check_target`).
    """
    from quantbook.data.sources.synthetic.bonds import build_bond_tables
    from quantbook.data.sources.synthetic.etfs import build_etf_tables
    from quantbook.data.sources.synthetic.indices import build_index_tables

    p = get_preset(preset) if isinstance(preset, str) else preset
    seed = p.seed if seed is None else int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed}")
    name = name or p.name
    check_target(name, source="synthetic", replace=replace, root=root)
    sessions = TradingCalendar(p.start, p.end).sessions
    u = build_universe(p.n_stocks, sessions, seed)
    sim = simulate(u, seed=seed, eff=p.effects, progress=progress)
    daily, state = _daily_frame(u, sim)
    tables = _tables(u, sim)
    idx = build_index_tables(
        daily,
        tables["instruments"],
        tables["industry"],
        tables["st_status"],
        sim.chars,
        sessions=sessions,
        seed=seed,
    )
    bonds = build_bond_tables(sessions=sessions, seed=seed)
    etfs = build_etf_tables(
        idx["index_info"],
        idx["index_bars"],
        bonds["bond_yields"],
        bonds["bond_index_bars"],
        sessions=sessions,
        seed=seed,
    )
    params: dict[str, Any] = {
        "preset": p.name,
        "seed": seed,
        "n_stocks": p.n_stocks,
        "start": p.start,
        "end": p.end,
    }
    context = {
        "strict": True,
        "instruments": tables["instruments"],
        "st_status": tables["st_status"],
    }
    with StoreWriter(name, source="synthetic", params=params, root=root, replace=replace) as w:
        for tname, df in (
            ("instruments", tables["instruments"]),
            ("st_status", tables["st_status"]),
            ("industry", tables["industry"]),
            ("daily_bars", daily),
            ("fundamentals", tables["fundamentals"]),
            *idx.items(),
            *bonds.items(),
            *etfs.items(),
        ):
            w.write(tname, df, context=context)
        w.write_extra("synthetic/intraday_state", state)
        w.write_extra("synthetic/factor_returns", sim.factor_returns.reset_index(names="date"))
        w.write_extra("synthetic/exposures", sim.exposures)
        w.write_extra("synthetic/signals", sim.signals)
        w.write_extra("synthetic/chars", sim.chars)
        store = w.commit(
            extra_meta={
                "source_version": SOURCE_VERSION,
                "span": {"start": str(sessions[0].date()), "end": str(sessions[-1].date())},
                "minute_source": {
                    "module": "quantbook.data.sources.synthetic",
                    "mode": "regenerated from the seed",
                },
            }
        )
    return store


def regenerate_minutes(
    store: Store, dates: Iterable[DateLike], *, codes: Iterable[str] | None = None
) -> pd.DataFrame:
    """Minute bars of a synthetic store for ``dates`` (and ``codes``), rebuilt from the seed.

    The result equals what the build generated: daily bars are its exact aggregates.
    """
    seed = int(store.meta["params"]["seed"])
    sessions = store.calendar().sessions
    wanted = None if codes is None else set(codes)
    days = sorted({pd.Timestamp(x) for x in dates})
    for d in days:
        if d not in sessions:
            raise ValueError(f"{d.date()} is not a trading day of store {store.name!r}")
    frames = []
    if days:
        # the store's one daily panel (read once per process, data.panel): no read per call
        panel = load_daily_panel(
            store,
            start=days[0],
            end=days[-1],
            fields=["open", "price_1130", "close", "limit_up", "limit_down", "volume"],
        )
        all_state = _state_between(store, days[0], days[-1])
        state_by_day = dict(tuple(all_state.groupby("date", sort=True)))
    for d in days:
        t = int(sessions.searchsorted(d))
        st = state_by_day[d].reset_index(drop=True)
        row = panel.position(d)
        ci = panel.codes.get_indexer(pd.Index(st["code"].astype(str)))
        traded = panel.trading[row]
        if (ci < 0).any() or not traded[ci].all() or len(ci) != int(traded.sum()):
            raise RuntimeError(
                f"store {store.name!r}: intraday state and daily bars disagree on {d.date()}"
            )
        paths = minute_paths(
            day_rng(seed, t),
            open_=panel["open"][row, ci],
            p1130=panel["price_1130"][row, ci],
            close=panel["close"][row, ci],
            limit_up=panel["limit_up"][row, ci],
            limit_down=panel["limit_down"][row, ci],
            volume=panel["volume"][row, ci],
            sigma=st["sigma"].to_numpy(),
            spike_bias=st["spike_bias"].to_numpy(),
            one_price=st["one_price"].to_numpy(),
        )
        sel = (
            np.arange(len(st))
            if wanted is None
            else np.flatnonzero(st["code"].isin(wanted).to_numpy())
        )
        n = len(sel)
        frames.append(
            pd.DataFrame(
                {
                    "date": np.full(n * MINUTES_PER_DAY, d.to_datetime64()),
                    "code": np.repeat(st["code"].to_numpy()[sel], MINUTES_PER_DAY),
                    "minute": np.tile(np.arange(MINUTES_PER_DAY), n),
                    "open": paths.open[sel].ravel(),
                    "high": paths.high[sel].ravel(),
                    "low": paths.low[sel].ravel(),
                    "close": paths.close[sel].ravel(),
                    "volume": paths.volume[sel].ravel(),
                    "amount": paths.amount[sel].ravel(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["date", "code", "minute", "open", "high", "low", "close", "volume", "amount"]
        )
    return pd.concat(frames, ignore_index=True)


def _state_between(store: Store, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path = store.path / "synthetic" / "intraday_state.parquet"
    return pq.read_table(path, filters=[("date", ">=", start), ("date", "<=", end)]).to_pandas()
