"""The GAN of SPEC §3: an LSTM generator of windows and a CNN discriminator.

The generator maps a ``(window, features)`` input to an output of the same shape; the
discriminator scores a window as real (an input window) or generated. Trained alternately
with the losses of the SPEC,

.. math::
   L_D = -\\mathbb{E}[\\log D(x)] - \\mathbb{E}[\\log(1 - D(G(x)))], \\qquad
   L_G = -\\mathbb{E}[\\log D(G(x))],

through the shared loop (:func:`quantbook.models.training.train` with the alternating
:func:`gan_step`): each batch first updates D on real and detached generated windows, then G.
The generator's input is the window itself (the SPEC's :math:`z`), and by default it is
residual, :math:`G(x) = x + \\mathrm{Linear}(\\mathrm{LSTM}(x))` with the output layer
initialised at zero, so the GRU that reads :math:`G(x)` starts from the original features
and the adversarial phase learns a perturbation that keeps the windows realistic (a purely
generated output would be free to discard what the input says about the future return).

Examples
--------
>>> import torch
>>> g = LSTMGenerator(n_features=18, hidden=8)
>>> g(torch.randn(4, 40, 18)).shape
torch.Size([4, 40, 18])
>>> CNNDiscriminator(n_features=18, channels=(8, 8))(torch.randn(4, 40, 18)).shape
torch.Size([4])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from quantbook.models.training import Batch, Batches, TrainResult, train

__all__ = ["GAN", "CNNDiscriminator", "LSTMGenerator", "gan_step", "train_gan"]


class LSTMGenerator(nn.Module):
    """LSTM generator: ``(n, window, features) -> (n, window, features)``.

    Parameters
    ----------
    n_features
        Features per day.
    hidden
        LSTM hidden size.
    num_layers
        LSTM layers.
    residual
        Output :math:`x + \\mathrm{Linear}(\\mathrm{LSTM}(x))` with the linear layer starting
        at zero (default), or :math:`\\mathrm{Linear}(\\mathrm{LSTM}(x))`.
    """

    def __init__(
        self, *, n_features: int = 18, hidden: int = 64, num_layers: int = 1, residual: bool = True
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden, n_features)
        self.residual = residual
        if residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(x)
        y = self.out(h)
        return x + y if self.residual else y


class CNNDiscriminator(nn.Module):
    """1-d CNN over the days of a window, returning the logit of "real".

    Parameters
    ----------
    n_features
        Features per day (the input channels).
    channels
        Output channels of the convolution layers; each layer is a convolution of width
        ``kernel`` and stride 2 followed by LeakyReLU(0.2).
    kernel
        Convolution width in days.

    Notes
    -----
    :math:`D(x) = \\sigma(\\mathrm{logit})`, the logit = linear layer on the time-averaged
    last feature map.
    """

    def __init__(
        self, *, n_features: int = 18, channels: Sequence[int] = (32, 64), kernel: int = 5
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for c in channels:
            layers += [
                nn.Conv1d(width, c, kernel, stride=2, padding=kernel // 2),
                nn.LeakyReLU(0.2),
            ]
            width = c
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))  # (n, channels, days)
        return self.fc(h.mean(dim=2)).squeeze(-1)


class GAN(nn.Module):
    """The generator and the discriminator, trained together by :func:`train_gan`."""

    def __init__(self, generator: LSTMGenerator, discriminator: CNNDiscriminator) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The generated windows :math:`G(x)`."""
        out: torch.Tensor = self.generator(x)
        return out


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def gan_step(
    gan: GAN, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer
) -> Callable[[Batch], dict[str, float]]:
    r"""One alternating update per batch: the discriminator, then the generator.

    Parameters
    ----------
    gan
        The generator and discriminator.
    opt_g, opt_d
        Their optimizers.

    Returns
    -------
    callable
        ``step(batch) -> {"d": L_D, "g": L_G}`` for :func:`quantbook.models.training.train`
        (the batch's labels are ignored).

    Notes
    -----
    With :math:`\ell(s, c)` the binary cross-entropy of logit :math:`s` against class
    :math:`c`: :math:`L_D = \ell(D(x), 1) + \ell(D(\mathrm{sg}[G(x)]), 0)` (``sg`` = no
    gradient into G), then :math:`L_G = \ell(D(G(x)), 1) = -\mathbb{E}\log D(G(x))`, the
    non-saturating generator loss of the SPEC.
    """
    g, d = gan.generator, gan.discriminator

    def step(batch: Batch) -> dict[str, float]:
        x = batch[0]
        opt_d.zero_grad(set_to_none=True)
        fake = g(x)
        loss_d = _bce(d(x), True) + _bce(d(fake.detach()), False)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        loss_g = _bce(d(fake), True)
        loss_g.backward()
        opt_g.step()
        return {"d": float(loss_d.detach()), "g": float(loss_g.detach())}

    return step


def train_gan(
    gan: GAN,
    *,
    batches: Batches,
    epochs: int,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    seed: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train the GAN alternately for ``epochs`` passes over ``batches`` (no early stopping).

    Parameters
    ----------
    gan
        The model (updated in place).
    batches
        Batches of ``(x, y)``; one batch = one sample date's windows (labels unused).
    epochs
        Passes over the batches.
    lr, betas
        Adam settings of both players (betas (0.5, 0.999), the usual GAN choice).
    seed
        Seed of the shared loop.
    progress
        tqdm bar.

    Returns
    -------
    TrainResult
        History with ``train_d`` (:math:`L_D`) and ``train_g`` (:math:`L_G`) per epoch; the
        last epoch's weights are kept.
    """
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=lr, betas=betas)
    return train(
        gan,
        train_batches=batches,
        step=gan_step(gan, opt_g, opt_d),
        max_epochs=epochs,
        patience=None,
        seed=seed,
        progress=progress,
        desc="GAN",
    )
