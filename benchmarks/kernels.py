"""The CPU kernels behind the throughput figures, each against what it replaced.

    python benchmarks/kernels.py
    python benchmarks/kernels.py --threads 1 --cpu-time     # on a machine shared with other jobs
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 MKL_ENABLE_INSTRUCTIONS=AVX512_E3 python benchmarks/kernels.py
        # the libraries kept off AMX: an emulation of a CPU without it

1. Log-probs and entropy of the sampled tokens from logits [16, 47, 49152] (the default
   workload's minibatch), forward and backward: ``kernels.token_logprobs`` against the
   same maths composed from torch ops (gather - logsumexp, and log_softmax for the entropy).
2. One decoding step's matrix products, M = 16 rows by every weight of SmolLM2-135M
   (30 layers x 7 weights and the 49,152-word output layer, 540 MB of fp32): ``nn.Linear``
   against prepacked weights (``kernels.prepacked_linears``: MKL's for fp32, oneDNN's for
   bf16), in fp32 and bf16. Each sweep reads every weight once, as a decoding step does.
3. One training pass's fp32 products, M = 752 rows (16 x 47 positions) by every weight,
   forward and backward.

Printed: the median of several timings of each, interleaved so that a slow spell of a
shared machine falls on both.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from biasgrpo import kernels
from biasgrpo.kernels import token_logprobs
from biasgrpo.machine import describe, summary_line

SMOLLM2_LAYER = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)]


def composed(logits: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The composed-ops version that token_logprobs replaced."""
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    logprobs = picked - torch.logsumexp(logits, dim=-1)
    with torch.no_grad():
        logp = torch.log_softmax(logits, dim=-1)
        entropy = -(logp.exp() * logp).sum(-1)
    return logprobs, entropy


def logprob_kernels(clock: Callable[[], float], repeats: int = 7) -> None:
    torch.manual_seed(0)
    shape, V = (16, 47), 49152
    tokens = torch.randint(0, V, shape)
    grad = torch.randn(shape)
    results: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, fn in (("composed torch ops", composed), ("token_logprobs", token_logprobs)):
            logits = torch.randn(*shape, V, requires_grad=True)
            t0 = clock()
            logprobs, _ = fn(logits, tokens)
            t1 = clock()
            logprobs.backward(grad)
            t2 = clock()
            results.setdefault(name + " fwd", []).append(t1 - t0)
            results.setdefault(name + " bwd", []).append(t2 - t1)
    print(f"log-probs + entropy of logits {[*shape, V]}, median of {repeats} (ms):")
    for name in ("composed torch ops", "token_logprobs"):
        fwd, bwd = (1e3 * statistics.median(results[f"{name} {p}"]) for p in ("fwd", "bwd"))
        print(f"  {name:20s} forward {fwd:7.1f}  backward {bwd:7.1f}  total {fwd + bwd:7.1f}")


def timed(sweeps: dict[str, Callable[[], object]], repeats: int, clock: Callable[[], float]) -> dict[str, list[float]]:
    """Milliseconds of each sweep, ``repeats`` times interleaved after one warm-up each."""
    for fn in sweeps.values():
        fn()
    results: dict[str, list[float]] = {name: [] for name in sweeps}
    for _ in range(repeats):
        for name, fn in sweeps.items():
            t0 = clock()
            fn()
            results[name].append(1e3 * (clock() - t0))
    return results


def decoding_matmuls(clock: Callable[[], float], rows: int = 16, repeats: int = 7) -> None:
    torch.manual_seed(0)
    weights = [torch.randn(o, i) for o, i in SMOLLM2_LAYER * 30] + [torch.randn(49152, 576)]
    halves = [w.bfloat16() for w in weights]
    inputs = {i: torch.randn(rows, i) for i in (576, 1536)}
    inputs_bf16 = {i: x.bfloat16() for i, x in inputs.items()}
    print(
        f"\none decoding step's matmuls, {rows} rows x {sum(w.numel() for w in weights) * 4 / 1e6:.0f} MB of fp32 "
        "weights (half that in bf16):"
    )
    sweeps: dict[str, Callable[[], object]] = {
        "fp32 nn.Linear": lambda: [torch.nn.functional.linear(inputs[w.shape[1]], w) for w in weights],
        "bf16 nn.Linear": lambda: [torch.nn.functional.linear(inputs_bf16[w.shape[1]], w) for w in halves],
    }
    for name, ws, xs, dtype in (
        ("fp32", weights, inputs, torch.float32),
        ("bf16", halves, inputs_bf16, torch.bfloat16),
    ):
        if not kernels.packs(dtype):
            print(f"  (no prepacked {name} kernel in this torch on this CPU)")
            continue
        packed = [kernels._pack(w, rows) for w in ws]
        sweeps[f"{name} prepacked"] = functools.partial(
            lambda packed, ws, xs: [
                kernels._packed_linear(p, w, None, rows, xs[w.shape[1]]) for p, w in zip(packed, ws)
            ],
            packed,
            ws,
            xs,
        )
    for name, times in timed(sweeps, repeats, clock).items():
        print(
            f"  {name:20s} {statistics.median(times):7.1f} ms per step "
            f"(median of {repeats}, {min(times):.1f}-{max(times):.1f})"
        )


def training_matmuls(clock: Callable[[], float], rows: int = 752, repeats: int = 5) -> None:
    """The fp32 products of a training pass over the default minibatch (16 x 47 positions): the
    forward ``X W^T`` and the backward's ``dY W`` by every weight (LoRA trains no base weight, so
    there is no ``dY^T X``)."""
    torch.manual_seed(0)
    weights = [torch.randn(o, i) for o, i in SMOLLM2_LAYER * 30] + [torch.randn(49152, 576)]
    x = {i: torch.randn(rows, i) for i in (576, 1536)}
    dy = {o: torch.randn(rows, o) for o in {w.shape[0] for w in weights}}
    flops = 2 * rows * sum(w.numel() for w in weights)
    print(f"\none training pass's fp32 matmuls, {rows} rows by every weight ({flops / 1e9:.0f} GFLOP each way):")
    sweeps: dict[str, Callable[[], object]] = {
        "forward X W^T": lambda: [torch.nn.functional.linear(x[w.shape[1]], w) for w in weights],
        "backward dY W": lambda: [dy[w.shape[0]] @ w for w in weights],
    }
    for name, times in timed(sweeps, repeats, clock).items():
        m = statistics.median(times)
        print(
            f"  {name:20s} {m:7.1f} ms ({flops / m / 1e6:5.0f} GFLOP/s; "
            f"median of {repeats}, {min(times):.1f}-{max(times):.1f})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time in CPU seconds of the process (with --threads 1, on a busy machine)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(summary_line(describe()))
    clock = time.process_time if args.cpu_time else time.perf_counter
    logprob_kernels(clock)
    decoding_matmuls(clock)
    training_matmuls(clock)
