"""Small linear models retrained on a rolling window, with a cache.

Two models, in numpy (no scikit-learn): an L2-penalized logistic regression (a classifier:
"which of two assets leads next week") and ridge regression (a regressor: "next week's change
of the 10-year yield"). Features are standardized with the training window's mean and
standard deviation; the intercept is not penalized.

:func:`rolling_predict` is the walk-forward loop. The sample of row ``s`` pairs the features
known at ``s`` with the outcome over the next period :math:`(s, s+1]`, which is known only at
``s + 1``; a model used at decision row ``k`` is trained on rows ``s <= k - 1`` (at most
``window`` of them), so it never sees an outcome after the decision date. It is retrained every
``retrain_every`` rows and reused in between (a
:class:`~quantbook.models.walkforward.WalkForward` schedule; the fits are independent tasks
mapped by an :class:`~quantbook.models.executor.Executor`); trained coefficients are cached (one
JSON file per model in a :class:`~quantbook.data.cache.Cache`) under a key that hashes the
training data itself, so a cache entry is served only for identical inputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from quantbook.data.cache import Cache
from quantbook.models.executor import Executor, SerialExecutor
from quantbook.models.walkforward import WalkForward

__all__ = [
    "LinearModel",
    "RollingPredictions",
    "fit_logistic",
    "fit_ridge",
    "rolling_predict",
    "walk_forward",
]

ModelKind = Literal["logistic", "ridge"]


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear model on standardized features.

    Attributes
    ----------
    kind
        ``logistic`` (predicts a probability) or ``ridge`` (predicts a value).
    mean, scale
        Training means and standard deviations of the features.
    coef, intercept
        Coefficients on the standardized features and the intercept.
    n_obs
        Training rows.
    """

    kind: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    n_obs: int

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Linear score :math:`b_0 + \\sum_j b_j (x_j - m_j) / s_j` (missing features at the mean)."""
        Z = (np.atleast_2d(X) - self.mean) / self.scale
        Z = np.where(np.isfinite(Z), Z, 0.0)
        out: np.ndarray = self.intercept + Z @ self.coef
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probability (logistic) or value (ridge)."""
        z = self.decision(X)
        if self.kind == "logistic":
            return 1.0 / (1.0 + np.exp(-z))
        return z

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "n_obs": self.n_obs,
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> LinearModel:
        return cls(
            kind=str(d["kind"]),
            mean=np.asarray(d["mean"], dtype=float),
            scale=np.asarray(d["scale"], dtype=float),
            coef=np.asarray(d["coef"], dtype=float),
            intercept=float(d["intercept"]),  # type: ignore[arg-type]
            n_obs=int(d["n_obs"]),  # type: ignore[call-overload]
        )


def _standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.nanmean(X, axis=0)
    scale = np.nanstd(X, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    Z = (X - mean) / scale
    return np.where(np.isfinite(Z), Z, 0.0), mean, scale


def fit_ridge(X: np.ndarray, y: np.ndarray, *, l2: float = 1.0) -> LinearModel:
    """Ridge regression on standardized features.

    Parameters
    ----------
    X
        ``(n, p)`` features (NaN = at the mean).
    y
        ``(n,)`` targets.
    l2
        Penalty :math:`\\lambda` per observation.

    Returns
    -------
    LinearModel

    Notes
    -----
    :math:`\\hat b = (Z'Z + n\\lambda I)^{-1} Z'(y - \\bar y)`, :math:`b_0 = \\bar y`, with
    :math:`Z` the standardized features.

    Examples
    --------
    >>> X = np.arange(10.0)[:, None]
    >>> m = fit_ridge(X, 2 * X[:, 0] + 1, l2=0.0)
    >>> round(float(m.predict(np.array([[20.0]]))[0]), 6)
    41.0
    """
    Z, mean, scale = _standardize(np.asarray(X, dtype=float))
    y = np.asarray(y, dtype=float)
    n, p = Z.shape
    ybar = float(y.mean())
    A = Z.T @ Z + n * l2 * np.eye(p)
    coef = np.linalg.solve(A, Z.T @ (y - ybar)) if p else np.zeros(0)
    return LinearModel("ridge", mean, scale, coef, ybar, n)


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
    fit_intercept: bool = True,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> LinearModel:
    """L2-penalized logistic regression by Newton's method (IRLS).

    Parameters
    ----------
    X
        ``(n, p)`` features (NaN = at the mean).
    y
        ``(n,)`` labels in {0, 1}.
    l2
        Penalty :math:`\\lambda` per observation on the standardized coefficients.
    sample_weight
        Optional non-negative weights :math:`v_i` (normalized to mean 1), e.g. the size of the
        outcome, so that a wrong call on a large move costs more than one on a small move.
    fit_intercept
        Estimate the intercept (the training window's base rate); False fixes it at 0, so
        that only the features move the probability away from 1/2.

    Returns
    -------
    LinearModel

    Notes
    -----
    Maximizes :math:`\\sum_i v_i [y_i z_i - \\ln(1 + e^{z_i})] - \\tfrac{n\\lambda}{2} \\|b\\|^2`,
    :math:`z_i = b_0 + Z_i b`; Newton steps
    :math:`\\Delta = (\\tilde Z' S \\tilde Z + n\\lambda P)^{-1} (\\tilde Z'(y - \\pi) - n\\lambda P b)`
    with :math:`S = \\mathrm{diag}(v \\pi(1-\\pi))`, :math:`P` the identity without the
    intercept (gradient terms weighted by :math:`v` likewise).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000)
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-2 * x))).astype(float)
    >>> m = fit_logistic(x[:, None], y, l2=0.0)
    >>> bool(1.8 < m.coef[0] * 1.0 / m.scale[0] < 2.2)
    True
    """
    Z, mean, scale = _standardize(np.asarray(X, dtype=float))
    y = np.asarray(y, dtype=float)
    n, p = Z.shape
    v = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    v = v / v.mean() if v.sum() > 0 else np.ones(n)
    Zt = np.column_stack([np.ones(n), Z])
    P = np.eye(p + 1)
    P[0, 0] = 0.0
    b = np.zeros(p + 1)
    if fit_intercept:
        ybar = float(np.clip(np.average(y, weights=v), 1e-3, 1 - 1e-3))
        b[0] = np.log(ybar / (1 - ybar))
    else:
        P[0, 0] = 1e12  # pins the intercept at 0
    for _ in range(max_iter):
        z = Zt @ b
        pi = 1.0 / (1.0 + np.exp(-z))
        grad = Zt.T @ (v * (y - pi)) - n * l2 * (P @ b)
        H = (Zt * (v * pi * (1 - pi))[:, None]).T @ Zt + n * l2 * P + 1e-9 * np.eye(p + 1)
        step = np.linalg.solve(H, grad)
        b = b + step
        if np.max(np.abs(step)) < tol:
            break
    return LinearModel("logistic", mean, scale, b[1:], float(b[0]), n)


# -- cache ---------------------------------------------------------------------------------------
def _read_model(cache: Cache, key: str) -> LinearModel | None:
    """The model cached under the entry ``{"model": key}``, or None."""
    return cache.read(
        {"model": key},
        "json",
        lambda p: LinearModel.from_json(json.loads(p.read_text())),
        errors=(ValueError, KeyError, TypeError),
    )


def _write_model(cache: Cache, key: str, model: LinearModel) -> None:
    cache.write(
        {"model": key}, "json", lambda p: p.write_text(json.dumps(model.to_json(), sort_keys=True))
    )


def _data_key(date: pd.Timestamp, X: np.ndarray, y: np.ndarray, params: str) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    h.update(params.encode())
    return f"{date:%Y-%m-%d}-{h.hexdigest()[:16]}"


def walk_forward(*, window: int, min_train: int, retrain_every: int) -> WalkForward:
    """The schedule of :func:`rolling_predict`: refit every ``retrain_every`` rows (a row whose
    window holds fewer than ``min_train`` complete rows is skipped and the next one tried), on
    the latest ``window`` rows whose outcome is known (each row's outcome one row later)."""
    return WalkForward(every=retrain_every, window=window, min_train=min_train, horizon=1)


@dataclass(frozen=True)
class _LinearTask:
    kind: ModelKind
    X: np.ndarray
    y: np.ndarray
    v: np.ndarray
    l2: float
    fit_intercept: bool


def _fit_linear(task: _LinearTask) -> LinearModel:
    """One fit of :func:`rolling_predict` (a top-level function for an executor)."""
    if task.kind == "logistic":
        return fit_logistic(
            task.X, task.y, l2=task.l2, sample_weight=task.v, fit_intercept=task.fit_intercept
        )
    return fit_ridge(task.X, task.y, l2=task.l2)


@dataclass(frozen=True)
class RollingPredictions:
    """Walk-forward predictions.

    Attributes
    ----------
    prediction
        Prediction at each decision row (NaN before enough training data).
    trained_on
        For each row, the last row of the training window of the model used (NaT if none).
    n_train
        Training rows of the model used.
    models
        ``{training date: LinearModel}`` of every model trained or read from the cache.
    """

    prediction: pd.Series
    trained_on: pd.Series
    n_train: pd.Series
    models: dict[pd.Timestamp, LinearModel]


def rolling_predict(
    features: pd.DataFrame,
    target: pd.Series,
    *,
    kind: ModelKind,
    window: int = 156,
    min_train: int = 52,
    retrain_every: int = 4,
    l2: float = 1.0,
    sample_weight: pd.Series | None = None,
    fit_intercept: bool = True,
    cache: Cache | None = None,
    executor: Executor | None = None,
) -> RollingPredictions:
    """Walk-forward fit and predict on a rolling window.

    Parameters
    ----------
    features
        ``decision date x feature``, known at each date.
    target
        Outcome over the period after each date (row ``s``: the outcome over
        :math:`(s, s+1]`), NaN where unknown; ``{0, 1}`` for ``logistic``.
    kind
        ``logistic`` or ``ridge``.
    window
        Training rows (most recent ``window`` rows whose outcome is known).
    min_train
        Fewest complete training rows needed before the first prediction.
    retrain_every
        Retrain every this many rows (the model is reused in between).
    l2
        Penalty (see :func:`fit_logistic`, :func:`fit_ridge`).
    sample_weight
        Optional weight of each row's sample (logistic only), known with its outcome.
    fit_intercept
        See :func:`fit_logistic` (logistic only).
    cache
        The strategy's model cache (:meth:`~quantbook.strategies.base.Strategy.model_cache`;
        None: no caching).
    executor
        Maps the fits not found in the cache (default:
        :class:`~quantbook.models.executor.SerialExecutor`).

    Returns
    -------
    RollingPredictions
    """
    X = features.to_numpy(dtype=float)
    y = target.reindex(features.index).to_numpy(dtype=float)
    v = (
        np.ones(len(y))
        if sample_weight is None
        else sample_weight.reindex(features.index).to_numpy(dtype=float)
    )
    idx = pd.DatetimeIndex(features.index)
    n = len(idx)
    pred = np.full(n, np.nan)
    trained = pd.Series(pd.NaT, index=features.index, dtype="datetime64[ns]")
    ntrain = np.zeros(n, dtype=int)
    models: dict[pd.Timestamp, LinearModel] = {}
    params = f"{kind}|{window}|{l2}|{min_train}|{fit_intercept}"
    complete = np.isfinite(y) & np.isfinite(v) & np.isfinite(X).any(axis=1)
    # row s's outcome is known at row s + 1 (horizon 1); incomplete rows are not trained on
    rule = walk_forward(window=window, min_train=min_train, retrain_every=retrain_every)
    fits = rule.schedule(samples=idx, predict=idx, usable=complete).fits
    tasks = []
    for fit in fits:
        rows = idx.get_indexer(fit.train)
        tasks.append(_LinearTask(kind, X[rows], y[rows], v[rows], l2, fit_intercept))
    keys = [
        _data_key(fit.date, t.X, np.concatenate([t.y, t.v]), params)
        for fit, t in zip(fits, tasks, strict=True)
    ]
    found = [_read_model(cache, key) if cache is not None else None for key in keys]
    todo = [i for i, m in enumerate(found) if m is None]
    for i, m in zip(
        todo, (executor or SerialExecutor()).map(_fit_linear, [tasks[i] for i in todo]), strict=True
    ):
        found[i] = m
        if cache is not None:
            _write_model(cache, keys[i], m)
    for fit, maybe in zip(fits, found, strict=True):
        assert maybe is not None
        model = maybe
        models[fit.date] = model
        for k in map(int, idx.get_indexer(fit.predict)):  # one step per prediction row (small)
            if np.isfinite(X[k]).any():
                pred[k] = float(model.predict(X[k : k + 1])[0])
                trained.iloc[k] = fit.date
                ntrain[k] = model.n_obs
    return RollingPredictions(
        prediction=pd.Series(pred, index=features.index, name="prediction"),
        trained_on=trained,
        n_train=pd.Series(ntrain, index=features.index, name="n_train"),
        models=models,
    )
