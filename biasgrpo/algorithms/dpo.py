"""Direct Preference Optimization (Rafailov et al. 2023) and IPO (Azar et al. 2023).

Offline: no sampling and no reward model. Each pair (x, y_c, y_r) moves the policy's
log-ratio to the reference up on the chosen response and down on the rejected one:

    h = (log π(y_c|x) - log π_ref(y_c|x)) - (log π(y_r|x) - log π_ref(y_r|x))
    sigmoid:  L = -log σ(β h)            (with label smoothing ε: cDPO)
    ipo:      L = (h - 1/(2β))²          (token-averaged log-probs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.base import Stateless, Stats
from biasgrpo.config_checks import check_all
from biasgrpo.types import Batch, Forward

LOSS_TYPES = ("sigmoid", "ipo")


@dataclass
class DPOConfig:
    name: str = "dpo"
    beta: float = 0.1
    """β: larger keeps the policy closer to the reference (DPO paper: 0.1; IPO's τ)."""
    loss_type: str = "sigmoid"
    """sigmoid: the DPO loss on summed log-probs; ipo: the squared IPO loss on per-token
    mean log-probs, which does not push the margin to infinity on deterministic pairs."""
    label_smoothing: float = 0.0
    """ε, the assumed probability that a pair's preference label is wrong (sigmoid only)."""

    @property
    def group_size(self) -> int:
        return 2  # a (chosen, rejected) pair shares its prompt

    def validate(self) -> None:
        check_all(
            "algorithm",
            [
                (self.beta > 0, "beta", self.beta, "> 0"),
                (self.loss_type in LOSS_TYPES, "loss_type", self.loss_type, " | ".join(LOSS_TYPES)),
                (0 <= self.label_smoothing < 0.5, "label_smoothing", self.label_smoothing, "[0, 0.5)"),
                (
                    self.loss_type != "ipo" or self.label_smoothing == 0,
                    "label_smoothing",
                    self.label_smoothing,
                    "0 with loss_type=ipo (smoothing applies to sigmoid only)",
                ),
            ],
        )


class DPO(Stateless):
    """Preference loss and its statistics; the trainer lays out the pairs and runs the passes."""

    online = False
    group_size = 2
    update_epochs = 1
    needs_reference = True
    uses_old_logprobs = False
    needs_hidden = False

    def __init__(self, cfg: DPOConfig) -> None:
        self.cfg = cfg

    @staticmethod
    def responses(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Each row's prompt twice, with its chosen then its rejected response: [c1, r1, c2, r2, ...]."""
        return [r["prompt"] for r in rows for _ in range(2)], [r[k] for r in rows for k in ("chosen", "rejected")]

    def prepare(self, batch: Batch, step: int) -> tuple[None, Stats]:
        return None, {}  # the reference log-probs are all DPO needs beforehand

    def loss(self, fwd: Forward, mb: Batch, step: int) -> tuple[torch.Tensor, Stats]:
        """Sequence log-probs of the minibatch's pairs (rows 2i chosen, 2i+1 rejected), then the preference loss."""
        assert mb.ref_logprobs is not None
        policy = F.sequence_logprobs(fwd.logprobs, mb.response_mask, self.average_logprobs)  # [2b]
        ref = F.sequence_logprobs(mb.ref_logprobs, mb.response_mask, self.average_logprobs)  # [2b]
        return self.preference_loss(policy[0::2], policy[1::2], ref[0::2], ref[1::2])

    @property
    def average_logprobs(self) -> bool:
        """True when the sequence log-probs must be token means (IPO), not sums."""
        return self.cfg.loss_type == "ipo"

    def preference_loss(
        self,
        policy_chosen: torch.Tensor,
        policy_rejected: torch.Tensor,
        ref_chosen: torch.Tensor,
        ref_rejected: torch.Tensor,
    ) -> tuple[torch.Tensor, Stats]:
        """Mean preference loss over B pairs.

        Args:
            policy_chosen, policy_rejected: ``[B]`` policy sequence log-probs (with grad),
                from ``F.sequence_logprobs(..., average=self.average_logprobs)``.
            ref_chosen, ref_rejected: ``[B]`` reference sequence log-probs, same reduction.
        """
        losses, chosen_rewards, rejected_rewards = F.dpo_loss(
            policy_chosen,
            policy_rejected,
            ref_chosen,
            ref_rejected,
            self.cfg.beta,
            self.cfg.loss_type,
            self.cfg.label_smoothing,
        )
        loss = losses.mean()
        stats = {
            "dpo/loss": loss.detach(),
            "dpo/rewards_chosen": chosen_rewards.mean(),
            "dpo/rewards_rejected": rejected_rewards.mean(),
            "dpo/margin": (chosen_rewards - rejected_rewards).mean(),
            "dpo/accuracy": (chosen_rewards > rejected_rewards).float().mean(),
            "dpo/logps_chosen": policy_chosen.detach().mean(),
            "dpo/logps_rejected": policy_rejected.detach().mean(),
        }
        return loss, stats
