"""The two CPU kernels behind the throughput figures, each against what it replaced.

    python benchmarks/kernels.py

1. Log-probs and entropy of the sampled tokens from logits [16, 47, 49152] (the default
   workload's minibatch), forward and backward: ``kernels.token_logprobs`` against the
   same maths composed from torch ops (gather - logsumexp, and log_softmax for the entropy).
2. One decoding step's matrix products, M = 16 rows by every weight of SmolLM2-135M
   (30 layers x 7 weights and the 49,152-word output layer, 540 MB of fp32): ``nn.Linear``
   against MKL-prepacked weights (``kernels.prepacked_linears``). Each sweep reads every
   weight once, as a decoding step does, so the weights come from memory, not cache.

Printed: the median of several timings of each, interleaved so that a slow spell of a
shared machine falls on both.
"""

from __future__ import annotations

import statistics
import time

import torch

from biasgrpo.kernels import token_logprobs

SMOLLM2_LAYER = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)]


def composed(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The composed-ops version that token_logprobs replaced."""
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    logprobs = picked - torch.logsumexp(logits, dim=-1)
    with torch.no_grad():
        logp = torch.log_softmax(logits, dim=-1)
        entropy = -(logp.exp() * logp).sum(-1)
    return logprobs, entropy


def logprob_kernels(repeats: int = 7) -> None:
    torch.manual_seed(0)
    shape, V = (16, 47), 49152
    tokens = torch.randint(0, V, shape)
    grad = torch.randn(shape)
    results: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, fn in (("composed torch ops", composed), ("token_logprobs", token_logprobs)):
            logits = torch.randn(*shape, V, requires_grad=True)
            t0 = time.perf_counter()
            logprobs, _ = fn(logits, tokens)
            t1 = time.perf_counter()
            logprobs.backward(grad)
            t2 = time.perf_counter()
            results.setdefault(name + " fwd", []).append(t1 - t0)
            results.setdefault(name + " bwd", []).append(t2 - t1)
    print(f"log-probs + entropy of logits {[*shape, V]}, median of {repeats} (ms):")
    for name in ("composed torch ops", "token_logprobs"):
        fwd, bwd = (1e3 * statistics.median(results[f"{name} {p}"]) for p in ("fwd", "bwd"))
        print(f"  {name:20s} forward {fwd:7.1f}  backward {bwd:7.1f}  total {fwd + bwd:7.1f}")


def decoding_matmuls(rows: int = 16, repeats: int = 7) -> None:
    torch.manual_seed(0)
    weights = [torch.randn(o, i) for o, i in SMOLLM2_LAYER * 30] + [torch.randn(49152, 576)]
    inputs = {i: torch.randn(rows, i) for i in (576, 1536)}
    print(
        f"\none decoding step's matmuls, {rows} rows x {sum(w.numel() for w in weights) * 4 / 1e6:.0f} MB of weights:"
    )

    def plain() -> None:
        for w in weights:
            torch.nn.functional.linear(inputs[w.shape[1]], w)

    sweeps = {"nn.Linear": plain}
    if torch._C.has_mkl:
        packed = [torch.ops.mkl._mkl_reorder_linear_weight(w, rows) for w in weights]

        def prepacked() -> None:
            for p, w in zip(packed, weights):
                torch.ops.mkl._mkl_linear(inputs[w.shape[1]], p, w, None, rows)

        sweeps["MKL prepacked"] = prepacked
    else:
        print("  (this torch has no MKL: prepacking is not used here)")
    for fn in sweeps.values():
        fn()  # warm-up
    results: dict[str, list[float]] = {name: [] for name in sweeps}
    for _ in range(repeats):
        for name, fn in sweeps.items():
            t0 = time.perf_counter()
            fn()
            results[name].append(1e3 * (time.perf_counter() - t0))
    for name, times in results.items():
        print(f"  {name:20s} {statistics.median(times):7.1f} ms per step (median of {repeats})")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    logprob_kernels()
    decoding_matmuls()
