"""CPU kernels the training and sampling passes use: exact re-implementations of what they
replace, faster on the 2-core CPU the project is developed on (docs/performance.md).

- :func:`token_logprobs`: log-probs and entropies from logits in one chunked pass with a
  hand-written backward (no ``[N, T, V]`` temporaries).
- :func:`prepacked_linears`: sampling multiplies with MKL-prepacked weights (bitwise
  ``nn.Linear``'s results).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch


class _TokenLogprobs(torch.autograd.Function):
    """Log-probs and entropies from logits ``[N, T, V]`` in one pass over the vocabulary.

    Per position with logits z, temperature τ, x = z / τ, sampled token k and p = softmax(x):

        log p_k = x_k - logsumexp(x)         d log p_k / dz = (onehot(k) - p) / τ
        H       = logsumexp(x) - Σ_j p_j x_j (returned without gradient)

    τ is the sampler's temperature, so that the log-probs are those of the distribution the
    tokens were drawn from; τ = 1 runs no extra operation.

    Composed from torch ops, this costs several ``[N, T, V]`` temporaries (the softmax
    of the logsumexp backward, gather's zero-filled gradient and their sum, the
    log-softmax, exp and product of the entropy), each a fresh allocation of V floats
    per position that the kernel zero-fills page by page. Here a few rows at a time are
    reduced while they are in cache, and the backward writes the gradient once.
    """

    POSITIONS = 64  # positions per chunk: 64 x 49k floats = 12 MB

    @staticmethod
    def chunks(N: int, T: int) -> list[slice]:
        """Slices of the N rows, each about POSITIONS positions (at least one row)."""
        step = max(1, _TokenLogprobs.POSITIONS // max(T, 1))
        return [slice(i, i + step) for i in range(0, N, step)]

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor, tokens: torch.Tensor, temperature: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        N, T = tokens.shape
        dtype = torch.promote_types(logits.dtype, torch.float32)  # bf16 logits reduce in fp32
        lse = logits.new_empty((N, T), dtype=dtype)
        logprobs, entropy = torch.empty_like(lse), torch.empty_like(lse)
        for rows in _TokenLogprobs.chunks(N, T):
            x = logits[rows].to(dtype)  # [n, T, V]
            if temperature != 1.0:
                x = x / temperature
            top = x.amax(dim=-1, keepdim=True)
            e = (x - top).exp_()
            total = e.sum(dim=-1)
            lse[rows] = top.squeeze(-1) + total.log()
            logprobs[rows] = x.gather(-1, tokens[rows].unsqueeze(-1)).squeeze(-1) - lse[rows]
            entropy[rows] = lse[rows] - (e * x).sum(dim=-1) / total
        ctx.save_for_backward(logits, tokens, lse)
        ctx.temperature = temperature
        ctx.mark_non_differentiable(entropy)
        return logprobs, entropy

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor, _: torch.Tensor
    ) -> tuple[torch.Tensor, None, None]:
        logits, tokens, lse = ctx.saved_tensors
        tau = ctx.temperature
        out = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        for rows in _TokenLogprobs.chunks(*tokens.shape):
            g = grad[rows].to(lse.dtype).unsqueeze(-1)  # [n, T, 1]
            x = logits[rows].to(lse.dtype)
            if tau != 1.0:
                x, g = x / tau, g / tau
            d = (x - lse[rows].unsqueeze(-1)).exp_().mul_(-g)  # -g p
            out[rows] = d.scatter_add_(-1, tokens[rows].unsqueeze(-1), g)  # + g onehot(k)
        return out, None, None


def token_logprobs(
    logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each ``tokens[n, t]`` under ``softmax(logits[n, t, :] / temperature)``,
    and the entropy there.

    Returns ``(logprobs, entropy)``, both ``[N, T]`` in fp32 (or fp64 for fp64 logits);
    gradients flow to the logits through ``logprobs`` only. ``logits`` may be a strided
    view (a slice of a longer sequence): it is read in place, never copied whole.
    """
    return _TokenLogprobs.apply(logits, tokens, temperature)


@contextlib.contextmanager
def prepacked_linears(modules: list[torch.nn.Module], rows: int, enabled: bool = True) -> Iterator[None]:
    """For the duration, each ``nn.Linear`` of ``modules`` multiplies with a prepacked weight.

    A decoding step multiplies a few rows (``rows``, the batch) by every weight, and
    MKL's sgemm then spends much of its time repacking each weight for the kernel. A copy
    packed once per sampling call skips that: about a quarter off the decoding matmuls of
    the default workload on the benchmark CPU, with results bitwise equal to
    ``nn.Linear``'s. Only fp32 weights on a CPU with an MKL build of torch, without
    autocast and without gradients; otherwise (or ``enabled=False``) nothing changes.
    """
    linears = [
        m
        for m in modules
        if isinstance(m, torch.nn.Linear)
        and m.weight.device.type == "cpu"
        and m.weight.dtype == torch.float32
        and "forward" not in m.__dict__  # a forward already wrapped by someone else is left alone
    ]
    if not (enabled and torch._C.has_mkl and linears):
        yield
        return
    with torch.no_grad():
        for m in linears:
            packed = torch.ops.mkl._mkl_reorder_linear_weight(m.weight, rows)
            m.forward = functools.partial(_packed_linear, packed, m.weight, m.bias, rows)
    try:
        yield
    finally:
        for m in linears:
            del m.forward


def _packed_linear(
    packed: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rows: int, x: torch.Tensor
) -> torch.Tensor:
    out = torch.ops.mkl._mkl_linear(x.reshape(-1, x.shape[-1]), packed, weight, bias, rows)
    return out.view(*x.shape[:-1], out.shape[-1])
