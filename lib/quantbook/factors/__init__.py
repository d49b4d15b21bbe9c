"""Factor definitions (behavior factors, the GAN+GRU factor) and their on-disk cache.

The cross-sectional preprocessing (winsorize, standardize, neutralize) lives one layer down in
:mod:`quantbook.preprocess`; it is re-exported here for convenience.
"""

from quantbook.preprocess import (
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
