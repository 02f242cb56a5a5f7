"""The one interface the trainer calls, the same way for every algorithm.

A step of the trainer (biasgrpo/trainer.py) is:

    rollout  = sample G completions per prompt and score them   (online)
             | encode given (prompt, response) pairs, G = 2      (offline)
    batch    = the rollout plus the extra forward passes the algorithm asks for
               (sampling-policy log-probs, reference log-probs, hidden states)
    targets  = algorithm.prepare(batch, step)          # advantages, returns, ...
    for each of algorithm.update_epochs passes, for each shuffled minibatch (of whole groups when
    train.minibatch_size is a multiple of the group size; always for pairs):
        for each of its train.grad_accum_steps micro-batches (all of it by default):
            forward = the policy's log-probs (and hidden states) on the micro-batch, with grad
            loss    = algorithm.loss(forward, micro-batch, step)
            backward of loss x its share of the minibatch (algorithm.loss_weight)
        clip, optimizer step
    algorithm.end_step()

So an algorithm says what it needs (the class attributes below), computes its targets
from a batch, its loss from a minibatch, and owns any modules of its own (a critic) and
their state. The trainer never asks which algorithm it runs.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch

from biasgrpo.types import Batch, Forward

Stats = dict[str, torch.Tensor]


class AlgorithmConfig(Protocol):
    """What every algorithm's config dataclass has (besides its own fields)."""

    name: str

    @property
    def group_size(self) -> int:
        """Sequences per prompt in a step: G completions, or 2 for a (chosen, rejected) pair."""
        ...

    def validate(self) -> None:
        """Raise ConfigError naming ``algorithm.<field>`` for a value out of range."""
        ...


class Algorithm(Protocol):
    online: ClassVar[bool]
    """True: learns from its own samples scored by the reward; False: from the dataset's
    (chosen, rejected) pairs, which the trainer lays out as groups of 2, chosen first."""
    group_size: int
    """Sequences per prompt; groups are contiguous (and kept whole in minibatches whose size is a
    multiple of it, which offline pairs must be)."""
    update_epochs: int
    """Optimisation passes over each batch."""
    needs_reference: bool
    """Reference-model log-probs (``batch.ref_logprobs``) are computed."""
    uses_old_logprobs: bool
    """The loss reads sampling-policy log-probs; the trainer computes them in a pass of their
    own only when the policy can have moved since sampling (several epochs or minibatches)."""
    needs_hidden: bool
    """Forward passes also return the last hidden states (a critic reads them); with it the
    sampling-policy pass always runs (``batch.old_hidden``)."""

    def param_groups(self, hidden_size: int, device: torch.device, lr: float) -> list[dict[str, Any]]:
        """Build the algorithm's own trainable modules; their optimizer parameter groups."""
        ...

    def prepare(self, batch: Batch, step: int) -> tuple[Any, Stats]:
        """Per-sequence targets (a dataclass of tensors leading with N) and their statistics."""
        ...

    def loss(self, fwd: Forward, mb: Batch, step: int) -> tuple[torch.Tensor, Stats]:
        """The scalar loss of a minibatch, from the policy's forward pass over it (with grad)."""
        ...

    def loss_weight(self, mb: Batch) -> torch.Tensor:
        """What ``loss(·, mb)`` is a mean over, counted: the sequences of ``mb``, or its loss tokens for
        a token mean. Micro-batches accumulated into one update (``train.grad_accum_steps``) are
        weighted by it, so that their weighted losses add up to the loss of the whole minibatch."""
        ...

    def modules(self) -> dict[str, torch.nn.Module]:
        """The trainable modules :meth:`param_groups` built (a critic), by name: the trainer wraps
        them with the policy for data-parallel training."""
        ...

    def end_step(self) -> None:
        """After a step's updates (PPO's adaptive KL coefficient moves here)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The algorithm's own state for checkpoints (tensors and plain numbers)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Stateless:
    """Defaults for an algorithm with no modules or state of its own and a loss that is a mean over sequences."""

    def param_groups(self, hidden_size: int, device: torch.device, lr: float) -> list[dict[str, Any]]:
        return []

    def modules(self) -> dict[str, torch.nn.Module]:
        return {}

    def loss_weight(self, mb: Batch) -> torch.Tensor:
        """The sequences: the loss is a mean over them (or over pairs, two sequences each)."""
        return torch.tensor(float(mb.input_ids.shape[0]), device=mb.input_ids.device)

    def end_step(self) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
