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
from typing import Any

import torch
from torch import nn

from biasgrpo.algorithms import functional as F
from biasgrpo.algorithms.base import Stats
from biasgrpo.config_checks import check_all
from biasgrpo.types import Batch, Forward


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
    critic_lr: float | None = 3e-4
    """Learning rate of the value head, whatever the policy's (None = the policy's). The head is a
    fresh linear layer: at a full fine-tuning rate such as the paper's 1e-6 it would not learn. At
    3e-4 (a compare-size run, docs/comparison.md) its explained variance turns positive by the end;
    1e-3 overshoots, 5e-5 (with 10 warm-up steps) stays below zero."""
    critic_warmup_steps: int = 0
    """First steps that train only the critic, so early advantages are not noise (they count in
    the budget: their samples are drawn). The critic is a scalar head on the policy's own last
    hidden states (no second model)."""

    @property
    def group_size(self) -> int:
        return self.num_generations

    def validate(self) -> None:
        check_all(
            "algorithm",
            [
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
            ],
        )


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


@dataclass(frozen=True)
class PPOTargets:
    advantages: torch.Tensor  # [N, T] per-token GAE advantages (whitened if configured)
    returns: torch.Tensor  # [N, T] GAE returns, the critic's targets
    old_values: torch.Tensor  # [N, T] critic values at rollout time


class PPO:
    """Token rewards, GAE advantages, the value head and the actor-critic loss; the trainer owns the rest."""

    online = True
    uses_old_logprobs = True
    needs_hidden = True  # the value head reads the policy's last hidden states

    def __init__(self, cfg: PPOConfig) -> None:
        self.cfg = cfg
        self.group_size = cfg.num_generations
        self.update_epochs = cfg.update_epochs
        self.needs_reference = cfg.kl_coef > 0
        self.kl_ctl = (
            None if cfg.kl_target is None else AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
        )
        self.value_head: ValueHead | None = None  # built by param_groups, once the policy's width is known
        self._rollout_kl: tuple[float, int] | None = None  # (KL per completion, completions) for end_step

    # ------------------------------------------------------ the protocol ---
    def param_groups(self, hidden_size: int, device: torch.device, lr: float) -> list[dict[str, Any]]:
        self.value_head = ValueHead(hidden_size).to(device)
        return [{"params": list(self.value_head.parameters()), "lr": self.cfg.critic_lr or lr}]

    def modules(self) -> dict[str, torch.nn.Module]:
        assert self.value_head is not None, "param_groups builds the value head first"
        return {"value_head": self.value_head}

    def loss_weight(self, mb: Batch) -> torch.Tensor:
        """The response tokens: the policy and the value losses are token means."""
        return mb.response_mask.sum().float()

    def prepare(self, batch: Batch, step: int) -> tuple[PPOTargets, Stats]:
        """Rollout-time values, per-token rewards (score and KL penalty), GAE advantages and returns."""
        assert batch.rewards is not None and batch.old_logprobs is not None and batch.old_hidden is not None
        assert self.value_head is not None, "param_groups builds the value head first"
        mask = batch.response_mask
        with torch.no_grad():
            old_values = self.value_head.response_values(batch.old_hidden, batch.response_len)  # [N, T]
        token_rewards, stats = self.token_rewards(batch.rewards, batch.old_logprobs, batch.ref_logprobs, mask)
        if "policy/kl_ref_seq" in stats:
            self._rollout_kl = (float(stats["policy/kl_ref_seq"]), mask.shape[0])
        advantages, returns, adv_stats = self.advantages(token_rewards, old_values, mask)
        return PPOTargets(advantages, returns, old_values), {**stats, **adv_stats}

    def loss(self, fwd: Forward, mb: Batch, step: int) -> tuple[torch.Tensor, Stats]:
        """The critic's values of the minibatch from the forward pass's hidden states, then
        :meth:`actor_critic_loss`. During the critic warm-up the trunk gets no gradient through the head."""
        assert fwd.hidden is not None and self.value_head is not None
        train_policy = self.trains_policy(step)
        hidden = fwd.hidden if train_policy else fwd.hidden.detach()
        values = self.value_head.response_values(hidden, mb.response_len)  # [n, T]
        return self.actor_critic_loss(fwd.logprobs, values, mb, train_policy)

    def end_step(self) -> None:
        """Let the adaptive controller move β after the rollout's KL (no-op when β is fixed)."""
        if self._rollout_kl is not None:
            self.update_kl(*self._rollout_kl)
            self._rollout_kl = None

    def state_dict(self) -> dict[str, Any]:
        assert self.value_head is not None
        return {"value_head": self.value_head.state_dict(), "kl_coef": self.kl_coef}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        assert self.value_head is not None
        self.value_head.load_state_dict(state["value_head"])
        if self.kl_ctl is not None:
            self.kl_ctl.value = float(state["kl_coef"])

    # ---------------------------------------------------------- the maths ---

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
    ) -> tuple[torch.Tensor, Stats]:
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
    ) -> tuple[torch.Tensor, torch.Tensor, Stats]:
        """``[N, T]`` rewards and rollout-time values -> ``[N, T]`` advantages and returns."""
        mask = response_mask
        if self.cfg.whiten_rewards:
            token_rewards = F.masked_whiten(token_rewards, mask, shift_mean=False) * mask
        adv, returns = F.gae(token_rewards, values, mask, self.cfg.gamma, self.cfg.gae_lambda)
        stats = {"adv/mean": F.masked_mean(adv, mask), "adv/std": F.masked_var(adv, mask).sqrt()}
        if self.cfg.whiten_advantages:
            adv = F.masked_whiten(adv, mask) * mask
        return adv, returns, stats

    def actor_critic_loss(
        self, logprobs: torch.Tensor, values: torch.Tensor, mb: Batch, train_policy: bool = True
    ) -> tuple[torch.Tensor, Stats]:
        """Clipped policy loss plus c_V times the clipped value loss, token means.

        Args:
            logprobs: ``[n, T]`` current-policy log-probs of the sampled tokens (with grad).
            values: ``[n, T]`` current critic values (with grad).
            mb: the minibatch: old log-probs ``[n, T]`` and ``targets`` (:class:`PPOTargets`).
            train_policy: False during the critic warm-up: the loss is the value term only.
        """
        mask, t = mb.response_mask, mb.targets
        assert mb.old_logprobs is not None
        # Policy loss: the PPO clipped surrogate, one advantage per token.
        pg_per_token, clipped = F.clipped_surrogate(
            logprobs - mb.old_logprobs, t.advantages, self.cfg.clip_eps, self.cfg.clip_eps
        )
        pg_loss = F.masked_mean(pg_per_token, mask)
        # Value loss: regress V on the GAE returns, clipped around the rollout values.
        vf_loss, vf_clip_frac = F.clipped_value_loss(values, t.old_values, t.returns, mask, self.cfg.vf_clip_eps)
        loss = self.cfg.vf_coef * vf_loss
        if train_policy:
            loss = loss + pg_loss
        stats = {
            "policy/pg_loss": pg_loss.detach(),
            "policy/clip_frac": F.masked_mean(clipped, mask).detach(),
            "policy/approx_kl_old": F.masked_mean(0.5 * (logprobs.detach() - mb.old_logprobs) ** 2, mask),
            "value/loss": vf_loss.detach(),
            "value/clip_frac": vf_clip_frac.detach(),
            "value/explained_var": F.explained_variance(values.detach(), t.returns, mask),
            "value/mean": F.masked_mean(values.detach(), mask),
            "value/return_mean": F.masked_mean(t.returns, mask),
        }
        return loss, stats
