"""The code behind the report notebooks, and the metrics every report run records.

Each report has a module here (``quantbook.reports.<report>``) whose functions return frames
and figures; the notebook ``notebooks/<report>.ipynb`` only calls them. While computing, a
report records its headline numbers into a :class:`Metrics` object; the notebook's last cell
writes it to the ``metrics_path`` parameter, and the runner moves that file next to the
executed notebook (``book/reports/<report>/<as_of>.metrics.json``) once the whole notebook
has succeeded.

Each report's contract (its as-of policy and headline metrics) is data in
:mod:`quantbook.reports.contract`. A :class:`Metrics` made by the notebook's setup call
(:func:`quantbook.reports.contract.setup`) carries the report's headline declaration, and
:meth:`Metrics.write` puts it into the metrics file under ``headline.<i>.*`` (key, label,
format and value of the i-th headline metric), so that the site charts them from the metrics
files alone (:func:`headline_entries` reads them back).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from quantbook.data.atomic import atomic_write
from quantbook.tables import Headline

__all__ = ["Metrics", "MetricValue", "flatten", "headline_entries", "read_metrics"]

MetricValue = float | int | str | bool | None


def _clean(value: Any) -> MetricValue:
    """A JSON-safe scalar: numpy scalars unwrapped, NaN / inf as None, dates as ISO strings."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if not math.isfinite(f) else f
    if hasattr(value, "isoformat"):
        iso = value.isoformat()
        return str(iso[:10] if str(iso).endswith("T00:00:00") else iso)
    return str(value)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, MetricValue]:
    """Flatten nested mappings into dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, MetricValue] = {}
    for k, v in mapping.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, key))
        elif isinstance(v, (list, tuple)):
            out[key] = ", ".join(str(x) for x in v)
        else:
            out[key] = _clean(v)
    return out


class Metrics(Mapping[str, MetricValue]):
    """Headline numbers of one report run, under flat dotted keys.

    Examples
    --------
    >>> m = Metrics()
    >>> m.record("universe.n_stocks", 12)
    >>> m.update({"ret_month": 0.0123}, prefix="index.000300.SH")
    >>> dict(m)
    {'universe.n_stocks': 12, 'index.000300.SH.ret_month': 0.0123}

    With a headline declaration, the written file also carries it (``headline.<i>.key``,
    ``.label``, ``.format``, ``.value``):

    >>> m = Metrics(headline={"universe.n_stocks": Headline("Stocks", ",d")})
    >>> m.record("universe.n_stocks", 12)
    >>> m.to_dict()["headline.0.label"], m.to_dict()["headline.0.value"]
    ('Stocks', 12)
    """

    def __init__(self, *, headline: Mapping[str, Headline] | None = None) -> None:
        self._data: dict[str, MetricValue] = {}
        self.headline: dict[str, Headline] = dict(headline or {})

    def __getitem__(self, key: str) -> MetricValue:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Metrics({len(self._data)} keys)"

    def record(self, key: str, value: Any) -> None:
        """Record one value under the dotted ``key`` (a later record replaces an earlier one)."""
        if not key or key.startswith(".") or key.endswith("."):
            raise ValueError(f"invalid metric key {key!r}")
        self._data[key] = _clean(value)

    def update(self, values: Mapping[str, Any], *, prefix: str = "") -> None:
        """Record every item of ``values`` (nested mappings flattened) under ``prefix``."""
        self._data.update(flatten(values, prefix))

    def to_dict(self) -> dict[str, MetricValue]:
        """The metrics, sorted by key, with the headline declaration (``headline.<i>.*``)."""
        out = dict(self._data)
        for i, (key, h) in enumerate(self.headline.items()):
            out[f"headline.{i}.key"] = key
            out[f"headline.{i}.label"] = h.label
            out[f"headline.{i}.format"] = h.fmt
            out[f"headline.{i}.value"] = self._data.get(key)
        return dict(sorted(out.items()))

    def write(self, path: str | os.PathLike[str] | None) -> Path | None:
        """Write the metrics as JSON to ``path`` atomically; no-op when ``path`` is empty.

        The file is written to a temporary sibling and renamed, so a reader never sees a
        half-written file.
        """
        if not path:
            return None
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"
        target = atomic_write(path, lambda tmp: tmp.write_text(text))
        return target


def read_metrics(path: str | os.PathLike[str]) -> dict[str, MetricValue]:
    """Read a metrics file written by :meth:`Metrics.write`."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a metrics file (expected a JSON object)")
    return data


def headline_entries(metrics: Mapping[str, Any]) -> dict[str, Headline]:
    """The headline declaration a metrics file carries: ``{metric key: Headline}`` in order.

    Notes
    -----
    Entries are ``headline.<i>.key`` / ``.label`` / ``.format`` for i = 0, 1, ... until the
    first missing ``key``; a file written without a declaration gives ``{}``.
    """
    out: dict[str, Headline] = {}
    i = 0
    while isinstance(key := metrics.get(f"headline.{i}.key"), str):
        label = metrics.get(f"headline.{i}.label")
        fmt = metrics.get(f"headline.{i}.format")
        out[key] = Headline(
            str(label) if label is not None else key, str(fmt) if fmt is not None else ",.4f"
        )
        i += 1
    return out
