"""Group Relative Policy Optimization (Shao et al. 2024), as trained in BiasGRPO.

For each prompt, G completions are sampled and scored; each completion's advantage is
its reward relative to its own group, so no critic is needed. The policy is updated
with the PPO clipped surrogate and kept near the reference model by a k3 KL term in
the loss (not in the reward, unlike PPO):

    L = agg_t[ -min(ρ_t A_i, clip(ρ_t, 1-ε, 1+ε_high) A_i) + β · KL_k3(π || π_ref)_t ]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.base import Stateless, Stats
from biasgrpo.config_checks import check_all
from biasgrpo.types import Batch, Forward

SCALE_REWARDS = ("group", "batch", "none")
IS_LEVELS = ("token", "sequence")


@dataclass
class GRPOConfig:
    name: str = "grpo"
    num_generations: int = 4
    """G, completions sampled per prompt (paper: 4; ablation 2/4/8). Must be >= 2."""
    clip_eps: float = 0.2
    """ε, the lower (and by default upper) clip range of the ratio."""
    clip_eps_high: float | None = None
    """Separate upper clip range (DAPO's clip-higher); None = clip_eps."""
    kl_coef: float = 0.04
    """β, weight of the k3 KL to the reference. 0 skips the reference pass entirely."""
    scale_rewards: str = "group"
    """What the group-centred reward is divided by (TRL's name). group: the group's reward std
    (the paper); batch: the whole batch's std; none: nothing (Dr. GRPO)."""
    loss_type: str = "grpo"
    """How per-token losses become one number (TRL's names; functional.aggregate): grpo: mean per
    completion, then over completions (the paper); bnpo: token mean of the minibatch; dapo: token
    mean of the step's whole batch; dr_grpo: sum / (completions x max_completion_length)."""
    max_completion_length: int = 256
    """The constant of loss_type=dr_grpo; conf/algorithm/grpo.yaml sets it to sampler.max_new_tokens."""
    importance_sampling_level: str = "token"
    """token: one ratio per token (GRPO, PPO); sequence: one per completion, the mean per-token
    log-ratio (GSPO, Zheng et al. 2025). Matters with update_epochs > 1 or minibatches."""
    mask_truncated_completions: bool = False
    """Leave completions that hit max_new_tokens without EOS out of the loss (DAPO's overlong
    filtering): a cut-off answer's reward says little about the tokens it has."""
    adv_eps: float = 1e-4
    """Added to the std so equal rewards in a group give advantage 0, not NaN."""
    update_epochs: int = 1
    """μ, optimisation passes over each rollout. With 1 pass and one minibatch the
    sampling log-probs equal the current ones, so their forward pass is skipped."""

    @property
    def group_size(self) -> int:
        return self.num_generations

    def validate(self) -> None:
        check_all(
            "algorithm",
            [
                (
                    self.num_generations >= 2,
                    "num_generations",
                    self.num_generations,
                    ">= 2 (a group needs two completions)",
                ),
                (0 < self.clip_eps < 1, "clip_eps", self.clip_eps, "(0, 1)"),
                (
                    self.clip_eps_high is None or self.clip_eps_high > 0,
                    "clip_eps_high",
                    self.clip_eps_high,
                    "> 0 or null",
                ),
                (self.kl_coef >= 0, "kl_coef", self.kl_coef, ">= 0"),
                (self.scale_rewards in SCALE_REWARDS, "scale_rewards", self.scale_rewards, " | ".join(SCALE_REWARDS)),
                (self.loss_type in F.LOSS_TYPES, "loss_type", self.loss_type, " | ".join(F.LOSS_TYPES)),
                (self.max_completion_length > 0, "max_completion_length", self.max_completion_length, "> 0"),
                (
                    self.importance_sampling_level in IS_LEVELS,
                    "importance_sampling_level",
                    self.importance_sampling_level,
                    " | ".join(IS_LEVELS),
                ),
                (self.adv_eps > 0, "adv_eps", self.adv_eps, "> 0"),
                (self.update_epochs >= 1, "update_epochs", self.update_epochs, ">= 1"),
            ],
        )


@dataclass(frozen=True)
class GroupAdvantages:
    advantages: torch.Tensor  # [N] one advantage per completion, broadcast over its tokens
    batch_mean_length: torch.Tensor | None = None  # [N] the step's mean completion length (loss_type=dapo)


class GRPO(Stateless):
    """Advantages and loss of GRPO; the trainer owns sampling, forward passes and steps."""

    online = True
    uses_old_logprobs = True
    needs_hidden = False

    def __init__(self, cfg: GRPOConfig) -> None:
        self.cfg = cfg
        self.group_size = cfg.num_generations
        self.update_epochs = cfg.update_epochs
        self.needs_reference = cfg.kl_coef > 0

    def prepare(self, batch: Batch, step: int) -> tuple[GroupAdvantages, Stats]:
        assert batch.rewards is not None, "GRPO learns from scored samples"
        adv, stats = self.advantages(batch.rewards)
        # clamp: a step whose completions are all masked out (truncated) has no tokens, not NaN
        mean_length = (self.loss_mask(batch).sum() / batch.response_mask.shape[0]).clamp(min=1.0)
        return GroupAdvantages(adv, mean_length.expand(adv.shape[0])), stats

    def loss_mask(self, batch: Batch) -> torch.Tensor:
        """``[n, T]`` the tokens that count in the loss: truncated completions left out if asked."""
        if not self.cfg.mask_truncated_completions:
            return batch.response_mask
        return batch.response_mask * (~batch.truncated).unsqueeze(1).to(batch.response_mask.dtype)

    def loss_weight(self, mb: Batch) -> torch.Tensor:
        """The loss tokens for bnpo, a token mean; the sequences for the others (dapo and dr_grpo
        divide each sequence's token sum by one constant)."""
        if self.cfg.loss_type == "bnpo":
            return self.loss_mask(mb).sum().float()
        return super().loss_weight(mb)

    def advantages(self, rewards: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        """``[B*G]`` rewards -> ``[B*G]`` advantages and group statistics."""
        grouped = rewards.view(-1, self.group_size)  # [B, G]
        group_std = grouped.std(dim=1)
        adv = F.group_advantages(rewards, self.group_size, self.cfg.scale_rewards, self.cfg.adv_eps)
        stats = {
            "reward/group_std_mean": group_std.mean(),
            "reward/frac_zero_std": (group_std < 1e-8).float().mean(),
            "adv/mean": adv.mean(),
            "adv/std": adv.std(),
        }
        return adv, stats

    def loss(self, fwd: Forward, mb: Batch, step: int) -> tuple[torch.Tensor, Stats]:
        """Clipped surrogate plus β·KL_k3, aggregated per ``loss_type``.

        Args:
            fwd: the current policy's forward pass; ``fwd.logprobs`` ``[n, T]`` (with grad).
            mb: the minibatch: ``targets.advantages`` ``[n]``, masks and old/ref log-probs ``[n, T]``.
        """
        cfg, logprobs, mask = self.cfg, fwd.logprobs, self.loss_mask(mb)
        old = logprobs.detach() if mb.old_logprobs is None else mb.old_logprobs
        high = cfg.clip_eps if cfg.clip_eps_high is None else cfg.clip_eps_high
        # Policy loss: one advantage per completion, broadcast over its tokens.
        log_ratio = F.importance_log_ratio(logprobs, old, mask, cfg.importance_sampling_level)
        pg_loss, clipped = F.clipped_surrogate(log_ratio, mb.targets.advantages.unsqueeze(1), cfg.clip_eps, high)
        per_token = pg_loss
        stats = {"policy/clip_frac": F.masked_mean(clipped, mask).detach()}
        # KL to the reference, in the loss (GRPO) rather than folded into the reward (PPO).
        if self.needs_reference:
            assert mb.ref_logprobs is not None, "kl_coef > 0 needs reference log-probs"
            kl = F.kl_k3(logprobs, mb.ref_logprobs)
            per_token = per_token + cfg.kl_coef * kl
            stats["policy/kl_ref"] = F.masked_mean(kl, mask).detach()
        norm = 1.0  # the constant normaliser of dapo (the whole batch's mean length) and dr_grpo
        if cfg.loss_type == "dapo":
            norm = mb.targets.batch_mean_length[0]
        elif cfg.loss_type == "dr_grpo":
            norm = cfg.max_completion_length
        loss = F.aggregate(per_token, mask, cfg.loss_type, norm)
        stats["policy/pg_loss"] = F.aggregate(pg_loss, mask, cfg.loss_type, norm).detach()
        stats["policy/approx_kl_old"] = F.masked_mean(0.5 * (logprobs.detach() - old) ** 2, mask)
        return loss, stats
