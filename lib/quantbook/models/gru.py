"""The GRU return model of SPEC §3: stacked GRU layers, an MLP head, and the IC loss.

Examples
--------
>>> import torch
>>> model = GRUFactorModel(n_features=18, hidden=(8, 8), mlp=(16, 8))
>>> model(torch.zeros(5, 40, 18)).shape
torch.Size([5])
>>> p, y = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 3.0, 2.0])
>>> round(float(ic_loss(p, y)), 4), round(float(ic_loss(10 * p, y)), 4)
(-0.5, -0.5)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["GRUFactorModel", "ic_loss", "pearson"]


def pearson(pred: torch.Tensor, target: torch.Tensor, *, eps: float = 1e-20) -> torch.Tensor:
    """Pearson correlation of two 1-d tensors (differentiable).

    Notes
    -----
    .. math:: \\rho = \\frac{\\sum_i (p_i - \\bar p)(y_i - \\bar y)}
       {\\max\\left(\\sqrt{\\sum_i (p_i - \\bar p)^2 \\sum_i (y_i - \\bar y)^2},
       \\ \\epsilon\\right)}

    The floor :math:`\\epsilon` only guards a constant input (then :math:`\\rho = 0`); it is
    far below any real scale, so the correlation stays invariant to scaling either input.
    """
    p = pred.reshape(-1) - pred.mean()
    y = target.reshape(-1) - target.mean()
    return (p * y).sum() / torch.sqrt((p * p).sum() * (y * y).sum()).clamp_min(eps)


def ic_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The IC loss: minus the Pearson correlation of prediction and label in one cross-section.

    Parameters
    ----------
    pred
        Predictions of one batch (one sample date's stocks).
    target
        Labels of the same stocks.

    Returns
    -------
    torch.Tensor
        :math:`-\\rho(p, y)`, a scalar in :math:`[-1, 1]`; invariant to a positive scaling and
        a shift of ``pred``.
    """
    return -pearson(pred, target)


class GRUFactorModel(nn.Module):
    """Stacked GRU over a window, its last hidden state through an MLP to one output (pRet).

    Parameters
    ----------
    n_features
        Features per day (18).
    hidden
        Hidden sizes of the stacked GRU layers (paper: ``(128, 128)``).
    mlp
        Widths of the MLP head's hidden layers (paper: ``(256, 64, 64)``), ReLU between
        them, then a linear layer to one output.
    dropout
        Dropout before each MLP layer (0 in the presets).

    Notes
    -----
    Input ``(n, window, n_features)`` (batch first); with :math:`h_T` the last GRU layer's
    state after the window's last day, :math:`\\hat r = W_o\\,\\mathrm{MLP}(h_T) + b_o`.
    """

    def __init__(
        self,
        *,
        n_features: int = 18,
        hidden: Sequence[int] = (128, 128),
        mlp: Sequence[int] = (256, 64, 64),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden needs at least one GRU layer size")
        sizes = [n_features, *hidden]
        if len(set(hidden)) == 1:  # equal sizes: one fused multi-layer GRU (faster on CPU)
            self.grus = nn.ModuleList(
                [nn.GRU(n_features, hidden[0], num_layers=len(hidden), batch_first=True)]
            )
        else:
            self.grus = nn.ModuleList(
                nn.GRU(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(hidden))
            )
        layers: list[nn.Module] = []
        width = hidden[-1]
        for w in mlp:
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers += [nn.Linear(width, w), nn.ReLU()]
            width = w
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The last GRU layer's hidden state after the window's last day, ``(n, hidden[-1])``."""
        h = x
        for gru in self.grus:
            h, _ = gru(h)
        return h[:, -1, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted (standardized) return of each window, shape ``(n,)``."""
        return self.head(self.encode(x)).squeeze(-1)
