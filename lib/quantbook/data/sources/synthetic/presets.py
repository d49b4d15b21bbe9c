"""Size presets of the synthetic market and the strengths of its planted effects."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Effects:
    """Strengths of the planted effects (see ``data/README.md`` for mechanisms and targets).

    Monthly alphas are in units of return per month per unit of the standardized latent signal.
    """

    #: Ideal reversal: probability of an institutional-flow day, its price pressure in units of
    #: the stock's daily idiosyncratic volatility, and the daily decay of accumulated pressure.
    flow_prob: float = 0.25
    flow_pressure: float = 1.0
    pressure_decay: float = 0.05
    #: Trade-size multiplier on flow days (large orders).
    flow_trade_size: float = 2.2
    #: Smart money: log-odds of an up-spike per unit of distribution pressure D, and the next-month alpha.
    spike_bias: float = 3.0
    alpha_distribution: float = -0.0050
    #: APM: overnight informed demand (units of daily idio vol) per unit of I, next-month alpha.
    apm_overnight: float = 0.12
    alpha_informed: float = 0.0027
    #: Ideal amplitude: intraday-volatility slope in the price position per unit of froth H, next-month alpha.
    froth_slope: float = 0.6
    alpha_froth: float = -0.0082
    #: Non-linear style effect in residual returns: monthly alpha of g(X).
    alpha_nonlinear: float = 0.009
    #: 40-day accumulation / distribution episodes (GRU pattern).
    episode_hazard: float = 1.0 / 300.0
    episode_build_days: int = 40
    episode_payoff_days: int = 20
    episode_payoff_drift: float = 0.0045
    #: Log volume tilt towards down days (accumulation) or up days (distribution) while building.
    episode_volume_lean: float = 0.45
    #: Persistence (daily AR(1)) and share of variance of the predictable drift in style and
    #: industry factor returns.
    drift_persistence: float = 0.985
    drift_share: float = 0.01
    #: The size factor's share (the large / small cycle that drives the rotation strategy).
    size_drift_share: float = 0.04


@dataclass(frozen=True)
class Preset:
    """A size preset: number of instruments and the simulated span."""

    name: str
    n_stocks: int
    start: str
    end: str
    seed: int = 20240601
    effects: Effects = field(default_factory=Effects)


PRESETS: dict[str, Preset] = {
    "smoke": Preset("smoke", n_stocks=200, start="2023-01-03", end="2026-10-30"),
    "default": Preset("default", n_stocks=1000, start="2019-01-02", end="2026-10-30"),
    "full": Preset("full", n_stocks=5000, start="2019-01-02", end="2026-10-30"),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a KeyError lists the known presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
