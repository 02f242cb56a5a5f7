"""The sampler alone: seconds per sampling call of the default workload, by sampling dtype and
prepacking, interleaved in one process; and how far bf16 samples are from fp32 ones.

    python benchmarks/sampling.py
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 MKL_ENABLE_INSTRUCTIONS=AVX512_E3 python benchmarks/sampling.py
        # the same CPU with its libraries kept off AMX: an emulation of a CPU without AMX

Workload: the embedded SmolLM2-135M-Instruct in fp32 with LoRA r=16 on every linear layer
(adapters set away from zero, so merging them matters), 2 prompts x G=8, 48 new tokens, every
row decoded to the full length (no EOS), so that each variant decodes the same number of
tokens. A call is timed whole: making the sampling weights (LoRA merged, the bf16 copy, the
prepacked copy), the prefill and 47 decoding steps, in CPU seconds of the process (one thread by
default, where that is the wall time of a quiet machine and hardly depends on other jobs sharing
the cores). Variants run in turn, ``--repeats`` times, so that a slow spell of a shared machine
falls on all of them; printed are the median and the range.

Then the fidelity of bf16 sampling on the same model (``sampler.sampling_fidelity``): for
completions sampled from the bf16 copy, the mean |log p_bf16 - log p_fp32| of the sampled
tokens, the mean KL between the two next-token distributions and how often their argmax agrees.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.grpo_throughput import workload_prompts  # noqa: E402
from biasgrpo import kernels  # noqa: E402
from biasgrpo.config import ModelConfig, SamplerConfig  # noqa: E402
from biasgrpo.machine import describe, summary_line  # noqa: E402
from biasgrpo.policy import Policy  # noqa: E402
from biasgrpo.rollout import encode_prompts  # noqa: E402
from biasgrpo.sampler import decode, sampling_fidelity  # noqa: E402

VARIANTS = {  # name: (sampling dtype, prepack)
    "fp32": (torch.float32, False),
    "fp32 prepacked": (torch.float32, True),
    "bf16": (torch.bfloat16, False),
    "bf16 prepacked": (torch.bfloat16, True),
}


def lora_policy(seed: int = 0) -> Policy:
    cfg = ModelConfig(name="smollm2_135m", loader="smollm2_gguf")
    cfg.lora.r, cfg.lora.alpha = 16, 32
    policy = Policy(cfg, torch.device("cpu"), needs_reference=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)
    return policy


def timed_call(policy: Policy, enc: object, G: int, cfg: SamplerConfig, dtype: torch.dtype, prepack: bool) -> float:
    """CPU seconds for one sampling call, every row to the full length; packing forced when asked."""
    t0 = time.process_time()
    with (
        policy._sampling_weights(None if dtype == torch.float32 else dtype) as modules,
        kernels.prepacked_linears(modules, enc.input_ids.shape[0] * G, enabled=prepack, probe=False),
    ):
        decode(policy.model, enc.input_ids, enc.attention_mask, G, cfg, -1, -1)
    return time.process_time() - t0


def speed(policy: Policy, args: argparse.Namespace) -> None:
    cfg = SamplerConfig(max_new_tokens=args.max_new_tokens)
    enc = encode_prompts(policy, workload_prompts(args.prompts), cfg.max_prompt_tokens)
    names = [n for n in VARIANTS if VARIANTS[n][1] is False or kernels.packs(VARIANTS[n][0])]
    times: dict[str, list[float]] = {n: [] for n in names}
    for n in names:  # warm-up: allocations, oneDNN's kernel generation
        timed_call(policy, enc, args.G, cfg, *VARIANTS[n])
    for _ in range(args.repeats):
        for n in names:
            torch.manual_seed(0)
            times[n].append(timed_call(policy, enc, args.G, cfg, *VARIANTS[n]))
    tokens = args.prompts * args.G * args.max_new_tokens
    shape = f"{args.prompts} prompts x G={args.G} x {args.max_new_tokens} tokens"
    print(f"sampling call, {shape}; CPU s, median (range) of {args.repeats}:")
    base = statistics.median(times["fp32 prepacked" if "fp32 prepacked" in times else "fp32"])
    for n, ts in times.items():
        m = statistics.median(ts)
        print(f"  {n:16s} {m:6.2f} s ({min(ts):.2f}-{max(ts):.2f})  {tokens / m:6.1f} tok per CPU s  x{base / m:.2f}")
    rows = args.prompts * args.G
    for dtype in (torch.float32, torch.bfloat16):
        if kernels.packs(dtype):
            with policy._sampling_weights(None if dtype == torch.float32 else dtype) as modules:
                linears = [m for m in modules if isinstance(m, torch.nn.Linear)]
                packed = [kernels._pack(m.weight, rows) for m in linears]
                print(f"  prepacking probe, {dtype}: packed faster = {kernels.packing_wins(linears, packed, rows)}")


def fidelity(policy: Policy, args: argparse.Namespace) -> None:
    """bf16 against fp32 sampling weights: :func:`sampling_fidelity`, and whether the bf16 logits
    with prepacked weights equal those without, bitwise."""
    figures = sampling_fidelity(policy, workload_prompts(args.prompts), args.G, args.max_new_tokens, torch.bfloat16)
    print(
        f"bf16 against fp32 sampling weights, {args.prompts * args.G} completions x {args.max_new_tokens} tokens: "
        f"mean |log p_bf16 - log p_fp32| {figures['logp']:.4f}, mean KL(bf16 || fp32) {figures['kl']:.5f}, "
        f"same argmax {figures['argmax']:.1%}"
    )
    if kernels.packs(torch.bfloat16):
        enc = encode_prompts(policy, workload_prompts(args.prompts), 256)
        with torch.no_grad(), policy._sampling_weights(torch.bfloat16) as modules:
            plain = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
            with kernels.prepacked_linears(modules, len(enc.input_ids), probe=False):
                packed = policy.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits
        print(f"bf16 logits with prepacked weights bitwise equal to nn.Linear's: {torch.equal(plain, packed)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch's default)")
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--G", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip", choices=["speed", "fidelity"], default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(summary_line(describe()))
    policy = lora_policy()
    if args.skip != "speed":
        speed(policy, args)
    if args.skip != "fidelity":
        fidelity(policy, args)


if __name__ == "__main__":
    main()
