"""Torch models and the one training loop they share.

- :mod:`quantbook.models.training`: :func:`train` (seeded, deterministic on CPU, early
  stopping, best weights restored, loss history), :func:`seed_everything`;
- :mod:`quantbook.models.gru`: the GRU + MLP return model and the IC loss;
- :mod:`quantbook.models.gan`: the LSTM generator, CNN discriminator and their alternating
  training;
- :mod:`quantbook.models.cache`: trained models on disk, keyed by what determines them.
"""

from quantbook.models.cache import ModelCache, cache_key
from quantbook.models.gan import GAN, CNNDiscriminator, LSTMGenerator, gan_step, train_gan
from quantbook.models.gru import GRUFactorModel, ic_loss, pearson
from quantbook.models.training import TrainResult, deterministic, seed_everything, train

__all__ = [
    "GAN",
    "CNNDiscriminator",
    "GRUFactorModel",
    "LSTMGenerator",
    "ModelCache",
    "TrainResult",
    "cache_key",
    "deterministic",
    "gan_step",
    "ic_loss",
    "pearson",
    "seed_everything",
    "train",
    "train_gan",
]
