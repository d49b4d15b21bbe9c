"""Alignment of wide ``date x code`` panels and the per-date evaluation sample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantbook.preprocess import _values, _warn_dates

__all__ = ["bool_mask", "evaluation_sample", "warn_dates"]

warn_dates = _warn_dates


def _check_wide(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a wide date x code DataFrame, not {type(frame).__name__}")
    if isinstance(frame.index, pd.MultiIndex):
        raise ValueError(
            f"{name} has a MultiIndex; pass a wide date x code frame (e.g. series.unstack())"
        )
    if not frame.index.is_unique or not frame.columns.is_unique:
        raise ValueError(f"{name} has duplicate dates or codes")


def bool_mask(mask: pd.DataFrame, like: pd.DataFrame) -> np.ndarray:
    """A boolean mask aligned to ``like``; missing or NA entries are False."""
    _check_wide(mask, "tradable")
    m = mask.reindex(index=like.index, columns=like.columns, fill_value=False)
    return m.astype("boolean").fillna(False).to_numpy(dtype=bool)


def evaluation_sample(
    factor: pd.DataFrame,
    forward_returns: pd.DataFrame,
    tradable: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factor and forward-return arrays on the factor's grid, and the valid-sample mask.

    ``forward_returns`` and ``tradable`` are reindexed to ``factor``'s dates and codes; a
    missing forward return is NaN, a missing ``tradable`` entry counts as not tradable. The
    mask is ``finite(factor) & finite(forward return) & tradable``.
    """
    _check_wide(factor, "factor")
    _check_wide(forward_returns, "forward_returns")
    f = _values(factor)
    r = _values(forward_returns.reindex(index=factor.index, columns=factor.columns))
    mask = np.isfinite(f) & np.isfinite(r)
    if tradable is not None:
        mask &= bool_mask(tradable, factor)
    return f, r, mask
