"""SmartBeta enhanced: time the Barra style factor returns, hold the ETFs best exposed to them.

Each week-end :math:`t`:

1. **Style timing.** For each of the 9 style groups :math:`g` of
   :data:`quantbook.strategies.styles.STYLE_GROUPS`, the group's factor return series
   :math:`f_{g}` (mean of its styles' returns from the risk model, up to :math:`t`) gives a
   trend signal, the mean return over several windows,
   :math:`\\hat\\mu_{g,t} = \\frac{1}{|N|} \\sum_{n \\in N} \\frac1n \\sum_{j<n} f_{g,t-j}`
   (N = 20, 60, 120 sessions; a weekly series uses windows of n / 5 weeks), and, for the
   report, its t-statistic over 60 sessions.
2. **ETF exposures.** :math:`X_{e,g,t}`: the float-cap-weighted exposure of the tracked
   index's constituents on :math:`t` (see :mod:`quantbook.strategies.styles`).
3. **Score.** :math:`S_{e,t} = \\sum_g \\hat\\mu_{g,t} X_{e,g,t}` (an expected style return,
   annualized x 252 in the tables); the top ``n_hold`` tradable ETFs are held equally.

The candidates are the broad, size and style ETFs (their tracked indices have constituents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from quantbook.strategies import indicators as ind
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput
from quantbook.strategies.styles import STYLE_GROUPS, group_exposures, style_group_returns

__all__ = ["SmartBeta", "style_signals"]


def _rows_per_window(index: pd.Index, sessions: int) -> int:
    """Rows of a factor-return series covering ``sessions`` trading days."""
    if len(index) < 3:
        return sessions
    gap = float(
        np.median(
            np.diff(pd.DatetimeIndex(index).to_numpy()).astype("timedelta64[D]").astype(float)
        )
    )
    return max(2, round(sessions / 5)) if gap >= 4 else sessions


def style_signals(
    factor_returns: pd.DataFrame, dates: pd.DatetimeIndex, *, windows: tuple[int, ...]
) -> pd.DataFrame:
    """Timing signals of each style group on each date.

    Returns
    -------
    DataFrame
        Long ``date, item`` (group) with ``signal`` (:math:`\\hat\\mu`, per session),
        ``tstat_60d`` and ``cum_ret_20d`` (the group's return over 20 sessions).
    """
    g = style_group_returns(factor_returns, STYLE_GROUPS)
    weekly = _rows_per_window(g.index, 5) != 5
    means = []
    for n in windows:
        k = _rows_per_window(g.index, n)
        means.append(g.rolling(k, min_periods=k).mean())
    mu = ind.add(means) / len(means)
    per_session = mu / 5.0 if weekly else mu
    k60 = _rows_per_window(g.index, 60)
    k20 = _rows_per_window(g.index, 20)
    tstat = ind.trend_tstat(g, k60)
    cum20 = g.rolling(k20, min_periods=k20).sum()

    def at(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.reindex(frame.index.union(dates)).ffill().reindex(dates)

    out = []
    for name, frame in (("signal", per_session), ("tstat_60d", tstat), ("cum_ret_20d", cum20)):
        out.append(pd.Series(at(frame).stack(future_stack=True), name=name))
    res = pd.concat(out, axis=1)
    res.index.names = ["date", "item"]
    return res.reset_index()


@dataclass(frozen=True)
class SmartBeta(Strategy):
    """SmartBeta enhanced (benchmark CSI 800).

    Parameters
    ----------
    categories
        ``etf_info`` categories of the candidates.
    n_hold
        ETFs held, equally weighted (1-4).
    windows
        Windows of the trend signal, in sessions.
    """

    key = "smartbeta"
    title = "SmartBeta enhanced"
    method = (
        "The Barra style factor returns of the risk model, in 9 style groups, are timed by "
        "their trend (mean return over 20, 60 and 120 sessions); each broad, size or style ETF's "
        "exposure to a group is the float-cap-weighted exposure of its tracked index's "
        "constituents; an ETF's score is the sum over groups of signal x exposure, and the top "
        "three ETFs are held equally."
    )
    benchmark: str = "000906.SH"
    benchmark_fallbacks: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("broad", "size", "style")
    n_hold: int = 3
    windows: tuple[int, ...] = (20, 60, 120)

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        st = inputs.styles
        codes = (
            sorted(set(st.etf_exposures["code"].astype(str))) if st is not None and st.ok else []
        )
        codes = [c for c in codes if c in inputs.market.codes(list(self.categories))]
        return (
            {"equal weight of the candidate ETFs": dict.fromkeys(codes, 1.0 / len(codes))}
            if codes
            else {}
        )

    def missing(self, inputs: Inputs) -> dict[str, str]:
        st = inputs.styles
        if st is None:
            return {"style inputs": "the risk model's style inputs were not loaded"}
        if not st.ok:
            return {"style factor returns": st.unavailable or "no style factor returns"}
        have = set(st.etf_exposures["code"].astype(str)) & set(
            inputs.market.codes(list(self.categories))
        )
        if len(have) <= self.n_hold:
            return {
                "ETF exposures": f"{len(have)} candidate ETF(s) with constituent exposures; more than "
                f"{self.n_hold} needed"
            }
        return {}

    def compute(self, inputs: Inputs) -> StrategyOutput:
        m = inputs.market
        st = inputs.styles
        assert st is not None
        dates = m.rebalance_dates
        fr = st.factor_returns.loc[: m.end]
        sig = style_signals(fr, dates, windows=self.windows)
        mu = sig.pivot(index="date", columns="item", values="signal").reindex(dates)
        gx = group_exposures(st.etf_exposures, STYLE_GROUPS)
        codes = sorted(set(gx["code"].astype(str)) & set(m.codes(list(self.categories))))
        traded = m.weekly(m.traded[codes].astype(float)).fillna(0.0) > 0
        groups = [g for g in mu.columns if g in gx.columns]
        rows, scores = {}, []
        gx = gx[gx["code"].isin(codes)]
        for key, ex in gx.groupby("date"):
            day = pd.Timestamp(cast(Any, key))
            if day not in mu.index:
                continue
            m_t = mu.loc[day, groups]
            if not np.isfinite(m_t.to_numpy(dtype=float)).all():
                continue
            X = ex.set_index("code")[groups]
            score = (X * m_t).sum(axis=1, min_count=1) * 252.0
            ok = pd.Series(traded.loc[day]).reindex(score.index).fillna(False).astype(bool)
            score = score[ok.to_numpy()].dropna()
            if len(score) <= self.n_hold:
                continue
            ranked = score.sort_index().sort_values(ascending=False, kind="stable")
            pick = ranked.index[: self.n_hold]
            w = pd.Series(0.0, index=codes)
            w[list(pick)] = 1.0 / self.n_hold
            rows[day] = w
            part = X.reindex(score.index).copy()
            part.columns = [f"expo_{c}" for c in part.columns]
            part["score"] = score
            part["selected"] = part.index.isin(pick)
            scores.append(part.reset_index(names="item").assign(date=day))
        targets = pd.DataFrame(rows).T.sort_index() if rows else pd.DataFrame(columns=codes)
        etf_sig = (
            pd.concat(scores, ignore_index=True)
            if scores
            else pd.DataFrame(columns=["date", "item"])
        )
        grp = sig[sig["date"].isin(targets.index)].copy()
        grp["signal"] = grp["signal"] * 252.0
        signals = pd.concat(
            [grp.rename(columns={"signal": "signal_annualized"}), etf_sig], ignore_index=True
        )
        notes = [f"Style inputs: {st.source}."] if st.source else []
        notes += [f"Risk model: {n}" for n in st.notes]
        return StrategyOutput(targets=targets, signals=signals, notes=notes)
