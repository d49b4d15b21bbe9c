"""Large-small cap rotation: a rolling classifier picks the index that leads next week.

Each week-end :math:`t`, technical indicators of a large-cap index :math:`L` and a small-cap
index :math:`S` (from daily closes, traded values and member breadth up to :math:`t`):

- relative strength :math:`\\ln(L_t/S_t) - \\ln(L_{t-n}/S_{t-n})` for n = 5, 10, 20, 60 days;
- momentum of each over 20 days, the log ratio of their 20-day volatilities;
- volume: the log ratio of each index's 5-day to 60-day mean traded value, large minus small;
- breadth: share of members up over 20 sessions, large minus small (when known);
- RSI(14) of large minus that of small.

Label of week-end :math:`s`: 1 if :math:`L` beats :math:`S` over :math:`(s, s+1]`. An
L2-penalized logistic regression is trained on the last ``window`` weeks whose label is
known at :math:`t` and retrained every ``retrain_every`` weeks
(:func:`quantbook.strategies.models.rolling_predict`); :math:`p_t` = its probability that
large leads. Hold 100 % of the large-cap ETF if :math:`p_t > 0.5 + h`, 100 % of the
small-cap ETF if :math:`p_t < 0.5 - h`, else keep last week's choice (hysteresis ``h``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantbook.strategies import indicators as ind
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput
from quantbook.strategies.models import RollingPredictions, rolling_predict

__all__ = ["SizeRotation", "size_features", "size_probability"]


def size_features(inputs: Inputs, *, large: str, small: str) -> pd.DataFrame:
    """Weekly features of the large-vs-small model (rows: the rebalance dates).

    Parameters
    ----------
    inputs
        The inputs (index closes and amounts, breadth).
    large, small
        Index codes.

    Returns
    -------
    DataFrame
        ``date x feature`` sampled on the rebalance dates.
    """
    m = inputs.market
    px = m.index_close[[large, small]]
    ratio = ind.log(px[large] / px[small]).to_frame("r")
    feats: dict[str, pd.Series] = {}
    for n in (5, 10, 20, 60):
        feats[f"rel_mom_{n}d"] = ratio["r"] - ratio["r"].shift(n)
    mom = ind.momentum(px, 20)
    feats["large_mom_20d"] = mom[large]
    feats["small_mom_20d"] = mom[small]
    vol = ind.volatility(px, 20)
    feats["vol_ratio_20d"] = ind.log(vol[large] / vol[small])
    amt = m.index_amount.reindex(columns=[large, small])
    if amt.notna().any().all():
        vr = ind.log(ind.volume_ratio(amt, 5, 60))
        feats["volume_5_60_diff"] = vr[large] - vr[small]
    if {large, small} <= set(inputs.breadth.columns):
        b = inputs.breadth[[large, small]]
        feats["breadth_diff"] = b[large] - b[small]
    r = ind.rsi(px, 14)
    feats["rsi_diff"] = r[large] - r[small]
    daily = pd.DataFrame(feats)
    return m.weekly(daily)


def size_probability(
    inputs: Inputs,
    *,
    large: str,
    small: str,
    window: int,
    min_train: int,
    retrain_every: int,
    l2: float,
    cache_name: str,
    strategy: Strategy,
    weighted: bool = True,
) -> tuple[pd.DataFrame, RollingPredictions]:
    """Features and walk-forward probabilities that ``large`` beats ``small`` next week."""
    m = inputs.market
    X = size_features(inputs, large=large, small=small)
    wk = m.weekly(m.index_close[[large, small]])
    fwd = (wk / wk.shift(1)).shift(-1)  # row s: growth over (s, s+1]
    y = (fwd[large] > fwd[small]).astype(float).where(fwd.notna().all(axis=1))
    weight = (fwd[large] - fwd[small]).abs() if weighted else None
    cache = strategy.model_cache(inputs, cache_name)
    pred = rolling_predict(
        X,
        y,
        kind="logistic",
        window=window,
        min_train=min_train,
        retrain_every=retrain_every,
        l2=l2,
        sample_weight=weight,
        cache=cache,
    )
    return X, pred


@dataclass(frozen=True)
class SizeRotation(Strategy):
    """Large-small cap rotation (benchmark CSI 800).

    Parameters
    ----------
    large_index, small_index
        The two indices the model compares.
    large_etf, small_etf
        ETFs held (default: the first ETF tracking each index).
    window, min_train, retrain_every, l2
        Rolling training (weeks) and the logistic penalty.
    hysteresis
        Keep last week's choice while :math:`|p - 0.5| \\le` ``hysteresis``.
    """

    key = "rotation"
    title = "Large-small cap rotation"
    method = (
        "Technical indicators of a large-cap and a small-cap index (relative strength over 5-60 "
        "days, momentum, volatility, traded value, breadth, RSI) feed a logistic classifier "
        "retrained every few weeks on a rolling window; it predicts which index leads next "
        "week, and the strategy holds 100 % of that index's ETF."
    )
    benchmark: str = "000906.SH"
    benchmark_fallbacks: tuple[str, ...] = ()
    large_index: str = "399314.SZ"
    small_index: str = "399316.SZ"
    large_etf: str | None = None
    small_etf: str | None = None
    window: int = 156
    min_train: int = 52
    retrain_every: int = 4
    l2: float = 0.5
    weighted: bool = True
    hysteresis: float = 0.02

    def _etfs(self, inputs: Inputs) -> tuple[str | None, str | None]:
        m = inputs.market
        large = self.large_etf or next(iter(m.tracking(self.large_index)), None)
        small = self.small_etf or next(iter(m.tracking(self.small_index)), None)
        return large, small

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        large, small = self._etfs(inputs)
        out = {}
        if large:
            out["always the large-cap ETF"] = {large: 1.0}
        if small:
            out["always the small-cap ETF"] = {small: 1.0}
        return out

    def missing(self, inputs: Inputs) -> dict[str, str]:
        m = inputs.market
        out: dict[str, str] = {}
        for code in (self.large_index, self.small_index):
            if code not in m.index_close.columns:
                out[code] = (
                    f"no index bars of {code} (the {'large' if code == self.large_index else 'small'}-cap index)"
                )
        large, small = self._etfs(inputs)
        if large is None or large not in m.close.columns:
            out["large_etf"] = f"no ETF tracking the large-cap index {self.large_index}"
        if small is None or small not in m.close.columns:
            out["small_etf"] = f"no ETF tracking the small-cap index {self.small_index}"
        return out

    def compute(self, inputs: Inputs) -> StrategyOutput:
        m = inputs.market
        large, small = self._etfs(inputs)
        assert large is not None and small is not None
        X, pred = size_probability(
            inputs,
            large=self.large_index,
            small=self.small_index,
            window=self.window,
            min_train=self.min_train,
            retrain_every=self.retrain_every,
            l2=self.l2,
            cache_name=self.key,
            strategy=self,
            weighted=self.weighted,
        )
        p = pred.prediction
        rows = []
        state: str | None = None
        for day in m.rebalance_dates:
            pt = p.get(day, np.nan)
            if not np.isfinite(pt):
                continue
            if pt > 0.5 + self.hysteresis or (state is None and pt >= 0.5):
                state = "large"
            elif pt < 0.5 - self.hysteresis or state is None:
                state = "small"
            rows.append((day, large if state == "large" else small))
        targets = pd.DataFrame(
            0.0, index=pd.DatetimeIndex([d for d, _ in rows]), columns=[large, small]
        )
        for day, code in rows:
            targets.loc[day, code] = 1.0
        sig = X.copy()
        sig["p_large_leads"] = p
        sig["model_trained"] = pred.trained_on
        sig["n_train"] = pred.n_train
        sig = sig.loc[targets.index]
        signals = sig.reset_index(names="date").assign(
            item=f"{self.large_index} vs {self.small_index}"
        )
        notes = []
        if "breadth_diff" not in X.columns:
            notes.append(
                "Breadth of the two indices is unknown here (no member data); the model runs without it."
            )
        return StrategyOutput(targets=targets, signals=signals, notes=notes)
