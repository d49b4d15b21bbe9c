"""The GAN_GRU factor (SPEC §3): semi-annual retraining, monthly predictions, neutralization.

Pipeline, for each retraining date *R* (the last trading day on or before June 30 and
December 31):

1. training sample dates: the 5-day grid dates whose 20-day labels are known by *R*
   (``label_end <= R``: no lookahead), the last ``train_dates`` of them (rolling window) or
   all (expanding, ``train_dates=None``), at least ``min_train_dates``
   (:func:`retrain_schedule`, a :class:`~quantbook.models.walkforward.WalkForward`); the
   first 80 % train, the last 20 % validate (chronological);
2. ``gan_gru``: the GAN (:mod:`quantbook.models.gan`) is trained on the training dates, the
   generator frozen, then GRU + MLP (:class:`~quantbook.models.gru.GRUFactorModel`) is
   trained on :math:`G(x)` with the IC loss, Adam, one batch = one date, early stopping on
   the validation IC loss; ``gru``: the same GRU + MLP on :math:`x` (the plain baseline,
   same initial weights);
3. every month-end *m* from *R* until the next retraining date is predicted by the models of
   *R* (the retrainings are independent tasks mapped by an
   :class:`~quantbook.models.executor.Executor`); the factor is the prediction winsorized, z-scored, neutralized against industry
   dummies and ln(float market cap), and z-scored again
   (:func:`quantbook.preprocess.preprocess_factor`).

Trained models are cached in the store's cache ``gan_gru_models`` (:func:`models_cache`) keyed by the kind,
the preset's configuration, *R*, the store fingerprint and the code versions, so a rerun
for a new month only trains what is new. Presets: :data:`GAN_GRU_PRESETS`.

Examples
--------
>>> from quantbook.data import open_store                                # doctest: +SKIP
>>> res = gan_gru_factor(open_store("smoke"), preset="smoke", as_of="2026-09-30")  # doctest: +SKIP
>>> res.factor["gan_gru"].shape                                          # doctest: +SKIP
(22, 180)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from quantbook.data.cache import Cache
from quantbook.data.panel import CAP_SHARE_COLUMNS, load_daily_panel
from quantbook.data.store import Store
from quantbook.features.price_volume import (
    FEATURE_NAMES,
    FEATURES_VERSION,
    FeatureSpec,
    WindowSet,
    load_or_build_windows,
    universe_digest,
)
from quantbook.models.executor import Executor, SerialExecutor
from quantbook.models.gan import GAN, CNNDiscriminator, LSTMGenerator, train_gan
from quantbook.models.gru import GRUFactorModel, ic_loss
from quantbook.models.training import Batch, deterministic, seed_everything, train
from quantbook.models.walkforward import Fit, Schedule, WalkForward
from quantbook.preprocess import preprocess_factor

__all__ = [
    "KINDS",
    "MODEL_VERSION",
    "GAN_GRU_PRESETS",
    "DateBatches",
    "GanGruConfig",
    "GanGruResult",
    "WindowModel",
    "fit_window",
    "gan_gru_factor",
    "get_config",
    "model_config",
    "models_cache",
    "predict",
    "retrain_schedule",
]

#: Bump when the models or their training change (model cache keys use it).
MODEL_VERSION = "1"

Kind = Literal["gan_gru", "gru"]
#: The two models: GAN_GRU and the plain GRU baseline with the same head.
KINDS: tuple[Kind, ...] = ("gan_gru", "gru")


@dataclass(frozen=True)
class GanGruConfig:
    """Sizes, epochs and windows of one preset (every field enters the model cache key).

    Attributes
    ----------
    name
        Preset name.
    gru_hidden, mlp
        GRU layer sizes and MLP head widths (paper: (128, 128) and (256, 64, 64)).
    lr, max_epochs, patience
        Adam learning rate, epoch cap and early-stopping patience of the GRU.
    gan_hidden, gan_layers, disc_channels, gan_epochs, gan_lr, residual_generator
        LSTM generator size and layers, CNN discriminator channels, GAN epochs and learning
        rate, and whether :math:`G(x) = x + \\dots` (see :mod:`quantbook.models.gan`).
    train_dates
        Rolling training window in sample dates (5 trading days apart); None = expanding.
    min_train_dates
        No model (and no factor) before this many sample dates are available.
    valid_share
        Share of the window's last dates used for validation (20 %).
    seed
        Seed of initialisation and batch order.
    features
        The window specification.
    dtype
        Floating-point type of the weights and of the batches while training and predicting
        (the features are stored as float32 and widened exactly). ``float64`` makes the
        trained weights agree across CPUs far below the printed precision: float32 results
        of different instruction sets (AVX-512, AVX2, none) differ in the last bits, and
        training amplifies that to the displayed digits; the smoke preset uses it so that a
        notebook's committed outputs re-execute to the same digits on any machine.
    """

    name: str
    gru_hidden: tuple[int, ...] = (128, 128)
    mlp: tuple[int, ...] = (256, 64, 64)
    lr: float = 1e-4
    max_epochs: int = 50
    patience: int = 10
    gan_hidden: int = 64
    gan_layers: int = 1
    disc_channels: tuple[int, ...] = (32, 64)
    gan_epochs: int = 10
    gan_lr: float = 1e-4
    residual_generator: bool = True
    train_dates: int | None = None
    min_train_dates: int = 40
    valid_share: float = 0.2
    seed: int = 20240601
    features: FeatureSpec = field(default_factory=FeatureSpec)
    dtype: Literal["float32", "float64"] = "float32"

    def key(self) -> dict[str, Any]:
        """The configuration as a plain mapping (without ``dtype`` when it is float32, so that
        the cache keys of float32 presets stay those they had before the field existed)."""
        out = dataclasses.asdict(self)
        if self.dtype == "float32":
            del out["dtype"]
        return out

    @property
    def walk_forward(self) -> WalkForward:
        """The retraining rule: the last session of each half-year, on the latest
        :attr:`train_dates` sample dates whose labels are known (all when None), at least
        :attr:`min_train_dates` of them."""
        return WalkForward(
            calendar="half-year", window=self.train_dates, min_train=self.min_train_dates
        )

    @property
    def torch_dtype(self) -> torch.dtype:
        """:attr:`dtype` as a torch dtype."""
        return torch.float64 if self.dtype == "float64" else torch.float32

    def describe(self) -> pd.Series:
        """A one-column summary for the report page."""
        window = "expanding" if self.train_dates is None else f"rolling, {self.train_dates} dates"
        return pd.Series(
            {
                "GRU hidden": ", ".join(map(str, self.gru_hidden)),
                "MLP": ", ".join(map(str, self.mlp)),
                "learning rate": f"{self.lr:g}",
                "epochs (max) / patience": f"{self.max_epochs} / {self.patience}",
                "generator LSTM hidden": str(self.gan_hidden),
                "discriminator channels": ", ".join(map(str, self.disc_channels)),
                "GAN epochs / lr": f"{self.gan_epochs} / {self.gan_lr:g}",
                "training window": window,
                "validation": f"last {self.valid_share:.0%} of dates",
                "seed": str(self.seed),
            }
            | ({} if self.dtype == "float32" else {"precision": self.dtype}),
            name=self.name,
        )


#: ``paper``: the published configuration; ``fast``: the default site and CI-sized runs on
#: the default store; ``smoke``: the smoke notebook (seconds).
GAN_GRU_PRESETS: dict[str, GanGruConfig] = {
    "paper": GanGruConfig(name="paper"),
    "fast": GanGruConfig(
        name="fast",
        gru_hidden=(32, 32),
        mlp=(64, 32, 32),
        lr=1e-3,
        max_epochs=6,
        patience=2,
        gan_hidden=32,
        disc_channels=(16, 32),
        gan_epochs=2,
        gan_lr=1e-3,
        train_dates=150,
        min_train_dates=40,
    ),
    "smoke": GanGruConfig(
        name="smoke",
        gru_hidden=(8, 8),
        mlp=(16, 8, 8),
        lr=3e-3,
        max_epochs=3,
        patience=1,
        gan_hidden=8,
        disc_channels=(8, 8),
        gan_epochs=1,
        gan_lr=1e-3,
        train_dates=40,
        min_train_dates=20,
        dtype="float64",
    ),
}


def get_config(preset: str | GanGruConfig) -> GanGruConfig:
    """A preset by name (``KeyError`` naming the known ones) or a config as is."""
    if isinstance(preset, GanGruConfig):
        return preset
    if preset not in GAN_GRU_PRESETS:
        raise KeyError(f"unknown GAN_GRU preset {preset!r}; known: {', '.join(GAN_GRU_PRESETS)}")
    return GAN_GRU_PRESETS[preset]


def retrain_schedule(
    ws: WindowSet,
    config: GanGruConfig,
    *,
    sessions: pd.DatetimeIndex,
    predict: pd.DatetimeIndex,
) -> Schedule:
    """The retraining dates *R*, their training sample dates and the dates each model predicts.

    Parameters
    ----------
    ws
        The windows: the samples are the grid dates, known once their ``label_end`` is.
    config
        The preset (:attr:`GanGruConfig.walk_forward`).
    sessions
        Trading days whose half-year ends may be retraining dates (up to the as-of date).
    predict
        The dates to predict (month-ends); each uses the latest retraining on or before it.

    Returns
    -------
    Schedule
    """
    grid = np.asarray(ws.on_grid)
    return config.walk_forward.schedule(
        samples=ws.dates[grid], label_end=ws.label_end[grid], predict=predict, sessions=sessions
    )


class DateBatches(Sequence[Batch]):
    """Lazy batches, one per sample date: ``(x, y)`` tensors read when indexed.

    Parameters
    ----------
    ws
        The windows.
    dates
        The sample dates, in order.
    transform
        Applied to ``x`` under ``torch.no_grad()`` (the frozen generator of GAN_GRU).
    dtype
        Type of the tensors (the stored float32 features and labels are widened exactly).
    memo_bytes
        Transformed batches are kept (computed once, not every epoch) while their total size
        stays under this budget; later ones are recomputed on each access.

    Notes
    -----
    Only labelled stocks enter a batch. Apart from the bounded memo nothing is kept between
    accesses, so the memory used does not grow with the number of dates (the full preset's
    bound).
    """

    def __init__(
        self,
        ws: WindowSet,
        dates: Sequence[pd.Timestamp],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        memo_bytes: int = 512 * 2**20,
    ) -> None:
        self.ws = ws
        self.dtype = dtype
        self.dates = list(dates)
        self.transform = transform
        self.memo_bytes = memo_bytes
        self._memo: dict[int, Batch] = {}
        self._memo_used = 0

    def __len__(self) -> int:
        return len(self.dates)

    def __getitem__(self, i: int) -> Batch:  # type: ignore[override]
        if i in self._memo:
            return self._memo[i]
        x_np, y_np = self.ws.batch(self.dates[i])
        x = torch.from_numpy(x_np).to(self.dtype)
        y = torch.from_numpy(y_np).to(self.dtype)
        if self.transform is None:
            return x, y
        with torch.no_grad():
            x = self.transform(x)
        batch = (x, y)
        size = x.element_size() * x.nelement()
        if self._memo_used + size <= self.memo_bytes:
            self._memo[i] = batch
            self._memo_used += size
        return batch


@dataclass
class WindowModel:
    """The models of one retraining date and how they were trained.

    Attributes
    ----------
    kind
        ``gan_gru`` or ``gru``.
    retrain_date
        *R*: labels known by this day were used.
    train_start, train_end, valid_start, valid_end
        First and last training and validation sample dates.
    n_train, n_valid
        Number of training and validation dates.
    gru
        The trained GRU + MLP (eval mode).
    generator
        The frozen generator (``gan_gru`` only).
    history
        GRU loss per epoch (``train_loss``, ``valid_loss`` = minus the mean IC).
    gan_history
        GAN losses per epoch (``train_d``, ``train_g``); empty for ``gru``.
    best_epoch
        Epoch whose GRU weights were kept.
    seconds
        Training time when it was trained (also when loaded from the cache).
    cached
        Loaded from the cache in this run.
    """

    kind: Kind
    retrain_date: pd.Timestamp
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp
    n_train: int
    n_valid: int
    gru: GRUFactorModel
    generator: LSTMGenerator | None
    history: pd.DataFrame
    gan_history: pd.DataFrame
    best_epoch: int
    seconds: float
    cached: bool

    def summary(self) -> dict[str, Any]:
        """One row of the retraining table."""
        return {
            "model": self.kind,
            "retrain date": self.retrain_date,
            "train from": self.train_start,
            "train to": self.train_end,
            "valid to": self.valid_end,
            "dates (train / valid)": f"{self.n_train} / {self.n_valid}",
            "epochs": len(self.history),
            "best epoch": self.best_epoch,
            "valid IC": -float(self.history["valid_loss"].loc[self.best_epoch]),
            "seconds": self.seconds,
            "cached": self.cached,
        }


def _build(config: GanGruConfig) -> tuple[GRUFactorModel, GAN]:
    """Fresh models with seeded initial weights (the GRU's are the same for both kinds), in
    the preset's dtype (initialized in float32, then widened)."""
    n = len(FEATURE_NAMES)
    seed_everything(config.seed)
    gru = GRUFactorModel(n_features=n, hidden=config.gru_hidden, mlp=config.mlp)
    seed_everything(config.seed + 1)
    gan = GAN(
        LSTMGenerator(
            n_features=n,
            hidden=config.gan_hidden,
            num_layers=config.gan_layers,
            residual=config.residual_generator,
        ),
        CNNDiscriminator(n_features=n, channels=config.disc_channels),
    )
    return gru.to(config.torch_dtype), gan.to(config.torch_dtype)


def _split(
    dates: pd.DatetimeIndex, config: GanGruConfig
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Chronological split: the last ``valid_share`` of the dates (at least one) validate."""
    n_valid = max(1, int(round(config.valid_share * len(dates))))
    return dates[:-n_valid], dates[-n_valid:]


def model_config(
    kind: Kind, config: GanGruConfig, retrain_date: pd.Timestamp, fingerprint: str
) -> dict[str, Any]:
    """Cache configuration of one trained model (its entry in :func:`models_cache`)."""
    return {
        "kind": kind,
        "config": config.key(),
        "retrain_date": f"{pd.Timestamp(retrain_date):%Y-%m-%d}",
        "store": fingerprint,
        "model_version": MODEL_VERSION,
        "features_version": FEATURES_VERSION,
        "torch": torch.__version__.split("+")[0],
    }


def models_cache(store: Store) -> Cache:
    """The store's cache ``gan_gru_models`` of trained models (torch state dicts)."""
    return Cache.for_store(store, "gan_gru_models", version=MODEL_VERSION)


def _history(records: Any) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    return frame.set_index("epoch") if "epoch" in frame.columns else frame


def fit_window(
    ws: WindowSet,
    config: GanGruConfig,
    fit: Fit,
    *,
    kind: Kind = "gan_gru",
    cache: Cache | None = None,
    fingerprint: str = "",
    progress: bool = False,
) -> WindowModel:
    """Train (or load from ``cache``) the model of one retraining (a fit of the schedule).

    Parameters
    ----------
    ws
        The windows of the store.
    config
        The preset.
    fit
        The retraining of :func:`retrain_schedule`: its date *R* and its training sample
        dates (``label_end <= R`` only), split chronologically into training and validation.
    kind
        ``gan_gru`` (GAN, then GRU on :math:`G(x)`) or ``gru`` (GRU on :math:`x`).
    cache
        Model cache (None: always train, save nothing).
    fingerprint
        Identifies the data (part of the cache key): the store fingerprint, followed by the
        universe's digest when the windows are restricted to a subset of stocks.
    progress
        tqdm bars while training.

    Returns
    -------
    WindowModel

    Notes
    -----
    The initial weights are seeded from the preset alone (no warm start from an earlier
    retraining), so the retrainings are independent tasks (:func:`gan_gru_factor`).
    """
    retrain_date = fit.date
    train_d, valid_d = _split(fit.train, config)
    gru, gan = _build(config)
    key = model_config(kind, config, retrain_date, fingerprint)
    common: dict[str, Any] = {
        "kind": kind,
        "retrain_date": pd.Timestamp(retrain_date),
        "train_start": train_d[0],
        "train_end": train_d[-1],
        "valid_start": valid_d[0],
        "valid_end": valid_d[-1],
        "n_train": len(train_d),
        "n_valid": len(valid_d),
    }
    saved = cache.get_states(key) if cache is not None else None
    if saved is not None:
        states, meta = saved
        gru.load_state_dict(states["gru"])
        generator = None
        if kind == "gan_gru":
            gan.generator.load_state_dict(states["generator"])
            generator = gan.generator.eval()
        return WindowModel(
            **common,
            gru=gru.eval(),
            generator=generator,
            history=_history(meta["history"]),
            gan_history=_history(meta["gan_history"]),
            best_epoch=int(meta["best_epoch"]),
            seconds=float(meta["seconds"]),
            cached=True,
        )
    t0 = time.perf_counter()
    transform = None
    gan_history = pd.DataFrame()
    if kind == "gan_gru":
        gan_res = train_gan(
            gan,
            batches=DateBatches(ws, list(train_d), dtype=config.torch_dtype),
            epochs=config.gan_epochs,
            lr=config.gan_lr,
            seed=config.seed,
            progress=progress,
        )
        gan_history = gan_res.history
        gan.generator.eval()
        for p in gan.generator.parameters():
            p.requires_grad_(False)
        transform = gan.generator
    res = train(
        gru,
        train_batches=DateBatches(ws, list(train_d), transform, dtype=config.torch_dtype),
        valid_batches=DateBatches(ws, list(valid_d), transform, dtype=config.torch_dtype),
        loss_fn=ic_loss,
        lr=config.lr,
        max_epochs=config.max_epochs,
        patience=config.patience,
        seed=config.seed,
        progress=progress,
        desc=f"{kind} {pd.Timestamp(retrain_date):%Y-%m-%d}",
    )
    seconds = time.perf_counter() - t0
    if cache is not None:
        states = {"gru": gru.state_dict()}
        if kind == "gan_gru":
            states["generator"] = gan.generator.state_dict()
        cache.put_states(
            key,
            states,
            meta={
                "history": res.history.reset_index().to_dict("records"),
                "gan_history": gan_history.reset_index().to_dict("records"),
                "best_epoch": res.best_epoch,
                "seconds": seconds,
                "config": config.key(),
                "retrain_date": f"{pd.Timestamp(retrain_date):%Y-%m-%d}",
            },
        )
    return WindowModel(
        **common,
        gru=gru.eval(),
        generator=gan.generator if kind == "gan_gru" else None,
        history=res.history,
        gan_history=gan_history,
        best_epoch=res.best_epoch,
        seconds=seconds,
        cached=False,
    )


def predict(model: WindowModel, ws: WindowSet, date: str | pd.Timestamp) -> pd.Series:
    """pRet of every eligible stock on ``date`` (labels not needed), indexed by code."""
    x_np, _ = ws.batch(date, labelled=False)
    dtype = next(model.gru.parameters()).dtype  # the preset's
    with deterministic(1), torch.no_grad():
        x = torch.from_numpy(x_np).to(dtype)
        if model.generator is not None:
            x = model.generator(x)
        out = model.gru(x).numpy().astype(float) if len(x_np) else np.empty(0)
    return pd.Series(out, index=ws.codes_at(date), name=model.kind)


@dataclass
class GanGruResult:
    """Monthly GAN_GRU (and plain GRU) factor values and the models behind them.

    Attributes
    ----------
    config
        The preset used.
    as_of
        Last month-end predicted.
    raw
        ``{kind: month-end x code}`` predictions pRet.
    factor
        ``{kind: month-end x code}`` neutralized, z-scored factor.
    models
        ``{kind: [WindowModel, ...]}`` per retraining date used.
    model_for
        ``month-end -> retraining date`` of the models that predicted it.
    windows
        The window set (features and labels).
    """

    config: GanGruConfig
    as_of: pd.Timestamp
    raw: dict[str, pd.DataFrame]
    factor: dict[str, pd.DataFrame]
    models: dict[str, list[WindowModel]]
    model_for: pd.Series
    windows: WindowSet

    def training_table(self) -> pd.DataFrame:
        """One row per (model, retraining date): window, epochs, validation IC, time, cached."""
        rows = [m.summary() for ms in self.models.values() for m in ms]
        return pd.DataFrame(rows)

    def training_seconds(self) -> pd.Series:
        """Training time per retraining date, summed over both models (as trained)."""
        t = self.training_table()
        if t.empty:
            return pd.Series(dtype=float)
        return t.groupby("retrain date")["seconds"].sum()


@dataclass(frozen=True)
class _RetrainTask:
    kind: Kind
    config: GanGruConfig
    fit: Fit
    ws: WindowSet
    cache: Cache | None
    fingerprint: str
    progress: bool


def _retrain(task: _RetrainTask) -> WindowModel:
    """One retraining (a top-level function, so that a process pool can map it)."""
    return fit_window(
        task.ws,
        task.config,
        task.fit,
        kind=task.kind,
        cache=task.cache,
        fingerprint=task.fingerprint,
        progress=task.progress,
    )


def gan_gru_factor(
    store: Store,
    *,
    as_of: str | pd.Timestamp,
    preset: str | GanGruConfig = "fast",
    start: str | pd.Timestamp | None = None,
    kinds: Sequence[Kind] = KINDS,
    codes: Sequence[str] | None = None,
    cache: bool = True,
    progress: bool = False,
    notify: Callable[[str], None] | None = None,
    executor: Executor | None = None,
) -> GanGruResult:
    """Monthly GAN_GRU and plain-GRU factors up to ``as_of``, retraining semi-annually.

    Parameters
    ----------
    store
        An open store.
    as_of
        Last month-end to predict; models use labels known by their retraining date only,
        and retraining dates after ``as_of`` are never used.
    preset
        A name of :data:`GAN_GRU_PRESETS` or a :class:`GanGruConfig`.
    start
        First month-end of the factor history (default: the first one with a model).
    kinds
        Which models to run.
    codes
        Restrict the universe to these stocks (e.g. an index's members, or a subset for a
        quick run): windows, cross-sectional standardization, labels, training and the
        factor all use these stocks only. Default: every stock of the store.
    cache
        Use and fill the window and model caches (``<store>/cache/gan_gru_windows`` and
        ``<store>/cache/gan_gru_models``).
    progress
        tqdm bars while training.
    notify
        Called with a line per model trained or loaded (e.g. ``print``), in task order once
        every retraining is done.
    executor
        Maps the retrainings, one task per (model, retraining date) of
        :func:`retrain_schedule` (default: :class:`~quantbook.models.executor.SerialExecutor`).

    Returns
    -------
    GanGruResult
    """
    config = get_config(preset)
    as_of = pd.Timestamp(as_of)
    fp = store.fingerprint()
    ws = load_or_build_windows(store, config.features, fingerprint=fp, cache=cache, codes=codes)
    if codes is not None:  # models trained on a subset are cached apart from full-store ones
        fp = f"{fp}-{universe_digest(codes)}"
    mcache = models_cache(store) if cache else None
    month_ends = ws.dates[np.isin(ws.dates, store.calendar().month_ends(end=as_of))]
    if start is not None:
        month_ends = month_ends[month_ends >= pd.Timestamp(start)]
    schedule = retrain_schedule(
        ws, config, sessions=store.calendar().range(end=as_of), predict=month_ends
    )
    tasks = [
        _RetrainTask(kind, config, fit, ws, mcache, fp, progress)
        for kind in kinds
        for fit in schedule.fits
    ]
    trained = (executor or SerialExecutor()).map(_retrain, tasks)
    raw: dict[str, pd.DataFrame] = {}
    models: dict[str, list[WindowModel]] = {kind: [] for kind in kinds}
    preds: dict[str, dict[pd.Timestamp, pd.Series]] = {kind: {} for kind in kinds}
    for task, wm in zip(tasks, trained, strict=True):
        if notify is not None:
            how = "loaded" if wm.cached else f"trained in {wm.seconds:.0f} s"
            notify(f"{task.kind} model of {task.fit.date:%Y-%m-%d}: {how}")
        models[task.kind].append(wm)
        for m in task.fit.predict:
            preds[task.kind][m] = predict(wm, ws, m)
    for kind in kinds:
        frame = pd.DataFrame(preds[kind]).T.reindex(columns=ws.codes)
        frame.index = pd.DatetimeIndex(frame.index, name="date")
        raw[kind] = frame.sort_index()
    dates = pd.DatetimeIndex(sorted(set().union(*[f.index for f in raw.values()])))
    factor: dict[str, pd.DataFrame] = {}
    if len(dates):
        panel = load_daily_panel(store, end=dates.max(), fields=["close", *CAP_SHARE_COLUMNS])
        rows = panel.rows(dates)
        ind = panel.wide(panel.spell("industry", rows).labels(), rows=rows, codes=ws.codes)
        cap = panel.wide(panel.float_cap[rows], rows=rows, codes=ws.codes)
        for name, frame in raw.items():
            f = frame.reindex(dates)
            factor[name] = preprocess_factor(
                f, industry=ind.reindex(f.index), float_cap=cap.reindex(f.index)
            )
    else:
        factor = {k: f for k, f in raw.items()}
    return GanGruResult(
        config=config,
        as_of=as_of,
        raw=raw,
        factor=factor,
        models=models,
        model_for=schedule.fit_for.loc[schedule.fit_for.index.isin(dates)].rename("retrain date"),
        windows=ws,
    )
