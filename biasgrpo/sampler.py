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
from biasgrpo.policy import Policy
from biasgrpo.rollout import Sampler, encode_prompts, rollout_from
from biasgrpo.types import Rollout


def next_tokens(logits: torch.Tensor, temperature: float, top_p: float, greedy: bool) -> torch.Tensor:
    """One token ``[N]`` per row of next-token logits ``[N, V]``.

    Sampling draws one uniform number per row and inverts the cumulative distribution;
    ``torch.multinomial`` draws an exponential variate per vocabulary entry instead,
    which costs several times more on a 49k vocabulary. ``top_p < 1`` keeps the smallest
    set of tokens whose probability reaches ``top_p`` (nucleus sampling).
    """
    if greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # [N, V]
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        # Keep a token while the mass before it is below top_p (the first is always kept).
        probs = probs.masked_fill(probs.cumsum(dim=-1) - probs >= top_p, 0.0)
    cdf = probs.cumsum(dim=-1)  # [N, V]
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


@torch.no_grad()
def sample(policy: Policy, prompts: list[str], group_size: int, cfg: SamplerConfig, greedy: bool = False) -> Rollout:
    """Generate ``group_size`` completions for each prompt with the project's decoding loop.

    Generation stops once every row has produced EOS.
    """
    tok = policy.tokenizer
    enc = encode_prompts(policy, prompts, cfg.max_prompt_tokens)
    with policy.generation_model(len(prompts) * group_size, cfg.prepack_weights) as model:
        completion = decode(
            model, enc.input_ids, enc.attention_mask, group_size, cfg, tok.eos_token_id, tok.pad_token_id, greedy
        )  # [N, T]
    return rollout_from(policy, enc, completion, prompts, group_size)


class HFSampler:
    """The project's decoding loop (:func:`sample`) as a :class:`Sampler`; holds nothing."""

    def __init__(self, policy: Policy, cfg: SamplerConfig) -> None:
        self.policy, self.cfg = policy, cfg

    def __call__(self, prompts: list[str], group_size: int, greedy: bool = False) -> Rollout:
        return sample(self.policy, prompts, group_size, self.cfg, greedy)

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
