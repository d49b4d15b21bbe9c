"""Hot-spot tracking: thematic ETFs ranked by attention, the money-market ETF otherwise.

Attention proxies of each thematic ETF at week-end :math:`t` (daily bars up to :math:`t`):

- **abnormal volume**: :math:`\\ln(V^{(5)}/V^{(60)})`, the last 5 sessions' mean volume
  against the last 60;
- **turnover peak**: :math:`\\ln(\\max_{j<5} A_{t-j} / \\mathrm{median}_{j<60} A_{t-j})`, the
  largest day's traded value of the week against the usual;
- **breakout momentum**: the 5-day return and the close against the previous 60-day high;
- **event window**: sessions since the attention event began - the first of the last 10
  sessions whose volume exceeded ``event_multiple`` times the 60-day median volume (an event
  is "live" for ``event_sessions`` sessions).

A candidate must be in a live event with a positive 5-day return and abnormal volume above
``min_volume_ratio``; candidates are ranked by
:math:`z(\\text{abnormal volume}) + z(\\text{turnover peak}) + z(\\text{5-day return}) +
z(\\text{breakout})` (z-scores across the thematic ETFs) and the top ``n_hold`` are held
equally. Without a candidate the portfolio holds the ``idle`` ETF (the money-market ETF;
cash if the store has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantbook.strategies import indicators as ind
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput

__all__ = ["HotSpot", "attention_signals"]


def attention_signals(inputs: Inputs, strategy: HotSpot) -> pd.DataFrame:
    """Attention proxies, candidate flag and rank score of each thematic ETF per week-end.

    Returns
    -------
    DataFrame
        Long ``date, item`` with ``abnormal_volume, turnover_peak, ret_5d, breakout_60d,
        event_age, candidate, score``.
    """
    m = inputs.market
    s = strategy
    codes = m.codes(list(s.categories))
    close, vol, amt = m.close[codes], m.volume[codes], m.amount[codes]
    traded = m.traded[codes]
    v = vol.where(traded)
    a = amt.where(traded)
    abn = ind.log(ind.volume_ratio(v, 5, 60))
    med_a = a.rolling(60, min_periods=30).median()
    peak = ind.log(a.rolling(5, min_periods=3).max() / med_a.where(med_a > 0))
    ret5 = ind.momentum(close, 5)
    brk = ind.breakout(close, 60)
    med_v = v.rolling(60, min_periods=30).median().shift(1)
    spike = (v > s.event_multiple * med_v).astype(float)
    # sessions since the first spike of the last `event_sessions` sessions (NaN: none)
    sp = spike.to_numpy()
    ag = np.full(sp.shape, np.nan)
    n = s.event_sessions
    for i in range(len(sp)):
        win = sp[max(0, i - n + 1) : i + 1]
        hit = win > 0
        any_hit = hit.any(axis=0)
        first = np.argmax(hit, axis=0)
        ag[i] = np.where(any_hit, (len(win) - 1) - first, np.nan)
    age = pd.DataFrame(ag, index=close.index, columns=codes)
    W = {
        k: m.weekly(f)
        for k, f in (
            ("abnormal_volume", abn),
            ("turnover_peak", peak),
            ("ret_5d", ret5),
            ("breakout_60d", brk),
        )
    }
    W["event_age"] = m.weekly(age, fill=False)
    listed = m.weekly(traded.astype(float)).fillna(0.0) > 0
    cand = (
        listed
        & W["event_age"].notna()
        & (W["ret_5d"] > 0)
        & (W["abnormal_volume"] > np.log(s.min_volume_ratio))
    )
    z = ind.add(
        ind.cross_zscore(W[k].where(listed)).fillna(0.0)
        for k in ("abnormal_volume", "turnover_peak", "ret_5d", "breakout_60d")
    )
    score = z.where(cand)
    dates = m.rebalance_dates
    long = pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), len(codes)),
            "item": np.tile(np.asarray(codes, dtype=object), len(dates)),
        }
    )
    for k, f in W.items():
        long[k] = f.reindex(index=dates, columns=codes).to_numpy(dtype=float).ravel()
    long["candidate"] = cand.reindex(index=dates, columns=codes).to_numpy(dtype=bool).ravel()
    long["score"] = score.reindex(index=dates, columns=codes).to_numpy(dtype=float).ravel()
    long["ready"] = np.repeat(W["abnormal_volume"].notna().any(axis=1).to_numpy(), len(codes))
    return long


@dataclass(frozen=True)
class HotSpot(Strategy):
    """Hot-spot tracking (benchmark CSI All Share).

    Parameters
    ----------
    categories
        ``etf_info`` categories of the candidates.
    n_hold
        Most ETFs held (equal weights).
    min_volume_ratio
        Least 5-day / 60-day volume ratio of a candidate.
    event_multiple, event_sessions
        A session with volume above ``event_multiple`` x the 60-day median starts an event,
        live for ``event_sessions`` sessions.
    idle
        ETF held without a candidate (default: the first money-market ETF; "" = cash).
    """

    key = "hotspot"
    title = "Hot-spot tracking"
    method = (
        "Thematic ETFs are ranked each week by attention: abnormal volume and traded value, "
        "breakout momentum (5-day return, close against the 60-day high) and a live attention "
        "event (a volume spike in the last 10 sessions). Up to two ETFs with a live event, "
        "rising prices and abnormal volume are held equally; without one the strategy waits "
        "in the money-market ETF."
    )
    benchmark: str = "000985.CSI"
    benchmark_fallbacks: tuple[str, ...] = ("000001.SH", "000300.SH")
    categories: tuple[str, ...] = ("theme",)
    n_hold: int = 2
    min_volume_ratio: float = 1.5
    event_multiple: float = 2.5
    event_sessions: int = 10
    idle: str | None = None

    def _idle(self, inputs: Inputs) -> str | None:
        if self.idle is not None:
            return self.idle or None
        return next(iter(inputs.market.codes(["money"])), None)

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        codes = inputs.market.codes(list(self.categories))
        out = {}
        idle = self._idle(inputs)
        if idle:
            out["always the idle ETF"] = {idle: 1.0}
        if codes:
            out["equal weight of the thematic ETFs"] = dict.fromkeys(codes, 1.0 / len(codes))
        return out

    def missing(self, inputs: Inputs) -> dict[str, str]:
        m = inputs.market
        codes = m.codes(list(self.categories))
        out: dict[str, str] = {}
        if len(codes) < 2:
            out["thematic ETFs"] = (
                f"{len(codes)} ETF(s) of categories {', '.join(self.categories)}; at least 2 needed"
            )
        if m.volume[codes].notna().sum().sum() == 0 if codes else True:
            out.setdefault("volume", "no ETF volumes")
        return out

    def compute(self, inputs: Inputs) -> StrategyOutput:
        m = inputs.market
        sig = attention_signals(inputs, self)
        codes = m.codes(list(self.categories))
        idle = self._idle(inputs)
        cols = codes + ([idle] if idle and idle not in codes else [])
        rows = {}
        for day, g in sig.groupby("date"):
            if not g["ready"].any():
                continue
            c = g[g["candidate"]].sort_values(["score", "item"], ascending=[False, True])
            pick = c["item"].head(self.n_hold).tolist()
            w = pd.Series(0.0, index=cols)
            if pick:
                w[pick] = 1.0 / len(pick)
            elif idle:
                w[idle] = 1.0
            rows[day] = w
        targets = pd.DataFrame(rows).T.sort_index() if rows else pd.DataFrame(columns=cols)
        notes = (
            []
            if idle
            else ["No money-market ETF in this store: the strategy waits in cash (return 0)."]
        )
        return StrategyOutput(
            targets=targets,
            signals=sig[sig["date"].isin(targets.index)].drop(columns="ready"),
            notes=notes,
        )
