"""Balance (timing + style + bonds): equity share from a timing score, large/small split,
the rest in government bond and money-market ETFs.

Timing score at each week-end :math:`t`, from components mapped to [-1, 1] by
:math:`\\tanh(z/2)`, :math:`z` a time-series z-score over the last ``zscore_weeks`` weeks:

- **liquidity**: minus the 1-year government yield's change over 4 weeks (falling short rates
  = easier money), if the store has a yield curve;
- **technical**: the benchmark index's distance from its 60-day mean and its 20-day return;
- **behaviour**: the index's traded value over 20 against 120 days (participation), and the
  share of its members up over 20 sessions (breadth) minus one half.

:math:`S_t` = the mean of the available components; equity share
:math:`e_t = \\mathrm{clip}(e_0 + a S_t, e_{min}, e_{max})`. Equities are split between a
large-cap and a small-cap ETF by the large-vs-small classifier of the rotation strategy
(:func:`quantbook.strategies.rotation.size_probability` on the two indices): the large share
is :math:`\\mathrm{clip}(p_t, 0.2, 0.8)`. The rest :math:`1 - e_t` goes to the government bond
and money-market ETFs in fixed proportions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantbook.strategies import indicators as ind
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput
from quantbook.strategies.rotation import size_probability

__all__ = ["Balance", "timing_components"]


def _ts_score(x: pd.Series, weeks: int) -> pd.Series:
    """:math:`\\tanh(z/2)` of a trailing time-series z-score (the value included)."""
    mu = x.rolling(weeks, min_periods=max(8, weeks // 4)).mean()
    sd = x.rolling(weeks, min_periods=max(8, weeks // 4)).std()
    return np.tanh((x - mu) / sd.where(sd > 0) / 2.0)


def timing_components(inputs: Inputs, *, index: str, zscore_weeks: int) -> pd.DataFrame:
    """Weekly timing components in [-1, 1] (columns: liquidity, technical, behaviour)."""
    m = inputs.market
    px = m.index_close[[index]]
    out: dict[str, pd.Series] = {}
    if not m.yields.empty and any(abs(float(c) - 1.0) < 1e-9 for c in m.yields.columns):
        col = next(c for c in m.yields.columns if abs(float(c) - 1.0) < 1e-9)
        y1 = m.weekly(m.yields[[col]])[col] * 1e4
        out["liquidity"] = _ts_score(-(y1 - y1.shift(4)), zscore_weeks)
    gap = m.weekly(ind.ma_gap(px, 60))[index]
    mom = m.weekly(ind.momentum(px, 20))[index]
    out["technical"] = (_ts_score(gap, zscore_weeks) + _ts_score(mom, zscore_weeks)) / 2.0
    parts = []
    amt = m.index_amount.reindex(columns=[index])
    if amt[index].notna().any():
        parts.append(
            _ts_score(ind.log(m.weekly(ind.volume_ratio(amt, 20, 120))[index]), zscore_weeks)
        )
    if index in inputs.breadth.columns:
        b = inputs.breadth[index]
        parts.append(np.tanh((m.weekly(b.to_frame())[index] - 0.5) * 4.0))
    if parts:
        out["behaviour"] = ind.add(p.fillna(0.0) for p in parts) / len(parts)
        out["behaviour"] = out["behaviour"].where(parts[0].notna())
    return pd.DataFrame(out, index=m.rebalance_dates)


@dataclass(frozen=True)
class Balance(Strategy):
    """Balance: timing + style + bonds (benchmark CSI 300).

    Parameters
    ----------
    timing_index
        Index whose indicators drive the timing (the benchmark).
    large_index, small_index
        Indices of the style model; their ETFs are held (default: the first ETF tracking each).
    bond_etf, money_etf, bond_share
        Where the non-equity part goes, and the bond ETF's share of it.
    base_equity, span, min_equity, max_equity
        :math:`e_0`, :math:`a` and the bounds of the equity share.
    zscore_weeks
        Look-back of the timing z-scores.
    window, min_train, retrain_every, l2
        Rolling training of the style model.
    """

    key = "balance"
    title = "Balance (timing + style + bonds)"
    method = (
        "A timing score from liquidity (1-year yield trend), technical (CSI 300 against its "
        "60-day mean, 20-day return) and behaviour (traded value trend, breadth) indicators sets "
        "the equity share between 30 % and 90 %; equities are split between a large-cap and a "
        "small-cap ETF by the rotation classifier; the rest is held in a government bond ETF "
        "and a money-market ETF."
    )
    benchmark: str = "000300.SH"
    benchmark_fallbacks: tuple[str, ...] = ()
    timing_index: str = "000300.SH"
    large_index: str = "000300.SH"
    small_index: str = "000852.SH"
    bond_etf: str = "511010.SH"
    money_etf: str = "511880.SH"
    bond_share: float = 0.6
    base_equity: float = 0.6
    span: float = 0.3
    min_equity: float = 0.3
    max_equity: float = 0.9
    zscore_weeks: int = 156
    window: int = 156
    min_train: int = 52
    retrain_every: int = 4
    l2: float = 0.5

    def _etfs(self, inputs: Inputs) -> tuple[str | None, str | None]:
        m = inputs.market
        return next(iter(m.tracking(self.large_index)), None), next(
            iter(m.tracking(self.small_index)), None
        )

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        large, small = self._etfs(inputs)
        if large is None or small is None:
            return {}
        e = self.base_equity
        mix = {large: e / 2, small: e / 2, self.bond_etf: (1 - e) * self.bond_share}
        mix[self.money_etf] = (1 - e) * (1 - self.bond_share)
        return {f"fixed mix ({e:.0%} equities, half large half small)": mix}

    def missing(self, inputs: Inputs) -> dict[str, str]:
        m = inputs.market
        out: dict[str, str] = {}
        for code in {self.timing_index, self.large_index, self.small_index}:
            if code not in m.index_close.columns:
                out[code] = f"no index bars of {code}"
        large, small = self._etfs(inputs)
        if large is None:
            out["large_etf"] = f"no ETF tracking {self.large_index}"
        if small is None:
            out["small_etf"] = f"no ETF tracking {self.small_index}"
        for role, code in (("bond ETF", self.bond_etf), ("money-market ETF", self.money_etf)):
            if code not in m.close.columns:
                out[role] = f"{code} is not in this store (no government bond / money-market ETF)"
        return out

    def compute(self, inputs: Inputs) -> StrategyOutput:
        m = inputs.market
        large, small = self._etfs(inputs)
        assert large is not None and small is not None
        comp = timing_components(inputs, index=self.timing_index, zscore_weeks=self.zscore_weeks)
        score = comp.mean(axis=1, skipna=True).where(
            comp.get("technical", pd.Series(dtype=float)).notna()
        )
        equity = (self.base_equity + self.span * score).clip(self.min_equity, self.max_equity)
        _, pred = size_probability(
            inputs,
            large=self.large_index,
            small=self.small_index,
            window=self.window,
            min_train=self.min_train,
            retrain_every=self.retrain_every,
            l2=self.l2,
            cache_name="balance_style",
            strategy=self,
        )
        p_large = pred.prediction.clip(0.2, 0.8)
        ok = equity.notna() & p_large.notna()
        days = m.rebalance_dates[ok.reindex(m.rebalance_dates).fillna(False).to_numpy(dtype=bool)]
        codes = list(dict.fromkeys([large, small, self.bond_etf, self.money_etf]))
        targets = pd.DataFrame(0.0, index=days, columns=codes)
        e, pl = equity.reindex(days), p_large.reindex(days)
        targets[large] += e * pl
        targets[small] += e * (1 - pl)
        targets[self.bond_etf] += (1 - e) * self.bond_share
        targets[self.money_etf] += (1 - e) * (1 - self.bond_share)
        sig = comp.reindex(days).copy()
        sig["timing_score"] = score.reindex(days)
        sig["equity_share"] = e
        sig["p_large_leads"] = pred.prediction.reindex(days)
        signals = sig.reset_index(names="date").assign(item="timing")
        notes = []
        if "liquidity" not in comp.columns:
            notes.append(
                "No government yield curve: the liquidity component of the timing score is skipped."
            )
        if "behaviour" not in comp.columns:
            notes.append(
                "No traded value or breadth of the index: the behaviour component is skipped."
            )
        return StrategyOutput(targets=targets, signals=signals, notes=notes)
