"""CPU kernels the training and sampling passes use: exact re-implementations of what they
replace, faster on the 2-core CPU the project is developed on (docs/performance.md).

- :func:`token_logprobs`: log-probs and entropies from logits in one chunked pass with a
  hand-written backward (no ``[N, T, V]`` temporaries).
- :func:`prepacked_linears`: sampling multiplies with prepacked weights, MKL's for fp32 and
  oneDNN's for bf16 (bitwise ``nn.Linear``'s results), where a timed probe finds them faster.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator

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


PROBE_ROUNDS = 3  # timed sweeps of each kind in the prepacking probe (interleaved)
_prepack_wins: dict[tuple[torch.dtype, int, int], bool] = {}  # (dtype, rows, weights) -> faster packed?


def packs(dtype: torch.dtype) -> bool:
    """Whether this torch and CPU have a prepacked linear kernel for ``dtype`` weights: MKL's sgemm
    for fp32, oneDNN's brgemm for bf16 (which needs avx512_bf16 or AMX to be worth it, and
    AVX-512 to run at all)."""
    if dtype == torch.float32:
        return bool(torch._C.has_mkl)
    if dtype == torch.bfloat16:
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def _pack(weight: torch.Tensor, rows: int) -> torch.Tensor:
    if weight.dtype == torch.float32:
        return torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)
    return torch.ops.mkldnn._reorder_linear_weight(weight, rows)


def _packed_linear(
    packed: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, rows: int, x: torch.Tensor
) -> torch.Tensor:
    if weight.dtype == torch.bfloat16:
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
    out = torch.ops.mkl._mkl_linear(x.reshape(-1, x.shape[-1]), packed, weight, bias, rows)
    return out.view(*x.shape[:-1], out.shape[-1])


def _probe_key(linears: list[torch.nn.Linear], rows: int) -> tuple[torch.dtype, int, int]:
    return linears[0].weight.dtype, rows, sum(m.weight.numel() for m in linears)


def packing_wins(linears: list[torch.nn.Linear], packed: list[torch.Tensor], rows: int) -> bool:
    """Whether ``rows`` rows multiply faster by every weight prepacked than by ``nn.Linear``'s
    kernel, timed once per process for each (dtype, rows, model size) and remembered.

    The probe is what a decoding step does: one product of ``rows`` rows by every weight, each
    read once, :data:`PROBE_ROUNDS` sweeps of each kind interleaved, in CPU time of the process
    (less sensitive than wall time to other jobs on the cores; about 0.3 s for SmolLM2 on one
    thread). Prepacking won wherever it was measured (fp32: with MKL's AMX, AVX-512, AVX-512
    with bf16 and AVX2 code paths; bf16: with AMX and with avx512_bf16; docs/performance.md),
    but MKL picks its code path by the CPU's vendor and model, so a CPU it was not measured on
    is timed rather than assumed. Both kinds give bitwise the same outputs, so the choice
    changes speed only, never a sampled token.
    """
    key = _probe_key(linears, rows)
    if key not in _prepack_wins:
        # Constant inputs: the probe must not draw from the global RNG (sampling and resume do).
        inputs = {m.in_features: torch.full((rows, m.in_features), 0.5, dtype=key[0]) for m in linears}

        def sweep(fn: Callable[[torch.nn.Linear, torch.Tensor], torch.Tensor]) -> float:
            t0 = time.process_time()
            for m, p in zip(linears, packed):
                fn(m, p)
            return time.process_time() - t0

        def plain(m: torch.nn.Linear, _: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.linear(inputs[m.in_features], m.weight, m.bias)

        def prepacked(m: torch.nn.Linear, p: torch.Tensor) -> torch.Tensor:
            return _packed_linear(p, m.weight, m.bias, rows, inputs[m.in_features])

        with torch.no_grad():
            times = [(sweep(plain), sweep(prepacked)) for _ in range(PROBE_ROUNDS + 1)][1:]  # the first warms up
        _prepack_wins[key] = statistics.median(t for _, t in times) < statistics.median(t for t, _ in times)
    return _prepack_wins[key]


@contextlib.contextmanager
def prepacked_linears(
    modules: list[torch.nn.Module], rows: int, enabled: bool = True, probe: bool = True
) -> Iterator[None]:
    """For the duration, each ``nn.Linear`` of ``modules`` multiplies with a prepacked weight.

    A decoding step multiplies a few rows (``rows``, the batch) by every weight. MKL's sgemm
    (fp32) then spends much of its time repacking each weight for the kernel, and oneDNN's
    bf16 matmul reorders it into its blocked layout; a copy packed once per sampling call
    skips that, with results bitwise equal to ``nn.Linear``'s. Only fp32 or bf16 weights on a
    CPU with the kernel (:func:`packs`), without autocast and without gradients, and with
    ``probe`` only where :func:`packing_wins` timed it faster on this CPU; otherwise (or
    ``enabled=False``) nothing changes.
    """
    linears = [
        m
        for m in modules
        if isinstance(m, torch.nn.Linear)
        and m.weight.device.type == "cpu"
        and "forward" not in m.__dict__  # a forward already wrapped by someone else is left alone
    ]
    dtypes = {m.weight.dtype for m in linears}
    if not (enabled and len(dtypes) == 1 and packs(*dtypes)) or (
        probe and not _prepack_wins.get(_probe_key(linears, rows), True)
    ):
        yield  # no kernel, or the probe found it slower here: not even packed
        return
    with torch.no_grad():
        packed = [_pack(m.weight, rows) for m in linears]
    if probe and not packing_wins(linears, packed, rows):
        yield
        return
    for m, p in zip(linears, packed):
        m.forward = functools.partial(_packed_linear, p, m.weight, m.bias, rows)
    try:
        yield
    finally:
        for m in linears:
            del m.forward
