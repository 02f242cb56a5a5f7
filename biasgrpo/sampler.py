"""Sampling G completions per prompt into a :class:`~biasgrpo.types.Rollout`."""

from __future__ import annotations

import torch

from biasgrpo.config import SamplerConfig
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


@torch.no_grad()
def sample(policy: Policy, prompts: list[str], group_size: int, cfg: SamplerConfig, greedy: bool = False) -> Rollout:
    """Generate ``group_size`` completions for each prompt (one batched ``generate`` call).

    Prompts are chat-formatted, left-padded and cut from the left to
    ``cfg.max_prompt_tokens``. Generation stops once every row has produced EOS.
    """
    tok = policy.tokenizer
    tok.truncation_side = "left"
    enc = tok(
        policy.format_prompts(prompts),
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=cfg.max_prompt_tokens,
        add_special_tokens=not policy.use_chat_template,  # the template already has them
    ).to(policy.device)
    prompt_ids = enc.input_ids.repeat_interleave(group_size, dim=0)  # [N, P]
    prompt_mask = enc.attention_mask.repeat_interleave(group_size, dim=0)  # [N, P]
    sampling = {} if greedy else {"temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": 0}
    out = policy.model.generate(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        max_new_tokens=cfg.max_new_tokens,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        do_sample=not greedy,
        **sampling,
    )
    completion = out[:, prompt_ids.shape[1] :]  # [N, T]
    response_mask, truncated = response_mask_from(completion, tok.eos_token_id)
    # Pad after EOS with the pad id so nothing past EOS is ever scored or trained on.
    completion = torch.where(response_mask.bool(), completion, torch.full_like(completion, tok.pad_token_id))
    return Rollout(
        input_ids=torch.cat([prompt_ids, completion], dim=1),
        attention_mask=torch.cat([prompt_mask, response_mask], dim=1),
        response_mask=response_mask,
        truncated=truncated,
        prompts=[p for p in prompts for _ in range(group_size)],
        completions=tok.batch_decode(completion, skip_special_tokens=True),
    )
