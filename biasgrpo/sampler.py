"""Sampling G completions per prompt into a :class:`~biasgrpo.types.Rollout`.

The decoding loop is the project's own rather than ``model.generate``: each prompt is
run through the model once and its KV cache shared by its G completions, the cache is
preallocated (no per-token concatenation), and a token is drawn by inverse-CDF
sampling. On the default CPU workload these cut generation time by about a third
(benchmarks/grpo_throughput.py); ``tests/test_sampler.py`` checks that greedy decoding
gives ``model.generate``'s tokens exactly.

Training rollouts can come from vLLM instead (``sampler=vllm``, :mod:`biasgrpo.vllm_sampler`);
both backends share the prompt encoding and the rollout assembly (:mod:`biasgrpo.rollout`). Evaluation always
uses the project's loop, so benchmark figures do not depend on the backend.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache, StaticCache

from biasgrpo.config import ModelConfig, SamplerConfig
from biasgrpo.machine import native_bf16
from biasgrpo.models import DTYPES
from biasgrpo.policy import Policy
from biasgrpo.rollout import Sampler, encode_prompts, rollout_from
from biasgrpo.types import Rollout


def next_tokens(logits: torch.Tensor, temperature: float, top_p: float, greedy: bool) -> torch.Tensor:
    """One token ``[N]`` per row of next-token logits ``[N, V]``.

    Sampling draws one uniform number per row and inverts the cumulative distribution;
    ``torch.multinomial`` draws an exponential variate per vocabulary entry instead,
    which costs several times more on a 49k vocabulary. The distribution is left
    unnormalised (the uniform number is scaled by its total instead): one pass over the
    vocabulary fewer than a softmax. ``top_p < 1`` keeps the smallest set of tokens whose
    probability reaches ``top_p`` (nucleus sampling).
    """
    if greedy:
        return logits.argmax(dim=-1)
    x = logits.float()
    if temperature != 1.0:
        x = x / temperature
    weights = (x - x.amax(dim=-1, keepdim=True)).exp_()  # [N, V] probabilities times a per-row constant
    order = None
    if top_p < 1.0:
        weights, order = weights.sort(dim=-1, descending=True)
        mass = weights.cumsum(dim=-1)
        # Keep a token while the mass before it is below top_p (the first is always kept).
        weights = weights.masked_fill(mass - weights >= top_p * mass[:, -1:], 0.0)
    cdf = weights.cumsum(dim=-1)  # [N, V]
    u = torch.rand(cdf.shape[0], 1, device=cdf.device) * cdf[:, -1:]  # [N, 1]
    picked = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[1] - 1)  # [N, 1]
    return (picked if order is None else order.gather(1, picked)).squeeze(1)


@torch.no_grad()
def decode(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    group_size: int,
    cfg: SamplerConfig,
    eos_id: int,
    pad_id: int,
    greedy: bool = False,
) -> torch.Tensor:
    """Completion tokens ``[B*G, T]`` for left-padded prompts ``[B, P]``, G per prompt.

    The prompts are run once (prefill) and their cache repeated G times. Rows that have
    produced EOS continue with ``pad_id``; decoding stops when every row has, so ``T`` is
    at most ``cfg.max_new_tokens``.
    """
    P, G, T = prompt_ids.shape[1], group_size, cfg.max_new_tokens
    prefill = DynamicCache()
    out = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0),
        cache=prefill,
        use_cache=True,
        logits_to_keep=1,
    )
    logits = out.logits[:, -1].repeat_interleave(G, dim=0)  # [N, V]
    # The decode cache holds P + T positions for all N rows; writing the repeated
    # prompt states into it allocates it at that size.
    cache = StaticCache(config=model.config, max_cache_len=P + T)
    for static, layer in zip(cache.layers, prefill.layers):
        static.update(layer.keys.repeat_interleave(G, dim=0), layer.values.repeat_interleave(G, dim=0))
    del prefill
    mask = torch.cat([prompt_mask.repeat_interleave(G, dim=0), prompt_mask.new_ones(len(logits), T)], dim=1)
    position = prompt_mask.sum(-1).repeat_interleave(G, dim=0).unsqueeze(1)  # [N, 1] next position per row
    tokens = prompt_ids.new_full((len(logits), T), pad_id)  # [N, T]
    done = torch.zeros(len(logits), dtype=torch.bool, device=prompt_ids.device)
    for t in range(T):
        token = next_tokens(logits, cfg.temperature, cfg.top_p, greedy).masked_fill(done, pad_id)  # [N]
        tokens[:, t] = token
        done |= token == eos_id
        if bool(done.all()) or t == T - 1:
            return tokens[:, : t + 1]
        logits = model(
            input_ids=token.unsqueeze(1),
            attention_mask=mask[:, : P + t + 1],
            position_ids=position + t,
            cache=cache,
            use_cache=True,
        ).logits[:, -1]
    raise AssertionError("unreachable: the loop returns at t = T - 1")


def sampling_dtype(name: str, weights: torch.dtype, device: torch.device, native_bf16: bool) -> torch.dtype:
    """``sampler.dtype`` as a torch dtype for ``weights`` on ``device``.

    auto is bfloat16 for fp32 weights on CUDA or on a CPU with native bf16 products
    (``native_bf16``: avx512_bf16 or AMX), where sampling from a bf16 copy was measured faster;
    the weights' own dtype otherwise (a CPU without them runs bf16 slower than fp32).
    """
    if name != "auto":
        return DTYPES[name]
    if weights == torch.float32 and (device.type == "cuda" or (device.type == "cpu" and native_bf16)):
        return torch.bfloat16
    return weights


@torch.no_grad()
def sample(
    policy: Policy,
    prompts: list[str],
    group_size: int,
    cfg: SamplerConfig,
    greedy: bool = False,
    dtype: torch.dtype | None = None,
) -> Rollout:
    """Generate ``group_size`` completions for each prompt with the project's decoding loop, from
    the policy's weights in ``dtype`` (None: their own dtype).

    Generation stops once every row has produced EOS. No log-prob of the sampler's is kept: the
    training passes recompute every one they use from the tokens, so a bf16 sampler changes
    which tokens are drawn, never the loss computed on them.
    """
    tok = policy.tokenizer
    enc = encode_prompts(policy, prompts, cfg.max_prompt_tokens)
    with policy.generation_model(len(prompts) * group_size, dtype, cfg.prepack_weights) as model:
        completion = decode(
            model, enc.input_ids, enc.attention_mask, group_size, cfg, tok.eos_token_id, tok.pad_token_id, greedy
        )  # [N, T]
    return rollout_from(policy, enc, completion, prompts, group_size)


@torch.no_grad()
def sampling_fidelity(
    policy: Policy, prompts: list[str], group_size: int, max_new_tokens: int, dtype: torch.dtype
) -> dict[str, float]:
    """How far sampling from the policy's weights in ``dtype`` is from the policy itself, on
    completions drawn in ``dtype`` (to full length) and scored by both the way the training
    passes score them (one forward pass over the whole sequences, fp32 log-softmax):

    - ``logp``: mean |log p_dtype - log p_policy| of the sampled tokens;
    - ``kl``: mean KL(π_dtype || π_policy) per completion token, over the whole vocabulary;
    - ``argmax``: share of completion positions where both give the same most likely token
      (the greedy choice, teacher-forced on the same prefix).
    """
    cfg = SamplerConfig(max_new_tokens=max_new_tokens)
    enc = encode_prompts(policy, prompts, cfg.max_prompt_tokens)
    with policy.generation_model(len(prompts) * group_size, dtype) as model:
        tokens = decode(model, enc.input_ids, enc.attention_mask, group_size, cfg, -1, -1)  # [N, T], no EOS
    ids = torch.cat([enc.input_ids.repeat_interleave(group_size, 0), tokens], 1)
    mask = torch.cat([enc.attention_mask.repeat_interleave(group_size, 0), torch.ones_like(tokens)], 1)
    T, positions = tokens.shape[1], (mask.cumsum(-1) - 1).clamp(min=0)
    logp = []
    for weights in (None, dtype):
        with policy.generation_model(len(ids), weights, prepack=False) as model:
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
            logp.append(torch.log_softmax(logits[:, -T - 1 : -1].float(), -1))  # [N, T, V]
    own, other = logp
    picked = tokens.unsqueeze(-1)
    return {
        "logp": float((other.gather(-1, picked) - own.gather(-1, picked)).abs().mean()),
        "kl": float((other.exp() * (other - own)).sum(-1).mean()),
        "argmax": float((other.argmax(-1) == own.argmax(-1)).float().mean()),
    }


class HFSampler:
    """The project's decoding loop (:func:`sample`) as a :class:`Sampler`, in ``sampler.dtype``."""

    def __init__(self, policy: Policy, cfg: SamplerConfig) -> None:
        self.policy, self.cfg = policy, cfg
        weights = next(policy.model.parameters()).dtype
        self.dtype = sampling_dtype(cfg.dtype, weights, policy.device, native_bf16())

    def __call__(self, prompts: list[str], group_size: int, greedy: bool = False) -> Rollout:
        return sample(self.policy, prompts, group_size, self.cfg, greedy, self.dtype)

    def close(self) -> None:
        pass


def build_sampler(policy: Policy, cfg: SamplerConfig, model_cfg: ModelConfig, seed: int) -> Sampler:
    """The training rollouts' sampler named by ``cfg.backend``: the project's (hf) or vLLM's.

    vLLM is imported only here, only when chosen.
    """
    if cfg.backend == "vllm":
        from biasgrpo.vllm_sampler import VLLMSampler

        return VLLMSampler(policy, cfg, model_cfg, seed)
    return HFSampler(policy, cfg)
