"""mHC-MLP versus the residual MLP on the Barra ML factor (SPEC §4): the study's sections.

- :func:`prepare`: the pipeline (:func:`quantbook.models.barra_ml.run_barra_ml`) up to
  ``as_of`` with the notebook's parameters;
- :func:`inputs_table`, :func:`inputs_note`: the styles used and those the store does not
  allow (a real sample without statements has the price-based styles only), with the reason;
- :func:`comparison`: both models side by side (IC, rank IC, ICIR, pure factor return and its
  t-statistic, turnover of the top quintile, maximum drawdown), per combination method,
  columns keyed by :data:`quantbook.evaluation.STATISTICS` (:func:`show_comparison` labels
  them for display);
- :func:`per_window`: the same IC statistics for each training window's own prediction
  (:func:`show_per_window`);
- :func:`cumulative_pure`: cumulative pure factor return of each model;
- stability: :func:`h_res_sums` (row / column sums of H_res; :func:`show_h_res_sums` prints
  the errors as bounds), :func:`dispersion` (how much
  the windows' and consecutive retrainings' predictions disagree), :func:`noise_sensitivity`
  (correlation of the prediction with itself under injected Gaussian noise and fat-tailed
  outliers), :func:`training_curves`;
- :func:`conclusion`: a short text generated from the numbers (naming the unavailable styles,
  if any).

IC here is the cross-sectional correlation of the factor at month-end ``t`` with the residual
return of the risk model over ``(t, t+1]`` (what the models are trained to predict).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from quantbook.data.store import Store
from quantbook.evaluation import (
    DegenerateCrossSectionWarning,
    TooFewStocksWarning,
    evaluate_factor,
    max_drawdown,
    mean_t_stat,
)
from quantbook.models.barra_ml import BarraMLConfig, BarraMLResult, run_barra_ml
from quantbook.models.mhc import MHCMLP
from quantbook.reports import Metrics
from quantbook.reports.contract import check_as_of
from quantbook.risk.styles import StyleDataWarning
from quantbook.tables import Table, statistics_table

__all__ = [
    "MHC_MLP_LABELS",
    "MhcVsMlpReport",
    "comparison",
    "conclusion",
    "cumulative_pure",
    "dispersion",
    "h_res_sums",
    "inputs_note",
    "inputs_table",
    "noise_sensitivity",
    "per_window",
    "plot_cumulative_pure",
    "plot_training_curves",
    "prepare",
    "record_comparison",
    "show_comparison",
    "show_h_res_sums",
    "show_per_window",
    "training_curves",
]

#: numpy's warnings for an all-NaN slice of nanmean / nanstd (the answer is NaN).
_ALL_NAN = r"Mean of empty slice|Degrees of freedom <= 0 for slice"

REPORT = "mhc_vs_mlp"

MHC_MLP_LABELS = {"mlp": "MLP", "mhc": "mHC-MLP"}


@dataclass(frozen=True)
class MhcVsMlpReport:
    """The study's prepared state: the pipeline's result and the span it covers.

    Attributes
    ----------
    result
        :class:`~quantbook.models.barra_ml.BarraMLResult` of both models.
    as_of
        The last month-end of the risk model's residuals (the last formation date).
    sample_start
        First day of the data read (the store's first day).
    """

    result: BarraMLResult
    as_of: pd.Timestamp
    sample_start: pd.Timestamp


def _windows(windows: str | Sequence[int]) -> tuple[int, ...]:
    if isinstance(windows, str):
        return tuple(int(w) for w in windows.replace(" ", "").split(",") if w)
    return tuple(int(w) for w in windows)


def prepare(
    store: Store,
    *,
    as_of: str | pd.Timestamp,
    start: str | pd.Timestamp | None = None,
    windows: str | Sequence[int] = "24,36,72",
    width: int = 32,
    depth: int = 6,
    streams: int = 4,
    max_epochs: int = 15,
    retrain_every: int = 12,
    processes: int | None = None,
    seed: int = 0,
) -> MhcVsMlpReport:
    """Run the pipeline on ``store`` up to ``as_of`` (windows as ``"24,36,72"`` or a list).

    ``as_of`` is a month-end (another day raises
    :class:`~quantbook.reports.contract.AsOfPolicyError`; the runner resolves dates).

    ``start`` is the first period end of the risk model (default: the store's second one;
    give it for a store whose bars cover only part of its span, e.g. a real sample whose
    index data reach further back). Windows longer than the store's history are left out (no
    prediction month remains).
    """
    day = check_as_of(store, as_of, report=REPORT)
    cfg = BarraMLConfig(
        windows=_windows(windows),
        width=width,
        depth=depth,
        streams=streams,
        max_epochs=max_epochs,
        retrain_every=retrain_every,
        seed=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StyleDataWarning)  # the inputs table lists them
        res = run_barra_ml(
            store, config=cfg, start=start, end=day, processes=processes, progress=False
        )
    return MhcVsMlpReport(
        result=res, as_of=pd.Timestamp(res.risk.residuals.index[-1]), sample_start=store.start
    )


def record_comparison(table: pd.DataFrame, *, metrics: Metrics) -> None:
    """Record :func:`comparison` into ``metrics``: whole columns and one key per cell.

    Notes
    -----
    ``comparison.<column>``: the column as a list (index columns included);
    ``comparison.<model>.<combination>.<stat>``: one number, with ``model`` a key of
    :data:`MHC_MLP_LABELS` and ``stat`` the column's statistics-vocabulary key
    (``comparison.mhc.equal.rank_ic_mean``).
    """
    metrics.update({"comparison": table.round(6).reset_index().to_dict(orient="list")})
    keys = {label: key for key, label in MHC_MLP_LABELS.items()}
    records = table.to_dict(orient="records")
    for (model, combination), row in zip(table.index.tolist(), records, strict=True):
        for col, value in row.items():
            metrics.record(f"comparison.{keys[str(model)]}.{combination}.{col}", value)


def inputs_table(res: BarraMLResult) -> pd.DataFrame:
    """The inputs: styles used and unavailable (with the reason), and the windows trained."""
    from quantbook.risk import STYLE_NAMES

    rows = [{"item": f"style {s}", "status": "used"} for s in res.styles]
    rows += [
        {"item": f"style {s}", "status": f"unavailable: {r}"} for s, r in res.missing_styles.items()
    ]
    n = len(res.risk.residuals)
    for w in res.config.windows:
        trained = any(k[1] == w for k in res.states)
        status = "trained" if trained else f"left out: longer than the {n} months of history"
        rows.append({"item": f"window {w} months", "status": status})
    if set(res.styles) | set(res.missing_styles) != set(STYLE_NAMES):
        rows.append({"item": "styles", "status": "differ from the 15 of SPEC §1"})
    return pd.DataFrame(rows).set_index("item")


def _unavailable_text(missing: dict[str, str]) -> str:
    """``"a, b (reason); c (other reason)"``: the styles grouped by their reason."""
    by_reason: dict[str, list[str]] = {}
    for s, r in missing.items():
        by_reason.setdefault(r, []).append(s)
    return "; ".join(f"{', '.join(ss)} ({r})" for r, ss in by_reason.items())


def inputs_note(res: BarraMLResult) -> str:
    """A Markdown sentence on the inputs: the styles used and those unavailable, with why.

    On a real sample without statements, for instance: "Inputs: 7 of the 15 styles of SPEC
    §1 (size, ...). Unavailable in this store and left out of both models: book_to_price,
    ... (needs point-in-time fundamentals: ...)."
    """
    from quantbook.risk import STYLE_NAMES

    used = f"Inputs: {len(res.styles)} of the {len(STYLE_NAMES)} styles of SPEC §1 ("
    used += ", ".join(res.styles) + ")."
    if not res.missing_styles:
        return used + " No style is unavailable."
    return (
        f"{used} Unavailable in this store and left out of both models: "
        f"{_unavailable_text(res.missing_styles)}."
    )


#: The IC statistics of :func:`comparison` and :func:`per_window` (vocabulary keys).
_IC_KEYS: tuple[str, ...] = ("n_periods", "ic_mean", "ic_t", "rank_ic_mean", "icir")


def _evaluate(fac: pd.DataFrame, fwd: pd.DataFrame) -> pd.Series:
    """The factor's evaluation statistics against the residual return (IC on 10+ stocks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewStocksWarning)
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        return evaluate_factor(fac, fwd, min_stocks=10).statistics()


def comparison(res: BarraMLResult) -> pd.DataFrame:
    """Both models, both combinations: IC statistics, pure factor return, turnover, drawdown.

    Returns
    -------
    DataFrame
        Index ``(model, combination)``; columns (keys of
        :data:`quantbook.evaluation.STATISTICS`) ``n_periods``, ``ic_mean``, ``ic_t``
        (t-statistic of the mean IC), ``rank_ic_mean``, ``icir`` (monthly, not annualized),
        ``pure_cum_return`` (compounded pure factor return), ``pure_t`` (t-statistic of its
        mean), ``top_turnover`` (mean monthly one-side turnover of the factor's top quintile
        among the stocks with a residual return), ``pure_max_drawdown`` (of the pure factor
        return's NAV). ``attrs["unavailable_styles"]`` holds the styles the store does not
        allow, with the reason (:func:`conclusion` names them).
    """
    rows = {}
    for m in res.factor:
        for method, fac in res.factor[m].items():
            st = _evaluate(fac, res.forward_residual)
            row: dict[str, float] = {k: float(st[k]) for k in _IC_KEYS}
            f = res.pure[m][method]["f"].dropna()
            row["pure_cum_return"] = float(np.prod(1 + f.to_numpy(float)) - 1) if len(f) else np.nan
            row["pure_t"] = mean_t_stat(f)
            row["top_turnover"] = float(st["top_turnover"])
            row["pure_max_drawdown"] = float(max_drawdown(f).depth) if len(f) else np.nan
            rows[(MHC_MLP_LABELS[m], method)] = row
    out = pd.DataFrame(rows).T
    out.index.names = ["model", "combination"]
    out.attrs["unavailable_styles"] = dict(res.missing_styles)
    return out


def per_window(res: BarraMLResult) -> pd.DataFrame:
    """IC statistics of each window's own (z-scored, not orthogonalized) prediction."""
    rows = {}
    for m, per_w in res.predictions.items():
        for w, p in sorted(per_w.items()):
            st = _evaluate(p, res.forward_residual)
            rows[(MHC_MLP_LABELS[m], w)] = {k: float(st[k]) for k in _IC_KEYS}
    out = pd.DataFrame(rows).T
    out.index.names = ["model", "window"]
    return out


def _show(frame: pd.DataFrame, *, title: str, note: str = "") -> Table:
    """A table of vocabulary-keyed columns, labelled and formatted by the vocabulary."""
    return statistics_table(frame, title=title, note=note)


def show_comparison(frame: pd.DataFrame) -> Table:
    """:func:`comparison` for display: the vocabulary's labels and number formats."""
    return _show(
        frame,
        title="mHC-MLP versus MLP: IC of the combined factor and its pure factor return",
        note=(
            "IC: correlation of the factor at month-end t with the risk model's residual "
            "return over (t, t+1] (months with at least 10 stocks); ICIR monthly, not "
            "annualized. Turnover: mean monthly one-side turnover of the top quintile."
        ),
    )


def show_per_window(frame: pd.DataFrame) -> Table:
    """:func:`per_window` for display: the vocabulary's labels and number formats."""
    return _show(frame, title="IC of each training window's own prediction")


def cumulative_pure(res: BarraMLResult, *, method: str = "equal") -> pd.DataFrame:
    """Compounded pure factor return of each model (``date x model``)."""
    return pd.DataFrame(
        {MHC_MLP_LABELS[m]: (1 + res.pure[m][method]["f"]).cumprod() - 1 for m in res.pure}
    )


def plot_cumulative_pure(res: BarraMLResult) -> Figure:
    """Cumulative pure factor return, both models, both combinations."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot()
    for method, style in (("equal", "-"), ("ic", "--")):
        cum = cumulative_pure(res, method=method)
        for c in cum:
            ax.plot(cum.index, cum[c], style, label=f"{c} ({method})")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("cumulative pure return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _latest(res: BarraMLResult, model: str, window: int) -> pd.Timestamp:
    months = [k[2] for k in res.states if k[0] == model and k[1] == window]
    return max(months)


def h_res_sums(res: BarraMLResult) -> pd.DataFrame:
    """Row and column sums of H_res of the latest mHC model of each window, per layer.

    Evaluated on the inputs of the last month; columns: the largest deviation of a row sum and
    of a column sum from 1 over the stocks, the mean diagonal (1 = no mixing, 1/n = uniform).
    """
    rows = []
    for w in sorted(res.predictions.get("mhc", {})):
        month = _latest(res, "mhc", w)
        model = res.model("mhc", w, month)
        assert isinstance(model, MHCMLP)
        x = torch.tensor(
            res.inputs(res.factor["mhc"]["equal"].index[-1]).to_numpy(), dtype=torch.float32
        )
        h = model.h_res(x)  # (L, B, n, n)
        for layer in range(h.shape[0]):
            hl = h[layer]
            rows.append(
                {
                    "window": w,
                    "layer": layer + 1,
                    "max |row sum - 1|": float((hl.sum(-1) - 1).abs().max()),
                    "max |col sum - 1|": float((hl.sum(-2) - 1).abs().max()),
                    "mean diagonal": float(torch.diagonal(hl, dim1=-2, dim2=-1).mean()),
                }
            )
    return pd.DataFrame(rows).set_index(["window", "layer"])


#: Sum errors of H_res below this are printed as a bound, not as digits (float32 rounding).
SUM_ERROR_BOUND = 1e-6


def _bound_or_digits(value: float, bound: float) -> str:
    """``"< 1e-6"`` for a value under ``bound``, else the value in scientific notation."""
    if value < bound:
        mantissa, exponent = f"{bound:.0e}".split("e")
        return f"< {mantissa}e{int(exponent)}"
    return f"{value:.1e}"


def show_h_res_sums(frame: pd.DataFrame, *, bound: float = SUM_ERROR_BOUND) -> pd.DataFrame:
    """:func:`h_res_sums` for display: sum errors under ``bound`` as ``"< 1e-6"``.

    Notes
    -----
    The Sinkhorn iterations run in float32 (SPEC §4), whose unit roundoff is
    :math:`2^{-24} \approx 6 \times 10^{-8}`: a row or column sum of four entries is exact up
    to a few of those, and which multiple comes out depends on the CPU's instruction set (the
    order of the additions), not on the model. Below ``bound`` the digits carry no
    information, so only the bound is shown; a larger error (a projection that did not
    converge) is printed as a number.
    """
    out = frame.copy().astype(object)
    for col in ("max |row sum - 1|", "max |col sum - 1|"):
        out[col] = [_bound_or_digits(float(v), bound) for v in frame[col]]
    out["mean diagonal"] = [f"{float(v):.4f}" for v in frame["mean diagonal"]]
    return out


def dispersion(res: BarraMLResult) -> pd.DataFrame:
    """How much predictions disagree: across windows and across consecutive retrainings.

    Columns: ``across windows`` (mean over months and stocks of the standard deviation of the
    windows' z-scored predictions; months with at least two windows) and ``retrain corr``
    (mean correlation of a model's prediction with the previous retraining's model on the same
    month's inputs, same window).
    """
    out = {}
    for m, per_w in res.predictions.items():
        zs = [
            p.sub(p.mean(axis=1), axis=0).div(p.std(axis=1), axis=0)
            for _, p in sorted(per_w.items())
        ]
        across = np.nan
        if len(zs) > 1:
            stack = np.stack([z.to_numpy(float) for z in zs])
            both = np.isfinite(stack).sum(0) >= 2
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", _ALL_NAN, RuntimeWarning)
                sd = np.nanstd(stack, axis=0)
            across = float(sd[both].mean()) if both.any() else np.nan
        corrs = []
        for w in per_w:
            months = sorted(k[2] for k in res.states if k[0] == m and k[1] == w)
            for prev, cur in zip(months[:-1], months[1:], strict=True):
                x = torch.tensor(res.inputs(cur).to_numpy(), dtype=torch.float32)
                with torch.no_grad():
                    a = res.model(m, w, prev)(x).numpy()  # type: ignore[arg-type]
                    b = res.model(m, w, cur)(x).numpy()  # type: ignore[arg-type]
                corrs.append(float(np.corrcoef(a, b)[0, 1]))
        out[MHC_MLP_LABELS[m]] = {
            "across windows (std of z)": across,
            "retrain corr": float(np.mean(corrs)) if corrs else np.nan,
            "retrain pairs": float(len(corrs)),
        }
    return pd.DataFrame(out).T


def noise_sensitivity(
    res: BarraMLResult,
    *,
    noise: Sequence[float] = (0.1, 0.5),
    outlier_share: float = 0.02,
    outlier_scale: float = 10.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Correlation of each latest model's prediction with itself on perturbed inputs.

    On the last month's inputs ``X``: ``noise s`` adds Gaussian noise of standard deviation
    ``s`` to every exposure; ``outliers`` multiplies a random ``outlier_share`` of the entries
    by ``outlier_scale`` times a Student-t(2) draw (fat tails, inputs not clipped). Rows: model
    and window; 1 = unaffected.
    """
    rng = np.random.default_rng(seed)
    month = res.factor[next(iter(res.factor))]["equal"].index[-1]
    x0 = res.inputs(month).to_numpy(float)
    perturbed = {f"noise {s}": x0 + s * rng.standard_normal(x0.shape) for s in noise}
    mask = rng.random(x0.shape) < outlier_share
    perturbed["outliers"] = np.where(
        mask, x0 * outlier_scale * np.abs(rng.standard_t(2, x0.shape)), x0
    )
    rows = {}
    for m in res.predictions:
        for w in sorted(res.predictions[m]):
            model = res.model(m, w, _latest(res, m, w))  # type: ignore[arg-type]
            with torch.no_grad():
                base = model(torch.tensor(x0, dtype=torch.float32)).numpy()
                rows[(MHC_MLP_LABELS[m], w)] = {
                    k: float(
                        np.corrcoef(base, model(torch.tensor(v, dtype=torch.float32)).numpy())[0, 1]
                    )
                    for k, v in perturbed.items()
                }
    out = pd.DataFrame(rows).T
    out.index.names = ["model", "window"]
    return out


def training_curves(res: BarraMLResult) -> pd.DataFrame:
    """Validation loss per epoch of the latest training of each model and window (long)."""
    parts = []
    for m in res.predictions:
        for w in sorted(res.predictions[m]):
            h = res.histories[(m, w, _latest(res, m, w))]
            parts.append(h[["train_loss", "valid_loss"]].assign(model=MHC_MLP_LABELS[m], window=w))
    return pd.concat(parts).reset_index()


def plot_training_curves(res: BarraMLResult) -> Figure:
    """Training and validation loss curves of the latest trainings."""
    curves = training_curves(res)
    fig = Figure(figsize=(8, 3.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, ("train_loss", "valid_loss"), strict=True):
        for (m, w), g in curves.groupby(["model", "window"]):
            ax.plot(g["epoch"], g[kind], "-" if m == "MLP" else "--", label=f"{m} W={w}")
        ax.set_title(kind.replace("_", " "))
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("MSE (standardized target)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def conclusion(table: pd.DataFrame, *, method: str = "equal") -> str:
    """A short Markdown conclusion from :func:`comparison`'s table."""
    t = table.xs(method, level="combination")
    mlp, mhc = t.loc["MLP"], t.loc["mHC-MLP"]
    lines = []
    for name, row in (("MLP", mlp), ("mHC-MLP", mhc)):
        r: dict[str, float] = {str(k): float(v) for k, v in row.to_dict().items()}
        verdict = "positive" if r["ic_mean"] > 0 and r["ic_t"] > 2 else "not significant"
        lines.append(
            f"- {name}: IC {r['ic_mean']:+.3f} (t = {r['ic_t']:.1f}, {r['n_periods']:.0f} "
            f"months, {verdict}), rank IC {r['rank_ic_mean']:+.3f}, ICIR {r['icir']:.2f}; "
            f"cumulative pure return {r['pure_cum_return']:+.1%} (t = {r['pure_t']:.1f}), "
            f"top-quintile turnover {r['top_turnover']:.0%}, maximum drawdown "
            f"{r['pure_max_drawdown']:.1%}."
        )
    better_ic = "mHC-MLP" if mhc["ic_mean"] > mlp["ic_mean"] else "MLP"
    lower_to = "mHC-MLP" if mhc["top_turnover"] < mlp["top_turnover"] else "MLP"
    lower_dd = "mHC-MLP" if mhc["pure_max_drawdown"] < mlp["pure_max_drawdown"] else "MLP"
    lines.append(
        f"- The {better_ic} has the higher IC; the {lower_to} has the lower turnover and the "
        f"{lower_dd} the smaller drawdown (published direction: mHC lower return, lower "
        f"turnover and drawdown)."
    )
    missing = table.attrs.get("unavailable_styles")
    if missing:
        lines.append(
            f"- Styles unavailable in this store, left out of both models' inputs and of the "
            f"orthogonalization: {_unavailable_text(missing)}."
        )
    return "\n".join(lines)
