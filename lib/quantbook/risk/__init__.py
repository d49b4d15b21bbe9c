"""Barra-style risk model (SPEC §1): style exposures and the cross-sectional regression.

- :mod:`quantbook.risk.styles`: the 15 style factors from bars and point-in-time statements
  (:func:`compute_styles`, :class:`StyleExposures`, :data:`STYLE_NAMES`);
- :mod:`quantbook.risk.model`: the constrained WLS per period (:func:`fit`,
  :class:`RiskModelResult`, :func:`pure_factor_return`, :func:`constrained_wls`), and
  :func:`fit_cached`, the fit every report uses: fitted once per (store, as-of,
  :class:`RiskFitConfig`) and kept in the store's cache.
"""

from quantbook.risk.model import (
    ConstrainedWLS,
    EstimationUniverse,
    RiskFitConfig,
    RiskModelResult,
    constrained_wls,
    fit,
    fit_cached,
    period_ends,
    pure_factor_return,
    restriction_matrix,
)
from quantbook.risk.styles import STYLE_NAMES, StyleConfig, StyleExposures, compute_styles

__all__ = [
    "STYLE_NAMES",
    "ConstrainedWLS",
    "EstimationUniverse",
    "RiskFitConfig",
    "RiskModelResult",
    "StyleConfig",
    "StyleExposures",
    "compute_styles",
    "constrained_wls",
    "fit",
    "fit_cached",
    "period_ends",
    "pure_factor_return",
    "restriction_matrix",
]
