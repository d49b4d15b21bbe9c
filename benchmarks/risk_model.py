"""Benchmark: fitting the risk model (SPEC §1) over a store's whole history.

Ours: :func:`quantbook.risk.fit` with the style exposures given (computed once beforehand
with :func:`quantbook.risk.compute_styles`, timed separately): reading the bars, deciding the
estimation universe, and one constrained WLS per period (the restriction-matrix normal
equations assembled blockwise, without forming the dummy matrix).

Reference: the straightforward implementation, one ``statsmodels.WLS`` per period on the
reparameterized design ``X R``. It starts from the same prepared arrays as ours (bars read and
estimation universe decided, timed once and charged to both); per period it builds a pandas
frame of the estimation universe (code, industry, return, sqrt float cap, float cap, styles;
rows with a missing exposure dropped), turns it into ``[1 | get_dummies(industry) | styles]``,
builds the restriction matrix from the industries' cap weights, solves
``sm.WLS(r, X @ R, weights=v).fit()`` and collects ``f = R g``, the standard errors
``sqrt(diag(R Cov(g) R'))`` and the residuals. Both give the same factor returns, standard
errors and residuals (checked to 1e-8 on every period the reference runs; exit 1 otherwise).

Run from the repository root (``OMP_NUM_THREADS=1`` recommended: both sides single-threaded)::

    .venv/bin/python benchmarks/risk_model.py [--data full] [--freq D] [--ref-every 10]

A missing ``full`` (or ``default``/``smoke``) store is built first (``--build-root`` chooses
where; default: the data root). The reference runs on every ``--ref-every``-th period; its
per-period time is the median over those, extrapolated to all periods; ours is the median of
``--repeat`` whole fits. Times are CPU times of this process (``time.process_time``), far less
sensitive than wall time to other processes on a shared machine; wall times are printed too.
Last line: ``RESULT risk_model_fit_speedup <x> x vs statsmodels_wls_per_period``, ``x`` =
the reference's whole-history CPU time / ours.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from quantbook.data import Store, StoreNotFoundError, open_store
from quantbook.risk import (
    EstimationUniverse,
    StyleExposures,
    compute_styles,
    fit,
    restriction_matrix,
)
from quantbook.risk.model import _Design, _prepare, period_ends
from quantbook.risk.styles import StyleDataWarning


def get_store(name: str, root: Path | None) -> Store:
    try:
        return open_store(name, root=root)
    except StoreNotFoundError:
        from quantbook.data.sources.synthetic import build_store

        print(f"store {name!r} missing: building the synthetic {name!r} preset ...", flush=True)
        t0 = time.perf_counter()
        store = build_store(preset=name, name=name, progress=False, root=root)
        print(f"  built in {time.perf_counter() - t0:.0f} s", flush=True)
        return store


def reference_frame(d: _Design, expo: StyleExposures, k: int) -> pd.DataFrame | None:
    """Period ``k``'s estimation universe as a pandas frame, the straightforward way."""
    row = d.expo_rows[k]
    if row < 0:
        return None
    inc = d.include[k]
    styles = pd.DataFrame(
        expo.values[row][d.expo_cols[inc]], index=d.codes[inc], columns=list(expo.styles)
    )
    styles = styles.dropna(axis=1, how="all").dropna()
    if len(styles) <= 1 + 31 + styles.shape[1]:
        return None
    pos = d.codes.get_indexer(styles.index)
    names = np.asarray(d.industry_names, dtype=object)
    frame = pd.DataFrame(
        {
            "code": styles.index,
            "industry": names[d.industry[k, pos]],
            "ret": d.returns[k, pos],
            "sqrt_cap": np.sqrt(d.fcap[k, pos]),
            "cap": d.fcap[k, pos],
        }
    )
    return pd.concat([frame, styles.reset_index(drop=True)], axis=1)


def reference_fit(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """One period the straightforward way: dummies, restriction matrix, statsmodels WLS."""
    styles = list(frame.columns[5:])
    dummies = pd.get_dummies(frame["industry"], prefix="ind", prefix_sep="_", dtype=float)
    X = pd.concat(
        [pd.Series(1.0, index=frame.index, name="country"), dummies, frame[styles]], axis=1
    )
    w = frame.groupby("industry")["cap"].sum()
    w = (w / w.sum()).reindex([c[4:] for c in dummies.columns])
    R = restriction_matrix(w.to_numpy(), len(styles))
    model = sm.WLS(frame["ret"].to_numpy(), X.to_numpy() @ R, weights=frame["sqrt_cap"].to_numpy())
    fitted = model.fit()
    f = pd.Series(R @ fitted.params, index=X.columns)
    se = pd.Series(np.sqrt(np.diag(R @ fitted.cov_params() @ R.T)), index=X.columns)
    resid = pd.Series(fitted.resid, index=frame["code"].to_numpy())
    return f, se, resid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="full")
    ap.add_argument("--freq", default="D", choices=["D", "W", "M"])
    ap.add_argument("--ref-every", type=int, default=10, help="reference on every k-th period")
    ap.add_argument("--repeat", type=int, default=3, help="runs of our fit (median)")
    ap.add_argument("--build-root", type=Path, default=None)
    args = ap.parse_args()

    store = get_store(args.data, args.build_root)
    ends = period_ends(store, args.freq)
    starts = ends[:-1]
    n_codes = store.meta["tables"]["instruments"]["rows"]
    print(
        f"store {store.name!r}: {n_codes:,d} stocks, {store.start:%Y-%m-%d}..{store.end:%Y-%m-%d}, "
        f"freq {args.freq}: {len(ends) - 1} periods; threads "
        f"OMP={os.environ.get('OMP_NUM_THREADS', 'default')}",
        flush=True,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StyleDataWarning)
        t0 = time.perf_counter()
        expo = compute_styles(store, starts, progress=False)
        t_expo = time.perf_counter() - t0
    print(
        f"styles: {len(expo.styles)} styles x {len(expo.dates)} dates x {len(expo.codes):,d} codes "
        f"in {t_expo:.1f} s ({t_expo / len(expo.dates) * 1e3:.1f} ms per date)",
        flush=True,
    )

    runs, cpus = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fit(store, freq=args.freq, exposures=expo, progress=False)
        runs.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t_ours, c_ours = float(np.median(runs)), float(np.median(cpus))
    n = int((res.n_stocks > 0).sum())
    print(
        f"ours: fit over {n} periods, median of {args.repeat} runs: wall {t_ours:.2f} s "
        f"(runs {', '.join(f'{x:.2f}' for x in runs)}), CPU {c_ours:.2f} s "
        f"(runs {', '.join(f'{x:.2f}' for x in cpus)}) = {t_ours / n * 1e3:.2f} ms wall, "
        f"{c_ours / n * 1e3:.2f} ms CPU per period "
        f"(median {int(res.n_stocks[res.n_stocks > 0].median()):,d} stocks, "
        f"{res.factor_returns.shape[1]} factors, mean weighted R^2 {res.r2.mean():.3f})",
        flush=True,
    )

    # the reference starts from the same prepared arrays (bars read, universe decided)
    c0 = time.process_time()
    design, _ = _prepare(
        store,
        start=None,
        end=None,
        freq=args.freq,
        exposures=expo,
        universe=EstimationUniverse(),
        progress=False,
    )
    c_prep = time.process_time() - c0
    sm.WLS(np.ones(3), np.eye(3)).fit()  # warm-up
    ctimes, creg, worst = [], [], {"f": 0.0, "stderr": 0.0, "resid": 0.0}
    for k in range(0, len(design.dates), args.ref_every):
        c0 = time.process_time()
        frame = reference_frame(design, expo, k)
        if frame is None:
            continue
        c1 = time.process_time()
        f, se, resid = reference_fit(frame)
        c2 = time.process_time()
        ctimes.append(c2 - c0)
        creg.append(c2 - c1)
        date = design.dates[k]
        ours_f = res.factor_returns.loc[date, f.index]
        ours_se = res.stderr.loc[date, f.index]
        ours_u = res.residuals.loc[date, resid.index]
        worst["f"] = max(worst["f"], float(np.abs(ours_f - f).max()))
        worst["stderr"] = max(worst["stderr"], float(np.abs(ours_se - se).max()))
        worst["resid"] = max(worst["resid"], float(np.abs(ours_u - resid).max()))
    c_ref, c_reg = float(np.median(ctimes)), float(np.median(creg))
    c_ref_total = c_prep + n * c_ref
    print(
        f"reference: shared data preparation {c_prep:.2f} s CPU; per period (median of "
        f"{len(ctimes)}, every {args.ref_every}th): {c_ref * 1e3:.2f} ms CPU "
        f"(frame {(c_ref - c_reg) * 1e3:.2f} + statsmodels {c_reg * 1e3:.2f}); "
        f"whole history about {c_ref_total:.1f} s CPU",
        flush=True,
    )
    print(
        "max abs difference ours vs reference: "
        + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()),
        flush=True,
    )
    if max(worst.values()) > 1e-8:
        print("RESULTS DIFFER")
        return 1
    loop = (c_ours - c_prep) / n
    print(
        f"time per period (CPU): ours {c_ours / n * 1e3:.2f} ms end to end "
        f"({loop * 1e3:.2f} ms after the shared preparation), reference "
        f"{c_ref_total / n * 1e3:.2f} ms end to end ({c_ref * 1e3:.2f} ms after it, "
        f"{c_reg * 1e3:.2f} ms in statsmodels); styles {t_expo / len(expo.dates) * 1e3:.1f} ms "
        f"wall per date"
    )
    print(
        f"speed-up: whole history {c_ref_total / c_ours:.1f} x, per-period loop "
        f"{c_ref / loop:.1f} x, statsmodels call alone vs our whole per-period cost "
        f"{c_reg / loop:.1f} x (CPU time)"
    )
    print(
        f"RESULT risk_model_fit_speedup {c_ref_total / c_ours:.1f} x vs statsmodels_wls_per_period"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
