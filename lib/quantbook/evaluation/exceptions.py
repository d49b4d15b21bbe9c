"""Named warnings of the evaluation code (A-share conditions and degenerate samples)."""

from __future__ import annotations

from quantbook.evaluation.stats import MissingPeriodsWarning
from quantbook.preprocess import DegenerateCrossSectionWarning, TooFewStocksWarning

__all__ = ["DegenerateCrossSectionWarning", "MissingPeriodsWarning", "TooFewStocksWarning"]
