"""Torch models and the one training loop they share.

- :mod:`quantbook.models.training`: :func:`train` (seeded, deterministic on CPU, early
  stopping, best weights restored, loss history), :func:`seed_everything`;
- :mod:`quantbook.models.mlp`: :class:`ResidualMLP`, the plain residual MLP baseline;
- :mod:`quantbook.models.mhc`: :class:`MHCMLP` (manifold-constrained hyper-connections),
  its :class:`MHCBlock` and the :func:`sinkhorn_knopp` projection;
- :mod:`quantbook.models.barra_ml`: the Barra ML factor pipeline, :func:`run_barra_ml`
  with its :class:`BarraMLConfig` and :class:`BarraMLResult`;
- :mod:`quantbook.models.walkforward`: the one walk-forward schedule (:class:`WalkForward`,
  its :class:`Fit` records and :class:`Schedule`) of every model refitted through time;
- :mod:`quantbook.models.executor`: where the independent trainings run
  (:class:`LocalExecutor`, :class:`SerialExecutor`);
- :mod:`quantbook.models.gru`: the GRU + MLP return model and the IC loss;
- :mod:`quantbook.models.gan`: the LSTM generator, CNN discriminator and their alternating
  training;
"""

from quantbook.models.barra_ml import (
    MODELS,
    BarraMLConfig,
    BarraMLResult,
    build_model,
    combine,
    run_barra_ml,
)
from quantbook.models.executor import Executor, LocalExecutor, SerialExecutor, default_executor
from quantbook.models.gan import GAN, CNNDiscriminator, LSTMGenerator, gan_step, train_gan
from quantbook.models.gru import GRUFactorModel, ic_loss, pearson
from quantbook.models.mhc import MHCMLP, MHCBlock, MHCCoefficients, sinkhorn_knopp
from quantbook.models.mlp import ResidualMLP
from quantbook.models.training import TrainResult, deterministic, seed_everything, train

__all__ = [
    "GAN",
    "MHCMLP",
    "MODELS",
    "BarraMLConfig",
    "BarraMLResult",
    "CNNDiscriminator",
    "Executor",
    "GRUFactorModel",
    "LSTMGenerator",
    "LocalExecutor",
    "MHCBlock",
    "MHCCoefficients",
    "ResidualMLP",
    "SerialExecutor",
    "TrainResult",
    "build_model",
    "combine",
    "default_executor",
    "deterministic",
    "gan_step",
    "ic_loss",
    "pearson",
    "run_barra_ml",
    "seed_everything",
    "sinkhorn_knopp",
    "train",
    "train_gan",
]
