"""GAN_GRU factor, monthly (SPEC §3): the factor's record up to an as-of month-end.

Sections (each returns a frame; ``show_*`` wrap a frame for display, ``plot_*`` draw one):

- :func:`prepare`: the factor of both models (:func:`quantbook.factors.gan_gru.gan_gru_factor`),
  month-end to month-end forward returns up to ``as_of``, tradability and industries;
- :func:`statistics`: IC mean, ICIR (not annualized), rank IC, top-group turnover,
  annualized return, volatility, IR, maximum drawdown and annualized excess return of the top
  group over the equal-weighted universe, for each model (the SPEC's statistics table), from
  :func:`quantbook.evaluation.evaluate_factor` and keyed by its vocabulary;
- :func:`recent_ic`: the latest month's IC and the 1-year mean IC;
- :func:`ic_frame`: the monthly IC series with its 12-month mean (the IC chart);
- :func:`industry_ic`, :func:`industry_excess`: per-industry IC and top-group excess return,
  latest month and 1-year mean;
- :func:`top_stocks`: the stocks with the highest factor value in each industry on ``as_of``;
- :func:`training_table`: the retraining dates, windows, epochs, validation IC and time.

Conventions: the factor at month-end *t* is paired with the return from the close of *t* to
the close of the next month-end on adjusted prices; stocks that cannot be bought at *t*
(suspended, or closing at the upper limit) are left out of that month. The "latest month" is
the last month whose return is known on ``as_of`` (the factor of the previous month-end).
The top group is the highest quintile of the factor; its excess return is over the
equal-weighted mean of every stock with a factor value and a return that month.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from quantbook import plotting
from quantbook.data.panel import load_daily_panel
from quantbook.data.store import Store
from quantbook.data.vocabulary import SW_L1
from quantbook.evaluation import (
    DegenerateCrossSectionWarning,
    FactorEvaluation,
    MissingPeriodsWarning,
    TooFewStocksWarning,
    compare,
    evaluate_factor,
    forward_returns,
    statistic_formats,
    statistic_labels,
)
from quantbook.factors.gan_gru import KINDS, GanGruResult, Kind, gan_gru_factor
from quantbook.reports import Metrics
from quantbook.reports.contract import check_as_of
from quantbook.tables import Table, statistics_table, table

__all__ = [
    "MODEL_LABELS",
    "GanGruMonthlyReport",
    "ic_frame",
    "industry_excess",
    "industry_ic",
    "plot_ic",
    "plot_top_excess",
    "plot_training",
    "prepare",
    "recent_ic",
    "show_gan_gru_vs_gru",
    "show_config",
    "show_industry",
    "show_statistics",
    "show_top_stocks",
    "show_training",
    "statistics",
    "top_stocks",
    "training_table",
]

REPORT = "gan_gru_monthly"
#: Display names of the two models.
MODEL_LABELS: dict[str, str] = {"gan_gru": "GAN_GRU", "gru": "plain GRU"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the evaluation's warnings about small industries and groups (NaN is the answer).

    Those are :class:`TooFewStocksWarning`, :class:`DegenerateCrossSectionWarning` and, for
    the returns of a group that is empty in some months, :class:`MissingPeriodsWarning`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TooFewStocksWarning)
        warnings.simplefilter("ignore", DegenerateCrossSectionWarning)
        warnings.simplefilter("ignore", MissingPeriodsWarning)
        yield


@dataclass
class GanGruMonthlyReport:
    """What the report computes on for one as-of month-end (nothing after ``as_of``).

    Attributes
    ----------
    store, as_of, preset
        The inputs.
    result
        The factor of each model and its training record.
    factor
        ``{kind: month-end x code}`` neutralized factor (the month-ends predicted).
    forward
        ``month-end x code`` return to the next month-end (NaN on the last one).
    tradable
        ``month-end x code``: not suspended and not closing at the upper limit.
    industry
        ``month-end x code`` SW level-1 industry codes in force.
    names
        Short name of each stock.
    evaluations
        The factor evaluations computed so far, by ``(kind, quantiles, group_min_stocks)``
        (see :meth:`evaluation`).
    """

    store: Store
    as_of: pd.Timestamp
    preset: str
    result: GanGruResult
    factor: dict[str, pd.DataFrame]
    forward: pd.DataFrame
    tradable: pd.DataFrame
    industry: pd.DataFrame
    names: pd.Series
    evaluations: dict[tuple[str, int, int], FactorEvaluation] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def months(self) -> pd.DatetimeIndex:
        """Month-ends with a factor value."""
        return pd.DatetimeIndex(self.forward.index)

    @property
    def sample_start(self) -> pd.Timestamp:
        """First day of data the windows read (the first window's start)."""
        return pd.Timestamp(self.store.start)

    def period_note(self, kind: str = "gan_gru") -> str:
        ic = self.ic(kind).dropna()
        if ic.empty:
            return "No month with a factor value and a known return yet."
        return (
            f"Factor months {ic.index[0]:%Y-%m} to {ic.index[-1]:%Y-%m} ({len(ic)} monthly "
            f"periods with a known next-month return); as of {self.as_of:%Y-%m-%d}."
        )

    def evaluation(
        self, kind: str = "gan_gru", *, n_groups: int = 5, group_min_stocks: int = 5
    ) -> FactorEvaluation:
        """The evaluation of ``kind`` (IC on at least 10 tradable stocks, quantile groups,
        the top group against the equal-weighted universe, per industry), computed once."""
        key = (kind, n_groups, group_min_stocks)
        if key not in self.evaluations:
            with _quiet():
                self.evaluations[key] = evaluate_factor(
                    self.factor[kind],
                    self.forward,
                    quantiles=n_groups,
                    tradable=self.tradable,
                    groups=self.industry,
                    min_stocks=10,
                    group_min_stocks=group_min_stocks,
                )
        return self.evaluations[key]

    def ic(self, kind: str = "gan_gru") -> pd.Series:
        """Monthly IC of ``kind`` (labelled by the formation month-end)."""
        return self.evaluation(kind).ic


def prepare(
    store: Store,
    *,
    as_of: str | pd.Timestamp,
    preset: str = "fast",
    start: str | pd.Timestamp | None = None,
    kinds: Sequence[Kind] = KINDS,
    progress: bool = False,
) -> GanGruMonthlyReport:
    """Train or load the models, predict every month-end up to ``as_of``, read returns.

    Parameters
    ----------
    store
        An open store.
    as_of
        The as-of month-end (another day raises
        :class:`~quantbook.reports.contract.AsOfPolicyError`; the runner resolves dates).
    preset
        ``paper``, ``fast`` or ``smoke`` (:data:`quantbook.factors.gan_gru.GAN_GRU_PRESETS`).
    start
        First month-end of the factor history (None: the first with a model).
    kinds
        Models to run (both by default: GAN_GRU and the plain GRU).
    progress
        tqdm bars while training.
    """
    as_of = check_as_of(store, as_of, report=REPORT)
    res = gan_gru_factor(
        store, as_of=as_of, preset=preset, start=start, kinds=kinds, progress=progress
    )
    months = pd.DatetimeIndex(sorted(set().union(*[f.index for f in res.factor.values()])))
    panel = load_daily_panel(
        store, end=as_of, fields=["close", "adj_factor", "is_suspended", "limit_up"]
    )
    codes = res.windows.codes
    adj = panel.wide(panel.adj_close, codes=codes)
    fwd = forward_returns(adj, months) if len(months) else adj.iloc[:0]
    rows = panel.rows(months)
    ok = panel.trading[rows] & ~panel.limit_up_close[rows]
    tradable = panel.wide(ok, rows=rows, codes=codes).fillna(False).astype(bool)
    industry = panel.wide(panel.spell("industry", rows).labels(), rows=rows, codes=codes)
    names = store.read("instruments").set_index("code")["name"].reindex(codes)
    return GanGruMonthlyReport(
        store=store,
        as_of=as_of,
        preset=str(preset),
        result=res,
        factor={k: f.reindex(index=months) for k, f in res.factor.items()},
        forward=fwd.reindex(index=months, columns=codes),
        tradable=tradable,
        industry=industry,
        names=names,
    )


#: The rows of the statistics table (vocabulary keys).
_STATISTIC_KEYS: tuple[str, ...] = (
    "ic_mean",
    "icir",
    "rank_ic_mean",
    "ic_positive",
    "top_turnover",
    "top_annual_return",
    "top_volatility",
    "top_ir",
    "top_max_drawdown",
    "top_excess_return",
    "n_periods",
    "start",
    "end",
)


def statistics(
    data: GanGruMonthlyReport, *, n_groups: int = 5, metrics: Metrics | None = None
) -> pd.DataFrame:
    """The SPEC's statistics table, one column per model (rows: the vocabulary keys of the SPEC table).

    Rows: IC mean, ICIR (not annualized), rank IC mean, IC > 0 share, top-group turnover
    (mean one-side per month), top-group annualized return, volatility, IR (annualized return
    / volatility), maximum drawdown, annualized excess return over the equal-weighted
    universe (relative, compounded), periods, first and last month.
    """
    evs = {kind: data.evaluation(kind, n_groups=n_groups) for kind in data.factor}
    out = compare(evs, keys=_STATISTIC_KEYS)
    if metrics is not None:
        for kind in out.columns:
            metrics.update({str(k): v for k, v in out[kind].items()}, prefix=str(kind))
    return out


def recent_ic(data: GanGruMonthlyReport, *, metrics: Metrics | None = None) -> pd.DataFrame:
    """The latest month's IC and the mean IC of the last 12 months, per model."""
    keys = ["end", "ic_latest", "ic_1y", "months_1y"]
    out = compare({kind: data.evaluation(kind) for kind in data.factor}, keys=keys).T
    if metrics is not None:
        for kind in out.index:
            metrics.update({str(k): v for k, v in out.loc[kind].items()}, prefix=str(kind))
    out.index.name = "model"
    return out


def ic_frame(data: GanGruMonthlyReport) -> pd.DataFrame:
    """Monthly IC of each model and its trailing 12-month mean (columns ``<kind>``, ``<kind>_12m``)."""
    out = {}
    for kind in data.factor:
        ic = data.ic(kind)
        out[kind] = ic
        out[f"{kind}_12m"] = ic.rolling(12, min_periods=6).mean()
    return pd.DataFrame(out).dropna(how="all")


def _last_and_year(frame: pd.DataFrame, keys: tuple[str, str]) -> pd.DataFrame:
    """Latest month (last row with any value) and mean of the last 12 such rows, per column,
    as the columns ``keys`` (vocabulary keys: latest, 1-year mean)."""
    rows = frame.dropna(how="all")
    if rows.empty:
        return pd.DataFrame(columns=list(keys))
    return pd.DataFrame({keys[0]: rows.iloc[-1], keys[1]: rows.iloc[-12:].mean()})


def industry_ic(
    data: GanGruMonthlyReport, kind: str = "gan_gru", *, min_stocks: int = 5
) -> pd.DataFrame:
    """IC within each industry: latest month and 1-year mean (rows: industries, sorted by the
    1-year mean, best first; columns: ``name``, vocabulary keys ``ic_latest``, ``ic_1y`` and
    ``n_stocks`` = the industry's stocks with a factor on ``as_of``)."""
    ev = data.evaluation(kind, group_min_stocks=min_stocks)
    return _finish_industry(ev.by_group_ic, ("ic_latest", "ic_1y"), data, kind)


def industry_excess(
    data: GanGruMonthlyReport, kind: str = "gan_gru", *, n_groups: int = 5, min_stocks: int = 5
) -> pd.DataFrame:
    """Excess return of the top group within each industry over the industry's equal-weighted
    mean: latest month and 1-year mean of the monthly excess (columns as :func:`industry_ic`
    with ``excess_latest``, ``excess_1y``)."""
    ev = data.evaluation(kind, n_groups=n_groups, group_min_stocks=min_stocks)
    return _finish_industry(ev.by_group_excess, ("excess_latest", "excess_1y"), data, kind)


def _finish_industry(
    by_group: pd.DataFrame, keys: tuple[str, str], data: GanGruMonthlyReport, kind: str
) -> pd.DataFrame:
    """Latest and 1-year mean per industry (columns ``keys``), industry name and stock count
    added, industries without any value dropped, sorted by the 1-year mean."""
    out = _last_and_year(by_group, keys)
    last = data.factor[kind].iloc[-1] if len(data.factor[kind]) else pd.Series(dtype=float)
    ind = data.industry.iloc[-1] if len(data.industry) else pd.Series(dtype=object)
    counts = ind[last.notna()].value_counts()
    out = out.dropna(how="all").copy()
    out.insert(0, "name", [SW_L1.get(str(c), ("", str(c)))[1] for c in out.index])
    out["n_stocks"] = counts.reindex(out.index).fillna(0).astype("int64")
    out = out.sort_values(keys[1], ascending=False)
    out.index.name = "industry"
    return out


def top_stocks(
    data: GanGruMonthlyReport, kind: str = "gan_gru", *, per_industry: int = 3
) -> pd.DataFrame:
    """The ``per_industry`` stocks with the highest factor value in each industry on ``as_of``."""
    if not len(data.factor[kind]):
        return pd.DataFrame(columns=["industry", "rank", "code", "name", "factor"])
    last = data.factor[kind].iloc[-1].dropna()
    frame = pd.DataFrame(
        {"industry": data.industry.iloc[-1].reindex(last.index), "factor": last}
    ).dropna(subset=["industry"])
    frame["code"] = frame.index.astype(str)
    frame = frame.sort_values(["industry", "factor", "code"], ascending=[True, False, True])
    frame["rank"] = frame.groupby("industry").cumcount() + 1
    frame = frame[frame["rank"] <= per_industry]
    frame["name"] = data.names.reindex(frame["code"]).to_numpy()
    frame["factor"] = frame["factor"].round(6) + 0.0  # no "-0.000" for one-stock industries
    frame["industry"] = [f"{c} {SW_L1.get(str(c), ('', ''))[1]}".strip() for c in frame["industry"]]
    return frame[["industry", "rank", "code", "name", "factor"]].reset_index(drop=True)


def training_table(data: GanGruMonthlyReport) -> pd.DataFrame:
    """One row per model and retraining date (see :meth:`GanGruResult.training_table`)."""
    t = data.result.training_table()
    if t.empty:
        return t
    t["model"] = t["model"].map(MODEL_LABELS)
    return t


def top_excess_nav(data: GanGruMonthlyReport, *, n_groups: int = 5) -> pd.DataFrame:
    """Cumulative net value of the top group relative to the equal-weighted universe."""
    out = {}
    for kind in data.factor:
        ev = data.evaluation(kind, n_groups=n_groups)
        top = ev.top_returns
        uni = ev.benchmark.reindex(top.index)
        out[MODEL_LABELS.get(kind, kind)] = (1 + top).cumprod() / (1 + uni).cumprod()
    return pd.DataFrame(out)


# -- presentation ----------------------------------------------------------------------------
def _stat_table(stats: pd.DataFrame, *, title: str, note: str) -> Table:
    """``stats`` (rows: vocabulary keys, columns: models) with the vocabulary's labels and
    formats; the first and last formation dates show as months."""
    frame = stats.T.copy()
    for k in ("start", "end"):
        if k in frame:
            frame[k] = pd.DatetimeIndex(frame[k]).to_period("M")
    frame.index = pd.Index([MODEL_LABELS.get(str(c), str(c)) for c in frame.index])
    frame.columns.name = "statistic"
    return statistics_table(frame, title=title, note=note, transpose=True)


def show_statistics(
    stats: pd.DataFrame, data: GanGruMonthlyReport, *, kind: str = "gan_gru"
) -> Table:
    """The statistics table of one model."""
    return _stat_table(
        stats[[kind]],
        title=f"{MODEL_LABELS[kind]} factor: statistics over the history",
        note=(
            f"{data.period_note(kind)} Top group = highest quintile, equal weight, rebalanced "
            "monthly; excess over the equal-weighted universe of the month. Published "
            "(2019-2025, real market): IC 0.1119, ICIR 0.89, turnover 0.83x, return 37.4 %, "
            "volatility 23.4 %, IR 1.60, drawdown 27.3 %, excess 22.4 %."
        ),
    )


def show_gan_gru_vs_gru(stats: pd.DataFrame, data: GanGruMonthlyReport) -> Table:
    """GAN_GRU against the plain GRU, side by side."""
    return _stat_table(
        stats,
        title="GAN_GRU versus the plain GRU (same inputs, head, initial weights and training)",
        note=data.period_note(),
    )


def show_recent(frame: pd.DataFrame) -> Table:
    f = frame.copy()
    f.index = [MODEL_LABELS.get(str(k), str(k)) for k in f.index]
    f["end"] = [f"{m:%Y-%m}" if isinstance(m, pd.Timestamp) else "–" for m in f["end"]]
    keys = ["ic_latest", "ic_1y", "months_1y"]
    return table(
        f,
        title="Latest month's IC and 1-year mean IC",
        formats=statistic_formats(keys),
        labels=statistic_labels(["end", *keys]),
        note=(
            "The latest month is the last one whose return is known on the as-of date: the "
            "factor of the previous month-end against the return to the as-of date. "
            "Published (December 2025): 0.0331; 1-year mean 0.0669."
        ),
    )


def show_industry(frame: pd.DataFrame, *, title: str, top: int | None = None) -> Table:
    """Per-industry IC or excess table; ``top`` keeps the best ``top`` by the 1-year mean."""
    f = frame if top is None else frame.head(top)
    keys = [str(c) for c in f.columns if c != "name"]
    return table(
        f,
        title=title,
        formats=statistic_formats(keys),
        labels={"name": "Industry", **statistic_labels(keys)},
        note=(
            "SW level-1 industries, sorted by the 1-year mean (best first); an industry enters "
            "a month with at least 5 stocks with a factor and a return (industries that never "
            "do are not listed). Stocks = industry members with a factor value on the as-of "
            "date."
        ),
    )


def show_top_stocks(frame: pd.DataFrame, data: GanGruMonthlyReport) -> Table:
    return table(
        frame.set_index(["industry", "rank"]),
        title=f"Highest GAN_GRU factor values per industry on {data.as_of:%Y-%m-%d}",
        formats={"factor": ".3f"},
        labels={"code": "Code", "name": "Name", "factor": "Factor (z)"},
    )


def show_training(frame: pd.DataFrame) -> Table:
    f = frame.copy()
    if not f.empty:
        f["seconds"] = [f"{s:.1f} s" for s in f["seconds"]]
    return table(
        f.set_index(["model", "retrain date"]) if not f.empty else f,
        title="Retraining: windows, epochs, validation IC, time",
        formats={"valid IC": ".4f", "epochs": ",d", "best epoch": ",d"},
        note=(
            "Validation IC = minus the best validation IC loss (mean over the validation "
            "dates of the IC of prediction and 20-day label). Seconds = training time when "
            "the model was trained (cached models are loaded, not retrained)."
        ),
    )


def show_config(data: GanGruMonthlyReport) -> Table:
    cfg = data.result.config.describe().to_frame("value")
    return table(cfg, title=f"Preset {data.result.config.name!r}")


def plot_ic(frame: pd.DataFrame, *, title: str = "Monthly IC and its 12-month mean") -> Figure:
    """Monthly IC bars of GAN_GRU, 12-month means of both models as lines."""
    fig, axes = plotting.new_figure(size=(8.0, 3.6))
    ax = axes[0, 0]
    if "gan_gru" in frame:
        v = frame["gan_gru"].to_numpy(dtype=float)
        colours = [plotting.UP if x > 0 else plotting.DOWN for x in np.nan_to_num(v)]
        ax.bar(frame.index, v, width=20, color=colours, alpha=0.6, label="GAN_GRU monthly IC")
    for i, kind in enumerate(k for k in ("gan_gru", "gru") if f"{k}_12m" in frame):
        ax.plot(
            frame.index,
            frame[f"{kind}_12m"].to_numpy(dtype=float),
            color=plotting.PALETTE[i],
            linewidth=1.6,
            label=f"{MODEL_LABELS[kind]} 12-month mean",
        )
    ax.axhline(0, color="#555555", linewidth=0.6)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncols=3)
    fig.autofmt_xdate()
    return fig


def plot_top_excess(nav: pd.DataFrame) -> Figure:
    """Relative net value of the top group against the equal-weighted universe."""
    return plotting.line_chart(
        nav,
        title="Top group relative to the equal-weighted universe (net value)",
        ylabel="relative net value",
    )


def plot_training(data: GanGruMonthlyReport) -> Figure:
    """Training and validation IC loss per epoch of the latest retraining, both models."""
    fig, axes = plotting.new_figure(size=(8.0, 3.2))
    ax = axes[0, 0]
    for i, (kind, ms) in enumerate(data.result.models.items()):
        if not ms:
            continue
        h = ms[-1].history
        c = plotting.PALETTE[i]
        ax.plot(
            h.index, -h["train_loss"], color=c, linestyle="--", label=f"{MODEL_LABELS[kind]} train"
        )
        ax.plot(h.index, -h["valid_loss"], color=c, label=f"{MODEL_LABELS[kind]} validation")
    last = [ms[-1].retrain_date for ms in data.result.models.values() if ms]
    when = f" (retrained {max(last):%Y-%m-%d})" if last else ""
    ax.set_title(f"IC (minus the IC loss) per epoch{when}", fontsize=10, loc="left")
    ax.set_xlabel("epoch", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, frameon=False, ncols=2)
    return fig
