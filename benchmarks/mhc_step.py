"""Benchmark: one training step of the mHC-MLP versus the residual MLP (SPEC §4).

Equal width and depth (default C = 64, 6 layers, n = 4 streams, sub-layer hidden 2C), one
batch = a 5,000-stock cross-section of 15 styles, MSE loss, Adam; forward + backward +
optimizer step, single-threaded (``--threads``), median of ``--repeat`` timed steps after
warm-up. Target (issue 6): mHC at most 2x the MLP's step time.

Run alone: ``.venv/bin/python benchmarks/mhc_step.py [--width 64] [--depth 6] [--stocks 5000]``.

Last line: ``RESULT mhc_step_ratio <r> x (mhc <a> ms, mlp <b> ms, target <= 2x: met|NOT met)``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from quantbook.models.mhc import MHCMLP
from quantbook.models.mlp import ResidualMLP


def step_ms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeat: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(repeat + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = torch.randn(a.stocks, 15), torch.randn(a.stocks)
    mlp = ResidualMLP(15, width=a.width, depth=a.depth)
    mhc = MHCMLP(15, width=a.width, depth=a.depth, streams=a.streams)
    # interleave to share any background load fairly
    t_mlp = min(step_ms(mlp, x, y, a.repeat), step_ms(mlp, x, y, a.repeat))
    t_mhc = min(step_ms(mhc, x, y, a.repeat), step_ms(mhc, x, y, a.repeat))
    n_mlp = sum(p.numel() for p in mlp.parameters())
    n_mhc = sum(p.numel() for p in mhc.parameters())
    print(
        f"{a.stocks} stocks, width {a.width}, depth {a.depth}, {a.streams} streams, "
        f"{a.threads} thread(s): MLP {t_mlp:.1f} ms ({n_mlp} params), "
        f"mHC {t_mhc:.1f} ms ({n_mhc} params)"
    )
    r = t_mhc / t_mlp
    print(
        f"RESULT mhc_step_ratio {r:.2f} x (mhc {t_mhc:.1f} ms, mlp {t_mlp:.1f} ms, "
        f"target <= 2x: {'met' if r <= 2 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
