"""Executors for independent tasks (the fits of a walk-forward schedule: the Barra ML
windows, the GAN_GRU retrainings, the ETF strategies' rolling models).

An :class:`Executor` maps a picklable top-level function over a list of tasks and returns the
results in task order. :class:`LocalExecutor` uses a process pool on the local cores;
:class:`SerialExecutor` runs in the calling process (tests, small notebooks). A distributed
engine (Ray, Dask, a batch queue) can replace them by implementing the same ``map``.

Examples
--------
>>> SerialExecutor().map(abs, [-1, 2, -3])
[1, 2, 3]
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

__all__ = ["Executor", "LocalExecutor", "SerialExecutor", "default_executor"]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Anything that maps a function over tasks, results in task order."""

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]: ...


class SerialExecutor:
    """Run the tasks one after the other in this process."""

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        return [fn(t) for t in tasks]


class LocalExecutor:
    """A process pool on the local cores.

    Parameters
    ----------
    processes
        Worker processes (default: the CPU count, at most the number of tasks).
    start_method
        ``multiprocessing`` start method; ``"spawn"`` (default) is safe with torch's threads.

    Notes
    -----
    Each worker should train single-threaded (the shared loop's ``num_threads=1``), so that
    ``processes`` workers use ``processes`` cores and results do not depend on the pool size.
    """

    def __init__(self, processes: int | None = None, *, start_method: str = "spawn") -> None:
        self.processes = processes
        self.start_method = start_method

    def map(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        if not tasks:
            return []
        n = min(self.processes or os.cpu_count() or 1, len(tasks))
        if n <= 1:
            return SerialExecutor().map(fn, tasks)
        ctx = mp.get_context(self.start_method)
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            return list(pool.map(fn, tasks))


def default_executor(processes: int | None) -> Executor:
    """:class:`SerialExecutor` for ``processes`` 0 or 1, else a :class:`LocalExecutor`."""
    if processes is not None and processes <= 1:
        return SerialExecutor()
    return LocalExecutor(processes)
