"""Typed data passed between the stages of a step.

Dimension letters: B prompts, G completions per prompt, N = B*G sequences,
P prompt tokens (left-padded), T response tokens (right-padded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Rollout:
    """G sampled completions for each of B prompts, as token ids and as text."""

    input_ids: torch.Tensor  # [N, P+T] prompt (left-padded) then completion (right-padded)
    attention_mask: torch.Tensor  # [N, P+T] 1 on real prompt and completion tokens
    response_mask: torch.Tensor  # [N, T] 1 on completion tokens, EOS included, 0 after it
    truncated: torch.Tensor  # [N] bool: no EOS within max_new_tokens
    prompts: list[str]  # N raw prompts (each repeated G times, contiguous)
    completions: list[str]  # N decoded completions (special tokens removed)

    @property
    def response_len(self) -> int:
        return self.response_mask.shape[1]


@dataclass(frozen=True)
class Minibatch:
    """The slice of a scored rollout that one optimizer step sees."""

    input_ids: torch.Tensor  # [n, P+T]
    attention_mask: torch.Tensor  # [n, P+T]
    response_mask: torch.Tensor  # [n, T]
    advantages: torch.Tensor  # [n] one advantage per sequence (outcome reward)
    old_logprobs: torch.Tensor | None  # [n, T] sampling-policy log-probs; None = logprobs.detach()
    ref_logprobs: torch.Tensor | None  # [n, T] reference log-probs; None when kl_coef = 0


@dataclass(frozen=True)
class PPOMinibatch:
    """The slice of a PPO rollout, with its critic targets, that one optimizer step sees."""

    input_ids: torch.Tensor  # [n, P+T]
    attention_mask: torch.Tensor  # [n, P+T]
    response_mask: torch.Tensor  # [n, T]
    advantages: torch.Tensor  # [n, T] per-token GAE advantages (whitened if configured)
    returns: torch.Tensor  # [n, T] GAE returns, the critic's targets
    old_values: torch.Tensor  # [n, T] critic values at rollout time
    old_logprobs: torch.Tensor  # [n, T] sampling-policy log-probs
