"""mHC-MLP (SPEC §4): doubly stochastic H_res, Sinkhorn gradients, static reduction, stream
separation, and bit-for-bit reproducible training through the shared loop."""

from __future__ import annotations

import pytest
import torch
from quantbook.models.mhc import MHCMLP, MHCBlock, sinkhorn_knopp
from quantbook.models.mlp import ResidualMLP
from quantbook.models.training import seed_everything, train

torch.set_num_threads(1)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 100.0, 1e4])
def test_sinkhorn_doubly_stochastic(scale: float) -> None:
    g = torch.Generator().manual_seed(int(scale * 10) % 1000)
    h = sinkhorn_knopp(torch.randn(500, 4, 4, generator=g) * scale)
    assert h.dtype == torch.float32
    assert torch.isfinite(h).all()
    assert (h >= -1e-7).all()
    assert (h.sum(-1) - 1).abs().max() < 1e-5
    assert (h.sum(-2) - 1).abs().max() < 1e-5


def test_model_h_res_doubly_stochastic_for_random_and_extreme_inputs() -> None:
    seed_everything(0)
    m = MHCMLP(15, width=8, depth=3, streams=4)
    with torch.no_grad():
        for blk in m.blocks:
            blk.alpha_res.fill_(50.0)  # large logits
    for x in (torch.randn(64, 15), 1e6 * torch.randn(64, 15), torch.zeros(4, 15)):
        h = m.h_res(x)
        assert h.shape == (3, len(x), 4, 4)
        assert (h.sum(-1) - 1).abs().max() < 1e-5
        assert (h.sum(-2) - 1).abs().max() < 1e-5


def test_sinkhorn_gradients_match_finite_differences() -> None:
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sinkhorn_knopp(x, iters=20), (logits,))
    # and through the uncorrected iterations alone (few iterations: far from converged)
    assert torch.autograd.gradcheck(lambda x: sinkhorn_knopp(x, iters=2), (logits,))


def test_gating_zero_reduces_to_static_form() -> None:
    seed_everything(1)
    blk = MHCBlock(8, 4, layer=1)
    with torch.no_grad():
        blk.alpha_pre.zero_()
        blk.alpha_post.zero_()
        blk.alpha_res.zero_()
    x = torch.randn(4, 10, 8)  # (n, B, C)
    got = blk(x)
    # reference: x_{l+1} = H_res x + H_post^T F(H_pre x), coefficients from the biases only
    pre = torch.sigmoid(blk.b_pre)
    post = 2 * torch.sigmoid(blk.b_post)
    res = sinkhorn_knopp(blk.b_res.detach())
    xb = x.permute(1, 0, 2)  # (B, n, C)
    f = blk.ff(blk.norm_in(torch.einsum("i,bic->bc", pre, xb)))
    ref = torch.einsum("ij,bjc->bic", res, xb) + post[None, :, None] * f[:, None, :]
    torch.testing.assert_close(got.permute(1, 0, 2), ref, rtol=1e-5, atol=1e-5)
    st = blk.static_coefficients()
    dyn = blk.coefficients(x)
    torch.testing.assert_close(dyn.res, st.res.expand_as(dyn.res))
    torch.testing.assert_close(dyn.pre, st.pre.expand_as(dyn.pre))


def _toy(n: int = 256, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 15, generator=g)
    y = x[:, 0] * x[:, 1] - (x[:, 2] ** 2 - 1) / 2**0.5 + 0.5 * torch.randn(n, generator=g)
    return [(x[i : i + 64], y[i : i + 64]) for i in range(0, n, 64)]


def _mse(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return ((p - t) ** 2).mean()


def test_streams_do_not_stay_identical() -> None:
    seed_everything(2)
    m = MHCMLP(15, width=8, depth=6, streams=4)
    batches = _toy()
    train(m, train_batches=batches, loss_fn=_mse, lr=1e-2, max_epochs=3, seed=2, progress=False)
    x = batches[0][0]
    with torch.no_grad():
        for s in m.streams_of(x)[1:]:  # (B, n, C) after each block
            spread = (s - s.mean(1, keepdim=True)).norm() / s.norm()
            assert spread > 1e-2
    # the gating scalars moved from their initial 0.01
    assert any(abs(float(b.alpha_res.detach()) - 0.01) > 1e-4 for b in m.blocks)


@pytest.mark.parametrize("cls", [MHCMLP, ResidualMLP])
def test_training_is_bit_for_bit_reproducible(cls: type[torch.nn.Module]) -> None:
    batches = _toy()

    def run() -> dict[str, torch.Tensor]:
        seed_everything(7)
        m = cls(15, width=8, depth=2)
        res = train(
            m,
            train_batches=batches[:3],
            valid_batches=batches[3:],
            loss_fn=_mse,
            lr=1e-2,
            max_epochs=4,
            seed=7,
            progress=False,
        )
        return res.best_state

    a, b = run(), run()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_both_models_learn_the_nonlinear_toy_effect() -> None:
    batches = _toy(1024)
    for cls in (MHCMLP, ResidualMLP):
        seed_everything(0)
        m = cls(15, width=16, depth=2)
        train(
            m,
            train_batches=batches[:12],
            valid_batches=batches[12:],
            loss_fn=_mse,
            lr=3e-3,
            max_epochs=40,
            patience=10,
            seed=0,
            progress=False,
        )
        x, y = batches[-1]
        with torch.no_grad():
            ic = torch.corrcoef(torch.stack([m(x), y]))[0, 1]
        assert ic > 0.4, cls.__name__


def test_empty_cross_section() -> None:
    """A month without stocks (e.g. a real store's span beyond its bars) predicts nothing."""
    for cls in (MHCMLP, ResidualMLP):
        assert cls(15, width=8, depth=2)(torch.zeros(0, 15)).shape == (0,)
