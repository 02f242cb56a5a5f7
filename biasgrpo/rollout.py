"""Rollout assembly shared by every sampler (the project's decoding loop and vLLM) and by
offline pairs: prompts encoded as the policy reads them, completion tokens turned into a
:class:`~biasgrpo.types.Rollout` with its masks.
"""

from __future__ import annotations

from typing import Protocol

import torch
from transformers import BatchEncoding

from biasgrpo.policy import Policy
from biasgrpo.types import Rollout


def response_mask_from(tokens: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask ``[N, T]`` of completion tokens up to and including the first EOS.

    Returns ``(mask, truncated)``; ``truncated[n]`` is True when row n has no EOS.
    """
    is_eos = tokens == eos_id
    # Tokens strictly after the first EOS: an EOS appeared at an earlier position.
    after_eos = (is_eos.cumsum(dim=1) - is_eos.long()) > 0
    return (~after_eos).long(), ~is_eos.any(dim=1)


def encode_prompts(policy: Policy, prompts: list[str], max_prompt_tokens: int) -> BatchEncoding:
    """Prompts chat-formatted, left-padded and cut from the left to ``max_prompt_tokens``."""
    tok = policy.tokenizer
    tok.truncation_side = "left"
    return tok(
        policy.format_prompts(prompts),
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=max_prompt_tokens,
        add_special_tokens=not policy.use_chat_template,  # the template already has them
    ).to(policy.device)


def rollout_from(
    policy: Policy, enc: BatchEncoding, completion: torch.Tensor, prompts: list[str], group_size: int
) -> Rollout:
    """The rollout of completion tokens ``[B*G, T]`` (right-padded) drawn for prompts ``enc``."""
    tok = policy.tokenizer
    completion = completion.to(policy.device)
    response_mask, truncated = response_mask_from(completion, tok.eos_token_id)
    return Rollout(
        input_ids=torch.cat([enc.input_ids.repeat_interleave(group_size, dim=0), completion], dim=1),
        attention_mask=torch.cat([enc.attention_mask.repeat_interleave(group_size, dim=0), response_mask], dim=1),
        response_mask=response_mask,
        truncated=truncated,
        prompts=[p for p in prompts for _ in range(group_size)],
        completions=tok.batch_decode(completion, skip_special_tokens=True),
    )


def rollout_from_pairs(policy: Policy, prompts: list[str], responses: list[str]) -> Rollout:
    """The rollout of given responses (offline pairs), laid out as a sampled one (:meth:`Policy.encode`)."""
    input_ids, attention_mask, response_mask = policy.encode(prompts, responses)
    truncated = torch.zeros(len(responses), dtype=torch.bool, device=input_ids.device)
    return Rollout(input_ids, attention_mask, response_mask, truncated, prompts, responses)


class Sampler(Protocol):
    """Draws the training rollouts: G completions for each prompt."""

    def __call__(self, prompts: list[str], group_size: int, greedy: bool = False) -> Rollout: ...

    def close(self) -> None:
        """Release what the sampler holds (an engine, files)."""


def take(ro: Rollout, rows: list[int]) -> Rollout:
    """The rollout's ``rows`` (in that order)."""
    idx = torch.tensor(rows, dtype=torch.long, device=ro.input_ids.device)
    return Rollout(
        ro.input_ids[idx],
        ro.attention_mask[idx],
        ro.response_mask[idx],
        ro.truncated[idx],
        [ro.prompts[i] for i in rows],
        [ro.completions[i] for i in rows],
    )


def concat(a: Rollout, b: Rollout, pad_id: int) -> Rollout:
    """Two rollouts as one: prompts left-padded and completions right-padded to the longer of each."""
    P = max(a.input_ids.shape[1] - a.response_len, b.input_ids.shape[1] - b.response_len)
    T = max(a.response_len, b.response_len)

    def pad(ro: Rollout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        left, right = P - (ro.input_ids.shape[1] - ro.response_len), T - ro.response_len
        ids = torch.nn.functional.pad(ro.input_ids, (left, right), value=pad_id)
        attn = torch.nn.functional.pad(ro.attention_mask, (left, right), value=0)
        return ids, attn, torch.nn.functional.pad(ro.response_mask, (0, right), value=0)

    (ids_a, attn_a, resp_a), (ids_b, attn_b, resp_b) = pad(a), pad(b)
    return Rollout(
        torch.cat([ids_a, ids_b]),
        torch.cat([attn_a, attn_b]),
        torch.cat([resp_a, resp_b]),
        torch.cat([a.truncated, b.truncated]),
        a.prompts + b.prompts,
        a.completions + b.completions,
    )
