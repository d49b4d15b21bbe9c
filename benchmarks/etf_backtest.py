"""Full backtest of the six ETF strategies over the default store's history, timed.

Steps timed: loading the inputs (ETF / index / bond panels, industry fundamentals, member
breadth, and the Barra risk model's style returns and exposures), then computing every
strategy's targets and backtesting them (trained models retrained on their rolling windows,
the model cache off so that every model is really trained). Prints each strategy's annualized
excess return over its benchmark, for the whole backtest and since 2025-01-02.

Reference: the engine (:func:`quantbook.strategies.engine.backtest`) against a
straightforward implementation of the same rules with a Python loop over weeks and ETFs
(dicts, no arrays), on the six strategies' own targets; the two must agree to 1e-12.

Run from the repository root::

    .venv/bin/python benchmarks/etf_backtest.py [--data default]

The default store is ``data/default`` (built into a temporary folder when missing).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from quantbook.data import StoreNotFoundError, open_store
from quantbook.evaluation import excess_return
from quantbook.strategies import CASH, Costs, backtest, default_strategies, load_inputs, run_all
from quantbook.strategies.base import weekly_returns

SINCE = pd.Timestamp("2025-01-02")


def loop_backtest(
    targets: pd.DataFrame, prices: pd.DataFrame, traded: pd.DataFrame, rates: pd.Series
) -> tuple[list[float], list[dict[str, float]]]:
    """The engine's rules, written plainly: one week and one ETF at a time."""
    dates = list(targets.index)
    codes = [c for c in targets.columns if c != CASH]
    px = prices.reindex(columns=codes).sort_index()
    held: dict[str, float] = {CASH: 1.0}
    net: list[float] = []
    weights: list[dict[str, float]] = []
    last_cost = 0.0
    prev_day = None
    for day in dates:
        if prev_day is not None:
            grow = {}
            for c, w in held.items():
                if c == CASH:
                    grow[c] = w
                    continue
                p0 = px[c].loc[:prev_day].dropna()
                p1 = px[c].loc[:day].dropna()
                r = p1.iloc[-1] / p0.iloc[-1] if len(p0) and len(p1) else 1.0
                grow[c] = w * r
            total = sum(grow.values())
            net.append((1 - last_cost) * total - 1)
            held = {c: v / total for c, v in grow.items()}
        target = {c: float(targets.at[day, c]) for c in codes}
        target[CASH] = max(0.0, 1.0 - sum(target.values()))
        can = {c: bool(traded.at[day, c]) if day in traded.index else False for c in codes}
        for c in codes:
            if not np.isfinite(
                px[c].loc[:day].dropna().iloc[-1] if px[c].loc[:day].notna().any() else np.nan
            ):
                can[c] = False
        can[CASH] = True
        frozen = {c: w for c, w in held.items() if not can.get(c, False) and w > 1e-12}
        budget = 1.0 - sum(frozen.values())
        share = {c: w for c, w in target.items() if can.get(c, False)}
        s = sum(share.values())
        new = dict(frozen)
        if s > 1e-12:
            for c, w in share.items():
                new[c] = new.get(c, 0.0) + budget * w / s
        else:
            new[CASH] = new.get(CASH, 0.0) + budget
        last_cost = sum(
            float(rates.get(c, 0.0)) * abs(new.get(c, 0.0) - held.get(c, 0.0)) for c in codes
        )
        held = {c: w for c, w in new.items() if w != 0.0}
        weights.append(held)
        prev_day = day
    return net, weights


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default")
    args = ap.parse_args()
    tmp = None
    try:
        store = open_store(args.data)
    except StoreNotFoundError:
        from quantbook.data.sources.synthetic import build_store

        tmp = tempfile.TemporaryDirectory()
        print(f"store {args.data!r} not found: building the default preset in {tmp.name}")
        store = build_store(preset="default", name=args.data, progress=False, root=Path(tmp.name))
    print(
        f"store {store.name!r}: {store.start:%Y-%m-%d}..{store.end:%Y-%m-%d}, fingerprint {store.fingerprint()}"
    )

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = load_inputs(store, cache=False)
    t_inputs = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = run_all(inputs, default_strategies())
    t_run = time.perf_counter() - t1
    total = time.perf_counter() - t0
    print(
        f"inputs {t_inputs:.1f} s (risk model: {inputs.styles.source if inputs.styles else 'not loaded'})"
    )
    print(f"six strategies (targets, model training, backtests) {t_run:.1f} s")
    print()
    print(
        f"{'strategy':34s} {'from':10s} {'weeks':>5s} {'ann.ret':>8s} {'bench':>8s} {'excess':>8s} {'since ' + f'{SINCE:%Y-%m-%d}':>17s} {'TE':>7s} {'IR':>6s} {'turn':>6s}"
    )
    for res in results.values():
        if not res.ok:
            print(f"{res.title:34s} cannot run: {res.missing}")
            continue
        bt = res.backtest
        assert bt is not None and bt.benchmark is not None
        s = bt.stats()
        since = (
            bt.net.index > inputs.market.rebalance_dates[inputs.market.rebalance_dates < SINCE][-1]
        )
        ex_since = excess_return(bt.net[since], bt.benchmark[since], periods_per_year=52)
        print(
            f"{res.title:34s} {bt.dates[0]:%Y-%m-%d} {s.n_periods:5d} {s.annual_return:8.2%} {s.benchmark_return:8.2%} "
            f"{s.excess_return:+8.2%} {ex_since:+17.2%} {s.tracking_error:7.2%} {s.information_ratio:6.2f} {s.mean_turnover:6.1%}"
        )
    print()

    # engine against the loop reference, on the strategies' own targets
    rates = Costs().rates(inputs.market.info)
    t_engine = t_loop = 0.0
    worst = 0.0
    for res in results.values():
        if not res.ok:
            continue
        bt = res.backtest
        assert bt is not None
        targets = bt.targets.drop(columns=CASH)
        ta = time.perf_counter()
        again = backtest(
            targets,
            prices=inputs.market.close,
            traded=inputs.market.traded,
            cost_rates=rates,
            benchmark=weekly_returns(inputs.market.level(res.benchmark), bt.dates),  # type: ignore[arg-type]
        )
        t_engine += time.perf_counter() - ta
        tb = time.perf_counter()
        net, weights = loop_backtest(targets, inputs.market.close, inputs.market.traded, rates)
        t_loop += time.perf_counter() - tb
        diff = float(np.max(np.abs(np.asarray(net) - again.net.to_numpy())))
        wdiff = max(
            abs(again.weights.iloc[k].get(c, 0.0) - weights[k].get(c, 0.0))
            for k in range(len(weights))
            for c in set(weights[k]) | set(again.weights.columns)
        )
        worst = max(worst, diff, wdiff)
    print(
        f"engine {t_engine * 1e3:.1f} ms for six backtests; loop reference {t_loop:.2f} s; largest difference {worst:.1e}"
    )
    if not worst < 1e-12 or math.isnan(worst):
        print("FAILED: the engine and the loop reference disagree", file=sys.stderr)
        return 1
    print(
        f"RESULT etf_backtest_six_strategies {total:.1f} s (inputs {t_inputs:.1f} s, strategies {t_run:.1f} s; "
        f"engine x{t_loop / max(t_engine, 1e-9):.0f} faster than the loop) vs loop_engine_reference"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
