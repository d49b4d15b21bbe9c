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

Speed (CPU, the shared training loop): the streams are ``(n, B, C)`` and the coefficients
batch-last, so the mixing is a few broadcast multiply-adds over ``(B, C)`` arrays and the
Sinkhorn reductions run over the small axes, vectorized across the batch; the first block
works on the embedding once instead of ``n`` copies (and skips its ``H_res``, which cannot
act on identical streams); Sinkhorn keeps ``(n, B)`` scaling vectors instead of
``(n, n, B)`` iterates; in training each block is a single autograd node whose stream
gradient is accumulated by hand (:class:`MHCBlock`, Notes). The benchmark
``benchmarks/mhc_step.py`` checks the result against a plain implementation of the formulas
and times a training step against the residual MLP.

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


#: Largest per-matrix logit range (max - min) for which the iterations run on the
#: exponentials with scaling vectors (see :func:`sinkhorn_knopp`, Notes); wider matrices take
#: the max-shifted logsumexp path.
SCALED_RANGE = 30.0


class _Scaled:
    """Sinkhorn on the exponentials, kept as :math:`P_k = \\mathrm{diag}(u_k)\\, K\\,
    \\mathrm{diag}(v_k)` with :math:`K = \\exp(L - \\max L)`: a column step is
    :math:`v \\leftarrow 1 / K^\\top u`, a row step :math:`u \\leftarrow 1 / K v` (the same
    iterates as :math:`L \\leftarrow L - \\operatorname{logsumexp}(L)`, exact when no entry can
    underflow, i.e. for a bounded logit range). Only the ``(n, B)`` scaling vectors of each
    half-step are kept for the backward pass, not the ``(n, n, B)`` iterates, and every
    half-step works in two arrays of the size of ``K``, which stay in cache."""

    def __init__(self, logits: torch.Tensor, iters: int) -> None:
        k = (logits - logits.amax((0, 1), keepdim=True)).exp_()  # (n, n, B)
        n = k.shape[0]
        u = k.new_ones((n, 1, k.shape[2]))
        v = k.new_ones((1, n, k.shape[2]))
        tmp = torch.empty_like(k)
        self.k, self.us, self.vs = k, [], []
        for step in range(2 * iters):
            if step % 2 == 0:  # columns: sum over rows i
                t = k.sum(0, keepdim=True) if step == 0 else torch.mul(k, u, out=tmp).sum(0, True)
                v = t.reciprocal_()
            else:  # rows: sum over columns j
                u = torch.mul(k, v, out=tmp).sum(1, keepdim=True).reciprocal_()
            self.us.append(u)
            self.vs.append(v)
        self.p = k * u * v

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        """Gradient with respect to the logits from ``g`` = gradient w.r.t. the last log iterate."""
        tmp = torch.empty_like(g)
        for step in range(len(self.us) - 1, -1, -1):
            u, v = self.us[step], self.vs[step]
            if step % 2 == 0:  # P_k * colsum(g) = K * (u (v * c)^T)
                torch.mul(u, v * g.sum(0, keepdim=True), out=tmp)
            else:  # P_k * rowsum(g) = K * ((u * r) v^T)
                torch.mul(u * g.sum(1, keepdim=True), v, out=tmp)
            g.addcmul_(self.k, tmp, value=-1.0)
        return g


class _Shifted:
    """Sinkhorn with a max-shifted logsumexp at every half-step (any logits); keeps the
    iterates :math:`P_k = \\exp(L^{(k)})` for the backward pass."""

    def __init__(self, logits: torch.Tensor, iters: int) -> None:
        lp = logits
        self.probs: list[torch.Tensor] = []
        for step in range(2 * iters):
            dim = step % 2
            m = lp.amax(dim, keepdim=True)
            e = (lp - m).exp_()
            s = e.sum(dim, keepdim=True)
            self.probs.append(e / s)  # = exp(lp - logsumexp(lp))
            lp = lp - (m + s.log())
        self.p = self.probs[-1]

    def backward(self, g: torch.Tensor) -> torch.Tensor:
        """Gradient with respect to the logits from ``g`` = gradient w.r.t. the last log iterate."""
        for step in range(len(self.probs) - 1, -1, -1):
            g.addcmul_(self.probs[step], g.sum(step % 2, keepdim=True), value=-1.0)
        return g


class _SinkhornLog(torch.autograd.Function):
    """Log-domain Sinkhorn iterations on ``(n, n, B)`` logits (batch last, so the reductions
    over the two small axes are vectorized across the batch), with an analytic backward.

    Samples whose logit range is at most :data:`SCALED_RANGE` are iterated with scaling
    vectors (:class:`_Scaled`), the others with max-shifted logsumexps (:class:`_Shifted`);
    both compute the same iterates (to rounding) and differentiate them the same way: with
    :math:`L_k = L_{k-1} - \\operatorname{logsumexp}_d L_{k-1}` and
    :math:`\\operatorname{softmax}_d L_{k-1} = \\exp L_k = P_k`,
    :math:`\\partial L_{k-1} = \\partial L_k - P_k \\sum_d \\partial L_k`."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, iters: int) -> torch.Tensor:
        logits = logits.contiguous()
        wide = (logits.amax((0, 1)) - logits.amin((0, 1))) > SCALED_RANGE  # (B,)
        parts: list[tuple[torch.Tensor | None, _Scaled | _Shifted]] = []
        if not bool(wide.any()):
            parts.append((None, _Scaled(logits, iters)))
        elif bool(wide.all()):
            parts.append((None, _Shifted(logits, iters)))
        else:
            iw, ik = wide.nonzero().squeeze(1), (~wide).nonzero().squeeze(1)
            parts.append((iw, _Shifted(logits.index_select(2, iw), iters)))
            parts.append((ik, _Scaled(logits.index_select(2, ik), iters)))
        if len(parts) == 1:
            p = parts[0][1].p
        else:
            p = torch.empty_like(logits)
            for ix, part in parts:
                p.index_copy_(2, cast(torch.Tensor, ix), part.p)
        ctx.parts = parts
        ctx.save_for_backward(p)
        # exact column sums: P' = P + 1 (1 - c)^T / n (rows keep summing to 1)
        n = p.shape[0]
        return p + (1.0 - p.sum(0, keepdim=True)) / n

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor, None]:
        (p,) = ctx.saved_tensors
        # through the column correction (dP'_ij / dP_kj = delta_ik - 1/n), then to the last log
        # iterate; batch-last contiguous whatever the layout of the incoming gradient (the
        # reductions are over the small axes)
        go = grads[0].contiguous()
        g = (go - go.sum(0, keepdim=True) / p.shape[0]).mul_(p)
        parts = ctx.parts
        if len(parts) == 1:
            return parts[0][1].backward(g), None  # (g is a fresh array, updated in place)
        out = torch.empty_like(g)
        for ix, part in parts:
            out.index_copy_(2, ix, part.backward(g.index_select(2, ix)))
        return out, None


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

    Evaluation: for a matrix whose logit range :math:`\\max L - \\min L` is at most
    :data:`SCALED_RANGE`, no entry of any iterate can underflow, and the same iterations are
    run on :math:`K = \\exp(L - \\max L)` with scaling vectors, :math:`P = \\mathrm{diag}(u) K
    \\mathrm{diag}(v)`, :math:`v \\leftarrow 1 / K^\\top u`, :math:`u \\leftarrow 1 / K v`
    (:math:`\\log u_i + \\log v_j` is the accumulated logsumexp shift); wider matrices use
    max-shifted logsumexps at every half-step. Both give the same iterates to rounding and
    the same backward pass.

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
    p = cast(torch.Tensor, _SinkhornLog.apply(logits, iters))  # columns corrected
    low = p.amin((0, 1), keepdim=True)
    if bool((low > 0).all()):  # lambda = 0 everywhere: the mix below would be the identity
        return p
    lam = torch.clamp(-low / (1.0 / n - low), min=0.0)
    return (1.0 - lam) * p + lam / n


def _vdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample inner products over the last axis: ``(n, B, C)`` (or ``(B, C)``) with
    ``(n, B, C)`` or ``(B, C)``, result ``(n, B)`` (or ``(B,)``).

    One stream at a time, through one ``(B, C)`` scratch array reused for every product (a
    new temporary per product would be written to memory that is not in cache, which costs
    more than the product itself); plain ``vecdot`` where autograd records the product."""
    if (a.dim() == 2 and b.dim() == 2) or (
        torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)
    ):
        return torch.linalg.vecdot(a, b)
    n = a.shape[0] if a.dim() == 3 else b.shape[0]
    out = a.new_empty((n, a.shape[-2]))
    scratch = a.new_empty(a.shape[-2:])
    for i in range(n):
        torch.mul(a[i] if a.dim() == 3 else a, b[i] if b.dim() == 3 else b, out=scratch)
        torch.sum(scratch, -1, out=out[i])
    return out


class _Collapse(torch.autograd.Function):
    """:math:`y = \\sum_j p_j \\odot x_j` per sample: streams ``x`` ``(n, B, C)`` (or ``(B, C)``
    for ``n`` identical streams), weights ``p`` ``(n, B)``; result ``(B, C)``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, p)
        if x.dim() == 2:  # replicated streams
            return x * p.sum(0).unsqueeze(-1)
        out = x[0] * p[0].unsqueeze(-1)
        for j in range(1, x.shape[0]):
            out.addcmul_(x[j], p[j].unsqueeze(-1))
        return out

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, p = ctx.saved_tensors
        g = grads[0]  # (B, C)
        gx = gp = None
        if ctx.needs_input_grad[0]:
            gx = g * p.sum(0).unsqueeze(-1) if x.dim() == 2 else p.unsqueeze(-1) * g
        if ctx.needs_input_grad[1]:
            gp = _vdot(x, g)
            if x.dim() == 2:
                gp = gp.expand_as(p)
        return gx, gp


class _Mix(torch.autograd.Function):
    """:math:`y_i = q_i \\odot f + \\sum_j R_{ij} \\odot x_j` per sample: streams ``x``
    ``(n, B, C)`` (or ``(B, C)`` for ``n`` identical streams), sub-layer output ``f``
    ``(B, C)``, ``R`` ``(n, n, B)``, ``q`` ``(n, B)``; result ``(n, B, C)``.

    The result is accumulated in place, one broadcast product (``addcmul``) per input
    stream; the backward pass returns :math:`\\partial x_j = \\sum_i R_{ij} g_i`, :math:`\\partial
    f = \\sum_i q_i g_i` and the per-sample inner products :math:`\\partial R_{ij} = \\langle
    g_i, x_j \\rangle`, :math:`\\partial q_i = \\langle g_i, f \\rangle`."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, f: torch.Tensor, r: torch.Tensor, q: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(x, f, r, q)
        out = q.unsqueeze(-1) * f  # (n, B, C)
        if x.dim() == 2:  # replicated: sum_j R_ij x = rowsum_i x
            if r is None:  # rows of a doubly stochastic matrix sum to 1
                return out.add_(x)
            return out.addcmul_(r.sum(1).unsqueeze(-1), x)
        for j in range(x.shape[0]):
            out.addcmul_(r[:, j].unsqueeze(-1), x[j])
        return out

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, f, r, q = ctx.saved_tensors
        g = grads[0]  # (n, B, C)
        gx = gf = gr = gq = None
        if ctx.needs_input_grad[0]:
            gx = _mix_input_grad(g, r, x.dim() == 2)
        if ctx.needs_input_grad[1]:  # df = sum_i q_i g_i
            gf = g[0] * q[0].unsqueeze(-1)
            for i in range(1, g.shape[0]):
                gf.addcmul_(g[i], q[i].unsqueeze(-1))
        if ctx.needs_input_grad[2] and r is not None:  # dR_ij = <g_i, x_j>
            if x.dim() == 2:
                gr = _vdot(g, x).unsqueeze(1).expand_as(r)
            else:
                gr = torch.einsum("ibc,jbc->ijb", g, x)
        if ctx.needs_input_grad[3]:  # dq_i = <g_i, f>
            gq = _vdot(g, f)
        return gx, gf, gr, gq


def _mix_input_grad(g: torch.Tensor, r: torch.Tensor | None, replicated: bool) -> torch.Tensor:
    """:math:`\\partial x_j = \\sum_i R_{ij} g_i` (replicated input: :math:`\\sum_i (\\sum_j
    R_{ij}) g_i`, and :math:`\\sum_i g_i` for ``r`` None, the rows summing to 1)."""
    n = g.shape[0]
    if r is None:
        return g.sum(0)
    if replicated:
        rows = r.sum(1)
        gx = g[0] * rows[0].unsqueeze(-1)
        for i in range(1, n):
            gx.addcmul_(g[i], rows[i].unsqueeze(-1))
        return gx
    gx = r[0].unsqueeze(-1) * g[0]  # (n, B, 1) x (B, C): row i = 0 of every R^T x
    for i in range(1, n):
        gx.addcmul_(r[i].unsqueeze(-1), g[i])
    return gx


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


@dataclass(frozen=True)
class _Pass:
    """What one block's forward pass keeps for the hand-written part of its backward."""

    out: torch.Tensor  # (n, B, C) the new streams
    pre: torch.Tensor  # (n, B)
    post: torch.Tensor  # (n, B)
    res: torch.Tensor | None  # (n, n, B); None for identical input streams (not needed)
    z: torch.Tensor  # (B, m) x' phi (RMS-normalized)
    zraw: torch.Tensor  # (B, m) the same before the RMS scaling
    rstd: torch.Tensor  # (B,) reciprocal RMS of the flattened streams
    collapsed: torch.Tensor  # (B, C) H_pre x


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

    Notes
    -----
    The streams are ``(n, B, C)`` (stream axis first, batch second); a ``(B, C)`` input
    stands for ``n`` identical streams (the first block's, a repeated embedding), which makes
    the block's products ``n`` times cheaper there. In training, the block is one autograd
    node (:class:`_BlockFunction`): the gradient of the streams, which reaches them through
    four paths (the mixing :math:`H^{res}`, the collapse :math:`H^{pre}`, the projection
    :math:`x'\\phi` and the RMS scale of :math:`x'`), is accumulated by hand into one array,
    and autograd differentiates the rest (parameters, Sinkhorn, sub-layer).
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
        #: dtype of the Sinkhorn iterations (SPEC §4: float32, whatever the model's dtype)
        self.sinkhorn_dtype = torch.float32
        self.norm_flat = nn.RMSNorm(n * c)
        # phi_pre | phi_post | phi_res in one matrix: one product for the three
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

    def _eps(self, dtype: torch.dtype) -> float:
        eps = self.norm_flat.eps
        return float(eps) if eps is not None else float(torch.finfo(dtype).eps)

    def _scaled_phi(self) -> torch.Tensor:
        """``(m, n, C)``: :math:`\\gamma \\odot \\phi` (RMSNorm weight folded into the
        projection), split by stream."""
        w = self.phi.weight * self.norm_flat.weight
        return w.view(w.shape[0], self.streams, self.width)

    def _coefficients(
        self, x: torch.Tensor, *, with_res: bool = True
    ) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor
    ]:
        """``pre, post, res, z, zraw, rstd`` (``res`` None unless ``with_res``)."""
        n, c = self.streams, self.width
        w = self._scaled_phi()  # (m, n, C)
        eps = self._eps(x.dtype)
        if x.dim() == 2:  # n identical streams: mean square = |x|^2 / C, one product
            rstd = torch.rsqrt(_vdot(x, x) / c + eps)
            zraw = x @ w.sum(1).T
        else:
            rstd = torch.rsqrt(_vdot(x, x).sum(0) / (n * c) + eps)
            wt = w.permute(1, 2, 0)  # (n, C, m)
            zraw = torch.mm(x[0], wt[0])  # sum_j x_j (gamma phi)_j, accumulated in place
            for j in range(1, n):
                zraw = zraw.addmm(x[j], wt[j])
        z = zraw * rstd.unsqueeze(-1)  # (B, m) = x' phi
        zt = z.T.contiguous()  # (m, B): batch last and contiguous, for the small-axis sums
        pre = torch.sigmoid(self.alpha_pre * zt[:n] + self.b_pre[:, None])
        post = 2.0 * torch.sigmoid(self.alpha_post * zt[n : 2 * n] + self.b_post[:, None])
        res = None
        if with_res:
            logits = self.alpha_res * zt[2 * n :].reshape(n, n, -1) + self.b_res[:, :, None]
            res = _sinkhorn_batch_last(logits.to(self.sinkhorn_dtype), self.sinkhorn_iters)
            res = res.to(x.dtype)
        return pre, post, res, z, zraw, rstd

    def coefficients(self, x: torch.Tensor) -> MHCCoefficients:
        """The dynamic :math:`H^{pre}, H^{post}, H^{res}` of streams ``x`` ``(n, B, C)``.

        Notes
        -----
        :math:`x'\\phi = r \\sum_i x_i (\\gamma \\odot \\phi)_i` with
        :math:`r = (\\overline{x^2} + \\epsilon)^{-1/2}` the reciprocal RMS over the ``nC``
        entries of a sample and :math:`(\\gamma \\odot \\phi)_i` the columns of stream ``i``
        of the projection scaled by the RMSNorm weight: the same as
        ``phi(norm_flat(flatten(x)))``, without materializing the normalized streams, and
        the three projections are one product.
        """
        pre, post, res, *_ = self._coefficients(x)
        assert res is not None
        return MHCCoefficients(pre, post, res)

    def static_coefficients(self) -> MHCCoefficients:
        """The coefficients with every gating scalar at 0 (biases only), batch of 1."""
        pre = torch.sigmoid(self.b_pre)[:, None]
        post = 2.0 * torch.sigmoid(self.b_post)[:, None]
        res = sinkhorn_knopp(self.b_res.to(self.sinkhorn_dtype), iters=self.sinkhorn_iters)
        return MHCCoefficients(pre, post, res[:, :, None].to(self.b_res.dtype))

    def update(self, x: torch.Tensor, h: MHCCoefficients) -> torch.Tensor:
        """One update of streams ``x`` ``(n, B, C)`` with coefficients ``h`` (batch last).

        The collapse :math:`H^{pre} x` and the mixing :math:`H^{res} x + {H^{post}}^\\top F`
        are sums of ``(B, 1) x (B, C)`` products over the small stream axes, accumulated in
        place (:class:`_Collapse`, :class:`_Mix`), not per-sample batched matmuls, which are
        slow on CPU.
        """
        return self._update(x, h.pre, h.post, h.res)[0]

    def _update(
        self, x: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, res: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        collapsed = cast(torch.Tensor, _Collapse.apply(x, pre))  # (B, C)
        f = self.ff(self.norm_in(collapsed))  # (B, C)
        return cast(torch.Tensor, _Mix.apply(x, f, res, post)), collapsed

    def _pass(self, x: torch.Tensor) -> _Pass:
        """The block's forward pass. Identical input streams (``x`` of shape ``(B, C)``) are
        left unchanged by any doubly stochastic :math:`H^{res}` (its rows sum to 1), so it is
        not computed for them (and gets no gradient, as it has none)."""
        pre, post, res, z, zraw, rstd = self._coefficients(x, with_res=x.dim() == 3)
        out, collapsed = self._update(x, pre, post, res)
        return _Pass(out, pre, post, res, z, zraw, rstd, collapsed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """New streams ``(n, B, C)`` from streams ``x`` ``(n, B, C)``, or ``(B, C)`` for ``n``
        identical streams.

        In training (gradients enabled, every parameter trainable) the block is one autograd
        node (:class:`_BlockFunction`); otherwise plain autograd through the same functions.
        """
        params = tuple(self.parameters())
        if torch.is_grad_enabled() and all(p.requires_grad for p in params):
            return cast(torch.Tensor, _BlockFunction.apply(x, self, *params))
        return self._pass(x).out

    def _streams_grad(
        self, x: torch.Tensor, g: torch.Tensor, p: _Pass, gz: torch.Tensor, gc: torch.Tensor
    ) -> torch.Tensor:
        """The gradient of the streams ``x`` from the four paths (see Notes of the class).

        With :math:`m` = mean square, :math:`r = (m + \\epsilon)^{-1/2}`, :math:`z = r\\,
        \\tilde z`, :math:`\\tilde z = \\sum_j x_j W_j^\\top`: :math:`\\partial x_j =
        \\sum_i R_{ij} g_i + p_j g_c + r\\,(g_z W_j) - x_j\\,r^3 \\langle g_z, \\tilde z
        \\rangle / (nC)`; identical streams get the sum over ``j``.
        """
        n, c = self.streams, self.width
        w = self._scaled_phi().detach()  # (m, n, C)
        gzr = gz * p.rstd.unsqueeze(-1)
        k = (_vdot(gz, p.zraw) * p.rstd.pow(3)).neg_()  # (B,)
        if x.dim() == 2:
            gx = _mix_input_grad(g, p.res, replicated=True)
            gx.addmm_(gzr, w.sum(1))
            gx.addcmul_(x, (k / c).unsqueeze(-1))
            gx.addcmul_(gc, p.pre.sum(0).unsqueeze(-1))
            return gx
        gx = torch.bmm(gzr.expand(n, -1, -1), w.transpose(0, 1))  # r (g_z W_j), (n, B, C)
        gx.addcmul_(x, (k / (n * c)).unsqueeze(-1))
        gx.addcmul_(p.pre.unsqueeze(-1), gc)
        r = p.res
        assert r is not None
        for i in range(n):
            gx.addcmul_(r[i].unsqueeze(-1), g[i])
        return gx


class _BlockFunction(torch.autograd.Function):
    """One :class:`MHCBlock` as a single autograd node.

    Forward: the block's pass on the streams taken as constants, with autograd recording the
    parameters' part of the graph. Backward: autograd differentiates that graph (the
    parameters, the Sinkhorn iterations, the sub-layer) and returns the gradients that reach
    :math:`z = x'\\phi` and the collapsed stream; the streams' gradient is then accumulated
    by hand (:meth:`MHCBlock._streams_grad`). The result equals autograd through the plain
    formulas (``tests/test_mhc.py``, ``benchmarks/mhc_step.py``).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, block: MHCBlock, *params: torch.Tensor) -> torch.Tensor:
        xc = x.detach()
        with torch.enable_grad():
            p = block._pass(xc)
        ctx.block, ctx.x, ctx.p = block, xc, p
        return p.out.detach()

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.p is None:
            raise RuntimeError(
                "an mHC block's graph is freed after its backward pass (retain_graph is not "
                "supported through MHCBlock in training mode)"
            )
        block: MHCBlock = ctx.block
        x: torch.Tensor = ctx.x
        p: _Pass = ctx.p
        g = grads[0].contiguous()
        params = tuple(block.parameters())
        wanted = [i for i, need in enumerate(ctx.needs_input_grad[2:]) if need]
        got = torch.autograd.grad(
            p.out,
            [p.z, p.collapsed, *(params[i] for i in wanted)],
            grad_outputs=g,
            allow_unused=True,
        )
        gz, gc = got[0], got[1]
        pgrads: list[torch.Tensor | None] = [None] * len(params)
        for i, gi in zip(wanted, got[2:], strict=True):
            pgrads[i] = gi
        gx = None
        if ctx.needs_input_grad[0]:
            gx = block._streams_grad(
                x,
                g,
                p,
                gz if gz is not None else torch.zeros_like(p.z),
                gc if gc is not None else torch.zeros_like(p.collapsed),
            )
        ctx.p = ctx.x = None
        return (gx, None, *pgrads)


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
    The first block receives the embedded input once, standing for ``n`` identical streams.
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
        s = self.embed(x)  # (B, C): n identical streams
        out = [s.unsqueeze(1).expand(-1, self.streams, -1)]
        for blk in self.blocks:
            s = blk(s)
            out.append(s.permute(1, 0, 2))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.embed(x)  # (B, C): n identical streams
        for blk in self.blocks:
            s = blk(s)
        if s.dim() == 2:  # no blocks
            pooled = s
        else:
            w = torch.softmax(self.readout, 0)
            pooled = _Collapse.apply(s, w.unsqueeze(-1).expand(-1, s.shape[1]))
        return self.head(self.norm_out(cast(torch.Tensor, pooled))).squeeze(-1)

    @torch.no_grad()
    def h_res(self, x: torch.Tensor) -> torch.Tensor:
        """``(depth, B, n, n)``: every block's :math:`H^{res}` for inputs ``x`` (diagnostics)."""
        s = self.embed(x)
        hs = []
        for b in self.blocks:
            blk = cast(MHCBlock, b)
            h = blk.coefficients(s)
            hs.append(h.res.permute(2, 0, 1))
            s = blk.update(s, h)
        return torch.stack(hs)
