"""Proximal Policy Optimization with a learned critic (Schulman et al. 2017), RLHF-style.

As in Ziegler et al. (2019) and Ouyang et al. (2022), each completion's score is given
on its last token and the KL to the reference is paid per token, inside the reward:

    r_t = -β (log π(y_t) - log π_ref(y_t)) + [t = last] · score

A value head V(s_t) is trained alongside the policy; GAE turns the rewards and values
into per-token advantages A_t and returns R_t, and the loss is

    L = mean_t[ -min(ρ_t A_t, clip(ρ_t, 1-ε, 1+ε) A_t) ] + c_V · L_V(V, V_old, R)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from biasgrpo.algorithms import functional as F
from biasgrpo.errors import ConfigError
from biasgrpo.types import PPOMinibatch

VALUE_HEADS = ("shared", "separate")


@dataclass
class PPOConfig:
    name: str = "ppo"
    num_generations: int = 1
    """Completions sampled per prompt. PPO needs no group: the critic is the baseline."""
    clip_eps: float = 0.2
    """ε, the clip range of the policy ratio."""
    vf_coef: float = 0.1
    """c_V, weight of the value loss in the total loss."""
    vf_clip_eps: float = 0.2
    """How far a value may move from its rollout-time value before its loss is clipped."""
    kl_coef: float = 0.05
    """β of the per-token KL penalty folded into the reward (the initial β when
    kl_target is set). 0 skips the reference pass entirely."""
    kl_target: float | None = None
    """Target KL per completion (summed over its tokens) of the adaptive controller of
    Ziegler et al. 2019; None keeps β fixed at kl_coef."""
    kl_horizon: int = 10000
    """Horizon of the adaptive controller, in completions: how fast β adapts."""
    gamma: float = 1.0
    """γ, the discount over response tokens (1: the final score reaches every token)."""
    gae_lambda: float = 0.95
    """λ of GAE: 0 trusts the critic (one-step TD), 1 uses Monte-Carlo returns."""
    whiten_advantages: bool = True
    """Normalise advantages to zero mean and unit variance over the rollout."""
    whiten_rewards: bool = False
    """Scale token rewards to unit variance (mean kept) before GAE."""
    update_epochs: int = 4
    """Optimisation passes over each rollout."""
    critic_lr: float | None = None
    """Learning rate of the value head (and separate critic); None = the policy's."""
    critic_warmup_steps: int = 0
    """First steps that train only the critic, so early advantages are not noise."""
    value_head: str = "shared"
    """shared: a scalar head on the policy's own last hidden states; separate: the same
    head on a separate critic model."""

    def validate(self) -> None:
        checks = [
            (self.num_generations >= 1, "num_generations", self.num_generations, ">= 1"),
            (0 < self.clip_eps < 1, "clip_eps", self.clip_eps, "(0, 1)"),
            (self.vf_coef > 0, "vf_coef", self.vf_coef, "> 0 (the critic must learn)"),
            (self.vf_clip_eps > 0, "vf_clip_eps", self.vf_clip_eps, "> 0"),
            (self.kl_coef >= 0, "kl_coef", self.kl_coef, ">= 0"),
            (
                self.kl_target is None or (self.kl_target > 0 and self.kl_coef > 0),
                "kl_target",
                self.kl_target,
                "> 0 with kl_coef > 0 (β adapts multiplicatively from kl_coef), or null",
            ),
            (self.kl_horizon >= 1, "kl_horizon", self.kl_horizon, ">= 1"),
            (0 < self.gamma <= 1, "gamma", self.gamma, "(0, 1]"),
            (0 <= self.gae_lambda <= 1, "gae_lambda", self.gae_lambda, "[0, 1]"),
            (self.update_epochs >= 1, "update_epochs", self.update_epochs, ">= 1"),
            (self.critic_lr is None or self.critic_lr > 0, "critic_lr", self.critic_lr, "> 0 or null"),
            (self.critic_warmup_steps >= 0, "critic_warmup_steps", self.critic_warmup_steps, ">= 0"),
            (self.value_head in VALUE_HEADS, "value_head", self.value_head, " | ".join(VALUE_HEADS)),
        ]
        for ok, key, value, allowed in checks:
            if not ok:
                raise ConfigError(f"algorithm.{key}={value!r} is invalid; allowed: {allowed}")


class ValueHead(nn.Module):
    """Scalar critic V(s) on a language model's last hidden states."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)
        # Zero init: V = 0 at the start, so the first advantages are the plain returns
        # rather than noise scaled by hidden states whose norm can run to the hundreds.
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """``[n, L, H]`` -> ``[n, L]`` values, computed in the head's dtype (float32)."""
        return self.linear(hidden_states.to(self.linear.weight.dtype)).squeeze(-1)

    def response_values(self, hidden_states: torch.Tensor, response_len: int) -> torch.Tensor:
        """Values of the states before each response token: ``[n, L, H]`` -> ``[n, T]``.

        Position i predicts token i+1, as for logits, so the T response tokens at
        positions L-T .. L-1 are predicted from positions L-T-1 .. L-2.
        """
        return self(hidden_states[:, -response_len - 1 : -1])


class AdaptiveKLController:
    """β that tracks a KL target (Ziegler et al. 2019, §2.2).

    e = clip(KL / KL_target - 1, -0.2, 0.2);   β ← β (1 + e · n_steps / horizon)
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int) -> None:
        self.value = init_kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        """``current_kl``: the rollout's mean KL per completion; ``n_steps``: its completions."""
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon


class PPO:
    """Token rewards, GAE advantages and the actor-critic loss; the trainer owns the rest."""

    def __init__(self, cfg: PPOConfig) -> None:
        self.cfg = cfg
        self.group_size = cfg.num_generations
        self.needs_reference = cfg.kl_coef > 0
        self.kl_ctl = (
            None if cfg.kl_target is None else AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
        )

    @property
    def kl_coef(self) -> float:
        """The β in force now (it moves only under the adaptive controller)."""
        return self.cfg.kl_coef if self.kl_ctl is None else self.kl_ctl.value

    def update_kl(self, kl_per_completion: float, n_steps: int) -> None:
        """After each rollout, let the adaptive controller move β (no-op when β is fixed)."""
        if self.kl_ctl is not None:
            self.kl_ctl.update(kl_per_completion, n_steps)

    def trains_policy(self, step: int) -> bool:
        """False during the critic warm-up, when only the value loss is optimised."""
        return step >= self.cfg.critic_warmup_steps

    @torch.no_grad()
    def token_rewards(
        self,
        scores: torch.Tensor,
        logprobs: torch.Tensor,
        ref_logprobs: torch.Tensor | None,
        response_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``[N]`` scores -> ``[N, T]`` rewards: -β·KL_k1 per token, the score on the last one.

        Args:
            scores: ``[N]`` reward of each completion.
            logprobs, ref_logprobs: ``[N, T]`` sampling-policy and reference log-probs;
                ``ref_logprobs`` is None when kl_coef = 0.
            response_mask: ``[N, T]`` right-padded, 1 on real response tokens.
        """
        mask = response_mask.to(logprobs.dtype)
        stats = {"policy/kl_coef": torch.tensor(self.kl_coef)}
        rewards = torch.zeros_like(logprobs)  # [N, T]
        if ref_logprobs is not None:
            kl = (logprobs - ref_logprobs) * mask  # k1: its expectation under π is KL(π || π_ref)
            rewards = rewards - self.kl_coef * kl
            stats["policy/kl_ref"] = F.masked_mean(kl, mask)
            stats["policy/kl_ref_seq"] = kl.sum(dim=1).mean()  # the controller's unit
        last = (response_mask.sum(dim=1).long() - 1).clamp(min=0)  # [N] index of the last real token
        rewards[torch.arange(rewards.shape[0], device=rewards.device), last] += scores.to(rewards.dtype)
        return rewards, stats

    @torch.no_grad()
    def advantages(
        self, token_rewards: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``[N, T]`` rewards and rollout-time values -> ``[N, T]`` advantages and returns."""
        mask = response_mask
        if self.cfg.whiten_rewards:
            token_rewards = F.masked_whiten(token_rewards, mask, shift_mean=False) * mask
        adv, returns = F.gae(token_rewards, values, mask, self.cfg.gamma, self.cfg.gae_lambda)
        stats = {"adv/mean": F.masked_mean(adv, mask), "adv/std": F.masked_var(adv, mask).sqrt()}
        if self.cfg.whiten_advantages:
            adv = F.masked_whiten(adv, mask) * mask
        return adv, returns, stats

    def loss(
        self, logprobs: torch.Tensor, values: torch.Tensor, mb: PPOMinibatch, train_policy: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Clipped policy loss plus c_V times the clipped value loss, token means.

        Args:
            logprobs: ``[n, T]`` current-policy log-probs of the sampled tokens (with grad).
            values: ``[n, T]`` current critic values (with grad).
            mb: the minibatch (advantages, returns, old values and log-probs ``[n, T]``).
            train_policy: False during the critic warm-up: the loss is the value term only.
        """
        mask = mb.response_mask
        # Policy loss: the PPO clipped surrogate, one advantage per token.
        pg_per_token, clipped = F.clipped_surrogate(
            logprobs, mb.old_logprobs, mb.advantages, self.cfg.clip_eps, self.cfg.clip_eps
        )
        pg_loss = F.masked_mean(pg_per_token, mask)
        # Value loss: regress V on the GAE returns, clipped around the rollout values.
        vf_loss, vf_clip_frac = F.clipped_value_loss(values, mb.old_values, mb.returns, mask, self.cfg.vf_clip_eps)
        loss = self.cfg.vf_coef * vf_loss
        if train_policy:
            loss = loss + pg_loss
        stats = {
            "policy/pg_loss": pg_loss.detach(),
            "policy/clip_frac": F.masked_mean(clipped, mask).detach(),
            "policy/approx_kl_old": F.masked_mean(0.5 * (logprobs.detach() - mb.old_logprobs) ** 2, mask),
            "value/loss": vf_loss.detach(),
            "value/clip_frac": vf_clip_frac.detach(),
            "value/explained_var": F.explained_variance(values.detach(), mb.returns, mask),
            "value/mean": F.masked_mean(values.detach(), mask),
            "value/return_mean": F.masked_mean(mb.returns, mask),
        }
        return loss, stats
