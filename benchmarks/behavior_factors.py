"""Benchmark: the four behaviour factors at one month-end (SPEC §2), vectorized vs groupby-apply.

Ours: :func:`quantbook.factors.behavior.load_behavior_inputs` (daily bars of the window into wide
arrays, the index's session returns, 10 days x 240 minute bars into a cube) followed by
:func:`quantbook.factors.behavior.factors_from_inputs` (the array kernels).

Reference: a straightforward pandas implementation written for this benchmark: the same
definitions with one ``groupby("code").apply`` per factor on the long frames the store
returns (``Store.read`` for daily bars, ``Store.minute_bars`` for minute bars), a per-date
``groupby.apply`` for the index's 11:30 level, and ``numpy.polyfit`` per stock for APM.

Both are checked to give the same values (every stock, every factor) before timing. Times:
best of ``--repeat`` runs after a warm-up; the reference compute runs once (it is slow).

Run from the repository root (the full preset needs a built store: ``quantbook data build
--source synthetic --preset full --name full``)::

    .venv/bin/python benchmarks/behavior_factors.py [--data full] [--as-of YYYY-MM-DD]

Last line: ``RESULT behavior_factors_speedup <x> x vs pandas_groupby_apply``: compute only, both
from data in memory, on CPU time (``time.process_time``, which other jobs on a shared machine
do not inflate; wall time is printed too). The line above it gives our time per month-end
including reading, wall and CPU.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from quantbook.data import Store, open_store
from quantbook.data.market_rules import LIMIT_TOL
from quantbook.factors.behavior import (
    FACTORS,
    BehaviorParams,
    factors_from_inputs,
    load_behavior_inputs,
)


# -- reference: straightforward pandas -----------------------------------------------------------
def ref_read(store: Store, as_of: pd.Timestamp, p: BehaviorParams) -> dict[str, pd.DataFrame]:
    """The long frames the reference starts from (data up to ``as_of``)."""
    sessions = store.calendar().range(end=as_of)
    start = sessions[-(p.window + 1)]
    daily = store.read("daily_bars", start=start, end=as_of)
    minutes = store.minute_bars(sessions[-p.minute_days :])
    index_bars = store.read(
        "index_bars", start=sessions[-(p.window + 6)], end=as_of, codes=[p.apm_index]
    )
    members = store.read("index_members", end=as_of)
    members = members[members["index_code"] == p.apm_index]
    return {"daily": daily, "minutes": minutes, "index_bars": index_bars, "members": members}


def _last_days(daily: pd.DataFrame, n: int) -> pd.DataFrame:
    days = np.sort(daily["date"].unique())[-n:]
    return daily[daily["date"].isin(days)]


def ref_ideal_reversal(daily: pd.DataFrame, p: BehaviorParams) -> pd.Series:
    d = _last_days(daily, p.window)

    def one(g: pd.DataFrame) -> float:
        g = g[(~g["is_suspended"]) & (g["num_trades"] > 0) & (g["amount"] > 0)]
        n = len(g)
        k = n // 2
        if n < p.min_days or k == 0:
            return np.nan
        g = g.assign(size=g["amount"] / g["num_trades"], ret=g["close"] / g["prev_close"] - 1)
        g = g.sort_values(["size", "date"], ascending=[False, True])
        return float((g["ret"].iloc[:k].sum() - g["ret"].iloc[n - k :].sum()) * (p.window / 2) / k)

    return d.groupby("code").apply(one, include_groups=False)


def ref_ideal_amplitude(daily: pd.DataFrame, p: BehaviorParams) -> pd.Series:
    d = _last_days(daily, p.window)

    def one(g: pd.DataFrame) -> float:
        at_up = g["limit_up"].notna() & (g["close"] >= g["limit_up"] - LIMIT_TOL)
        at_dn = g["limit_down"].notna() & (g["close"] <= g["limit_down"] + LIMIT_TOL)
        one_price = (g["high"] <= g["low"]) & (at_up | at_dn)
        g = g[~g["is_suspended"] & ~one_price]
        n = len(g)
        k = int(np.floor(p.amplitude_share * n + 0.5))
        if n < p.min_days or k == 0:
            return np.nan
        g = g.assign(amp=g["high"] / g["low"] - 1, adj=g["close"] * g["adj_factor"])
        top = g.sort_values(["adj", "date"], ascending=[False, True]).head(k)
        bottom = g.sort_values(["adj", "date"], ascending=[True, True]).head(k)
        return float(top["amp"].mean() - bottom["amp"].mean())

    return d.groupby("code").apply(one, include_groups=False)


def ref_index_returns(
    daily: pd.DataFrame, index_bars: pd.DataFrame, members: pd.DataFrame
) -> pd.DataFrame:
    """Index overnight and afternoon returns by date: bars for open/close, members for 11:30."""
    d = daily.merge(members[["code", "start", "end"]], on="code", how="inner")
    d = d[(d["start"] <= d["date"]) & (d["end"].isna() | (d["end"] > d["date"]))]

    def r1130(g: pd.DataFrame) -> float:
        w = g["float_shares"] * g["prev_close"]
        r = np.where(g["is_suspended"], 0.0, g["price_1130"] / g["prev_close"] - 1)
        return float((w * r).sum() / w.sum())

    agg = d.groupby("date").apply(r1130, include_groups=False)
    b = index_bars.sort_values("date").set_index("date")
    prev = b["close"].shift(1)
    out = pd.DataFrame({"overnight": b["open"] / prev - 1, "close_ret": b["close"] / prev - 1})
    out["r1130"] = agg
    out["afternoon"] = (1 + out["close_ret"]) / (1 + out["r1130"]) - 1
    return out


def ref_apm(
    daily: pd.DataFrame, index_bars: pd.DataFrame, members: pd.DataFrame, p: BehaviorParams
) -> pd.Series:
    idx = ref_index_returns(daily, index_bars, members)
    days = np.sort(daily["date"].unique())
    window, base, last = days[-p.window :], days[-(p.window + 1)], days[-1]
    d = daily[daily["date"].isin(window)].merge(
        idx[["overnight", "afternoon"]].rename(columns={"overnight": "R_on", "afternoon": "R_aft"}),
        left_on="date",
        right_index=True,
    )

    def stat(g: pd.DataFrame) -> float:
        g = g[~g["is_suspended"]]
        g = g.assign(on=g["open"] / g["prev_close"] - 1, aft=g["close"] / g["price_1130"] - 1)
        g = g.dropna(subset=["on", "aft", "R_on", "R_aft"])
        n = len(g)
        if n < p.min_days:
            return np.nan
        x = np.r_[g["R_on"].to_numpy(), g["R_aft"].to_numpy()]
        y = np.r_[g["on"].to_numpy(), g["aft"].to_numpy()]
        b, a = np.polyfit(x, y, 1)
        e = y - a - b * x
        delta = e[:n] - e[n:]
        sd = delta.std(ddof=1)
        return float(delta.mean() / (sd / np.sqrt(n))) if sd > 0 else np.nan

    s = d.groupby("code").apply(stat, include_groups=False)
    adj = daily.assign(adj=daily["close"] * daily["adj_factor"]).pivot(
        index="date", columns="code", values="adj"
    )
    ret20 = (adj.loc[last] / adj.loc[base] - 1).reindex(s.index)
    ok = s.notna() & ret20.notna()
    g1, g0 = np.polyfit(ret20[ok], s[ok], 1)
    return (s - g0 - g1 * ret20).where(ok)


def ref_smart_money(minutes: pd.DataFrame, p: BehaviorParams) -> pd.Series:
    def one(g: pd.DataFrame) -> float:
        g = g.sort_values(["date", "minute"])
        prev = g.groupby("date")["close"].shift(1).fillna(g["open"])
        r = g["close"] / prev - 1
        n_days = g["date"].nunique()
        g = g.assign(r=r)[g["volume"] > 0]
        if n_days < p.minute_min_days or g.empty:
            return np.nan
        g = g.assign(s=g["r"].abs() / g["volume"] ** p.volume_power)
        g = g.sort_values("s", ascending=False, kind="stable")
        before = g["volume"].cumsum() - g["volume"]
        smart = g[before < p.smart_share * g["volume"].sum()]
        vwap_smart = smart["amount"].sum() / smart["volume"].sum()
        return float(vwap_smart / (g["amount"].sum() / g["volume"].sum()))

    return minutes.groupby("code").apply(one, include_groups=False)


def ref_compute(frames: dict[str, pd.DataFrame], p: BehaviorParams) -> pd.DataFrame:
    d = frames["daily"]
    return pd.DataFrame(
        {
            "ideal_reversal": ref_ideal_reversal(d, p),
            "smart_money": ref_smart_money(frames["minutes"], p),
            "apm": ref_apm(d, frames["index_bars"], frames["members"], p),
            "ideal_amplitude": ref_ideal_amplitude(d, p),
        }
    )


# -- timing ----------------------------------------------------------------------------------------
def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best wall time and the CPU time of that run (process time: what the machine's load
    does not inflate), after a warm-up."""
    out = fn()  # warm-up
    best = (math.inf, math.inf)
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = min(best, (wall, cpu))
    return best[0], best[1], out


def check_equal(ours: pd.DataFrame, ref: pd.DataFrame) -> list[str]:
    problems = []
    for f in FACTORS:
        a = ours[f]
        b = ref[f].reindex(a.index)
        both = a.notna() & b.notna()
        only = int((a.notna() ^ b.notna()).sum())
        if only:
            problems.append(f"{f}: {only} stocks defined in only one implementation")
        if both.any() and not np.allclose(a[both], b[both], rtol=1e-8, atol=1e-10):
            problems.append(f"{f}: max abs difference {float((a[both] - b[both]).abs().max()):.3g}")
        print(
            f"  check {f:16s} {int(both.sum()):5d} stocks equal within 1e-8: {f not in ' '.join(problems)}"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="full", help="store name (default: full)")
    ap.add_argument("--as-of", default=None, help="month-end (default: the store's last)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats of ours (best of)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)

    store = open_store(args.data)
    as_of = pd.Timestamp(args.as_of) if args.as_of else store.calendar().month_ends()[-1]
    p = BehaviorParams()
    print(
        f"store {store.name!r} ({store.source}, preset {store.meta['params'].get('preset')}), as of {as_of:%Y-%m-%d}"
    )

    t_read, c_read, inputs = best_of(
        lambda: load_behavior_inputs(store, as_of, params=p), args.repeat
    )
    t_comp, c_comp, ours = best_of(lambda: factors_from_inputs(inputs), args.repeat)  # type: ignore[arg-type]
    assert isinstance(ours, pd.DataFrame)
    n_stocks = int(ours.notna().any(axis=1).sum())
    cube = inputs.minutes  # type: ignore[attr-defined]
    print(
        f"inputs: {len(inputs.panel.codes):,} stocks x {len(inputs.panel.dates)} days of daily bars, "  # type: ignore[attr-defined]
        f"minute cube {cube.close.shape} ({cube.close.size:,} minutes)"
    )
    print(
        f"ours: read {t_read:.2f} s + compute {t_comp:.3f} s = {t_read + t_comp:.2f} s wall "
        f"(best of {args.repeat}); CPU {c_read:.2f} s + {c_comp:.3f} s = {c_read + c_comp:.2f} s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )

    t0 = time.perf_counter()
    frames = ref_read(store, as_of, p)
    t_ref_read = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    ref = ref_compute(frames, p)
    t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"reference: read {t_ref_read:.2f} s + groupby-apply compute {t_ref:.2f} s wall, "
        f"{c_ref:.2f} s CPU (one run)"
    )

    problems = check_equal(ours, ref)
    if problems:
        print("RESULTS DIFFER:\n  " + "\n  ".join(problems))
        return 1
    speedup = c_ref / c_comp  # CPU time: robust to other jobs on a shared machine
    total, total_cpu = t_read + t_comp, c_read + c_comp
    print(
        f"{n_stocks:,} stocks with at least one factor; compute speedup {speedup:.1f}x CPU "
        f"({t_ref / t_comp:.1f}x wall); per month-end including reading {total:.2f} s wall, "
        f"{total_cpu:.2f} s CPU (target < 10 s: {'met' if min(total, total_cpu) < 10 else 'NOT met'}"
        f"{'' if total < 10 else ' on CPU time only; the machine is loaded'}); "
        f"end to end vs reference {(t_ref_read + t_ref) / total:.1f}x wall"
    )
    print(f"RESULT behavior_factors_speedup {speedup:.1f} x vs pandas_groupby_apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
