"""REINFORCE with a leave-one-out baseline (RLOO; Kool et al. 2019, Ahmadian et al. 2024).

Like GRPO it samples G completions per prompt and needs no critic; the baseline of each
completion is the mean reward of the *other* G - 1 completions of its prompt, which
keeps the gradient estimate unbiased (GRPO's own-group mean and std do not), and the
advantage is not divided by a standard deviation:

    A_i = r_i - 1/(G-1) Σ_{j≠i} r_j = G/(G-1) · (r_i - mean_group(r))

The update is the clipped surrogate on these advantages (plain REINFORCE when
update_epochs = 1, where the ratio is 1), each completion's tokens averaged, plus
β · KL_k3 to the reference as in GRPO.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.base import Stateless, Stats
from biasgrpo.algorithms.grpo import GroupAdvantages
from biasgrpo.config_checks import check_all
from biasgrpo.types import Batch, Forward


@dataclass
class RLOOConfig:
    name: str = "rloo"
    num_generations: int = 4
    """G, completions per prompt; each one's baseline is the mean of the other G - 1."""
    clip_eps: float = 0.2
    """ε of the clipped ratio (matters only with update_epochs > 1 or minibatches)."""
    kl_coef: float = 0.04
    """β of the k3 KL to the reference in the loss; 0 skips the reference pass."""
    update_epochs: int = 1

    @property
    def group_size(self) -> int:
        return self.num_generations

    def validate(self) -> None:
        check_all(
            "algorithm",
            [
                (self.num_generations >= 2, "num_generations", self.num_generations, ">= 2 (a baseline needs others)"),
                (0 < self.clip_eps < 1, "clip_eps", self.clip_eps, "(0, 1)"),
                (self.kl_coef >= 0, "kl_coef", self.kl_coef, ">= 0"),
                (self.update_epochs >= 1, "update_epochs", self.update_epochs, ">= 1"),
            ],
        )


class RLOO(Stateless):
    online = True
    uses_old_logprobs = True
    needs_hidden = False

    def __init__(self, cfg: RLOOConfig) -> None:
        self.cfg = cfg
        self.group_size = cfg.num_generations
        self.update_epochs = cfg.update_epochs
        self.needs_reference = cfg.kl_coef > 0

    def prepare(self, batch: Batch, step: int) -> tuple[GroupAdvantages, Stats]:
        assert batch.rewards is not None, "RLOO learns from scored samples"
        adv = F.leave_one_out_advantages(batch.rewards, self.group_size)
        return GroupAdvantages(adv), {"adv/mean": adv.mean(), "adv/std": adv.std()}

    def loss(self, fwd: Forward, mb: Batch, step: int) -> tuple[torch.Tensor, Stats]:
        mask = mb.response_mask
        old = fwd.logprobs.detach() if mb.old_logprobs is None else mb.old_logprobs
        eps = self.cfg.clip_eps
        per_token, clipped = F.clipped_surrogate(fwd.logprobs - old, mb.targets.advantages.unsqueeze(1), eps, eps)
        stats = {"policy/pg_loss": F.aggregate(per_token, mask, "grpo").detach()}
        if self.needs_reference:
            assert mb.ref_logprobs is not None
            kl = F.kl_k3(fwd.logprobs, mb.ref_logprobs)
            per_token = per_token + self.cfg.kl_coef * kl
            stats["policy/kl_ref"] = F.masked_mean(kl, mask).detach()
        stats["policy/clip_frac"] = F.masked_mean(clipped, mask).detach()
        return F.aggregate(per_token, mask, "grpo"), stats
