"""The one training loop shared by every torch model of the project.

:func:`train` runs epochs over batches, evaluates a validation loss after each epoch, stops
early when it has not improved for ``patience`` epochs, restores the best weights and returns
the loss curves. It is seeded and deterministic on CPU: given the same seed, model, batches
and thread count, two runs give bit-for-bit identical weights (``torch`` deterministic
algorithms, a fixed thread count, batch order from a seeded generator).

A model plugs in either with ``loss_fn`` (a supervised ``loss_fn(model(x), y)`` step with one
optimizer) or with its own ``step`` (e.g. the GAN's alternating discriminator / generator
updates); both go through the same epochs, seeding, early stopping, progress bar and history.

Examples
--------
>>> import torch
>>> torch.manual_seed(0)                                                # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = torch.nn.Linear(3, 1)
>>> x = torch.randn(64, 3); y = x @ torch.tensor([1.0, -2.0, 0.5])
>>> batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
>>> mse = lambda p, t: ((p.squeeze(-1) - t) ** 2).mean()
>>> res = train(model, train_batches=batches[:3], valid_batches=batches[3:], loss_fn=mse,
...             lr=0.1, max_epochs=30, patience=5, seed=1, progress=False)
>>> bool(res.history["valid_loss"].iloc[-1] < res.history["valid_loss"].iloc[0])
True
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

__all__ = [
    "Batch",
    "Batches",
    "StepLoss",
    "TrainResult",
    "deterministic",
    "seed_everything",
    "train",
]

#: One batch: (inputs, targets).
Batch = tuple[torch.Tensor, torch.Tensor]
#: Batches of an epoch: a sequence (shuffled per epoch when ``shuffle``), or a callable that
#: returns the batches of epoch ``e`` (it then owns the order), e.g. loading them lazily.
Batches = Sequence[Batch] | Callable[[int], Iterable[Batch]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: What a step returns: the loss, or named losses (their sum is the epoch's training loss, and
#: each is recorded in the history as ``train_<name>``).
StepLoss = float | Mapping[str, float]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Parameters
    ----------
    seed
        The seed (also used for model initialisation: call this before building a model).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code may use the legacy global generator
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(num_threads: int | None = 1) -> Iterator[None]:
    """Deterministic torch algorithms and a fixed intra-op thread count, restored on exit.

    Parameters
    ----------
    num_threads
        Threads for torch's intra-op parallelism while inside (None: leave as it is). CPU
        results depend on the thread count through the order of reductions, so a fixed
        count is part of reproducibility; 1 suits the shared 2-core machines.
    """
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det)
        if num_threads is not None:
            torch.set_num_threads(prev_threads)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    best_state
        The model's ``state_dict`` at the best epoch (already loaded into the model).
    history
        One row per epoch (index ``epoch``, from 1): ``train_loss`` (mean over the epoch's
        steps), ``valid_loss`` (NaN without validation batches) and ``seconds``.
    best_epoch
        The epoch whose weights were kept (lowest validation loss; the last epoch without
        validation batches).
    seconds
        Wall time of the whole training.
    stopped_early
        Whether the patience ran out before ``max_epochs``.
    steps
        Optimizer steps taken (training batches seen).
    """

    best_state: dict[str, torch.Tensor]
    history: pd.DataFrame
    best_epoch: int
    seconds: float
    stopped_early: bool
    steps: int

    @property
    def best_valid_loss(self) -> float:
        """Validation loss of the best epoch (NaN without validation)."""
        return float(self.history["valid_loss"].loc[self.best_epoch])


def _epoch_batches(
    batches: Batches, epoch: int, rng: np.random.Generator | None
) -> Iterator[Batch]:
    """The epoch's batches, one at a time (a lazy sequence is never materialized whole)."""
    if callable(batches):
        yield from batches(epoch)
        return
    order = rng.permutation(len(batches)) if rng is not None else range(len(batches))
    for i in order:
        yield batches[int(i)]


def _supervised_step(
    model: nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer, grad_clip: float | None
) -> Callable[[Batch], float]:
    def step(batch: Batch) -> float:
        x, y = batch
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return float(loss.detach())

    return step


def _supervised_eval(model: nn.Module, loss_fn: LossFn) -> Callable[[Batch], float]:
    def evaluate(batch: Batch) -> float:
        x, y = batch
        return float(loss_fn(model(x), y))

    return evaluate


def train(
    model: nn.Module,
    *,
    train_batches: Batches,
    valid_batches: Batches | None = None,
    loss_fn: LossFn | None = None,
    lr: float = 1e-4,
    optimizer: OptimizerFactory | None = None,
    step: Callable[[Batch], StepLoss] | None = None,
    evaluate: Callable[[Batch], float] | None = None,
    max_epochs: int = 50,
    patience: int | None = 10,
    min_delta: float = 0.0,
    seed: int = 0,
    shuffle: bool = True,
    grad_clip: float | None = None,
    num_threads: int | None = 1,
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Train ``model`` with early stopping; the one loop every torch model uses.

    Parameters
    ----------
    model
        The module to train (its weights are updated in place and end at the best epoch).
    train_batches, valid_batches
        Batches of ``(x, y)`` tensors (a sequence, or a callable ``epoch -> batches``). With
        the paper's setting one batch is one sample date's cross-section.
    loss_fn
        ``loss_fn(prediction, target) -> scalar`` for the default supervised step and
        evaluation (e.g. :func:`quantbook.models.gru.ic_loss`).
    lr
        Learning rate of the default optimizer, Adam.
    optimizer
        Factory ``params -> Optimizer`` replacing Adam(lr).
    step
        A custom training step ``batch -> loss`` that does its own updates (the GAN);
        replaces the supervised step (``loss_fn`` / ``optimizer`` are then not used for it).
        It may return named losses (``{"d": ..., "g": ...}``): the history then has a
        ``train_<name>`` column for each, and ``train_loss`` is their sum.
    evaluate
        A custom validation loss ``batch -> loss`` (default ``loss_fn(model(x), y)``).
    max_epochs
        At most this many passes over ``train_batches``.
    patience
        Stop after this many epochs without an improvement of the validation loss by more
        than ``min_delta``; None never stops early.
    min_delta
        Smallest decrease that counts as an improvement.
    seed
        Seeds Python, NumPy and torch at the start and the batch order of each epoch.
    shuffle
        Shuffle a sequence of training batches each epoch (seeded).
    grad_clip
        Clip the gradient norm to this value in the supervised step (None: no clipping).
    num_threads
        torch threads while training (see :func:`deterministic`).
    progress
        Show a tqdm bar over epochs (with the latest losses).
    desc
        The bar's label.

    Returns
    -------
    TrainResult
        Best weights, the per-epoch loss history, the best epoch and the time taken.

    Notes
    -----
    Each epoch: ``model.train()``, one step per training batch (the epoch's training loss is
    the mean of the step losses), then ``model.eval()`` and under ``torch.no_grad()`` the mean
    validation loss :math:`L^v_e`. The best epoch is :math:`\\arg\\min_e L^v_e`; training stops
    at epoch :math:`e` when :math:`L^v_{e'} > \\min_{j<e'} L^v_j - \\delta` for the last
    ``patience`` epochs :math:`e'`. Without validation batches every epoch is run and the last
    weights are kept.
    """
    from tqdm import tqdm  # a text bar on stderr (no widget dependency in notebooks)

    if step is None and loss_fn is None:
        raise ValueError("pass loss_fn (supervised step) or step (custom updates)")
    t0 = time.perf_counter()
    rows: list[dict[str, float]] = []
    best_state: dict[str, torch.Tensor] = copy.deepcopy(model.state_dict())
    best_epoch, best_loss, bad_epochs, steps = 0, math.inf, 0, 0
    stopped_early = False
    with deterministic(num_threads):
        seed_everything(seed)
        rng = np.random.default_rng(seed) if shuffle else None
        if step is None:
            assert loss_fn is not None
            opt = (optimizer or (lambda p: torch.optim.Adam(p, lr=lr)))(model.parameters())
            step = _supervised_step(model, loss_fn, opt, grad_clip)
        if evaluate is None and loss_fn is not None:
            evaluate = _supervised_eval(model, loss_fn)
        bar = tqdm(range(1, max_epochs + 1), desc=desc, disable=not progress, leave=False)
        for epoch in bar:
            e0 = time.perf_counter()
            model.train()
            parts: dict[str, list[float]] = {}
            for b in _epoch_batches(train_batches, epoch, rng):
                out = step(b)
                named = out if isinstance(out, Mapping) else {"loss": out}
                for k, v in named.items():
                    parts.setdefault(k, []).append(float(v))
                steps += 1
            means = {k: float(np.mean(v)) for k, v in parts.items()}
            train_loss = float(sum(means.values())) if means else math.nan
            valid_loss = math.nan
            if valid_batches is not None and evaluate is not None:
                model.eval()
                with torch.no_grad():
                    vl = [evaluate(b) for b in _epoch_batches(valid_batches, epoch, None)]
                valid_loss = float(np.mean(vl)) if vl else math.nan
            row = {"epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss}
            row.update({f"train_{k}": v for k, v in means.items() if k != "loss"})
            row["seconds"] = time.perf_counter() - e0
            rows.append(row)
            bar.set_postfix(train=f"{train_loss:.4f}", valid=f"{valid_loss:.4f}")
            if math.isnan(valid_loss):
                best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
                continue
            if valid_loss < best_loss - min_delta:
                best_state, best_epoch, best_loss = (
                    copy.deepcopy(model.state_dict()),
                    epoch,
                    valid_loss,
                )
                bad_epochs = 0
            else:
                bad_epochs += 1
                if patience is not None and bad_epochs >= patience:
                    stopped_early = epoch < max_epochs
                    break
        bar.close()
    model.load_state_dict(best_state)
    history = pd.DataFrame(rows).set_index("epoch")
    return TrainResult(
        best_state=best_state,
        history=history,
        best_epoch=best_epoch,
        seconds=time.perf_counter() - t0,
        stopped_early=stopped_early,
        steps=steps,
    )
