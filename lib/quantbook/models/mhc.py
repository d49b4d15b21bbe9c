"""The mHC-MLP of SPEC §4: an MLP with manifold-constrained hyper-connections.

The hidden state is ``n`` parallel streams of width ``C`` (initialised by repeating the
embedded input). Each of the ``depth`` layers updates them as

.. math:: x_{l+1} = H^{res} x_l + {H^{post}}^\\top F(H^{pre} x_l)

with dynamic coefficients computed from :math:`x'`, the RMS-normalized flattened streams:

.. math::

    H^{pre} = \\sigma(\\alpha_{pre} x' \\phi_{pre} + b_{pre}), \\quad
    H^{post} = 2 \\sigma(\\alpha_{post} x' \\phi_{post} + b_{post}), \\quad
    H^{res} = \\mathrm{SK}(\\alpha_{res} \\mathrm{mat}(x' \\phi_{res}) + b_{res})

where SK is the Sinkhorn-Knopp projection onto doubly stochastic matrices
(:func:`sinkhorn_knopp`). The gating scalars :math:`\\alpha` start at 0.01, so the block
starts close to its *static* form (coefficients from the biases alone,
:meth:`MHCBlock.static_coefficients`). No dropout and no weight decay: the doubly stochastic
mixing (a convex combination of the streams, norm non-expanding) is the regulariser.

Symmetry: replicated streams stay replicated under a doubly stochastic mixing and a uniform
``H_post``; the biases are therefore initialised one-hot: layer ``l`` reads mainly from and
writes mainly to stream ``l mod n`` (``b_pre``, ``b_post``), and ``b_res`` is diagonal
(``res_diag``), between uniform mixing (0) and the identity (large).

Examples
--------
>>> import torch
>>> m = MHCMLP(15, width=16, depth=2, streams=4)
>>> m(torch.randn(8, 15)).shape
torch.Size([8])
>>> h = sinkhorn_knopp(torch.randn(3, 4, 4) * 5)
>>> bool(torch.allclose(h.sum(-1), torch.ones(3, 4), atol=1e-5))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn

__all__ = ["MHCBlock", "MHCCoefficients", "MHCMLP", "sinkhorn_knopp"]


class _SinkhornLog(torch.autograd.Function):
    """Log-domain Sinkhorn iterations on ``(n, n, B)`` logits (batch last, so the reductions
    over the two small axes are vectorized across the batch), with an analytic backward."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, iters: int) -> torch.Tensor:
        lp = logits
        probs = []
        for k in range(2 * iters):
            dim = k % 2  # 0: normalize columns (sum over rows i), 1: normalize rows
            m = lp.amax(dim, keepdim=True)
            e = (lp - m).exp()
            s = e.sum(dim, keepdim=True)
            probs.append(e / s)  # = exp(lp - logsumexp(lp))
            lp = lp - m - s.log()
        ctx.save_for_backward(*probs)
        return probs[-1]

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor, None]:
        probs = ctx.saved_tensors
        g = grads[0] * probs[-1]  # gradient with respect to the last log iterate
        for k in range(len(probs) - 1, -1, -1):
            # lp_k = lp_{k-1} - logsumexp(lp_{k-1}, dim): d/d lp_{k-1} = g - softmax * sum(g)
            g = g - probs[k] * g.sum(k % 2, keepdim=True)
        return g, None


def sinkhorn_knopp(logits: torch.Tensor, *, iters: int = 20) -> torch.Tensor:
    """Project ``exp(logits)`` onto the doubly stochastic matrices, in the log domain.

    Parameters
    ----------
    logits
        ``(..., n, n)`` logits (any float dtype; the model passes float32).
    iters
        Alternating column / row normalizations (SPEC: 20).

    Returns
    -------
    Tensor
        ``(..., n, n)`` non-negative matrices whose rows and columns sum to 1 (to rounding).

    Notes
    -----
    With :math:`L^{(0)} = ` logits, each iteration is

    .. math::

        L \\leftarrow L - \\operatorname{logsumexp}_i L_{ij} \\;(\\text{columns}), \\qquad
        L \\leftarrow L - \\operatorname{logsumexp}_j L_{ij} \\;(\\text{rows}),

    and :math:`P = \\exp(L)`: its rows sum to 1, its columns to :math:`c_j \\approx 1`.
    Working with logarithms never overflows, whatever the size of the logits; the backward
    pass differentiates through every iteration analytically
    (:math:`\\partial L' / \\partial L = g - \\operatorname{softmax}(L) \\sum g`).

    Sinkhorn converges slowly when the logits are large (a near-permutation: after 20
    iterations a column may still be off by 0.1 or more), so the result is then made exactly
    doubly stochastic: :math:`P' = P + \\mathbf 1 (\\mathbf 1 - c)^\\top / n` (rows and columns
    sum to 1) and, only if an entry turned negative, the smallest mix
    :math:`(1 - \\lambda) P' + \\lambda J / n` with the uniform matrix that restores
    non-negativity. For the model's moderate logits the correction is below 1e-3.

    Examples
    --------
    >>> sinkhorn_knopp(torch.zeros(2, 2))
    tensor([[0.5000, 0.5000],
            [0.5000, 0.5000]])
    """
    n = logits.shape[-1]
    batch_shape = logits.shape[:-2]
    lt = logits.reshape(-1, n, n).permute(1, 2, 0).contiguous()  # (i, j, B)
    return _sinkhorn_batch_last(lt, iters).permute(2, 0, 1).reshape(*batch_shape, n, n)


def _sinkhorn_batch_last(logits: torch.Tensor, iters: int) -> torch.Tensor:
    """:func:`sinkhorn_knopp` of ``(n, n, B)`` logits (batch last), result in that layout."""
    n = logits.shape[0]
    p = cast(torch.Tensor, _SinkhornLog.apply(logits, iters))
    col = p.sum(0, keepdim=True)  # (1, j, B)
    p = p + (1.0 - col) / n
    low = p.amin((0, 1), keepdim=True)
    lam = torch.clamp(-low / (1.0 / n - low), min=0.0)
    return (1.0 - lam) * p + lam / n


@dataclass(frozen=True)
class MHCCoefficients:
    """The coefficients of one block for a batch.

    Attributes
    ----------
    pre
        ``(n, B)`` :math:`H^{pre}` (in (0, 1)); the batch axis is last throughout.
    post
        ``(n, B)`` :math:`H^{post}` (in (0, 2)).
    res
        ``(n, n, B)`` :math:`H^{res}` (doubly stochastic in its first two axes).
    """

    pre: torch.Tensor
    post: torch.Tensor
    res: torch.Tensor


class MHCBlock(nn.Module):
    """One mHC layer over ``streams`` streams of width ``width``.

    Parameters
    ----------
    width
        Stream width ``C``.
    streams
        Number of streams ``n``.
    hidden
        Hidden width of the MLP sub-layer ``F`` (default ``2 C``).
    layer
        The layer's index (chooses the stream of the one-hot initial biases).
    alpha_init
        Initial gating scalars :math:`\\alpha_{pre}, \\alpha_{post}, \\alpha_{res}`.
    res_diag
        Initial diagonal of ``b_res`` (0: uniform mixing; large: identity).
    sinkhorn_iters
        Sinkhorn-Knopp iterations.
    """

    def __init__(
        self,
        width: int,
        streams: int = 4,
        *,
        hidden: int | None = None,
        layer: int = 0,
        alpha_init: float = 0.01,
        res_diag: float = 2.0,
        sinkhorn_iters: int = 20,
    ) -> None:
        super().__init__()
        n, c = streams, width
        self.streams, self.width, self.sinkhorn_iters = n, c, sinkhorn_iters
        self.norm_flat = nn.RMSNorm(n * c)
        # phi_pre | phi_post | phi_res in one matrix: one matmul for the three
        self.phi = nn.Linear(n * c, 2 * n + n * n, bias=False)
        self.alpha_pre = nn.Parameter(torch.tensor(alpha_init))
        self.alpha_post = nn.Parameter(torch.tensor(alpha_init))
        self.alpha_res = nn.Parameter(torch.tensor(alpha_init))
        k = layer % n
        onehot = torch.full((n,), -1.0)
        onehot[k] = 1.0
        self.b_pre = nn.Parameter(onehot.clone())
        b_post = torch.full((n,), -2.0)  # 2 sigmoid(-2) = 0.24
        b_post[k] = 0.0  # 2 sigmoid(0) = 1
        self.b_post = nn.Parameter(b_post)
        self.b_res = nn.Parameter(res_diag * torch.eye(n))
        h = hidden or 2 * c
        self.norm_in = nn.RMSNorm(c)
        self.ff = nn.Sequential(nn.Linear(c, h), nn.GELU(), nn.Linear(h, c))

    def coefficients(self, x: torch.Tensor) -> MHCCoefficients:
        """The dynamic :math:`H^{pre}, H^{post}, H^{res}` of streams ``x`` ``(n, B, C)``."""
        n, bsz = self.streams, x.shape[1]
        flat = x.permute(1, 0, 2).reshape(bsz, n * self.width)  # (B, nC): x_l flattened
        z = self.phi(self.norm_flat(flat)).T  # (2n + n^2, B)
        pre = torch.sigmoid(self.alpha_pre * z[:n] + self.b_pre[:, None])
        post = 2.0 * torch.sigmoid(self.alpha_post * z[n : 2 * n] + self.b_post[:, None])
        logits = self.alpha_res * z[2 * n :].reshape(n, n, bsz) + self.b_res[:, :, None]
        res = _sinkhorn_batch_last(logits.float(), self.sinkhorn_iters).to(x.dtype)
        return MHCCoefficients(pre, post, res)

    def static_coefficients(self) -> MHCCoefficients:
        """The coefficients with every gating scalar at 0 (biases only), batch of 1."""
        pre = torch.sigmoid(self.b_pre)[:, None]
        post = 2.0 * torch.sigmoid(self.b_post)[:, None]
        res = sinkhorn_knopp(self.b_res.float(), iters=self.sinkhorn_iters)[:, :, None]
        return MHCCoefficients(pre, post, res)

    def update(self, x: torch.Tensor, h: MHCCoefficients) -> torch.Tensor:
        """One update of streams ``x`` ``(n, B, C)`` with coefficients ``h`` (batch last).

        Written as sums of ``(B, 1) x (B, C)`` products over the small stream axes (contiguous
        and vectorized across the batch), not per-sample batched matmuls, which are slow on CPU.
        """
        pre = h.pre.unsqueeze(-1).unbind(0)  # n x (B, 1)
        post = h.post.unsqueeze(-1).unbind(0)
        res = [r.unbind(0) for r in h.res.unsqueeze(-1).unbind(0)]  # n x n x (B, 1)
        xs = x.unbind(0)  # n x (B, C)
        collapsed = pre[0] * xs[0]
        for pj, xj in zip(pre[1:], xs[1:], strict=True):
            collapsed = collapsed + pj * xj
        out = self.ff(self.norm_in(collapsed))  # (B, C)
        rows = []
        for pi, ri in zip(post, res, strict=True):
            acc = pi * out
            for rij, xj in zip(ri, xs, strict=True):
                acc = acc + rij * xj
            rows.append(acc)
        return torch.stack(rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.update(x, self.coefficients(x))


class MHCMLP(nn.Module):
    """mHC-MLP regressor: embed, ``depth`` mHC blocks over ``streams`` streams, read-out.

    Parameters
    ----------
    n_inputs
        Input features (the 15 styles).
    width
        Stream width ``C`` (the MLP's width at equal size).
    depth
        mHC layers (SPEC: 6).
    streams
        Parallel streams ``n`` (SPEC: 4).
    hidden
        Hidden width of each block's MLP sub-layer (default ``2 * width``).
    alpha_init, res_diag, sinkhorn_iters
        See :class:`MHCBlock`.

    Notes
    -----
    Read-out: a learned non-negative weighted mean of the streams (softmax weights, uniform at
    initialization), RMSNorm, a linear head to one output per sample.
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        width: int = 64,
        depth: int = 6,
        streams: int = 4,
        hidden: int | None = None,
        alpha_init: float = 0.01,
        res_diag: float = 2.0,
        sinkhorn_iters: int = 20,
    ) -> None:
        super().__init__()
        self.streams = streams
        self.embed = nn.Linear(n_inputs, width)
        self.blocks = nn.ModuleList(
            MHCBlock(
                width,
                streams,
                hidden=hidden,
                layer=i,
                alpha_init=alpha_init,
                res_diag=res_diag,
                sinkhorn_iters=sinkhorn_iters,
            )
            for i in range(depth)
        )
        self.readout = nn.Parameter(torch.zeros(streams))
        self.norm_out = nn.RMSNorm(width)
        self.head = nn.Linear(width, 1)

    def streams_of(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The streams ``(B, n, C)`` after the embedding and after each block."""
        s = self.embed(x).unsqueeze(0).expand(self.streams, -1, -1)
        out = [s]
        for blk in self.blocks:
            s = blk(s)
            out.append(s)
        return [t.permute(1, 0, 2) for t in out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.embed(x).unsqueeze(0).expand(self.streams, -1, -1)  # (n, B, C)
        for blk in self.blocks:
            s = blk(s)
        w = torch.softmax(self.readout, 0)
        pooled = (w[:, None, None] * s).sum(0)
        return self.head(self.norm_out(pooled)).squeeze(-1)

    @torch.no_grad()
    def h_res(self, x: torch.Tensor) -> torch.Tensor:
        """``(depth, B, n, n)``: every block's :math:`H^{res}` for inputs ``x`` (diagnostics)."""
        s = self.embed(x).unsqueeze(0).expand(self.streams, -1, -1)
        hs = []
        for b in self.blocks:
            blk = cast(MHCBlock, b)
            h = blk.coefficients(s)
            hs.append(h.res.permute(2, 0, 1))
            s = blk.update(s, h)
        return torch.stack(hs)
