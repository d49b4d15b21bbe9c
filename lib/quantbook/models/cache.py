"""A cache of trained models on disk: one file per key, written atomically.

A model is stored with :func:`torch.save` as ``<root>/<key>.pt`` holding its state dicts and
a JSON-safe metadata mapping (training history, time, configuration). The key is a hash of
everything that determines the trained weights (see :func:`cache_key`): reusing a file is
then the same as training again, bit for bit, only faster.

Examples
--------
>>> import tempfile, torch
>>> cache = ModelCache(tempfile.mkdtemp())
>>> key = cache_key({"preset": "fast", "window_end": "2024-06-28"})
>>> _ = cache.save(key, {"gru": torch.nn.Linear(2, 1).state_dict()}, meta={"seconds": 1.5})
>>> states, meta = cache.load(key)
>>> sorted(states), meta["seconds"]
(['gru'], 1.5)
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["ModelCache", "cache_key"]


def cache_key(parts: Mapping[str, Any]) -> str:
    """A 20-hex-digit key: SHA-256 of ``parts`` as sorted JSON (values must be JSON-able)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class ModelCache:
    """Trained models under ``root`` (e.g. ``data/<store>/cache/gan_gru/models``).

    Parameters
    ----------
    root
        The folder; created on the first save.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.path(key).is_file()

    def save(
        self,
        key: str,
        states: Mapping[str, Mapping[str, torch.Tensor]],
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write ``{name: state_dict}`` and ``meta`` to ``<key>.pt`` (temporary file, then rename).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(key)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        payload = {
            "states": {
                k: {n: t.detach().cpu().clone() for n, t in v.items()} for k, v in states.items()
            },
            "meta": json.loads(json.dumps(dict(meta or {}), default=str)),
        }
        try:
            torch.save(payload, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def load(self, key: str) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
        """The state dicts and metadata saved under ``key`` (``KeyError`` if absent)."""
        p = self.path(key)
        if not p.is_file():
            raise KeyError(key)
        payload = torch.load(p, map_location="cpu", weights_only=True)
        return dict(payload["states"]), dict(payload["meta"])
