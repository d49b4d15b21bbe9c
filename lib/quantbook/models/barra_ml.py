"""The Barra ML factor pipeline of SPEC §4 (MLP and mHC-MLP on the style exposures).

Each month-end ``t`` (a period start of the monthly risk model):

1. the risk model (:func:`quantbook.risk.fit`, SPEC §1) gives the residual returns
   :math:`u_{s+1}` of every period ``(s, s+1]``;
2. for each training window ``W`` (months): a model is trained on the pairs
   (:math:`X_s` = the style exposures at ``s``, target = :math:`u_{s+1}` standardized across
   the stocks) for the ``W`` months ``s`` whose target is known at ``t`` (the last ``W // 6``
   of them, at least one, for validation and early stopping); it predicts from :math:`X_t`.
   Models are retrained every ``retrain_every`` months and predict monthly in between
   (:meth:`BarraMLConfig.walk_forward`, a :class:`~quantbook.models.walkforward.WalkForward`);
3. each window's prediction is z-scored per month and combined with equal weights, or with
   weights proportional to each window's trailing mean rank IC (negative means count 0;
   equal weights until a trailing IC exists);
4. the combination is orthogonalized (per-month OLS residual) against the styles and the
   industry dummies: the Barra ML factor;
5. its pure factor return: the factor appended as an extra style to the risk model
   (:func:`quantbook.risk.pure_factor_return`).

Trainings are independent tasks mapped by an :class:`~quantbook.models.executor.Executor`
(a local process pool by default) and cached per (window, month, model, configuration) in the
store's cache ``barra_ml_models`` (:class:`~quantbook.data.cache.Cache`) with their predictions.

Examples
--------
>>> from quantbook.data import open_store                                   # doctest: +SKIP
>>> res = run_barra_ml(open_store("smoke"), config=BarraMLConfig(windows=(12,)))  # doctest: +SKIP
>>> res.factor["mhc"]["equal"].iloc[-1].describe()                           # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from quantbook.data.cache import Cache
from quantbook.data.store import Store
from quantbook.models.executor import Executor, default_executor
from quantbook.models.mhc import MHCMLP
from quantbook.models.mlp import ResidualMLP
from quantbook.models.training import seed_everything, train
from quantbook.models.walkforward import WalkForward
from quantbook.preprocess import (
    DegenerateCrossSectionWarning,
    TooFewStocksWarning,
    neutralize,
    zscore,
)
from quantbook.risk import RiskFitConfig, RiskModelResult, fit_cached, pure_factor_return

__all__ = [
    "MODELS",
    "BarraMLConfig",
    "BarraMLResult",
    "build_model",
    "combine",
    "run_barra_ml",
]

#: numpy's warnings for an all-NaN slice of nanmean / nanstd (the answer is NaN).
_ALL_NAN = r"Mean of empty slice|Degrees of freedom <= 0 for slice"

ModelName = Literal["mlp", "mhc"]
MODELS: tuple[ModelName, ...] = ("mlp", "mhc")
Combine = Literal["equal", "ic"]
#: Part of every cache key: bump when a change of code changes trained weights or predictions
#: (2: the faster mHC-MLP, equal to the first up to floating-point rounding).
CACHE_VERSION = 2


@dataclass(frozen=True)
class BarraMLConfig:
    """Windows, model sizes and training settings of the pipeline.

    Attributes
    ----------
    windows
        Training windows in months (SPEC: 24, 36, 72).
    models
        Models to compare (``"mlp"``, ``"mhc"``).
    width, depth, streams
        Width ``C``, layers and (mHC) streams; both models get the same width and depth.
    lr, max_epochs, patience
        Adam learning rate, epoch cap and early-stopping patience of the shared loop.
    retrain_every
        Months between retrainings (each model predicts monthly in between).
    ic_lookback
        Months of trailing rank IC for the IC-weighted combination.
    seed
        Seed of every training.
    """

    windows: tuple[int, ...] = (24, 36, 72)
    models: tuple[ModelName, ...] = MODELS
    width: int = 32
    depth: int = 6
    streams: int = 4
    lr: float = 1e-3
    max_epochs: int = 30
    patience: int = 5
    retrain_every: int = 6
    ic_lookback: int = 12
    seed: int = 0

    def walk_forward(self, window: int) -> WalkForward:
        """The schedule of one training window: the first fit once ``window`` months of
        targets are known, then every :attr:`retrain_every` months, on the latest ``window``
        months."""
        return WalkForward(every=self.retrain_every, window=window, min_train=window)

    def model_config(self, model: ModelName) -> dict[str, object]:
        """What determines a trained model of kind ``model`` (for the cache key)."""
        d = asdict(self)
        for k in ("windows", "models", "retrain_every", "ic_lookback"):
            d.pop(k)
        if model == "mlp":
            d.pop("streams")
        d["model"] = model
        return d


def build_model(model: ModelName, n_inputs: int, cfg: BarraMLConfig) -> torch.nn.Module:
    """A fresh (unseeded) model of kind ``model`` with the configuration's size."""
    if model == "mhc":
        return MHCMLP(n_inputs, width=cfg.width, depth=cfg.depth, streams=cfg.streams)
    if model == "mlp":
        return ResidualMLP(n_inputs, width=cfg.width, depth=cfg.depth)
    raise ValueError(f"unknown model {model!r}")


def _mse(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return ((p - t) ** 2).mean()


@dataclass(frozen=True)
class _Task:
    model: ModelName
    window: int
    month: pd.Timestamp
    cfg: BarraMLConfig
    x_train: list[np.ndarray]
    y_train: list[np.ndarray]
    n_valid: int
    pred_months: list[pd.Timestamp]
    x_pred: list[np.ndarray]


@dataclass(frozen=True)
class _TaskResult:
    state: dict[str, torch.Tensor]
    history: pd.DataFrame
    seconds: float
    best_epoch: int
    preds: list[np.ndarray]


def _run_task(task: _Task) -> _TaskResult:
    """Train one model (single-threaded, seeded) and predict its months."""
    torch.set_num_threads(1)
    seed_everything(task.cfg.seed)
    m = build_model(task.model, task.x_train[0].shape[1], task.cfg)
    batches = [
        (torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
        for x, y in zip(task.x_train, task.y_train, strict=True)
    ]
    k = len(batches) - task.n_valid
    res = train(
        m,
        train_batches=batches[:k],
        valid_batches=batches[k:] or None,
        loss_fn=_mse,
        lr=task.cfg.lr,
        max_epochs=task.cfg.max_epochs,
        patience=task.cfg.patience,
        seed=task.cfg.seed,
        progress=False,
        desc=f"{task.model} W={task.window} {task.month:%Y-%m}",
    )
    m.eval()
    with torch.no_grad():
        preds = [m(torch.tensor(x, dtype=torch.float32)).numpy() for x in task.x_pred]
    return _TaskResult(res.best_state, res.history, res.seconds, res.best_epoch, preds)


@dataclass
class BarraMLResult:
    """Everything the pipeline produced.

    Attributes
    ----------
    config
        The configuration.
    risk
        The risk model (residuals, exposures) the samples come from.
    styles
        Styles used as inputs (those the store allows).
    missing_styles
        ``{style: reason}`` for the styles the store does not allow.
    predictions
        ``{model: {window: date x code}}`` raw predictions (month-ends ``t``).
    combined
        ``{model: {"equal" | "ic": date x code}}`` combined z-scores.
    factor
        ``{model: {"equal" | "ic": date x code}}`` the Barra ML factor (orthogonalized).
    pure
        ``{model: {"equal" | "ic": frame}}`` its pure factor return (columns ``f``,
        ``stderr``, ``t``; index: period end ``t+1``).
    forward_residual
        ``date x code``: the residual return over ``(t, t+1]`` labelled ``t``.
    trainings
        One row per training: model, window, month, epochs, best epoch, validation loss,
        seconds, cached.
    histories
        ``{(model, window, month): loss history}``.
    states
        ``{(model, window, month): state_dict}`` of the trained models.
    """

    config: BarraMLConfig
    risk: RiskModelResult
    styles: tuple[str, ...]
    missing_styles: dict[str, str]
    predictions: dict[str, dict[int, pd.DataFrame]]
    combined: dict[str, dict[str, pd.DataFrame]]
    factor: dict[str, dict[str, pd.DataFrame]]
    pure: dict[str, dict[str, pd.DataFrame]]
    forward_residual: pd.DataFrame
    trainings: pd.DataFrame
    histories: dict[tuple[str, int, pd.Timestamp], pd.DataFrame] = field(repr=False)
    states: dict[tuple[str, int, pd.Timestamp], dict[str, torch.Tensor]] = field(repr=False)

    def model(self, model: ModelName, window: int, month: pd.Timestamp) -> torch.nn.Module:
        """The trained model of ``(model, window, month)`` (weights loaded, eval mode)."""
        m = build_model(model, len(self.styles), self.config)
        m.load_state_dict(self.states[(model, window, pd.Timestamp(month))])
        return m.eval()

    def inputs(self, month: pd.Timestamp) -> pd.DataFrame:
        """``code x style`` model inputs at ``month`` (stocks with every style)."""
        x = self.risk.exposures.cross_section(month)[list(self.styles)]
        return x.dropna().clip(-5, 5)


def _standardize(y: np.ndarray) -> np.ndarray:
    sd = y.std()
    return (y - y.mean()) / sd if sd > 0 else y - y.mean()


def _ignore_thin_cross_sections() -> None:
    """Silence the preprocessing's warnings about thin or constant cross-sections.

    Early prediction months have few stocks with a prediction; their cross-sections are left
    NaN by design, and the pipeline reports months, not dates, so the per-date warnings of
    :mod:`quantbook.preprocess` and :mod:`quantbook.evaluation` are not useful here.
    """
    warnings.simplefilter("ignore", TooFewStocksWarning)
    warnings.simplefilter("ignore", DegenerateCrossSectionWarning)


def combine(
    zs: Sequence[pd.DataFrame],
    *,
    method: Combine,
    forward: pd.DataFrame | None = None,
    lookback: int = 12,
) -> pd.DataFrame:
    """Combine per-window z-scores: equal weights, or trailing rank-IC weights.

    Parameters
    ----------
    zs
        Z-scored predictions ``date x code``, one per window (aligned).
    method
        ``"equal"``: the mean of the windows present for a stock; ``"ic"``: weights
        :math:`w_k \\propto \\max(0, \\overline{\\mathrm{RankIC}}_k)` over the ``lookback``
        months whose forward return is known at ``t`` (months before ``t``).
    forward
        Forward returns ``date x code`` labelled by formation date (for ``"ic"``).
    lookback
        Trailing months of rank IC.

    Returns
    -------
    DataFrame
        The combined signal (not re-standardized), NaN where no window has a value.
    """
    stack = np.stack([z.to_numpy(float) for z in zs])  # (K, T, N)
    like = zs[0]
    if method == "equal" or len(zs) == 1:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _ALL_NAN, RuntimeWarning)
            return pd.DataFrame(np.nanmean(stack, axis=0), index=like.index, columns=like.columns)
    if forward is None:
        raise ValueError("the IC-weighted combination needs forward returns")
    from quantbook.evaluation import rank_ic_series

    fwd = forward.reindex(index=like.index, columns=like.columns)
    ics = []
    for z in zs:
        with warnings.catch_warnings():
            _ignore_thin_cross_sections()
            ics.append(rank_ic_series(z, fwd, min_stocks=10).reindex(like.index))
    ic = pd.concat(ics, axis=1).to_numpy(float)  # (T, K)
    out = np.full(stack.shape[1:], np.nan)
    for t in range(stack.shape[1]):
        past = ic[max(0, t - lookback) : t]  # months s < t: return over (s, s+1] known at t
        w = None
        if len(past) and np.isfinite(past).any():
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", _ALL_NAN, RuntimeWarning
                )  # a window without IC yet
                w = np.nanmean(past, axis=0)
        w = np.where(np.isfinite(w), np.clip(w, 0, None), 0.0) if w is not None else None
        present = np.isfinite(stack[:, t, :])
        if w is None or w.sum() <= 0:
            w = np.ones(len(zs))
        ww = w[:, None] * present
        tot = ww.sum(0)
        val = np.nansum(np.where(present, stack[:, t, :], 0.0) * ww, axis=0)
        out[t] = np.where(tot > 0, val / np.where(tot > 0, tot, 1), np.nan)
    return pd.DataFrame(out, index=like.index, columns=like.columns)


def _orthogonalize(sig: pd.DataFrame, risk: RiskModelResult, styles: Sequence[str]) -> pd.DataFrame:
    expo = risk.exposures
    regs = {s: expo.wide(s).reindex(index=sig.index, columns=sig.columns) for s in styles}
    ind = None
    if expo.industry is not None:
        ind = pd.DataFrame(expo.industry, index=expo.dates, columns=expo.codes).reindex(
            index=sig.index, columns=sig.columns
        )
    with warnings.catch_warnings():
        _ignore_thin_cross_sections()
        return neutralize(sig, industry=ind, exposures=regs)


def run_barra_ml(
    store: Store,
    *,
    config: BarraMLConfig | None = None,
    risk: RiskModelResult | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    executor: Executor | None = None,
    processes: int | None = None,
    cache: Cache | None | Literal[False] = None,
    progress: bool = True,
) -> BarraMLResult:
    """Run the Barra ML factor pipeline (see the module docstring).

    Parameters
    ----------
    store
        An open store.
    config
        Windows, model sizes and training settings.
    risk
        A fitted monthly risk model (when None: :func:`quantbook.risk.fit_cached` from
        ``start`` to ``end``, shared with the reports that fit the same configuration).
    start, end
        Range of the risk model's period ends (default: the whole store).
    executor
        Maps the trainings (default: a local process pool of ``processes`` workers; serial
        for ``processes`` <= 1).
    processes
        Workers of the default executor (default: the CPU count).
    cache
        Model cache (default: the store's cache ``barra_ml_models``; False: no cache).
    progress
        Progress bars (risk model).

    Returns
    -------
    BarraMLResult
    """
    cfg = config or BarraMLConfig()
    if risk is None:
        risk = fit_cached(
            store, end=end, config=RiskFitConfig(freq="M", start=start), progress=progress
        )
    if cache is None:
        cache = Cache.for_store(store, "barra_ml_models", version=str(CACHE_VERSION))
    ex = executor or default_executor(processes)
    expo = risk.exposures
    styles = tuple(expo.styles)
    starts = pd.DatetimeIndex(risk.period_starts.to_numpy())
    ends = risk.residuals.index
    # samples: X at period start s, target = standardized residual over (s, s+1]
    samples: list[tuple[np.ndarray, np.ndarray] | None] = []
    inputs: list[pd.DataFrame] = []
    for s, t in zip(starts, ends, strict=True):
        x = expo.cross_section(s)[list(styles)].dropna().clip(-5, 5)
        inputs.append(x)
        u = risk.residuals.loc[t].reindex(x.index)
        ok = u.notna().to_numpy()
        samples.append(
            (x.to_numpy(float)[ok], _standardize(u.to_numpy(float)[ok])) if ok.sum() >= 20 else None
        )
    fwd = risk.residuals.copy()
    fwd.index = starts
    fwd.index.name = "date"

    tasks: list[_Task] = []
    keys: list[dict[str, Any]] = []
    data_id = {"store": store.name, "span": [str(store.start), str(store.end)], "v": CACHE_VERSION}
    for w in cfg.windows:
        # the target of sample s is known at its period end; each month predicted by the
        # latest fit on or before it
        schedule = cfg.walk_forward(w).schedule(
            samples=starts, label_end=pd.DatetimeIndex(ends), predict=starts
        )
        for wf_fit in schedule.fits:
            train_ix = [int(j) for j in starts.get_indexer(wf_fit.train) if samples[j] is not None]
            if len(train_ix) < 2:  # the fit's months stay without a prediction
                continue
            pred_ix = [int(i) for i in starts.get_indexer(wf_fit.predict)]
            for mname in cfg.models:
                xs = [samples[j][0] for j in train_ix]  # type: ignore[index]
                ys = [samples[j][1] for j in train_ix]  # type: ignore[index]
                tasks.append(
                    _Task(
                        model=mname,
                        window=w,
                        month=wf_fit.date,
                        cfg=cfg,
                        x_train=xs,
                        y_train=ys,
                        n_valid=max(1, w // 6),
                        pred_months=[starts[i] for i in pred_ix],
                        x_pred=[inputs[i].to_numpy(float) for i in pred_ix],
                    )
                )
                keys.append(
                    {
                        **data_id,
                        **cfg.model_config(mname),
                        "window": w,
                        "month": str(wf_fit.date.date()),
                        "styles": list(styles),
                        "pred": [str(starts[i].date()) for i in pred_ix],
                    }
                )
    # cached results
    results: list[_TaskResult | None] = [None] * len(tasks)
    cached = [False] * len(tasks)
    if cache is not False:
        for i, key in enumerate(keys):
            saved = cache.get_states(key)
            if saved is not None:
                st, meta = saved
                hist = pd.DataFrame(meta["history"]).set_index("epoch")
                preds = [st["pred"][str(j)].numpy() for j in range(len(tasks[i].pred_months))]
                results[i] = _TaskResult(
                    st["model"], hist, float(meta["seconds"]), int(meta["best_epoch"]), preds
                )
                cached[i] = True
    todo = [i for i, r in enumerate(results) if r is None]
    for i, r in zip(todo, ex.map(_run_task, [tasks[i] for i in todo]), strict=True):
        results[i] = r
        if cache is not False:
            cache.put_states(
                keys[i],
                {
                    "model": r.state,
                    "pred": {str(j): torch.as_tensor(p) for j, p in enumerate(r.preds)},
                },
                meta={
                    "history": r.history.reset_index().to_dict(orient="list"),
                    "seconds": r.seconds,
                    "best_epoch": r.best_epoch,
                },
            )

    codes = risk.residuals.columns
    predictions: dict[str, dict[int, pd.DataFrame]] = {}
    histories: dict[tuple[str, int, pd.Timestamp], pd.DataFrame] = {}
    states: dict[tuple[str, int, pd.Timestamp], dict[str, torch.Tensor]] = {}
    rows = []
    for task, maybe, c in zip(tasks, results, cached, strict=True):
        assert maybe is not None
        r = maybe
        frame = predictions.setdefault(task.model, {}).setdefault(
            task.window, pd.DataFrame(np.nan, index=starts, columns=codes)
        )
        for mth, p in zip(task.pred_months, r.preds, strict=True):
            i = int(starts.get_indexer(pd.DatetimeIndex([mth]))[0])
            frame.loc[mth, inputs[i].index] = p
        histories[(task.model, task.window, task.month)] = r.history
        states[(task.model, task.window, task.month)] = r.state
        rows.append(
            {
                "model": task.model,
                "window": task.window,
                "month": task.month,
                "train_months": len(task.x_train) - task.n_valid,
                "epochs": len(r.history),
                "best_epoch": r.best_epoch,
                "valid_loss": float(r.history["valid_loss"].loc[r.best_epoch]),
                "seconds": r.seconds,
                "cached": c,
            }
        )
    trainings = pd.DataFrame(rows)
    combined: dict[str, dict[str, pd.DataFrame]] = {}
    factor: dict[str, dict[str, pd.DataFrame]] = {}
    pure: dict[str, dict[str, pd.DataFrame]] = {}
    for mod, per_w in predictions.items():
        with warnings.catch_warnings():
            _ignore_thin_cross_sections()
            zs = [zscore(per_w[w]) for w in sorted(per_w)]
        live = pd.concat([z.notna().any(axis=1) for z in zs], axis=1).any(axis=1)
        combined[mod], factor[mod], pure[mod] = {}, {}, {}
        methods: tuple[Combine, ...] = ("equal", "ic")
        for method in methods:
            sig = combine(zs, method=method, forward=fwd, lookback=cfg.ic_lookback)
            sig = sig.loc[live]
            combined[mod][method] = sig
            fac = _orthogonalize(sig, risk, styles)
            factor[mod][method] = fac
            pure[mod][method] = pure_factor_return(risk, fac, name=f"ml_{mod}")
            pure[mod][method] = pure[mod][method].loc[
                pure[mod][method].index.isin(ends[starts.isin(fac.index)])
            ]
    return BarraMLResult(
        config=cfg,
        risk=risk,
        styles=styles,
        missing_styles=dict(expo.unavailable),
        predictions=predictions,
        combined=combined,
        factor=factor,
        pure=pure,
        forward_residual=fwd,
        trainings=trainings,
        histories=histories,
        states=states,
    )
