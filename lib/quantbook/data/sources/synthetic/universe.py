"""The synthetic universe: instruments, boards, listings, delistings, ST spells, industries, suspensions.

All draws come from one generator seeded by the preset's seed, so the universe is a
deterministic function of (seed, preset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantbook.data.vocabulary import SW_L1

STAR_OPEN = pd.Timestamp("2019-07-22")
BSE_OPEN = pd.Timestamp("2021-11-15")
BOARD_SHARES = {"main_sh": 0.44, "main_sz": 0.30, "chinext": 0.17, "star": 0.07, "bse": 0.02}
BOARD_PREFIX = {
    "main_sh": ("60", ".SH"),
    "main_sz": ("00", ".SZ"),
    "chinext": ("30", ".SZ"),
    "star": ("68", ".SH"),
    "bse": ("83", ".BJ"),
}


@dataclass
class Universe:
    """Instruments and their spells as arrays aligned with ``codes`` (sorted) and ``sessions``."""

    codes: np.ndarray
    names: np.ndarray
    board: np.ndarray
    list_idx: np.ndarray  # session index of the first trading day (negative: before the span)
    delist_idx: np.ndarray  # session index of the first day no longer listed (len(sessions): never)
    industry: np.ndarray  # (T, N) int index into INDUSTRIES, constant spells
    st: np.ndarray  # (T, N) bool
    suspended: np.ndarray  # (T, N) bool
    sessions: pd.DatetimeIndex

    @property
    def listed(self) -> np.ndarray:
        """(T, N) bool: listed on the session."""
        t = np.arange(len(self.sessions))[:, None]
        return (t >= self.list_idx[None, :]) & (t < self.delist_idx[None, :])


INDUSTRIES = np.array(sorted(SW_L1))


def _codes(rng: np.random.Generator, boards: np.ndarray) -> np.ndarray:
    out = np.empty(len(boards), dtype=object)
    for b, (prefix, suffix) in BOARD_PREFIX.items():
        idx = np.flatnonzero(boards == b)
        nums = rng.choice(10_000, size=len(idx), replace=False)
        out[idx] = [f"{prefix}{k:04d}{suffix}" for k in nums]
    return out


def build_universe(n: int, sessions: pd.DatetimeIndex, seed: int) -> Universe:
    """Draw the instruments, their listing spans, ST spells, industries and suspensions.

    Parameters
    ----------
    n
        Number of instruments ever listed in the span.
    sessions
        Trading days of the span.
    seed
        Preset seed.
    """
    rng = np.random.default_rng([seed, 1])
    T = len(sessions)
    kinds = np.array(list(BOARD_SHARES))
    board_kind = rng.choice(kinds, size=n, p=np.array(list(BOARD_SHARES.values())))
    codes = _codes(rng, board_kind)
    order = np.argsort(codes)
    codes, board_kind = codes[order], board_kind[order]
    board = np.where(np.char.startswith(board_kind.astype(str), "main"), "main", board_kind).astype(
        object
    )

    # listings: 82 % listed before the span; the rest (and every STAR / BSE stock whose board
    # opened later) list inside it
    list_idx = -rng.integers(250, 6000, size=n)
    ipo = rng.random(n) < 0.18
    for b, opened in (("star", STAR_OPEN), ("bse", BSE_OPEN)):
        is_b = board == b
        first = int(sessions.searchsorted(opened))
        ipo |= is_b & (first > 0)
        lo = max(first, 5)
        list_idx[is_b & ipo] = rng.integers(lo, max(lo + 1, T - 40), size=int((is_b & ipo).sum()))
    plain_ipo = ipo & ~np.isin(board, ["star", "bse"])
    list_idx[plain_ipo] = rng.integers(5, T - 40, size=int(plain_ipo.sum()))

    # delistings, each preceded by a *ST spell and a final suspension
    delist_idx = np.full(n, T)
    st = np.zeros((T, n), dtype=bool)
    suspended = np.zeros((T, n), dtype=bool)
    eligible = np.flatnonzero(list_idx < T // 3)
    n_delist = max(1, int(round(0.03 * n)))
    for j in rng.choice(eligible, size=min(n_delist, len(eligible)), replace=False):
        d = int(rng.integers(T // 3 + 300, T - 5)) if T // 3 + 300 < T - 5 else T - 5
        delist_idx[j] = d
        st[max(0, d - int(rng.integers(150, 300))) : d, j] = True
        suspended[max(0, d - int(rng.integers(10, 25))) : d, j] = True

    # other ST spells
    for j in rng.choice(n, size=max(1, int(round(0.04 * n))), replace=False):
        s = int(rng.integers(0, max(1, T - 100)))
        st[s : s + int(rng.integers(120, 400)), j] = True

    # suspensions: about 1.2 spells per stock-year, mostly 1-3 days, a few long
    n_spells = rng.poisson(1.2 * T / 244 * n)
    who = rng.integers(0, n, size=n_spells)
    when = rng.integers(0, T, size=n_spells)
    length = np.where(
        rng.random(n_spells) < 0.92, rng.geometric(0.55, n_spells), rng.integers(10, 60, n_spells)
    )
    for j, s, ln in zip(who, when, length, strict=True):
        suspended[s : s + int(ln), j] = True

    # never suspended on the listing day or the day before a delisting's last session
    t = np.arange(T)[:, None]
    listed = (t >= list_idx[None, :]) & (t < delist_idx[None, :])
    first_day = t == np.clip(list_idx, 0, T - 1)[None, :]
    suspended &= listed & ~(first_day & (list_idx >= 0)[None, :])
    st &= listed

    # industries: skewed sizes; 2 % of stocks move once
    weights = rng.dirichlet(np.full(len(INDUSTRIES), 3.0))
    ind0 = rng.choice(len(INDUSTRIES), size=n, p=weights)
    industry = np.repeat(ind0[None, :], T, axis=0)
    for j in rng.choice(n, size=max(1, int(round(0.02 * n))), replace=False):
        s = int(rng.integers(T // 4, T - 1))
        industry[s:, j] = rng.integers(0, len(INDUSTRIES))

    names = np.array(
        [f"{SW_L1[INDUSTRIES[ind0[j]]][1].split()[0]} {codes[j][:6]}" for j in range(n)],
        dtype=object,
    )
    return Universe(codes, names, board, list_idx, delist_idx, industry, st, suspended, sessions)


def spells_frame(
    codes: np.ndarray, values: np.ndarray, active: np.ndarray, sessions: pd.DatetimeIndex
) -> pd.DataFrame:
    """Turn a (T, N) array of values (and where they apply) into ``code, start, end, value`` spells."""
    rows = []
    T = len(sessions)
    for j, code in enumerate(codes):
        v, a = values[:, j], active[:, j]
        change = np.flatnonzero(np.r_[True, (v[1:] != v[:-1]) | (a[1:] != a[:-1])])
        bounds = np.r_[change, T]
        for s, e in zip(bounds[:-1], bounds[1:], strict=True):
            if a[s]:
                rows.append((code, sessions[s], sessions[e] if e < T else pd.NaT, v[s]))
    return pd.DataFrame(rows, columns=["code", "start", "end", "value"])


def instruments_frame(u: Universe, list_dates: pd.DatetimeIndex) -> pd.DataFrame:
    """The ``instruments`` table."""
    T = len(u.sessions)
    delist = [u.sessions[d] if d < T else pd.NaT for d in u.delist_idx]
    return pd.DataFrame(
        {
            "code": u.codes,
            "name": u.names,
            "board": u.board,
            "list_date": list_dates,
            "delist_date": delist,
        }
    )
