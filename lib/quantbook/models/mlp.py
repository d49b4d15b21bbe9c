"""A plain residual MLP regressor (the baseline of SPEC §4, same width and depth as the mHC-MLP).

.. math:: x_0 = W_e z, \\qquad x_{l+1} = x_l + F_l(\\mathrm{RMSNorm}(x_l)), \\qquad
          \\hat y = w^\\top \\mathrm{RMSNorm}(x_L) + b

with :math:`F_l` a two-layer GELU MLP of hidden width ``hidden`` (default ``2 * width``), the
same sub-layer as in :class:`~quantbook.models.mhc.MHCMLP`.

Examples
--------
>>> import torch
>>> ResidualMLP(15, width=16, depth=2)(torch.randn(4, 15)).shape
torch.Size([4])
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResidualMLP"]


class _ResBlock(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ff(self.norm(x))


class ResidualMLP(nn.Module):
    """Residual MLP: embedding, ``depth`` pre-norm residual blocks, norm, linear head.

    Parameters
    ----------
    n_inputs
        Input features.
    width
        Hidden width.
    depth
        Residual blocks.
    hidden
        Hidden width of each block's sub-layer (default ``2 * width``).
    dropout
        Dropout after the embedding (0 for the SPEC §4 comparison).
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        width: int = 64,
        depth: int = 6,
        hidden: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(n_inputs, width)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*(_ResBlock(width, hidden or 2 * width) for _ in range(depth)))
        self.norm_out = nn.RMSNorm(width)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.drop(self.embed(x)))
        return self.head(self.norm_out(h)).squeeze(-1)
