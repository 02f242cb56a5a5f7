"""REINFORCE with a leave-one-out baseline (RLOO; Kool et al. 2019, Ahmadian et al. 2024).

Like GRPO it samples G completions per prompt and needs no critic; the baseline of each
completion is the mean reward of the *other* G - 1 completions of its prompt, which
keeps the gradient estimate unbiased (GRPO's own-group mean and std do not), and the
advantage is not divided by a standard deviation:

    A_i = r_i - 1/(G-1) Σ_{j≠i} r_j = G/(G-1) · (r_i - mean_group(r))

Everything else is GRPO's: the clipped surrogate on these advantages (plain REINFORCE
when update_epochs = 1, where the ratio is 1), β · KL_k3 to the reference, and the loss
variants (loss_type, importance_sampling_level, ...). ``scale_rewards`` and ``adv_eps``
do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.base import Stats
from biasgrpo.algorithms.grpo import GRPO, GRPOConfig


@dataclass
class RLOOConfig(GRPOConfig):
    name: str = "rloo"


class RLOO(GRPO):
    def advantages(self, rewards: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """``[B*G]`` rewards -> ``[B*G]`` leave-one-out advantages."""
        adv = F.leave_one_out_advantages(rewards, self.group_size)
        return adv, {"adv/mean": adv.mean(), "adv/std": adv.std()}
