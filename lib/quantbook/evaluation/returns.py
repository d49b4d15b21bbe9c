"""Forward returns between rebalance dates from a wide adjusted-close frame."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["forward_returns"]


def forward_returns(
    prices: pd.DataFrame,
    rebalance_dates: Iterable[object] | None = None,
    *,
    fill_suspended: bool = True,
) -> pd.DataFrame:
    """Return from the close of each rebalance date to the close of the next one.

    Parameters
    ----------
    prices
        Adjusted close prices, ``date x code`` (daily, or already sampled on rebalance dates).
    rebalance_dates
        The rebalance dates (e.g. month-ends of the SSE calendar); each must be in
        ``prices.index``. None uses every row of ``prices``.
    fill_suspended
        If True (default), a missing close strictly between two valid closes (a suspension)
        is filled with the last valid close before sampling, so a stock suspended on a
        rebalance date is valued at its last close. Missing values before the first or after
        the last valid close (not yet listed, delisted) stay NaN, so a delisted stock has no
        forward return instead of a spurious 0.

    Returns
    -------
    pandas.DataFrame
        ``rebalance date x code``; the row of date :math:`t_k` holds the return over
        :math:`(t_k, t_{k+1}]`, and the last row is NaN.

    Notes
    -----
    .. math:: r_{i, t_k} = P_{i, t_{k+1}} / P_{i, t_k} - 1

    on adjusted prices. The frame is labelled by the formation date :math:`t_k` (as in
    alphalens), so ``factor.loc[t]`` and ``forward_returns(...).loc[t]`` pair up directly.

    Examples
    --------
    >>> p = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1]},
    ...                  index=pd.to_datetime(["2024-01-31", "2024-02-01", "2024-02-29",
    ...                                        "2024-03-29"]))
    >>> forward_returns(p, ["2024-01-31", "2024-02-29", "2024-03-29"])["A"].round(4).tolist()
    [0.21, 0.0, nan]
    """
    if not isinstance(prices, pd.DataFrame):
        raise TypeError("prices must be a wide date x code DataFrame")
    p = prices.sort_index()
    if not p.index.is_unique:
        raise ValueError("prices has duplicate dates")
    p = p.astype(float)
    if fill_suspended:
        p = p.ffill(limit_area="inside")
    if rebalance_dates is None:
        dates = p.index
    else:
        dates = pd.Index(list(rebalance_dates))
        if isinstance(p.index, pd.DatetimeIndex):
            dates = pd.DatetimeIndex(dates).as_unit(p.index.unit)
        dates = dates.unique().sort_values()
        missing = dates[~dates.isin(p.index)]
        if len(missing) > 0:
            raise KeyError(
                f"{len(missing)} rebalance date(s) not in prices.index: "
                + ", ".join(str(d) for d in missing[:5])
            )
    sampled = p.loc[dates]
    out = sampled.shift(-1) / sampled - 1.0
    out.index.name = prices.index.name or "date"
    return out
