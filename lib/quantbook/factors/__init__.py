"""Factors: cross-sectional preprocessing (winsorize, standardize, neutralize) and factor
definitions.

Only :mod:`quantbook.factors.preprocess` is imported here, so that factor modules may import
:mod:`quantbook.evaluation` (which re-exports the preprocessing) without an import cycle.
"""

from quantbook.factors.preprocess import (
    MAD_NORMAL_SCALE,
    DegenerateCrossSectionWarning,
    TooFewStocksWarning,
    cap_weighted_zscore,
    neutralize,
    preprocess_factor,
    winsorize,
    winsorize_mad,
    winsorize_sigma,
    zscore,
)

__all__ = [
    "MAD_NORMAL_SCALE",
    "DegenerateCrossSectionWarning",
    "TooFewStocksWarning",
    "cap_weighted_zscore",
    "neutralize",
    "preprocess_factor",
    "winsorize",
    "winsorize_mad",
    "winsorize_sigma",
    "zscore",
]
