"""The GAN_GRU inputs (SPEC §3): 40-day x 18-feature price-volume windows, labels, exclusions.

For every sample date *t* and eligible stock, the window is the stock's last ``window`` (40)
trading days x 18 daily features, ending on *t*. Preprocessing, in order:

1. per window: each feature's outliers are clipped to ``median +- 5 x 1.4826 x MAD`` of its
   40 values, then the feature is z-scored within the window (mean 0, std 1 over time);
2. per date: each (day-in-window, feature) cell is z-scored across the eligible stocks;
3. missing values (suspended days) become 0, the window and cross-sectional mean.

Sample dates are every ``step`` (5) trading days on a fixed grid (the session index is a
multiple of 5 counted from the store's 40th session), plus every month-end (the dates the
monthly factor is predicted on). The label is the next ``horizon`` (20) trading-day return
on adjusted closes, z-scored across the eligible stocks of the date; it is known on the
``horizon``-th session after *t* (``label_end``), which is what the retraining uses to avoid
lookahead. Eligible on *t*: a bar on *t*, not suspended on *t*, not ST / *ST on *t*, not on
the Beijing Stock Exchange (SPEC §0 default), listed
at least ``min_listed_days`` (120, about six months) trading days, and at least
``min_valid_days`` (30) traded days in the window. A stock without a label (delisted within
20 days, or a date less than 20 sessions before the store's end) is kept for prediction and
left out of training.

Everything the window at *t* holds comes from bars dated *t* or earlier; only the label looks
ahead. Windows are computed date by date into a float16 array that can be a memory map on
disk, so the full preset never holds all windows in memory; :func:`load_or_build_windows`
caches them in the store's cache ``gan_gru_windows`` (:mod:`quantbook.data.cache`) keyed by the store fingerprint, the
feature specification and :data:`FEATURES_VERSION`.

Examples
--------
>>> from quantbook.data import open_store                                # doctest: +SKIP
>>> ws = load_or_build_windows(open_store("smoke"), FeatureSpec())       # doctest: +SKIP
>>> x, y = ws.batch(ws.dates[-30])                                       # doctest: +SKIP
>>> x.shape                                                              # doctest: +SKIP
(180, 40, 18)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap

from quantbook.data.cache import Cache
from quantbook.data.calendar import TradingCalendar
from quantbook.data.panel import DailyPanel, load_daily_panel
from quantbook.data.store import CACHE_DIR, Store
from quantbook.data.universe import UniverseRules

__all__ = [
    "FEATURES_VERSION",
    "FEATURE_NAMES",
    "FeatureSpec",
    "WindowSet",
    "build_windows",
    "daily_features",
    "load_or_build_windows",
    "universe_digest",
    "windows_cache",
    "windows_config",
]

#: numpy's warnings for an all-NaN slice of nanmean / nanstd (the answer is NaN).
_ALL_NAN = r"Mean of empty slice|Degrees of freedom <= 0 for slice"

#: Bump when the features, the preprocessing or the cache layout change (cache keys use it).
FEATURES_VERSION = "1"

#: The 18 daily features, in the order of the last axis of a window.
FEATURE_NAMES: tuple[str, ...] = (
    "open",  # back-adjusted open
    "high",  # back-adjusted high
    "low",  # back-adjusted low
    "close",  # back-adjusted close
    "vwap",  # back-adjusted amount / volume
    "volume",  # shares traded
    "amount",  # value traded, CNY
    "turnover",  # volume / total shares
    "float_turnover",  # volume / float shares
    "return",  # close / prev_close - 1
    "log_volume",  # ln(volume)
    "range",  # high / low - 1
    "gap",  # open / prev_close - 1
    "intraday",  # close / open - 1
    "close_location",  # (close - low) / (high - low), 0.5 when high == low
    "vwap_gap",  # vwap / close - 1
    "upper_shadow",  # (high - max(open, close)) / prev_close
    "lower_shadow",  # (min(open, close) - low) / prev_close
)

#: Scale that turns a MAD into a consistent estimate of a normal's standard deviation.
_MAD_SCALE = 1.482602218505602


@dataclass(frozen=True)
class FeatureSpec:
    """How the windows are built (every field enters the cache key).

    Attributes
    ----------
    window
        Trading days per window (40).
    step
        Trading days between training sample dates (5).
    horizon
        Label horizon in trading days (20).
    min_listed_days
        Minimum trading days since listing on the sample date (120, about six months).
    min_valid_days
        Minimum traded (not suspended) days in the window.
    clip_mads
        Per-window clipping band in scaled MADs (5).
    exclude_st
        Leave out stocks under ST / *ST on the sample date.
    exclude_bse
        Leave out Beijing Stock Exchange stocks (SPEC §0: optional, excluded by default).
    """

    window: int = 40
    step: int = 5
    horizon: int = 20
    min_listed_days: int = 120
    min_valid_days: int = 30
    clip_mads: float = 5.0
    exclude_st: bool = True
    exclude_bse: bool = True

    def key(self) -> dict[str, Any]:
        """The fields as a plain mapping (for cache keys and provenance)."""
        return dataclasses.asdict(self)

    def universe_rules(self) -> UniverseRules:
        """The eligibility rules on a sample date (besides ``min_valid_days`` in the window)."""
        return UniverseRules(
            min_listed_sessions=self.min_listed_days,
            exclude_st=self.exclude_st,
            exclude_beijing=self.exclude_bse,
        )


def daily_features(panel: DailyPanel) -> np.ndarray:
    """The 18 daily features of :data:`FEATURE_NAMES`, ``float32 (T, N, 18)``.

    Parameters
    ----------
    panel
        The daily panel (:func:`quantbook.data.panel.load_daily_panel`).

    Returns
    -------
    numpy.ndarray
        Features on each trading day; NaN on suspended days, days without a bar, and where
        a ratio is undefined (zero volume, zero shares).

    Notes
    -----
    With :math:`a` the adjustment factor, prices :math:`O, H, L, C` raw and :math:`C^-` the
    previous close: adjusted prices :math:`aO, aH, aL, aC`, VWAP :math:`a \\cdot amount/V`,
    volume :math:`V`, amount, turnover :math:`V / shares_{total}`, float turnover
    :math:`V / shares_{float}`, return :math:`C / C^- - 1`, :math:`\\ln V`, range
    :math:`H / L - 1`, gap :math:`O / C^- - 1`, intraday :math:`C / O - 1`, close location
    :math:`(C - L)/(H - L)`, VWAP gap :math:`VWAP / C - 1`, upper shadow
    :math:`(H - \\max(O, C)) / C^-`, lower shadow :math:`(\\min(O, C) - L) / C^-`.
    """
    b = panel.get
    o, h, lo, c, pc = b("open"), b("high"), b("low"), b("close"), b("prev_close")
    v, amt, adj = b("volume"), b("amount"), b("adj_factor")
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap_raw = np.where(v > 0, amt / v, np.nan)
        hl = h - lo
        feats = (
            o * adj,
            h * adj,
            lo * adj,
            c * adj,
            vwap_raw * adj,
            v,
            amt,
            v / b("total_shares"),
            v / b("float_shares"),
            c / pc - 1.0,
            np.where(v > 0, np.log(v), np.nan),
            h / lo - 1.0,
            o / pc - 1.0,
            c / o - 1.0,
            np.where(hl > 0, (c - lo) / hl, 0.5),
            vwap_raw / c - 1.0,
            (h - np.maximum(o, c)) / pc,
            (np.minimum(o, c) - lo) / pc,
        )
    out = np.stack(feats, axis=-1).astype(np.float32)
    out[~np.isfinite(out)] = np.nan
    out[~panel.trading] = np.nan
    return out


def _grid_positions(n_dates: int, spec: FeatureSpec) -> np.ndarray:
    """Row positions of the training sample dates: ``window - 1``, then every ``step`` rows."""
    return np.arange(spec.window - 1, n_dates, spec.step)


def _forward_label(panel: DailyPanel, horizon: int) -> np.ndarray:
    """``P[t + h] / P[t] - 1`` on adjusted closes (suspensions filled inside), ``(T, N)``."""
    p = pd.DataFrame(panel.adj_close).ffill(limit_area="inside").to_numpy()
    out = np.full(p.shape, np.nan)
    if len(p) > horizon:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:-horizon] = p[horizon:] / p[:-horizon] - 1.0
    return out


def _nan_zscore(x: np.ndarray, axis: int) -> np.ndarray:
    """Z-score along ``axis`` ignoring NaN (ddof 0); a constant slice becomes 0."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _ALL_NAN, RuntimeWarning)
        mu = np.nanmean(x, axis=axis, keepdims=True)
        sd = np.nanstd(x, axis=axis, keepdims=True)
    ok = np.isfinite(sd) & (sd > 0)
    return np.where(ok, (x - mu) / np.where(ok, sd, 1.0), np.where(np.isnan(x), np.nan, 0.0))


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian(x, axis, keepdims=True)``, bit for bit, by one sort (about 4x faster).

    NaN sort last, so the median of the :math:`n` valid values is the mean of the sorted
    values at :math:`\\lfloor (n-1)/2 \\rfloor` and :math:`\\lfloor n/2 \\rfloor`; NaN
    where :math:`n = 0`. (``np.nanmedian`` goes through masked arrays for short axes.)
    """
    s = np.sort(x, axis=axis)
    n = np.sum(~np.isnan(x), axis=axis, keepdims=True)
    lo = np.take_along_axis(s, np.maximum((n - 1) // 2, 0), axis=axis)
    hi = np.take_along_axis(s, np.minimum(n // 2, x.shape[axis] - 1), axis=axis)
    two = np.asarray(2, dtype=x.dtype)
    return np.where(n > 0, (lo + hi) / two, np.nan).astype(x.dtype, copy=False)


def _preprocess(w: np.ndarray, clip_mads: float) -> np.ndarray:
    """Per-window MAD clipping and z-score (axis 1 = time), then cross-sectional z-score.

    ``w`` is ``(n_stocks, window, n_features)``; the result has no NaN.
    """
    med = _nanmedian(w, axis=1)
    mad = _nanmedian(np.abs(w - med), axis=1) * _MAD_SCALE
    band = np.where(mad > 0, clip_mads * mad, np.inf)
    w = np.clip(w, med - band, med + band)
    w = _nan_zscore(w, axis=1)
    w = _nan_zscore(w, axis=0)
    return np.nan_to_num(w, nan=0.0)


@dataclass
class WindowSet:
    """Preprocessed windows of every sample date, with labels and the date of each label.

    Attributes
    ----------
    x
        ``float16 (S, window, 18)`` windows, one row per (date, eligible stock), ordered by
        date (a memory map when loaded from the cache).
    dates
        The sample dates (training grid and month-ends), sorted.
    offsets
        ``int64 (len(dates) + 1,)``: the rows of ``dates[i]`` are ``offsets[i]:offsets[i+1]``.
    code_index
        ``int32 (S,)``: column of each row's stock in ``codes``.
    codes
        The stock codes.
    label
        ``float32 (S,)``: the next ``horizon``-day return z-scored across the date's eligible
        stocks with a label; NaN where unknown.
    raw_label
        ``float32 (S,)``: the raw next ``horizon``-day return.
    label_end
        For each date, the session on which its labels are known (NaT near the store's end).
    on_grid
        For each date, whether it is a training sample date (the 5-day grid).
    spec
        The :class:`FeatureSpec` used.
    """

    x: np.ndarray
    dates: pd.DatetimeIndex
    offsets: np.ndarray
    code_index: np.ndarray
    codes: pd.Index
    label: np.ndarray
    raw_label: np.ndarray
    label_end: pd.DatetimeIndex
    on_grid: np.ndarray
    spec: FeatureSpec

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def rows(self, date: str | pd.Timestamp) -> slice:
        """Row slice of ``date`` (``KeyError`` if it is not a sample date)."""
        i = self.dates.get_loc(pd.Timestamp(date))
        if not isinstance(i, int | np.integer):
            raise KeyError(date)
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def codes_at(self, date: str | pd.Timestamp) -> pd.Index:
        """Codes of the eligible stocks of ``date``, in row order."""
        return self.codes[self.code_index[self.rows(date)]]

    def batch(
        self, date: str | pd.Timestamp, *, labelled: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(x float32 (n, window, 18), label float32 (n,))`` of one date.

        With ``labelled`` (default) only stocks with a label are returned.
        """
        sl = self.rows(date)
        x = np.asarray(self.x[sl], dtype=np.float32)
        y = np.asarray(self.label[sl], dtype=np.float32)
        if labelled:
            ok = np.isfinite(y)
            return x[ok], y[ok]
        return x, y

    def training_dates(self, until: str | pd.Timestamp) -> pd.DatetimeIndex:
        """Grid dates whose labels are known by ``until`` (``label_end <= until``)."""
        end = pd.Timestamp(until)
        known = self.label_end.notna() & (self.label_end <= end)
        return self.dates[self.on_grid & np.asarray(known)]


def build_windows(
    panel: DailyPanel,
    spec: FeatureSpec | None = None,
    *,
    dates: pd.DatetimeIndex | None = None,
    path: Path | None = None,
) -> WindowSet:
    """Build the preprocessed windows, labels and exclusions for every sample date.

    Parameters
    ----------
    panel
        The daily panel (:func:`quantbook.data.panel.load_daily_panel`).
    spec
        The window specification (default :class:`FeatureSpec`).
    dates
        Sample dates to build (default: the training grid plus every month-end with a full
        window).
    path
        If given, the windows are written to ``path / "x.npy"`` as a memory map (bounded
        memory for the full preset) instead of held in memory.

    Returns
    -------
    WindowSet

    Notes
    -----
    Per window :math:`w_{:,k}` of feature :math:`k`: :math:`m = \\operatorname{median}`,
    :math:`s = 1.4826\\,\\operatorname{median}|w - m|`, clip to :math:`m \\pm 5 s`, then
    :math:`(w - \\bar w) / \\sigma_w` over the window; then for each day-in-window and feature
    a z-score across the date's eligible stocks; NaN (suspended days) become 0.
    """
    spec = spec or FeatureSpec()
    feats = daily_features(panel)
    n_dates = len(panel.dates)
    if dates is None:
        grid = set(_grid_positions(n_dates, spec).tolist())
        ends = TradingCalendar(panel.dates[0], panel.dates[-1], extra=panel.dates).month_ends()
        me = set(panel.dates.get_indexer(ends).tolist())
        pos = np.array(sorted(p for p in grid | me if p >= spec.window - 1), dtype=np.int64)
    else:
        pos = panel.dates.get_indexer(pd.DatetimeIndex(dates))
        if (pos < 0).any():
            raise KeyError("some sample dates are not trading days of the panel")
        pos = np.unique(pos[pos >= spec.window - 1])
    grid_mask = np.isin(pos, _grid_positions(n_dates, spec))

    traded = panel.trading
    valid_days = np.vstack(
        [np.zeros((1, traded.shape[1]), dtype=np.int64), np.cumsum(traded, axis=0)]
    )
    n_valid = valid_days[pos + 1] - valid_days[pos + 1 - spec.window]
    eligible = spec.universe_rules().eligible(panel, pos) & (n_valid >= spec.min_valid_days)
    counts = eligible.sum(axis=1)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    total = int(offsets[-1])
    shape = (total, spec.window, len(FEATURE_NAMES))
    x: np.ndarray
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        x = open_memmap(path / "x.npy", mode="w+", dtype=np.float16, shape=shape)
    else:
        x = np.empty(shape, dtype=np.float16)
    fwd = _forward_label(panel, spec.horizon)
    code_index = np.empty(total, dtype=np.int32)
    raw = np.empty(total, dtype=np.float32)
    label = np.empty(total, dtype=np.float32)
    for i, t in enumerate(pos):
        cols = np.flatnonzero(eligible[i])
        sl = slice(int(offsets[i]), int(offsets[i + 1]))
        w = feats[t - spec.window + 1 : t + 1][:, cols, :].transpose(1, 0, 2)
        x[sl] = _preprocess(w, spec.clip_mads).astype(np.float16)
        code_index[sl] = cols
        r = fwd[t, cols]
        raw[sl] = r
        ok = np.isfinite(r)
        z = np.full(len(cols), np.nan, dtype=np.float32)
        if ok.sum() > 1 and np.std(r[ok]) > 0:
            z[ok] = (r[ok] - r[ok].mean()) / r[ok].std()
        label[sl] = z
    if isinstance(x, np.memmap):
        x.flush()
    end_pos = pos + spec.horizon
    label_end = pd.DatetimeIndex(
        [panel.dates[p] if p < n_dates else pd.NaT for p in end_pos]
    ).as_unit("ns")
    return WindowSet(
        x=x,
        dates=pd.DatetimeIndex(panel.dates[pos]),
        offsets=offsets,
        code_index=code_index,
        codes=panel.codes,
        label=label,
        raw_label=raw,
        label_end=label_end,
        on_grid=grid_mask,
        spec=spec,
    )


# -- cache -----------------------------------------------------------------------------------------
def universe_digest(codes: Iterable[str] | None) -> str | None:
    """A 16-hex-digit digest of a stock universe (sorted, unique codes); None for all stocks.

    Part of the window and model cache keys when a run is restricted to ``codes``.
    """
    if codes is None:
        return None
    blob = "\n".join(sorted({str(c) for c in codes}))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def windows_config(spec: FeatureSpec, *, codes: Iterable[str] | None = None) -> dict[str, Any]:
    """Cache configuration of a window set: the specification and, when restricted, the
    universe (:func:`universe_digest`); the store fingerprint and :data:`FEATURES_VERSION`
    are the cache's own."""
    config: dict[str, Any] = {"spec": spec.key()}
    if codes is not None:
        config["universe"] = universe_digest(codes)
    return config


def windows_cache(store: Store, *, fingerprint: str | None = None) -> Cache:
    """The store's cache ``gan_gru_windows`` (entries are folders ``<key>.windows``).

    Files there are ``.npy`` / ``.json`` (never ``.parquet``); the store's ``cache/`` folder
    is not part of its fingerprint anyway.
    """
    fp = fingerprint or store.fingerprint()
    return Cache(
        store.path / CACHE_DIR / "gan_gru_windows", fingerprint=fp, version=str(FEATURES_VERSION)
    )


def _save_meta(ws: WindowSet, folder: Path) -> None:
    np.save(folder / "offsets.npy", ws.offsets)
    np.save(folder / "code_index.npy", ws.code_index)
    np.save(folder / "label.npy", ws.label)
    np.save(folder / "raw_label.npy", ws.raw_label)
    np.save(folder / "on_grid.npy", ws.on_grid)
    np.save(folder / "dates.npy", ws.dates.asi8)
    np.save(folder / "label_end.npy", ws.label_end.asi8)
    meta = {"codes": [str(c) for c in ws.codes], "spec": ws.spec.key(), "version": FEATURES_VERSION}
    (folder / "meta.json").write_text(json.dumps(meta))


def _load(folder: Path) -> WindowSet:
    meta = json.loads((folder / "meta.json").read_text())
    return WindowSet(
        x=np.load(folder / "x.npy", mmap_mode="r"),
        dates=pd.DatetimeIndex(np.load(folder / "dates.npy")).as_unit("ns"),
        offsets=np.load(folder / "offsets.npy"),
        code_index=np.load(folder / "code_index.npy"),
        codes=pd.Index(meta["codes"]),
        label=np.load(folder / "label.npy"),
        raw_label=np.load(folder / "raw_label.npy"),
        label_end=pd.DatetimeIndex(np.load(folder / "label_end.npy")).as_unit("ns"),
        on_grid=np.load(folder / "on_grid.npy"),
        spec=FeatureSpec(**meta["spec"]),
    )


def load_or_build_windows(
    store: Store,
    spec: FeatureSpec | None = None,
    *,
    fingerprint: str | None = None,
    cache: bool = True,
    codes: Iterable[str] | None = None,
) -> WindowSet:
    """The windows of every sample date of ``store``, from the cache or built and cached.

    Parameters
    ----------
    store
        An open store.
    spec
        The window specification (default :class:`FeatureSpec`).
    fingerprint
        The store's fingerprint if already known (it hashes every table file).
    cache
        Read and write the folder ``data/<store>/cache/gan_gru_windows/<key>.windows/``
        (:func:`windows_cache`, :func:`windows_config`). The folder is written
        under a temporary name and renamed when complete (atomic); the windows are a
        read-only memory map when loaded.
    codes
        Restrict the windows to these stocks (:func:`quantbook.data.panel.load_daily_panel`); the cross-sectional
        z-scores and the labels are then standardized within this universe. Default: every
        stock.

    Returns
    -------
    WindowSet
    """
    spec = spec or FeatureSpec()
    codes = None if codes is None else sorted({str(c) for c in codes})
    if not cache:
        return build_windows(load_daily_panel(store, codes=codes), spec)
    folder = windows_cache(store, fingerprint=fingerprint).path(
        windows_config(spec, codes=codes), "windows"
    )
    if (folder / "meta.json").is_file():
        return _load(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        ws = build_windows(load_daily_panel(store, codes=codes), spec, path=tmp)
        _save_meta(ws, tmp)
        del ws
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "meta.json").is_file():  # not a concurrent writer's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _load(folder)
