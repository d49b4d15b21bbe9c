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


def _plain_block(blk: MHCBlock, x: torch.Tensor) -> torch.Tensor:
    """SPEC §4's block written plainly (``(B, n, C)`` streams, einsum, module calls, autograd
    through the log-domain Sinkhorn iterations): the reference for the optimized block."""
    n = blk.streams
    xb = x.permute(1, 0, 2)  # (B, n, C)
    z = blk.phi(blk.norm_flat(xb.reshape(len(xb), -1)))
    pre = torch.sigmoid(blk.alpha_pre * z[:, :n] + blk.b_pre)
    post = 2 * torch.sigmoid(blk.alpha_post * z[:, n : 2 * n] + blk.b_post)
    lp = (blk.alpha_res * z[:, 2 * n :].reshape(-1, n, n) + blk.b_res).to(blk.sinkhorn_dtype)
    for _ in range(blk.sinkhorn_iters):
        lp = lp - torch.logsumexp(lp, dim=-2, keepdim=True)
        lp = lp - torch.logsumexp(lp, dim=-1, keepdim=True)
    res = lp.exp()
    res = res + (1 - res.sum(-2, keepdim=True)) / n
    low = res.amin((-2, -1), keepdim=True)
    lam = torch.clamp(-low / (1 / n - low), min=0)
    res = ((1 - lam) * res + lam / n).to(x.dtype)
    f = blk.ff(blk.norm_in(torch.einsum("bj,bjc->bc", pre, xb)))
    out = torch.einsum("bij,bjc->bic", res, xb) + post[:, :, None] * f[:, None, :]
    return out.permute(1, 0, 2)


@pytest.mark.parametrize("replicated", [False, True])
@pytest.mark.parametrize("alpha_res", [0.5, 30.0])  # moderate logits, and wide ones
def test_block_matches_plain_autograd(replicated: bool, alpha_res: float) -> None:
    """The fused block (one autograd node, hand-accumulated stream gradient, scaled Sinkhorn)
    gives the outputs and gradients of autograd through the plain formulas (float64). For
    identical input streams H_res is not computed (its gradient is 0 in exact arithmetic)."""
    seed_everything(5)
    blk = MHCBlock(8, 4, layer=2).double()
    blk.sinkhorn_dtype = torch.float64
    with torch.no_grad():
        for p in blk.parameters():
            p.add_(0.3 * torch.randn_like(p))
        blk.alpha_res.fill_(alpha_res)
    g = torch.Generator().manual_seed(6)
    x0 = torch.randn(4, 33, 8, generator=g, dtype=torch.float64)
    if replicated:
        x0 = x0[0]
    w = torch.randn(4, 33, 8, generator=g, dtype=torch.float64)
    results = []
    for fn in (
        blk,
        lambda v: _plain_block(blk, v.unsqueeze(0).expand(4, -1, -1) if v.dim() == 2 else v),
    ):
        blk.zero_grad()
        x = x0.clone().requires_grad_()
        y = fn(x)
        (y * w).sum().backward()
        assert x.grad is not None
        grads = [
            torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in blk.parameters()
        ]
        results.append([y.detach(), x.grad, *grads])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_block_with_frozen_parameters_uses_plain_autograd() -> None:
    seed_everything(8)
    blk = MHCBlock(8, 4, layer=1)
    x0 = torch.randn(4, 16, 8)
    grads = []
    for frozen in (False, True):
        for p in blk.ff.parameters():
            p.requires_grad_(not frozen)
        x = x0.clone().requires_grad_()
        blk(x).square().sum().backward()
        assert x.grad is not None
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_sinkhorn_paths_agree_and_mixed_batches_differentiate() -> None:
    """Moderate logits (scaling vectors) and wide ones (shifted logsumexp) in one batch."""
    from quantbook.models.mhc import SCALED_RANGE, _Scaled, _Shifted

    g = torch.Generator().manual_seed(9)
    logits = torch.randn(4, 4, 64, generator=g, dtype=torch.float64) * 3
    assert float((logits.amax((0, 1)) - logits.amin((0, 1))).max()) <= SCALED_RANGE
    torch.testing.assert_close(_Scaled(logits, 20).p, _Shifted(logits, 20).p)
    mixed = torch.randn(5, 4, 4, generator=g, dtype=torch.float64)
    mixed[1:3] *= 40.0  # two wide samples among narrow ones
    mixed.requires_grad_()
    assert torch.autograd.gradcheck(lambda v: sinkhorn_knopp(v, iters=5), (mixed,))
