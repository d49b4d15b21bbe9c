"""Quantitative industry rotation: industry ETFs scored by fundamentals, trend and behaviour.

Each week-end :math:`t`, for every industry ETF listed and tradable on :math:`t` (cross-sectional
z-scores :math:`z(\\cdot)` over those ETFs):

- **trend** (short and medium term): :math:`\\tfrac13 \\sum_{n \\in \\{20, 60, 120\\}} z(P_t /
  P_{t-n} - 1)` from the ETF's closes;
- **fundamentals** (medium term): :math:`z(g)`, :math:`g` the earnings growth of the tracked
  industry index (TTM net profit against a year earlier over the members, statements as
  announced by :math:`t`; see :func:`quantbook.strategies.inputs.industry_fundamentals`);
- **behaviour** (participants): :math:`z(\\ln(A^{(5)}/A^{(60)}))`, the ETF's traded value over
  the last 5 sessions against the last 60 (rising participation);
- composite :math:`S = w_T \\cdot trend + w_F \\cdot fund + w_B \\cdot behaviour`, the weights
  renormalized over the components the data have.

Risk flags exclude an ETF: **valuation** - the tracked index's P/E is above the
``valuation_cap`` percentile of its own last three years; **crowding** - the industry's share
of the traded value of all candidate industries (20-day sums) is above the ``crowding_cap``
percentile of its own last year. The top ``n_hold`` remaining ETFs by :math:`S` are held
equally (20 % each for five).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantbook.strategies import indicators as ind
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput

__all__ = ["IndustryRotation", "industry_scores"]


def _pct_weekly(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    return ind.rolling_percentile(frame, window, min_periods=max(8, window // 3))


@dataclass(frozen=True)
class IndustryRotation(Strategy):
    """Quantitative industry rotation (benchmark CSI 800).

    Parameters
    ----------
    categories
        ``etf_info`` categories of the candidates.
    n_hold
        ETFs held, equally weighted.
    w_trend, w_fundamental, w_behaviour
        Composite weights.
    valuation_cap, crowding_cap
        Percentile limits of the risk flags (1 disables a flag).
    valuation_weeks, crowding_weeks
        Look-backs of the percentiles, in weeks.
    """

    key = "industry"
    title = "Quantitative industry rotation"
    method = (
        "Industry ETFs are scored each week by short and medium-term trend (20, 60 and 120-day "
        "returns), earnings growth of the tracked industry and rising participation (5 against "
        "60-day traded value), as cross-sectional z-scores; industries whose valuation or "
        "trading crowding is at an extreme of their own history are excluded, and the top five "
        "are held at 20 % each."
    )
    benchmark: str = "000906.SH"
    benchmark_fallbacks: tuple[str, ...] = ("000300.SH",)
    categories: tuple[str, ...] = ("industry",)
    n_hold: int = 5
    w_trend: float = 0.6
    w_fundamental: float = 0.2
    w_behaviour: float = 0.2
    valuation_cap: float = 0.95
    crowding_cap: float = 0.95
    valuation_weeks: int = 156
    crowding_weeks: int = 52

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        codes = inputs.market.codes(list(self.categories))
        return (
            {"equal weight of the industry ETFs": dict.fromkeys(codes, 1.0 / len(codes))}
            if codes
            else {}
        )

    def missing(self, inputs: Inputs) -> dict[str, str]:
        codes = inputs.market.codes(list(self.categories))
        if len(codes) < self.n_hold + 1:
            return {
                "industry ETFs": f"{len(codes)} ETF(s) of categories {', '.join(self.categories)}; "
                f"at least {self.n_hold + 1} are needed to choose {self.n_hold}"
            }
        return {}

    def compute(self, inputs: Inputs) -> StrategyOutput:
        sig, notes = industry_scores(inputs, self)
        m = inputs.market
        codes = m.codes(list(self.categories))
        rows = {}
        for day, g in sig.groupby("date"):
            ok = g[g["eligible"]].sort_values(["score", "item"], ascending=[False, True])
            if ok["score"].notna().sum() < self.n_hold:
                continue
            pick = ok["item"].head(self.n_hold).tolist()
            w = pd.Series(0.0, index=codes)
            w[pick] = 1.0 / self.n_hold
            rows[day] = w
        targets = pd.DataFrame(rows).T.sort_index() if rows else pd.DataFrame(columns=codes)
        sig = sig.assign(selected=False)
        for when, w in targets.iterrows():
            held = set(w.index[w > 0])
            sel = (sig["date"] == when) & sig["item"].isin(held)
            sig.loc[sel, "selected"] = True
        return StrategyOutput(
            targets=targets, signals=sig[sig["date"].isin(targets.index)], notes=notes
        )


def industry_scores(inputs: Inputs, strategy: IndustryRotation) -> tuple[pd.DataFrame, list[str]]:
    """Component scores, composite and risk flags of every candidate on every week-end.

    Returns
    -------
    signals : DataFrame
        Long ``date, item`` (ETF) with ``trend, fundamental, behaviour, score,
        valuation_pct, crowding_pct, eligible``.
    notes : list of str
        Components skipped for lack of data.
    """
    m = inputs.market
    s = strategy
    codes = m.codes(list(s.categories))
    notes: list[str] = []
    close = m.close[codes]
    dates = m.rebalance_dates
    tradable = m.weekly(m.traded[codes].astype(float)).fillna(0.0) > 0
    listed = m.weekly(close).notna() & tradable
    # trend
    trend_parts = [
        ind.cross_zscore(m.weekly(ind.momentum(close, n)).where(listed)) for n in (20, 60, 120)
    ]
    trend = ind.add(p.fillna(0.0) for p in trend_parts) / 3.0
    trend = trend.where(m.weekly(ind.momentum(close, 20)).notna() & listed)
    # behaviour
    amount = m.amount[codes]
    if amount.notna().any().any():
        beh = ind.cross_zscore(ind.log(m.weekly(ind.volume_ratio(amount, 5, 60))).where(listed))
    else:
        beh = pd.DataFrame(np.nan, index=dates, columns=codes)
        notes.append("No traded values: the behaviour component is skipped.")
    # fundamentals of the tracked indices
    tracked = m.info.loc[codes, "tracked_index"].astype("string")
    growth = inputs.industry.get("growth", pd.DataFrame())
    pe = inputs.industry.get("pe", pd.DataFrame())

    def by_etf(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(np.nan, index=dates, columns=codes)
        if frame.empty:
            return out
        for c in codes:
            t = tracked.get(c)
            if t is not None and not pd.isna(t) and str(t) in frame.columns:
                out[c] = frame[str(t)].reindex(dates).to_numpy()
        return out

    g = by_etf(growth)
    if g.notna().any().any():
        fund = ind.cross_zscore(g.where(listed).clip(-5, 5))
    else:
        fund = pd.DataFrame(np.nan, index=dates, columns=codes)
        notes.append(
            "No statements for the tracked industries: the fundamental component and the valuation flag are skipped."
        )
    # composite, weights renormalized over available components
    parts = [(s.w_trend, trend), (s.w_fundamental, fund), (s.w_behaviour, beh)]
    num = ind.add(w * p.fillna(0.0) for w, p in parts)
    den = ind.add(w * p.notna().astype(float) for w, p in parts)
    score = (num / den.where(den > 0)).where(trend.notna())
    # risk flags
    val_pct = _pct_weekly(by_etf(pe), s.valuation_weeks)
    src = m.index_amount.reindex(columns=[str(tracked.get(c)) for c in codes])
    src.columns = codes
    if not src.notna().any().all():
        src = amount
    # only industries whose ETF is listed on the day count (the universe known then)
    amt20 = src.where(close.notna()).rolling(20, min_periods=10).sum()
    share = amt20.div(amt20.sum(axis=1), axis=0)
    crowd_pct = _pct_weekly(m.weekly(share), s.crowding_weeks)
    flag_val = val_pct > s.valuation_cap
    flag_crowd = crowd_pct > s.crowding_cap
    eligible = score.notna() & ~flag_val & ~flag_crowd
    long = pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), len(codes)),
            "item": np.tile(np.asarray(codes, dtype=object), len(dates)),
        }
    )
    for name, frame in (
        ("trend", trend),
        ("fundamental", fund),
        ("behaviour", beh),
        ("score", score),
        ("valuation_pct", val_pct),
        ("crowding_pct", crowd_pct),
    ):
        long[name] = frame.reindex(index=dates, columns=codes).to_numpy(dtype=float).ravel()
    long["eligible"] = eligible.reindex(index=dates, columns=codes).to_numpy(dtype=bool).ravel()
    return long, notes
