"""Bond ETF duration: a rolling regression predicts next week's 10-year yield change.

Features at each week-end :math:`t` (yields in basis points, weekly samples of the daily curve):

- liquidity: the 1-year yield's change over 4 weeks, and over 1 week;
- level: the 10-year yield's distance from its 20-week mean, its change over 1 and 4 weeks;
- curve: the 10-year minus 1-year slope;
- bond volume-price: the long bond ETF's 4-week return and its 5- against 60-day traded value.

Target of week-end :math:`s`: :math:`y^{10}_{s+1} - y^{10}_s`. A ridge regression is trained
on the last ``window`` weeks whose change is known at :math:`t`, retrained every
``retrain_every`` weeks; :math:`\\hat{\\Delta}_t` is its prediction. Positions:

- :math:`\\hat{\\Delta}_t > \\theta` (a rise): cut duration - ``short`` weights (short bond
  and money-market ETFs);
- :math:`\\hat{\\Delta}_t < -\\theta` (a fall): ``long`` weights (the long bond ETF);
- otherwise ``neutral`` weights (close to the benchmark's duration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantbook.strategies import indicators as ind
from quantbook.strategies.base import Inputs, Strategy, StrategyOutput
from quantbook.strategies.models import RollingPredictions, rolling_predict

__all__ = ["BondDuration", "yield_features", "yield_prediction"]


def _tenor(yields: pd.DataFrame, t: float) -> pd.Series | None:
    cols = [c for c in yields.columns if abs(float(c) - t) < 1e-9]
    return yields[cols[0]] * 1e4 if cols else None


def yield_features(inputs: Inputs, *, long_etf: str | None) -> pd.DataFrame:
    """Weekly features of the 10-year yield model (rows: the rebalance dates), in bp."""
    m = inputs.market
    y = m.weekly(m.yields)
    y10, y1 = _tenor(y, 10.0), _tenor(y, 1.0)
    assert y10 is not None and y1 is not None
    f: dict[str, pd.Series] = {
        "y1_change_4w": y1 - y1.shift(4),
        "y1_change_1w": y1 - y1.shift(1),
        "y10_vs_20w_mean": y10 - y10.rolling(20, min_periods=20).mean(),
        "y10_change_1w": y10 - y10.shift(1),
        "y10_change_4w": y10 - y10.shift(4),
        "slope_10y_1y": y10 - y1,
    }
    if long_etf is not None and long_etf in m.close.columns:
        f["long_etf_ret_4w"] = m.weekly(ind.momentum(m.close[[long_etf]], 20))[long_etf] * 1e4
        amt = m.amount[[long_etf]]
        if amt.notna().any().any():
            f["long_etf_volume_5_60"] = ind.log(m.weekly(ind.volume_ratio(amt, 5, 60))[long_etf])
    return pd.DataFrame(f)


def yield_prediction(
    inputs: Inputs,
    strategy: Strategy,
    *,
    long_etf: str | None,
    window: int,
    min_train: int,
    retrain_every: int,
    l2: float,
) -> tuple[pd.DataFrame, RollingPredictions]:
    """Features and walk-forward predictions of next week's 10-year yield change (bp)."""
    m = inputs.market
    X = yield_features(inputs, long_etf=long_etf)
    y10 = _tenor(m.weekly(m.yields), 10.0)
    assert y10 is not None
    target = y10.shift(-1) - y10
    pred = rolling_predict(
        X,
        target,
        kind="ridge",
        window=window,
        min_train=min_train,
        retrain_every=retrain_every,
        l2=l2,
        cache=strategy.model_cache(inputs, "bond"),
    )
    return X, pred


def _default_weights(kind: str) -> dict[str, float]:
    return {
        "neutral": {"511260.SH": 0.5, "511010.SH": 0.5},
        "long": {"511260.SH": 1.0},
        "short": {"511020.SH": 0.5, "511880.SH": 0.5},
    }[kind]


@dataclass(frozen=True)
class BondDuration(Strategy):
    """Bond ETF duration timing (benchmark ChinaBond aggregate).

    Parameters
    ----------
    neutral, long, short
        ``{ETF: weight}`` held when no move, a fall or a rise of the 10-year yield is
        predicted (defaults: 50/50 10-year and 5-year bond ETFs; 100 % 10-year; 50/50 short
        bond and money-market ETFs).
    threshold_bp
        :math:`\\theta`, in basis points of predicted weekly change.
    window, min_train, retrain_every, l2
        Rolling training (weeks) and the ridge penalty.
    """

    key = "bond"
    title = "Bond ETF duration"
    method = (
        "A ridge regression, retrained every few weeks on a rolling window, predicts next "
        "week's change of the 10-year government yield from liquidity (the 1-year yield's "
        "change), the 10-year yield's distance from its 20-week mean, the curve slope and "
        "the long bond ETF's price and volume; when a rise is predicted the long-duration "
        "ETF is sold for short bonds and money market, when a fall is predicted duration is "
        "extended, otherwise the portfolio stays close to the index's duration."
    )
    benchmark: str = "CBA00101.CS"
    benchmark_fallbacks: tuple[str, ...] = ()
    neutral: Mapping[str, float] = field(default_factory=lambda: _default_weights("neutral"))
    long: Mapping[str, float] = field(default_factory=lambda: _default_weights("long"))
    short: Mapping[str, float] = field(default_factory=lambda: _default_weights("short"))
    threshold_bp: float = 0.5
    window: int = 156
    min_train: int = 52
    retrain_every: int = 4
    l2: float = 0.05

    @property
    def long_etf(self) -> str | None:
        return max(self.long, key=lambda c: self.long[c]) if self.long else None

    def params(self) -> dict[str, object]:
        p = super().params()
        for k in ("neutral", "long", "short"):
            p[k] = dict(sorted(dict(p[k]).items()))  # type: ignore[call-overload]
        return p

    def references(self, inputs: Inputs) -> dict[str, dict[str, float]]:
        return {
            "always neutral": dict(self.neutral),
            "always long": dict(self.long),
            "always short": dict(self.short),
        }

    def missing(self, inputs: Inputs) -> dict[str, str]:
        m = inputs.market
        out: dict[str, str] = {}
        if m.yields.empty:
            out["bond_yields"] = (
                m.missing.get("bond_yields", "no government yield curve") or "no yield curve"
            )
        elif _tenor(m.yields, 10.0) is None or _tenor(m.yields, 1.0) is None:
            out["bond_yields"] = "the curve lacks the 1-year or the 10-year tenor"
        etfs = sorted({*self.neutral, *self.long, *self.short})
        absent = [c for c in etfs if c not in m.close.columns]
        if absent:
            out["bond ETFs"] = f"not in this store: {', '.join(absent)}"
        return out

    def compute(self, inputs: Inputs) -> StrategyOutput:
        m = inputs.market
        X, pred = yield_prediction(
            inputs,
            self,
            long_etf=self.long_etf,
            window=self.window,
            min_train=self.min_train,
            retrain_every=self.retrain_every,
            l2=self.l2,
        )
        p = pred.prediction
        codes = sorted({*self.neutral, *self.long, *self.short})
        rows, states = {}, {}
        for day in m.rebalance_dates:
            v = p.get(day, np.nan)
            if not np.isfinite(v):
                continue
            state = (
                "short"
                if v > self.threshold_bp
                else "long"
                if v < -self.threshold_bp
                else "neutral"
            )
            w = pd.Series(0.0, index=codes)
            for c, x in getattr(self, state).items():
                w[c] = x
            rows[day] = w
            states[day] = state
        targets = pd.DataFrame(rows).T.sort_index() if rows else pd.DataFrame(columns=codes)
        sig = X.copy()
        sig["predicted_change_bp"] = p
        sig["position"] = pd.Series(states)
        sig["model_trained"] = pred.trained_on
        sig = sig.loc[targets.index].reset_index(names="date").assign(item="10-year yield")
        return StrategyOutput(targets=targets, signals=sig)
