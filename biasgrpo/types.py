"""Typed data passed between the stages of a step.

Dimension letters: B prompts, G completions per prompt, N = B*G sequences,
P prompt tokens (left-padded), T response tokens (right-padded), H hidden size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch


@dataclass(frozen=True)
class Rollout:
    """G sequences for each of B prompts, as token ids and as text: sampled completions
    (online algorithms) or given responses (offline pairs, G = 2)."""

    input_ids: torch.Tensor  # [N, P+T] prompt (left-padded) then completion (right-padded)
    attention_mask: torch.Tensor  # [N, P+T] 1 on real prompt and completion tokens
    response_mask: torch.Tensor  # [N, T] 1 on completion tokens, EOS included, 0 after it
    truncated: torch.Tensor  # [N] bool: no EOS within max_new_tokens
    prompts: list[str]  # N raw prompts (each repeated G times, contiguous)
    completions: list[str]  # N decoded completions (special tokens removed)

    @property
    def response_len(self) -> int:
        return self.response_mask.shape[1]


class Forward(NamedTuple):
    """What one forward pass over a batch of sequences gives about their responses."""

    logprobs: torch.Tensor  # [n, T] log-probs of the response tokens
    entropy: torch.Tensor | None  # [n, T] entropy of the next-token distribution (no grad)
    hidden: torch.Tensor | None  # [n, >=T+1, H] last hidden states, ending at the last token


@dataclass(frozen=True)
class Batch:
    """The sequences of one step with everything computed for them before the update.

    Every tensor leads with N (the sequences), so a minibatch is ``batch.select(idx)``.
    ``targets`` is the algorithm's own per-sequence data from ``Algorithm.prepare``
    (advantages, returns, ...), a dataclass of tensors that is sliced the same way.
    """

    input_ids: torch.Tensor  # [N, P+T]
    attention_mask: torch.Tensor  # [N, P+T]
    response_mask: torch.Tensor  # [N, T]
    truncated: torch.Tensor  # [N] bool: the completion hit max_new_tokens without EOS
    rewards: torch.Tensor | None  # [N] reward of each completion; None for offline pairs
    old_logprobs: torch.Tensor | None  # [N, T] sampling-policy log-probs; None = the current ones, detached
    ref_logprobs: torch.Tensor | None  # [N, T] reference log-probs; None when no reference is needed
    old_hidden: torch.Tensor | None  # [N, >=T+1, H] sampling-policy last hidden states (a critic's input)
    targets: Any = None

    @property
    def response_len(self) -> int:
        return self.response_mask.shape[1]

    def select(self, idx: torch.Tensor) -> Batch:
        """The rows ``idx`` of every tensor, targets included."""
        return select_rows(self, idx)


def select_rows(data: Any, idx: torch.Tensor) -> Any:
    """Rows ``idx`` of every tensor field of a dataclass (recursively); None stays None."""
    if isinstance(data, torch.Tensor):
        return data[idx]
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.replace(
            data, **{f.name: select_rows(getattr(data, f.name), idx) for f in dataclasses.fields(data) if f.init}
        )
    return data
